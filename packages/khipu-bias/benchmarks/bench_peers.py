"""khipu.bias's metrics against WEFE 1.0.1, the same seven on the same query, in one run.

    hatch env create peers-wefe      # once: WEFE in its own environment (see below)
    hatch run peers:bench            # every package's peer benchmark (one core)
    python bench_peers.py [--wefe-python PATH] [--repeats 20]

WEFE 1.0.1 pins ``numpy<=1.26.4`` and ``scipy<1.13``, which the workspace's jax cannot
share, so it runs in its own Python (``[envs.peers-wefe]`` in hatch.toml), found as
``--wefe-python``, else ``$KHIPU_WEFE_PYTHON``, else ``hatch env find peers-wefe``; without
one the script says so in one line and stops. ``wefe_runner.py`` serves WEFE's metrics
in that Python over a pipe, so WEFE's rounds interleave with khipu's calls.

The query is ``en-gender-career`` on the offline default model (``bench_metrics.py``:
WEAT's d, RND Euclidean and cosine, RNSB with 10 classifiers, MAC, ECT, RIPA), both
sides reading the same unit vectors, both timed with the vocabulary look-up. khipu is
timed per metric (one jitted function each) and for all seven in one jitted call; WEFE
per ``run_query``. Before timing, the values are checked to agree once put in the same
convention (WEAT: WEFE divides by the population std, khipu by the sample std; RND
cosine: WEFE's sign is the opposite; RIPA: WEFE averages one-pair RIPAs, which khipu's
``ripa`` gives pair by pair, while khipu's default uses the pairs' principal direction);
RNSB is not compared (WEFE draws its classifiers' training sets unseeded). Compilation is
excluded, medians printed, ``WEFE / khipu`` as a ratio of times (> 1: khipu faster).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import khipu.bias as kb
from khipu.bias import metrics as m
from khipu.core.cli import positive_int

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_metrics import METRICS, QUERY, all_metrics, khipu_run, query_words

ROOT = Path(__file__).resolve().parents[3]
ENV_VAR = "KHIPU_WEFE_PYTHON"
RTOL = 1e-4  # the vectors go through word2vec's text format on WEFE's side
NOT_COMPARED = {"rnsb": "WEFE's classifiers train on unseeded random splits"}


def find_wefe_python(given: str | None = None) -> Path | None:
    """The Python of WEFE's environment: ``given``, ``$KHIPU_WEFE_PYTHON``, or hatch's
    ``peers-wefe`` env; ``None`` if the one named (or found) does not exist."""
    candidate = given or os.environ.get(ENV_VAR)
    if candidate is None and shutil.which("hatch"):
        found = subprocess.run(
            ["hatch", "env", "find", "peers-wefe"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if found.returncode == 0 and found.stdout.strip():
            candidate = str(Path(found.stdout.strip().splitlines()[-1]) / "bin" / "python")
    if candidate is None:
        return None
    path = Path(candidate)
    return path if path.is_file() else None


def in_wefe_conventions(x: jax.Array, y: jax.Array, a: jax.Array, b: jax.Array) -> dict[str, float]:
    """khipu's metrics on unit vectors, put in WEFE 1.0.1's conventions (RNSB left out).

    Args:
      x, y: target vectors ``[N, D]`` (the same N: RIPA pairs them row by row).
      a, b: attribute vectors ``[Na, D]``, ``[Nb, D]``.
    """
    return {k: float(v) for k, v in _in_wefe_conventions(x, y, a, b).items()}


@jax.jit
def _in_wefe_conventions(
    x: jax.Array, y: jax.Array, a: jax.Array, b: jax.Array
) -> dict[str, jax.Array]:
    n = x.shape[0] + y.shape[0]
    ab = jnp.concatenate([a, b])
    one_pair = jax.vmap(lambda xi, yi: m.ripa(xi[None], yi[None], ab))(x, y)  # [N, Na + Nb]
    return {
        "weat_effect_size": m.weat_d(x, y, a, b) * math.sqrt(n / (n - 1)),  # population std
        "rnd_euclidean": m.rnd(x, y, a),
        "rnd_cosine": -m.rnd(x, y, a, distance="cosine"),  # WEFE: cos(a, c1) - cos(a, c2)
        "mac": m.mac([x, y], [a, b]),
        "ect": m.ect(x, y, ab),
        "ripa": one_pair.mean(),  # the mean of one-pair RIPAs
    }


def compare(ours: Mapping[str, float], theirs: Mapping[str, float | None]) -> dict[str, bool]:
    """Whether each metric of ``ours`` equals WEFE's (relative tolerance :data:`RTOL`)."""
    return {
        name: theirs.get(name) is not None
        and math.isclose(value, float(theirs[name] or 0.0), rel_tol=RTOL, abs_tol=1e-6)
        for name, value in ours.items()
    }


