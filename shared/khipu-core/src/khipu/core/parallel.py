"""Data parallelism with ``jax.sharding``: batch sharded over devices, params replicated.

A one-axis mesh named ``"data"`` spans the devices. Training batches are
assembled with ``jax.make_array_from_process_local_data``, so the same code
runs on one CPU, on several local devices, and on several hosts after
:func:`khipu.core.distributed.initialize`; each process then loads only its
own rows of every global batch (:func:`local_rows`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from khipu.core.errors import KhipuError

T = TypeVar("T")
DATA_AXIS = "data"


def data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-dimensional mesh over ``devices`` (default: every device of every host)."""
    devs = list(jax.devices() if devices is None else devices)
    if not devs:
        raise KhipuError("no devices to run on")
    return Mesh(np.asarray(devs), (DATA_AXIS,))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    """Raises a clear error when ``batch_size`` can't be split evenly over the mesh."""
    n = mesh.size
    if batch_size <= 0:
        raise KhipuError(f"batch_size must be positive, got {batch_size}")
    if batch_size % n:
        raise KhipuError(
            f"batch_size {batch_size} does not divide evenly over {n} devices; "
            f"use a multiple of {n} (e.g. {n * max(1, round(batch_size / n))})"
        )


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and bool(jnp.issubdtype(x.dtype, jax.dtypes.prng_key))


def replicate(tree: T, mesh: Mesh) -> T:
    """Places a copy of every leaf of ``tree`` on each device of ``mesh``.

    In a multi-process run the mesh spans devices this process cannot address:
    every process passes the same values (the same seed, the same checkpoint)
    and each places its own copies (``jax.make_array_from_process_local_data``).
    Typed PRNG keys travel as their key data and are re-wrapped. Leaves that are
    already replicated over ``mesh`` are kept as they are.
    """
    sharding = NamedSharding(mesh, PartitionSpec())
    if jax.process_count() == 1:
        placed: T = jax.device_put(tree, sharding)
        return placed

    def place(x: Any) -> Any:
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        if _is_key(x):
            data = place(jax.random.key_data(x))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
        return jax.make_array_from_process_local_data(sharding, np.asarray(_local(x)))

    out: T = jax.tree_util.tree_map(place, tree)
    return out


def _local(x: Any) -> Any:
    """A process-local copy of a fully replicated array (``x`` itself otherwise)."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        if not x.is_fully_replicated:
            raise KhipuError(f"array of shape {x.shape} is sharded over processes, not replicated")
        return x.addressable_data(0)
    return x


def to_local(tree: T) -> T:
    """``tree`` with every replicated multi-process array as a copy on one local device.

    What :func:`~khipu.core.train.fit` returns, so that the code after training
    (plots, sampling, predictions) runs in each process as in a one-process run.
    A no-op in a one-process run.
    """
    if jax.process_count() == 1:
        return tree
    out: T = jax.tree_util.tree_map(_local, tree)
    return out


def local_rows(mesh: Mesh, batch_size: int) -> slice:
    """The rows of a global batch of ``batch_size`` that this process feeds.

    A batch sharded along its first axis over ``mesh`` gives each device a
    contiguous block; the block of this process's devices is what it loads.

    Raises:
      KhipuError: this process's devices do not hold one contiguous block
        (a mesh that interleaves processes).
    """
    sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    index_map = sharding.addressable_devices_indices_map((batch_size,))
    starts = sorted(
        {(idx[0].start or 0, idx[0].stop or batch_size) for idx in index_map.values() if idx}
    )
    first, last = starts[0][0], starts[-1][1]
    if sum(stop - start for start, stop in starts) != last - first:
        raise KhipuError("this process's devices do not hold one contiguous block of the batch")
    return slice(first, last)


def global_batch(
    local: Mapping[str, np.ndarray], mesh: Mesh, batch_size: int
) -> dict[str, jax.Array]:
    """A global batch of ``batch_size`` rows from this process's rows (:func:`local_rows`)."""
    sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    return {
        name: jax.make_array_from_process_local_data(
            sharding, np.asarray(value), (batch_size, *np.shape(value)[1:])
        )
        for name, value in local.items()
    }


def shard_batch(batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Splits a host batch along its first axis over the devices of ``mesh``.

    Every process passes the whole (global) batch; each places only its own
    rows. A batch whose size is not a multiple of the device count (e.g. the
    last evaluation batch) is replicated instead, which gives the same result.
    """
    out: dict[str, jax.Array] = {}
    for name, value in batch.items():
        value = np.asarray(value)
        if len(value) % mesh.size == 0:
            rows = local_rows(mesh, len(value))
            out |= global_batch({name: value[rows]}, mesh, len(value))
        else:
            replicated = NamedSharding(mesh, PartitionSpec())
            out[name] = jax.make_array_from_process_local_data(replicated, value)
    return out


def initialize_distributed(**kwargs: Any) -> None:
    """Joins a multi-host run via ``jax.distributed.initialize`` (arguments passed through).

    Prefer :func:`khipu.core.distributed.initialize`, which also reads
    ``--coordinator``-style settings, enables CPU collectives and stops the run
    cleanly when a process is lost. With no arguments JAX reads the cluster from
    the environment (SLURM, Open MPI, Cloud TPU...).
    """
    jax.distributed.initialize(**kwargs)
