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
from matplotlib.patches import FancyBboxPatch, Rectangle


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


def plot_architecture(*, path: str | Path | None = None) -> Figure:
    """The encoder-decoder transformer drawn as boxes and arrows (post-LN, as in the practical).

    The encoder (left) and decoder (right) stacks, each sublayer with its
    residual connection (the grey arrow around it) and Add & Norm, and the
    cross-attention reading the encoder's output.
    """
    fig = new_figure(8.0, 8.5)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 11)
    ax.axis("off")
    colours = {
        "attn": "#f6c89f",
        "norm": "#f3eea0",
        "ffn": "#a8d5ff",
        "embed": "#f4b6c2",
        "out": "#c9b3ff",
    }

    def box(x: float, y: float, text: str, kind: str, w: float = 3.0, h: float = 0.55) -> None:
        ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle="round,pad=0.05",
                facecolor=colours[kind],
                edgecolor="black",
                linewidth=1,
            )
        )
        ax.text(x, y, text, ha="center", va="center", fontsize=9)

    def arrow(
        x0: float, y0: float, x1: float, y1: float, colour: str = "black", **kw: object
    ) -> None:
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.3, **kw},
        )

    def residual(x_edge: float, y0: float, y1: float, side: float) -> None:
        # from the sublayer's input, around it, into the Add & Norm box
        x_out = x_edge + side
        ax.plot([x_edge - side * 1.2, x_out, x_out], [y0, y0, y1], color="grey", lw=1.3)
        arrow(x_out, y1, x_edge, y1, colour="grey")

    enc, dec = 2.6, 7.4
    # encoder
    box(enc, 1.0, "source tokens", "embed", h=0.5)
    box(enc, 2.0, "embedding + positional encoding", "embed")
    enc_layers = [
        (3.3, "multi-head self-attention", "attn"),
        (4.2, "Add & Norm", "norm"),
        (5.3, "feed-forward (GELU)", "ffn"),
        (6.2, "Add & Norm", "norm"),
    ]
    arrow(enc, 1.25, enc, 1.72)
    arrow(enc, 2.28, enc, 3.02)
    prev = 2.28
    for y, text, kind in enc_layers:
        box(enc, y, text, kind)
        if kind == "norm":
            residual(enc - 1.5, prev + 0.12, y, -0.3)
            prev = y + 0.28
        else:
            arrow(enc, y + 0.28, enc, y + 0.62)
    ax.add_patch(
        Rectangle((enc - 1.95, 2.8), 3.9, 3.75, fill=False, linestyle="--", edgecolor="grey")
    )
    ax.text(enc - 1.9, 6.7, "encoder block × N", fontsize=9, color="grey")
    # decoder
    box(dec, 1.0, "target tokens, shifted right (BOS first)", "embed", w=3.4, h=0.5)
    box(dec, 2.0, "embedding + positional encoding", "embed")
    dec_layers = [
        (3.3, "causal (masked) self-attention", "attn"),
        (4.2, "Add & Norm", "norm"),
        (5.3, "cross-attention (not causal)", "attn"),
        (6.2, "Add & Norm", "norm"),
        (7.3, "feed-forward (GELU)", "ffn"),
        (8.2, "Add & Norm", "norm"),
    ]
    arrow(dec, 1.25, dec, 1.72)
    arrow(dec, 2.28, dec, 3.02)
    prev = 2.28
    for y, text, kind in dec_layers:
        box(dec, y, text, kind)
        if kind == "norm":
            residual(dec + 1.5, prev + 0.12, y, 0.3)
            prev = y + 0.28
        else:
            arrow(dec, y + 0.28, dec, y + 0.62)
    ax.add_patch(
        Rectangle((dec - 1.95, 2.8), 3.9, 5.75, fill=False, linestyle="--", edgecolor="grey")
    )
    ax.text(dec + 0.2, 8.7, "decoder block × N", fontsize=9, color="grey")
    # cross-attention: keys and values from the encoder output
    arrow(enc, 6.48, dec - 1.5, 5.3, colour="tab:red", connectionstyle="arc3,rad=-0.3")
    ax.text(5.0, 5.55, "keys, values\n(encoder output)", fontsize=8, color="tab:red", ha="center")
    box(dec, 9.3, "linear → softmax over the vocabulary", "out")
    arrow(dec, 8.48, dec, 9.02)
    box(dec, 10.3, "next-token probabilities", "out", h=0.5)
    arrow(dec, 9.58, dec, 10.05)
    ax.text(
        0.2, 10.4, "grey arrows: residual connections (x + sublayer(x))", fontsize=8, color="grey"
    )
    if path is not None:
        save_figure(fig, path)
    return fig