class WefeSession:
    """``wefe_runner.py`` in WEFE's Python: ``values`` on start, ``time_round()`` after."""

    def __init__(self, python: Path, vectors: Path, query: Path) -> None:
        runner = Path(__file__).with_name("wefe_runner.py")
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  (a pipe could fill up)
        self.proc = subprocess.Popen(
            [str(python), str(runner), str(vectors), str(query)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        first = self._line()
        self.values: dict[str, float | None] = first["values"]
        self.versions: dict[str, str] = first["versions"]

    def _line(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=60)
            self.stderr.seek(0)
            last = (self.stderr.read().strip().splitlines() or ["no message"])[-1]
            raise SystemExit(f"wefe_runner.py stopped (exit {self.proc.returncode}): {last}")
        return json.loads(line)

    def time_round(self) -> dict[str, float]:
        """Seconds of each WEFE metric, run once each (timed inside WEFE's process)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("time\n")
        self.proc.stdin.flush()
        return dict(self._line())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.stderr.close()


def one_metric(name: str) -> Callable[..., dict[str, jax.Array]]:
    """``bench_metrics.METRICS[name]`` alone, jitted, in ``khipu_run``'s shape."""
    f = METRICS[name]
    return jax.jit(lambda x, y, a, b, key: {name: f(x, y, a, b, key)})


def _timed(fn: Callable[..., object], *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wefe-python", help=f"python with wefe==1.0.1 (else ${ENV_VAR}, hatch)")
    parser.add_argument("--repeats", type=positive_int, default=20)
    parser.add_argument("--quick", action="store_true", help="5 repeats")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else args.repeats
    python = find_wefe_python(args.wefe_python)
    if python is None:
        where = args.wefe_python or os.environ.get(ENV_VAR) or "hatch env find peers-wefe"
        print(f"WEFE's Python not found ({where}): `hatch env create peers-wefe`; skipped.")
        return

    emb = kb.default_embeddings()
    words = query_words(emb)
    vec = {r: jnp.asarray(emb.matrix(words[r])) for r in "XYAB"}
    with tempfile.TemporaryDirectory() as tmp:
        vectors = emb.save_word2vec(Path(tmp) / "vectors.txt")
        query = Path(tmp) / "query.json"
        query.write_text(json.dumps(words))
        session = WefeSession(python, vectors, query)
    try:
        ours = in_wefe_conventions(vec["X"], vec["Y"], vec["A"], vec["B"])
        same = compare(ours, session.values)
        print(
            f"query {QUERY} on {emb.name}: |X| = |Y| = {len(words['X'])}, "
            f"|A| = {len(words['A'])}, |B| = {len(words['B'])}"
        )
        print(f"same values as WEFE (WEFE's conventions, rtol {RTOL:g}): {all(same.values())}")
        for name, value in ours.items():
            mark = "yes" if same[name] else "NO"
            print(f"  {name:<17} khipu {value:+.6f}  WEFE {session.values[name]:+.6f}  {mark}")
        for name, why in NOT_COMPARED.items():
            print(f"  {name:<17} not compared: {why}")
        if not all(same.values()):
            raise SystemExit("khipu and WEFE disagree: timings would not compare the same work")

        singles = {name: one_metric(name) for name in METRICS}
        khipu_run(emb, words)  # compile
        for fn in singles.values():
            khipu_run(emb, words, fn)
        khipu_all: list[float] = []
        khipu_each: dict[str, list[float]] = {name: [] for name in METRICS}
        wefe_each: dict[str, list[float]] = {name: [] for name in METRICS}
        wefe_all: list[float] = []
        for _ in range(repeats):  # interleaved: khipu's calls, then one WEFE round
            khipu_all.append(_timed(khipu_run, emb, words, all_metrics))
            for name, fn in singles.items():
                khipu_each[name].append(_timed(khipu_run, emb, words, fn))
            round_ = session.time_round()
            for name in METRICS:
                wefe_each[name].append(round_[name])
            wefe_all.append(sum(round_.values()))
    finally:
        session.close()

    med = statistics.median
    load = os.getloadavg()[0]
    print(
        f"load average: {load:.1f}; jax {jax.__version__}, WEFE {session.versions['wefe']} "
        f"(numpy {session.versions['numpy']}); medians of {repeats} interleaved rounds"
    )
    print(f"  {'metric':<17} {'khipu':>10} {'WEFE':>11}   WEFE / khipu")
    for name in METRICS:
        k, w = med(khipu_each[name]), med(wefe_each[name])
        print(f"  {name:<17} {k * 1e3:7.2f} ms {w * 1e3:8.2f} ms   {w / k:8.1f}")
    k, w = med(khipu_all), med(wefe_all)
    print(f"  {'all seven':<17} {k * 1e3:7.2f} ms {w * 1e3:8.2f} ms   {w / k:8.1f}")
    print("  (khipu's 'all seven' is one jitted call; WEFE's the sum of its seven run_query)")


if __name__ == "__main__":
    main()
