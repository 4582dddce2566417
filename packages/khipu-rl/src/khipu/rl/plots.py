"""Figures of RL runs: learning curves, ε schedules, rewards-to-go, and an
agent's episode as key frames (a PNG figure) and as an animated GIF.

Every function returns a :class:`~matplotlib.figure.Figure` built with
:func:`khipu.core.new_figure` (shown as a PNG when left as a notebook cell's
last expression) and saves it as a PNG when given ``path``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from khipu.core import KhipuError, new_figure, save_figure
from khipu.rl.envs import Act, make_env, quiet_pygame, run_episode, save_gif
from khipu.rl.loop import History
from matplotlib.figure import Figure


def moving_average(values: list[float] | np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over at most ``window`` values (same length as ``values``)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(idx - window, 0)
    return np.asarray((c[idx] - c[lo]) / (idx - lo), dtype=float)


def plot_returns(
    history: History,
    *,
    title: str | None = None,
    solved_at: float | None = None,
    window: int = 20,
    path: str | Path | None = None,
) -> Figure:
    """Training episode returns (raw and a moving average) and mean evaluation
    returns against environment steps.

    Args:
      history: the run's :class:`~khipu.rl.loop.History`.
      title: figure title.
      solved_at: draw a dashed line at this return (e.g. 475 for CartPole-v1).
      window: moving-average window, in episodes (1: the points are already means).
      path: save the PNG there.
    """
    fig = new_figure(7.0, 4.0)
    ax = fig.add_subplot()
    if history.episode_returns:
        xs = np.asarray(history.episode_steps, dtype=float)
        if window > 1:
            ax.plot(
                xs,
                history.episode_returns,
                color="tab:blue",
                alpha=0.25,
                lw=0.8,
                label="training episode",
            )
            ax.plot(
                xs,
                moving_average(history.episode_returns, window),
                color="tab:blue",
                label=f"training (mean of {window} episodes)",
            )
        else:
            ax.plot(xs, history.episode_returns, color="tab:blue", label="training episodes (mean)")
    if history.eval_returns:
        ax.plot(
            history.eval_steps,
            history.eval_returns,
            "o-",
            color="tab:orange",
            ms=3,
            label="evaluation (mean)",
        )
    if solved_at is not None:
        ax.axhline(solved_at, color="gray", ls="--", lw=1, label=f"{solved_at:g}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    if title:
        ax.set_title(title)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_epsilon(
    schedule: Callable[[int], float],
    steps: int,
    *,
    title: str | None = "ε schedule",
    path: str | Path | None = None,
) -> Figure:
    """ε against environment steps for ``schedule(step) -> epsilon``, steps ``0..steps``."""
    if steps <= 0:
        raise KhipuError(f"steps must be positive, got {steps}")
    xs = np.unique(np.linspace(0, steps, 201).astype(int))
    ys = [float(schedule(int(x))) for x in xs]
    fig = new_figure(5.0, 3.0)
    ax = fig.add_subplot()
    ax.plot(xs, ys, color="tab:purple")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("ε (probability of a random action)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_rewards_to_go(
    rewards: Sequence[float],
    returns: Callable[[Sequence[float], float], Sequence[float]],
    gammas: Sequence[float] = (1.0, 0.99, 0.9),
    *,
    title: str | None = "Rewards-to-go of one episode",
    path: str | Path | None = None,
) -> Figure:
    """The rewards-to-go ``returns(rewards, gamma)`` of one episode, one curve per γ."""
    fig = new_figure(6.0, 3.2)
    ax = fig.add_subplot()
    t = np.arange(len(rewards))
    for gamma in gammas:
        ax.plot(t, np.asarray(returns(rewards, gamma), dtype=float), label=f"γ = {gamma:g}")
    ax.set_xlabel("time step t")
    ax.set_ylabel("reward-to-go G_t")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_frames(
    frames: Sequence[np.ndarray],
    *,
    num: int = 6,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """``num`` frames of an episode evenly spread from the first to the last, in a row.

    Args:
      frames: ``[H, W, 3]`` uint8 images (``env.render()`` with ``render_mode="rgb_array"``).
      num: frames shown (fewer if the episode is shorter).
      title: figure title.
      path: save the PNG there.
    """
    if not frames:
        raise KhipuError("no frames to draw")
    idx = np.unique(np.linspace(0, len(frames) - 1, min(num, len(frames))).astype(int))
    fig = new_figure(2.0 * len(idx), 1.8)
    axes = fig.subplots(1, len(idx), squeeze=False)[0]
    for ax, i in zip(axes, idx, strict=True):
        ax.imshow(frames[i])
        ax.set_title(f"t = {i}", fontsize=8)
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    if path is not None:
        save_figure(fig, path)
    return fig


class EpisodeRecording(NamedTuple):
    """One recorded episode of an agent.

    Attributes:
      gif: the animated GIF written.
      episode_return: the episode's return.
      length: its number of steps.
      figure: key frames of the episode (see :func:`plot_frames`).
    """

    gif: Path
    episode_return: float
    length: int
    figure: Figure


def record_agent(
    env_id: str,
    act: Act,
    path: str | Path,
    *,
    seed: int = 0,
    every: int = 2,
    title: str | None = None,
) -> EpisodeRecording:
    """Plays one episode of ``act(obs) -> action`` and records it as a GIF and as key frames.

    Args:
      env_id: gymnasium environment (rendered with ``render_mode="rgb_array"``).
      act: the policy (e.g. :func:`~khipu.rl.policies.greedy_act` of a trained agent).
      path: the ``.gif`` to write.
      seed: the episode's reset seed.
      every: keep one frame in ``every`` in the GIF.
      title: title of the key-frames figure (the return is appended).
    """
    quiet_pygame()
    env = make_env(env_id, render_mode="rgb_array")
    try:
        total, length, frames = run_episode(env, act, seed=seed, render=True)
        fps = int(env.metadata.get("render_fps", 50) or 50)
    finally:
        env.close()
    gif = save_gif(frames, path, fps=fps, every=every)
    label = f"return {total:g}"
    figure = plot_frames(frames, title=f"{title}: {label}" if title else label)
    return EpisodeRecording(gif, total, length, figure)
