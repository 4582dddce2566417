"""Sentence-level association tests (SEAT, May et al. 2019).

Each word of a WEAT test is put into template sentences ("This is a flower.") and the
sentences are encoded; the WEAT is then run on the sentence vectors. The encoder is
pluggable (:class:`SentenceEncoder`); the default, :class:`MeanWordVectorEncoder`, is the
"CBoW" baseline of the SEAT paper: the mean of the word vectors of the sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import khipu.core as kc
import numpy as np
from khipu.bias.embeddings import DEFAULT_MAX_MISSING, WordEmbeddings
from khipu.bias.weat import (
    DEFAULT_EXACT_LIMIT,
    DEFAULT_PERMUTATIONS,
    balance_sets,
    weat_from_vectors,
)
from khipu.bias.wordsets import WeatTest

DEFAULT_TEMPLATES: tuple[str, ...] = (
    "This is {}.",
    "That is {}.",
    "There is {}.",
    "Here is {}.",
    "{} is here.",
    "{} is there.",
    "It is {}.",
)
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


@runtime_checkable
class SentenceEncoder(Protocol):
    """Anything that turns sentences into vectors ``[N, D]``."""

    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        """Vectors of the sentences, one row each."""
        ...


class MeanWordVectorEncoder:
    """The mean of the (unit) word vectors of a sentence's in-vocabulary words (a word not
    found is tried in lowercase, for sentence-initial capitals).

    Raises (in ``encode``) when a sentence has no known word at all.
    """

    def __init__(self, embeddings: WordEmbeddings) -> None:
        self.embeddings = embeddings.normalized()

    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        """``[N, D]`` mean word vectors."""
        out = np.empty((len(sentences), self.embeddings.dim))
        for i, s in enumerate(sentences):
            tokens = _WORD.findall(s)
            words = [
                w if w in self.embeddings else w.lower()
                for w in tokens
                if w in self.embeddings or w.lower() in self.embeddings
            ]
            if not words:
                raise kc.KhipuError(f"no word of {s!r} is in the vocabulary")
            out[i] = self.embeddings.matrix(words).mean(axis=0)
        return out


def fill_templates(word: str, templates: Sequence[str]) -> list[str]:
    """``word`` placed into every template (``{}`` marks the slot; capitalised at the start)."""
    out = []
    for t in templates:
        if t.count("{}") != 1:
            raise kc.KhipuError(f"a template needs exactly one '{{}}' slot: {t!r}")
        filled = t.format(word)
        out.append(filled[0].upper() + filled[1:] if t.startswith("{}") else filled)
    return out


@dataclass(frozen=True)
class SeatResult:
    """SEAT's numbers and the sentences behind them."""

    test: str
    statistic: float
    effect_size: float
    p_value: float
    exact: bool
    n_permutations: int
    sentences: dict[str, list[str]] = field(repr=False)
    missing: dict[str, list[str]] = field(default_factory=dict)

    def metrics(self) -> dict[str, float | int | str | bool]:
        """A flat dict for ``metrics.json``."""
        return {
            "test": self.test,
            "effect_size": self.effect_size,
            "p_value": self.p_value,
            "statistic": self.statistic,
            "exact_p_value": self.exact,
            "n_permutations": self.n_permutations,
            "n_missing": sum(len(v) for v in self.missing.values()),
        }


def seat(
    encoder: SentenceEncoder,
    test: WeatTest,
    *,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    embeddings: WordEmbeddings | None = None,
    max_missing: float | None = DEFAULT_MAX_MISSING,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    seed: int = 0,
) -> SeatResult:
    """WEAT over template sentences.

    Args:
      encoder: the sentence encoder.
      test: the word sets; each word yields ``len(templates)`` sentences.
      templates: sentence templates with one ``{}`` slot.
      embeddings: when given, words outside its vocabulary are dropped first (and
        reported), as a word-vector encoder cannot see them.
      max_missing, n_permutations, exact_limit, seed: as in :func:`khipu.bias.weat`.
    """
    if not templates:
        raise kc.KhipuError("no sentence templates")
    sets = {"X": test.x, "Y": test.y, "A": test.a, "B": test.b}
    words = {r: list(ws.words) for r, ws in sets.items()}
    missing: dict[str, list[str]] = {}
    if embeddings is not None:
        look = embeddings.lookup(
            {f"{ws.name} ({r})": ws.words for r, ws in sets.items()}, max_missing=max_missing
        )
        words = {r: look.found[f"{ws.name} ({r})"] for r, ws in sets.items()}
        missing = look.missing
        rng = np.random.default_rng(seed)
        words["X"], words["Y"], _, _ = balance_sets(words["X"], words["Y"], rng)
    sentences = {
        r: [s for w in ws for s in fill_templates(w, templates)] for r, ws in words.items()
    }
    vec = {r: encoder.encode(s) for r, s in sentences.items()}
    stat, d, perm, _, _ = weat_from_vectors(
        vec["X"],
        vec["Y"],
        vec["A"],
        vec["B"],
        n_permutations=n_permutations,
        exact_limit=exact_limit,
        seed=seed,
    )
    return SeatResult(
        test.name, stat, d, perm.p_value, perm.exact, perm.n_permutations, sentences, missing
    )
