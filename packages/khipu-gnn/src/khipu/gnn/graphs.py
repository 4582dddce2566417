"""Graphs as jraph ``GraphsTuple``s: construction, conversion, self-edges, degree
normalisation, batching and padding to static shapes.

Conventions: an edge ``s -> r`` sends a message from node ``senders[e] = s`` to node
``receivers[e] = r``; an undirected edge is stored in both directions. The dense adjacency
of a graph has ``A[s, r] = 1`` for every edge ``s -> r`` (so ``A`` is symmetric for an
undirected graph and a node's in-degree is a column sum).

jraph's own ``zero_out_padding`` and ``get_fully_connected_graph`` call ``jax.tree_map`` /
``jax.tree_leaves``, which current JAX removed; this module replaces the first
(:func:`zero_out_padding`) and uses only the jraph helpers that still work
(``batch_np``, ``pad_with_graphs``, ``unpad_with_graphs``, the padding masks), each
covered by the package's tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import jraph
import networkx as nx
import numpy as np
from khipu.core import KhipuError

__all__ = [
    "GRAPH_KEYS",
    "NORMALIZATIONS",
    "Normalization",
    "add_self_edges",
    "arrays_to_graph",
    "batch_graphs",
    "check_graph",
    "compact_node_ids",
    "degrees",
    "edge_mask",
    "edge_normalization",
    "from_adjacency",
    "from_edge_list",
    "from_networkx",
    "graph_mask",
    "graphs_to_arrays",
    "next_power_of_two",
    "node_graph_index",
    "node_mask",
    "normalized_adjacency",
    "pad_graph",
    "pad_to_power_of_two",
    "real_graph_mask_of_arrays",
    "to_adjacency",
    "to_networkx",
    "unpad",
    "zero_out_padding",
]

Normalization = Literal["symmetric", "random_walk", "none"]
NORMALIZATIONS: tuple[str, ...] = ("symmetric", "random_walk", "none")


def _as_index_array(values: Any, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros((0,), np.int32)
    if arr.ndim != 1:
        raise KhipuError(f"{what} must be a 1-D array of node indices, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer) and (
        not np.issubdtype(arr.dtype, np.floating) or not np.all(arr == np.round(arr))
    ):
        raise KhipuError(f"{what} must hold integer node indices, got dtype {arr.dtype}")
    return arr.astype(np.int32)


def check_graph(graph: jraph.GraphsTuple) -> jraph.GraphsTuple:
    """Validates a (host) ``GraphsTuple``: index ranges and feature shapes.

    Raises:
      KhipuError: senders/receivers out of range or of different lengths, ``n_node`` /
        ``n_edge`` that disagree with the arrays, node or edge features with the wrong
        leading dimension, or a graph without nodes.
    """
    n_node = np.asarray(graph.n_node)
    n_edge = np.asarray(graph.n_edge)
    num_nodes, num_edges = int(n_node.sum()), int(n_edge.sum())
    if num_nodes == 0:
        raise KhipuError("the graph is empty: it has no nodes")
    senders = np.asarray(graph.senders)
    receivers = np.asarray(graph.receivers)
    if senders.shape != receivers.shape or senders.ndim != 1:
        raise KhipuError(
            f"senders {senders.shape} and receivers {receivers.shape} must be 1-D arrays "
            "of the same length"
        )
    if len(senders) != num_edges:
        raise KhipuError(f"n_edge sums to {num_edges} but there are {len(senders)} edges")
    for name, idx in (("senders", senders), ("receivers", receivers)):
        if len(idx) and (idx.min() < 0 or idx.max() >= num_nodes):
            raise KhipuError(
                f"{name} out of range: indices must be in [0, {num_nodes}), "
                f"got {int(idx.min())}..{int(idx.max())}"
            )
    for name, feats, n in (("node", graph.nodes, num_nodes), ("edge", graph.edges, num_edges)):
        for leaf in jax.tree.leaves(feats):
            if np.shape(leaf)[:1] != (n,):
                raise KhipuError(
                    f"{name} features have shape {np.shape(leaf)} but the graph has {n} {name}s"
                )
    return graph


def from_edge_list(
    senders: Any,
    receivers: Any,
    *,
    num_nodes: int | None = None,
    node_features: Any = None,
    edge_features: Any = None,
    global_features: Any = None,
    undirected: bool = False,
) -> jraph.GraphsTuple:
    """A single graph from its edge list.

    Args:
      senders: ``[E]`` source node of each edge.
      receivers: ``[E]`` target node of each edge.
      num_nodes: number of nodes (default: ``len(node_features)``, else ``max index + 1``).
      node_features: ``[N, F]`` (default ``None``).
      edge_features: ``[E, F_e]`` (duplicated when ``undirected``).
      global_features: ``[1, F_g]``.
      undirected: also add every edge in the opposite direction.

    Returns:
      A ``GraphsTuple`` with ``n_node = [N]`` and ``n_edge = [E]`` (``2E`` if undirected).

    Raises:
      KhipuError: indices out of range, mismatched shapes or an empty graph.
    """
    s = _as_index_array(senders, "senders")
    r = _as_index_array(receivers, "receivers")
    if s.shape != r.shape:
        raise KhipuError(f"senders has {len(s)} entries but receivers has {len(r)}")
    if num_nodes is None:
        if node_features is not None:
            num_nodes = len(np.asarray(node_features))
        else:
            num_nodes = int(max(s.max(initial=-1), r.max(initial=-1))) + 1
    if undirected:
        s, r = np.concatenate([s, r]), np.concatenate([r, s])
        if edge_features is not None:
            edge_features = np.concatenate([edge_features, edge_features])
    graph = jraph.GraphsTuple(
        nodes=None if node_features is None else np.asarray(node_features),
        edges=None if edge_features is None else np.asarray(edge_features),
        senders=s,
        receivers=r,
        n_node=np.array([num_nodes], np.int32),
        n_edge=np.array([len(s)], np.int32),
        globals=None if global_features is None else np.asarray(global_features),
    )
    return check_graph(graph)


def compact_node_ids(pairs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Renumbers the node ids of an edge list ``0..N-1`` (N = distinct ids, in sorted order).

    A file's ids may be any non-negative integers (``20000`` in a 61-edge file); the graph
    then has only the nodes its edges name, so its size follows the file, not the ids.

    Args:
      pairs: ``[E, 2]`` integer node ids.

    Returns:
      ``(compact [E, 2] int32, ids [N])`` with ``ids[compact] == pairs``.
    """
    arr = np.asarray(pairs).reshape(-1, 2)
    ids, inverse = np.unique(arr, return_inverse=True)
    return inverse.reshape(-1, 2).astype(np.int32), ids


