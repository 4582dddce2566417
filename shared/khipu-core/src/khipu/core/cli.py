# PYTHON_ARGCOMPLETE_OK  (shell completion: eval "$(register-python-argcomplete khipu)")
"""The ``khipu`` command.

Each installed practical registers its subcommands through the entry-point
group ``khipu.practicals``: the entry point ``cnn = "khipu.cnn.cli:register"``
names a function ``register(parser)`` that adds subcommands to the
``khipu cnn`` parser, each with ``set_defaults(func=...)``. ``func(args)``
returns an exit code. Register functions should import heavy modules (JAX,
Haiku...) inside the command functions so that ``khipu --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from khipu.core.__about__ import __version__
from khipu.core.errors import KhipuError
from khipu.core.rundir import active_run_is_staged, finish_run, open_run

ENTRY_POINT_GROUP = "khipu.practicals"
Command = Callable[[argparse.Namespace], int]
T = TypeVar("T", int, float)


def installed_practicals() -> dict[str, metadata.EntryPoint]:
    """The practicals registered in the ``khipu.practicals`` entry-point group, by topic."""
    eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
    return {ep.name: ep for ep in sorted(eps, key=lambda ep: ep.name)}


def _describe(ep: metadata.EntryPoint) -> tuple[str, str, str]:
    dist = ep.dist
    if dist is None:
        return ep.name, "?", ""
    return dist.metadata["Name"], dist.version, (dist.metadata.get_all("Summary") or [""])[0]


class ArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (``prog: error: ...``), exit 2,
    pointing to the help of the (sub)command that was given (``khipu gnn train --help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --- argument types: bad values fail with one readable line -----------------


MAX_INT = 2**31 - 1  # counts and sizes beyond int32 are never meant on one machine
MAX_SEED = 2**32 - 1


def positive_int(text: str) -> int:
    """argparse type: an integer in [1, 2**31 - 1]."""
    value = _parse(int, text, "an integer")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return _at_most(value, MAX_INT)


def non_negative_int(text: str) -> int:
    """argparse type: an integer in [0, 2**31 - 1]."""
    value = _parse(int, text, "an integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return _at_most(value, MAX_INT)


def seed_int(text: str) -> int:
    """argparse type: a seed in [0, 2**32 - 1]."""
    value = _parse(int, text, "an integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return _at_most(value, MAX_SEED)


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """argparse type: an integer in ``[low, high]`` (a limit that bounds the work)."""

    def parse(text: str) -> int:
        value = _parse(int, text, "an integer")
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {text}")
        return _at_most(value, high)

    parse.__name__ = f"integer in [{low}, {high}]"
    return parse


def _at_most(value: int, high: int) -> int:
    if value > high:
        raise argparse.ArgumentTypeError(f"must be at most {high}, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    value = _parse(float, text, "a number")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite float >= 0."""
    value = _parse(float, text, "a number")
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text}")
    return value


def fraction(text: str) -> float:
    """argparse type: a float in [0, 1]."""
    value = _parse(float, text, "a number")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def existing_file(text: str) -> Path:
    """argparse type: a path to an existing file."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"file {text} does not exist")
    return path


def existing_dir(text: str) -> Path:
    """argparse type: a path to an existing folder."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"folder {text} does not exist")
    return path


def _parse(kind: Callable[[str], T], text: str, what: str) -> T:
    if len(text) > 100:
        raise argparse.ArgumentTypeError(f"expected {what}, got a {len(text)}-character value")
    try:
        return kind(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def add_run_arguments(
    parser: argparse.ArgumentParser,
    *,
    seed: int = 0,
    resume: bool = True,
    distributed: bool = False,
) -> None:
    """Adds the options every run command shares: ``--out``, ``--seed``,
    ``--overwrite``, ``--no-progress``, for commands that can continue an
    interrupted run (``resume=True``) ``--resume``, and for commands that train
    through ``fit()`` (``distributed=True``) the multi-process options of
    :func:`add_distributed_arguments`."""
    parser.add_argument("--out", type=Path, required=True, help="run folder to write")
    parser.add_argument("--seed", type=seed_int, default=seed, help=f"seed (default {seed})")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    if resume:
        group.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard event files into OUT/tensorboard "
        "(pip install 'khipu-core[tensorboard]')",
    )
    if distributed:
        add_distributed_arguments(parser)


DISTRIBUTED_OPTIONS = ("coordinator", "num_processes", "process_id")


