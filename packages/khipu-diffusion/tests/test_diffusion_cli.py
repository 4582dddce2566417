"""``khipu diffusion ...`` end to end on tiny settings, and its bad-input catalogue."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from khipu.core.cli import main
from khipu.diffusion import load_model

HERE = Path(__file__).parent


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["diffusion", *argv])
    captured = capsys.readouterr()
    # other practicals installed beside this one may warn while loading; keep our lines
    err = "".join(
        line for line in captured.err.splitlines(True) if not line.startswith("khipu: warning")
    )
    return code, captured.out, err


def test_toy2d_train_resume_and_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "toy"
    tiny = ["--dataset", "toy2d", "--limit", "512", "--timesteps", "50", "--steps", "10"]
    tiny += ["--num-samples", "200", "--batch-size", "64", "--no-progress", "--out", str(out)]
    code, stdout, err = run(capsys, "train", "--epochs", "2", *tiny)
    assert code == 0, err
    assert "frechet_distance" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("final_loss", "frechet_distance", "nn_distance_ratio", "mmd", "cov_error"):
        assert np.isfinite(metrics[key]), key
    assert metrics["epochs"] == 2 and metrics["steps"] == 2 * (512 // 64)
    assert (out / "samples.png").stat().st_size > 1000
    assert load_model(out).denoiser.config.kind == "mlp"

    code, _, err = run(capsys, "train", "--epochs", "3", "--resume", *tiny)
    assert code == 0, err
    assert json.loads((out / "history.json").read_text())["epoch"] == [1.0, 2.0, 3.0]

    sampled = tmp_path / "samples"
    code, _, err = run(
        capsys,
        "sample",
        "--checkpoint",
        str(out),
        "--sampler",
        "ddpm",
        "--num-samples",
        "50",
        "--out",
        str(sampled),
    )
    assert code == 0, err
    assert json.loads((sampled / "metrics.json").read_text())["sample_steps"] == 50
    code, _, err = run(
        capsys, "sample", "--checkpoint", str(out), "--guidance", "1", "--out", str(tmp_path / "g")
    )
    assert code == 1 and "conditional model" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "g").exists()


@pytest.mark.slow
def test_conditional_digits_writes_metrics_grid_and_gif(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "digits"
    code, _, err = run(
        capsys,
        "train",
        "--conditional",
        "--limit",
        "400",
        "--epochs",
        "1",
        "--timesteps",
        "20",
        "--steps",
        "5",
        "--num-samples",
        "40",
        "--no-progress",
        "--out",
        str(out),
    )
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("final_loss", "frechet_distance", "nn_distance_ratio", "class_accuracy"):
        assert np.isfinite(metrics[key]), key
    assert 0.0 <= metrics["class_accuracy"] <= 1.0
    for name in ("samples.png", "denoising.png", "forward_process.png", "loss.png", "schedule.png"):
        assert (out / name).stat().st_size > 1000, name
    gif = (out / "denoising.gif").read_bytes()
    assert gif[:6] == b"GIF89a"
    code, _, err = run(
        capsys,
        "sample",
        "--checkpoint",
        str(out),
        "--guidance",
        "3",
        "--steps",
        "4",
        "--num-samples",
        "20",
        "--out",
        str(tmp_path / "s"),
    )
    assert code == 0, err
    assert "class_accuracy" in json.loads((tmp_path / "s" / "metrics.json").read_text())


def test_bad_input_catalogue_is_well_formed() -> None:
    cases = tomllib.loads((HERE / "bad_inputs.toml").read_text())["case"]
    assert len(cases) >= 8
    for case in cases:
        assert case["args"][0] == "diffusion" and "{out}" in case["args"]
        assert case["exit"] in (1, 2) and case["stderr"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (["train", "--timesteps", "0"], "--timesteps must be between 1"),
        (["train", "--model", "vit"], "unknown model 'vit'"),
        (["train", "--dataset", "toy2d", "--conditional"], "no classes"),
    ],
)
def test_bad_input_is_one_line_and_leaves_no_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv, "--out", str(tmp_path / "x"), "--no-progress")
    assert code == 1
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
