"""``make_train_step(..., donate=True)`` against the plain step, measured in one run.

    python bench_donate.py [--quick] [--repeats 20]

Donating the state (``jax.jit(..., donate_argnums=0)``) lets XLA write the new parameters
and Adam moments into the old ones' buffers instead of allocating fresh ones. Two models:
the small CNN of ``bench_train_step.py`` (compute-bound) and a wide MLP (3 x 1024, about
2 M parameters, batch 32: the update is a large share of the step). Both steps are
compiled first, then timed with interleaved repeats; medians and ``plain / donate`` are
printed with the load average (> 1: donation is faster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
from bench_train_step import init_cnn, loss_fn as cnn_loss


def init_mlp(key: jax.Array, width: int = 1024, depth: int = 3) -> list[jax.Array]:
    keys = jax.random.split(key, depth + 1)
    sizes = [784, *[width] * depth, 10]
    return [
        jax.random.normal(k, (a, b)) / np.sqrt(a)
        for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def mlp_loss(params, model_state, key, batch):  # type: ignore[no-untyped-def]
    h = batch["image"].reshape(batch["image"].shape[0], -1)
    for w in params[:-1]:
        h = jax.nn.relu(h @ w)
    logits = h @ params[-1]
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
    return loss, (model_state, {})


def compare(loss_fn: Any, params: Any, batch: Any, repeats: int) -> dict[str, float]:
    opt = optax.adam(1e-3)
    steps = {
        "plain": kc.make_train_step(loss_fn, opt),
        "donate": kc.make_train_step(loss_fn, opt, donate=True),
    }
    states = {k: kc.init_train_state(jax.tree.map(jnp.copy, params), opt, key=0) for k in steps}
    times: dict[str, list[float]] = {k: [] for k in steps}
    for i in range(repeats + 2):  # the first two calls compile and warm up
        for k, step in steps.items():
            start = time.perf_counter()
            states[k], metrics = step(states[k], batch)
            jax.block_until_ready(metrics["loss"])
            if i >= 2:
                times[k].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 repeats")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    repeats = 5 if args.quick else args.repeats
    rng = np.random.default_rng(0)
    for name, loss_fn, params, batch_size in (
        ("small CNN, batch 128", cnn_loss, init_cnn(jax.random.key(0)), 128),
        ("MLP 3x1024, batch 32", mlp_loss, init_mlp(jax.random.key(0)), 32),
    ):
        batch = {
            "image": jnp.asarray(rng.random((batch_size, 28, 28, 1), dtype=np.float32)),
            "label": jnp.asarray(rng.integers(0, 10, batch_size), jnp.int32),
        }
        med = compare(loss_fn, params, batch, repeats)
        print(
            f"{name}: load {os.getloadavg()[0]:.1f}; plain {med['plain'] * 1e3:.2f} ms, "
            f"donate {med['donate'] * 1e3:.2f} ms; "
            f"plain / donate {med['plain'] / med['donate']:.3f}"
        )


if __name__ == "__main__":
    main()
