"""Data for the practical: image datasets scaled to [−1, 1] and the 2-D mixture.

Every dataset is returned as :class:`khipu.core.Splits` whose arrays are
``{"x": [N, ...] float32, "label": [N] int32}``: ``x`` in [−1, 1] for images
(``2·pixel − 1``), raw coordinates for ``toy2d``.
"""

from __future__ import annotations

from pathlib import Path

import jax
import khipu.core as kc
import numpy as np
from khipu.core.errors import KhipuError, UnknownNameError
from khipu.diffusion.toy import GaussianMixture, practical_mixture, sample_mixture

DATASETS = ("digits", "toy2d", "mnist", "fashion_mnist")
DEFAULT_DATASET = "digits"


def to_model_range(images: np.ndarray) -> np.ndarray:
    """Images in [0, 1] → [−1, 1] (float32)."""
    return (2.0 * np.asarray(images, np.float32) - 1.0).astype(np.float32)


def to_display_range(x: np.ndarray | jax.Array) -> np.ndarray:
    """Model-range values → [0, 1], clipped (no wrap-around when converting to uint8)."""
    out: np.ndarray = np.clip((np.asarray(x, np.float32) + 1.0) / 2.0, 0.0, 1.0)
    return out


def to_uint8(x: np.ndarray | jax.Array) -> np.ndarray:
    """Model-range values → uint8 pixels in [0, 255], clipped *before* the cast."""
    return np.round(to_display_range(x) * 255.0).astype(np.uint8)


def _rescale(splits: kc.Splits) -> kc.Splits:
    def conv(part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"x": to_model_range(part["image"]), "label": part["label"].astype(np.int32)}

    return kc.Splits(
        splits.name, conv(splits.train), conv(splits.val), conv(splits.test), splits.class_names
    )


def toy2d_splits(
    *, n: int = 6000, seed: int = 0, mixture: GaussianMixture | None = None
) -> kc.Splits:
    """Exact samples of the practical's 2-D mixture: ``n`` training points and ``n // 4``
    validation and test points, labelled by nothing (``label`` all 0)."""
    if n < 8:
        raise KhipuError(f"toy2d needs at least 8 points, got {n}")
    mix = mixture or practical_mixture()
    keys = kc.KeySequence(seed)
    parts = []
    for size in (n, n // 4, n // 4):
        x = np.asarray(sample_mixture(mix, next(keys), size), np.float32)
        parts.append({"x": x, "label": np.zeros(size, np.int32)})
    return kc.Splits("toy2d", parts[0], parts[1], parts[2], ("mixture",))


def load_data(
    name: str = DEFAULT_DATASET,
    *,
    seed: int = 0,
    limit: int | None = None,
    data_dir: str | Path | None = None,
) -> kc.Splits:
    """One of :data:`DATASETS` as ``{"x", "label"}`` splits in the model's range.

    ``digits`` (scikit-learn's 8×8 digits, offline) and ``mnist`` / ``fashion_mnist``
    (tensorflow-datasets, when installed and prepared) are scaled to [−1, 1];
    ``toy2d`` draws points from the practical's Gaussian mixture.

    Raises:
      UnknownNameError: unknown dataset.
      DatasetNotAvailableError / MissingDependencyError: tfds data missing.
    """
    if name not in DATASETS:
        raise UnknownNameError("dataset", name, DATASETS)
    if name == "toy2d":
        return toy2d_splits(n=limit or 6000, seed=seed)
    return _rescale(kc.load_dataset(name, seed=seed, data_dir=data_dir, limit=limit))
