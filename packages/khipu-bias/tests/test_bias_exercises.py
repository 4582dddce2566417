"""The notebook's exercise checkers accept the reference and reject plausible mistakes;
the generated Spanish corpus carries exactly the association it is told to."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import khipu.bias as kb
import khipu.core as kc
import numpy as np
import pytest
from khipu.bias import data, exercises as ex
from khipu.core.exercises import Checker

# --- plausible wrong answers ---------------------------------------------------------------


def _norm(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, float) / np.linalg.norm(x, axis=-1, keepdims=True)


def cos_dot(u: np.ndarray, v: np.ndarray) -> float:
    return float(np.dot(u, v))  # no normalisation


def cos_one_norm(u: np.ndarray, v: np.ndarray) -> float:
    return float(np.dot(u, v) / np.linalg.norm(u))


def cos_angle(u: np.ndarray, v: np.ndarray) -> float:
    return float(np.arccos(np.clip(np.dot(_norm(u), _norm(v)), -1, 1)))


def assoc_swapped(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return ex.ref_association(w, b, a)


def assoc_dot(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a @ w) - np.mean(b @ w))


def assoc_sum(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sum(_norm(a) @ _norm(w)) - np.sum(_norm(b) @ _norm(w)))


def effect_ddof0(s_x: np.ndarray, s_y: np.ndarray) -> float:
    return float((np.mean(s_x) - np.mean(s_y)) / np.std(np.concatenate([s_x, s_y])))


def effect_std_x(s_x: np.ndarray, s_y: np.ndarray) -> float:
    return float((np.mean(s_x) - np.mean(s_y)) / np.std(s_x, ddof=1))


def effect_sum(s_x: np.ndarray, s_y: np.ndarray) -> float:
    return float((np.sum(s_x) - np.sum(s_y)) / np.std(np.concatenate([s_x, s_y]), ddof=1))


def _splits(s_x: np.ndarray, s_y: np.ndarray) -> tuple[float, list[float]]:
    s_all = np.concatenate([s_x, s_y])
    observed = float(np.sum(s_x) - np.sum(s_y))
    stats = []
    for idx in itertools.combinations(range(len(s_all)), len(s_x)):
        mask = np.zeros(len(s_all), bool)
        mask[list(idx)] = True
        stats.append(float(s_all[mask].sum() - s_all[~mask].sum()))
    return observed, stats


def p_strict(s_x: np.ndarray, s_y: np.ndarray) -> float:  # the right answer, written plainly
    observed, stats = _splits(s_x, s_y)
    return float(np.mean(np.array(stats) > observed))


def p_greater_equal(s_x: np.ndarray, s_y: np.ndarray) -> float:
    observed, stats = _splits(s_x, s_y)
    return float(np.mean(np.array(stats) >= observed))


def p_two_sided(s_x: np.ndarray, s_y: np.ndarray) -> float:
    observed, stats = _splits(s_x, s_y)
    return float(np.mean(np.abs(stats) > abs(observed)))


def p_without_observed(s_x: np.ndarray, s_y: np.ndarray) -> float:
    observed, stats = _splits(s_x, s_y)
    return float(np.sum(np.array(stats) > observed) / (len(stats) - 1 or 1))


def p_with_replacement(s_x: np.ndarray, s_y: np.ndarray) -> float:  # WEFE's "permutations"
    rng = np.random.default_rng(0)
    s_all = np.concatenate([s_x, s_y])
    observed = float(np.sum(s_x) - np.sum(s_y))
    null = [
        rng.choice(s_all, len(s_x)).sum() - rng.choice(s_all, len(s_y)).sum() for _ in range(2000)
    ]
    return float(np.mean(np.array(null) > observed))


def project_raw_direction(vectors: np.ndarray, g: np.ndarray) -> np.ndarray:
    return np.asarray(_norm(vectors) @ g)  # direction not normalised


def project_raw_rows(vectors: np.ndarray, g: np.ndarray) -> np.ndarray:
    return np.asarray(vectors @ _norm(g))  # rows not normalised


def project_wrong_axis(vectors: np.ndarray, g: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors) / np.linalg.norm(vectors, axis=0, keepdims=True)
    return np.asarray(v @ _norm(g))


def neutralize_raw_direction(vectors: np.ndarray, g: np.ndarray) -> np.ndarray:
    v = _norm(vectors)
    return _norm(v - np.outer(v @ g, g))  # leaves part of the component when |g| != 1


def neutralize_keeps_component(vectors: np.ndarray, g: np.ndarray) -> np.ndarray:
    return _norm(vectors)  # normalises but never removes the component


def neutralize_no_renorm(vectors: np.ndarray, g: np.ndarray) -> np.ndarray:
    v, gh = _norm(vectors), _norm(g)
    return v - np.outer(v @ gh, gh)


def neutralize_component_only(vectors: np.ndarray, g: np.ndarray) -> np.ndarray:
    v, gh = _norm(vectors), _norm(g)
    return np.outer(v @ gh, gh)


# --- the checkers ----------------------------------------------------------------------------

CHECKS: dict[str, tuple[Checker, Callable[..., Any], list[Callable[..., Any]]]] = {
    "cosine_similarity": (
        ex.check_cosine_similarity,
        ex.ref_cosine_similarity,
        [cos_dot, cos_one_norm, cos_angle],
    ),
    "association": (
        ex.check_association,
        ex.ref_association,
        [assoc_swapped, assoc_dot, assoc_sum],
    ),
    "effect_size": (
        ex.check_effect_size,
        ex.ref_effect_size,
        [effect_ddof0, effect_std_x, effect_sum],
    ),
    "p_value": (
        ex.check_p_value,
        ex.ref_p_value,
        [p_greater_equal, p_two_sided, p_without_observed, p_with_replacement],
    ),
    "project": (
        ex.check_project,
        ex.ref_project,
        [project_raw_direction, project_raw_rows, project_wrong_axis],
    ),
    "neutralize": (
        ex.check_neutralize,
        ex.ref_neutralize,
        [
            neutralize_raw_direction,
            neutralize_keeps_component,
            neutralize_no_renorm,
            neutralize_component_only,
        ],
    ),
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_checker_accepts_the_reference(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    checker, reference, _ = CHECKS[name]
    assert checker.evaluate(reference).passed
    assert checker(reference) is reference
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "wrong"), [(n, w) for n, (_, _, ws) in CHECKS.items() for w in ws]
)
def test_checker_rejects_a_plausible_mistake(
    name: str, wrong: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    checker, reference, _ = CHECKS[name]
    result = checker.evaluate(wrong)
    assert result.status == "failed", result.message
    assert checker(wrong) is reference  # later cells go on with the reference
    line = capsys.readouterr().out
    assert "✗" in line and line.count("\n") == 1


@pytest.mark.parametrize("name", list(CHECKS))
def test_a_stub_is_not_attempted(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    checker, reference, _ = CHECKS[name]

    def stub(*args: Any) -> Any:
        # YOUR CODE HERE
        raise NotImplementedError

    assert checker.evaluate(stub).status == "not_attempted"
    assert checker(stub) is reference
    assert "not attempted" in capsys.readouterr().out


def test_plain_strict_count_passes_the_p_value_check() -> None:
    assert ex.check_p_value.evaluate(p_strict).passed


def test_references_agree_with_the_package_on_real_vectors(default_emb) -> None:  # type: ignore[no-untyped-def]
    test = kb.get_test("en-gender-career")
    result = kb.weat(default_emb, test, n_permutations=1000)
    x, a, b = (default_emb.matrix(result.words[r]) for r in "XAB")
    s_x = [ex.ref_association(w, a, b) for w in x]
    np.testing.assert_allclose(s_x, result.association_x, rtol=1e-6)
    d = ex.ref_effect_size(result.association_x, result.association_y)
    assert d == pytest.approx(result.effect_size)
    pair = kb.direction_from_pair(default_emb, "she", "he")
    proj = kb.project(default_emb, ["doctor", "nurse"], pair)
    got = ex.ref_project(default_emb.matrix(["doctor", "nurse"]), pair.vector)
    np.testing.assert_allclose(got, proj.scores, rtol=1e-5)
    after = ex.ref_neutralize(default_emb.matrix(["doctor", "nurse"]), pair.vector * 3)
    np.testing.assert_allclose(after @ pair.vector, 0.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(after, axis=1), 1.0, rtol=1e-6)


def test_value_question_and_helpers() -> None:
    assert ex.check_n_partitions.evaluate(12870).passed
    assert not ex.check_n_partitions.evaluate(math.factorial(16)).passed
    assert not ex.check_n_partitions.evaluate(2**16).passed
    assert ex.check_n_partitions.evaluate(...).status == "not_attempted"
    assert len(ex.all_splits(3, 3)) == 20
    assert ex.toy("he", "she").shape == (2, 3) and ex.toy("he").shape == (3,)


# --- the generated Spanish corpus ------------------------------------------------------------


def test_spanish_corpus_is_seeded_and_covers_the_spanish_sets() -> None:
    first = data.spanish_corpus(3000, seed=1)
    assert first == data.spanish_corpus(3000, seed=1)
    assert first != data.spanish_corpus(3000, seed=2)
    counts: dict[str, int] = {}
    for sentence in data.spanish_corpus():
        for token in sentence:
            counts[token] = counts.get(token, 0) + 1
    sets = kb.example_sets("es")
    for name in ("masculino", "femenino", "carrera", "familia", "ciencia", "artes", "profesiones"):
        rare = [w for w in sets[name] if counts.get(w, 0) < 5]
        assert not rare, (name, rare)
    with pytest.raises(kc.KhipuError, match="stereotype"):
        data.spanish_corpus(10, stereotype=1.5)
    with pytest.raises(kc.KhipuError, match="n_sentences"):
        data.spanish_corpus(0)


def _career_share(sentences: list[list[str]], subject: str) -> float:
    career = set(kb.example_sets("es")["carrera"])
    family = set(kb.example_sets("es")["familia"])
    c = f = 0
    for s in sentences:
        if subject in s:
            c += any(t in career for t in s)
            f += any(t in family for t in s)
    return c / (c + f)


def test_spanish_corpus_carries_the_stereotype_it_is_given() -> None:
    biased = data.spanish_corpus(20_000, stereotype=0.9)
    assert _career_share(biased, "hombre") > 0.8 > 0.2 > _career_share(biased, "mujer")
    neutral = data.spanish_corpus(20_000, stereotype=0.5)
    assert abs(_career_share(neutral, "hombre") - _career_share(neutral, "mujer")) < 0.1


def test_spanish_model_runs_the_spanish_weat_tests() -> None:
    emb = data.spanish_embeddings()
    assert "es-synthetic" in emb.name and "él" in emb and emb.is_normalized()
    result = kb.weat(emb, kb.get_test("es-genero-carrera"), n_permutations=2000)
    assert not result.n_missing
    assert result.effect_size > 1.0 and result.p_value < 0.01  # the corpus' 0.8 stereotype
    assert next(iter(kb.corpus_sentences("es-synthetic"))) == data.spanish_corpus()[0]


def test_sweep_plot_returns_its_figure_with_the_seed_means(tmp_path: Path) -> None:
    from khipu.bias.plots import plot_sweep
    from matplotlib.figure import Figure

    fig = plot_sweep(
        [0.5, 0.8],
        {"t": np.array([[0.0, 0.2], [1.0, np.nan]])},
        xlabel="rate",
        path=tmp_path / "sweep.png",
    )
    assert isinstance(fig, Figure)
    (line,) = [ln for ln in fig.axes[0].lines if ln.get_label() == "t"]
    np.testing.assert_allclose(line.get_ydata(), [0.1, 1.0])
    assert (tmp_path / "sweep.png").stat().st_size > 2000


# --- RND and RIPA (issue 18) ------------------------------------------------------------------


def rnd_swapped(t1: np.ndarray, t2: np.ndarray, attrs: np.ndarray) -> float:
    return ex.ref_rnd(t2, t1, attrs)


def rnd_sum(t1: np.ndarray, t2: np.ndarray, attrs: np.ndarray) -> float:
    c1, c2 = t1.mean(0), t2.mean(0)
    return float(np.sum(np.linalg.norm(attrs - c1, axis=1) - np.linalg.norm(attrs - c2, axis=1)))


def rnd_unit_centroids(t1: np.ndarray, t2: np.ndarray, attrs: np.ndarray) -> float:
    c1, c2 = _norm(t1.mean(0)), _norm(t2.mean(0))
    return float(np.mean(np.linalg.norm(attrs - c1, axis=1) - np.linalg.norm(attrs - c2, axis=1)))


def rnd_loop(t1: np.ndarray, t2: np.ndarray, attrs: np.ndarray) -> float:  # right, by loops
    c1 = [sum(r[d] for r in t1) / len(t1) for d in range(t1.shape[1])]
    c2 = [sum(r[d] for r in t2) / len(t2) for d in range(t2.shape[1])]
    terms = [math.dist(list(a), c1) - math.dist(list(a), c2) for a in attrs]
    return sum(terms) / len(terms)


def ripa_centred(x: np.ndarray, y: np.ndarray, words: np.ndarray) -> np.ndarray:
    d = (x - y) - (x - y).mean(0)
    b = np.linalg.svd(d)[2][0] if len(d) > 1 else _norm((x - y)[0])
    return np.asarray(words @ b)


def ripa_mean_difference(x: np.ndarray, y: np.ndarray, words: np.ndarray) -> np.ndarray:
    return np.asarray(words @ _norm((x - y).mean(0)))


def ripa_no_sign(x: np.ndarray, y: np.ndarray, words: np.ndarray) -> np.ndarray:
    return np.asarray(words @ -np.linalg.svd(x - y)[2][0])


def ripa_plain(x: np.ndarray, y: np.ndarray, words: np.ndarray) -> np.ndarray:  # right
    d = x - y
    b = np.linalg.svd(d)[2][0]
    if d.mean(0) @ b < 0:
        b = -b
    return np.asarray(words @ b)


@pytest.mark.parametrize(
    ("checker", "right", "wrong"),
    [
        (ex.check_rnd, rnd_loop, [rnd_swapped, rnd_sum, rnd_unit_centroids]),
        (ex.check_ripa, ripa_plain, [ripa_centred, ripa_mean_difference, ripa_no_sign]),
    ],
)
def test_rnd_and_ripa_checkers_accept_the_formula_and_reject_mistakes(
    checker: Checker, right: Callable[..., Any], wrong: list[Callable[..., Any]]
) -> None:
    assert checker(right) is right
    for bad in wrong:
        assert checker(bad) is not bad, bad.__name__


def test_mac_quiz_accepts_b_only() -> None:
    assert ex.quiz_mac("b") is True
    assert ex.quiz_mac("a") is False and ex.quiz_mac("c") is False
