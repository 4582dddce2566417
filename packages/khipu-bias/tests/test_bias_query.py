"""Bootstrap intervals against a plain resampling loop; every metric of a query on words."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import khipu.bias as kb
import khipu.core as kc
import numpy as np
import pytest
from khipu.bias import metrics as m
from khipu.bias.query import group_metrics, query_metrics, rank_embeddings
from khipu.bias.uncertainty import bootstrap_ci, percentile_interval, resample_indices


def _sets(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for n, shift in ((6, 0.4), (6, 0.0), (5, 0.4), (5, 0.0)):
        v = rng.normal(size=(n, 8)) + shift
        out.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    return out


def test_bootstrap_ci_of_the_weat_effect_size_matches_a_resampling_loop() -> None:
    sets = _sets(0)
    ci = bootstrap_ci(m.weat_d, sets, n_resamples=200, seed=3)
    # the loop: the same resampled indices, the numpy WEAT effect size, numpy percentiles
    k_idx, _ = jax.random.split(jax.random.key(3))
    idx = [np.asarray(i) for i in resample_indices(k_idx, [len(s) for s in sets], 200)]
    ref = []
    for r in range(200):
        x, y, a, b = (s[i[r]] for s, i in zip(sets, idx, strict=True))
        ref.append(kb.weat_effect_size(kb.association(x, a, b), kb.association(y, a, b)))
    np.testing.assert_allclose(ci.samples, ref, atol=1e-4)
    finite = np.array(ref)[np.isfinite(ref)]
    low, high = np.quantile(finite, [0.025, 0.975])
    assert ci.low == pytest.approx(low, abs=1e-4) and ci.high == pytest.approx(high, abs=1e-4)
    assert ci.low <= ci.value <= ci.high
    assert ci.value == pytest.approx(
        kb.weat_effect_size(
            kb.association(sets[0], sets[2], sets[3]), kb.association(sets[1], sets[2], sets[3])
        ),
        rel=1e-5,
    )


def test_bootstrap_resamples_words_within_each_set() -> None:
    idx = resample_indices(jax.random.key(0), [3, 7], 500)
    assert idx[0].shape == (500, 3) and idx[1].shape == (500, 7)
    assert int(idx[0].max()) == 2 and int(idx[1].max()) == 6
    assert len(np.unique(np.asarray(idx[1]))) == 7  # every word can be drawn


def test_bootstrap_is_seeded() -> None:
    sets = _sets(1)
    a = bootstrap_ci(m.weat_d, sets, n_resamples=50, seed=0)
    b = bootstrap_ci(m.weat_d, sets, n_resamples=50, seed=0)
    c = bootstrap_ci(m.weat_d, sets, n_resamples=50, seed=1)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)


def test_bootstrap_refuses_bad_settings() -> None:
    with pytest.raises(kc.KhipuError, match="resamples"):
        bootstrap_ci(m.weat_d, _sets(0), n_resamples=0)
    with pytest.raises(kc.KhipuError, match="level"):
        bootstrap_ci(m.weat_d, _sets(0), n_resamples=5, level=1.5)


def test_percentile_interval_ignores_undefined_resamples() -> None:
    low, high, n = percentile_interval(np.array([np.nan, 1.0, 2.0, 3.0, np.inf]), 0.5)
    assert n == 3 and low == pytest.approx(1.5) and high == pytest.approx(2.5)


# --- words ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def structured() -> kb.WordEmbeddings:
    """Male words near 'career' words, female words near 'family' words (a planted bias)."""
    rng = np.random.default_rng(0)
    male, female = ["he", "him", "man", "boy", "father"], ["she", "her", "woman", "girl", "mother"]
    career, family = (
        ["salary", "office", "career", "business"],
        ["home", "family", "children", "parents"],
    )
    base = rng.normal(size=(2, 16))
    rows, words = [], []
    for group, centre in ((male + career, base[0]), (female + family, base[1])):
        for w in group:
            words.append(w)
            rows.append(centre + 0.8 * rng.normal(size=16))
    return kb.WordEmbeddings(tuple(words), np.array(rows), name="planted")


def _test() -> kb.WeatTest:
    return kb.make_test(
        "planted",
        {
            "male": ["he", "him", "man", "boy", "father"],
            "female": ["she", "her", "woman", "girl", "mother"],
        },
        {
            "career": ["salary", "office", "career", "business"],
            "family": ["home", "family", "children", "parents"],
        },
    )


@pytest.fixture(scope="module")
def planted(structured: kb.WordEmbeddings):  # type: ignore[no-untyped-def]
    return query_metrics(structured, _test(), bootstrap=200, rnsb_seeds=4, seed=0)


def test_query_metrics_agree_with_each_metric_on_the_same_words(
    structured: kb.WordEmbeddings,
    planted,  # type: ignore[no-untyped-def]
) -> None:
    unit = structured.normalized()
    x, y, a, b = (jnp.asarray(unit.matrix(planted.words[r])) for r in "XYAB")
    v = planted.values
    assert v["weat_effect_size"].value == pytest.approx(
        kb.weat(structured, _test()).effect_size, rel=1e-4
    )
    assert v["rnd_euclidean"].value == pytest.approx(
        float(m.rnd(x, y, b) - m.rnd(x, y, a)), abs=1e-5
    )
    assert v["mac"].value == pytest.approx(float(m.mac([x, y], [a, b])), abs=1e-5)
    assert v["ect"].value == pytest.approx(float(m.ect(x, y, jnp.concatenate([a, b]))), abs=1e-5)
    assert v["rnsb"].value == pytest.approx(float(np.mean(planted.rnsb_per_seed)), abs=1e-6)
    assert len(planted.rnsb_per_seed) == 4


def test_query_metrics_see_the_planted_bias_with_the_weat_sign(planted) -> None:  # type: ignore[no-untyped-def]
    v = planted.values
    for name in ("weat_effect_size", "rnd_euclidean", "rnd_cosine", "ripa"):
        assert v[name].value > 0 and v[name].low > 0, name  # X with A, interval above 0
    assert v["ect"].value < 0.9
    assert planted.p_value < 0.05


def test_query_metrics_json_has_every_metric_and_its_interval(planted) -> None:  # type: ignore[no-untyped-def]
    flat = planted.metrics()
    for name in kb.METRICS:
        assert {name, f"{name}_ci_low", f"{name}_ci_high"} <= set(flat)
        assert flat[f"{name}_ci_low"] <= flat[f"{name}_ci_high"]
    assert flat["missing_words"] == "" and flat["n_missing"] == 0


def test_query_metrics_report_missing_words_and_dropped_pairs(
    structured: kb.WordEmbeddings,
) -> None:
    test = kb.make_test(
        "holes",
        {
            "male": ["he", "him", "man", "boy", "zzmale"],
            "female": ["she", "her", "woman", "girl", "mother"],
        },
        {
            "career": ["salary", "office", "career", "business"],
            "family": ["home", "family", "children", "parents"],
        },
    )
    r = query_metrics(structured, test, bootstrap=20, rnsb_seeds=2, max_missing=0.5)
    assert r.missing["male"] == ["zzmale"]
    assert r.dropped_pairs == [("zzmale", "mother")]
    assert ("boy", "girl") in r.pairs


def test_two_sided_query_p_value(structured: kb.WordEmbeddings, planted) -> None:  # type: ignore[no-untyped-def]
    r = query_metrics(structured, _test(), bootstrap=10, rnsb_seeds=2, alternative="two-sided")
    assert r.alternative == "two-sided"
    assert r.p_value >= planted.p_value


def test_group_metrics_with_three_target_groups(structured: kb.WordEmbeddings) -> None:
    g = group_metrics(
        structured,
        {"male": ["he", "man"], "female": ["she", "woman"], "kin": ["father", "mother"]},
        {"career": ["salary", "office"], "family": ["home", "family"]},
    )
    unit = structured.normalized()
    t = [
        jnp.asarray(unit.matrix(w)) for w in (["he", "man"], ["she", "woman"], ["father", "mother"])
    ]
    a = [jnp.asarray(unit.matrix(w)) for w in (["salary", "office"], ["home", "family"])]
    assert g.mac == pytest.approx(float(m.mac(t, a)), abs=1e-6)
    assert g.rnd_pairwise["career"].shape == (3, 3)
    assert g.rnd_pairwise["career"][0, 1] == pytest.approx(float(m.rnd(t[0], t[1], a[0])), abs=1e-6)
    with pytest.raises(kc.KhipuError, match="two target groups"):
        group_metrics(structured, {"male": ["he"]}, {"career": ["salary"]})


def test_rankings_and_their_agreement(structured: kb.WordEmbeddings, planted) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(9)
    noisy = structured.with_vectors(
        structured.vectors + 3 * rng.normal(size=structured.vectors.shape), name="noisy"
    )
    noisier = structured.with_vectors(
        structured.vectors + 9 * rng.normal(size=structured.vectors.shape), name="noisier"
    )
    results = [planted] + [
        query_metrics(e, _test(), bootstrap=10, rnsb_seeds=2) for e in (noisy, noisier)
    ]
    ranking = rank_embeddings(results)
    assert ranking.embeddings == ("planted", "noisy", "noisier")
    j = ranking.metrics.index("weat_effect_size")
    order = np.argsort([-abs(r.values["weat_effect_size"].value) for r in results])
    np.testing.assert_array_equal(np.argsort(ranking.ranks[:, j]), order)
    assert ranking.agreement[j, j] == pytest.approx(1.0)
    np.testing.assert_allclose(ranking.agreement, ranking.agreement.T, equal_nan=True)
    with pytest.raises(kc.KhipuError, match="at least two"):
        rank_embeddings(results[:1])
