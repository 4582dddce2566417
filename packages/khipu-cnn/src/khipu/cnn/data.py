"""Image-classification datasets, through khipu-core's dataset registry.

``digits`` (scikit-learn's bundled 8x8 digits, fixed-seed 70/15/15 split) is
the offline default; ``mnist``, ``fashion_mnist`` and ``cifar10`` load through
tensorflow-datasets when they are prepared on this machine (install
``khipu-cnn[tfds]``).
"""

from __future__ import annotations

from pathlib import Path

import khipu.core as kc
import numpy as np

__all__ = [
    "DEFAULT_DATASET",
    "IMAGE_DATASETS",
    "available_datasets",
    "describe",
    "load_image_dataset",
]

DEFAULT_DATASET = "digits"
IMAGE_DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")


def available_datasets() -> dict[str, str]:
    """The registered image datasets with a one-line description each."""
    return {k: v for k, v in kc.available_datasets().items() if k in IMAGE_DATASETS}


def load_image_dataset(
    name: str = DEFAULT_DATASET,
    *,
    seed: int = 0,
    data_dir: str | Path | None = None,
    limit: int | None = None,
) -> kc.Splits:
    """Loads an image dataset as train / validation / test splits.

    Args:
      name: ``"digits"`` (offline), ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.
      seed: seed of the split (fixed by default so every run sees the same split).
      data_dir: where tensorflow-datasets keeps prepared datasets.
      limit: read at most this many examples (quick runs).

    Returns:
      :class:`khipu.core.Splits` with ``"image"`` ``[N, H, W, C]`` float32 in
      [0, 1] and ``"label"`` ``[N]`` int32 per split.

    Raises:
      UnknownNameError: an unknown name (the message lists the available ones).
      DatasetNotAvailableError: a tfds dataset that is not prepared (says how).
      MissingDependencyError: tensorflow-datasets is not installed.
    """
    if name not in IMAGE_DATASETS:
        raise kc.UnknownNameError("dataset", name, list(available_datasets()) or IMAGE_DATASETS)
    if limit is not None and limit < 10:
        raise kc.KhipuError(f"limit must be at least 10 examples, got {limit}")
    splits = kc.load_dataset(name, seed=seed, data_dir=data_dir, limit=limit)
    for split_name, split in (("train", splits.train), ("val", splits.val), ("test", splits.test)):
        images, labels = split["image"], split["label"]
        if images.ndim != 4 or labels.ndim != 1 or len(images) != len(labels):
            raise kc.KhipuError(
                f"dataset {name!r} {split_name} split has images {images.shape} and labels "
                f"{labels.shape}; expected [N, H, W, C] and [N]"
            )
        if len(labels) and (labels.min() < 0 or labels.max() >= splits.num_classes):
            raise kc.KhipuError(
                f"dataset {name!r} {split_name} split has labels outside "
                f"0..{splits.num_classes - 1}"
            )
    return splits


def describe(splits: kc.Splits) -> dict[str, object]:
    """Sizes and image shape of a dataset, for ``config.json`` and printing."""
    return {
        "dataset": splits.name,
        "image_shape": list(np.shape(splits.train["image"])[1:]),
        "num_classes": splits.num_classes,
        "train_examples": len(splits.train["label"]),
        "val_examples": len(splits.val["label"]),
        "test_examples": len(splits.test["label"]),
    }
