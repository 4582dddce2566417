"""Data parallelism with ``jax.sharding``: batch sharded over devices, params replicated.

A one-axis mesh named ``"data"`` spans the devices. Training batches are
assembled with ``jax.make_array_from_process_local_data``, so the same code
runs on one CPU, on several local devices, and on several hosts after
:func:`initialize_distributed`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import jax
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


def replicate(tree: T, mesh: Mesh) -> T:
    """Places a copy of every leaf of ``tree`` on each device of ``mesh``."""
    placed: T = jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
    return placed


def shard_batch(batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """Splits a host batch along its first axis over the devices of ``mesh``.

    A batch whose size is not a multiple of the device count (e.g. the last
    evaluation batch) is replicated instead, which gives the same result.
    """
    n_local = len(mesh.local_devices)
    out: dict[str, jax.Array] = {}
    for name, value in batch.items():
        if len(value) % n_local == 0:
            sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
            out[name] = jax.make_array_from_process_local_data(sharding, np.asarray(value))
        else:
            out[name] = jax.device_put(value, NamedSharding(mesh, PartitionSpec()))
    return out


def initialize_distributed(**kwargs: Any) -> None:
    """Joins a multi-host run via ``jax.distributed.initialize`` (arguments passed through).

    Call once per process before any other JAX work; with no arguments JAX
    reads the cluster from the environment (SLURM, Open MPI, Cloud TPU...).
    """
    jax.distributed.initialize(**kwargs)
