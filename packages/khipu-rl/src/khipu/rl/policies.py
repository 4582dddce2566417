"""Saving, loading and running trained policies."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
from khipu.core import (
    CheckpointError,
    KhipuError,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from khipu.rl.__about__ import __version__
from khipu.rl.nets import Params, PolicySpec, greedy_policy, init_policy_params, sampled_policy

POLICY_FILE = "policy.npz"


def save_policy(
    path: str | Path, spec: PolicySpec, params: Params, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Saves a policy (parameters + spec + ``metadata``) with ``kc.save_checkpoint``."""
    meta = {**dict(metadata or {}), "policy": spec.to_json(), "khipu_rl": __version__}
    return save_checkpoint(path, params, meta)


def resolve_checkpoint(path: str | Path) -> Path:
    """``path`` itself if it is a file, else ``path/policy.npz``."""
    path = Path(path)
    if path.is_dir():
        path = path / POLICY_FILE
    if not path.is_file():
        raise CheckpointError(f"no policy checkpoint at {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path} is not a policy checkpoint (not a .npz archive: corrupt, or another kind "
            "of file; khipu rl train writes policy.npz)"
        )
    return path


def check_finite(params: Params, what: str) -> None:
    """Raises :class:`~khipu.core.KhipuError` if any parameter is NaN or infinite."""
    for key_path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        arr = np.asarray(leaf)
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            raise KhipuError(
                f"{what}: parameter {jax.tree_util.keystr(key_path)} holds NaN or infinite "
                "values; a policy like that cannot act"
            )


def load_policy(path: str | Path) -> tuple[PolicySpec, Params, dict[str, Any]]:
    """Loads :func:`save_policy`'s file (or a run folder holding ``policy.npz``).

    Returns:
      ``(spec, params, metadata)``.

    Raises:
      CheckpointError: missing, corrupt, or not a policy checkpoint.
    """
    file = resolve_checkpoint(path)
    meta = read_metadata(file)
    if not isinstance(meta, dict) or not isinstance(meta.get("policy"), dict):
        raise CheckpointError(f"{file} is not a khipu-rl policy checkpoint")
    spec = PolicySpec.from_json(meta["policy"])
    like = init_policy_params(spec, jax.random.key(0))
    params, meta = load_checkpoint(file, like)
    check_finite(params, f"policy {file}")
    return spec, params, meta


def greedy_act(spec: PolicySpec, params: Params) -> Callable[[np.ndarray], int]:
    """``act(obs) -> int``: the policy's greedy action (jitted)."""
    fn = jax.jit(greedy_policy(spec))
    return lambda obs: int(fn(params, np.asarray(obs, np.float32)))


def sampled_act(spec: PolicySpec, params: Params, *, seed: int) -> Callable[[np.ndarray], int]:
    """``act(obs) -> int`` sampling from the policy's distribution (seeded)."""
    fn = jax.jit(sampled_policy(spec))
    key = [jax.random.key(seed)]

    def act(obs: np.ndarray) -> int:
        key[0], sub = jax.random.split(key[0])
        return int(fn(params, np.asarray(obs, np.float32), sub))

    return act
