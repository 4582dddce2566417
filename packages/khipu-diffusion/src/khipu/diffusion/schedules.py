"""Noise schedules, their derived tables and the forward process ``q(x_t | x_0)``.

Time steps are 0-indexed as in the practical: ``t = 0 … T−1`` where index ``t``
holds ``β_{t+1}`` of Ho et al. (2020). With ``ᾱ_t = ∏_{s≤t} (1 − β_s)``:

* forward process ``x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε``;
* posterior ``q(x_{t−1} | x_t, x_0) = N(c₀ x_0 + c_t x_t, β̃_t)`` with
  ``c₀ = β_t √ᾱ_{t−1} / (1 − ᾱ_t)``, ``c_t = √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)`` and
  ``β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)`` (``ᾱ_{−1} = 1``, so ``β̃_0 = 0``).

Note: the practical's linear schedule with ``T = 200`` ends at ``ᾱ_T ≈ 0.13``
(``√ᾱ_T ≈ 0.36``): ``x_T`` still holds a third of the image, it is *not* pure noise.
With ``T = 1000`` (Ho et al.) or the cosine schedule, ``ᾱ_T`` is below 1e-4.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from khipu.core.errors import KhipuError, UnknownNameError

SCHEDULES = ("linear", "cosine")


class Schedule(NamedTuple):
    """Every table of a noise schedule, each of shape ``[T]`` (float32).

    Attributes:
      betas: β_t.
      alphas: α_t = 1 − β_t.
      alphas_cumprod: ᾱ_t = ∏_{s≤t} α_s.
      alphas_cumprod_prev: ᾱ_{t−1} (1 at t = 0).
      sqrt_alphas_cumprod: √ᾱ_t.
      sqrt_one_minus_alphas_cumprod: √(1 − ᾱ_t).
      sqrt_recip_alphas: 1 / √α_t.
      posterior_variance: β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t).
      posterior_mean_coef1: coefficient of x_0 in the posterior mean.
      posterior_mean_coef2: coefficient of x_t in the posterior mean.
    """

    betas: jax.Array
    alphas: jax.Array
    alphas_cumprod: jax.Array
    alphas_cumprod_prev: jax.Array
    sqrt_alphas_cumprod: jax.Array
    sqrt_one_minus_alphas_cumprod: jax.Array
    sqrt_recip_alphas: jax.Array
    posterior_variance: jax.Array
    posterior_mean_coef1: jax.Array
    posterior_mean_coef2: jax.Array

    @property
    def num_steps(self) -> int:
        """T, the number of diffusion steps."""
        return int(self.betas.shape[0])


def _check_steps(timesteps: int) -> None:
    if isinstance(timesteps, bool) or not isinstance(timesteps, (int, np.integer)):
        raise KhipuError(f"the number of diffusion steps T must be an integer, got {timesteps!r}")
    if timesteps <= 0:
        raise KhipuError(f"the number of diffusion steps T must be positive, got {timesteps}")


def linear_beta_schedule(
    timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02
) -> jax.Array:
    """The practical's schedule: ``T`` values of β evenly spaced from ``beta_start`` to
    ``beta_end`` (``[T]``)."""
    _check_steps(timesteps)
    if not 0.0 < beta_start <= beta_end < 1.0:
        raise KhipuError(f"need 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}")
    return jnp.linspace(beta_start, beta_end, timesteps, dtype=jnp.float32)


def cosine_beta_schedule(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> jax.Array:
    """Nichol & Dhariwal's (2021) cosine schedule ``[T]``.

    ``ᾱ(t) = f(t) / f(0)`` with ``f(t) = cos²(((t/T) + s) / (1 + s) · π/2)`` and
    ``β_t = 1 − ᾱ(t+1) / ᾱ(t)``, clipped at ``max_beta`` (the last steps would
    otherwise reach β = 1).
    """
    _check_steps(timesteps)
    steps = np.arange(timesteps + 1, dtype=np.float64)
    f = np.cos(((steps / timesteps) + s) / (1 + s) * math.pi / 2) ** 2
    alphas_cumprod = f / f[0]
    betas = 1.0 - alphas_cumprod[1:] / alphas_cumprod[:-1]
    return jnp.asarray(np.clip(betas, 0.0, max_beta), jnp.float32)


def make_schedule(betas: jax.Array) -> Schedule:
    """Every derived table of a β schedule (computed in float64, stored as float32).

    Args:
      betas: ``[T]`` values in (0, 1).

    Raises:
      KhipuError: ``betas`` is empty, not 1-D or outside (0, 1).
    """
    b = np.asarray(betas, dtype=np.float64)
    if b.ndim != 1 or len(b) == 0:
        raise KhipuError(f"betas must be a non-empty 1-D array, got shape {b.shape}")
    if not ((b > 0) & (b < 1)).all():
        raise KhipuError("every beta must lie strictly between 0 and 1")
    alphas = 1.0 - b
    abar = np.cumprod(alphas)
    abar_prev = np.concatenate([[1.0], abar[:-1]])
    tables = {
        "betas": b,
        "alphas": alphas,
        "alphas_cumprod": abar,
        "alphas_cumprod_prev": abar_prev,
        "sqrt_alphas_cumprod": np.sqrt(abar),
        "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - abar),
        "sqrt_recip_alphas": 1.0 / np.sqrt(alphas),
        "posterior_variance": b * (1.0 - abar_prev) / (1.0 - abar),
        "posterior_mean_coef1": b * np.sqrt(abar_prev) / (1.0 - abar),
        "posterior_mean_coef2": np.sqrt(alphas) * (1.0 - abar_prev) / (1.0 - abar),
    }
    return Schedule(**{k: jnp.asarray(v, jnp.float32) for k, v in tables.items()})


def get_schedule(name: str = "linear", timesteps: int = 1000) -> Schedule:
    """A named schedule (``"linear"`` or ``"cosine"``) with all its tables.

    Raises:
      UnknownNameError: unknown ``name``.
      KhipuError: ``timesteps`` is not a positive integer.
    """
    if name == "linear":
        return make_schedule(linear_beta_schedule(timesteps))
    if name == "cosine":
        return make_schedule(cosine_beta_schedule(timesteps))
    raise UnknownNameError("schedule", name, SCHEDULES)


def extract(table: jax.Array, t: jax.Array, x_shape: tuple[int, ...]) -> jax.Array:
    """``table[t]`` reshaped to broadcast against a batch of shape ``x_shape``.

    Args:
      table: a schedule table ``[T]``.
      t: time indices ``[B]`` (int).
      x_shape: ``(B, ...)``.

    Returns:
      ``[B, 1, …, 1]`` with ``len(x_shape)`` axes.
    """
    return table[t].reshape((t.shape[0],) + (1,) * (len(x_shape) - 1))


def q_sample(schedule: Schedule, x0: jax.Array, t: jax.Array, noise: jax.Array) -> jax.Array:
    """Samples ``x_t ~ q(x_t | x_0)``: ``√ᾱ_t x_0 + √(1 − ᾱ_t) ε``.

    Args:
      schedule: the noise schedule.
      x0: clean data ``[B, ...]``.
      t: time indices ``[B]`` in ``[0, T)``.
      noise: ε ``[B, ...]`` (standard normal).

    Returns:
      ``x_t`` with the shape of ``x0``.
    """
    a = extract(schedule.sqrt_alphas_cumprod, t, x0.shape)
    s = extract(schedule.sqrt_one_minus_alphas_cumprod, t, x0.shape)
    return a * x0 + s * noise


def predict_x0(schedule: Schedule, x_t: jax.Array, t: jax.Array, eps: jax.Array) -> jax.Array:
    """Inverts the forward process: ``x̂_0 = (x_t − √(1 − ᾱ_t) ε) / √ᾱ_t`` (shape of ``x_t``)."""
    a = extract(schedule.sqrt_alphas_cumprod, t, x_t.shape)
    s = extract(schedule.sqrt_one_minus_alphas_cumprod, t, x_t.shape)
    return (x_t - s * eps) / a


def posterior_mean(schedule: Schedule, x0: jax.Array, x_t: jax.Array, t: jax.Array) -> jax.Array:
    """Mean of ``q(x_{t−1} | x_t, x_0)`` (shape of ``x_t``)."""
    c1 = extract(schedule.posterior_mean_coef1, t, x_t.shape)
    c2 = extract(schedule.posterior_mean_coef2, t, x_t.shape)
    return c1 * x0 + c2 * x_t


def schedule_summary(schedule: Schedule) -> dict[str, float]:
    """``T``, ``ᾱ_T`` and ``√ᾱ_T`` — how much signal the last step leaves."""
    abar_t = float(schedule.alphas_cumprod[-1])
    return {
        "timesteps": float(schedule.num_steps),
        "alpha_bar_T": abar_t,
        "sqrt_alpha_bar_T": math.sqrt(abar_t),
    }


def vlb_weights(schedule: Schedule, *, variance: str = "posterior") -> jax.Array:
    """The weight of each time step's term of the variational bound in ε-form ``[T]``.

    With ``μ_θ = (x_t − β_t ε_θ / √(1 − ᾱ_t)) / √α_t`` and a fixed variance σ_t², the KL
    term ``L_{t−1} = KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t))`` equals
    ``λ_t ‖ε − ε_θ(x_t, t)‖² + const`` with ``λ_t = β_t² / (2 σ_t² α_t (1 − ᾱ_t))``.
    Ho et al.'s simple loss uses ``λ_t = 1`` for every t: a *reweighting* of the bound
    (relative to it, the small-t terms get less weight), not the bound itself.

    Args:
      schedule: the noise schedule.
      variance: ``"posterior"`` (σ_t² = β̃_t) or ``"beta"`` (σ_t² = β_t). At ``t = 0``,
        where β̃ is 0, σ² = β_0 is used (the decoder term of Ho et al.).

    Raises:
      KhipuError: unknown ``variance``.
    """
    if variance not in ("posterior", "beta"):
        raise KhipuError(f"variance must be 'posterior' or 'beta', got {variance!r}")
    b = np.asarray(schedule.betas, np.float64)
    abar = np.cumprod(1.0 - b)
    abar_prev = np.concatenate([[1.0], abar[:-1]])
    sigma2 = b.copy() if variance == "beta" else b * (1.0 - abar_prev) / (1.0 - abar)
    sigma2[0] = b[0]
    return jnp.asarray(b**2 / (2.0 * sigma2 * (1.0 - b) * (1.0 - abar)), jnp.float32)
