"""A small vision transformer (ViT) on images cut into patches.

An image ``[H, W, C]`` becomes a sequence of ``(H/p)·(W/p)`` patch vectors of
``p·p·C`` pixels; a linear layer embeds each patch, a learned ``[CLS]`` vector
is put in front, learned position embeddings are added, and a transformer
encoder (pre-LN, as in ViT) reads the sequence. The ``[CLS]`` output
classifies the image. The default data are scikit-learn's bundled 8x8 digits
(offline), through :func:`khipu.core.load_digits`.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
from khipu.core import (
    KhipuError,
    evaluate,
    fit,
    init_train_state,
    make_eval_step,
    make_train_step,
)
from khipu.transformer.models import TransformerEncoder
from khipu.transformer.train import make_optimizer


def image_to_patches(images: jax.Array, patch_size: int) -> jax.Array:
    """Cuts images into non-overlapping square patches, row by row.

    Args:
      images: ``[B, H, W, C]``.
      patch_size: ``p``; must divide ``H`` and ``W``.

    Returns:
      ``[B, (H/p)·(W/p), p·p·C]``: patch ``(i, j)`` is row ``i·(W/p) + j`` and
      holds ``images[b, i·p:(i+1)·p, j·p:(j+1)·p, :]`` flattened.

    Raises:
      KhipuError: not ``[B, H, W, C]``, or ``p`` does not divide ``H`` and ``W``.
    """
    if images.ndim != 4:
        raise KhipuError(f"images must be [batch, height, width, channels], got {images.shape}")
    b, h, w, c = images.shape
    p = patch_size
    if p <= 0 or h % p or w % p:
        raise KhipuError(f"patch size {p} must divide the image size {h}x{w}")
    x = images.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


class ViTConfig(NamedTuple):
    """Sizes of a vision transformer.

    Attributes:
      num_classes: output classes.
      image_size: ``H = W`` of the (square) images.
      channels: ``C``.
      patch_size: ``p`` (divides ``image_size``).
      d_model, num_heads, num_layers, widening_factor: the encoder's sizes.
    """

    num_classes: int = 10
    image_size: int = 8
    channels: int = 1
    patch_size: int = 2
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2
    widening_factor: int = 2


def check_vit_config(config: ViTConfig) -> None:
    """Raises :class:`KhipuError` for sizes that cannot build a ViT."""
    for name, value in config._asdict().items():
        if value <= 0:
            raise KhipuError(f"{name} must be positive, got {value}")
    if config.image_size % config.patch_size:
        raise KhipuError(
            f"patch size {config.patch_size} does not divide the image size {config.image_size}"
        )
    if config.d_model % config.num_heads:
        raise KhipuError(
            f"d_model {config.d_model} is not divisible by num_heads {config.num_heads}"
        )


class PatchEmbedding(hk.Module):
    """Patches -> ``[B, 1 + N, d]``: linear patch embeddings after a learned [CLS],
    plus learned position embeddings."""

    def __init__(self, config: ViTConfig, name: str | None = None) -> None:
        super().__init__(name=name)
        self.config = config

    def __call__(self, images: jax.Array) -> jax.Array:
        c = self.config
        patches = image_to_patches(images, c.patch_size)
        x = hk.Linear(c.d_model, name="patch_embedding")(patches)
        cls = hk.get_parameter("cls", (1, 1, c.d_model), init=hk.initializers.TruncatedNormal(0.02))
        x = jnp.concatenate([jnp.broadcast_to(cls, (x.shape[0], 1, c.d_model)), x], axis=1)
        pos = hk.get_parameter(
            "positions", (x.shape[1], c.d_model), init=hk.initializers.TruncatedNormal(0.02)
        )
        return x + pos[None]


class VisionTransformer(hk.Module):
    """Patch embedding, a pre-LN transformer encoder and a linear head on [CLS]."""

    def __init__(self, config: ViTConfig, name: str | None = None) -> None:
        super().__init__(name=name)
        check_vit_config(config)
        self.config = config

    def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``images`` ``[B, H, W, C]`` -> (logits ``[B, classes]``,
        attention weights ``[B, L, H, N + 1, N + 1]``)."""
        c = self.config
        x = PatchEmbedding(c, name="embed")(images)
        x, weights = TransformerEncoder(
            c.num_heads, c.num_layers, c.d_model, c.widening_factor, pre_ln=True, name="encoder"
        )(x)
        logits = hk.Linear(c.num_classes, name="head")(x[:, 0])
        return logits, weights


