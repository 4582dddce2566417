"""The practical's exercises: reference answers and their checkers.

Each ``check_<name>`` is a :class:`khipu.core.Checker`; in the notebook a check cell reads
``f = check_f(f)``: it prints one line (``✓``, ``✗`` with the failing input, or ``not
attempted yet``) and returns the student's function if it passed, else the reference, so
the later cells always run.

Inputs are the practical's own example and seeded random **directed** graphs (so in- and
out-degrees differ), non-symmetric shift operators (so ``S X`` differs from ``X S``) and a
batch of one sample (the original loss's squeeze bug).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import jraph
import networkx as nx
import numpy as np
import optax
from khipu.core import Case, Checker, choice_check, function_check
from khipu.core.exercises import NotAttempted, describe, mismatch
from khipu.gnn import depth as _depth, loop as _loop
from khipu.gnn.graphs import degrees, edge_normalization
from khipu.gnn.layers import (
    GraphFilter,
    diffusion_sequence as _diffusion_sequence,
    graph_filter as _graph_filter,
    propagate,
    readout,
)
from khipu.gnn.links import dot_scores, negative_pairs
from khipu.gnn.ratings import target_mse as _target_mse

__all__ = [
    "GNNModule",
    "attention_weights",
    "check_attention_weights",
    "check_diffusion_sequence",
    "check_edge_sums",
    "check_gcn_aggregate",
    "check_gcn_stack",
    "check_gnn_module",
    "check_graph_filter",
    "check_link_loss",
    "check_mean_aggregate",
    "check_mean_readout",
    "check_networkx_to_jraph",
    "check_residual_update",
    "check_sender_attention",
    "check_target_mse",
    "check_task_graph",
    "check_train_epochs",
    "diffusion_sequence",
    "edge_sums",
    "gcn_aggregate",
    "gcn_stack",
    "graph_filter",
    "link_loss",
    "mean_aggregate",
    "mean_readout",
    "networkx_to_jraph",
    "quiz_locality",
    "quiz_mean_readout",
    "quiz_negative_key",
    "quiz_neighbour_sum",
    "quiz_oversmoothing",
    "quiz_sender_attention",
    "quiz_stacked_filters",
    "residual_update",
    "sender_attention",
    "target_mse",
    "task_graph",
    "toy_graph",
    "train_epochs",
]


def toy_graph() -> tuple[jax.Array, jax.Array, jax.Array]:
    """The practical's toy graph: features ``[[0], [2], [4], [6]]``, edges 0->1, 1->2,
    2->0, 3->0, 0->3. Returns ``(features [4, 1], senders [5], receivers [5])``."""
    return (
        jnp.array([[0.0], [2.0], [4.0], [6.0]]),
        jnp.array([0, 1, 2, 3, 0]),
        jnp.array([1, 2, 0, 0, 3]),
    )


def mean_aggregate(
    features: jax.Array, senders: jax.Array, receivers: jax.Array, num_nodes: int
) -> jax.Array:
    """``D_in^-1 Aᵀ X``: each node's mean over the senders of its incoming edges.

    ``A[s, r] = 1`` for an edge ``s -> r`` (row = sender), so ``(Aᵀ X)[r]`` sums the
    in-neighbours' features and ``D_in`` (the in-degrees, column sums of ``A``) turns the
    sum into a mean; a node without incoming edges gets 0.
    ``features`` ``[N, F]``, ``senders``/``receivers`` ``[E]`` -> ``[N, F]``.
    """
    total = propagate(features, senders, receivers, num_nodes)
    deg = jnp.maximum(degrees(receivers, num_nodes), 1.0)
    return total / deg[:, None]


def gcn_aggregate(
    features: jax.Array, senders: jax.Array, receivers: jax.Array, num_nodes: int
) -> jax.Array:
    """``D_in^-1/2 Âᵀ D_out^-1/2 X`` with ``Â = A + I``: add one self-edge per node, then
    scale each message ``s -> r`` by ``1 / sqrt(deg_out(s) * deg_in(r))`` (degrees of ``Â``)
    and sum over receivers. For an undirected graph ``D_in = D_out = D`` and this is
    Kipf & Welling's ``D^-1/2 Â D^-1/2 X``. ``[N, F]`` -> ``[N, F]``."""
    idx = jnp.arange(num_nodes)
    s = jnp.concatenate([senders, idx])
    r = jnp.concatenate([receivers, idx])
    return propagate(features, s, r, num_nodes, edge_normalization(s, r, num_nodes, "symmetric"))


