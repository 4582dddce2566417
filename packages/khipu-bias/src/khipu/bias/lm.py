"""Bias in (masked) language models: CrowS-Pairs comparisons and EDIA's phrase ranking.

Both rest on one operation, the **pseudo-log-likelihood** (PLL): mask one token at a time
and add up ``log P(token | the rest)``. Any model that can do that is a
:class:`MaskedScorer`:

* :class:`CbowScorer` (default, offline): a CBOW word2vec predicts a masked word from the
  mean of its context vectors -- gensim's ``predict_output_word``. It ignores word order
  and knows ~9.5k words: a toy language model, which is the point of comparing it with
  a real one.
* :class:`HFMaskedLMScorer` (``pip install 'khipu-bias[hf]'``): any Hugging Face masked LM
  (BERT, BETO, RoBERTa...), on the user's own model files.

CrowS-Pairs (Nangia et al. 2020) compares a more and a less stereotypical sentence by the
PLL of the tokens they **share**, and reports the share of pairs where the model prefers
the more stereotypical one (50 % = no preference).
"""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import khipu.core as kc
import numpy as np
from khipu.bias.data import CbowModel

PAIR_COLUMNS = ("sent_more", "sent_less", "stereo_antistereo", "bias_type")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


@runtime_checkable
class MaskedScorer(Protocol):
    """A model that scores masked tokens.

    ``tokenize`` splits a text into the model's tokens; ``masked_log_probs(tokens,
    positions)`` returns ``log P(tokens[i] | tokens with position i masked)`` for every
    ``i`` in ``positions`` (NaN where the model cannot score that token).
    """

    name: str

    def tokenize(self, text: str) -> list[str]:
        """The model's tokens of ``text``."""
        ...

    def masked_log_probs(self, tokens: Sequence[str], positions: Sequence[int]) -> np.ndarray:
        """``[len(positions)]`` log-probabilities of the masked tokens."""
        ...


def _logsumexp(x: np.ndarray) -> np.ndarray:
    top = np.max(x, axis=-1, keepdims=True)
    return np.asarray(top[..., 0] + np.log(np.exp(x - top).sum(axis=-1)))


class CbowScorer:
    """Masked-word scoring with a CBOW word2vec model (negative sampling).

    ``P(w | context) = softmax_w(out_vectors @ mean(in_vectors[context]))`` -- exactly
    gensim's ``Word2Vec.predict_output_word``; the context is the in-vocabulary tokens within
    ``window`` positions of the mask (``None``: the whole sentence, as gensim's function).
    Tokens outside the vocabulary score NaN (they are skipped, in both sentences of a pair).
    """

    def __init__(self, model: CbowModel, *, window: int | None = None) -> None:
        self.model = model
        self.window = model.config.window if window is None else window
        self.name = f"word2vec-cbow[{model.config.corpus}]"
        self._index = {w: i for i, w in enumerate(model.words)}

    def tokenize(self, text: str) -> list[str]:
        """Lowercased words (letters only)."""
        return _WORD.findall(text.lower())

    def masked_log_probs(self, tokens: Sequence[str], positions: Sequence[int]) -> np.ndarray:
        """``log P(tokens[i] | context)`` for each position; NaN if out of vocabulary."""
        ids = [self._index.get(t, -1) for t in tokens]
        out = np.full(len(positions), np.nan)
        rows, hidden = [], []
        for k, i in enumerate(positions):
            if ids[i] < 0:
                continue
            lo, hi = (
                (0, len(ids)) if self.window is None else (i - self.window, i + self.window + 1)
            )
            ctx = [ids[j] for j in range(max(0, lo), min(len(ids), hi)) if j != i and ids[j] >= 0]
            if ctx:
                rows.append(k)
                hidden.append(self.model.input_vectors[ctx].astype(np.float64).mean(axis=0))
        if rows:
            logits = np.stack(hidden) @ self.model.output_vectors.T.astype(np.float64)
            target = np.array([ids[positions[k]] for k in rows])
            out[rows] = logits[np.arange(len(rows)), target] - _logsumexp(logits)
        return out


