"""WEAT permutation test: vectorised (khipu.bias) against per-permutation Python loops.

For target sets of 8 to 25 words the vectorised test evaluates 10^5 partitions (or every
partition when there are fewer, e.g. C(16, 8) = 12,870 for 8 words). Two baselines walk the
very same partitions one at a time, so all three must give the same p-value:

* ``loop``: the formula as written -- for each permutation, recompute
  S(X_i, Y_i) = sum_x s(x, A, B) - sum_y s(y, A, B) from the word vectors (as WEFE does);
* ``memo loop``: the same loop with s(w, A, B) computed once per word (as SEAT does).

The baselines are handed the partitions for free (their sampling time is not counted); the
vectorised time includes drawing the partitions.

    python bench_permutation.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from khipu.bias.weat import association, exact_partitions, permutation_test, sample_partitions


def loop_p_value(x, y, a, b, masks):  # type: ignore[no-untyped-def]
    """Per-permutation loop recomputing the statistic from the vectors."""
    pool = np.concatenate([x, y])

    def stat(px: np.ndarray, py: np.ndarray) -> float:
        return float(association(px, a, b).sum() - association(py, a, b).sum())

    observed = stat(x, y)
    tol = 1e-12 * max(1.0, float(np.abs(association(pool, a, b)).sum()))
    greater = 0
    for mask in masks:
        greater += stat(pool[mask], pool[~mask]) > observed + tol
    return greater / len(masks)


def memo_loop_p_value(s_x, s_y, masks):  # type: ignore[no-untyped-def]
    """Per-permutation loop over memoised associations (Python sums)."""
    pool = [float(v) for v in np.concatenate([s_x, s_y])]
    observed = sum(pool[: len(s_x)]) - sum(pool[len(s_x) :])
    tol = 1e-12 * max(1.0, sum(abs(v) for v in pool))
    greater = 0
    for mask in masks:
        chosen = mask.tolist()
        sx = sum(v for v, c in zip(pool, chosen, strict=True) if c)
        sy = sum(v for v, c in zip(pool, chosen, strict=True) if not c)
        greater += sx - sy > observed + tol
    return greater / len(masks)


def vectorised(x, y, a, b, k, seed):  # type: ignore[no-untyped-def]
    """khipu.bias: associations once, then every partition at once."""
    return permutation_test(
        association(x, a, b), association(y, a, b), n_permutations=k, exact_limit=0, seed=seed
    )


def best_time(fn, repeats: int, *args) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^4 permutations, two sizes")
    parser.add_argument("--permutations", type=int, default=None)
    args = parser.parse_args()
    k = args.permutations or (10_000 if args.quick else 100_000)
    sizes = (8, 25) if args.quick else (8, 12, 16, 20, 25)
    dim, n_attr, seed = 50, 25, 0
    print(f"WEAT permutation test, {k} permutations, {dim}-d vectors, |A| = |B| = {n_attr}")
    print(
        f"{'|X|=|Y|':>8} {'partitions':>11} {'vectorised':>11} {'memo loop':>10} {'loop':>9} "
        f"{'x memo':>7} {'x loop':>7}  p-value (vectorised = memo loop = loop)"
    )
    ratios = []
    for n in sizes:
        rng = np.random.default_rng(n)
        x, y = rng.normal(size=(n, dim)) + 0.05, rng.normal(size=(n, dim))
        a, b = rng.normal(size=(n_attr, dim)) + 0.05, rng.normal(size=(n_attr, dim))
        s_x, s_y = association(x, a, b), association(y, a, b)
        total = math.comb(2 * n, n)
        exact = total <= k
        repeats = 3 if args.quick else 5

        t_vec, res = best_time(vectorised, repeats, x, y, a, b, k, seed)
        masks = exact_partitions(2 * n, n) if exact else sample_partitions(2 * n, n, k, seed=seed)
        t_memo, p_memo = best_time(memo_loop_p_value, 1, s_x, s_y, masks)
        t_loop, p_loop = best_time(loop_p_value, 1, x, y, a, b, masks)
        p_vec = res.p_value  # type: ignore[attr-defined]
        assert res.exact == exact and res.n_permutations == len(masks)  # type: ignore[attr-defined]
        assert p_vec == p_memo == p_loop, (p_vec, p_memo, p_loop)
        ratios.append((t_memo / t_vec, t_loop / t_vec))
        kind = "exact" if exact else "sampled"
        print(
            f"{n:>8} {len(masks):>11} {t_vec * 1e3:>9.1f}ms {t_memo:>9.2f}s {t_loop:>8.2f}s "
            f"{t_memo / t_vec:>6.0f}x {t_loop / t_vec:>6.0f}x  {p_vec:.5f} ({kind})"
        )
    memo = min(r[0] for r in ratios)
    loop = min(r[1] for r in ratios)
    print(
        f"RATIO (smallest over sizes): vectorised vs loop {loop:.0f}x, vs memo loop {memo:.0f}x "
        "-- same p-values"
    )


if __name__ == "__main__":
    main()