def graph_filter(x: jax.Array, shift: jax.Array, taps: jax.Array, bias: jax.Array) -> jax.Array:
    """``sum_{k=0}^{K-1} S^k X H_k + b`` with exactly ``K = taps.shape[0]`` taps.

    ``x`` ``[B, N, G]``, ``shift`` ``[N, N]``, ``taps`` ``[K, G, F]``, ``bias`` ``[F]`` ->
    ``[B, N, F]``.
    """
    return _graph_filter(x, shift, taps, bias)


def target_mse(outputs: jax.Array, target: jax.Array, y: jax.Array) -> jax.Array:
    """Mean squared error at each sample's target item only.

    ``outputs`` ``[B, P, 1]``, ``target`` ``[B]`` int, ``y`` ``[B]`` -> scalar (also for B=1).
    """
    return _target_mse(outputs, target, y)


def _random_directed(seed: int, n: int, e: int, f: int = 3) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    s = rng.integers(0, n, e)
    r = rng.integers(0, n, e)
    keep = s != r
    return (
        jnp.asarray(rng.normal(size=(n, f)), jnp.float32),
        jnp.asarray(s[keep], jnp.int32),
        jnp.asarray(r[keep], jnp.int32),
        n,
    )


def _aggregate_cases() -> list[Case]:
    x, s, r = toy_graph()
    return [
        Case("the practical's toy graph", (x, s, r, 4)),
        Case("a random directed graph", _random_directed(0, 8, 20)),
        Case("a random directed graph with an isolated node", _random_directed(1, 12, 10)),
    ]


check_mean_aggregate = function_check(
    "mean_aggregate",
    reference=mean_aggregate,
    cases=_aggregate_cases,
    hint="sum the incoming messages with jax.ops.segment_sum over receivers, then divide "
    "by each node's in-degree (a segment_sum of ones over receivers, at least 1)",
)

check_gcn_aggregate = function_check(
    "gcn_aggregate",
    reference=gcn_aggregate,
    cases=_aggregate_cases,
    hint="append the self-edges (arange(N) to both senders and receivers) first; scale each "
    "message by rsqrt(out-degree of its sender * in-degree of its receiver)",
    rtol=1e-4,
    atol=1e-5,
)


def _filter_cases() -> list[Case]:
    rng = np.random.default_rng(0)

    def case(label: str, b: int, n: int, g: int, k: int, f: int) -> Case:
        return Case(
            label,
            (
                jnp.asarray(rng.normal(size=(b, n, g)), jnp.float32),
                jnp.asarray(rng.normal(size=(n, n)) / n, jnp.float32),
                jnp.asarray(rng.normal(size=(k, g, f)), jnp.float32),
                jnp.asarray(rng.normal(size=(f,)), jnp.float32),
            ),
        )

    return [
        case("K=3 taps, one feature", 2, 5, 1, 3, 4),
        case("a single tap (K=1: no diffusion at all)", 1, 6, 2, 1, 3),
        case("K=5 taps, non-symmetric S", 3, 7, 2, 5, 2),
    ]


check_graph_filter = function_check(
    "graph_filter",
    reference=graph_filter,
    cases=_filter_cases,
    hint="start from z = x and add z @ h[0]; then K-1 times: z = S @ z (einsum "
    "'nm,bmg->bng') and add z @ h[k]; exactly K terms; add the bias",
    rtol=1e-4,
    atol=1e-4,
)


def _mse_cases() -> list[Case]:
    rng = np.random.default_rng(0)
    out = jnp.asarray(rng.normal(size=(4, 6, 1)), jnp.float32)
    return [
        Case("a batch of 4", (out, jnp.array([0, 5, 2, 2]), jnp.array([1.0, -1.0, 0.5, 2.0]))),
        Case("a batch of one sample", (out[:1], jnp.array([3]), jnp.array([0.7]))),
    ]


check_target_mse = function_check(
    "target_mse",
    reference=target_mse,
    cases=_mse_cases,
    hint="pick outputs[b, target[b], 0] for each b (e.g. outputs[jnp.arange(B), target, 0]), "
    "without squeezing away the batch axis",
)


def edge_sums(features: jax.Array, senders: jax.Array, receivers: jax.Array) -> jax.Array:
    """Edge features: the sum of each edge's two endpoint features (``[E, F]``)."""
    return features[senders] + features[receivers]


