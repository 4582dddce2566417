"""The training loop written out: the reference answers of the notebook's loop exercises.

:func:`make_step` is one optimisation step (the loss and its gradient with
``jax.value_and_grad``, the optax update, all under one ``jax.jit``) and
:func:`train_epoch` one pass over the data in a seeded random order. They are
what :func:`khipu.core.make_train_step` and :func:`khipu.core.fit` do, without
the metrics, model state, sharding, early stopping and checkpoints those add.

The loss contract here is the simplest one that still needs randomness
(dropout): ``loss_fn(params, batch, key) -> scalar``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax

Params = Any
Batch = Mapping[str, Any]
SimpleLossFn = Callable[[Params, Batch, jax.Array], jax.Array]
SimpleStep = Callable[
    [Params, optax.OptState, Batch, jax.Array], tuple[Params, optax.OptState, jax.Array]
]


def make_step(loss_fn: SimpleLossFn, optimizer: optax.GradientTransformation) -> SimpleStep:
    """One jitted optimisation step for ``loss_fn`` and ``optimizer``.

    Args:
      loss_fn: ``loss_fn(params, batch, key) -> scalar loss``.
      optimizer: any optax gradient transformation.

    Returns:
      ``step(params, opt_state, batch, key) -> (params, opt_state, loss)``, compiled once
      per batch shape; ``loss`` is the loss *before* the update.
    """

    @jax.jit
    def step(
        params: Params, opt_state: optax.OptState, batch: Batch, key: jax.Array
    ) -> tuple[Params, optax.OptState, jax.Array]:
        loss, grads = jax.value_and_grad(loss_fn)(params, batch, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def train_epoch(
    step: SimpleStep,
    params: Params,
    opt_state: optax.OptState,
    data: Mapping[str, Any],
    batch_size: int,
    key: jax.Array,
) -> tuple[Params, optax.OptState, float]:
    """One pass over ``data`` in a random order, one ``step`` per full batch.

    ``key`` is split into a key for the order (``jax.random.permutation``) and one
    key per step; the last incomplete batch is dropped, so every step has the same
    shapes and ``jit`` compiles once.

    Args:
      step: from :func:`make_step` (or the student's).
      params, opt_state: the parameters and optimizer state to start from.
      data: arrays sharing their leading dimension ``N`` (``"image"``, ``"label"``...).
      batch_size: examples per step; at most ``N``.
      key: the epoch's PRNG key.

    Returns:
      ``(params, opt_state, mean_loss)``: the state after ``N // batch_size`` steps and
      the mean of their losses.
    """
    n = kc.num_examples(data)
    if not 0 < batch_size <= n:
        raise kc.KhipuError(f"batch_size must be in 1..{n} (the data's size), got {batch_size}")
    steps = n // batch_size
    order_key, *step_keys = jax.random.split(key, steps + 1)
    order = np.asarray(jax.random.permutation(order_key, n))
    losses = []
    for i in range(steps):
        idx = order[i * batch_size : (i + 1) * batch_size]
        batch = {name: jnp.asarray(np.asarray(a)[idx]) for name, a in data.items()}
        params, opt_state, loss = step(params, opt_state, batch, step_keys[i])
        losses.append(loss)
    return params, opt_state, float(jnp.mean(jnp.stack(losses)))
