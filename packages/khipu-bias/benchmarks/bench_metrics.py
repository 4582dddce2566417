"""Every metric on one query: khipu.bias (JAX, jitted, vectorised) against WEFE 1.0.1.

The query is ``en-gender-career`` on the offline default model (9.5k words, 100-d). khipu
computes WEAT's d, RND (Euclidean and cosine), RNSB (10 seeded classifiers, vmapped), MAC,
ECT and RIPA in one jitted call on the looked-up unit vectors; the time includes the
vocabulary look-up. WEFE runs each metric through ``run_query`` (its look-up included;
RNSB with ``n_iterations=10``) in a **separate** Python environment, since WEFE pins
``numpy<=1.26.4`` and ``scipy<1.13``::

    uv venv -p 3.11 /tmp/wefe-venv && VIRTUAL_ENV=/tmp/wefe-venv uv pip install wefe==1.0.1
    python bench_metrics.py --wefe-python /tmp/wefe-venv/bin/python [--repeats 20]

Without ``--wefe-python`` only khipu's times are printed. Times are medians over the
repeats after one warm-up call (which compiles khipu's function). The ratio is WEFE's
summed median time over khipu's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import khipu.bias as kb
from khipu.bias import metrics as m


@jax.jit
def all_metrics(
    x: jax.Array, y: jax.Array, a: jax.Array, b: jax.Array, key: jax.Array
) -> dict[str, jax.Array]:
    ab = jnp.concatenate([a, b])
    kl, _ = m.rnsb(jnp.concatenate([x, y]), a, b, key, n_seeds=10)
    return {
        "weat_effect_size": m.weat_d(x, y, a, b),
        "rnd_euclidean": m.rnd(x, y, a),
        "rnd_cosine": m.rnd(x, y, a, distance="cosine"),
        "rnsb": kl.mean(),
        "mac": m.mac([x, y], [a, b]),
        "ect": m.ect(x, y, ab),
        "ripa": m.ripa(x, y, ab).mean(),
    }


def khipu_run(emb: kb.WordEmbeddings, words: dict[str, list[str]]) -> dict[str, float]:
    vec = {r: jnp.asarray(emb.matrix(words[r])) for r in "XYAB"}
    out = all_metrics(vec["X"], vec["Y"], vec["A"], vec["B"], jax.random.key(0))
    return {k: float(v) for k, v in out.items()}  # float() waits for the result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wefe-python", help="python of an environment with wefe==1.0.1")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    emb = kb.default_embeddings()
    result = kb.weat(emb, kb.get_test("en-gender-career"), n_permutations=10)
    words = {r: list(result.words[r]) for r in "XYAB"}
    values = khipu_run(emb, words)  # compile
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        khipu_run(emb, words)
        times.append(time.perf_counter() - start)
    khipu_time = sorted(times)[len(times) // 2]
    print(
        f"query en-gender-career on {emb.name}: |X| = |Y| = {len(words['X'])}, "
        f"|A| = {len(words['A'])}, |B| = {len(words['B'])}"
    )
    print(f"khipu.bias, all seven metrics in one jitted call: {khipu_time * 1e3:.2f} ms")
    for k, v in values.items():
        print(f"  {k:<17} {v:+.4f}")
    if not args.wefe_python:
        return
    with tempfile.TemporaryDirectory() as tmp:
        vectors = emb.save_word2vec(Path(tmp) / "vectors.txt")
        query = Path(tmp) / "query.json"
        query.write_text(json.dumps(words))
        runner = Path(__file__).with_name("wefe_runner.py")
        proc = subprocess.run(
            [args.wefe_python, str(runner), str(vectors), str(query), str(args.repeats)],
            capture_output=True,
            text=True,
            check=True,
        )
    wefe = json.loads(proc.stdout.strip().splitlines()[-1])
    total = sum(r["seconds"] for r in wefe.values())
    print(f"WEFE 1.0.1, the same seven metrics one run_query each: {total * 1e3:.1f} ms")
    for k, r in wefe.items():
        print(f"  {k:<17} {r['seconds'] * 1e3:8.2f} ms   value {r['value']}")
    print(f"ratio WEFE / khipu: {total / khipu_time:.0f}x")


if __name__ == "__main__":
    main()
