"""``khipu transformer train / generate`` end to end on tiny settings, and their errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from khipu.core.cli import main
from khipu.transformer import grammar_text, load_model

TINY = ["--d-model", "16", "--num-heads", "2", "--num-layers", "1", "--no-progress"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["transformer", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_invert_train_writes_metrics_figures_model_and_resumes(tmp_path, capsys) -> None:
    out = tmp_path / "inv"
    args = ["--length", "8", "--num-train", "256", "--batch-size", "32", *TINY, "--out", str(out)]
    code, stdout, err = run(capsys, "train", "--epochs", "1", *args)
    assert code == 0, err
    assert "exact match" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("exact_match", "token_accuracy", "val_loss", "train_seconds"):
        assert math.isfinite(metrics[key])
    assert 0.0 <= metrics["exact_match"] <= metrics["token_accuracy"] + 1e-9 <= 1.0 + 1e-9
    for name in ("learning_curves", "positional_encoding", "attention_encoder", "attention_cross"):
        assert (out / f"{name}.png").stat().st_size > 1000
    model = load_model(out)
    assert model.task == "invert" and model.config.max_len == 9
    config = json.loads((out / "config.json").read_text())
    assert None not in config.values() and None not in config["versions"].values()
    assert config["max_len"] == 9 and config["source"] == "grammar"  # resolved, not null
    assert "text" not in config and "patch_size" not in config  # do not apply here

    code, stdout, _ = run(capsys, "generate", "--checkpoint", str(out), "--prompt", "the cat")
    assert code == 0 and len(stdout.strip("\n")) <= 9
    code, _, err = run(capsys, "generate", "--checkpoint", str(out), "--prompt", "the cat sees")
    assert code == 1 and "longer than the model's maximum" in err
    code, _, err = run(capsys, "generate", "--checkpoint", str(out), "--prompt", "the @cat")
    assert code == 1 and "unknown character" in err and "'@'" in err

    code, _, err = run(capsys, "train", "--epochs", "1", *args)
    assert code == 1 and "not empty" in err
    code, _, err = run(capsys, "train", "--epochs", "2", "--resume", *args)
    assert code == 0, err
    assert json.loads((out / "history.json").read_text())["epoch"] == [1.0, 2.0]


@pytest.mark.slow
def test_lm_learns_and_generates(tmp_path, capsys) -> None:
    out = tmp_path / "lm"
    args = ["--task", "lm", "--length", "16", "--num-train", "1280", "--epochs", "2"]
    code, stdout, err = run(
        capsys, "train", *args, "--d-model", "32", "--no-progress", "--out", str(out)
    )
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    history = json.loads((out / "history.json").read_text())
    counts = np.unique(list(grammar_text(200_000)), return_counts=True)[1]
    p = counts / counts.sum()
    unigram_bits = float(-(p * np.log2(p)).sum())
    # well below the best context-free guess (the character frequencies), and falling
    assert metrics["bits_per_char"] < unigram_bits - 0.5
    assert metrics["bits_per_char"] == pytest.approx(metrics["val_loss"] / math.log(2))
    assert history["val_loss"][1] < history["val_loss"][0]
    assert (out / "attention_lm.png").is_file()

    prompt = "The cat"
    code, stdout, _ = run(
        capsys, "generate", "--checkpoint", str(out), "--prompt", prompt, "--max-new-tokens", "20"
    )
    assert code == 0 and stdout.startswith(prompt) and len(stdout.rstrip("\n")) == len(prompt) + 20
    sampled = [
        run(
            capsys,
            "generate",
            "--checkpoint",
            str(out),
            "--prompt",
            prompt,
            "--max-new-tokens",
            "20",
            "--temperature",
            "1.0",
            "--top-k",
            "5",
            "--seed",
            seed,
        )[1]
        for seed in ("1", "1", "2")
    ]
    assert sampled[0] == sampled[1]
    code, _, err = run(
        capsys, "generate", "--checkpoint", str(out), "--prompt", prompt, "--max-new-tokens", "30"
    )
    assert code == 1 and "longer than the model's maximum" in err