check_edge_sums = function_check(
    "edge_sums",
    reference=edge_sums,
    cases=lambda: [
        Case("the practical's toy graph", gnn_toy_args()),
        Case("a random directed graph", _random_directed(2, 6, 15)[:3]),
    ],
    hint="gather with features[senders] and features[receivers] and add them",
)


def gnn_toy_args() -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(features, senders, receivers)`` of :func:`toy_graph`."""
    return toy_graph()


def attention_weights(logits: jax.Array, receivers: jax.Array, num_nodes: int) -> jax.Array:
    """GAT weights: a softmax of the edge logits ``[E]`` over each receiver's incoming
    edges, so the weights into every node sum to one (``[E]``)."""
    weights: jax.Array = jraph.segment_softmax(logits, receivers, num_nodes)
    return weights


def _attention_cases() -> list[Case]:
    rng = np.random.default_rng(3)
    r = toy_graph()[2]
    e = 30
    recv = jnp.asarray(rng.integers(0, 7, e), jnp.int32)
    return [
        Case("the toy graph's receivers", (jnp.asarray([0.5, -1.0, 2.0, 0.0, 1.0]), r, 4)),
        Case("random logits", (jnp.asarray(rng.normal(size=e) * 3, jnp.float32), recv, 7)),
        Case(
            "large logits (subtract the max)",
            (jnp.asarray([500.0, 400.0, 1.0]), jnp.array([0, 0, 1]), 2),
        ),
    ]


check_attention_weights = function_check(
    "attention_weights",
    reference=attention_weights,
    cases=_attention_cases,
    hint="per receiver: exp(logit - max over its edges) / sum over its edges "
    "(jax.ops.segment_max and segment_sum over receivers, then gather back with [receivers])",
    rtol=1e-4,
    atol=1e-6,
)


# --- 1. graphs: networkx and GraphsTuple (Indaba tasks 1-3) ------------------------------

TASK_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (0, 2), (2, 3), (3, 0))


def task_graph() -> nx.Graph:
    """The Indaba practical's task-1 graph: undirected, nodes 0-3, edges 1-0, 0-2, 2-3, 3-0."""
    g = nx.Graph()
    g.add_nodes_from(range(4))
    g.add_edges_from(TASK_EDGES)
    return g


def _judge_task_graph(student: Any) -> str | None:
    if not callable(student):
        return f"expected a function, got {describe(student)}"
    g = student()
    if g is Ellipsis or g is None:
        raise NotAttempted
    if not isinstance(g, nx.Graph):
        return f"expected a networkx graph, got {type(g).__name__}"
    if g.is_directed():
        return "expected an undirected nx.Graph (jraph's both directions come later), got a DiGraph"
    if set(g.nodes) != {0, 1, 2, 3}:
        return f"expected nodes [0, 1, 2, 3], got {sorted(g.nodes)}"
    got = {frozenset(e) for e in g.edges}
    want = {frozenset(e) for e in TASK_EDGES}
    if got != want:
        missing = sorted(tuple(sorted(e)) for e in want - got)
        extra = sorted(tuple(sorted(e)) for e in got - want)
        return f"missing edges {missing}, extra edges {extra}"
    return None


check_task_graph = Checker(
    "task_graph",
    _judge_task_graph,
    task_graph,
    hint="g = nx.Graph(); g.add_edges_from([(1, 0), (0, 2), (2, 3), (3, 0)]); return g",
)


def networkx_to_jraph(g: nx.Graph, node_features: Any) -> jraph.GraphsTuple:
    """An undirected networkx graph (nodes ``0..N-1``) as a ``GraphsTuple``.

    Every undirected edge becomes two directed edges; the edge features are the sums of
    the endpoints' features (:func:`edge_sums`); ``n_node = [N]``, ``n_edge = [2M]``, no
    globals. ``node_features`` ``[N, F]``.
    """
    pairs = np.array(list(g.edges), np.int32).reshape(-1, 2)
    senders = np.concatenate([pairs[:, 0], pairs[:, 1]])
    receivers = np.concatenate([pairs[:, 1], pairs[:, 0]])
    x = jnp.asarray(node_features)
    return jraph.GraphsTuple(
        nodes=x,
        edges=edge_sums(x, jnp.asarray(senders), jnp.asarray(receivers)),
        senders=jnp.asarray(senders),
        receivers=jnp.asarray(receivers),
        n_node=jnp.array([g.number_of_nodes()]),
        n_edge=jnp.array([len(senders)]),
        globals=None,
    )


