"""The lesson's building blocks, each against an independent computation: the U-Net
layout and diagram, the 2-D Gaussian conditional, the generative classifier, the
variational bound's weights, Langevin's step-size bias and the reverse step's
Gaussianity."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.diffusion import models, plots, schedules, toy


@pytest.mark.parametrize(
    "config",
    [
        models.DenoiserConfig(data_shape=(8, 8, 1), dim=8, dim_mults=(1, 2), groups=4),
        models.DenoiserConfig(
            data_shape=(16, 16, 3), dim=8, dim_mults=(1, 2, 4), num_res_blocks=2, groups=4
        ),
        models.DenoiserConfig(data_shape=(28, 28, 1), dim=16, dim_mults=(1, 2), patch=2),
    ],
    ids=["8x8", "16x16x3-3-levels", "28x28-patch2"],
)
def test_unet_layout_matches_the_skips_the_network_makes(config) -> None:  # type: ignore[no-untyped-def]
    recorded: list[tuple[int, ...]] = []

    def recording_up_path(h, skips, emb, blocks, upsample):  # type: ignore[no-untyped-def]
        recorded.extend(tuple(s.shape[1:]) for s in skips)
        return models.unet_up_path(h, skips, emb, blocks, upsample)

    den = models.build_denoiser(config, up_path=recording_up_path)
    x = jax.ShapeDtypeStruct((2, *config.data_shape), jnp.float32)
    t = jax.ShapeDtypeStruct((2,), jnp.int32)
    params = jax.eval_shape(den.transformed.init, jax.random.key(0), x, t, None)
    recorded.clear()
    jax.eval_shape(den.transformed.apply, params, x, t, None)
    want = [
        (lv.height, lv.width, lv.channels)
        for lv in models.unet_layout(config)
        for _ in range(lv.num_blocks)
    ]
    assert recorded == want


def test_unet_diagram_labels_every_level_and_skip() -> None:
    config = models.DenoiserConfig(data_shape=(8, 8, 1), dim=8, dim_mults=(1, 2, 2), groups=4)
    fig = plots.plot_unet(config)
    texts = [t.get_text() for t in fig.axes[0].texts]
    for lv, level in enumerate(models.unet_layout(config)):
        shape = f"{level.height}×{level.width}×{level.channels}"
        assert any(f"down {lv}: {shape}" in s for s in texts)
        assert any(f"up {lv}: {shape}" in s for s in texts)
    assert sum("skip" in s for s in texts) == 3
    with pytest.raises(KhipuError, match="MLP"):
        models.unet_layout(models.DenoiserConfig(kind="mlp", data_shape=(2,)))


def test_up_path_is_refused_for_an_mlp() -> None:
    with pytest.raises(KhipuError, match="U-Net"):
        models.build_denoiser(
            models.DenoiserConfig(kind="mlp", data_shape=(2,)), up_path=models.unet_up_path
        )


@pytest.mark.parametrize("given", ["x", "y"])
def test_gaussian_conditional_matches_the_precision_matrix_formula(given: str) -> None:
    mean = np.array([0.8, 3.2])
    cov = np.array([[0.8, -0.8], [-0.8, 2.0]])
    lam = np.linalg.inv(cov)  # p(a | b): variance 1/Λ_aa, mean μ_a − Λ_ab/Λ_aa (b − μ_b)
    if given == "x":
        mu, var = toy.gaussian_conditional(mean, cov, x=-0.8)
        want_mu = mean[1] - lam[1, 0] / lam[1, 1] * (-0.8 - mean[0])
        want_var = 1.0 / lam[1, 1]
    else:
        mu, var = toy.gaussian_conditional(mean, cov, y=2.0)
        want_mu = mean[0] - lam[0, 1] / lam[0, 0] * (2.0 - mean[1])
        want_var = 1.0 / lam[0, 0]
    assert mu == pytest.approx(want_mu)
    assert var == pytest.approx(want_var)
    with pytest.raises(KhipuError, match="exactly one"):
        toy.gaussian_conditional(mean, cov, x=1.0, y=1.0)
    fig = plots.plot_gaussian_conditionals(mean, cov)
    assert len(fig.axes) == 3


def test_generative_classifier_is_scikit_learns_qda() -> None:
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis

    x, y = toy.sample_classes(toy.practical_mixture(), jax.random.key(0), 400)
    x, y = np.asarray(x, np.float64), np.asarray(y)
    model = toy.fit_class_gaussians(x, y)
    qda = QuadraticDiscriminantAnalysis(store_covariance=True).fit(x, y)
    np.testing.assert_allclose(model.covs, qda.covariance_, rtol=1e-8)
    grid = np.random.default_rng(0).normal(scale=3, size=(50, 2))
    np.testing.assert_allclose(toy.class_posterior(model, grid), qda.predict_proba(grid), atol=1e-8)
    fig = plots.plot_generative_vs_discriminative(x, y)
    assert len(fig.axes) == 2


def _gaussian_kl(mu_q: np.ndarray, var_q: float, mu_p: np.ndarray, var_p: float) -> float:
    d = mu_q.size
    return 0.5 * (
        d * var_q / var_p
        + float(((mu_q - mu_p) ** 2).sum()) / var_p
        - d
        + d * np.log(var_p / var_q)
    )


@pytest.mark.parametrize("variance", ["posterior", "beta"])
def test_vlb_weights_are_the_kl_terms_in_eps_form(variance: str) -> None:
    # KL(q(x_{t-1} | x_t, x_0) ‖ p_θ(x_{t-1} | x_t)) − KL with the true ε = λ_t ‖ε − ε_θ‖²
    s = schedules.get_schedule("linear", 100)
    lam = np.asarray(schedules.vlb_weights(s, variance=variance), np.float64)
    b = np.asarray(s.betas, np.float64)
    abar = np.cumprod(1 - b)
    rng = np.random.default_rng(1)
    x0, eps, eps_hat = rng.normal(size=(3, 5))
    for t in (1, 10, 50, 99):
        x_t = np.sqrt(abar[t]) * x0 + np.sqrt(1 - abar[t]) * eps
        c1 = b[t] * np.sqrt(abar[t - 1]) / (1 - abar[t])
        c2 = np.sqrt(1 - b[t]) * (1 - abar[t - 1]) / (1 - abar[t])
        mu_q, var_q = c1 * x0 + c2 * x_t, b[t] * (1 - abar[t - 1]) / (1 - abar[t])
        var_p = var_q if variance == "posterior" else b[t]

        def mu_p(e: np.ndarray, t: int = t, x_t: np.ndarray = x_t) -> np.ndarray:
            return (x_t - b[t] / np.sqrt(1 - abar[t]) * e) / np.sqrt(1 - b[t])

        gap = _gaussian_kl(mu_q, var_q, mu_p(eps_hat), var_p) - _gaussian_kl(
            mu_q, var_q, mu_p(eps), var_p
        )
        assert gap == pytest.approx(lam[t] * ((eps - eps_hat) ** 2).sum(), rel=1e-4)
    # the simple loss (λ = 1) is a reweighting: the bound's weights are far from constant
    assert lam[1:].max() / lam[1:].min() > 10
    fig = plots.plot_vlb_weights(s)
    assert len(fig.axes[0].lines) == 3


def test_langevin_follows_p_only_as_the_step_size_shrinks() -> None:
    # N(0, s²): unadjusted Langevin settles on variance ε / (1 − (1 − ε/(2s²))²), not s²
    s2 = 0.5
    mixture = toy.gaussian_mixture([1.0], [[0.0]], [[[s2]]])
    start = jnp.zeros((4000, 1))
    variances = []
    for step in (0.8, 0.05):
        path = toy.langevin_sample(mixture, jax.random.key(0), start, steps=600, step_size=step)
        got = float(np.var(np.asarray(path[-1])))
        want = step / (1 - (1 - step / (2 * s2)) ** 2)
        assert got == pytest.approx(want, rel=0.08)
        variances.append(got)
    assert variances[0] > 1.4 * s2  # a big step: far too wide
    assert variances[1] == pytest.approx(s2, rel=0.08)  # a small one: close to p


def test_reverse_step_is_gaussian_only_for_small_beta() -> None:
    grid = np.linspace(-3, 3, 4001)
    mismatch = []
    for beta in (0.5, 0.1, 0.01, 0.001):
        dens = toy.reverse_step_density([0.5, 0.5], [-1.0, 1.0], [0.2, 0.2], 0.3, beta, grid)
        assert float(dens.sum() * (grid[1] - grid[0])) == pytest.approx(1.0)
        mismatch.append(toy.gaussian_mismatch(dens, grid))
    assert all(a >= b - 1e-6 for a, b in itertools.pairwise(mismatch))
    assert mismatch[0] > 0.1 and mismatch[-1] < 0.01
    # a Gaussian has no mismatch
    wide = np.linspace(-8, 8, 4001)
    assert toy.gaussian_mismatch(np.exp(-0.5 * wide**2) / np.sqrt(2 * np.pi), wide) < 1e-6
    fig = plots.plot_reverse_step()
    assert len(fig.axes) == 3
