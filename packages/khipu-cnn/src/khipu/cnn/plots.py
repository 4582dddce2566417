"""The practical's figures: prediction grid, confusion matrix, learned filters, and the
convolution lessons (stride, padding, receptive field)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import khipu.core as kc
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

__all__ = [
    "plot_confusion_matrix",
    "plot_convolutions",
    "plot_filters",
    "plot_predictions",
    "plot_receptive_field",
]


def _show(ax: object, image: np.ndarray) -> None:
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    ax.imshow(np.clip(img, 0, 1), cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)  # type: ignore[attr-defined]


def plot_predictions(
    images: np.ndarray,
    probs: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    ncols: int = 5,
    path: str | Path | None = None,
) -> Figure:
    """The practical's prediction grid (5x5 for 25 images).

    Under each image: the predicted class and its probability; above it: the
    true class; a green dot marks a correct prediction, a red dot a wrong one.

    Args:
      images: ``[N, H, W, C]`` in [0, 1]; probs: ``[N, K]``; labels: ``[N]``.
    """
    n = len(images)
    if len(probs) != n or len(labels) != n:
        raise kc.KhipuError(
            f"images, probs and labels must have the same length, got {n}, {len(probs)}, "
            f"{len(labels)}"
        )
    nrows = max(1, -(-n // ncols))
    fig = kc.new_figure(1.9 * ncols, 2.1 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    predicted = np.argmax(probs, axis=-1)
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.set_axis_off()
            continue
        _show(ax, images[i])
        ok = bool(predicted[i] == labels[i])
        color = "tab:green" if ok else "tab:red"
        ax.set_title(f"true: {class_names[int(labels[i])]}", fontsize=8)
        ax.set_xlabel(
            f"{class_names[int(predicted[i])]} ({probs[i, predicted[i]]:.2f})",
            fontsize=8,
            color=color,
        )
        ax.plot([0.92], [0.92], "o", color=color, ms=7, transform=ax.transAxes, clip_on=False)
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
    acc = float(np.mean(predicted == labels)) if n else float("nan")
    fig.suptitle(f"predictions on {n} test images: {acc:.0%} correct")
    if path is not None:
        kc.save_figure(fig, path)
    return fig


def plot_confusion_matrix(
    matrix: np.ndarray, class_names: Sequence[str], *, path: str | Path | None = None
) -> Figure:
    """A confusion matrix (rows: true class, columns: predicted class) with counts."""
    k = len(matrix)
    fig = kc.new_figure(1.2 + 0.45 * k, 1.0 + 0.45 * k)
    ax = fig.add_subplot()
    im = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_xticks(range(k), class_names, rotation=90 if max(map(len, class_names)) > 2 else 0)
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = matrix.max() if matrix.size else 0
    for i in range(k):
        for j in range(k):
            if matrix[i, j]:
                color = "white" if matrix[i, j] > top / 2 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=color)
    total = matrix.sum()
    acc = np.trace(matrix) / total if total else float("nan")
    ax.set_title(f"confusion matrix (accuracy {acc:.3f})")
    if path is not None:
        kc.save_figure(fig, path)
    return fig


def plot_filters(filters: np.ndarray, *, ncols: int = 8, path: str | Path | None = None) -> Figure:
    """First-layer convolution kernels ``[F, kh, kw, C]`` (extension task 4).

    Each kernel is scaled to [0, 1] on its own; 3-channel kernels are shown in
    colour, others as the mean over input channels in grey.
    """
    filters = np.asarray(filters, dtype=np.float32)
    if filters.ndim != 4:
        raise kc.KhipuError(f"filters must be [F, kh, kw, C], got shape {filters.shape}")
    shown = filters if filters.shape[-1] == 3 else filters.mean(axis=-1, keepdims=True)
    lo = shown.min(axis=(1, 2, 3), keepdims=True)
    hi = shown.max(axis=(1, 2, 3), keepdims=True)
    shown = (shown - lo) / np.maximum(hi - lo, 1e-8)
    n = len(shown)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig = kc.new_figure(0.9 * ncols + 0.4, 0.9 * nrows + 0.6)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < n:
            img = shown[i]
            ax.imshow(
                img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", interpolation="nearest"
            )
    fig.suptitle(f"first-layer filters ({n} of {filters.shape[1]}x{filters.shape[2]})")
    if path is not None:
        kc.save_figure(fig, path)
    return fig


_WINDOW_COLORS = ("tab:red", "tab:blue", "tab:green", "tab:orange")


def _grid(ax: Any, rows: int, cols: int, *, x0: float = 0.0, shade: Any = None) -> None:
    """Draws a ``rows``x``cols`` grid of unit cells from ``(x0, 0)`` (row 0 on top)."""
    for i in range(rows):
        for j in range(cols):
            face = "white" if shade is None or not shade(i, j) else "0.85"
            ax.add_patch(Rectangle((x0 + j, rows - 1 - i), 1, 1, fc=face, ec="0.4", lw=0.8))


def plot_convolutions(
    settings: Sequence[tuple[int, int]] = ((1, 0), (2, 0), (1, 1), (2, 1)),
    *,
    size: int = 5,
    kernel: int = 3,
    path: str | Path | None = None,
) -> Figure:
    """How stride and padding set a convolution's output size.

    One panel per ``(stride, padding)``: the ``size``x``size`` input (padding in
    grey) with the first windows outlined in colour, and beside it the output,
    each window's output pixel in the same colour.

    Args:
      settings: ``(stride, padding)`` pairs, one panel each.
      size: the input's side.
      kernel: the window's side.
      path: save the PNG there.
    """
    from khipu.cnn.models import conv_output_size

    n = len(settings)
    fig = kc.new_figure(4.2 * min(n, 2), 3.4 * -(-n // 2))
    axes = fig.subplots(-(-n // 2), min(n, 2), squeeze=False).ravel()
    for ax, (stride, pad) in zip(axes, settings, strict=False):
        side = size + 2 * pad
        out = conv_output_size(size, kernel, stride, pad)
        _grid(ax, side, side, shade=lambda i, j, p=pad, s=side: min(i, j) < p or max(i, j) >= s - p)
        gap = side + 1.5
        _grid(ax, out, out, x0=gap)
        windows = [(0, c) for c in range(min(out, 3))]
        for color, (r, c) in zip(_WINDOW_COLORS, windows, strict=False):
            top = side - r * stride - kernel
            ax.add_patch(
                Rectangle(
                    (c * stride + 0.08 * (c + 1), top + 0.08 * (c + 1)),
                    kernel - 0.16 * (c + 1),
                    kernel - 0.16 * (c + 1),
                    fill=False,
                    ec=color,
                    lw=2.5,
                )
            )
            ax.add_patch(Rectangle((gap + c, out - 1 - r), 1, 1, fc=color, alpha=0.6))
        ax.set_xlim(-0.5, gap + max(out, 1) + 0.5)
        ax.set_ylim(-0.5, max(side, out) + 0.5)
        ax.set_aspect("equal")
        ax.set_axis_off()
        ax.set_title(
            f"stride {stride}, padding {pad}: {size}x{size} → {out}x{out}\n"
            f"⌊({size} + 2·{pad} − {kernel}) / {stride}⌋ + 1 = {out}",
            fontsize=9,
        )
    for ax in axes[n:]:
        ax.set_axis_off()
    fig.suptitle(f"a {kernel}x{kernel} convolution: input (padding grey) and output")
    if path is not None:
        kc.save_figure(fig, path)
    return fig


def plot_receptive_field(
    stacks: dict[str, Sequence[tuple[int, int]]] | None = None,
    *,
    size: int = 16,
    path: str | Path | None = None,
) -> Figure:
    """What one output pixel sees: the receptive field of stacked layers.

    Left: on a ``size``x``size`` input, the squares seen by one pixel after 1, 2, 3...
    3x3 convolutions (stride 1). Right: the receptive field's side against depth for
    each stack of ``(kernel, stride)`` layers — strides (pooling) make it grow faster.

    Args:
      stacks: named stacks of ``(kernel, stride)`` layers (default: 3x3 convs alone
        and 3x3 convs each followed by a 2x2 stride-2 pool).
      size: the input's side in the left panel.
      path: save the PNG there.
    """
    from khipu.cnn.models import receptive_field

    if stacks is None:
        stacks = {
            "3x3 conv, stride 1": [(3, 1)] * 6,
            "3x3 conv + 2x2 pool /2": [(3, 1), (2, 2)] * 3,
        }
    fig = kc.new_figure(10, 4.2)
    ax_img, ax_plot = fig.subplots(1, 2)
    _grid(ax_img, size, size)
    centre = size // 2
    for depth, r in enumerate(receptive_field([(3, 1)] * 4), start=1):
        color = _WINDOW_COLORS[(depth - 1) % len(_WINDOW_COLORS)]
        lo = centre - r // 2
        ax_img.add_patch(
            Rectangle(
                (lo, size - lo - r),
                r,
                r,
                fill=False,
                ec=color,
                lw=2.5,
                label=f"{depth} conv: {r}x{r}",
            )
        )
    ax_img.add_patch(Rectangle((centre, size - centre - 1), 1, 1, fc="black"))
    ax_img.set_xlim(-0.5, size + 0.5)
    ax_img.set_ylim(-0.5, size + 0.5)
    ax_img.set_aspect("equal")
    ax_img.set_axis_off()
    ax_img.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax_img.set_title("input pixels seen by one output pixel")
    for name, layers in stacks.items():
        fields = receptive_field(list(layers))
        ax_plot.plot(range(1, len(fields) + 1), fields, marker="o", label=name)
    ax_plot.set_xlabel("layers")
    ax_plot.set_ylabel("receptive field side (pixels)")
    ax_plot.grid(alpha=0.3)
    ax_plot.legend(fontsize=8)
    ax_plot.set_title("receptive field against depth")
    if path is not None:
        kc.save_figure(fig, path)
    return fig
