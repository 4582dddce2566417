"""Pictures of attention: heatmaps per head and averaged, and the positional-encoding matrix.

Every function builds its figure with :func:`khipu.core.new_figure`, saves a
PNG when given ``path`` and returns the figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from khipu.core import KhipuError, new_figure, save_figure
from khipu.transformer.models import sinusoidal_encoding
from matplotlib.figure import Figure


def _labels(tokens: Sequence[str] | None, n: int) -> list[str]:
    if tokens is None:
        return [str(i) for i in range(n)]
    return [repr(t)[1:-1] if t.isspace() else t for t in tokens]


def plot_attention(
    weights: np.ndarray,
    *,
    queries: Sequence[str] | None = None,
    keys: Sequence[str] | None = None,
    title: str = "attention",
    average: bool = True,
    path: str | Path | None = None,
) -> Figure:
    """Heatmaps of attention weights, one panel per head (plus their mean).

    Args:
      weights: ``[H, T_q, T_k]`` (one layer of one example) or ``[T_q, T_k]``.
      queries: labels of the ``T_q`` rows (tokens), shown on the vertical axis.
      keys: labels of the ``T_k`` columns.
      title: the figure title (e.g. ``"decoder layer 1: cross-attention"``).
      average: add a panel with the mean over heads.
      path: save the PNG there.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3:
        raise KhipuError(f"attention weights must be [heads, T_q, T_k], got shape {w.shape}")
    panels = [(f"head {h + 1}", w[h]) for h in range(w.shape[0])]
    if average and w.shape[0] > 1:
        panels.append(("mean over heads", w.mean(0)))
    t_q, t_k = w.shape[1:]
    size = max(2.5, 0.18 * max(t_q, t_k))
    fig = new_figure(size * len(panels), size + 0.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    ylabels, xlabels = _labels(queries, t_q), _labels(keys, t_k)
    for ax, (name, m) in zip(axes, panels, strict=True):
        ax.imshow(m, cmap="viridis", vmin=0.0, vmax=max(float(w.max()), 1e-9), aspect="auto")
        ax.set_title(name, fontsize=9)
        ax.set_xticks(range(t_k), xlabels, fontsize=6, rotation=90)
        ax.set_yticks(range(t_q), ylabels, fontsize=6)
        ax.set_xlabel("key")
    axes[0].set_ylabel("query")
    fig.suptitle(title)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_positional_encoding(
    length: int = 128, d_model: int = 128, *, path: str | Path | None = None
) -> Figure:
    """The sinusoidal positional-encoding matrix ``[length, d_model]`` as a heatmap."""
    if length <= 0 or d_model <= 0:
        raise KhipuError("length and d_model must be positive")
    pe = np.asarray(sinusoidal_encoding(length, d_model))
    fig = new_figure(7, 4)
    ax = fig.add_subplot()
    im = ax.imshow(pe, cmap="RdBu", aspect="auto", vmin=-1, vmax=1)
    ax.set_xlabel("encoding dimension")
    ax.set_ylabel("position")
    ax.set_title(f"sinusoidal positional encodings ({length} x {d_model})")
    fig.colorbar(im, ax=ax)
    if path is not None:
        save_figure(fig, path)
    return fig
