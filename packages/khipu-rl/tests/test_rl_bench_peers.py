"""benchmarks/bench_peers.py (issue 21): it parses its arguments, and its same-dynamics
check agrees with a plain loop over gymnasium's equations and catches wrong dynamics."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from khipu.rl import cartpole

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_peers.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("khipu_rl_bench_peers", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # NamedTuple needs its module registered
    spec.loader.exec_module(module)
    return module


def plain_cartpole(bench: ModuleType, start: np.ndarray, actions: list[int]) -> Any:
    """CartPole-v1's Euler step and termination written out in float64 Python."""
    x, x_dot, theta, theta_dot = (float(v) for v in start)
    obs, term = [], []
    for a in actions:
        force = 10.0 if a == 1 else -10.0
        cos, sin = math.cos(theta), math.sin(theta)
        temp = (force + 0.05 * theta_dot**2 * sin) / 1.1
        theta_acc = (9.8 * sin - cos * temp) / (0.5 * (4.0 / 3.0 - 0.1 * cos**2 / 1.1))
        x_acc = temp - 0.05 * theta_acc * cos / 1.1
        x, x_dot = x + 0.02 * x_dot, x_dot + 0.02 * x_acc
        theta, theta_dot = theta + 0.02 * theta_dot, theta_dot + 0.02 * theta_acc
        limit = 12 * 2 * math.pi / 360
        terminated = abs(x) > 2.4 or abs(theta) > limit
        obs.append([x, x_dot, theta, theta_dot])
        term.append(terminated)
        if terminated or len(obs) >= 500:
            break
    return bench.Trajectory(np.asarray(obs), np.asarray(term, bool))


def _episode(seed: int) -> list[int]:
    return [int(a) for a in np.random.default_rng(seed).integers(0, 2, 500)]


def test_help_parses(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--num-envs" in out and "gymnax" in out


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_sizes_must_be_positive(
    bench: ModuleType, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(["--num-envs", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--num-envs" in err[-1] and value in err[-1]


@pytest.mark.parametrize("seed", [0, 1])
def test_trajectories_match_a_plain_loop(bench: ModuleType, seed: int) -> None:
    start, actions = bench.start_state(seed), _episode(seed)
    plain = plain_cartpole(bench, start, actions)
    assert 5 < len(plain.obs) < 500 and plain.terminated[-1]
    assert bench.dynamics_gap(bench.gymnasium_trajectory(start, actions), plain) < 1e-6
    assert bench.dynamics_gap(bench.khipu_trajectory(start, actions), plain) <= bench.ATOL


def test_same_dynamics_check_passes_khipu(bench: ModuleType) -> None:
    gaps = bench.same_dynamics(seeds=(3,), with_gymnax=False)
    assert set(gaps) == {"khipu"} and gaps["khipu"] <= bench.ATOL


def test_dynamics_gap_catches_wrong_forces_and_termination(bench: ModuleType) -> None:
    start, actions = bench.start_state(2), _episode(2)
    reference = bench.gymnasium_trajectory(start, actions)

    def flipped(state: Any, action: Any) -> Any:  # pushes the wrong way
        return cartpole.step(state, 1 - action)

    def never_ends(state: Any, action: Any) -> Any:
        new, obs, reward, _, truncated = cartpole.step(state, action)
        return new, obs, reward, truncated & False, truncated

    assert bench.dynamics_gap(bench.khipu_trajectory(start, actions, flipped), reference) > 1e-3
    late = bench.khipu_trajectory(start, actions, never_ends)
    assert len(late.obs) > len(reference.obs)
    assert bench.dynamics_gap(late, reference) == math.inf


def test_gymnax_trajectory_matches_a_plain_loop(bench: ModuleType) -> None:
    pytest.importorskip("gymnax")  # in `hatch run peers:...` only
    start, actions = bench.start_state(4), _episode(4)
    plain = plain_cartpole(bench, start, actions)
    assert bench.dynamics_gap(bench.gymnax_trajectory(start, actions), plain) <= bench.ATOL
