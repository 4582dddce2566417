"""Fréchet distance, the copying check and the evaluation classifier."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from khipu.core import KhipuError
from khipu.diffusion import data, evaluation


def _reference_fd(a: np.ndarray, b: np.ndarray) -> float:
    """The FID formula with scipy's general matrix square root."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a.T), np.cov(b.T)
    cross = scipy.linalg.sqrtm(ca @ cb).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca + cb - 2 * cross))


def test_frechet_distance_matches_the_scipy_formula_and_gaussian_closed_form() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3000, 4)) @ rng.normal(size=(4, 4))
    b = rng.normal(size=(3000, 4)) @ rng.normal(size=(4, 4)) + 0.5
    assert evaluation.frechet_distance(a, b) == pytest.approx(_reference_fd(a, b), rel=1e-6)
    # diagonal Gaussians: ‖μ_a − μ_b‖² + Σ (σ_a − σ_b)²
    x = rng.normal(size=(200000, 2)) * [1.0, 2.0]
    y = rng.normal(size=(200000, 2)) * [3.0, 2.0] + [1.0, 0.0]
    assert evaluation.frechet_distance(x, y) == pytest.approx(1.0 + 4.0, rel=0.02)
    assert evaluation.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(KhipuError, match="same F"):
        evaluation.frechet_distance(a, b[:, :3])


def test_nn_distance_ratio_catches_copies() -> None:
    rng = np.random.default_rng(1)
    train, heldout, fresh = (rng.normal(size=(400, 8, 8, 1)) for _ in range(3))
    assert evaluation.nn_distance_ratio(train[:100], train, heldout) == pytest.approx(0.0, abs=1e-6)
    assert evaluation.nn_distance_ratio(fresh, train, heldout) == pytest.approx(1.0, abs=0.05)
    near_copies = train[:100] + 0.05 * rng.normal(size=(100, 8, 8, 1))
    assert evaluation.nn_distance_ratio(near_copies, train, heldout) < 0.2
    with pytest.raises(KhipuError, match="shapes differ"):
        evaluation.nn_distance_ratio(fresh[:, :4], train, heldout)


def test_sample_labels_are_balanced() -> None:
    labels = evaluation.sample_labels(25, 10)
    assert labels.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


@pytest.mark.slow
def test_eval_classifier_learns_digits_and_round_trips(tmp_path) -> None:  # type: ignore[no-untyped-def]
    splits = data.load_data("digits")
    clf = evaluation.train_eval_classifier(splits, epochs=15, seed=0)
    assert clf.val_accuracy > 0.9
    x, y = splits.test["x"], splits.test["label"]
    assert evaluation.class_accuracy(clf, x, y) > 0.9
    assert evaluation.class_accuracy(clf, x, (y + 1) % 10) < 0.1
    path = evaluation.save_eval_classifier(tmp_path / "clf.npz", clf)
    again = evaluation.load_eval_classifier(path)
    np.testing.assert_allclose(
        again.logits_and_features(x[:20])[0], clf.logits_and_features(x[:20])[0], rtol=1e-6
    )
    with pytest.raises(KhipuError, match="wrong image shape"):
        clf.logits_and_features(np.zeros((2, 28, 28, 1), np.float32))
