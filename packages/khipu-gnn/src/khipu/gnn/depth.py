"""Deeper GCNs and over-smoothing (the Indaba practical's task 5), on one small graph.

A GCN layer replaces each node's features by a weighted average over its neighbourhood
(self included). Stacking ``L`` layers averages over ``L``-hop neighbourhoods; as ``L``
grows, the features of all nodes of a connected graph become proportional to one vector
(for the symmetric normalisation, to ``sqrt(degree)`` times a common row): **over-smoothing**.
:func:`feature_spread` measures it as the spread of the node features' *directions*, which
goes to 0 when every row points the same way.

The GCN stack here is a pure function of a list of ``(W, b)`` pairs so the notebook can
train the student's own :func:`gcn_stack` (any function with its signature) at several
depths with :func:`depth_sweep`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import optax
from khipu.core import KhipuError
from khipu.gnn.graphs import edge_normalization
from khipu.gnn.layers import add_bias, propagate
from khipu.gnn.nodes import NodeTask
from khipu.gnn.train import masked_cross_entropy

__all__ = [
    "DepthSweep",
    "depth_sweep",
    "feature_spread",
    "gcn_stack",
    "init_gcn_layers",
    "propagation_spread",
    "symmetric_gcn_aggregate",
    "train_node_net",
]

Layers = Sequence[tuple[jax.Array, jax.Array]]
Aggregate = Callable[[jax.Array, jax.Array, jax.Array, int], jax.Array]
Stack = Callable[[Layers, jax.Array, jax.Array, jax.Array, int], jax.Array]


def symmetric_gcn_aggregate(
    features: jax.Array, senders: jax.Array, receivers: jax.Array, num_nodes: int
) -> jax.Array:
    """``D_in^-1/2 Âᵀ D_out^-1/2 X`` with ``Â = A + I`` (self-edges appended), ``[N, F]``."""
    idx = jnp.arange(num_nodes, dtype=senders.dtype)
    s = jnp.concatenate([senders, idx])
    r = jnp.concatenate([receivers, idx])
    return propagate(features, s, r, num_nodes, edge_normalization(s, r, num_nodes, "symmetric"))


def gcn_stack(
    layers: Layers,
    x: jax.Array,
    senders: jax.Array,
    receivers: jax.Array,
    num_nodes: int,
    aggregate: Aggregate = symmetric_gcn_aggregate,
) -> jax.Array:
    """``L`` GCN layers: ``H <- aggregate(H W_l) + b_l``, ReLU after every layer but the last.

    Args:
      layers: ``L`` pairs ``(W_l [F_l, F_{l+1}], b_l [F_{l+1}])``.
      x: ``[N, F_0]`` node features.
      senders, receivers: ``[E]`` edges (without self-edges: the aggregation adds them).
      num_nodes: ``N``.
      aggregate: the normalised aggregation (default: the symmetric GCN's).

    Returns:
      ``[N, F_L]`` (the last layer is linear: logits).
    """
    h = x
    for i, (w, b) in enumerate(layers):
        h = add_bias(aggregate(h @ w, senders, receivers, num_nodes), b)
        if i < len(layers) - 1:
            h = jax.nn.relu(h)
    return h


def feature_spread(features: jax.Array) -> jax.Array:
    """How different the node features' directions are: ``mean_i |u_i - mean_j u_j|^2``.

    ``u_i = h_i / |h_i|`` (rows of zeros stay zero). 0 when every node's features point the
    same way (over-smoothed); close to 1 for unrelated directions (e.g. one-hot rows).
    ``[N, F]`` -> scalar.
    """
    norms = jnp.linalg.norm(features, axis=-1, keepdims=True)
    u = features / jnp.maximum(norms, 1e-12)
    centred = u - jnp.mean(u, axis=0, keepdims=True)
    return jnp.mean(jnp.sum(centred**2, axis=-1))


def propagation_spread(
    graph: jraph.GraphsTuple,
    features: jax.Array,
    num_steps: int,
    aggregate: Aggregate = symmetric_gcn_aggregate,
) -> np.ndarray:
    """``[K]`` :func:`feature_spread` of ``X, ÂX, Â²X, …`` (``K`` terms, no weights)."""
    s, r = jnp.asarray(graph.senders), jnp.asarray(graph.receivers)
    n = int(np.shape(features)[0])
    h = jnp.asarray(features, jnp.float32)
    out = []
    for _ in range(num_steps):
        out.append(float(feature_spread(h)))
        h = aggregate(h, s, r, n)
    return np.asarray(out, np.float32)


def init_gcn_layers(key: jax.Array, sizes: Sequence[int]) -> list[tuple[jax.Array, jax.Array]]:
    """Glorot-uniform ``W`` and zero ``b`` for layer sizes ``[F_0, F_1, …, F_L]``."""
    if len(sizes) < 2:
        raise KhipuError(f"a GCN needs at least one layer: sizes {list(sizes)}")
    keys = jax.random.split(key, len(sizes) - 1)
    init = jax.nn.initializers.glorot_uniform()
    return [
        (init(k, (fi, fo), jnp.float32), jnp.zeros((fo,), jnp.float32))
        for k, fi, fo in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def _fit_full_graph(
    forward: Callable[[Any, jraph.GraphsTuple], jax.Array],
    params: Any,
    graph: jraph.GraphsTuple,
    labels: jax.Array,
    mask: jax.Array,
    steps: int,
    learning_rate: float,
) -> tuple[Any, jax.Array]:
    """``steps`` Adam updates under ``lax.scan`` (pure: jit and vmap it)."""
    optimizer = optax.adam(learning_rate)

    def loss(p: Any) -> jax.Array:
        value, _ = masked_cross_entropy(forward(p, graph), labels, mask)
        return value

    def step(carry: tuple[Any, Any], _: None) -> tuple[tuple[Any, Any], jax.Array]:
        p, opt_state = carry
        value, grads = jax.value_and_grad(loss)(p)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        return (optax.apply_updates(p, updates), opt_state), value

    (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), None, steps)
    return params, losses


def train_node_net(
    forward: Callable[[Any, jraph.GraphsTuple], jax.Array],
    params: Any,
    task: NodeTask,
    *,
    steps: int = 100,
    learning_rate: float = 0.01,
) -> tuple[Any, np.ndarray, np.ndarray]:
    """Full-graph Adam on the labelled nodes' cross-entropy, compiled once.

    Args:
      forward: ``forward(params, graph) -> [N, C]`` logits (e.g. a Haiku ``apply``).
      params: initial parameters.
      task: the graph, labels and the training mask.
      steps: number of updates.
      learning_rate: Adam's step size.

    Returns:
      ``(params, losses [steps], predictions [N])``.
    """
    graph = jax.tree.map(jnp.asarray, task.graph)
    labels, mask = jnp.asarray(task.labels), jnp.asarray(task.train_mask)
    fit = jax.jit(_fit_full_graph, static_argnums=(0, 5, 6))
    params, losses = fit(forward, params, graph, labels, mask, steps, learning_rate)
    predictions = np.asarray(jax.jit(forward)(params, graph).argmax(-1))
    return params, np.asarray(losses), predictions


class DepthSweep(NamedTuple):
    """Accuracy and feature spread of GCNs of several depths.

    Attributes:
      depths: ``[D]`` numbers of layers.
      accuracy: ``[D, S]`` accuracy over all nodes, one column per seed.
      spread: ``[D, S]`` :func:`feature_spread` of the trained networks' outputs.
    """

    depths: np.ndarray
    accuracy: np.ndarray
    spread: np.ndarray


def depth_sweep(
    task: NodeTask,
    depths: Sequence[int],
    *,
    stack: Stack = gcn_stack,
    hidden: int = 8,
    steps: int = 100,
    learning_rate: float = 0.01,
    seeds: Sequence[int] = (0, 1, 2),
) -> DepthSweep:
    """Trains ``stack`` with ``L`` layers (``hidden`` features, then the classes) per depth.

    ``stack(layers, x, senders, receivers, num_nodes)`` is :func:`gcn_stack` or the
    student's version of it. Each depth compiles once and is trained from every seed.
    """
    if not depths or min(depths) < 1:
        raise KhipuError(f"depths must be positive layer counts, got {list(depths)}")
    n, f_in = np.shape(task.graph.nodes)
    classes = len(task.class_names)

    def forward(layers: Any, graph: jraph.GraphsTuple) -> jax.Array:
        return stack(layers, graph.nodes, graph.senders, graph.receivers, int(n))

    graph = jax.tree.map(jnp.asarray, task.graph)
    labels, mask = jnp.asarray(task.labels), jnp.asarray(task.train_mask)

    def run(layers: Any) -> tuple[jax.Array, jax.Array]:
        layers, _ = _fit_full_graph(forward, layers, graph, labels, mask, steps, learning_rate)
        out = forward(layers, graph)
        return jnp.mean(out.argmax(-1) == labels), feature_spread(out)

    run_seeds = jax.jit(jax.vmap(run))  # one compilation per depth, all seeds at once
    acc = np.zeros((len(depths), len(seeds)), np.float32)
    spread = np.zeros_like(acc)
    for i, depth in enumerate(depths):
        sizes = [int(f_in), *([hidden] * (depth - 1)), classes]
        inits = [init_gcn_layers(jax.random.key(seed), sizes) for seed in seeds]
        stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *inits)
        a, sp = run_seeds(stacked)
        acc[i], spread[i] = np.asarray(a), np.asarray(sp)
    return DepthSweep(np.asarray(depths), acc, spread)
