"""Release one package: ``hatch run release packages/khipu-cnn [--dry-run]``.

1. its version (``__about__.py``, bumped with ``hatch version``) has a CHANGELOG section
   and no tag ``<package>-v<version>`` yet;
2. sdist + wheel are built into ``dist/<package>/``;
3. the wheel is installed with its declared dependencies into a fresh venv (khipu-core
   from the workspace's own wheel when it is not the package released), imported there,
   and the package's tests run against that install;
4. the tag ``<package>-v<version>`` is created (skipped with ``--dry-run``).

On CI, ``.github/workflows/release.yml`` runs ``release.py --tag <tag>`` for a pushed tag
``khipu-<topic>-v<version>``: the tag names the package folder, must equal the version in
``__about__.py`` and is not created again; the workflow then publishes
``dist/<package>/`` to PyPI (trusted publishing).

The functions are reused by ``tests/test_isolation.py``.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "shared" / "khipu-core"
# what a release tag looks like: the distribution, "-v", the version (PEP 440, as hatch
# writes it); .github/workflows/release.yml triggers on the glob TAG_GLOB
TAG_RE = re.compile(r"(?P<name>khipu-[a-z][a-z0-9]*)-v(?P<version>\d+\.\d+\.\d+(?:[.+\w-]*))")
TAG_GLOB = "khipu-*-v*"


def tag_for(package_dir: Path) -> str:
    """The release tag of the package's current version: ``khipu-gnn-v0.2.0``."""
    name, version = version_of(package_dir)
    return f"{name}-v{version}"


def package_for_tag(tag: str) -> Path:
    """The package folder a release tag names; exits with one line if it names none."""
    match = TAG_RE.fullmatch(tag)
    if match is None:
        sys.exit(f"{tag} is not a release tag (khipu-<topic>-v<version>)")
    name = match["name"]
    folder = CORE if name == "khipu-core" else ROOT / "packages" / name
    if not (folder / "pyproject.toml").is_file():
        sys.exit(f"tag {tag} names {name}, which is not a package of this repository")
    _, version = version_of(folder)
    if version != match["version"]:
        sys.exit(f"tag {tag} does not match {name}'s version {version} (__about__.py)")
    return folder


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, text=True, **kwargs)  # type: ignore[call-overload,no-any-return]


def uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin  # the uv wheel ships its binary

        return str(find_uv_bin())
    except ImportError:
        sys.exit("uv is needed: pip install uv")


def version_of(package_dir: Path) -> tuple[str, str]:
    """(distribution name, version) of a package folder."""
    topic = package_dir.name.removeprefix("khipu-")
    about = (package_dir / "src" / "khipu" / topic / "__about__.py").read_text()
    match = re.search(r'__version__\s*=\s*"([^"]+)"', about)
    if not match:
        sys.exit(f"{package_dir}: no __version__ in __about__.py")
    return package_dir.name, match.group(1)


def check_changelog(package_dir: Path, version: str) -> None:
    text = (package_dir / "CHANGELOG.md").read_text()
    if not re.search(rf"^## \[?{re.escape(version)}\]?", text, flags=re.M):
        sys.exit(f"{package_dir.name}: CHANGELOG.md has no section for {version}")


