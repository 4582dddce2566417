"""``khipu rl ...``: train an agent and evaluate a saved policy.

khipu rl train --algo ppo --jax-env --out runs/ppo
khipu rl evaluate --checkpoint runs/ppo --episodes 100 --seed 0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from khipu.core.cli import add_run_arguments, bounded_int, start_run

ALGO_NAMES = ("rps", "reinforce", "dqn", "ppo")
EVAL_SEED_OFFSET = 1_000_000_000
MAX_EPISODES = 100_000  # evaluation episodes (one array slot each, and minutes of play)
MAX_STEPS = 1_000_000_000


def _parse_settings(pairs: list[str]) -> dict[str, str]:
    from khipu.core import KhipuError

    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise KhipuError(f"--set expects NAME=VALUE, got {pair!r}")
        out[name.strip()] = value.strip()
    return out


def _cmd_train(args: argparse.Namespace) -> int:
    from khipu.core import KhipuError

    settings: dict[str, Any] = _parse_settings(args.set or [])
    if args.steps is not None:
        if args.algo not in ("dqn", "ppo"):
            raise KhipuError(f"--steps is for dqn and ppo; use --episodes for {args.algo}")
        settings["total_steps"] = args.steps
    if args.episodes is not None:
        if args.algo not in ("rps", "reinforce"):
            raise KhipuError(f"--episodes is for rps and reinforce; use --steps for {args.algo}")
        settings["num_episodes"] = args.episodes

    from khipu.rl.envs import make_env
    from khipu.rl.train import JAX_ENV_ALGOS, JAX_ENV_ID, check_config, make_config

    config = make_config(args.algo, settings)
    check_config(args.algo, config)
    if args.jax_env:
        if args.algo not in JAX_ENV_ALGOS:
            raise KhipuError(
                f"--jax-env trains {' and '.join(JAX_ENV_ALGOS)} only, not {args.algo}"
            )
        if args.env != JAX_ENV_ID:
            raise KhipuError(f"the JAX environment is {JAX_ENV_ID}; got --env {args.env}")
    make_env(args.env).close()  # a bad --env fails before the run folder is made
    # config.json records the training budget that applies, resolved; the other option
    # is unset (None) and start_run leaves it out
    budget = (
        {"steps": config.total_steps}
        if args.algo in ("dqn", "ppo")
        else {"episodes": config.num_episodes}
    )
    out = start_run(args, settings=config._asdict(), **budget)

    from khipu.core import write_json, write_metrics
    from khipu.rl.envs import evaluate_policy, record_episode_gif
    from khipu.rl.plots import plot_returns
    from khipu.rl.policies import POLICY_FILE, check_finite, greedy_act, save_policy
    from khipu.rl.train import train

    result = train(
        args.algo,
        env_id=args.env,
        jax_env=args.jax_env,
        seed=args.seed,
        config=config,
        progress=not args.no_progress,
    )
    check_finite(result.params, f"{args.algo} training diverged")
    save_policy(
        out / POLICY_FILE,
        result.spec,
        result.params,
        {"algo": args.algo, "env_id": args.env, "seed": args.seed, "jax_env": args.jax_env},
    )
    write_json(out / "history.json", result.history.to_json())
    title = f"{args.algo} on {args.env}" + (" (JAX env)" if args.jax_env else "")
    plot_returns(
        result.history,
        title=title,
        solved_at=475.0 if args.env == "CartPole-v1" else None,
        window=1 if args.jax_env else 20,
        path=out / "learning_curve.png",
    )
    act = greedy_act(result.spec, result.params)
    eval_seed = EVAL_SEED_OFFSET + args.seed * 10_000
    env = make_env(args.env)
    try:
        returns = evaluate_policy(env, act, episodes=args.eval_episodes, seed=eval_seed)
    finally:
        env.close()
    metrics: dict[str, Any] = {
        "eval_mean_return": float(returns.mean()),
        "eval_std_return": float(returns.std()),
        "eval_min_return": float(returns.min()),
        "eval_max_return": float(returns.max()),
        "eval_episodes": args.eval_episodes,
        "env_steps": result.env_steps,
        "train_seconds": result.train_seconds,
    }
    if not args.no_gif:
        _, gif_return = record_episode_gif(args.env, act, out / "episode.gif", seed=eval_seed)
        metrics["gif_return"] = gif_return
    write_metrics(out, metrics)
    print(json.dumps(metrics, indent=2))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from khipu.core import KhipuError, write_metrics
    from khipu.rl.envs import evaluate_policy, make_env, record_episode_gif, return_stats
    from khipu.rl.policies import greedy_act, load_policy, resolve_checkpoint

    checkpoint = resolve_checkpoint(args.checkpoint)
    if args.out is not None and checkpoint.resolve().is_relative_to(Path(args.out).resolve()):
        raise KhipuError(
            f"--out {args.out} holds the checkpoint being evaluated; choose another folder"
        )
    if args.gif and args.out is None:
        raise KhipuError("--gif needs --out (the folder to write episode.gif into)")
    spec, params, meta = load_policy(checkpoint)
    env_id = args.env or meta.get("env_id")
    if not isinstance(env_id, str):
        raise KhipuError("the checkpoint does not name its environment; pass --env")
    env = make_env(env_id)
    try:
        obs_dim, num_actions = env.observation_space.shape[0], int(env.action_space.n)
        if (obs_dim, num_actions) != (spec.obs_dim, spec.num_actions):
            raise KhipuError(
                f"the policy expects {spec.obs_dim} observations and {spec.num_actions} actions; "
                f"{env_id} has {obs_dim} and {num_actions}"
            )
        act = greedy_act(spec, params)
        returns = evaluate_policy(env, act, episodes=args.episodes, seed=args.seed)
    finally:
        env.close()
    metrics: dict[str, Any] = {**return_stats(returns), "episodes": args.episodes}
    print(json.dumps(metrics, indent=2))
    if args.out is not None:
        out = start_run(args, checkpoint=str(checkpoint), env=env_id)
        if args.gif:
            record_episode_gif(env_id, act, out / "episode.gif", seed=args.seed)
        write_metrics(out, metrics)
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Adds ``train`` and ``evaluate`` to the ``khipu rl`` parser."""
    sub = parser.add_subparsers(title="commands", metavar="<command>")

    train = sub.add_parser(
        "train",
        help="train an agent; writes metrics.json, learning_curve.png, episode.gif, policy.npz",
        description="Train random policy search, REINFORCE, DQN or PPO on a gymnasium "
        "environment with discrete actions (or DQN/PPO on the JAX CartPole with --jax-env), "
        "then evaluate the greedy policy on gymnasium's environment.",
    )
    train.add_argument("--algo", choices=ALGO_NAMES, required=True, help="the agent")
    train.add_argument("--env", default="CartPole-v1", help="gymnasium id (default CartPole-v1)")
    train.add_argument(
        "--jax-env", action="store_true", help="train inside one jit on the JAX CartPole (dqn, ppo)"
    )
    train.add_argument(
        "--steps", type=bounded_int(1, MAX_STEPS), help="training env steps (dqn, ppo)"
    )
    train.add_argument(
        "--episodes",
        type=bounded_int(1, MAX_STEPS),
        help="training episodes (rps, reinforce)",
    )
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a setting of the algorithm's config (repeatable), "
        "e.g. --set gamma=0.95 --set double=false",
    )
    train.add_argument(
        "--eval-episodes",
        type=bounded_int(1, MAX_EPISODES),
        default=100,
        help="final evaluation episodes on gymnasium's env (default 100)",
    )
    train.add_argument("--no-gif", action="store_true", help="do not record episode.gif")
    add_run_arguments(train, resume=False)  # RL runs are short: no resume
    train.set_defaults(func=_cmd_train)

    evaluate = sub.add_parser(
        "evaluate",
        help="run a saved policy greedily on gymnasium's env; writes metrics.json",
        description="Play a saved policy greedily on gymnasium's environment.",
    )
    evaluate.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="a run folder holding policy.npz, or the .npz file; memory: the policy's parameters",
    )
    evaluate.add_argument(
        "--episodes",
        type=bounded_int(1, MAX_EPISODES),
        default=100,
        help=f"episodes (default 100, at most {MAX_EPISODES})",
    )
    evaluate.add_argument(
        "--seed",
        type=bounded_int(0, 2**32 - 1 - MAX_EPISODES),
        default=0,
        help="episode i resets with seed + i (default 0)",
    )
    evaluate.add_argument("--env", help="gymnasium id (default: the one trained on)")
    evaluate.add_argument("--out", type=Path, help="folder for metrics.json (and --gif)")
    evaluate.add_argument("--overwrite", action="store_true", help="replace a previous --out")
    evaluate.add_argument("--gif", action="store_true", help="also record episode.gif in --out")
    evaluate.set_defaults(func=_cmd_evaluate)
