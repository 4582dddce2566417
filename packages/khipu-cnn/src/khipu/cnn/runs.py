"""One complete training run into a run folder (what ``khipu cnn train`` does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import khipu.core as kc
import numpy as np
from khipu.cnn.data import describe, load_image_dataset
from khipu.cnn.models import Model, ModelSpec, build_model, first_layer_filters
from khipu.cnn.plots import plot_confusion_matrix, plot_filters, plot_predictions
from khipu.cnn.train import (
    confusion_matrix,
    evaluate_classifier,
    predict_proba,
    train_classifier,
)

BEST_CHECKPOINT = "best.npz"


def run_training(
    out: str | Path,
    *,
    dataset: str = "digits",
    model: str = "lenet",
    epochs: int = 60,
    batch_size: int = 32,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    patience: int | None = 8,
    dropout: float = 0.5,
    batch_norm: bool = False,
    residual: bool = False,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    data_seed: int = 0,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    splits: kc.Splits | None = None,
) -> dict[str, Any]:
    """Trains, evaluates and writes everything of one run into ``out``.

    Writes ``metrics.json`` (``test_accuracy``, ``val_accuracy``, ``best_epoch``,
    ``epochs_run``, ``train_seconds``...), ``history.json``,
    ``parameter_counts.json``, ``learning_curves.png``, ``predictions.png``
    (first 25 test images), ``confusion_matrix.png`` (test split),
    ``filters.png``, the best parameters in ``best.npz`` and the resumable
    state in ``checkpoints/last.npz``.

    ``splits``: the dataset already loaded (by a command that checked it before making
    the run folder); by default it is loaded here.

    Returns:
      The metrics written to ``metrics.json``.
    """
    out = Path(out)
    if splits is None:
        splits = load_image_dataset(dataset, seed=data_seed, data_dir=data_dir, limit=limit)
    spec = ModelSpec(
        model,
        num_classes=splits.num_classes,
        batch_norm=batch_norm,
        residual=residual,
        dropout_rate=dropout,
    )
    net = build_model(spec)
    result = train_classifier(
        net,
        splits,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        learning_rate=learning_rate,
        patience=patience,
        seed=seed,
        checkpoint_dir=out / "checkpoints",
        resume=resume,
        progress=progress,
    )
    state = result.state
    test = evaluate_classifier(net, state, splits.test)
    val = evaluate_classifier(net, state, splits.val)
    save_classifier(
        out / BEST_CHECKPOINT,
        net,
        state.params,
        state.model_state,
        splits,
        best_epoch=result.best_epoch,
    )

    counts = kc.parameter_counts(state.params)
    kc.write_json(out / "parameter_counts.json", counts)
    kc.write_json(out / "history.json", result.history)
    curves = kc.plot_learning_curves(
        result.history, metrics=["loss", "accuracy"], title=f"{model} on {dataset}"
    )
    for ax in curves.axes:
        ax.axvline(result.best_epoch, color="gray", ls="--", lw=1)
    kc.save_figure(curves, out / "learning_curves.png")
    probs = predict_proba(net, state.params, state.model_state, splits.test["image"])
    predicted = probs.argmax(axis=-1)
    n_show = min(25, len(predicted))
    plot_predictions(
        splits.test["image"][:n_show],
        probs[:n_show],
        splits.test["label"][:n_show],
        splits.class_names,
        path=out / "predictions.png",
    )
    matrix = confusion_matrix(splits.test["label"], predicted, splits.num_classes)
    plot_confusion_matrix(matrix, splits.class_names, path=out / "confusion_matrix.png")
    plot_filters(first_layer_filters(state.params), path=out / "filters.png")

    metrics: dict[str, Any] = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "val_accuracy": val["accuracy"],
        "val_loss": val["loss"],
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "train_seconds": result.train_seconds,
        "parameters": kc.total_parameters(state.params),
        **{f"{k}": v for k, v in describe(splits).items() if k != "image_shape"},
    }
    kc.write_metrics(out, metrics)
    return metrics


RESUME_KEYS: dict[str, type | tuple[type, ...]] = {
    "rows": list,
    "epoch": int,
    "best_epoch": int,
    "best_value": (int, float),
    "bad_epochs": int,
    "stopped_early": bool,
}


def check_resumable(out: str | Path) -> Path:
    """Checks that ``out`` holds a run that ``--resume`` can continue, reading only metadata.

    Returns:
      The checkpoint ``out/checkpoints/last.npz``.

    Raises:
      CheckpointError: no checkpoint, or one without its training history (epoch, rows of
        metrics, early-stopping state).
    """
    path = Path(out) / "checkpoints" / "last.npz"
    if not path.is_file():
        raise kc.CheckpointError(
            f"--resume: {out} holds no resumable run ({path} is missing); "
            "start a new run without --resume"
        )
    meta = kc.read_metadata(path)
    for key, kind in RESUME_KEYS.items():
        value = meta.get(key) if isinstance(meta, dict) else None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise kc.CheckpointError(
                f"--resume: {path} lacks its training history ({key!r} missing or malformed); "
                "start a new run (--overwrite)"
            )
    if not all(isinstance(row, dict) for row in meta["rows"]) or len(meta["rows"]) != int(
        meta["epoch"]
    ):
        raise kc.CheckpointError(
            f"--resume: {path} lacks its training history (rows do not match the epochs)"
        )
    return path


def save_classifier(
    path: str | Path,
    model: Model,
    params: Any,
    model_state: Any,
    splits: kc.Splits,
    *,
    best_epoch: int,
) -> Path:
    """Saves parameters and batch-norm state with what is needed to rebuild the model."""
    spec = model.spec
    meta = {
        "model": spec.name,
        "num_classes": spec.num_classes,
        "batch_norm": spec.batch_norm,
        "residual": spec.residual,
        "dropout_rate": spec.dropout_rate,
        "dataset": splits.name,
        "image_shape": list(np.shape(splits.train["image"])[1:]),
        "class_names": list(splits.class_names),
        "best_epoch": best_epoch,
    }
    tree = {"params": jax.device_get(params), "model_state": jax.device_get(model_state)}
    return kc.save_checkpoint(path, tree, meta)


def load_classifier(path: str | Path) -> tuple[Model, Any, Any, dict[str, Any]]:
    """Rebuilds a model saved by :func:`save_classifier`.

    Returns:
      ``(model, params, model_state, metadata)``.
    """
    meta = kc.read_metadata(path)
    try:
        spec = ModelSpec(
            meta["model"],
            num_classes=meta["num_classes"],
            batch_norm=meta["batch_norm"],
            residual=meta["residual"],
            dropout_rate=meta["dropout_rate"],
        )
        shape = tuple(meta["image_shape"])
    except KeyError as exc:
        raise kc.CheckpointError(f"{path} is not a khipu-cnn classifier ({exc} missing)") from exc
    model = build_model(spec)
    params, state = jax.eval_shape(
        lambda: model.init(kc.as_key(0), jax.numpy.zeros((1, *shape), jax.numpy.float32))
    )
    like = {
        "params": jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), params),
        "model_state": jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), state),
    }
    tree, meta = kc.load_checkpoint(path, like)
    return model, tree["params"], tree["model_state"], meta
