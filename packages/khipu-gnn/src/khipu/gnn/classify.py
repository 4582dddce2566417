"""Graph classification with padded batches: a graph network (or GCN) and a readout.

Offline default (:func:`trees_vs_cycles`): random trees (class 0) against the same kind of
random trees with one extra edge, i.e. graphs with exactly one cycle (class 1), 6 to 16
nodes, constant node features — a purely structural property. TU-format datasets such as
MUTAG load from their text files with :func:`load_tu_dataset`.

Each graph is padded to the dataset's largest size (:func:`khipu.gnn.graphs.graphs_to_arrays`)
so the dataset is fixed-shape arrays that khipu-core's ``fit()`` shuffles and batches;
inside the loss a batch becomes one ``GraphsTuple`` whose odd graphs are padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jraph
import khipu.core as kc
import numpy as np
from khipu.gnn.graphs import arrays_to_graph, from_edge_list, graphs_to_arrays
from khipu.gnn.models import graph_classifier
from khipu.gnn.train import Batch, TaskResult, init_params, masked_cross_entropy, run_fit

MAX_TU_LINES = 50_000_000
MAX_NODE_LABELS = 1000


class GraphDataset(NamedTuple):
    """Graphs with one class label each.

    Attributes:
      graphs: one ``GraphsTuple`` per graph (node features ``[n, F]``).
      labels: ``[G]`` int32 classes ``0..C-1``.
      class_names: one name per class.
    """

    graphs: list[jraph.GraphsTuple]
    labels: np.ndarray
    class_names: tuple[str, ...]


def random_tree_edges(num_nodes: int, rng: np.random.Generator) -> np.ndarray:
    """``[n-1, 2]`` edges of a uniformly random labelled tree (Prüfer sequence)."""
    if num_nodes < 2:
        return np.zeros((0, 2), np.int32)
    prufer = rng.integers(0, num_nodes, num_nodes - 2)
    degree = np.ones(num_nodes, np.int64)
    np.add.at(degree, prufer, 1)
    edges = []
    for v in prufer:
        leaf = int(np.flatnonzero(degree == 1)[0])
        edges.append((leaf, int(v)))
        degree[leaf] -= 1
        degree[v] -= 1
    u, w = np.flatnonzero(degree == 1)
    edges.append((int(u), int(w)))
    return np.array(edges, np.int32)


def trees_vs_cycles(
    num_graphs: int = 400, *, min_nodes: int = 6, max_nodes: int = 16, seed: int = 0
) -> GraphDataset:
    """Random trees (class 0) vs trees plus one edge, i.e. one cycle (class 1), balanced."""
    if min_nodes < 4 or max_nodes < min_nodes:
        raise kc.KhipuError(f"need 4 <= min_nodes <= max_nodes, got {min_nodes}, {max_nodes}")
    rng = np.random.default_rng(seed)
    graphs, labels = [], []
    for i in range(num_graphs):
        n = int(rng.integers(min_nodes, max_nodes + 1))
        edges = random_tree_edges(n, rng)
        label = i % 2
        if label:
            present = {tuple(sorted(e)) for e in edges.tolist()}
            while True:
                u, v = sorted(int(a) for a in rng.choice(n, 2, replace=False))
                if (u, v) not in present:
                    edges = np.concatenate([edges, [[u, v]]]).astype(np.int32)
                    break
        graphs.append(
            from_edge_list(
                edges[:, 0],
                edges[:, 1],
                num_nodes=n,
                node_features=np.ones((n, 1), np.float32),
                undirected=True,
            )
        )
        labels.append(label)
    return GraphDataset(graphs, np.array(labels, np.int32), ("tree", "one cycle"))


def _read_ints(path: Path, columns: int) -> np.ndarray:
    if not path.is_file():
        raise kc.KhipuError(f"TU dataset file {path} does not exist")
    rows = []
    with path.open() as f:
        for lineno, line in enumerate(f, 1):
            if lineno > MAX_TU_LINES:
                raise kc.KhipuError(f"{path.name} has more than {MAX_TU_LINES} lines")
            text = line.strip()
            if not text:
                continue
            parts = [p.strip() for p in text.split(",")]
            if len(parts) < columns:
                raise kc.KhipuError(f"{path.name} line {lineno}: expected {columns} values")
            try:
                rows.append([int(p) for p in parts[:columns]])
            except ValueError:
                raise kc.KhipuError(
                    f"{path.name} line {lineno}: not an integer: {text!r}"
                ) from None
    return np.array(rows, np.int64).reshape(-1, columns)


def load_tu_dataset(folder: str | Path, name: str | None = None) -> GraphDataset:
    """Reads a TU-format dataset (``NAME_A.txt``, ``NAME_graph_indicator.txt``,
    ``NAME_graph_labels.txt`` and optionally ``NAME_node_labels.txt``) from its text files.

    Node ids are 1-based; node labels become one-hot features (constant 1 without them);
    graph labels (e.g. MUTAG's -1/1) are mapped to ``0..C-1`` in sorted order.

    Raises:
      KhipuError: missing files, malformed lines, counts that disagree, node ids out of
        range or edges between two graphs.
    """
    folder = Path(folder)
    if name is None:
        found = sorted(folder.glob("*_graph_indicator.txt"))
        if len(found) != 1:
            raise kc.KhipuError(f"{folder} must hold exactly one *_graph_indicator.txt file")
        name = found[0].name.removesuffix("_graph_indicator.txt")
    indicator = _read_ints(folder / f"{name}_graph_indicator.txt", 1)[:, 0]
    edges = _read_ints(folder / f"{name}_A.txt", 2)
    graph_labels = _read_ints(folder / f"{name}_graph_labels.txt", 1)[:, 0]
    n = len(indicator)
    if n == 0:
        raise kc.KhipuError(f"{name}: no nodes in the graph indicator")
    num_graphs = int(indicator.max())
    if indicator.min() != 1 or np.any(np.diff(indicator) < 0):
        raise kc.KhipuError(f"{name}: graph ids must start at 1 and be sorted")
    if len(graph_labels) != num_graphs:
        raise kc.KhipuError(
            f"{name}: {len(graph_labels)} graph labels for {num_graphs} graphs in the indicator"
        )
    if len(edges) and (edges.min() < 1 or edges.max() > n):
        raise kc.KhipuError(f"{name}: edge node ids out of range 1..{n}")
    edges = edges - 1
    if len(edges) and np.any(indicator[edges[:, 0]] != indicator[edges[:, 1]]):
        raise kc.KhipuError(f"{name}: an edge joins nodes of two different graphs")
    node_labels_path = folder / f"{name}_node_labels.txt"
    if node_labels_path.is_file():
        node_labels = _read_ints(node_labels_path, 1)[:, 0]
        if len(node_labels) != n:
            raise kc.KhipuError(f"{name}: {len(node_labels)} node labels for {n} nodes")
        values = np.unique(node_labels)
        if len(values) > MAX_NODE_LABELS:
            raise kc.KhipuError(f"{name}: more than {MAX_NODE_LABELS} node label values")
        features = (node_labels[:, None] == values[None, :]).astype(np.float32)
    else:
        features = np.ones((n, 1), np.float32)
    counts = np.bincount(indicator - 1, minlength=num_graphs)
    if (counts == 0).any():
        raise kc.KhipuError(f"{name}: graph {int(np.argmin(counts)) + 1} has no nodes")
    starts = np.concatenate([[0], np.cumsum(counts)])
    edge_graph = indicator[edges[:, 0]] - 1 if len(edges) else np.zeros(0, np.int64)
    graphs = []
    for g in range(num_graphs):
        e = edges[edge_graph == g] - starts[g]
        graphs.append(
            from_edge_list(
                e[:, 0],
                e[:, 1],
                num_nodes=int(counts[g]),
                node_features=features[starts[g] : starts[g + 1]],
            )
        )
    classes = np.unique(graph_labels)
    labels = np.searchsorted(classes, graph_labels).astype(np.int32)
    return GraphDataset(graphs, labels, tuple(str(c) for c in classes))


def split_dataset(
    data: GraphDataset, *, test_fraction: float = 0.2, val_fraction: float = 0.1, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Padded fixed-shape arrays (+ ``"label"``) for train / val / test, seeded."""
    if len(data.graphs) < 3:
        raise kc.KhipuError(f"need at least 3 graphs to split, got {len(data.graphs)}")
    max_nodes = max(int(np.sum(g.n_node)) for g in data.graphs)
    max_edges = max(int(np.sum(g.n_edge)) for g in data.graphs)
    arrays = graphs_to_arrays(data.graphs, max_nodes=max_nodes, max_edges=max_edges)
    arrays["label"] = data.labels
    train_f = 1.0 - test_fraction - val_fraction
    train, val, test = kc.split_arrays(arrays, (train_f, val_fraction, test_fraction), seed=seed)
    for name, part in (("train", train), ("val", val), ("test", test)):
        if not len(part["label"]):
            raise kc.KhipuError(f"the {name} split is empty: use more graphs")
    return train, val, test


def make_graph_loss(net: Any) -> Any:
    """``loss_fn`` for khipu-core: cross-entropy over the real graphs of a padded batch."""

    def loss_fn(params: Any, state: Any, key: jax.Array, batch: Batch) -> Any:
        del key
        logits = net.apply(params, arrays_to_graph(batch))[::2]
        loss, acc = masked_cross_entropy(logits, batch["label"], jnp.ones_like(batch["label"]))
        return loss, (state, {"accuracy": acc})

    return loss_fn


def predict_graphs(net: Any, params: Any, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """``[B]`` predicted class of each graph in padded arrays."""
    logits = jax.jit(net.apply)(params, arrays_to_graph(jax.tree.map(jnp.asarray, arrays)))
    return np.asarray(logits[::2].argmax(-1))


def train_graph_classifier(
    data: GraphDataset,
    model: str = "graphnet",
    *,
    epochs: int = 30,
    batch_size: int = 32,
    learning_rate: float = 0.003,
    hidden: int = 32,
    seed: int = 0,
    data_seed: int = 0,
    patience: int | None = 8,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
) -> TaskResult:
    """Trains on padded batches with early stopping on validation accuracy.

    Metrics: ``accuracy`` (test), ``val_accuracy``, ``train_accuracy``; outputs:
    ``test_predictions``, ``test_labels``.
    """
    train, val, test = split_dataset(data, seed=data_seed)
    batch_size = min(batch_size, len(train["label"]))
    net = graph_classifier(model, len(data.class_names), hidden=hidden)
    loss_fn = make_graph_loss(net)

    def eval_fn(params: Any, state: Any, batch: Batch) -> dict[str, jax.Array]:
        loss, (_, metrics) = loss_fn(params, state, jax.random.key(0), batch)
        return {"loss": loss, **metrics}

    sample = arrays_to_graph(jax.tree.map(jnp.asarray, {k: v[:1] for k, v in train.items()}))
    params = init_params(net, seed, sample)
    result, seconds = run_fit(
        params,
        loss_fn,
        train,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        eval_fn=eval_fn,
        val_data=val,
        monitor="val_accuracy",
        mode="max",
        patience=patience,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
    )
    params = result.state.params
    preds = {
        name: predict_graphs(net, params, part)
        for name, part in (("train", train), ("val", val), ("test", test))
    }
    metrics = {
        "accuracy": float((preds["test"] == test["label"]).mean()),
        "val_accuracy": float((preds["val"] == val["label"]).mean()),
        "train_accuracy": float((preds["train"] == train["label"]).mean()),
        "num_graphs": float(len(data.graphs)),
    }
    outputs = {"test_predictions": preds["test"], "test_labels": test["label"]}
    return TaskResult(params, result.history, metrics, result.epochs_run, seconds, outputs)


def class_balance(labels: Sequence[int]) -> dict[int, int]:
    """Number of graphs per class."""
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts, strict=True)}
