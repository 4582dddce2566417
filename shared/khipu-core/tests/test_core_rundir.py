"""Run folders: marked by a manifest, locked, replaced only on success, resumed only
with the same settings; files follow the umask; write errors name the file."""

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import khipu.core as kc
import numpy as np
import pytest
from khipu.core import rundir


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _make_run(out: Path, files: dict[str, str], **config: object) -> None:
    write = rundir.open_run(out, config={"out": out, **config})
    for name, text in files.items():
        kc.atomic_write_bytes(write / name, text.encode())
    rundir.finish_run(ok=True)


def test_refuses_non_empty_folder_that_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(kc.KhipuError, match="--overwrite"):
        kc.prepare_run_dir(tmp_path)
    with pytest.raises(kc.KhipuError, match="does not look like a khipu run"):
        kc.prepare_run_dir(tmp_path, overwrite=True)
    with pytest.raises(kc.KhipuError, match="no khipu run to continue"):
        kc.prepare_run_dir(tmp_path, resume=True)
    assert _snapshot(tmp_path) == {"x.txt": b"keep me"}


def test_overwrite_refuses_a_project_folder_with_a_config_json(tmp_path: Path) -> None:
    # the example: p/config.json + p/src/main.py must survive --overwrite
    project = tmp_path / "p"
    (project / "src").mkdir(parents=True)
    (project / "config.json").write_text("{}")
    (project / "src" / "main.py").write_text("x")
    before = _snapshot(project)
    with pytest.raises(kc.KhipuError, match="does not look like a khipu run"):
        rundir.open_run(project, overwrite=True, config={"seed": 0})
    assert _snapshot(project) == before


def test_new_run_is_marked_with_the_files_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _make_run(out, {"metrics.json": "{}", "figs/a.png": "png"}, seed=1)
    manifest = rundir.read_manifest(out)
    assert manifest == {"config.json", "metrics.json", "figs/a.png"}
    assert not (out / rundir.LOCK_FILE).exists()


