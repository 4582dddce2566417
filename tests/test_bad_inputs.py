"""The bad-input catalogue: every installed practical's commands, fed hostile but fair
input, fail with one line on stderr and the expected exit code, within bounded memory,
and leave every file that existed before exactly as it was.

Rows live next to each package (``packages/*/tests/bad_inputs.toml``) and here
(``tests/bad_inputs.toml``, the run-folder contract); each row::

    [[case]]
    args = ["cnn", "train", "--limit", "5", "--out", "{out}"]
    exit = 1
    stderr = ["batch"]            # words the single stderr line contains
    files = { "bad.txt" = "" }    # written under {tmp} first (optional)
    prior_run = true              # {out} holds a previous khipu run (optional)

Optional keys (issue 20):

* a file's value may be a list of byte values, or a table ``{ pattern, count, suffix }``
  that writes ``pattern.format(i=i, j=i + 1, a=2 * i + 1, b=2 * i + 2, r=i % 5 + 1,
  c=i % 2)`` for ``i`` in ``range(count)``, then ``suffix`` (large generated inputs);
* ``run = { path = "t", practical = "transformer", edit = "truncate" }`` copies a real
  trained run of that practical (``transformer`` or ``diffusion``, trained once per test
  session) to ``{tmp}/t``; ``edit``: ``truncate`` (half of model.npz), ``config`` (a width
  in the saved configuration halved, so shapes disagree with the weights), ``huge``
  (a width of millions) or ``npz-as-text`` (model.npz copied to ``{tmp}/t.txt``);
* ``exit = 0``: a hostile but valid input that must now succeed (no stderr line);
* ``max_rss_mib``: a tighter peak-memory bound for the row.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from khipu.core import rundir
from khipu.core.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
KHIPU = shutil.which("khipu", path=str(Path(sys.executable).parent)) or "khipu"
MAX_RSS_MIB = 3072  # importing JAX is ~0.4 GiB; no bad input may cost more than this
TOPICS = {p.name.removeprefix("khipu-") for p in ROOT.glob("packages/khipu-*")}
INSTALLED = {ep.name for ep in metadata.entry_points(group="khipu.practicals")}


def _catalogue() -> list[tuple[str, dict[str, Any]]]:
    rows = []
    for path in sorted(
        [ROOT / "tests" / "bad_inputs.toml", *ROOT.glob("packages/*/tests/bad_inputs.toml")]
    ):
        if not path.is_file():
            continue
        for i, case in enumerate(tomllib.loads(path.read_text())["case"]):
            owner = path.parent.parent.name if path.parent.name == "tests" else "repo"
            owner = "repo" if path.parent == ROOT / "tests" else owner
            rows.append((f"{owner}:{i}:{' '.join(case['args'][:2])}", case))
    return rows


CATALOGUE = _catalogue()


def test_the_catalogue_is_large_enough() -> None:
    assert len(CATALOGUE) >= 60, f"only {len(CATALOGUE)} bad inputs catalogued"
    topics = {case["args"][0] for _, case in CATALOGUE}
    practicals = {p.name.removeprefix("khipu-") for p in ROOT.glob("packages/khipu-*")}
    assert practicals <= topics, f"practicals without catalogue rows: {practicals - topics}"


def _takes_path(action: argparse.Action) -> bool:
    """Whether an option's value is a path: ``type=Path`` or a type returning a ``Path``
    (``existing_file``, ``existing_dir``...)."""
    kind = action.type
    if kind is Path:
        return True
    returns = getattr(kind, "__annotations__", {}).get("return")
    return returns is Path or returns == "Path"


def path_options() -> dict[tuple[str, str, str], str]:
    """Every ``khipu <topic> <command> --option`` whose value is a path -> its help,
    found by walking the installed practicals' argparse parsers."""
    found: dict[tuple[str, str, str], str] = {}
    subparsers = argparse._SubParsersAction  # argparse has no public walk

    def walk(parser: argparse.ArgumentParser, prefix: tuple[str, ...]) -> None:
        for action in parser._actions:
            if isinstance(action, subparsers):
                for name, sub in action.choices.items():
                    walk(sub, (*prefix, name))
            elif action.option_strings and _takes_path(action) and len(prefix) == 2:
                found[(*prefix, action.option_strings[-1])] = action.help or ""

    walk(build_parser(), ())
    return found


