"""WEAT against plain-loop formulas, brute-force p-values and the paper's word lists."""

from __future__ import annotations

import itertools
import math

import khipu.bias as kb
import khipu.core as kc
import numpy as np
import pytest
from khipu.bias.weat import exact_partitions, permutation_test


def _cos(u: np.ndarray, v: np.ndarray) -> float:
    return float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))


def weat_by_loops(x, y, a, b):  # type: ignore[no-untyped-def]
    """The paper's formulas, one Python loop at a time."""

    def s(w):  # type: ignore[no-untyped-def]
        return sum(_cos(w, ai) for ai in a) / len(a) - sum(_cos(w, bi) for bi in b) / len(b)

    sx, sy = [s(w) for w in x], [s(w) for w in y]
    stat = sum(sx) - sum(sy)
    allv = sx + sy
    mean = sum(allv) / len(allv)
    std = math.sqrt(sum((v - mean) ** 2 for v in allv) / (len(allv) - 1))
    return stat, (sum(sx) / len(sx) - sum(sy) / len(sy)) / std, sx, sy


def brute_force_p(sx, sy):  # type: ignore[no-untyped-def]
    pool = list(sx) + list(sy)
    n = len(sx)
    observed = sum(sx) - sum(sy)
    greater = total = 0
    for xi in itertools.combinations(range(len(pool)), n):
        chosen = set(xi)
        stat = sum(pool[i] for i in chosen) - sum(
            pool[i] for i in range(len(pool)) if i not in chosen
        )
        greater += stat > observed + 1e-9
        total += 1
    return greater / total


@pytest.mark.parametrize(("n", "na", "nb"), [(3, 4, 5), (8, 8, 8), (12, 6, 9)])
def test_statistic_and_effect_size_match_plain_loops(n: int, na: int, nb: int) -> None:
    rng = np.random.default_rng(n)
    x, y = rng.normal(size=(n, 10)) + 0.3, rng.normal(size=(n, 10))
    a, b = rng.normal(size=(na, 10)) + 0.3, rng.normal(size=(nb, 10))
    stat, d, perm, s_x, s_y = kb.weat_from_vectors(x, y, a, b, n_permutations=1000)
    ref_stat, ref_d, ref_sx, ref_sy = weat_by_loops(x, y, a, b)
    np.testing.assert_allclose(s_x, ref_sx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s_y, ref_sy, rtol=1e-12, atol=1e-12)
    assert stat == pytest.approx(ref_stat, rel=1e-12, abs=1e-12)
    assert d == pytest.approx(ref_d, rel=1e-12)
    assert perm.observed == pytest.approx(stat, rel=1e-12, abs=1e-12)


def test_effect_size_ddof_conversion() -> None:
    rng = np.random.default_rng(3)
    sx, sy = rng.normal(size=7) + 1, rng.normal(size=7)
    d1, d0 = kb.weat_effect_size(sx, sy), kb.weat_effect_size(sx, sy, ddof=0)
    n = 7
    assert d1 == pytest.approx(d0 * math.sqrt((2 * n - 1) / (2 * n)))
    assert d1 != pytest.approx(d0)


@pytest.mark.parametrize("n", [2, 4, 6])
def test_exact_p_value_matches_brute_force(n: int) -> None:
    rng = np.random.default_rng(10 + n)
    sx, sy = rng.normal(size=n) + 0.5, rng.normal(size=n)
    result = permutation_test(sx, sy)
    assert result.exact
    assert result.n_partitions == math.comb(2 * n, n) == result.n_permutations
    assert result.p_value == pytest.approx(brute_force_p(sx, sy))


def test_exact_p_value_with_ties_counts_strictly_greater() -> None:
    sx, sy = np.array([1.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.0])
    result = permutation_test(sx, sy)
    assert result.p_value == pytest.approx(brute_force_p(sx, sy))
    # the observed partition holds two of the three 1.0 values: only {1, 1, 1} beats it
    assert result.p_value == pytest.approx(1 / 20)


