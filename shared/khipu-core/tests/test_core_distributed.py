"""Multi-process training pieces that run in one process: settings, the one-writer
run folder, per-process batch rows, the launcher and the runtime-log filter.

The multi-process runs themselves (2 processes x 2 CPU devices over loopback)
are in the repository's tests/test_multiprocess.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import khipu.core as kc
import numpy as np
import pytest
from khipu.core import cli, distributed, launch, rundir, stderr_filter
from khipu.core.parallel import data_mesh, local_rows
from khipu.core.train import _epoch_batches

# --- settings ---------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        distributed.ENV_COORDINATOR,
        distributed.ENV_NUM_PROCESSES,
        distributed.ENV_PROCESS_ID,
        "SLURM_NTASKS",
        "SLURM_STEP_NUM_TASKS",
        "OMPI_COMM_WORLD_SIZE",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_one_process_needs_no_runtime(clean_env: pytest.MonkeyPatch) -> None:
    assert distributed.resolve_settings() is None
    assert distributed.resolve_settings(num_processes=1) is None
    clean_env.setenv("SLURM_NTASKS", "1")  # a one-task SLURM job is one process
    assert distributed.resolve_settings() is None
    assert distributed.initialize() == (0, 1)
    assert not distributed.is_distributed()


def test_settings_from_arguments_win_over_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(distributed.ENV_COORDINATOR, "10.0.0.1:1234")
    clean_env.setenv(distributed.ENV_NUM_PROCESSES, "4")
    clean_env.setenv(distributed.ENV_PROCESS_ID, "3")
    assert distributed.resolve_settings() == distributed.Settings("10.0.0.1:1234", 4, 3)
    got = distributed.resolve_settings("127.0.0.1:99", 2, 1)
    assert got == distributed.Settings("127.0.0.1:99", 2, 1)


def test_a_cluster_manager_is_left_to_jax(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SLURM_NTASKS", "8")
    assert distributed.resolve_settings() == distributed.Settings(None, None, None, cluster=True)


@pytest.mark.parametrize(
    ("coordinator", "num", "pid", "message"),
    [
        ("127.0.0.1:1234", 2, 2, "between 0 and 1"),
        ("127.0.0.1:1234", 2, None, "needs --process-id"),
        (None, 2, 0, "needs --coordinator"),
        ("127.0.0.1", 2, 0, "HOST:PORT"),
        ("127.0.0.1:99999", 2, 0, "HOST:PORT"),
        ("127.0.0.1:1234", None, 0, "need --num-processes"),
        (None, 1, 3, "out of range"),
    ],
)
def test_bad_settings_are_one_clear_error(
    clean_env: pytest.MonkeyPatch,
    coordinator: str | None,
    num: int | None,
    pid: int | None,
    message: str,
) -> None:
    with pytest.raises(kc.KhipuError, match=message):
        distributed.resolve_settings(coordinator, num, pid)


def test_bad_environment_value(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(distributed.ENV_NUM_PROCESSES, "two")
    with pytest.raises(kc.KhipuError, match="KHIPU_NUM_PROCESSES"):
        distributed.resolve_settings()


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:1", True),
        ("localhost:1", True),
        ("[::1]:1", True),
        ("10.1.2.3:1", False),
        ("node17:1", False),
    ],
)
def test_loopback_coordinators_bind_to_loopback(address: str, loopback: bool) -> None:
    assert distributed.is_loopback(address) is loopback


# --- one writer -------------------------------------------------------------------


@pytest.fixture
def second_process() -> object:
    rundir.set_process(1, 2)
    yield
    rundir.finish_run(ok=False)
    rundir.set_process(0, 1)


@pytest.mark.usefixtures("second_process")
def test_processes_other_than_0_write_nothing_into_the_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    private = rundir.open_run(out, config={"seed": 0})
    assert not rundir.is_writer()
    assert not out.exists()  # process 0 creates, locks and fills it
    assert not private.is_relative_to(out)
    kc.write_json(private / "metrics.json", {"a": 1})  # what a command writes goes here
    assert rundir.shared_path(private / "checkpoints" / "last.npz") == (
        out / "checkpoints" / "last.npz"
    )
    rundir.finish_run(ok=True)
    assert not private.exists()
    assert not out.exists()


def test_process_0_reads_its_own_paths(tmp_path: Path) -> None:
    assert rundir.is_writer()
    path = tmp_path / "checkpoints" / "last.npz"
    assert rundir.shared_path(path) == path


def test_distributed_options_do_not_define_a_run(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    cli.add_run_arguments(parser, distributed=True)
    args = parser.parse_args(
        ["--out", str(tmp_path / "r"), "--coordinator", "h:1", "--num-processes", "1"]
    )
    out = cli.start_run(args)
    rundir.finish_run(ok=True)
    config = json.loads((out / "config.json").read_text())
    assert not set(cli.DISTRIBUTED_OPTIONS) & set(config)
    assert "seed" in config


# --- data: each process its own rows ------------------------------------------------


def test_one_process_feeds_every_row() -> None:
    assert local_rows(data_mesh(), 32) == slice(0, 32)


def test_epoch_batches_are_the_rows_of_the_shuffled_batches() -> None:
    data = {"x": np.arange(50, dtype=np.float32)[:, None], "y": np.arange(50)}
    want = list(kc.batches(data, 8, seed=np.random.default_rng([3, 1]), drop_remainder=True))
    got = list(_epoch_batches(data, 8, np.random.default_rng([3, 1]), slice(2, 6)))
    assert len(got) == len(want) == 6
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g["y"], w["y"][2:6])
        np.testing.assert_array_equal(g["x"], w["x"][2:6])


# --- the launcher -----------------------------------------------------------------------


def test_process_env_sets_the_run_and_the_device_count() -> None:
    base = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8 --other", "A": "1"}
    env = launch.process_env(
        base, coordinator="127.0.0.1:5", num_processes=3, process_id=2, devices_per_process=2
    )
    assert env["KHIPU_COORDINATOR"] == "127.0.0.1:5"
    assert (env["KHIPU_NUM_PROCESSES"], env["KHIPU_PROCESS_ID"]) == ("3", "2")
    assert env["XLA_FLAGS"].split() == ["--other", "--xla_force_host_platform_device_count=2"]
    assert env["A"] == "1" and base["XLA_FLAGS"].startswith("--xla_force")


def test_launch_prefixes_output_and_returns_the_first_failure(
    capfd: pytest.CaptureFixture[str],
) -> None:
    script = (
        "import os, sys, time\n"
        "i = int(os.environ['KHIPU_PROCESS_ID'])\n"
        "print(f\"hello {i} of {os.environ['KHIPU_NUM_PROCESSES']} at "
        "{os.environ['KHIPU_COORDINATOR']}\")\n"
        "print('bar\\rbar\\r', end='', file=sys.stderr)\n"
        "time.sleep(0.5 * (2 - i))\n"
        "sys.exit(3 if i == 2 else 5 if i == 1 else 0)\n"
    )
    code = launch.launch([sys.executable, "-c", script], num_processes=3)
    assert code == 3  # process 2 ends first, with 3; process 1 later with 5
    out, err = capfd.readouterr()
    lines = sorted(out.splitlines())
    assert [line.split(" at ")[0] for line in lines] == [
        "[0] hello 0 of 3",
        "[1] hello 1 of 3",
        "[2] hello 2 of 3",
    ]
    assert len({line.split(" at ")[1] for line in lines}) == 1  # one coordinator
    assert lines[0].split(" at ")[1].startswith("127.0.0.1:")
    assert err.count("[1] bar\r") == 2  # progress-bar updates are prefixed too


def test_launch_command_line(capfd: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["launch", "-n", "2", "--", sys.executable, "-c", "print('x')"])
    assert code == 0
    assert sorted(capfd.readouterr().out.split()) == ["[0]", "[1]", "x", "x"]
    assert cli.main(["launch", "-n", "2"]) == 1  # no command: one line
    assert "give the command" in capfd.readouterr().err


# --- the runtime's dying words as one line -------------------------------------------

_HEARTBEAT = (
    "E1207 00:39:43.696774   10008 coordination_service.cc:1549] [1] Use error polling to "
    "propagate the following error to all tasks: UNAVAILABLE: The following tasks are "
    "unhealthy (stopped sending heartbeats):\n1\nThe tasks have crashed.\n"
)
_FATAL = (
    "F1207 00:39:43.699512   10019 client.h:80] Terminating process because the JAX "
    "distributed service detected fatal errors. absl::Status: UNAVAILABLE: The following "
    "tasks are unhealthy (stopped sending heartbeats):\n1\nThe tasks have crashed.\n"
    "*** Check failure stack trace: ***\n    @     0x7f5c0b040634  absl::LogMessage\n"
)
_COORDINATOR_GONE = (
    "F1207 00:42:58.528353   16305 client.h:80] Terminating process because the JAX "
    "distributed service detected fatal errors.\nAdditional GRPC error information from "
    'remote target coordination_service:\n:UNKNOWN:Error received from peer {grpc_message:"'
    'Socket closed", grpc_status:14}\n'
)


def _filtered(chunks: list[str]) -> str:
    read, write = os.pipe()
    flt = stderr_filter._Filter(write, 0, 2)
    for chunk in chunks:
        flt.feed(chunk.encode())
    flt.close()
    os.close(write)
    with os.fdopen(read, "rb") as f:
        return f.read().decode()


def test_a_lost_peer_is_one_line_naming_it() -> None:
    got = _filtered(["epoch 1\n", _HEARTBEAT, _FATAL, "Aborted\n"])
    lines = got.splitlines()
    assert lines[0] == "epoch 1"
    assert len(lines) == 2
    assert lines[1].startswith("khipu: error: lost process 1 of 2")


def test_a_lost_coordinator_is_one_line_naming_process_0() -> None:
    got = _filtered([_COORDINATOR_GONE])
    assert got.startswith("khipu: error: lost process 0 of 2 (the coordinator")
    assert got.count("\n") == 1


_GLOO_TERMINATE = (
    "terminate called after throwing an instance of 'gloo::EnforceNotMet'\n"
    "  what():  [enforce fail at external/gloo/gloo/transport/tcp/pair.cc:459] "
    "op.preamble.length <= op.nbytes. 640 vs 4. Received data size doesn't match expected "
    "size. Is there a distributed collective mismatch in your code?\n"
)


def test_a_peer_killed_mid_collective_is_one_line_naming_it() -> None:
    """CI saw gloo abort process 0 0.1 s after process 1 was SIGKILLed (std::terminate)."""
    got = _filtered(["epoch 3\n", _HEARTBEAT, _GLOO_TERMINATE, "Aborted (core dumped)\n"])
    lines = got.splitlines()
    assert lines[0] == "epoch 3" and len(lines) == 2, got
    assert lines[1].startswith("khipu: error: lost process 1 of 2 (a collective's connection")
    assert "640 vs 4" in lines[1] and lines[1].endswith("process 0 of 2 stops")
    many = stderr_filter.summarize_fatal(_GLOO_TERMINATE, process_index=2, num_processes=4)
    assert many.startswith("khipu: error: lost a peer process of 4")


def test_other_output_and_harmless_records_pass_through() -> None:
    record = "W1207 00:40:04.133631   11102 coordination_service.cc:185] a warning\n"
    got = _filtered(["10%|#  |\r", record, "Traceback (most recent call last):\n", "tail"])
    assert got == "10%|#  |\r" + record + "Traceback (most recent call last):\ntail"


def test_no_second_line_when_the_process_reported_its_error() -> None:
    got = _filtered(["khipu: error: lost contact with another process (gloo)\n", _FATAL])
    assert got == "khipu: error: lost contact with another process (gloo)\n"


def test_unknown_fatal_records_keep_their_first_line() -> None:
    text = "F1207 00:00:00.000000 1 x.cc:1] something else broke\nmore\n"
    line = stderr_filter.summarize_fatal(text, process_index=1, num_processes=4)
    assert line == (
        "khipu: error: the JAX distributed runtime stopped process 1 of 4: something else broke"
    )


# What a collective raised to Python when its peer was SIGKILLed (measured on loopback)
_GLOO_RAISED = (
    "UNKNOWN: Gloo all-reduce failed: [external/gloo/gloo/transport/tcp/pair.cc:538] "
    "Read error [127.0.0.1]:58059: Connection reset by peer"
)


def test_a_peer_lost_in_a_collective_raised_to_python_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command's error names the lost peer as the filter does for gloo's C++ abort, and
    marks the process as stopped by a peer (finish() leaves at once: no dead peer to wait
    for)."""
    state = distributed._STATE
    for name, value in (("index", 0), ("count", 2), ("failure", None), ("stopping", False)):
        monkeypatch.setattr(state, name, value)
    monkeypatch.setattr(state, "client", object())  # joined, as far as the CLI can tell

    def command(args: object) -> int:
        raise RuntimeError(_GLOO_RAISED)

    assert cli._run_command(command, argparse.Namespace()) == 1
    expected = (
        "lost process 1 of 2 (a collective's connection broke: killed or crashed; gloo: Read "
        "error [127.0.0.1]:58059: Connection reset by peer); process 0 of 2 stops"
    )
    assert capsys.readouterr().err == f"khipu: error: {expected}\n"
    assert distributed.failure() == expected
    monkeypatch.setattr(state, "count", 4)
    assert distributed.lost_peer(_GLOO_RAISED).startswith("lost a peer process of 4")
    assert distributed.failure() == expected  # the first reason stays


def test_any_other_error_of_a_multi_process_command_is_this_process_failing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plain bug is not a lost peer: one line with its type, and the process is not
    marked as stopped by a peer, so finish() tells the others (which stop with one line
    naming it) and waits for them (tests/test_multiprocess.py runs it end to end)."""
    state = distributed._STATE
    for name, value in (("index", 1), ("count", 2), ("failure", None), ("stopping", False)):
        monkeypatch.setattr(state, name, value)
    monkeypatch.setattr(state, "client", object())

    def command(args: object) -> int:
        raise ValueError("shapes (3,) and (4,)\nnot aligned")

    assert cli._run_command(command, argparse.Namespace()) == 1
    assert capsys.readouterr().err == (
        "khipu: error: ValueError: shapes (3,) and (4,) not aligned\n"
    )
    assert distributed.failure() is None
    assert not distributed.is_lost_peer("shapes (3,) and (4,) not aligned")
    assert distributed.is_lost_peer(_GLOO_RAISED)
