"""Every metric on one query: khipu.bias (JAX, jitted, vectorised), khipu's side alone.

The query is ``en-gender-career`` on the offline default model (9.5k words, 100-d). khipu
computes WEAT's d, RND (Euclidean and cosine), RNSB (10 seeded classifiers, vmapped), MAC,
ECT and RIPA in one jitted call on the looked-up unit vectors; the time includes the
vocabulary look-up::

    python bench_metrics.py [--repeats 20]

Times are medians over the repeats after one warm-up call (which compiles khipu's
function). The same seven metrics against WEFE 1.0.1, interleaved and checked for equal
values: ``bench_peers.py`` (``hatch run peers:bench``), which imports this module.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import khipu.bias as kb
from khipu.bias import metrics as m

QUERY = "en-gender-career"

# name -> f(x, y, a, b, key): the seven metrics as WEFE runs them on one query
Metric = Callable[[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]
METRICS: dict[str, Metric] = {
    "weat_effect_size": lambda x, y, a, b, key: m.weat_d(x, y, a, b),
    "rnd_euclidean": lambda x, y, a, b, key: m.rnd(x, y, a),
    "rnd_cosine": lambda x, y, a, b, key: m.rnd(x, y, a, distance="cosine"),
    "rnsb": lambda x, y, a, b, key: m.rnsb(jnp.concatenate([x, y]), a, b, key, n_seeds=10)[
        0
    ].mean(),
    "mac": lambda x, y, a, b, key: m.mac([x, y], [a, b]),
    "ect": lambda x, y, a, b, key: m.ect(x, y, jnp.concatenate([a, b])),
    "ripa": lambda x, y, a, b, key: m.ripa(x, y, jnp.concatenate([a, b])).mean(),
}


@jax.jit
def all_metrics(
    x: jax.Array, y: jax.Array, a: jax.Array, b: jax.Array, key: jax.Array
) -> dict[str, jax.Array]:
    """Every metric of :data:`METRICS` in one jitted call."""
    return {name: f(x, y, a, b, key) for name, f in METRICS.items()}


def query_words(emb: kb.WordEmbeddings, test: str = QUERY) -> dict[str, list[str]]:
    """The words of ``test``'s sets X, Y, A, B that ``emb`` has (as WEAT keeps them)."""
    result = kb.weat(emb, kb.get_test(test), n_permutations=10)
    return {r: list(result.words[r]) for r in "XYAB"}


def khipu_run(
    emb: kb.WordEmbeddings,
    words: dict[str, list[str]],
    fn: Callable[..., dict[str, jax.Array]] = all_metrics,
) -> dict[str, float]:
    """Looks the words up and runs ``fn`` (all metrics, or one: see ``bench_peers.py``)."""
    vec = {r: jnp.asarray(emb.matrix(words[r])) for r in "XYAB"}
    out = fn(vec["X"], vec["Y"], vec["A"], vec["B"], jax.random.key(0))
    return {k: float(v) for k, v in out.items()}  # float() waits for the result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    emb = kb.default_embeddings()
    words = query_words(emb)
    values = khipu_run(emb, words)  # compile
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        khipu_run(emb, words)
        times.append(time.perf_counter() - start)
    khipu_time = sorted(times)[len(times) // 2]
    print(
        f"query {QUERY} on {emb.name}: |X| = |Y| = {len(words['X'])}, "
        f"|A| = {len(words['A'])}, |B| = {len(words['B'])}"
    )
    print(f"khipu.bias, all seven metrics in one jitted call: {khipu_time * 1e3:.2f} ms")
    for k, v in values.items():
        print(f"  {k:<17} {v:+.4f}")
    print("against WEFE 1.0.1: bench_peers.py (hatch run peers:bench)")


if __name__ == "__main__":
    main()
