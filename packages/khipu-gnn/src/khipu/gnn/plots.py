"""Figures: graphs drawn with networkx, predicted classes, the similarity pattern, ROC curves.

Every function builds its figure with :func:`khipu.core.new_figure`, saves a PNG when
given ``path`` and returns the ``Figure``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jraph
import networkx as nx
import numpy as np
from khipu.core import new_figure, save_figure
from khipu.gnn.graphs import to_networkx
from matplotlib.figure import Figure

PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _as_nx(graph: nx.Graph | jraph.GraphsTuple) -> nx.Graph:
    if isinstance(graph, nx.Graph):
        return graph
    return to_networkx(graph).to_undirected()


def draw_graph(
    graph: nx.Graph | jraph.GraphsTuple,
    *,
    node_classes: Sequence[int] | np.ndarray | None = None,
    title: str | None = None,
    with_labels: bool = True,
    seed: int = 0,
    ax: Any = None,
    path: str | Path | None = None,
) -> Figure:
    """Draws a graph (spring layout, seeded), nodes coloured by ``node_classes``."""
    g = _as_nx(graph)
    fig = new_figure(5, 4.5) if ax is None else ax.figure
    ax = ax if ax is not None else fig.add_subplot()
    colors = (
        [PALETTE[int(c) % len(PALETTE)] for c in node_classes]
        if node_classes is not None
        else "tab:blue"
    )
    pos = nx.spring_layout(g, seed=seed)
    nx.draw_networkx(
        g, pos, ax=ax, node_color=colors, with_labels=with_labels, node_size=220, font_size=7
    )
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_node_predictions(
    graph: nx.Graph | jraph.GraphsTuple,
    predictions: np.ndarray,
    truth: np.ndarray,
    *,
    class_names: Sequence[str] = (),
    title: str = "",
    path: str | Path | None = None,
) -> Figure:
    """The graph twice, side by side: ground-truth classes and predicted classes."""
    fig = new_figure(10, 4.5)
    left, right = fig.subplots(1, 2)
    acc = float((np.asarray(predictions) == np.asarray(truth)).mean())
    draw_graph(graph, node_classes=truth, ax=left, title="ground truth")
    draw_graph(graph, node_classes=predictions, ax=right, title=f"predicted (accuracy {acc:.2f})")
    if class_names:
        names = ", ".join(
            f"{PALETTE[i].removeprefix('tab:')}: {n}" for i, n in enumerate(class_names)
        )
        fig.suptitle(f"{title} — {names}" if title else names)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_similarity(
    shift: np.ndarray,
    *,
    title: str = "Pattern of the item-similarity matrix",
    path: str | Path | None = None,
) -> Figure:
    """``imshow`` of the graph shift operator (the practical's adjacency pattern)."""
    fig = new_figure(5, 4.5)
    ax = fig.add_subplot()
    s = np.asarray(shift)
    lim = float(np.abs(s).max()) or 1.0
    im = ax.imshow(s, cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=ax)
    ax.set_xlabel("item")
    ax.set_ylabel("item")
    ax.set_title(title)
    if path is not None:
        save_figure(fig, path)
    return fig


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates over every threshold (descending scores)."""
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    y = np.asarray(labels)[order].astype(bool)
    tpr = np.concatenate([[0.0], np.cumsum(y) / max(1, y.sum())])
    fpr = np.concatenate([[0.0], np.cumsum(~y) / max(1, (~y).sum())])
    return fpr, tpr


def plot_roc(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    auc: float | None = None,
    path: str | Path | None = None,
) -> Figure:
    """The ROC curve of link scores against 0/1 labels."""
    fpr, tpr = roc_curve(scores, labels)
    fig = new_figure(4.5, 4)
    ax = fig.add_subplot()
    ax.plot(fpr, tpr, label="model" if auc is None else f"model (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="gray", label="chance")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.legend()
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_graph_examples(
    graphs: Sequence[jraph.GraphsTuple],
    titles: Sequence[str],
    *,
    ncols: int = 4,
    path: str | Path | None = None,
) -> Figure:
    """A grid of small graphs with a caption each (e.g. label and prediction)."""
    n = len(graphs)
    nrows = max(1, -(-n // ncols))
    fig = new_figure(2.6 * ncols, 2.6 * nrows)
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < n:
            draw_graph(graphs[i], ax=ax, with_labels=False, title=titles[i])
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_scaling(
    counts: Sequence[int],
    times: Mapping[str, Sequence[float]],
    *,
    xlabel: str = "edges",
    path: str | Path | None = None,
) -> Figure:
    """Time against size on log-log axes, one line per method."""
    fig = new_figure(5, 4)
    ax = fig.add_subplot()
    for name, ts in times.items():
        ax.loglog(counts, ts, marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("seconds")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_diffusion_sequence(
    graph: nx.Graph,
    sequence: Any,
    *,
    pos: Mapping[Any, Any] | None = None,
    titles: Sequence[str] | None = None,
    path: str | Path | None = None,
) -> Figure:
    """The diffusion sequence ``U_k = S^k x`` drawn on the graph, one panel per ``k``.

    Args:
      graph: the (small) graph, nodes ``0..N-1``.
      sequence: ``[K, N]`` (or ``[K, N, 1]``) node values.
      pos: node positions (default: a seeded spring layout).
      titles: one title per panel (default ``"S^k x"``).
    """
    values = np.asarray(sequence, np.float64).reshape(len(sequence), -1)
    k = len(values)
    pos = dict(pos) if pos is not None else nx.spring_layout(graph, seed=0)
    fig = new_figure(2.6 * k, 2.9)
    axes = np.asarray(fig.subplots(1, k, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        v = values[i]
        lim = float(np.abs(v).max()) or 1.0
        nonzero = np.abs(v) > 1e-6 * lim
        nx.draw_networkx_edges(graph, pos, ax=ax, edge_color="0.75")
        nx.draw_networkx_nodes(
            graph,
            pos,
            ax=ax,
            node_color=v,
            cmap="RdBu_r",
            vmin=-lim,
            vmax=lim,
            node_size=[90 if z else 30 for z in nonzero],
            edgecolors="0.3",
            linewidths=0.5,
        )
        ax.set_axis_off()
        ax.set_title(titles[i] if titles else f"S^{i} x ({int(nonzero.sum())} non-zero)")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_depth_sweep(
    depths: Sequence[int],
    accuracy: Any,
    *,
    propagation: Any = None,
    path: str | Path | None = None,
) -> Figure:
    """Over-smoothing: accuracy vs number of GCN layers (mean and range over seeds) and,
    with ``propagation``, the feature spread of ``Â^k X`` vs ``k``.

    Args:
      depths: ``[D]`` numbers of layers.
      accuracy: ``[D, S]`` accuracy per depth and seed.
      propagation: ``[K]`` :func:`khipu.gnn.depth.feature_spread` of ``Â^k X``.
    """
    acc = np.asarray(accuracy, np.float64).reshape(len(depths), -1)
    panels = 2 if propagation is not None else 1
    fig = new_figure(5 * panels, 3.8)
    axes = np.asarray(fig.subplots(1, panels, squeeze=False)).ravel()
    ax = axes[0]
    ax.plot(depths, acc.mean(1), marker="o", label="mean over seeds")
    ax.fill_between(depths, acc.min(1), acc.max(1), alpha=0.2, label="min–max")
    ax.set_xlabel("GCN layers")
    ax.set_ylabel("accuracy (all nodes)")
    ax.set_ylim(0.0, 1.05)
    ax.axhline(0.5, color="gray", linestyle="--", linewidth=0.8)
    ax.legend()
    ax.set_title("trained GCNs from two labels")
    if propagation is not None:
        spread = np.asarray(propagation, np.float64)
        axes[1].plot(np.arange(len(spread)), spread, marker=".")
        axes[1].set_xlabel("propagation steps k")
        axes[1].set_ylabel("feature spread of Â^k X")
        axes[1].set_ylim(0.0, max(1.05, float(spread.max()) * 1.05))
        axes[1].set_title("over-smoothing: node features align")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_training_losses(
    losses: Mapping[str, Sequence[float]],
    *,
    window: int = 20,
    title: str = "training loss per batch",
    path: str | Path | None = None,
) -> Figure:
    """Per-batch training losses of several models (faint) and their moving averages."""
    fig = new_figure(6, 3.8)
    ax = fig.add_subplot()
    for i, (name, values) in enumerate(losses.items()):
        v = np.asarray(values, np.float64)
        color = PALETTE[i % len(PALETTE)]
        ax.plot(v, color=color, alpha=0.25, linewidth=0.8)
        w = max(1, min(window, len(v)))
        smooth = np.convolve(v, np.ones(w) / w, mode="valid")
        ax.plot(np.arange(w - 1, len(v)), smooth, color=color, label=f"{name} ({w}-batch mean)")
    ax.set_xlabel("batch")
    ax.set_ylabel("target-item MSE")
    ax.set_title(title)
    ax.legend()
    if path is not None:
        save_figure(fig, path)
    return fig
