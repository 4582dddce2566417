"""Each package's wheel builds and, installed alone (with khipu-core) into a fresh venv,
imports and runs its command, without the heavy stacks of the other practicals."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
# heavy module -> the distribution that brings it
HEAVY = {
    "gensim": "gensim",
    "tensorflow_datasets": "tensorflow-datasets",
    "jraph": "jraph",
    "gymnasium": "gymnasium",
    "transformers": "transformers",
    "torch": "torch",
    "sklearn": "scikit-learn",
    "haiku": "dm-haiku",
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def core_wheel(release, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("wheels")
    return release.build(ROOT / "shared" / "khipu-core", out, sdist=False)  # type: ignore[no-any-return]


def _declared_distributions(pyproject: dict) -> set[str]:  # type: ignore[type-arg]
    """Base dependencies, including what khipu-core extras they ask for."""
    core = tomllib.loads((ROOT / "shared/khipu-core/pyproject.toml").read_text())["project"]
    names = set()
    for text in pyproject["project"].get("dependencies", []):
        req = Requirement(text)
        names.add(req.name.lower())
        if req.name == "khipu-core":
            names |= {Requirement(r).name.lower() for r in core["dependencies"]}
            for extra in req.extras:
                names |= {Requirement(r).name.lower() for r in core["optional-dependencies"][extra]}
    return names


PROBE = """
import importlib.util, json, sys
heavy = json.loads(sys.argv[1])
print(json.dumps({m: importlib.util.find_spec(m) is not None for m in heavy}))
"""


def _probe(python: Path, modules: list[str]) -> dict[str, bool]:
    out = subprocess.run(
        [str(python), "-c", PROBE, json.dumps(modules)], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def test_core_alone(release, core_wheel, tmp_path) -> None:  # type: ignore[no-untyped-def]
    python = release.fresh_venv(tmp_path / "venv", core_wheel, find_links=core_wheel.parent)
    khipu = python.parent / "khipu"
    listed = subprocess.run([str(khipu), "list"], capture_output=True, text=True, check=True).stdout
    assert "no practicals installed" in listed
    present = _probe(python, list(HEAVY))
    assert not any(present.values()), f"khipu-core alone pulled in {present}"
    # an optional extra that is missing is named in the error
    result = subprocess.run(
        [str(python), "-c", "import khipu.core as kc; kc.load_dataset('digits')"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "pip install 'khipu-core[digits]'" in result.stderr


def test_practical_alone(practical, release, core_wheel, tmp_path) -> None:  # type: ignore[no-untyped-def]
    wheel = release.build(practical.path, tmp_path / "dist", sdist=True)
    assert list((tmp_path / "dist").glob("*.tar.gz")), "no sdist built"
    python = release.fresh_venv(tmp_path / "venv", wheel, find_links=core_wheel.parent)
    subprocess.run([str(python), "-c", f"import {practical.module}"], check=True)
    khipu = python.parent / "khipu"
    listed = subprocess.run([str(khipu), "list"], capture_output=True, text=True, check=True).stdout
    lines = [line.split()[0] for line in listed.strip().splitlines()]
    assert lines == [practical.topic], f"expected only {practical.topic}: {listed}"
    subprocess.run([str(khipu), practical.topic, "--help"], capture_output=True, check=True)

    declared = _declared_distributions(practical.pyproject)
    forbidden = [m for m, dist in HEAVY.items() if dist not in declared]
    extra = [module for module, found in _probe(python, forbidden).items() if found]
    assert not extra, f"{practical.dist} installs stacks it does not declare: {extra}"
