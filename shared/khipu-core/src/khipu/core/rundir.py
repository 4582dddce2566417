"""Run directories: ``config.json``, ``metrics.json``, figures and checkpoints of one run."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from khipu.core.errors import KhipuError, import_optional

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock
    fcntl = None  # type: ignore[assignment]

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.jsonl"
TENSORBOARD_DIR = "tensorboard"
MANIFEST_FILE = ".khipu-run.json"
LOCK_FILE = ".khipu-lock"
_OWN_FILES = frozenset({MANIFEST_FILE, LOCK_FILE})
_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_THIRD_PARTY = ("jax", "jaxlib", "optax", "dm-haiku", "numpy")
# Settings that never define a run: --resume may change them.
_OPERATIONAL = frozenset(
    {"out", "resume", "overwrite", "no_progress", "versions", "tensorboard", "download"}
)


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically (temporary file, fsync, rename).

    The file gets the permissions any new file of the user gets (``0o666``
    less the umask). Inside the active run folder the file is recorded in the
    run's manifest.

    Raises:
      KhipuError: the file could not be written (disk full, permissions...);
        the message names the file. An existing file at ``path`` is then
        left exactly as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise KhipuError(f"could not write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise KhipuError(f"could not write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if _ACTIVE is not None:
        _ACTIVE.record(path)


def package_versions(topic: str | None = None) -> dict[str, str]:
    """Versions of Python, the installed khipu distributions, the core JAX stack and
    every installed library that khipu-core and the practical declare (including its
    extras that are installed: jraph, gymnasium, gensim, networkx, tensorflow-datasets...).

    Args:
      topic: the practical whose dependencies are listed (``"gnn"``); ``None``: those of
        every installed khipu distribution.
    """
    versions = {"python": platform.python_version()}
    khipu: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name.startswith("khipu-"):
            khipu[name] = dist
            versions[name] = dist.version
        elif name in _THIRD_PARTY:
            versions[name] = dist.version
    wanted = {"khipu-core", f"khipu-{topic}"} if topic else set(khipu)
    for name in sorted(wanted & set(khipu)):
        for text in khipu[name].requires or []:
            match = _REQUIREMENT_NAME.match(text)
            if match is None:  # pragma: no cover - metadata written by hatchling
                continue
            dep = re.sub(r"[-_.]+", "-", match.group(0)).lower()
            if dep.startswith("khipu-") or dep in versions:
                continue
            try:
                versions[dep] = metadata.version(dep)
            except metadata.PackageNotFoundError:
                continue  # an extra that is not installed
    return dict(sorted(versions.items()))


# --- run folders ---------------------------------------------------------------


def _files(folder: Path) -> set[str]:
    """Every file below ``folder``, as POSIX paths relative to it."""
    if not folder.is_dir():
        return set()
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}


def read_manifest(folder: str | Path) -> set[str] | None:
    """The files a khipu run wrote into ``folder`` (``None``: not a khipu run)."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text())
        files = body["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return set(files)


def is_run_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds a run that khipu marked as its own."""
    return read_manifest(folder) is not None


class _Lock:
    """An advisory lock on a run folder (``flock``; released when the process dies)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self.created = not self.path.exists()
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise KhipuError(f"could not lock {folder}: {exc.strerror or exc}") from exc
        if fcntl is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(self.fd)
                raise KhipuError(
                    f"another khipu command is writing {folder}; wait for it or use another --out"
                ) from None

    def release(self, *, remove: bool) -> None:
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)


