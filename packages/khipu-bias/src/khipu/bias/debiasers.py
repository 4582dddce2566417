"""Debiasing beyond hard debias: multiclass, Double-Hard, Half-Sibling Regression, RAN.

Every method returns **new** :class:`~khipu.bias.embeddings.WordEmbeddings` (unit rows, same
vocabulary) and leaves its input untouched.

* :func:`multiclass_hard_debias` -- Manzini, Lim, Tsvetkov and Black (NAACL 2019): hard
  debias against a k-dimensional subspace found from any number of groups.
* :func:`double_hard_debias` -- Wang, Lin, Rajani, McCann, Ordonez and Xiong (ACL 2020):
  remove the frequency direction that most helps to recover gender, then hard debias.
* :func:`half_sibling_regression` -- Yang and Feng (AAAI 2020): subtract from every
  non-gendered word what the gender-definition words predict of it (ridge regression).
* :func:`ran_debias` -- Kumar, Bhotia, Lal et al. (TACL 2020), Repulsion-Attraction-
  Neutralization: each word is moved (Adam, optax) away from its neighbours that are
  close *because of* gender, towards its old self, and off the gender direction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
from khipu.bias import metrics as m
from khipu.bias.debias import hard_debias, kmeans
from khipu.bias.directions import BiasDirection, direction_pca
from khipu.bias.embeddings import WordEmbeddings, unit_rows

Array = jax.Array
METHODS: tuple[str, ...] = ("hard", "multiclass", "double-hard", "hsr", "ran")


def _rows(emb: WordEmbeddings, words: Iterable[str]) -> list[int]:
    return sorted({emb.index[emb.key(w)] for w in words if w in emb})


def _g(direction: BiasDirection | np.ndarray) -> np.ndarray:
    g = direction.vector if isinstance(direction, BiasDirection) else np.asarray(direction, float)
    if g.ndim != 1 or not np.linalg.norm(g) > 0:
        raise kc.KhipuError("the bias direction must be a non-zero vector [D]")
    return np.asarray(unit_rows(g[None].astype(np.float64))[0])


# --- Manzini et al.: multiclass hard debias ------------------------------------------------------


def multiclass_hard_debias(
    emb: WordEmbeddings,
    defining_sets: Sequence[Sequence[str]],
    *,
    k: int = 1,
    equalize_sets: Sequence[Sequence[str]] = (),
    keep: Iterable[str] = (),
) -> WordEmbeddings:
    """Manzini et al.'s multiclass hard debias.

    The bias subspace B (``k`` dimensions) is the PCA of the defining sets, each centred
    on its mean (:func:`khipu.bias.metrics.bias_subspace`). Every word that is not in a
    defining set, an equalize set or ``keep`` is *neutralized* (its component in B
    removed, then renormalised); each equalize set is *equalized*: its words get the same
    component outside B, ``nu = mu - proj_B(mu)``, and their own directions inside B,
    scaled to unit norm.

    Args:
      emb: the vectors.
      defining_sets: groups of words that define the classes, e.g. ``[("he", "she"),
        ("man", "woman")]`` or ``[("jew", "christian", "muslim"), ...]``. Sets with fewer
        than two known words are skipped.
      k: subspace dimension.
      equalize_sets: groups to make equidistant from every neutral word.
      keep: further words to leave alone.

    Raises:
      KhipuError: fewer than one usable defining set, or k too large.
    """
    sets = [[w for w in s if w in emb] for s in defining_sets]
    sets = [s for s in sets if len(s) >= 2]
    if not sets:
        raise kc.KhipuError("multiclass debias: no defining set has two words in the vocabulary")
    vectors = unit_rows(np.asarray(emb.vectors, np.float64))
    if not 1 <= k <= min(emb.dim, sum(len(s) for s in sets)):
        raise kc.KhipuError(f"multiclass debias: k = {k} is out of range for these sets")
    basis, _ = m.bias_subspace([jnp.asarray(vectors[_rows(emb, s)]) for s in sets], k=k)
    b = np.asarray(basis, np.float64)  # [k, D]
    exempt = set(_rows(emb, [w for s in sets for w in s]))
    exempt |= set(_rows(emb, keep))
    eq = [[w for w in s if w in emb] for s in equalize_sets]
    eq = [s for s in eq if len(s) >= 2]
    exempt |= set(_rows(emb, [w for s in eq for w in s]))
    out = vectors.copy()
    rows = np.array([i for i in range(len(emb)) if i not in exempt], dtype=np.int64)
    if len(rows):
        v = vectors[rows]
        out[rows] = unit_rows(v - (v @ b.T) @ b)
    for s in eq:
        idx = _rows(emb, s)
        e = vectors[idx]
        mu = e.mean(0)
        mu_b = (mu @ b.T) @ b
        nu = mu - mu_b
        scale = np.sqrt(max(0.0, 1.0 - float(nu @ nu)))
        inside = (e @ b.T) @ b - mu_b[None, :]
        inside = unit_rows(inside)
        out[idx] = nu[None, :] + scale * inside
    return emb.with_vectors(out, name=f"{emb.name} (multiclass-debiased)")


# --- Wang et al.: Double-Hard debias ------------------------------------------------------------


class DoubleHardChoice(NamedTuple):
    """Which frequency direction Double-Hard removed.

    Attributes:
      component: index of the principal component removed.
      accuracies: k-means accuracy of the most biased words after removing each candidate
        and hard-debiasing (0.5 = gender no longer recoverable).
    """

    component: int
    accuracies: np.ndarray


def _biased_words(
    vectors: np.ndarray, g: np.ndarray, exclude: set[int], n: int
) -> tuple[np.ndarray, np.ndarray]:
    proj = vectors @ g
    order = [i for i in np.argsort(-proj, kind="stable") if i not in exclude]
    return np.array(order[:n]), np.array(order[::-1][:n])


def double_hard_debias(
    emb: WordEmbeddings,
    pairs: Sequence[tuple[str, str]],
    *,
    keep: Iterable[str] = (),
    equalize_pairs: Sequence[tuple[str, str]] = (),
    n_components: int = 20,
    n_words: int = 500,
    seed: int = 0,
) -> tuple[WordEmbeddings, DoubleHardChoice]:
    """Wang et al.'s Double-Hard debias.

    1. Decentre the vectors (``w - mu``) and find their principal components u_i (the top
       ones carry word frequency, which distorts the gender direction).
    2. For each of the first ``n_components`` u_i: remove it from the ``n_words`` most
       male- and female-biased words, hard-debias them, and cluster them with k-means.
    3. Remove the u_i whose removal makes the clusters least aligned with gender (accuracy
       closest to 0.5) from every word, add mu back, and hard-debias everything.

    Args:
      emb: the vectors.
      pairs: definitional pairs for the gender direction (recomputed after step 3).
      keep, equalize_pairs: as in :func:`khipu.bias.debias.hard_debias`.
      n_components: candidate frequency directions.
      n_words: most biased words per side for the choice.
      seed: k-means seed.

    Returns:
      ``(debiased embeddings, the choice made)``.
    """
    vectors = unit_rows(np.asarray(emb.vectors, np.float64))
    mu = vectors.mean(0)
    centred = vectors - mu[None, :]
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    n_components = min(n_components, len(vt))
    g = _g(direction_pca(emb, pairs, max_missing=0.5))
    keep_rows = set(_rows(emb, keep)) | set(_rows(emb, [w for p in pairs for w in p]))
    n_words = max(2, min(n_words, (len(emb) - len(keep_rows)) // 2))
    male, female = _biased_words(vectors, g, keep_rows, n_words)
    chosen = np.concatenate([male, female])
    truth = np.concatenate([np.ones(len(male), bool), np.zeros(len(female), bool)])
    accuracies = np.zeros(n_components)
    for i in range(n_components):
        u = vt[i]
        cand = centred[chosen] - np.outer(centred[chosen] @ u, u) + mu[None, :]
        cand = unit_rows(cand)
        cand = unit_rows(cand - np.outer(cand @ g, g))  # hard debias (neutralize) of the words
        labels = kmeans(cand, 2, seed=seed) == 1
        acc = float(np.mean(labels == truth))
        accuracies[i] = max(acc, 1 - acc)
    best = int(np.argmin(accuracies))
    u = vt[best]
    shifted = emb.with_vectors(
        unit_rows(centred - np.outer(centred @ u, u) + mu[None, :]), name=emb.name
    )
    direction = direction_pca(shifted, pairs, max_missing=0.5)
    out = hard_debias(shifted, direction, keep=keep, equalize_pairs=equalize_pairs)
    return (
        out.with_vectors(out.vectors, name=f"{emb.name} (double-hard-debiased)"),
        DoubleHardChoice(best, accuracies),
    )


# --- Yang and Feng: Half-Sibling Regression ----------------------------------------------------


def half_sibling_regression(
    emb: WordEmbeddings, gender_words: Iterable[str], *, alpha: float = 60.0
) -> WordEmbeddings:
    """Yang and Feng's Half-Sibling Regression.

    With the gender-definition vectors as the columns of ``V_d [D, n_d]`` and the other
    words' as ``V_n [D, n_n]``, ridge regression over the D coordinates gives
    ``W = (V_d^T V_d + alpha I)^-1 V_d^T V_n`` and every non-gender word becomes
    ``V_n - V_d W`` (the part of it its gendered "half-siblings" cannot predict),
    renormalised. Gender-definition words are left as they are.

    Args:
      emb: the vectors.
      gender_words: the gender-definition words (at least one in the vocabulary).
      alpha: the ridge penalty (the paper's 60).

    Raises:
      KhipuError: no gender word in the vocabulary, or alpha <= 0.
    """
    if alpha <= 0:
        raise kc.KhipuError(f"alpha must be positive, got {alpha}")
    d_rows = _rows(emb, gender_words)
    if not d_rows:
        raise kc.KhipuError("half-sibling regression: no gender word is in the vocabulary")
    vectors = unit_rows(np.asarray(emb.vectors, np.float64))
    n_rows = np.array(sorted(set(range(len(emb))) - set(d_rows)), dtype=np.int64)
    vd, vn = vectors[d_rows].T, vectors[n_rows].T  # [D, n_d], [D, n_n]
    w = np.linalg.solve(vd.T @ vd + alpha * np.eye(len(d_rows)), vd.T @ vn)
    out = vectors.copy()
    out[n_rows] = unit_rows((vn - vd @ w).T)
    return emb.with_vectors(out, name=f"{emb.name} (hsr-debiased)")


# --- Kumar et al.: Repulsion-Attraction-Neutralization ------------------------------------------


class RanWeights(NamedTuple):
    """RAN's objective weights (the paper's 1/8, 6/8, 1/8)."""

    repulsion: float = 0.125
    attraction: float = 0.75
    neutralization: float = 0.125


PAPER_WEIGHTS = RanWeights()


def ran_objective(
    w: Array, original: Array, repel: Array, mask: Array, g: Array, weights: RanWeights
) -> Array:
    """RAN's objective for one word ``w [D]``: ``l1 R + l2 A + l3 N`` with

    * R = mean over the repulsion set (rows of ``repel [K, D]`` where ``mask``) of
      ``|cos(w, n)|``,
    * A = ``|cos(w, original) - 1|``,
    * N = ``|cos(w, g)|``.
    """
    wn = w / jnp.linalg.norm(w)
    rep = jnp.abs(repel @ wn)
    r = jnp.sum(jnp.where(mask, rep, 0.0)) / jnp.maximum(mask.sum(), 1)
    a = jnp.abs(wn @ original - 1.0)
    n = jnp.abs(wn @ g)
    return weights.repulsion * r + weights.attraction * a + weights.neutralization * n


def ran_debias(
    emb: WordEmbeddings,
    direction: BiasDirection | np.ndarray,
    words: Sequence[str],
    *,
    n_neighbours: int = 100,
    threshold: float = 0.05,
    weights: RanWeights = PAPER_WEIGHTS,
    steps: int = 300,
    learning_rate: float = 0.01,
) -> WordEmbeddings:
    """Kumar et al.'s Repulsion-Attraction-Neutralization, written with optax.

    For each word w of ``words``, the repulsion set is those of its ``n_neighbours``
    nearest neighbours whose similarity to w is mostly due to gender: indirect bias
    ``beta(w, n) > threshold`` (:func:`khipu.bias.metrics.indirect_bias_unchecked`, with
    pairs of near-zero similarity left out). Starting from w, Adam minimises
    :func:`ran_objective`; all words are optimised together (``vmap``). The others keep
    their vectors.

    Args:
      emb: the vectors.
      direction: the gender direction.
      words: the words to debias (missing ones are skipped).
      n_neighbours, threshold: the repulsion set.
      weights: the objective's weights.
      steps, learning_rate: Adam's schedule.

    Raises:
      KhipuError: no word of ``words`` is in the vocabulary.
    """
    rows = _rows(emb, words)
    if not rows:
        raise kc.KhipuError("RAN: none of the words to debias is in the vocabulary")
    g = jnp.asarray(_g(direction), jnp.float32)
    vectors = jnp.asarray(unit_rows(np.asarray(emb.vectors, np.float32)))
    w0 = vectors[jnp.asarray(rows)]
    sims = w0 @ vectors.T
    sims = sims.at[jnp.arange(len(rows)), jnp.asarray(rows)].set(-jnp.inf)
    k = min(n_neighbours, len(emb) - 1)
    _, nbr = jax.lax.top_k(sims, k)
    repel = vectors[nbr]  # [W, K, D]
    flat_w = jnp.repeat(w0, k, axis=0)
    beta = m.indirect_bias_unchecked(flat_w, repel.reshape(-1, emb.dim), g).reshape(-1, k)
    dots = jnp.einsum("wd,wkd->wk", w0, repel)
    mask = (jnp.abs(dots) >= 0.05) & (beta > threshold)
    opt = optax.adam(learning_rate)

    def solve(original: Array, rep: Array, msk: Array) -> Array:
        def step(
            carry: tuple[Array, optax.OptState], _: None
        ) -> tuple[tuple[Array, optax.OptState], None]:
            w, state = carry
            grad = jax.grad(ran_objective)(w, original, rep, msk, g, weights)
            updates, state = opt.update(grad, state, w)
            return (jnp.asarray(optax.apply_updates(w, updates)), state), None

        (w, _), _ = jax.lax.scan(step, (original, opt.init(original)), None, length=steps)
        return jnp.asarray(w / jnp.linalg.norm(w))

    new = jax.jit(jax.vmap(solve))(w0, repel, mask)
    out = np.asarray(vectors).copy()
    out[rows] = np.asarray(new)
    return emb.with_vectors(out, name=f"{emb.name} (ran-debiased)")


def debias(
    emb: WordEmbeddings,
    method: str,
    *,
    pairs: Sequence[tuple[str, str]],
    keep: Sequence[str] = (),
    equalize_pairs: Sequence[tuple[str, str]] = (),
    neutral_words: Sequence[str] = (),
    ran_words: int = 2000,
    seed: int = 0,
) -> WordEmbeddings:
    """One method by name (:data:`METHODS`), with the gender word lists of a language.

    Args:
      emb: the vectors (untouched).
      method: ``"hard"``, ``"multiclass"`` (k = 1 over the pairs), ``"double-hard"``,
        ``"hsr"`` (gender words = ``keep`` and the pairs) or ``"ran"``.
      pairs: definitional pairs; keep: gender-specific words; equalize_pairs: pairs to
        equalize.
      neutral_words: words RAN must debias (beside the ``ran_words`` words most biased by
        their projection on the direction).
      ran_words: how many of the most biased words RAN debiases.
      seed: the seed of Double-Hard's k-means.
    """
    from khipu.bias.debias import hard_debias as _hard

    if method not in METHODS:
        raise kc.UnknownNameError("debias method", method, list(METHODS))
    direction = direction_pca(emb, pairs, max_missing=0.5)
    if method == "hard":
        return _hard(emb, direction, keep=keep, equalize_pairs=equalize_pairs)
    if method == "multiclass":
        return multiclass_hard_debias(emb, pairs, k=1, equalize_sets=equalize_pairs, keep=keep)
    if method == "double-hard":
        return double_hard_debias(emb, pairs, keep=keep, equalize_pairs=equalize_pairs, seed=seed)[
            0
        ]
    gender = list(keep) + [w for p in pairs for w in p]
    if method == "hsr":
        return half_sibling_regression(emb, gender)
    skip = set(_rows(emb, gender))
    proj = np.abs(unit_rows(np.asarray(emb.vectors, np.float64)) @ direction.vector)
    order = [i for i in np.argsort(-proj, kind="stable") if i not in skip][:ran_words]
    words = [emb.words[i] for i in order] + [w for w in neutral_words if w not in gender]
    return ran_debias(emb, direction, words)
