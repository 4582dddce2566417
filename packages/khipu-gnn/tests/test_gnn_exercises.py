"""Each checker passes the reference and rejects plausible wrong answers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from khipu.gnn import exercises as ex
from khipu.gnn.graphs import edge_normalization
from khipu.gnn.layers import propagate


def verdict(checker, answer):
    return checker.evaluate(answer).status


def test_references_pass_and_stubs_are_not_attempted():
    for checker, ref in (
        (ex.check_mean_aggregate, ex.mean_aggregate),
        (ex.check_gcn_aggregate, ex.gcn_aggregate),
        (ex.check_graph_filter, ex.graph_filter),
        (ex.check_target_mse, ex.target_mse),
        (ex.check_edge_sums, ex.edge_sums),
        (ex.check_attention_weights, ex.attention_weights),
    ):
        assert verdict(checker, ref) == "passed"

        def stub(*args):
            raise NotImplementedError

        assert verdict(checker, stub) == "not_attempted"


def test_mean_aggregate_rejects_sum_and_out_degree():
    def plain_sum(x, s, r, n):
        return propagate(x, s, r, n)

    def by_out_degree(x, s, r, n):
        deg = jnp.maximum(jax.ops.segment_sum(jnp.ones(s.shape), s, n), 1.0)
        return propagate(x, s, r, n) / deg[:, None]

    assert verdict(ex.check_mean_aggregate, plain_sum) == "failed"
    assert verdict(ex.check_mean_aggregate, by_out_degree) == "failed"


def test_gcn_aggregate_rejects_missing_self_edges_and_random_walk():
    def no_self_edges(x, s, r, n):
        return propagate(x, s, r, n, edge_normalization(s, r, n, "symmetric"))

    def random_walk(x, s, r, n):
        idx = jnp.arange(n)
        s, r = jnp.concatenate([s, idx]), jnp.concatenate([r, idx])
        return propagate(x, s, r, n, edge_normalization(s, r, n, "random_walk"))

    def in_degree_both_ends(x, s, r, n):
        idx = jnp.arange(n)
        s, r = jnp.concatenate([s, idx]), jnp.concatenate([r, idx])
        deg = jax.ops.segment_sum(jnp.ones(r.shape), r, n)
        return propagate(x, s, r, n, jax.lax.rsqrt(deg[s] * deg[r]))

    for wrong in (no_self_edges, random_walk, in_degree_both_ends):
        assert verdict(ex.check_gcn_aggregate, wrong) == "failed", wrong.__name__


def test_graph_filter_rejects_k_plus_one_taps_right_multiplication_and_no_bias():
    def original_k_plus_one(x, s, h, b):  # the original loop: range(K+1), index clamped
        z, out = x, 0.0
        for k in range(h.shape[0] + 1):
            out = out + z @ h[min(k, h.shape[0] - 1)]
            z = jnp.einsum("nm,bmg->bng", s, z)
        return out + b

    def right_multiplied(x, s, h, b):  # x S instead of S x
        z, out = x, x @ h[0]
        for k in range(1, h.shape[0]):
            z = jnp.einsum("bmg,mn->bng", z, s)
            out = out + z @ h[k]
        return out + b

    def without_bias(x, s, h, b):
        return ex.graph_filter(x, s, h, jnp.zeros_like(b))

    for wrong in (original_k_plus_one, right_multiplied, without_bias):
        assert verdict(ex.check_graph_filter, wrong) == "failed", wrong.__name__


def test_target_mse_rejects_all_items_and_the_squeeze_bug():
    def all_items(out, target, y):
        return jnp.mean((out[..., 0] - y[:, None]) ** 2)

    def squeezed(out, target, y):  # the original: breaks for a batch of one
        o = jnp.squeeze(out)
        return jnp.mean((o[jnp.arange(o.shape[0]), target] - y) ** 2)

    assert verdict(ex.check_target_mse, all_items) == "failed"
    assert verdict(ex.check_target_mse, squeezed) == "failed"


def test_edge_sums_rejects_sender_only_and_products():
    assert verdict(ex.check_edge_sums, lambda x, s, r: x[s]) == "failed"
    assert verdict(ex.check_edge_sums, lambda x, s, r: x[s] * x[r]) == "failed"


def test_attention_weights_rejects_global_softmax_and_unstable_exp():
    def global_softmax(logits, r, n):
        return jax.nn.softmax(logits)

    def per_sender_shape_mistake(logits, r, n):  # normalised over the first n edges' slots
        return jnp.exp(logits) / jax.ops.segment_sum(jnp.exp(logits), r, n)[r]

    assert verdict(ex.check_attention_weights, global_softmax) == "failed"
    assert verdict(ex.check_attention_weights, per_sender_shape_mistake) == "failed"
