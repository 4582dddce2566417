"""The char-LM train step with attention normalised late against normalised early, one run.

    python bench_attention.py [--repeats 20] [--batch-size 32] [--length 128] [--d-model 64]

``scaled_dot_product_attention`` computes ``softmax(Q Kᵀ / √d) V`` as
``(exp(S - max) V) / Σ exp(S - max)`` with the scale applied to the queries: the
``[B, H, T, T]`` scores are neither scaled nor divided (the ``[B, H, T, d]`` outputs
are). The baseline is the textbook order — scale the scores, normalise them with
``masked_softmax``, multiply by ``V`` — patched into the same model. Both train
steps (the package's ``lm_loss_fn``, Adam with clipping) run on the same batch,
interleaved; the medians of wall time and of process CPU time (steadier on a shared
machine) are printed with ``early / late`` and the load average. The losses must
agree (printed).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
from khipu.transformer import (
    TransformerConfig,
    attention as attention_module,
    lm_model,
    models as models_module,
)
from khipu.transformer.train import lm_loss_fn, make_optimizer


def early_attention(
    query: jax.Array, key: jax.Array, value: jax.Array, mask: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    """The textbook order: scale the scores, softmax them, then weight the values."""
    scores = jnp.einsum("...qd,...kd->...qk", query, key) / math.sqrt(query.shape[-1])
    weights = attention_module.masked_softmax(scores, mask)
    return jnp.einsum("...qk,...kd->...qd", weights, value), weights


def make_step(
    config: TransformerConfig, batch: dict[str, jax.Array], attention: Callable[..., Any]
) -> tuple[Callable[[], float], float]:
    """A thunk running one train step with ``attention`` traced into the model."""
    saved = models_module.scaled_dot_product_attention
    models_module.scaled_dot_product_attention = attention
    try:
        params = lm_model(config).init(jax.random.key(0), batch["tokens"][:, :-1])
        opt = make_optimizer(2e-3)
        step = kc.make_train_step(lm_loss_fn(config), opt)
        holder = {"state": kc.init_train_state(params, opt, key=0)}
        first = float(step(holder["state"], batch)[1]["loss"])  # traced (and compiled) here
    finally:
        models_module.scaled_dot_product_attention = saved

    def run() -> float:
        holder["state"], metrics = step(holder["state"], batch)
        return float(metrics["loss"])

    return run, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--d-model", type=int, default=64)
    args = parser.parse_args()
    config = TransformerConfig(
        vocab_size=64,
        d_model=args.d_model,
        num_heads=4,
        num_layers=2,
        max_len=args.length,
        pre_ln=True,
        positional="learned",
    )
    tokens = np.random.default_rng(0).integers(3, 64, (args.batch_size, args.length + 1))
    batch = {"tokens": jnp.asarray(tokens, jnp.int32)}
    steps = {
        "early": make_step(config, batch, early_attention),
        "late": make_step(config, batch, attention_module.scaled_dot_product_attention),
    }
    losses = {name: loss for name, (_, loss) in steps.items()}
    wall: dict[str, list[float]] = {name: [] for name in steps}
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, (run, _) in steps.items():
            w, c = time.perf_counter(), time.process_time()
            run()
            wall[name].append(time.perf_counter() - w)
            cpu[name].append(time.process_time() - c)
    med = {
        k: {n: statistics.median(v) for n, v in d.items()}
        for k, d in (("wall", wall), ("cpu", cpu))
    }
    print(f"load average {os.getloadavg()[0]:.1f}; jax {jax.__version__}; {args.repeats} repeats")
    print(f"first-step loss: early {losses['early']:.6f}, late {losses['late']:.6f}")
    for kind, m in med.items():
        print(
            f"{kind:4s}: early {m['early'] * 1e3:7.2f} ms   late {m['late'] * 1e3:7.2f} ms   "
            f"early / late {m['early'] / m['late']:.2f}"
        )


if __name__ == "__main__":
    main()
