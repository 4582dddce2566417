"""Hard debiasing (Bolukbasi et al. 2016) and why it is not enough (Gonen and Goldberg 2019).

* **neutralize**: remove the component along the bias direction ``g`` and renormalise,
  so every neutral word projects to 0 on ``g``.
* **equalize**: move each pair (e.g. mother/father) to be symmetric about the neutral
  subspace, so neutral words are equidistant from both; norms stay 1.
* **recoverability**: the words that were most biased before debiasing still cluster by
  their old bias, and their neighbours still give it away ("Lipstick on a pig").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import khipu.core as kc
import numpy as np
from khipu.bias.directions import BiasDirection
from khipu.bias.embeddings import WordEmbeddings, unit_rows


def _g(direction: BiasDirection | np.ndarray) -> np.ndarray:
    g = direction.vector if isinstance(direction, BiasDirection) else np.asarray(direction, float)
    if g.ndim != 1 or not np.linalg.norm(g) > 0:
        raise kc.KhipuError("the bias direction must be a non-zero vector [D]")
    return np.asarray(unit_rows(g[None])[0])


def neutralize(vectors: np.ndarray, direction: BiasDirection | np.ndarray) -> np.ndarray:
    """``normalize(v - (v . g) g)`` for every row of ``vectors [N, D]``."""
    v = unit_rows(np.asarray(vectors))
    g = _g(direction).astype(v.dtype)
    return unit_rows(v - np.outer(v @ g, g))


def equalize(
    first: np.ndarray, second: np.ndarray, direction: BiasDirection | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bolukbasi et al.'s equalize step for one pair of vectors ``[D]``.

    With mu the pair's mean and nu its part orthogonal to g, each word becomes
    ``nu +/- sqrt(1 - |nu|^2) g`` (the sign it had along g). Both results have norm 1, the
    same orthogonal part, and opposite projections on g.
    """
    g = _g(direction)
    a, b = unit_rows(np.stack([first, second]).astype(float))
    mu = (a + b) / 2
    nu = mu - (mu @ g) * g
    scale = np.sqrt(max(0.0, 1.0 - float(nu @ nu)))
    side = np.sign((a - mu) @ g) or 1.0
    return nu + side * scale * g, nu - side * scale * g


def hard_debias(
    emb: WordEmbeddings,
    direction: BiasDirection | np.ndarray,
    *,
    keep: Iterable[str] = (),
    equalize_pairs: Sequence[tuple[str, str]] = (),
) -> WordEmbeddings:
    """Neutralizes every word except ``keep`` (and the equalize pairs), then equalizes pairs.

    Args:
      emb: the vectors (the result is unit-normalised).
      direction: the bias direction.
      keep: gender-specific words to leave alone (e.g. ``gender_specific_words()``).
      equalize_pairs: ``(first, second)`` pairs; pairs with a missing word are skipped.

    Returns:
      New embeddings with the same vocabulary.
    """
    vectors = unit_rows(emb.vectors)
    exempt = {emb.index[emb.key(w)] for w in keep if w in emb}
    pairs = [(a, b) for a, b in equalize_pairs if a in emb and b in emb]
    for a, b in pairs:
        exempt |= {emb.index[emb.key(a)], emb.index[emb.key(b)]}
    rows = np.array([i for i in range(len(emb)) if i not in exempt], dtype=np.int64)
    out = vectors.copy()
    if len(rows):
        out[rows] = neutralize(vectors[rows], direction)
    for a, b in pairs:
        ia, ib = emb.index[emb.key(a)], emb.index[emb.key(b)]
        out[ia], out[ib] = equalize(vectors[ia], vectors[ib], direction)
    return emb.with_vectors(out, name=f"{emb.name} (hard-debiased)")