class HFMaskedLMScorer:
    """PLL scoring with a Hugging Face masked language model (needs ``khipu-bias[hf]``).

    Args:
      model: a ``transformers`` masked-LM model (e.g. ``BertForMaskedLM``).
      tokenizer: its tokenizer (must have a mask token).
      name: a label for reports.
      batch_size: masked copies per forward pass.
      device: torch device.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "hf-masked-lm",
        batch_size: int = 32,
        device: str = "cpu",
    ) -> None:
        self.torch = kc.import_optional("torch", install="khipu-bias[hf]")
        if tokenizer.mask_token_id is None:
            raise kc.KhipuError(f"{name}: the tokenizer has no mask token (not a masked LM)")
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.name = name
        self.batch_size = batch_size
        self.device = device

    @classmethod
    def from_pretrained(
        cls, name_or_path: str, *, local_files_only: bool = False, **kwargs: Any
    ) -> HFMaskedLMScorer:
        """Loads ``AutoModelForMaskedLM`` and ``AutoTokenizer`` (a local folder or a Hub name)."""
        transformers = kc.import_optional("transformers", install="khipu-bias[hf]")
        kc.import_optional("torch", install="khipu-bias[hf]")
        try:
            tok = transformers.AutoTokenizer.from_pretrained(
                name_or_path, local_files_only=local_files_only
            )
            model = transformers.AutoModelForMaskedLM.from_pretrained(
                name_or_path, local_files_only=local_files_only
            )
        except (OSError, ValueError) as exc:
            raise kc.KhipuError(f"could not load masked LM {name_or_path!r}: {exc}") from exc
        return cls(model, tok, name=name_or_path, **kwargs)

    def tokenize(self, text: str) -> list[str]:
        """The tokenizer's (sub)word tokens, without special tokens."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return list(self.tokenizer.convert_ids_to_tokens(ids))

    def masked_log_probs(self, tokens: Sequence[str], positions: Sequence[int]) -> np.ndarray:
        """``log P(token | rest)`` with the token replaced by the mask token, one copy each."""
        torch = self.torch
        ids = list(self.tokenizer.convert_tokens_to_ids(list(tokens)))
        tok = self.tokenizer
        start_id = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id
        end_id = tok.sep_token_id if tok.sep_token_id is not None else tok.eos_token_id
        # [CLS] tokens [SEP] (BERT) or <s> tokens </s> (RoBERTa), built by hand: the
        # tokenizer helpers for this differ between transformers 4 and 5
        full = ([start_id] if start_id is not None else []) + ids
        full += [end_id] if end_id is not None else []
        offset = 1 if start_id is not None else 0
        out = np.empty(len(positions))
        for start in range(0, len(positions), self.batch_size):
            chunk = list(positions[start : start + self.batch_size])
            batch = torch.tensor([full] * len(chunk), device=self.device)
            cols = torch.tensor([offset + p for p in chunk], device=self.device)
            rows = torch.arange(len(chunk), device=self.device)
            batch[rows, cols] = self.tokenizer.mask_token_id
            with torch.no_grad():
                logits = self.model(input_ids=batch).logits[rows, cols]
            logp = torch.log_softmax(logits.double(), dim=-1)
            target = torch.tensor([ids[p] for p in chunk], device=self.device)
            out[start : start + len(chunk)] = logp[rows, target].cpu().numpy()
        return out


def get_scorer(spec: str = "word2vec") -> MaskedScorer:
    """A scorer by name: ``"word2vec"`` (offline default) or ``"hf:<model name or folder>"``."""
    if spec in ("word2vec", "cbow", "default"):
        from khipu.bias.data import default_model

        return CbowScorer(default_model())
    if spec.startswith("hf:") and len(spec) > 3:
        return HFMaskedLMScorer.from_pretrained(spec[3:])
    raise kc.UnknownNameError("scorer", spec, ["word2vec", "hf:<model>"])


# --- pseudo-log-likelihood ---------------------------------------------------------------


def pseudo_log_likelihood(scorer: MaskedScorer, text: str) -> tuple[float, int]:
    """Sum of ``log P(token | rest)`` over the tokens the scorer can score, and their number."""
    tokens = scorer.tokenize(text)
    if not tokens:
        raise kc.KhipuError(f"no tokens in {text!r}")
    lp = scorer.masked_log_probs(tokens, list(range(len(tokens))))
    ok = np.isfinite(lp)
    return float(lp[ok].sum()), int(ok.sum())


