import argparse
import json
import subprocess
import sys
from importlib import metadata

import pytest
from khipu.core import cli
from khipu.core.errors import KhipuError
from khipu.core.rundir import write_json


class FakeEntryPoint:
    """Stands in for an installed practical's entry point."""

    name = "demo"
    dist = None

    def load(self):  # type: ignore[no-untyped-def]
        def run(args: argparse.Namespace) -> int:
            if args.epochs > 5:
                raise KhipuError("too many epochs for the demo")
            print(f"ran with {args.epochs}")
            return 0

        def register(parser: argparse.ArgumentParser) -> None:
            sub = parser.add_subparsers(dest="command", metavar="<command>")
            go = sub.add_parser("go", help="run the demo")
            go.add_argument("--epochs", type=cli.positive_int, default=1)
            go.set_defaults(func=run)

        return register


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "installed_practicals", lambda: {"demo": FakeEntryPoint()})


def test_registered_practical_runs(demo, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["demo", "go", "--epochs", "3"]) == 0
    assert "ran with 3" in capsys.readouterr().out


def test_khipu_error_is_one_line_and_non_zero(demo, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["demo", "go", "--epochs", "9"]) == 1
    err = capsys.readouterr().err
    assert err == "khipu: error: too many epochs for the demo\n"


def test_bad_argument_value_is_one_line(demo, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        cli.main(["demo", "go", "--epochs", "-2"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "must be a positive integer, got -2" in err[0]


def test_topic_without_command_prints_its_help(demo, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["demo"]) == 2
    assert "go" in capsys.readouterr().out


def test_help_lists_installed_practicals(demo, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "demo" in out and "list" in out


def test_argument_types() -> None:
    assert cli.positive_float("0.5") == 0.5
    assert cli.fraction("1") == 1.0
    for fn, bad in [
        (cli.positive_int, "x"),
        (cli.positive_int, "0"),
        (cli.non_negative_int, "-1"),
        (cli.positive_float, "0"),
        (cli.positive_float, "inf"),
        (cli.fraction, "1.5"),
        (cli.existing_file, "/no/such/file"),
        (cli.existing_dir, "/no/such/dir"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError):
            fn(bad)


def test_list_reports_real_installed_entry_points(capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for ep in metadata.entry_points(group=cli.ENTRY_POINT_GROUP):
        assert ep.name in out
        assert ep.dist is not None and ep.dist.version in out


def test_khipu_command_is_installed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "khipu.core.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("khipu-core ")


def test_start_run_writes_config_with_every_argument(tmp_path) -> None:  # type: ignore[no-untyped-def]
    parser = cli.ArgumentParser(prog="khipu demo go")
    cli.add_run_arguments(parser, seed=5)
    parser.add_argument("--epochs", type=cli.positive_int, default=2)
    args = parser.parse_args(["--out", str(tmp_path / "run")])
    out = cli.start_run(args, dataset="digits")
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 5
    assert config["epochs"] == 2
    assert config["dataset"] == "digits"
    assert config["out"] == str(tmp_path / "run")
    assert "khipu-core" in config["versions"]
    (out / "metrics.json").write_text("{}")
    again = parser.parse_args(["--out", str(out)])
    with pytest.raises(KhipuError, match="--overwrite"):
        cli.start_run(again)


def test_config_json_holds_no_null(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 17: an unset option is resolved through ``extra`` or left out, never null."""
    from khipu.core.rundir import finish_run

    parser = cli.ArgumentParser(prog="khipu demo go")
    cli.add_run_arguments(parser)
    parser.add_argument("--epochs", type=cli.positive_int, default=2)
    parser.add_argument("--learning-rate", type=float, default=None)  # resolved below
    parser.add_argument("--data-dir", default=None)  # does not apply to the built-in data
    args = parser.parse_args(["--out", str(tmp_path / "run")])
    out = cli.start_run(args, learning_rate=0.01, unknown=None)
    finish_run(ok=True)
    config = json.loads((out / "config.json").read_text())
    assert config["learning_rate"] == 0.01 and config["epochs"] == 2
    assert "data_dir" not in config and "unknown" not in config
    assert None not in config.values()
    # a run saved before, with the unset option as null, still resumes
    (out / "config.json").write_text(json.dumps({**config, "data_dir": None}))
    again = parser.parse_args(["--out", str(out), "--resume"])
    assert cli.start_run(again, learning_rate=0.01) == out
    finish_run(ok=True)


def test_commands_that_cannot_resume_do_not_offer_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    parser = cli.ArgumentParser(prog="khipu demo analyse")
    cli.add_run_arguments(parser, resume=False)
    with pytest.raises(SystemExit):
        parser.parse_args(["--out", str(tmp_path), "--resume"])
    args = parser.parse_args(["--out", str(tmp_path / "run")])
    assert (cli.start_run(args) / "config.json").is_file()


# --- the run-folder contract through the `khipu` command ------------------------------


class _FakeEntryPoint:
    name = "demo"
    dist = None

    @staticmethod
    def load():  # type: ignore[no-untyped-def]
        def register(parser: argparse.ArgumentParser) -> None:
            sub = parser.add_subparsers()
            go = sub.add_parser("go")
            cli.add_run_arguments(go)
            go.add_argument("--fail", choices=["no", "error", "interrupt"], default="no")
            go.add_argument("--value", default="new")

            def run(args: argparse.Namespace) -> int:
                out = cli.start_run(args)
                write_json(out / "metrics.json", {"value": args.value})
                if args.fail == "error":
                    raise KhipuError("diverged")
                if args.fail == "interrupt":
                    raise KeyboardInterrupt
                return 0

            go.set_defaults(func=run)

        return register


@pytest.fixture
def runner(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cli, "installed_practicals", lambda: {"demo": _FakeEntryPoint()})


def test_overwrite_through_the_command_keeps_the_old_run_until_success(
    runner, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    assert cli.main(["demo", "go", "--out", str(out), "--value", "old"]) == 0
    old = (out / "metrics.json").read_text()
    assert cli.main(["demo", "go", "--out", str(out), "--overwrite", "--fail", "error"]) == 1
    assert (out / "metrics.json").read_text() == old
    assert cli.main(["demo", "go", "--out", str(out), "--overwrite", "--fail", "interrupt"]) == 130
    assert f"the previous run in {out} is unchanged" in capsys.readouterr().err
    assert (out / "metrics.json").read_text() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert cli.main(["demo", "go", "--out", str(out), "--overwrite", "--value", "v2"]) == 0
    assert json.loads((out / "metrics.json").read_text()) == {"value": "v2"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_interrupt_of_a_resumable_run_suggests_resume(runner, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    assert cli.main(["demo", "go", "--out", str(out), "--fail", "interrupt"]) == 130
    assert f"continue with --resume --out {out}" in capsys.readouterr().err
    assert cli.main(["demo", "go", "--out", str(out), "--resume", "--seed", "3"]) == 1
    assert "--resume: the run in" in capsys.readouterr().err
    assert cli.main(["demo", "go", "--out", str(out), "--resume", "--fail", "interrupt"]) == 130


@pytest.mark.parametrize("text", ["-1", "nan", "inf", "x", "1" * 200])
def test_non_negative_float_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cli.non_negative_float(text)
    assert cli.non_negative_float("0") == 0.0 and cli.non_negative_float("2.5") == 2.5
