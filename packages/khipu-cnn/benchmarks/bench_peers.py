"""khipu's LeNet train step against the same network in PyTorch, measured in one run.

    hatch run peers:bench            # every package's peer benchmark
    python bench_peers.py [--quick] [--batch-size 128] [--repeats 30]
    python bench_peers.py --scaling OUT_DIR [--quick]   # time vs width and batch

Both sides: the package's LeNet (conv 3x3 32 → ReLU → max-pool, conv 3x3 64 → ReLU →
max-pool, dense 128 → ReLU → dropout 0.5 → dense 10) on 8x8 digits, Adam (lr 1e-3), one
update on a batch of ``--batch-size``. The parameter counts are printed (53,002 each).
Compilation is excluded (warm-up calls), the repeats of the two sides are interleaved so
a load change hits both, and the medians and ``peer / khipu`` are printed with the load
average. torch runs on as many threads as the process may use: on a loaded machine torch's
OpenMP threads suffer far more than XLA's, so compare there on one core with
``taskset -c 0 hatch run peers:bench``.

``--scaling OUT_DIR`` times the same step over the width (first convolution's channels
16-128, the other layers scaled with it: 2x for the second convolution, 4x for the dense
layer) at batch 128, and over the batch (32-2048) at width 32, and writes
``OUT_DIR/khipu-cnn_scaling.png`` and ``.json`` (medians, ``peer / khipu``, parameter
counts, load average, versions); nothing else is written.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import haiku as hk
import jax
import khipu.core as kc
import numpy as np
from khipu.cnn import load_image_dataset, make_loss_fn
from khipu.cnn.models import LeNet, Model, ModelSpec
from khipu.cnn.train import init_train_state

WIDTH = 32  # LeNet's first convolution: channels (32, 64), dense 128
SCALING_WIDTHS = (16, 32, 64, 128)
SCALING_BATCHES = (32, 128, 512, 2048)
SCALING_REPEATS = 7


def khipu_lenet(width: int) -> Model:
    """The package's LeNet with channels ``(width, 2 width)`` and a dense layer of ``4 width``
    (``width`` 32 is ``build_model("lenet")``)."""

    def forward(images: Any, is_training: bool) -> Any:
        net = LeNet(10, channels=(width, 2 * width), hidden=4 * width)
        return net(images, is_training=is_training)

    transformed = hk.transform_with_state(forward)

    def init(key: Any, images: Any) -> Any:
        return transformed.init(kc.as_key(key), images, True)

    return Model(ModelSpec("lenet"), init, transformed.apply, 4)


def train_steps(
    width: int, batch_size: int, images: np.ndarray, labels: np.ndarray
) -> kc.SweepCase:
    """One Adam step of each side on the first ``batch_size`` digits (repeated if needed)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    x_np = np.resize(images, (batch_size, *images.shape[1:]))
    y_np = np.resize(labels, (batch_size,))
    batch = {"image": jax.numpy.asarray(x_np), "label": jax.numpy.asarray(y_np)}
    model = khipu_lenet(width)
    state, opt = init_train_state(model, images.shape[1:], seed=0)
    step = kc.make_train_step(make_loss_fn(model), opt)

    net = nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * (images.shape[1] // 4) * (images.shape[2] // 4), 4 * width),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4 * width, 10),
    )
    net.train()
    torch_opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.from_numpy(x_np).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
    y = torch.from_numpy(y_np.astype(np.int64))
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

    info = {
        "khipu_params": kc.total_parameters(state.params),
        "torch_params": sum(p.numel() for p in net.parameters()),
    }
    return kc.SweepCase({"khipu": khipu_step, "torch": torch_step}, info)


def scaling(out_dir: str, images: np.ndarray, labels: np.ndarray, repeats: int) -> None:
    """Times the train step over width and batch; writes the figure and the numbers."""
    import torch

    def build(settings: Mapping[str, int]) -> kc.SweepCase:
        return train_steps(settings["width"], settings["batch"], images, labels)

    sweep = kc.scaling_sweep(
        {"width": WIDTH, "batch": 128},
        {"width": SCALING_WIDTHS, "batch": SCALING_BATCHES},
        build,
        repeats=repeats,
        log=lambda line: print(line, flush=True),
    )
    report = kc.scaling_report(
        sweep,
        baseline="khipu",
        title=f"LeNet train step (Adam), digits {images.shape[1]}x{images.shape[2]}: "
        "khipu vs the same net in torch",
        axis_labels={"width": "width (conv channels w, 2w; dense 4w)", "batch": "batch size"},
        versions={**kc.package_versions("cnn"), "torch": torch.__version__},
        notes={"torch_threads": torch.get_num_threads()},
    )
    for path in kc.save_scaling_report(report, out_dir, "khipu-cnn_scaling"):
        print(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--scaling",
        metavar="OUT_DIR",
        help="time vs width and batch; write OUT_DIR/khipu-cnn_scaling.{png,json}",
    )
    args = parser.parse_args(argv)
    if args.scaling is not None:
        try:
            kc.scaling_report_paths(args.scaling, "khipu-cnn_scaling")
        except kc.KhipuError as exc:
            parser.error(str(exc))
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: run this with `hatch run peers:bench`; skipped.")
        return
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # `taskset -c 0`: 1 thread

    splits = load_image_dataset("digits")
    images = np.asarray(splits.train["image"], np.float32)
    labels = np.asarray(splits.train["label"])
    if args.scaling is not None:
        scaling(args.scaling, images, labels, 3 if args.quick else SCALING_REPEATS)
        return
    repeats = 5 if args.quick else args.repeats
    case = train_steps(WIDTH, args.batch_size, images, labels)
    for _ in range(3):  # compile / warm up both
        for fn in case.fns.values():
            fn()
    medians = kc.interleaved_medians(case.fns, repeats)
    print(
        f"load average: {os.getloadavg()[0]:.1f}; jax {jax.__version__}, torch {torch.__version__}"
    )
    print(f"LeNet train step, digits {images.shape[1]}x{images.shape[2]}, batch {args.batch_size}")
    print(f"  parameters: khipu {case.info['khipu_params']:,}, torch {case.info['torch_params']:,}")
    print(f"  khipu {medians['khipu'] * 1e3:8.2f} ms   torch {medians['torch'] * 1e3:8.2f} ms")
    print(f"  peer / khipu: {medians['torch'] / medians['khipu']:.2f}  (median of {repeats})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
