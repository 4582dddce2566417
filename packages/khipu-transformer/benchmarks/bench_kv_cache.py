"""Generation of 256 tokens with the KV cache against re-running the model on the
whole sequence for every new token, measured in the same run.

    python bench_kv_cache.py [--quick] [--new-tokens N] [--layers L] [--d-model D]

Both paths are jitted ``lax.scan`` loops over the same (untrained) decoder-only
LM and greedy decoding; compilation is excluded (one warm-up call each).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
from khipu.transformer import TransformerConfig, generate, lm_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--prompt-length", type=int, default=16)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=1)
    args = parser.parse_args()
    config = TransformerConfig(
        vocab_size=64,
        d_model=args.d_model,
        num_heads=4,
        num_layers=args.layers,
        max_len=args.prompt_length + args.new_tokens,
    )
    prompt = jnp.asarray(
        np.random.default_rng(0).integers(3, 64, (args.batch_size, args.prompt_length)),
        jnp.int32,
    )
    params = lm_model(config).init(jax.random.key(0), prompt)
    repeats = 2 if args.quick else 5
    print(f"devices: {jax.devices()}")

    def run(use_cache: bool) -> np.ndarray:
        return generate(config, params, prompt, args.new_tokens, use_cache=use_cache)

    cached = kc.time_call(run, True, repeats=repeats, warmup=1)
    rerun = kc.time_call(run, False, repeats=max(1, repeats // 2), warmup=1)
    same = bool((run(True) == run(False)).all())
    n = args.new_tokens
    print(f"KV cache:  {n} tokens in {cached * 1e3:8.1f} ms ({n / cached:,.0f} tokens/s)")
    print(f"re-run:    {n} tokens in {rerun * 1e3:8.1f} ms ({n / rerun:,.0f} tokens/s)")
    print(f"same tokens: {same}")
    print(f"ratio: {rerun / cached:.1f}x")


if __name__ == "__main__":
    main()
