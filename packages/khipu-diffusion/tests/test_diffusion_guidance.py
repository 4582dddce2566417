"""Classifier guidance: the classifier's gradient, the guided prediction, the samplers
with a classifier, argument errors, and a noise-conditional classifier that learns."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.diffusion import data, guidance, models, sampling
from khipu.diffusion.schedules import get_schedule


def _random_params(fn, *args):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    shapes = jax.eval_shape(fn, *args)
    return jax.tree.map(lambda s: jnp.asarray(0.3 * rng.normal(size=s.shape), s.dtype), shapes)


def _classifier(k: int = 3) -> guidance.NoisyClassifier:
    x = jax.ShapeDtypeStruct((1, 8, 8, 1), jnp.float32)
    t = jax.ShapeDtypeStruct((1,), jnp.int32)
    params = _random_params(guidance._net(k).init, jax.random.key(0), x, t)
    return guidance.NoisyClassifier(params, k, (8, 8, 1), float("nan"))


def _denoiser(num_classes: int | None = 3) -> tuple[models.Denoiser, object]:
    cfg = models.DenoiserConfig(
        data_shape=(8, 8, 1), dim=8, dim_mults=(1, 2), groups=4, num_classes=num_classes
    )
    den = models.build_denoiser(cfg)
    return den, _random_params(den.init, jax.random.key(0))


def test_classifier_gradient_is_each_examples_own() -> None:
    clf = _classifier()
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 1))
    t = jnp.array([0, 10, 50, 99])
    y = jnp.array([0, 1, 2, 1])
    got = guidance.classifier_log_prob_grad(clf.params, 3, x, t, y)

    def one(xi, ti, yi):  # type: ignore[no-untyped-def]
        logits = clf.logits(xi[None], ti[None])[0]
        return jax.nn.log_softmax(logits)[yi]

    want = jax.vmap(jax.grad(one))(x, t, y)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert float(jnp.abs(got).max()) > 0


def test_classifier_guided_eps_is_the_formula() -> None:
    schedule = get_schedule("linear", 100)
    den, params = _denoiser()
    clf = _classifier()
    x = jax.random.normal(jax.random.key(2), (3, 8, 8, 1))
    t = jnp.array([5, 40, 90])
    y = jnp.array([2, 0, 1])
    eps = guidance.classifier_guided_eps(den, params, schedule, clf.params, 3, y, 2.5)(x, t)
    uncond = den.apply(params, x, t, jnp.full((3,), 3))  # the null label
    grad = guidance.classifier_log_prob_grad(clf.params, 3, x, t, y)
    s = schedule.sqrt_one_minus_alphas_cumprod[t][:, None, None, None]
    np.testing.assert_allclose(eps, uncond - 2.5 * s * grad, atol=1e-5)


def test_scale_zero_is_the_unconditional_sampler_and_guidance_raises_log_p_y() -> None:
    schedule = get_schedule("linear", 100)
    den, params = _denoiser()
    clf = _classifier()
    y = jnp.array([0, 1, 2, 0, 1, 2])
    key = jax.random.key(3)
    plain = sampling.ddim_sample(den, params, schedule, key, 6, steps=10, clip=1.0)
    zero = sampling.ddim_sample(
        den,
        params,
        schedule,
        key,
        6,
        steps=10,
        labels=y,
        classifier=clf,
        classifier_scale=0.0,
        clip=1.0,
    )
    np.testing.assert_allclose(zero.x, plain.x, atol=1e-5)

    def mean_log_p(x: jax.Array) -> float:
        logits = clf.logits(x, jnp.zeros((6,), jnp.int32))
        return float(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1).mean())

    guided = sampling.ddim_sample(
        den,
        params,
        schedule,
        key,
        6,
        steps=10,
        labels=y,
        classifier=clf,
        classifier_scale=20.0,
        clip=1.0,
    )
    assert mean_log_p(guided.x) > mean_log_p(plain.x) + 0.1
    ddpm = sampling.ddpm_sample(
        den, params, schedule, key, 6, labels=y, classifier=clf, classifier_scale=20.0
    )
    assert ddpm.x.shape == (6, 8, 8, 1) and bool(jnp.isfinite(ddpm.x).all())


def test_classifier_guidance_argument_errors() -> None:
    schedule = get_schedule("linear", 20)
    den, params = _denoiser()
    clf = _classifier()
    y = jnp.array([0, 1])
    key = jax.random.key(0)
    with pytest.raises(KhipuError, match="either"):
        sampling.ddim_sample(
            den, params, schedule, key, 2, steps=5, labels=y, guidance=2.0, classifier=clf
        )
    with pytest.raises(KhipuError, match="needs labels"):
        sampling.ddim_sample(den, params, schedule, key, 2, steps=5, classifier=clf)
    with pytest.raises(KhipuError, match=r"\[0, 3\)"):
        sampling.ddim_sample(
            den, params, schedule, key, 2, steps=5, labels=jnp.array([0, 3]), classifier=clf
        )
    with pytest.raises(KhipuError, match="non-negative"):
        sampling.ddim_sample(
            den,
            params,
            schedule,
            key,
            2,
            steps=5,
            labels=y,
            classifier=clf,
            classifier_scale=-1.0,
        )
    other = clf._replace(image_shape=(28, 28, 1))
    with pytest.raises(KhipuError, match="28"):
        sampling.ddim_sample(den, params, schedule, key, 2, steps=5, labels=y, classifier=other)
    # an unconditional model can be guided by a classifier
    uncond, uparams = _denoiser(None)
    out = sampling.ddim_sample(uncond, uparams, schedule, key, 2, steps=5, labels=y, classifier=clf)
    assert out.x.shape == (2, 8, 8, 1)


def test_noisy_classifier_learns_and_is_best_on_clean_images() -> None:
    splits = data.load_data("digits")
    schedule = get_schedule("linear", 1000)
    clf = guidance.train_noisy_classifier(splits, schedule, epochs=6, seed=0)
    assert clf.val_accuracy > 0.3  # noised at uniform t: many inputs are nearly noise
    x, y = splits.val["x"], splits.val["label"]
    clean = guidance.noisy_accuracy(clf, schedule, x, y, 0, jax.random.key(0))
    noise = guidance.noisy_accuracy(clf, schedule, x, y, 999, jax.random.key(0))
    assert clean > 0.7
    assert noise < 0.3  # at t = T the image is gone: chance is 0.1
