"""Learning curves of RL runs (training episode returns and evaluation returns)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from khipu.core import new_figure, save_figure
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
