"""3CosAdd / 3CosMul against gensim, and gensim's analogy evaluation."""

from __future__ import annotations

from pathlib import Path

import khipu.bias as kb
import khipu.core as kc
import numpy as np
import pytest


@pytest.fixture
def emb() -> kb.WordEmbeddings:
    rng = np.random.default_rng(4)
    words = tuple(f"w{i}" for i in range(200))
    return kb.WordEmbeddings(words, rng.normal(size=(200, 10)))


@pytest.mark.filterwarnings("ignore:Call to deprecated `init_sims`:DeprecationWarning")
@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_analogies_match_gensim(emb: kb.WordEmbeddings, method: str) -> None:
    kv = emb.to_keyed_vectors()
    for a, b, c in [("w1", "w2", "w3"), ("w10", "w50", "w7"), ("w0", "w199", "w100")]:
        # gensim's most_similar_cosmul uses epsilon = 1e-6 (Levy and Goldberg used 1e-3)
        mine = kb.analogy(emb, a, b, c, method=method, topn=5, eps=1e-6)
        if method == "3cosadd":
            theirs = kv.most_similar(positive=[b, c], negative=[a], topn=5)
            assert [w for w, _ in mine] == [w for w, _ in theirs]
        else:
            theirs = kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=5)
            assert [w for w, _ in mine] == [w for w, _ in theirs]
            np.testing.assert_allclose([s for _, s in mine], [s for _, s in theirs], rtol=1e-4)


def test_including_inputs_can_return_an_input(emb: kb.WordEmbeddings) -> None:
    top = kb.analogy(emb, "w1", "w2", "w3", exclude_inputs=False, topn=200)
    assert {"w2", "w3"} <= {w for w, _ in top}
    with pytest.raises(kb.MissingWordsError, match="nope"):
        kb.analogy(emb, "w1", "nope", "w3")
    with pytest.raises(kc.UnknownNameError):
        kb.analogy(emb, "w1", "w2", "w3", method="3coswhat")


def test_evaluate_analogies_matches_gensim(tmp_path: Path, emb: kb.WordEmbeddings) -> None:
    qs = tmp_path / "q.txt"
    qs.write_text(": one\nw1 w2 w3 w4\nw5 w6 w7 w8\n: two\nw9 w10 w11 w12\nw1 w2 zz w4\n")
    result = kb.evaluate_analogies(emb, qs)
    score, _ = emb.to_keyed_vectors().evaluate_word_analogies(str(qs))
    assert result.accuracy == pytest.approx(score)
    assert result.n_questions == 3
    assert result.sections["one"][1] == 2
    with pytest.raises(kc.KhipuError, match="does not exist"):
        kb.evaluate_analogies(emb, tmp_path / "missing.txt")


def test_bundled_questions_on_the_default_model(default_emb) -> None:  # type: ignore[no-untyped-def]
    result = kb.evaluate_analogies(default_emb)
    assert result.n_questions > 1000 and 0.0 <= result.accuracy <= 1.0
    assert "capital-common-countries" in result.sections
