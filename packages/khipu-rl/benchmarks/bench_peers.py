"""khipu-rl's JAX CartPole against gymnasium's CartPole-v1 and gymnax's, in one run.

    hatch run peers:bench            # every package's peer benchmark (one core)
    python bench_peers.py [--quick] [--num-envs 1024] [--steps 500] [--repeats 10]

What a user would pick instead of ``khipu.rl.cartpole``: gymnasium's Python
``CartPole-v1`` (one env stepped in a loop, or its NumPy-batched vector env) and
gymnax's JAX ``CartPole-v1`` (``jit`` + ``vmap`` + ``lax.scan``, as its README shows).
Three workloads, the same on every side:

- **1 env**: ``--single-steps`` random-action steps of one environment, reset when an
  episode ends (gymnasium: ``gym.make`` and a Python loop).
- **batch**: ``--num-envs`` environments x ``--steps`` random-action steps with
  autoreset (gymnasium: ``gym.make_vec(..., vectorization_mode="vector_entry_point")``,
  CartPole's NumPy vector env, which resets on the step after an episode ends).
- **PPO iteration**: one rollout of 8 envs x 128 steps sampling from khipu's 64-64
  actor-critic, then khipu's PPO update (4 epochs x 4 minibatches) -- ``make_ppo_train``'s
  inner loop. gymnax runs the same scan with its env; gymnasium runs ``train_ppo_gym``'s
  loop (``SyncVectorEnv``, same-step autoreset, the policy jitted per step). The network
  and the update are the same function on every side: only the environment differs.

Before timing, the script checks that the three simulate the same dynamics: from
gymnasium's reset state, the same random actions give the same observations (float
tolerance) and end the episode on the same step. Actions are drawn inside each loop;
compilation is excluded (one untimed call first), repeats are interleaved
(``khipu.core.interleaved_medians``), medians printed, and ``peer / khipu`` as a ratio
of times for the same work (> 1: khipu faster).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import gymnasium as gym
import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
from khipu.core.cli import positive_int
from khipu.rl import cartpole
from khipu.rl.ppo import PPOConfig, make_ppo, make_vector_env, step_vector_env

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_env_steps import gymnasium_rollout, khipu_rollout

ATOL = 1e-5  # float32 (khipu, gymnax) against float64 (gymnasium) over an episode

Array = np.ndarray


class Trajectory(NamedTuple):
    """Observations ``[T, 4]`` after each step and the step's ``terminated`` ``[T]``."""

    obs: Array
    terminated: Array


def start_state(seed: int) -> Array:
    """gymnasium's ``CartPole-v1`` reset state for ``seed``, rounded to float32."""
    env: Any = gym.make("CartPole-v1")
    env.reset(seed=seed)
    state = np.asarray(env.unwrapped.state, np.float32)
    env.close()
    return state


def gymnasium_trajectory(start: Array, actions: Sequence[int]) -> Trajectory:
    """gymnasium's ``CartPole-v1`` from ``start``, until the actions or the episode end."""
    env: Any = gym.make("CartPole-v1")
    env.reset(seed=0)
    env.unwrapped.state = np.asarray(start, np.float64)
    obs, term = [], []
    for a in actions:
        o, _, terminated, truncated, _ = env.step(int(a))
        obs.append(o)
        term.append(terminated)
        if terminated or truncated:
            break
    env.close()
    return Trajectory(np.asarray(obs, np.float64), np.asarray(term, bool))


StepFn = Callable[[cartpole.CartPoleState, Any], tuple[Any, ...]]


def khipu_trajectory(
    start: Array, actions: Sequence[int], step: StepFn = cartpole.step
) -> Trajectory:
    """``khipu.rl.cartpole.step`` (or ``step``, to test the check) from ``start``."""
    one = jax.jit(step)
    state = cartpole.from_observation(np.asarray(start, np.float32))
    obs, term = [], []
    for a in actions:
        state, o, _, terminated, truncated = one(state, jnp.int32(a))
        obs.append(np.asarray(o))
        term.append(bool(terminated))
        if bool(terminated) or bool(truncated):
            break
    return Trajectory(np.asarray(obs, np.float64), np.asarray(term, bool))


def gymnax_trajectory(start: Array, actions: Sequence[int]) -> Trajectory:
    """gymnax's ``CartPole-v1`` (``step_env``: no autoreset) from ``start``."""
    import gymnax
    from gymnax.environments.classic_control.cartpole import EnvState

    env, params = gymnax.make("CartPole-v1")
    x = jnp.asarray(start, jnp.float32)
    state = EnvState(x=x[0], x_dot=x[1], theta=x[2], theta_dot=x[3], time=0)
    one = jax.jit(lambda s, a: env.step_env(jax.random.key(0), s, a, params))
    obs, term = [], []
    for a in actions:
        o, state, _, terminated, _ = one(state, jnp.int32(a))
        obs.append(np.asarray(o))
        term.append(bool(terminated))
        if bool(terminated) or int(state.time) >= params.max_steps_in_episode:
            break
    return Trajectory(np.asarray(obs, np.float64), np.asarray(term, bool))


