"""Classifier guidance (Dhariwal & Nichol 2021) next to classifier-free guidance.

By Bayes' rule ``∇ₓ log p(x | y) = ∇ₓ log p(x) + ∇ₓ log p(y | x)``: an unconditional
diffusion model plus the gradient of a classifier samples a class. The classifier
must read *noisy* inputs ``x_t`` at every ``t`` (the sampler asks for its gradient at
every step), so it is trained on ``q_sample(x_0, t, ε)`` with ``t`` as an input — the
evaluation classifier of :mod:`khipu.diffusion.evaluation`, trained on clean images
only, would be queried far outside its training data.

In ε-form the guided prediction is
``ε̂ = ε_θ(x_t, t, ∅) − s √(1 − ᾱ_t) ∇_{x_t} log p_φ(y | x_t, t)`` (``s``: the
guidance scale), since ``ε_θ ≈ −√(1 − ᾱ_t) ∇ log p(x_t)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
from khipu.core.errors import KhipuError
from khipu.core.random import PRNGKey
from khipu.core.train import Batch
from khipu.diffusion.evaluation import fit_classifier
from khipu.diffusion.models import Denoiser, timestep_embedding
from khipu.diffusion.schedules import Schedule, q_sample

EpsFn = Callable[[jax.Array, jax.Array], jax.Array]


def _noisy_classifier_forward(x: jax.Array, t: jax.Array, num_classes: int) -> jax.Array:
    """``x_t`` ``[B, H, W, C]``, ``t`` ``[B]`` → logits ``[B, K]``: three convolutions with
    the time embedding added after the first, global mean, two dense layers."""
    emb = hk.Linear(64, name="time_mlp")(timestep_embedding(t, 32))
    h = jax.nn.silu(hk.Conv2D(32, 3, name="conv_0")(x))
    h = h + hk.Linear(32, name="time_0")(jax.nn.silu(emb))[:, None, None, :]
    h = jax.nn.silu(hk.Conv2D(64, 3, stride=2, name="conv_1")(h))
    h = h + hk.Linear(64, name="time_1")(jax.nn.silu(emb))[:, None, None, :]
    h = jax.nn.silu(hk.Conv2D(64, 3, stride=2, name="conv_2")(h))
    h = jnp.mean(h, axis=(1, 2))
    h = jax.nn.silu(hk.Linear(128, name="hidden")(h))
    logits: jax.Array = hk.Linear(num_classes, name="logits")(h)
    return logits


@functools.cache
def _net(num_classes: int) -> hk.Transformed:
    """One transformed network per K (cached: the same function for ``jit``'s cache)."""
    return hk.without_apply_rng(
        hk.transform(lambda x, t: _noisy_classifier_forward(x, t, num_classes))
    )


class NoisyClassifier(NamedTuple):
    """A classifier ``p_φ(y | x_t, t)`` of noisy images.

    Attributes:
      params: Haiku parameters.
      num_classes: K.
      image_shape: ``(H, W, C)``.
      val_accuracy: accuracy on the noised validation split (t uniform).
    """

    params: Any
    num_classes: int
    image_shape: tuple[int, ...]
    val_accuracy: float

    def logits(self, x_t: jax.Array, t: jax.Array) -> jax.Array:
        """Logits ``[B, K]`` of ``x_t`` ``[B, H, W, C]`` at time indices ``t`` ``[B]``."""
        out: jax.Array = _net(self.num_classes).apply(self.params, x_t, t)
        return out


def train_noisy_classifier(
    splits: kc.Splits,
    schedule: Schedule,
    *,
    epochs: int = 30,
    batch_size: int = 128,
    seed: int = 0,
) -> NoisyClassifier:
    """Trains ``p_φ(y | x_t, t)`` on ``splits.train`` (``{"x", "label"}``, images in
    [−1, 1]) noised by ``schedule`` at uniform ``t``, with Adam and early stopping on the
    accuracy on the noised validation split.

    Raises:
      KhipuError: the examples are not images.
    """
    shape = tuple(splits.train["x"].shape[1:])
    if len(shape) != 3:
        raise KhipuError(f"the noisy classifier needs images, got example shape {shape}")
    k = splits.num_classes
    net = _net(k)
    steps = schedule.num_steps

    def noisy(key: PRNGKey, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        k_t, k_eps = jax.random.split(key)
        t = jax.random.randint(k_t, (x.shape[0],), 0, steps)
        return q_sample(schedule, x, t, jax.random.normal(k_eps, x.shape)), t

    def loss_fn(
        params: Any, model_state: Any, key: PRNGKey, batch: Batch
    ) -> tuple[jax.Array, tuple[Any, dict[str, jax.Array]]]:
        x_t, t = noisy(key, batch["x"])
        logits = net.apply(params, x_t, t)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
        return loss, (model_state, {})

    def eval_fn(params: Any, model_state: Any, batch: Batch) -> dict[str, jax.Array]:
        del model_state
        x_t, t = noisy(jax.random.key(seed + 1), batch["x"])  # the same noise every epoch
        logits = net.apply(params, x_t, t)
        return {"accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["label"])}

    keys = kc.KeySequence(seed)
    params = jax.jit(net.init)(
        next(keys), jnp.zeros((1, *shape), jnp.float32), jnp.zeros((1,), jnp.int32)
    )
    params, best = fit_classifier(
        params,
        loss_fn,
        eval_fn,
        splits,
        key=next(keys),
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        patience=8,
    )
    return NoisyClassifier(params, k, shape, best)


def noisy_accuracy(
    clf: NoisyClassifier,
    schedule: Schedule,
    x0: np.ndarray | jax.Array,
    labels: np.ndarray | jax.Array,
    t: int,
    key: PRNGKey,
) -> float:
    """Accuracy of ``clf`` on ``x0`` ``[N, H, W, C]`` noised to the time index ``t``."""
    x = jnp.asarray(x0, jnp.float32)
    ts = jnp.full((x.shape[0],), t, jnp.int32)
    x_t = q_sample(schedule, x, ts, jax.random.normal(key, x.shape))
    pred = jnp.argmax(clf.logits(x_t, ts), -1)
    return float(jnp.mean(pred == jnp.asarray(labels)))


def classifier_log_prob_grad(
    params: Any, num_classes: int, x_t: jax.Array, t: jax.Array, labels: jax.Array
) -> jax.Array:
    """``∇_{x_t} log p_φ(y | x_t, t)`` for each example ``[B, ...]`` (one backward pass:
    the examples are independent, so the gradient of the summed log-probabilities is
    each example's own)."""

    def total_log_prob(x: jax.Array) -> jax.Array:
        logp = jax.nn.log_softmax(_net(num_classes).apply(params, x, t), -1)
        return jnp.take_along_axis(logp, labels[:, None], axis=-1).sum()

    grad: jax.Array = jax.grad(total_log_prob)(x_t)
    return grad


def classifier_guided_eps(
    denoiser: Denoiser,
    params: Any,
    schedule: Schedule,
    clf_params: Any,
    num_classes: int,
    labels: jax.Array,
    scale: float,
) -> EpsFn:
    """The classifier-guided noise prediction
    ``ε̂ = ε_θ(x_t, t, ∅) − s √(1 − ᾱ_t) ∇_{x_t} log p_φ(y | x_t, t)``.

    ``ε_θ(·, ∅)`` is the model's unconditional prediction (the null label of a model
    trained with label dropout, or an unconditional model): the label reaches the
    sample only through the classifier.
    """
    k_model = denoiser.config.num_classes
    null = None if k_model is None else jnp.full_like(labels, k_model)

    def eps(x: jax.Array, t: jax.Array) -> jax.Array:
        e = denoiser.apply(params, x, t, null)
        g = classifier_log_prob_grad(clf_params, num_classes, x, t, labels)
        s = schedule.sqrt_one_minus_alphas_cumprod[t].reshape((-1,) + (1,) * (x.ndim - 1))
        return e - scale * s * g

    return eps


def check_classifier_args(
    denoiser: Denoiser,
    classifier: NoisyClassifier,
    labels: Any,
    scale: float,
    guidance: float,
    num_samples: int,
) -> jax.Array:
    """Validates classifier-guidance arguments; returns the labels ``[B]`` int32.

    Raises:
      KhipuError: no samples, a negative or non-finite scale, classifier-free guidance
        asked for at the same time, missing or out-of-range labels, or a classifier
        of other images than the model's.
    """
    if num_samples <= 0:
        raise KhipuError(f"the number of samples must be positive, got {num_samples}")
    if not np.isfinite(scale) or scale < 0:
        raise KhipuError(f"classifier scale must be a non-negative number, got {scale}")
    if guidance != 0.0:
        raise KhipuError(
            "use either classifier guidance or classifier-free guidance (guidance=0 here)"
        )
    if tuple(classifier.image_shape) != tuple(denoiser.config.data_shape):
        raise KhipuError(
            f"the classifier reads {classifier.image_shape} images, the model makes "
            f"{denoiser.config.data_shape}"
        )
    if labels is None:
        raise KhipuError("classifier guidance needs labels to guide towards")
    arr = np.asarray(labels)
    if arr.shape != (num_samples,):
        raise KhipuError(f"need one label per sample ({num_samples}), got shape {arr.shape}")
    k = classifier.num_classes
    if arr.min() < 0 or arr.max() >= k:
        raise KhipuError(f"labels must lie in [0, {k}), got {arr.min()}..{arr.max()}")
    return jnp.asarray(arr, jnp.int32)
