"""Model builders: node encoders (GCN, GAT, graph network) and graph classifiers."""

from __future__ import annotations

import haiku as hk
import jax
import jraph
from khipu.core import UnknownNameError
from khipu.gnn.layers import GATLayer, GCNLayer, GraphNetworkBlock, readout

NODE_MODELS: tuple[str, ...] = ("gcn", "gat", "graphnet")
GRAPH_MODELS: tuple[str, ...] = ("graphnet", "gcn")


def node_model(
    name: str,
    out_features: int,
    *,
    hidden: int = 8,
    heads: int = 2,
    normalization: str = "symmetric",
) -> hk.Transformed:
    """A two-layer node model ``f(graph) -> [N, out_features]`` (no randomness: apply takes no rng).

    ``gcn``: GCN(hidden, relu) -> GCN(out); ``gat``: GAT(hidden per head, ``heads`` heads,
    ELU) -> GAT(out, one head); ``graphnet``: Linear(hidden) -> graph-network step ->
    Linear(out).
    """
    if name not in NODE_MODELS:
        raise UnknownNameError("model", name, NODE_MODELS)

    def forward(graph: jraph.GraphsTuple) -> jax.Array:
        if name == "gcn":
            g = GCNLayer(hidden, normalization=normalization, activation=jax.nn.relu)(graph)
            out: jax.Array = GCNLayer(out_features, normalization=normalization)(g).nodes
            return out
        if name == "gat":
            g = GATLayer(hidden, num_heads=heads, activation=jax.nn.elu)(graph)
            att: jax.Array = GATLayer(out_features, num_heads=1)(g).nodes
            return att
        g = graph._replace(nodes=jax.nn.relu(hk.Linear(hidden)(graph.nodes)))
        g = GraphNetworkBlock(hidden)(g)
        return hk.Linear(out_features)(g.nodes)

    return hk.without_apply_rng(hk.transform(forward))


def graph_classifier(name: str, num_classes: int, *, hidden: int = 64) -> hk.Transformed:
    """``f(graph) -> [G, num_classes]`` logits per graph (padding graphs included).

    ``graphnet``: Linear embedding, two graph-network steps (edge, node, global updates),
    logits from the global features; ``gcn``: two GCN layers, sum, mean and max readouts,
    an MLP.
    """
    if name not in GRAPH_MODELS:
        raise UnknownNameError("model", name, GRAPH_MODELS)

    def forward(graph: jraph.GraphsTuple) -> jax.Array:
        if name == "graphnet":
            g = graph._replace(nodes=jax.nn.relu(hk.Linear(hidden)(graph.nodes)))
            g = GraphNetworkBlock(hidden, name="step_1")(g)
            g = GraphNetworkBlock(hidden, name="step_2")(g)
            return hk.Linear(num_classes)(g.globals)
        g = GCNLayer(hidden, activation=jax.nn.relu)(graph)
        g = GCNLayer(hidden, activation=jax.nn.relu)(g)
        pooled = jax.numpy.concatenate(
            [readout(g.nodes, g.n_node, kind) for kind in ("sum", "mean", "max")], axis=-1
        )
        return hk.nets.MLP([hidden, num_classes])(pooled)

    return hk.without_apply_rng(hk.transform(forward))
