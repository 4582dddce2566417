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
"""

from __future__ import annotations

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


def _fill(text: str, tmp: Path, out: Path) -> str:
    return text.replace("{out}", str(out)).replace("{tmp}", str(tmp))


@pytest.mark.slow
@pytest.mark.parametrize(("label", "case"), CATALOGUE, ids=[label for label, _ in CATALOGUE])
def test_bad_input(label: str, case: dict[str, Any], tmp_path: Path) -> None:
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
        else:  # a list of byte values
            (tmp / name).write_bytes(bytes(text))
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
    assert len(lines) == 1, f"stderr is not one line: {stderr[-2000:]}"
    for word in case["stderr"]:
        assert word.lower() in lines[0].lower(), f"{word!r} not in {lines[0]!r}"
    assert "Traceback" not in stderr + stdout
    assert peak_mib < MAX_RSS_MIB, f"peak memory {peak_mib:.0f} MiB"
    print(f"{label}: exit {proc.returncode}, peak {peak_mib:.0f} MiB: {lines[0]}")

    after = _snapshot(tmp_path)
    lost = {name for name in before if name not in after}
    changed = {name for name in before if name in after and after[name] != before[name]}
    assert not lost, f"files lost: {sorted(lost)}"
    assert not changed, f"files changed: {sorted(changed)}"
    outside = {n for n in after if n not in before and not n.startswith("out/")}
    assert not outside, f"files written outside the run folder: {sorted(outside)}"
