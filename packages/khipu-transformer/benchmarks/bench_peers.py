"""khipu's character LM against Hugging Face GPT-2 of the same size, in one run.

    hatch run peers:bench            # every package's peer benchmark
    python bench_peers.py [--quick] [--repeats 20] [--d-model 64] [--layers 2]

Two workloads, each timed with interleaved repeats after warm-up calls (compilation
excluded), medians and ``peer / khipu`` printed with the load average:

1. a train step on a batch of 32 x 128 tokens (next-token cross-entropy, Adam b2 = 0.99
   with global-norm clipping at 1, lr 2e-3: khipu's ``make_optimizer`` and its torch twin;
   khipu's step as ``train_model`` builds it, in micro-batches of 2 sequences on a CPU);
2. greedy generation of 256 tokens after a 16-token prompt (khipu's jitted ``scan`` over
   the KV cache against ``GPT2LMHeadModel.generate``, which also uses its KV cache).

The models: pre-LN decoder, learned positions, ``--layers`` blocks of width ``--d-model``,
4 heads, GELU (tanh) feed-forward of 4x width, no dropout, 64 token ids. The parameter
counts differ only by the output layer, printed with the count: GPT-2 ties its output
matrix to the token embedding (no bias); khipu's ``DecoderLM`` has its own output
``Linear`` with a bias (d x V + V parameters).

``--scaling OUT_DIR`` times the train step over the width (``d_model`` 32-256) at batch 32
and over the batch (8-64 sequences) at width 64, and writes
``OUT_DIR/khipu-transformer_scaling.png`` and ``.json`` (medians, ``peer / khipu``,
parameter counts, load average, versions); nothing else is written.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
from khipu.transformer import TransformerConfig, generate, lm_model
from khipu.transformer.train import lm_loss_fn, lm_micro_batches, make_optimizer

VOCAB = 64


WIDTH = 64
SCALING_WIDTHS = (32, 64, 128, 256)
SCALING_BATCHES = (8, 16, 32, 64)
SCALING_REPEATS = 5
PROMPT_LEN = 16


def count(tree: Any) -> int:
    return sum(int(np.size(p)) for p in jax.tree_util.tree_leaves(tree))


class LMPair(NamedTuple):
    """The two sides at one size: khipu's config and live state, GPT-2, the train steps."""

    config: TransformerConfig
    holder: dict[str, kc.TrainState]
    gpt: Any
    steps: kc.SweepCase


def lm_pair(d: int, layers: int, batch_size: int, length: int, max_len: int) -> LMPair:
    """Both models of width ``d`` and one optimizer step each on ``batch_size x length``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = TransformerConfig(
        vocab_size=VOCAB,
        d_model=d,
        num_heads=4,
        num_layers=layers,
        max_len=max_len,
        pre_ln=True,
        positional="learned",
    )
    tokens_np = np.random.default_rng(0).integers(3, VOCAB, (batch_size, length + 1))
    params = lm_model(config).init(jax.random.key(0), jnp.asarray(tokens_np[:, :-1], jnp.int32))
    opt = make_optimizer(2e-3)
    state = kc.init_train_state(params, opt, key=0)
    # as khipu's LM trains: in cache-sized micro-batches on a CPU (lm_micro_batches)
    step = kc.make_train_step(lm_loss_fn(config), opt, micro_batches=lm_micro_batches(batch_size))
    batch = {"tokens": jnp.asarray(tokens_np, jnp.int32)}

    hf_config = GPT2Config(
        vocab_size=VOCAB,
        n_positions=max_len,
        n_embd=d,
        n_layer=layers,
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
    torch_opt = torch.optim.Adam(gpt.parameters(), lr=2e-3, betas=(0.9, 0.99))
    tokens = torch.from_numpy(tokens_np.astype(np.int64))
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

    info = {
        "khipu_params": count(params),
        "khipu_output_layer": count({k: v for k, v in params.items() if k.endswith("output")}),
        "hf_params": sum(p.numel() for p in gpt.parameters()),  # tied head counted once
    }
    return LMPair(config, holder, gpt, kc.SweepCase({"khipu": khipu_step, "hf": torch_step}, info))


def scaling(out_dir: str, layers: int, length: int, max_len: int, repeats: int) -> None:
    """Times the train step over width and batch; writes the figure and the numbers."""
    import torch
    import transformers

    def build(settings: Mapping[str, int]) -> kc.SweepCase:
        return lm_pair(settings["width"], layers, settings["batch"], length, max_len).steps

    sweep = kc.scaling_sweep(
        {"width": WIDTH, "batch": 32},
        {"width": SCALING_WIDTHS, "batch": SCALING_BATCHES},
        build,
        repeats=repeats,
        log=lambda line: print(line, flush=True),
    )
    report = kc.scaling_report(
        sweep,
        baseline="khipu",
        title=f"char-LM train step ({layers} pre-LN blocks, 4 heads, {length} tokens): "
        "khipu vs HF GPT-2 of the same size",
        axis_labels={"width": "d_model", "batch": f"batch size (x {length} tokens)"},
        versions={
            **kc.package_versions("transformer"),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        notes={
            "torch_threads": torch.get_num_threads(),
            "parameters": "khipu has d_model x 64 + 64 more: its untied output layer",
        },
    )
    for path in kc.save_scaling_report(report, out_dir, "khipu-transformer_scaling"):
        print(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--d-model", type=int, default=WIDTH)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument(
        "--scaling",
        metavar="OUT_DIR",
        help="train step vs width and batch; write OUT_DIR/khipu-transformer_scaling.{png,json}",
    )
    args = parser.parse_args(argv)
    if args.scaling is not None:
        try:
            kc.scaling_report_paths(args.scaling, "khipu-transformer_scaling")
        except kc.KhipuError as exc:
            parser.error(str(exc))
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError:
        print("torch / transformers not installed: use `hatch run peers:bench`; skipped.")
        return
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # `taskset -c 0`: 1 thread
    max_len = max(args.length, PROMPT_LEN + args.new_tokens)
    if args.scaling is not None:
        repeats = 3 if args.quick else SCALING_REPEATS
        scaling(args.scaling, args.layers, args.length, max_len, repeats)
        return
    repeats = 5 if args.quick else args.repeats
    d = args.d_model
    pair = lm_pair(d, args.layers, args.batch_size, args.length, max_len)
    config, holder, gpt = pair.config, pair.holder, pair.gpt
    info = pair.steps.info
    gpt_ln_f = sum(p.numel() for p in gpt.transformer.ln_f.parameters())
    prompt_np = np.random.default_rng(1).integers(3, VOCAB, (1, PROMPT_LEN))
    prompt = torch.from_numpy(prompt_np.astype(np.int64))

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
        assert out.shape[1] == PROMPT_LEN + args.new_tokens

    for _ in range(3):
        for fn in pair.steps.fns.values():
            fn()
    train = kc.interleaved_medians(pair.steps.fns, repeats)
    gpt.eval()
    khipu_generate()
    torch_generate()
    gen = kc.interleaved_medians(
        {"khipu": khipu_generate, "hf": torch_generate}, max(3, repeats // 2)
    )

    khipu_params, gpt_params, khipu_head = (
        info["khipu_params"],
        info["hf_params"],
        info["khipu_output_layer"],
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
    print(f"  greedy generation, {args.new_tokens} tokens after {PROMPT_LEN}:")
    print(f"    khipu {gen['khipu'] * 1e3:8.2f} ms   HF generate {gen['hf'] * 1e3:8.2f} ms")
    print(f"    peer / khipu: {gen['hf'] / gen['khipu']:.2f}")


if __name__ == "__main__":
    main()
