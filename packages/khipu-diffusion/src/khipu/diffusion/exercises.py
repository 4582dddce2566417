"""The practical's exercises: reference answers and their checkers.

Each ``check_<name>`` is a :class:`khipu.core.exercises.Checker`: in the notebook,
``q_sample = check_q_sample(q_sample)`` prints one line and returns the student's
function when it is right, else the reference below. The checkers run the student's
code on the practical's own example, seeded random inputs and edge cases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from khipu.core.exercises import Case, function_check
from khipu.diffusion.toy import mixture_log_prob, practical_mixture

# --- references ---------------------------------------------------------------


def bayes_posterior(likelihoods: jax.Array, prior: jax.Array) -> jax.Array:
    """``p(y | x) = p(x | y) p(y) / Σ_y' p(x | y') p(y')`` for ``[K]`` likelihoods and prior."""
    joint = jnp.asarray(likelihoods) * jnp.asarray(prior)
    return joint / joint.sum()


def log_density(x: jax.Array) -> jax.Array:
    """``log p(x)`` of the practical's Gaussian mixture at one point ``[2]``."""
    return mixture_log_prob(practical_mixture(), x)


def score_fn(x: jax.Array) -> jax.Array:
    """``∇ₓ log p(x)`` of the practical's mixture at one point ``[2]`` (``jax.grad``)."""
    grad: jax.Array = jax.grad(log_density)(jnp.asarray(x, jnp.float32))
    return grad


def linear_beta_schedule(timesteps: int) -> jax.Array:
    """``timesteps`` values of β from 1e-4 to 0.02, evenly spaced ``[T]``."""
    return jnp.linspace(0.0001, 0.02, timesteps)


def q_sample(x0: jax.Array, t: jax.Array, noise: jax.Array, betas: jax.Array) -> jax.Array:
    """``x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε`` with ``ᾱ_t = ∏_{s≤t} (1 − β_s)``.

    ``x0``, ``noise``: ``[B, ...]``; ``t``: ``[B]`` (0-indexed); ``betas``: ``[T]``.
    """
    abar = jnp.cumprod(1.0 - jnp.asarray(betas))[t]
    abar = abar.reshape((-1,) + (1,) * (jnp.ndim(x0) - 1))
    return jnp.sqrt(abar) * x0 + jnp.sqrt(1.0 - abar) * noise


def posterior_variance(betas: jax.Array) -> jax.Array:
    """``β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)`` for every t (``ᾱ_{−1} = 1``), ``[T]``."""
    betas = jnp.asarray(betas)
    abar = jnp.cumprod(1.0 - betas)
    abar_prev = jnp.concatenate([jnp.ones(1), abar[:-1]])
    return betas * (1.0 - abar_prev) / (1.0 - abar)


def ddpm_loss(
    eps_model: Callable[[jax.Array, jax.Array], jax.Array],
    x0: jax.Array,
    t: jax.Array,
    noise: jax.Array,
    betas: jax.Array,
) -> jax.Array:
    """``mean((ε − ε_θ(x_t, t))²)`` with ``x_t = q_sample(x0, t, ε)`` — on the batch given."""
    x_t = q_sample(x0, t, noise, betas)
    return jnp.mean((noise - eps_model(x_t, t)) ** 2)


def ddpm_step(x: jax.Array, t: int, eps: jax.Array, z: jax.Array, betas: jax.Array) -> jax.Array:
    """One step of Algorithm 2: ``x_{t−1} = (x − β_t ε / √(1 − ᾱ_t)) / √α_t + σ_t z`` with
    ``σ_t² = β̃_t`` (so no noise is added at ``t = 0``)."""
    betas = jnp.asarray(betas)
    abar = jnp.cumprod(1.0 - betas)
    mean = (x - betas[t] / jnp.sqrt(1.0 - abar[t]) * eps) / jnp.sqrt(1.0 - betas[t])
    return mean + jnp.sqrt(posterior_variance(betas)[t]) * z


# --- inputs of the checks ---------------------------------------------------------


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _bayes_cases() -> Iterator[Case]:
    yield Case("two classes", (np.array([0.2, 0.6]), np.array([0.5, 0.5])))
    yield Case("unequal prior", (np.array([0.3, 0.1, 0.05]), np.array([0.1, 0.3, 0.6])))
    r = _rng(0)
    yield Case("random, 5 classes", (r.uniform(0.01, 1, 5), r.dirichlet(np.ones(5))))


def _score_cases() -> Iterator[Case]:
    yield Case("the practical's start (−1.6, 0.1)", (np.array([-1.6, 0.1], np.float32),))
    yield Case("near a mode", (np.array([0.8, 3.0], np.float32),))
    for i, p in enumerate(_rng(1).normal(scale=3.0, size=(3, 2)).astype(np.float32)):
        yield Case(f"random point {i}", (p,))


def _schedule_cases() -> Iterator[Case]:
    for t in (200, 1000, 7, 2):
        yield Case(f"T = {t}", (t,))


def _betas(t: int = 200) -> np.ndarray:
    return np.linspace(1e-4, 0.02, t).astype(np.float32)


def _q_sample_cases() -> Iterator[Case]:
    r = _rng(2)
    x0 = r.uniform(-1, 1, (4, 3, 3, 1)).astype(np.float32)
    noise = r.normal(size=x0.shape).astype(np.float32)
    yield Case("T = 200, t = [0, 9, 99, 199]", (x0, np.array([0, 9, 99, 199]), noise, _betas()))
    yield Case(
        "2-D points", (x0[:, :, 0, 0], np.array([5, 50, 150, 10]), noise[:, :, 0, 0], _betas())
    )


def _posterior_cases() -> Iterator[Case]:
    yield Case("linear, T = 200", (_betas(200),))
    yield Case("linear, T = 5", (_betas(5),))
    yield Case("random betas", (np.sort(_rng(3).uniform(0.01, 0.3, 12)).astype(np.float32),))


def _linear_model(x: jax.Array, t: jax.Array) -> jax.Array:
    """A stand-in ε_θ that depends on both its inputs."""
    return 0.5 * x + 0.01 * jnp.asarray(t, jnp.float32).reshape((-1,) + (1,) * (x.ndim - 1))


def _loss_cases() -> Iterator[Case]:
    r = _rng(4)
    for i in range(2):
        x0 = r.uniform(-1, 1, (6, 4, 4, 1)).astype(np.float32)
        noise = r.normal(size=x0.shape).astype(np.float32)
        t = r.integers(0, 200, 6)
        yield Case(f"batch {i}", (_linear_model, x0, t, noise, _betas()))


def _step_cases() -> Iterator[Case]:
    r = _rng(5)
    x = r.normal(size=(3, 2)).astype(np.float32)
    eps = r.normal(size=(3, 2)).astype(np.float32)
    z = r.normal(size=(3, 2)).astype(np.float32)
    for t in (199, 100, 1, 0):
        yield Case(f"t = {t}", (x, t, eps, z, _betas()))


# --- checkers -----------------------------------------------------------------------

check_bayes_posterior = function_check(
    "bayes_posterior",
    bayes_posterior,
    _bayes_cases,
    hint="multiply likelihood and prior, then divide by their sum over the classes (sum rule)",
)
check_score_fn = function_check(
    "score_fn",
    score_fn,
    _score_cases,
    rtol=1e-3,
    atol=1e-4,
    hint="jax.grad of log_density (the log of p, not p itself)",
)
check_linear_beta_schedule = function_check(
    "linear_beta_schedule",
    linear_beta_schedule,
    _schedule_cases,
    hint="jnp.linspace(0.0001, 0.02, timesteps)",
)
check_q_sample = function_check(
    "q_sample",
    q_sample,
    _q_sample_cases,
    rtol=1e-4,
    atol=1e-5,
    hint="ᾱ_t is the cumulative product of 1 − β up to t; use the square roots of ᾱ_t and 1 − ᾱ_t",
)
check_posterior_variance = function_check(
    "posterior_variance",
    posterior_variance,
    _posterior_cases,
    rtol=1e-4,
    atol=1e-8,
    hint="β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t), with ᾱ_{−1} = 1 so β̃_0 = 0",
)
check_ddpm_loss = function_check(
    "ddpm_loss",
    ddpm_loss,
    _loss_cases,
    rtol=1e-4,
    atol=1e-5,
    hint="noise x0 with q_sample, feed x_t (not x0) and t to the model, compare with the noise",
)
check_ddpm_step = function_check(
    "ddpm_step",
    ddpm_step,
    _step_cases,
    rtol=1e-4,
    atol=1e-5,
    hint="divide by √α_t (not √ᾱ_t) and add √β̃_t · z",
)

CHECKERS = (
    check_bayes_posterior,
    check_score_fn,
    check_linear_beta_schedule,
    check_q_sample,
    check_posterior_variance,
    check_ddpm_loss,
    check_ddpm_step,
)

__all__ = [
    "CHECKERS",
    "bayes_posterior",
    "check_bayes_posterior",
    "check_ddpm_loss",
    "check_ddpm_step",
    "check_linear_beta_schedule",
    "check_posterior_variance",
    "check_q_sample",
    "check_score_fn",
    "ddpm_loss",
    "ddpm_step",
    "linear_beta_schedule",
    "log_density",
    "posterior_variance",
    "q_sample",
    "score_fn",
]
