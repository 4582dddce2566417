"""The 2023 practical's training loop, written out (its task 4).

Each epoch draws a new permutation of the samples from its own key, cuts it into full
minibatches (a last, smaller batch is dropped so every step has the same shapes and
``jit`` compiles once) and applies one optimizer update per batch. khipu-core's ``fit()``
is this loop plus evaluation, early stopping, checkpoints and a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np
import optax
from khipu.core import KhipuError

__all__ = [
    "epoch_batches",
    "train_epochs",
]

LossFn = Callable[[Any, Mapping[str, jax.Array]], jax.Array]


def epoch_batches(key: jax.Array, num_samples: int, batch_size: int) -> list[np.ndarray]:
    """The minibatches of one epoch: ``jax.random.permutation(key, n)`` cut into full
    batches of ``batch_size`` indices (a remainder is dropped)."""
    order = np.asarray(jax.random.permutation(key, num_samples))
    return [
        order[start : start + batch_size]
        for start in range(0, num_samples - batch_size + 1, batch_size)
    ]


def train_epochs(
    params: Any,
    loss_fn: LossFn,
    optimizer: optax.GradientTransformation,
    data: Mapping[str, Any],
    *,
    epochs: int,
    batch_size: int,
    key: jax.Array,
) -> tuple[Any, list[float]]:
    """Minibatch training: ``epochs`` passes, one ``optimizer`` update per full batch.

    Per epoch: ``key, sub = jax.random.split(key)``; the batches are
    :func:`epoch_batches` of ``sub``; each step computes ``loss_fn(params, batch)`` and its
    gradient (``jax.value_and_grad``), ``optimizer.update`` and ``optax.apply_updates``.

    Args:
      params: initial parameters (any pytree).
      loss_fn: ``loss_fn(params, batch) -> scalar``; ``batch`` maps each key of ``data`` to
        its rows of the batch.
      optimizer: an optax optimizer (its state is initialised once and carried).
      data: arrays with a common leading axis ``n``.
      epochs: number of passes.
      batch_size: samples per step (``<= n``).
      key: the PRNG key of the shuffling.

    Returns:
      ``(params, losses)``: the trained parameters and every step's loss, in order.
    """
    arrays = {k: np.asarray(v) for k, v in data.items()}
    sizes = {len(v) for v in arrays.values()}
    if len(sizes) != 1:
        raise KhipuError(f"the data's arrays have different lengths: {sorted(sizes)}")
    n = sizes.pop()
    if not 1 <= batch_size <= n:
        raise KhipuError(f"batch_size must be in [1, {n}], got {batch_size}")

    @jax.jit
    def step(p: Any, opt_state: Any, batch: Mapping[str, jax.Array]) -> tuple[Any, Any, Any]:
        loss, grads = jax.value_and_grad(loss_fn)(p, batch)
        updates, opt_state = optimizer.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, loss

    opt_state = optimizer.init(params)
    losses: list[float] = []
    for _ in range(epochs):
        key, sub = jax.random.split(key)
        for idx in epoch_batches(sub, n, batch_size):
            batch = {k: v[idx] for k, v in arrays.items()}
            params, opt_state, loss = step(params, opt_state, batch)
            losses.append(float(loss))
    return params, losses
