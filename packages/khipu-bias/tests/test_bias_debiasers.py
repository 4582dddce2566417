"""Multiclass hard debias, Double-Hard, Half-Sibling Regression and RAN against independent
computations; each leaves its input untouched; the before/after quality numbers."""

from __future__ import annotations

import jax.numpy as jnp
import khipu.bias as kb
import khipu.core as kc
import numpy as np
import pytest
from khipu.bias import debiasers as d, quality as q


@pytest.fixture(scope="module")
def gendered() -> kb.WordEmbeddings:
    """40 random 10-d words plus gendered pairs that share a planted direction."""
    rng = np.random.default_rng(0)
    axis = np.zeros(10)
    axis[0] = 1.0
    words, rows = [], []
    for f, m in [("she", "he"), ("woman", "man"), ("girl", "boy"), ("mother", "father")]:
        base = rng.normal(size=10)
        words += [f, m]
        rows += [base + 1.5 * axis, base - 1.5 * axis]
    for i in range(40):
        words.append(f"w{i}")
        rows.append(rng.normal(size=10) + rng.normal() * axis)
    return kb.WordEmbeddings(tuple(words), np.array(rows), name="gendered").normalized()


PAIRS = [("she", "he"), ("woman", "man"), ("girl", "boy"), ("mother", "father")]
GENDERED = [w for p in PAIRS for w in p]


def test_multiclass_with_one_pair_equals_bolukbasi_neutralize(gendered: kb.WordEmbeddings) -> None:
    before = gendered.vectors.copy()
    out = d.multiclass_hard_debias(gendered, [("she", "he")], k=1, keep=GENDERED)
    ref = kb.hard_debias(gendered, kb.direction_from_pair(gendered, "she", "he"), keep=GENDERED)
    np.testing.assert_allclose(out.vectors, ref.vectors, atol=1e-5)
    np.testing.assert_array_equal(gendered.vectors, before)  # the input is untouched


def test_multiclass_three_classes_removes_the_subspace(gendered: kb.WordEmbeddings) -> None:
    sets = [("she", "he", "girl"), ("woman", "man", "boy")]
    out = d.multiclass_hard_debias(gendered, sets, k=2, equalize_sets=[("mother", "father", "w0")])
    # the subspace by a loop: eigenvectors of the scatter of the set-centred rows
    rows = []
    for s in sets:
        v = gendered.matrix(list(s)).astype(float)
        rows += list(v - v.mean(0))
    scatter = sum(np.outer(r, r) for r in rows)
    vals, vecs = np.linalg.eigh(scatter)
    basis = vecs[:, np.argsort(vals)[::-1][:2]]
    neutral = out.matrix([f"w{i}" for i in range(1, 40)])
    np.testing.assert_allclose(neutral @ basis, 0.0, atol=1e-5)
    eq = out.matrix(["mother", "father", "w0"])
    np.testing.assert_allclose(np.linalg.norm(eq, axis=1), 1.0, atol=1e-5)
    outside = eq - (eq @ basis) @ basis.T
    np.testing.assert_allclose(outside, np.repeat(outside[:1], 3, axis=0), atol=1e-5)


def test_multiclass_refuses_unusable_sets(gendered: kb.WordEmbeddings) -> None:
    with pytest.raises(kc.KhipuError, match="defining set"):
        d.multiclass_hard_debias(gendered, [("she", "nope")])


def test_half_sibling_regression_matches_ridge_by_least_squares(
    gendered: kb.WordEmbeddings,
) -> None:
    alpha = 5.0
    out = d.half_sibling_regression(gendered, GENDERED, alpha=alpha)
    vd = gendered.matrix(GENDERED).astype(float).T  # [D, n_d]
    others = [w for w in gendered.words if w not in GENDERED]
    vn = gendered.matrix(others).astype(float).T
    # ridge as an augmented least-squares problem: [V_d; sqrt(alpha) I] W = [V_n; 0]
    aug_x = np.vstack([vd, np.sqrt(alpha) * np.eye(vd.shape[1])])
    aug_y = np.vstack([vn, np.zeros((vd.shape[1], vn.shape[1]))])
    w = np.linalg.lstsq(aug_x, aug_y, rcond=None)[0]
    ref = (vn - vd @ w).T
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(out.matrix(others), ref, atol=1e-5)
    np.testing.assert_allclose(out.matrix(GENDERED), gendered.matrix(GENDERED), atol=1e-6)
    with pytest.raises(kc.KhipuError, match="alpha"):
        d.half_sibling_regression(gendered, GENDERED, alpha=0)


