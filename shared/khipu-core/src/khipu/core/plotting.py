"""Figures saved as PNG. Functions build a ``matplotlib.figure.Figure`` without pyplot
(so they work headless and in threads), save it when given a path, and return it
(Jupyter displays a returned figure)."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from khipu.core.errors import KhipuError
from khipu.core.rundir import atomic_write_bytes, write_json
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter


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


def plot_scaling(report: Mapping[str, Any], *, path: str | Path | None = None) -> Figure:
    """Time against each swept setting for every contender, and their ratio to the baseline.

    One column per axis of the report (e.g. width, batch): on top the median seconds
    per call of each contender (log-log), below ``contender ÷ baseline`` with each value
    written beside its point and a dashed line at 1 (above it the baseline is faster).
    The default setting is marked by a dotted vertical line.

    Args:
      report: from :func:`khipu.core.scaling_report` (or read back from its JSON).
      path: save the PNG there.
    """
    axes_data: Sequence[Mapping[str, Any]] = report["axes"]
    baseline: str = report["baseline"]
    contenders: list[str] = list(report["contenders"])
    others = [name for name in contenders if name != baseline]
    ncols = max(1, len(axes_data))
    fig = new_figure(4.6 * ncols, 6.4)
    grid = fig.subplots(2, ncols, squeeze=False, sharex="col")
    colors = {name: f"C{i}" for i, name in enumerate(contenders)}
    for col, data in enumerate(axes_data):
        top, bottom = grid[0][col], grid[1][col]
        xs = np.asarray(data["values"], dtype=float)
        for name in contenders:
            ms = 1e3 * np.asarray(data["seconds"][name], dtype=float)
            top.plot(xs, ms, marker="o", color=colors[name], label=name)
        for name in others:
            ratio = np.asarray(data["ratio_to_baseline"][name], dtype=float)
            bottom.plot(xs, ratio, marker="o", color=colors[name], label=f"{name} ÷ {baseline}")
            for x, r in zip(xs, ratio, strict=True):
                bottom.annotate(
                    f"{r:.2f}", (x, r), textcoords="offset points", xytext=(0, 6), ha="center"
                )
            low, high = float(np.min(ratio, initial=1.0)), float(np.max(ratio, initial=1.0))
            bottom.set_ylim(min(0.9, 0.8 * low), max(1.1, 1.25 * high))
        bottom.axhline(1.0, color="grey", linestyle="--", linewidth=1)
        default = report.get("defaults", {}).get(data["name"])
        for ax in (top, bottom):
            if default is not None:
                ax.axvline(float(default), color="grey", linestyle=":", linewidth=1)
            ax.set_xscale("log", base=2)
            ax.set_xticks(xs, [f"{int(x):g}" if x == int(x) else f"{x:g}" for x in xs])
            ax.minorticks_off()
            ax.grid(alpha=0.3)
        top.set_yscale("log")
        top.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        top.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        top.yaxis.set_minor_formatter(NullFormatter())
        top.set_ylabel("median ms per call")
        top.set_title(f"time vs {data['label']}")
        top.legend()
        bottom.set_xlabel(data["label"])
        bottom.set_ylabel(" / ".join(others) + f" time ÷ {baseline} time")
        bottom.text(0.02, 0.97, f"above 1: {baseline} faster", transform=bottom.transAxes, va="top")
        if len(others) > 1:
            bottom.legend(loc="lower right")
    load = report.get("load_average", {})
    before, after = load.get("before", [float("nan")]), load.get("after", [float("nan")])
    fig.suptitle(
        f"{report['title']}\nmedians of {report.get('repeats', '?')} interleaved calls, "
        f"{report.get('cpus', '?')} CPU(s), load average {before[0]:.1f} → {after[0]:.1f}"
    )
    if path is not None:
        save_figure(fig, path)
    return fig


def scaling_report_paths(out_dir: str | Path, stem: str) -> tuple[Path, Path]:
    """The JSON and PNG paths :func:`save_scaling_report` writes, checked before any work.

    Call it before a long measurement so a bad folder fails at once.

    Args:
      out_dir: the folder (created when written if missing).
      stem: the file name without extension (``"khipu-cnn_scaling"``), no folders.

    Returns:
      ``(out_dir / f"{stem}.json", out_dir / f"{stem}.png")``.

    Raises:
      ValueError: ``stem`` is empty or names a folder (it would write outside ``out_dir``).
      KhipuError: ``out_dir`` (or a folder above it) is a file or is not writable, or one
        of the two paths is a folder.
    """
    if not stem or stem in (".", "..") or any(sep in stem for sep in ("/", "\\", "\0")):
        raise ValueError(f"the file stem must be a plain name, got {stem!r}")
    out = Path(out_dir)
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise KhipuError(f"{existing} is a file, not a folder: cannot write into {out}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise KhipuError(f"cannot write into {out}: {existing} is not writable")
    paths = (out / f"{stem}.json", out / f"{stem}.png")
    for target in paths:
        if target.is_dir():
            raise KhipuError(f"{target} is a folder: it would be replaced by a file")
    return paths


def save_scaling_report(
    report: Mapping[str, Any], out_dir: str | Path, stem: str
) -> tuple[Path, Path]:
    """Writes ``stem.json`` (the report) and ``stem.png`` (:func:`plot_scaling`) into
    ``out_dir``, each atomically, the figure drawn before anything is written.

    Returns:
      The two paths, as :func:`scaling_report_paths` (which also lists the errors).
    """
    json_path, png_path = scaling_report_paths(out_dir, stem)
    png = figure_png(plot_scaling(report), dpi=110)
    write_json(json_path, report)
    atomic_write_bytes(png_path, png)
    return json_path, png_path