def kmeans(
    x: np.ndarray, k: int = 2, *, seed: int = 0, n_init: int = 10, max_iter: int = 100
) -> np.ndarray:
    """Lloyd's k-means with k-means++ starts; returns the labels ``[N]`` of the best run."""
    x = np.asarray(x, float)
    if len(x) < k:
        raise kc.KhipuError(f"k-means needs at least {k} points, got {len(x)}")
    rng = np.random.default_rng(seed)
    best_labels, best_inertia = np.zeros(len(x), dtype=np.int64), np.inf
    for _ in range(n_init):
        centers = [x[rng.integers(len(x))]]
        for _ in range(1, k):
            d2 = np.min(((x[:, None, :] - np.array(centers)[None]) ** 2).sum(-1), axis=1)
            p = d2 / d2.sum() if d2.sum() > 0 else np.full(len(x), 1 / len(x))
            centers.append(x[rng.choice(len(x), p=p)])
        c = np.array(centers)
        labels = np.zeros(len(x), dtype=np.int64)
        for step in range(max_iter):
            d2 = ((x[:, None, :] - c[None]) ** 2).sum(-1)
            new = d2.argmin(axis=1)
            if step > 0 and np.array_equal(new, labels):
                break
            labels = new
            c = np.array(
                [x[labels == j].mean(0) if np.any(labels == j) else c[j] for j in range(k)]
            )
        inertia = float(((x - c[labels]) ** 2).sum())
        if inertia < best_inertia:
            best_labels, best_inertia = labels, inertia
    return best_labels


@dataclass(frozen=True)
class Recoverability:
    """How much of the removed bias is still in the debiased vectors.

    Attributes:
      cluster_accuracy: k-means (k=2) on the debiased vectors of the ``n`` most biased
        words of each side, scored against their original side (0.5 = chance, 1 = fully
        recovered).
      neighbour_agreement: share of each such word's ``k`` nearest debiased neighbours
        (among the candidate vocabulary) that were on the same side originally.
      neighbour_correlation: Pearson correlation, over those words, between the original
        projection on the direction and the share of first-side neighbours.
      n_words: words per side.
      words_first, words_second: the most biased words of each side.
    """

    cluster_accuracy: float
    neighbour_agreement: float
    neighbour_correlation: float
    n_words: int
    words_first: tuple[str, ...]
    words_second: tuple[str, ...]


def recoverability(
    before: WordEmbeddings,
    after: WordEmbeddings,
    direction: BiasDirection | np.ndarray,
    *,
    n_words: int = 250,
    vocabulary: int = 5000,
    exclude: Iterable[str] = (),
    k: int = 10,
    seed: int = 0,
) -> Recoverability:
    """Gonen and Goldberg's checks: is the old bias recoverable after debiasing?

    Args:
      before, after: the same vocabulary before and after debiasing.
      direction: the bias direction (as measured before).
      n_words: how many of the most biased words per side to test.
      vocabulary: consider only the first ``vocabulary`` words (most frequent).
      exclude: words to leave out (the gender-specific ones kept by debiasing).
      k: neighbours per word.
      seed: k-means seed.
    """
    if before.words != after.words:
        raise kc.KhipuError("before and after must share the same vocabulary")
    skip = {before.key(w) for w in exclude}
    cand = np.array(
        [i for i in range(min(vocabulary, len(before))) if before.words[i] not in skip],
        dtype=np.int64,
    )
    if len(cand) < 2 * n_words or n_words < 2:
        n_words = max(2, len(cand) // 2)
        if len(cand) < 4:
            raise kc.KhipuError("too few words to test recoverability")
    g = _g(direction)
    bias = unit_rows(before.vectors[cand]) @ g
    order = np.argsort(-bias, kind="stable")
    top, bottom = order[:n_words], order[::-1][:n_words]
    chosen = np.concatenate([top, bottom])
    truth = np.concatenate([np.ones(n_words, bool), np.zeros(n_words, bool)])
    deb = unit_rows(after.vectors[cand])
    labels = kmeans(deb[chosen], 2, seed=seed) == 1
    acc = float(np.mean(labels == truth))
    cluster_accuracy = max(acc, 1 - acc)
    sims = deb[chosen] @ deb.T
    sims[np.arange(len(chosen)), chosen] = -np.inf  # not one's own neighbour
    nbrs = np.argpartition(-sims, k, axis=1)[:, :k]
    first_share = (bias[nbrs] > 0).mean(axis=1)
    same = np.where(truth, first_share, 1 - first_share)
    corr = float(np.corrcoef(bias[chosen], first_share)[0, 1]) if np.std(first_share) > 0 else 0.0
    return Recoverability(
        cluster_accuracy,
        float(same.mean()),
        corr,
        n_words,
        tuple(before.words[cand[i]] for i in top),
        tuple(before.words[cand[i]] for i in bottom),
    )
