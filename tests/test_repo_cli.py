"""The ``khipu`` command shows exactly the installed practicals, and every command has help."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata

import pytest
from khipu.core import cli


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps subparsers here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_help_lists_exactly_the_installed_practicals() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "khipu.core.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {ep.name for ep in metadata.entry_points(group=cli.ENTRY_POINT_GROUP)}
    listed = set(_subcommands(cli.build_parser())) - {"list", "launch"}
    assert listed == installed
    for topic in installed:
        assert f"    {topic} " in out or f"    {topic}\n" in out


def test_list_shows_versions(practical) -> None:  # type: ignore[no-untyped-def]
    out = subprocess.run(
        [sys.executable, "-m", "khipu.core.cli", "list"], capture_output=True, text=True, check=True
    ).stdout
    line = next(line for line in out.splitlines() if line.split()[0] == practical.topic)
    assert practical.dist in line
    assert practical.version in line


def test_every_command_has_help(practical, capsys) -> None:  # type: ignore[no-untyped-def]
    topics = _subcommands(cli.build_parser())
    assert practical.topic in topics, f"{practical.dist} is not registered"
    commands = _subcommands(topics[practical.topic])
    assert commands, f"khipu {practical.topic} has no commands"
    for command in commands:
        with pytest.raises(SystemExit) as exc:
            cli.main([practical.topic, command, "--help"])
        assert exc.value.code == 0
        assert "usage: khipu" in capsys.readouterr().out


def test_run_commands_take_out(practical) -> None:  # type: ignore[no-untyped-def]
    topics = _subcommands(cli.build_parser())
    commands = _subcommands(topics[practical.topic])
    with_out = [
        name for name, p in commands.items() if any("--out" in a.option_strings for a in p._actions)
    ]
    assert with_out, f"no khipu {practical.topic} command takes --out"


# The practicals whose `train` runs through khipu-core's fit() (rl and bias do not).
TRAINS_THROUGH_FIT = {"cnn", "transformer", "gnn", "diffusion"}


@pytest.mark.parametrize("topic", sorted(TRAINS_THROUGH_FIT))
def test_every_fit_train_command_takes_the_multi_process_options(topic: str) -> None:
    topics = _subcommands(cli.build_parser())
    if topic not in topics:
        pytest.skip(f"khipu-{topic} is not installed")
    train = _subcommands(topics[topic])["train"]
    options = {o for a in train._actions for o in a.option_strings}
    assert {"--coordinator", "--num-processes", "--process-id"} <= options, topic
