"""Noise schedules against closed forms, q_sample statistics, the posterior."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import KhipuError, UnknownNameError
from khipu.diffusion import schedules as sch


@pytest.mark.parametrize("T", [1, 7, 200, 1000])
def test_linear_schedule_tables_match_closed_forms(T: int) -> None:
    s = sch.get_schedule("linear", T)
    betas = np.linspace(1e-4, 0.02, T)
    np.testing.assert_allclose(np.asarray(s.betas), betas, rtol=1e-5)
    # plain loop, independent of cumprod
    abar, prev = [], 1.0
    for b in betas:
        prev *= 1 - b
        abar.append(prev)
    abar = np.array(abar)
    abar_prev = np.concatenate([[1.0], abar[:-1]])
    np.testing.assert_allclose(np.asarray(s.alphas), 1 - betas, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(s.alphas_cumprod), abar, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(s.alphas_cumprod_prev), abar_prev, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(s.sqrt_alphas_cumprod), np.sqrt(abar), rtol=1e-4)
    np.testing.assert_allclose(
        np.asarray(s.sqrt_one_minus_alphas_cumprod), np.sqrt(1 - abar), rtol=1e-4
    )
    np.testing.assert_allclose(np.asarray(s.sqrt_recip_alphas), 1 / np.sqrt(1 - betas), rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(s.posterior_mean_coef1), betas * np.sqrt(abar_prev) / (1 - abar), rtol=1e-4
    )
    np.testing.assert_allclose(
        np.asarray(s.posterior_mean_coef2),
        np.sqrt(1 - betas) * (1 - abar_prev) / (1 - abar),
        rtol=1e-4,
    )
    assert s.num_steps == T


def test_the_practicals_T200_schedule_is_not_pure_noise() -> None:
    summary = sch.schedule_summary(sch.get_schedule("linear", 200))
    assert summary["alpha_bar_T"] == pytest.approx(0.132, abs=0.002)
    assert summary["sqrt_alpha_bar_T"] == pytest.approx(0.364, abs=0.003)
    assert sch.schedule_summary(sch.get_schedule("linear", 1000))["alpha_bar_T"] < 1e-4


@pytest.mark.parametrize("T", [10, 1000])
def test_cosine_schedule_matches_its_alpha_bar_formula(T: int) -> None:
    s = sch.get_schedule("cosine", T)
    f = lambda t: math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    want = np.array([min(f(t + 1) / f(0), 1.0) for t in range(T)])
    # ᾱ_t = f(t+1)/f(0) exactly, except where β was clipped at 0.999 (the last step)
    np.testing.assert_allclose(np.asarray(s.alphas_cumprod)[:-1], want[:-1], rtol=2e-4, atol=1e-7)
    assert float(s.betas.max()) <= 0.999 + 1e-6
    assert (np.diff(np.asarray(s.alphas_cumprod)) < 0).all()


def test_posterior_variance_is_the_variance_of_the_gaussian_posterior() -> None:
    """β̃_t from Bayes' rule on q(x_t | x_{t−1}) q(x_{t−1} | x_0), computed in closed form."""
    s = sch.get_schedule("linear", 50)
    b = np.asarray(s.betas, np.float64)
    abar = np.cumprod(1 - b)  # in float64: 1 − ᾱ is tiny for small t
    for t in range(50):
        prior_var = 1 - abar[t - 1] if t > 0 else 0.0  # var of x_{t-1} given x_0
        # posterior precision = 1/prior_var + α_t/β_t
        want = 0.0 if t == 0 else 1.0 / (1.0 / prior_var + (1 - b[t]) / b[t])
        assert float(s.posterior_variance[t]) == pytest.approx(want, rel=1e-4, abs=1e-9)
    assert float(s.posterior_variance[0]) == 0.0


def test_posterior_mean_from_bayes_rule() -> None:
    s = sch.get_schedule("cosine", 30)
    abar, b = np.asarray(s.alphas_cumprod, np.float64), np.asarray(s.betas, np.float64)
    t, x0, xt = 12, 0.7, -0.3
    prior_mean, prior_var = math.sqrt(abar[t - 1]) * x0, 1 - abar[t - 1]
    lik_prec, a = 1 / b[t], math.sqrt(1 - b[t])
    post_var = 1 / (1 / prior_var + a**2 * lik_prec)
    want = post_var * (prior_mean / prior_var + a * xt * lik_prec)
    got = sch.posterior_mean(s, jnp.array([[x0]]), jnp.array([[xt]]), jnp.array([t]))
    assert float(got[0, 0]) == pytest.approx(want, rel=1e-4)


def test_q_sample_has_the_closed_form_mean_and_variance() -> None:
    s = sch.get_schedule("linear", 200)
    n = 20000
    x0 = jnp.full((n, 2, 2, 1), 0.8)
    for t_val in (0, 50, 199):
        t = jnp.full((n,), t_val)
        noise = jax.random.normal(jax.random.key(t_val), x0.shape)
        xt = np.asarray(sch.q_sample(s, x0, t, noise))
        abar = float(s.alphas_cumprod[t_val])
        assert xt.mean() == pytest.approx(math.sqrt(abar) * 0.8, abs=0.01)
        assert xt.var() == pytest.approx(1 - abar, rel=0.03, abs=1e-4)


def test_predict_x0_inverts_q_sample() -> None:
    s = sch.get_schedule("linear", 100)
    x0 = jax.random.normal(jax.random.key(0), (4, 3))
    eps = jax.random.normal(jax.random.key(1), (4, 3))
    t = jnp.array([0, 10, 50, 99])
    np.testing.assert_allclose(
        np.asarray(sch.predict_x0(s, sch.q_sample(s, x0, t, eps), t, eps)),
        np.asarray(x0),
        atol=1e-3,
    )


@pytest.mark.parametrize("T", [0, -5])
def test_non_positive_T_is_refused(T: int) -> None:
    with pytest.raises(KhipuError, match="must be positive"):
        sch.get_schedule("linear", T)
    with pytest.raises(KhipuError, match="must be positive"):
        sch.get_schedule("cosine", T)


def test_unknown_schedule_and_bad_betas() -> None:
    with pytest.raises(UnknownNameError, match="unknown schedule"):
        sch.get_schedule("quadratic", 10)
    with pytest.raises(KhipuError, match="between 0 and 1"):
        sch.make_schedule(jnp.array([0.1, 1.0]))
