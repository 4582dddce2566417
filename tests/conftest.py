"""Repo-level test helpers: every package is discovered from the tree, so a new
practical under ``packages/`` is covered by these tests the moment it lands."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Package:
    path: Path
    dist: str  # khipu-cnn
    topic: str  # cnn
    version: str
    pyproject: dict  # type: ignore[type-arg]

    @property
    def module(self) -> str:
        return f"khipu.{self.topic}"

    @property
    def src(self) -> Path:
        return self.path / "src" / "khipu" / self.topic

    @property
    def is_core(self) -> bool:
        return self.topic == "core"


def discover_packages() -> list[Package]:
    dirs = [ROOT / "shared" / "khipu-core", *sorted((ROOT / "packages").glob("khipu-*"))]
    found = []
    for d in dirs:
        if not (d / "pyproject.toml").is_file():
            continue
        pyproject = tomllib.loads((d / "pyproject.toml").read_text())
        topic = d.name.removeprefix("khipu-")
        about = (d / "src" / "khipu" / topic / "__about__.py").read_text()
        match = re.search(r'__version__\s*=\s*"([^"]+)"', about)
        assert match, f"{d}: no static __version__ in __about__.py"
        found.append(Package(d, pyproject["project"]["name"], topic, match.group(1), pyproject))
    return found


PACKAGES = discover_packages()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "package" in metafunc.fixturenames:
        metafunc.parametrize("package", PACKAGES, ids=[p.dist for p in PACKAGES])
    if "practical" in metafunc.fixturenames:
        practicals = [p for p in PACKAGES if not p.is_core]
        metafunc.parametrize("practical", practicals, ids=[p.dist for p in practicals])


@pytest.fixture(scope="session")
def release() -> ModuleType:
    """tests/release.py as a module (its build / fresh-venv helpers are reused by tests)."""
    spec = importlib.util.spec_from_file_location("khipu_release", ROOT / "tests" / "release.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
