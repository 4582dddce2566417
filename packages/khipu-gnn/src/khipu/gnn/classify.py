"""Graph classification with padded batches: a graph network (or GCN) and a readout.

Offline default (:func:`trees_vs_cycles`): random trees (class 0) against the same kind of
random trees with one extra edge, i.e. graphs with exactly one cycle (class 1), 6 to 16
nodes, constant node features — a purely structural property. TU-format datasets such as
MUTAG load from their text files with :func:`load_tu_dataset`.

The graphs are concatenated once (:func:`pack_graphs`); ``fit()`` shuffles and batches
graph indices, and inside the loss :func:`gather_batch` assembles a batch as one
``GraphsTuple`` padded to a static budget, the nodes and edges of the ``batch_size`` largest
graphs (:func:`batch_budget`): one compilation, and memory linear in the dataset's nodes and
edges (a dataset of 15,000 two-node graphs and one large graph pads each batch once, not
every graph to the large one).
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
from khipu.gnn.graphs import from_edge_list
from khipu.gnn.models import graph_classifier
from khipu.gnn.train import Batch, TaskResult, init_params, masked_cross_entropy, run_fit

MAX_TU_LINES = 50_000_000
MAX_TU_VALUE = 2**62  # ids and labels beyond this are no TU dataset's
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
    """``[rows, columns]`` int64 of a TU text file (strict UTF-8, comma separated).

    Memory: the file's bytes, then 8 bytes per value (parsed in chunks of lines)."""
    chunks: list[np.ndarray] = []
    rows: list[list[int]] = []
    max_bytes = MAX_TU_LINES * 24
    for lineno, line in kc.read_lines(path, what="TU dataset", max_bytes=max_bytes):
        if lineno > MAX_TU_LINES:
            raise kc.KhipuError(f"{path.name} has more than {MAX_TU_LINES} lines")
        text = line.strip()
        if not text:
            continue
        parts = [p.strip() for p in text.split(",")]
        if len(parts) < columns:
            raise kc.KhipuError(f"{path.name} line {lineno}: expected {columns} values")
        try:
            values = [int(p) for p in parts[:columns]]
        except ValueError:
            raise kc.KhipuError(f"{path.name} line {lineno}: not an integer: {text!r}") from None
        if any(abs(v) > MAX_TU_VALUE for v in values):
            raise kc.KhipuError(
                f"{path.name} line {lineno}: {text!r} is out of range (at most {MAX_TU_VALUE})"
            )
        rows.append(values)
        if len(rows) == 100_000:
            chunks.append(np.array(rows, np.int64))
            rows = []
    chunks.append(np.array(rows, np.int64).reshape(-1, columns))
    return np.concatenate(chunks)


