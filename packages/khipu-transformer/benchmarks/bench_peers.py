"""khipu's character LM against Hugging Face GPT-2 of the same size, in one run.

    hatch run peers:bench            # every package's peer benchmark
    python bench_peers.py [--quick] [--repeats 20] [--d-model 64] [--layers 2]

Two workloads, each timed with interleaved repeats after warm-up calls (compilation
excluded), medians and ``peer / khipu`` printed with the load average:

1. a train step on a batch of 32 x 128 tokens (next-token cross-entropy, Adam b2 = 0.99
   with global-norm clipping at 1, lr 2e-3: khipu's ``make_optimizer`` and its torch twin);
2. greedy generation of 256 tokens after a 16-token prompt (khipu's jitted ``scan`` over
   the KV cache against ``GPT2LMHeadModel.generate``, which also uses its KV cache).

The models: pre-LN decoder, learned positions, ``--layers`` blocks of width ``--d-model``,
4 heads, GELU (tanh) feed-forward of 4x width, no dropout, 64 token ids. The parameter
counts differ only by the output layer, printed with the count: GPT-2 ties its output
matrix to the token embedding (no bias); khipu's ``DecoderLM`` has its own output
``Linear`` with a bias (d x V + V parameters).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
from khipu.transformer import TransformerConfig, generate, lm_model
from khipu.transformer.train import lm_loss_fn, make_optimizer

VOCAB = 64


def count(tree: Any) -> int:
    return sum(int(np.size(p)) for p in jax.tree_util.tree_leaves(tree))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=256)
    args = parser.parse_args()
    try:
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:
        print("torch / transformers not installed: use `hatch run peers:bench`; skipped.")
        return
    repeats = 5 if args.quick else args.repeats
    torch.manual_seed(0)
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # `taskset -c 0`: 1 thread
    prompt_len = 16
    max_len = max(args.length, prompt_len + args.new_tokens)
    d = args.d_model

    config = TransformerConfig(
        vocab_size=VOCAB,
        d_model=d,
        num_heads=4,
        num_layers=args.layers,
        max_len=max_len,
        pre_ln=True,
        positional="learned",
    )
    rng = np.random.default_rng(0)
    tokens_np = rng.integers(3, VOCAB, (args.batch_size, args.length + 1))
    prompt_np = rng.integers(3, VOCAB, (1, prompt_len))
    params = lm_model(config).init(jax.random.key(0), jnp.asarray(tokens_np[:, :-1], jnp.int32))
    opt = make_optimizer(2e-3)
    state = kc.init_train_state(params, opt, key=0)
    step = kc.make_train_step(lm_loss_fn(config), opt)
    batch = {"tokens": jnp.asarray(tokens_np, jnp.int32)}
    khipu_params = count(params)
    khipu_head = count({k: v for k, v in params.items() if k.endswith("output")})

    hf_config = GPT2Config(
        vocab_size=VOCAB,
        n_positions=max_len,
        n_embd=d,
        n_layer=args.layers,
        n_head=4,
        n_inner=4 * d,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    gpt = GPT2LMHeadModel(hf_config)
    gpt.train()
    gpt_params = sum(p.numel() for p in gpt.parameters())  # tied head counted once
    gpt_ln_f = sum(p.numel() for p in gpt.transformer.ln_f.parameters())
    torch_opt = torch.optim.Adam(gpt.parameters(), lr=2e-3, betas=(0.9, 0.99))
    tokens = torch.from_numpy(tokens_np.astype(np.int64))
    prompt = torch.from_numpy(prompt_np.astype(np.int64))

    holder = {"state": state}

    def khipu_step() -> None:
        holder["state"], metrics = step(holder["state"], batch)
        jax.block_until_ready(metrics["loss"])

    def torch_step() -> None:
        torch_opt.zero_grad(set_to_none=True)
        logits = gpt(input_ids=tokens[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, VOCAB), tokens[:, 1:].reshape(-1)
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(gpt.parameters(), 1.0)
        torch_opt.step()
        loss.item()

    def khipu_generate() -> None:
        generate(config, holder["state"].params, prompt_np, args.new_tokens)

    def torch_generate() -> None:
        with torch.no_grad():
            out = gpt.generate(
                prompt,
                attention_mask=torch.ones_like(prompt),
                max_new_tokens=args.new_tokens,
                min_new_tokens=args.new_tokens,
                do_sample=False,
            )
        assert out.shape[1] == prompt_len + args.new_tokens

    for _ in range(3):
        khipu_step()
        torch_step()
    train = kc.interleaved_medians({"khipu": khipu_step, "hf": torch_step}, repeats)
    gpt.eval()
    khipu_generate()
    torch_generate()
    gen = kc.interleaved_medians(
        {"khipu": khipu_generate, "hf": torch_generate}, max(3, repeats // 2)
    )

    print(
        f"load average: {os.getloadavg()[0]:.1f}; jax {jax.__version__}, torch {torch.__version__}"
    )
    print(f"char LM: {args.layers} pre-LN blocks, d_model {d}, 4 heads, {VOCAB} ids")
    print(
        f"  parameters: khipu {khipu_params:,}, GPT-2 {gpt_params:,}; difference "
        f"{khipu_params - gpt_params:+,}: khipu's untied output layer with bias has "
        f"{khipu_head:,} (GPT-2 ties it to the embedding); both end in a LayerNorm "
        f"({gpt_ln_f:,})"
        + ("" if khipu_params - gpt_params == khipu_head else " [other differences]")
    )
    print(f"  train step, batch {args.batch_size} x {args.length}:")
    print(f"    khipu {train['khipu'] * 1e3:8.2f} ms   HF GPT-2 {train['hf'] * 1e3:8.2f} ms")
    print(f"    peer / khipu: {train['hf'] / train['khipu']:.2f}  (median of {repeats})")
    print(f"  greedy generation, {args.new_tokens} tokens after {prompt_len}:")
    print(f"    khipu {gen['khipu'] * 1e3:8.2f} ms   HF generate {gen['hf'] * 1e3:8.2f} ms")
    print(f"    peer / khipu: {gen['hf'] / gen['khipu']:.2f}")


if __name__ == "__main__":
    main()
