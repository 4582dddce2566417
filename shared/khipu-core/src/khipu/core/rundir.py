"""Run directories: ``config.json``, ``metrics.json``, figures and checkpoints of one run."""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from khipu.core.errors import KhipuError

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
_THIRD_PARTY = ("jax", "jaxlib", "optax", "dm-haiku", "numpy")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def package_versions() -> dict[str, str]:
    """Versions of Python, the installed khipu distributions and the core JAX stack."""
    versions = {"python": platform.python_version()}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and (name.lower().startswith("khipu-") or name.lower() in _THIRD_PARTY):
            versions[name.lower()] = dist.version
    return dict(sorted(versions.items()))


def prepare_run_dir(out: str | Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Creates ``out`` for a new run, or reuses it when resuming.

    A non-empty folder is refused unless ``resume`` (keep its contents) or
    ``overwrite`` (empty it first) is set. ``overwrite`` only empties folders
    that hold a previous run's ``config.json``, so a mistyped ``--out`` never
    deletes unrelated files.

    Raises:
      KhipuError: the folder is not empty and neither flag allows reusing it,
        or ``out`` is a file.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise KhipuError(f"--out {path} is a file, not a folder")
    if path.is_dir() and any(path.iterdir()) and not resume:
        if not overwrite:
            raise KhipuError(
                f"output folder {path} is not empty; pass --overwrite to replace it "
                "or --resume to continue the run in it"
            )
        if not (path / CONFIG_FILE).is_file():
            raise KhipuError(
                f"refusing to empty {path}: it does not look like a khipu run folder "
                f"(no {CONFIG_FILE})"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    """Writes ``obj`` as indented JSON, atomically."""
    path = Path(path)
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def write_config(out: str | Path, config: Mapping[str, Any]) -> Path:
    """Writes ``config.json``: every setting of the run plus package versions."""
    body = {**_jsonable(dict(config)), "versions": package_versions()}
    return write_json(Path(out) / CONFIG_FILE, body)


def write_metrics(out: str | Path, metrics: Mapping[str, Any]) -> Path:
    """Writes ``metrics.json``: a flat JSON object of the run's final metrics.

    Values must be numbers, strings or booleans (NumPy / JAX scalars are
    converted); non-finite floats are written as ``null``.

    Raises:
      KhipuError: a value is not a scalar.
    """
    flat: dict[str, Any] = {}
    for name, value in metrics.items():
        if hasattr(value, "item") and getattr(value, "size", 1) == 1:
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise KhipuError(f"metric {name!r} is not a scalar: {type(value).__name__}")
        flat[str(name)] = value
    return write_json(Path(out) / METRICS_FILE, flat)


def read_json(path: str | Path) -> Any:
    """Reads a JSON file, with a clear error when it is missing or malformed."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise KhipuError(f"{path} does not exist") from exc
    except json.JSONDecodeError as exc:
        raise KhipuError(f"{path} is not valid JSON: {exc}") from exc
