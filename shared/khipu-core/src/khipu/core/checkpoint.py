"""Checkpoints: any pytree plus JSON metadata in one ``.npz`` file, written atomically.

The format is NumPy's zip of ``.npy`` arrays, read with ``allow_pickle=False``,
so loading a file never executes code. Leaves are stored under their pytree
path (``jax.tree_util.keystr``); typed PRNG keys are stored as their raw key
data and re-wrapped on restore; the extended float types of ``ml_dtypes``
(``bfloat16``, ``float8_*``, ``int4``...), which ``.npy`` cannot describe, are
stored as unsigned integers of the same width and viewed back on restore.
Writes go to a temporary file in the same folder, are flushed to disk, then
renamed over the target: a killed process leaves either the old checkpoint or
the new one, never half of one.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from khipu.core.errors import CheckpointError
from khipu.core.rundir import atomic_write_bytes

T = TypeVar("T")
_META = "__khipu_metadata__"


def _ml_dtype(name: str) -> np.dtype[Any] | None:
    """The ``ml_dtypes`` type called ``name`` (``bfloat16``...), if there is one."""
    kind = getattr(ml_dtypes, name, None)
    if not isinstance(kind, type):
        return None
    try:
        dtype = np.dtype(kind)
    except TypeError:
        return None
    return dtype if dtype.name == name and dtype.isbuiltin == 2 else None  # 2: user-defined


def _storable(name: str, leaf: Any) -> tuple[np.ndarray, str | None]:
    """The array written for a leaf, and the ml_dtypes type it must be viewed as."""
    array = np.asarray(leaf)
    if _ml_dtype(array.dtype.name) is not None:
        return array.view(np.dtype(f"uint{8 * array.dtype.itemsize}")), array.dtype.name
    if array.dtype.kind in "biufc":
        return array, None
    raise CheckpointError(
        f"cannot save checkpoint entry {name}: dtype {array.dtype} is not a number type"
    )


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

    Raises:
      CheckpointError: a leaf is not numeric (strings, objects...) or the metadata
        is not JSON-serialisable; nothing is written.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    leaves_with_path, _ = jax.tree_util.tree_flatten_with_path(tree)
    arrays: dict[str, np.ndarray] = {}
    key_leaves: list[str] = []
    viewed: dict[str, str] = {}
    for key_path, leaf in leaves_with_path:
        name = jax.tree_util.keystr(key_path) or "<root>"
        if _is_key(leaf):
            key_leaves.append(name)
            leaf = jax.random.key_data(leaf)
        arrays[name], ml_name = _storable(name, leaf)
        if ml_name is not None:
            viewed[name] = ml_name
    meta = {"metadata": dict(metadata or {}), "prng_key_leaves": key_leaves}
    if viewed:
        meta["ml_dtypes"] = viewed
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


_MAX_METADATA_BYTES = 16 * 2**20
_MAX_UNCHECKED_BYTES = 2 * 2**30  # arrays read without a model to compare against


def _entry_header(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo
) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """The shape and dtype an ``.npy`` entry claims, read from its header only."""
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=10_000)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=10_000)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    return tuple(int(d) for d in shape), np.dtype(dtype)


def _read(
    path: Path,
    expected: dict[str, tuple[int, ...] | None] | None = None,
    *,
    metadata_only: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Reads a checkpoint's arrays and metadata, checking every entry's claimed
    shape, dtype and size *before* reading its data.

    Args:
      path: the ``.npz`` file.
      expected: name -> shape (``None``: unchecked, at most 1 MiB) of what the
        model needs; names and shapes are compared before any data is read.
      metadata_only: read only the metadata entry.
    """
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {info.filename.removesuffix(".npy"): info for info in zf.infolist()}
            if _META not in infos:
                raise CheckpointError(f"{path} is not a khipu checkpoint (no metadata entry)")
            if expected is not None:
                names = set(infos) - {_META}
                if missing := sorted(set(expected) - names):
                    raise CheckpointError(
                        f"checkpoint {path} lacks entries {missing[:5]} for this model"
                    )
                if extra := sorted(names - set(expected)):
                    raise CheckpointError(
                        f"checkpoint {path} has entries {extra[:5]} this model lacks"
                    )
            total = 0
            wanted = [_META] if metadata_only else list(infos)
            for name in wanted:
                shape, dtype = _entry_header(zf, infos[name])
                if dtype.hasobject or dtype.kind not in "biufc":
                    raise CheckpointError(
                        f"checkpoint {path}: entry {name} has dtype {dtype}, not a number type"
                    )
                nbytes = math.prod(shape) * dtype.itemsize
                if name == _META:
                    if len(shape) != 1 or dtype != np.uint8 or nbytes > _MAX_METADATA_BYTES:
                        raise CheckpointError(f"checkpoint {path}: malformed metadata entry")
                elif expected is not None:
                    want_shape = expected[name]
                    if want_shape is None and nbytes > 2**20:
                        raise CheckpointError(f"checkpoint {path}: entry {name} is too large")
                    if want_shape is not None and shape != want_shape:
                        raise CheckpointError(
                            f"checkpoint {path}: {name} has shape {shape}, "
                            f"model expects {want_shape}"
                        )
                total += nbytes
                if infos[name].file_size > nbytes + 20_000:
                    raise CheckpointError(
                        f"checkpoint {path}: entry {name} is larger than it claims"
                    )
            if expected is None and total > _MAX_UNCHECKED_BYTES:
                raise CheckpointError(
                    f"checkpoint {path} claims {total / 2**30:.1f} GiB of arrays; "
                    "refusing to read it"
                )
            arrays = {}
            for name in wanted:
                with zf.open(infos[name]) as f:
                    arrays[name] = np.lib.format.read_array(f, allow_pickle=False)
        meta = json.loads(arrays.pop(_META).tobytes().decode())
        if not isinstance(meta, dict) or not isinstance(meta.get("metadata", {}), dict):
            raise ValueError("metadata is not a JSON object")
        viewed = meta.get("ml_dtypes", {})
        if not isinstance(viewed, dict):
            raise ValueError("ml_dtypes is not a JSON object")
        for name, type_name in viewed.items():
            ml_type = _ml_dtype(str(type_name))
            if name not in arrays:
                continue
            if ml_type is None or ml_type.itemsize != arrays[name].dtype.itemsize:
                raise CheckpointError(
                    f"checkpoint {path}: entry {name} claims the unknown type {type_name!r}"
                )
            arrays[name] = arrays[name].view(ml_type)
    except CheckpointError:
        raise
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        ValueError,
        KeyError,
        TypeError,
        UnicodeDecodeError,
        MemoryError,
        zlib.error,
    ) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({exc})") from exc
    return arrays, meta


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata stored in a checkpoint, without restoring its arrays into a tree."""
    _, meta = _read(Path(path), metadata_only=True)
    return dict(meta.get("metadata", {}))


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
    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(like)
    expected: dict[str, tuple[int, ...] | None] = {
        (jax.tree_util.keystr(p) or "<root>"): None if _is_key(ref) else tuple(np.shape(ref))
        for p, ref in leaves_with_path
    }
    arrays, meta = _read(path, expected)
    keys = set(meta.get("prng_key_leaves", []))
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
    return jax.tree_util.tree_unflatten(treedef, out), dict(meta.get("metadata", {}))
