"""Datasets: the offline digits split, unknown names, tensorflow-datasets via mock_data."""

from __future__ import annotations

import khipu.core as kc
import numpy as np
import pytest
from khipu.cnn import available_datasets, build_model, load_image_dataset, train_classifier


def test_digits_split_is_fixed_disjoint_and_complete():
    a, b = load_image_dataset("digits"), load_image_dataset("digits")
    np.testing.assert_array_equal(a.test["image"], b.test["image"])
    sizes = [len(s["label"]) for s in (a.train, a.val, a.test)]
    assert sum(sizes) == 1797 and sizes[0] > 1200
    assert a.train["image"].shape[1:] == (8, 8, 1) and a.train["image"].dtype == np.float32
    assert a.train["image"].min() >= 0.0 and a.train["image"].max() <= 1.0
    rows = {
        s["image"][i].tobytes() for s in (a.train, a.val, a.test) for i in range(len(s["image"]))
    }
    assert len(rows) > 1700  # (a handful of digits images are exact duplicates)
    assert a.class_names == tuple(str(d) for d in range(10))


def test_unknown_dataset_lists_the_available_ones():
    assert {"digits", "mnist", "fashion_mnist", "cifar10"} <= set(available_datasets())
    with pytest.raises(kc.UnknownNameError, match="available: cifar10, digits, fashion_mnist"):
        load_image_dataset("imagenet")
    with pytest.raises(kc.KhipuError, match="limit"):
        load_image_dataset("digits", limit=3)


def test_tfds_dataset_not_prepared_says_how_to_prepare_it(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(kc.DatasetNotAvailableError, match="tfds build mnist"):
        load_image_dataset("mnist", data_dir=tmp_path)


@pytest.mark.parametrize(
    ("name", "shape", "model"),
    [
        ("mnist", (28, 28, 1), "lenet"),
        ("fashion_mnist", (28, 28, 1), "fcn"),
        ("cifar10", (32, 32, 3), "alexnet"),
    ],
)
def test_tfds_datasets_load_and_train_under_mock_data(name, shape, model):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=40):
        splits = load_image_dataset(name, seed=0)
    assert splits.train["image"].shape[1:] == shape
    assert splits.train["image"].dtype == np.float32 and splits.train["label"].dtype == np.int32
    assert splits.num_classes == 10
    net = build_model(model, num_classes=splits.num_classes)
    result = train_classifier(net, splits, epochs=1, batch_size=8, progress=False)
    assert result.epochs_run == 1 and np.isfinite(result.history["val_loss"][0])