@functools.cache
def vit_model(config: ViTConfig) -> hk.Transformed:
    """``apply(params, None, images [B, H, W, C]) -> (logits, weights)``."""
    check_vit_config(config)
    return hk.transform(lambda images: VisionTransformer(config, name="vit")(images))


def _loss_fn(config: ViTConfig) -> Any:
    model = vit_model(config)

    def loss_fn(
        params: hk.Params, state: Any, key: jax.Array, batch: dict[str, jax.Array]
    ) -> tuple[jax.Array, tuple[Any, dict[str, jax.Array]]]:
        del key
        logits, _ = model.apply(params, None, batch["image"])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
        accuracy = (jnp.argmax(logits, -1) == batch["label"]).mean()
        return loss, (state, {"accuracy": accuracy})

    return loss_fn


class ViTResult(NamedTuple):
    """Trained parameters, the history and held-out metrics of :func:`train_vit`."""

    params: hk.Params
    history: dict[str, list[float]]
    metrics: dict[str, float]


def train_vit(
    config: ViTConfig,
    train: dict[str, np.ndarray],
    val: dict[str, np.ndarray],
    test: dict[str, np.ndarray],
    *,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    warmup_steps: int = 50,
    seed: int = 0,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> ViTResult:
    """Trains a :class:`VisionTransformer` with :func:`khipu.core.fit` (Adam, warm-up + cosine).

    Args:
      config: sizes (``image_size``/``channels`` must match the images).
      train, val, test: ``{"image": [N, H, W, C] float, "label": [N] int}``.
      epochs, batch_size, learning_rate, warmup_steps, seed: training settings.
      checkpoint_dir, resume, progress: as in :func:`khipu.core.fit`.

    Returns:
      Parameters, history and ``{"val_accuracy", "test_accuracy", "test_loss",
      "train_seconds"}`` on the held-out splits.
    """
    check_vit_config(config)
    shape = (config.image_size, config.image_size, config.channels)
    for name, split in (("train", train), ("val", val), ("test", test)):
        if tuple(split["image"].shape[1:]) != shape:
            raise KhipuError(
                f"{name} images are {split['image'].shape[1:]}, the model wants {shape}"
            )
        if len(split["image"]) == 0:
            raise KhipuError(f"the {name} split is empty")
    n = len(train["image"])
    if batch_size > n:
        raise KhipuError(f"batch size {batch_size} is larger than the training set ({n})")
    loss_fn = _loss_fn(config)
    optimizer = make_optimizer(
        learning_rate, warmup_steps=warmup_steps, total_steps=epochs * (n // batch_size)
    )
    params = jax.jit(vit_model(config).init)(jax.random.key(seed), jnp.asarray(train["image"][:1]))

    def eval_fn(params: Any, state: Any, batch: Any) -> dict[str, jax.Array]:
        loss, (_, metrics) = loss_fn(params, state, jax.random.key(0), batch)
        return {"loss": loss, **metrics}

    eval_step = make_eval_step(eval_fn)
    start = time.perf_counter()
    result = fit(
        init_train_state(params, optimizer, key=seed),
        make_train_step(loss_fn, optimizer),
        train,
        batch_size=batch_size,
        epochs=epochs,
        seed=seed,
        eval_step=eval_step,
        val_data=val,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
    )
    seconds = time.perf_counter() - start
    state = result.state
    v = evaluate(eval_step, state, val, batch_size=min(256, len(val["image"])))
    t = evaluate(eval_step, state, test, batch_size=min(256, len(test["image"])))
    metrics = {
        "val_accuracy": float(v["accuracy"]),
        "test_accuracy": float(t["accuracy"]),
        "test_loss": float(t["loss"]),
        "test_examples": float(len(test["image"])),
        "train_seconds": seconds,
    }
    return ViTResult(state.params, result.history, metrics)


def predict_vit(config: ViTConfig, params: hk.Params, images: np.ndarray) -> np.ndarray:
    """Class ids ``[N]`` for images ``[N, H, W, C]``."""
    logits, _ = jax.jit(vit_model(config).apply)(params, None, jnp.asarray(images))
    return np.asarray(jnp.argmax(logits, -1))
