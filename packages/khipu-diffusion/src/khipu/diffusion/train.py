"""Training: the ε-prediction loss on the batch it is given, an exponential moving
average (EMA) of the parameters as an optax transformation, and ``fit()``.

The original practical's loss read a global batch, so under ``jit`` it trained on
one frozen batch; :func:`make_ddpm_loss` reads only its ``batch`` argument.
The EMA lives in the optimizer state (:func:`with_parameter_ema`), so khipu-core's
``fit()`` — progress bar, NaN guard, checkpoints, ``--resume`` — runs unchanged.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import khipu.core as kc
import optax
from khipu.core.data import Arrays
from khipu.core.errors import KhipuError
from khipu.core.random import PRNGKey
from khipu.core.train import Batch, LossFn
from khipu.diffusion.models import Denoiser
from khipu.diffusion.schedules import Schedule, q_sample


class EmaState(NamedTuple):
    """State of :func:`with_parameter_ema`.

    Attributes:
      inner: the wrapped optimizer's state.
      ema: the moving average of the parameters (same tree as the parameters).
      steps: updates seen (int32 scalar).
    """

    inner: optax.OptState
    ema: Any
    steps: jax.Array


def with_parameter_ema(
    optimizer: optax.GradientTransformation, decay: float = 0.999
) -> optax.GradientTransformation:
    """Wraps ``optimizer`` so that its state also tracks an EMA of the parameters.

    After each update ``ema ← d·ema + (1 − d)·params_new`` with the warm-up
    ``d = min(decay, (1 + n) / (10 + n))`` (``n`` updates so far), so short runs are
    not dominated by the random initialisation. The updates themselves are the
    wrapped optimizer's, unchanged. Read the average with :func:`ema_params`.

    Raises:
      KhipuError: ``decay`` outside [0, 1).
    """
    if not 0.0 <= decay < 1.0:
        raise KhipuError(f"EMA decay must be in [0, 1), got {decay}")

    def init(params: optax.Params) -> EmaState:
        return EmaState(optimizer.init(params), params, jnp.zeros((), jnp.int32))

    def update(
        updates: optax.Updates, state: EmaState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, EmaState]:
        if params is None:
            raise ValueError("with_parameter_ema needs the parameters in update()")
        updates, inner = optimizer.update(updates, state.inner, params)
        new_params = optax.apply_updates(params, updates)
        n = state.steps.astype(jnp.float32)
        d = jnp.minimum(decay, (1.0 + n) / (10.0 + n))
        ema = jax.tree.map(lambda e, p: d * e + (1.0 - d) * p, state.ema, new_params)
        return updates, EmaState(inner, ema, state.steps + 1)

    return optax.GradientTransformation(init, update)


def ema_params(opt_state: optax.OptState) -> Any:
    """The parameter average kept by :func:`with_parameter_ema` in ``opt_state``.

    Raises:
      KhipuError: ``opt_state`` was not made by :func:`with_parameter_ema`.
    """
    if not isinstance(opt_state, EmaState):
        raise KhipuError("this optimizer state keeps no EMA (use with_parameter_ema)")
    return opt_state.ema


def make_ddpm_loss(denoiser: Denoiser, schedule: Schedule, *, label_dropout: float = 0.1) -> LossFn:
    """The simplified DDPM loss ``E‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖²``.

    ``t`` is uniform in ``[0, T)`` per example. For a conditional denoiser each
    label is replaced by the null label with probability ``label_dropout``, so the
    same network also learns the unconditional prediction (classifier-free guidance).

    Args:
      denoiser: the network.
      schedule: the noise schedule.
      label_dropout: probability of dropping a label (conditional models only).

    Returns:
      ``loss_fn(params, model_state, key, batch) -> (loss, (model_state, metrics))``
      reading ``batch["x"]`` ``[B, ...]`` and, when conditional, ``batch["label"]`` ``[B]``.
    """
    if not 0.0 <= label_dropout < 1.0:
        raise KhipuError(f"label dropout must be in [0, 1), got {label_dropout}")
    num_classes = denoiser.config.num_classes
    steps = schedule.num_steps

    def loss_fn(
        params: Any, model_state: Any, key: PRNGKey, batch: Batch
    ) -> tuple[jax.Array, tuple[Any, dict[str, jax.Array]]]:
        x0 = batch["x"]
        k_t, k_noise, k_drop = jax.random.split(key, 3)
        t = jax.random.randint(k_t, (x0.shape[0],), 0, steps)
        noise = jax.random.normal(k_noise, x0.shape, x0.dtype)
        x_t = q_sample(schedule, x0, t, noise)
        label = None
        if num_classes is not None:
            drop = jax.random.bernoulli(k_drop, label_dropout, (x0.shape[0],))
            label = jnp.where(drop, num_classes, batch["label"].astype(jnp.int32))
        eps = denoiser.apply(params, x_t, t, label)
        loss = jnp.mean((noise - eps) ** 2)
        return loss, (model_state, {})

    return loss_fn


class TrainResult(NamedTuple):
    """What :func:`train_denoiser` returns.

    Attributes:
      params: the EMA parameters (what sampling should use).
      raw_params: the last optimizer iterate.
      state: the final :class:`khipu.core.TrainState`.
      history: per-epoch training metrics (``"loss"``).
      train_seconds: wall time of ``fit()``.
    """

    params: Any
    raw_params: Any
    state: kc.TrainState
    history: dict[str, list[float]]
    train_seconds: float


def check_training_data(denoiser: Denoiser, data: Arrays) -> None:
    """Raises :class:`KhipuError` unless ``data`` fits ``denoiser``."""
    if "x" not in data:
        raise KhipuError(f"training data needs an 'x' array, got {sorted(data)}")
    shape = tuple(data["x"].shape[1:])
    if shape != tuple(denoiser.config.data_shape):
        raise KhipuError(
            f"wrong example shape {shape}: the denoiser was built for {denoiser.config.data_shape}"
        )
    if denoiser.config.num_classes is not None:
        if "label" not in data:
            raise KhipuError("a conditional model needs labels ('label' array)")
        labels = data["label"]
        if labels.min() < 0 or labels.max() >= denoiser.config.num_classes:
            raise KhipuError(f"labels must lie in [0, {denoiser.config.num_classes})")


def train_denoiser(
    denoiser: Denoiser,
    schedule: Schedule,
    data: Arrays,
    *,
    epochs: int,
    batch_size: int = 128,
    learning_rate: float = 2e-3,
    ema_decay: float = 0.995,
    label_dropout: float = 0.1,
    seed: int = 0,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Trains ``denoiser`` on ``data`` with Adam (cosine-decayed, clipped) and an EMA.

    Args:
      denoiser: the network.
      schedule: the noise schedule.
      data: ``{"x": [N, ...], "label": [N]}`` (labels only needed when conditional).
      epochs: passes over ``data``.
      batch_size: examples per step.
      learning_rate: peak Adam learning rate.
      ema_decay: decay of the parameter EMA.
      label_dropout: see :func:`make_ddpm_loss`.
      seed: seed of initialisation, shuffling and noise.
      checkpoint_dir: where ``fit()`` keeps ``last.npz`` (for ``resume``).
      resume: continue an interrupted run from ``checkpoint_dir``.
      progress: progress bar.

    Returns:
      A :class:`TrainResult`.
    """
    check_training_data(denoiser, data)
    if epochs <= 0:
        raise KhipuError(f"epochs must be positive, got {epochs}")
    n = len(data["x"])
    if batch_size > n:
        raise KhipuError(f"batch size {batch_size} is larger than the training set ({n})")
    total_steps = epochs * (n // batch_size)
    lr = optax.warmup_cosine_decay_schedule(
        0.0, learning_rate, min(100, total_steps // 10 + 1), max(total_steps, 2), learning_rate / 20
    )
    optimizer = with_parameter_ema(
        optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr)), ema_decay
    )
    keys = kc.KeySequence(seed)
    params = denoiser.init(next(keys))
    state = kc.init_train_state(params, optimizer, key=next(keys))
    step = kc.make_train_step(
        make_ddpm_loss(denoiser, schedule, label_dropout=label_dropout), optimizer
    )
    arrays = {k: v for k, v in data.items() if k in ("x", "label")}
    if denoiser.config.num_classes is None:
        arrays.pop("label", None)
    start = time.perf_counter()
    result = kc.fit(
        state,
        step,
        arrays,
        batch_size=batch_size,
        epochs=epochs,
        seed=seed,
        monitor="loss",
        restore_best=False,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
    )
    seconds = time.perf_counter() - start
    final = result.state
    return TrainResult(
        jax.device_get(ema_params(final.opt_state)),
        jax.device_get(final.params),
        final,
        result.history,
        seconds,
    )
