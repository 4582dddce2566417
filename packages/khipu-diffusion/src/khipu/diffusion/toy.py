"""Scores on a known density: a 2-D Gaussian mixture, score ascent and Langevin sampling.

The practical opens with a mixture of two Gaussians whose log-density is known in
closed form, so its score ``∇ₓ log p(x)`` is one ``jax.grad`` away. Following the
score uphill finds a mode; adding noise (Langevin dynamics) turns the ascent into a
sampler of ``p`` — the idea diffusion models build on.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from khipu.core.errors import KhipuError
from khipu.core.random import PRNGKey

_LOG_2PI = float(np.log(2.0 * np.pi))


class GaussianMixture(NamedTuple):
    """A mixture of ``K`` Gaussians in ``D`` dimensions.

    Attributes:
      weights: mixing weights ``[K]`` (summing to 1).
      means: component means ``[K, D]``.
      covs: component covariances ``[K, D, D]`` (symmetric positive definite).
    """

    weights: jax.Array
    means: jax.Array
    covs: jax.Array


def gaussian_mixture(weights: object, means: object, covs: object) -> GaussianMixture:
    """A validated :class:`GaussianMixture` (float32 arrays).

    Raises:
      KhipuError: shapes disagree, weights are negative or do not sum to 1, or a
        covariance is not symmetric positive definite.
    """
    w = np.asarray(weights, dtype=np.float64)
    m = np.asarray(means, dtype=np.float64)
    c = np.asarray(covs, dtype=np.float64)
    if w.ndim != 1 or m.ndim != 2 or c.ndim != 3 or not (len(w) == len(m) == len(c)):
        raise KhipuError(
            f"mixture needs weights [K], means [K, D], covs [K, D, D]; got {w.shape}, "
            f"{m.shape}, {c.shape}"
        )
    if c.shape[1:] != (m.shape[1], m.shape[1]):
        raise KhipuError(f"covariances {c.shape} do not match means {m.shape}")
    if (w < 0).any() or not np.isclose(w.sum(), 1.0):
        raise KhipuError(f"mixture weights must be non-negative and sum to 1, got {w.tolist()}")
    if not np.allclose(c, np.swapaxes(c, 1, 2)) or (np.linalg.eigvalsh(c) <= 0).any():
        raise KhipuError("every covariance must be symmetric positive definite")
    return GaussianMixture(
        jnp.asarray(w, jnp.float32), jnp.asarray(m, jnp.float32), jnp.asarray(c, jnp.float32)
    )


def practical_mixture() -> GaussianMixture:
    """The practical's mixture: ½·N([0.8, 3.2], [[0.8, −0.8], [−0.8, 2]]) + ½·N([−1.3, −2.7],
    [[1.5, 0.75], [0.75, 1.5]])."""
    return gaussian_mixture(
        [0.5, 0.5],
        [[0.8, 3.2], [-1.3, -2.7]],
        [[[0.8, -0.8], [-0.8, 2.0]], [[1.5, 0.75], [0.75, 1.5]]],
    )


def mixture_log_prob(mixture: GaussianMixture, x: jax.Array) -> jax.Array:
    """Log-density of the mixture at ``x``.

    Args:
      mixture: the mixture (``D`` dimensions).
      x: points ``[..., D]``.

    Returns:
      ``log p(x)`` of shape ``[...]``, computed stably with ``logsumexp``.
    """
    x = jnp.asarray(x, jnp.float32)
    d = mixture.means.shape[-1]
    means = mixture.means.reshape((1,) * (x.ndim - 1) + mixture.means.shape)
    diff = x[..., None, :] - means  # [..., K, D]
    precision = jnp.linalg.inv(mixture.covs)  # [K, D, D]
    maha = jnp.einsum("...ki,kij,...kj->...k", diff, precision, diff)  # [..., K]
    _, log_det = jnp.linalg.slogdet(mixture.covs)  # [K]
    lead = (1,) * (x.ndim - 1)
    log_comp = -0.5 * (maha + log_det.reshape(lead + log_det.shape) + d * _LOG_2PI)
    log_w = jnp.log(mixture.weights).reshape(lead + mixture.weights.shape)
    return jax.nn.logsumexp(log_comp + log_w, axis=-1)


def mixture_score(mixture: GaussianMixture, x: jax.Array) -> jax.Array:
    """The score ``∇ₓ log p(x)`` by automatic differentiation.

    Args:
      mixture: the mixture.
      x: points ``[..., D]``.

    Returns:
      Scores of shape ``[..., D]``.
    """
    x = jnp.asarray(x, jnp.float32)

    def log_p(point: jax.Array) -> jax.Array:
        return mixture_log_prob(mixture, point)

    flat = x.reshape((-1, x.shape[-1]))
    scores: jax.Array = jax.vmap(jax.grad(log_p))(flat)
    return scores.reshape(x.shape)


def sample_mixture(mixture: GaussianMixture, key: PRNGKey, n: int) -> jax.Array:
    """``n`` exact samples ``[n, D]`` from the mixture (component, then Gaussian)."""
    if n <= 0:
        raise KhipuError(f"number of samples must be positive, got {n}")
    k_comp, k_noise = jax.random.split(key)
    comp = jax.random.choice(k_comp, len(mixture.weights), (n,), p=mixture.weights)
    chol = jnp.linalg.cholesky(mixture.covs)[comp]  # [n, D, D]
    eps = jax.random.normal(k_noise, (n, mixture.means.shape[-1]))
    return mixture.means[comp] + jnp.einsum("nij,nj->ni", chol, eps)


def mixture_moments(mixture: GaussianMixture) -> tuple[jax.Array, jax.Array]:
    """Mean ``[D]`` and covariance ``[D, D]`` of the whole mixture (law of total covariance)."""
    mean = jnp.sum(mixture.weights[:, None] * mixture.means, axis=0)
    centred = mixture.means - mean[None]
    between = jnp.einsum("k,ki,kj->ij", mixture.weights, centred, centred)
    within = jnp.einsum("k,kij->ij", mixture.weights, mixture.covs)
    return mean, within + between


def score_ascent(
    mixture: GaussianMixture, x0: jax.Array, *, steps: int, step_size: float
) -> jax.Array:
    """Gradient ascent on ``log p``: ``x ← x + λ ∇ₓ log p(x)``.

    Args:
      mixture: the density.
      x0: starting points ``[..., D]``.
      steps: number of updates.
      step_size: λ.

    Returns:
      The path ``[steps + 1, ..., D]`` (starting point first).
    """
    if steps < 0:
        raise KhipuError(f"steps must be non-negative, got {steps}")

    def body(x: jax.Array, _: None) -> tuple[jax.Array, jax.Array]:
        x = x + step_size * mixture_score(mixture, x)
        return x, x

    x0 = jnp.asarray(x0, jnp.float32)
    _, path = jax.lax.scan(body, x0, None, length=steps)
    return jnp.concatenate([x0[None], path], axis=0)


def langevin_sample(
    mixture: GaussianMixture,
    key: PRNGKey,
    x0: jax.Array,
    *,
    steps: int,
    step_size: float,
) -> jax.Array:
    """Unadjusted Langevin dynamics: ``x ← x + (ε/2) ∇ₓ log p(x) + √ε z``, ``z ~ N(0, I)``.

    The points follow ``p`` only in the limit ε → 0 with many steps (``steps · ε``
    large): at a fixed ε the chain settles on a slightly different distribution
    (for ``N(0, s²)`` its variance is ``s² / (1 − ε / (4 s²))``, too wide), and with few
    steps it has not forgotten ``x0``.

    Args:
      mixture: the density.
      key: PRNG key of the noise.
      x0: starting points ``[N, D]``.
      steps: number of updates.
      step_size: ε.

    Returns:
      The path ``[steps + 1, N, D]`` (starting points first).
    """
    if steps < 0:
        raise KhipuError(f"steps must be non-negative, got {steps}")
    if step_size <= 0:
        raise KhipuError(f"step_size must be positive, got {step_size}")
    x0 = jnp.asarray(x0, jnp.float32)

    def body(x: jax.Array, k: PRNGKey) -> tuple[jax.Array, jax.Array]:
        z = jax.random.normal(k, x.shape)
        x = x + 0.5 * step_size * mixture_score(mixture, x) + jnp.sqrt(step_size) * z
        return x, x

    _, path = jax.lax.scan(body, x0, jax.random.split(key, steps))
    return jnp.concatenate([x0[None], path], axis=0)


def mmd(x: jax.Array | np.ndarray, y: jax.Array | np.ndarray, *, bandwidth: float = 1.0) -> float:
    """Squared maximum mean discrepancy with a Gaussian kernel (biased V-statistic).

    Args:
      x: samples ``[N, D]``.
      y: samples ``[M, D]``.
      bandwidth: kernel width σ in ``exp(-‖a − b‖² / (2σ²))``.

    Returns:
      ``MMD²`` (0 for identical sets, larger for more different distributions).
    """
    a, b = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)

    def k(a: jax.Array, b: jax.Array) -> jax.Array:
        d2 = jnp.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=-1)
        return jnp.exp(-d2 / (2.0 * bandwidth**2))

    return float(k(a, a).mean() + k(b, b).mean() - 2.0 * k(a, b).mean())


def moment_errors(samples: jax.Array | np.ndarray, mixture: GaussianMixture) -> dict[str, float]:
    """Relative errors of the sample mean and covariance against the mixture's.

    Returns:
      ``{"mean_error": ‖m̂ − m‖ / √tr C, "cov_error": ‖Ĉ − C‖_F / ‖C‖_F}``: the mean
      error is relative to the mixture's spread (its mean may be near 0).
    """
    points = np.asarray(samples, np.float64)
    mean, cov = (np.asarray(a, np.float64) for a in mixture_moments(mixture))
    mean_err = float(np.linalg.norm(points.mean(0) - mean) / np.sqrt(np.trace(cov)))
    cov_err = float(np.linalg.norm(np.cov(points.T) - cov) / np.linalg.norm(cov))
    return {"mean_error": mean_err, "cov_error": cov_err}


def gaussian_conditional(
    mean: object, cov: object, *, x: float | None = None, y: float | None = None
) -> tuple[float, float]:
    """Mean and variance of one coordinate of a 2-D Gaussian given the other.

    For ``(x, y) ~ N(mean, cov)``: ``p(y | x) = N(μ_y + Σ_yx Σ_xx⁻¹ (x − μ_x),
    Σ_yy − Σ_yx Σ_xx⁻¹ Σ_xy)`` (given ``x``), and symmetrically given ``y``.

    Args:
      mean: ``[2]``.
      cov: ``[2, 2]`` symmetric positive definite.
      x: condition on this value of the first coordinate, or
      y: on this value of the second (exactly one of them).

    Returns:
      ``(conditional mean, conditional variance)``.

    Raises:
      KhipuError: not exactly one of ``x`` and ``y``, or bad shapes.
    """
    m = np.asarray(mean, np.float64)
    c = np.asarray(cov, np.float64)
    if m.shape != (2,) or c.shape != (2, 2):
        raise KhipuError(f"need mean [2] and cov [2, 2], got {m.shape} and {c.shape}")
    if (x is None) == (y is None):
        raise KhipuError("condition on exactly one of x and y")
    if x is not None:
        k = c[1, 0] / c[0, 0]
        return float(m[1] + k * (x - m[0])), float(c[1, 1] - k * c[0, 1])
    assert y is not None
    k = c[0, 1] / c[1, 1]
    return float(m[0] + k * (y - m[1])), float(c[0, 0] - k * c[1, 0])


class ClassGaussians(NamedTuple):
    """A generative classifier: one Gaussian per class and the class prior.

    Attributes:
      priors: ``p(y)`` ``[K]``.
      means: ``[K, D]``.
      covs: ``[K, D, D]``.
    """

    priors: np.ndarray
    means: np.ndarray
    covs: np.ndarray


def fit_class_gaussians(
    x: np.ndarray | jax.Array, labels: np.ndarray | jax.Array
) -> ClassGaussians:
    """Fits ``p(x | y)`` (a Gaussian per class, maximum likelihood) and ``p(y)``
    (class frequencies) to points ``[N, D]`` with integer labels ``[N]`` in ``[0, K)``.

    Raises:
      KhipuError: a class with fewer than ``D + 1`` points, or shapes that disagree.
    """
    pts = np.asarray(x, np.float64)
    lab = np.asarray(labels)
    if pts.ndim != 2 or lab.shape != (len(pts),):
        raise KhipuError(f"need points [N, D] and labels [N], got {pts.shape} and {lab.shape}")
    k = int(lab.max()) + 1
    priors, means, covs = [], [], []
    for c in range(k):
        members = pts[lab == c]
        if len(members) <= pts.shape[1]:
            raise KhipuError(f"class {c} has {len(members)} points: too few for a covariance")
        priors.append(len(members) / len(pts))
        means.append(members.mean(0))
        covs.append(np.atleast_2d(np.cov(members.T, bias=True)))
    return ClassGaussians(np.array(priors), np.stack(means), np.stack(covs))


def class_posterior(model: ClassGaussians, points: np.ndarray | jax.Array) -> np.ndarray:
    """``p(y | x) ∝ p(x | y) p(y)`` (Bayes' rule) at ``points`` ``[..., D]`` → ``[..., K]``."""
    pts = np.asarray(points, np.float64)
    log_joint = []
    for prior, mean, cov in zip(model.priors, model.means, model.covs, strict=True):
        diff = pts - mean
        maha = np.einsum("...i,ij,...j->...", diff, np.linalg.inv(cov), diff)
        _, log_det = np.linalg.slogdet(cov)
        log_joint.append(np.log(prior) - 0.5 * (maha + log_det + len(mean) * _LOG_2PI))
    lj = np.stack(log_joint, -1)
    lj -= lj.max(-1, keepdims=True)
    post: np.ndarray = np.exp(lj) / np.exp(lj).sum(-1, keepdims=True)
    return post


def sample_classes(mixture: GaussianMixture, key: PRNGKey, n: int) -> tuple[jax.Array, jax.Array]:
    """``n`` labelled points: the component of each mixture sample is its class.

    Returns:
      Points ``[n, D]`` and labels ``[n]`` (int32).
    """
    if n <= 0:
        raise KhipuError(f"number of samples must be positive, got {n}")
    k_comp, k_noise = jax.random.split(key)
    comp = jax.random.choice(k_comp, len(mixture.weights), (n,), p=mixture.weights)
    chol = jnp.linalg.cholesky(mixture.covs)[comp]
    eps = jax.random.normal(k_noise, (n, mixture.means.shape[-1]))
    return mixture.means[comp] + jnp.einsum("nij,nj->ni", chol, eps), comp.astype(jnp.int32)


def reverse_step_density(
    weights: object,
    means: object,
    stds: object,
    x_t: float,
    beta: float,
    grid: np.ndarray,
) -> np.ndarray:
    """The exact reverse step ``q(x_{t−1} | x_t)`` of one forward step, in 1-D.

    ``x_{t−1}`` follows a Gaussian mixture (``weights``, ``means``, ``stds``, ``[K]``
    each) and ``x_t = √(1 − β) x_{t−1} + √β ε``. By Bayes' rule
    ``q(x_{t−1} | x_t) ∝ N(x_t; √(1 − β) x_{t−1}, β) q(x_{t−1})``, evaluated on ``grid``
    ``[G]`` (evenly spaced) and normalised there. For small β it is close to a Gaussian
    (the likelihood is much narrower than the data's structure); for large β it keeps
    the data's modes — which is why a Gaussian reverse step needs small steps.

    Returns:
      The density on ``grid`` ``[G]``.
    """
    w, m, sd = (np.asarray(v, np.float64) for v in (weights, means, stds))
    if not 0.0 < beta < 1.0:
        raise KhipuError(f"beta must lie in (0, 1), got {beta}")
    g = np.asarray(grid, np.float64)
    prior = (w[None] * np.exp(-0.5 * ((g[:, None] - m[None]) / sd[None]) ** 2) / sd[None]).sum(1)
    lik = np.exp(-0.5 * (x_t - np.sqrt(1.0 - beta) * g) ** 2 / beta)
    dens = prior * lik
    dens /= dens.sum() * (g[1] - g[0])
    out: np.ndarray = dens
    return out


def gaussian_mismatch(density: np.ndarray, grid: np.ndarray) -> float:
    """Total-variation distance between a density on an even ``grid`` and the Gaussian
    with the same mean and variance (0 for a Gaussian)."""
    g = np.asarray(grid, np.float64)
    d = np.asarray(density, np.float64)
    dx = g[1] - g[0]
    mean = float((g * d).sum() * dx)
    var = float(((g - mean) ** 2 * d).sum() * dx)
    gauss = np.exp(-0.5 * (g - mean) ** 2 / var) / np.sqrt(2 * np.pi * var)
    return float(0.5 * np.abs(d - gauss).sum() * dx)