OUTPUT_OPTIONS = {"--out", "--save"}  # paths khipu writes, not inputs it reads


def test_every_path_option_has_a_catalogue_row() -> None:
    """Issue 20, item 3: a new option that takes a path cannot ship untried."""
    options = path_options()
    assert ("gnn", "train", "--edges") in options or "gnn" not in INSTALLED
    covered = {
        (case["args"][0], case["args"][1], arg)
        for _, case in CATALOGUE
        if len(case["args"]) > 1
        for arg in case["args"]
        if arg.startswith("--")
    }
    missing = sorted(" ".join(key) for key in options if key not in covered)
    assert not missing, f"path options without a row in a bad_inputs.toml: {missing}"


def test_every_input_file_option_states_how_memory_grows() -> None:
    """Issue 20, item 1: each option that reads a file says in --help what it costs."""
    silent = sorted(
        " ".join(key)
        for key, text in path_options().items()
        if key[2] not in OUTPUT_OPTIONS and "memory" not in text.lower()
    )
    assert not silent, f"file options whose --help does not state their memory: {silent}"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _prior_run(out: Path) -> None:
    write = rundir.open_run(out, config={"note": "a previous run"})
    (write / "checkpoints").mkdir()
    (write / "metrics.json").write_text('{"accuracy": 0.9}\n')
    (write / "checkpoints" / "last.npz").write_bytes(b"previous checkpoint")
    rundir.finish_run(ok=True)


# Runs the command and records its peak resident memory (os.wait4's rusage).
MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _generate(spec: dict[str, Any]) -> str:
    """A generated file: ``pattern`` once per ``i < count``, then ``suffix``."""
    pattern, count = spec["pattern"], int(spec["count"])
    body = "".join(
        pattern.format(i=i, j=i + 1, a=2 * i + 1, b=2 * i + 2, r=i % 5 + 1, c=i % 2)
        for i in range(count)
    )
    return body + spec.get("suffix", "")


# Tiny real runs of the practicals whose files other rows hand to the wrong command.
TRAIN_RUNS = {
    "transformer": [
        "transformer", "train", "--task", "lm", "--num-train", "16", "--epochs", "1",
        "--d-model", "8", "--num-heads", "1", "--num-layers", "1", "--length", "8",
        "--batch-size", "8", "--no-progress",
    ],
    "diffusion": [
        "diffusion", "train", "--dataset", "toy2d", "--model", "mlp", "--epochs", "1",
        "--limit", "64", "--num-samples", "2", "--timesteps", "10", "--steps", "2",
        "--batch-size", "16", "--no-progress",
    ],
}  # fmt: skip
WIDTH_KEY = {"transformer": "d_model", "diffusion": "dim"}


