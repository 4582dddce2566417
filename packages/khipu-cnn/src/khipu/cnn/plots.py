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
    "plot_feature_maps",
    "plot_filters",
    "plot_parameter_growth",
    "plot_predictions",
    "plot_receptive_field",
    "plot_sliding_kernel",
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


def plot_sliding_kernel(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    positions: Sequence[tuple[int, int]] | None = None,
    path: str | Path | None = None,
) -> Figure:
    """A convolution step by step: the kernel slides, one output pixel per window.

    One row per position ``(i, j)``: the input with the current window outlined
    and its values printed, the window times the kernel, and the output map filled
    in up to that pixel (stride 1, "VALID" padding, no flip).

    Args:
      image: ``[H, W]`` (small: the values are printed, e.g. 6x6).
      kernel: ``[kh, kw]``.
      positions: the output pixels to show (default: the first two of the first row,
        the first of the second row, and the last one).
      path: save the PNG there.
    """
    image = np.asarray(image, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    if image.ndim != 2 or kernel.ndim != 2:
        raise kc.KhipuError(
            f"plot_sliding_kernel expects a 2-D image and kernel, got {image.shape} and "
            f"{kernel.shape}"
        )
    kh, kw = kernel.shape
    out_h, out_w = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    if out_h < 1 or out_w < 1:
        raise kc.KhipuError(f"a {kh}x{kw} kernel does not fit in a {image.shape} image")
    full = np.array(
        [
            [float((image[i : i + kh, j : j + kw] * kernel).sum()) for j in range(out_w)]
            for i in range(out_h)
        ]
    )
    if positions is None:
        positions = [(0, 0), (0, 1), (1, 0), (out_h - 1, out_w - 1)]
    fig = kc.new_figure(8.5, 2.5 * len(positions))
    axes = fig.subplots(len(positions), 3, squeeze=False)
    lim = float(np.abs(full).max()) or 1.0
    for row, (i, j) in enumerate(positions):
        ax_in, ax_prod, ax_out = axes[row]
        ax_in.imshow(image, cmap="gray")
        for (a, b), v in np.ndenumerate(image):
            ax_in.text(b, a, f"{v:g}", ha="center", va="center", fontsize=7, color="tab:orange")
        ax_in.add_patch(Rectangle((j - 0.5, i - 0.5), kw, kh, fill=False, ec="tab:red", lw=2.5))
        ax_in.set_title(f"input, window at ({i}, {j})", fontsize=9)
        window = image[i : i + kh, j : j + kw]
        ax_prod.imshow(window * kernel, cmap="coolwarm", vmin=-lim / 2, vmax=lim / 2)
        for (a, b), k in np.ndenumerate(kernel):
            factor = f"({k:g})" if k < 0 else f"{k:g}"
            ax_prod.text(b, a, f"{window[a, b]:g}·{factor}", ha="center", va="center", fontsize=7)
        ax_prod.set_title(f"window × kernel, sum = {full[i, j]:g}", fontsize=9)
        shown = np.full_like(full, np.nan)
        done = i * out_w + j + 1
        shown.ravel()[:done] = full.ravel()[:done]
        ax_out.imshow(shown, cmap="coolwarm", vmin=-lim, vmax=lim)
        ax_out.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="tab:red", lw=2.5))
        for (a, b), v in np.ndenumerate(shown):
            if np.isfinite(v):
                ax_out.text(b, a, f"{v:g}", ha="center", va="center", fontsize=7)
        ax_out.set_title(f"output {out_h}x{out_w}, pixel ({i}, {j})", fontsize=9)
        for ax in (ax_in, ax_prod, ax_out):
            ax.set_xticks([])
            ax.set_yticks([])
    if path is not None:
        kc.save_figure(fig, path)
    return fig


def plot_feature_maps(
    image: np.ndarray,
    maps: dict[str, np.ndarray],
    *,
    channels: int = 8,
    title: str = "feature maps: early layers respond to edges and colour, later ones to parts",
    path: str | Path | None = None,
) -> Figure:
    """One image and, per layer, the first ``channels`` feature maps it produces.

    Args:
      image: ``[H, W, C]`` in [0, 1].
      maps: layer name → that image's activations ``[h, w, C_layer]`` (e.g. one
        row of :func:`khipu.cnn.models.feature_maps`), in depth order.
      channels: feature maps shown per layer; each is scaled to [0, 1] by its own min and
        max (a constant map is drawn dark).
      title: the figure's title.
      path: save the PNG there.
    """
    if not maps:
        raise kc.KhipuError("plot_feature_maps needs at least one layer's maps")
    fig = kc.new_figure(1.3 * (channels + 1) + 0.5, 1.45 * len(maps) + 0.4)
    axes = fig.subplots(len(maps), channels + 1, squeeze=False)
    for row, (name, fmap) in enumerate(maps.items()):
        fmap = np.asarray(fmap, dtype=np.float32)
        if fmap.ndim != 3:
            raise kc.KhipuError(f"maps[{name!r}] must be [h, w, channels], got {fmap.shape}")
        first = axes[row][0]
        if row == 0:
            _show(first, image)
            first.set_title("input", fontsize=8)
        first.set_axis_off()
        for c in range(channels):
            ax = axes[row][c + 1]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= fmap.shape[-1]:
                ax.set_axis_off()
                continue
            m = fmap[..., c]
            span = float(m.max() - m.min())
            ax.imshow((m - m.min()) / max(span, 1e-8), cmap="viridis", vmin=0, vmax=1)
            if c == 0:
                ax.set_ylabel(
                    f"{name}\n{fmap.shape[0]}x{fmap.shape[1]}x{fmap.shape[2]}", fontsize=8
                )
    fig.suptitle(title)
    if path is not None:
        kc.save_figure(fig, path)
    return fig


def plot_parameter_growth(
    sides: Sequence[int] = (8, 16, 32, 64, 128, 224),
    *,
    channels: int = 3,
    units: int = 500,
    kernel: int = 3,
    path: str | Path | None = None,
) -> Figure:
    """Why dense layers on images blow up: parameters against the image side.

    A dense layer from the flattened ``side x side x channels`` image to ``units``
    units grows with the number of pixels; a ``kernel`` x ``kernel`` convolution
    with ``units`` filters does not depend on the image size at all.
    """
    from khipu.cnn.models import conv_parameters, dense_parameters

    sides = list(sides)
    dense = [dense_parameters(s * s * channels, units) for s in sides]
    conv = [conv_parameters(kernel, channels, units) for _ in sides]
    fig = kc.new_figure(6.5, 3.8)
    ax = fig.add_subplot()
    ax.plot(sides, dense, marker="o", label=f"dense, {units} units")
    ax.plot(sides, conv, marker="s", label=f"{kernel}x{kernel} conv, {units} filters")
    ax.set_yscale("log")
    ax.set_xlabel(f"image side (pixels; {channels} channels)")
    ax.set_ylabel("parameters of one layer")
    for s, d in zip(sides, dense, strict=True):
        ax.annotate(f"{d:,}", (s, d), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title("one layer on a colour image")
    if path is not None:
        kc.save_figure(fig, path)
    return fig