class _Run:
    """The run folder the current command writes (one per process at a time)."""

    def __init__(
        self,
        out: Path,
        write_dir: Path,
        lock: _Lock,
        *,
        staged: bool,
        fresh: bool,
        created: Path | None = None,
        private: bool = False,
    ) -> None:
        self.out = out
        self.private = private  # a process other than 0: a temporary folder, removed at the end
        self.write_dir = write_dir
        self.lock = lock
        self.staged = staged
        self.fresh = fresh
        self.created = created  # the outermost folder open_run created, if any
        self.files: set[str] = set(read_manifest(write_dir) or ())
        self.tensorboard: Any = None  # a tensorboardX SummaryWriter with --tensorboard

    def record(self, path: Path) -> None:
        try:
            rel = path.resolve().relative_to(self.write_dir.resolve()).as_posix()
        except ValueError:
            return
        if rel in _OWN_FILES or rel in self.files:
            return
        self.files.add(rel)
        self.write_manifest()

    def write_manifest(self) -> None:
        body = {"files": sorted(self.files), "khipu-core": _core_version()}
        data = (json.dumps(body, indent=2) + "\n").encode()
        target = self.write_dir / MANIFEST_FILE
        fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=self.write_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, target)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise KhipuError(f"could not write {target}: {exc.strerror or exc}") from exc

    def finish(self, ok: bool) -> None:
        """Records what the command wrote; on success swaps a staged run in, on
        failure discards it (the previous run stays exactly as it was)."""
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None
        if self.private:
            self.lock.release(remove=True)
            shutil.rmtree(self.write_dir, ignore_errors=True)
            return
        if self.staged:
            if ok:
                self._collect()
                old = self.out.with_name(f".{self.out.name}.khipu-old-{os.getpid()}")
                os.rename(self.out, old)
                os.rename(self.write_dir, self.out)
                self.lock.release(remove=False)
                shutil.rmtree(old, ignore_errors=True)
            else:
                shutil.rmtree(self.write_dir, ignore_errors=True)
                self.lock.release(remove=self.lock.created)
            return
        self._collect()
        produced = self.files - {CONFIG_FILE}
        if not ok and self.fresh and not produced:
            # a run that failed before producing anything leaves no trace
            for name in (CONFIG_FILE, MANIFEST_FILE):
                (self.write_dir / name).unlink(missing_ok=True)
            self.lock.release(remove=True)
            self._remove_created_folders()
            return
        self.lock.release(remove=self.lock.created)

    def _remove_created_folders(self) -> None:
        """Removes the folders ``open_run`` created for this run, if they are still empty."""
        if self.created is None:
            return
        folder = self.write_dir
        while True:
            if any(folder.iterdir()):
                return
            folder.rmdir()
            if folder == self.created:
                return
            folder = folder.parent

    def _collect(self) -> None:
        new = _files(self.write_dir) - _OWN_FILES
        new = {f for f in new if not Path(f).name.endswith(".tmp")}
        if not new <= self.files:
            self.files |= new
        self.write_manifest()


_ACTIVE: _Run | None = None
_PROCESS = (0, 1)  # (index, count) of a multi-process run; set by khipu.core.distributed


def set_process(index: int, count: int) -> None:
    """Records this process's place in a multi-process run: only process 0 writes the
    run folder (called by :func:`khipu.core.distributed.initialize`)."""
    global _PROCESS
    _PROCESS = (index, count)


def is_writer() -> bool:
    """Whether this process writes the run folder (process 0, or the only process)."""
    return _PROCESS[0] == 0


def shared_path(path: str | Path) -> Path:
    """Where ``path``, inside the folder :func:`open_run` returned, lives in the run
    folder that process 0 writes (the path itself on process 0 or in a one-process run).

    Processes other than 0 write into a private temporary folder; they read files of
    the real run (the checkpoint to ``--resume`` from) through this path.
    """
    run = _ACTIVE
    if run is None or not run.private:
        return Path(path)
    try:
        rel = Path(path).resolve().relative_to(run.write_dir.resolve())
    except ValueError:
        return Path(path)
    return run.out / rel


def _core_version() -> str:
    from khipu.core.__about__ import __version__

    return __version__


def _differences(saved: Mapping[str, Any], new: Mapping[str, Any], ignore: set[str]) -> list[str]:
    diffs = []
    for key in sorted((set(saved) | set(new)) - ignore):
        if saved.get(key) != new.get(key):
            diffs.append(f"{key} {saved.get(key)!r} (now {new.get(key)!r})")
    return diffs


