"""Directions, projections, direct bias and hard debiasing against numpy by hand."""

from __future__ import annotations

import khipu.bias as kb
import khipu.core as kc
import numpy as np
import pytest


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_pair_and_sum_directions_by_hand(toy_emb) -> None:  # type: ignore[no-untyped-def]
    v = toy_emb.normalized()
    d = kb.direction_from_pair(toy_emb, "she", "he")
    np.testing.assert_allclose(d.vector, _unit(v.vector("she") - v.vector("he")), atol=1e-6)
    s = kb.direction_from_sums(toy_emb, ["she", "woman", "queen"], ["he", "man", "king"])
    f = _unit(v.matrix(["she", "woman", "queen"]).sum(0))
    m = _unit(v.matrix(["he", "man", "king"]).sum(0))
    np.testing.assert_allclose(s.vector, _unit(f - m), atol=1e-6)
    assert np.linalg.norm(s.vector) == pytest.approx(1.0)
    assert np.isnan(s.explained_variance)


def test_pca_direction_by_hand_with_a_deterministic_sign(toy_emb) -> None:  # type: ignore[no-untyped-def]
    pairs = [("she", "he"), ("woman", "man"), ("queen", "king")]
    d = kb.direction_pca(toy_emb, pairs)
    v = toy_emb.normalized()
    rows = []
    for a, b in pairs:
        c = (v.vector(a) + v.vector(b)) / 2
        rows += [v.vector(a) - c, v.vector(b) - c]
    cov = np.array(rows, dtype=float).T @ np.array(rows, dtype=float)
    vals, vecs = np.linalg.eigh(cov)
    top = vecs[:, -1]
    assert abs(float(top @ d.vector)) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(
        d.explained_variance_ratio,
        np.sort(vals)[::-1][: len(d.explained_variance_ratio)] / vals.sum(),
        atol=1e-6,
    )
    diffs = v.matrix(["she", "woman", "queen"]) - v.matrix(["he", "man", "king"])
    assert float(np.mean(diffs @ d.vector)) > 0  # first words on the positive side
    flipped = kb.direction_pca(toy_emb, [(b, a) for a, b in pairs])
    np.testing.assert_allclose(flipped.vector, -d.vector, atol=1e-6)
    shuffled = kb.direction_pca(toy_emb, pairs[::-1])
    np.testing.assert_allclose(shuffled.vector, d.vector, atol=1e-6)
    with pytest.raises(kc.KhipuError, match="explains only"):
        kb.direction_pca(toy_emb, pairs, min_explained=0.99)
    with pytest.raises(kc.KhipuError, match="pairs have words missing"):
        kb.direction_pca(toy_emb, [("she", "he"), ("xx", "yy")])


def test_projection_and_direct_bias_by_hand(toy_emb) -> None:  # type: ignore[no-untyped-def]
    d = kb.direction_from_pair(toy_emb, "she", "he")
    words = ["doctor", "nurse", "car", "missing-word"]
    p = kb.project(toy_emb, words, d)
    v = toy_emb.normalized().matrix(["doctor", "nurse", "car"])
    expected = v @ d.vector / np.linalg.norm(v, axis=1)
    np.testing.assert_allclose(p.scores, expected, atol=1e-6)
    assert p.missing == ("missing-word",)
    assert [w for w, _ in p.ranked()] == [
        ["doctor", "nurse", "car"][i] for i in np.argsort(-expected)
    ]
    db = kb.direct_bias(toy_emb, ["doctor", "nurse", "car"], d)
    assert db == pytest.approx(float(np.mean(np.abs(expected))))
    db3 = kb.direct_bias(toy_emb, ["doctor", "nurse", "car"], d, strictness=3)
    assert db3 == pytest.approx(float(np.mean(np.abs(expected) ** 3)))


