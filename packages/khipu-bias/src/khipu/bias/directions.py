"""Bias directions, direct bias and projections (Bolukbasi et al. 2016; EDIA).

A bias direction is a unit vector ``g [D]`` pointing from the second side of a bias (e.g.
male words) to the first (female words). It is found

* from one pair: ``normalize(v_first - v_second)``;
* from two word lists (EDIA's default): ``normalize(normalize(sum v_first) -
  normalize(sum v_second))``;
* by PCA over definitional pairs (Bolukbasi et al.): each pair is centred on its mean, the
  centred vectors are stacked, and the first principal component is the direction. Its
  explained variance ratio says how one-dimensional the bias is; its sign is fixed so that
  the first words of the pairs project positively (EDIA used ``abs`` instead, which is not
  a sign flip).

Scores are cosines with ``g``: positive = closer to the first side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import khipu.core as kc
import numpy as np
from khipu.bias.embeddings import DEFAULT_MAX_MISSING, Lookup, WordEmbeddings, unit_rows

DirectionMethod = Literal["pair", "sum", "pca"]
DIRECTION_METHODS: tuple[str, ...] = ("pair", "sum", "pca")


@dataclass(frozen=True)
class BiasDirection:
    """A unit bias direction and how it was found.

    Attributes:
      vector: ``[D]`` unit vector, pointing towards ``first``.
      method: ``"pair"``, ``"sum"`` or ``"pca"``.
      first, second: the words that defined each side (those found in the vocabulary).
      explained_variance_ratio: for PCA, the share of variance of every component
        (descending); for the other methods an empty array.
      missing: words of the definition that were not in the vocabulary.
      label: a short name for plots, e.g. ``"she ... he"``.
    """

    vector: np.ndarray
    method: str
    first: tuple[str, ...]
    second: tuple[str, ...]
    explained_variance_ratio: np.ndarray = field(default_factory=lambda: np.zeros(0))
    missing: tuple[str, ...] = ()
    label: str = ""

    @property
    def explained_variance(self) -> float:
        """Share of the variance on the direction (PCA only; NaN otherwise)."""
        evr = self.explained_variance_ratio
        return float(evr[0]) if len(evr) else float("nan")


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _label(first: Sequence[str], second: Sequence[str]) -> str:
    def short(ws: Sequence[str]) -> str:
        return ", ".join(ws[:2]) + ("..." if len(ws) > 2 else "")

    return f"{short(second)}  <->  {short(first)}"


def direction_from_pair(emb: WordEmbeddings, first: str, second: str) -> BiasDirection:
    """The direction ``normalize(v_first - v_second)`` of one word pair."""
    emb.lookup({"pair": [first, second]}, max_missing=0.0)
    v = unit_rows(_f64(emb.matrix([first])))[0] - unit_rows(_f64(emb.matrix([second])))[0]
    if np.linalg.norm(v) == 0:
        raise kc.KhipuError(f"{first!r} and {second!r} have the same vector: no direction")
    return BiasDirection(
        unit_rows(v[None])[0], "pair", (first,), (second,), label=f"{second}  <->  {first}"
    )


def direction_from_sums(
    emb: WordEmbeddings,
    first: Sequence[str],
    second: Sequence[str],
    *,
    max_missing: float | None = DEFAULT_MAX_MISSING,
) -> BiasDirection:
    """EDIA's ``sum`` direction: ``normalize(normalize(sum first) - normalize(sum second))``."""
    found = emb.lookup(
        {"first side": list(first), "second side": list(second)}, max_missing=max_missing
    )
    f, s = found.found["first side"], found.found["second side"]
    sum_f = unit_rows(_f64(emb.matrix(f))).sum(axis=0)
    sum_s = unit_rows(_f64(emb.matrix(s))).sum(axis=0)
    v = unit_rows(sum_f[None])[0] - unit_rows(sum_s[None])[0]
    if np.linalg.norm(v) == 0:
        raise kc.KhipuError("the two sides have the same mean direction: no bias direction")
    return BiasDirection(
        unit_rows(v[None])[0],
        "sum",
        tuple(f),
        tuple(s),
        missing=tuple(w for ws in found.missing.values() for w in ws),
        label=_label(f, s),
    )


