"""``khipu diffusion ...``."""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    """Adds the subcommands."""
    parser.add_subparsers(title="commands", metavar="<command>")
