"""Environment steps per second: the vmapped JAX CartPole against gymnasium's
Python CartPole-v1, measured in the same run.

    python bench_env_steps.py [--quick] [--num-envs N] [--steps T]

Both sides play the same kind of workload: a fixed alternating action pattern
(no policy cost) and a reset whenever an episode ends (terminated or truncated).
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
from khipu.rl import cartpole


def gymnasium_steps_per_second(steps: int) -> float:
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    actions = (np.arange(steps) // 3) % 2
    best = float("inf")
    for _ in range(3):
        env.reset(seed=0)
        start = time.perf_counter()
        for t in range(steps):
            _, _, terminated, truncated, _ = env.step(int(actions[t]))
            if terminated or truncated:
                env.reset()
        best = min(best, time.perf_counter() - start)
    env.close()
    return steps / best


def jax_steps_per_second(num_envs: int, steps: int) -> float:
    @jax.jit
    def rollout(key: jax.Array) -> jax.Array:
        states, _ = cartpole.reset_batch(key, num_envs)
        env_ids = jnp.arange(num_envs)

        def body(
            carry: tuple[cartpole.CartPoleState, jax.Array], t: jax.Array
        ) -> tuple[tuple[cartpole.CartPoleState, jax.Array], None]:
            states, total = carry
            actions = ((t + env_ids) // 3) % 2
            out = cartpole.step_autoreset_batch(jax.random.fold_in(key, t), states, actions)
            # Depend on the dynamics (rewards are constant and would fold away).
            ended = jnp.sum((out.terminated | out.truncated).astype(jnp.float32))
            return (out.state, total + ended), None

        (states, total), _ = jax.lax.scan(body, (states, jnp.zeros(())), jnp.arange(steps))
        return total + jnp.sum(states.physics)

    seconds = kc.time_call(rollout, jax.random.key(0), repeats=3, warmup=1)
    return num_envs * steps / seconds


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
    baseline = gymnasium_steps_per_second(gym_steps)
    print(f"gymnasium CartPole-v1 (Python, 1 env, {gym_steps} steps): {baseline:,.0f} steps/s")
    fast = jax_steps_per_second(num_envs, steps)
    print(f"JAX CartPole (vmap x{num_envs}, lax.scan x{steps}, jit): {fast:,.0f} steps/s")
    print(f"ratio: {fast / baseline:,.0f}x")


if __name__ == "__main__":
    main()
