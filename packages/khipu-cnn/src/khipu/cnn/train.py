"""Training image classifiers with khipu-core's ``fit()``.

The loss is the numerically stable softmax cross-entropy on logits (the
original's ``-mean(one_hot · log(softmax))`` both overflowed on large logits
and divided by the number of classes). Dropout is on only in the training
step; evaluation and prediction run with ``is_training=False``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
from khipu.cnn.models import Model, check_images
from khipu.cnn.optim import make_optimizer
from khipu.core.train import EvalFn, LossFn

Batch = Any


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of integer ``labels`` ``[N]`` under ``logits`` ``[N, K]``.

    Computed as ``logsumexp(logits) − logits[label]`` (through ``log_softmax``),
    which stays finite for any finite logits.
    """
    if logits.ndim != 2 or labels.ndim != 1 or logits.shape[0] != labels.shape[0]:
        raise kc.KhipuError(
            f"cross_entropy expects logits [N, K] and labels [N], got {logits.shape} and "
            f"{labels.shape}"
        )
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(log_probs, labels[:, None].astype(jnp.int32), axis=-1)
    return -jnp.mean(picked)


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of rows whose arg-max logit is the label."""
    return jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))


def make_loss_fn(model: Model) -> LossFn:
    """``loss_fn(params, model_state, key, batch)`` for :func:`khipu.core.make_train_step`:
    cross-entropy with dropout on and batch-norm statistics updated."""

    def loss_fn(params: Any, model_state: Any, key: Any, batch: Batch) -> Any:
        logits, new_state = model.apply(params, model_state, key, batch["image"], True)
        loss = cross_entropy(logits, batch["label"])
        return loss, (new_state, {"accuracy": accuracy(logits, batch["label"])})

    return loss_fn


def make_eval_fn(model: Model) -> EvalFn:
    """``eval_fn(params, model_state, batch) -> {"loss", "accuracy"}`` with dropout off."""

    def eval_fn(params: Any, model_state: Any, batch: Batch) -> dict[str, jax.Array]:
        logits, _ = model.apply(params, model_state, None, batch["image"], False)
        return {
            "loss": cross_entropy(logits, batch["label"]),
            "accuracy": accuracy(logits, batch["label"]),
        }

    return eval_fn


def init_train_state(
    model: Model,
    image_shape: tuple[int, ...],
    *,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> tuple[kc.TrainState, Any]:
    """Initialises parameters for images of ``image_shape`` (``[H, W, C]``).

    Returns:
      ``(state, optax_optimizer)``; ``state.rng`` and the parameters both derive from ``seed``.
    """
    if optimizer in ("lbfgs",):
        raise kc.KhipuError(
            f"{optimizer} needs the loss value for its line search and does not suit "
            "minibatch training; try it in `khipu cnn regression`"
        )
    check_images(np.zeros((1, *image_shape)), min_size=model.min_size)
    opt = make_optimizer(optimizer, learning_rate, seed=seed)
    init_key, rng_key = jax.random.split(kc.as_key(seed))
    params, model_state = model.init(init_key, jnp.zeros((1, *image_shape), jnp.float32))
    state = kc.init_train_state(params, opt, key=rng_key, model_state=model_state)
    return state, opt


class TrainResult(NamedTuple):
    """What :func:`train_classifier` returns.

    Attributes:
      state: final :class:`khipu.core.TrainState` holding the best epoch's parameters.
      history: per-epoch ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``.
      best_epoch: epoch of the lowest validation loss (1-based).
      epochs_run: epochs trained (early stopping may end before ``epochs``).
      stopped_early: whether patience ran out.
      train_seconds: wall time of this call's training (compilation included).
    """

    state: kc.TrainState
    history: dict[str, list[float]]
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    train_seconds: float


def train_classifier(
    model: Model,
    splits: kc.Splits,
    *,
    epochs: int = 40,
    batch_size: int = 32,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    patience: int | None = 8,
    seed: int = 0,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Trains ``model`` on ``splits.train`` with early stopping on validation loss.

    Every epoch visits the training split in a fresh seeded order; after each
    epoch the validation loss and accuracy are computed with dropout off. When
    the validation loss has not improved for ``patience`` epochs training stops,
    and the parameters of the best epoch are returned.

    Args:
      model: from :func:`khipu.cnn.build_model` (its ``num_classes`` must cover the labels).
      splits: train / val / test arrays (``"image"``, ``"label"``).
      epochs: maximum number of epochs.
      batch_size: examples per step.
      optimizer: optax optimizer name; learning_rate: its step size.
      patience: epochs without improvement before stopping (``None``: never stop).
      seed: seed of initialisation, dropout and shuffling.
      checkpoint_dir: save the run there after every epoch (``last.npz``).
      resume: continue the run saved in ``checkpoint_dir``.
      progress: show a progress bar.
    """
    n_classes = model.spec.num_classes
    if splits.num_classes > n_classes:
        raise kc.KhipuError(
            f"dataset {splits.name!r} has {splits.num_classes} classes but the model outputs "
            f"{n_classes}"
        )
    image_shape = tuple(np.shape(splits.train["image"])[1:])
    state, opt = init_train_state(
        model, image_shape, optimizer=optimizer, learning_rate=learning_rate, seed=seed
    )
    n_train = len(splits.train["label"])
    batch_size = min(batch_size, n_train)
    step = kc.make_train_step(make_loss_fn(model), opt)
    eval_step = kc.make_eval_step(make_eval_fn(model))
    start = time.perf_counter()
    result = kc.fit(
        state,
        step,
        splits.train,
        batch_size=batch_size,
        epochs=epochs,
        seed=seed,
        eval_step=eval_step,
        val_data=splits.val,
        monitor="val_loss",
        mode="min",
        patience=patience,
        restore_best=True,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
    )
    seconds = time.perf_counter() - start
    return TrainResult(
        result.state,
        result.history,
        result.best_epoch,
        result.epochs_run,
        result.stopped_early,
        seconds,
    )


def evaluate_classifier(
    model: Model, state: kc.TrainState, data: dict[str, np.ndarray], *, batch_size: int = 256
) -> dict[str, float]:
    """Mean ``loss`` and ``accuracy`` over ``data`` with dropout off."""
    check_images(data["image"], min_size=model.min_size)
    return kc.evaluate(kc.make_eval_step(make_eval_fn(model)), state, data, batch_size=batch_size)


def predict_proba(
    model: Model, params: Any, model_state: Any, images: np.ndarray, *, batch_size: int = 256
) -> np.ndarray:
    """Class probabilities ``[N, K]`` for ``images`` ``[N, H, W, C]`` (dropout off)."""
    check_images(images, min_size=model.min_size)

    @jax.jit
    def probs(batch: jax.Array) -> jax.Array:
        logits, _ = model.apply(params, model_state, None, batch, False)
        return jax.nn.softmax(logits, axis=-1)

    out = [
        np.asarray(probs(jnp.asarray(images[i : i + batch_size])))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros((0, model.spec.num_classes), np.float32)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``[num_classes, num_classes]``: row = true class, column = predicted class."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape or labels.ndim != 1:
        raise kc.KhipuError(
            f"labels and predictions must be 1-D of equal length, got {labels.shape} "
            f"and {predictions.shape}"
        )
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix
