"""Complete runs into a run folder: what ``khipu diffusion train`` and ``sample`` do."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
from khipu.core.errors import CheckpointError, KhipuError
from khipu.diffusion.data import load_data
from khipu.diffusion.evaluation import (
    EvalClassifier,
    class_accuracy,
    frechet_distance,
    load_eval_classifier,
    nn_distance_ratio,
    sample_labels,
    save_eval_classifier,
    train_eval_classifier,
)
from khipu.diffusion.models import Denoiser, DenoiserConfig, build_denoiser, default_config
from khipu.diffusion.plots import (
    plot_denoising,
    plot_forward_process,
    plot_points,
    plot_sample_grid,
    plot_schedules,
    save_denoising_gif,
)
from khipu.diffusion.sampling import Samples, sample
from khipu.diffusion.schedules import Schedule, get_schedule, schedule_summary
from khipu.diffusion.toy import mmd, moment_errors, practical_mixture
from khipu.diffusion.train import train_denoiser

MODEL_FILE = "model.npz"
CLASSIFIER_FILE = "classifier.npz"


class LoadedModel(NamedTuple):
    """A trained denoiser read back from a run folder.

    Attributes:
      denoiser: the network.
      params: its (EMA) parameters.
      schedule: the noise schedule it was trained with.
      metadata: dataset, schedule name, T, class names...
    """

    denoiser: Denoiser
    params: Any
    schedule: Schedule
    metadata: dict[str, Any]


def save_model(
    path: str | Path,
    denoiser: Denoiser,
    params: Any,
    *,
    schedule_name: str,
    timesteps: int,
    dataset: str,
    class_names: tuple[str, ...],
    **extra: Any,
) -> Path:
    """Saves the EMA parameters with everything needed to rebuild the model and schedule
    (``extra``: more JSON metadata, e.g. the data split's seed)."""
    meta = {
        **extra,
        "config": denoiser.config.to_dict(),
        "schedule": schedule_name,
        "timesteps": timesteps,
        "dataset": dataset,
        "class_names": list(class_names),
    }
    return kc.save_checkpoint(path, {"params": jax.device_get(params)}, meta)


def _check_config_fits_file(path: Path, shapes: Any) -> None:
    """Refuses a saved configuration that describes more parameters than the file holds
    (an edited or hostile checkpoint), before anything of that size is allocated."""
    need = sum(int(np.prod(s.shape)) * np.dtype(s.dtype).itemsize for s in jax.tree.leaves(shapes))
    try:
        with zipfile.ZipFile(path) as z:
            have = sum(info.file_size for info in z.infolist())
    except (OSError, zipfile.BadZipFile):
        return  # kc.load_checkpoint reports a missing or corrupt file in its own words
    if need > have + 2**20:
        raise CheckpointError(
            f"{path}: its configuration describes {need / 2**20:.0f} MiB of parameters but the "
            f"file holds {have / 2**20:.1f} MiB; the checkpoint was edited or is not this model's"
        )


def load_model(path: str | Path) -> LoadedModel:
    """Reads a model saved by :func:`save_model` (``path`` may be the run folder).

    Raises:
      CheckpointError: missing, corrupt or not a khipu-diffusion model.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    meta = kc.read_metadata(path)
    try:
        config = DenoiserConfig.from_dict(meta["config"])
        schedule = get_schedule(meta["schedule"], int(meta["timesteps"]))
    except (KeyError, KhipuError) as exc:
        raise CheckpointError(f"{path} is not a khipu-diffusion model ({exc})") from exc
    denoiser = build_denoiser(config)
    x = jnp.zeros((1, *config.data_shape), jnp.float32)
    t = jnp.zeros((1,), jnp.int32)
    label = None if config.num_classes is None else jnp.zeros((1,), jnp.int32)
    like = jax.eval_shape(denoiser.transformed.init, jax.random.key(0), x, t, label)
    _check_config_fits_file(path, like)
    like = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), like)
    tree, meta = kc.load_checkpoint(path, {"params": like})
    return LoadedModel(denoiser, tree["params"], schedule, meta)


def evaluate_samples(
    samples: np.ndarray,
    splits: kc.Splits,
    *,
    labels: np.ndarray | None = None,
    classifier: EvalClassifier | None = None,
) -> dict[str, float]:
    """The metrics of generated ``samples`` against the real data of ``splits``.

    Images: ``frechet_distance`` in the classifier's feature space against the
    held-out real images (validation + test), ``nn_distance_ratio``, and
    ``class_accuracy`` when ``labels`` are given. ``toy2d``: the Fréchet distance on
    the points themselves, ``mmd``, ``mean_error`` and ``cov_error``.
    """
    heldout = np.concatenate([splits.val["x"], splits.test["x"]])
    metrics: dict[str, float] = {
        "nn_distance_ratio": nn_distance_ratio(samples, splits.train["x"], heldout)
    }
    if splits.name == "toy2d":
        metrics["frechet_distance"] = frechet_distance(samples, heldout)
        metrics["mmd"] = mmd(samples[:1000], heldout[:1000])
        metrics |= moment_errors(samples, practical_mixture())
        return metrics
    if classifier is None:
        raise KhipuError("image metrics need the evaluation classifier")
    _, fake = classifier.logits_and_features(samples)
    _, real = classifier.logits_and_features(heldout)
    metrics["frechet_distance"] = frechet_distance(fake, real)
    metrics["classifier_val_accuracy"] = classifier.val_accuracy
    if labels is not None:
        metrics["class_accuracy"] = class_accuracy(classifier, samples, labels)
    return metrics


_MAX_TRAJECTORY_BYTES = 200 * 2**20
_GIF_SAMPLES = 16


def _draw(
    loaded: LoadedModel,
    *,
    sampler: str,
    steps: int | None,
    num_samples: int,
    guidance: float,
    seed: int,
    trajectory: bool,
) -> tuple[Samples, np.ndarray | None]:
    """Samples (labels 0, 1, …, K−1, 0, … when conditional); with ``trajectory`` the
    result's trajectory holds (at least) the first 16 samples' paths."""
    n_steps = loaded.schedule.num_steps if sampler == "ddpm" else (steps or 50)
    size = int(np.prod(loaded.denoiser.config.data_shape)) * 4
    if trajectory and (n_steps + 1) * num_samples * size > _MAX_TRAJECTORY_BYTES:
        main, labels = _draw_once(loaded, sampler, steps, num_samples, guidance, seed, False)
        few, _ = _draw_once(
            loaded, sampler, steps, min(_GIF_SAMPLES, num_samples), guidance, seed, True
        )
        return main._replace(trajectory=few.trajectory), labels
    return _draw_once(loaded, sampler, steps, num_samples, guidance, seed, trajectory)


def _draw_once(
    loaded: LoadedModel,
    sampler: str,
    steps: int | None,
    num_samples: int,
    guidance: float,
    seed: int,
    trajectory: bool,
) -> tuple[Samples, np.ndarray | None]:
    k = loaded.denoiser.config.num_classes
    labels = sample_labels(num_samples, k) if k is not None else None
    out = sample(
        sampler,
        loaded.denoiser,
        loaded.params,
        loaded.schedule,
        kc.as_key(seed),
        num_samples,
        steps=steps,
        labels=labels,
        guidance=guidance,
        trajectory=trajectory,
        clip=None if loaded.denoiser.config.kind == "mlp" else 1.0,
    )
    return out, labels


def _figures(
    out: Path, loaded: LoadedModel, splits: kc.Splits, result: Samples, labels: np.ndarray | None
) -> None:
    x = np.asarray(result.x)
    if splits.name == "toy2d":
        plot_points(x, splits.test["x"], title="toy2d: data vs samples", path=out / "samples.png")
        return
    n = min(50, len(x))
    plot_sample_grid(
        x[:n],
        labels=None if labels is None else labels[:n],
        class_names=loaded.metadata.get("class_names"),
        path=out / "samples.png",
    )
    if result.trajectory is not None:
        traj = np.asarray(result.trajectory[:, :16])
        save_denoising_gif(traj, out / "denoising.gif")
        plot_denoising(traj, path=out / "denoising.png")


def run_training(
    out: str | Path,
    *,
    dataset: str = "digits",
    conditional: bool = False,
    model: str = "unet",
    schedule: str = "linear",
    timesteps: int = 1000,
    epochs: int = 300,
    batch_size: int = 128,
    learning_rate: float = 2e-3,
    ema_decay: float = 0.995,
    label_dropout: float = 0.15,
    sampler: str = "ddim",
    sample_steps: int | None = 50,
    num_samples: int = 500,
    guidance: float = 2.0,
    limit: int | None = None,
    data_dir: str | Path | None = None,
    data_seed: int = 0,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Trains a denoiser, samples from it and evaluates the samples, all into ``out``.

    Writes ``model.npz`` (EMA parameters + configuration), ``classifier.npz`` (the
    evaluation classifier, image datasets), ``metrics.json`` (``final_loss``,
    ``frechet_distance``, ``nn_distance_ratio``, ``class_accuracy`` when
    conditional, ``mmd`` for toy2d, ``alpha_bar_T``, ``train_seconds``...),
    ``history.json``, ``loss.png``, ``schedule.png``, ``samples.png`` and, for
    images, ``forward_process.png``, ``denoising.png`` and ``denoising.gif``;
    ``checkpoints/last.npz`` lets ``resume`` continue.

    Returns:
      The metrics written.
    """
    out = Path(out)
    splits = load_data(dataset, seed=data_seed, limit=limit, data_dir=data_dir)
    sched = get_schedule(schedule, timesteps)
    shape = tuple(splits.train["x"].shape[1:])
    config = default_config(
        shape,
        num_classes=splits.num_classes if conditional else None,
        kind="mlp" if model == "mlp" else None,
    )
    denoiser = build_denoiser(config)
    result = train_denoiser(
        denoiser,
        sched,
        splits.train,
        epochs=epochs,
        batch_size=min(batch_size, len(splits.train["x"])),
        learning_rate=learning_rate,
        ema_decay=ema_decay,
        label_dropout=label_dropout,
        seed=seed,
        checkpoint_dir=out / "checkpoints",
        resume=resume,
        progress=progress,
    )
    save_model(
        out / MODEL_FILE,
        denoiser,
        result.params,
        schedule_name=schedule,
        timesteps=timesteps,
        dataset=dataset,
        class_names=splits.class_names,
        data_seed=data_seed,
        limit=limit,
    )
    loaded = load_model(out / MODEL_FILE)
    kc.write_json(out / "history.json", result.history)
    kc.plot_learning_curves(result.history, metrics=["loss"], log_y=True, path=out / "loss.png")
    plot_schedules({schedule: sched}, path=out / "schedule.png")

    classifier = None
    if dataset != "toy2d":
        classifier = train_eval_classifier(splits, seed=seed)
        save_eval_classifier(out / CLASSIFIER_FILE, classifier)
        plot_forward_process(
            splits.train["x"][0], sched, kc.as_key(seed), path=out / "forward_process.png"
        )
    drawn, labels = _draw(
        loaded,
        sampler=sampler,
        steps=sample_steps if sampler == "ddim" else None,
        num_samples=num_samples,
        guidance=guidance if conditional else 0.0,
        seed=seed + 1,
        trajectory=dataset != "toy2d",
    )
    samples = np.asarray(drawn.x)
    _figures(out, loaded, splits, drawn, labels)
    metrics: dict[str, Any] = {
        "final_loss": result.history["loss"][-1],
        **evaluate_samples(samples, splits, labels=labels, classifier=classifier),
        "epochs": len(result.history["loss"]),
        "steps": int(result.state.step),
        "train_seconds": result.train_seconds,
        "parameters": kc.total_parameters(result.params),
        "alpha_bar_T": schedule_summary(sched)["alpha_bar_T"],
        "sampler": sampler,
        "sample_steps": len(drawn.timesteps),
        "guidance": guidance if conditional else 0.0,
        "num_samples": num_samples,
    }
    kc.write_metrics(out, metrics)
    return metrics


def run_sampling(
    out: str | Path,
    checkpoint: str | Path,
    *,
    sampler: str = "ddim",
    steps: int | None = 50,
    num_samples: int = 100,
    guidance: float = 0.0,
    seed: int = 0,
    data_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Samples from a trained run folder ``checkpoint`` into ``out``: ``samples.png``,
    ``denoising.gif`` (images), ``samples.npz`` and ``metrics.json`` (the same
    metrics as training, with the run's evaluation classifier)."""
    out = Path(out)
    loaded = load_model(checkpoint)
    ckpt_dir = Path(checkpoint) if Path(checkpoint).is_dir() else Path(checkpoint).parent
    meta = loaded.metadata
    splits = load_data(
        meta["dataset"], seed=meta.get("data_seed", 0), limit=meta.get("limit"), data_dir=data_dir
    )
    classifier = None
    if meta["dataset"] != "toy2d":
        classifier = load_eval_classifier(ckpt_dir / CLASSIFIER_FILE)
    drawn, labels = _draw(
        loaded,
        sampler=sampler,
        steps=steps,
        num_samples=num_samples,
        guidance=guidance,
        seed=seed,
        trajectory=meta["dataset"] != "toy2d",
    )
    samples = np.asarray(drawn.x)
    _figures(out, loaded, splits, drawn, labels)
    kc.save_checkpoint(out / "samples.npz", {"x": samples}, {"sampler": sampler})
    metrics: dict[str, Any] = {
        **evaluate_samples(samples, splits, labels=labels, classifier=classifier),
        "sampler": sampler,
        "sample_steps": len(drawn.timesteps),
        "guidance": guidance,
        "num_samples": num_samples,
    }
    kc.write_metrics(out, metrics)
    return metrics
