"""Checkpoints: any pytree plus JSON metadata in one ``.npz`` file, written atomically.

The format is NumPy's zip of ``.npy`` arrays, read with ``allow_pickle=False``,
so loading a file never executes code. Leaves are stored under their pytree
path (``jax.tree_util.keystr``); typed PRNG keys are stored as their raw key
data and re-wrapped on restore. Writes go to a temporary file in the same
folder, are flushed to disk, then renamed over the target: a killed process
leaves either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from khipu.core.errors import CheckpointError
from khipu.core.rundir import atomic_write_bytes

T = TypeVar("T")
_META = "__khipu_metadata__"


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and bool(jnp.issubdtype(x.dtype, jax.dtypes.prng_key))


def save_checkpoint(path: str | Path, tree: Any, metadata: Mapping[str, Any] | None = None) -> Path:
    """Saves a pytree and JSON-serialisable metadata to ``path`` atomically.

    Args:
      path: target file (``.npz`` is appended if missing).
      tree: any pytree of arrays / scalars (params, optimizer state, PRNG keys...).
      metadata: JSON-serialisable information (step, config, versions...).

    Returns:
      The path written.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    leaves_with_path, _ = jax.tree_util.tree_flatten_with_path(tree)
    arrays: dict[str, np.ndarray] = {}
    key_leaves: list[str] = []
    for key_path, leaf in leaves_with_path:
        name = jax.tree_util.keystr(key_path) or "<root>"
        if _is_key(leaf):
            key_leaves.append(name)
            leaf = jax.random.key_data(leaf)
        arrays[name] = np.asarray(leaf)
    meta = {"metadata": dict(metadata or {}), "prng_key_leaves": key_leaves}
    try:
        meta_bytes = json.dumps(meta, sort_keys=True).encode()
    except TypeError as exc:
        raise CheckpointError(f"checkpoint metadata is not JSON-serialisable: {exc}") from exc
    arrays[_META] = np.frombuffer(meta_bytes, dtype=np.uint8)
    buf = io.BytesIO()
    savez: Any = np.savez  # typed stubs confuse **arrays with allow_pickle
    savez(buf, allow_pickle=False, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with path.open("rb") as f, np.load(f, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        meta = json.loads(arrays.pop(_META).tobytes().decode())
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        ValueError,
        KeyError,
        json.JSONDecodeError,
    ) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({exc})") from exc
    return arrays, meta


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata stored in a checkpoint, without restoring its arrays into a tree."""
    _, meta = _read(Path(path))
    return dict(meta["metadata"])


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The checkpoint's arrays keyed by pytree path, for inspection."""
    arrays, _ = _read(Path(path))
    return arrays


def _restore_leaf(value: np.ndarray, ref: Any) -> Any:
    if isinstance(ref, jax.Array):
        return jnp.asarray(value, dtype=ref.dtype)
    if isinstance(ref, (np.ndarray, np.generic)):
        return np.asarray(value, dtype=ref.dtype)
    if isinstance(ref, (bool, int, float)):
        return type(ref)(value.item())
    return value


def load_checkpoint(path: str | Path, like: T) -> tuple[T, dict[str, Any]]:
    """Restores a pytree saved by :func:`save_checkpoint`.

    Args:
      path: the checkpoint file.
      like: a pytree with the structure, shapes and dtypes to restore into
        (e.g. freshly initialised parameters).

    Returns:
      ``(tree, metadata)``.

    Raises:
      CheckpointError: the file is missing, corrupt, or does not match ``like``.
    """
    path = Path(path)
    arrays, meta = _read(path)
    keys = set(meta.get("prng_key_leaves", []))
    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(like)
    expected = {jax.tree_util.keystr(p) or "<root>" for p, _ in leaves_with_path}
    if missing := sorted(expected - set(arrays)):
        raise CheckpointError(f"checkpoint {path} lacks entries {missing[:5]} for this model")
    if extra := sorted(set(arrays) - expected):
        raise CheckpointError(f"checkpoint {path} has entries {extra[:5]} this model lacks")
    out = []
    for key_path, ref in leaves_with_path:
        name = jax.tree_util.keystr(key_path) or "<root>"
        value = arrays[name]
        if name in keys:
            restored: Any = jax.random.wrap_key_data(
                jnp.asarray(value), impl=jax.random.key_impl(ref)
            )
            out.append(restored)
            continue
        ref_shape = np.shape(ref)
        if value.shape != ref_shape:
            raise CheckpointError(
                f"checkpoint {path}: {name} has shape {value.shape}, model expects {ref_shape}"
            )
        out.append(_restore_leaf(value, ref))
    return jax.tree_util.tree_unflatten(treedef, out), dict(meta["metadata"])
