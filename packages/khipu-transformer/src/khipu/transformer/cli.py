"""``khipu transformer ...``: train the inversion model or the character LM, and generate.

Heavy modules (JAX, Haiku) are imported inside the command functions so that
``khipu --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from khipu.core.cli import (
    add_run_arguments,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    start_run,
)

# Per-task defaults: (length, num_train, epochs, d_model, num_layers, learning_rate)
DEFAULTS = {
    "invert": {"length": 24, "num_train": 9600, "epochs": 10, "learning_rate": 2e-3},
    "lm": {"length": 128, "num_train": 6400, "epochs": 4, "learning_rate": 2e-3},
    "vit": {"epochs": 60, "learning_rate": 2e-3},
}


def register(parser: argparse.ArgumentParser) -> None:
    """Adds the ``train`` and ``generate`` subcommands."""
    sub = parser.add_subparsers(title="commands", metavar="<command>")

    train = sub.add_parser(
        "train",
        help="train the word-inversion transformer or a character language model",
        description="Trains on the offline grammar text (default), a text file (--text) or "
        "tiny_shakespeare (--source, with tensorflow-datasets); writes metrics.json "
        "(invert: exact_match, token_accuracy, val_loss; lm: val_loss, bits_per_char), "
        "history.json, learning_curves.png, positional_encoding.png, attention heatmaps, "
        "model.npz and checkpoints/last.npz (for --resume).",
    )
    add_run_arguments(train, distributed=True)
    train.add_argument(
        "--task",
        choices=("invert", "lm", "vit"),
        default="invert",
        help="invert (default), lm, or vit: a vision transformer on the offline 8x8 digits",
    )
    src = train.add_mutually_exclusive_group()
    src.add_argument(
        "--text",
        type=Path,
        default=None,
        help="train on this UTF-8 text file; memory grows linearly with its characters "
        "(at most 64 MiB is read)",
    )
    src.add_argument(
        "--source",
        choices=("grammar", "tiny_shakespeare"),
        default="grammar",
        help="built-in text: grammar (offline, default) or tiny_shakespeare (tfds)",
    )
    train.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="tensorflow-datasets folder (tiny_shakespeare: about 1 MB of text); memory grows "
        "with the text loaded",
    )
    train.add_argument(
        "--length",
        type=positive_int,
        default=None,
        help="crop length (invert, default 24; crops of length/2..length) or window (lm, 128)",
    )
    train.add_argument("--num-train", type=positive_int, default=None, help="training examples")
    train.add_argument("--epochs", type=positive_int, default=None, help="passes over the data")
    train.add_argument("--batch-size", type=positive_int, default=64, help="default 64")
    train.add_argument("--learning-rate", type=positive_float, default=None, help="default 2e-3")
    train.add_argument("--warmup-steps", type=non_negative_int, default=100, help="default 100")
    train.add_argument("--d-model", type=positive_int, default=64, help="default 64")
    train.add_argument("--num-heads", type=positive_int, default=4, help="default 4")
    train.add_argument("--num-layers", type=positive_int, default=2, help="default 2")
    train.add_argument("--widening-factor", type=positive_int, default=4, help="default 4")
    train.add_argument("--max-len", type=positive_int, default=None, help="longest sequence")
    train.add_argument("--pre-ln", action="store_true", help="LayerNorm before each sublayer")
    train.add_argument(
        "--patch-size", type=positive_int, default=2, help="vit: patch side in pixels (default 2)"
    )
    train.add_argument(
        "--positional", choices=("sinusoidal", "learned"), default="sinusoidal", help="encodings"
    )
    train.set_defaults(func=cmd_train)

    pre = sub.add_parser(
        "pretrain",
        help="pre-train the small text encoder (masked characters, offline grammar text)",
        description="Masked-character pre-training of a small encoder on sentences of the "
        "package's grammar; writes pretrained_encoder.npz, pretrained_encoder.json "
        "(provenance: command, config, data, versions) and metrics.json. The package ships "
        "the result of the default settings in khipu/transformer/weights/.",
    )
    add_run_arguments(pre, resume=False)
    pre.add_argument("--epochs", type=positive_int, default=3, help="default 3")
    pre.add_argument("--num-sentences", type=positive_int, default=8000, help="default 8000")
    pre.add_argument("--d-model", type=positive_int, default=64, help="default 64")
    pre.add_argument("--num-layers", type=positive_int, default=2, help="default 2")
    pre.add_argument("--learning-rate", type=positive_float, default=2e-3, help="default 2e-3")
    pre.set_defaults(func=cmd_pretrain)

    gen = sub.add_parser(
        "generate",
        help="continue a prompt with a trained LM (or invert it with an inversion model)",
        description="Loads DIR/model.npz written by `khipu transformer train` and prints the "
        "generated text (KV-cache decoding).",
    )
    gen.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="run folder or model.npz; memory: the model's parameters",
    )
    gen.add_argument("--prompt", required=True, help="text to continue (or to invert)")
    gen.add_argument("--max-new-tokens", type=positive_int, default=100, help="default 100")
    gen.add_argument(
        "--temperature", type=non_negative_float, default=0.0, help="0 = greedy (default)"
    )
    gen.add_argument("--top-k", type=positive_int, default=None, help="sample among the top k")
    gen.add_argument("--seed", type=non_negative_int, default=0, help="sampling seed (0)")
    gen.set_defaults(func=cmd_generate)


def cmd_train(args: argparse.Namespace) -> int:
    """``khipu transformer train``."""
    from khipu.transformer import data as D
    from khipu.transformer.runs import prepare_task, run_training

    defaults = DEFAULTS[args.task]
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.task == "vit":
        return _train_vit(args)
    text = D.load_text(args.text if args.text is not None else args.source, data_dir=args.data_dir)
    data = prepare_task(
        args.task,
        text,
        length=args.length,
        num_train=args.num_train,
        d_model=args.d_model,
        num_heads=args.num_heads,
        num_layers=args.num_layers,
        widening_factor=args.widening_factor,
        max_len=args.max_len,
        pre_ln=args.pre_ln,
        positional=args.positional,
        seed=args.seed,
    )
    if args.batch_size > len(next(iter(data.train.values()))):
        from khipu.core import KhipuError

        raise KhipuError(
            f"batch size {args.batch_size} is larger than the training set ({args.num_train})"
        )
    # config.json: max_len resolved; start_run leaves out unset options (--text, --data-dir),
    # and the options set by default that do not apply here are left out too
    unused = ["patch_size"] if args.text is None else ["patch_size", "source"]
    out = start_run(
        _recorded(args, unused),
        resume_may_differ=("epochs", "no_progress"),
        vocab_size=data.config.vocab_size,
        max_len=data.config.max_len,
    )
    metrics = run_training(
        out,
        data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps,
        seed=args.seed,
        resume=args.resume,
        progress=not args.no_progress,
    )
    if args.task == "invert":
        print(
            f"exact match {metrics['exact_match']:.4f}, token accuracy "
            f"{metrics['token_accuracy']:.4f} (autoregressive, {metrics['test_examples']} held-out "
            f"crops), val loss {metrics['val_loss']:.4f}, {metrics['train_seconds']:.1f} s training"
        )
    else:
        print(
            f"val loss {metrics['val_loss']:.4f}, {metrics['bits_per_char']:.3f} bits per char, "
            f"{metrics['train_seconds']:.1f} s training"
        )
    print(f"wrote {out}")
    return 0


def _recorded(args: argparse.Namespace, unused: list[str]) -> argparse.Namespace:
    """``args`` without the options that do not apply to this run (for config.json)."""
    return argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in unused})


def cmd_generate(args: argparse.Namespace) -> int:
    """``khipu transformer generate``."""
    from khipu.transformer.runs import generate_text, load_model

    model = load_model(args.checkpoint)
    text = generate_text(
        model,
        args.prompt,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        seed=args.seed,
    )
    print(text if model.task == "invert" else args.prompt + text)
    return 0


def _train_vit(args: argparse.Namespace) -> int:
    """``khipu transformer train --task vit``: a ViT on scikit-learn's 8x8 digits."""
    from khipu.core import (
        KhipuError,
        load_digits,
        plot_learning_curves,
        save_checkpoint,
        write_json,
        write_metrics,
    )
    from khipu.transformer.vit import ViTConfig, check_vit_config, train_vit

    if args.text is not None or args.source != "grammar" or args.data_dir is not None:
        raise KhipuError("--text, --source and --data-dir apply to the text tasks, not to vit")
    config = ViTConfig(
        num_classes=10,
        image_size=8,
        channels=1,
        patch_size=args.patch_size,
        d_model=args.d_model,
        num_heads=args.num_heads,
        num_layers=args.num_layers,
        widening_factor=args.widening_factor,
    )
    check_vit_config(config)
    splits = load_digits(seed=args.seed)
    if args.batch_size > len(splits.train["image"]):
        raise KhipuError(
            f"batch size {args.batch_size} is larger than the training set "
            f"({len(splits.train['image'])})"
        )
    # the text tasks' options that are set by default (the unset ones start_run leaves out);
    # the ViT has its own positions and LayerNorm placement (learned, pre-LN)
    unused = ["source", "download", "positional", "pre_ln"]
    out = start_run(_recorded(args, unused), resume_may_differ=("epochs", "no_progress"))
    result = train_vit(
        config,
        splits.train,
        splits.val,
        splits.test,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps,
        seed=args.seed,
        checkpoint_dir=out / "checkpoints",
        resume=args.resume,
        progress=not args.no_progress,
    )
    write_json(out / "history.json", result.history)
    plot_learning_curves(
        result.history, metrics=["loss", "accuracy"], path=out / "learning_curves.png"
    )
    save_checkpoint(
        out / "model.npz", {"params": result.params}, {"task": "vit", "config": config._asdict()}
    )
    write_metrics(out, result.metrics)
    m = result.metrics
    print(
        f"test accuracy {m['test_accuracy']:.4f} on {int(m['test_examples'])} held-out digits "
        f"(val {m['val_accuracy']:.4f}), {m['train_seconds']:.1f} s training"
    )
    print(f"wrote {out}")
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    """``khipu transformer pretrain``."""
    import sys

    from khipu.core import package_versions, write_metrics
    from khipu.transformer.pretrained import (
        PretrainConfig,
        agent_dataset,
        pretrain_encoder,
        save_pretrained,
    )

    settings = PretrainConfig(
        d_model=args.d_model,
        num_layers=args.num_layers,
        num_sentences=args.num_sentences,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )
    out = start_run(args)
    config, tokenizer, params, metrics = pretrain_encoder(settings, progress=not args.no_progress)
    held_out = agent_dataset(4)[0]
    provenance = {
        "command": "khipu transformer pretrain " + " ".join(sys.argv[3:]),
        "objective": f"masked character modelling ({settings.mask_rate:.0%} of the characters "
        "of each sentence replaced by MASK = id 1 and restored)",
        "pretrain_config": settings._asdict(),
        "model_config": config._asdict(),
        "data": "khipu.transformer.pretrained.grammar_sentences(num_sentences, seed=seed): "
        "lower-cased sentences of the package's grammar (khipu.transformer.data."
        "grammar_sentence), generated offline; no labels. Held out: agent_dataset() "
        f"(seeds 10000 + s), e.g. {held_out[0]!r}",
        "metrics": metrics,
        "versions": package_versions("transformer"),
    }
    save_pretrained(out, config, tokenizer, params, provenance)
    write_metrics(out, metrics)
    print(
        f"masked-character accuracy {metrics['final_masked_accuracy']:.3f}, loss "
        f"{metrics['final_loss']:.3f}, {metrics['train_seconds']:.0f} s; wrote {out}"
    )
    return 0
