"""Masked-word scorers, pseudo-log-likelihood, CrowS-Pairs and phrase ranking."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import khipu.bias as kb
import khipu.core as kc
import numpy as np
import pytest
from khipu.bias.lm import shared_positions


class LengthScorer:
    """A fake model: log P(token) = -len(token) (so scores are easy to compute by hand)."""

    name = "length"

    def tokenize(self, text: str) -> list[str]:
        return text.lower().replace(".", "").split()

    def masked_log_probs(self, tokens: Sequence[str], positions: Sequence[int]) -> np.ndarray:
        return np.array(
            [np.nan if tokens[i] == "oov" else -float(len(tokens[i])) for i in positions]
        )


def test_cbow_scorer_matches_gensim_predict_output_word() -> None:
    from gensim.models import Word2Vec
    from gensim.test.utils import common_texts

    w2v = Word2Vec(
        common_texts,
        vector_size=8,
        window=3,
        min_count=1,
        sg=0,
        negative=5,
        epochs=5,
        seed=1,
        workers=1,
    )
    model = kb.CbowModel(
        tuple(w2v.wv.index_to_key),
        w2v.wv.vectors.copy(),
        w2v.syn1neg.copy(),
        np.ones(len(w2v.wv), dtype=np.int64),
        kb.ModelConfig(window=3),
    )
    scorer = kb.CbowScorer(model, window=None)
    tokens = ["human", "interface", "computer", "survey", "oov"]
    lp = scorer.masked_log_probs(tokens, [0, 1, 2, 3, 4])
    for i in range(4):
        context = [t for j, t in enumerate(tokens) if j != i]
        probs = dict(w2v.predict_output_word(context, topn=len(w2v.wv)))
        assert lp[i] == pytest.approx(np.log(probs[tokens[i]]), rel=1e-4)
    assert np.isnan(lp[4])  # out of vocabulary
    windowed = kb.CbowScorer(model, window=1).masked_log_probs(tokens, [0])
    probs = dict(w2v.predict_output_word(["interface"], topn=len(w2v.wv)))
    assert windowed[0] == pytest.approx(np.log(probs["human"]), rel=1e-4)


def test_shared_positions_and_shared_pll_by_hand() -> None:
    a = ["the", "poor", "man", "took", "the", "money"]
    b = ["the", "rich", "man", "took", "the", "money"]
    pa, pb = shared_positions(a, b)
    assert pa == pb == [0, 2, 3, 4, 5]
    pa, pb = shared_positions(["x", "a", "b"], ["a", "b", "y", "z"])
    assert (pa, pb) == ([1, 2], [0, 1])
    sa, sb, n = kb.shared_pll(LengthScorer(), "The poor man oov.", "The rich man oov.")
    assert (sa, sb, n) == (-6.0, -6.0, 2)  # 'the' + 'man'; 'oov' is skipped in both


def test_compare_pairs_metric_by_type() -> None:
    pairs = [
        # stereo: sent_more is the stereotypical one. Shared tokens are scored in
        # context-free LengthScorer, so ties everywhere unless shared tokens differ
        kb.SentencePair("aa b", "aa bb", "stereo", "x"),
        kb.SentencePair("aa b c", "aa b", "stereo", "x"),
        kb.SentencePair("a b", "a bbb", "antistereo", "y"),
    ]

    class PositionScorer(LengthScorer):
        """log P depends on the position too, so shared tokens score differently."""

        def masked_log_probs(self, tokens: Sequence[str], positions: Sequence[int]) -> np.ndarray:
            return np.array([-float(len(tokens[i]) + i + len(tokens)) for i in positions])

    result = kb.compare_pairs(PositionScorer(), pairs)
    stereo_wins = [s.prefers_stereotype for s in result.scores]
    # pair 1: shared 'aa' at 0 in both, same lengths -> tie -> not preferred
    # pair 2: stereotypical has 3 tokens (shared 'aa','b' score -4,-5 vs -3,-4) -> loses
    # pair 3: antistereo -> stereotypical = sent_less 'a bbb'; shared 'a' -> tie
    assert stereo_wins == [False, False, False]
    assert result.n_ties == 2
    assert result.by_type == {"x": (0.0, 2), "y": (0.0, 1)}
    m = result.metrics()
    assert m["n_pairs"] == 3 and m["share_stereotypical"] == 0.0 and m["n_x"] == 2
    flipped = kb.compare_pairs(PositionScorer(), [kb.SentencePair("aa b", "aa b c", "stereo", "z")])
    assert flipped.share == 1.0


def test_pairs_csv_reading_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "p.csv"
    good.write_text(
        '"",sent_more,sent_less,stereo_antistereo,bias_type,annotations\n'
        '0,"She cried, a lot.",He cried a lot.,stereo,gender,x\n'
        "1,The old man ran.,The young man ran.,antistereo,age,y\n"
    )
    pairs = kb.load_pairs(good)
    assert len(pairs) == 2 and pairs[0].sent_more == "She cried, a lot."
    assert pairs[1].stereotypical == "The young man ran."
    bad = tmp_path / "bad.csv"
    bad.write_text("sent1,sent2\na,b\n")
    with pytest.raises(kc.KhipuError, match="lacks the CrowS-Pairs columns sent_more"):
        kb.load_pairs(bad)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("sent_more,sent_less,stereo_antistereo,bias_type\na,b,maybe,x\n")
    with pytest.raises(kc.KhipuError, match=r"line 2.*stereo"):
        kb.load_pairs(wrong)
    empty = tmp_path / "empty.csv"
    empty.write_text("sent_more,sent_less,stereo_antistereo,bias_type\n")
    with pytest.raises(kc.KhipuError, match="no sentence pairs"):
        kb.load_pairs(empty)
    with pytest.raises(kc.KhipuError, match="does not exist"):
        kb.load_pairs(tmp_path / "none.csv")
    assert len(kb.builtin_pairs("en")) == 16 and len(kb.builtin_pairs("es")) == 6
    assert len({p.bias_type for p in kb.builtin_pairs()}) == 8


def test_rank_fillers_orders_by_pll_and_puts_unscored_last() -> None:
    ranked = kb.rank_fillers(LengthScorer(), "The * is here.", ["abc", "a", "oov", "ab"])
    assert [r.candidate for r in ranked] == ["a", "ab", "abc", "oov"]
    assert ranked[0].score == -(3 + 1 + 2 + 4) and ranked[-1].n_unscored == 1
    with pytest.raises(kc.KhipuError, match="exactly one"):
        kb.rank_fillers(LengthScorer(), "no blank", ["a"])
    with pytest.raises(kc.KhipuError, match="no candidate"):
        kb.rank_fillers(LengthScorer(), "a *", [])


def test_default_scorer_runs_offline_on_builtin_pairs() -> None:
    scorer = kb.get_scorer("word2vec")
    assert isinstance(scorer, kb.MaskedScorer)
    result = kb.compare_pairs(scorer, kb.builtin_pairs())
    assert len(result.scores) == 16 and 0.0 <= result.share <= 1.0
    assert all(s.n_tokens > 0 for s in result.scores)
    assert result.metrics() == kb.compare_pairs(scorer, kb.builtin_pairs()).metrics()
    with pytest.raises(kc.UnknownNameError, match="scorer"):
        kb.get_scorer("gpt")


def test_hf_scorer_names_the_extra_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_hf(name: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name.split(".")[0] in ("torch", "transformers"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hf)
    monkeypatch.delitem(__import__("sys").modules, "transformers", raising=False)
    monkeypatch.delitem(__import__("sys").modules, "torch", raising=False)
    with pytest.raises(kc.MissingDependencyError, match=r"pip install 'khipu-bias\[hf\]'"):
        kb.get_scorer("hf:bert-base-uncased")


def test_hf_scorer_with_a_tiny_local_bert(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "the",
        "man",
        "woman",
        "was",
        "a",
        "nurse",
        "doctor",
        ".",
    ]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = transformers.BertTokenizer(str(tmp_path / "vocab.txt"))
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    model = transformers.BertForMaskedLM(config).eval()
    scorer = kb.HFMaskedLMScorer(model, tok, name="tiny-bert", batch_size=2)
    tokens = scorer.tokenize("The man was a nurse.")
    assert tokens == ["the", "man", "was", "a", "nurse", "."]
    lp = scorer.masked_log_probs(tokens, [1, 4])
    ids = tok.convert_tokens_to_ids(tokens)
    for k, pos in enumerate([1, 4]):
        inp = [tok.cls_token_id, *ids, tok.sep_token_id]
        inp[pos + 1] = tok.mask_token_id
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([inp])).logits[0, pos + 1]
        assert lp[k] == pytest.approx(
            float(torch.log_softmax(logits.double(), -1)[ids[pos]]), rel=1e-6
        )
    result = kb.compare_pairs(
        scorer,
        [kb.SentencePair("The woman was a nurse.", "The man was a nurse.", "stereo", "gender")],
    )
    assert result.scores[0].n_tokens == 5
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    loaded = kb.get_scorer(f"hf:{tmp_path / 'm'}")
    np.testing.assert_allclose(loaded.masked_log_probs(tokens, [1, 4]), lp, rtol=1e-6)
