"""Losses, optimizer and training of both tasks through khipu-core's ``fit()``.

Models are ``hk.transform``-ed once per :class:`TransformerConfig`
(:func:`inversion_model`, :func:`lm_model`). The loss functions follow core's
contract ``loss_fn(params, model_state, key, batch) -> (loss, (model_state, metrics))``.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
from khipu.core import (
    KhipuError,
    cache_micro_batches,
    fit,
    init_train_state,
    make_eval_step,
    make_train_step,
)
from khipu.transformer.models import (
    Blocks,
    DecoderLM,
    KVCache,
    Transformer,
    TransformerConfig,
    check_config,
)
from khipu.transformer.tokenizers import BOS, EOS, PAD

Batch = dict[str, jax.Array]
ModelFactory = Callable[..., Any]
"""Builds an encoder-decoder: ``model(config, blocks, name=...)`` -> a module whose
``__call__(src [B, S], dec_in [B, T], src_len [B])`` returns the logits ``[B, T, V]``
(or a tuple whose first item they are). :class:`Transformer` is one."""


def logits_of(out: Any) -> jax.Array:
    """The logits of a model's output: the array itself, or the first item of a tuple."""
    logits: jax.Array = out if isinstance(out, jax.Array) else out[0]
    return logits


@functools.cache
def inversion_model(
    config: TransformerConfig, model: ModelFactory | None = None, blocks: Blocks | None = None
) -> hk.Transformed:
    """The encoder-decoder, transformed: the package's :class:`Transformer` or ``model``,
    built from ``blocks`` (default: the package's blocks).

    ``apply(params, None, src [B, S], dec_in [B, T], src_len [B] | None)`` returns
    what the model returns (:class:`TransformerOutput` for the package's).
    """
    check_config(config)
    factory: ModelFactory = Transformer if model is None else model
    parts = Blocks() if blocks is None else blocks

    def forward(src: jax.Array, tgt: jax.Array, src_len: jax.Array | None = None) -> Any:
        return factory(config, parts, name="transformer")(src, tgt, src_len)

    return hk.transform(forward)


@functools.cache
def inversion_parts(config: TransformerConfig) -> hk.MultiTransformed:
    """The same parameters as :func:`inversion_model`, with ``encode`` and ``decode`` apart."""

    def build() -> tuple[Callable[..., Any], tuple[Callable[..., Any], Callable[..., Any]]]:
        model = Transformer(config, name="transformer")

        def init(src: jax.Array, tgt: jax.Array, src_len: jax.Array | None = None) -> Any:
            return model(src, tgt, src_len)

        return init, (model.encode, model.decode)

    return hk.multi_transform(build)


@functools.cache
def lm_model(config: TransformerConfig) -> hk.Transformed:
    """The decoder-only :class:`DecoderLM`, transformed.

    ``apply(params, None, tokens [B, T], cache=None, cache_index=0) -> DecoderOutput``.
    """
    check_config(config)

    def forward(
        tokens: jax.Array, cache: list[KVCache] | None = None, cache_index: jax.Array | int = 0
    ) -> Any:
        return DecoderLM(config, name="lm")(tokens, cache=cache, cache_index=cache_index)

    return hk.transform(forward)


