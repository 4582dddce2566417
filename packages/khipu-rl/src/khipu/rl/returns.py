"""Returns and advantages: discounted rewards-to-go and generalised advantage estimation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def rewards_to_go(rewards: np.ndarray | list[float], gamma: float = 1.0) -> np.ndarray:
    """Discounted rewards-to-go of one episode: ``G_t = sum_{k>=t} gamma^(k-t) r_k``.

    Args:
      rewards: ``[T]`` rewards of one episode, in order.
      gamma: discount in ``[0, 1]``.

    Returns:
      ``[T]`` float32 rewards-to-go (never rounded to integers).
    """
    r = np.asarray(rewards, dtype=np.float64)
    out = np.zeros_like(r)
    running = 0.0
    for t in range(len(r) - 1, -1, -1):
        running = r[t] + gamma * running
        out[t] = running
    return out.astype(np.float32)


def gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    done: jax.Array,
    *,
    gamma: float,
    lam: float,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation over a rollout, with correct episode ends.

    All arrays are ``[T, ...]`` (time first, any batch shape after). For step ``t``:
    ``delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)`` where ``s'_t``
    is the true next state (the final observation when the episode was
    truncated, so truncation bootstraps and termination does not), and
    ``A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}`` with
    ``done = terminated or truncated`` (advantages never leak across episodes).

    Args:
      rewards: rewards ``r_t``.
      values: ``V(s_t)``.
      next_values: ``V(s'_t)``.
      terminated: 1 where the episode terminated at step ``t``.
      done: 1 where the episode ended (terminated or truncated) at step ``t``.
      gamma: discount.
      lam: GAE's lambda.

    Returns:
      ``(advantages, returns)`` with ``returns = advantages + values``.
    """
    not_term = 1.0 - terminated.astype(rewards.dtype)
    not_done = 1.0 - done.astype(rewards.dtype)
    deltas = rewards + gamma * not_term * next_values - values

    def back(carry: jax.Array, x: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        delta, nd = x
        adv = delta + gamma * lam * nd * carry
        return adv, adv

    _, adv = jax.lax.scan(back, jnp.zeros_like(deltas[0]), (deltas, not_done), reverse=True)
    return adv, adv + values