def build(package_dir: Path, out_dir: Path, *, sdist: bool = True) -> Path:
    """Builds the wheel (and sdist) of ``package_dir`` into ``out_dir``; returns the wheel."""
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [uv(), "build", "--quiet", "--out-dir", str(out_dir), str(package_dir)]
    if not sdist:
        args.insert(2, "--wheel")
    run(args)
    name, version = version_of(package_dir)
    wheels = sorted(out_dir.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if not wheels:
        sys.exit(f"no wheel for {name} {version} in {out_dir}")
    return wheels[-1]


def fresh_venv(
    path: Path,
    wheel: Path,
    *,
    find_links: Path,
    features: list[str] | None = None,
    extra: list[str] | None = None,
) -> Path:
    """A new venv at ``path`` with ``wheel`` (with optional ``features``) and its declared
    dependencies, plus ``extra`` requirements; returns its python."""
    run([uv(), "venv", "--quiet", "--python", sys.executable, str(path)])
    python = path / "bin" / "python"
    target = str(wheel)
    if features:
        name = wheel.name.split("-")[0].replace("_", "-")
        target = f"{name}[{','.join(features)}] @ {wheel.resolve().as_uri()}"
    install = [uv(), "pip", "install", "--quiet", "--python", str(python)]
    run([*install, "--find-links", str(find_links), target, *(extra or [])])
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "package", type=Path, nargs="?", help="e.g. packages/khipu-cnn or shared/khipu-core"
    )
    parser.add_argument("--dry-run", action="store_true", help="check, build and test; no tag")
    parser.add_argument(
        "--tag",
        help="CI: release the package this existing tag names (khipu-gnn-v0.2.0); "
        "it must match the version; no tag is created",
    )
    parser.add_argument(
        "--pytest-args", default="", help="extra pytest arguments, e.g. '-m \"not slow\"'"
    )
    args = parser.parse_args(argv)
    if args.tag:
        args.package = package_for_tag(args.tag).relative_to(ROOT)
    elif args.package is None:
        parser.error("give a package folder (or --tag on CI)")
    package_dir = (ROOT / args.package).resolve()
    if not (package_dir / "pyproject.toml").is_file():
        sys.exit(f"{args.package} is not a package folder")
    name, version = version_of(package_dir)
    tag = tag_for(package_dir)
    check_changelog(package_dir, version)
    tags = run(["git", "-C", str(ROOT), "tag", "--list", tag], capture_output=True).stdout.split()
    if tag in tags and not args.tag:
        sys.exit(
            f"tag {tag} exists already: bump the version first "
            f"(cd {args.package} && hatch version minor)"
        )
    if not args.dry_run and not args.tag:
        dirty = run(
            ["git", "-C", str(ROOT), "status", "--porcelain", str(package_dir)], capture_output=True
        ).stdout
        if dirty.strip():
            sys.exit(f"{args.package} has uncommitted changes; commit them before releasing")

    dist = ROOT / "dist" / name
    shutil.rmtree(dist, ignore_errors=True)
    wheel = build(package_dir, dist)
    links = dist
    if package_dir != CORE:
        build(CORE, dist / "core", sdist=False)
        links = dist / "core"
    with tempfile.TemporaryDirectory(prefix=f"release-{name}-") as tmp:
        # its optional extras too, so that its tests can run: all of them, or those the
        # package lists under [tool.khipu] test-extras (e.g. to leave out a multi-GB torch)
        pyproject = tomllib.loads((package_dir / "pyproject.toml").read_text())
        extras = pyproject["project"].get("optional-dependencies", {})
        features = pyproject.get("tool", {}).get("khipu", {}).get("test-extras", sorted(extras))
        python = fresh_venv(
            Path(tmp) / "venv",
            wheel,
            find_links=links,
            features=features,
            extra=["pytest", "pytest-benchmark"],
        )
        topic = name.removeprefix("khipu-")
        run([str(python), "-c", f"import khipu.{topic} as m; print(m.__name__, m.__version__)"])
        tests = package_dir / "tests"
        # run from an empty folder so the source tree is not importable: the wheel is tested
        run(
            [
                str(python),
                "-m",
                "pytest",
                "-c",
                str(ROOT / ".pytest.ini"),
                "--rootdir",
                str(ROOT),
                str(tests),
                "-q",
                *shlex.split(args.pytest_args),
            ],
            cwd=tmp,
        )
    print(f"{name} {version}: built {wheel.name} and its sdist; tests pass in a fresh venv")
    if args.tag:
        print(f"release of tag {tag}: publish {dist.relative_to(ROOT)}/*.whl and *.tar.gz")
    elif args.dry_run:
        print(f"dry run: tag {tag} not created")
    else:
        run(["git", "-C", str(ROOT), "tag", "-a", tag, "-m", f"{name} {version}"])
        print(f"tagged {tag}; publish with: uv publish {dist}/*")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
