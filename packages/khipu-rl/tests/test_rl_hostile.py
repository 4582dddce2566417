"""Hostile-but-fair inputs: settings, checkpoints and environment ids (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from khipu.core import KhipuError, save_checkpoint
from khipu.core.cli import main
from khipu.rl.envs import make_env
from khipu.rl.nets import PolicySpec
from khipu.rl.policies import load_policy, save_policy
from khipu.rl.train import check_config, make_config


def _error(err: str) -> str:
    """The single error line of a failed command (warnings about other packages aside)."""
    lines = [line for line in err.splitlines() if not line.startswith("khipu: warning:")]
    assert len(lines) == 1, lines
    return lines[0]


BAD_SETTINGS = [
    ("rps", "low=nan", "low must be a finite number"),
    ("rps", "high=inf", "high must be a finite number"),
    ("ppo", "max_grad_norm=nan", "max_grad_norm must be a finite number"),
    ("ppo", "max_grad_norm=0", "max_grad_norm must be positive"),
    ("reinforce", "learning_rate=inf", "learning_rate must be a finite number"),
    ("reinforce", "hidden=-5", "hidden must be"),
    ("dqn", "hidden=0,64", "hidden must be"),
    ("dqn", "buffer_size=1000000000000", "buffer_size must be in"),
    ("ppo", "num_envs=100000", "num_envs must be in"),
    ("dqn", "eps_end=2", "eps_end must be in [0, 1]"),
    ("ppo", "ent_coef=-1", "ent_coef must be >= 0"),
    ("dqn", "total_steps=inf", "cannot use 'inf'"),
    ("dqn", "total_steps=1e400", "cannot use"),
]


@pytest.mark.parametrize(("algo", "setting", "message"), BAD_SETTINGS)
def test_out_of_range_settings_are_refused(algo: str, setting: str, message: str) -> None:
    name, _, value = setting.partition("=")
    with pytest.raises(KhipuError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_config(algo, make_config(algo, {name: value}))


@pytest.mark.parametrize(("algo", "setting", "message"), BAD_SETTINGS[:6])
def test_out_of_range_settings_fail_before_the_run_folder(
    algo: str, setting: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["rl", "train", "--algo", algo, "--set", setting, "--out", str(out), "--no-progress"]
    assert main(argv) == 1
    assert message in _error(capsys.readouterr().err)
    assert not out.exists()


def test_integer_like_floats_still_work() -> None:
    assert make_config("dqn", {"total_steps": "1e4"}).total_steps == 10_000


@pytest.mark.parametrize("flag", ["--eval-episodes", "--steps"])
def test_absurd_counts_are_usage_errors(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as info:
        main(["rl", "train", "--algo", "dqn", flag, "1000000000000", "--out", str(out)])
    assert info.value.code == 2 and "at most" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    "env_id", ["GymV26Environment-v0", "phys2d/CartPole-v1", "tabular/Blackjack-v0", "Ant-v2"]
)
def test_env_ids_of_other_backends_are_one_line(env_id: str) -> None:
    with pytest.raises(KhipuError) as info:
        make_env(env_id)
    assert env_id in str(info.value) and "\n" not in str(info.value)


def _linear(path: Path, params: np.ndarray) -> Path:
    spec = PolicySpec("linear", 4, 2, ())
    return save_policy(path, spec, params, {"env_id": "CartPole-v1"})


def _meta_npz(path: Path, meta: object, **arrays: np.ndarray) -> Path:
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, __khipu_metadata__=blob, **arrays)
    return path


def test_a_policy_with_non_finite_parameters_is_not_evaluated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _linear(tmp_path / "nan.npz", np.array([np.nan, 0, 0, 1], np.float32))
    with pytest.raises(KhipuError, match="NaN or infinite"):
        load_policy(path)
    assert main(["rl", "evaluate", "--checkpoint", str(path), "--episodes", "1"]) == 1
    assert "NaN or infinite" in _error(capsys.readouterr().err)
    good = _linear(tmp_path / "ok.npz", np.array([0, 0, 1, 1], np.float32))
    assert load_policy(good)[1].shape == (4,)


def _checkpoints(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    np.save(tmp_path / "policy.npy", np.zeros(4))
    absurd = {"kind": "q", "obs_dim": 4, "num_actions": 2, "hidden": [10**9, 10**9]}
    huge_obs = {"kind": "linear", "obs_dim": 10**12, "num_actions": 2, "hidden": []}
    linear = {"kind": "linear", "obs_dim": 4, "num_actions": 2, "hidden": []}
    return {
        "npy": (tmp_path / "policy.npy", "not a policy checkpoint"),
        "no metadata": (
            _meta_npz(tmp_path / "nometa.npz", {"metadata": {}, "prng_key_leaves": []}),
            "not a khipu-rl policy",
        ),
        "malformed metadata": (
            _meta_npz(tmp_path / "bad.npz", {"metadata": {"policy": {"kind": "q"}}}),
            "invalid policy description",
        ),
        "absurd hidden": (
            _meta_npz(tmp_path / "absurd.npz", {"metadata": {"policy": absurd}}),
            "hidden must be",
        ),
        "absurd obs_dim": (
            _meta_npz(tmp_path / "huge.npz", {"metadata": {"policy": huge_obs}}),
            "obs_dim must be",
        ),
        "string dtype": (
            _meta_npz(
                tmp_path / "str.npz",
                {"metadata": {"policy": linear}, "prng_key_leaves": []},
                **{"<root>": np.array(["a", "b", "c", "d"])},
            ),
            "tmp",  # core names the file; the message text is core's
        ),
    }


@pytest.mark.parametrize(
    "case",
    ["npy", "no metadata", "malformed metadata", "absurd hidden", "absurd obs_dim", "string dtype"],
)
def test_bad_checkpoints_are_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, message = _checkpoints(tmp_path)[case]
    assert main(["rl", "evaluate", "--checkpoint", str(path), "--episodes", "1"]) == 1
    line = _error(capsys.readouterr().err)
    assert line.startswith("khipu: error:") and message in line and len(line) < 500


def test_evaluate_never_writes_over_its_own_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    path = _linear(run / "policy.npz", np.array([0, 0, 1, 1], np.float32))
    before = path.read_bytes()
    argv = ["rl", "evaluate", "--checkpoint", str(run), "--episodes", "1"]
    assert main([*argv, "--out", str(run), "--overwrite"]) == 1
    assert "holds the checkpoint" in _error(capsys.readouterr().err)
    assert path.read_bytes() == before


def test_a_checkpoint_whose_params_are_not_numbers(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "x.npz", {"w": np.zeros(2)})
    with pytest.raises(KhipuError):
        load_policy(tmp_path / "x.npz")
