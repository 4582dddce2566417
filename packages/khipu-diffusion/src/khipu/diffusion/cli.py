"""``khipu diffusion ...``: ``train`` and ``sample``.

Heavy modules (JAX, Haiku) are imported inside the command functions so that
``khipu --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from khipu.core.cli import (
    add_run_arguments,
    existing_dir,
    fraction,
    non_negative_float,
    positive_float,
    positive_int,
    start_run,
)

DATASETS = ("digits", "toy2d", "mnist", "fashion_mnist")
SAMPLERS = ("ddim", "ddpm")
SCHEDULES = ("linear", "cosine")
MODELS = ("unet", "mlp")
# Longest supported schedule: keeps the tables and a DDPM run bounded.
MAX_TIMESTEPS = 10_000
MAX_SAMPLES = 10_000


def register(parser: argparse.ArgumentParser) -> None:
    """Adds the ``train`` and ``sample`` subcommands."""
    sub = parser.add_subparsers(title="commands", metavar="<command>")

    train = sub.add_parser(
        "train",
        help="train a denoising diffusion model, sample from it and evaluate the samples",
        description="Trains an ε-prediction denoiser (U-Net for images, MLP for toy2d) with an "
        "EMA of its parameters, then samples and evaluates: writes metrics.json (final_loss, "
        "frechet_distance, nn_distance_ratio, class_accuracy when --conditional, mmd for toy2d), "
        "samples.png, denoising.gif, loss.png, schedule.png, model.npz and classifier.npz.",
    )
    add_run_arguments(train, distributed=True)
    train.add_argument(
        "--dataset", default="digits", help="digits (offline, default), toy2d, mnist, fashion_mnist"
    )
    train.add_argument("--conditional", action="store_true", help="class-conditional model")
    train.add_argument("--model", default="unet", help="unet (default) or mlp")
    train.add_argument("--schedule", default="linear", help="linear (default) or cosine")
    train.add_argument(
        "--timesteps", type=int, default=1000, help="diffusion steps T (default 1000)"
    )
    train.add_argument("--epochs", type=positive_int, default=None, help="default by dataset")
    train.add_argument("--batch-size", type=positive_int, default=128, help="default 128")
    train.add_argument("--learning-rate", type=positive_float, default=2e-3, help="default 2e-3")
    train.add_argument("--ema-decay", type=fraction, default=0.995, help="default 0.995")
    train.add_argument(
        "--label-dropout", type=fraction, default=0.15, help="conditional: null-label rate (0.15)"
    )
    train.add_argument("--sampler", default="ddim", help="ddim (default) or ddpm for evaluation")
    train.add_argument("--steps", type=positive_int, default=50, help="DDIM steps (default 50)")
    train.add_argument(
        "--num-samples", type=positive_int, default=500, help="samples to evaluate (500)"
    )
    train.add_argument(
        "--guidance", type=non_negative_float, default=2.0, help="conditional: guidance w (2)"
    )
    train.add_argument("--limit", type=positive_int, default=None, help="use at most N examples")
    train.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="tensorflow-datasets folder; memory grows with the images loaded "
        "(4 bytes per pixel value; --limit caps them)",
    )
    train.set_defaults(func=cmd_train)

    smp = sub.add_parser(
        "sample",
        help="sample from a trained model; sample grid, denoising GIF, metrics",
        description="Samples from the model saved by `khipu diffusion train` in --checkpoint; "
        "writes samples.png, denoising.gif, samples.npz and metrics.json.",
    )
    add_run_arguments(smp, resume=False)
    smp.add_argument(
        "--checkpoint",
        type=existing_dir,
        required=True,
        help="run folder of a trained model; memory: the model's parameters plus "
        "--num-samples images",
    )
    smp.add_argument("--sampler", default="ddim", help="ddim (default) or ddpm")
    smp.add_argument("--steps", type=positive_int, default=None, help="DDIM steps (default 50)")
    smp.add_argument("--num-samples", type=positive_int, default=100, help="default 100")
    smp.add_argument(
        "--guidance", type=non_negative_float, default=0.0, help="guidance w (conditional)"
    )
    smp.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="tensorflow-datasets folder (reference images); memory grows with the images loaded",
    )
    smp.set_defaults(func=cmd_sample)


DEFAULT_EPOCHS = {"digits": 120, "toy2d": 60, "mnist": 10, "fashion_mnist": 10}


def cmd_train(args: argparse.Namespace) -> int:
    """``khipu diffusion train``."""
    from khipu.core.errors import KhipuError, UnknownNameError

    for kind, name, known in (
        ("dataset", args.dataset, DATASETS),
        ("sampler", args.sampler, SAMPLERS),
        ("schedule", args.schedule, SCHEDULES),
        ("model", args.model, MODELS),
    ):
        if name not in known:
            raise UnknownNameError(kind, name, known)
    if not 0 < args.timesteps <= MAX_TIMESTEPS:
        raise KhipuError(f"--timesteps must be between 1 and {MAX_TIMESTEPS}, got {args.timesteps}")
    if args.sampler == "ddim" and args.steps > args.timesteps:
        raise KhipuError(f"--steps {args.steps} exceeds --timesteps {args.timesteps}")
    if args.num_samples > MAX_SAMPLES:
        raise KhipuError(f"--num-samples must be at most {MAX_SAMPLES}, got {args.num_samples}")
    if args.num_samples < 2:
        raise KhipuError("--num-samples must be at least 2 (the metrics compare distributions)")
    if args.ema_decay >= 1.0:
        raise KhipuError("--ema-decay must be below 1")
    if args.label_dropout >= 1.0:
        raise KhipuError("--label-dropout must be below 1")
    if args.dataset == "toy2d":
        if args.conditional:
            raise KhipuError("toy2d has no classes: drop --conditional")
        if args.model != "mlp":
            args.model = "mlp"  # 2-D points: the MLP denoiser
    from khipu.diffusion.data import load_data
    from khipu.diffusion.runs import run_training

    # Load (and so validate) the data before the run folder is touched.
    splits = load_data(args.dataset, limit=args.limit, data_dir=args.data_dir)
    n_train = len(splits.train["x"])
    if args.batch_size > n_train:
        raise KhipuError(
            f"--batch-size {args.batch_size} is larger than the training set ({n_train})"
        )
    epochs = args.epochs or DEFAULT_EPOCHS[args.dataset]
    # config.json records the value the run uses, never null for the dataset's default
    out = start_run(
        args, resume_may_differ=("epochs", "epochs_used"), epochs=epochs, epochs_used=epochs
    )
    metrics = run_training(
        out,
        dataset=args.dataset,
        conditional=args.conditional,
        model=args.model,
        schedule=args.schedule,
        timesteps=args.timesteps,
        epochs=epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        ema_decay=args.ema_decay,
        label_dropout=args.label_dropout,
        sampler=args.sampler,
        sample_steps=args.steps,
        num_samples=args.num_samples,
        guidance=args.guidance,
        limit=args.limit,
        data_dir=args.data_dir,
        seed=args.seed,
        resume=args.resume,
        progress=not args.no_progress,
    )
    _print(metrics)
    print(f"wrote {out}")
    return 0


def _print(metrics: dict[str, object]) -> None:
    keys = ("final_loss", "frechet_distance", "class_accuracy", "nn_distance_ratio", "mmd")
    parts = [f"{k} {metrics[k]:.4g}" for k in keys if isinstance(metrics.get(k), float)]
    if "train_seconds" in metrics:
        parts.append(f"{metrics['train_seconds']:.1f} s training")
    print(", ".join(parts))


def cmd_sample(args: argparse.Namespace) -> int:
    """``khipu diffusion sample``."""
    from khipu.core.errors import KhipuError, UnknownNameError
    from khipu.diffusion.evaluation import sample_labels
    from khipu.diffusion.runs import load_model, run_sampling
    from khipu.diffusion.sampling import check_sampling_args, ddim_timesteps

    if args.sampler not in SAMPLERS:
        raise UnknownNameError("sampler", args.sampler, SAMPLERS)
    if args.num_samples > MAX_SAMPLES:
        raise KhipuError(f"--num-samples must be at most {MAX_SAMPLES}, got {args.num_samples}")
    if args.num_samples < 2:
        raise KhipuError("--num-samples must be at least 2 (the metrics compare distributions)")
    if args.out.resolve() == args.checkpoint.resolve():
        raise KhipuError("--out must differ from --checkpoint (the trained run is kept intact)")
    loaded = load_model(args.checkpoint)
    k = loaded.denoiser.config.num_classes
    labels = None if k is None else sample_labels(args.num_samples, k)
    check_sampling_args(loaded.denoiser, labels, args.guidance, args.num_samples)
    if args.sampler == "ddim":
        ddim_timesteps(loaded.schedule.num_steps, args.steps or 50)
    elif args.steps is not None and args.steps != loaded.schedule.num_steps:
        raise KhipuError(
            f"DDPM runs all T = {loaded.schedule.num_steps} steps; use --sampler ddim for "
            f"{args.steps}"
        )
    # DDPM runs all T steps of the trained schedule; DDIM defaults to 50
    steps = (args.steps or 50) if args.sampler == "ddim" else loaded.schedule.num_steps
    out = start_run(args, steps=steps)
    metrics = run_sampling(
        out,
        args.checkpoint,
        sampler=args.sampler,
        steps=steps if args.sampler == "ddim" else None,
        num_samples=args.num_samples,
        guidance=args.guidance,
        seed=args.seed,
        data_dir=args.data_dir,
    )
    _print(metrics)
    print(f"wrote {out}")
    return 0