def open_run(
    out: str | Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    config: Mapping[str, Any] | None = None,
    resume_may_differ: tuple[str, ...] = (),
    tensorboard: bool = False,
) -> Path:
    """Opens the run folder ``out`` for the current command and returns where to write.

    - A new run goes into a missing or empty ``out``, which is locked, marked
      as a khipu run (a manifest of the files written) and given ``config.json``.
    - ``resume`` continues a marked run whose defining settings (everything in
      ``config`` except ``out``, the flags and ``resume_may_differ``) equal the
      saved ones; anything else is refused in one line.
    - ``overwrite`` replaces a marked run that holds only files khipu wrote:
      the new run is written into a staging folder beside ``out`` (returned)
      and swapped in by :func:`finish_run` when the command succeeds; when it
      fails the previous run is left exactly as it was.
    - One command at a time: a second command on a locked ``out`` fails.
    - ``tensorboard``: :func:`log_epoch` also writes TensorBoard event files
      into ``out/tensorboard`` (needs ``pip install 'khipu-core[tensorboard]'``).
    - In a multi-process run only process 0 opens ``out``; every other process
      gets a private temporary folder, removed by :func:`finish_run`, so that it
      writes nothing into ``out`` (see :func:`shared_path`).

    ``config.json`` records ``config`` and :func:`package_versions` of the
    practical named by ``config["topic"]``.

    Call it only once every argument and input has been validated.

    Raises:
      KhipuError: any of the refusals above.
    """
    global _ACTIVE
    writer_class = None
    if tensorboard:  # checked before anything is written
        writer_class = import_optional(
            "tensorboardX", install="khipu-core[tensorboard]"
        ).SummaryWriter
    if _ACTIVE is not None:
        finish_run(ok=True)
    path = Path(out)
    if not is_writer():
        private = Path(tempfile.mkdtemp(prefix=f"khipu-process-{_PROCESS[0]}-"))
        _ACTIVE = _Run(path, private, _Lock(private), staged=False, fresh=True, private=True)
        return private
    if path.exists() and not path.is_dir():
        raise KhipuError(f"--out {path} is a file, not a folder")
    existed = path.is_dir()
    present = _files(path) - {LOCK_FILE}
    if resume:
        if not present or read_manifest(path) is None:
            raise KhipuError(f"--resume: {path} holds no khipu run to continue")
    elif present and not overwrite:
        raise KhipuError(
            f"output folder {path} is not empty; pass --overwrite to replace it "
            "or --resume to continue the run in it"
        )
    elif present:
        manifest = read_manifest(path)
        if manifest is None:
            raise KhipuError(
                f"refusing to replace {path}: it does not look like a khipu run folder "
                f"(no {MANIFEST_FILE})"
            )
        if foreign := sorted(present - manifest - _OWN_FILES):
            raise KhipuError(
                f"refusing to replace {path}: it holds files khipu did not write "
                f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''})"
            )
    created = None
    if not existed:
        created = path
        while not created.parent.exists():
            created = created.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KhipuError(f"could not create {path}: {exc.strerror or exc}") from exc
    lock = _Lock(path)
    try:
        topic = (config or {}).get("topic")
        versions = package_versions(topic if isinstance(topic, str) else None)
        body = {**_jsonable(dict(config or {})), "versions": versions}
        if resume:
            saved = read_json(path / CONFIG_FILE) if (path / CONFIG_FILE).is_file() else {}
            ignore = set(_OPERATIONAL) | set(resume_may_differ)
            if diffs := _differences(saved, body, ignore):
                raise KhipuError(
                    f"--resume: the run in {path} was made with other settings: "
                    f"{'; '.join(diffs[:4])}; use another --out or --overwrite"
                )
            _ACTIVE = _Run(path, path, lock, staged=False, fresh=False)
            _open_tensorboard(_ACTIVE, writer_class)
            if config is not None and _differences(saved, body, set(_OPERATIONAL)):
                write_json(path / CONFIG_FILE, body)  # recorded in the manifest as it is written
            return path
        if present:  # overwrite: write beside, swap on success
            staging = path.with_name(f".{path.name}.khipu-new-{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            run = _Run(path, staging, lock, staged=True, fresh=False)
        else:
            run = _Run(path, path, lock, staged=False, fresh=True, created=created)
        run.write_manifest()
        _ACTIVE = run
        _open_tensorboard(run, writer_class)
        if config is not None:
            write_json(run.write_dir / CONFIG_FILE, body)
        return run.write_dir
    except BaseException:
        if _ACTIVE is not None:
            finish_run(ok=False)
        else:
            lock.release(remove=lock.created)
        raise


def _open_tensorboard(run: _Run, writer_class: Any) -> None:
    if writer_class is not None:
        run.tensorboard = writer_class(logdir=str(run.write_dir / TENSORBOARD_DIR))


def active_run_dir() -> Path | None:
    """The folder the open run writes into (``None``: no run is open)."""
    return None if _ACTIVE is None else _ACTIVE.write_dir


def log_epoch(row: Mapping[str, float], *, step: int | None = None) -> None:
    """Appends one epoch's metrics to the open run's ``history.jsonl`` (one JSON
    object per line, flushed to disk before it returns, so that a killed run keeps
    every epoch it logged) and, with ``--tensorboard``, to its TensorBoard events.
    Does nothing when no run is open (``fit()`` from a notebook).

    Args:
      row: metric name -> value; ``"epoch"`` (if present) is the TensorBoard step.
      step: the TensorBoard step (default ``row["epoch"]``).
    """
    run = _ACTIVE
    if run is None:
        return
    clean = {str(k): _finite_or_none(v) for k, v in row.items()}
    path = run.write_dir / HISTORY_FILE
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(clean, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise KhipuError(f"could not write {path}: {exc.strerror or exc}") from exc
    run.record(path)
    if run.tensorboard is not None:
        at = step if step is not None else int(row.get("epoch", 0))
        for name, value in clean.items():
            if name != "epoch" and value is not None:
                run.tensorboard.add_scalar(name, value, at)
        run.tensorboard.flush()


def restart_history(rows: Sequence[Mapping[str, Any]]) -> None:
    """Rewrites the open run's ``history.jsonl`` to hold exactly ``rows`` (the epochs a
    resumed ``fit()`` restored from its checkpoint), dropping lines logged after it."""
    run = _ACTIVE
    if run is None:
        return
    lines = [
        json.dumps({str(k): _finite_or_none(v) for k, v in r.items()}, sort_keys=True) for r in rows
    ]
    atomic_write_bytes(
        run.write_dir / HISTORY_FILE, "".join(f"{line}\n" for line in lines).encode()
    )


def read_history(folder: str | Path) -> list[dict[str, Any]]:
    """The rows of ``folder/history.jsonl``; a torn last line (a killed write) is skipped."""
    path = Path(folder) / HISTORY_FILE
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _finite_or_none(value: Any) -> Any:
    if hasattr(value, "item") and getattr(value, "size", 1) == 1:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def finish_run(*, ok: bool) -> None:
    """Closes the run opened by :func:`open_run`: records the files it wrote,
    swaps in a staged ``--overwrite`` run (``ok``) or discards it (not ``ok``),
    and releases the folder's lock. The ``khipu`` command calls it after every
    command; it does nothing when no run is open."""
    global _ACTIVE
    run, _ACTIVE = _ACTIVE, None
    if run is not None:
        run.finish(ok)


def active_run_is_staged() -> bool:
    """Whether the open run replaces a previous one (``--overwrite``) on success."""
    return _ACTIVE is not None and _ACTIVE.staged


def prepare_run_dir(out: str | Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Opens ``out`` as a run folder without writing ``config.json``; see :func:`open_run`.

    Returns:
      The folder to write into (a staging folder beside ``out`` when replacing a run).

    Raises:
      KhipuError: the folder is not empty and neither flag allows reusing it,
        it is not a khipu run, or ``out`` is a file.
    """
    return open_run(out, overwrite=overwrite, resume=resume)


def write_json(path: str | Path, obj: Any) -> Path:
    """Writes ``obj`` as indented JSON, atomically."""
    path = Path(path)
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def write_config(out: str | Path, config: Mapping[str, Any]) -> Path:
    """Writes ``config.json``: every setting of the run plus package versions."""
    body = {**_jsonable(dict(config)), "versions": package_versions()}
    return write_json(Path(out) / CONFIG_FILE, body)


def write_metrics(out: str | Path, metrics: Mapping[str, Any]) -> Path:
    """Writes ``metrics.json``: a flat JSON object of the run's final metrics.

    Values must be numbers, strings or booleans (NumPy / JAX scalars are
    converted); non-finite floats are written as ``null``.

    Raises:
      KhipuError: a value is not a scalar.
    """
    flat: dict[str, Any] = {}
    for name, value in metrics.items():
        if hasattr(value, "item") and getattr(value, "size", 1) == 1:
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise KhipuError(f"metric {name!r} is not a scalar: {type(value).__name__}")
        flat[str(name)] = value
    return write_json(Path(out) / METRICS_FILE, flat)


def read_json(path: str | Path) -> Any:
    """Reads a JSON file, with a clear error when it is missing or malformed."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise KhipuError(f"{path} does not exist") from exc
    except json.JSONDecodeError as exc:
        raise KhipuError(f"{path} is not valid JSON: {exc}") from exc
