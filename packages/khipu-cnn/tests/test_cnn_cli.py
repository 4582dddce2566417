"""``khipu cnn ...`` end to end on tiny settings, and its one-line errors."""

from __future__ import annotations

import json

import pytest
from khipu.cnn import load_classifier, load_image_dataset, predict_proba
from khipu.core.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["cnn", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_writes_metrics_figures_checkpoint_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    tiny = ["--limit", "300", "--batch-size", "16", "--no-progress", "--out", str(out)]
    code, stdout, _ = run(capsys, "train", "--epochs", "2", *tiny)
    assert code == 0 and "test accuracy" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("test_accuracy", "val_accuracy", "best_epoch", "epochs_run", "train_seconds"):
        assert key in metrics
    assert metrics["epochs_run"] == 2 and 0.0 <= metrics["test_accuracy"] <= 1.0
    for name in ("learning_curves", "predictions", "confusion_matrix", "filters"):
        assert (out / f"{name}.png").stat().st_size > 1000
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "lenet" and "versions" in config

    model, params, state, meta = load_classifier(out / "best.npz")
    assert meta["best_epoch"] == metrics["best_epoch"] and meta["image_shape"] == [8, 8, 1]
    splits = load_image_dataset("digits", limit=300)
    acc = (
        predict_proba(model, params, state, splits.test["image"]).argmax(1) == splits.test["label"]
    ).mean()
    assert acc == pytest.approx(metrics["test_accuracy"], abs=1e-6)

    code, _, err = run(capsys, "train", "--epochs", "2", *tiny)
    assert code == 1 and "not empty" in err and "Traceback" not in err
    code, _, _ = run(capsys, "train", "--epochs", "3", "--resume", *tiny)
    assert code == 0
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["epochs_run"] == 3
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1.0, 2.0, 3.0]


def test_train_on_shapes32_colour_images(tmp_path, capsys):
    out = tmp_path / "shapes"
    argv = ["train", "--dataset", "shapes32", "--model", "fcn", "--limit", "100"]
    code, stdout, _ = run(capsys, *argv, "--epochs", "1", "--no-progress", "--out", str(out))
    assert code == 0 and "test accuracy" in stdout
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"] == "shapes32"
    _, _, _, meta = load_classifier(out / "best.npz")
    assert meta["image_shape"] == [32, 32, 3]


def test_train_same_seed_same_metrics(tmp_path, capsys):
    def metrics(name: str) -> dict[str, float]:
        out = tmp_path / name
        argv = ["train", "--epochs", "2", "--limit", "200", "--no-progress", "--out", str(out)]
        assert run(capsys, *argv)[0] == 0
        m = json.loads((out / "metrics.json").read_text())
        m.pop("train_seconds")
        return m

    assert metrics("a") == metrics("b")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--dataset", "imagenet"], "unknown dataset 'imagenet'; available: cifar10"),
        (["train", "--model", "vgg"], "unknown model 'vgg'; available: alexnet, fcn, lenet"),
        (["train", "--model", "alexnet"], "too small"),
        (["train", "--optimizer", "sgdd"], "unknown optimizer 'sgdd'"),
        (["regression", "--optimizer", "nope"], "unknown optimizer 'nope'"),
        (["regression", "--noise", "-1"], "--noise must be non-negative"),
        (["train", "--dataset", "shapes32", "--limit", "20"], "pass a limit of at least 30"),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, argv, message):
    code, _, err = run(capsys, *argv, "--out", str(tmp_path / "x"), "--no-progress")
    assert code == 1
    assert message in err and len(err.strip().splitlines()) == 1
    if "unknown" in message:  # names are checked before the run folder is made
        assert not (tmp_path / "x").exists()


def test_regression_command(tmp_path, capsys):
    out = tmp_path / "reg"
    code, stdout, _ = run(
        capsys, "regression", "--out", str(out), "--optimizer", "adam", "--learning-rate", "0.05"
    )
    assert code == 0 and "adam" in stdout
    m = json.loads((out / "metrics.json").read_text())
    assert abs(m["w"] - 0.4) < 0.05 and abs(m["b"] + 0.2) < 0.03
    assert m["converged"] and m["final_loss"] < 0.004
    assert abs(m["haiku_w"] - m["w"]) < 2e-3
    assert (out / "loss_curve.png").is_file()


def test_basics_command(tmp_path, capsys):
    out = tmp_path / "basics"
    code, stdout, _ = run(capsys, "basics", "--quick", "--repeats", "1", "--out", str(out))
    assert code == 0 and "speedup_vmap_vs_python_loop" in stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["df_at_2"] == 183 and m["d3f_at_2"] == 288
    assert m["speedup_vmap_vs_python_loop"] > 0
    demos = json.loads((out / "demos.json").read_text())
    assert demos["vmap"]["min_max_of_batch"] == [0, 14]
    assert (out / "timings.png").is_file() and (out / "functions.png").is_file()


def test_summary_command(capsys):
    code, stdout, _ = run(capsys, "summary", "--model", "alexnet", "--image-shape", "32", "32", "3")
    assert code == 0
    assert "alexnet/dense1" in stdout and "2,098,176" in stdout and "3,989,450" in stdout
