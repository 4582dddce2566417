"""Evaluation of generated samples with a classifier trained on the real data.

* :func:`frechet_distance`: the Fréchet distance between Gaussians fitted to two
  sets of features (FID's formula, here on the evaluation classifier's features);
* :func:`class_accuracy`: the fraction of samples generated for class ``y`` that the
  classifier labels ``y`` (conditional models);
* :func:`nn_distance_ratio`: mean distance from each sample to its nearest training
  example divided by the same for held-out real examples — 0 for a copy of the
  training set, about 1 for fresh samples of the same distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
from khipu.core.errors import CheckpointError, KhipuError
from khipu.core.random import PRNGKey
from khipu.core.train import Batch, LossFn


def _classifier_forward(x: jax.Array, num_classes: int) -> tuple[jax.Array, jax.Array]:
    """``x`` ``[B, H, W, C]`` → (logits ``[B, K]``, features ``[B, 128]``)."""
    h = x
    for i, (width, stride) in enumerate(((32, 1), (64, 2), (64, 2))):
        h = jax.nn.relu(hk.Conv2D(width, 3, stride=stride, name=f"conv_{i}")(h))
    h = jnp.mean(h, axis=(1, 2))
    features = jax.nn.relu(hk.Linear(128, name="features")(h))
    return hk.Linear(num_classes, name="logits")(features), features


class EvalClassifier(NamedTuple):
    """A small CNN trained on real images (in the model range [−1, 1]).

    Attributes:
      params: Haiku parameters.
      num_classes: K.
      image_shape: ``(H, W, C)``.
      val_accuracy: accuracy on the real validation split.
    """

    params: Any
    num_classes: int
    image_shape: tuple[int, ...]
    val_accuracy: float

    def _transformed(self) -> hk.Transformed:
        k = self.num_classes
        return hk.without_apply_rng(hk.transform(lambda x: _classifier_forward(x, k)))

    def logits_and_features(
        self, images: np.ndarray | jax.Array, *, batch_size: int = 500
    ) -> tuple[np.ndarray, np.ndarray]:
        """Logits ``[N, K]`` and features ``[N, 128]`` of ``images`` ``[N, H, W, C]``."""
        images = np.asarray(images, np.float32)
        if tuple(images.shape[1:]) != tuple(self.image_shape):
            raise KhipuError(
                f"wrong image shape {images.shape[1:]} for a classifier of {self.image_shape}"
            )
        apply = jax.jit(self._transformed().apply)
        logits, feats = [], []
        for i in range(0, len(images), batch_size):
            lo, fe = apply(self.params, images[i : i + batch_size])
            logits.append(np.asarray(lo))
            feats.append(np.asarray(fe))
        return np.concatenate(logits), np.concatenate(feats)


def train_eval_classifier(
    splits: kc.Splits, *, epochs: int = 30, batch_size: int = 64, seed: int = 0
) -> EvalClassifier:
    """Trains the evaluation classifier on ``splits.train`` (``{"x", "label"}``, images
    in [−1, 1]) with Adam and early stopping on the validation accuracy."""
    shape = tuple(splits.train["x"].shape[1:])
    if len(shape) != 3:
        raise KhipuError(f"the evaluation classifier needs images, got example shape {shape}")
    k = splits.num_classes
    net: hk.Transformed = hk.without_apply_rng(hk.transform(lambda x: _classifier_forward(x, k)))

    def loss_fn(
        params: Any, model_state: Any, key: PRNGKey, batch: Batch
    ) -> tuple[jax.Array, tuple[Any, dict[str, jax.Array]]]:
        del key
        logits, _ = net.apply(params, batch["x"])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
        return loss, (model_state, {})

    def eval_fn(params: Any, model_state: Any, batch: Batch) -> dict[str, jax.Array]:
        del model_state
        logits, _ = net.apply(params, batch["x"])
        return {"accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["label"])}

    keys = kc.KeySequence(seed)
    params = jax.jit(net.init)(next(keys), jnp.zeros((1, *shape), jnp.float32))
    params, best = fit_classifier(
        params,
        loss_fn,
        eval_fn,
        splits,
        key=next(keys),
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        patience=6,
    )
    return EvalClassifier(params, k, shape, best)


def fit_classifier(
    params: Any,
    loss_fn: LossFn,
    eval_fn: Callable[[Any, Any, Batch], dict[str, jax.Array]],
    splits: kc.Splits,
    *,
    key: PRNGKey,
    epochs: int,
    batch_size: int,
    seed: int,
    patience: int,
) -> tuple[Any, float]:
    """Adam (2e-3) on ``splits.train`` (``{"x", "label"}``) through ``fit()``, early
    stopping on ``eval_fn``'s validation ``accuracy``; returns the best epoch's
    parameters (on the host) and that validation accuracy. Shared by the evaluation
    classifier and the noise-conditional classifier of classifier guidance."""
    opt = optax.adam(2e-3)
    state = kc.init_train_state(params, opt, key=key)
    result = kc.fit(
        state,
        kc.make_train_step(loss_fn, opt),
        {"x": splits.train["x"], "label": splits.train["label"]},
        batch_size=min(batch_size, len(splits.train["x"])),
        epochs=epochs,
        seed=seed,
        eval_step=kc.make_eval_step(eval_fn),
        val_data={"x": splits.val["x"], "label": splits.val["label"]},
        monitor="val_accuracy",
        mode="max",
        patience=patience,
        progress=False,
    )
    best = result.history["val_accuracy"][result.best_epoch - 1]
    return jax.device_get(result.state.params), float(best)


def save_eval_classifier(path: str | Path, clf: EvalClassifier) -> Path:
    """Saves the classifier (parameters + shape metadata) with khipu-core's checkpoints."""
    meta = {
        "num_classes": clf.num_classes,
        "image_shape": list(clf.image_shape),
        "val_accuracy": clf.val_accuracy,
    }
    return kc.save_checkpoint(path, {"params": clf.params}, meta)


