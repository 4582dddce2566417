"""Release one package: ``hatch run release packages/khipu-cnn [--dry-run]``.

1. its version (``__about__.py``, bumped with ``hatch version``) has a CHANGELOG section
   and no tag ``<package>-v<version>`` yet; its public API (``__all__`` and the submodules
   the notebooks use) is compared with the previous release tag by griffe, and a minor or
   patch release that breaks it is refused (a major one may; a name in the package's
   deprecation table, now or in the previous release, may go);
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
import ast
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


# --- API stability -----------------------------------------------------------------


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def previous_release(package_dir: Path, version: str, *, repo: Path = ROOT) -> str | None:
    """The newest release tag of the package older than ``version`` (``None``: no release)."""
    name, _ = version_of(package_dir)
    listed = run(
        ["git", "-C", str(repo), "tag", "--list", f"{name}-v*"], capture_output=True
    ).stdout.split()
    older = []
    for tag in listed:
        match = TAG_RE.fullmatch(tag)
        if (
            match
            and match["name"] == name
            and _version_key(match["version"]) < _version_key(version)
        ):
            older.append((_version_key(match["version"]), tag))
    return max(older)[1] if older else None


def deprecated_names(init_source: str) -> set[str]:
    """The old names of a package's deprecation table (``_DEPRECATED = {...}`` in __init__)."""
    for node in ast.parse(init_source).body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "_DEPRECATED" and node.value is not None:
            value = ast.literal_eval(node.value)
            return {str(k) for k in value}
    return set()


def api_submodules(topic: str, notebooks: Path = ROOT / "notebooks") -> set[str]:
    """The submodules of ``khipu.<topic>`` the notebooks import (part of the public API)."""
    found = {"exercises"}
    for notebook in notebooks.glob("*.ipynb"):
        text = notebook.read_text()
        found |= set(re.findall(rf"khipu\.{topic}\.([a-z_]+)", text))
        for names in re.findall(rf"from khipu\.{topic} import ([\w ,]+)", text):
            found |= {n.split(" as ")[0].strip() for n in names.split(",")}
    return found


def api_breakages(package_dir: Path, against: str, *, repo: Path = ROOT) -> list[str]:
    """How the package's public API at the working tree breaks that of the ``against`` ref:
    one line per breakage (griffe), for the names in ``__all__`` (the lazy stub) and the
    submodules the notebooks use. Names of the deprecation table (now or at ``against``)
    may go."""
    import griffe

    topic = package_dir.name.removeprefix("khipu-")
    module = f"khipu.{topic}"
    src = package_dir / "src"
    rel_src = src.relative_to(repo).as_posix()
    old = griffe.load_git(
        module, ref=against, repo=repo, search_paths=[rel_src], resolve_aliases=False
    )
    new = griffe.load(module, search_paths=[str(src)], resolve_aliases=False)
    for loaded in (old, new):
        # lazy_loader builds __all__ at run time from the stub: give griffe the same list
        loaded.exports = [n for n in loaded.members if not n.startswith("_")]
    init = f"{rel_src}/khipu/{topic}/__init__.py"
    allowed = deprecated_names((repo / init).read_text())
    try:
        old_init = run(
            ["git", "-C", str(repo), "show", f"{against}:{init}"], capture_output=True
        ).stdout
        allowed |= deprecated_names(old_init)
    except subprocess.CalledProcessError:
        pass
    submodules = api_submodules(topic, repo / "notebooks")
    found = []
    for breakage in griffe.find_breaking_changes(old, new):
        parts = breakage.obj.path.split(".")[2:]  # khipu.cnn.X(.Y) -> [X, Y]
        if not parts:
            continue
        if len(parts) == 1 and parts[0] in allowed:
            continue  # deprecated: still answers with a warning, or had its release
        if len(parts) > 1 and parts[0] not in submodules:
            continue  # a submodule outside the API (reached through __all__ if at all)
        found.append(f"{breakage.obj.path}: {breakage.kind.value}")
    return found


def check_api(package_dir: Path, version: str, *, repo: Path = ROOT) -> None:
    """Refuses a minor or patch release whose API breaks the previous release's."""
    name, _ = version_of(package_dir)
    previous = previous_release(package_dir, version, repo=repo)
    if previous is None:
        print(f"{name}: no previous release tag; API check skipped")
        return
    before = TAG_RE.fullmatch(previous)
    assert before is not None
    breaks = api_breakages(package_dir, previous, repo=repo)
    if not breaks:
        print(f"{name} {version}: public API compatible with {previous}")
        return
    if _version_key(version)[0] > _version_key(before["version"])[0]:
        print(f"{name} {version}: major release; API changes since {previous}: {len(breaks)}")
        return
    listed = "; ".join(breaks[:5]) + ("; ..." if len(breaks) > 5 else "")
    sys.exit(
        f"{name} {version} breaks the public API of {previous} ({listed}): keep the old "
        f"names in the deprecation table (_DEPRECATED in __init__.py) for one minor "
        f"release, or release a new major version"
    )


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
    check_api(package_dir, version)
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
