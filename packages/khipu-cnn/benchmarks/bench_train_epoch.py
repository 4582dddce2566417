"""One training epoch: jitted khipu step vs the original practical's loop.

The original ``train_cnn_haiku`` ran every update without ``jit`` and computed
the validation loss on the whole validation set after every batch. This script
times one epoch of both on the same model (LeNet) and data (the digits train
split), after a warm-up that compiles the jitted step, and prints the ratio.

    python bench_train_epoch.py [--quick] [--batch-size 32]

``--quick`` times only the first 10 batches of each loop and scales both to a
full epoch.
"""

from __future__ import annotations

import argparse
import time

import jax
import khipu.core as kc
from khipu.cnn import build_model, load_image_dataset, make_eval_fn, make_loss_fn
from khipu.cnn.train import init_train_state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 batches, scaled to an epoch")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    splits = load_image_dataset("digits")
    model = build_model("lenet")
    state0, opt = init_train_state(model, (8, 8, 1), seed=0)
    loss_fn, eval_fn = make_loss_fn(model), make_eval_fn(model)
    batches = list(kc.batches(splits.train, args.batch_size, shuffle=False, drop_remainder=True))
    per_epoch = len(batches)
    if args.quick:
        batches = batches[:10]
    scale = per_epoch / len(batches)
    val = {k: jax.numpy.asarray(v) for k, v in splits.val.items()}

    # khipu: one jitted step per batch, validation once per epoch (jitted).
    step = kc.make_train_step(loss_fn, opt)
    eval_step = kc.make_eval_step(eval_fn)
    t0 = time.perf_counter()
    jax.block_until_ready(step(state0, batches[0]))
    jax.block_until_ready(eval_step(state0, val))
    compile_s = time.perf_counter() - t0

    def jitted_epoch() -> float:
        state = state0
        start = time.perf_counter()
        for batch in batches:
            state, _ = step(state, batch)
        jax.block_until_ready(eval_step(state, val))
        return (time.perf_counter() - start) * scale

    fast = min(jitted_epoch() for _ in range(3))

    # the original's style: no jit, full validation loss after every batch.
    slow_step = kc.make_train_step(loss_fn, opt, jit=False)

    def original_epoch() -> float:
        state = state0
        start = time.perf_counter()
        for batch in batches:
            state, _ = slow_step(state, batch)
            jax.block_until_ready(eval_fn(state.params, state.model_state, val)["loss"])
        return (time.perf_counter() - start) * scale

    original_epoch()  # warm eager caches too, so the comparison is step for step
    slow = original_epoch()

    note = f" (first {len(batches)} of {per_epoch} batches, scaled)" if args.quick else ""
    print(f"one epoch of LeNet on digits, batch {args.batch_size}, {per_epoch} steps{note}")
    print(f"  original style (no jit, validation every batch): {slow:8.3f} s")
    print(f"  khipu (jitted step, validation per epoch):       {fast:8.3f} s")
    print(f"  compile once:                                    {compile_s:8.3f} s")
    print(f"  RATIO original / khipu: {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