def load_tu_dataset(
    folder: str | Path, name: str | None = None, *, max_feature_bytes: int = 1 << 30
) -> GraphDataset:
    """Reads a TU-format dataset (``NAME_A.txt``, ``NAME_graph_indicator.txt``,
    ``NAME_graph_labels.txt`` and optionally ``NAME_node_labels.txt``) from its text files.

    Node ids are 1-based; node labels become one-hot features (constant 1 without them);
    graph labels (e.g. MUTAG's -1/1) are mapped to ``0..C-1`` in sorted order.

    Memory grows linearly with the nodes and edges (one small ``GraphsTuple`` per graph);
    one-hot node labels cost ``4 * nodes * labels`` bytes, refused above
    ``max_feature_bytes``.

    Raises:
      KhipuError: missing files, text that is not UTF-8, malformed lines, counts that
        disagree, node ids out of range or edges between two graphs.
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise kc.KhipuError(f"TU dataset folder {folder} {what}")
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
    if num_graphs > n:
        raise kc.KhipuError(f"{name}: graph id {num_graphs} but only {n} nodes")
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
        values, codes = np.unique(node_labels, return_inverse=True)
        if len(values) > MAX_NODE_LABELS:
            raise kc.KhipuError(f"{name}: more than {MAX_NODE_LABELS} node label values")
        if 4 * n * len(values) > max_feature_bytes:
            raise kc.KhipuError(
                f"{name}: {n} nodes x {len(values)} node labels need "
                f"{4 * n * len(values) / 2**20:.0f} MiB of one-hot features, above the limit "
                f"of {max_feature_bytes / 2**20:.0f} MiB; raise it with --max-dense-mib"
            )
        features = np.zeros((n, len(values)), np.float32)
        features[np.arange(n), codes] = 1.0
    else:
        features = np.ones((n, 1), np.float32)
    counts = np.bincount(indicator - 1, minlength=num_graphs)
    if (counts == 0).any():
        raise kc.KhipuError(f"{name}: graph {int(np.argmin(counts)) + 1} has no nodes")
    starts = np.concatenate([[0], np.cumsum(counts)])
    edge_graph = indicator[edges[:, 0]] - 1 if len(edges) else np.zeros(0, np.int64)
    # edges grouped by graph in one stable sort (linear in the edges, not graphs x edges)
    order = np.argsort(edge_graph, kind="stable")
    edges, edge_graph = edges[order], edge_graph[order]
    edge_starts = np.concatenate([[0], np.cumsum(np.bincount(edge_graph, minlength=num_graphs))])
    graphs = []
    for g in range(num_graphs):
        e = edges[edge_starts[g] : edge_starts[g + 1]] - starts[g]
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


class PackedGraphs(NamedTuple):
    """A dataset's graphs concatenated, with each graph's slices (no per-graph padding).

    Memory is linear in the nodes and edges: :func:`gather_batch` assembles a batch from
    it inside ``jit``, padded to the batch's static node and edge budgets.

    Attributes:
      nodes: ``[N_total, F]`` node features of every graph, graph after graph.
      senders, receivers: ``[E_total]`` edge endpoints, local to their graph (``0..n-1``).
      node_start, edge_start: ``[G]`` offset of each graph's first node / edge.
      n_node, n_edge: ``[G]`` nodes / edges of each graph.
    """

    nodes: Any
    senders: Any
    receivers: Any
    node_start: Any
    edge_start: Any
    n_node: Any
    n_edge: Any


def pack_graphs(graphs: Sequence[jraph.GraphsTuple]) -> PackedGraphs:
    """Concatenates single graphs (each with node features) into :class:`PackedGraphs`."""
    if not graphs:
        raise kc.KhipuError("no graphs to pack")
    n_node = np.array([int(np.sum(g.n_node)) for g in graphs], np.int32)
    n_edge = np.array([int(np.sum(g.n_edge)) for g in graphs], np.int32)
    empty = np.zeros(0, np.int32)
    return PackedGraphs(
        nodes=np.concatenate([np.asarray(g.nodes, np.float32) for g in graphs]),
        senders=np.concatenate([np.asarray(g.senders, np.int32) for g in graphs] + [empty]),
        receivers=np.concatenate([np.asarray(g.receivers, np.int32) for g in graphs] + [empty]),
        node_start=(np.cumsum(n_node) - n_node).astype(np.int32),
        edge_start=(np.cumsum(n_edge) - n_edge).astype(np.int32),
        n_node=n_node,
        n_edge=n_edge,
    )


def batch_budget(packed: PackedGraphs, batch_size: int) -> tuple[int, int]:
    """Static ``(nodes, edges)`` of every batch: the ``batch_size`` largest graphs' totals
    (plus one padding node), so any batch fits and none costs more than its largest graphs."""
    k = min(batch_size, len(packed.n_node))
    nodes = int(np.sort(np.asarray(packed.n_node))[::-1][:k].sum()) + 1
    edges = max(int(np.sort(np.asarray(packed.n_edge))[::-1][:k].sum()), 1)
    return nodes, edges


def gather_batch(
    packed: PackedGraphs, graph_ids: jax.Array, num_nodes: int, num_edges: int
) -> jraph.GraphsTuple:
    """The graphs ``graph_ids`` ``[B]`` as one ``GraphsTuple`` of ``B + 1`` graphs, padded to
    exactly ``num_nodes`` nodes and ``num_edges`` edges (jit-friendly: static sizes).

    Graph ``b`` of the batch is ``graph_ids[b]``; the last graph is padding (jraph's
    convention), holding the spare nodes and the padding edges.
    """
    nn = jnp.asarray(packed.n_node)[graph_ids]
    ne = jnp.asarray(packed.n_edge)[graph_ids]
    last = graph_ids.shape[0] - 1
    node_end, edge_end = jnp.cumsum(nn), jnp.cumsum(ne)
    node_off, edge_off = node_end - nn, edge_end - ne

    slot = jnp.arange(num_nodes)
    g = jnp.minimum(jnp.searchsorted(node_end, slot, side="right"), last)
    real = slot < node_end[-1]
    src = jnp.where(real, jnp.asarray(packed.node_start)[graph_ids][g] + slot - node_off[g], 0)
    nodes = jnp.where(real[:, None], jnp.asarray(packed.nodes)[src], 0.0)

    eslot = jnp.arange(num_edges)
    ge = jnp.minimum(jnp.searchsorted(edge_end, eslot, side="right"), last)
    ereal = eslot < edge_end[-1]
    esrc = jnp.where(ereal, jnp.asarray(packed.edge_start)[graph_ids][ge] + eslot - edge_off[ge], 0)
    pad_node = node_end[-1]  # the padding graph's first node, as jraph pads
    senders = jnp.where(ereal, jnp.asarray(packed.senders)[esrc] + node_off[ge], pad_node)
    receivers = jnp.where(ereal, jnp.asarray(packed.receivers)[esrc] + node_off[ge], pad_node)
    return jraph.GraphsTuple(
        nodes=nodes,
        edges=None,
        senders=senders.astype(jnp.int32),
        receivers=receivers.astype(jnp.int32),
        n_node=jnp.concatenate([nn, (num_nodes - node_end[-1])[None]]).astype(jnp.int32),
        n_edge=jnp.concatenate([ne, (num_edges - edge_end[-1])[None]]).astype(jnp.int32),
        globals=None,
    )


def split_dataset(
    data: GraphDataset, *, test_fraction: float = 0.2, val_fraction: float = 0.1, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Seeded train / val / test sets of ``{"graph": [B] index into data.graphs, "label": [B]}``.

    Only indices: a split costs bytes per graph, whatever the graphs' sizes.
    """
    if len(data.graphs) < 3:
        raise kc.KhipuError(f"need at least 3 graphs to split, got {len(data.graphs)}")
    arrays = {"graph": np.arange(len(data.graphs), dtype=np.int32), "label": data.labels}
    train_f = 1.0 - test_fraction - val_fraction
    train, val, test = kc.split_arrays(arrays, (train_f, val_fraction, test_fraction), seed=seed)
    for name, part in (("train", train), ("val", val), ("test", test)):
        if not len(part["label"]):
            raise kc.KhipuError(f"the {name} split is empty: use more graphs")
    return train, val, test