def _trained_run(practical: str, request: pytest.FixtureRequest) -> Path:
    """A run folder of ``practical`` trained once per session (cached)."""
    root = request.getfixturevalue("tmp_path_factory").getbasetemp() / "trained-runs"
    run = root / practical
    if not (run / "model.npz").is_file():
        if practical not in INSTALLED:
            pytest.skip(f"khipu-{practical} is not installed")
        root.mkdir(exist_ok=True)
        env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}
        done = subprocess.run(
            [KHIPU, *TRAIN_RUNS[practical], "--out", str(run)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"training the {practical} run failed: {done.stderr}"
    return run


def _copy_run(spec: dict[str, Any], tmp: Path, request: pytest.FixtureRequest) -> None:
    import json

    import numpy as np

    source = _trained_run(spec["practical"], request)
    target = tmp / spec["path"]
    shutil.copytree(source, target)
    model = target / "model.npz"
    edit = spec.get("edit", "none")
    if edit == "truncate":
        data = model.read_bytes()
        model.write_bytes(data[: len(data) // 2])
    elif edit in ("config", "huge"):
        with np.load(model, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta_key = "__khipu_metadata__"
        meta = json.loads(arrays[meta_key].tobytes())
        key = WIDTH_KEY[spec["practical"]]
        width = meta["metadata"]["config"][key]
        meta["metadata"]["config"][key] = width // 2 if edit == "config" else 1_000_000
        arrays[meta_key] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
        savez: Any = np.savez
        savez(model, allow_pickle=False, **arrays)
    elif edit == "npz-as-text":
        shutil.copyfile(model, tmp / f"{spec['path']}.txt")
    elif edit != "none":
        raise ValueError(f"unknown run edit {edit!r}")


def _fill(text: str, tmp: Path, out: Path) -> str:
    return text.replace("{out}", str(out)).replace("{tmp}", str(tmp))


@pytest.mark.slow
@pytest.mark.parametrize(("label", "case"), CATALOGUE, ids=[label for label, _ in CATALOGUE])
def test_bad_input(
    label: str, case: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if case["args"][0] in TOPICS and case["args"][0] not in INSTALLED:
        pytest.skip(f"khipu-{case['args'][0]} is not installed")
    tmp = tmp_path / "scratch"
    out = tmp_path / "out"
    bystander = tmp_path / "bystander"
    tmp.mkdir()
    bystander.mkdir()
    (bystander / "notes.txt").write_text("not khipu's")
    for name, text in case.get("files", {}).items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, str):
            (tmp / name).write_text(_fill(text, tmp, out))
        elif isinstance(text, dict):  # a generated file
            (tmp / name).write_text(_generate(text))
        else:  # a list of byte values
            (tmp / name).write_bytes(bytes(text))
    if "run" in case:
        _copy_run(case["run"], tmp, request)
    if case.get("prior_run"):
        _prior_run(out)
    before = _snapshot(tmp_path)

    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}
    rss_file = tmp_path / "peak_rss_kib"
    proc = subprocess.Popen(
        [sys.executable, "-c", MEASURE, str(rss_file), KHIPU]
        + [_fill(a, tmp, out) for a in case["args"]],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=case.get("timeout", 180))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"{label}: still running after {case.get('timeout', 180)} s")
    peak_mib = int(rss_file.read_text()) / 1024
    rss_file.unlink()
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert proc.returncode == case["exit"], f"exit {proc.returncode}, stderr: {stderr[-2000:]}"
    if case["exit"] == 0:  # a hostile but valid input: it runs, within the memory bound
        assert not lines, f"a successful run wrote to stderr: {stderr[-2000:]}"
        lines = ["(ran)"]
    assert len(lines) == 1, f"stderr is not one line: {stderr[-2000:]}"
    for word in case["stderr"]:
        assert word.lower() in lines[0].lower(), f"{word!r} not in {lines[0]!r}"
    assert "Traceback" not in stderr + stdout
    bound = case.get("max_rss_mib", MAX_RSS_MIB)
    assert peak_mib < bound, f"peak memory {peak_mib:.0f} MiB (bound {bound} MiB)"
    print(f"{label}: exit {proc.returncode}, peak {peak_mib:.0f} MiB: {lines[0]}")

    after = _snapshot(tmp_path)
    lost = {name for name in before if name not in after}
    changed = {name for name in before if name in after and after[name] != before[name]}
    assert not lost, f"files lost: {sorted(lost)}"
    assert not changed, f"files changed: {sorted(changed)}"
    outside = {n for n in after if n not in before and not n.startswith("out/")}
    assert not outside, f"files written outside the run folder: {sorted(outside)}"
