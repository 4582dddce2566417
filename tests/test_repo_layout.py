"""Layout, versions, changelogs and dependency rules of every package."""

from __future__ import annotations

import ast
import importlib
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
TOPICS = ("cnn", "transformer", "gnn", "diffusion", "rl", "bias")


def _imports(src: Path) -> set[str]:
    """Absolute module names imported anywhere under ``src``."""
    names: set[str] = set()
    for file in src.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
    return names


def _string_constants(src: Path) -> set[str]:
    """String literals (modules imported lazily via import_optional / importlib)."""
    found: set[str] = set()
    for file in src.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def test_package_shape(package) -> None:  # type: ignore[no-untyped-def]
    p = package.path
    for name in ("pyproject.toml", "README.md", "CHANGELOG.md"):
        assert (p / name).is_file(), f"{p.name} lacks {name}"
    for name in (
        "__init__.py",
        "__about__.py",
        "py.typed",
        "cli.py" if not package.is_core else "train.py",
    ):
        assert (package.src / name).is_file(), f"{package.dist} lacks {name}"
    assert not (p / "src" / "khipu" / "__init__.py").exists(), "khipu is a PEP 420 namespace"
    assert list((p / "tests").glob("test_*.py")), f"{package.dist} has no tests"
    assert package.dist == f"khipu-{package.topic}"
    hatch = package.pyproject["tool"]["hatch"]
    assert hatch["version"]["path"] == f"src/khipu/{package.topic}/__about__.py"
    assert hatch["build"]["targets"]["wheel"]["packages"] == ["src/khipu"]
    assert package.pyproject["project"]["requires-python"].startswith(">=3.11")


def test_test_file_names_are_unique_across_the_repo() -> None:
    names = [f.name for f in ROOT.glob("*/*/tests/test_*.py")] + [
        f.name for f in ROOT.glob("tests/test_*.py")
    ]
    dupes = {n for n in names if names.count(n) > 1}
    assert not dupes, f"test modules must have unique names: {dupes}"


def test_version_is_the_latest_changelog_entry(package) -> None:  # type: ignore[no-untyped-def]
    changelog = (package.path / "CHANGELOG.md").read_text()
    versions = re.findall(r"^## \[?(\d+\.\d+\.\d+[^\]\s]*)\]?", changelog, flags=re.M)
    assert versions, f"{package.dist}: CHANGELOG has no '## X.Y.Z' sections"
    assert versions[0] == package.version, (
        f"{package.dist} is at {package.version} but its CHANGELOG's latest entry is {versions[0]}"
    )


def test_public_api_has_all_and_version(package) -> None:  # type: ignore[no-untyped-def]
    module = importlib.import_module(package.module)
    assert module.__version__ == package.version
    assert "__version__" in module.__all__
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{package.module}.__all__ names missing attributes: {missing}"


def test_no_practical_imports_another(package) -> None:  # type: ignore[no-untyped-def]
    allowed = {"core", package.topic} if not package.is_core else {"core"}
    bad = sorted(
        name
        for name in _imports(package.path / "src")
        if name.startswith("khipu.") and name.split(".")[1] not in allowed
    )
    assert not bad, f"{package.dist} imports {bad}: what two topics share belongs in khipu.core"


def _declared(package) -> tuple[dict[str, Requirement], dict[str, Requirement]]:  # type: ignore[no-untyped-def]
    project = package.pyproject["project"]
    base = {Requirement(r).name.lower(): Requirement(r) for r in project.get("dependencies", [])}
    extras = {
        Requirement(r).name.lower(): Requirement(r)
        for reqs in project.get("optional-dependencies", {}).values()
        for r in reqs
    }
    return base, extras


