"""``khipu gnn train`` end to end on tiny settings, and its one-line errors."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from khipu.core.cli import main

CATALOGUE = Path(__file__).with_name("bad_inputs.toml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["gnn", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_karate_run_writes_metrics_figures_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--task", "karate", "--model", "gcn", "--no-progress", "--out", str(out)]
    code, stdout, _ = run(capsys, *args, "--epochs", "3")
    assert code == 0 and "accuracy" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3 and 0 <= metrics["accuracy"] <= 1
    assert metrics["task"] == "karate" and metrics["model"] == "gcn"
    for name in ("graph", "learning_curves"):
        assert (out / f"{name}.png").stat().st_size > 1000
    code, _, err = run(capsys, *args, "--epochs", "3")
    assert code == 1 and "not empty" in err and len(err.strip().splitlines()) == 1
    assert run(capsys, *args, "--epochs", "5", "--resume")[0] == 0
    assert json.loads((out / "history.json").read_text())["epoch"] == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_ratings_file_run(tmp_path, capsys):
    lines = [
        f"{u} {i} {1 + (u * 7 + i * 3) % 5}" for u in range(30) for i in range(8) if (u + i) % 3
    ]
    (tmp_path / "r.txt").write_text("\n".join(lines))
    out = tmp_path / "run"
    code, _, _ = run(
        capsys,
        "train",
        "--task",
        "ratings",
        "--ratings",
        str(tmp_path / "r.txt"),
        "--epochs",
        "1",
        "--no-progress",
        "--out",
        str(out),
    )
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"test_rmse", "item_mean_rmse", "user_mean_rmse"} <= set(metrics)
    assert (out / "similarity.png").stat().st_size > 1000


def cases() -> list[dict]:
    """The rows this in-process test can replay: the repo's harness (tests/test_bad_inputs.py)
    alone copies trained runs, generates large files and runs the rows that must succeed."""
    return [
        c
        for c in tomllib.loads(CATALOGUE.read_text())["case"]
        if "run" not in c
        and c["exit"] != 0
        and all(isinstance(v, (str, list)) for v in c.get("files", {}).values())
    ]


def test_catalogue_has_enough_rows():
    assert len(cases()) >= 8


@pytest.mark.parametrize("case", cases(), ids=lambda c: "-".join(c["stderr"])[:40])
def test_bad_input_catalogue_in_process(tmp_path, capsys, case):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    for name, text in case.get("files", {}).items():
        (scratch / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, list):  # byte values
            (scratch / name).write_bytes(bytes(text))
        else:
            (scratch / name).write_text(text)
    out = tmp_path / "out"
    argv = [a.replace("{out}", str(out)).replace("{tmp}", str(scratch)) for a in case["args"]]
    assert argv[0] == "gnn"
    with pytest.raises(SystemExit) if case["exit"] == 2 else _nullcontext() as exc:
        code = main(argv)
    if case["exit"] == 2:
        code = exc.value.code
    err = capsys.readouterr().err
    assert code == case["exit"]
    assert len(err.strip().splitlines()) == 1, err
    for word in case["stderr"]:
        assert word.lower() in err.lower(), (word, err)
    assert not out.exists()


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("task", ["karate", "links"])
def test_whole_graph_tasks_train_on_one_device_of_several(tmp_path, capsys, task):
    """A machine with 4 devices: the one-graph tasks train on the first (was a batch-size
    error the user could not act on) and equal the one-device run."""
    import os
    import subprocess
    import sys

    args = ["train", "--task", task, "--epochs", "3", "--no-progress", "--out"]
    assert run(capsys, *args, str(tmp_path / "one"))[0] == 0
    env = os.environ | {
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
    }
    result = subprocess.run(
        [sys.executable, "-m", "khipu.core.cli", "gnn", *args, str(tmp_path / "four")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    one, four = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("one", "four"))
    key = "accuracy" if task == "karate" else "roc_auc"
    assert four[key] == pytest.approx(one[key], abs=1e-6)


@pytest.mark.parametrize("task", ["karate", "links"])
def test_whole_graph_tasks_refuse_several_processes(tmp_path, capsys, monkeypatch, task):
    import jax

    monkeypatch.setattr(jax, "process_count", lambda: 2)
    out = tmp_path / "run"
    code, _, err = run(capsys, "train", "--task", task, "--no-progress", "--out", str(out))
    assert code == 1
    assert err.strip().splitlines() == [
        f"khipu: error: --task {task} trains on one whole graph, which cannot be split over "
        "2 processes; run it as one process (ratings and graphs train on several)"
    ]
    assert not out.exists()
