"""The first cell every student runs, tried as they run it: each notebook's pin cell
(``%pip install "khipu-cnn==0.2.*"``) is installed into a fresh venv where the khipu
distributions come only from the wheels built from this workspace (as if just published)
and their declared dependencies from the registry; then every import the notebook makes
runs there. A pin that does not admit the workspace version, a dependency a package
forgot to declare, or a notebook importing what its package does not bring fails here.

The notebook execution tests (tests/test_notebooks.py) drop the pin cell and run against
the editable workspace; this test is the other half.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("khipu_repo_tests", ROOT / "tests" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_conftest = sys.modules.setdefault("khipu_repo_tests", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(_conftest)
PACKAGES = _conftest.PACKAGES
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# what Jupyter and Colab provide around a notebook (IPython.display...)
NOTEBOOK_RUNTIME = ["ipython"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheels(release: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every workspace package built as a wheel: distribution name -> wheel."""
    out = tmp_path_factory.mktemp("dist")
    return {p.dist: release.build(p.path, out, sdist=False) for p in PACKAGES}


def pin_requirements(notebook: Path) -> list[str]:
    """The requirements the notebook's cell tagged ``pin`` installs (flags dropped)."""
    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if "pin" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{notebook.name}: one cell tagged 'pin' expected"
    requirements = []
    for line in cells[0].source.splitlines():
        words = shlex.split(line.strip())
        if words[:2] in (["%pip", "install"], ["!pip", "install"]):
            requirements += [w for w in words[2:] if not w.startswith("-")]
    assert requirements, f"{notebook.name}: the pin cell installs nothing"
    return requirements


def notebook_imports(notebook: Path) -> list[str]:
    """Every import statement of the notebook's code cells, as source lines."""
    nb = nbformat.read(notebook, as_version=4)
    found: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(
            "" if line.lstrip().startswith(("%", "!")) else line
            for line in cell.source.splitlines()
        )
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue  # a stub the student completes
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not (
                isinstance(node, ast.ImportFrom) and node.level
            ):
                statement = ast.unparse(node)
                if statement not in found:
                    found.append(statement)
    return found


PROBE = """
import json, sys
failed = {}
for statement in json.loads(sys.argv[1]):
    try:
        exec(statement, {})
    except Exception as exc:
        failed[statement] = f"{type(exc).__name__}: {exc}"
print(json.dumps(failed))
"""


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_pin_cell_installs_the_workspace_package_and_the_notebook_imports_work(
    notebook: Path, wheels: dict[str, Path], release: ModuleType, tmp_path: Path
) -> None:
    requirements = pin_requirements(notebook)
    # khipu-* only from the workspace wheels: each constrained to its wheel's file URL
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(
        "".join(f"{dist} @ {wheel.resolve().as_uri()}\n" for dist, wheel in wheels.items())
    )
    venv = tmp_path / "venv"
    uv = release.uv()
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            "--constraints",
            str(constraints),
            *requirements,
            *NOTEBOOK_RUNTIME,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, f"{notebook.name}: {requirements}: {install.stderr[-3000:]}"

    # the pin resolved to the workspace's version of the practical (and of khipu-core)
    listed = subprocess.run(
        [uv, "pip", "list", "--python", str(python), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {d["name"]: d["version"] for d in json.loads(listed)}
    workspace = {p.dist: p.version for p in PACKAGES}
    khipu = {name: v for name, v in installed.items() if name.startswith("khipu-")}
    assert khipu, f"{notebook.name}: nothing of khipu installed"
    for name, version in khipu.items():
        assert workspace.get(name) == version, f"{name} {version} is not the workspace's"

    statements = notebook_imports(notebook)
    assert any("khipu" in s for s in statements), f"{notebook.name} imports no practical"
    probe = subprocess.run(
        [str(python), "-c", PROBE, json.dumps(statements)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,  # not the repository: only the venv's packages are importable
        env={"PATH": str(venv / "bin"), "MPLBACKEND": "Agg", "HOME": str(tmp_path)},
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    failed = json.loads(probe.stdout.strip().splitlines()[-1])
    assert not failed, f"{notebook.name}: imports that fail after its pin cell: {failed}"


def test_pin_requirements_and_imports_are_read_from_the_notebook(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    pin = nbformat.v4.new_code_cell('%pip install -q "khipu-demo==0.3.*"')
    pin.metadata["tags"] = ["pin"]
    code = nbformat.v4.new_code_cell(
        "%matplotlib inline\nimport khipu.demo as kd\nfrom khipu.demo import data as dd\n"
        "def f():\n    import numpy as np\n    return np\n"
    )
    stub = nbformat.v4.new_code_cell("def g(x):\n    # YOUR CODE HERE\n    return (")
    nb.cells = [pin, code, stub]
    path = tmp_path / "demo.ipynb"
    nbformat.write(nb, path)
    assert pin_requirements(path) == ["khipu-demo==0.3.*"]
    assert notebook_imports(path) == [
        "import khipu.demo as kd",
        "from khipu.demo import data as dd",
        "import numpy as np",
    ]