def load_eval_classifier(path: str | Path) -> EvalClassifier:
    """Loads a classifier saved by :func:`save_eval_classifier`."""
    meta = kc.read_metadata(path)
    try:
        k, shape = int(meta["num_classes"]), tuple(int(s) for s in meta["image_shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} is not an evaluation classifier ({exc})") from exc
    net: hk.Transformed = hk.without_apply_rng(hk.transform(lambda x: _classifier_forward(x, k)))
    like = jax.eval_shape(net.init, jax.random.key(0), jnp.zeros((1, *shape), jnp.float32))
    like = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), like)
    tree, _ = kc.load_checkpoint(path, {"params": like})
    return EvalClassifier(tree["params"], k, shape, float(meta.get("val_accuracy", float("nan"))))


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    out: np.ndarray = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    return out


def frechet_distance(a: np.ndarray | jax.Array, b: np.ndarray | jax.Array) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` ``[N, F]`` and
    ``b`` ``[M, F]``: ``‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2 (Σ_a^{½} Σ_b Σ_a^{½})^{½})``.

    Raises:
      KhipuError: fewer than 2 rows, or different feature sizes.
    """
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a64.ndim != 2 or b64.ndim != 2 or a64.shape[1] != b64.shape[1]:
        raise KhipuError(
            f"feature sets must be [N, F] with the same F, got {a64.shape}, {b64.shape}"
        )
    if len(a64) < 2 or len(b64) < 2:
        raise KhipuError("the Fréchet distance needs at least 2 samples per set")
    mu_a, mu_b = a64.mean(0), b64.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a64.T)), np.atleast_2d(np.cov(b64.T))
    root_a = _sqrtm_psd(cov_a)
    cross = _sqrtm_psd(root_a @ cov_b @ root_a)
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2.0 * cross))
    return max(value, 0.0)


def _nearest_distances(x: np.ndarray, ref: np.ndarray, chunk: int = 256) -> np.ndarray:
    x2 = x.reshape(len(x), -1).astype(np.float64)
    r2 = ref.reshape(len(ref), -1).astype(np.float64)
    rn = (r2**2).sum(1)
    out = np.empty(len(x2))
    for i in range(0, len(x2), chunk):
        part = x2[i : i + chunk]
        d2 = (part**2).sum(1)[:, None] + rn[None, :] - 2.0 * part @ r2.T
        out[i : i + chunk] = np.sqrt(np.clip(d2.min(1), 0.0, None))
    return out


def nn_distance_ratio(
    samples: np.ndarray | jax.Array,
    train: np.ndarray | jax.Array,
    heldout: np.ndarray | jax.Array,
) -> float:
    """Copying check: mean distance from each sample to its nearest training example,
    divided by the mean distance from each held-out real example to its nearest
    training example (Euclidean, on the flattened arrays).

    Returns:
      0 when the samples are training examples; about 1 for new samples from the
      data distribution; well below 1 means memorisation.
    """
    s, tr, ho = (np.asarray(v, np.float32) for v in (samples, train, heldout))
    if s.shape[1:] != tr.shape[1:] or ho.shape[1:] != tr.shape[1:]:
        raise KhipuError(
            f"shapes differ: samples {s.shape[1:]}, train {tr.shape[1:]}, heldout {ho.shape[1:]}"
        )
    base = float(_nearest_distances(ho, tr).mean())
    if base == 0.0:
        raise KhipuError("held-out examples coincide with training examples")
    return float(_nearest_distances(s, tr).mean()) / base


def class_accuracy(clf: EvalClassifier, samples: np.ndarray | jax.Array, labels: Any) -> float:
    """Fraction of ``samples`` ``[N, H, W, C]`` that ``clf`` assigns to their ``labels`` ``[N]``."""
    logits, _ = clf.logits_and_features(samples)
    return float(np.mean(logits.argmax(-1) == np.asarray(labels)))


def sample_labels(num_samples: int, num_classes: int) -> np.ndarray:
    """Labels ``0, 1, …, K−1, 0, 1, …`` for ``num_samples`` samples (balanced)."""
    return (np.arange(num_samples) % num_classes).astype(np.int32)
