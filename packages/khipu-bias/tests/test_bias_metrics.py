"""Every metric of khipu.bias.metrics against a plain loop over its paper's formula, on a
small random embedding and on the word sets of Caliskan et al.'s ten WEAT tests."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import khipu.bias as kb
import khipu.core as kc
import numpy as np
import pytest
from khipu.bias import metrics as m
from khipu.bias.weat import permutation_test

CALISKAN = [f"caliskan-t{i}" for i in range(1, 11)]

# --- plain loops: the papers' formulas, one number at a time ------------------------------------


def _norm(v: np.ndarray) -> np.ndarray:
    return v / math.sqrt(sum(float(c) ** 2 for c in v))


def _cos(u: np.ndarray, v: np.ndarray) -> float:
    return float(sum(float(a) * float(b) for a, b in zip(u, v, strict=True))) / (
        math.sqrt(sum(float(a) ** 2 for a in u)) * math.sqrt(sum(float(b) ** 2 for b in v))
    )


def _mean_vec(rows: np.ndarray) -> np.ndarray:
    return np.array([sum(float(r[d]) for r in rows) / len(rows) for d in range(rows.shape[1])])


def rnd_loop(t1, t2, attrs, distance):  # type: ignore[no-untyped-def]
    c1, c2 = _mean_vec(t1), _mean_vec(t2)
    total = 0.0
    for a in attrs:
        if distance == "euclidean":
            d1 = math.sqrt(sum((float(a[i]) - c1[i]) ** 2 for i in range(len(a))))
            d2 = math.sqrt(sum((float(a[i]) - c2[i]) ** 2 for i in range(len(a))))
        else:
            d1, d2 = 1 - _cos(a, c1), 1 - _cos(a, c2)
        total += d1 - d2
    return total / len(attrs)


def mac_loop(targets, attributes):  # type: ignore[no-untyped-def]
    values = []
    for t_set in targets:
        for t in t_set:
            for a_set in attributes:
                values.append(sum(1 - _cos(t, a) for a in a_set) / len(a_set))
    return sum(values) / len(values)


def _ranks_loop(u):  # type: ignore[no-untyped-def]
    out = []
    for v in u:
        below = sum(1 for w in u if w < v)
        same = sum(1 for w in u if w == v)
        out.append(below + (same + 1) / 2)
    return out


def _pearson_loop(u, v):  # type: ignore[no-untyped-def]
    mu, mv = sum(u) / len(u), sum(v) / len(v)
    num = sum((a - mu) * (b - mv) for a, b in zip(u, v, strict=True))
    den = math.sqrt(sum((a - mu) ** 2 for a in u) * sum((b - mv) ** 2 for b in v))
    return num / den


def ect_loop(t1, t2, attrs):  # type: ignore[no-untyped-def]
    c1, c2 = _mean_vec(t1), _mean_vec(t2)
    u = [_cos(c1, a) for a in attrs]
    v = [_cos(c2, a) for a in attrs]
    return _pearson_loop(_ranks_loop(u), _ranks_loop(v))


def relation_loop(x, y, iters: int = 500):  # type: ignore[no-untyped-def]
    """First principal direction of the differences by power iteration on sum d d^T."""
    diffs = [np.array(xi, float) - np.array(yi, float) for xi, yi in zip(x, y, strict=True)]
    dim = len(diffs[0])
    cov = [[sum(d[i] * d[j] for d in diffs) for j in range(dim)] for i in range(dim)]
    b = np.ones(dim) / math.sqrt(dim)
    for _ in range(iters):
        b = np.array([sum(cov[i][j] * b[j] for j in range(dim)) for i in range(dim)])
        b = b / math.sqrt(sum(c * c for c in b))
    mean_diff = [sum(d[i] for d in diffs) / len(diffs) for i in range(dim)]
    if sum(mean_diff[i] * b[i] for i in range(dim)) < 0:
        b = -b
    return b


def ripa_loop(x, y, words):  # type: ignore[no-untyped-def]
    b = relation_loop(x, y)
    return [sum(float(w[i]) * b[i] for i in range(len(b))) for w in words]


def indirect_loop(w, v, g):  # type: ignore[no-untyped-def]
    g = _norm(np.asarray(g, float))
    dot = sum(float(a) * float(b) for a, b in zip(w, v, strict=True))
    wg = sum(float(a) * float(b) for a, b in zip(w, g, strict=True))
    vg = sum(float(a) * float(b) for a, b in zip(v, g, strict=True))
    wp = [float(w[i]) - wg * g[i] for i in range(len(g))]
    vp = [float(v[i]) - vg * g[i] for i in range(len(g))]
    return (dot - _cos(np.array(wp), np.array(vp))) / dot


def kl_loop(probs):  # type: ignore[no-untyped-def]
    total = sum(probs)
    p = [q / total for q in probs]
    return sum(pi * math.log(pi * len(p)) for pi in p if pi > 0)


# --- fixtures -------------------------------------------------------------------------------


def _unit_rows(rng: np.random.Generator, n: int, dim: int, shift: float = 0.0) -> np.ndarray:
    x = rng.normal(size=(n, dim)) + shift
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def small() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "x": _unit_rows(rng, 5, 8, 0.3),
        "y": _unit_rows(rng, 5, 8),
        "a": _unit_rows(rng, 6, 8, 0.3),
        "b": _unit_rows(rng, 4, 8),
    }


@pytest.fixture(scope="module")
def caliskan_vectors() -> kb.WordEmbeddings:
    """Random 12-d vectors for every word of the ten Caliskan tests."""
    words: list[str] = []
    for name in CALISKAN:
        for ws in kb.get_test(name).word_sets().values():
            words += [w for w in ws if w not in words]
    rng = np.random.default_rng(0)
    return kb.WordEmbeddings(tuple(words), rng.normal(size=(len(words), 12)), name="random")


def _sets(emb: kb.WordEmbeddings, name: str) -> list[np.ndarray]:
    test = kb.get_test(name)
    unit = emb.normalized()
    return [
        np.asarray(unit.matrix(ws.words), np.float64) for ws in (test.x, test.y, test.a, test.b)
    ]


# --- WEAT ---------------------------------------------------------------------------------------


def test_weat_d_matches_the_numpy_weat(small: dict[str, np.ndarray]) -> None:
    x, y, a, b = (small[k] for k in "xyab")
    ref = kb.weat_effect_size(kb.association(x, a, b), kb.association(y, a, b))
    assert float(m.weat_d(*(jnp.asarray(v) for v in (x, y, a, b)))) == pytest.approx(ref, rel=1e-5)


# --- RND -------------------------------------------------------------------------------------


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_rnd_matches_the_loop_on_a_small_embedding(
    small: dict[str, np.ndarray], distance: str
) -> None:
    got = float(
        m.rnd(
            jnp.asarray(small["x"]),
            jnp.asarray(small["y"]),
            jnp.asarray(small["a"]),
            distance=distance,
        )
    )
    assert got == pytest.approx(rnd_loop(small["x"], small["y"], small["a"], distance), abs=1e-5)


@pytest.mark.parametrize("name", CALISKAN)
def test_rnd_both_variants_match_the_loop_on_caliskan_sets(
    caliskan_vectors: kb.WordEmbeddings, name: str
) -> None:
    x, y, a, b = _sets(caliskan_vectors, name)
    for distance in ("euclidean", "cosine"):
        for attrs in (a, b):
            got = float(
                m.rnd(jnp.asarray(x), jnp.asarray(y), jnp.asarray(attrs), distance=distance)
            )
            assert got == pytest.approx(rnd_loop(x, y, attrs, distance), abs=1e-5)


def test_rnd_sign_is_negative_when_attributes_are_closer_to_the_first_group() -> None:
    rng = np.random.default_rng(1)
    t1 = _unit_rows(rng, 4, 6) * 0.1 + np.eye(6)[0]
    t2 = _unit_rows(rng, 4, 6) * 0.1 + np.eye(6)[1]
    attrs = _unit_rows(rng, 3, 6) * 0.1 + np.eye(6)[0]
    t1, t2, attrs = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (t1, t2, attrs))
    for distance in ("euclidean", "cosine"):
        assert (
            float(m.rnd(jnp.asarray(t1), jnp.asarray(t2), jnp.asarray(attrs), distance=distance))
            < 0
        )
        assert (
            float(m.rnd(jnp.asarray(t2), jnp.asarray(t1), jnp.asarray(attrs), distance=distance))
            > 0
        )


def test_rnd_refuses_an_unknown_distance(small: dict[str, np.ndarray]) -> None:
    with pytest.raises(kc.UnknownNameError):
        m.rnd(
            jnp.asarray(small["x"]), jnp.asarray(small["y"]), jnp.asarray(small["a"]), distance="l1"
        )


def test_rnd_pairwise_for_three_groups_matches_the_loop(small: dict[str, np.ndarray]) -> None:
    groups = [small["x"], small["y"], small["b"]]
    got = np.asarray(m.rnd_pairwise([jnp.asarray(g) for g in groups], jnp.asarray(small["a"])))
    for i, j in itertools.product(range(3), range(3)):
        assert got[i, j] == pytest.approx(
            rnd_loop(groups[i], groups[j], small["a"], "euclidean"), abs=1e-5
        )
    np.testing.assert_allclose(got, -got.T, atol=1e-6)


# --- MAC -------------------------------------------------------------------------------------


def test_mac_matches_the_loop_with_two_and_three_groups(small: dict[str, np.ndarray]) -> None:
    x, y, a, b = (small[k] for k in "xyab")
    assert float(
        m.mac([jnp.asarray(x), jnp.asarray(y)], [jnp.asarray(a), jnp.asarray(b)])
    ) == pytest.approx(mac_loop([x, y], [a, b]), abs=1e-5)
    three = [x, y, a[:3]]
    assert float(m.mac([jnp.asarray(t) for t in three], [jnp.asarray(b)])) == pytest.approx(
        mac_loop(three, [b]), abs=1e-5
    )


@pytest.mark.parametrize("name", CALISKAN)
def test_mac_matches_the_loop_on_caliskan_sets(
    caliskan_vectors: kb.WordEmbeddings, name: str
) -> None:
    x, y, a, b = _sets(caliskan_vectors, name)
    got = float(m.mac([jnp.asarray(x), jnp.asarray(y)], [jnp.asarray(a), jnp.asarray(b)]))
    assert got == pytest.approx(mac_loop([x, y], [a, b]), abs=1e-5)


def test_mac_is_a_distance_zero_for_identical_words() -> None:
    v = jnp.asarray(np.eye(4)[:2])
    assert float(m.mac([v], [v[:1]])) == pytest.approx(0.5)  # 0 to itself, 1 to the other


# --- ECT -------------------------------------------------------------------------------------


def test_ect_matches_the_loop_and_scipy(small: dict[str, np.ndarray]) -> None:
    x, y, a, b = (small[k] for k in "xyab")
    ab = np.concatenate([a, b])
    got = float(m.ect(jnp.asarray(x), jnp.asarray(y), jnp.asarray(ab)))
    assert got == pytest.approx(ect_loop(x, y, ab), abs=1e-5)
    stats = pytest.importorskip("scipy.stats")
    c1, c2 = x.mean(0), y.mean(0)
    rho = stats.spearmanr(ab @ c1 / np.linalg.norm(c1), ab @ c2 / np.linalg.norm(c2)).statistic
    assert got == pytest.approx(rho, abs=1e-5)


@pytest.mark.parametrize("name", CALISKAN)
def test_ect_matches_the_loop_on_caliskan_sets(
    caliskan_vectors: kb.WordEmbeddings, name: str
) -> None:
    x, y, a, b = _sets(caliskan_vectors, name)
    ab = np.concatenate([a, b])
    assert float(m.ect(jnp.asarray(x), jnp.asarray(y), jnp.asarray(ab))) == pytest.approx(
        ect_loop(x, y, ab), abs=1e-5
    )


def test_average_ranks_handle_ties_like_the_loop() -> None:
    u = [3.0, 1.0, 3.0, 2.0, 3.0]
    np.testing.assert_allclose(np.asarray(m.average_ranks(jnp.asarray(u))), _ranks_loop(u))


def test_ect_of_a_constant_input_is_a_clear_error_not_nan(small: dict[str, np.ndarray]) -> None:
    one = jnp.asarray(small["a"][:1])
    with pytest.raises(m.ConstantInputError, match="undefined"):
        m.ect_checked(jnp.asarray(small["x"]), jnp.asarray(small["y"]), jnp.concatenate([one, one]))
    assert m.ect_checked(
        jnp.asarray(small["x"]), jnp.asarray(small["y"]), jnp.asarray(small["a"])
    ) == pytest.approx(ect_loop(small["x"], small["y"], small["a"]), abs=1e-5)


# --- RIPA ------------------------------------------------------------------------------------


def test_ripa_matches_the_loop(small: dict[str, np.ndarray]) -> None:
    x, y, a = small["x"], small["y"], small["a"]
    got = np.asarray(m.ripa(jnp.asarray(x), jnp.asarray(y), jnp.asarray(a)))
    np.testing.assert_allclose(got, ripa_loop(x, y, a), atol=1e-4)


@pytest.mark.parametrize("name", CALISKAN)
def test_ripa_matches_the_loop_on_caliskan_sets(
    caliskan_vectors: kb.WordEmbeddings, name: str
) -> None:
    x, y, a, _ = _sets(caliskan_vectors, name)
    n = min(len(x), len(y))
    got = np.asarray(m.ripa(jnp.asarray(x[:n]), jnp.asarray(y[:n]), jnp.asarray(a)))
    np.testing.assert_allclose(got, ripa_loop(x[:n], y[:n], a), atol=1e-4)


def test_ripa_with_one_pair_is_the_normalised_difference() -> None:
    rng = np.random.default_rng(2)
    x, y, w = _unit_rows(rng, 1, 5), _unit_rows(rng, 1, 5), _unit_rows(rng, 3, 5)
    b = (x[0] - y[0]) / np.linalg.norm(x[0] - y[0])
    np.testing.assert_allclose(
        np.asarray(m.ripa(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w))), w @ b, atol=1e-5
    )


def test_ripa_refuses_unequal_sets(small: dict[str, np.ndarray]) -> None:
    with pytest.raises(kc.KhipuError, match="word by word"):
        m.ripa(jnp.asarray(small["x"]), jnp.asarray(small["y"][:4]), jnp.asarray(small["a"]))


def test_ripa_pairs_are_matched_by_word_not_by_position(toy_emb: kb.WordEmbeddings) -> None:
    from khipu.bias.query import matched_pairs

    kept, dropped = matched_pairs(toy_emb, ["he", "absent", "king"], ["she", "woman", "queen"])
    assert kept == [("he", "she"), ("king", "queen")]  # woman is not paired with king
    assert dropped == [("absent", "woman")]
    with pytest.raises(kc.KhipuError, match="equal length"):
        matched_pairs(toy_emb, ["he", "king"], ["she"])


# --- indirect bias ----------------------------------------------------------------------------


def test_indirect_bias_matches_the_loop() -> None:
    rng = np.random.default_rng(4)
    g = rng.normal(size=6)
    w = _unit_rows(rng, 5, 6, 0.8)
    v = _unit_rows(rng, 5, 6, 0.8)
    got = np.asarray(m.indirect_bias(jnp.asarray(w), jnp.asarray(v), jnp.asarray(g)))
    np.testing.assert_allclose(got, [indirect_loop(w[i], v[i], g) for i in range(5)], atol=1e-4)


def test_indirect_bias_refuses_nearly_orthogonal_pairs() -> None:
    w = jnp.asarray([[1.0, 0.0, 0.0]])
    v = jnp.asarray([[0.0, 1.0, 0.0]])
    with pytest.raises(m.UnstableRatioError, match=r"w\.v"):
        m.indirect_bias(w, v, jnp.asarray([0.0, 0.0, 1.0]))
    # the unguarded formula explodes there: the reason for the refusal
    w2 = jnp.asarray([[0.6, 0.0, 0.8]])
    raw = np.array([0.5, 0.5, -0.375 + 1.25e-4])  # w2 . raw = 1e-4, but not off the direction
    nearly = jnp.asarray(raw[None] / np.linalg.norm(raw))
    g = jnp.asarray([0.0, 0.0, 1.0])
    assert abs(float(m.indirect_bias_unchecked(w2, nearly, g)[0])) > 100
    with pytest.raises(m.UnstableRatioError):
        m.indirect_bias(w2, nearly, g)


# --- multiclass subspace ---------------------------------------------------------------------


def test_bias_subspace_of_one_pair_is_the_pair_direction() -> None:
    rng = np.random.default_rng(5)
    pair = _unit_rows(rng, 2, 6)
    basis, ratio = m.bias_subspace([jnp.asarray(pair)], k=1)
    d = (pair[0] - pair[1]) / np.linalg.norm(pair[0] - pair[1])
    assert abs(float(np.asarray(basis)[0] @ d)) == pytest.approx(1.0, abs=1e-5)
    assert float(ratio[0]) == pytest.approx(1.0, abs=1e-5)


def test_bias_subspace_of_three_group_sets_spans_their_centred_rows() -> None:
    rng = np.random.default_rng(6)
    sets = [_unit_rows(rng, 3, 7) for _ in range(4)]
    basis, _ = m.bias_subspace([jnp.asarray(s) for s in sets], k=2)
    rows = np.concatenate([s - s.mean(0) for s in sets])
    # the loop: PCA by eigen-decomposition of the scatter matrix
    scatter = sum(np.outer(r, r) for r in rows)
    vals, vecs = np.linalg.eigh(scatter)
    top = vecs[:, np.argsort(vals)[::-1][:2]]
    proj = np.asarray(basis) @ top  # same 2-d subspace: an orthogonal 2x2 matrix
    np.testing.assert_allclose(proj @ proj.T, np.eye(2), atol=1e-4)


# --- RNSB ------------------------------------------------------------------------------------


def test_rnsb_kl_matches_the_loop_given_the_classifier(small: dict[str, np.ndarray]) -> None:
    x, y, a, b = (jnp.asarray(small[k]) for k in "xyab")
    data = jnp.concatenate([a, b])
    labels = jnp.concatenate([jnp.zeros(len(a)), jnp.ones(len(b))])
    fit = m.fit_logistic(data, labels, jnp.ones(len(data)))
    t = jnp.concatenate([x, y])
    kl, p = m.rnsb_from_fit(fit, t)
    probs = [1 / (1 + math.exp(-(float(row @ fit.w) + float(fit.b)))) for row in np.asarray(t)]
    assert float(kl) == pytest.approx(kl_loop(probs), abs=1e-5)
    np.testing.assert_allclose(np.asarray(p), np.array(probs) / sum(probs), atol=1e-6)


def test_logistic_regression_matches_scikit_learn(small: dict[str, np.ndarray]) -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    data = np.concatenate([small["a"], small["b"], small["x"]])
    labels = np.concatenate([np.zeros(6), np.ones(4), np.ones(5)])
    l2 = 0.05
    fit = m.fit_logistic(
        jnp.asarray(data), jnp.asarray(labels), jnp.ones(len(data)), l2=l2, steps=2000
    )
    ref = linear_model.LogisticRegression(C=1 / (l2 * len(data)), tol=1e-10, max_iter=10_000)
    ref.fit(data, labels)
    ours = np.asarray(jax.nn.sigmoid(jnp.asarray(data) @ fit.w + fit.b))
    np.testing.assert_allclose(ours, ref.predict_proba(data)[:, 1], atol=2e-3)


def test_rnsb_is_seeded_and_varies_across_seeds(small: dict[str, np.ndarray]) -> None:
    x, y, a, b = (jnp.asarray(small[k]) for k in "xyab")
    t = jnp.concatenate([x, y])
    kl1, _ = m.rnsb(t, a, b, jax.random.key(0), n_seeds=6)
    kl2, _ = m.rnsb(t, a, b, jax.random.key(0), n_seeds=6)
    kl3, _ = m.rnsb(t, a, b, jax.random.key(1), n_seeds=6)
    np.testing.assert_array_equal(np.asarray(kl1), np.asarray(kl2))
    assert np.std(np.asarray(kl1)) > 0  # different training subsets per seed
    assert not np.array_equal(np.asarray(kl1), np.asarray(kl3))
    assert np.all(np.asarray(kl1) >= 0)


def test_rnsb_is_zero_for_targets_the_classifier_cannot_tell_apart() -> None:
    a = jnp.asarray([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0]])
    b = jnp.asarray([[-1.0, 0.0, 0.0], [-0.9, -0.1, 0.0]])
    t = jnp.asarray([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [0.0, 0.0, 1.0]])  # orthogonal to a - b
    kl, _ = m.rnsb(t, a, b, jax.random.key(0), n_seeds=3, train_fraction=1.0)
    np.testing.assert_allclose(np.asarray(kl), 0.0, atol=1e-4)


@pytest.mark.parametrize("name", ["caliskan-t1", "caliskan-t6", "caliskan-t9"])
def test_rnsb_on_caliskan_sets_matches_the_loop(
    caliskan_vectors: kb.WordEmbeddings, name: str
) -> None:
    x, y, a, b = (jnp.asarray(v) for v in _sets(caliskan_vectors, name))
    data = jnp.concatenate([a, b])
    labels = jnp.concatenate([jnp.zeros(len(a)), jnp.ones(len(b))])
    fit = m.fit_logistic(data, labels, jnp.ones(len(data)))
    t = jnp.concatenate([x, y])
    probs = [1 / (1 + math.exp(-(float(row @ fit.w) + float(fit.b)))) for row in np.asarray(t)]
    assert float(m.rnsb_from_fit(fit, t)[0]) == pytest.approx(kl_loop(probs), abs=1e-5)


# --- WEAT p-value: two-sided -------------------------------------------------------------------


def test_two_sided_p_value_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    s_x, s_y = rng.normal(size=5) + 0.5, rng.normal(size=5)
    pool = np.concatenate([s_x, s_y])
    observed = s_x.sum() - s_y.sum()
    count = total = 0
    for idx in itertools.combinations(range(10), 5):
        mask = np.zeros(10, bool)
        mask[list(idx)] = True
        stat = pool[mask].sum() - pool[~mask].sum()
        count += abs(stat) > abs(observed) + 1e-9
        total += 1
    two = permutation_test(s_x, s_y, alternative="two-sided")
    one = permutation_test(s_x, s_y)
    assert two.exact and two.p_value == pytest.approx(count / total)
    assert two.p_value >= one.p_value
    with pytest.raises(kc.UnknownNameError):
        permutation_test(s_x, s_y, alternative="less-ish")