def from_adjacency(adjacency: Any, node_features: Any = None) -> jraph.GraphsTuple:
    """A graph with one edge ``s -> r`` per non-zero ``adjacency[s, r]``.

    Args:
      adjacency: ``[N, N]``; non-zero weights become edge features ``[E, 1]`` unless all
        are 1.
      node_features: ``[N, F]``.
    """
    a = np.asarray(adjacency)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise KhipuError(f"adjacency must be a square matrix, got shape {a.shape}")
    s, r = np.nonzero(a)
    weights = a[s, r].astype(np.float32)
    edges = None if np.all(weights == 1) else weights[:, None]
    return from_edge_list(
        s, r, num_nodes=a.shape[0], node_features=node_features, edge_features=edges
    )


def to_adjacency(graph: jraph.GraphsTuple, weights: Any = None) -> np.ndarray:
    """Dense ``[N, N]`` adjacency: ``A[s, r]`` = number (or total weight) of edges s -> r."""
    n = int(np.sum(graph.n_node))
    a = np.zeros((n, n), np.float32)
    w = np.ones(len(graph.senders), np.float32) if weights is None else np.asarray(weights)
    np.add.at(a, (np.asarray(graph.senders), np.asarray(graph.receivers)), w)
    return a


def from_networkx(
    g: nx.Graph, *, feature: str | None = None, identity_features: bool = False
) -> jraph.GraphsTuple:
    """A networkx graph as a ``GraphsTuple`` (undirected edges in both directions).

    Nodes are numbered in ``g.nodes`` order. Node features are the node attribute
    ``feature`` (scalars become ``[N, 1]``), or the identity ``[N, N]`` when
    ``identity_features``, else ``None``.
    """
    nodes = list(g.nodes)
    if not nodes:
        raise KhipuError("the graph is empty: it has no nodes")
    index = {v: i for i, v in enumerate(nodes)}
    pairs = np.array([(index[u], index[v]) for u, v in g.edges], np.int32).reshape(-1, 2)
    feats: np.ndarray | None = None
    if identity_features:
        feats = np.eye(len(nodes), dtype=np.float32)
    elif feature is not None:
        feats = np.asarray([g.nodes[v][feature] for v in nodes], np.float32)
        feats = feats.reshape(len(nodes), -1)
    return from_edge_list(
        pairs[:, 0],
        pairs[:, 1],
        num_nodes=len(nodes),
        node_features=feats,
        undirected=not g.is_directed(),
    )