def _edge_table(graph: Any) -> dict[tuple[int, int], tuple[float, ...]]:
    feats = np.asarray(graph.edges, np.float64).reshape(len(np.asarray(graph.senders)), -1)
    table: dict[tuple[int, int], tuple[float, ...]] = {}
    for s, r, f in zip(
        np.asarray(graph.senders).tolist(), np.asarray(graph.receivers).tolist(), feats, strict=True
    ):
        table[(int(s), int(r))] = tuple(np.round(f, 4).tolist())
    return table


def _conversion_cases() -> list[Case]:
    rng = np.random.default_rng(4)
    g = nx.gnm_random_graph(7, 10, seed=4)
    return [
        Case("the task graph, features [0, 1, 2, 3]", (task_graph(), np.arange(4.0)[:, None])),
        Case("a random graph, two features", (g, rng.normal(size=(7, 2)).astype(np.float32))),
    ]


def _judge_networkx_to_jraph(student: Any) -> str | None:
    if not callable(student):
        return f"expected a function, got {describe(student)}"
    for case in _conversion_cases():
        want = networkx_to_jraph(*case.args)
        got = student(*case.args)
        if got is Ellipsis:
            raise NotAttempted
        if not isinstance(got, jraph.GraphsTuple):
            return f"on {case.label}: expected a jraph.GraphsTuple, got {type(got).__name__}"
        for field in ("nodes", "n_node", "n_edge"):
            why = mismatch(np.asarray(getattr(want, field)), getattr(got, field))
            if why is not None:
                return f"on {case.label}, {field}: {why}"
        if got.edges is None:
            return f"on {case.label}: edges is None (expected the endpoint sums)"
        if len(np.asarray(got.senders)) != len(np.asarray(want.senders)):
            return (
                f"on {case.label}: expected {len(np.asarray(want.senders))} directed edges "
                f"(both directions), got {len(np.asarray(got.senders))}"
            )
        want_t, got_t = _edge_table(want), _edge_table(got)
        if set(want_t) != set(got_t):
            missing = sorted(set(want_t) - set(got_t))[:4]
            return f"on {case.label}: directed edges missing, e.g. {missing}"
        wrong = [e for e in want_t if want_t[e] != got_t[e]]
        if wrong:
            e = wrong[0]
            return f"on {case.label}: edge {e} has feature {got_t[e]}, expected {want_t[e]}"
    return None


check_networkx_to_jraph = Checker(
    "networkx_to_jraph",
    _judge_networkx_to_jraph,
    networkx_to_jraph,
    hint="pairs = np.array(list(g.edges)); senders = concat(pairs[:, 0], pairs[:, 1]), "
    "receivers = concat(pairs[:, 1], pairs[:, 0]); edges = edge_sums(...); "
    "n_node = [N], n_edge = [len(senders)]",
)


def residual_update(
    nodes: jax.Array,
    sent_attributes: jax.Array,
    received_attributes: jax.Array,
    global_attributes: Any,
) -> jax.Array:
    """A custom ``update_node_fn`` for ``jraph.GraphNetwork``: own features plus the sum of
    the messages received (``[N, F]``); the sent messages and globals are not used."""
    del sent_attributes, global_attributes
    return nodes + received_attributes


def _update_cases() -> list[Case]:
    rng = np.random.default_rng(5)
    x, s, r = toy_graph()
    # what jraph.GraphNetwork hands the node update when each edge's message is its sender
    sent = jax.ops.segment_sum(x[s], s, 4)
    received = jax.ops.segment_sum(x[s], r, 4)
    n = 6

    def arr(*shape: int) -> jax.Array:
        return jnp.asarray(rng.normal(size=shape), jnp.float32)

    return [
        Case("the toy graph, messages = sender features", (x, sent, received, None)),
        Case("random features and messages", (arr(n, 3), arr(n, 3), arr(n, 3), arr(1, 2))),
    ]


check_residual_update = function_check(
    "residual_update",
    reference=residual_update,
    cases=_update_cases,
    hint="return nodes + received_attributes (the messages that came in, not those sent)",
)


# --- 2. deeper GCNs and attention (Indaba tasks 5 and 6) ---------------------------------


def gcn_stack(
    layers: Any, x: jax.Array, senders: jax.Array, receivers: jax.Array, num_nodes: int
) -> jax.Array:
    """``L`` GCN layers ``H <- gcn_aggregate(H W) + b`` with ReLU between layers (not after
    the last). ``layers``: ``[(W [F_in, F_out], b [F_out]), ...]``; ``x`` ``[N, F_0]``."""
    return _depth.gcn_stack(layers, x, senders, receivers, num_nodes)


