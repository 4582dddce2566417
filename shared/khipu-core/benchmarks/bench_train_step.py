"""khipu-core benchmarks, each a ratio measured in the same run.

1. Achieved GFLOP/s of a jitted training step of a small CNN (forward + backward + Adam,
   FLOPs from XLA's cost analysis) against the machine's measured float32 matmul GFLOP/s.
2. The overhead of ``fit()`` per step against a bare Python loop over the same jitted step
   and the same batches.

    python bench_train_step.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax


def matmul_gflops(n: int) -> float:
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    seconds = kc.time_call(jax.jit(jnp.dot), a, b, repeats=5)
    return 2 * n**3 / seconds / 1e9


def init_cnn(key: jax.Array) -> dict[str, jax.Array]:
    k = jax.random.split(key, 3)
    return {
        "c1": 0.1 * jax.random.normal(k[0], (3, 3, 1, 32)),
        "c2": 0.05 * jax.random.normal(k[1], (3, 3, 32, 64)),
        "d": 0.01 * jax.random.normal(k[2], (7 * 7 * 64, 10)),
    }


def cnn(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """x: [B, 28, 28, 1] -> logits [B, 10]."""
    dn = ("NHWC", "HWIO", "NHWC")
    h = jax.nn.relu(
        jax.lax.conv_general_dilated(x, params["c1"], (1, 1), "SAME", dimension_numbers=dn)
    )
    h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    h = jax.nn.relu(
        jax.lax.conv_general_dilated(h, params["c2"], (1, 1), "SAME", dimension_numbers=dn)
    )
    h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    return h.reshape(h.shape[0], -1) @ params["d"]


def loss_fn(params, model_state, key, batch):  # type: ignore[no-untyped-def]
    logits = cnn(params, batch["image"])
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
    return loss, (model_state, {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args()
    batch_size = 64 if args.quick else 128
    n_examples = batch_size * (8 if args.quick else 40)

    rng = np.random.default_rng(0)
    data = {
        "image": rng.random((n_examples, 28, 28, 1), dtype=np.float32),
        "label": rng.integers(0, 10, n_examples).astype(np.int32),
    }
    opt = optax.adam(1e-3)
    state = kc.init_train_state(init_cnn(jax.random.key(0)), opt, key=0)
    step = kc.make_train_step(loss_fn, opt)
    batch = {k: jnp.asarray(v[:batch_size]) for k, v in data.items()}

    flops = step.lower(state, batch).compile().cost_analysis()["flops"]  # type: ignore[attr-defined]
    step_seconds = kc.time_call(step, state, batch, repeats=10)
    step_gflops = flops / step_seconds / 1e9
    peak = matmul_gflops(512 if args.quick else 1024)

    # fit() against a bare loop over the same jitted step and batches
    def bare_loop() -> float:
        s = state
        start = time.perf_counter()
        order = np.random.default_rng([0, 1])
        for b in kc.batches(data, batch_size, seed=order, drop_remainder=True):
            s, _ = step(s, b)
        jax.block_until_ready(s)
        return time.perf_counter() - start

    def with_fit() -> float:
        start = time.perf_counter()
        result = kc.fit(state, step, data, batch_size=batch_size, epochs=1, progress=False)
        jax.block_until_ready(result.state)
        return time.perf_counter() - start

    bare_loop()
    with_fit()  # warm up both
    bare = min(bare_loop() for _ in range(3))
    fitted = min(with_fit() for _ in range(3))
    steps = n_examples // batch_size
    report = {
        "device": str(jax.devices()[0].platform),
        "train_step_gflops": round(step_gflops, 2),
        "matmul_gflops": round(peak, 2),
        "train_step_fraction_of_matmul": round(step_gflops / peak, 3),
        "bare_loop_ms_per_step": round(1e3 * bare / steps, 3),
        "fit_ms_per_step": round(1e3 * fitted / steps, 3),
        "fit_overhead_ms_per_step": round(1e3 * (fitted - bare) / steps, 3),
        "fit_over_bare_ratio": round(fitted / bare, 3),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
