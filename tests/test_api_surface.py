"""The public API a notebook author relies on is declared: every submodule of a practical
that a notebook uses has a static ``__all__``, and every name the notebook takes from it
is listed there (tests/release.py guards exactly these names against breaking changes)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _is_submodule(module: str) -> bool:
    parts = module.split(".")
    if len(parts) != 3 or parts[0] != "khipu":
        return False
    folder = ROOT / ("shared/khipu-core" if parts[1] == "core" else f"packages/khipu-{parts[1]}")
    return (folder / "src" / "khipu" / parts[1] / f"{parts[2]}.py").is_file()


def submodule_uses(source: str) -> dict[str, set[str]]:
    """``khipu.<topic>.<sub>`` -> the names the code takes from it."""
    tree = ast.parse(source)
    uses: dict[str, set[str]] = {}
    modules: dict[str, str] = {}  # local name -> khipu.<topic>.<sub>
    packages: dict[str, str] = {}  # local name -> khipu.<topic>
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_submodule(alias.name) and alias.asname:
                    modules[alias.asname] = alias.name
                    uses.setdefault(alias.name, set())
                elif alias.name.count(".") == 1 and alias.name.startswith("khipu."):
                    packages[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if _is_submodule(node.module):
                    uses.setdefault(node.module, set()).add(alias.name)
                elif _is_submodule(f"{node.module}.{alias.name}"):
                    modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                    uses.setdefault(f"{node.module}.{alias.name}", set())
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        value = node.value
        if isinstance(value, ast.Name) and value.id in modules:
            uses[modules[value.id]].add(node.attr)
        elif (
            isinstance(value, ast.Attribute)
            and isinstance(value.value, ast.Name)
            and value.value.id in packages
            and _is_submodule(f"{packages[value.value.id]}.{value.attr}")
        ):
            uses.setdefault(f"{packages[value.value.id]}.{value.attr}", set()).add(node.attr)
    return uses


def _notebook_source(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    lines = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(
            "" if line.lstrip().startswith(("%", "!")) else line
            for line in cell.source.splitlines()
        )
        try:
            ast.parse(code)
        except SyntaxError:
            continue
        lines.append(code)
    return "\n".join(lines)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_submodules_a_notebook_uses_declare_what_it_takes(notebook: Path) -> None:
    for module, names in submodule_uses(_notebook_source(notebook)).items():
        mod = importlib.import_module(module)
        source = Path(mod.__file__ or "").read_text()
        assert "\n__all__" in source, f"{notebook.name} uses {module}, which has no __all__"
        exported = set(mod.__all__)
        missing = sorted(names - exported)
        assert not missing, f"{notebook.name} uses {module}.{missing}, not in its __all__"
        absent = [n for n in exported if not hasattr(mod, n)]
        assert not absent, f"{module}.__all__ names what it lacks: {absent}"


def test_uses_are_found_in_every_import_form() -> None:
    code = """
import khipu.cnn as cnn
import khipu.cnn.plots as cp
from khipu.cnn import basics, exercises as ex
from khipu.cnn.data import describe
basics.prng_demo(); ex.check_x(); cp.plot_curves(); cnn.regression.fit_line()
"""
    assert submodule_uses(code) == {
        "khipu.cnn.plots": {"plot_curves"},
        "khipu.cnn.basics": {"prng_demo"},
        "khipu.cnn.exercises": {"check_x"},
        "khipu.cnn.data": {"describe"},
        "khipu.cnn.regression": {"fit_line"},
    }
