"""Hostile-but-fair inputs: limits instead of XLA aborts, nothing touched before validation
(issue 11)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from khipu.cnn.runs import check_resumable
from khipu.core import KhipuError, save_checkpoint
from khipu.core.cli import main


def _error(err: str) -> str:
    """The single error line of a failed command (warnings about other packages aside)."""
    lines = [line for line in err.splitlines() if not line.startswith("khipu: warning:")]
    assert len(lines) == 1, lines
    return lines[0]


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def prior_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished (tiny) regression run: the folder that failing commands must not touch."""
    out = tmp_path_factory.mktemp("prior") / "run"
    assert main(["cnn", "regression", "--max-steps", "3", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--limit", "5"], "at least 10"),
        (["--limit", "40", "--batch-size", "1000"], "larger than the training set"),
        (["--model", "resnet9000"], "unknown model"),
        (["--model", "alexnet", "--limit", "40"], "too small"),
        (["--dataset", "imagenet"], "unknown dataset"),
    ],
)
def test_train_fails_before_touching_the_previous_run(
    extra: list[str], message: str, prior_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(prior_run)
    argv = ["cnn", "train", *extra, "--overwrite", "--no-progress", "--out", str(prior_run)]
    assert main(argv) == 1
    assert message in _error(capsys.readouterr().err)
    assert _snapshot(prior_run) == before


def test_resume_without_history_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    save_checkpoint(out / "checkpoints" / "last.npz", {"w": np.zeros(2)}, {"epoch": 1})
    before = _snapshot(out)
    with pytest.raises(KhipuError, match="lacks its training history"):
        check_resumable(out)
    argv = ["cnn", "train", "--limit", "40", "--resume", "--no-progress", "--out", str(out)]
    assert main(argv) == 1
    assert "training history" in _error(capsys.readouterr().err)
    assert _snapshot(out) == before


def test_resume_of_a_folder_without_a_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KhipuError, match="no resumable run"):
        check_resumable(tmp_path)


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["summary", "--image-shape", "100000", "100000", "1"], 2, "at most"),
        (["summary", "--image-shape", "5000", "5000", "3"], 1, "values per image"),
        (["summary", "--num-classes", "10000000000"], 2, "at most"),
        (["regression", "--num-samples", "1000000000000"], 2, "at most"),
        (["regression", "--seed", "100000000000000000000000"], 2, "seed"),
        (["regression", "--noise", "nan"], 1, "finite"),
        (["regression", "--noise", "inf"], 1, "finite"),
        (["basics", "--repeats", "1000000000000"], 2, "at most"),
    ],
)
def test_absurd_sizes_are_clear_limit_errors(
    argv: list[str], code: int, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    if argv[0] != "summary":
        argv = [*argv, "--out", str(out)]
    if code == 2:
        with pytest.raises(SystemExit) as info:
            main(["cnn", *argv])
        assert info.value.code == 2
    else:
        assert main(["cnn", *argv]) == 1
    assert message in _error(capsys.readouterr().err)
    assert not out.exists()
