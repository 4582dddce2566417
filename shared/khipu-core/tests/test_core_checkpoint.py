import io
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
import pytest
from khipu.core.checkpoint import load_arrays


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


# --- hostile files: sizes, shapes and dtypes are checked before any data is read ---


def _like() -> dict:  # type: ignore[type-arg]
    return {"w": np.zeros((2, 3), np.float32), "b": np.zeros(3, np.float32)}


def _npz(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(f"{name}.npy", data)
    return path


def _npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def _meta_entry(meta: object) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(json.dumps(meta).encode(), np.uint8))
    return buf.getvalue()


GOOD_META = {"metadata": {}, "prng_key_leaves": []}


def test_a_decompression_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    # 1 GiB of zeros deflates to about 1 MB; the model expects 6 floats
    bomb = io.BytesIO()
    bomb.write(_npy_header((2**28,)))
    bomb.write(bytes(2**30))
    path = _npz(
        tmp_path / "bomb.npz",
        {
            "['w']": bomb.getvalue(),
            "['b']": _npy_header((3,)) + bytes(12),
            "__khipu_metadata__": _meta_entry(GOOD_META),
        },
    )
    del bomb
    assert path.stat().st_size < 5 * 2**20
    with pytest.raises(kc.CheckpointError, match=r"\['w'\] has shape \(268435456,\)"):
        kc.load_checkpoint(path, _like())


def test_a_header_claiming_petabytes_is_refused(tmp_path: Path) -> None:
    path = _npz(
        tmp_path / "huge.npz",
        {
            "['w']": _npy_header((2**25, 2**25)) + bytes(8),
            "['b']": _npy_header((3,)) + bytes(12),
            "__khipu_metadata__": _meta_entry(GOOD_META),
        },
    )
    with pytest.raises(kc.CheckpointError, match="has shape"):
        kc.load_checkpoint(path, _like())
    with pytest.raises(kc.CheckpointError, match=r"claims .* GiB"):
        load_arrays(path)


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        ({"['w']": _npy_header((2, 3), "<U4") + bytes(96)}, "not a number type"),
        ({"__khipu_metadata__": _npy_header((4,), "<f8") + bytes(32)}, "malformed metadata"),
        ({"__khipu_metadata__": _meta_entry([1, 2])}, "corrupt"),
        ({"__khipu_metadata__": b"\x93NUMPY garbage"}, "corrupt"),
    ],
)
def test_malformed_entries_are_one_clear_error(
    tmp_path: Path, entries: dict[str, bytes], words: str
) -> None:
    base = {
        "['w']": _npy_header((2, 3)) + bytes(24),
        "['b']": _npy_header((3,)) + bytes(12),
        "__khipu_metadata__": _meta_entry(GOOD_META),
    }
    path = _npz(tmp_path / "bad.npz", {**base, **entries})
    with pytest.raises(kc.CheckpointError, match=words):
        kc.load_checkpoint(path, _like())


def test_a_file_that_is_not_a_khipu_checkpoint(tmp_path: Path) -> None:
    np.save(tmp_path / "w.npy", np.zeros(3))
    with pytest.raises(kc.CheckpointError, match="corrupt"):
        kc.read_metadata(tmp_path / "w.npy")
    np.savez(tmp_path / "plain.npz", w=np.zeros(3))
    with pytest.raises(kc.CheckpointError, match="not a khipu checkpoint"):
        kc.read_metadata(tmp_path / "plain.npz")


PARTIAL_SAVE = textwrap.dedent(
    """
    import resource, signal, sys
    import numpy as np
    import khipu.core as kc
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # any file may grow to 64 KiB at most: the new checkpoint (~800 KB) fails half-way
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    try:
        kc.save_checkpoint(sys.argv[1], {"w": np.ones(200_000, np.float32)}, {"v": 2})
    except kc.KhipuError as exc:
        print("failed:", exc)
    """
)


def test_a_save_that_fails_part_way_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "last.npz"
    kc.save_checkpoint(path, {"w": np.full(10, 7.0, np.float32)}, {"v": 1})
    before = path.read_bytes()
    result = subprocess.run(
        [sys.executable, "-c", PARTIAL_SAVE, str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "failed: could not write" in result.stdout and str(path) in result.stdout
    assert path.read_bytes() == before
    tree, meta = kc.load_checkpoint(path, {"w": np.zeros(10, np.float32)})
    assert meta == {"v": 1} and float(tree["w"][0]) == 7.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.npz"]
