"""The documentation site's generated pages (docs/hooks.py): every package gets its README
and an API reference covering every submodule its public API comes from, README links
point to pages or to the repository, and the CLI reference covers every subcommand.
(`hatch run test:all` builds the whole site with --strict.)"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def hooks() -> ModuleType:
    pytest.importorskip("mkdocs")
    spec = importlib.util.spec_from_file_location("khipu_docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules.setdefault("khipu_docs_hooks", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)
    return module


def test_every_package_has_a_page_with_its_api(hooks: ModuleType, package) -> None:  # type: ignore[no-untyped-def]
    page = hooks.package_page(package.topic, package.path)
    assert page.startswith((package.path / "README.md").read_text().splitlines()[0])
    documented = {
        line.removeprefix(f"::: {package.module}.")
        for line in page.splitlines()
        if line.startswith(":::")
    }
    # every submodule the public API (the lazy stub) re-exports from is documented
    stub = ast.parse((package.src / "__init__.pyi").read_text())
    sources = {
        node.module
        for node in stub.body
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
    } - {"__about__"}
    assert sources <= documented, sources - documented
    assert all((package.src / f"{m}.py").is_file() for m in documented)


def test_readme_links_become_pages_or_repository_urls(hooks: ModuleType) -> None:
    text = (
        "[core](shared/khipu-core) [nb](notebooks/01_cnn.ipynb) [hatch](hatch.toml) "
        "[web](https://example.org) [anchor](#ci) [folder](tests)"
    )
    out = hooks.rewrite_links(text, ROOT, "index.md")
    assert "[core](packages/core.md)" in out
    assert "[nb](notebooks/01_cnn.ipynb)" in out
    assert f"[hatch]({hooks.REPO}/blob/main/hatch.toml)" in out
    assert f"[folder]({hooks.REPO}/tree/main/tests)" in out
    assert "[web](https://example.org)" in out and "[anchor](#ci)" in out
    # from a package page one level down
    cnn = ROOT / "packages" / "khipu-cnn"
    out = hooks.rewrite_links("[nb](../../notebooks/01_cnn.ipynb)", cnn, "packages/cnn.md")
    assert out == "[nb](../notebooks/01_cnn.ipynb)"


def test_the_cli_reference_has_every_subcommand(hooks: ModuleType) -> None:
    from khipu.core.cli import build_parser

    page = hooks.cli_page()
    progs = []

    def walk(parser: argparse.ArgumentParser) -> None:
        progs.append(parser.prog)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(build_parser())
    for prog in progs:
        assert f"## `{prog}`" in page, prog
        assert f"usage: {prog}" in page, prog


def test_readme_images_are_copied_into_the_site(hooks: ModuleType) -> None:
    """A README's figure shows on its page (a GitHub "blob" page is not an image)."""
    cnn = ROOT / "packages" / "khipu-cnn"
    images: set[str] = set()
    page = hooks.package_page("cnn", cnn, images)
    rel = "packages/khipu-cnn/benchmarks/khipu-cnn_scaling.png"
    assert rel in images and (ROOT / rel).is_file()
    assert f"](../{rel})" in page  # from packages/cnn.md, one level down
    # a link to the same figure (not shown) still goes to the repository
    out = hooks.rewrite_links("[fig](benchmarks/khipu-cnn_scaling.png)", cnn, "x.md", images)
    assert out == f"[fig]({hooks.REPO}/blob/main/{rel})"
