"""Linear regression with optax: recovers w and b, stops on tolerance, clear errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import pytest
from khipu.cnn import (
    available_optimizers,
    fit_haiku_regression,
    fit_linear_regression,
    make_linear_data,
    make_optimizer,
    minimize,
)
from khipu.cnn.regression import least_squares, linear_predict, mse, mse_gradient


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return make_linear_data(seed=0)


def test_data_follows_the_recipe(data):
    x, y = data
    assert x.shape == (100, 1) and y.shape == (100,)
    assert x.min() >= 0.0 and x.max() < 1.0
    residual = y - (0.4 * x[:, 0] - 0.2)
    assert 0.03 < residual.std() < 0.07  # noise std 0.05
    again = make_linear_data(seed=0)
    np.testing.assert_array_equal(again[0], x)


@pytest.mark.parametrize(
    ("optimizer", "lr"), [("sgd", 0.1), ("adam", 0.05), ("rmsprop", 0.003), ("lbfgs", 1.0)]
)
def test_fit_recovers_w_and_b_within_noise(data, optimizer, lr):
    x, y = data
    fit = fit_linear_regression(x, y, optimizer=optimizer, learning_rate=lr, max_steps=3000)
    w_ls, b_ls = least_squares(x, y)
    # gradient descent reaches the closed-form least-squares solution...
    assert fit.w == pytest.approx(w_ls[0], abs=2e-3)
    assert fit.b == pytest.approx(b_ls, abs=2e-3)
    # ...which is within three standard errors of the truth (se(w) ~ 0.05 / sqrt(100/12))
    assert abs(fit.w - 0.4) < 3 * 0.05 / np.sqrt(100 / 12)
    assert abs(fit.b + 0.2) < 3 * 0.05 * 2 / np.sqrt(100)
    assert fit.final_loss == pytest.approx(0.05**2, rel=0.3)


def test_stops_on_gradient_norm_tolerance(data):
    x, y = data
    fit = fit_linear_regression(x, y, tolerance=1e-3, max_steps=5000)
    res = fit.result
    assert res.converged and 0 < res.steps < 5000
    assert res.grad_norms[-1] >= 1e-3  # the last update was still needed...
    params = {"w": jnp.array([fit.w]), "b": jnp.array(fit.b)}
    grads = jax.grad(lambda p: mse(linear_predict(p, jnp.asarray(x)), jnp.asarray(y)))(params)
    assert float(jnp.sqrt(grads["w"][0] ** 2 + grads["b"] ** 2)) < 1e-3  # ...and now it is not
    assert len(res.losses) == res.steps and np.all(np.diff(res.losses) <= 1e-7)


def test_max_steps_caps_the_run(data):
    x, y = data
    fit = fit_linear_regression(x, y, learning_rate=0.01, max_steps=7)
    assert fit.result.steps == 7 and not fit.result.converged


def test_manual_gradient_equals_jax_grad(data):
    x, y = data
    params = {"w": np.array([0.1], np.float32), "b": np.float32(0.3)}
    auto = jax.grad(lambda p: mse(linear_predict(p, jnp.asarray(x)), jnp.asarray(y)))(params)
    manual = mse_gradient(params, x, y)
    np.testing.assert_allclose(auto["w"], manual["w"], rtol=1e-4)
    np.testing.assert_allclose(auto["b"], manual["b"], rtol=1e-4)


def test_haiku_version_agrees(data):
    x, y = data
    plain = fit_linear_regression(x, y)
    hk_fit = fit_haiku_regression(x, y)
    assert hk_fit.w == pytest.approx(plain.w, abs=2e-3)
    assert hk_fit.b == pytest.approx(plain.b, abs=2e-3)
    assert hk_fit.result.converged


def test_minimize_on_a_quadratic_and_divergence():
    opt = make_optimizer("sgd", 0.1)
    res = minimize(lambda p: jnp.sum((p - 3.0) ** 2), jnp.zeros(2), opt, tolerance=1e-6)
    np.testing.assert_allclose(res.params, [3.0, 3.0], atol=1e-5)
    with pytest.raises(kc.NonFiniteLossError, match="smaller learning rate"):
        minimize(lambda p: jnp.sum(p**2), jnp.ones(2), make_optimizer("sgd", 10.0))


def test_unknown_optimizer_and_bad_inputs(data):
    x, y = data
    assert {"sgd", "adam", "adamw", "rmsprop", "lbfgs"} <= set(available_optimizers())
    with pytest.raises(
        kc.UnknownNameError, match=r"unknown optimizer 'adma'; did you mean .*\badam\b"
    ):
        fit_linear_regression(x, y, optimizer="adma")
    with pytest.raises(kc.KhipuError, match="learning_rate must be positive"):
        make_optimizer("sgd", 0.0)
    with pytest.raises(kc.KhipuError, match=r"x of shape \[N, D\]"):
        fit_linear_regression(x[:, 0], y)
    with pytest.raises(kc.KhipuError, match="max_steps"):
        fit_linear_regression(x, y, max_steps=0)
