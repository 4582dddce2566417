"""MkDocs hook that generates every page of the site from what the repository holds.

- ``index.md``: the root README;
- ``packages/<topic>.md``: the package's README, then its API reference: one
  mkdocstrings block per submodule that ``__init__.pyi`` re-exports from or a notebook
  uses (griffe reads the docstrings; nothing is executed);
- ``notebooks/*.ipynb``: the notebooks, rendered by mkdocs-jupyter without running them;
- ``cli.md``: the ``khipu`` command's help, generated from its argparse parsers.

Relative links of the READMEs are rewritten: to a package's page, a notebook's page, or
else the file on GitHub, so that ``--strict`` only fails on links that are really broken.
Images a README shows (``![...](benchmarks/figure.png)``) are copied into the site at
their repository path, so that the page shows them as GitHub does.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
REPO = "https://github.com/khipu-ai/khipu"
LINK = re.compile(r"(!?\[[^\]]*\])\(([^)\s]+)\)")
IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp")


def _packages() -> dict[str, Path]:
    """topic -> package folder."""
    found = {"core": ROOT / "shared" / "khipu-core"}
    for folder in sorted((ROOT / "packages").glob("khipu-*")):
        if (folder / "pyproject.toml").is_file():
            found[folder.name.removeprefix("khipu-")] = folder
    return found


def _relative(target: str, page: str) -> str:
    """``target`` (a path from the site root) relative to the page ``page``."""
    depth = page.count("/")
    return "../" * depth + target


def rewrite_links(
    markdown: str, source_dir: Path, page: str, images: set[str] | None = None
) -> str:
    """Rewrites the relative links of a README read from ``source_dir`` for ``page``.

    An image shown from the repository is linked at its repository path in the site
    and that path is added to ``images`` (the files :func:`on_files` copies).
    """
    packages = {folder.resolve(): topic for topic, folder in _packages().items()}

    def replace(match: re.Match[str]) -> str:
        label, target = match.groups()
        if re.match(r"[a-z]+:|#", target):
            return match.group(0)
        path_part, _, anchor = target.partition("#")
        path = (source_dir / path_part).resolve()
        shown = label.startswith("!") and path.suffix.lower() in IMAGE_SUFFIXES
        if shown and path.is_file() and path.is_relative_to(ROOT) and images is not None:
            rel = path.relative_to(ROOT).as_posix()
            images.add(rel)
            return f"{label}({_relative(rel, page)})"
        if path in packages:
            new = _relative(f"packages/{packages[path]}.md", page)
        elif path.suffix == ".ipynb" and path.parent == (ROOT / "notebooks").resolve():
            new = _relative(f"notebooks/{path.name}", page)
        else:
            try:
                rel = path.relative_to(ROOT).as_posix()
            except ValueError:
                return match.group(0)
            kind = "tree" if path.is_dir() else "blob"
            new = f"{REPO}/{kind}/main/{rel}"
        return f"{label}({new}{'#' + anchor if anchor else ''})"

    return LINK.sub(replace, markdown)


def api_modules(topic: str, folder: Path) -> list[str]:
    """The submodules documented for a package: those its stub re-exports from, the
    exercises and those the notebooks import."""
    src = folder / "src" / "khipu" / topic
    stub = src / "__init__.pyi"
    names: list[str] = []
    if stub.is_file():
        for node in ast.parse(stub.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    names.append(node.module)
                else:
                    names += [a.name for a in node.names]
    text = " ".join(p.read_text() for p in (ROOT / "notebooks").glob("*.py"))
    names += re.findall(rf"khipu\.{topic}\.([a-z_]+)", text)
    for imported in re.findall(rf"from khipu\.{topic} import ([\w ,]+)", text):
        names += [n.split(" as ")[0].strip() for n in imported.split(",")]
    modules = [n for n in dict.fromkeys(names) if (src / f"{n}.py").is_file()]
    return [m for m in modules if not m.startswith("_")]


def package_page(topic: str, folder: Path, images: set[str] | None = None) -> str:
    page = f"packages/{topic}.md"
    readme = rewrite_links((folder / "README.md").read_text(), folder, page, images)
    blocks = [f"::: khipu.{topic}.{module}" for module in api_modules(topic, folder)]
    return (
        f"{readme.rstrip()}\n\n## API reference\n\n"
        f"Everything below is importable from `khipu.{topic}` (the names its `__all__` "
        f"lists) or from the submodule shown.\n\n" + "\n\n".join(blocks) + "\n"
    )


def _parsers(
    parser: argparse.ArgumentParser,
) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for sub in action.choices.values():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    found += _parsers(sub)
    return found


def cli_page() -> str:
    """Every ``khipu`` (sub)command's ``--help``, from the parsers of what is installed."""
    from khipu.core.cli import build_parser

    os.environ["COLUMNS"] = "100"  # the same wrapping on every machine
    lines = [
        "# The `khipu` command",
        "",
        "Generated from the argparse parsers of the installed practicals. Shell completion:",
        '`eval "$(register-python-argcomplete khipu)"` (bash/zsh, through argcomplete).',
        "",
    ]
    for parser in _parsers(build_parser()):
        lines += [f"## `{parser.prog}`", "", "```text", parser.format_help().rstrip(), "```", ""]
    return "\n".join(lines)


@event_priority(100)  # before mkdocs-jupyter, which turns the .ipynb files into pages
def on_files(files: Files, config: MkDocsConfig, **kwargs: Any) -> Files:
    images: set[str] = set()
    home = rewrite_links((ROOT / "README.md").read_text(), ROOT, "index.md", images)
    files.append(File.generated(config, "index.md", content=home))
    for topic, folder in _packages().items():
        page = package_page(topic, folder, images)
        files.append(File.generated(config, f"packages/{topic}.md", content=page))
    for rel in sorted(images):
        files.append(
            File(
                rel,
                src_dir=str(ROOT),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        files.append(
            File(
                f"notebooks/{notebook.name}",
                src_dir=str(ROOT),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    files.append(File.generated(config, "cli.md", content=cli_page()))
    return files