def to_networkx(graph: jraph.GraphsTuple) -> nx.DiGraph:
    """A ``GraphsTuple`` as a directed networkx graph on nodes ``0..N-1`` (one edge per edge)."""
    g = nx.DiGraph()
    g.add_nodes_from(range(int(np.sum(graph.n_node))))
    g.add_edges_from(
        zip(np.asarray(graph.senders).tolist(), np.asarray(graph.receivers).tolist(), strict=True)
    )
    return g


def add_self_edges(graph: jraph.GraphsTuple) -> jraph.GraphsTuple:
    """Appends one edge ``i -> i`` per node (edge features, if any, get zeros).

    Works on host or device arrays with static shapes (usable under ``jit``); the new
    edges are listed after the old ones and ``n_edge`` grows by each graph's ``n_node``.
    """
    n = graph.n_node
    total = int(np.shape(jax.tree.leaves(graph.nodes)[0])[0]) if graph.nodes is not None else None
    if total is None:
        total = int(np.sum(np.asarray(n)))
    idx = jnp.arange(total, dtype=jnp.asarray(graph.senders).dtype)
    edges = graph.edges
    if edges is not None:
        edges = jax.tree.map(
            lambda e: jnp.concatenate([e, jnp.zeros((total, *e.shape[1:]), e.dtype)]), edges
        )
    return graph._replace(
        senders=jnp.concatenate([jnp.asarray(graph.senders), idx]),
        receivers=jnp.concatenate([jnp.asarray(graph.receivers), idx]),
        n_edge=jnp.asarray(graph.n_edge) + jnp.asarray(n),
        edges=edges,
    )


def degrees(
    receivers_or_senders: jax.Array, num_nodes: int, weights: jax.Array | None = None
) -> jax.Array:
    """``[N]`` number (or total weight) of edges per node index, via ``segment_sum``."""
    ones = (
        jnp.ones(receivers_or_senders.shape, jnp.float32)
        if weights is None
        else weights.astype(jnp.float32)
    )
    return jax.ops.segment_sum(ones, receivers_or_senders, num_nodes)


def edge_normalization(
    senders: jax.Array,
    receivers: jax.Array,
    num_nodes: int,
    mode: str = "symmetric",
) -> jax.Array:
    """``[E]`` coefficient of each edge's message for the normalised adjacency.

    ``"symmetric"``: ``1 / sqrt(deg_out(s) deg_in(r))`` (for an undirected graph this
    is ``D^-1/2 A D^-1/2``); ``"random_walk"``: ``1 / deg_in(r)`` (``D^-1 A``: the mean
    over a node's neighbours); ``"none"``: ones. Degrees count edges (self-edges included
    if present); zero degrees are treated as 1.
    """
    if mode not in NORMALIZATIONS:
        raise KhipuError(f"unknown normalization {mode!r}; available: {', '.join(NORMALIZATIONS)}")
    deg_in = jnp.maximum(degrees(receivers, num_nodes), 1.0)
    if mode == "random_walk":
        return 1.0 / deg_in[receivers]
    if mode == "none":
        return jnp.ones(senders.shape, jnp.float32)
    deg_out = jnp.maximum(degrees(senders, num_nodes), 1.0)
    return jax.lax.rsqrt(deg_out[senders] * deg_in[receivers])


