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