def dynamics_gap(a: Trajectory, b: Trajectory) -> float:
    """Largest ``|obs_a - obs_b|`` over the steps; ``inf`` if the episodes end apart."""
    if a.obs.shape != b.obs.shape or not np.array_equal(a.terminated, b.terminated):
        return float("inf")
    return float(np.max(np.abs(a.obs - b.obs))) if len(a.obs) else 0.0


def same_dynamics(seeds: Sequence[int] = (0, 1, 2), with_gymnax: bool = True) -> dict[str, float]:
    """Largest gap of khipu (and gymnax) to gymnasium over random-action episodes.

    Returns:
      ``{"khipu": gap, "gymnax": gap}`` (``"gymnax"`` only if ``with_gymnax``); every
      gap is below :data:`ATOL` when the dynamics and termination agree.
    """
    gaps: dict[str, float] = {"khipu": 0.0}
    if with_gymnax:
        gaps["gymnax"] = 0.0
    for seed in seeds:
        start = start_state(seed)
        actions = np.random.default_rng(100 + seed).integers(0, 2, 500).tolist()
        reference = gymnasium_trajectory(start, actions)
        gaps["khipu"] = max(
            gaps["khipu"], dynamics_gap(khipu_trajectory(start, actions), reference)
        )
        if with_gymnax:
            gap = dynamics_gap(gymnax_trajectory(start, actions), reference)
            gaps["gymnax"] = max(gaps["gymnax"], gap)
    return gaps


def gymnax_rollout(num_envs: int, steps: int) -> Callable[[jax.Array], jax.Array]:
    """:func:`bench_env_steps.khipu_rollout` with gymnax's CartPole-v1 (its autoreset)."""
    import gymnax

    env, params = gymnax.make("CartPole-v1")
    reset = jax.vmap(env.reset, in_axes=(0, None))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    @jax.jit
    def run(key: jax.Array) -> jax.Array:
        _, states = reset(jax.random.split(key, num_envs), params)

        def body(carry: tuple[Any, jax.Array], t: jax.Array) -> tuple[tuple[Any, jax.Array], None]:
            states, ended = carry
            act_key, step_key = jax.random.split(jax.random.fold_in(key, t))
            actions = jax.random.bernoulli(act_key, 0.5, (num_envs,)).astype(jnp.int32)
            keys = jax.random.split(step_key, num_envs)
            _, states, _, terminated, truncated, _ = step(keys, states, actions, params)
            done = (terminated | truncated).astype(jnp.int32)
            return (states, ended + jnp.sum(done)), None

        (_, ended), _ = jax.lax.scan(body, (states, jnp.zeros((), jnp.int32)), jnp.arange(steps))
        return ended

    return run


def gymnasium_vector_rollout(num_envs: int, steps: int) -> Callable[[int], int]:
    """``run(seed) -> episodes ended`` on gymnasium's NumPy-batched CartPole vector env."""
    envs = gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point")

    def run(seed: int) -> int:
        rng = np.random.default_rng(seed)
        envs.reset(seed=seed)
        ended = 0
        for _ in range(steps):
            _, _, terminated, truncated, _ = envs.step(rng.integers(0, 2, num_envs))
            ended += int(np.sum(terminated | truncated))
        return ended

    return run


# A JAX environment for the PPO iteration: reset(key, n) -> (states, obs) and
# step(key, states, actions) -> (states, obs, reward, terminated, done, next_obs).
JaxEnv = tuple[Callable[[jax.Array, int], tuple[Any, jax.Array]], Callable[..., tuple[Any, ...]]]


def khipu_env() -> JaxEnv:
    """khipu's CartPole for :func:`jax_ppo_iteration`."""

    def step(key: jax.Array, states: Any, actions: jax.Array) -> tuple[Any, ...]:
        out = cartpole.step_autoreset_batch(key, states, actions)
        done = out.terminated | out.truncated
        return out.state, out.obs, out.reward, out.terminated, done, out.next_obs

    return cartpole.reset_batch, step


def gymnax_env() -> JaxEnv:
    """gymnax's CartPole-v1 for :func:`jax_ppo_iteration`."""
    import gymnax

    env, params = gymnax.make("CartPole-v1")

    def reset(key: jax.Array, n: int) -> tuple[Any, jax.Array]:
        obs, states = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, n), params)
        return states, obs

    def step(key: jax.Array, states: Any, actions: jax.Array) -> tuple[Any, ...]:
        keys = jax.random.split(key, actions.shape[0])
        obs, states, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(keys, states, actions, params)
        done = terminated | truncated
        return states, obs, reward, terminated, done, info["final_observation"]

    return reset, step


