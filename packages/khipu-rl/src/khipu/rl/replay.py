"""A uniform experience-replay buffer as a pytree: pure ``add`` and ``sample``
functions that work inside ``jax.jit`` and ``lax.scan`` as well as from a Python loop.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from khipu.core import KhipuError


class ReplayBuffer(NamedTuple):
    """A ring buffer of ``capacity`` items (any pytree of arrays).

    Attributes:
      data: the stored pytree, every leaf ``[capacity, ...]``.
      position: index the next item is written to.
      size: number of valid items (at most ``capacity``).
    """

    data: Any
    position: jax.Array
    size: jax.Array

    @property
    def capacity(self) -> int:
        """Maximum number of items held."""
        return int(jax.tree.leaves(self.data)[0].shape[0])


def replay_init(capacity: int, example: Any) -> ReplayBuffer:
    """An empty buffer for items shaped like ``example`` (one item, no batch axis)."""
    if capacity <= 0:
        raise KhipuError(f"replay capacity must be positive, got {capacity}")
    data = jax.tree.map(
        lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example
    )
    return ReplayBuffer(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def replay_add(buffer: ReplayBuffer, items: Any) -> ReplayBuffer:
    """Adds a batch of items (leaves ``[n, ...]``), overwriting the oldest when full."""
    capacity = buffer.capacity
    n = jax.tree.leaves(items)[0].shape[0]
    idx = (buffer.position + jnp.arange(n)) % capacity
    data = jax.tree.map(lambda d, x: d.at[idx].set(x.astype(d.dtype)), buffer.data, items)
    return ReplayBuffer(
        data, (buffer.position + n) % capacity, jnp.minimum(buffer.size + n, capacity)
    )


def replay_sample(buffer: ReplayBuffer, key: jax.Array, batch_size: int) -> Any:
    """``batch_size`` items drawn uniformly (with replacement) from the valid ones."""
    idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return jax.tree.map(lambda d: d[idx], buffer.data)
