"""khipu's LeNet train step against the same network in PyTorch, measured in one run.

    hatch run peers:bench            # every package's peer benchmark
    python bench_peers.py [--quick] [--batch-size 128] [--repeats 30]

Both sides: the package's LeNet (conv 3x3 32 → ReLU → max-pool, conv 3x3 64 → ReLU →
max-pool, dense 128 → ReLU → dropout 0.5 → dense 10) on 8x8 digits, Adam (lr 1e-3), one
update on a batch of ``--batch-size``. The parameter counts are printed (53,002 each).
Compilation is excluded (warm-up calls), the repeats of the two sides are interleaved so
a load change hits both, and the medians and ``peer / khipu`` are printed with the load
average. torch runs on as many threads as the process may use: on a loaded machine torch's
OpenMP threads suffer far more than XLA's, so compare there on one core with
``taskset -c 0 hatch run peers:bench``.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import khipu.core as kc
import numpy as np
from khipu.cnn import build_model, load_image_dataset, make_loss_fn
from khipu.cnn.train import init_train_state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    try:
        import torch
        from torch import nn
    except ImportError:
        print("PyTorch is not installed: run this with `hatch run peers:bench`; skipped.")
        return
    repeats = 5 if args.quick else args.repeats
    torch.manual_seed(0)
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # `taskset -c 0`: 1 thread

    splits = load_image_dataset("digits")
    images = np.asarray(splits.train["image"][: args.batch_size], np.float32)
    labels = np.asarray(splits.train["label"][: args.batch_size])
    batch = {"image": jax.numpy.asarray(images), "label": jax.numpy.asarray(labels)}

    model = build_model("lenet")
    state, opt = init_train_state(model, images.shape[1:], seed=0)
    step = kc.make_train_step(make_loss_fn(model), opt)
    khipu_params = sum(int(np.size(p)) for p in jax.tree_util.tree_leaves(state.params))

    net = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * (images.shape[1] // 4) * (images.shape[2] // 4), 128),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, 10),
    )
    net.train()
    torch_opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    torch_params = sum(p.numel() for p in net.parameters())
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
    y = torch.from_numpy(labels.astype(np.int64))

    holder = {"state": state}

    def khipu_step() -> None:
        holder["state"], metrics = step(holder["state"], batch)
        jax.block_until_ready(metrics["loss"])

    def torch_step() -> None:
        torch_opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        torch_opt.step()
        loss.item()

    for _ in range(3):  # compile / warm up both
        khipu_step()
        torch_step()
    medians = kc.interleaved_medians({"khipu": khipu_step, "torch": torch_step}, repeats)
    print(
        f"load average: {os.getloadavg()[0]:.1f}; jax {jax.__version__}, torch {torch.__version__}"
    )
    print(f"LeNet train step, digits {images.shape[1]}x{images.shape[2]}, batch {args.batch_size}")
    print(f"  parameters: khipu {khipu_params:,}, torch {torch_params:,}")
    print(f"  khipu {medians['khipu'] * 1e3:8.2f} ms   torch {medians['torch'] * 1e3:8.2f} ms")
    print(f"  peer / khipu: {medians['torch'] / medians['khipu']:.2f}  (median of {repeats})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
