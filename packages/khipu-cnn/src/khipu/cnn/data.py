"""Image-classification datasets, through khipu-core's dataset registry.

``digits`` (scikit-learn's bundled 8x8 digits, fixed-seed 70/15/15 split) is
the offline default for grey images and ``shapes32`` (32x32 RGB coloured shapes
and textures in 10 classes, generated from a seed) the offline stand-in for
CIFAR-10; ``mnist``, ``fashion_mnist`` and ``cifar10`` load through
tensorflow-datasets when they are prepared on this machine (install
``khipu-cnn[tfds]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import khipu.core as kc
import numpy as np

__all__ = [
    "DEFAULT_DATASET",
    "IMAGE_DATASETS",
    "SHAPES32_CLASSES",
    "SHAPES32_PER_CLASS",
    "SHAPES32_SIZE",
    "available_datasets",
    "describe",
    "load_image_dataset",
    "load_shapes32",
    "make_shapes32",
]

DEFAULT_DATASET = "digits"
IMAGE_DATASETS = ("digits", "shapes32", "mnist", "fashion_mnist", "cifar10")

#: The ten classes of ``shapes32``: six shapes on a plain background, four textures.
SHAPES32_CLASSES = (
    "circle",
    "square",
    "triangle",
    "cross",
    "ring",
    "crescent",
    "stripes",
    "checkerboard",
    "dots",
    "grid",
)
SHAPES32_SIZE = 32
#: Images per class of the default ``shapes32`` (6,000 images: 4,200 / 900 / 900).
SHAPES32_PER_CLASS = 600


def _shape_masks(label: int, n: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """Foreground masks ``[n, size, size]`` (bool) of ``n`` random instances of one class.

    Every instance has its own position, size, rotation (and, for textures, period and
    phase), all drawn from ``rng``.
    """
    centre = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    yy, xx = yy[None], xx[None]

    def draw(low: float, high: float) -> np.ndarray:
        return rng.uniform(low, high, size=(n, 1, 1)).astype(np.float32)

    angle = draw(0.0, 2 * np.pi)
    cos, sin = np.cos(angle), np.sin(angle)
    mask: Any
    if label < 6:  # a shape of radius r at (cx, cy), rotated by `angle`
        r = draw(0.2 * size, 0.34 * size)
        cx = centre + draw(-0.18 * size, 0.18 * size)
        cy = centre + draw(-0.18 * size, 0.18 * size)
        dx, dy = xx - cx, yy - cy
        u, v = cos * dx + sin * dy, -sin * dx + cos * dy  # shape-aligned coordinates
        rho = np.hypot(u, v)
        if label == 0:
            mask = rho <= r
        elif label == 1:
            mask = np.maximum(np.abs(u), np.abs(v)) <= 0.8 * r
        elif label == 2:  # equilateral: inside all three half-planes at distance r/2
            mask = np.ones_like(rho, dtype=bool)
            for k in range(3):
                phi = np.pi / 2 + 2 * np.pi * k / 3
                mask &= -(u * np.cos(phi) + v * np.sin(phi)) <= r / 2
        elif label == 3:
            arm = 0.32 * r
            au, av = np.abs(u), np.abs(v)
            mask = ((au <= arm) & (av <= r)) | ((av <= arm) & (au <= r))
        elif label == 4:
            mask = (rho <= r) & (rho >= 0.55 * r)
        else:  # crescent: a disc minus a shifted disc
            mask = (rho <= r) & (np.hypot(u - 0.55 * r, v) > 0.85 * r)
    else:  # a texture over the whole image, period p, rotated by `angle`, random phase
        period = draw(5.0, 9.0)
        u = cos * xx + sin * yy + draw(0.0, 9.0)
        v = -sin * xx + cos * yy + draw(0.0, 9.0)
        fu, fv = (u / period) % 1.0, (v / period) % 1.0
        if label == 6:
            mask = fu < 0.5
        elif label == 7:
            mask = (fu < 0.5) ^ (fv < 0.5)
        elif label == 8:
            mask = np.hypot(fu - 0.5, fv - 0.5) < 0.28
        else:  # grid lines
            mask = (fu < 0.25) | (fv < 0.25)
    return np.asarray(mask, dtype=bool)


def make_shapes32(
    n_per_class: int = SHAPES32_PER_CLASS,
    *,
    seed: int = 0,
    noise: float = 0.06,
) -> dict[str, np.ndarray]:
    """Generates the ``shapes32`` images: 32x32 RGB coloured shapes and textures.

    Recipe: for each of the 10 classes of :data:`SHAPES32_CLASSES`, ``n_per_class``
    foreground masks with a random position, size and rotation (shapes) or a
    random period, phase and orientation (textures). Each image gets a random
    background colour and a foreground colour that differs from it by 0.3 to 0.7
    in every channel, so colour says nothing about the class; Gaussian pixel
    noise (std ``noise``) is added and values clipped to [0, 1]. Everything is
    drawn from ``np.random.default_rng(seed)``: one seed, one dataset.

    Args:
      n_per_class: images per class.
      seed: the generator's seed.
      noise: standard deviation of the pixel noise.

    Returns:
      ``{"image": [10·n, 32, 32, 3] float32 in [0, 1], "label": [10·n] int32}``,
      grouped by class (labels ``0…0, 1…1, …``).
    """
    if n_per_class < 1:
        raise kc.KhipuError(f"n_per_class must be at least 1, got {n_per_class}")
    if not 0.0 <= noise <= 1.0:
        raise kc.KhipuError(f"noise must be in [0, 1], got {noise}")
    rng = np.random.default_rng(seed)
    size = SHAPES32_SIZE
    images, labels = [], []
    for label in range(len(SHAPES32_CLASSES)):
        mask = _shape_masks(label, n_per_class, rng, size)[..., None]  # [n, H, W, 1]
        background = rng.uniform(0.0, 1.0, size=(n_per_class, 1, 1, 3))
        offset = rng.uniform(0.3, 0.7, size=(n_per_class, 1, 1, 3))
        foreground = (background + offset) % 1.0
        image = np.where(mask, foreground, background)
        image = image + rng.normal(0.0, noise, size=image.shape)
        images.append(np.clip(image, 0.0, 1.0).astype(np.float32))
        labels.append(np.full(n_per_class, label, np.int32))
    return {"image": np.concatenate(images), "label": np.concatenate(labels)}


def load_shapes32(
    *,
    seed: int = 0,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    n_per_class: int = SHAPES32_PER_CLASS,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> kc.Splits:
    """``shapes32`` (see :func:`make_shapes32`) in class-balanced train / val / test splits.

    Each class's images are split 70 / 15 / 15 (so every split holds the same
    number of each class), then each split is shuffled; images and split both
    derive from ``seed``.

    Args:
      seed: seed of the images and of the split.
      data_dir: unused (the data is generated); accepted so that every
        registered loader takes the same arguments.
      limit: at most this many images in all (``limit // 10`` per class).
      n_per_class: images per class when ``limit`` is not given.
      val_fraction, test_fraction: sizes of the held-out splits.
    """
    del data_dir
    classes = len(SHAPES32_CLASSES)
    if limit is not None:
        n_per_class = min(n_per_class, limit // classes)
    if n_per_class < 3:
        raise kc.KhipuError(
            f"shapes32 needs at least 3 images per class (one per split), got {n_per_class}: "
            "pass a limit of at least 30"
        )
    data = make_shapes32(n_per_class, seed=seed)
    n_val = max(1, round(val_fraction * n_per_class))
    n_test = max(1, round(test_fraction * n_per_class))
    rng = np.random.default_rng([seed, 1])
    parts: list[list[np.ndarray]] = [[], [], []]
    for label in range(classes):
        order = label * n_per_class + rng.permutation(n_per_class)
        parts[0].append(order[n_val + n_test :])
        parts[1].append(order[:n_val])
        parts[2].append(order[n_val : n_val + n_test])
    train, val, test = (
        {k: v[idx] for k, v in data.items()}
        for idx in (rng.permutation(np.concatenate(p)) for p in parts)
    )
    return kc.Splits("shapes32", train, val, test, SHAPES32_CLASSES)


kc.register_dataset(
    "shapes32",
    load_shapes32,
    "32x32 RGB coloured shapes and textures in 10 classes, generated from a seed (offline)",
)


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
