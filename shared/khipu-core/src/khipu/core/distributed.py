"""Training past one machine: JAX's multi-controller runtime under every ``fit()``.

One process per host (or per group of devices) runs the same command; this
module joins them into one cluster with :func:`jax.distributed.initialize`
and keeps the run from wedging when one of them stops:

- :func:`initialize` reads the standard settings — ``--coordinator``,
  ``--num-processes``, ``--process-id`` (or ``KHIPU_COORDINATOR``,
  ``KHIPU_NUM_PROCESSES``, ``KHIPU_PROCESS_ID``, which ``khipu launch`` sets),
  or the environment of a cluster manager such as SLURM or Open MPI, which
  JAX detects itself — enables CPU collectives (gloo), binds a loopback
  coordinator to loopback only, and is a no-op for one process.
- Process 0 is the only writer of the run folder (see
  :mod:`khipu.core.rundir`); :func:`barrier` orders "checkpoint written"
  before anyone continues, and every barrier has a timeout.
- A process that fails publishes its one-line error; a watchdog thread in
  every other process sees it within a second and stops that process with one
  line naming the peer. The process that failed first leaves last: it keeps
  its connections open until every peer has left (a peer may be inside a
  collective with it, which gloo would abort with a C++ error were the
  connection to break first). A process that is killed stops sending heartbeats to
  JAX's coordination service, which ends the others after
  ``KHIPU_HEARTBEAT_TIMEOUT`` seconds (default 30); its dying words pass
  through :mod:`khipu.core.stderr_filter` and come out as one line.
- Process 0 reports: the standard output of the others goes to ``/dev/null``
  (``KHIPU_PEER_STDOUT=1`` keeps it); their errors still show.
- :func:`finish` meets the others at an exit barrier, then calls
  :func:`jax.distributed.shutdown` on every exit path (bounded in time when a
  peer is gone).

JAX's preemption handler turns SIGTERM into a "preemption notice" that
nothing here acts on, so a hung process would outlive ``timeout`` or a batch
scheduler's kill; :func:`initialize` turns the preemption service off so that
SIGTERM ends a process as usual (the last checkpoint stays intact: checkpoints
are written atomically).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import subprocess
import sys
import threading
import time
from typing import Any, NamedTuple

from khipu.core import rundir
from khipu.core.errors import KhipuError

ENV_COORDINATOR = "KHIPU_COORDINATOR"
ENV_NUM_PROCESSES = "KHIPU_NUM_PROCESSES"
ENV_PROCESS_ID = "KHIPU_PROCESS_ID"
ENV_HEARTBEAT_TIMEOUT = "KHIPU_HEARTBEAT_TIMEOUT"
ENV_BARRIER_TIMEOUT = "KHIPU_BARRIER_TIMEOUT"
ENV_INIT_TIMEOUT = "KHIPU_INIT_TIMEOUT"
DEFAULT_HEARTBEAT_TIMEOUT_S = 30
DEFAULT_BARRIER_TIMEOUT_S = 1800
DEFAULT_INIT_TIMEOUT_S = 120
SHUTDOWN_GRACE_S = 5.0  # a failing process waits this long for jax.distributed.shutdown()
STOP_GRACE_S = 10.0  # a stopped process gets this long to unwind before it is ended
_POLL_S = 0.5
_KEY = "khipu"


class PeerLostError(KhipuError):
    """Another process of a multi-process run failed, was killed or did not arrive."""


class Settings(NamedTuple):
    """How to join a multi-process run.

    Attributes:
      coordinator: ``host:port`` of process 0 (``None``: the cluster manager's).
      num_processes: processes in the run (``None``: the cluster manager's).
      process_id: this process (``None``: the cluster manager's).
      cluster: the settings come from a cluster manager (SLURM, Open MPI) that
        :func:`jax.distributed.initialize` detects itself.
    """

    coordinator: str | None
    num_processes: int | None
    process_id: int | None
    cluster: bool = False


def _env_int(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise KhipuError(f"{name}={text!r} is not an integer") from None


def _cluster_size() -> int:
    """Tasks of the enclosing SLURM step or Open MPI job (1 when there is none)."""
    for name in ("SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"):
        text = os.environ.get(name, "")
        if text.isdigit():
            return int(text)
    return 1


def resolve_settings(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> Settings | None:
    """The multi-process settings from the arguments, the environment or a cluster manager.

    Arguments win over ``KHIPU_*`` variables, which win over the cluster
    manager (``SLURM_*``, ``OMPI_*``; read by JAX itself).

    Returns:
      ``None`` for a one-process run, else the :class:`Settings`.

    Raises:
      KhipuError: settings that cannot describe a run (a process id out of
        range, a coordinator without a port, several processes without a
        coordinator...).
    """
    coordinator = coordinator or os.environ.get(ENV_COORDINATOR) or None
    num = num_processes if num_processes is not None else _env_int(ENV_NUM_PROCESSES)
    pid = process_id if process_id is not None else _env_int(ENV_PROCESS_ID)
    if num is None and coordinator is None and pid is None:
        if _cluster_size() > 1:
            return Settings(None, None, None, cluster=True)
        return None
    if num is None:
        raise KhipuError("--coordinator/--process-id need --num-processes")
    if num < 1:
        raise KhipuError(f"--num-processes must be positive, got {num}")
    if num == 1:
        if pid not in (None, 0):
            raise KhipuError(f"--process-id {pid} is out of range for 1 process")
        return None
    if coordinator is None:
        raise KhipuError(f"--num-processes {num} needs --coordinator HOST:PORT (process 0)")
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise KhipuError(f"--coordinator must be HOST:PORT, got {coordinator!r}")
    if pid is None:
        raise KhipuError(f"--num-processes {num} needs --process-id (0 to {num - 1})")
    if not 0 <= pid < num:
        raise KhipuError(f"--process-id must be between 0 and {num - 1}, got {pid}")
    return Settings(coordinator, num, pid)


def is_loopback(coordinator: str) -> bool:
    """Whether ``host:port`` names this machine only (``127.0.0.1``, ``localhost``, ``[::1]``)."""
    host = coordinator.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- the running cluster -----------------------------------------------------------


class _State:
    """This process's place in the run (module-level: one run per process)."""

    def __init__(self) -> None:
        self.index = 0
        self.count = 1
        self.client: Any = None
        self.failure: str | None = None
        self.stopping = False
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.watchdog: threading.Thread | None = None
        self.barriers = 0
        self.filter: subprocess.Popen[bytes] | None = None
        self.saved_stderr: int | None = None


_STATE = _State()


def process_index() -> int:
    """This process's index in the run (0 when not distributed)."""
    return _STATE.index


def process_count() -> int:
    """Processes in the run (1 when not distributed)."""
    return _STATE.count


def is_distributed() -> bool:
    """Whether :func:`initialize` joined this process to a run of several processes."""
    return _STATE.client is not None


def failure() -> str | None:
    """Why this process is being stopped by a peer's failure (``None``: it is not)."""
    return _STATE.failure


def _timeout(name: str, default: int) -> int:
    value = _env_int(name)
    if value is None:
        return default
    if value <= 0:
        raise KhipuError(f"{name} must be a positive number of seconds, got {value}")
    return value


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> tuple[int, int]:
    """Joins this process to a multi-process run; a no-op for one process.

    Call it before anything touches JAX's devices. The ``khipu`` command calls
    it for every command that has ``--coordinator`` (see
    :func:`khipu.core.cli.add_distributed_arguments`).

    Args:
      coordinator: ``host:port`` where process 0 serves the run (default
        ``KHIPU_COORDINATOR``, else the cluster manager's).
      num_processes: processes in the run (default ``KHIPU_NUM_PROCESSES``...).
      process_id: this process, ``0 .. num_processes - 1`` (default ``KHIPU_PROCESS_ID``...).

    Returns:
      ``(process_index, process_count)``.

    Raises:
      KhipuError: bad settings, or the other processes did not join within
        ``KHIPU_INIT_TIMEOUT`` seconds (default 120).
    """
    if is_distributed():
        return _STATE.index, _STATE.count
    settings = resolve_settings(coordinator, num_processes, process_id)
    if settings is None:
        return 0, 1
    import jax

    heartbeat = _timeout(ENV_HEARTBEAT_TIMEOUT, DEFAULT_HEARTBEAT_TIMEOUT_S)
    init_timeout = _timeout(ENV_INIT_TIMEOUT, DEFAULT_INIT_TIMEOUT_S)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_enable_preemption_service", False)
    kwargs: dict[str, Any] = {
        "initialization_timeout": init_timeout,
        "heartbeat_timeout_seconds": heartbeat,
    }
    if not settings.cluster:
        assert settings.coordinator is not None
        kwargs |= {
            "coordinator_address": settings.coordinator,
            "num_processes": settings.num_processes,
            "process_id": settings.process_id,
            "cluster_detection_method": "deactivate",
        }
        if is_loopback(settings.coordinator):
            kwargs["coordinator_bind_address"] = settings.coordinator
    try:
        jax.distributed.initialize(**kwargs)
    except Exception as exc:  # JAX raises RuntimeError, ValueError or its own errors
        where = settings.coordinator or "the cluster manager's coordinator"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise KhipuError(
            f"could not join the multi-process run at {where} as process "
            f"{settings.process_id}: {first}"
        ) from None
    from jax._src import distributed as jax_distributed

    _STATE.client = jax_distributed.global_state.client
    _STATE.index, _STATE.count = jax.process_index(), jax.process_count()
    _STATE.failure, _STATE.stopping = None, False
    _STATE.done.clear()
    rundir.set_process(_STATE.index, _STATE.count)
    _start_stderr_filter()
    if _STATE.index != 0 and not os.environ.get("KHIPU_PEER_STDOUT"):
        _quiet_stdout()  # process 0 reports; the others report only errors
    _STATE.watchdog = threading.Thread(target=_watch, name="khipu-watchdog", daemon=True)
    _STATE.watchdog.start()
    return _STATE.index, _STATE.count


def initialize_from_args(args: argparse.Namespace) -> tuple[int, int]:
    """:func:`initialize` from the options of :func:`khipu.core.cli.add_distributed_arguments`."""
    return initialize(
        getattr(args, "coordinator", None),
        getattr(args, "num_processes", None),
        getattr(args, "process_id", None),
    )


# --- failure handling ------------------------------------------------------------


def _publish(kind: str, value: str) -> None:
    """Tells the other processes that this one ``kind`` (``"failed"``, ``"left"``)."""
    _STATE.client.key_value_set(f"{_KEY}/{kind}/{_STATE.index}", value)


def _index_of(key: object) -> int:
    """The process a published key belongs to (its last component)."""
    return int(str(key).rsplit("/", 1)[-1])


def _published(kind: str) -> dict[int, str]:
    """What the other processes published under ``kind``, by process."""
    entries = _STATE.client.key_value_dir_get(f"{_KEY}/{kind}/")
    found = {_index_of(key): str(value) for key, value in entries}
    found.pop(_STATE.index, None)
    return found


def _peer_failure() -> str | None:
    """Why this process must stop: the first peer that published a failure (or ``None``)."""
    failures = _published("failed")
    if not failures:
        return None
    index, message = min(failures.items())
    return f"process {index} of {_STATE.count} failed ({message})"


def _mark_stopped(reason: str) -> bool:
    """Records that a peer stops this process for ``reason``; ``False`` if one already did."""
    with _STATE.lock:
        if _STATE.stopping:
            return False
        _STATE.stopping = True
        _STATE.failure = reason
        return True


def _watch() -> None:
    """Every half second: has a peer reported a failure? Then stop this process."""
    while not _STATE.done.wait(_POLL_S):
        try:
            reason = _peer_failure()
        except Exception:  # the coordinator is gone: JAX's own error handling reports it
            continue
        if reason is not None:
            stop(reason)
            return


def is_lost_peer(error: str) -> bool:
    """Whether an exception's text says that a collective's connection broke (gloo's)."""
    return "gloo" in error.lower()


def lost_peer(error: str) -> str:
    """Marks this process as stopped by a lost peer; returns the one-line reason.

    For an error raised to Python by a collective whose connection broke (a peer was
    killed or crashed; :func:`is_lost_peer`): the peer cannot be waited for, so
    :func:`finish` leaves at once, as a process stopped by a peer's reported failure
    does.

    Args:
      error: the exception's text.
    """
    from khipu.core.stderr_filter import lost_in_collective

    reason = lost_in_collective(error, process_index=_STATE.index, num_processes=_STATE.count)
    _mark_stopped(reason)
    return reason


def stop(reason: str) -> None:
    """Stops this process because of a peer: interrupts the main thread (so that
    the command unwinds and reports ``reason``), and ends the process with
    ``reason`` on one line if it is still running :data:`STOP_GRACE_S` later
    (the main thread may be waiting in a collective that will never finish)."""
    if not _mark_stopped(reason):
        return
    import _thread

    _thread.interrupt_main()

    def end() -> None:
        if not _STATE.done.wait(STOP_GRACE_S):
            _exit_now(1, f"khipu: error: {reason}")

    threading.Thread(target=end, name="khipu-stop", daemon=True).start()


def barrier(name: str, *, timeout_s: float | None = None) -> None:
    """Waits until every process has reached the barrier called ``name``.

    Args:
      name: what the barrier orders (appears in the error message).
      timeout_s: give up after this many seconds (default
        ``KHIPU_BARRIER_TIMEOUT``, 1800).

    Raises:
      PeerLostError: a process failed, or did not arrive in time (named).
    """
    _gather(name, "", timeout_s)


def agree(name: str, value: object) -> None:
    """Checks that every process holds the same ``value`` (a barrier that compares).

    Args:
      name: what ``value`` is, for the error message ("the epoch to resume from").
      value: compared by its ``repr``.

    Raises:
      KhipuError: the processes hold different values (named per process).
      PeerLostError: as :func:`barrier`.
    """
    values = _gather(name, repr(value), None)
    if len(set(values.values())) > 1:
        each = ", ".join(f"process {i}: {v}" for i, v in sorted(values.items()))
        raise KhipuError(
            f"the processes disagree on {name} ({each}); do they all see the same files?"
        )


def _gather(name: str, value: str, timeout_s: float | None) -> dict[int, str]:
    """Publishes ``value`` and waits for every process's; returns them by process."""
    if not is_distributed():
        return {0: value}
    timeout = (
        timeout_s
        if timeout_s is not None
        else _timeout(ENV_BARRIER_TIMEOUT, DEFAULT_BARRIER_TIMEOUT_S)
    )
    _STATE.barriers += 1
    prefix = f"{_KEY}/barrier/{_STATE.barriers}/"
    client = _STATE.client
    client.key_value_set(prefix + str(_STATE.index), value)
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        if _STATE.failure is not None:
            raise PeerLostError(_STATE.failure)
        entries = client.key_value_dir_get(prefix)
        values = {_index_of(k): str(v) for k, v in entries}
        if len(values) >= _STATE.count:
            return values
        if (reason := _peer_failure()) is not None:
            _mark_stopped(reason)  # stopped by that peer: the watchdog need not interrupt
            raise PeerLostError(reason)
        if time.monotonic() > deadline:
            missing = sorted(set(range(_STATE.count)) - set(values))
            raise PeerLostError(
                f"process {', '.join(map(str, missing))} of {_STATE.count} did not reach "
                f"'{name}' within {timeout:g} s"
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def finish(code: int, message: str | None = None) -> int:
    """Leaves the run: the last call of a distributed command.

    On success every process meets at an exit barrier, then calls
    :func:`jax.distributed.shutdown`. On failure the process publishes
    ``message`` (so that the others stop within a second), gives
    :func:`jax.distributed.shutdown` :data:`SHUTDOWN_GRACE_S` and ends itself
    with ``code`` (a peer may be gone, and JAX's exit would wait for it).

    Args:
      code: the command's exit code.
      message: its one-line error, published to the other processes.

    Returns:
      The exit code (only on success; a failing process does not return).
    """
    if not is_distributed():
        return code
    import jax

    if code == 0:
        try:
            barrier("exit")
        except PeerLostError as exc:
            print(f"khipu: error: {exc}", file=sys.stderr)
            code, message = 1, str(exc)
        except KeyboardInterrupt:
            code = 1
            if _STATE.failure is not None:
                print(f"khipu: error: {_STATE.failure}", file=sys.stderr)
    if code == 0:
        _STATE.done.set()
        jax.distributed.shutdown()
        _STATE.client = None
        _stop_stderr_filter()
        return 0
    _STATE.done.set()
    if _STATE.failure is None:  # this process failed first: tell the others, wait for them
        with contextlib.suppress(Exception):  # the coordinator may be gone already
            _publish("failed", message or f"exit code {code}")
            _wait_for_peers_to_leave(_POLL_S + STOP_GRACE_S + SHUTDOWN_GRACE_S + 5.0)
        worker = threading.Thread(target=jax.distributed.shutdown, daemon=True)
        worker.start()
        worker.join(SHUTDOWN_GRACE_S)
    # A process stopped by a peer leaves at once: the run is over, and the process
    # that failed first keeps its connections open until every peer has left.
    _exit_now(code, None)
    return code  # pragma: no cover - _exit_now does not return


def _wait_for_peers_to_leave(timeout_s: float) -> None:
    """Waits until every other process has failed or left (at most ``timeout_s``).

    A peer may still be inside a collective with this process (the step it
    had dispatched when this one failed). Were this process to exit first,
    gloo would see the connection break and abort the peer with a C++ error
    instead of the one line its watchdog prints; so the process that failed
    first leaves last.
    """
    others = set(range(_STATE.count)) - {_STATE.index}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if others <= _published("left").keys() | _published("failed").keys():
            return
        time.sleep(0.02)


def _exit_now(code: int, line: str | None) -> None:
    """Ends the process at once (no interpreter teardown, which could wait on a dead peer)."""
    try:
        if line:
            print(line, file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        _stop_stderr_filter()
        if _STATE.client is not None:  # the last act: the process that failed first may go
            with contextlib.suppress(Exception):
                _publish("left", str(code))
        os._exit(code)


def _quiet_stdout() -> None:
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


# --- standard error through the filter -------------------------------------------


def _start_stderr_filter() -> None:
    """Routes file descriptor 2 through :mod:`khipu.core.stderr_filter`."""
    if os.environ.get("KHIPU_RAW_STDERR") or not hasattr(os, "dup2"):
        return
    sys.stderr.flush()
    real = os.dup(2)
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "khipu.core.stderr_filter",
                str(_STATE.index),
                str(_STATE.count),
            ],
            stdin=subprocess.PIPE,
            stdout=real,
            close_fds=True,
        )
    except OSError:
        return
    finally:
        os.close(real)
    assert proc.stdin is not None
    _STATE.saved_stderr = os.dup(2)
    os.dup2(proc.stdin.fileno(), 2)
    proc.stdin.close()
    _STATE.filter = proc


def _stop_stderr_filter() -> None:
    """Gives file descriptor 2 back and lets the filter drain (at most two seconds)."""
    proc, saved = _STATE.filter, _STATE.saved_stderr
    if proc is None or saved is None:
        return
    _STATE.filter, _STATE.saved_stderr = None, None
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(2.0)
