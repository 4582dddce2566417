"""``khipu cnn ...``: the practical's commands (basics, regression, train, summary).

Heavy modules (JAX, Haiku) are imported inside the command functions so that
``khipu --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from khipu.core.cli import (
    add_run_arguments,
    bounded_int,
    fraction,
    non_negative_int,
    positive_float,
    positive_int,
    start_run,
)

MAX_SAMPLES = 10_000_000  # regression points: 80 MB of float32 x and y
MAX_STEPS = 100_000_000
MAX_IMAGE_VALUES = 2**24  # H * W * C of one image (64 MB of float32)
MAX_IMAGE_SIDE = 2**14
MAX_CHANNELS = 1_024
MAX_CLASSES = 100_000
MAX_REPEATS = 1_000


def register(parser: argparse.ArgumentParser) -> None:
    """Adds the ``basics``, ``regression``, ``train`` and ``summary`` subcommands."""
    sub = parser.add_subparsers(title="commands", metavar="<command>")

    basics = sub.add_parser(
        "basics",
        help="JAX fundamentals: immutability, PRNG keys, jit, grad, vmap, purity, timings",
        description="Runs the practical's JAX demonstrations; writes metrics.json with the "
        "measured speed-ups, demos.json, timings.png and functions.png.",
    )
    add_run_arguments(basics, resume=False)
    basics.add_argument("--quick", action="store_true", help="smaller arrays (seconds, not tens)")
    basics.add_argument(
        "--repeats",
        type=bounded_int(1, MAX_REPEATS),
        default=5,
        help="timing repeats (best of)",
    )
    basics.set_defaults(func=cmd_basics)

    reg = sub.add_parser(
        "regression",
        help="linear regression with any optax optimizer, plain JAX and Haiku",
        description="Fits y = w x + b (true w=0.4, b=-0.2, noise 0.05) by gradient descent "
        "until the gradient norm falls below --tolerance; writes metrics.json and loss_curve.png.",
    )
    add_run_arguments(reg, resume=False)
    reg.add_argument("--optimizer", default="sgd", help="optax optimizer name (default sgd)")
    reg.add_argument("--learning-rate", type=positive_float, default=0.1, help="default 0.1")
    reg.add_argument("--tolerance", type=positive_float, default=1e-4, help="gradient-norm stop")
    reg.add_argument(
        "--max-steps", type=bounded_int(1, MAX_STEPS), default=1000, help="default 1000"
    )
    reg.add_argument(
        "--num-samples",
        type=bounded_int(2, MAX_SAMPLES),
        default=100,
        help=f"default 100, at most {MAX_SAMPLES}",
    )
    reg.add_argument("--noise", type=float, default=0.05, help="noise std (default 0.05)")
    reg.set_defaults(func=cmd_regression)

    train = sub.add_parser(
        "train",
        help="train a Haiku CNN with early stopping; metrics, figures, checkpoint",
        description="Trains a CNN on an image dataset with early stopping on the validation "
        "loss; writes metrics.json, history.json, learning_curves.png, predictions.png, "
        "confusion_matrix.png, filters.png, best.npz and checkpoints/last.npz (for --resume).",
    )
    add_run_arguments(train, distributed=True)
    train.add_argument(
        "--dataset",
        default="digits",
        help="digits (offline, default), shapes32 (offline, 32x32 RGB, 10 classes), mnist, "
        "fashion_mnist, cifar10",
    )
    train.add_argument("--model", default="lenet", help="lenet (default), alexnet, fcn")
    train.add_argument("--epochs", type=positive_int, default=60, help="maximum epochs (60)")
    train.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="default 32 (or the training set's size when it is smaller)",
    )
    train.add_argument("--optimizer", default="adam", help="optax optimizer name (adam)")
    train.add_argument("--learning-rate", type=positive_float, default=1e-3, help="default 1e-3")
    train.add_argument(
        "--patience",
        type=non_negative_int,
        default=8,
        help="epochs without val-loss improvement before stopping (8)",
    )
    train.add_argument("--no-early-stopping", action="store_true", help="train all --epochs")
    train.add_argument("--dropout", type=fraction, default=0.5, help="dropout rate (0.5)")
    train.add_argument("--batch-norm", action="store_true", help="batch norm after each conv")
    train.add_argument("--residual", action="store_true", help="add residual blocks")
    train.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="tensorflow-datasets folder; memory grows with the images loaded "
        "(4 bytes per pixel value; --limit caps them)",
    )
    train.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        help="use at most this many examples (quick runs)",
    )
    train.add_argument(
        "--data-seed",
        type=non_negative_int,
        default=0,
        help="seed of the train/val/test split (fixed: 0)",
    )
    train.set_defaults(func=cmd_train)

    summary = sub.add_parser(
        "summary",
        help="parameter counts per layer of a model",
        description="Prints each layer's parameter count for a model and image shape.",
    )
    summary.add_argument("--model", default="lenet", help="lenet, alexnet, fcn")
    summary.add_argument(
        "--image-shape",
        type=bounded_int(1, MAX_IMAGE_SIDE),
        nargs=3,
        default=[8, 8, 1],
        metavar=("H", "W", "C"),
        help="default 8 8 1",
    )
    summary.add_argument("--num-classes", type=bounded_int(1, MAX_CLASSES), default=10)
    summary.add_argument("--batch-norm", action="store_true")
    summary.add_argument("--residual", action="store_true")
    summary.set_defaults(func=cmd_summary)


def cmd_basics(args: argparse.Namespace) -> int:
    """``khipu cnn basics``."""
    import khipu.core as kc
    from khipu.cnn import basics

    out = start_run(args)
    demos = {
        "array_semantics": basics.array_semantics_demo(),
        "prng": basics.prng_demo(args.seed),
        "jit_control_flow": basics.jit_control_flow_demo(),
        "derivatives": basics.derivatives_demo(2.0),
        "vmap": basics.vmap_demo(),
        "purity": basics.purity_demo(),
    }
    times = basics.timing_demo(quick=args.quick, repeats=args.repeats, seed=args.seed)
    ratios = basics.speedups(times)
    kc.write_json(out / "demos.json", demos)
    basics.plot_timings(times, path=str(out / "timings.png"))
    basics.plot_functions(path=str(out / "functions.png"))
    d = demos["derivatives"]
    kc.write_metrics(
        out,
        {
            **ratios,
            **times,
            "f_at_2": d["f"],
            "df_at_2": d["df"],
            "d3f_at_2": d["d3f"],
            "devices": len(kc.data_mesh().devices.ravel()),
        },
    )
    for name, value in ratios.items():
        print(f"{name:<32} {value:8.1f}x")
    print(f"wrote {out}")
    return 0


def cmd_regression(args: argparse.Namespace) -> int:
    """``khipu cnn regression``."""
    import khipu.core as kc
    from khipu.cnn import regression as rg
    from khipu.cnn.optim import available_optimizers

    if not 0 <= args.noise < float("inf"):
        raise kc.KhipuError(f"--noise must be non-negative and finite, got {args.noise}")
    if args.optimizer not in available_optimizers():
        raise kc.UnknownNameError("optimizer", args.optimizer, available_optimizers())
    out = start_run(args)
    x, y = rg.make_linear_data(num_samples=args.num_samples, noise_std=args.noise, seed=args.seed)
    settings: dict[str, Any] = {
        "optimizer": args.optimizer,
        "learning_rate": args.learning_rate,
        "tolerance": args.tolerance,
        "max_steps": args.max_steps,
    }
    plain = rg.fit_linear_regression(x, y, **settings)
    haiku = rg.fit_haiku_regression(x, y, seed=args.seed, **settings)
    w_ls, b_ls = rg.least_squares(x, y)
    rg.plot_regression(x, y, {"jax": plain, "haiku": haiku}, path=str(out / "loss_curve.png"))
    kc.write_metrics(
        out,
        {
            "w": plain.w,
            "b": plain.b,
            "final_loss": plain.final_loss,
            "steps": plain.result.steps,
            "converged": plain.result.converged,
            "haiku_w": haiku.w,
            "haiku_b": haiku.b,
            "haiku_final_loss": haiku.final_loss,
            "haiku_steps": haiku.result.steps,
            "haiku_converged": haiku.result.converged,
            "least_squares_w": float(w_ls[0]),
            "least_squares_b": b_ls,
            "true_w": rg.TRUE_W,
            "true_b": rg.TRUE_B,
        },
    )
    status = "converged" if plain.result.converged else "hit --max-steps"
    print(
        f"{args.optimizer}: w={plain.w:.4f} b={plain.b:.4f} loss={plain.final_loss:.5f} "
        f"after {plain.result.steps} steps ({status}); least squares w={w_ls[0]:.4f} "
        f"b={b_ls:.4f}"
    )
    print(f"wrote {out}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """``khipu cnn train``."""
    import khipu.core as kc
    from khipu.cnn.data import IMAGE_DATASETS, load_image_dataset
    from khipu.cnn.models import ModelSpec, available_models, build_model, check_images
    from khipu.cnn.optim import available_optimizers
    from khipu.cnn.runs import check_resumable, run_training

    # Check names, the dataset, the batch size and a resumed run before the run folder is
    # touched, so a failing command leaves --out exactly as it was.
    for kind, name, known in (
        ("dataset", args.dataset, IMAGE_DATASETS),
        ("model", args.model, tuple(available_models())),
        ("optimizer", args.optimizer, tuple(available_optimizers())),
    ):
        if name not in known:
            raise kc.UnknownNameError(kind, name, known)
    splits = load_image_dataset(
        args.dataset, seed=args.data_seed, data_dir=args.data_dir, limit=args.limit
    )
    n_train = len(splits.train["label"])
    if args.batch_size is not None and args.batch_size > n_train:
        raise kc.KhipuError(
            f"--batch-size {args.batch_size} is larger than the training set ({n_train} "
            "examples); pass a smaller --batch-size or a larger --limit"
        )
    batch_size = args.batch_size if args.batch_size is not None else min(32, n_train)
    args.batch_size = batch_size  # config.json records the batch size used, never null
    net = build_model(
        ModelSpec(
            args.model,
            num_classes=splits.num_classes,
            batch_norm=args.batch_norm,
            residual=args.residual,
            dropout_rate=args.dropout,
        )
    )
    check_images(splits.train["image"][:1], min_size=net.min_size)
    if args.resume:
        check_resumable(Path(args.out))
    out = start_run(args, resume_may_differ=("epochs", "no_progress", "patience"))
    metrics = run_training(
        out,
        dataset=args.dataset,
        model=args.model,
        epochs=args.epochs,
        batch_size=batch_size,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        patience=None if args.no_early_stopping else args.patience,
        dropout=args.dropout,
        batch_norm=args.batch_norm,
        residual=args.residual,
        data_dir=args.data_dir,
        limit=args.limit,
        data_seed=args.data_seed,
        seed=args.seed,
        resume=args.resume,
        progress=not args.no_progress,
        splits=splits,
    )
    print(
        f"test accuracy {metrics['test_accuracy']:.4f}, val accuracy "
        f"{metrics['val_accuracy']:.4f}, best epoch {metrics['best_epoch']} of "
        f"{metrics['epochs_run']}, {metrics['train_seconds']:.1f} s training"
    )
    print(f"wrote {out}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """``khipu cnn summary``."""
    import math

    import khipu.core as kc
    from khipu.cnn.models import build_model, model_summary

    height, width, channels = args.image_shape
    if channels > MAX_CHANNELS or math.prod(args.image_shape) > MAX_IMAGE_VALUES:
        raise kc.KhipuError(
            f"--image-shape {height} {width} {channels} is {math.prod(args.image_shape)} values "
            f"per image; at most {MAX_IMAGE_VALUES} (e.g. 4096 4096 1) and {MAX_CHANNELS} "
            "channels"
        )
    model = build_model(
        args.model,
        num_classes=args.num_classes,
        batch_norm=args.batch_norm,
        residual=args.residual,
    )
    counts = model_summary(model, tuple(args.image_shape))
    width = max(map(len, counts))
    for layer, n in counts.items():
        print(f"{layer:<{width}} {n:>12,}")
    print(f"{'total':<{width}} {sum(counts.values()):>12,}")
    return 0