def _stack_cases() -> list[Case]:
    rng = np.random.default_rng(6)

    def layers(*sizes: int) -> list[tuple[jax.Array, jax.Array]]:
        return [
            (
                jnp.asarray(rng.normal(size=(a, b)), jnp.float32),
                jnp.asarray(rng.normal(size=(b,)), jnp.float32),
            )
            for a, b in itertools.pairwise(sizes)
        ]

    x, s, r = toy_graph()
    rx, rs, rr, n = _random_directed(7, 9, 25, 3)
    return [
        Case("one layer on the toy graph", (layers(1, 2), x, s, r, 4)),
        Case("two layers on the toy graph", (layers(1, 4, 2), x, s, r, 4)),
        Case("four layers on a random directed graph", (layers(3, 5, 5, 4, 2), rx, rs, rr, n)),
    ]


check_gcn_stack = function_check(
    "gcn_stack",
    reference=gcn_stack,
    cases=_stack_cases,
    hint="for each (W, b): h = gcn_aggregate(h @ W, senders, receivers, num_nodes) + b, then "
    "jax.nn.relu(h) unless it is the last layer",
    rtol=1e-4,
    atol=1e-4,
)


def sender_attention(
    z: jax.Array, senders: jax.Array, receivers: jax.Array, num_nodes: int, a: jax.Array
) -> jax.Array:
    """GAT aggregation with logits from the **sender only** (Indaba task 6).

    The logit of edge ``s -> r`` is ``LeakyReLU(z[s] . a)`` (slope 0.2); the weights are a
    softmax over each receiver's incoming edges; the output is ``sum_s weight * z[s]``.
    ``z`` ``[N, F]``, ``a`` ``[F]`` -> ``[N, F]`` (a node without incoming edges gets 0).
    """
    logits = jax.nn.leaky_relu(z[senders] @ a, 0.2)
    weights = attention_weights(logits, receivers, num_nodes)
    return jax.ops.segment_sum(weights[:, None] * z[senders], receivers, num_nodes)


def _sender_attention_cases() -> list[Case]:
    rng = np.random.default_rng(8)
    x, s, r = toy_graph()
    z = jnp.concatenate([x, -0.5 * x + 1.0], axis=1)
    rz, rs, rr, n = _random_directed(9, 10, 30, 4)
    return [
        Case("the toy graph", (z, s, r, 4, jnp.array([0.3, -0.8]))),
        Case(
            "a random directed graph with an isolated node",
            (rz, rs, rr, n, jnp.asarray(rng.normal(size=4), jnp.float32)),
        ),
    ]


check_sender_attention = function_check(
    "sender_attention",
    reference=sender_attention,
    cases=_sender_attention_cases,
    hint="logits = jax.nn.leaky_relu(z[senders] @ a, 0.2); weights = attention_weights(logits, "
    "receivers, num_nodes); segment_sum of weights[:, None] * z[senders] over receivers",
    rtol=1e-4,
    atol=1e-5,
)


# --- 3. graph filters (the 2023 practical) -------------------------------------------------


def diffusion_sequence(x: jax.Array, shift: jax.Array, num_steps: int) -> jax.Array:
    """``[S^0 X, S^1 X, …, S^{K-1} X]`` stacked: ``[K, N, G]`` for ``x`` ``[N, G]``."""
    return _diffusion_sequence(x, shift, num_steps)


def _diffusion_cases() -> list[Case]:
    rng = np.random.default_rng(10)
    n = 6
    shift = jnp.asarray(rng.normal(size=(n, n)) / n, jnp.float32)  # not symmetric
    x = jnp.asarray(rng.normal(size=(n, 2)), jnp.float32)
    delta = jnp.zeros((5, 1)).at[0, 0].set(1.0)
    path = jnp.asarray(np.eye(5, k=1) + np.eye(5, k=-1), jnp.float32)
    return [
        Case("a delta on a path graph, K=4", (delta, path, 4)),
        Case("a non-symmetric S, K=3", (x, shift, 3)),
        Case("K=1 (only X itself)", (x, shift, 1)),
    ]


check_diffusion_sequence = function_check(
    "diffusion_sequence",
    reference=diffusion_sequence,
    cases=_diffusion_cases,
    hint="start from [x]; K-1 times append S @ (the last term); jnp.stack the K terms "
    "(S @ u, not S.T @ u or u @ S)",
    rtol=1e-4,
    atol=1e-5,
)


