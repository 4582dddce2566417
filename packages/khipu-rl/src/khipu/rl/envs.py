"""gymnasium environments: checked creation, episodes, evaluation, GIFs and videos.

Any gymnasium environment with a discrete action space and a box observation
works (``CartPole-v1`` by default, ``Acrobot-v1``, ``LunarLander-v3`` with box2d).
Episodes follow gymnasium 1.x: ``reset(seed=...)`` returns ``(obs, info)`` and
``step`` returns ``(obs, reward, terminated, truncated, info)``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from khipu.core import KhipuError, MissingDependencyError, UnknownNameError, import_optional

DEFAULT_ENV = "CartPole-v1"
Act = Callable[[np.ndarray], int]


class Transition(NamedTuple):
    """One step of experience.

    Attributes:
      obs: observation the action was chosen on.
      action: the action taken.
      reward: the reward received.
      next_obs: the observation reached (the final one if the episode ended).
      terminated: the episode reached a terminal state (no bootstrapping).
      truncated: the episode was cut by a time limit (bootstrap from ``next_obs``).
    """

    obs: np.ndarray
    action: int
    reward: float
    next_obs: np.ndarray
    terminated: bool
    truncated: bool


class EnvInfo(NamedTuple):
    """What an agent needs to know about an environment."""

    env_id: str
    obs_dim: int
    num_actions: int
    max_episode_steps: int | None


def quiet_pygame() -> None:
    """Lets pygame render off-screen without a display and without its banner."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


def _gym() -> Any:
    import gymnasium

    return gymnasium


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def make_env(env_id: str = DEFAULT_ENV, *, render_mode: str | None = None) -> Any:
    """``gymnasium.make(env_id)``, refusing what the agents cannot handle.

    Raises:
      UnknownNameError: ``env_id`` is not a registered gymnasium environment.
      MissingDependencyError: the environment needs an extra (box2d, mujoco...).
      KhipuError: the action space is not discrete or the observation not a flat box.
    """
    gym = _gym()
    from gymnasium import error as gym_error

    if env_id not in gym.registry:
        available = [k for k in gym.registry if not k.startswith(("ALE/", "phys2d", "tabular"))]
        raise UnknownNameError("gymnasium environment", env_id, available)
    try:
        with warnings.catch_warnings(record=True) as caught:  # shown only if make succeeds
            warnings.simplefilter("always")
            env = gym.make(env_id, render_mode=render_mode)
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    except gym_error.DependencyNotInstalled as exc:
        raise MissingDependencyError(f"{env_id} needs an extra package: {exc}") from exc
    except gym_error.DeprecatedEnv as exc:
        raise KhipuError(_one_line(str(exc))) from exc
    except ImportError as exc:  # another backend: shimmy, flax (functional envs), mujoco-py
        raise MissingDependencyError(
            f"{env_id} needs a package or gymnasium version that is not installed "
            f"({_one_line(str(exc))}); the agents here use gymnasium's classic-control and "
            "box2d environments (e.g. CartPole-v1, Acrobot-v1, LunarLander-v3)"
        ) from exc
    except Exception as exc:  # a third-party env constructor: any failure is one line
        raise KhipuError(
            f"could not make {env_id}: {type(exc).__name__}: {_one_line(str(exc))}"
        ) from exc
    from gymnasium import spaces

    if not isinstance(env.action_space, spaces.Discrete):
        env.close()
        raise KhipuError(
            f"{env_id} has a {type(env.action_space).__name__} action space; the agents here "
            "need a discrete one (e.g. CartPole-v1, Acrobot-v1, LunarLander-v3)"
        )
    if not isinstance(env.observation_space, spaces.Box) or len(env.observation_space.shape) != 1:
        env.close()
        raise KhipuError(f"{env_id} observations are not a flat vector: {env.observation_space}")
    return env


def env_info(env: Any) -> EnvInfo:
    """Observation size, number of actions and time limit of a :func:`make_env` env."""
    spec = env.spec
    return EnvInfo(
        spec.id if spec is not None else type(env.unwrapped).__name__,
        int(env.observation_space.shape[0]),
        int(env.action_space.n),
        spec.max_episode_steps if spec is not None else None,
    )


