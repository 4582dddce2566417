"""Graph classification: generated data, the TU-format parser, padded batches that learn."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.gnn import classify as cl
from khipu.gnn.graphs import to_networkx


def test_trees_vs_cycles_have_the_structure_their_label_says():
    d = cl.trees_vs_cycles(40, seed=3)
    assert cl.class_balance(d.labels) == {0: 20, 1: 20}
    for g, y in zip(d.graphs, d.labels, strict=True):
        u = to_networkx(g).to_undirected()
        assert nx.is_connected(u)
        assert u.number_of_edges() - u.number_of_nodes() + 1 == y  # cycle rank


def write_tu(
    tmp_path,
    *,
    a="1, 2\n2, 1\n3, 4\n4, 3\n4, 5\n5, 4\n",
    ind="1\n1\n2\n2\n2\n",
    labels="-1\n1\n",
    node_labels="0\n1\n0\n2\n1\n",
):
    for suffix, text in (
        ("A", a),
        ("graph_indicator", ind),
        ("graph_labels", labels),
        ("node_labels", node_labels),
    ):
        if text is not None:
            (tmp_path / f"TOY_{suffix}.txt").write_text(text)
    return tmp_path


def test_tu_parser_reads_graphs_labels_and_one_hot_node_features(tmp_path):
    d = cl.load_tu_dataset(write_tu(tmp_path))
    assert [int(g.n_node[0]) for g in d.graphs] == [2, 3]
    assert list(d.labels) == [0, 1] and d.class_names == ("-1", "1")
    np.testing.assert_array_equal(d.graphs[1].nodes, [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert sorted(
        zip(d.graphs[1].senders.tolist(), d.graphs[1].receivers.tolist(), strict=True)
    ) == [
        (0, 1),
        (1, 0),
        (1, 2),
        (2, 1),
    ]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"a": "1, 9\n"}, "out of range"),
        ({"a": "1, 3\n"}, "two different graphs"),
        ({"labels": "1\n"}, "graph labels"),
        ({"node_labels": "0\n"}, "node labels"),
        ({"a": "1, x\n"}, "not an integer"),
        ({"ind": "2\n1\n1\n2\n2\n"}, "sorted"),
    ],
)
def test_tu_parser_refuses_inconsistent_files(tmp_path, kwargs, words):
    with pytest.raises(KhipuError, match=words):
        cl.load_tu_dataset(write_tu(tmp_path, **kwargs), "TOY")


def test_tu_parser_missing_file(tmp_path):
    write_tu(tmp_path, labels=None)
    with pytest.raises(KhipuError, match="does not exist"):
        cl.load_tu_dataset(tmp_path, "TOY")


def test_graph_network_learns_trees_vs_cycles():
    d = cl.trees_vs_cycles(160, seed=0)
    result = cl.train_graph_classifier(d, "graphnet", epochs=12, patience=None, seed=0)
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert result.metrics["train_accuracy"] >= 0.65  # chance is 0.5


@pytest.mark.slow
def test_graph_network_reaches_the_target_on_the_default_data():
    result = cl.train_graph_classifier(cl.trees_vs_cycles(seed=0), "graphnet", epochs=30, seed=0)
    assert result.metrics["accuracy"] >= 0.9


def test_gathered_batch_equals_jraph_batch_then_pad_and_models_agree():
    """Item 1 of issue 20: a batch is gathered from the packed graphs and padded to a budget
    (the batch's largest graphs), equal to jraph.batch_np + pad_with_graphs of the same graphs."""
    import jax
    import jax.numpy as jnp
    import jraph
    from khipu.gnn.models import graph_classifier

    d = cl.trees_vs_cycles(12, min_nodes=4, max_nodes=9, seed=1)
    host = cl.pack_graphs(d.graphs)
    budget = cl.batch_budget(host, 4)
    sizes = sorted((int(g.n_node[0]) for g in d.graphs), reverse=True)
    assert budget[0] == sum(sizes[:4]) + 1
    ids = np.array([7, 2, 11, 0], np.int32)
    got = cl.gather_batch(host, jnp.asarray(ids), *budget)
    ref = jraph.pad_with_graphs(jraph.batch_np([d.graphs[i] for i in ids]), *budget, 5)
    for field in ("nodes", "senders", "receivers", "n_node", "n_edge"):
        np.testing.assert_array_equal(np.asarray(getattr(got, field)), getattr(ref, field))
    net = graph_classifier("gcn", 2, hidden=8)
    params = net.init(jax.random.key(0), got)
    np.testing.assert_allclose(
        net.apply(params, got)[:4], net.apply(params, jax.tree.map(jnp.asarray, ref))[:4], 1e-5
    )


def test_many_tiny_graphs_and_one_large_cost_their_nodes_not_graphs_times_largest():
    """Item 1 of issue 20: 3,000 two-node graphs and one 2,000-node path pack into
    arrays of the total size; a batch budget is the batch's largest graphs, not G x 2000."""
    import jraph

    small = [
        jraph.GraphsTuple(
            nodes=np.ones((2, 1), np.float32),
            edges=None,
            senders=np.array([0, 1], np.int32),
            receivers=np.array([1, 0], np.int32),
            n_node=np.array([2]),
            n_edge=np.array([2]),
            globals=None,
        )
    ] * 3000
    n = 2000
    path = jraph.GraphsTuple(
        nodes=np.ones((n, 1), np.float32),
        edges=None,
        senders=np.arange(n - 1, dtype=np.int32),
        receivers=np.arange(1, n, dtype=np.int32),
        n_node=np.array([n]),
        n_edge=np.array([n - 1]),
        globals=None,
    )
    host = cl.pack_graphs([*small, path])
    assert host.nodes.shape == (3000 * 2 + n, 1)
    assert len(host.senders) == 3000 * 2 + n - 1
    assert cl.batch_budget(host, 32) == (n + 31 * 2 + 1, n - 1 + 31 * 2)


def test_tu_parser_is_strict_about_text_and_linear_in_graphs(tmp_path):
    """Items 1-2 of issue 20: a non-UTF-8 byte names the file and offset; 2,000 graphs are
    grouped by one sort (the result equals a per-graph filter)."""
    write_tu(tmp_path)
    (tmp_path / "TOY_A.txt").write_bytes(b"1, 2\n2, 1\n3, 4\xff\n")
    with pytest.raises(KhipuError, match=r"TOY_A.txt is not UTF-8 text.*byte offset 14"):
        cl.load_tu_dataset(tmp_path, "TOY")
    g = 2000
    ind = "".join(f"{i}\n{i}\n{i}\n" for i in range(1, g + 1))
    # edges listed in reverse graph order: grouping must not rely on the file's order
    a = "".join(f"{3 * i - 1}, {3 * i}\n{3 * i - 2}, {3 * i - 1}\n" for i in range(g, 0, -1))
    write_tu(
        tmp_path, a=a, ind=ind, labels="".join(f"{i % 3}\n" for i in range(g)), node_labels=None
    )
    (tmp_path / "TOY_node_labels.txt").unlink()
    d = cl.load_tu_dataset(tmp_path, "TOY")
    assert len(d.graphs) == g
    for i in (0, 1, 999, g - 1):
        pairs = sorted(
            zip(d.graphs[i].senders.tolist(), d.graphs[i].receivers.tolist(), strict=True)
        )
        assert pairs == [(0, 1), (1, 2)]