class GNNModule(hk.Module):
    """The 2023 practical's multi-layer GNN (its task 5), the reference answer.

    ``len(taps)`` graph filters; every one but the last is followed by ``activation``
    (graph perceptrons), the last is the linear readout. Layer ``l`` has ``taps[l]`` taps
    and ``features[l]`` output features.
    """

    def __init__(
        self,
        taps: Sequence[int],
        features: Sequence[int],
        activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.taps = tuple(taps)
        self.features = tuple(features)
        self.activation = activation

    def __call__(self, x: jax.Array, shift: jax.Array) -> jax.Array:
        """``x`` ``[B, N, G]``, ``shift`` ``[N, N]`` -> ``[B, N, features[-1]]``."""
        last = len(self.taps) - 1
        for i, (k, f) in enumerate(zip(self.taps, self.features, strict=True)):
            x = GraphFilter(k, f)(x, shift)
            if i < last:
                x = self.activation(x)
        return x


def _gnn_module_cases() -> list[tuple[str, tuple[int, ...], tuple[int, ...], Any, int]]:
    return [
        ("taps (3, 1), features (4, 1), ReLU", (3, 1), (4, 1), jax.nn.relu, 1),
        ("taps (2, 3, 1), features (5, 3, 2), tanh", (2, 3, 1), (5, 3, 2), jnp.tanh, 2),
        ("one layer: taps (4,), features (3,)", (4,), (3,), jax.nn.relu, 2),
    ]


def _judge_gnn_module(student: Any) -> str | None:
    if not (isinstance(student, type) and issubclass(student, hk.Module)):
        return f"expected a subclass of hk.Module, got {describe(student)}"
    rng = np.random.default_rng(11)
    module: Any = student
    n = 6
    shift = jnp.asarray(rng.normal(size=(n, n)) / n, jnp.float32)
    for label, taps, feats, act, g in _gnn_module_cases():
        x = jnp.asarray(rng.normal(size=(2, n, g)), jnp.float32)

        def forward(x: jax.Array, s: jax.Array, t: Any = taps, f: Any = feats, a: Any = act) -> Any:
            return module(t, f, a)(x, s)

        net: Any = hk.without_apply_rng(hk.transform(forward))
        params = net.init(jax.random.key(0), x, shift)
        wanted, g_in = [], g
        for k, f in zip(taps, feats, strict=True):
            wanted.append((k, g_in, f))
            g_in = f
        by_shape: dict[tuple[int, ...], Any] = {}
        for name, p in params.items():
            if set(p) != {"h", "b"}:
                return (
                    f"for {label}: module {name!r} has parameters {sorted(p)}; build each layer "
                    "from a graph filter (FilterModule or gnn.GraphFilter: h and b)"
                )
            by_shape[tuple(np.shape(p["h"]))] = name
        if sorted(by_shape) != sorted(wanted) or len(params) != len(taps):
            got_shapes = [tuple(np.shape(p["h"])) for p in params.values()]
            return f"for {label}: expected filters h of shapes {wanted}, got {got_shapes}"
        chosen = {
            by_shape[w]: {
                "h": jnp.asarray(rng.normal(size=w), jnp.float32),
                "b": jnp.asarray(rng.normal(size=(w[2],)), jnp.float32),
            }
            for w in wanted
        }
        expected = x
        for i, w in enumerate(wanted):
            p = chosen[by_shape[w]]
            expected = graph_filter(expected, shift, p["h"], p["b"])
            if i < len(wanted) - 1:
                expected = act(expected)
        got = net.apply(chosen, x, shift)
        if (why := mismatch(np.asarray(expected), got, rtol=1e-4, atol=1e-4)) is not None:
            return f"for {label} with given filter coefficients: {why}"
    return None


check_gnn_module = Checker(
    "GNNModule",
    _judge_gnn_module,
    GNNModule,
    hint="for each layer i: x = FilterModule(taps[i], features[i])(x, S); apply "
    "self.activation after every layer except the last (the readout)",
)


def train_epochs(
    params: Any,
    loss_fn: Callable[[Any, Any], jax.Array],
    optimizer: optax.GradientTransformation,
    data: Any,
    *,
    epochs: int,
    batch_size: int,
    key: jax.Array,
) -> tuple[Any, list[float]]:
    """The minibatch training loop (the 2023 practical's task 4): see :mod:`khipu.gnn.loop`."""
    return _loop.train_epochs(
        params, loss_fn, optimizer, data, epochs=epochs, batch_size=batch_size, key=key
    )


def _regression_loss(params: Any, batch: Any) -> jax.Array:
    pred = batch["x"] @ params["w"] + params["b"]
    return jnp.mean((pred - batch["y"]) ** 2)


def _train_cases() -> list[Case]:
    rng = np.random.default_rng(12)
    x = rng.normal(size=(10, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3).astype(np.float32)
    data = {"x": x, "y": y}
    start = {"w": jnp.zeros((3,), jnp.float32), "b": jnp.zeros((), jnp.float32)}

    def case(label: str, opt: Any, epochs: int, batch: int, seed: int) -> Case:
        kwargs = {"epochs": epochs, "batch_size": batch, "key": jax.random.key(seed)}
        return Case(label, (start, _regression_loss, opt, data), kwargs)

    return [
        case("adam(0.1), 3 epochs of 2 batches of 4 (2 left over)", optax.adam(0.1), 3, 4, 0),
        case("sgd(0.05), 2 epochs, batches of 5", optax.sgd(0.05), 2, 5, 1),
        case("adam(0.05), one batch of all 10 samples, 3 epochs", optax.adam(0.05), 3, 10, 2),
    ]


check_train_epochs = function_check(
    "train_epochs",
    reference=train_epochs,
    cases=_train_cases,
    hint="opt_state = optimizer.init(params) once; per epoch: key, sub = jax.random.split(key), "
    "order = jax.random.permutation(sub, n), full batches order[i:i+batch_size]; per batch: "
    "value_and_grad, optimizer.update(grads, opt_state, params), optax.apply_updates",
    rtol=1e-4,
    atol=1e-5,
)


# --- 4. graph classification and link prediction -------------------------------------------


def mean_readout(nodes: jax.Array, n_node: jax.Array) -> jax.Array:
    """Mean of each graph's node features: ``[N, F]`` and ``n_node`` ``[G]`` -> ``[G, F]``.

    Nodes are listed graph after graph; a graph with no nodes (padding) gets zeros.
    """
    return readout(nodes, n_node, "mean")


def _readout_cases() -> list[Case]:
    rng = np.random.default_rng(13)
    x = jnp.asarray(rng.normal(size=(9, 2)), jnp.float32)
    return [
        Case("three graphs of 2, 3 and 4 nodes", (x, jnp.array([2, 3, 4]))),
        Case("one graph", (x[:5], jnp.array([5]))),
        Case("a padded batch with an empty graph", (x, jnp.array([4, 0, 3, 2]))),
    ]


check_mean_readout = function_check(
    "mean_readout",
    reference=mean_readout,
    cases=_readout_cases,
    hint="graph index of each node: jnp.repeat(jnp.arange(G), n_node, total_repeat_length=N); "
    "segment_sum of the nodes and divide by jnp.maximum(n_node, 1)",
    rtol=1e-5,
    atol=1e-6,
)


def link_loss(z: jax.Array, positives: jax.Array, key: jax.Array) -> jax.Array:
    """Binary cross-entropy of the dot-product link scores: edges vs random pairs.

    ``negatives = jax.random.randint(key, positives.shape, 0, N)`` (as many random pairs as
    edges); the score of a pair ``(u, v)`` is ``z[u] . z[v]``; labels 1 for the edges, 0
    for the random pairs; the mean of ``optax.sigmoid_binary_cross_entropy`` over all 2P.
    ``z`` ``[N, F]``, ``positives`` ``[P, 2]`` -> scalar.
    """
    negatives = negative_pairs(key, z.shape[0], positives.shape[0])
    logits = jnp.concatenate([dot_scores(z, positives), dot_scores(z, negatives)])
    labels = jnp.concatenate([jnp.ones(positives.shape[0]), jnp.zeros(positives.shape[0])])
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels))


