"""Link prediction: edge split, fresh negative samples each step, dot-product decoder.

Offline default: a stochastic block model (networkx). The undirected edges are split into
train / validation / test; the encoder passes messages over the **training** edges only.
Each training step draws new negative pairs from the step's own PRNG key (khipu-core's
``fit()`` splits a new key every step), so no two steps see the same negatives. Validation
and test negatives are fixed non-edges of the whole graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jraph
import networkx as nx
import numpy as np
from khipu.core import KhipuError
from khipu.gnn.graphs import check_graph, from_edge_list
from khipu.gnn.models import node_model
from khipu.gnn.train import (
    Batch,
    TaskResult,
    binary_cross_entropy_with_logits,
    init_params,
    roc_auc,
    run_fit,
    single_graph,
    single_graph_arrays,
)


class EdgeSplit(NamedTuple):
    """A graph's undirected edges split for link prediction.

    Attributes:
      train_graph: nodes with features and the training edges (both directions).
      train_edges: ``[P, 2]`` training pairs (one direction).
      val_pairs, test_pairs: ``[M, 2]`` node pairs, positives then negatives.
      val_labels, test_labels: ``[M]`` 1 for an edge, 0 for a non-edge.
    """

    train_graph: jraph.GraphsTuple
    train_edges: np.ndarray
    val_pairs: np.ndarray
    val_labels: np.ndarray
    test_pairs: np.ndarray
    test_labels: np.ndarray


def sbm_graph(
    sizes: tuple[int, ...] = (25,) * 8,
    p_in: float = 0.3,
    p_out: float = 0.002,
    *,
    seed: int = 0,
) -> nx.Graph:
    """A stochastic block model: edge probability ``p_in`` within a block, ``p_out`` across."""
    probs = [[p_in if i == j else p_out for j in range(len(sizes))] for i in range(len(sizes))]
    return nx.stochastic_block_model(list(sizes), probs, seed=seed)


def undirected_pairs(senders: np.ndarray, receivers: np.ndarray) -> np.ndarray:
    """``[P, 2]`` unique pairs ``(u, v)`` with ``u < v`` (self-loops dropped)."""
    pairs = np.stack([np.minimum(senders, receivers), np.maximum(senders, receivers)], 1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(pairs, axis=0)


def sample_non_edges(
    num_nodes: int, edges: np.ndarray, count: int, rng: np.random.Generator
) -> np.ndarray:
    """``[count, 2]`` distinct node pairs ``u < v`` that are not in ``edges`` (sorted).

    Rejection sampling in vectorised rounds over pair codes ``u * N + v``: memory and time
    grow with the edges and ``count``, never with ``N * N``.
    """
    edges = np.asarray(edges, np.int64).reshape(-1, 2)
    taken = np.unique(np.minimum(edges[:, 0], edges[:, 1]) * num_nodes + edges.max(1))
    max_pairs = num_nodes * (num_nodes - 1) // 2
    if count > max_pairs - len(taken):
        raise KhipuError(f"the graph has fewer than {count} non-edges to sample")
    found = np.zeros(0, np.int64)
    while len(found) < count:
        draw = rng.integers(0, num_nodes, (2 * (count - len(found)) + 16, 2))
        u, v = draw.min(1), draw.max(1)
        codes = (u * num_nodes + v)[u != v]
        codes = codes[~np.isin(codes, taken)]
        # keep first draws first, so the result depends on the seed only
        found = np.concatenate([found, codes])
        _, first = np.unique(found, return_index=True)
        found = found[np.sort(first)]
    found = np.sort(found[:count])
    return np.stack([found // num_nodes, found % num_nodes], 1).astype(np.int32)


def split_edges(
    graph: jraph.GraphsTuple,
    *,
    val_fraction: float = 0.05,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> EdgeSplit:
    """Splits the undirected edges of ``graph`` (seeded) and samples held-out negatives.

    Raises:
      KhipuError: fractions out of range, or too few edges to give every split one.
    """
    check_graph(graph)
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise KhipuError(
            f"val and test fractions must be in (0, 1) with a sum below 1, "
            f"got {val_fraction} and {test_fraction}"
        )
    n = int(np.sum(graph.n_node))
    pairs = undirected_pairs(np.asarray(graph.senders), np.asarray(graph.receivers))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))
    n_val = round(val_fraction * len(pairs))
    n_test = round(test_fraction * len(pairs))
    if n_val == 0 or n_test == 0 or n_val + n_test >= len(pairs):
        raise KhipuError(f"{len(pairs)} edges are too few to split for link prediction")
    val, test = pairs[order[:n_val]], pairs[order[n_val : n_val + n_test]]
    train = pairs[order[n_val + n_test :]]
    negatives = sample_non_edges(n, pairs, n_val + n_test, rng)
    neg_order = rng.permutation(len(negatives))
    val_neg, test_neg = negatives[neg_order[:n_val]], negatives[neg_order[n_val:]]
    train_graph = from_edge_list(
        train[:, 0], train[:, 1], num_nodes=n, node_features=graph.nodes, undirected=True
    )

    def labelled(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.concatenate([pos, neg]).astype(np.int32),
            np.concatenate([np.ones(len(pos)), np.zeros(len(neg))]).astype(np.float32),
        )

    val_pairs, val_labels = labelled(val, val_neg)
    test_pairs, test_labels = labelled(test, test_neg)
    return EdgeSplit(train_graph, train, val_pairs, val_labels, test_pairs, test_labels)


def sbm_link_split(seed: int = 0) -> EdgeSplit:
    """The default link-prediction data: :func:`sbm_graph` with one-hot node ids, split 85/5/10."""
    g = sbm_graph(seed=seed)
    n = g.number_of_nodes()
    edges = np.array(list(g.edges), np.int32).reshape(-1, 2)
    graph = from_edge_list(
        edges[:, 0], edges[:, 1], num_nodes=n, node_features=np.eye(n, dtype=np.float32)
    )
    return split_edges(graph, seed=seed)


def negative_pairs(key: jax.Array, num_nodes: int, count: int) -> jax.Array:
    """``[count, 2]`` uniformly random node pairs (fresh for every key)."""
    return jax.random.randint(key, (count, 2), 0, num_nodes)


def rank_auc(scores: jax.Array, labels: jax.Array) -> jax.Array:
    """ROC-AUC of ``scores`` ``[M]`` against 0/1 ``labels`` ``[M]``, ties counting one half.

    Sorts the negatives' scores and counts, for each positive, the negatives below it with
    ``searchsorted``: ``O(M log M)`` time and ``O(M)`` memory, never an ``M x M`` matrix.
    jit-friendly (the labels are data, not shapes).
    """
    pos = labels > 0
    neg_sorted = jnp.sort(jnp.where(pos, jnp.inf, scores))
    below = jnp.searchsorted(neg_sorted, scores, side="left")
    upto = jnp.searchsorted(neg_sorted, scores, side="right")
    n_neg = jnp.sum(~pos)
    # +inf stand-ins for positives never count as a negative
    upto = jnp.minimum(upto, n_neg)
    below = jnp.minimum(below, n_neg)
    wins = jnp.where(pos, below + 0.5 * (upto - below), 0.0)
    return wins.sum() / jnp.maximum(pos.sum() * n_neg, 1)


def one_hot_feature_bytes(num_nodes: int) -> int:
    """Bytes of the ``[N, N]`` float32 identity node features, host and device copies."""
    return 2 * 4 * num_nodes * num_nodes


def check_feature_size(num_nodes: int, max_bytes: int, *, source: str = "the graph") -> None:
    """Refuses (before allocating) one-hot node features above ``max_bytes``.

    Link prediction on a graph without node features gives each node its own one-hot
    feature: ``[N, N]``, the one part of the task that grows as ``N * N``.

    Raises:
      KhipuError: one line with the nodes, the estimated size and the limit.
    """
    need = one_hot_feature_bytes(num_nodes)
    if need > max_bytes:
        raise KhipuError(
            f"{source}: {num_nodes} nodes need {need / 2**20:.0f} MiB of one-hot node features "
            f"({num_nodes} x {num_nodes}), above the limit of {max_bytes / 2**20:.0f} MiB; "
            "raise it with --max-dense-mib"
        )


def dot_scores(embeddings: jax.Array, pairs: jax.Array) -> jax.Array:
    """Dot-product decoder: ``[M]`` logits ``<z_u, z_v>`` for pairs ``[M, 2]``."""
    return jnp.sum(embeddings[pairs[:, 0]] * embeddings[pairs[:, 1]], axis=-1)


def make_link_loss(net: Any, num_nodes: int) -> Any:
    """``loss_fn(params, state, key, batch)`` for khipu-core: BCE of training edges vs negatives.

    The negatives are :func:`negative_pairs` of the step's ``key``, as many as positives.
    """

    def loss_fn(params: Any, state: Any, key: jax.Array, batch: Batch) -> Any:
        z = net.apply(params, single_graph(batch))
        pos = batch["positives"][0]
        neg = negative_pairs(key, num_nodes, pos.shape[0])
        logits = jnp.concatenate([dot_scores(z, pos), dot_scores(z, neg)])
        labels = jnp.concatenate([jnp.ones(pos.shape[0]), jnp.zeros(pos.shape[0])])
        return binary_cross_entropy_with_logits(logits, labels), (state, {})

    return loss_fn


def train_link_predictor(
    split: EdgeSplit,
    model: str = "gcn",
    *,
    epochs: int = 100,
    learning_rate: float = 0.01,
    hidden: int = 64,
    out_features: int = 32,
    seed: int = 0,
    eval_every: int = 10,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
) -> TaskResult:
    """Trains an encoder with binary cross-entropy on training edges vs fresh negatives.

    The parameters of the best validation ROC-AUC are kept. Metrics: ``roc_auc`` (test),
    ``val_roc_auc``; outputs: ``test_scores`` and ``test_labels``.
    """
    net = node_model(model, out_features, hidden=hidden)
    graph = split.train_graph
    n = int(np.sum(graph.n_node))
    data = single_graph_arrays(graph, positives=split.train_edges.astype(np.int32))
    val = single_graph_arrays(graph, pairs=split.val_pairs, labels=split.val_labels)

    loss_fn = make_link_loss(net, n)

    def eval_fn(params: Any, state: Any, batch: Batch) -> dict[str, jax.Array]:
        del state
        z = net.apply(params, single_graph(batch))
        scores = dot_scores(z, batch["pairs"][0])
        labels = batch["labels"][0]
        auc = rank_auc(scores, labels)
        return {"loss": binary_cross_entropy_with_logits(scores, labels), "roc_auc": auc}

    params = init_params(net, seed, jax.tree.map(jnp.asarray, graph))
    result, seconds = run_fit(
        params,
        loss_fn,
        data,
        epochs=epochs,
        learning_rate=learning_rate,
        seed=seed,
        eval_fn=eval_fn,
        val_data=val,
        monitor="val_roc_auc",
        mode="max",
        eval_every=eval_every,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
        whole_graph=True,
    )
    params = result.state.params
    z = jax.jit(net.apply)(params, jax.tree.map(jnp.asarray, graph))
    test_scores = np.asarray(dot_scores(z, jnp.asarray(split.test_pairs)))
    val_scores = np.asarray(dot_scores(z, jnp.asarray(split.val_pairs)))
    metrics = {
        "roc_auc": roc_auc(test_scores, split.test_labels),
        "val_roc_auc": roc_auc(val_scores, split.val_labels),
    }
    outputs = {"test_scores": test_scores, "test_labels": split.test_labels}
    return TaskResult(params, result.history, metrics, result.epochs_run, seconds, outputs)
