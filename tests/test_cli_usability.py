"""The ``khipu`` command as a student meets it: usage errors point to the help of the
subcommand that was typed, ``--version`` lists every installed practical, shell
completion works through argcomplete, and a run's config.json tells the truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from khipu.core.cli import ENTRY_POINT_GROUP

KHIPU = [sys.executable, "-m", "khipu.core.cli"]


def _khipu(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KHIPU, *args], capture_output=True, text=True, check=False, env=env, timeout=600
    )


@pytest.mark.parametrize(
    ("argv", "help_of"),
    [
        (["list", "--bogus"], "khipu list"),
        (["gnn", "train", "--out", "x", "--bogus", "1"], "khipu gnn train"),
        (["gnn", "train", "--out", "x", "--task", "nope"], "khipu gnn train"),
        (["rl", "train", "--out", "x", "--no-such-flag"], "khipu rl train"),
        (["nosuchtopic"], "khipu"),
    ],
)
def test_usage_errors_name_the_subcommands_help(argv: list[str], help_of: str) -> None:
    topic = argv[0]
    if topic not in ("list", "nosuchtopic") and topic not in {
        ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
    }:
        pytest.skip(f"khipu-{topic} is not installed")
    result = _khipu(*argv)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{help_of}: error: ")
    assert lines[0].endswith(f"(see {help_of} --help)")


def test_version_lists_every_installed_practical() -> None:
    result = _khipu("--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"khipu-core {metadata.version('khipu-core')}"
    expected = sorted(
        f"{ep.dist.metadata['Name']} {ep.dist.version} (khipu {ep.name})"
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None
    )
    assert sorted(lines[1:]) == expected


def _complete(line: str, tmp_path: Path) -> list[str]:
    out = tmp_path / "completions"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_SHELL": "bash",
        "_ARGCOMPLETE_IFS": "\n",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
    }
    result = _khipu(env=env)
    assert result.returncode == 0, result.stderr
    return out.read_text().split()


def test_shell_completion_completes_topics_and_options(tmp_path: Path) -> None:
    topics = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert set(_complete("khipu ", tmp_path)) >= {"list", *topics}
    assert _complete("khipu li", tmp_path) == ["list"]
    if "gnn" in topics:
        assert "--tensorboard" in _complete("khipu gnn train --t", tmp_path)


def test_the_entry_point_module_is_marked_for_argcomplete() -> None:
    # register-python-argcomplete only completes scripts whose module carries the marker
    import khipu.core.cli as cli

    assert "PYTHON_ARGCOMPLETE_OK" in Path(cli.__file__).read_text()[:1024]


def test_real_gymnasium_registry() -> None:
    import khipu.core as kc

    rl_envs = pytest.importorskip("khipu.rl.envs")
    with pytest.raises(kc.UnknownNameError) as info:
        rl_envs.make_env("CartPol-v1")
    message = str(info.value)
    assert "did you mean CartPole-v1" in message
    assert len(message) < 200 and "\n" not in message


@pytest.mark.slow
def test_gnn_config_records_resolved_defaults_versions_and_history(tmp_path: Path) -> None:
    pytest.importorskip("khipu.gnn")
    out = tmp_path / "karate"
    result = _khipu(
        "gnn", "train", "--task", "karate", "--epochs", "1", "--no-progress", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    from khipu.gnn.runs import DEFAULT_LEARNING_RATE

    assert config["learning_rate"] == DEFAULT_LEARNING_RATE["karate"]
    assert config["model"] == config["resolved_model"] and isinstance(config["model"], str)
    assert config["epochs"] == 1
    assert None not in config.values()  # resolved, or left out when it does not apply
    assert not NOT_GIVEN & set(config), NOT_GIVEN & set(config)
    # --resume with the same (default) settings is accepted: the resolved values match
    again = _khipu(
        "gnn",
        "train",
        "--task",
        "karate",
        "--epochs",
        "2",
        "--no-progress",
        "--resume",
        "--out",
        str(out),
    )
    assert again.returncode == 0, again.stderr[-2000:]
    # the library versions of what khipu-gnn imports
    config = json.loads((out / "config.json").read_text())
    for lib in ("jraph", "networkx", "dm-haiku", "optax", "jax", "khipu-gnn", "khipu-core"):
        assert config["versions"][lib] == metadata.version(lib), lib
    # history.jsonl: one row per epoch, the resumed run's appended after the first's
    rows = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1.0, 2.0]


# optional inputs that were not given (files, folders): left out of config.json, never null
NOT_GIVEN = {"edges", "ratings", "data_dir", "tu_dir"}


def _all_parsers(parser):  # type: ignore[no-untyped-def]
    import argparse

    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                found += _all_parsers(sub)
    return found


def test_every_command_reading_tfds_offers_download() -> None:
    from khipu.core.cli import build_parser

    with_data_dir = []
    for parser in _all_parsers(build_parser()):
        options = {s for a in parser._actions for s in a.option_strings}
        if "--data-dir" in options:
            with_data_dir.append(parser.prog)
            assert "--download" in options, parser.prog
        else:
            assert "--download" not in options, parser.prog
    # the practicals whose full-size datasets come from tensorflow-datasets
    topics = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    for topic in {"cnn", "gnn", "transformer"} & topics:
        assert any(p.startswith(f"khipu {topic} ") for p in with_data_dir), topic


def test_download_flag_reaches_tensorflow_datasets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("khipu.cnn")
    tfds = pytest.importorskip("tensorflow_datasets")
    from khipu.core.cli import main

    seen = []

    def fake(name, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs["download"])
        raise OSError("no network here")

    monkeypatch.setattr(tfds, "data_source", fake)
    argv = ["cnn", "train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 1
    assert "Pass --download" in capsys.readouterr().err
    assert main([*argv, "--download", "--out", str(tmp_path / "b")]) == 1
    assert "could not download tensorflow-datasets dataset 'mnist'" in capsys.readouterr().err
    assert seen == [False, True]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.slow
def test_diffusion_config_records_resolved_sampling_steps(tmp_path: Path) -> None:
    pytest.importorskip("khipu.diffusion")
    out = tmp_path / "toy"
    tiny = ["--dataset", "toy2d", "--limit", "256", "--timesteps", "100", "--batch-size", "64"]
    result = _khipu(
        "diffusion",
        "train",
        *tiny,
        "--epochs",
        "1",
        "--num-samples",
        "50",
        "--steps",
        "5",
        "--no-progress",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for sampler, expected in [("ddim", 50), ("ddpm", 100)]:
        sampled = tmp_path / sampler
        result = _khipu(
            "diffusion",
            "sample",
            "--checkpoint",
            str(out),
            "--sampler",
            sampler,
            "--num-samples",
            "20",
            "--out",
            str(sampled),
        )
        assert result.returncode == 0, result.stderr[-2000:]
        config = json.loads((sampled / "config.json").read_text())
        assert config["steps"] == expected, (sampler, config["steps"])
        assert None not in config.values()  # issue 17: resolved or left out, never null


@pytest.mark.slow
def test_cnn_config_records_the_batch_size_used(tmp_path: Path) -> None:
    pytest.importorskip("khipu.cnn")
    out = tmp_path / "cnn"
    common = ["cnn", "train", "--limit", "300", "--no-progress", "--out", str(out)]
    result = _khipu(*common, "--epochs", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert config["batch_size"] == 32  # min(32, the training set), not null
    assert None not in config.values() and "data_dir" not in config  # issue 17: no null
    again = _khipu(*common, "--epochs", "2", "--resume")  # the default resolves the same
    assert again.returncode == 0, again.stderr[-2000:]