def _link_cases() -> list[Case]:
    rng = np.random.default_rng(14)
    z = jnp.asarray(rng.normal(size=(12, 4)), jnp.float32)
    pos = jnp.asarray(rng.integers(0, 12, size=(7, 2)), jnp.int32)
    return [
        Case("7 edges, key 0", (z, pos, jax.random.key(0))),
        Case("the same edges, key 1 (new negatives)", (z, pos, jax.random.key(1))),
        Case("one edge", (z[:5], pos[:1] % 5, jax.random.key(2))),
    ]


check_link_loss = function_check(
    "link_loss",
    reference=link_loss,
    cases=_link_cases,
    hint="negatives = jax.random.randint(key, positives.shape, 0, z.shape[0]); score = "
    "jnp.sum(z[p[:, 0]] * z[p[:, 1]], -1); labels ones then zeros; mean of "
    "optax.sigmoid_binary_cross_entropy",
    rtol=1e-4,
    atol=1e-5,
)


# --- quizzes -----------------------------------------------------------------------------

quiz_neighbour_sum = choice_check(
    "neighbour_sum",
    "With A[s, r] = 1 for every edge s -> r (row = sender) and node features X [N, F], "
    "which product gives each node the sum of its in-neighbours' features?",
    ["A X", "Aᵀ X", "X A", "D⁻¹ A X"],
    "b",
    "(Aᵀ X)[r] = Σ_s A[s, r] X[s] sums over the senders s of edges into r. A X would sum "
    "over the nodes r points to (out-neighbours); the two agree only when A is symmetric.",
)