def add_distributed_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds ``--coordinator``, ``--num-processes`` and ``--process-id``: a command
    that has them joins a multi-process run before it starts (see
    :func:`khipu.core.distributed.initialize`; ``khipu launch`` and cluster
    managers such as SLURM set them through the environment instead). They never
    define a run: ``--resume`` may continue with another number of processes."""
    group = parser.add_argument_group(
        "multi-process training",
        "one process per host; process 0 writes the run folder (see khipu launch --help)",
    )
    group.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="address of process 0 (default $KHIPU_COORDINATOR or the cluster manager's)",
    )
    group.add_argument(
        "--num-processes",
        type=bounded_int(1, 65_536),
        default=None,
        help="processes in the run (default $KHIPU_NUM_PROCESSES, SLURM's, or 1)",
    )
    group.add_argument(
        "--process-id",
        type=bounded_int(0, 65_535),
        default=None,
        help="this process, 0 .. N-1 (default $KHIPU_PROCESS_ID or the cluster manager's)",
    )


def start_run(
    args: argparse.Namespace, *, resume_may_differ: tuple[str, ...] = (), **extra: Any
) -> Path:
    """Opens ``args.out`` as this command's run folder; returns the folder to write into.

    Call it once every argument, file and dataset has been validated. It writes
    ``config.json`` with every argument (+ ``extra``: the values a command resolved
    from a ``None`` default belong there), marks the folder as a
    khipu run and locks it (see :func:`khipu.core.rundir.open_run`). With
    ``--overwrite`` the returned folder is a staging folder that replaces the
    previous run only when the command succeeds; with ``--resume`` the saved
    settings must equal these, except ``resume_may_differ`` (e.g. ``("epochs",)``).
    ``config.json`` holds no ``null``: an option left unset (``None``) that the
    command did not resolve through ``extra`` does not apply to this run (a data
    folder for the built-in data) and is left out (a run saved with it as ``null``
    still resumes).
    """
    resume = bool(getattr(args, "resume", False))
    skip = ("func", *DISTRIBUTED_OPTIONS)
    config = {k: v for k, v in vars(args).items() if k not in skip and v is not None}
    extra = {k: v for k, v in extra.items() if v is not None}
    return open_run(
        args.out,
        overwrite=bool(getattr(args, "overwrite", False)),
        resume=resume,
        config={**config, **extra},
        resume_may_differ=resume_may_differ,
        tensorboard=bool(getattr(args, "tensorboard", False)),
    )


# --- the command ---------------------------------------------------------------


def _cmd_list(args: argparse.Namespace) -> int:
    del args
    practicals = installed_practicals()
    if not practicals:
        print("no practicals installed (pip install khipu-cnn, khipu-rl, ...)")
    for topic, ep in practicals.items():
        name, version, summary = _describe(ep)
        print(f"{topic:<12} {f'{name} {version}':<24} {summary}")
    return 0


def versions_text() -> str:
    """``khipu --version``: khipu-core's version and every installed practical's."""
    lines = [f"khipu-core {__version__}"]
    for topic, ep in installed_practicals().items():
        name, version, _ = _describe(ep)
        lines.append(f"{name} {version} (khipu {topic})")
    return "\n".join(lines)


class _VersionsAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show the versions of khipu-core and every installed practical")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(versions_text())
        parser.exit(0)


def _mark_usage_parsers(parser: argparse.ArgumentParser) -> None:
    """Every (sub)parser records itself as ``_usage_parser``: the innermost one given wins,
    so that an unknown option is reported with that subcommand's help."""
    parser.set_defaults(_usage_parser=parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                _mark_usage_parsers(sub)


def _add_download_options(parser: argparse.ArgumentParser) -> None:
    """Every command that reads tensorflow-datasets (it has ``--data-dir``) gets
    ``--download``: offline stays the default."""
    options = {s for action in parser._actions for s in action.option_strings}
    if "--data-dir" in options and "--download" not in options:
        parser.add_argument(
            "--download",
            action="store_true",
            help="let tensorflow-datasets download a missing dataset (MNIST, CIFAR-10, "
            "MovieLens-100k, tiny_shakespeare...) into --data-dir; needs internet",
        )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                _add_download_options(sub)


def _autocomplete(parser: argparse.ArgumentParser) -> None:
    """Shell completion through argcomplete (a no-op unless the shell asks for it)."""
    try:
        import argcomplete
    except ImportError:  # pragma: no cover - argcomplete is a dependency of khipu-core
        return
    argcomplete.autocomplete(parser)


def _add_launch(topics: Any) -> None:
    launch = topics.add_parser(
        "launch",
        help="run a command as N processes of one multi-process run on this machine",
        description="Starts N copies of COMMAND that join one JAX multi-process run over "
        "loopback (KHIPU_COORDINATOR=127.0.0.1:<free port>, KHIPU_NUM_PROCESSES, "
        "KHIPU_PROCESS_ID), prefixes each line they print with [i] and exits with the first "
        "non-zero exit code. Example: khipu launch -n 2 --devices-per-process 2 -- khipu cnn "
        "train --out runs/cnn2",
    )
    launch.add_argument(
        "-n", "--num-processes", type=bounded_int(1, 64), required=True, help="processes"
    )
    launch.add_argument(
        "--devices-per-process",
        type=bounded_int(1, 1024),
        default=None,
        help="simulated CPU devices per process (XLA_FLAGS; selects the CPU platform)",
    )
    launch.add_argument(
        "--port", type=bounded_int(1, 65_535), default=None, help="loopback port (default: free)"
    )
    launch.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run")
    launch.set_defaults(func=_cmd_launch)


def _cmd_launch(args: argparse.Namespace) -> int:
    from khipu.core.launch import launch

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    return launch(
        command,
        num_processes=args.num_processes,
        devices_per_process=args.devices_per_process,
        port=args.port,
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``khipu`` parser with every installed practical's subcommands."""
    parser = ArgumentParser(
        prog="khipu", description="The Khipu deep-learning practicals, as commands."
    )
    parser.add_argument("--version", action=_VersionsAction)
    topics = parser.add_subparsers(title="practicals", metavar="<topic>", dest="topic")
    listing = topics.add_parser("list", help="list the installed practicals and their versions")
    listing.set_defaults(func=_cmd_list)
    _add_launch(topics)
    for topic, ep in installed_practicals().items():
        name, version, summary = _describe(ep)
        sub = topics.add_parser(topic, help=f"{summary} ({name} {version})", description=summary)
        try:
            register = ep.load()
        except Exception as exc:  # a broken practical must not break the others
            print(f"khipu: warning: could not load {name}: {exc}", file=sys.stderr)
            continue
        register(sub)
        sub.set_defaults(_topic_parser=sub)
    _add_download_options(parser)
    _mark_usage_parsers(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``khipu`` command; returns the exit code."""
    parser = build_parser()
    _autocomplete(parser)
    args, unknown = parser.parse_known_args(argv)
    usage_parser: argparse.ArgumentParser = getattr(args, "_usage_parser", parser)
    if unknown:
        usage_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    del args._usage_parser
    func: Command | None = getattr(args, "func", None)
    if func is None:
        topic_parser: argparse.ArgumentParser = getattr(args, "_topic_parser", parser)
        topic_parser.print_help()
        return 0 if args.topic is None else 2
    if hasattr(args, "_topic_parser"):
        del args._topic_parser
    downloads = bool(getattr(args, "download", False))
    if downloads:  # --download: tensorflow-datasets may fetch a missing dataset
        from khipu.core.data import allow_downloads

        allow_downloads(True)
    code = 1
    try:
        code = _run_command(_joining_run(func) if hasattr(args, "coordinator") else func, args)
    finally:
        if downloads:
            allow_downloads(False)
        try:
            finish_run(ok=code == 0)
        except (OSError, KhipuError) as exc:
            print(f"khipu: error: could not finish the run folder: {exc}", file=sys.stderr)
            code = 1
    return _leave_run(code)


# --- multi-process runs (khipu.core.distributed, imported only when one is joined) -----

_LAST_ERROR: list[str] = []


def _joining_run(func: Command) -> Command:
    """``func`` preceded by joining the multi-process run its options describe."""

    def run(args: argparse.Namespace) -> int:
        from khipu.core.distributed import initialize_from_args

        initialize_from_args(args)
        return func(args)

    return run


def _distributed() -> Any:
    """:mod:`khipu.core.distributed` if this process joined a multi-process run, else ``None``."""
    module = sys.modules.get("khipu.core.distributed")
    return module if module is not None and module.is_distributed() else None


def _leave_run(code: int) -> int:
    """Leaves a multi-process run (exit barrier, shutdown); returns the exit code."""
    dist = _distributed()
    if dist is None:
        return code
    message = _LAST_ERROR[-1] if _LAST_ERROR else ("interrupted" if code == 130 else None)
    result: int = dist.finish(code, message)
    return result


def _run_command(func: Command, args: argparse.Namespace) -> int:
    try:
        return func(args)
    except KhipuError as exc:
        _LAST_ERROR.append(_one_line(str(exc)))
        print(f"khipu: error: {_LAST_ERROR[-1]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        dist = _distributed()
        if dist is not None and dist.failure() is not None:  # stopped by a peer's failure
            print(f"khipu: error: {dist.failure()}", file=sys.stderr)
            return 1
        out = getattr(args, "out", None)
        if out is not None and active_run_is_staged():
            hint = f"; the previous run in {out} is unchanged"
        elif out is not None and hasattr(args, "resume"):
            hint = f"; continue with --resume --out {out}"
        else:
            hint = ""
        print(f"khipu: interrupted{hint}", file=sys.stderr)
        return 130
    except MemoryError:
        print("khipu: error: out of memory; try smaller settings", file=sys.stderr)
        return 1
    except UnicodeDecodeError as exc:  # a reader that skipped khipu.core.read_text
        print(
            f"khipu: error: an input is not UTF-8 text: byte offset {exc.start} "
            f"({_one_line(exc.reason)})",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"khipu: error: {_one_line(exc.strerror or str(exc))}{where}", file=sys.stderr)
        return 1
    except Exception as exc:
        dist = _distributed()
        if dist is None:
            raise
        if dist.is_lost_peer(str(exc)):  # a collective broke: a peer was killed or crashed
            _LAST_ERROR.append(dist.lost_peer(str(exc)))
        else:  # this process failed: finish() tells the others, which stop with one line
            _LAST_ERROR.append(f"{type(exc).__name__}: {_one_line(str(exc), 300)}")
        print(f"khipu: error: {_LAST_ERROR[-1]}", file=sys.stderr)
        return 1


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


if __name__ == "__main__":
    raise SystemExit(main())
