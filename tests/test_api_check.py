"""API stability: tests/release.py compares a package's public API with its previous
release tag (griffe) and refuses a minor or patch release that removes or breaks a public
name; a major release may, and a name kept in the deprecation table keeps working (with a
DeprecationWarning) for one minor release."""

from __future__ import annotations

import importlib
import json
import subprocess
import warnings
from pathlib import Path
from types import ModuleType

import pytest

INIT = '''"""khipu.demo."""

import lazy_loader as _lazy

_DEPRECATED: dict[str, tuple[str, str]] = {deprecated}

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
'''
STUB = """from .__about__ import __version__ as __version__
from .models import {names}
"""
MODELS = """
def train(data: list[float], *, epochs: int = 3) -> float:
    return float(epochs)


def evaluate(data: list[float]) -> float:
    return 0.0


def fit(data: list[float]) -> float:
    return 0.0
"""
PLOTS = '''
__all__ = ["plot_curve"]


def plot_curve(values: list[float], title: str = "") -> None:
    """A submodule the notebook uses."""


def helper(values: list[float]) -> None:
    """Not in __all__."""
'''


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


class Demo:
    """A one-package repository with a notebook, released as khipu-demo 0.1.0."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pkg = root / "packages" / "khipu-demo"
        self.src = self.pkg / "src" / "khipu" / "demo"
        self.src.mkdir(parents=True)
        (root / "notebooks").mkdir()
        cell = {"cell_type": "code", "source": "from khipu.demo import plots\n"}
        (root / "notebooks" / "demo.ipynb").write_text(json.dumps({"cells": [cell]}))
        self.write(version="0.1.0", names=["train", "evaluate", "fit"])
        (self.src / "plots.py").write_text(PLOTS)
        (self.src / "internals.py").write_text("def tool(x: int) -> int:\n    return x\n")
        _git(root, "init", "-q")
        self.commit_and_tag("0.1.0")

    def write(self, *, version: str, names: list[str], deprecated: str = "{}") -> None:
        (self.src / "__about__.py").write_text(f'__version__ = "{version}"\n')
        (self.src / "__init__.py").write_text(INIT.format(deprecated=deprecated))
        stub = ", ".join(f"{n} as {n}" for n in names)
        (self.src / "__init__.pyi").write_text(STUB.format(names=stub))
        (self.src / "models.py").write_text(MODELS)

    def commit_and_tag(self, version: str) -> None:
        _git(self.root, "add", ".")
        _git(self.root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", version)
        _git(self.root, "tag", f"khipu-demo-v{version}")


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return Demo(tmp_path / "repo")


def test_a_removed_name_is_refused_in_a_minor_release(release: ModuleType, demo: Demo) -> None:
    demo.write(version="0.2.0", names=["train", "fit"])  # `evaluate` is gone
    with pytest.raises(SystemExit) as info:
        release.check_api(demo.pkg, "0.2.0", repo=demo.root)
    message = str(info.value)
    assert "khipu-demo 0.2.0 breaks the public API of khipu-demo-v0.1.0" in message
    assert "khipu.demo.evaluate" in message
    assert "train" not in message.split("(")[1].split(")")[0]  # only what broke
    # and in a patch release
    demo.write(version="0.1.1", names=["train", "fit"])
    with pytest.raises(SystemExit, match=r"khipu\.demo\.evaluate"):
        release.check_api(demo.pkg, "0.1.1", repo=demo.root)


def test_a_major_release_may_break(release: ModuleType, demo: Demo, capsys) -> None:  # type: ignore[no-untyped-def]
    demo.write(version="1.0.0", names=["train", "fit"])
    release.check_api(demo.pkg, "1.0.0", repo=demo.root)
    assert "major release; API changes since khipu-demo-v0.1.0: 1" in capsys.readouterr().out


def test_a_compatible_release_passes(release: ModuleType, demo: Demo, capsys) -> None:  # type: ignore[no-untyped-def]
    demo.write(version="0.2.0", names=["train", "evaluate", "fit", "__version__"])
    (demo.src / "internals.py").write_text("def tool(x: int, y: int) -> int:\n    return x\n")
    release.check_api(demo.pkg, "0.2.0", repo=demo.root)  # internals is not in the API
    assert "public API compatible with khipu-demo-v0.1.0" in capsys.readouterr().out


def test_a_changed_signature_in_a_notebook_submodule_is_refused(
    release: ModuleType, demo: Demo
) -> None:
    demo.write(version="0.2.0", names=["train", "evaluate", "fit"])
    (demo.src / "plots.py").write_text(PLOTS.replace('title: str = ""', "title: str"))
    assert release.api_breakages(demo.pkg, "khipu-demo-v0.1.0", repo=demo.root) == [
        "khipu.demo.plots.plot_curve: Parameter is now required"
    ]
    # a name outside the submodule's __all__ is not API
    (demo.src / "plots.py").write_text(PLOTS.replace("def helper(values", "def helper(other"))
    assert release.api_breakages(demo.pkg, "khipu-demo-v0.1.0", repo=demo.root) == []


def test_a_deprecated_name_may_go_for_one_minor_release(release: ModuleType, demo: Demo) -> None:
    # 0.2.0 renames `evaluate` to `score`, keeping the old name in the deprecation table
    demo.write(
        version="0.2.0",
        names=["train", "score", "fit"],
        deprecated='{"evaluate": ("score", "0.3.0")}',
    )
    release.check_api(demo.pkg, "0.2.0", repo=demo.root)
    demo.commit_and_tag("0.2.0")
    # 0.3.0 drops the table entry: the name was deprecated in the previous release
    demo.write(version="0.3.0", names=["train", "score", "fit"])
    release.check_api(demo.pkg, "0.3.0", repo=demo.root)
    # but removing a name that was never deprecated still fails
    demo.write(version="0.3.0", names=["train", "score"])
    with pytest.raises(SystemExit, match=r"khipu\.demo\.fit"):
        release.check_api(demo.pkg, "0.3.0", repo=demo.root)


def test_without_a_previous_release_the_check_is_skipped(
    release: ModuleType,
    tmp_path: Path,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    demo = Demo(tmp_path / "repo")
    _git(demo.root, "tag", "-d", "khipu-demo-v0.1.0")
    release.check_api(demo.pkg, "0.1.0", repo=demo.root)
    assert "no previous release tag; API check skipped" in capsys.readouterr().out


@pytest.mark.parametrize(
    "module",
    [
        "khipu.core",
        "khipu.cnn",
        "khipu.transformer",
        "khipu.gnn",
        "khipu.diffusion",
        "khipu.rl",
        "khipu.bias",
    ],
)
def test_the_deprecation_table_answers_old_names_with_a_warning(
    module: str, monkeypatch: pytest.MonkeyPatch, release: ModuleType
) -> None:
    try:
        package = importlib.import_module(module)
    except ImportError:
        pytest.skip(f"{module} is not installed")
    assert isinstance(package._DEPRECATED, dict)
    new = "__version__"
    monkeypatch.setitem(package._DEPRECATED, "old_version_name", (new, "9.9.0"))
    with pytest.warns(
        DeprecationWarning,
        match=rf"{module}\.old_version_name is deprecated.*"
        rf"removed in 9\.9\.0; use {module}\.__version__",
    ):
        assert package.old_version_name == package.__version__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError):
            package.no_such_name  # noqa: B018 - unknown names still fail
    # the release check reads the same table, statically
    assert release.deprecated_names(Path(package.__file__).read_text()) == set()
