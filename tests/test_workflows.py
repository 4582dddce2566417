"""The GitHub workflows, which cannot run here, agree with the repository: CI runs
``.ci/run``; a release runs on exactly the tags ``tests/release.py`` creates, releases the
package the tag names, and publishes with PyPI trusted publishing."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True
    data["on"] = data.pop(True, data.get("on"))
    return data  # type: ignore[no-any-return]


def _github_glob(pattern: str) -> re.Pattern[str]:
    """A GitHub filter pattern as a regex (``*``: any characters but ``/``; ``**``: any)."""
    out = ""
    for part in re.split(r"(\*\*|\*)", pattern):
        out += {"**": ".*", "*": "[^/]*"}.get(part, re.escape(part))
    return re.compile(out)


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_ci_runs_the_ci_entry_point() -> None:
    ci = _load("ci.yml")
    assert "pull_request" in ci["on"] and "push" in ci["on"]
    runs = [step.get("run", "") for step in _steps(ci)]
    assert any(r.strip() == "bash .ci/run" for r in runs), runs


def test_release_tag_pattern_matches_what_release_py_creates(
    release: ModuleType,
    package,  # type: ignore[no-untyped-def]
) -> None:
    patterns = _load("release.yml")["on"]["push"]["tags"]
    assert patterns == [release.TAG_GLOB]
    glob = _github_glob(patterns[0])
    tag = release.tag_for(package.path)
    assert tag == f"{package.dist}-v{package.version}"
    assert glob.fullmatch(tag), f"release.yml does not trigger on {tag}"
    # and the workflow's release.py --tag resolves it back to this package
    assert release.package_for_tag(tag) == package.path


@pytest.mark.parametrize("tag", ["v0.2.0", "khipu-gnn-0.2.0", "gnn-v0.2.0", "khipu-gnn/v0.2.0"])
def test_other_tags_do_not_trigger_a_release(tag: str) -> None:
    glob = _github_glob(_load("release.yml")["on"]["push"]["tags"][0])
    assert not glob.fullmatch(tag)


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("khipu-nosuch-v0.1.0", "not a package of this repository"),
        ("khipu-core-v99.0.0", "does not match khipu-core's version"),
        ("khipu-core-vnext", "is not a release tag"),
    ],
)
def test_a_matching_tag_that_is_not_a_release_is_refused(
    release: ModuleType, tag: str, message: str
) -> None:
    assert _github_glob(release.TAG_GLOB).fullmatch(tag)  # the workflow would start...
    with pytest.raises(SystemExit, match=message):  # ...and release.py stops it
        release.package_for_tag(tag)


def test_release_checks_the_tagged_package_then_publishes_with_trusted_publishing() -> None:
    workflow = _load("release.yml")
    runs = " ".join(step.get("run", "") for step in _steps(workflow))
    assert 'release --tag "$GITHUB_REF_NAME"' in runs
    publish = workflow["jobs"]["publish"]
    assert publish["needs"] == "build"
    assert publish["permissions"] == {"id-token": "write"}
    uses = [step.get("uses", "") for step in publish["steps"]]
    assert any(u.startswith("pypa/gh-action-pypi-publish@") for u in uses)
    # no API token: trusted publishing only
    assert "password" not in str(publish) and "secrets." not in str(workflow)
    assert workflow["permissions"] == {"contents": "read"}
