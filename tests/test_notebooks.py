"""Every notebook pins its package, has no stored outputs, matches its jupytext twin,
and executes against the workspace packages in quick mode."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PIN = re.compile(r'^%pip install (?:-q )?"(khipu-[a-z]+)==([0-9.]+\.\*)"$')


def _versions() -> dict[str, str]:
    versions = {}
    for about in [
        *ROOT.glob("packages/*/src/khipu/*/__about__.py"),
        *ROOT.glob("shared/*/src/khipu/*/__about__.py"),
    ]:
        match = re.search(r'__version__\s*=\s*"([^"]+)"', about.read_text())
        assert match
        versions[f"khipu-{about.parent.name}"] = match.group(1)
    return versions


def _pin_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if "pin" in c.get("metadata", {}).get("tags", [])]


def test_each_practical_has_a_notebook() -> None:
    topics = {
        p.name.removeprefix("khipu-")
        for p in (ROOT / "packages").glob("khipu-*")
        if (p / "src").is_dir()
    }
    pinned = set()
    for path in NOTEBOOKS:
        for cell in _pin_cells(nbformat.read(path, as_version=4)):
            match = PIN.match(cell.source.strip())
            if match:
                pinned.add(match.group(1).removeprefix("khipu-"))
    assert topics <= pinned, f"practicals without a pinned notebook: {sorted(topics - pinned)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_pin_admits_the_current_version(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    pins = _pin_cells(nb)
    assert len(pins) == 1, f"{path.name}: one code cell tagged 'pin' expected"
    assert nb.cells.index(pins[0]) <= 2, "the pin cell comes first"
    match = PIN.match(pins[0].source.strip())
    assert match, f'{path.name}: pin cell must be %pip install "khipu-<topic>==X.Y.*"'
    dist, spec = match.groups()
    current = _versions()[dist]
    assert SpecifierSet(f"=={spec}").contains(current), (
        f"{path.name} pins {dist}=={spec} but the package is at {current}: update the notebook"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_outputs_and_in_sync_with_twin(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name} stores outputs"
            )
    twin = path.with_suffix(".py")
    assert twin.is_file(), f"{path.name} has no jupytext py:percent twin"
    paired = jupytext.read(twin)
    assert [c.source.strip() for c in paired.cells] == [c.source.strip() for c in nb.cells], (
        f"{path.name} and {twin.name} differ: run `jupytext --sync {path}`"
    )


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_in_quick_mode(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if c not in _pin_cells(nb)]
    monkeypatch.setenv("KHIPU_QUICK", "1")
    monkeypatch.setenv("KHIPU_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