def normalized_adjacency(
    adjacency: Any, mode: str = "symmetric", *, self_edges: bool = True
) -> np.ndarray:
    """Dense reference: ``D^-1/2 (A+I) D^-1/2`` or ``D^-1 (A+I)`` (``[N, N]``, NumPy).

    Rows index senders (``A[s, r]``) so the propagated features are ``M.T @ X``.
    """
    a = np.asarray(adjacency, np.float64)
    if self_edges:
        a = a + np.eye(len(a))
    deg_in = np.maximum(a.sum(0), 1.0)
    deg_out = np.maximum(a.sum(1), 1.0)
    out: np.ndarray
    if mode == "symmetric":
        out = a / np.sqrt(deg_out[:, None] * deg_in[None, :])
        return out
    if mode == "random_walk":
        out = a / deg_in[None, :]
        return out
    if mode == "none":
        return a
    raise KhipuError(f"unknown normalization {mode!r}; available: {', '.join(NORMALIZATIONS)}")


# --- batching and padding --------------------------------------------------------


def batch_graphs(graphs: Sequence[jraph.GraphsTuple]) -> jraph.GraphsTuple:
    """Concatenates graphs into one ``GraphsTuple`` (node indices offset), on the host."""
    if not graphs:
        raise KhipuError("cannot batch an empty list of graphs")
    return jraph.batch_np([check_graph(g) for g in graphs])


def next_power_of_two(x: int) -> int:
    """The smallest power of two ``>= x`` (1 for ``x <= 1``)."""
    return 1 if x <= 1 else 1 << (int(x) - 1).bit_length()


def pad_to_power_of_two(graph: jraph.GraphsTuple) -> jraph.GraphsTuple:
    """Pads with one extra graph so nodes, edges and graphs are powers of two (+1).

    Nodes are padded to ``next_power_of_two(N + 1)``, edges to ``next_power_of_two(E)``
    and graphs to ``G + 1`` (jraph's convention: the padding lives in the extra graph,
    whose nodes receive all padding edges), so ``jit`` compiles once per size bucket.
    """
    n = int(np.sum(graph.n_node))
    e = int(np.sum(graph.n_edge))
    g = len(np.asarray(graph.n_node))
    return jraph.pad_with_graphs(graph, next_power_of_two(n + 1), next_power_of_two(e), g + 1)


def pad_graph(
    graph: jraph.GraphsTuple, n_node: int, n_edge: int, n_graph: int
) -> jraph.GraphsTuple:
    """Pads to exactly ``n_node`` nodes, ``n_edge`` edges and ``n_graph`` graphs.

    Raises:
      KhipuError: the graph is already larger than the requested sizes (at least one
        padding node and one padding graph are needed).
    """
    n = int(np.sum(graph.n_node))
    e = int(np.sum(graph.n_edge))
    g = len(np.asarray(graph.n_node))
    if n_node < n + 1 or n_edge < e or n_graph < g + 1:
        raise KhipuError(
            f"cannot pad a batch of {g} graphs, {n} nodes and {e} edges to {n_graph} graphs, "
            f"{n_node} nodes and {n_edge} edges (needs one spare node and graph)"
        )
    return jraph.pad_with_graphs(graph, n_node, n_edge, n_graph)


def node_mask(graph: jraph.GraphsTuple) -> jax.Array:
    """``[N]`` True for real nodes (False in the trailing padding graph)."""
    return jnp.asarray(jraph.get_node_padding_mask(graph))


def edge_mask(graph: jraph.GraphsTuple) -> jax.Array:
    """``[E]`` True for real edges."""
    return jnp.asarray(jraph.get_edge_padding_mask(graph))


def graph_mask(graph: jraph.GraphsTuple) -> jax.Array:
    """``[G]`` True for real graphs (the last graph of a padded batch is padding)."""
    return jnp.asarray(jraph.get_graph_padding_mask(graph))


