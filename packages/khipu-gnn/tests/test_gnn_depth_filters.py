"""Issue 16's lesson pieces against independent computations: the notation of the
aggregations (row = sender: ``Aᵀ X``, ``D_in⁻¹ Aᵀ X``, ``D_in^-½ Âᵀ D_out^-½ X``), the
diffusion sequence, over-smoothing and the depth sweep, sender-only attention, the
training loop's errors and the lesson's figures; the quizzes' answers, computed."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from khipu.core import KhipuError
from khipu.gnn import depth, exercises as ex, loop, plots
from khipu.gnn.graphs import from_edge_list, to_adjacency
from khipu.gnn.layers import GATLayer, diffusion_sequence, graph_filter, propagate, readout
from khipu.gnn.nodes import karate_club


def _directed(seed=0, n=7, e=18):
    rng = np.random.default_rng(seed)
    s, r = rng.integers(0, n, e), rng.integers(0, n, e)
    keep = s != r
    pairs = np.unique(np.stack([s[keep], r[keep]], 1), axis=0)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32), n


def _dense(s, r, n):
    return to_adjacency(from_edge_list(s, r, num_nodes=n)).astype(np.float64)


# --- notation: row = sender --------------------------------------------------------------


def test_neighbour_sum_is_a_transpose_x():  # quiz_neighbour_sum's answer
    x, s, r, n = _directed()
    a = _dense(s, r, n)
    assert not np.allclose(a, a.T)
    got = np.asarray(propagate(jnp.asarray(x), jnp.asarray(s), jnp.asarray(r), n))
    np.testing.assert_allclose(got, a.T @ x, rtol=1e-5, atol=1e-5)
    assert not np.allclose(got, a @ x, atol=1e-3)
    assert ex.quiz_neighbour_sum.options[ex.quiz_neighbour_sum.answer] == "Aᵀ X"


def test_mean_aggregate_is_d_in_inverse_a_transpose_x():
    x, s, r, n = _directed(1)
    a = _dense(s, r, n)
    d_in = np.maximum(a.sum(0), 1.0)
    got = np.asarray(ex.mean_aggregate(jnp.asarray(x), jnp.asarray(s), jnp.asarray(r), n))
    np.testing.assert_allclose(got, np.diag(1 / d_in) @ a.T @ x, rtol=1e-5, atol=1e-5)


def test_gcn_aggregate_uses_in_and_out_degrees_of_a_plus_i():
    x, s, r, n = _directed(2)
    a_hat = _dense(s, r, n) + np.eye(n)
    d_in, d_out = a_hat.sum(0), a_hat.sum(1)
    assert not np.allclose(d_in, d_out)
    expected = np.diag(d_in**-0.5) @ a_hat.T @ np.diag(d_out**-0.5) @ x
    got = np.asarray(ex.gcn_aggregate(jnp.asarray(x), jnp.asarray(s), jnp.asarray(r), n))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # the formula written with one degree matrix on both sides is a different operator
    one_degree = np.diag(d_in**-0.5) @ a_hat.T @ np.diag(d_in**-0.5) @ x
    assert not np.allclose(got, one_degree, atol=1e-3)


def test_gcn_stack_equals_the_dense_formula_layer_by_layer():
    x, s, r, n = _directed(3)
    a_hat = _dense(s, r, n) + np.eye(n)
    m = np.diag(a_hat.sum(0) ** -0.5) @ a_hat.T @ np.diag(a_hat.sum(1) ** -0.5)
    layers = depth.init_gcn_layers(jax.random.key(0), [3, 4, 2])
    layers = [(w, b + 0.1) for w, b in layers]
    (w1, b1), (w2, b2) = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in layers]
    expected = m @ np.maximum(m @ x @ w1 + b1, 0.0) @ w2 + b2
    got = depth.gcn_stack(layers, jnp.asarray(x), jnp.asarray(s), jnp.asarray(r), n)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-5)


# --- diffusion and graph filters --------------------------------------------------------


def test_diffusion_sequence_with_batch_axes_and_locality():
    rng = np.random.default_rng(4)
    path = np.eye(6, k=1) + np.eye(6, k=-1)
    x = rng.normal(size=(2, 6, 3))
    seq = np.asarray(diffusion_sequence(jnp.asarray(x), jnp.asarray(path), 4))
    assert seq.shape == (4, 2, 6, 3)
    for k in range(4):
        np.testing.assert_allclose(
            seq[k], np.linalg.matrix_power(path, k) @ x, rtol=1e-4, atol=1e-5
        )
    delta = np.zeros((6, 1))
    delta[0] = 1.0
    support = [np.flatnonzero(v[:, 0]) for v in np.asarray(diffusion_sequence(delta, path, 4))]
    assert all(set(sup) <= set(range(k + 1)) for k, sup in enumerate(support))  # k hops
    assert max(support[3]) == 3
    with pytest.raises(KhipuError, match="at least one term"):
        diffusion_sequence(jnp.asarray(x), jnp.asarray(path), 0)


def test_two_stacked_three_tap_filters_are_one_five_tap_filter():  # quiz_stacked_filters
    rng = np.random.default_rng(5)
    s = jnp.asarray(rng.normal(size=(6, 6)) / 3, jnp.float32)
    x = jnp.asarray(rng.normal(size=(1, 6, 1)), jnp.float32)
    h1, h2 = rng.normal(size=3), rng.normal(size=3)
    zero = jnp.zeros(1)
    twice = graph_filter(graph_filter(x, s, jnp.asarray(h1).reshape(3, 1, 1), zero), s,
                         jnp.asarray(h2).reshape(3, 1, 1), zero)  # fmt: skip
    h = np.convolve(h1, h2)  # product of the two polynomials in S
    once = graph_filter(x, s, jnp.asarray(h, jnp.float32).reshape(5, 1, 1), zero)
    np.testing.assert_allclose(np.asarray(twice), np.asarray(once), rtol=1e-4, atol=1e-5)
    assert ex.quiz_stacked_filters.answer == "b"


def test_only_the_sum_readout_counts_constant_nodes():  # quiz_mean_readout
    x = jnp.ones((18, 1))
    n_node = jnp.array([6, 12])
    for kind in ("mean", "max"):
        pooled = np.asarray(readout(x, n_node, kind))
        assert pooled[0, 0] == pooled[1, 0]
    assert np.asarray(readout(x, n_node, "sum")).ravel().tolist() == [6.0, 12.0]
    assert ex.quiz_mean_readout.options[ex.quiz_mean_readout.answer] == "sum"


# --- over-smoothing -----------------------------------------------------------------------


def test_feature_spread_one_hot_and_aligned_rows():
    n = 10
    assert float(depth.feature_spread(jnp.eye(n))) == pytest.approx(1 - 1 / n, rel=1e-5)
    aligned = jnp.outer(jnp.arange(1.0, 6.0), jnp.array([1.0, -2.0, 0.5]))
    assert float(depth.feature_spread(aligned)) == pytest.approx(0.0, abs=1e-6)


def test_propagation_over_smooths_towards_one_direction():  # quiz_oversmoothing
    task = karate_club()
    spread = depth.propagation_spread(task.graph, task.graph.nodes, 40)
    assert spread[0] == pytest.approx(1 - 1 / 34, rel=1e-4)
    assert np.all(np.diff(spread) < 0) and spread[-1] < 0.05
    # the features become (nearly) rank one: proportional to a common vector
    h = jnp.asarray(task.graph.nodes)
    s, r = jnp.asarray(task.graph.senders), jnp.asarray(task.graph.receivers)
    for _ in range(60):
        h = depth.symmetric_gcn_aggregate(h, s, r, 34)
    sv = np.linalg.svd(np.asarray(h, np.float64), compute_uv=False)
    assert sv[1] / sv[0] < 0.05


def test_depth_sweep_trains_the_given_stack():
    task = karate_club()
    calls = []

    def counting_stack(layers, x, s, r, n):
        calls.append(len(layers))
        return depth.gcn_stack(layers, x, s, r, n)

    sweep = depth.depth_sweep(task, [1, 2], stack=counting_stack, steps=40, seeds=(0, 1))
    assert sweep.accuracy.shape == (2, 2) and sweep.spread.shape == (2, 2)
    assert {1, 2} <= set(calls)  # the student's function is what gets trained
    assert sweep.accuracy[1].mean() >= 0.8  # two layers learn the clubs from two labels
    assert np.all((sweep.spread >= 0) & (sweep.spread <= 1.0 + 1e-6))
    with pytest.raises(KhipuError, match="depths"):
        depth.depth_sweep(task, [0])


def test_train_node_net_lowers_the_loss_and_fits_the_labels():
    task = karate_club()
    layers = depth.init_gcn_layers(jax.random.key(1), [34, 8, 2])

    def forward(p, graph):
        return depth.gcn_stack(p, graph.nodes, graph.senders, graph.receivers, 34)

    _, losses, pred = depth.train_node_net(forward, layers, task, steps=30)
    assert losses.shape == (30,) and losses[-1] < losses[0]
    assert pred[0] == task.labels[0] and pred[33] == task.labels[33]


# --- sender-only attention -------------------------------------------------------------------


def test_sender_only_attention_ranks_senders_the_same_for_every_receiver():
    x = np.random.default_rng(6).normal(size=(5, 3)).astype(np.float32)
    s = np.array([0, 1, 0, 1], np.int32)  # nodes 0 and 1 both send to 2 and 3
    r = np.array([2, 2, 3, 3], np.int32)
    graph = from_edge_list(s, r, num_nodes=5, node_features=x)

    def weights(attention):
        def f(g):
            return GATLayer(4, attention=attention, self_edges=False).attention(g)[2]

        net = hk.without_apply_rng(hk.transform(f))
        params = net.init(jax.random.key(0), graph)
        return params, np.asarray(net.apply(params, graph))[:, 0]

    params, w = weights("sender")
    assert not any("attention_receiver" in k for layer in params.values() for k in layer)
    np.testing.assert_allclose(w[0] / w[1], w[2] / w[3], rtol=1e-5)  # same ranking at 2 and 3
    _, w_pair = weights("pair")
    assert not np.isclose(w_pair[0] / w_pair[1], w_pair[2] / w_pair[3], rtol=1e-3)


def test_gat_layer_rejects_an_unknown_attention():
    with pytest.raises(KhipuError, match="unknown attention"):
        hk.transform(lambda: GATLayer(2, attention="receiver")).init(None)


# --- the training loop's errors -------------------------------------------------------------


def test_epoch_batches_drop_the_remainder_and_cover_distinct_samples():
    batches = loop.epoch_batches(jax.random.key(0), 10, 4)
    assert [len(b) for b in batches] == [4, 4]
    flat = np.concatenate(batches)
    assert len(set(flat.tolist())) == 8


def test_train_epochs_rejects_mismatched_data_and_batch_sizes():
    def loss(p, b):
        return jnp.sum(p * b["x"])

    with pytest.raises(KhipuError, match="different lengths"):
        loop.train_epochs(
            jnp.ones(()), loss, optax.sgd(0.1), {"x": np.ones(3), "y": np.ones(4)},
            epochs=1, batch_size=2, key=jax.random.key(0),
        )  # fmt: skip
    with pytest.raises(KhipuError, match="batch_size"):
        loop.train_epochs(
            jnp.ones(()), loss, optax.sgd(0.1), {"x": np.ones(3)},
            epochs=1, batch_size=4, key=jax.random.key(0),
        )  # fmt: skip


# --- figures --------------------------------------------------------------------------------


def test_lesson_figures(tmp_path):
    import networkx as nx

    g = nx.path_graph(5)
    seq = np.asarray(diffusion_sequence(np.eye(5)[:, :1], nx.to_numpy_array(g), 3))[..., 0]
    fig = plots.plot_diffusion_sequence(g, seq, path=tmp_path / "d.png")
    assert len(fig.axes) == 3 and (tmp_path / "d.png").stat().st_size > 0
    assert fig.axes[1].get_title() == "S^1 x (1 non-zero)"  # a delta at an end, shifted
    fig = plots.plot_depth_sweep([1, 2, 4], np.ones((3, 2)), propagation=[1.0, 0.5, 0.2])
    assert len(fig.axes) == 2
    fig = plots.plot_training_losses({"a": [3.0, 2.0, 1.0], "b": [2.0, 2.0, 1.0]}, window=2)
    assert len(fig.axes[0].get_lines()) == 4
