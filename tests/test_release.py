"""The release script refuses what must not be released and, in a dry run, builds and tests
a package from its wheel in a fresh venv without tagging."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _fake_package(tmp_path: Path, version: str, changelog: str) -> Path:
    pkg = tmp_path / "khipu-demo"
    (pkg / "src" / "khipu" / "demo").mkdir(parents=True)
    (pkg / "src" / "khipu" / "demo" / "__about__.py").write_text(f'__version__ = "{version}"\n')
    (pkg / "CHANGELOG.md").write_text(changelog)
    return pkg


def test_version_is_read_from_about(release: ModuleType, tmp_path: Path) -> None:
    pkg = _fake_package(tmp_path, "1.2.3", "## 1.2.3\n")
    assert release.version_of(pkg) == ("khipu-demo", "1.2.3")


def test_changelog_without_the_version_is_refused(release: ModuleType, tmp_path: Path) -> None:
    pkg = _fake_package(tmp_path, "0.2.0", "# Changelog\n\n## 0.1.0 — 2026-11-27\n")
    with pytest.raises(SystemExit, match=r"no section for 0\.2\.0"):
        release.check_changelog(pkg, "0.2.0")
    release.check_changelog(pkg, "0.1.0")  # present: accepted


def test_not_a_package_folder_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "release.py"), "notebooks", "--dry-run"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "is not a package folder" in result.stderr


@pytest.mark.slow
def test_dry_run_builds_tests_in_fresh_venv_and_does_not_tag(release: ModuleType) -> None:
    _, version = release.version_of(ROOT / "shared" / "khipu-core")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "release.py"),
            "shared/khipu-core",
            "--dry-run",
            "--pytest-args=-m 'not slow'",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "tests pass in a fresh venv" in result.stdout
    assert f"dry run: tag khipu-core-v{version} not created" in result.stdout
    dist = ROOT / "dist" / "khipu-core"
    assert list(dist.glob(f"khipu_core-{version}-*.whl"))
    assert list(dist.glob(f"khipu_core-{version}.tar.gz"))
    tags = subprocess.run(
        ["git", "-C", str(ROOT), "tag", "--list", f"khipu-core-v{version}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert tags.strip() == ""
