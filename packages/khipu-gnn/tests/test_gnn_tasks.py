"""The practical's node and link tasks reach their targets through khipu-core's fit()."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.gnn import links, nodes
from khipu.gnn.models import node_model
from khipu.gnn.train import roc_auc, single_graph_arrays


def test_karate_club_data_matches_networkx():
    task = nodes.karate_club()
    assert task.graph.nodes.shape == (34, 34) and len(task.graph.senders) == 156
    assert list(np.nonzero(task.train_mask)[0]) == [0, 33]
    assert task.labels[0] == 0 and task.labels[33] == 1 and task.labels.sum() == 17


@pytest.mark.parametrize("model", ["gcn", pytest.param("gat", marks=pytest.mark.slow)])
def test_karate_accuracy_from_two_labels(model):
    result = nodes.train_node_classifier(nodes.karate_club(), model, steps=20, seed=0)
    assert result.metrics["train_accuracy"] == 1.0
    assert result.metrics["accuracy"] >= 0.9
    assert result.history["loss"][-1] < result.history["loss"][0]


def test_karate_same_seed_same_result():
    a = nodes.train_node_classifier(nodes.karate_club(), "gcn", steps=2, seed=1, eval_every=2)
    b = nodes.train_node_classifier(nodes.karate_club(), "gcn", steps=2, seed=1, eval_every=2)
    assert a.history["loss"] == b.history["loss"]
    np.testing.assert_array_equal(a.outputs["predictions"], b.outputs["predictions"])


def test_roc_auc_equals_brute_force_pair_count():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 40).astype(float)  # many ties
    labels = rng.integers(0, 2, 40)
    pos, neg = scores[labels == 1], scores[labels == 0]
    brute = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])
    assert roc_auc(scores, labels) == pytest.approx(brute)
    assert roc_auc([0.1, 0.9], [0, 1]) == 1.0
    with pytest.raises(KhipuError, match="both"):
        roc_auc([1.0, 2.0], [1, 1])


def test_edge_split_is_disjoint_and_negatives_are_non_edges():
    split = links.sbm_link_split(seed=0)
    g = links.sbm_graph(seed=0)
    all_edges = {tuple(sorted(e)) for e in g.edges}
    train = {tuple(e) for e in split.train_edges}
    for pairs, labels in (
        (split.val_pairs, split.val_labels),
        (split.test_pairs, split.test_labels),
    ):
        pos = {tuple(p) for p, y in zip(pairs, labels, strict=True) if y == 1}
        neg = {tuple(p) for p, y in zip(pairs, labels, strict=True) if y == 0}
        assert pos <= all_edges and not pos & train and len(pos) == len(neg)
        assert not neg & all_edges
    assert len(train) + len(split.val_pairs) // 2 + len(split.test_pairs) // 2 == len(all_edges)
    mp = {
        (int(s), int(r))
        for s, r in zip(split.train_graph.senders, split.train_graph.receivers, strict=True)
    }
    assert all((u, v) in mp and (v, u) in mp for u, v in train) and len(mp) == 2 * len(train)


def test_short_link_training_beats_chance():
    result = links.train_link_predictor(links.sbm_link_split(seed=0), "gcn", epochs=15, seed=0)
    assert result.metrics["roc_auc"] > 0.6


def test_fresh_negatives_every_step():
    split = links.sbm_link_split(seed=0)
    net = node_model("gcn", 8, hidden=8)
    g = jax.tree.map(jnp.asarray, split.train_graph)
    params = net.init(jax.random.key(0), g)
    n = int(g.n_node[0])
    loss_fn = jax.jit(links.make_link_loss(net, n))
    batch = jax.tree.map(
        jnp.asarray, single_graph_arrays(split.train_graph, positives=split.train_edges)
    )
    k1, k2 = jax.random.split(jax.random.key(0))
    assert not np.array_equal(links.negative_pairs(k1, n, 50), links.negative_pairs(k2, n, 50))
    l1 = loss_fn(params, (), k1, batch)[0]
    assert float(l1) == float(loss_fn(params, (), k1, batch)[0])
    assert float(l1) != float(loss_fn(params, (), k2, batch)[0])


@pytest.mark.slow
def test_link_prediction_on_the_sbm():
    result = links.train_link_predictor(links.sbm_link_split(seed=0), "gcn", epochs=60, seed=0)
    assert result.metrics["roc_auc"] >= 0.85
    assert max(h for h in result.history["val_roc_auc"] if h == h) == pytest.approx(
        result.metrics["val_roc_auc"], abs=1e-5
    )


def test_rank_auc_equals_brute_force_without_a_pairs_matrix():
    """Item 1 of issue 20: evaluation AUC sorts (O(M log M)); equal to the pair count."""
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 6, 57).astype(np.float32)  # many ties
    labels = rng.integers(0, 2, 57).astype(np.float32)
    pos, neg = scores[labels == 1], scores[labels == 0]
    brute = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])
    got = float(jax.jit(links.rank_auc)(jnp.asarray(scores), jnp.asarray(labels)))
    assert got == pytest.approx(brute, abs=1e-6)
    hlo = jax.jit(links.rank_auc).lower(jnp.asarray(scores), jnp.asarray(labels)).as_text()
    assert "57x57" not in hlo  # no [M, M] array anywhere in the computation


def test_non_edges_are_distinct_non_edges_and_seeded():
    rng_edges = np.random.default_rng(0).integers(0, 50, (300, 2))
    pairs = links.undirected_pairs(rng_edges[:, 0], rng_edges[:, 1])
    neg = links.sample_non_edges(50, pairs, 200, np.random.default_rng(3))
    edge_set = {tuple(p) for p in pairs.tolist()}
    assert len({tuple(p) for p in neg.tolist()}) == 200
    assert all(u < v and (u, v) not in edge_set for u, v in neg.tolist())
    again = links.sample_non_edges(50, pairs, 200, np.random.default_rng(3))
    np.testing.assert_array_equal(neg, again)
    with pytest.raises(KhipuError, match="fewer than"):
        links.sample_non_edges(4, np.array([[0, 1]]), 6, np.random.default_rng(0))


def test_an_edge_list_with_a_huge_id_costs_its_edges(tmp_path):
    """Item 1 of issue 20: the issue's 61-edge file with one node id 20000 becomes a
    62-node graph (ids renumbered), not 20,001 nodes with 20,001 x 20,001 features."""
    from khipu.gnn.graphs import compact_node_ids
    from khipu.gnn.runs import prepare_task

    lines = [f"{i} {i + 1}" for i in range(60)] + ["5 20000"]
    f = tmp_path / "E.txt"
    f.write_text("\n".join(lines) + "\n")
    prepared = prepare_task("links", edges_file=f)
    n = int(prepared.data.train_graph.n_node[0])
    assert n == 62 and prepared.data.train_graph.nodes.shape == (62, 62)
    compact, ids = compact_node_ids(np.array([[7, 20000], [20000, 3]]))
    np.testing.assert_array_equal(ids[compact], [[7, 20000], [20000, 3]])
    assert compact.max() == 2
    # one-hot features of a graph too large for the limit are refused before allocation
    with pytest.raises(KhipuError, match=r"30000 nodes need 6866 MiB.*limit of 1024 MiB"):
        links.check_feature_size(30_000, 1 << 30)
    g = tmp_path / "wide.txt"
    g.write_text("".join(f"{2 * i} {2 * i + 1}\n" for i in range(20)))
    with pytest.raises(KhipuError, match=r"40 nodes.*--max-dense-mib"):
        prepare_task("links", edges_file=g, max_dense_bytes=1000)
