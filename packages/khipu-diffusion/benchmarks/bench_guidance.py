"""Classifier guidance vs classifier-free guidance: class accuracy and Fréchet distance.

One conditional model (a run folder of ``khipu diffusion train --conditional``, or a
digits model trained here) samples the same labels 0, 1, …, 9, 0, … with DDIM-50:
unguided (the null label: the unconditional model), conditional (w = 0), with
classifier-free guidance at several w, and with classifier guidance (the unconditional
prediction plus a noise-conditional classifier's gradient) at several scales s. The
run's evaluation classifier (trained on clean real digits) scores every set.

    python bench_guidance.py [--checkpoint RUN_DIR] [--num-samples 500] [--epochs 120]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from khipu.diffusion import (
    ddim_sample,
    evaluate_samples,
    load_data,
    load_eval_classifier,
    load_model,
    noisy_accuracy,
    run_training,
    sample_labels,
    train_noisy_classifier,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="a conditional run folder")
    parser.add_argument("--num-samples", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=120, help="when training here")
    parser.add_argument("--classifier-epochs", type=int, default=40)
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    parser.add_argument("--weights", type=float, nargs="+", default=[1.0, 2.0])
    args = parser.parse_args()

    run = args.checkpoint
    if run is None:
        run = Path(tempfile.mkdtemp(prefix="khipu-bench-")) / "digits"
        print(f"training a conditional digits model for {args.epochs} epochs into {run} ...")
        run_training(
            run,
            dataset="digits",
            conditional=True,
            epochs=args.epochs,
            num_samples=20,
            progress=False,
        )
    loaded = load_model(run)
    meta = loaded.metadata
    splits = load_data(meta["dataset"], seed=meta.get("data_seed", 0), limit=meta.get("limit"))
    clf = load_eval_classifier(run / "classifier.npz")
    k = loaded.denoiser.config.num_classes
    if k is None:
        raise SystemExit("the run's model is unconditional: train it with --conditional")
    started = time.perf_counter()
    noisy = train_noisy_classifier(splits, loaded.schedule, epochs=args.classifier_epochs)
    print(
        f"noise-conditional classifier: {time.perf_counter() - started:.0f} s, noised "
        f"validation accuracy {noisy.val_accuracy:.3f}; by t: "
        + ", ".join(
            f"t={t}: {noisy_accuracy(noisy, loaded.schedule, splits.val['x'], splits.val['label'], t, jax.random.key(0)):.2f}"  # noqa: E501
            for t in (0, 100, 250, 500, 750, loaded.schedule.num_steps - 1)
        )
    )
    labels = sample_labels(args.num_samples, k)
    key = jax.random.key(2)
    settings: list[tuple[str, dict[str, object]]] = [
        ("unguided (null label)", {}),
        ("conditional, w = 0", {"labels": labels}),
        *[(f"classifier-free, w = {w:g}", {"labels": labels, "guidance": w}) for w in args.weights],
        *[
            (
                f"classifier guidance, s = {s:g}",
                {"labels": labels, "classifier": noisy, "classifier_scale": s},
            )
            for s in args.scales
        ],
    ]
    for name, kwargs in settings:
        out = ddim_sample(
            loaded.denoiser,
            loaded.params,
            loaded.schedule,
            key,
            args.num_samples,
            steps=50,
            clip=1.0,
            **kwargs,  # type: ignore[arg-type]
        )
        metrics = evaluate_samples(np.asarray(out.x), splits, labels=labels, classifier=clf)
        print(
            f"{name:32s} class accuracy {metrics['class_accuracy']:.3f}  "
            f"Fréchet distance {metrics['frechet_distance']:.2f}"
        )


if __name__ == "__main__":
    main()
