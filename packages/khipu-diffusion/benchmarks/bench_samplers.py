"""DDIM with 50 steps vs DDPM with all 1000 steps: time per batch and Fréchet distance.

Both samplers draw the same number of samples from the same trained model (a run
folder of ``khipu diffusion train``, or a digits model trained here when no
``--checkpoint`` is given); each is compiled once, then timed ``--repeats`` times,
interleaved, on a fresh key (best of each). The
Fréchet distance is measured in the run's evaluation-classifier features against the
held-out real digits. Prints the speed ratio and the relative FD change.

    python bench_samplers.py [--checkpoint RUN_DIR] [--num-samples 200] [--epochs 150]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from khipu.diffusion import (
    evaluate_samples,
    load_data,
    load_eval_classifier,
    load_model,
    run_training,
    sample,
    sample_labels,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="a trained run folder")
    parser.add_argument("--num-samples", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=150, help="when training here")
    parser.add_argument("--guidance", type=float, default=0.0, help="conditional models")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each (best of)")
    args = parser.parse_args()

    run = args.checkpoint
    if run is None:
        run = Path(tempfile.mkdtemp(prefix="khipu-bench-")) / "digits"
        print(f"training a digits model for {args.epochs} epochs into {run} ...")
        run_training(run, dataset="digits", epochs=args.epochs, num_samples=20, progress=False)
    loaded = load_model(run)
    meta = loaded.metadata
    splits = load_data(meta["dataset"], seed=meta.get("data_seed", 0), limit=meta.get("limit"))
    clf = load_eval_classifier(run / "classifier.npz")
    k = loaded.denoiser.config.num_classes
    labels = None if k is None else sample_labels(args.num_samples, k)
    guidance = args.guidance if k is not None else 0.0
    samplers = {"ddpm": None, "ddim": 50}

    def draw(name: str, seed: int) -> np.ndarray:
        out = sample(
            name,
            loaded.denoiser,
            loaded.params,
            loaded.schedule,
            jax.random.key(seed),
            args.num_samples,
            steps=samplers[name],
            labels=labels,
            guidance=guidance,
            clip=1.0,
        )
        return np.asarray(jax.block_until_ready(out.x))

    drawn = {name: draw(name, 1) for name in samplers}  # compiles; these samples are scored
    times: dict[str, list[float]] = {name: [] for name in samplers}
    # interleaved repeats (best of each), so a change of machine load hits both alike
    for _ in range(args.repeats):
        for name in samplers:
            start = time.perf_counter()
            draw(name, 2)
            times[name].append(time.perf_counter() - start)
    results = {}
    for name in samplers:
        fd = evaluate_samples(drawn[name], splits, labels=labels, classifier=clf)[
            "frechet_distance"
        ]
        results[name] = (min(times[name]), fd)
        print(f"  {name}: {min(times[name]):8.3f} s for {args.num_samples} samples, FD {fd:.4f}")
    (t_ddpm, fd_ddpm), (t_ddim, fd_ddim) = results["ddpm"], results["ddim"]
    T = loaded.schedule.num_steps
    print(f"DDPM-{T} vs DDIM-50 on {meta['dataset']} ({args.num_samples} samples)")
    print(f"  RATIO time DDPM / DDIM: {t_ddpm / t_ddim:.1f}x")
    print(f"  FD DDIM / FD DDPM: {fd_ddim / fd_ddpm:.3f} ({100 * (fd_ddim / fd_ddpm - 1):+.1f} %)")


if __name__ == "__main__":
    main()
