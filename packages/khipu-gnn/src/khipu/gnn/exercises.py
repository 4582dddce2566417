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

from typing import Any

import jax
import jax.numpy as jnp
import jraph
import numpy as np
from khipu.core import Case, function_check
from khipu.gnn.graphs import degrees, edge_normalization
from khipu.gnn.layers import graph_filter as _graph_filter, propagate
from khipu.gnn.ratings import target_mse as _target_mse

__all__ = [
    "attention_weights",
    "check_attention_weights",
    "check_edge_sums",
    "check_gcn_aggregate",
    "check_graph_filter",
    "check_mean_aggregate",
    "check_target_mse",
    "edge_sums",
    "gcn_aggregate",
    "graph_filter",
    "mean_aggregate",
    "target_mse",
    "toy_graph",
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
    """``D^-1 A X``: each node's mean over the senders of its incoming edges.

    The degree is the **in-degree** (edges received); a node without incoming edges gets 0.
    ``features`` ``[N, F]``, ``senders``/``receivers`` ``[E]`` -> ``[N, F]``.
    """
    total = propagate(features, senders, receivers, num_nodes)
    deg = jnp.maximum(degrees(receivers, num_nodes), 1.0)
    return total / deg[:, None]


def gcn_aggregate(
    features: jax.Array, senders: jax.Array, receivers: jax.Array, num_nodes: int
) -> jax.Array:
    """``D^-1/2 (A + I) D^-1/2 X``: add one self-edge per node, then scale each message by
    ``1 / sqrt(deg_out(sender) * deg_in(receiver))`` (degrees counted with the self-edges)
    and sum over receivers. ``[N, F]`` -> ``[N, F]``."""
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