def run_episode(
    env: Any, act: Act, *, seed: int | None = None, render: bool = False
) -> tuple[float, int, list[np.ndarray]]:
    """Plays one episode with ``act(obs) -> action``.

    Returns:
      ``(return, length, frames)``; ``frames`` holds ``env.render()`` images when
      ``render`` (the env must use ``render_mode="rgb_array"``).
    """
    obs, _ = env.reset(seed=seed)
    frames: list[np.ndarray] = [env.render()] if render else []
    total, length = 0.0, 0
    while True:
        obs, reward, terminated, truncated, _ = env.step(act(obs))
        total += float(reward)
        length += 1
        if render:
            frames.append(env.render())
        if terminated or truncated:
            return total, length, frames


def eval_seed(seed: int) -> int:
    """First reset seed of a training run's periodic evaluations (run ``seed``), far from
    the seeds its training episodes use."""
    return 10**6 + seed * 1000


def evaluate_policy(env: Any, act: Act, *, episodes: int, seed: int) -> np.ndarray:
    """Returns of ``episodes`` episodes, episode ``i`` reset with seed ``seed + i``."""
    if episodes <= 0:
        raise KhipuError(f"episodes must be positive, got {episodes}")
    return np.array(
        [run_episode(env, act, seed=seed + i)[0] for i in range(episodes)], dtype=np.float64
    )


def return_stats(returns: np.ndarray) -> dict[str, float]:
    """Mean, standard deviation, minimum and maximum of episode returns."""
    r = np.asarray(returns, dtype=np.float64)
    return {
        "mean_return": float(r.mean()),
        "std_return": float(r.std()),
        "min_return": float(r.min()),
        "max_return": float(r.max()),
    }


def save_gif(frames: list[np.ndarray], path: str | Path, *, fps: int = 50, every: int = 2) -> Path:
    """Writes ``rgb_array`` frames as an animated GIF with pillow (no ffmpeg needed).

    Args:
      frames: ``[H, W, 3]`` uint8 images.
      path: the ``.gif`` to write (folders created).
      fps: the environment's frame rate.
      every: keep one frame in ``every`` (GIFs of 500 frames get large).
    """
    from PIL import Image

    if not frames:
        raise KhipuError("no frames to write")
    kept = frames[::every]
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in kept]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    duration = max(20, round(1000 * every / fps))
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0)
    return path


def record_episode_gif(
    env_id: str, act: Act, path: str | Path, *, seed: int = 0, every: int = 2
) -> tuple[Path, float]:
    """Plays one episode with ``render_mode="rgb_array"`` and saves it as a GIF.

    Returns:
      ``(path, episode_return)``.
    """
    quiet_pygame()
    env = make_env(env_id, render_mode="rgb_array")
    try:
        total, _, frames = run_episode(env, act, seed=seed, render=True)
        fps = int(env.metadata.get("render_fps", 50) or 50)
    finally:
        env.close()
    return save_gif(frames, path, fps=fps, every=every), total


def record_video(
    env_id: str, act: Act, folder: str | Path, *, episodes: int = 1, seed: int = 0
) -> list[Path]:
    """Records episodes as MP4 with gymnasium's ``RecordVideo`` (needs moviepy).

    Raises:
      MissingDependencyError: moviepy is not installed.
    """
    import_optional("moviepy", install="khipu-rl[video]")
    from gymnasium.wrappers import RecordVideo

    folder = Path(folder)
    quiet_pygame()
    env: Any = RecordVideo(
        make_env(env_id, render_mode="rgb_array"),
        str(folder),
        episode_trigger=lambda _: True,
        disable_logger=True,
    )
    try:
        for i in range(episodes):
            run_episode(env, act, seed=seed + i)
    finally:
        env.close()
    return sorted(folder.glob("*.mp4"))


def finite_mean(values: list[float]) -> float:
    """The mean of ``values``, NaN if empty."""
    return float(np.mean(values)) if values else math.nan