ROLLOUT_KEYS = ("obs", "action", "log_prob", "value", "reward", "next_obs", "terminated", "done")


def jax_ppo_iteration(
    env: JaxEnv, config: PPOConfig
) -> tuple[Callable[[jax.Array], Any], Callable[[Any], Any]]:
    """One jitted PPO iteration (``make_ppo_train``'s ``one_update``) on a JAX env.

    Returns:
      ``(init, iteration)``: ``init(key) -> carry`` and the jitted
      ``iteration(carry) -> carry``, ``carry = (ppo_state, env_states, obs, key)``.
    """
    ppo = make_ppo(config, cartpole.OBS_DIM, cartpole.NUM_ACTIONS)
    reset, env_step = env
    n = config.num_envs

    def rollout_step(carry: Any, _: None) -> tuple[Any, dict[str, jax.Array]]:
        params, states, obs, key = carry
        key, act_key, step_key = jax.random.split(key, 3)
        logits, value = ppo.net.apply(params, obs)
        action = jax.random.categorical(act_key, logits)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
        states, next_obs, reward, terminated, done, true_next = env_step(step_key, states, action)
        item = dict(
            zip(
                ROLLOUT_KEYS,
                (obs, action, log_prob, value, reward, true_next, terminated, done),
                strict=True,
            )
        )
        return (params, states, next_obs, key), item

    @jax.jit
    def iteration(carry: Any) -> Any:
        state, states, obs, key = carry
        key, update_key = jax.random.split(key)
        (_, states, obs, key), rollout = jax.lax.scan(
            rollout_step, (state.params, states, obs, key), None, length=config.num_steps
        )
        rollout["next_value"] = ppo.net.apply(state.params, rollout["next_obs"])[1]
        state, _ = ppo.update(state, rollout, update_key)
        return state, states, obs, key

    def init(key: jax.Array) -> Any:
        init_key, env_key, loop_key = jax.random.split(key, 3)
        states, obs = reset(env_key, n)
        return ppo.init(init_key), states, obs, loop_key

    return init, iteration


def gymnasium_ppo_iteration(config: PPOConfig, seed: int = 0) -> Callable[[], Any]:
    """One PPO iteration as ``train_ppo_gym`` runs it: gymnasium's ``SyncVectorEnv``
    stepped in Python, khipu's policy jitted per step, the same jitted update."""
    ppo = make_ppo(config, cartpole.OBS_DIM, cartpole.NUM_ACTIONS)
    envs = make_vector_env("CartPole-v1", config.num_envs)
    net = ppo.net

    @jax.jit
    def act(params: Any, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, ...]:
        logits, value = net.apply(params, obs)
        action = jax.random.categorical(key, logits)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
        return action, log_prob, value

    values_of = jax.jit(lambda params, obs: net.apply(params, obs)[1])
    update = jax.jit(ppo.update)
    keys = kc.KeySequence(seed)
    holder: dict[str, Any] = {"state": ppo.init(next(keys))}
    holder["obs"], _ = envs.reset(seed=seed)

    def iteration() -> Any:
        state, obs = holder["state"], holder["obs"]
        buf: dict[str, list[Array]] = {k: [] for k in ROLLOUT_KEYS}
        for _ in range(config.num_steps):
            obs32 = np.asarray(obs, np.float32)
            action, log_prob, value = (np.asarray(x) for x in act(state.params, obs32, next(keys)))
            obs, reward, terminated, truncated, true_next = step_vector_env(envs, action)
            for k, v in zip(
                ROLLOUT_KEYS,
                (
                    obs32,
                    action,
                    log_prob,
                    value,
                    reward,
                    true_next,
                    terminated,
                    terminated | truncated,
                ),
                strict=True,
            ):
                buf[k].append(v)
        rollout = {k: jnp.asarray(np.stack(v)) for k, v in buf.items()}
        rollout["next_value"] = values_of(state.params, rollout["next_obs"])
        holder["state"], _ = update(state, rollout, next(keys))
        holder["obs"] = obs
        return holder["state"]

    return iteration


def _row(name: str, seconds: float, steps: int, khipu_seconds: float) -> str:
    ratio = "" if name == "khipu" else f"   peer / khipu {seconds / khipu_seconds:8.2f}"
    return f"  {name:<18} {seconds * 1e3:10.2f} ms {steps / seconds:14,.0f} steps/s{ratio}"