def zero_out_padding(graph: jraph.GraphsTuple) -> jraph.GraphsTuple:
    """Zeros every feature of the padding graph (jraph's version calls ``jax.tree_map``)."""

    def zero(mask: jax.Array) -> Any:
        def fn(x: jax.Array) -> jax.Array:
            m = mask.reshape(mask.shape + (1,) * (x.ndim - 1))
            return jnp.where(m, x, jnp.zeros_like(x))

        return fn

    return graph._replace(
        nodes=jax.tree.map(zero(node_mask(graph)), graph.nodes),
        edges=jax.tree.map(zero(edge_mask(graph)), graph.edges),
        globals=jax.tree.map(zero(graph_mask(graph)), graph.globals),
    )


def unpad(graph: jraph.GraphsTuple) -> jraph.GraphsTuple:
    """Removes the trailing padding graph (host arrays)."""
    return jraph.unpad_with_graphs(jax.device_get(graph))


def node_graph_index(n_node: jax.Array, num_nodes: int) -> jax.Array:
    """``[N]`` index of the graph each node belongs to (static ``num_nodes`` for ``jit``)."""
    n_graph = n_node.shape[0]
    return jnp.repeat(jnp.arange(n_graph), n_node, axis=0, total_repeat_length=num_nodes)


# --- fixed-shape arrays for fit(): one padded graph per example ----------------

GRAPH_KEYS = ("nodes", "senders", "receivers", "n_node", "n_edge")


def graphs_to_arrays(
    graphs: Sequence[jraph.GraphsTuple],
    *,
    max_nodes: int | None = None,
    max_edges: int | None = None,
) -> dict[str, np.ndarray]:
    """Stacks graphs, each padded to the same sizes, as arrays with a leading example axis.

    Each example is one graph padded by jraph to ``max_nodes + 1`` nodes, ``max_edges``
    edges and 2 graphs (the real one, then the padding one), so a dataset of graphs of
    different sizes becomes fixed-shape arrays that khipu-core's ``fit()`` can shuffle and
    batch; :func:`arrays_to_graph` turns a batch back into one ``GraphsTuple``.

    Returns:
      ``{"nodes": [B, N, F], "senders": [B, E], "receivers": [B, E], "n_node": [B, 2],
      "n_edge": [B, 2]}`` with ``N = max_nodes + 1`` and ``E = max_edges``.
    """
    if not graphs:
        raise KhipuError("no graphs to stack")
    for g in graphs:
        check_graph(g)
        if g.nodes is None:
            raise KhipuError("every graph needs node features")
    max_nodes = max_nodes or max(int(np.sum(g.n_node)) for g in graphs)
    max_edges = max(max_edges or 1, max(int(np.sum(g.n_edge)) for g in graphs))
    padded = [pad_graph(g, max_nodes + 1, max_edges, 2) for g in graphs]
    return {
        "nodes": np.stack([np.asarray(p.nodes, np.float32) for p in padded]),
        "senders": np.stack([np.asarray(p.senders, np.int32) for p in padded]),
        "receivers": np.stack([np.asarray(p.receivers, np.int32) for p in padded]),
        "n_node": np.stack([np.asarray(p.n_node, np.int32) for p in padded]),
        "n_edge": np.stack([np.asarray(p.n_edge, np.int32) for p in padded]),
    }


def arrays_to_graph(batch: Any) -> jraph.GraphsTuple:
    """One ``GraphsTuple`` from a batch of :func:`graphs_to_arrays` examples (jit-friendly).

    Example ``b``'s real graph becomes graph ``2b`` and its padding graph ``2b + 1``;
    :func:`graph_mask` of the result marks the real ones.
    """
    nodes = batch["nodes"]
    b, n = nodes.shape[0], nodes.shape[1]
    offsets = (jnp.arange(b, dtype=jnp.int32) * n)[:, None]
    return jraph.GraphsTuple(
        nodes=nodes.reshape(b * n, *nodes.shape[2:]),
        edges=None,
        senders=(batch["senders"] + offsets).reshape(-1),
        receivers=(batch["receivers"] + offsets).reshape(-1),
        n_node=batch["n_node"].reshape(-1),
        n_edge=batch["n_edge"].reshape(-1),
        globals=None,
    )


def real_graph_mask_of_arrays(batch_size: int) -> jax.Array:
    """``[2B]`` mask of the real graphs in :func:`arrays_to_graph`'s output."""
    return jnp.arange(2 * batch_size) % 2 == 0
