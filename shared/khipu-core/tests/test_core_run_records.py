"""Run records that tell the truth: config.json lists the versions of the libraries the
practical declares, metrics stream to history.jsonl after each epoch (a killed run keeps
what it logged; a resumed one continues from its checkpoint), and --tensorboard writes
TensorBoard event files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
import pytest
from khipu.core import rundir


def _loss(params, model_state, key, batch):  # type: ignore[no-untyped-def]
    del key
    pred = batch["x"] @ params["w"] + params["b"]
    return jnp.mean((pred - batch["y"]) ** 2), (model_state, {})


def _fit(state, data, **kwargs):  # type: ignore[no-untyped-def]
    step = kc.make_train_step(_loss, optax.sgd(0.05))
    return kc.fit(state, step, data, batch_size=32, progress=False, **kwargs)


def test_history_jsonl_streams_each_epoch_into_the_open_run(
    tmp_path: Path,
    regression_data,  # type: ignore[no-untyped-def]
    fresh_state,
) -> None:
    seen: list[int] = []

    def after(epoch: int, row: dict[str, float]) -> None:
        # when on_epoch_end runs, the epoch is already on disk
        seen.append(len(rundir.read_history(tmp_path / "run")))

    out = rundir.open_run(tmp_path / "run", config={"out": tmp_path / "run"})
    result = _fit(fresh_state, regression_data, epochs=3, on_epoch_end=after)
    rundir.finish_run(ok=True)
    assert seen == [1, 2, 3]
    rows = rundir.read_history(out)
    assert [r["epoch"] for r in rows] == result.history["epoch"]
    assert [r["loss"] for r in rows] == pytest.approx(result.history["loss"])
    assert "history.jsonl" in (rundir.read_manifest(out) or set())


def test_fit_without_an_open_run_writes_nothing(
    tmp_path: Path,
    regression_data,  # type: ignore[no-untyped-def]
    fresh_state,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    _fit(fresh_state, regression_data, epochs=1)
    assert list(tmp_path.iterdir()) == []


KILLED = """
import os, signal, sys
import jax, jax.numpy as jnp, numpy as np, optax
import khipu.core as kc
from khipu.core import rundir

def loss(params, model_state, key, batch):
    pred = batch["x"] @ params["w"] + params["b"]
    return jnp.mean((pred - batch["y"]) ** 2), (model_state, {})

rng = np.random.default_rng(0)
x = rng.normal(size=(256, 3)).astype(np.float32)
data = {"x": x, "y": (x @ np.array([1.5, -2.0, 0.5], np.float32) + 0.3).astype(np.float32)}
state = kc.init_train_state({"w": jnp.zeros(3), "b": jnp.zeros(())}, optax.sgd(0.05),
                            key=jax.random.key(1))
rundir.open_run(sys.argv[1], config={"out": sys.argv[1]})

def die(epoch, row):
    if epoch == 2:
        os.kill(os.getpid(), signal.SIGKILL)

kc.fit(state, kc.make_train_step(loss, optax.sgd(0.05)), data, batch_size=32, epochs=5,
       progress=False, on_epoch_end=die)