def test_double_hard_removes_the_component_least_aligned_with_gender(
    gendered: kb.WordEmbeddings,
) -> None:
    before = gendered.vectors.copy()
    out, choice = d.double_hard_debias(gendered, PAIRS, keep=GENDERED, n_components=5, n_words=8)
    assert len(choice.accuracies) == 5
    assert choice.component == int(np.argmin(choice.accuracies))
    assert np.all((choice.accuracies >= 0.5) & (choice.accuracies <= 1.0))
    # the final step is hard debias: neutral words are orthogonal to the new direction
    vectors = gendered.vectors.astype(float)
    mu = vectors.mean(0)
    u = np.linalg.svd(vectors - mu, full_matrices=False)[2][choice.component]
    shifted = (vectors - mu) - np.outer((vectors - mu) @ u, u) + mu
    shifted /= np.linalg.norm(shifted, axis=1, keepdims=True)
    g = kb.direction_pca(gendered.with_vectors(shifted), PAIRS).vector
    neutral = out.matrix([f"w{i}" for i in range(40)])
    np.testing.assert_allclose(neutral @ g, 0.0, atol=1e-5)
    np.testing.assert_array_equal(gendered.vectors, before)


def test_ran_objective_matches_the_formula() -> None:
    rng = np.random.default_rng(1)
    w, orig, g = rng.normal(size=6), rng.normal(size=6), rng.normal(size=6)
    orig, g = orig / np.linalg.norm(orig), g / np.linalg.norm(g)
    repel = rng.normal(size=(4, 6))
    repel /= np.linalg.norm(repel, axis=1, keepdims=True)
    mask = np.array([True, False, True, True])
    wn = w / np.linalg.norm(w)
    r = np.mean([abs(repel[i] @ wn) for i in range(4) if mask[i]])
    expected = 0.125 * r + 0.75 * abs(wn @ orig - 1) + 0.125 * abs(wn @ g)
    got = d.ran_objective(
        jnp.asarray(w),
        jnp.asarray(orig),
        jnp.asarray(repel),
        jnp.asarray(mask),
        jnp.asarray(g),
        d.RanWeights(),
    )
    assert float(got) == pytest.approx(expected, abs=1e-5)


def test_ran_moves_words_off_the_direction_and_stays_close(gendered: kb.WordEmbeddings) -> None:
    g = kb.direction_pca(gendered, PAIRS)
    words = [f"w{i}" for i in range(20)]
    out = d.ran_debias(gendered, g, words, n_neighbours=10, steps=300, learning_rate=0.02)
    before = np.abs(gendered.matrix(words) @ g.vector)
    after = np.abs(out.matrix(words) @ g.vector)
    assert after.mean() < 0.7 * before.mean()  # attraction (weight 6/8) keeps part of it
    keep_close = np.sum(out.matrix(words) * gendered.matrix(words), axis=1)
    assert keep_close.min() > 0.8
    untouched = [f"w{i}" for i in range(20, 40)]
    np.testing.assert_allclose(out.matrix(untouched), gendered.matrix(untouched), atol=1e-6)
    with pytest.raises(kc.KhipuError, match="RAN"):
        d.ran_debias(gendered, g, ["absent"])


@pytest.mark.parametrize("method", d.METHODS)
def test_every_method_by_name_leaves_the_input_untouched(
    gendered: kb.WordEmbeddings, method: str
) -> None:
    before = gendered.vectors.copy()
    out = d.debias(gendered, method, pairs=PAIRS, keep=GENDERED, ran_words=10)
    assert out.words == gendered.words and out.vectors.shape == gendered.vectors.shape
    np.testing.assert_allclose(np.linalg.norm(out.vectors, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(out.vectors, before)
    np.testing.assert_array_equal(gendered.vectors, before)
    with pytest.raises(kc.UnknownNameError):
        d.debias(gendered, "soft", pairs=PAIRS)


# --- quality ---------------------------------------------------------------------------------


def test_recoverability_classifier_is_perfect_before_and_chance_on_noise(
    gendered: kb.WordEmbeddings,
) -> None:
    g = kb.direction_pca(gendered, PAIRS)
    assert q.recoverability_classifier(gendered, gendered, g, n_words=20, exclude=GENDERED) >= 0.85
    rng = np.random.default_rng(0)
    noise = gendered.with_vectors(rng.normal(size=gendered.vectors.shape))
    scores = [
        q.recoverability_classifier(gendered, noise, g, n_words=20, exclude=GENDERED, seed=s)
        for s in range(5)
    ]
    assert np.mean(scores) < 0.75


def test_word_similarity_is_gensims_spearman(default_emb: kb.WordEmbeddings) -> None:
    from gensim.test.utils import datapath

    kv = default_emb.to_keyed_vectors()
    for name, file in q.SIMILARITY_FILES.items():
        ref = kv.evaluate_word_pairs(datapath(file), case_insensitive=True)[1][0]
        got = q.word_similarity(default_emb, name)
        assert got.spearman == pytest.approx(ref) and 0 <= got.oov_ratio < 1
    with pytest.raises(kc.UnknownNameError):
        q.word_similarity(default_emb, "men")
