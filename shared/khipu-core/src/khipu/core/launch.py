"""``khipu launch``: a multi-process run on one machine, over loopback.

``khipu launch -n 2 -- khipu cnn train --out runs/cnn`` starts two copies of
the command with ``KHIPU_COORDINATOR=127.0.0.1:<free port>``,
``KHIPU_NUM_PROCESSES=2`` and ``KHIPU_PROCESS_ID=0`` / ``1`` in their
environment (what :func:`khipu.core.distributed.initialize` reads), prefixes
every line each one prints with ``[i]``, and returns the first non-zero exit
code. It is how the tests exercise multi-process training, and how a user tries
it before a cluster. No JAX is imported here.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import BinaryIO

from khipu.core.errors import KhipuError

MAX_PROCESSES = 64
STRAGGLER_GRACE_S = 90.0  # after the first failure, the others get this long to stop
_DEVICE_FLAG = re.compile(r"--xla_force_host_platform_device_count=\S*")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def process_env(
    base: dict[str, str],
    *,
    coordinator: str,
    num_processes: int,
    process_id: int,
    devices_per_process: int | None,
) -> dict[str, str]:
    """The environment of process ``process_id`` of a launched run.

    ``devices_per_process`` sets XLA's simulated CPU device count (replacing
    any count already in ``XLA_FLAGS``) and selects the CPU platform.
    """
    env = dict(base)
    env["KHIPU_COORDINATOR"] = coordinator
    env["KHIPU_NUM_PROCESSES"] = str(num_processes)
    env["KHIPU_PROCESS_ID"] = str(process_id)
    env["PYTHONUNBUFFERED"] = "1"
    if devices_per_process is not None:
        flags = _DEVICE_FLAG.sub("", env.get("XLA_FLAGS", "")).split()
        flags.append(f"--xla_force_host_platform_device_count={devices_per_process}")
        env["XLA_FLAGS"] = " ".join(flags)
        env["JAX_PLATFORMS"] = "cpu"
    return env


def _pump(source: BinaryIO, sink: BinaryIO, prefix: bytes, lock: threading.Lock) -> None:
    """Copies ``source`` to ``sink`` line by line, ``prefix`` before every line (a line
    ends at ``\n`` or ``\r``: a progress bar stays one line). A partial line is
    written once nothing more arrived for 0.2 s, so that lines of different
    processes never mix."""
    fd = source.fileno()
    partial = b""
    at_start = True

    def emit(data: bytes) -> None:
        nonlocal at_start
        out = bytearray()
        for piece in re.split(rb"(?<=[\n\r])", data):
            if piece:
                out += (prefix if at_start else b"") + piece
                at_start = piece.endswith((b"\n", b"\r"))
        with lock:
            sink.write(bytes(out))
            sink.flush()

    while True:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            if partial:
                emit(partial)
                partial = b""
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data = partial + chunk
        cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        partial = data[cut:]
        if cut:
            emit(data[:cut])
    if partial:
        emit(partial)
    source.close()


def launch(
    command: Sequence[str],
    *,
    num_processes: int,
    devices_per_process: int | None = None,
    port: int | None = None,
) -> int:
    """Runs ``command`` as ``num_processes`` processes of one run on this machine.

    Args:
      command: the program and its arguments (e.g. ``["khipu", "cnn", "train", ...]``).
      num_processes: how many processes.
      devices_per_process: simulated CPU devices per process (``None``: JAX's default).
      port: the coordinator's loopback port (default: a free one).

    Returns:
      The first non-zero exit code of a process (in the order they ended), else 0.
      A process ended by a signal counts as ``128 + signal``.

    Raises:
      KhipuError: no command, or a process count outside 1..64.
    """
    if not command:
        raise KhipuError("launch: give the command to run after --, e.g. -- khipu cnn train ...")
    if not 1 <= num_processes <= MAX_PROCESSES:
        raise KhipuError(f"launch: -n must be between 1 and {MAX_PROCESSES}, got {num_processes}")
    coordinator = f"127.0.0.1:{port or free_port()}"
    lock = threading.Lock()
    procs: list[subprocess.Popen[bytes]] = []
    pumps: list[threading.Thread] = []
    try:
        for i in range(num_processes):
            env = process_env(
                dict(os.environ),
                coordinator=coordinator,
                num_processes=num_processes,
                process_id=i,
                devices_per_process=devices_per_process,
            )
            try:
                proc = subprocess.Popen(
                    list(command), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                )
            except OSError as exc:
                raise KhipuError(f"launch: could not start {command[0]}: {exc.strerror}") from None
            procs.append(proc)
            for source, sink in (
                (proc.stdout, sys.stdout.buffer),
                (proc.stderr, sys.stderr.buffer),
            ):
                assert source is not None
                t = threading.Thread(
                    target=_pump, args=(source, sink, f"[{i}] ".encode(), lock), daemon=True
                )
                t.start()
                pumps.append(t)
        code = _wait(procs)
    except KeyboardInterrupt:  # Ctrl-C reached the children too: let them stop
        code = 130
        _wait(procs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for t in pumps:
            t.join(5.0)
    return code


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _wait(procs: list[subprocess.Popen[bytes]]) -> int:
    """Waits for every process; after the first failure the others get
    :data:`STRAGGLER_GRACE_S` to stop by themselves, then they are killed."""
    first = 0
    deadline: float | None = None
    pending = list(procs)
    while pending:
        for proc in list(pending):
            if proc.poll() is None:
                continue
            pending.remove(proc)
            code = _exit_code(proc.returncode)
            if code and not first:
                first = code
                deadline = time.monotonic() + STRAGGLER_GRACE_S
        if deadline is not None and time.monotonic() > deadline:
            for proc in pending:
                print(
                    f"khipu launch: process {procs.index(proc)} did not stop; killing it",
                    file=sys.stderr,
                )
                proc.send_signal(signal.SIGKILL)
            deadline = None
        time.sleep(0.05)
    return first