def test_overwrite_swaps_only_when_the_new_run_succeeds(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _make_run(out, {"metrics.json": '{"acc": 1}', "old.png": "old"}, seed=1)
    before = _snapshot(out)
    # a failing replacement leaves the previous run exactly as it was
    staging = rundir.open_run(out, overwrite=True, config={"out": out, "seed": 2})
    assert staging != out and staging.parent == out.parent
    during = _snapshot(out)
    assert during.pop(rundir.LOCK_FILE) == b""  # locked while the new run works
    assert during == before
    kc.atomic_write_bytes(staging / "metrics.json", b'{"acc": 0}')
    rundir.finish_run(ok=False)
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    # a succeeding one replaces it whole
    staging = rundir.open_run(out, overwrite=True, config={"out": out, "seed": 3})
    kc.atomic_write_bytes(staging / "metrics.json", b'{"acc": 0.5}')
    rundir.finish_run(ok=True)
    assert not (out / "old.png").exists()
    assert json.loads((out / "metrics.json").read_text()) == {"acc": 0.5}
    assert json.loads((out / "config.json").read_text())["seed"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_overwrite_refuses_a_run_holding_files_khipu_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _make_run(out, {"metrics.json": "{}"})
    (out / "notes.txt").write_text("mine")
    before = _snapshot(out)
    with pytest.raises(kc.KhipuError, match=r"did not write \(notes.txt\)"):
        rundir.open_run(out, overwrite=True, config={})
    assert _snapshot(out) == before


def test_resume_refuses_changed_settings_and_keeps_config(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _make_run(out, {"checkpoints/last.npz": "x"}, seed=0, model="lenet", epochs=5)
    before = _snapshot(out)
    with pytest.raises(kc.KhipuError, match=r"model 'lenet' \(now 'fcn'\)"):
        rundir.open_run(
            out, resume=True, config={"out": out, "seed": 0, "model": "fcn", "epochs": 5}
        )
    assert _snapshot(out) == before
    # settings named as resumable may change; the same settings always resume
    assert (
        rundir.open_run(
            out,
            resume=True,
            config={"out": out, "seed": 0, "model": "lenet", "epochs": 9, "resume": True},
            resume_may_differ=("epochs",),
        )
        == out
    )
    rundir.finish_run(ok=True)
    assert json.loads((out / "config.json").read_text())["epochs"] == 9


def test_resume_refuses_a_folder_without_a_run(tmp_path: Path) -> None:
    with pytest.raises(kc.KhipuError, match="no khipu run to continue"):
        rundir.open_run(tmp_path / "missing", resume=True, config={})
    assert not (tmp_path / "missing").exists()


def test_a_fresh_run_that_fails_before_producing_anything_leaves_no_trace(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    rundir.open_run(out, config={"seed": 0})
    rundir.finish_run(ok=False)
    assert not out.exists()
    # ...but an interrupted training keeps its checkpoint for --resume
    write = rundir.open_run(out, config={"seed": 0})
    kc.atomic_write_bytes(write / "checkpoints" / "last.npz", b"ckpt")
    rundir.finish_run(ok=False)
    assert rundir.read_manifest(out) == {"config.json", "checkpoints/last.npz"}


HOLD = textwrap.dedent(
    """
    import sys, time
    from khipu.core import rundir
    rundir.open_run(sys.argv[1], config={"seed": 0})
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_a_second_writer_is_refused_and_a_dead_writer_does_not_block(tmp_path: Path) -> None:
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(kc.KhipuError, match=f"another khipu command is writing {out}"):
            rundir.open_run(out, resume=True, config={"seed": 0})
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    # the killed process left its lock file behind: it is stale, not binding
    assert (out / rundir.LOCK_FILE).exists()
    assert rundir.open_run(out, resume=True, config={"seed": 0}) == out
    rundir.finish_run(ok=True)


def test_files_follow_the_umask(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    kc.atomic_write_bytes(tmp_path / "a.json", b"{}")
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_failed_write_names_the_file_and_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(kc.KhipuError, match=f"could not write {target}: No space left"):
        kc.atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("")
    with pytest.raises(kc.KhipuError, match="is a file"):
        kc.prepare_run_dir(f)


def test_config_has_settings_and_versions(tmp_path: Path) -> None:
    kc.write_config(tmp_path, {"seed": 3, "out": tmp_path, "sizes": (8, 16)})
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["seed"] == 3
    assert config["out"] == str(tmp_path)
    assert config["sizes"] == [8, 16]
    assert config["versions"]["khipu-core"] == kc.__version__
    assert "jax" in config["versions"] and "python" in config["versions"]


def test_metrics_are_flat_scalars(tmp_path: Path) -> None:
    kc.write_metrics(
        tmp_path, {"acc": np.float32(0.5), "n": np.int64(3), "ok": True, "bad": float("nan")}
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == {"acc": 0.5, "n": 3, "ok": True, "bad": None}
    with pytest.raises(kc.KhipuError, match="not a scalar"):
        kc.write_metrics(tmp_path, {"curve": [1.0, 2.0]})


def test_read_json_errors(tmp_path: Path) -> None:
    with pytest.raises(kc.KhipuError, match="does not exist"):
        kc.read_json(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(kc.KhipuError, match="not valid JSON"):
        kc.read_json(tmp_path / "bad.json")


def test_a_failed_fresh_run_removes_only_the_folders_it_created(tmp_path: Path) -> None:
    mine = tmp_path / "empty-but-mine"
    mine.mkdir()
    rundir.open_run(mine, config={"seed": 0})
    rundir.finish_run(ok=False)
    assert mine.is_dir() and list(mine.iterdir()) == []
    rundir.open_run(tmp_path / "a" / "b" / "run", config={"seed": 0})
    rundir.finish_run(ok=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty-but-mine"]