def make_graph_loss(net: Any, packed: PackedGraphs, num_nodes: int, num_edges: int) -> Any:
    """``loss_fn`` for khipu-core: cross-entropy over the real graphs of a gathered batch."""

    def loss_fn(params: Any, state: Any, key: jax.Array, batch: Batch) -> Any:
        del key
        ids = batch["graph"]
        graph = gather_batch(packed, ids, num_nodes, num_edges)
        logits = net.apply(params, graph)[: ids.shape[0]]
        loss, acc = masked_cross_entropy(logits, batch["label"], jnp.ones_like(batch["label"]))
        return loss, (state, {"accuracy": acc})

    return loss_fn


def predict_graphs(
    net: Any,
    params: Any,
    packed: PackedGraphs,
    graph_ids: np.ndarray,
    *,
    batch_size: int,
    budget: tuple[int, int],
) -> np.ndarray:
    """``[B]`` predicted class of each graph in ``graph_ids``, batch by batch."""

    @jax.jit
    def predict(params: Any, ids: jax.Array) -> jax.Array:
        graph = gather_batch(packed, ids, *budget)
        logits: jax.Array = net.apply(params, graph)
        return logits[: ids.shape[0]].argmax(-1)

    parts = [
        np.asarray(predict(params, jnp.asarray(b["graph"])))
        for b in kc.batches({"graph": graph_ids}, batch_size, shuffle=False)
    ]
    return np.concatenate(parts)


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
    """Trains on gathered, padded batches with early stopping on validation accuracy.

    Every batch is padded to :func:`batch_budget` (the ``batch_size`` largest graphs'
    nodes and edges), so memory grows with the dataset's nodes and edges plus one bounded
    batch, never with graphs x the largest graph.

    Metrics: ``accuracy`` (test), ``val_accuracy``, ``train_accuracy``; outputs:
    ``test_predictions``, ``test_labels``.
    """
    train, val, test = split_dataset(data, seed=data_seed)
    batch_size = min(batch_size, len(train["label"]))
    host = pack_graphs(data.graphs)
    budget = batch_budget(host, batch_size)
    packed = PackedGraphs(*(jnp.asarray(a) for a in host))
    net = graph_classifier(model, len(data.class_names), hidden=hidden)
    loss_fn = make_graph_loss(net, packed, *budget)

    def eval_fn(params: Any, state: Any, batch: Batch) -> dict[str, jax.Array]:
        loss, (_, metrics) = loss_fn(params, state, jax.random.key(0), batch)
        return {"loss": loss, **metrics}

    sample = gather_batch(packed, jnp.asarray(train["graph"][:1]), *budget)
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
        name: predict_graphs(
            net, params, packed, part["graph"], batch_size=batch_size, budget=budget
        )
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
