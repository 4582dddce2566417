"""Layers against independent computations: dense matrices, jraph, explicit loops."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.gnn import graphs as gr, layers as ly


def random_graph(seed: int, n: int = 10, f: int = 4, p: float = 0.3) -> jraph.GraphsTuple:
    rng = np.random.default_rng(seed)
    a = np.triu(rng.random((n, n)) < p, 1)
    s, r = np.nonzero(a)
    x = rng.normal(size=(n, f)).astype(np.float32)
    return gr.from_edge_list(s, r, num_nodes=n, node_features=x, undirected=True)


def linear_w(params):
    return params[next(k for k in params if k.endswith("linear"))]["w"]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("mode", ["symmetric", "random_walk"])
def test_gcn_equals_dense_normalized_adjacency(seed, mode):
    g = random_graph(seed, n=9 + seed)
    net = hk.without_apply_rng(
        hk.transform(lambda g: ly.GCNLayer(5, normalization=mode, with_bias=False)(g).nodes)
    )
    params = net.init(jax.random.key(seed), g)
    w = np.asarray(linear_w(params))
    m = gr.normalized_adjacency(gr.to_adjacency(g), mode)  # rows: senders
    expected = m.T @ g.nodes @ w  # D^-1/2 (A+I) D^-1/2 X W
    np.testing.assert_allclose(np.asarray(net.apply(params, g)), expected, rtol=1e-4, atol=1e-5)


def test_gcn_without_self_edges_uses_only_neighbours():
    g = random_graph(3)
    net = hk.without_apply_rng(
        hk.transform(lambda g: ly.GCNLayer(2, self_edges=False, with_bias=False)(g).nodes)
    )
    params = net.init(jax.random.key(0), g)
    w = np.asarray(linear_w(params))
    m = gr.normalized_adjacency(gr.to_adjacency(g), "symmetric", self_edges=False)
    np.testing.assert_allclose(np.asarray(net.apply(params, g)), m.T @ g.nodes @ w, atol=1e-5)


def test_gcn_equals_jraph_graph_convolution():
    g = jax.tree.map(jnp.asarray, random_graph(4, n=12))

    def ours(g):
        return ly.GCNLayer(6, with_bias=False)(g).nodes

    net = hk.without_apply_rng(hk.transform(ours))
    params = net.init(jax.random.key(0), g)
    w = linear_w(params)
    ref = jraph.GraphConvolution(
        update_node_fn=lambda x: x @ w, add_self_edges=True, symmetric_normalization=True
    )(g).nodes
    np.testing.assert_allclose(np.asarray(net.apply(params, g)), np.asarray(ref), atol=1e-5)


def test_gat_matches_a_plain_loop_and_weights_sum_to_one():
    g = random_graph(5, n=8, f=3)
    heads, f = 3, 4

    def fwd(g):
        layer = ly.GATLayer(f, num_heads=heads)
        return layer(g).nodes, layer.attention(g)[2]

    net = hk.without_apply_rng(hk.transform(fwd))
    params = net.init(jax.random.key(1), g)
    out, weights = (np.asarray(v) for v in net.apply(params, g))
    p = params["gat_layer"]
    w = np.asarray(linear_w(params))
    n = 8
    a = gr.to_adjacency(g) + np.eye(n)
    z = (g.nodes @ w).reshape(n, heads, f)
    expected = np.zeros((n, heads, f))
    for r in range(n):
        nbrs = np.nonzero(a[:, r])[0]
        for h in range(heads):
            e = np.array(
                [
                    z[s, h] @ np.asarray(p["attention_sender"])[h]
                    + z[r, h] @ np.asarray(p["attention_receiver"])[h]
                    for s in nbrs
                ]
            )
            e = np.where(e > 0, e, 0.2 * e)
            alpha = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
            expected[r, h] = (alpha[:, None] * z[nbrs, h]).sum(0)
    np.testing.assert_allclose(out, expected.reshape(n, -1), rtol=1e-4, atol=1e-5)
    s_all = gr.add_self_edges(g)
    sums = jax.ops.segment_sum(jnp.asarray(weights), jnp.asarray(s_all.receivers), n)
    np.testing.assert_allclose(np.asarray(sums), 1.0, rtol=1e-5)


def test_graph_network_uses_neighbour_features():
    # two components: 0-1-2 and 3-4; changing node 0 changes node 1's output, not node 3's.
    x = np.arange(5, dtype=np.float32)[:, None]
    g = gr.from_edge_list([0, 1, 3], [1, 2, 4], node_features=x, undirected=True)
    net = hk.without_apply_rng(hk.transform(lambda g: ly.GraphNetworkBlock(16)(g).nodes))
    params = jax.jit(net.init)(jax.random.key(0), g)
    apply = jax.jit(net.apply)
    base = np.asarray(apply(params, g))
    changed = np.asarray(apply(params, g._replace(nodes=x + np.eye(5, 1, 0, np.float32) * 3)))
    assert np.abs(changed[1] - base[1]).max() > 1e-4
    np.testing.assert_allclose(changed[3:], base[3:], atol=1e-6)


def test_padded_and_unpadded_batches_give_the_same_per_graph_results():
    gs = [random_graph(s, n=n) for s, n in ((0, 5), (1, 9), (2, 3))]
    batch = gr.batch_graphs(gs)

    def fwd(g):
        g = ly.GraphNetworkBlock(8)(g._replace(nodes=hk.Linear(8)(g.nodes)))
        pooled = [ly.readout(g.nodes, g.n_node, kind) for kind in ("sum", "mean", "max")]
        return jnp.concatenate(pooled, axis=-1), g.globals

    net = hk.without_apply_rng(hk.transform(fwd))
    params = jax.jit(net.init)(jax.random.key(0), batch)
    apply = jax.jit(net.apply)
    pooled, glob = apply(params, batch)
    padded = gr.pad_to_power_of_two(batch)
    garbage = padded._replace(
        nodes=np.where(np.asarray(gr.node_mask(padded))[:, None], padded.nodes, 100.0)
    )
    pooled_p, glob_p = apply(params, garbage)
    np.testing.assert_allclose(np.asarray(pooled_p[:3]), np.asarray(pooled), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(glob_p[:3]), np.asarray(glob), rtol=1e-4, atol=1e-4)
    arrays = jax.tree.map(jnp.asarray, gr.graphs_to_arrays(gs))
    pooled_a, _ = apply(params, gr.arrays_to_graph(arrays))
    np.testing.assert_allclose(np.asarray(pooled_a[::2]), np.asarray(pooled), rtol=1e-4, atol=1e-4)


def test_readout_reference_values_and_empty_graphs():
    nodes = jnp.array([[1.0], [3.0], [-2.0], [5.0]])
    n_node = jnp.array([2, 0, 2])
    np.testing.assert_allclose(np.asarray(ly.readout(nodes, n_node, "sum")), [[4.0], [0.0], [3.0]])
    np.testing.assert_allclose(np.asarray(ly.readout(nodes, n_node, "mean")), [[2.0], [0.0], [1.5]])
    np.testing.assert_allclose(np.asarray(ly.readout(nodes, n_node, "max")), [[3.0], [0.0], [5.0]])
    with pytest.raises(KhipuError, match="readout"):
        ly.readout(nodes, n_node, "median")


@pytest.mark.parametrize("k", [1, 2, 5])
def test_graph_filter_is_the_explicit_sum_of_exactly_k_powers(k):
    rng = np.random.default_rng(k)
    n, g, f = 7, 3, 2
    s = rng.normal(size=(n, n))  # not symmetric: S^k X, not X S^k
    x = rng.normal(size=(4, n, g))
    h = rng.normal(size=(k, g, f))
    b = rng.normal(size=(f,))
    expected = sum(np.linalg.matrix_power(s, i) @ x @ h[i] for i in range(k)) + b
    got = ly.graph_filter(jnp.asarray(x), jnp.asarray(s), jnp.asarray(h), jnp.asarray(b))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-4)


def test_filter_gnn_shapes_and_one_layer():
    x = jnp.ones((2, 6, 1))
    s = jnp.eye(6)
    for taps, feats in (((5, 5, 1), (16, 8, 1)), ((3,), (1,))):
        net = hk.without_apply_rng(
            hk.transform(lambda x, s, t=taps, f=feats: ly.FilterGNN(t, f)(x, s))
        )
        params = net.init(jax.random.key(0), x, s)
        assert net.apply(params, x, s).shape == (2, 6, 1)
        assert params[next(k for k in params if k.endswith("readout"))]["h"].shape[0] == taps[-1]
    with pytest.raises(KhipuError, match="equal length"):
        hk.transform(lambda: ly.FilterGNN((5, 1), (8,))).init(None)