"""


def test_a_killed_run_keeps_the_epochs_it_logged(
    tmp_path: Path,
    regression_data,  # type: ignore[no-untyped-def]
    fresh_state,
) -> None:
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(KILLED))
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(script), str(out)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    rows = rundir.read_history(out)
    # the same two epochs, computed here without any run folder
    expected = _fit(fresh_state, regression_data, epochs=2).history
    assert [r["epoch"] for r in rows] == [1.0, 2.0]
    assert [r["loss"] for r in rows] == pytest.approx(expected["loss"], rel=1e-6)


def test_resume_rewrites_history_to_the_checkpoint_and_continues(
    tmp_path: Path,
    regression_data,  # type: ignore[no-untyped-def]
    fresh_state,
) -> None:
    out = tmp_path / "run"
    rundir.open_run(out, config={"out": out, "epochs": 2}, resume_may_differ=("epochs",))
    _fit(fresh_state, regression_data, epochs=2, checkpoint_dir=out / "ckpt")
    rundir.finish_run(ok=True)
    # an epoch logged after the last checkpoint (killed between the two writes)
    with open(out / "history.jsonl", "a") as f:
        f.write(json.dumps({"epoch": 3.0, "loss": 123.0}) + "\n")
    rundir.open_run(
        out, resume=True, config={"out": out, "epochs": 4}, resume_may_differ=("epochs",)
    )
    resumed = _fit(fresh_state, regression_data, epochs=4, checkpoint_dir=out / "ckpt", resume=True)
    rundir.finish_run(ok=True)
    rows = rundir.read_history(out)
    assert [r["epoch"] for r in rows] == [1.0, 2.0, 3.0, 4.0]
    assert [r["loss"] for r in rows] == pytest.approx(resumed.history["loss"])
    assert 123.0 not in [r["loss"] for r in rows]


def test_read_history_skips_a_torn_last_line(tmp_path: Path) -> None:
    (tmp_path / "history.jsonl").write_text('{"epoch": 1.0, "loss": 0.5}\n{"epoch": 2.0, "lo')
    assert rundir.read_history(tmp_path) == [{"epoch": 1.0, "loss": 0.5}]


def test_non_finite_values_are_null_in_history(tmp_path: Path) -> None:
    rundir.open_run(tmp_path / "run", config={})
    rundir.log_epoch({"epoch": 1.0, "loss": float("nan"), "acc": np.float32(0.5)})
    rundir.finish_run(ok=True)
    assert rundir.read_history(tmp_path / "run") == [{"epoch": 1.0, "loss": None, "acc": 0.5}]


def test_tensorboard_event_files_hold_the_logged_scalars(tmp_path: Path) -> None:
    pytest.importorskip("tensorboardX")
    out = tmp_path / "run"
    rundir.open_run(out, config={"out": out}, tensorboard=True)
    for epoch, loss in [(1, 0.9), (2, 0.4)]:
        rundir.log_epoch({"epoch": float(epoch), "loss": loss})
    rundir.finish_run(ok=True)
    events = sorted((out / "tensorboard").glob("events.out.tfevents.*"))
    assert events, "no event file"
    assert {f"tensorboard/{e.name}" for e in events} <= (rundir.read_manifest(out) or set())
    assert _scalars(events[0]) == [("loss", 1, pytest.approx(0.9)), ("loss", 2, pytest.approx(0.4))]


def _scalars(path: Path) -> list[tuple[str, int, float]]:
    """(tag, step, value) of the scalar summaries in a TensorBoard event file, read with
    tensorboardX's own protobufs (TFRecord framing: length, crc, payload, crc)."""
    import struct

    from tensorboardX.proto.event_pb2 import Event  # type: ignore[import-untyped]

    data = path.read_bytes()
    found, pos = [], 0
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos : pos + 8])
        event = Event.FromString(data[pos + 12 : pos + 12 + length])
        pos += 12 + length + 4
        for value in event.summary.value:
            found.append((value.tag, event.step, value.simple_value))
    return found


def test_tensorboard_without_tensorboardx_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(kc.MissingDependencyError, match=r"khipu-core\[tensorboard\]"):
        rundir.open_run(tmp_path / "run", config={}, tensorboard=True)
    assert not (tmp_path / "run").exists()


def test_config_versions_list_the_practicals_declared_libraries(tmp_path: Path) -> None:
    # khipu-core's own declared dependencies, read independently from its metadata
    declared = {
        r.split(";")[0].split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
        for r in metadata.requires("khipu-core") or []
    }
    installed = set()
    for name in declared:
        try:
            metadata.version(name)
            installed.add(name)
        except metadata.PackageNotFoundError:
            pass
    out = tmp_path / "run"
    rundir.open_run(out, config={"out": out, "topic": "nosuchtopic"})
    rundir.finish_run(ok=True)
    versions = json.loads((out / "config.json").read_text())["versions"]
    assert installed <= set(versions), installed - set(versions)
    for name in installed:
        assert versions[name] == metadata.version(name)
    assert versions["jax"] == jax.__version__