def sequence_loss(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean cross-entropy over the positions where ``mask`` is ``True``.

    Args:
      logits: ``[B, T, V]``.
      targets: ``[B, T]`` ids.
      mask: ``[B, T]`` boolean.
    """
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    weights = mask.astype(losses.dtype)
    return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def token_accuracy(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
    """Fraction of masked positions whose argmax equals the target."""
    hits = (jnp.argmax(logits, -1) == targets) & mask
    return jnp.sum(hits) / jnp.maximum(jnp.sum(mask), 1)


def make_optimizer(
    learning_rate: float, *, warmup_steps: int = 0, total_steps: int | None = None
) -> optax.GradientTransformation:
    """Adam (b2 = 0.99, the practical's) with global-norm clipping at 1 and a
    linear warm-up followed by cosine decay to 10 % (constant without ``total_steps``)."""
    if learning_rate <= 0 or not math.isfinite(learning_rate):
        raise KhipuError(f"learning rate must be positive, got {learning_rate}")
    schedule: optax.Schedule | float
    if total_steps is not None and total_steps > 0:
        warmup = min(warmup_steps, max(total_steps - 1, 0))
        schedule = optax.warmup_cosine_decay_schedule(
            0.0, learning_rate, max(warmup, 1), max(total_steps, warmup + 1), learning_rate * 0.1
        )
    elif warmup_steps > 0:
        schedule = optax.linear_schedule(0.0, learning_rate, warmup_steps)
    else:
        schedule = learning_rate
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule, b1=0.9, b2=0.99))


def inversion_loss_fn(
    config: TransformerConfig, model: ModelFactory | None = None, blocks: Blocks | None = None
) -> Callable[..., Any]:
    """Teacher-forced cross-entropy of the inversion task (core's loss contract)."""
    transformed = inversion_model(config, model, blocks)

    def loss_fn(
        params: hk.Params, model_state: Any, key: jax.Array, batch: Batch
    ) -> tuple[jax.Array, tuple[Any, dict[str, jax.Array]]]:
        del key
        out = transformed.apply(params, None, batch["src"], batch["dec_in"], batch["src_len"])
        logits = logits_of(out)
        mask = batch["tgt"] != PAD
        loss = sequence_loss(logits, batch["tgt"], mask)
        return loss, (
            model_state,
            {"token_accuracy": token_accuracy(logits, batch["tgt"], mask)},
        )

    return loss_fn


def lm_loss_fn(config: TransformerConfig) -> Callable[..., Any]:
    """Next-character cross-entropy of the decoder-only LM (core's loss contract)."""
    model = lm_model(config)

    def loss_fn(
        params: hk.Params, model_state: Any, key: jax.Array, batch: Batch
    ) -> tuple[jax.Array, tuple[Any, dict[str, jax.Array]]]:
        del key
        tokens = batch["tokens"]
        logits = model.apply(params, None, tokens[:, :-1]).output
        mask = tokens[:, 1:] != PAD
        loss = sequence_loss(logits, tokens[:, 1:], mask)
        return loss, (model_state, {"token_accuracy": token_accuracy(logits, tokens[:, 1:], mask)})

    return loss_fn


LM_MICRO_ROWS = 2
"""Sequences per device in one micro-batch of the LM's train step on a CPU (measured)."""


def lm_micro_batches(batch_size: int) -> int:
    """Micro-batches for the LM's train step (see ``khipu.core.make_train_step``).

    On a CPU, a micro-batch of :data:`LM_MICRO_ROWS` sequences per device keeps the
    ``[rows, heads, T, T]`` attention arrays and the feed-forward activations in the
    L2 cache: the step on 32 x 128 tokens (d_model 64) took 132 ms whole, 79 ms in 8
    micro-batches and 69 ms in 16 (same run, one core). The LM's windows are all full
    length, so the update is the whole batch's. 1 on an accelerator.
    """
    return cache_micro_batches(batch_size, LM_MICRO_ROWS * jax.device_count())


def _eval_fn(loss_fn: Callable[..., Any]) -> Callable[..., dict[str, jax.Array]]:
    def eval_fn(params: hk.Params, model_state: Any, batch: Batch) -> dict[str, jax.Array]:
        loss, (_, metrics) = loss_fn(params, model_state, jax.random.key(0), batch)
        return {"loss": loss, **metrics}

    return eval_fn


class TrainOutcome(NamedTuple):
    """Result of :func:`train_model`: final parameters, history and timing."""

    params: hk.Params
    history: dict[str, list[float]]
    epochs_run: int
    train_seconds: float


def train_model(
    task: str,
    config: TransformerConfig,
    train: dict[str, np.ndarray],
    val: dict[str, np.ndarray],
    *,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    warmup_steps: int = 100,
    seed: int = 0,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    model: ModelFactory | None = None,
    blocks: Blocks | None = None,
) -> TrainOutcome:
    """Trains ``task`` (``"invert"`` or ``"lm"``) with :func:`khipu.core.fit`.

    Args:
      task: which model and loss.
      config: model sizes.
      train, val: arrays from :func:`~khipu.transformer.data.inversion_arrays`
        or :func:`~khipu.transformer.data.lm_arrays`.
      epochs: passes over ``train``.
      batch_size: examples per step.
      learning_rate: peak learning rate of the warm-up + cosine schedule.
      warmup_steps: linear warm-up length.
      seed: parameter initialisation and shuffling seed.
      checkpoint_dir: where ``fit`` keeps ``last.npz`` (for ``resume``).
      resume: continue from ``checkpoint_dir``.
      progress: show the progress bar.
      model: the inversion model's factory (default :class:`Transformer`; see
        :data:`ModelFactory`), e.g. one written in the notebook.
      blocks: the encoder and decoder blocks it is built from (default: the
        package's, see :class:`~khipu.transformer.models.Blocks`).
    """
    if task != "invert" and (model is not None or blocks is not None):
        raise KhipuError("model and blocks plug into the inversion task only")
    if task == "invert":
        loss_fn = inversion_loss_fn(config, model, blocks)
        example = tuple(jnp.asarray(train[k][:1]) for k in ("src", "dec_in", "src_len"))
        params = jax.jit(inversion_model(config, model, blocks).init)(
            jax.random.key(seed), *example
        )
    elif task == "lm":
        loss_fn = lm_loss_fn(config)
        example_lm = jnp.asarray(train["tokens"][:1, :-1])
        params = jax.jit(lm_model(config).init)(jax.random.key(seed), example_lm)
    else:
        raise KhipuError(f"unknown task {task!r}; available: invert, lm")
    n = len(next(iter(train.values())))
    if batch_size > n:
        raise KhipuError(f"batch size {batch_size} is larger than the training set ({n})")
    total = epochs * (n // batch_size)
    optimizer = make_optimizer(learning_rate, warmup_steps=warmup_steps, total_steps=total)
    state = init_train_state(params, optimizer, key=seed)
    start = time.perf_counter()
    micro = lm_micro_batches(batch_size) if task == "lm" else 1
    result = fit(
        state,
        make_train_step(loss_fn, optimizer, micro_batches=micro),
        train,
        batch_size=batch_size,
        epochs=epochs,
        seed=seed,
        eval_step=make_eval_step(_eval_fn(loss_fn)),
        val_data=val,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
    )
    seconds = time.perf_counter() - start
    return TrainOutcome(result.state.params, result.history, result.epochs_run, seconds)


# --- autoregressive decoding of the inversion task ------------------------------


@functools.partial(jax.jit, static_argnums=(0, 4))
def _greedy_inversion(
    config: TransformerConfig, params: hk.Params, src: jax.Array, src_len: jax.Array, steps: int
) -> jax.Array:
    encode, decode = inversion_parts(config).apply
    memory, _ = encode(params, None, src, src_len)
    b = src.shape[0]
    buf = jnp.full((b, steps + 1), PAD, jnp.int32).at[:, 0].set(BOS)

    def body(i: jax.Array, buf: jax.Array) -> jax.Array:
        logits = decode(params, None, buf[:, :steps], memory, src_len).output
        nxt = jnp.argmax(jax.lax.dynamic_index_in_dim(logits, i, axis=1, keepdims=False), -1)
        new: jax.Array = jax.lax.dynamic_update_index_in_dim(
            buf, nxt.astype(jnp.int32), i + 1, axis=1
        )
        return new

    final: jax.Array = jax.lax.fori_loop(0, steps, body, buf)
    return final[:, 1:]


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 6))
def _greedy_rerun(
    config: TransformerConfig,
    model: ModelFactory | None,
    blocks: Blocks | None,
    params: hk.Params,
    src: jax.Array,
    src_len: jax.Array,
    steps: int,
) -> jax.Array:
    apply = inversion_model(config, model, blocks).apply
    b = src.shape[0]
    buf = jnp.full((b, steps + 1), PAD, jnp.int32).at[:, 0].set(BOS)

    def body(i: jax.Array, buf: jax.Array) -> jax.Array:
        logits = logits_of(apply(params, None, src, buf[:, :steps], src_len))
        nxt = jnp.argmax(jax.lax.dynamic_index_in_dim(logits, i, axis=1, keepdims=False), -1)
        new: jax.Array = jax.lax.dynamic_update_index_in_dim(
            buf, nxt.astype(jnp.int32), i + 1, axis=1
        )
        return new

    final: jax.Array = jax.lax.fori_loop(0, steps, body, buf)
    return final[:, 1:]


def greedy_decode_inversion(
    config: TransformerConfig,
    params: hk.Params,
    src: np.ndarray,
    src_len: np.ndarray,
    steps: int,
    *,
    batch_size: int = 256,
    model: ModelFactory | None = None,
    blocks: Blocks | None = None,
) -> np.ndarray:
    """Greedy autoregressive decoding: each output token is fed back as input.

    The package's model encodes the source once; a plugged-in ``model`` (or
    ``blocks``) is re-run on the source and the tokens so far for every new
    token (the causal mask makes both give the same tokens).

    Args:
      config: the model's sizes.
      params: trained parameters of :func:`inversion_model`.
      src: ``[N, S]`` source ids (padded).
      src_len: ``[N]`` source lengths.
      steps: tokens to generate (``T``; the target length, EOS included).
      batch_size: sequences decoded per call.
      model, blocks: what the parameters belong to (see :func:`inversion_model`).

    Returns:
      ``[N, steps]`` int32 generated ids (no BOS).
    """
    if steps > config.max_len:
        raise KhipuError(f"cannot decode {steps} tokens with max_len {config.max_len}")
    if src.shape[1] > config.max_len:
        raise KhipuError(
            f"source of length {src.shape[1]} is longer than the model's maximum {config.max_len}"
        )
    outs = []
    for i in range(0, len(src), batch_size):
        chunk, lengths = (
            np.asarray(src[i : i + batch_size]),
            np.asarray(src_len[i : i + batch_size]),
        )
        pad = batch_size - len(chunk) if len(src) > batch_size else 0
        if pad:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, 0)])
            lengths = np.concatenate([lengths, np.repeat(lengths[-1:], pad, 0)])
        if model is None and blocks is None:
            out = _greedy_inversion(config, params, jnp.asarray(chunk), jnp.asarray(lengths), steps)
        else:
            out = _greedy_rerun(
                config, model, blocks, params, jnp.asarray(chunk), jnp.asarray(lengths), steps
            )
        outs.append(np.asarray(out)[: len(chunk) - pad])
    return np.concatenate(outs)


def sequence_metrics(predicted: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Exact match and token accuracy of generated ids against targets.

    Both are ``[N, T]``; positions after the target's EOS are ignored, and a
    sequence matches exactly when every position up to and including the EOS does.
    """
    valid = target != PAD
    after_eos = np.cumsum(target == EOS, axis=1) - (target == EOS) > 0
    valid &= ~after_eos
    hits = (predicted == target) & valid
    exact = (hits | ~valid).all(axis=1)
    return {
        "exact_match": float(exact.mean()),
        "token_accuracy": float(hits.sum() / max(valid.sum(), 1)),
    }


def evaluate_inversion(
    config: TransformerConfig,
    params: hk.Params,
    data: dict[str, np.ndarray],
    *,
    model: ModelFactory | None = None,
    blocks: Blocks | None = None,
) -> dict[str, float]:
    """Autoregressive exact match and token accuracy on ``data`` (``src``, ``src_len``, ``tgt``)."""
    steps = data["tgt"].shape[1]
    predicted = greedy_decode_inversion(
        config, params, data["src"], data["src_len"], steps, model=model, blocks=blocks
    )
    return sequence_metrics(predicted, data["tgt"])