def _print_workload(
    title: str, medians: dict[str, float], steps: int, ended: dict[str, int] | None = None
) -> None:
    print(title)
    for name, seconds in medians.items():
        line = _row(name, seconds, steps, medians["khipu"])
        if ended is not None:
            line += f"   ({ended[name] / steps * 1000:.0f} episodes ended / 1000 steps)"
        print(line)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, 3 repeats")
    parser.add_argument("--num-envs", type=positive_int, default=1024, help="batch workload")
    parser.add_argument("--steps", type=positive_int, default=500, help="batch workload")
    parser.add_argument("--single-steps", type=positive_int, default=10_000, help="1-env workload")
    parser.add_argument("--repeats", type=positive_int, default=10)
    args = parser.parse_args(argv)
    if args.quick:
        args.num_envs, args.steps, args.single_steps, args.repeats = 256, 100, 2_000, 3
    try:
        import gymnax  # noqa: F401

        with_gymnax = True
    except ImportError:
        print("gymnax not installed (`hatch run peers:bench` has it): gymnasium only.")
        with_gymnax = False

    gaps = same_dynamics(with_gymnax=with_gymnax)
    same = all(g <= ATOL for g in gaps.values())
    detail = ", ".join(f"{k} max |obs - gymnasium| {g:.1e}" for k, g in gaps.items())
    print(f"same dynamics as gymnasium (3 random-action episodes): {'yes' if same else 'NO'}")
    print(f"  {detail}; episodes end on the same step" if same else f"  {detail}")
    if not same:
        raise SystemExit("the CartPoles disagree: timings would not compare the same work")

    key = jax.random.key(0)
    seeds = iter(range(10**6))

    def jax_thunk(run: Callable[[jax.Array], jax.Array], ended: dict[str, int], name: str) -> Any:
        def thunk() -> None:
            ended[name] = int(run(jax.random.fold_in(key, next(seeds))))

        return thunk

    def py_thunk(run: Callable[[int], int], ended: dict[str, int], name: str) -> Any:
        def thunk() -> None:
            ended[name] = run(next(seeds))

        return thunk

    load = os.getloadavg()[0]
    print(f"load average: {load:.1f}; jax {jax.__version__}, gymnasium {gym.__version__}")

    # 1 env
    ended1: dict[str, int] = {}
    single = {
        "khipu": jax_thunk(khipu_rollout(1, args.single_steps), ended1, "khipu"),
        "gymnasium": py_thunk(gymnasium_rollout(args.single_steps), ended1, "gymnasium"),
    }
    if with_gymnax:
        single["gymnax"] = jax_thunk(gymnax_rollout(1, args.single_steps), ended1, "gymnax")
    for thunk in single.values():
        thunk()
    medians = kc.interleaved_medians(single, args.repeats)
    _print_workload(
        f"1 env x {args.single_steps:,} random-action steps (median of {args.repeats})",
        medians,
        args.single_steps,
        ended1,
    )

    # batch
    endedb: dict[str, int] = {}
    n, t = args.num_envs, args.steps
    batch = {
        "khipu": jax_thunk(khipu_rollout(n, t), endedb, "khipu"),
        "gymnasium vector": py_thunk(gymnasium_vector_rollout(n, t), endedb, "gymnasium vector"),
    }
    if with_gymnax:
        batch["gymnax"] = jax_thunk(gymnax_rollout(n, t), endedb, "gymnax")
    for thunk in batch.values():
        thunk()
    medians = kc.interleaved_medians(batch, args.repeats)
    _print_workload(
        f"{n:,} envs x {t:,} random-action steps (median of {args.repeats})", medians, n * t, endedb
    )

    # PPO iteration
    config = PPOConfig()
    ppo_sides: dict[str, Callable[[], None]] = {}
    for name, env in [("khipu", khipu_env())] + ([("gymnax", gymnax_env())] if with_gymnax else []):
        init, iteration = jax_ppo_iteration(env, config)
        holder = {"carry": init(jax.random.key(0))}

        def jax_iter(iteration: Any = iteration, holder: Any = holder) -> None:
            holder["carry"] = jax.block_until_ready(iteration(holder["carry"]))

        ppo_sides[name] = jax_iter
    gym_iteration = gymnasium_ppo_iteration(config)
    ppo_sides["gymnasium sync"] = lambda: jax.block_until_ready(gym_iteration())
    ppo_sides = {k: ppo_sides[k] for k in ("khipu", "gymnasium sync", "gymnax") if k in ppo_sides}
    for thunk in ppo_sides.values():
        thunk()
    medians = kc.interleaved_medians(ppo_sides, args.repeats)
    ppo_steps = config.num_envs * config.num_steps
    _print_workload(
        f"PPO iteration: {config.num_envs} envs x {config.num_steps} steps with the "
        f"{'-'.join(map(str, config.hidden))} actor-critic, then {config.update_epochs} epochs x "
        f"{config.num_minibatches} minibatches (median of {args.repeats})",
        medians,
        ppo_steps,
    )


if __name__ == "__main__":
    main()
