"""Segment-sum message passing against a dense-adjacency matmul, and time vs edge count.

    python benchmarks/bench_message_passing.py [--quick] [--out DIR]

One propagation step ``out = A^T X`` (``X`` ``[N, 64]``) on a random graph: jraph-style
``segment_sum`` over the edge list (khipu.gnn.propagate) against ``A.T @ X`` with the dense
``[N, N]`` adjacency, both jitted, best of 5 after a warm-up. Prints the ratio
(default: 10^4 nodes, 10^5 edges) and the segment-sum time for growing edge counts with
the fitted log-log slope (1.0 = linear growth).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from khipu.core import time_call
from khipu.gnn.layers import propagate


def random_edges(num_nodes: int, num_edges: int, seed: int) -> tuple[jax.Array, jax.Array]:
    rng = np.random.default_rng(seed)
    return (
        jnp.asarray(rng.integers(0, num_nodes, num_edges), jnp.int32),
        jnp.asarray(rng.integers(0, num_nodes, num_edges), jnp.int32),
    )


def time_segment_sum(x: jax.Array, senders: jax.Array, receivers: jax.Array) -> float:
    n = x.shape[0]
    fn = jax.jit(lambda x, s, r: propagate(x, s, r, n))
    return time_call(fn, x, senders, receivers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 nodes / 20,000 edges")
    parser.add_argument("--out", type=Path, default=None, help="write results.json and a plot")
    args = parser.parse_args()
    n, e = (2_000, 20_000) if args.quick else (10_000, 100_000)
    features = 64
    x = jax.random.normal(jax.random.key(0), (n, features))
    senders, receivers = random_edges(n, e, 0)
    sparse = time_segment_sum(x, senders, receivers)
    adjacency = jnp.zeros((n, n), jnp.float32).at[senders, receivers].add(1.0)
    dense_fn = jax.jit(lambda a, x: a.T @ x)
    dense = time_call(dense_fn, adjacency, x)
    np.testing.assert_allclose(
        np.asarray(dense_fn(adjacency, x)),
        np.asarray(jax.jit(lambda x, s, r: propagate(x, s, r, n))(x, senders, receivers)),
        rtol=1e-3,
        atol=1e-3,
    )
    del adjacency
    print(f"{n} nodes, {e} edges, {features} features")
    print(f"segment_sum  {sparse * 1e3:9.2f} ms")
    print(f"dense matmul {dense * 1e3:9.2f} ms")
    print(f"speed-up     {dense / sparse:9.1f}x  (target >= 10x)")

    counts = [e // 10, e // 3, e, 3 * e, 10 * e]
    times = []
    for m in counts:
        s, r = random_edges(n, m, 1)
        times.append(time_segment_sum(x, s, r))
        print(f"edges {m:>9}: {times[-1] * 1e3:8.2f} ms")
    slope = float(np.polyfit(np.log(counts), np.log(times), 1)[0])
    large = float(np.polyfit(np.log(counts[-3:]), np.log(times[-3:]), 1)[0])
    print(
        f"log-log slope of time vs edges: {slope:.2f} overall, "
        f"{large:.2f} over the three largest counts (1.0 = linear)"
    )
    if args.out is not None:
        from khipu.gnn.plots import plot_scaling

        args.out.mkdir(parents=True, exist_ok=True)
        result = {
            "nodes": n,
            "edges": e,
            "segment_sum_s": sparse,
            "dense_s": dense,
            "speedup": dense / sparse,
            "edge_counts": counts,
            "segment_sum_times_s": times,
            "slope": slope,
            "slope_largest_three": large,
        }
        (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
        plot_scaling(counts, {"segment_sum": times}, path=args.out / "scaling.png")


if __name__ == "__main__":
    main()