@pytest.mark.parametrize(("m", "n"), [(6, 3), (16, 8), (9, 2), (5, 5), (70, 1)])
def test_exact_partitions_are_all_subsets(m: int, n: int) -> None:
    masks = exact_partitions(m, n)
    assert masks.shape == (math.comb(m, n), m)
    assert np.all(masks.sum(axis=1) == n)
    expected = set()
    for c in itertools.combinations(range(m), n):
        row = np.zeros(m, dtype=bool)
        row[list(c)] = True
        expected.add(row.tobytes())
    assert {row.tobytes() for row in masks} == expected


def test_sampled_partitions_are_distinct_and_uniform() -> None:
    masks = kb.sample_partitions(20, 10, 30_000, seed=1)
    assert masks.shape == (30_000, 20)
    assert np.all(masks.sum(axis=1) == 10)
    assert len({m.tobytes() for m in masks}) == 30_000  # without replacement
    np.testing.assert_allclose(masks.mean(axis=0), 0.5, atol=0.015)
    # all of them when asked for all: sampling without replacement exhausts the set
    every = kb.sample_partitions(10, 5, math.comb(10, 5), seed=2)
    assert {m.tobytes() for m in every} == {m.tobytes() for m in exact_partitions(10, 5)}
    with pytest.raises(kc.KhipuError, match="distinct partitions"):
        kb.sample_partitions(6, 3, 21)


def test_sampled_p_value_converges_to_exact_and_is_seeded() -> None:
    rng = np.random.default_rng(5)
    sx, sy = rng.normal(size=9) + 0.4, rng.normal(size=9)  # C(18, 9) = 48620
    exact = permutation_test(sx, sy).p_value
    errors = []
    for k in (2_000, 20_000, 48_000):
        sampled = permutation_test(sx, sy, n_permutations=k, exact_limit=0, seed=7)
        assert not sampled.exact and sampled.n_permutations == k
        bound = 4 * math.sqrt(exact * (1 - exact) / k) * math.sqrt(1 - k / 48620) + 1e-9
        assert abs(sampled.p_value - exact) <= bound
        errors.append(abs(sampled.p_value - exact))
    assert errors[-1] < 0.002
    again = permutation_test(sx, sy, n_permutations=2_000, exact_limit=0, seed=7)
    other = permutation_test(sx, sy, n_permutations=2_000, exact_limit=0, seed=8)
    assert (
        again.p_value
        == permutation_test(sx, sy, n_permutations=2_000, exact_limit=0, seed=7).p_value
    )
    assert not np.array_equal(again.null, other.null)


def test_large_sets_use_sampling_without_replacement() -> None:
    rng = np.random.default_rng(0)
    sx, sy = rng.normal(size=25), rng.normal(size=25)
    result = permutation_test(sx, sy, n_permutations=5_000)
    assert not result.exact and result.n_permutations == 5_000
    assert result.n_partitions == math.comb(50, 25)


def _emb_for(words: list[str], seed: int = 0) -> kb.WordEmbeddings:
    rng = np.random.default_rng(seed)
    return kb.WordEmbeddings(tuple(words), rng.normal(size=(len(words), 8)), name="t")


def test_weat_reports_missing_words_by_name_and_balances() -> None:
    test = kb.make_test(
        "t",
        {"X": ["x1", "x2", "x3", "x4"], "Y": ["y1", "y2", "y3", "y4"]},
        {"A": ["a1", "a2", "zzz"], "B": ["b1", "b2"]},
    )
    emb = _emb_for(["x1", "x2", "x3", "x4", "y1", "y2", "y4", "a1", "a2", "b1", "b2"])
    r = kb.weat(emb, test, max_missing=0.5)
    assert r.missing == {"X": [], "Y": ["y3"], "A": ["zzz"], "B": []}
    assert r.n_missing == 2
    assert len(r.words["X"]) == len(r.words["Y"]) == 3
    dropped = r.balanced_out["X"]
    assert len(dropped) == 1 and dropped[0] not in r.words["X"]
    assert "y3" in r.metrics()["missing_words"] and r.metrics()["n_missing"] == 2
    with pytest.raises(kb.MissingWordsError, match="zzz") as info:
        kb.weat(emb, test, max_missing=0.2)
    assert info.value.missing["A"] == ["zzz"]


