"""Each checker passes the reference and rejects plausible wrong answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import pytest
from khipu.diffusion import exercises as ex
from khipu.diffusion.toy import mixture_log_prob, practical_mixture


def _abar(betas: Any) -> jax.Array:
    return jnp.cumprod(1.0 - jnp.asarray(betas))


def _shape(a: jax.Array, x: Any) -> jax.Array:
    return a.reshape((-1,) + (1,) * (jnp.ndim(x) - 1))


def _up_no_skip(h, skips, emb, blocks, upsample):  # type: ignore[no-untyped-def]
    for level in reversed(range(len(blocks))):
        for block in blocks[level]:
            h = block(h, emb)
        if upsample[level] is not None:
            h = upsample[level](h)
    return h


def _up_first_skip(h, skips, emb, blocks, upsample):  # type: ignore[no-untyped-def]
    for level in reversed(range(len(blocks))):
        for block in blocks[level]:
            h = block(jnp.concatenate([h, skips.pop(0)], axis=-1), emb)  # oldest skip
        if upsample[level] is not None:
            h = upsample[level](h)
    return h


def _up_upsample_first(h, skips, emb, blocks, upsample):  # type: ignore[no-untyped-def]
    for level in reversed(range(len(blocks))):
        if upsample[level] is not None:
            h = upsample[level](h)
        for block in blocks[level]:
            h = block(jnp.concatenate([h, skips.pop()], axis=-1), emb)
    return h


def _up_skip_order_within_level(h, skips, emb, blocks, upsample):  # type: ignore[no-untyped-def]
    for level in reversed(range(len(blocks))):
        level_skips = [skips.pop() for _ in blocks[level]][::-1]  # same level, wrong order
        for block, skip in zip(blocks[level], level_skips, strict=True):
            h = block(jnp.concatenate([h, skip], axis=-1), emb)
        if upsample[level] is not None:
            h = upsample[level](h)
    return h


def _up_skip_second(h, skips, emb, blocks, upsample):  # type: ignore[no-untyped-def]
    for level in reversed(range(len(blocks))):
        for block in blocks[level]:
            h = block(jnp.concatenate([skips.pop(), h], axis=-1), emb)  # skip first
        if upsample[level] is not None:
            h = upsample[level](h)
    return h


def _cond_no_reduction(mean, cov, x=None, y=None):  # type: ignore[no-untyped-def]
    mu, _ = ex.gaussian_conditional(mean, cov, x=x, y=y)
    return mu, float(cov[1, 1] if x is not None else cov[0, 0])  # the marginal variance


def _cond_wrong_slope(mean, cov, x=None, y=None):  # type: ignore[no-untyped-def]
    if x is not None:  # divides by Σ_yy instead of Σ_xx
        return mean[1] + cov[1, 0] / cov[1, 1] * (x - mean[0]), cov[1, 1] - cov[1, 0] ** 2 / cov[
            1, 1
        ]
    return mean[0] + cov[0, 1] / cov[0, 0] * (y - mean[1]), cov[0, 0] - cov[0, 1] ** 2 / cov[0, 0]


def _cond_swapped(mean, cov, x=None, y=None):  # type: ignore[no-untyped-def]
    return ex.gaussian_conditional(mean, cov, x=y, y=x)  # conditions on the other axis


WRONG: dict[str, list[Callable[..., Any]]] = {
    "gaussian_conditional": [_cond_no_reduction, _cond_wrong_slope, _cond_swapped],
    "unet_up_path": [
        _up_no_skip,
        _up_first_skip,
        _up_upsample_first,
        _up_skip_order_within_level,
        _up_skip_second,
    ],
    "classifier_free_eps": [
        lambda c, u, w: (1 - w) * c + w * u,  # interpolates instead of extrapolating
        lambda c, u, w: c + w * u,
        lambda c, u, w: (1 + w) * u - w * c,  # roles swapped
    ],
    "classifier_guided_eps": [
        lambda e, g, a, s: e + s * jnp.sqrt(1 - a) * g,  # sign: away from the class
        lambda e, g, a, s: e - s * (1 - a) * g,  # no square root
        lambda e, g, a, s: e - s * jnp.sqrt(a) * g,  # ᾱ instead of 1 − ᾱ
    ],
    "bayes_posterior": [
        lambda lik, prior: jnp.asarray(lik) * jnp.asarray(prior),  # not normalised
        lambda lik, prior: jnp.asarray(lik) / jnp.sum(jnp.asarray(lik)),  # prior ignored
    ],
    "score_fn": [
        lambda x: jax.grad(lambda p: jnp.exp(mixture_log_prob(practical_mixture(), p)))(
            jnp.asarray(x)
        ),  # ∇p instead of ∇log p
        lambda x: -ex.score_fn(x),  # sign
    ],
    "linear_beta_schedule": [
        lambda T: jnp.linspace(0.0, 0.02, T),
        lambda T: jnp.linspace(0.0001, 0.02, T + 1)[1:],
    ],
    "q_sample": [
        # sqrt missing
        lambda x0, t, n, b: _shape(_abar(b)[t], x0) * x0 + (1 - _shape(_abar(b)[t], x0)) * n,
        # α instead of ᾱ
        lambda x0, t, n, b: (
            jnp.sqrt(_shape(1 - jnp.asarray(b)[t], x0)) * x0
            + jnp.sqrt(_shape(jnp.asarray(b)[t], x0)) * n
        ),
        # ᾱ off by one (ᾱ_{t-1})
        lambda x0, t, n, b: ex.q_sample(x0, jnp.maximum(jnp.asarray(t) - 1, 0), n, b),
    ],
    "posterior_variance": [
        lambda b: jnp.asarray(b),  # σ² = β_t
        # off by one: ᾱ_t in the numerator instead of ᾱ_{t−1}
        lambda b: jnp.asarray(b) * (1 - _abar(b)) / (1 - _abar(b)),
        # off by one the other way: ᾱ_{t−1} in the denominator too
        lambda b: (
            jnp.asarray(b)
            * (1 - jnp.concatenate([jnp.ones(1), _abar(b)[:-1]]))
            / (1 - jnp.concatenate([jnp.ones(1), _abar(b)[:-1]]) + 1e-12)
        ),
    ],
    "ddpm_loss": [
        lambda m, x0, t, n, b: jnp.mean((n - m(x0, t)) ** 2),  # model sees x0
        lambda m, x0, t, n, b: jnp.mean((x0 - m(ex.q_sample(x0, t, n, b), t)) ** 2),  # x0 target
    ],
    "ddpm_step": [
        # √ᾱ_t instead of √α_t
        lambda x, t, e, z, b: (
            (x - b[t] / jnp.sqrt(1 - _abar(b)[t]) * e) / jnp.sqrt(_abar(b)[t])
            + jnp.sqrt(ex.posterior_variance(b)[t]) * z
        ),
        # no noise
        lambda x, t, e, z, b: ex.ddpm_step(x, t, e, jnp.zeros_like(z), b),
        # σ_t² = β_t, also at t = 0 (Algorithm 2 adds no noise at the last step)
        lambda x, t, e, z, b: ex.ddpm_step(x, t, e, jnp.zeros_like(z), b) + jnp.sqrt(b[t]) * z,
        # σ_t = β_t (the variance used as a standard deviation)
        lambda x, t, e, z, b: ex.ddpm_step(x, t, e, jnp.zeros_like(z), b) + b[t] * z * (t > 0),
        # mixes the two choices: β̃ at even t, β at odd t
        lambda x, t, e, z, b: (ex.ddpm_step if t % 2 == 0 else ex.ddpm_step_beta)(x, t, e, z, b),
    ],
}


@pytest.mark.parametrize("checker", ex.CHECKERS, ids=lambda c: c.name)
def test_reference_passes_and_wrong_answers_fail(checker) -> None:  # type: ignore[no-untyped-def]
    assert checker.evaluate(checker.fallback).passed
    wrong = WRONG[checker.name]
    assert len(wrong) >= 2
    for i, answer in enumerate(wrong):
        result = checker.evaluate(answer)
        assert result.status == "failed", (checker.name, i, result.message)
        assert "\n" not in result.message


@pytest.mark.parametrize("checker", ex.CHECKERS, ids=lambda c: c.name)
def test_stubs_are_not_attempted(checker) -> None:  # type: ignore[no-untyped-def]
    def stub(*args: Any) -> Any:
        raise NotImplementedError

    assert checker.evaluate(stub).status == "not_attempted"
    assert checker(stub) is checker.fallback


def test_package_references_agree_with_the_exercise_references() -> None:
    from khipu.diffusion.schedules import get_schedule, q_sample

    s = get_schedule("linear", 200)
    b = ex.linear_beta_schedule(200)
    assert jnp.allclose(ex.posterior_variance(b), s.posterior_variance, atol=1e-7)
    x0 = jnp.ones((3, 2))
    t = jnp.array([0, 50, 199])
    n = jnp.full((3, 2), 0.5)
    assert jnp.allclose(ex.q_sample(x0, t, n, b), q_sample(s, x0, t, n), atol=1e-5)


def test_check_ddpm_step_accepts_both_variances_of_ho_et_al() -> None:
    # σ_t² = β̃_t and σ_t² = β_t are both in the paper (and the notebook's text)
    assert ex.check_ddpm_step.evaluate(ex.ddpm_step).passed
    assert ex.check_ddpm_step.evaluate(ex.ddpm_step_beta).passed
    b = ex.linear_beta_schedule(200)
    x, z = jnp.ones((2, 3)), jnp.full((2, 3), 0.5)
    # they really differ (so accepting both is a choice, not a tolerance)
    gap = ex.ddpm_step(x, 150, x, z, b) - ex.ddpm_step_beta(x, 150, x, z, b)
    assert float(jnp.abs(gap).max()) > 1e-4
    # both add no noise at the last step
    assert jnp.allclose(ex.ddpm_step(x, 0, x, z, b), ex.ddpm_step_beta(x, 0, x, z, b))
    for wrong in WRONG["ddpm_step"]:
        assert ex.check_ddpm_step.evaluate(wrong).status == "failed"


def test_unet_up_path_checker_plugs_the_answer_into_the_unet() -> None:
    from khipu.diffusion import models

    config = models.DenoiserConfig(data_shape=(8, 8, 1), dim=8, dim_mults=(1, 2), groups=4)
    den = models.build_denoiser(config, up_path=ex.unet_up_path)
    ref = models.build_denoiser(config)
    # the answer's U-Net has exactly the reference's parameters (names and shapes)
    assert jax.eval_shape(ref.init, jax.random.key(0)) == jax.eval_shape(
        den.init, jax.random.key(0)
    )
    result = ex.check_unet_up_path.evaluate(_up_no_skip)
    assert result.status == "failed" and "U-Net" in result.message


@pytest.mark.parametrize("quiz", ex.QUIZZES, ids=lambda q: q.name)
def test_quizzes_accept_the_answer_and_reject_the_others(quiz) -> None:  # type: ignore[no-untyped-def]
    assert quiz.evaluate(quiz.answer).passed
    for key in quiz.options:
        if key != quiz.answer:
            result = quiz.evaluate(key)
            assert result.status == "failed" and "✗" in result.message
    assert quiz.evaluate(None).status == "not_attempted"
