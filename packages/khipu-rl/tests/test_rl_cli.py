"""``khipu rl train`` / ``khipu rl evaluate`` end to end on tiny settings, and bad input."""

import json
from pathlib import Path

import pytest
from khipu.core.cli import main
from khipu.rl import load_policy
from PIL import Image


def _read(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def _nulls(value: object, where: str = "config") -> list[str]:
    """Where ``value`` (a parsed JSON document) holds ``null``."""
    if value is None:
        return [where]
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _nulls(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [n for i, v in enumerate(value) for n in _nulls(v, f"{where}[{i}]")]
    return []


def test_train_rps_then_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rps"
    code = main(
        [
            "rl",
            "train",
            "--algo",
            "rps",
            "--episodes",
            "6",
            "--set",
            "episodes_per_candidate=2",
            "--set",
            "eval_every=3",
            "--eval-episodes",
            "3",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    metrics = _read(out / "metrics.json")
    for key in ("eval_mean_return", "eval_std_return", "env_steps", "train_seconds"):
        assert key in metrics
    assert metrics["eval_min_return"] <= metrics["eval_mean_return"] <= metrics["eval_max_return"]
    assert metrics["env_steps"] > 0
    config = _read(out / "config.json")
    assert config["settings"]["episodes_per_candidate"] == 2
    assert _nulls(config) == [] and config["episodes"] == 6 and "steps" not in config
    with Image.open(out / "learning_curve.png") as png:
        assert png.format == "PNG"
    with Image.open(out / "episode.gif") as gif:
        assert gif.n_frames > 1
    spec, params, meta = load_policy(out)
    assert meta["algo"] == "rps" and meta["env_id"] == "CartPole-v1"
    assert spec.kind == "linear" and params.shape == (4,)

    capsys.readouterr()
    code = main(
        [
            "rl",
            "evaluate",
            "--checkpoint",
            str(out),
            "--episodes",
            "3",
            "--seed",
            "7",
            "--out",
            str(tmp_path / "eval"),
        ]
    )
    assert code == 0
    ev = _read(tmp_path / "eval" / "metrics.json")
    assert set(ev) >= {"mean_return", "std_return", "min_return", "max_return"}
    assert json.loads(capsys.readouterr().out)["mean_return"] == ev["mean_return"]
    # Same seed, same episodes, same returns.
    assert (
        main(
            [
                "rl",
                "evaluate",
                "--checkpoint",
                str(out / "policy.npz"),
                "--episodes",
                "3",
                "--seed",
                "7",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["mean_return"] == ev["mean_return"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        [
            "--algo",
            "dqn",
            "--jax-env",
            "--steps",
            "600",
            "--set",
            "learning_starts=100",
            "--set",
            "eval_every=300",
            "--set",
            "hidden=16",
        ],
        [
            "--algo",
            "ppo",
            "--jax-env",
            "--steps",
            "2048",
            "--set",
            "eval_every=1",
            "--set",
            "num_steps=32",
        ],
        [
            "--algo",
            "ppo",
            "--steps",
            "512",
            "--set",
            "num_envs=2",
            "--set",
            "num_steps=64",
            "--set",
            "eval_every=2",
            "--set",
            "eval_episodes=2",
        ],
        [
            "--algo",
            "dqn",
            "--steps",
            "300",
            "--set",
            "learning_starts=100",
            "--set",
            "eval_every=150",
            "--set",
            "eval_episodes=2",
            "--set",
            "hidden=16,16",
        ],
        [
            "--algo",
            "reinforce",
            "--episodes",
            "4",
            "--set",
            "episodes_per_update=2",
            "--set",
            "eval_every=2",
            "--set",
            "eval_episodes=2",
        ],
        [
            "--algo",
            "rps",
            "--env",
            "Acrobot-v1",
            "--set",
            "num_episodes=2",  # the budget through --set: config.json still records it
            "--set",
            "episodes_per_candidate=1",
            "--set",
            "eval_episodes=1",
            "--set",
            "eval_every=2",
        ],
    ],
    ids=["dqn-jax", "ppo-jax", "ppo-gym", "dqn-gym", "reinforce", "rps-acrobot"],
)
def test_train_smoke(tmp_path: Path, argv: list[str]) -> None:
    out = tmp_path / "run"
    assert (
        main(
            [
                "rl",
                "train",
                *argv,
                "--eval-episodes",
                "2",
                "--no-gif",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    metrics = _read(out / "metrics.json")
    assert metrics["eval_episodes"] == 2 and metrics["train_seconds"] > 0
    config = _read(out / "config.json")
    assert _nulls(config) == []  # every value resolved (issue 17)
    budget = "steps" if config["algo"] in ("dqn", "ppo") else "episodes"
    other = "episodes" if budget == "steps" else "steps"
    given = (
        argv[argv.index(f"--{budget}") + 1]
        if f"--{budget}" in argv
        else next(a.split("=")[1] for a in argv if a.startswith(("num_episodes=", "total_steps=")))
    )
    assert config[budget] == int(given) and other not in config
    assert (out / "policy.npz").is_file() and (out / "learning_curve.png").is_file()
    assert not (out / "episode.gif").exists()
    assert main(["rl", "evaluate", "--checkpoint", str(out), "--episodes", "1"]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--algo", "rps", "--env", "CartPole-v7"], "unknown gymnasium environment"),
        (["train", "--algo", "dqn", "--env", "Pendulum-v1"], "discrete"),
        (["train", "--algo", "rps", "--jax-env"], "--jax-env trains dqn and ppo only"),
        (["train", "--algo", "ppo", "--jax-env", "--env", "Acrobot-v1"], "JAX environment"),
        (["train", "--algo", "rps", "--steps", "10"], "--steps is for dqn and ppo"),
        (["train", "--algo", "dqn", "--episodes", "10"], "--episodes is for rps"),
        (["train", "--algo", "dqn", "--set", "gama=0.9"], "unknown dqn setting 'gama'"),
        (["train", "--algo", "dqn", "--set", "gamma"], "NAME=VALUE"),
        (["train", "--algo", "dqn", "--set", "double=maybe"], "expected bool"),
        (["train", "--algo", "dqn", "--set", "loss=l1"], "loss must be"),
        (["train", "--algo", "ppo", "--set", "learning_rate=-1"], "learning_rate must be"),
        (["train", "--algo", "reinforce", "--set", "gamma=1.5"], "gamma must be"),
        (["train", "--algo", "rps", "--set", "low=3"], "need low < high"),
        (["train", "--algo", "ppo", "--steps", "100"], "less than one rollout"),
        (["evaluate", "--checkpoint", "nowhere"], "no policy checkpoint"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    if argv[0] == "train":
        argv = [*argv, "--out", str(tmp_path / "run")]
    assert main(["rl", *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("khipu: error:") and message in err
    assert len(err.splitlines()) == 1
    if argv[0] == "train":
        assert not (tmp_path / "run").exists()  # refused before the run folder is made


def test_evaluate_rejects_a_mismatched_env_and_a_foreign_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from khipu.core import save_checkpoint

    out = tmp_path / "rps"
    assert (
        main(
            [
                "rl",
                "train",
                "--algo",
                "rps",
                "--episodes",
                "1",
                "--set",
                "episodes_per_candidate=1",
                "--eval-episodes",
                "1",
                "--no-gif",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["rl", "evaluate", "--checkpoint", str(out), "--env", "Acrobot-v1"]) == 1
    assert "expects 4 observations" in capsys.readouterr().err
    save_checkpoint(tmp_path / "other.npz", {"w": [1.0]})
    assert main(["rl", "evaluate", "--checkpoint", str(tmp_path / "other.npz")]) == 1
    assert "not a khipu-rl policy" in capsys.readouterr().err
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert main(["rl", "evaluate", "--checkpoint", str(tmp_path / "bad.npz")]) == 1
    assert "corrupt" in capsys.readouterr().err


def test_train_does_not_offer_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["rl", "train", "--algo", "rps", "--resume", "--out", str(tmp_path / "run")])
    assert exc.value.code == 2
    assert "unrecognized arguments: --resume" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
