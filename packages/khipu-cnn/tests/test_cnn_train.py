"""Training: cross-entropy against optax, learning on a fixed subset, reproducibility."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
import pytest
from khipu.cnn import (
    accuracy,
    build_model,
    confusion_matrix,
    cross_entropy,
    evaluate_classifier,
    load_image_dataset,
    predict_proba,
    train_classifier,
)


@pytest.fixture(scope="module")
def small_digits() -> kc.Splits:
    return load_image_dataset("digits", limit=400)


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4, 1e30])
def test_cross_entropy_equals_optax(scale):
    logits = scale * jax.random.normal(jax.random.key(0), (64, 10))
    labels = jax.random.randint(jax.random.key(1), (64,), 0, 10)
    ours = cross_entropy(logits, labels)
    ref = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    assert bool(jnp.isfinite(ours))
    np.testing.assert_allclose(ours, ref, rtol=1e-5)


def test_cross_entropy_extreme_logits_and_gradient_finite():
    logits = jnp.array([[1e30, -1e30, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, 0.0]])
    labels = jnp.array([0, 2, 1])
    expected = np.mean([0.0, np.log(2.0), np.log(3.0)])
    np.testing.assert_allclose(cross_entropy(logits, labels), expected, rtol=1e-6)
    grads = jax.grad(cross_entropy)(logits, labels)
    assert bool(jnp.all(jnp.isfinite(grads)))
    # the original's -mean(one_hot * log(softmax)) is infinite here (log 0)
    one_hot = jax.nn.one_hot(labels, 3)
    original = -jnp.mean(one_hot * jnp.log(jax.nn.softmax(logits)))
    assert not bool(jnp.isfinite(original))


def test_cross_entropy_and_confusion_matrix_check_shapes():
    with pytest.raises(kc.KhipuError, match=r"logits \[N, K\] and labels \[N\]"):
        cross_entropy(jnp.zeros((4, 3)), jnp.zeros((5,), jnp.int32))
    m = confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    np.testing.assert_array_equal(m, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])
    assert float(accuracy(jnp.eye(3), jnp.array([0, 1, 0]))) == pytest.approx(2 / 3)
    with pytest.raises(kc.KhipuError, match="equal length"):
        confusion_matrix(np.zeros(3, int), np.zeros(4, int), 3)


def test_loss_decreases_and_accuracy_rises_on_a_fixed_subset(small_digits):
    model = build_model("lenet")
    result = train_classifier(
        model, small_digits, epochs=12, batch_size=32, patience=None, seed=0, progress=False
    )
    h = result.history
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert h["val_loss"][-1] < 0.5 * h["val_loss"][0]
    assert h["val_accuracy"][-1] > h["val_accuracy"][0] + 0.2
    assert h["accuracy"][-1] > 0.8
    test = evaluate_classifier(model, result.state, small_digits.test)
    assert test["accuracy"] > 0.8


def test_evaluation_is_deterministic_and_matches_probabilities(small_digits):
    model = build_model("lenet", dropout_rate=0.5)
    result = train_classifier(model, small_digits, epochs=2, progress=False)
    a = evaluate_classifier(model, result.state, small_digits.val)
    b = evaluate_classifier(model, result.state, small_digits.val)
    assert a == b
    probs = predict_proba(
        model, result.state.params, result.state.model_state, small_digits.val["image"]
    )
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    acc = np.mean(probs.argmax(axis=1) == small_digits.val["label"])
    assert acc == pytest.approx(a["accuracy"], abs=1e-6)


def test_same_seed_gives_identical_metrics(small_digits):
    def run(seed: int) -> dict[str, list[float]]:
        model = build_model("lenet")
        return train_classifier(
            model, small_digits, epochs=3, seed=seed, patience=None, progress=False
        ).history

    first, second, other = run(1), run(1), run(2)
    assert first == second
    assert first["loss"] != other["loss"]


def test_early_stopping_restores_best_params_and_resume_continues(small_digits, tmp_path):
    model = build_model("lenet")
    kwargs = {"epochs": 6, "patience": None, "seed": 3, "progress": False}
    full = train_classifier(model, small_digits, **kwargs)
    best = int(np.argmin(full.history["val_loss"])) + 1
    assert full.best_epoch == best
    restored = evaluate_classifier(model, full.state, small_digits.val)
    assert restored["loss"] == pytest.approx(min(full.history["val_loss"]), rel=1e-5)

    ckpt = tmp_path / "ckpt"
    train_classifier(model, small_digits, **{**kwargs, "epochs": 3}, checkpoint_dir=ckpt)
    resumed = train_classifier(model, small_digits, **kwargs, checkpoint_dir=ckpt, resume=True)
    assert resumed.history == full.history
    assert resumed.epochs_run == 6
    same = jax.tree.map(np.array_equal, full.state.params, resumed.state.params)
    assert all(jax.tree.leaves(same))


def test_batch_norm_model_trains_and_keeps_state(small_digits):
    model = build_model("lenet", batch_norm=True, residual=True)
    result = train_classifier(model, small_digits, epochs=3, patience=None, progress=False)
    assert result.history["val_accuracy"][-1] > 0.5
    assert len(jax.tree.leaves(result.state.model_state)) > 0


def test_bad_training_inputs(small_digits):
    with pytest.raises(kc.KhipuError, match="has 10 classes but the model outputs 5"):
        train_classifier(build_model("lenet", num_classes=5), small_digits, progress=False)
    with pytest.raises(kc.KhipuError, match="line search"):
        train_classifier(build_model("lenet"), small_digits, optimizer="lbfgs", progress=False)
    with pytest.raises(
        kc.UnknownNameError, match=r"unknown optimizer .adamm.; did you mean adam\b"
    ):
        train_classifier(build_model("lenet"), small_digits, optimizer="adamm", progress=False)
    with pytest.raises(kc.KhipuError, match="too small"):
        train_classifier(build_model("alexnet"), small_digits, progress=False)
