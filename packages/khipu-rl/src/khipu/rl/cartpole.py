"""CartPole-v1 as pure JAX functions: the same dynamics, termination and truncation
as gymnasium's ``CartPole-v1``, so that thousands of environments run under
``jax.vmap`` and a whole training run compiles into one ``jax.jit``.

The state is a :class:`CartPoleState` pytree; :func:`reset` and :func:`step`
are pure, and :func:`step_autoreset` starts a new episode whenever one ends
(returning the true final observation for bootstrapping through truncation).

    >>> state, obs = reset(jax.random.key(0))
    >>> state, obs, reward, terminated, truncated = step(state, 1)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "FORCE_MAG",
    "GRAVITY",
    "LENGTH",
    "MASS_CART",
    "MASS_POLE",
    "MAX_EPISODE_STEPS",
    "NUM_ACTIONS",
    "OBS_DIM",
    "POLE_MASS_LENGTH",
    "TAU",
    "THETA_THRESHOLD",
    "TOTAL_MASS",
    "X_THRESHOLD",
    "AutoResetStep",
    "CartPoleState",
    "dynamics",
    "evaluate_batch",
    "from_observation",
    "hashed_uniform",
    "is_terminal",
    "observation",
    "reset",
    "reset_batch",
    "step",
    "step_autoreset",
    "step_autoreset_batch",
]

GRAVITY = 9.8
MASS_CART = 1.0
MASS_POLE = 0.1
TOTAL_MASS = MASS_POLE + MASS_CART
LENGTH = 0.5  # half the pole's length
POLE_MASS_LENGTH = MASS_POLE * LENGTH
FORCE_MAG = 10.0
TAU = 0.02
THETA_THRESHOLD = 12 * 2 * math.pi / 360
X_THRESHOLD = 2.4
MAX_EPISODE_STEPS = 500
OBS_DIM = 4
NUM_ACTIONS = 2


class CartPoleState(NamedTuple):
    """One CartPole (or a batch, with a leading axis on every field).

    Attributes:
      physics: ``[4]`` cart position, cart velocity, pole angle, pole angular velocity.
      t: steps taken in the current episode (int32).
    """

    physics: jax.Array
    t: jax.Array


class AutoResetStep(NamedTuple):
    """What :func:`step_autoreset` returns.

    Attributes:
      state: the state to continue from (a fresh episode's if this step ended one).
      obs: the observation to act on next (the reset observation after an episode end).
      reward: the step's reward (1.0).
      terminated: the pole fell or the cart left the track (no bootstrapping).
      truncated: the 500-step time limit was reached (may coincide with ``terminated``).
      next_obs: the true observation reached by this step, before any reset.
    """

    state: CartPoleState
    obs: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    next_obs: jax.Array


def observation(state: CartPoleState) -> jax.Array:
    """The float32 observation ``[4]`` of a state."""
    return state.physics.astype(jnp.float32)


def reset(
    key: jax.Array, *, low: float = -0.05, high: float = 0.05
) -> tuple[CartPoleState, jax.Array]:
    """Starts an episode: every state variable uniform in ``[low, high)``.

    Returns:
      ``(state, obs)``.
    """
    physics = jax.random.uniform(key, (OBS_DIM,), minval=low, maxval=high)
    state = CartPoleState(physics, jnp.zeros((), jnp.int32))
    return state, observation(state)


def from_observation(obs: jax.Array | np.ndarray) -> CartPoleState:
    """A state at step 0 with the given physics (to mirror another CartPole)."""
    return CartPoleState(jnp.asarray(obs), jnp.zeros((), jnp.int32))


def dynamics(physics: jax.Array, action: jax.Array | int) -> jax.Array:
    """One Euler step of the cart-pole equations (gymnasium's ``CartPoleEnv.step``)."""
    x, x_dot, theta, theta_dot = physics[0], physics[1], physics[2], physics[3]
    force = jnp.where(jnp.asarray(action) == 1, FORCE_MAG, -FORCE_MAG).astype(physics.dtype)
    costheta = jnp.cos(theta)
    sintheta = jnp.sin(theta)
    temp = (force + POLE_MASS_LENGTH * jnp.square(theta_dot) * sintheta) / TOTAL_MASS
    thetaacc = (GRAVITY * sintheta - costheta * temp) / (
        LENGTH * (4.0 / 3.0 - MASS_POLE * jnp.square(costheta) / TOTAL_MASS)
    )
    xacc = temp - POLE_MASS_LENGTH * thetaacc * costheta / TOTAL_MASS
    return jnp.stack(
        [x + TAU * x_dot, x_dot + TAU * xacc, theta + TAU * theta_dot, theta_dot + TAU * thetaacc]
    )


def is_terminal(physics: jax.Array) -> jax.Array:
    """Whether the cart left ``[-2.4, 2.4]`` or the pole passed 12 degrees."""
    x, theta = physics[0], physics[2]
    return (
        (x < -X_THRESHOLD)
        | (x > X_THRESHOLD)
        | (theta < -THETA_THRESHOLD)
        | (theta > THETA_THRESHOLD)
    )


def step(
    state: CartPoleState, action: jax.Array | int
) -> tuple[CartPoleState, jax.Array, jax.Array, jax.Array, jax.Array]:
    """One step, as gymnasium's ``CartPole-v1`` (with its ``TimeLimit(500)``).

    Args:
      state: the current state (of an episode that has not ended).
      action: 0 pushes the cart left, 1 right.

    Returns:
      ``(state, obs, reward, terminated, truncated)``; ``truncated`` is true from
      step 500 on, whether or not the episode also terminated on that step (as
      gymnasium's ``TimeLimit`` wrapper reports it).
    """
    physics = dynamics(state.physics, action)
    t = state.t + 1
    terminated = is_terminal(physics)
    truncated = t >= MAX_EPISODE_STEPS
    new = CartPoleState(physics, t)
    return new, observation(new), jnp.ones((), jnp.float32), terminated, truncated


def step_autoreset(key: jax.Array, state: CartPoleState, action: jax.Array | int) -> AutoResetStep:
    """:func:`step`, then a fresh episode (from ``key``) if this step ended one."""
    new, next_obs, reward, terminated, truncated = step(state, action)
    reset_state, reset_obs = reset(key)
    done = terminated | truncated
    state_out = jax.tree.map(lambda r, n: jnp.where(done, r, n), reset_state, new)
    obs = jnp.where(done, reset_obs, next_obs)
    return AutoResetStep(state_out, obs, reward, terminated, truncated, next_obs)


def reset_batch(key: jax.Array, num_envs: int) -> tuple[CartPoleState, jax.Array]:
    """``num_envs`` independent resets: states and observations ``[num_envs, 4]``."""
    return jax.vmap(reset)(jax.random.split(key, num_envs))


def hashed_uniform(key: jax.Array, shape: tuple[int, ...], *, low: float, high: float) -> jax.Array:
    """Uniform float32 noise in ``[low, high)`` from one key, cheaply.

    One scalar of ``jax.random.bits`` seeds a counter hash (the MurmurHash3
    finaliser of ``seed ^ index * golden_ratio``) over ``shape``: a handful of
    integer operations per value instead of a Threefry block, which would cost
    several times more than a CartPole step itself. Fine for reset noise; use
    ``jax.random`` for anything statistical.
    """
    seed = jax.random.bits(key, (), jnp.uint32)
    size = math.prod(shape)
    x = seed ^ (jnp.arange(size, dtype=jnp.uint32) * jnp.uint32(0x9E3779B9))
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x85EBCA6B)
    x = x ^ (x >> 13)
    x = x * jnp.uint32(0xC2B2AE35)
    x = x ^ (x >> 16)
    unit = (x >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)
    return jnp.reshape(low + (high - low) * unit, shape)


def step_autoreset_batch(
    key: jax.Array, states: CartPoleState, actions: jax.Array
) -> AutoResetStep:
    """:func:`step_autoreset` over a batch of environments (``actions`` ``[num_envs]``).

    The episodes that end restart from :func:`hashed_uniform` noise in
    ``[-0.05, 0.05)`` drawn from ``key`` (one cheap draw for the whole batch).
    """
    new, next_obs, reward, terminated, truncated = jax.vmap(step)(states, actions)
    done = terminated | truncated
    fresh = hashed_uniform(key, (actions.shape[0], OBS_DIM), low=-0.05, high=0.05)
    physics = jnp.where(done[:, None], fresh.astype(new.physics.dtype), new.physics)
    state = CartPoleState(physics, jnp.where(done, jnp.zeros_like(new.t), new.t))
    return AutoResetStep(state, observation(state), reward, terminated, truncated, next_obs)


def evaluate_batch(
    act: Callable[[Any, jax.Array], jax.Array],
    params: Any,
    key: jax.Array,
    num_episodes: int,
) -> jax.Array:
    """Returns ``[num_episodes]`` of full episodes played in parallel (jittable).

    Args:
      act: ``act(params, obs [n, 4]) -> actions [n]`` (e.g. a greedy policy).
      params: the policy's parameters.
      key: resets the episodes.
      num_episodes: episodes, one per environment.
    """
    states, obs = reset_batch(key, num_episodes)

    def body(
        carry: tuple[CartPoleState, jax.Array, jax.Array, jax.Array], _: None
    ) -> tuple[tuple[CartPoleState, jax.Array, jax.Array, jax.Array], None]:
        states, obs, alive, total = carry
        actions = act(params, obs)
        states, obs, reward, terminated, truncated = jax.vmap(step)(states, actions)
        total = total + reward * alive
        alive = alive * (1.0 - (terminated | truncated).astype(jnp.float32))
        return (states, obs, alive, total), None

    init = (states, obs, jnp.ones((num_episodes,)), jnp.zeros((num_episodes,)))
    (_, _, _, total), _ = jax.lax.scan(body, init, None, length=MAX_EPISODE_STEPS)
    return total
