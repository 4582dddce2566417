"""The practical's figures: prediction grid, confusion matrix, learned filters."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import khipu.core as kc
import numpy as np
from matplotlib.figure import Figure


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
