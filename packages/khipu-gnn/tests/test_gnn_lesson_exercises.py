"""The lesson's added exercises (issue 16): each checker passes its reference, calls an
untouched stub "not attempted" and rejects plausible wrong answers; quizzes accept only
their answer."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import jraph
import networkx as nx
import numpy as np
import optax
import pytest
from khipu.gnn import exercises as ex
from khipu.gnn.layers import GraphFilter, propagate, readout

CHECKS = [
    (ex.check_task_graph, ex.task_graph),
    (ex.check_networkx_to_jraph, ex.networkx_to_jraph),
    (ex.check_residual_update, ex.residual_update),
    (ex.check_gcn_stack, ex.gcn_stack),
    (ex.check_sender_attention, ex.sender_attention),
    (ex.check_diffusion_sequence, ex.diffusion_sequence),
    (ex.check_gnn_module, ex.GNNModule),
    (ex.check_train_epochs, ex.train_epochs),
    (ex.check_mean_readout, ex.mean_readout),
    (ex.check_link_loss, ex.link_loss),
]


def verdict(checker, answer):
    return checker.evaluate(answer).status


@pytest.mark.parametrize(("checker", "reference"), CHECKS, ids=[c.name for c, _ in CHECKS])
def test_reference_passes_and_stub_is_not_attempted(checker, reference):
    assert verdict(checker, reference) == "passed"

    def stub(*args, **kwargs):
        raise NotImplementedError

    class StubModule(hk.Module):
        def __init__(self, taps, features, activation=jax.nn.relu, name=None):
            super().__init__(name=name)

        def __call__(self, x, s):
            raise NotImplementedError

    assert verdict(checker, StubModule if checker is ex.check_gnn_module else stub) == (
        "not_attempted"
    )


# --- task 1 and 2: networkx, conversion -----------------------------------------------------


def test_task_graph_rejects_missing_extra_and_directed():
    def missing():
        g = nx.Graph()
        g.add_edges_from([(1, 0), (0, 2), (2, 3)])
        return g

    def extra():
        g = ex.task_graph()
        g.add_edge(1, 2)
        return g

    def directed():
        return nx.DiGraph(list(ex.TASK_EDGES))

    for wrong in (missing, extra, directed):
        assert verdict(ex.check_task_graph, wrong) == "failed", wrong.__name__


def _converted(g, x, *, both=True, edge_fn=None):
    pairs = np.array(list(g.edges)).reshape(-1, 2)
    s, r = pairs[:, 0], pairs[:, 1]
    if both:
        s, r = np.concatenate([s, r]), np.concatenate([r, s])
    x = jnp.asarray(x)
    edges = (edge_fn or ex.edge_sums)(x, jnp.asarray(s), jnp.asarray(r))
    return jraph.GraphsTuple(
        nodes=x,
        edges=edges,
        senders=jnp.asarray(s),
        receivers=jnp.asarray(r),
        n_node=jnp.array([g.number_of_nodes()]),
        n_edge=jnp.array([len(s)]),
        globals=None,
    )


def test_networkx_to_jraph_accepts_any_edge_order():
    def reversed_order(g, x):
        graph = ex.networkx_to_jraph(g, x)
        return graph._replace(
            senders=graph.senders[::-1], receivers=graph.receivers[::-1], edges=graph.edges[::-1]
        )

    assert verdict(ex.check_networkx_to_jraph, reversed_order) == "passed"


def test_networkx_to_jraph_rejects_one_direction_and_sender_features():
    def one_direction(g, x):
        return _converted(g, x, both=False)

    def sender_features(g, x):
        return _converted(g, x, edge_fn=lambda x, s, r: x[s])

    def undirected_count(g, x):
        return _converted(g, x)._replace(n_edge=jnp.array([g.number_of_edges()]))

    for wrong in (one_direction, sender_features, undirected_count):
        assert verdict(ex.check_networkx_to_jraph, wrong) == "failed", wrong.__name__


# --- task 3: a custom node update ----------------------------------------------------------


def test_residual_update_matches_jraph_graph_network():
    x, s, r = ex.toy_graph()
    graph = jraph.GraphsTuple(
        nodes=x, edges=jnp.zeros((5, 1)), senders=s, receivers=r,
        n_node=jnp.array([4]), n_edge=jnp.array([5]), globals=jnp.zeros((1, 1)),
    )  # fmt: skip
    net = jraph.GraphNetwork(
        update_edge_fn=lambda e, sent, received, g: sent, update_node_fn=ex.residual_update
    )
    expected = np.asarray(x) + np.asarray(propagate(x, s, r, 4))  # X + Aᵀ X
    np.testing.assert_allclose(net(graph).nodes, expected)


def test_residual_update_rejects_sent_and_no_self():
    assert verdict(ex.check_residual_update, lambda n, s, r, g: n + s) == "failed"
    assert verdict(ex.check_residual_update, lambda n, s, r, g: r) == "failed"
    assert verdict(ex.check_residual_update, lambda n, s, r, g: n + 3.0) == "failed"


# --- task 5 and 6: deeper GCN, sender-only attention ----------------------------------------


def test_gcn_stack_rejects_final_relu_no_relu_and_mean_aggregation():
    def final_relu(layers, x, s, r, n):
        return jax.nn.relu(ex.gcn_stack(layers, x, s, r, n))

    def no_relu(layers, x, s, r, n):
        h = x
        for w, b in layers:
            h = ex.gcn_aggregate(h @ w, s, r, n) + b
        return h

    def mean_aggregation(layers, x, s, r, n):
        h = x
        for i, (w, b) in enumerate(layers):
            h = ex.mean_aggregate(h @ w, s, r, n) + b
            h = jax.nn.relu(h) if i < len(layers) - 1 else h
        return h

    for wrong in (final_relu, no_relu, mean_aggregation):
        assert verdict(ex.check_gcn_stack, wrong) == "failed", wrong.__name__


def test_sender_attention_rejects_receiver_logits_global_softmax_and_no_leaky_relu():
    def receiver_logits(z, s, r, n, a):
        w = ex.attention_weights(jax.nn.leaky_relu(z[r] @ a, 0.2), r, n)
        return jax.ops.segment_sum(w[:, None] * z[s], r, n)

    def global_softmax(z, s, r, n, a):
        w = jax.nn.softmax(jax.nn.leaky_relu(z[s] @ a, 0.2))
        return jax.ops.segment_sum(w[:, None] * z[s], r, n)

    def no_leaky_relu(z, s, r, n, a):
        w = ex.attention_weights(z[s] @ a, r, n)
        return jax.ops.segment_sum(w[:, None] * z[s], r, n)

    for wrong in (receiver_logits, global_softmax, no_leaky_relu):
        assert verdict(ex.check_sender_attention, wrong) == "failed", wrong.__name__


# --- graph filters ---------------------------------------------------------------------------


def test_diffusion_sequence_equals_matrix_powers():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(5, 5))
    x = rng.normal(size=(5, 2))
    got = np.asarray(ex.diffusion_sequence(jnp.asarray(x), jnp.asarray(s), 4))
    for k in range(4):
        np.testing.assert_allclose(got[k], np.linalg.matrix_power(s, k) @ x, rtol=1e-4, atol=1e-5)


def test_diffusion_sequence_rejects_transpose_extra_term_and_missing_x():
    def transposed(x, s, k):
        terms = [x]
        for _ in range(1, k):
            terms.append(s.T @ terms[-1])
        return jnp.stack(terms)

    def k_plus_one(x, s, k):
        return ex.diffusion_sequence(x, s, k + 1)

    def from_sx(x, s, k):
        return ex.diffusion_sequence(s @ x, s, k)

    for wrong in (transposed, k_plus_one, from_sx):
        assert verdict(ex.check_diffusion_sequence, wrong) == "failed", wrong.__name__


class _ReadoutActivated(hk.Module):
    def __init__(self, taps, features, activation=jax.nn.relu, name=None):
        super().__init__(name=name)
        self.taps, self.features, self.activation = taps, features, activation

    def __call__(self, x, s):
        for k, f in zip(self.taps, self.features, strict=True):
            x = self.activation(GraphFilter(k, f)(x, s))
        return x


class _Linear(_ReadoutActivated):
    def __call__(self, x, s):
        for k, f in zip(self.taps, self.features, strict=True):
            x = GraphFilter(k, f)(x, s)
        return x


class _AlwaysRelu(_ReadoutActivated):
    def __call__(self, x, s):
        for i, (k, f) in enumerate(zip(self.taps, self.features, strict=True)):
            x = GraphFilter(k, f)(x, s)
            x = jax.nn.relu(x) if i < len(self.taps) - 1 else x
        return x


class _FirstTapsEverywhere(_ReadoutActivated):
    def __call__(self, x, s):
        for i, f in enumerate(self.features):
            x = GraphFilter(self.taps[0], f)(x, s)
            x = self.activation(x) if i < len(self.taps) - 1 else x
        return x


@pytest.mark.parametrize("wrong", [_ReadoutActivated, _Linear, _AlwaysRelu, _FirstTapsEverywhere])
def test_gnn_module_rejects_wrong_stacks(wrong):
    assert verdict(ex.check_gnn_module, wrong) == "failed"


def test_gnn_module_rejects_a_function():
    assert verdict(ex.check_gnn_module, lambda taps, feats: None) == "failed"


# --- the training loop -----------------------------------------------------------------------


def test_train_epochs_equals_a_plain_numpy_sgd_loop():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(9, 2)).astype(np.float32)
    y = (x @ np.array([0.7, -1.2])).astype(np.float32)
    key = jax.random.key(3)
    params, losses = ex.train_epochs(
        {"w": jnp.zeros(2), "b": jnp.zeros(())},
        lambda p, b: jnp.mean((b["x"] @ p["w"] + p["b"] - b["y"]) ** 2),
        optax.sgd(0.1),
        {"x": x, "y": y},
        epochs=2,
        batch_size=4,
        key=key,
    )
    w, b, expected = np.zeros(2), 0.0, []
    for _ in range(2):
        key, sub = jax.random.split(key)
        order = np.asarray(jax.random.permutation(sub, 9))
        for start in (0, 4):  # two full batches, one sample dropped
            idx = order[start : start + 4]
            err = x[idx] @ w + b - y[idx]
            expected.append(np.mean(err**2))
            w, b = w - 0.1 * 2 * x[idx].T @ err / 4, b - 0.1 * 2 * err.mean()
    np.testing.assert_allclose(losses, expected, rtol=1e-4)
    np.testing.assert_allclose(params["w"], w, rtol=1e-4)


def _loop(params, loss_fn, optimizer, data, *, epochs, batch_size, key, mode):
    n = len(data["x"])
    opt_state = optimizer.init(params)
    losses = []
    for _ in range(epochs):
        if mode != "same_key":
            key, sub = jax.random.split(key)
        else:
            sub = key
        order = np.arange(n) if mode == "no_shuffle" else np.asarray(jax.random.permutation(sub, n))
        stop = n if mode == "partial_batch" else n - batch_size + 1
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            batch = {k: v[idx] for k, v in data.items()}
            if mode == "reinit_optimizer":
                opt_state = optimizer.init(params)
            loss, grads = jax.value_and_grad(loss_fn)(params, batch)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            losses.append(float(loss))
    return params, losses


def test_train_epochs_own_loop_passes():
    def right(*args, **kwargs):
        return _loop(*args, **kwargs, mode="right")

    assert verdict(ex.check_train_epochs, right) == "passed"


@pytest.mark.parametrize("mode", ["no_shuffle", "same_key", "partial_batch", "reinit_optimizer"])
def test_train_epochs_rejects_wrong_loops(mode):
    def wrong(*args, **kwargs):
        return _loop(*args, **kwargs, mode=mode)

    assert verdict(ex.check_train_epochs, wrong) == "failed"


# --- read-out and link prediction ---------------------------------------------------------


def test_mean_readout_equals_a_python_loop():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(7, 3)).astype(np.float32)
    n_node = np.array([3, 0, 4])
    got = np.asarray(ex.mean_readout(jnp.asarray(x), jnp.asarray(n_node)))
    np.testing.assert_allclose(got, [x[:3].mean(0), np.zeros(3), x[3:].mean(0)], rtol=1e-5)


def test_mean_readout_rejects_sum_global_mean_and_nan_on_empty_graphs():
    def total(x, n_node):
        return readout(x, n_node, "sum")

    def global_mean(x, n_node):
        return jnp.broadcast_to(x.mean(0), (n_node.shape[0], x.shape[1]))

    def nan_on_empty(x, n_node):
        return readout(x, n_node, "sum") / n_node[:, None]

    for wrong in (total, global_mean, nan_on_empty):
        assert verdict(ex.check_mean_readout, wrong) == "failed", wrong.__name__


def test_link_loss_equals_a_numpy_computation():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(6, 2)).astype(np.float32)
    pos = np.array([[0, 1], [2, 3], [4, 5]])
    key = jax.random.key(5)
    neg = np.asarray(jax.random.randint(key, (3, 2), 0, 6))
    logits = np.concatenate(
        [(z[pos[:, 0]] * z[pos[:, 1]]).sum(1), (z[neg[:, 0]] * z[neg[:, 1]]).sum(1)]
    )
    labels = np.array([1, 1, 1, 0, 0, 0])
    p = 1 / (1 + np.exp(-logits))
    expected = -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    got = float(ex.link_loss(jnp.asarray(z), jnp.asarray(pos), key))
    assert got == pytest.approx(expected, rel=1e-4)


def test_link_loss_rejects_fixed_key_swapped_labels_and_no_negatives():
    def fixed_key(z, pos, key):
        return ex.link_loss(z, pos, jax.random.key(0))

    def swapped(z, pos, key):
        neg = jax.random.randint(key, pos.shape, 0, z.shape[0])
        logits = jnp.concatenate(
            [(z[pos[:, 0]] * z[pos[:, 1]]).sum(1), (z[neg[:, 0]] * z[neg[:, 1]]).sum(1)]
        )
        labels = jnp.concatenate([jnp.zeros(pos.shape[0]), jnp.ones(pos.shape[0])])
        return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels))

    def positives_only(z, pos, key):
        logits = (z[pos[:, 0]] * z[pos[:, 1]]).sum(1)
        return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.ones_like(logits)))

    for wrong in (fixed_key, swapped, positives_only):
        assert verdict(ex.check_link_loss, wrong) == "failed", wrong.__name__


# --- quizzes -------------------------------------------------------------------------------

QUIZZES = [
    ex.quiz_neighbour_sum,
    ex.quiz_locality,
    ex.quiz_stacked_filters,
    ex.quiz_oversmoothing,
    ex.quiz_sender_attention,
    ex.quiz_mean_readout,
    ex.quiz_negative_key,
]


@pytest.mark.parametrize("quiz", QUIZZES, ids=[q.name for q in QUIZZES])
def test_quiz_accepts_only_its_answer(quiz):
    assert quiz.evaluate(None).status == "not_attempted"
    assert quiz.evaluate(quiz.answer).status == "passed"
    wrong = [k for k in quiz.options if k != quiz.answer]
    assert len(wrong) >= 2
    for key in wrong:
        assert quiz.evaluate(key).status == "failed"
