"""Data: seeded minibatches, embedded offline datasets and tensorflow-datasets loading.

A dataset split is a plain mapping of NumPy arrays sharing their first axis,
e.g. ``{"image": [N, H, W, C] float32, "label": [N] int32}``.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from khipu.core.errors import (
    DatasetNotAvailableError,
    KhipuError,
    UnknownNameError,
    import_optional,
)

Arrays = Mapping[str, np.ndarray]


def num_examples(data: Arrays) -> int:
    """The shared leading dimension of ``data``; raises if the arrays disagree."""
    if not data:
        raise KhipuError("dataset has no arrays")
    sizes = {name: len(a) for name, a in data.items()}
    if len(set(sizes.values())) != 1:
        raise KhipuError(f"arrays have different numbers of examples: {sizes}")
    return next(iter(sizes.values()))


def num_batches(n: int, batch_size: int, *, drop_remainder: bool) -> int:
    """How many batches :func:`batches` yields for ``n`` examples."""
    return n // batch_size if drop_remainder else -(-n // batch_size)


def batches(
    data: Arrays,
    batch_size: int,
    *,
    seed: int | np.random.Generator | None = None,
    shuffle: bool = True,
    drop_remainder: bool = False,
) -> Iterator[dict[str, np.ndarray]]:
    """Iterates over ``data`` in minibatches of ``batch_size`` examples.

    Args:
      data: arrays sharing their leading dimension ``N``.
      batch_size: examples per batch (the last batch may be smaller unless
        ``drop_remainder``).
      seed: seed or generator for the shuffle; the same seed gives the same order.
      shuffle: visit the examples in a random permutation (else in order).
      drop_remainder: drop the last incomplete batch (static shapes for ``jit``).

    Yields:
      Mappings with the same keys as ``data``, each array of leading size
      ``batch_size`` (or the remainder).
    """
    if batch_size <= 0:
        raise KhipuError(f"batch_size must be positive, got {batch_size}")
    n = num_examples(data)
    if drop_remainder and n < batch_size:
        raise KhipuError(
            f"batch_size {batch_size} is larger than the dataset ({n} examples) "
            "and drop_remainder is set: no batch would be produced"
        )
    if shuffle:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        order = rng.permutation(n)
    else:
        order = np.arange(n)
    for i in range(num_batches(n, batch_size, drop_remainder=drop_remainder)):
        idx = order[i * batch_size : (i + 1) * batch_size]
        yield {name: np.asarray(a)[idx] for name, a in data.items()}


def split_arrays(
    data: Arrays, fractions: tuple[float, ...], *, seed: int
) -> tuple[dict[str, np.ndarray], ...]:
    """Splits ``data`` into disjoint parts of the given fractions (seeded shuffle).

    The last part takes whatever remains, so every example lands in exactly one part.
    """
    if not fractions or any(f <= 0 for f in fractions) or sum(fractions) > 1 + 1e-9:
        raise KhipuError(f"fractions must be positive and sum to at most 1, got {fractions}")
    n = num_examples(data)
    order = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([0, *[round(f * n) for f in fractions[:-1]]])
    parts = [order[a:b] for a, b in itertools.pairwise(bounds)]
    parts.append(order[bounds[-1] :])
    return tuple({k: np.asarray(v)[p] for k, v in data.items()} for p in parts)


@dataclasses.dataclass(frozen=True)
class Splits:
    """A labelled dataset in three disjoint splits.

    Attributes:
      name: registry name of the dataset.
      train, val, test: arrays per split (``"image"`` ``[N, H, W, C]`` float32 in
        [0, 1] and ``"label"`` ``[N]`` int32 for the image datasets).
      class_names: one name per label value.
    """

    name: str
    train: dict[str, np.ndarray]
    val: dict[str, np.ndarray]
    test: dict[str, np.ndarray]
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


DatasetLoader = Callable[..., Splits]
"""``loader(*, seed: int, data_dir: str | Path | None, limit: int | None) -> Splits``."""
_REGISTRY: dict[str, tuple[DatasetLoader, str]] = {}


def register_dataset(name: str, loader: DatasetLoader, description: str) -> None:
    """Registers ``loader(**kwargs) -> Splits`` under ``name``."""
    _REGISTRY[name] = (loader, description)


def available_datasets() -> dict[str, str]:
    """Registered dataset names with a one-line description each."""
    return {name: desc for name, (_, desc) in sorted(_REGISTRY.items())}


def load_dataset(name: str, **kwargs: Any) -> Splits:
    """Loads a registered dataset by name.

    Raises:
      UnknownNameError: ``name`` is not registered (the message lists what is).
    """
    if name not in _REGISTRY:
        raise UnknownNameError("dataset", name, list(_REGISTRY))
    loader, _ = _REGISTRY[name]
    return loader(**kwargs)


# ---------------------------------------------------------------------------
# Embedded offline default: scikit-learn's bundled 8x8 digits.


def load_digits(
    *,
    seed: int = 0,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> Splits:
    """scikit-learn's bundled handwritten digits (1,797 8x8 images, ships offline).

    Recipe: pixel values 0..16 scaled to [0, 1], shape ``[N, 8, 8, 1]``; a
    seeded permutation splits them into 70 % train, 15 % validation, 15 % test.

    Args:
      seed: seed of the split.
      data_dir: unused (the data ships inside scikit-learn); accepted so that
        every registered loader takes the same arguments.
      limit: keep at most this many examples before splitting (quick runs).
      val_fraction, test_fraction: sizes of the held-out splits.
    """
    del data_dir
    datasets = import_optional("sklearn.datasets", install="khipu-core[digits]")
    raw = datasets.load_digits()
    data = {
        "image": (raw.images.astype(np.float32) / 16.0)[..., None],
        "label": raw.target.astype(np.int32),
    }
    if limit is not None:
        data = {k: v[:limit] for k, v in data.items()}
    train_fraction = 1.0 - val_fraction - test_fraction
    train, val, test = split_arrays(data, (train_fraction, val_fraction, test_fraction), seed=seed)
    return Splits("digits", train, val, test, tuple(str(d) for d in range(10)))


register_dataset("digits", load_digits, "scikit-learn's bundled 8x8 digits (offline)")


# ---------------------------------------------------------------------------
# tensorflow-datasets, through tfds.data_source (no TensorFlow needed).

_TFDS_IMAGE_DATASETS = {
    "mnist": "MNIST handwritten digits, 28x28x1 (tensorflow-datasets)",
    "fashion_mnist": "Fashion-MNIST, 28x28x1 (tensorflow-datasets)",
    "cifar10": "CIFAR-10, 32x32x3 (tensorflow-datasets)",
}


_DOWNLOADS_ALLOWED = False


def allow_downloads(allowed: bool = True) -> None:
    """Lets :func:`load_tfds_split` download and prepare a missing dataset by default
    (the ``--download`` option of the ``khipu`` commands). Offline is the default."""
    global _DOWNLOADS_ALLOWED
    _DOWNLOADS_ALLOWED = allowed


def load_tfds_split(
    name: str,
    split: str,
    *,
    data_dir: str | Path | None = None,
    download: bool | None = None,
) -> Any:
    """Opens one split of a prepared tensorflow-datasets dataset for random access.

    Args:
      name: the tfds name (``"mnist"``, ``"cifar10"``, ``"movielens/100k-ratings"``,
        ``"tiny_shakespeare"``...).
      split: ``"train"``, ``"test"``...
      data_dir: where prepared datasets live (tfds's default ``~/tensorflow_datasets``).
      download: let tensorflow-datasets download and prepare the dataset (in the
        ``array_record`` format) when it is missing; needs internet (Colab).
        ``None``: as set by :func:`allow_downloads` (``--download``), else offline.

    Raises:
      MissingDependencyError: tensorflow-datasets is not installed.
      DatasetNotAvailableError: the dataset is not prepared in ``data_dir`` and
        downloading is off (the message names ``--download`` and the offline
        recipe), or the download failed.
    """
    tfds = import_optional("tensorflow_datasets", install="khipu-core[tfds]")
    if download is None:
        download = _DOWNLOADS_ALLOWED
    dir_arg = None if data_dir is None else str(data_dir)
    # tfds logs its probing of dataset folders as warnings ("Variant folder ... has no
    # dir_name"); a missing dataset is reported once, below, in one line.
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        if download:
            return tfds.data_source(
                name,
                split=split,
                data_dir=dir_arg,
                download=True,
                builder_kwargs={"file_format": "array_record"},
            )
        return tfds.data_source(name, split=split, data_dir=dir_arg, download=False)
    except Exception as exc:  # tfds raises several types for "not there / wrong format"
        where = dir_arg or "~/tensorflow_datasets"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if download:
            raise DatasetNotAvailableError(
                f"could not download tensorflow-datasets dataset {name!r} ({split}) "
                f"into {where}: {reason}"
            ) from exc
        raise DatasetNotAvailableError(
            f"tensorflow-datasets dataset {name!r} ({split}) is not available in {where} "
            f"({reason}). Pass --download (download=True in Python) to let "
            f"tensorflow-datasets fetch it (needs internet), or on a machine with internet "
            f"run `tfds build {name} --file_format=array_record` and copy its folder "
            f"into {where} (or pass --data-dir)"
        ) from exc
    finally:
        absl_logger.setLevel(level)


def _tfds_to_arrays(source: Any, limit: int | None) -> dict[str, np.ndarray]:
    n = len(source) if limit is None else min(limit, len(source))
    if n == 0:
        raise DatasetNotAvailableError("tensorflow-datasets split is empty")
    examples = [source[i] for i in range(n)]
    images = np.stack([np.asarray(e["image"]) for e in examples]).astype(np.float32) / 255.0
    labels = np.asarray([int(e["label"]) for e in examples], dtype=np.int32)
    return {"image": images, "label": labels}


def load_tfds_images(
    name: str,
    *,
    data_dir: str | Path | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
    limit: int | None = None,
    download: bool | None = None,
) -> Splits:
    """An image-classification dataset from tensorflow-datasets.

    The tfds ``train`` split is divided into train / validation with a seeded
    permutation; the tfds ``test`` split is the test split. Images are float32 in
    [0, 1] of shape ``[N, H, W, C]``.

    Args:
      name: ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.
      data_dir: where the prepared dataset lives (tfds's default if ``None``).
      seed: seed of the train / validation split.
      val_fraction: fraction of the tfds train split held out for validation.
      limit: read at most this many examples per tfds split (quick runs).
      download: see :func:`load_tfds_split` (``None``: ``--download`` / offline).
    """
    load = functools.partial(load_tfds_split, name, data_dir=data_dir, download=download)
    train_full = _tfds_to_arrays(load("train"), limit)
    test = _tfds_to_arrays(load("test"), limit)
    train, val = split_arrays(train_full, (1.0 - val_fraction, val_fraction), seed=seed)
    n_classes = int(max(train_full["label"].max(), test["label"].max())) + 1
    names = _tfds_class_names(name, max(n_classes, 10))
    return Splits(name, train, val, test, names)


def _tfds_class_names(name: str, n: int) -> tuple[str, ...]:
    known = {
        "fashion_mnist": (
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        "cifar10": (
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
    }
    return known.get(name, tuple(str(i) for i in range(n)))


for _name, _desc in _TFDS_IMAGE_DATASETS.items():

    def _loader(*, _name: str = _name, **kwargs: Any) -> Splits:
        return load_tfds_images(_name, **kwargs)

    register_dataset(_name, _loader, _desc)