def direction_pca(
    emb: WordEmbeddings,
    pairs: Sequence[tuple[str, str]],
    *,
    max_missing: float | None = DEFAULT_MAX_MISSING,
    min_explained: float | None = None,
) -> BiasDirection:
    """Bolukbasi et al.'s direction: first principal component of the centred pairs.

    Args:
      emb: the vectors (normalised inside).
      pairs: ``(first, second)`` definitional pairs, e.g. ``("she", "he")``. Pairs with a
        missing word are dropped (and reported).
      max_missing: the largest fraction of pairs that may be dropped.
      min_explained: raise when the first component explains less than this (EDIA
        asks for 0.5): the bias is then not one direction.

    Raises:
      KhipuError: fewer than two usable pairs, too many missing, or too little variance.
    """
    if not pairs:
        raise kc.KhipuError("PCA direction: the list of pairs is empty")
    for p in pairs:
        if len(p) != 2:
            raise kc.KhipuError(f"PCA direction: {p!r} is not a pair")
    ok = [(a, b) for a, b in pairs if a in emb and b in emb]
    missing = tuple(w for a, b in pairs for w in (a, b) if w not in emb)
    lost = len(pairs) - len(ok)
    if len(ok) < 2 or (max_missing is not None and lost / len(pairs) > max_missing):
        raise kc.KhipuError(
            f"PCA direction: {lost} of {len(pairs)} pairs have words missing from "
            f"{emb.name} ({', '.join(missing)}); need at least two complete pairs"
            + ("" if max_missing is None else f" and at most {max_missing:.0%} lost")
        )
    a = unit_rows(_f64(emb.matrix([p[0] for p in ok])))
    b = unit_rows(_f64(emb.matrix([p[1] for p in ok])))
    center = (a + b) / 2
    rows = np.concatenate([a - center, b - center])  # already zero-mean
    _, sing, vt = np.linalg.svd(rows, full_matrices=False)
    var = sing**2
    ratio = var / var.sum()
    g = vt[0]
    if float(np.mean((a - b) @ g)) < 0:  # deterministic sign: first words positive
        g = -g
    if min_explained is not None and ratio[0] < min_explained:
        raise kc.KhipuError(
            f"the first principal component explains only {ratio[0]:.0%} of the variance "
            f"(< {min_explained:.0%}): these pairs do not share one direction"
        )
    first, second = tuple(p[0] for p in ok), tuple(p[1] for p in ok)
    return BiasDirection(
        unit_rows(g[None])[0], "pca", first, second, ratio, missing, label=_label(first, second)
    )


def bias_direction(
    emb: WordEmbeddings,
    first: Sequence[str],
    second: Sequence[str],
    *,
    method: str = "sum",
    max_missing: float | None = DEFAULT_MAX_MISSING,
) -> BiasDirection:
    """A direction by name: ``"pair"`` (one word each side), ``"sum"`` or ``"pca"`` (the
    two lists are zipped into pairs)."""
    if method not in DIRECTION_METHODS:
        raise kc.UnknownNameError("direction method", method, list(DIRECTION_METHODS))
    if not first or not second:
        raise kc.KhipuError("both sides of a bias direction need at least one word")
    if method == "pair":
        if len(first) != 1 or len(second) != 1:
            raise kc.KhipuError("method 'pair' takes exactly one word on each side")
        return direction_from_pair(emb, first[0], second[0])
    if method == "pca":
        if len(first) != len(second):
            raise kc.KhipuError(
                f"method 'pca' pairs the two lists word by word; got {len(first)} and "
                f"{len(second)} words"
            )
        return direction_pca(emb, list(zip(first, second, strict=True)), max_missing=max_missing)
    return direction_from_sums(emb, first, second, max_missing=max_missing)


@dataclass(frozen=True)
class Projection:
    """Words scored by their cosine with a direction.

    Attributes:
      words: the words found, in input order; scores: ``[N]`` cosines with the direction.
      missing: the words not in the vocabulary.
      label: the direction's label.
    """

    words: tuple[str, ...]
    scores: np.ndarray
    missing: tuple[str, ...]
    label: str = ""

    def ranked(self) -> list[tuple[str, float]]:
        """``(word, score)`` from most positive to most negative."""
        order = np.argsort(-self.scores, kind="stable")
        return [(self.words[i], float(self.scores[i])) for i in order]

    def as_dict(self) -> dict[str, float]:
        """``{word: score}``."""
        return {w: float(s) for w, s in zip(self.words, self.scores, strict=True)}


def _found(emb: WordEmbeddings, words: Sequence[str], max_missing: float | None) -> Lookup:
    return emb.lookup({"words": list(words)}, max_missing=max_missing)


def project(
    emb: WordEmbeddings,
    words: Sequence[str],
    direction: BiasDirection | np.ndarray,
    *,
    max_missing: float | None = None,
) -> Projection:
    """Cosine of each word with the direction (EDIA's score). Missing words are listed.

    Raises:
      KhipuError: ``words`` is empty or every word is missing (or more than ``max_missing``).
    """
    g = direction.vector if isinstance(direction, BiasDirection) else np.asarray(direction)
    look = _found(emb, words, max_missing)
    found = look.found["words"]
    scores = unit_rows(_f64(emb.matrix(found))) @ unit_rows(np.asarray(g, float)[None])[0]
    label = direction.label if isinstance(direction, BiasDirection) else ""
    return Projection(tuple(found), scores, tuple(look.missing["words"]), label)


def direct_bias(
    emb: WordEmbeddings,
    words: Sequence[str],
    direction: BiasDirection | np.ndarray,
    *,
    strictness: float = 1.0,
    max_missing: float | None = DEFAULT_MAX_MISSING,
) -> float:
    """Bolukbasi et al.'s DirectBias_c: mean over ``words`` of ``|cos(w, g)|^c``.

    ``words`` should be neutral (e.g. professions); ``strictness`` is c (c = 1 in the paper's
    table; large c approaches a 0/1 count).
    """
    if strictness <= 0:
        raise kc.KhipuError(f"strictness must be positive, got {strictness}")
    proj = project(emb, words, direction, max_missing=max_missing)
    return float(np.mean(np.abs(proj.scores) ** strictness))
