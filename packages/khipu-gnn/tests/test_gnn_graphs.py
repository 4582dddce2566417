"""Graph construction, conversion, normalisation and padding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph
import networkx as nx
import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.gnn import graphs as gr


def random_graph(rng: np.random.Generator, n: int, p: float = 0.3, f: int = 3) -> jraph.GraphsTuple:
    a = np.triu(rng.random((n, n)) < p, 1)
    s, r = np.nonzero(a)
    return gr.from_edge_list(
        s, r, num_nodes=n, node_features=rng.normal(size=(n, f)).astype(np.float32), undirected=True
    )


def test_edge_list_adjacency_and_networkx_round_trip():
    g = gr.from_edge_list([1, 0, 2, 3], [0, 2, 3, 0], num_nodes=4, undirected=True)
    a = gr.to_adjacency(g)
    assert (a == a.T).all() and a.sum() == 8 and a[1, 0] == 1 and a[1, 2] == 0
    back = gr.from_adjacency(a)
    assert (gr.to_adjacency(back) == a).all() and back.edges is None
    karate = nx.karate_club_graph()
    kg = gr.from_networkx(karate, identity_features=True)
    assert int(kg.n_node[0]) == 34 and int(kg.n_edge[0]) == 156
    assert (gr.to_adjacency(kg) == nx.to_numpy_array(karate, weight=None)).all()
    assert set(gr.to_networkx(kg).edges) == {(u, v) for u, v in karate.edges} | {
        (v, u) for u, v in karate.edges
    }


def test_weighted_adjacency_becomes_edge_features():
    a = np.array([[0, 2.0], [0.5, 0]])
    g = gr.from_adjacency(a)
    assert g.edges.shape == (2, 1)
    assert (gr.to_adjacency(g, g.edges[:, 0]) == a).all()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"senders": [0, 5], "receivers": [1, 0], "num_nodes": 3}, "out of range"),
        ({"senders": [0, -1], "receivers": [1, 0], "num_nodes": 3}, "out of range"),
        ({"senders": [0, 1], "receivers": [1], "num_nodes": 3}, "receivers"),
        (
            {"senders": [0], "receivers": [1], "node_features": np.ones((2, 1)), "num_nodes": 3},
            "node features",
        ),
        ({"senders": [0], "receivers": [1], "edge_features": np.ones((3, 1))}, "edge features"),
        ({"senders": [], "receivers": [], "num_nodes": 0}, "empty"),
        ({"senders": [0.5], "receivers": [1]}, "integer"),
    ],
)
def test_bad_graphs_are_refused(kwargs, words):
    with pytest.raises(KhipuError, match=words):
        gr.from_edge_list(**kwargs)


def test_self_edges_and_degrees():
    g = gr.from_edge_list([0, 1], [1, 2], num_nodes=3, node_features=np.zeros((3, 1)))
    s = gr.add_self_edges(g)
    assert list(np.asarray(s.senders)) == [0, 1, 0, 1, 2]
    assert list(np.asarray(s.receivers)) == [1, 2, 0, 1, 2]
    assert int(s.n_edge[0]) == 5
    deg = gr.degrees(jnp.asarray(s.receivers), 3)
    assert list(np.asarray(deg)) == [1, 2, 2]


@pytest.mark.parametrize("mode", ["symmetric", "random_walk"])
def test_edge_normalization_equals_dense_normalized_adjacency(mode):
    g = random_graph(np.random.default_rng(0), 12)
    a = gr.to_adjacency(g)
    s = gr.add_self_edges(g)
    w = gr.edge_normalization(jnp.asarray(s.senders), jnp.asarray(s.receivers), 12, mode)
    dense = gr.to_adjacency(s, np.asarray(w))
    np.testing.assert_allclose(dense, gr.normalized_adjacency(a, mode), rtol=1e-5, atol=1e-6)
    if mode == "random_walk":  # D^-1 (A+I): every receiver's incoming weights sum to one
        np.testing.assert_allclose(dense.sum(0), 1.0, rtol=1e-5)


def test_padding_to_powers_of_two_and_masks():
    rng = np.random.default_rng(1)
    batch = gr.batch_graphs([random_graph(rng, 5), random_graph(rng, 7)])
    padded = gr.pad_to_power_of_two(batch)
    n, e = int(batch.n_node.sum()), int(batch.n_edge.sum())
    assert padded.nodes.shape[0] == gr.next_power_of_two(n + 1) == 16
    assert len(padded.senders) == gr.next_power_of_two(e)
    assert list(np.asarray(gr.graph_mask(padded))) == [True, True, False]
    assert int(np.asarray(gr.node_mask(padded)).sum()) == n
    assert int(np.asarray(gr.edge_mask(padded)).sum()) == e
    garbage = padded._replace(
        nodes=np.where(np.asarray(gr.node_mask(padded))[:, None], padded.nodes, 7.0)
    )
    zeroed = gr.zero_out_padding(jax.tree.map(jnp.asarray, garbage))
    assert float(jnp.abs(zeroed.nodes[n:]).sum()) == 0.0
    np.testing.assert_array_equal(np.asarray(zeroed.nodes[:n]), batch.nodes)
    back = gr.unpad(padded)
    np.testing.assert_array_equal(back.senders, batch.senders)
    with pytest.raises(KhipuError, match="cannot pad"):
        gr.pad_graph(batch, n, e, 3)


def test_graph_arrays_round_trip():
    rng = np.random.default_rng(2)
    gs = [random_graph(rng, k) for k in (3, 6, 4)]
    arrays = gr.graphs_to_arrays(gs)
    assert arrays["nodes"].shape == (3, 7, 3) and arrays["n_node"].shape == (3, 2)
    g = gr.arrays_to_graph(jax.tree.map(jnp.asarray, arrays))
    mask = np.asarray(gr.real_graph_mask_of_arrays(3))
    assert list(np.asarray(g.n_node)[mask]) == [3, 6, 4]
    a = gr.to_adjacency(g)
    for i, gi in enumerate(gs):
        block = a[7 * i : 7 * i + len(gi.nodes), 7 * i : 7 * i + len(gi.nodes)]
        np.testing.assert_array_equal(block, gr.to_adjacency(gi))


def test_jraph_helpers_that_call_removed_jax_functions_are_broken_here():
    # Documents why khipu.gnn replaces jraph.zero_out_padding (jax.tree_map is gone).
    g = gr.pad_to_power_of_two(gr.from_edge_list([0], [1], node_features=np.ones((2, 1))))
    if hasattr(jax, "tree_map"):
        pytest.skip("this JAX still has jax.tree_map")
    with pytest.raises(AttributeError):
        jraph.zero_out_padding(g)
