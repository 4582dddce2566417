"""One entry point for every agent: :func:`train` picks the algorithm, the
environment (gymnasium's, or the JAX CartPole) and the configuration."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import numpy as np
from khipu.core import KhipuError, UnknownNameError, as_key
from khipu.rl import cartpole, dqn, ppo, reinforce, rps
from khipu.rl.dqn import DQNAgent, DQNConfig, JaxRun, jax_run_history, make_dqn_train
from khipu.rl.envs import DEFAULT_ENV, env_info, make_env
from khipu.rl.loop import History, LoopResult, as_numpy_tree, run_training_loop
from khipu.rl.nets import Params, PolicySpec
from khipu.rl.ppo import PPOConfig, make_ppo_train, train_ppo_gym
from khipu.rl.reinforce import ReinforceAgent, ReinforceConfig
from khipu.rl.rps import RandomPolicySearchAgent, RPSConfig

ALGOS: dict[str, type[Any]] = {
    "rps": RPSConfig,
    "reinforce": ReinforceConfig,
    "dqn": DQNConfig,
    "ppo": PPOConfig,
}
JAX_ENV_ALGOS = ("dqn", "ppo")
MAX_COUNT = 1_000_000_000  # steps, episodes, periods: beyond this a run never ends
# settings that size arrays: their own, smaller, limits (memory)
SIZE_LIMITS: dict[str, int] = {
    "buffer_size": 10_000_000,
    "batch_size": 1_000_000,
    "num_envs": 4_096,
    "num_steps": 1_000_000,
    "episodes_per_candidate": 1_000_000,
    "episodes_per_update": 100_000,
    "eval_episodes": 100_000,
    "gradient_steps": 1_000_000,
}
MAX_HIDDEN = 8_192
MAX_LAYERS = 16
POSITIVE_FLOATS = ("learning_rate", "max_grad_norm", "clip_eps")
NON_NEGATIVE_FLOATS = ("vf_coef", "ent_coef")
UNIT_FLOATS = ("eps_start", "eps_end")
JAX_ENV_ID = "CartPole-v1"


class TrainResult(NamedTuple):
    """What :func:`train` returns.

    Attributes:
      algo: the algorithm's name.
      env_id: the gymnasium id of the environment trained on (or mirrored).
      jax_env: whether training used the JAX CartPole.
      config: the configuration used.
      spec: the policy's description (for checkpoints).
      params: the policy's parameters (the best evaluation's).
      history: learning curves.
      env_steps: training environment steps.
      train_seconds: wall-clock training time (compilation included).
    """

    algo: str
    env_id: str
    jax_env: bool
    config: Any
    spec: PolicySpec
    params: Params
    history: History
    env_steps: int
    train_seconds: float


def make_config(algo: str, overrides: Mapping[str, Any] | None = None) -> Any:
    """The default configuration of ``algo`` with ``overrides`` applied.

    Raises:
      UnknownNameError: unknown algorithm or unknown setting.
      KhipuError: a value of the wrong type.
    """
    if algo not in ALGOS:
        raise UnknownNameError("algorithm", algo, list(ALGOS))
    cls = ALGOS[algo]
    config = cls()
    overrides = dict(overrides or {})
    for name, value in overrides.items():
        if name not in cls._fields:
            raise UnknownNameError(f"{algo} setting", name, list(cls._fields))
        default = getattr(config, name)
        overrides[name] = _coerce(name, value, default)
    return config._replace(**overrides)


def check_config(algo: str, config: Any) -> None:
    """Raises :class:`~khipu.core.KhipuError` if ``config`` is not a valid ``algo`` config."""
    if algo not in ALGOS:
        raise UnknownNameError("algorithm", algo, list(ALGOS))
    if not isinstance(config, ALGOS[algo]):
        raise KhipuError(f"{algo} needs a {ALGOS[algo].__name__}, got {type(config).__name__}")
    check_ranges(config)
    checks: dict[str, Callable[[Any], None]] = {
        "rps": rps.check_config,
        "reinforce": reinforce.check_config,
        "dqn": dqn.check_config,
        "ppo": ppo.check_config,
    }
    checks[algo](config)


def check_ranges(config: Any) -> None:
    """Checks every numeric setting of a config: floats finite (and positive, non-negative
    or in [0, 1] where that is their meaning), counts in [0, 1e9], array sizes and layer
    widths within memory limits.

    Raises:
      KhipuError: naming the first setting out of range.
    """
    import math

    for name, value in config._asdict().items():
        if isinstance(value, (bool, str)):
            continue
        if isinstance(value, float):
            if not math.isfinite(value):
                raise KhipuError(f"setting {name} must be a finite number, got {value}")
            if name in POSITIVE_FLOATS and not value > 0:
                raise KhipuError(f"setting {name} must be positive, got {value}")
            if name in NON_NEGATIVE_FLOATS and value < 0:
                raise KhipuError(f"setting {name} must be >= 0, got {value}")
            if name in UNIT_FLOATS and not 0.0 <= value <= 1.0:
                raise KhipuError(f"setting {name} must be in [0, 1], got {value}")
        elif isinstance(value, int):
            high = SIZE_LIMITS.get(name, MAX_COUNT)
            if not 0 <= value <= high:
                raise KhipuError(f"setting {name} must be in [0, {high}], got {value}")
        elif isinstance(value, tuple) and (
            len(value) > MAX_LAYERS
            or not all(isinstance(h, int) and 1 <= h <= MAX_HIDDEN for h in value)
        ):
            raise KhipuError(
                f"setting {name} must be at most {MAX_LAYERS} layer widths in "
                f"[1, {MAX_HIDDEN}], got {','.join(str(h) for h in value) or 'none'}"
            )


def _coerce(name: str, value: Any, default: Any) -> Any:
    given = value
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if isinstance(default, int):
            if isinstance(value, str):
                if len(value) > 40:
                    raise ValueError(value)
                try:
                    return int(value)
                except ValueError:
                    value = float(value)  # "1e5"
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            if isinstance(value, str):
                if len(value) > 200:
                    raise ValueError(value)
                return tuple(int(v) for v in value.replace("x", ",").split(",") if v)
            return tuple(int(v) for v in value)
    except (TypeError, ValueError, OverflowError):
        shown = repr(given) if len(repr(given)) <= 40 else repr(given)[:37] + "..."
        raise KhipuError(
            f"setting {name}: cannot use {shown} (expected {type(default).__name__})"
        ) from None
    return str(value)


def _loop_result(algo: str, env_id: str, config: Any, result: LoopResult) -> TrainResult:
    spec, params = result.best_policy
    return TrainResult(
        algo,
        env_id,
        False,
        config,
        spec,
        params,
        result.history,
        result.env_steps,
        result.seconds,
    )


def _jax_result(
    algo: str, config: Any, spec: PolicySpec, run: JaxRun, env_steps: int, seconds: float
) -> TrainResult:
    return TrainResult(
        algo,
        JAX_ENV_ID,
        True,
        config,
        spec,
        as_numpy_tree(run.params),
        jax_run_history(run),
        env_steps,
        seconds,
    )


def train(
    algo: str,
    *,
    env_id: str = DEFAULT_ENV,
    jax_env: bool = False,
    seed: int = 0,
    config: Any | None = None,
    progress: bool = True,
) -> TrainResult:
    """Trains ``algo`` (``"rps"``, ``"reinforce"``, ``"dqn"`` or ``"ppo"``).

    Args:
      algo: the algorithm.
      env_id: a gymnasium environment with discrete actions.
      jax_env: train on the JAX CartPole inside one ``jit`` (DQN and PPO,
        ``CartPole-v1`` only).
      seed: the run's seed (same seed, same curve).
      config: the algorithm's config (default: :func:`make_config`'s).
      progress: show a progress bar (gymnasium loops).

    Returns:
      A :class:`TrainResult`.
    """
    if config is None:
        config = make_config(algo)
    check_config(algo, config)
    key = as_key(seed)
    if jax_env:
        if algo not in JAX_ENV_ALGOS:
            raise KhipuError(f"--jax-env trains {' and '.join(JAX_ENV_ALGOS)} only, not {algo}")
        if env_id != JAX_ENV_ID:
            raise KhipuError(f"the JAX environment is {JAX_ENV_ID}; got --env {env_id}")
        start = time.perf_counter()
        if algo == "dqn":
            run = jax.jit(make_dqn_train(config))(key)
            spec = PolicySpec("q", cartpole.OBS_DIM, cartpole.NUM_ACTIONS, tuple(config.hidden))
        else:
            run = jax.jit(make_ppo_train(config))(key)
            spec = PolicySpec(
                "actor_critic", cartpole.OBS_DIM, cartpole.NUM_ACTIONS, tuple(config.hidden)
            )
        run = jax.block_until_ready(run)
        seconds = time.perf_counter() - start
        env_steps = int(np.asarray(run.eval_steps)[-1])
        return _jax_result(algo, config, spec, run, env_steps, seconds)

    probe = make_env(env_id)
    info = env_info(probe)
    probe.close()
    if algo == "ppo":
        return _loop_result(
            algo, env_id, config, train_ppo_gym(config, env_id=env_id, seed=seed, progress=progress)
        )
    agent: Any
    if algo == "rps":
        agent = RandomPolicySearchAgent(config, info.obs_dim, info.num_actions, key=key)
        kwargs: dict[str, Any] = {"num_episodes": config.num_episodes, "learn_steps_per_episode": 1}
    elif algo == "reinforce":
        agent = ReinforceAgent(config, info.obs_dim, info.num_actions, key=key)
        kwargs = {"num_episodes": config.num_episodes, "learn_steps_per_episode": 1}
    else:
        agent = DQNAgent(config, info.obs_dim, info.num_actions, key=key)
        kwargs = {"max_env_steps": config.total_steps, "learn_every_steps": config.train_every}
    if algo == "dqn":
        kwargs["eval_every_steps"] = config.eval_every
    else:
        kwargs["eval_every"] = config.eval_every
    result = run_training_loop(
        agent,
        env_id=env_id,
        seed=seed,
        eval_episodes=config.eval_episodes,
        progress=progress,
        **kwargs,
    )
    return _loop_result(algo, env_id, config, result)
