"""Collaborative filtering: data checks, no leakage, target-only loss, models beat baselines."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.gnn import ratings as rt


def test_generated_ratings_are_in_range_and_sparse():
    r = rt.generate_ratings(num_users=50, num_items=20, density=0.3, seed=1)
    rated = r[r != 0]
    assert set(np.unique(rated)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert 0.2 < (r != 0).mean() < 0.4
    np.testing.assert_array_equal(
        r, rt.generate_ratings(num_users=50, num_items=20, density=0.3, seed=1)
    )


@pytest.mark.parametrize(
    ("ratings", "words"),
    [
        (np.full((5, 5), 6.0), "out of range"),
        (np.full((5, 5), -1.0), "out of range"),
        (np.full((5, 5), np.nan), "nan"),
        (np.ones(5), "matrix"),
        (np.zeros((5, 5)), "fewer than 10"),
    ],
)
def test_bad_ratings_are_refused(ratings, words):
    with pytest.raises(KhipuError, match=f"(?i){words}"):
        rt.check_ratings(ratings)


def test_samples_never_contain_their_target_and_graph_ignores_test_ratings():
    r = rt.generate_ratings(num_users=80, num_items=15, seed=2)
    d = rt.make_samples(r, seed=0)
    for split in (d.train, d.val, d.test):
        x = rt.sample_inputs(d, split)
        at_target = x[np.arange(len(split["y"])), split["target"], 0]
        assert (at_target == 0).all()
    # changing every held-out rating leaves the graph and the training inputs unchanged
    entries = np.argwhere(r != 0)
    order = np.random.default_rng(0).permutation(len(entries))
    n_held = round(0.1 * len(entries)) * 2
    held = entries[order[:n_held]]
    r2 = r.copy()
    r2[held[:, 0], held[:, 1]] = np.where(r[held[:, 0], held[:, 1]] > 3, 1.0, 5.0)
    d2 = rt.make_samples(r2, seed=0)
    np.testing.assert_array_equal(d.shift, d2.shift)
    np.testing.assert_array_equal(rt.sample_inputs(d, d.train), rt.sample_inputs(d2, d2.train))
    assert not np.array_equal(d.test["y"], d2.test["y"])


def test_inputs_gathered_per_batch_equal_the_dense_construction():
    """Item 1 of issue 20: samples store (user, target), not a [P] row each; the gathered
    inputs and user means equal a plain per-sample loop over the training matrix."""
    r = rt.generate_ratings(num_users=60, num_items=12, seed=4)
    d = rt.make_samples(r, seed=1)
    train_r = np.where(d.centred != 0, d.centred + d.item_means, 0.0)
    for split in (d.train, d.val, d.test):
        assert "x" not in split  # no [samples, items] array is stored
        x = rt.sample_inputs(d, split)
        jx = np.asarray(rt.gather_inputs(jnp.asarray(d.centred), split["user"], split["target"]))
        np.testing.assert_array_equal(x, jx)
        for b, (u, p) in enumerate(zip(split["user"], split["target"], strict=True)):
            row = d.centred[u].copy()
            row[p] = 0.0
            np.testing.assert_array_equal(x[b, :, 0], row)
            others = [train_r[u, q] for q in range(r.shape[1]) if q != p and train_r[u, q] != 0]
            if others:
                assert split["user_mean"][b] == pytest.approx(np.mean(others), abs=1e-4)


def test_dense_estimate_refuses_a_problem_above_the_limit_before_allocating():
    """Item 1 of issue 20: the graph filter is dense in the items; a file of 12,000 users
    each rating their own item (12,000 x 12,000) is refused with its size and the limit."""
    need = rt.dense_bytes(12_000, 12_000)
    assert need == 32 * 12_000 * 12_000 + 48 * 12_000**2
    with pytest.raises(KhipuError, match=r"12000 users x 12000 items.*MiB.*limit of 1024 MiB"):
        rt.check_dense_size(12_000, 12_000, 1 << 30)
    rt.check_dense_size(400, 50, 1 << 30)  # the default data passes
    # the estimate covers what make_samples really holds: the [U, P] and [P, P] arrays
    d = rt.make_samples(rt.generate_ratings(num_users=200, num_items=40, seed=0))
    held = d.centred.nbytes + d.shift.nbytes + d.similarity.nbytes
    assert held < rt.dense_bytes(200, 40)


def test_shift_operator_is_symmetric_sparse_and_normalised():
    d = rt.make_samples(rt.generate_ratings(num_users=100, num_items=30, seed=3), top_k=5)
    s = d.shift
    np.testing.assert_allclose(s, s.T)
    assert (np.diag(s) == 0).all()
    assert ((s != 0).sum(1) >= 5).all() and (s != 0).mean() < 0.5
    assert np.abs(np.linalg.eigvalsh(s)).max() == pytest.approx(1.0, rel=1e-5)


def test_target_mse_takes_the_target_item_only_even_for_one_sample():
    out = jnp.arange(12.0).reshape(2, 6, 1)
    assert float(rt.target_mse(out, jnp.array([1, 4]), jnp.array([1.0, 10.0]))) == pytest.approx(
        0.0
    )
    assert float(rt.target_mse(out[:1], jnp.array([3]), jnp.array([1.0]))) == pytest.approx(4.0)


def test_graph_filter_beats_the_item_mean_baseline():
    d = rt.make_samples(rt.generate_ratings(num_users=300, num_items=40, seed=0), seed=0)
    result = rt.train_rating_model(d, "filter", epochs=6, seed=0)
    m = result.metrics
    assert m["test_rmse"] <= 0.9 * m["item_mean_rmse"]
    assert m["item_mean_rmse"] < m["user_mean_rmse"]


@pytest.mark.slow
def test_gnn_beats_the_item_mean_baseline_on_the_default_data():
    d = rt.make_samples(rt.generate_ratings(seed=0), seed=0)
    m = rt.train_rating_model(d, "gnn", epochs=8, seed=0).metrics
    assert m["test_rmse"] <= 0.9 * m["item_mean_rmse"]
