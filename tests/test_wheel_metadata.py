"""Every package's wheel and sdist carry the Apache-2.0 licence text and the metadata an
index shows: authors, project URLs, valid classifiers for the Pythons it supports."""

from __future__ import annotations

import email.parser
import email.policy
import re
import tarfile
import zipfile
from email.message import Message
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from trove_classifiers import classifiers as KNOWN_CLASSIFIERS

ROOT = Path(__file__).resolve().parent.parent
LICENSE = (ROOT / "LICENSE").read_text()
PYTHONS = ["3.11", "3.12", "3.13"]
REQUIRED_CLASSIFIERS = {
    "Intended Audience :: Education",
    "Intended Audience :: Science/Research",
    "Typing :: Typed",
    *(f"Programming Language :: Python :: {v}" for v in PYTHONS),
}
REQUIRED_URLS = {"Homepage", "Documentation", "Source", "Changelog"}


def _metadata(wheel: Path) -> tuple[Message, zipfile.ZipFile]:
    archive = zipfile.ZipFile(wheel)
    (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    text = archive.read(name).decode()
    return email.parser.Parser(policy=email.policy.compat32).parsestr(text), archive


@pytest.fixture(scope="module")
def built(release, tmp_path_factory):  # type: ignore[no-untyped-def]
    """package folder name -> (wheel, sdist), built once for the module."""
    out = tmp_path_factory.mktemp("dist")
    cache = {}

    def get(package):  # type: ignore[no-untyped-def]
        if package.dist not in cache:
            wheel = release.build(package.path, out / package.dist)
            (sdist,) = (out / package.dist).glob("*.tar.gz")
            cache[package.dist] = (wheel, sdist)
        return cache[package.dist]

    return get


def test_root_licence_is_apache_2() -> None:
    assert "Apache License" in LICENSE
    assert "Version 2.0, January 2004" in LICENSE


def test_package_folder_has_the_root_licence(package) -> None:  # type: ignore[no-untyped-def]
    assert (package.path / "LICENSE").read_text() == LICENSE, (
        f"{package.dist}/LICENSE differs from the root LICENSE"
    )


def test_wheel_and_sdist_carry_licence_and_metadata(package, built) -> None:  # type: ignore[no-untyped-def]
    wheel, sdist = built(package)
    meta, archive = _metadata(wheel)
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    licence = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    assert licence, f"{wheel.name} has no dist-info/licenses/LICENSE"
    assert archive.read(licence[0]).decode() == LICENSE
    with tarfile.open(sdist) as tar:
        member = tar.extractfile(f"{sdist.name.removesuffix('.tar.gz')}/LICENSE")
        assert member is not None, f"{sdist.name} has no LICENSE"
        assert member.read().decode() == LICENSE

    assert meta["Author"] or meta["Author-email"], "no author"
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert set(urls) >= REQUIRED_URLS, f"missing project URLs: {REQUIRED_URLS - set(urls)}"
    assert all(u.startswith("https://") for u in urls.values())
    # the changelog and source links point at this package's own folder in the repository
    folder = package.path.relative_to(ROOT).as_posix()
    assert urls["Changelog"].endswith(f"/{folder}/CHANGELOG.md")
    assert urls["Source"].endswith(f"/{folder}")

    classifiers = set(meta.get_all("Classifier") or [])
    assert classifiers >= REQUIRED_CLASSIFIERS, REQUIRED_CLASSIFIERS - classifiers
    unknown = classifiers - KNOWN_CLASSIFIERS
    assert not unknown, f"not PyPI classifiers: {unknown}"
    # the Python classifiers agree with Requires-Python
    spec = SpecifierSet(meta["Requires-Python"])
    listed = {
        m.group(1)
        for c in classifiers
        if (m := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", c))
    }
    assert all(v in spec for v in listed), f"{listed} vs Requires-Python {spec}"
