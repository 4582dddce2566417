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


WRONG: dict[str, list[Callable[..., Any]]] = {
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
        # σ_t² = β_t, also at t = 0
        lambda x, t, e, z, b: ex.ddpm_step(x, t, e, jnp.zeros_like(z), b) + jnp.sqrt(b[t]) * z,
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
