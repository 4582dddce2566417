"""The 2-D Gaussian mixture: closed-form density and score, ascent, Langevin, MMD."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.diffusion import toy


def _scipy_free_density(mix: toy.GaussianMixture, x: np.ndarray) -> np.ndarray:
    """Independent reference: the mixture density written out for D = 2."""
    out = np.zeros(len(x))
    for w, m, c in zip(*(np.asarray(a, np.float64) for a in mix), strict=True):
        det = c[0, 0] * c[1, 1] - c[0, 1] * c[1, 0]
        inv = np.array([[c[1, 1], -c[0, 1]], [-c[1, 0], c[0, 0]]]) / det
        d = x - m
        out += w * np.exp(-0.5 * np.einsum("ni,ij,nj->n", d, inv, d)) / (2 * np.pi * np.sqrt(det))
    return out


def test_log_prob_matches_the_written_out_density() -> None:
    mix = toy.practical_mixture()
    x = np.random.default_rng(0).normal(size=(50, 2)) * 3
    got = np.asarray(toy.mixture_log_prob(mix, jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(got, np.log(_scipy_free_density(mix, x)), rtol=1e-4, atol=1e-4)


def test_score_matches_finite_differences_and_single_gaussian_closed_form() -> None:
    mix = toy.practical_mixture()
    x = np.random.default_rng(1).normal(size=(20, 2)).astype(np.float64)
    h = 1e-4
    fd = np.stack(
        [
            (
                np.log(_scipy_free_density(mix, x + h * e))
                - np.log(_scipy_free_density(mix, x - h * e))
            )
            / (2 * h)
            for e in np.eye(2)
        ],
        axis=-1,
    )
    np.testing.assert_allclose(np.asarray(toy.mixture_score(mix, x)), fd, rtol=2e-3, atol=2e-3)
    # one component: the score is -Σ⁻¹ (x − μ)
    one = toy.gaussian_mixture([1.0], [[1.0, -2.0]], [[[2.0, 0.5], [0.5, 1.0]]])
    want = -(x - [1.0, -2.0]) @ np.linalg.inv([[2.0, 0.5], [0.5, 1.0]]).T
    np.testing.assert_allclose(np.asarray(toy.mixture_score(one, x)), want, rtol=1e-4, atol=1e-4)


def test_score_ascent_climbs_to_the_nearest_mode() -> None:
    mix = toy.practical_mixture()
    path = toy.score_ascent(mix, jnp.array([-1.6, 0.1]), steps=200, step_size=0.2)
    assert path.shape == (201, 2)
    logp = np.asarray(toy.mixture_log_prob(mix, path))
    assert (np.diff(logp) > -1e-5).all()
    np.testing.assert_allclose(np.asarray(path[-1]), [-1.3, -2.7], atol=0.05)


def test_langevin_samples_have_the_mixture_moments() -> None:
    mix = toy.practical_mixture()
    x0 = jax.random.normal(jax.random.key(0), (2000, 2)) * 4
    path = toy.langevin_sample(mix, jax.random.key(1), x0, steps=600, step_size=0.05)
    errors = toy.moment_errors(path[-1], mix)
    assert errors["mean_error"] < 0.1 and errors["cov_error"] < 0.1, errors
    exact = toy.sample_mixture(mix, jax.random.key(2), 2000)
    assert toy.moment_errors(exact, mix)["cov_error"] < 0.1
    assert toy.mmd(path[-1][:500], exact[:500]) < 0.02
    # the MMD does see a wrong distribution
    assert toy.mmd(x0[:500], exact[:500]) > 5 * toy.mmd(path[-1][:500], exact[:500])


def test_bad_mixtures_are_refused() -> None:
    with pytest.raises(KhipuError, match="sum to 1"):
        toy.gaussian_mixture([0.5, 0.6], [[0, 0], [1, 1]], [np.eye(2), np.eye(2)])
    with pytest.raises(KhipuError, match="positive definite"):
        toy.gaussian_mixture([1.0], [[0, 0]], [[[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(KhipuError, match="step_size"):
        toy.langevin_sample(
            toy.practical_mixture(), jax.random.key(0), jnp.zeros((1, 2)), steps=1, step_size=0
        )