def shared_positions(a: Sequence[str], b: Sequence[str]) -> tuple[list[int], list[int]]:
    """Positions of the tokens two sentences share (difflib's matching blocks, as CrowS-Pairs)."""
    pos_a: list[int] = []
    pos_b: list[int] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            pos_a += range(i1, i2)
            pos_b += range(j1, j2)
    return pos_a, pos_b


def shared_pll(scorer: MaskedScorer, sent_a: str, sent_b: str) -> tuple[float, float, int]:
    """CrowS-Pairs scores of two sentences: the PLL of their shared tokens, each masked in
    turn. Tokens that either sentence cannot score are skipped in both.

    Returns:
      ``(score_a, score_b, n_tokens_scored)``.
    """
    ta, tb = scorer.tokenize(sent_a), scorer.tokenize(sent_b)
    if not ta or not tb:
        raise kc.KhipuError(f"empty sentence in pair ({sent_a!r}, {sent_b!r})")
    pa, pb = shared_positions(ta, tb)
    if not pa:
        return 0.0, 0.0, 0
    la, lb = scorer.masked_log_probs(ta, pa), scorer.masked_log_probs(tb, pb)
    ok = np.isfinite(la) & np.isfinite(lb)
    return float(la[ok].sum()), float(lb[ok].sum()), int(ok.sum())


# --- CrowS-Pairs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SentencePair:
    """One CrowS-Pairs row.

    ``sent_more`` is about the historically disadvantaged group; in a ``stereo`` pair it
    states the stereotype, in an ``antistereo`` pair it violates one.
    """

    sent_more: str
    sent_less: str
    direction: str = "stereo"
    bias_type: str = "unspecified"

    def __post_init__(self) -> None:
        if self.direction not in ("stereo", "antistereo"):
            raise kc.KhipuError(
                f"stereo_antistereo must be 'stereo' or 'antistereo', got {self.direction!r}"
            )
        if not self.sent_more.strip() or not self.sent_less.strip():
            raise kc.KhipuError("a sentence pair has an empty sentence")

    @property
    def stereotypical(self) -> str:
        """The more stereotypical sentence of the pair."""
        return self.sent_more if self.direction == "stereo" else self.sent_less

    @property
    def anti_stereotypical(self) -> str:
        """The less stereotypical sentence of the pair."""
        return self.sent_less if self.direction == "stereo" else self.sent_more


