"""benchmarks/bench_peers.py (issue 21): it parses its arguments, finds WEFE's Python or
skips in one line, and its same-value check agrees with plain loops over WEFE 1.0.1's
formulas (and catches the convention mistakes it corrects for)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import jax.numpy as jnp
import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_peers.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("khipu_bias_bench_peers", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _cos(u: np.ndarray, v: np.ndarray) -> float:
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def _ranks(v: list[float]) -> np.ndarray:
    return np.argsort(np.argsort(v)).astype(float)


def wefe_formulas(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """WEFE 1.0.1's six deterministic metrics, as loops over its source's formulas."""

    def s(w: np.ndarray) -> float:
        return float(np.mean([_cos(w, v) for v in a]) - np.mean([_cos(w, v) for v in b]))

    sx, sy = [s(w) for w in x], [s(w) for w in y]
    weat = (np.mean(sx) - np.mean(sy)) / np.std(sx + sy)  # population std
    c1, c2 = x.mean(0), y.mean(0)
    rnd_norm = np.mean([np.linalg.norm(v - c1) - np.linalg.norm(v - c2) for v in a])
    rnd_cos = np.mean([_cos(v, c1) - _cos(v, c2) for v in a])  # similarities, c1 first
    mac = np.mean([np.mean([1 - _cos(t, v) for v in attr]) for t in [*x, *y] for attr in (a, b)])
    ab = np.concatenate([a, b])
    sim1, sim2 = [_cos(c1, v) for v in ab], [_cos(c2, v) for v in ab]
    ect = np.corrcoef(_ranks(sim1), _ranks(sim2))[0, 1]  # Spearman, no ties
    relations = [(xi - yi) / np.linalg.norm(xi - yi) for xi, yi in zip(x, y, strict=True)]
    ripa = np.mean([np.mean([w @ r for r in relations]) for w in ab])  # one-pair RIPAs
    return {
        "weat_effect_size": float(weat),
        "rnd_euclidean": float(rnd_norm),
        "rnd_cosine": float(rnd_cos),
        "mac": float(mac),
        "ect": float(ect),
        "ripa": float(ripa),
    }


def _unit_sets(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sets = []
    for n in (6, 6, 7, 5):
        v = rng.normal(size=(n, 12))
        v[:, 0] += 1.0  # correlated, like word vectors
        sets.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    return sets


def test_help_parses(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(["--help"])
    assert exc.value.code == 0
    assert "--wefe-python" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_sizes_must_be_positive(
    bench: ModuleType, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(["--repeats", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--repeats" in err[-1] and value in err[-1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wefe_conventions_match_wefe_formulas(bench: ModuleType, seed: int) -> None:
    x, y, a, b = _unit_sets(seed)
    ours = bench.in_wefe_conventions(*(jnp.asarray(v) for v in (x, y, a, b)))
    theirs = wefe_formulas(x, y, a, b)
    assert set(ours) == set(theirs)
    assert all(bench.compare(ours, theirs).values()), (ours, theirs)


def test_compare_catches_unconverted_conventions(bench: ModuleType) -> None:
    x, y, a, b = _unit_sets(3)
    ours = bench.in_wefe_conventions(*(jnp.asarray(v) for v in (x, y, a, b)))
    theirs = wefe_formulas(x, y, a, b)
    n = len(x) + len(y)
    wrong = {
        "weat_effect_size": ours["weat_effect_size"] / math.sqrt(n / (n - 1)),  # sample std
        "rnd_cosine": -ours["rnd_cosine"],  # khipu's sign
        "ripa": float(
            bench.m.ripa(jnp.asarray(x), jnp.asarray(y), jnp.asarray(np.r_[a, b])).mean()
        ),
    }
    same = bench.compare({**ours, **wrong}, theirs)
    assert {k for k, ok in same.items() if not ok} == set(wrong)
    assert bench.compare(ours, {**theirs, "mac": None})["mac"] is False  # WEFE gave no value


def test_find_wefe_python_order(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    given, env = tmp_path / "given-python", tmp_path / "env-python"
    given.touch()
    env.touch()
    monkeypatch.setenv(bench.ENV_VAR, str(env))
    assert bench.find_wefe_python(str(given)) == given
    assert bench.find_wefe_python() == env
    assert bench.find_wefe_python(str(tmp_path / "absent")) is None


def test_missing_wefe_skips_in_one_line(
    bench: ModuleType, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bench.main(["--wefe-python", str(tmp_path / "absent" / "python")])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "skipped" in out[0] and "peers-wefe" in out[0]