def test_direction_bad_inputs(toy_emb) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(kc.UnknownNameError):
        kb.bias_direction(toy_emb, ["she"], ["he"], method="lda")
    with pytest.raises(kc.KhipuError, match="one word"):
        kb.bias_direction(toy_emb, ["she", "woman"], ["he"], method="pair")
    with pytest.raises(kc.KhipuError, match="word by word"):
        kb.bias_direction(toy_emb, ["she", "woman"], ["he"], method="pca")
    with pytest.raises(kc.KhipuError, match="at least one word"):
        kb.bias_direction(toy_emb, [], ["he"])
    with pytest.raises(kc.KhipuError, match="empty"):
        kb.project(toy_emb, [], np.ones(16))


def test_neutralize_zeroes_projections_and_keeps_unit_norms() -> None:
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(50, 12)), _unit(rng.normal(size=12))
    out = kb.neutralize(x, g)
    np.testing.assert_allclose(out @ g, 0.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-12)


def test_equalize_makes_pairs_symmetric_and_unit() -> None:
    rng = np.random.default_rng(1)
    g = _unit(rng.normal(size=10))
    a, b = rng.normal(size=10), rng.normal(size=10)
    a2, b2 = kb.equalize(a, b, g)
    assert np.linalg.norm(a2) == pytest.approx(1.0) and np.linalg.norm(b2) == pytest.approx(1.0)
    assert float(a2 @ g) == pytest.approx(-float(b2 @ g))
    np.testing.assert_allclose(a2 - (a2 @ g) * g, b2 - (b2 @ g) * g, atol=1e-12)
    neutral = kb.neutralize(rng.normal(size=(5, 10)), g)
    np.testing.assert_allclose(neutral @ a2, neutral @ b2, atol=1e-12)  # equidistant
    assert np.sign(a2 @ g) == np.sign((_unit(a) - _unit(b)) @ g)  # keeps its side


def test_hard_debias_keeps_gender_specific_words(toy_emb) -> None:  # type: ignore[no-untyped-def]
    d = kb.direction_pca(toy_emb, [("she", "he"), ("woman", "man")])
    out = kb.hard_debias(toy_emb, d, keep=["she", "he"], equalize_pairs=[("queen", "king")])
    before, after = toy_emb.normalized(), out
    np.testing.assert_allclose(after.vector("she"), before.vector("she"), atol=1e-6)
    proj = kb.project(after, ["doctor", "nurse", "car", "woman"], d)
    np.testing.assert_allclose(proj.scores, 0.0, atol=1e-6)
    assert after.is_normalized()
    q, k = after.vector("queen"), after.vector("king")
    assert float(q @ d.vector) == pytest.approx(-float(k @ d.vector), abs=1e-6)


def test_kmeans_separates_blobs_and_recoverability_detects_leftover_bias() -> None:
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(size=(30, 3)) + 5, rng.normal(size=(30, 3)) - 5])
    labels = kb.kmeans(blobs, 2, seed=0)
    assert len(set(labels[:30])) == 1 and len(set(labels[30:])) == 1 and labels[0] != labels[-1]
    # words biased along g AND along a second, correlated axis h: neutralizing g leaves h
    dim, n = 20, 200
    g, h = np.eye(dim)[0], np.eye(dim)[1]
    side = np.repeat([1.0, -1.0], n // 2)
    vecs = rng.normal(size=(n, dim)) * 0.3 + np.outer(side, g) + np.outer(side, h)
    emb = kb.WordEmbeddings(tuple(f"w{i}" for i in range(n)), vecs)
    deb = kb.hard_debias(emb, g)
    np.testing.assert_allclose(deb.vectors @ g, 0.0, atol=1e-6)
    rec = kb.recoverability(emb, deb, g, n_words=50, k=5)
    assert rec.cluster_accuracy > 0.95 and rec.neighbour_agreement > 0.9
    # without the second axis, nothing is left to recover
    clean = rng.normal(size=(n, dim)) * 0.3 + np.outer(side, g)
    emb2 = kb.WordEmbeddings(tuple(f"w{i}" for i in range(n)), clean)
    rec2 = kb.recoverability(emb2, kb.hard_debias(emb2, g), g, n_words=50, k=5)
    assert rec2.cluster_accuracy < 0.75 and rec2.neighbour_agreement < 0.7
