"""Checkpoints of the extended float types of ml_dtypes (bfloat16, float8, int4) round-trip
bit for bit; a leaf that is not a number is refused at save time, in one line, with
nothing written."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import jax.numpy as jnp
import khipu.core as kc
import ml_dtypes
import numpy as np
import pytest
from khipu.core.checkpoint import load_arrays


@pytest.mark.parametrize("type_name", ["bfloat16", "float8_e4m3fn", "float8_e5m2", "int4"])
def test_ml_dtypes_round_trip_bit_for_bit(tmp_path: Path, type_name: str) -> None:
    dtype = np.dtype(getattr(ml_dtypes, type_name))
    values = np.array([[0.5, -1.0, 3.0], [7.0, -2.0, 0.0]]).astype(dtype)
    tree = {"w": jnp.asarray(values), "n": np.asarray(values), "f": jnp.ones(2, jnp.float32)}
    path = kc.save_checkpoint(tmp_path / "c.npz", tree, {"step": 3})
    like = {"w": jnp.zeros((2, 3), dtype), "n": np.zeros((2, 3), dtype), "f": jnp.zeros(2)}
    restored, meta = kc.load_checkpoint(path, like)
    assert meta == {"step": 3}
    for name in ("w", "n"):
        assert restored[name].dtype == dtype
        # the same bits as what was saved (compared as raw integers)
        width = f"uint{8 * dtype.itemsize}"
        assert np.array_equal(np.asarray(restored[name]).view(width), values.view(width))


def test_a_bfloat16_checkpoint_is_stored_with_a_number_dtype(tmp_path: Path) -> None:
    path = kc.save_checkpoint(tmp_path / "c.npz", {"w": jnp.ones(4, jnp.bfloat16)})
    arrays = load_arrays(path)
    assert arrays["['w']"].dtype == np.dtype(ml_dtypes.bfloat16)
    with zipfile.ZipFile(path) as zf, zf.open("['w'].npy") as f:
        np.lib.format.read_magic(f)
        _, _, stored = np.lib.format.read_array_header_1_0(f)
    assert np.dtype(stored) == np.uint16  # a type any .npy reader knows


def test_a_forged_ml_dtype_claim_is_refused(tmp_path: Path) -> None:
    path = kc.save_checkpoint(tmp_path / "c.npz", {"w": jnp.ones(4, jnp.bfloat16)})
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    meta_name = "__khipu_metadata__.npy"
    meta_array = np.load(path)["__khipu_metadata__"]
    meta = json.loads(meta_array.tobytes())
    meta["ml_dtypes"]["['w']"] = "float32"  # not an ml_dtypes type, other width
    import io

    buf = io.BytesIO()
    np.save(buf, np.frombuffer(json.dumps(meta).encode(), np.uint8))
    entries[meta_name] = buf.getvalue()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    with pytest.raises(kc.CheckpointError, match="unknown type 'float32'"):
        kc.load_checkpoint(path, {"w": jnp.zeros(4, jnp.bfloat16)})


def test_a_leaf_that_is_not_a_number_is_refused_at_save(tmp_path: Path) -> None:
    (tmp_path / "c.npz").write_bytes(b"previous")
    with pytest.raises(kc.CheckpointError, match=r"cannot save checkpoint entry \['name'\]"):
        kc.save_checkpoint(tmp_path / "c.npz", {"name": np.array(["a", "b"]), "w": jnp.ones(2)})
    assert (tmp_path / "c.npz").read_bytes() == b"previous"