def test_weat_on_embeddings_matches_vectors() -> None:
    test = kb.get_test("en-gender-career")
    words = [w for ws in test.word_sets().values() for w in ws]
    emb = _emb_for(words, seed=3)
    r = kb.weat(emb, test)
    stat, d, _, _ = weat_by_loops(
        *(emb.matrix(list(ws.words)) for ws in (test.x, test.y, test.a, test.b))
    )
    assert r.statistic == pytest.approx(stat)
    assert r.effect_size == pytest.approx(d)
    assert r.exact and r.n_partitions == 12870
    assert r.p_value == pytest.approx(brute_force_p(r.association_x, r.association_y))


def test_bad_inputs_give_clear_errors() -> None:
    with pytest.raises(kc.KhipuError, match="empty"):
        kb.WordSet("nothing", ())
    with pytest.raises(kc.KhipuError, match="same size"):
        kb.make_test("t", {"X": ["a", "b"], "Y": ["c"]}, {"A": ["d"], "B": ["e"]})
    with pytest.raises(kc.KhipuError, match="equal size"):
        kb.weat_from_vectors(np.ones((2, 3)), np.ones((3, 3)), np.ones((1, 3)), np.ones((1, 3)))
    with pytest.raises(kc.KhipuError, match="empty"):
        kb.weat_from_vectors(np.ones((2, 3)), np.ones((2, 3)), np.ones((0, 3)), np.ones((1, 3)))
    with pytest.raises(kc.UnknownNameError, match="caliskan-t1"):
        kb.get_test("caliskan-t11")
    with pytest.raises(kc.UnknownNameError, match="available"):
        kb.get_test("no-such-test")
    with pytest.raises(kc.KhipuError, match="positive"):
        permutation_test(np.ones(3), np.ones(3), n_permutations=0)


def test_caliskan_tests_are_the_papers() -> None:
    sizes = {
        1: (25, 25, 25, 25),
        2: (25, 25, 25, 25),
        3: (32, 32, 25, 25),
        4: (16, 16, 25, 25),
        5: (16, 16, 8, 8),
        6: (8, 8, 8, 8),
        7: (8, 8, 8, 8),
        8: (8, 8, 8, 8),
        9: (6, 6, 7, 7),
        10: (8, 8, 8, 8),
    }
    for k, size in sizes.items():
        t = kb.caliskan_test(f"caliskan-t{k}")
        assert (len(t.x), len(t.y), len(t.a), len(t.b)) == size
        assert t.paper["effect_size"] > 1.0
    t3 = kb.caliskan_test("caliskan-t3", include_excluded=True)
    assert len(t3.x) == len(t3.y) == 50 and "Bobbie-Sue" in t3.x.words
    assert "Bobbie-Sue" not in kb.caliskan_test("weat3").x.words
    t1 = kb.caliskan_test("t1")
    assert t1.x.words[:3] == ("aster", "clover", "hyacinth") and t1.y.words[-1] == "weevil"
    assert "bomb" in kb.caliskan_test("caliskan-t3").b.words
    assert "bomb" not in t1.b.words
    assert kb.caliskan_test("caliskan-t8").x.words[4] == "Einstein"
    assert len(kb.available_tests()) == 15


def test_default_model_reports_caliskan_missing_words(default_emb) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(kb.MissingWordsError, match="aster") as info:
        kb.weat(default_emb, kb.get_test("caliskan-t1"))
    assert "rose" not in info.value.missing["Flowers"]  # found words are not listed
    r = kb.weat(default_emb, kb.get_test("caliskan-t8"), max_missing=None)
    assert set(r.missing["Female terms"]) == {"aunt", "grandmother", "hers"}
    assert r.n_missing == sum(len(v) for v in r.missing.values())
    ok = kb.weat(default_emb, kb.get_test("en-gender-career"))
    assert ok.n_missing == 0 and np.isfinite(ok.effect_size)
