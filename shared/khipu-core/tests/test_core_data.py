import khipu.core as kc
import numpy as np
import pytest


def _data(n: int = 10) -> dict[str, np.ndarray]:
    return {"x": np.arange(n * 2).reshape(n, 2), "y": np.arange(n)}


def test_batches_visit_every_example_once_and_keep_rows_aligned() -> None:
    seen = []
    for batch in kc.batches(_data(), 3, seed=0):
        np.testing.assert_array_equal(batch["x"][:, 0], 2 * batch["y"])
        seen.extend(batch["y"].tolist())
    assert sorted(seen) == list(range(10))
    assert seen != list(range(10))  # shuffled


def test_batches_remainder_and_seed() -> None:
    sizes = [len(b["y"]) for b in kc.batches(_data(), 4, seed=0)]
    assert sizes == [4, 4, 2]
    sizes = [len(b["y"]) for b in kc.batches(_data(), 4, seed=0, drop_remainder=True)]
    assert sizes == [4, 4]
    order1 = np.concatenate([b["y"] for b in kc.batches(_data(), 4, seed=7)])
    order2 = np.concatenate([b["y"] for b in kc.batches(_data(), 4, seed=7)])
    order3 = np.concatenate([b["y"] for b in kc.batches(_data(), 4, seed=8)])
    np.testing.assert_array_equal(order1, order2)
    assert not np.array_equal(order1, order3)
    unshuffled = np.concatenate([b["y"] for b in kc.batches(_data(), 4, shuffle=False)])
    np.testing.assert_array_equal(unshuffled, np.arange(10))
    assert kc.num_batches(10, 4, drop_remainder=False) == 3
    assert kc.num_batches(10, 4, drop_remainder=True) == 2


def test_batches_bad_input() -> None:
    with pytest.raises(kc.KhipuError, match="positive"):
        next(kc.batches(_data(), 0))
    with pytest.raises(kc.KhipuError, match="different numbers"):
        next(kc.batches({"x": np.zeros(3), "y": np.zeros(4)}, 2))
    with pytest.raises(kc.KhipuError, match="larger than the dataset"):
        next(kc.batches(_data(), 20, drop_remainder=True))


def test_split_arrays_is_a_seeded_partition() -> None:
    a, b, c = kc.split_arrays(_data(100), (0.7, 0.2, 0.1), seed=1)
    assert (len(a["y"]), len(b["y"]), len(c["y"])) == (70, 20, 10)
    all_y = np.concatenate([a["y"], b["y"], c["y"]])
    assert sorted(all_y.tolist()) == list(range(100))
    a2, _, _ = kc.split_arrays(_data(100), (0.7, 0.2, 0.1), seed=1)
    np.testing.assert_array_equal(a["y"], a2["y"])
    with pytest.raises(kc.KhipuError):
        kc.split_arrays(_data(), (0.8, 0.5), seed=0)


def test_digits_is_offline_split_and_fixed() -> None:
    s = kc.load_dataset("digits")
    assert s.num_classes == 10
    n = [len(s.train["label"]), len(s.val["label"]), len(s.test["label"])]
    assert sum(n) == 1797
    assert n[0] > 1200
    assert s.train["image"].shape[1:] == (8, 8, 1)
    assert s.train["image"].dtype == np.float32
    assert s.train["image"].min() >= 0.0 and s.train["image"].max() <= 1.0
    again = kc.load_dataset("digits")
    np.testing.assert_array_equal(s.test["label"], again.test["label"])
    other = kc.load_dataset("digits", seed=1)
    assert not np.array_equal(s.test["label"], other.test["label"])
    small = kc.load_dataset("digits", limit=100)
    assert sum(len(p["label"]) for p in (small.train, small.val, small.test)) == 100


def test_unknown_dataset_lists_available() -> None:
    with pytest.raises(kc.UnknownNameError, match="available: cifar10, digits"):
        kc.load_dataset("imagenet")


def test_tfds_loading_through_data_source_with_mock_data() -> None:
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=20):
        s = kc.load_dataset("mnist", val_fraction=0.25)
    assert s.train["image"].shape == (15, 28, 28, 1)
    assert s.val["image"].shape == (5, 28, 28, 1)
    assert s.test["image"].shape == (20, 28, 28, 1)
    assert s.train["image"].dtype == np.float32 and s.train["image"].max() <= 1.0
    with tfds.testing.mock_data(num_examples=8):
        c = kc.load_dataset("cifar10", limit=4)
    assert c.test["image"].shape == (4, 32, 32, 3)
    assert c.class_names[0] == "airplane"


def test_tfds_dataset_not_prepared_says_how_to_prepare(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(kc.DatasetNotAvailableError, match="tfds build mnist"):
        kc.load_dataset("mnist", data_dir=tmp_path)
