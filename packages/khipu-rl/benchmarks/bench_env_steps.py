"""Environment steps per second: the vmapped JAX CartPole against gymnasium's
Python CartPole-v1, measured in the same run.

    python bench_env_steps.py [--quick] [--num-envs N] [--steps T]

Both sides play the same kind of workload: uniformly random actions (drawn inside
the loop on each side, no policy cost) and a reset whenever an episode ends
(terminated or truncated). ``bench_peers.py`` reuses these rollouts against
gymnasium's vector env and gymnax.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gymnasium as gym
import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
from khipu.rl import cartpole


def gymnasium_rollout(steps: int) -> Callable[[int], int]:
    """``run(seed) -> episodes ended``: ``steps`` random-action steps of one
    ``gym.make("CartPole-v1")``, reset whenever an episode ends."""
    env = gym.make("CartPole-v1")

    def run(seed: int) -> int:
        rng = np.random.default_rng(seed)
        env.reset(seed=seed)
        ended = 0
        for _ in range(steps):
            _, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
            if terminated or truncated:
                ended += 1
                env.reset()
        return ended

    return run


def khipu_rollout(num_envs: int, steps: int) -> Callable[[jax.Array], jax.Array]:
    """A jitted ``run(key) -> episodes ended``: ``steps`` random-action steps of
    ``num_envs`` JAX CartPoles (``vmap`` inside ``lax.scan``, same-step autoreset)."""

    @jax.jit
    def run(key: jax.Array) -> jax.Array:
        states, _ = cartpole.reset_batch(key, num_envs)

        def body(
            carry: tuple[cartpole.CartPoleState, jax.Array], t: jax.Array
        ) -> tuple[tuple[cartpole.CartPoleState, jax.Array], None]:
            states, ended = carry
            act_key, reset_key = jax.random.split(jax.random.fold_in(key, t))
            actions = jax.random.bernoulli(act_key, 0.5, (num_envs,)).astype(jnp.int32)
            out = cartpole.step_autoreset_batch(reset_key, states, actions)
            done = (out.terminated | out.truncated).astype(jnp.int32)
            return (out.state, ended + jnp.sum(done)), None

        init = (states, jnp.zeros((), jnp.int32))
        (_, ended), _ = jax.lax.scan(body, init, jnp.arange(steps))
        return ended

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--num-envs", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    num_envs = args.num_envs or (1024 if args.quick else 4096)
    steps = args.steps or (200 if args.quick else 1000)
    gym_steps = 5_000 if args.quick else 50_000
    print(f"devices: {jax.devices()}")
    python_run = gymnasium_rollout(gym_steps)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        python_run(0)
        best = min(best, time.perf_counter() - start)
    baseline = gym_steps / best
    print(f"gymnasium CartPole-v1 (Python, 1 env, {gym_steps} steps): {baseline:,.0f} steps/s")
    seconds = kc.time_call(khipu_rollout(num_envs, steps), jax.random.key(0), repeats=3, warmup=1)
    fast = num_envs * steps / seconds
    print(f"JAX CartPole (vmap x{num_envs}, lax.scan x{steps}, jit): {fast:,.0f} steps/s")
    print(f"ratio: {fast / baseline:,.0f}x")


if __name__ == "__main__":
    main()
