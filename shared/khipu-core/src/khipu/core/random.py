"""Explicit PRNG keys: a seeded key sequence and small helpers."""

from __future__ import annotations

from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
from khipu.core.errors import KhipuError

PRNGKey = jax.Array


def as_key(seed_or_key: int | jax.Array) -> PRNGKey:
    """Returns a new-style typed key from an integer seed or an existing key."""
    if isinstance(seed_or_key, (int, np.integer)):
        if seed_or_key < 0:
            raise KhipuError(f"seed must be a non-negative integer, got {seed_or_key}")
        new: PRNGKey = jax.random.key(int(seed_or_key))
        return new
    if jnp.issubdtype(seed_or_key.dtype, jax.dtypes.prng_key):
        return seed_or_key
    key: PRNGKey = jax.random.wrap_key_data(seed_or_key)
    return key


class KeySequence(Iterator[PRNGKey]):
    """An iterator of fresh PRNG keys, reproducible from one seed.

    >>> keys = KeySequence(0)
    >>> k1, k2 = next(keys), next(keys)

    Each ``next`` splits the internal key, so the sequence is the same for the
    same seed and never reuses a key.
    """

    def __init__(self, seed_or_key: int | jax.Array) -> None:
        self._key = as_key(seed_or_key)

    def __next__(self) -> PRNGKey:
        keys: PRNGKey = jax.random.split(self._key)
        self._key = keys[0]
        return keys[1]

    def take(self, n: int) -> PRNGKey:
        """Returns ``n`` fresh keys stacked into one key array of shape ``[n]``."""
        keys: PRNGKey = jax.random.split(self._key, n + 1)
        self._key = keys[0]
        return keys[1:]


def numpy_rng(key: PRNGKey) -> np.random.Generator:
    """A NumPy generator seeded deterministically from a JAX key (for host-side work)."""
    data = np.asarray(jax.random.key_data(key)).astype(np.uint64).ravel()
    return np.random.default_rng([int(x) for x in data])