def load_pairs(path: str | Path) -> list[SentencePair]:
    """Reads a CSV file in the CrowS-Pairs column format (``sent_more``, ``sent_less``,
    ``stereo_antistereo``, ``bias_type``; other columns are ignored).

    Raises:
      KhipuError: missing file or columns, bad values, no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise kc.KhipuError(f"pairs file {path} does not exist")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return _read_pairs(f.read(), str(path))
    except (UnicodeDecodeError, csv.Error) as exc:
        if isinstance(exc, UnicodeDecodeError):
            kc.check_utf8_file(path)  # names the byte offset in the file
        raise kc.KhipuError(f"could not read {path} as CSV: {exc}") from exc


def _read_pairs(text: str, where: str) -> list[SentencePair]:
    reader = csv.DictReader(text.splitlines())
    columns = reader.fieldnames or []
    lacking = [c for c in PAIR_COLUMNS if c not in columns]
    if lacking:
        raise kc.KhipuError(
            f"{where} lacks the CrowS-Pairs columns {', '.join(lacking)} (found: "
            f"{', '.join(columns) or 'none'})"
        )
    pairs = []
    for n, row in enumerate(reader, start=2):
        try:
            pairs.append(
                SentencePair(
                    row["sent_more"] or "",
                    row["sent_less"] or "",
                    (row["stereo_antistereo"] or "").strip(),
                    (row["bias_type"] or "").strip() or "unspecified",
                )
            )
        except kc.KhipuError as exc:
            raise kc.KhipuError(f"{where}, line {n}: {exc}") from exc
    if not pairs:
        raise kc.KhipuError(f"{where} holds no sentence pairs")
    return pairs


def builtin_pairs(language: str = "en") -> list[SentencePair]:
    """A few sentence pairs written for this practical (English: 16 over 8 bias types; Spanish:
    6). They are examples to discuss, not a benchmark: use the CrowS-Pairs CSV for that."""
    if language not in ("en", "es"):
        raise kc.UnknownNameError("language", language, ["en", "es"])
    text = resources.files("khipu.bias").joinpath("resources", f"pairs_{language}.csv")
    return _read_pairs(text.read_text(encoding="utf-8"), f"built-in pairs ({language})")


@dataclass(frozen=True)
class PairScore:
    """The scores of one pair: PLL of the shared tokens in each sentence."""

    pair: SentencePair
    stereo_score: float
    anti_score: float
    n_tokens: int

    @property
    def prefers_stereotype(self) -> bool:
        """The model gives the more stereotypical sentence a higher score."""
        return self.n_tokens > 0 and self.stereo_score > self.anti_score

    @property
    def tie(self) -> bool:
        """Nothing was scorable or both scores are equal."""
        return self.n_tokens == 0 or self.stereo_score == self.anti_score


@dataclass(frozen=True)
class PairsResult:
    """CrowS-Pairs metric over a list of pairs.

    Attributes:
      scorer: the scorer's name.
      scores: per pair.
      share: share of pairs where the stereotypical sentence scores higher (ties count
        as not preferring it, as in CrowS-Pairs); 0.5 = no preference.
      by_type: ``{bias_type: (share, n_pairs)}``.
      n_ties: pairs with equal scores or nothing scorable.
    """

    scorer: str
    scores: list[PairScore] = field(repr=False)
    share: float
    by_type: dict[str, tuple[float, int]]
    n_ties: int

    def metrics(self) -> dict[str, Any]:
        """A flat dict for ``metrics.json``."""
        stereo = [s for s in self.scores if s.pair.direction == "stereo"]
        anti = [s for s in self.scores if s.pair.direction == "antistereo"]
        out: dict[str, Any] = {
            "scorer": self.scorer,
            "n_pairs": len(self.scores),
            "share_stereotypical": self.share,
            "share_stereotypical_stereo_pairs": _share(stereo),
            "share_stereotypical_antistereo_pairs": _share(anti),
            "n_ties": self.n_ties,
        }
        for kind, (share, n) in self.by_type.items():
            out[f"share_{kind}"] = share
            out[f"n_{kind}"] = n
        return out


def _share(scores: Sequence[PairScore]) -> float:
    return float(np.mean([s.prefers_stereotype for s in scores])) if scores else float("nan")


def compare_pairs(scorer: MaskedScorer, pairs: Sequence[SentencePair]) -> PairsResult:
    """Scores every pair and computes the CrowS-Pairs metric, overall and per bias type."""
    if not pairs:
        raise kc.KhipuError("no sentence pairs to compare")
    scores = []
    for p in pairs:
        st, an, n = shared_pll(scorer, p.stereotypical, p.anti_stereotypical)
        scores.append(PairScore(p, st, an, n))
    by_type: dict[str, tuple[float, int]] = {}
    for kind in sorted({p.bias_type for p in pairs}):
        group = [s for s in scores if s.pair.bias_type == kind]
        by_type[kind] = (_share(group), len(group))
    return PairsResult(scorer.name, scores, _share(scores), by_type, sum(s.tie for s in scores))


# --- EDIA's phrase ranking -------------------------------------------------------------------


@dataclass(frozen=True)
class RankedPhrase:
    """A template filled with one candidate, and its PLL."""

    candidate: str
    sentence: str
    score: float
    n_tokens: int
    n_unscored: int = 0


def rank_fillers(
    scorer: MaskedScorer, template: str, candidates: Sequence[str], *, blank: str = "*"
) -> list[RankedPhrase]:
    """EDIA's phrase bias: fill the ``*`` of ``template`` with each candidate and rank the
    sentences by pseudo-log-likelihood (highest first; sentences with tokens the scorer
    cannot score go last, with ``n_unscored`` > 0).

    Raises:
      KhipuError: the template has no (or several) blanks; no candidates.
    """
    if template.count(blank) != 1:
        raise kc.KhipuError(f"the template must contain exactly one {blank!r}: {template!r}")
    if not candidates:
        raise kc.KhipuError("no candidate words to rank")
    ranked = []
    for c in candidates:
        sentence = template.replace(blank, c)
        score, n = pseudo_log_likelihood(scorer, sentence)
        ranked.append(RankedPhrase(c, sentence, score, n, len(scorer.tokenize(sentence)) - n))
    # a sentence with unscorable (out-of-vocabulary) tokens would look more likely: rank last
    return sorted(ranked, key=lambda r: (r.n_unscored > 0, -r.score))
