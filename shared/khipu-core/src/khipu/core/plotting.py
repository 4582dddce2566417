"""Figures saved as PNG. Functions build a ``matplotlib.figure.Figure`` without pyplot
(so they work headless and in threads), save it when given a path, and return it
(Jupyter displays a returned figure)."""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from khipu.core.rundir import atomic_write_bytes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def figure_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """The figure rendered as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    return buf.getvalue()


def _ipython() -> Any:
    """The running IPython shell (Jupyter, Colab), or ``None`` in a script."""
    if "IPython" not in sys.modules:
        return None
    try:
        return sys.modules["IPython"].get_ipython()
    except Exception:
        return None


def enable_notebook_figures() -> bool:
    """Makes IPython display every :class:`~matplotlib.figure.Figure` as a PNG.

    A figure left as a cell's last expression (or passed to ``display``) then
    appears as an ``image/png`` output whatever matplotlib backend is active
    (``MPLBACKEND=Agg`` included). Called by :func:`new_figure`, so the
    practicals' plotting functions work in notebooks without set-up. Returns
    whether an IPython shell was found.
    """
    shell = _ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    formatter = shell.display_formatter.formatters["image/png"]
    formatter.for_type(Figure, figure_png)
    return True


def show(fig: Figure) -> None:
    """Displays ``fig`` as a PNG output in Jupyter / Colab; does nothing in a script."""
    if enable_notebook_figures():
        ipy_display: Any = sys.modules["IPython"].display
        ipy_display.display(ipy_display.Image(data=figure_png(fig), format="png"))


def new_figure(width: float = 6.0, height: float = 4.0) -> Figure:
    """A figure with an Agg canvas attached (no GUI, no global pyplot state).

    In IPython the figure is displayable as a PNG (see :func:`enable_notebook_figures`).
    """
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    enable_notebook_figures()
    return fig


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 120) -> Path:
    """Saves ``fig`` as a PNG at ``path`` (folders created), returning the path."""
    path = Path(path)
    atomic_write_bytes(path, figure_png(fig, dpi=dpi))
    return path


def plot_learning_curves(
    history: Mapping[str, Sequence[float]],
    *,
    metrics: Sequence[str] | None = None,
    x: str = "epoch",
    log_y: bool = False,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """One panel per metric, training and ``val_`` curves together.

    Args:
      history: columns such as ``{"epoch": [...], "loss": [...], "val_loss": [...]}``.
      metrics: the metrics to draw (default: every non-``val_`` column but ``x``).
      x: the column for the horizontal axis (the row index if absent).
      log_y: logarithmic vertical axis.
      title: figure title.
      path: save the PNG there.
    """
    names = (
        list(metrics)
        if metrics is not None
        else [k for k in history if k != x and not k.startswith("val_")]
        or [k.removeprefix("val_") for k in history if k.startswith("val_")]
    )
    fig = new_figure(4.5 * max(1, len(names)), 3.5)
    axes = fig.subplots(1, max(1, len(names)), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=False):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            if key in history:
                ys = np.asarray(history[key], dtype=float)
                xs = (
                    np.asarray(history[x], dtype=float)
                    if x in history
                    else np.arange(1, len(ys) + 1)
                )
                ok = np.isfinite(ys)
                ax.plot(xs[ok], ys[ok], marker="o" if ok.sum() < 30 else None, ms=3, label=label)
        ax.set_xlabel(x)
        ax.set_ylabel(name)
        if log_y:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_image_grid(
    images: np.ndarray,
    *,
    titles: Sequence[str] | None = None,
    title_colors: Sequence[str] | None = None,
    ncols: int = 5,
    cmap: str = "gray",
    suptitle: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Images ``[N, H, W]`` or ``[N, H, W, C]`` (values in [0, 1]) in a grid with captions."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig = new_figure(1.6 * ncols, 1.8 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i >= n:
            continue
        ax.imshow(np.clip(images[i], 0, 1), cmap=cmap if images.ndim == 3 else None, vmin=0, vmax=1)
        if titles is not None:
            color = title_colors[i] if title_colors is not None else "black"
            ax.set_title(titles[i], fontsize=8, color=color)
    if suptitle:
        fig.suptitle(suptitle)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_bars(
    values: Mapping[str, float],
    *,
    ylabel: str,
    title: str | None = None,
    log_y: bool = False,
    path: str | Path | None = None,
) -> Figure:
    """A labelled bar chart (e.g. timings), each bar annotated with its value."""
    fig = new_figure(max(4.0, 1.2 * len(values)), 3.5)
    ax = fig.add_subplot()
    labels, heights = list(values), [float(v) for v in values.values()]
    bars = ax.bar(labels, heights, color="tab:blue")
    ax.bar_label(bars, labels=[f"{h:.3g}" for h in heights], fontsize=8)
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    ax.tick_params(axis="x", labelrotation=20)
    if title:
        ax.set_title(title)
    if path is not None:
        save_figure(fig, path)
    return fig
