import io
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
import pytest


def _tree() -> dict:  # type: ignore[type-arg]
    params = {"dense": {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}}
    state = kc.init_train_state(params, optax.adam(1e-3), key=jax.random.key(42))
    return {"state": state, "scale": 2.5, "count": np.int64(7)}


def test_roundtrip_restores_values_dtypes_and_prng_keys(tmp_path: Path) -> None:
    tree = _tree()
    path = kc.save_checkpoint(tmp_path / "ck", tree, {"step": 3, "config": {"lr": 0.1}})
    assert path.name == "ck.npz"
    like = jax.tree.map(lambda x: x, _tree())
    restored, meta = kc.load_checkpoint(path, like)
    assert meta == {"step": 3, "config": {"lr": 0.1}}
    assert kc.read_metadata(path) == meta
    for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(restored), strict=True):
        if isinstance(a, jax.Array) and jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            np.testing.assert_array_equal(jax.random.key_data(a), jax.random.key_data(b))
            # the restored key produces the same randomness
            np.testing.assert_array_equal(jax.random.normal(a, (3,)), jax.random.normal(b, (3,)))
        else:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
            assert np.asarray(a).dtype == np.asarray(b).dtype
    assert isinstance(restored["scale"], float)


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    kc.save_checkpoint(tmp_path / "a.npz", _tree())
    kc.save_checkpoint(tmp_path / "a.npz", _tree(), {"again": True})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]
    assert kc.read_metadata(tmp_path / "a.npz") == {"again": True}


def test_truncated_or_corrupt_file_gives_clear_error(tmp_path: Path) -> None:
    path = kc.save_checkpoint(tmp_path / "a.npz", _tree())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(kc.CheckpointError, match="truncated or corrupt"):
        kc.load_checkpoint(path, _tree())
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(kc.CheckpointError, match="truncated or corrupt"):
        kc.read_metadata(path)
    with pytest.raises(kc.CheckpointError, match="does not exist"):
        kc.load_checkpoint(tmp_path / "missing.npz", _tree())


def test_pickled_object_arrays_are_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    np.savez(
        buf,
        evil=np.array([{"a": 1}], dtype=object),
        __khipu_metadata__=np.frombuffer(b"{}", np.uint8),
    )
    path = tmp_path / "evil.npz"
    path.write_bytes(buf.getvalue())
    assert zipfile.is_zipfile(path)
    with pytest.raises(kc.CheckpointError):
        kc.load_checkpoint(path, {"evil": np.zeros(1)})


def test_structure_or_shape_mismatch_is_reported(tmp_path: Path) -> None:
    path = kc.save_checkpoint(tmp_path / "a.npz", {"w": np.zeros((2, 3))})
    with pytest.raises(kc.CheckpointError, match="shape"):
        kc.load_checkpoint(path, {"w": np.zeros((3, 3))})
    with pytest.raises(kc.CheckpointError, match="lacks"):
        kc.load_checkpoint(path, {"w": np.zeros((2, 3)), "v": np.zeros(1)})
    both = kc.save_checkpoint(tmp_path / "b.npz", {"w": np.zeros((2, 3)), "v": np.zeros(1)})
    with pytest.raises(kc.CheckpointError, match="this model lacks"):
        kc.load_checkpoint(both, {"w": np.zeros((2, 3))})


def test_metadata_must_be_json(tmp_path: Path) -> None:
    with pytest.raises(kc.CheckpointError, match="JSON"):
        kc.save_checkpoint(tmp_path / "a.npz", {"w": np.zeros(1)}, {"bad": object()})