def test_declares_what_it_imports(package) -> None:  # type: ignore[no-untyped-def]
    base, extras = _declared(package)
    declared = set(base) | set(extras)
    dists = metadata.packages_distributions()
    imported_tops = {name.split(".")[0] for name in _imports(package.path / "src")}
    lazily = {
        s.split(".")[0] for s in _string_constants(package.path / "src") if s.split(".")[0] in dists
    }
    undeclared = []
    for top in sorted(imported_tops | lazily):
        if top in sys.stdlib_module_names or top in ("khipu", "__future__"):
            continue
        providers = {d.lower() for d in dists.get(top, [])}
        if not providers:
            continue  # not installed here (an optional extra): checked by isolation tests
        if not providers & declared and top in imported_tops:
            undeclared.append(f"{top} ({'/'.join(sorted(providers))})")
    assert not undeclared, f"{package.dist} imports undeclared distributions: {undeclared}"
    runtime_only = {
        n.lower()
        for n in package.pyproject.get("tool", {}).get("khipu", {}).get("runtime-only", [])
    }
    used = set()
    for top in imported_tops | lazily:
        used |= {d.lower() for d in dists.get(top, [])}
    unused = sorted(n for n in base if n not in used | runtime_only | {"khipu-core"})
    assert not unused, (
        f"{package.dist} declares {unused} but never imports them "
        "(list runtime-only needs under [tool.khipu] runtime-only)"
    )


def test_practical_pins_core_as_a_compatible_range(practical) -> None:  # type: ignore[no-untyped-def]
    base, _ = _declared(practical)
    assert "khipu-core" in base, f"{practical.dist} does not depend on khipu-core"
    spec = base["khipu-core"].specifier
    core_version = (ROOT / "shared/khipu-core/src/khipu/core/__about__.py").read_text()
    core_version = re.search(r'"([^"]+)"', core_version).group(1)  # type: ignore[union-attr]
    assert spec.contains(core_version), (
        f"{practical.dist} pins khipu-core {spec}, core is {core_version}"
    )
    assert any(s.operator == "<" for s in spec), f"{practical.dist}: give khipu-core an upper bound"
    assert not any(s.operator == "==" for s in spec), "pin a range, not an exact version"


def test_practical_registers_its_cli(practical) -> None:  # type: ignore[no-untyped-def]
    eps = practical.pyproject["project"]["entry-points"]["khipu.practicals"]
    assert eps == {practical.topic: f"khipu.{practical.topic}.cli:register"}
    assert practical.topic in TOPICS


def test_each_practical_has_an_isolated_hatch_env(practical) -> None:  # type: ignore[no-untyped-def]
    hatch = tomllib.loads((ROOT / "hatch.toml").read_text())
    env = hatch["envs"].get(practical.topic)
    assert env is not None, f"hatch.toml lacks [envs.{practical.topic}]"
    members = {m if isinstance(m, str) else m["path"] for m in env["workspace"]["members"]}
    assert members == {"shared/khipu-core", f"packages/{practical.path.name}"}
    assert f"packages/{practical.path.name}/tests" in env["scripts"]["test"]


def test_readme_documents_install_api_and_cli(package) -> None:  # type: ignore[no-untyped-def]
    readme = (package.path / "README.md").read_text()
    assert f"pip install {package.dist}" in readme or f'pip install "{package.dist}' in readme
    assert "```python" in readme
    assert "khipu " in readme


def test_root_readme_starts_with_the_two_commands_and_ci_runs_the_second() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", readme, flags=re.S)
    assert blocks, "README has no command block"
    commands = [
        line.strip() for line in blocks[0].splitlines() if line.strip() and not line.startswith("#")
    ]
    assert len(commands) == 2, f"README's first block should hold exactly two commands: {commands}"
    run_cmd, test_cmd = commands
    assert "hatch run khipu" in run_cmd and "--out" in run_cmd
    assert "hatch run test:all" in test_cmd
    ci = (ROOT / ".ci" / "run").read_text()
    assert "hatch run test:all" in ci


def test_pre_commit_hooks_install_only_from_pypi() -> None:
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    repos = re.findall(r"^\s*-\s*repo:\s*(\S+)", config, flags=re.M)
    assert repos, "no hooks configured"
    assert set(repos) == {"local"}, f"hooks must not come from git URLs: {repos}"


@pytest.mark.parametrize("topic", TOPICS)
def test_no_empty_placeholder_packages(topic: str) -> None:
    path = ROOT / "packages" / f"khipu-{topic}"
    if path.exists():
        assert (path / "src" / "khipu" / topic / "__init__.py").is_file()
