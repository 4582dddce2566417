"""Turns the JAX distributed runtime's dying words into one line.

When a peer process of a multi-process run dies, JAX's coordination client
ends the surviving processes from a C++ thread (``LOG(FATAL)``): thirty lines
of log records, gRPC details and a native stack trace, which Python cannot
catch; and a peer killed in the middle of a collective can make gloo throw a
C++ exception on one of XLA's threads (``terminate called after throwing an
instance of 'gloo::...'``), which aborts the process just as uncatchably.
:func:`khipu.core.distributed.initialize` therefore routes the process's
standard error through this small filter process. Everything passes through
unchanged (the progress bar included) except the runtime's own
log records: a fatal record and whatever follows it become one line
``khipu: error: lost process 1 of 2: ...`` naming the missing peer, and the
error records that announce it are dropped with it. Non-fatal records are
passed on, half a second late.

Run as ``python -m khipu.core.stderr_filter PROCESS_INDEX NUM_PROCESSES``
with the process's standard error as its input and the real standard error as
its output.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import sys
import time

# An absl log record: severity, MMDD, time, thread id, file:line]
_RECORD = re.compile(rb"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [^ \]]+:\d+\] ")
# std::terminate's report of an uncaught C++ exception (gloo's, when a peer dies mid-collective)
_TERMINATE = b"terminate called after throwing an instance of"
_HOLD_SECONDS = 0.5
_PARTIAL_SECONDS = 0.2


def summarize_fatal(text: str, *, process_index: int, num_processes: int) -> str:
    """One line describing why the JAX runtime ended this process.

    Args:
      text: the runtime's fatal log record and what followed it.
      process_index: this process.
      num_processes: processes in the run.

    Returns:
      ``khipu: error: ...`` naming the missing peer where the record does.
    """
    me = f"process {process_index} of {num_processes}"
    match = re.search(r"stopped sending heartbeats\):\s*([\d,\s]+)", text)
    if match:
        peers = [int(p) for p in re.findall(r"\d+", match.group(1))]
        names = ", ".join(str(p) for p in peers)
        who = f"process {names}" if len(peers) == 1 else f"processes {names}"
        return (
            f"khipu: error: lost {who} of {num_processes} (no heartbeat: killed, crashed "
            f"or hung); {me} stops"
        )
    if "gloo::" in text:
        what = re.search(r"what\(\):\s*(?:\[[^\]]*\]\s*)?(.*)", text)
        detail = what.group(1).strip() if what else "an uncaught gloo exception"
        return "khipu: error: " + lost_in_collective(
            detail, process_index=process_index, num_processes=num_processes
        )
    if "Socket closed" in text or "Connection refused" in text or "UNAVAILABLE" in text:
        return (
            f"khipu: error: lost process 0 of {num_processes} (the coordinator stopped "
            f"answering); {me} stops"
        )
    first = next((line for line in text.splitlines() if line.strip()), "")
    detail = first.split("] ", 1)[-1].strip()[:300]
    return f"khipu: error: the JAX distributed runtime stopped {me}: {detail}"


def lost_in_collective(detail: str, *, process_index: int, num_processes: int) -> str:
    """Why this process stops when a collective's connection broke (without ``khipu: error:``).

    Args:
      detail: gloo's message, from a C++ exception or raised to Python
        (``UNKNOWN: Gloo all-reduce failed: [.../pair.cc:538] Read error ...``).
      process_index: this process.
      num_processes: processes in the run.
    """
    where = re.search(r"\[[^\]]*\.cc:\d+\]\s*(.*)", detail, re.DOTALL)
    what = " ".join((where.group(1) if where else detail).split())[:160]
    others = [i for i in range(num_processes) if i != process_index]
    who = f"process {others[0]}" if len(others) == 1 else "a peer process"
    return (
        f"lost {who} of {num_processes} (a collective's connection broke: killed or "
        f"crashed; gloo: {what}); process {process_index} of {num_processes} stops"
    )


class _Filter:
    def __init__(self, out: int, process_index: int, num_processes: int) -> None:
        self.out = out
        self.process_index = process_index
        self.num_processes = num_processes
        self.partial = b""
        self.partial_since = 0.0
        self.held: list[tuple[float, bytes]] = []
        self.fatal: bytes | None = None
        self.reported = False  # the process already printed its own one-line error

    def write(self, data: bytes) -> None:
        if data:
            os.write(self.out, data)

    def feed(self, chunk: bytes) -> None:
        """Handles one read: complete lines now, a trailing partial line later."""
        data = self.partial + chunk
        lines = re.split(rb"(?<=[\n\r])", data)
        self.partial = lines.pop() if lines and not lines[-1].endswith((b"\n", b"\r")) else b""
        self.partial_since = time.monotonic()
        in_record = False
        for line in lines:
            if not line:
                continue
            if self.fatal is not None:
                self.fatal += line
                continue
            if line.startswith(_TERMINATE):
                self.fatal = line
                self.held.clear()
                continue
            if _RECORD.match(line):
                in_record = line[:1] != b"I"
                if line[:1] == b"F":
                    self.fatal = line
                    self.held.clear()  # the errors that announced the fatal one
                    continue
                if in_record:
                    self.held.append((time.monotonic(), line))
                    continue
            elif in_record:  # the rest of a multi-line record, written in one piece
                self.held.append((time.monotonic(), line))
                continue
            self.flush_held(force=True)
            if line.startswith((b"khipu: error:", b"khipu: interrupted")):
                self.reported = True
            self.write(line)

    def flush_held(self, *, force: bool = False) -> None:
        now = time.monotonic()
        while self.held and (force or now - self.held[0][0] >= _HOLD_SECONDS):
            self.write(self.held.pop(0)[1])

    def tick(self) -> None:
        """Called when no input arrived for a while."""
        if self.fatal is None:
            self.flush_held()
            if self.partial and time.monotonic() - self.partial_since >= _PARTIAL_SECONDS:
                self.write(self.partial)
                self.partial = b""

    def close(self) -> None:
        if self.fatal is None:
            self.flush_held(force=True)
            self.write(self.partial)
        elif not self.reported:
            text = self.fatal.decode("utf-8", "replace")
            line = summarize_fatal(
                text, process_index=self.process_index, num_processes=self.num_processes
            )
            self.write((line + "\n").encode())


def run(source: int, out: int, process_index: int, num_processes: int) -> None:
    """Copies ``source`` to ``out`` until end of file, condensing the runtime's records."""
    flt = _Filter(out, process_index, num_processes)
    while True:
        ready, _, _ = select.select([source], [], [], 0.1)
        if not ready:
            flt.tick()
            continue
        chunk = os.read(source, 65536)
        if not chunk:
            break
        flt.feed(chunk)
    flt.close()


def main() -> None:
    """``python -m khipu.core.stderr_filter PROCESS_INDEX NUM_PROCESSES``."""
    process_index, num_processes = int(sys.argv[1]), int(sys.argv[2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: keep copying
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        run(sys.stdin.fileno(), sys.stdout.fileno(), process_index, num_processes)


if __name__ == "__main__":
    main()