quiz_locality = choice_check(
    "locality",
    "U_k = S^k X is the k-th term of the diffusion sequence. Which nodes' input values can "
    "change U_k at node i?",
    [
        "every node of the graph",
        "only node i's direct neighbours",
        "the nodes within k hops of node i",
        "exactly the nodes at distance k from node i",
    ],
    "c",
    "Each multiplication by S moves information one hop, so S^k mixes paths of length k; "
    "with self-loops (or the sum over k = 0 .. K-1 in a filter) shorter paths count too — a "
    "K-tap filter is local to (K-1)-hop neighbourhoods.",
)

quiz_stacked_filters = choice_check(
    "stacked_filters",
    "Two graph filters of 3 taps each are applied one after the other, with no "
    "nonlinearity in between. What is the result?",
    [
        "a 2-layer GNN, more expressive than any single filter",
        "a single graph filter with 5 taps (a polynomial of degree 4 in S)",
        "a single graph filter with 3 taps",
        "a graph perceptron",
    ],
    "b",
    "A product of two polynomials of degree 2 in S is a polynomial of degree 4: linear "
    "filters compose into one bigger linear filter. The pointwise nonlinearity of the graph "
    "perceptron is what makes depth add expressive power.",
)

quiz_oversmoothing = choice_check(
    "oversmoothing",
    "A GCN with symmetric normalisation and self-edges is made 30 layers deep on a "
    "connected graph. What happens to the node features?",
    [
        "they become proportional to one common vector, so nodes are hard to tell apart",
        "they explode to infinity",
        "they stay as different as the input features",
        "they become exactly the input features again",
    ],
    "a",
    "Repeated averaging converges to the dominant eigenvector of the normalised adjacency "
    "(∝ sqrt(degree)): every node's features point the same way (over-smoothing). Residual "
    "connections, fewer layers or jumping-knowledge read-outs counter it.",
)

quiz_sender_attention = choice_check(
    "sender_attention",
    "With attention logits computed from the sender only, LeakyReLU(a · W h_s), how do two "
    "nodes that share neighbours u and v weight them?",
    [
        "each node can weight u and v in its own way",
        "both put more weight on the same one of u and v (one global ranking of senders)",
        "both weight u and v equally",
        "the weights no longer sum to one",
    ],
    "b",
    "The logit of u is the same whatever the receiver, so every receiver ranks its neighbours "
    "in one global order (only the softmax's normaliser differs). This is the 'static "
    "attention' limitation that GATv2 addresses; the weights still sum to one per receiver.",
)

quiz_mean_readout = choice_check(
    "mean_readout",
    "All node features are the constant 1 (as in the trees-vs-cycles data). Which read-out "
    "can tell a graph of 6 nodes from one of 12 nodes, with no message passing before it?",
    ["mean", "max", "sum", "none of them"],
    "c",
    "Mean and max of a constant are the same constant; only the sum counts the nodes. "
    "Permutation-invariant read-outs differ in what they can distinguish — sum is the most "
    "expressive of the three (as in GIN).",
)

quiz_negative_key = choice_check(
    "negative_key",
    "The Indaba link-prediction code drew its training negatives with the same PRNG key in "
    "every epoch. What does the model see?",
    [
        "fresh random negatives every epoch",
        "the same negative pairs every epoch, so it can learn to reject just those",
        "no negatives at all",
        "the test edges as negatives",
    ],
    "b",
    "A JAX key is a value, not a stateful generator: the same key gives the same pairs. "
    "Split a new key per step (khipu-core's fit() does) so the negatives cover many non-edges.",
)
