"""Every checker of the CNN notebook accepts the reference answer, rejects plausible wrong
answers, and calls an untouched stub "not attempted"."""

from __future__ import annotations

import time
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from khipu.cnn import basics, exercises, models, regression
from khipu.core import Checker

# --- wrong answers a student might write ---------------------------------------------------


def cos_in_degrees(x):
    return jnp.cos(jnp.deg2rad(x))


def relu_python_flipped(x):
    return x if x < 0 else 0.0


def relu_python_max_one(x):
    return max(x, 1.0)


def relu_python_abs(x):
    return abs(x)


def relu_minimum(x):
    return jnp.minimum(x, 0.0)


def relu_leaky(x):
    return jnp.where(x > 0, x, 0.01 * x)


def relu_stopped_gradient(x):
    return jax.lax.stop_gradient(jnp.maximum(x, 0.0))


def time_without_blocking(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def time_blocking_after_the_clock(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    seconds = time.perf_counter() - start
    jax.block_until_ready(out)
    return seconds


def time_returning_the_result(fn, *args):
    return jax.block_until_ready(fn(*args))


def min_max_whole_batch(batched):
    return basics.min_max(batched)


def min_max_wrong_axis(batched):
    return jnp.stack([jnp.min(batched, axis=0), jnp.max(batched, axis=0)], axis=1)


def min_max_vmap_wrong_in_axes(batched):
    return jax.vmap(basics.min_max, in_axes=1)(batched)


def mse_gradient_without_2(params, x, y):
    g = regression.mse_gradient(params, x, y)
    return {"w": g["w"] / 2, "b": g["b"] / 2}


def mse_gradient_sum_not_mean(params, x, y):
    g = regression.mse_gradient(params, x, y)
    return {"w": g["w"] * len(y), "b": g["b"] * len(y)}


def mse_gradient_wrong_sign(params, x, y):
    g = regression.mse_gradient(params, x, y)
    return {"w": -g["w"], "b": -g["b"]}


def _loss(p, x, y):
    return regression.mse(regression.linear_predict(p, x), y)


def optax_fit_ascent(params, x, y, optimizer, num_steps):
    state = optimizer.init(params)
    for _ in range(num_steps):
        grads = jax.grad(_loss)(params, x, y)
        updates, state = optimizer.update(grads, state, params)
        params = jax.tree.map(lambda p, u: p - u, params, updates)
    return params


def optax_fit_stale_state(params, x, y, optimizer, num_steps):
    state = optimizer.init(params)
    for _ in range(num_steps):
        grads = jax.grad(_loss)(params, x, y)
        updates, _ = optimizer.update(grads, state, params)  # state never advances
        params = optax.apply_updates(params, updates)
    return params


def optax_fit_one_step_short(params, x, y, optimizer, num_steps):
    return basics.optax_fit(params, x, y, optimizer, max(num_steps - 1, 0))


class LinearNoBias(hk.Module):
    def __init__(self, output_size, name=None):
        super().__init__(name=name)
        self.output_size = output_size

    def __call__(self, x):
        w = hk.get_parameter("w", [x.shape[-1], self.output_size], init=jnp.zeros)
        return x @ w


class LinearTransposed(hk.Module):
    def __init__(self, output_size, name=None):
        super().__init__(name=name)
        self.output_size = output_size

    def __call__(self, x):
        w = hk.get_parameter("w", [self.output_size, x.shape[-1]], init=jnp.zeros)
        b = hk.get_parameter("b", [self.output_size], init=jnp.zeros)
        return x @ w.T + b


class LinearBiasIgnored(hk.Module):
    def __init__(self, output_size, name=None):
        super().__init__(name=name)
        self.output_size = output_size

    def __call__(self, x):
        w = hk.get_parameter("w", [x.shape[-1], self.output_size], init=jnp.zeros)
        hk.get_parameter("b", [self.output_size], init=jnp.ones)
        return x @ w + 1.0


def max_pool_stride_one(x, window, stride):
    return basics_pool(x, window, 1)


def basics_pool(x, window, stride):
    x = np.asarray(x)
    rows = (x.shape[0] - window) // stride + 1
    cols = (x.shape[1] - window) // stride + 1
    out = np.empty((rows, cols), x.dtype)
    for i in range(rows):
        for j in range(cols):
            out[i, j] = x[i * stride : i * stride + window, j * stride : j * stride + window].max()
    return out


def max_pool_stride_equals_window(x, window, stride):
    return basics_pool(x, window, window)


def max_pool_keeps_partial_windows(x, window, stride):
    x = np.asarray(x)
    rows = -(-(x.shape[0] - window) // stride) + 1
    cols = -(-(x.shape[1] - window) // stride) + 1
    return np.array(
        [
            [
                x[i * stride : i * stride + window, j * stride : j * stride + window].max()
                for j in range(cols)
            ]
            for i in range(rows)
        ]
    )


def mean_pool(x, window, stride):
    x = np.asarray(x, float)
    rows = (x.shape[0] - window) // stride + 1
    cols = (x.shape[1] - window) // stride + 1
    return np.array(
        [
            [
                x[i * stride : i * stride + window, j * stride : j * stride + window].mean()
                for j in range(cols)
            ]
            for i in range(rows)
        ]
    )


def conv_size_without_plus_one(size, kernel, stride=1, padding=0):
    return (size + 2 * padding - kernel) // stride


def conv_size_ignoring_padding(size, kernel, stride=1, padding=0):
    return (size - kernel) // stride + 1


def conv_size_one_sided_padding(size, kernel, stride=1, padding=0):
    return (size + padding - kernel) // stride + 1


def conv_size_rounding_up(size, kernel, stride=1, padding=0):
    return -(-(size + 2 * padding - kernel) // stride) + 1


def dense_without_biases(in_features, units):
    return in_features * units


def dense_one_bias(in_features, units):
    return in_features * units + 1


def conv_without_biases(kernel, in_channels, filters):
    return kernel * kernel * in_channels * filters


def conv_ignoring_in_channels(kernel, in_channels, filters):
    return kernel * kernel * filters + filters


def conv_one_side_of_kernel(kernel, in_channels, filters):
    return kernel * in_channels * filters + filters


def gap_wrong_axes(x):
    return jnp.mean(x, axis=(0, 1))


def gap_sum(x):
    return jnp.sum(x, axis=(1, 2))


def gap_max(x):
    return jnp.max(x, axis=(1, 2))


def bn_over_channels(x, eps=1e-5):
    mean = jnp.mean(x, axis=-1, keepdims=True)
    return (x - mean) / jnp.sqrt(jnp.var(x, axis=-1, keepdims=True) + eps)


def bn_batch_axis_only(x, eps=1e-5):
    mean = jnp.mean(x, axis=0, keepdims=True)
    return (x - mean) / jnp.sqrt(jnp.var(x, axis=0, keepdims=True) + eps)


def bn_whole_tensor(x, eps=1e-5):
    return (x - jnp.mean(x)) / jnp.sqrt(jnp.var(x) + eps)


def bn_without_eps(x, eps=1e-5):
    mean = jnp.mean(x, axis=(0, 1, 2), keepdims=True)
    return (x - mean) / jnp.std(x, axis=(0, 1, 2), keepdims=True)


def residual_without_skip(x, conv1, conv2):
    return jax.nn.relu(conv2(jax.nn.relu(conv1(x))))


def residual_relu_before_skip(x, conv1, conv2):
    return x + jax.nn.relu(conv2(jax.nn.relu(conv1(x))))


def residual_no_inner_relu(x, conv1, conv2):
    return jax.nn.relu(x + conv2(conv1(x)))


def filters_wrong_transpose(kernel):
    w = np.transpose(np.asarray(kernel), (3, 2, 0, 1))
    lo, hi = w.min(axis=(1, 2, 3), keepdims=True), w.max(axis=(1, 2, 3), keepdims=True)
    return (w - lo) / (hi - lo)


def filters_global_scaling(kernel):
    w = np.transpose(np.asarray(kernel), (3, 0, 1, 2))
    return (w - w.min()) / (w.max() - w.min())


def filters_unscaled(kernel):
    return np.transpose(np.asarray(kernel), (3, 0, 1, 2))


# --- the table ------------------------------------------------------------------------------

CASES: list[tuple[Checker, Any, list[Any]]] = [
    (exercises.check_cosine, jnp.cos, [jnp.sin, cos_in_degrees]),
    (
        exercises.check_relu_python,
        basics.relu_python,
        [relu_python_flipped, relu_python_max_one, relu_python_abs],
    ),
    (
        exercises.check_relu,
        basics.relu,
        [basics.relu_python, relu_minimum, relu_leaky, relu_stopped_gradient, jnp.abs],
    ),
    (exercises.check_first_derivative, 183.0, [82.0, 288.0, 24.0 * 8]),
    (exercises.check_third_derivative, 288.0, [183.0, 144.0]),
    (exercises.check_jit_speedup_answer, "selu", ["relu", "both", 3.0]),
    (
        exercises.check_time_blocked,
        basics.time_blocked,
        [time_without_blocking, time_blocking_after_the_clock, time_returning_the_result],
    ),
    (exercises.check_min_max_of_batch, [0, 14], [[[0, 4], [5, 9], [10, 14]], [0, 4]]),
    (
        exercises.check_min_max_batched,
        basics.min_max_vmap,
        [min_max_whole_batch, min_max_wrong_axis, min_max_vmap_wrong_in_axes],
    ),
    (
        exercises.check_mse_gradient,
        regression.mse_gradient,
        [mse_gradient_without_2, mse_gradient_sum_not_mean, mse_gradient_wrong_sign],
    ),
    (
        exercises.check_optax_fit,
        basics.optax_fit,
        [optax_fit_ascent, optax_fit_stale_state, optax_fit_one_step_short],
    ),
    (
        exercises.check_linear_module,
        exercises.LinearModule,
        [LinearNoBias, LinearTransposed, LinearBiasIgnored],
    ),
    (
        exercises.check_max_pool,
        basics_pool,
        [
            max_pool_stride_one,
            max_pool_stride_equals_window,
            max_pool_keeps_partial_windows,
            mean_pool,
        ],
    ),
    (
        exercises.check_conv_output_size,
        models.conv_output_size,
        [
            conv_size_without_plus_one,
            conv_size_ignoring_padding,
            conv_size_one_sided_padding,
            conv_size_rounding_up,
        ],
    ),
    (
        exercises.check_dense_parameters,
        models.dense_parameters,
        [dense_without_biases, dense_one_bias],
    ),
    (
        exercises.check_conv_parameters,
        models.conv_parameters,
        [conv_without_biases, conv_ignoring_in_channels, conv_one_side_of_kernel],
    ),
    (
        exercises.check_global_average_pool,
        models.global_average_pool,
        [gap_wrong_axes, gap_sum, gap_max],
    ),
    (
        exercises.check_batch_norm,
        models.batch_norm,
        [bn_over_channels, bn_batch_axis_only, bn_whole_tensor, bn_without_eps],
    ),
    (
        exercises.check_residual_block,
        models.residual_block,
        [residual_without_skip, residual_relu_before_skip, residual_no_inner_relu],
    ),
    (
        exercises.check_filter_images,
        models.filter_images,
        [filters_wrong_transpose, filters_global_scaling, filters_unscaled],
    ),
]
IDS = [checker.name for checker, _, _ in CASES]


@pytest.mark.parametrize(("checker", "reference", "wrong"), CASES, ids=IDS)
def test_checker_accepts_the_reference(checker: Checker, reference: Any, wrong: list[Any]) -> None:
    result = checker.evaluate(reference)
    assert result.passed, result.message
    assert result.message.startswith("✓")


@pytest.mark.parametrize(("checker", "reference", "wrong"), CASES, ids=IDS)
def test_checker_rejects_wrong_answers(checker: Checker, reference: Any, wrong: list[Any]) -> None:
    assert len(wrong) >= 2
    for answer in wrong:
        result = checker.evaluate(answer)
        assert result.status == "failed", (getattr(answer, "__name__", answer), result.message)
        assert result.message.startswith("✗") and "\n" not in result.message


def _stub(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError


class StubModule(hk.Module):
    def __init__(self, output_size, name=None):
        super().__init__(name=name)
        self.output_size = output_size

    def __call__(self, x):
        raise NotImplementedError


@pytest.mark.parametrize(("checker", "reference", "wrong"), CASES, ids=IDS)
def test_stub_is_not_attempted_and_falls_back(
    checker: Checker, reference: Any, wrong: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    stub = (
        StubModule if isinstance(reference, type) else (... if not callable(reference) else _stub)
    )
    assert checker.evaluate(stub).status == "not_attempted"
    assert checker(stub) is checker.fallback
    assert "not attempted" in capsys.readouterr().out


def test_failure_message_names_the_input_and_the_hint() -> None:
    message = exercises.check_conv_output_size.evaluate(conv_size_without_plus_one).message
    assert "32x32" in message and "expected 32, got 31" in message and "Hint" in message
    message = exercises.check_relu.evaluate(basics.relu_python).message
    assert "jax.jit(relu) raised" in message and "Python `if`" in message


def test_the_practicals_max_pool_answer() -> None:
    assert (
        basics_pool(exercises.MAX_POOL_INPUT, 2, 2).tolist() == exercises.MAX_POOL_ANSWER.tolist()
    )
    out = models.max_pool(exercises.MAX_POOL_INPUT, window=2, stride=2)
    np.testing.assert_array_equal(out, exercises.MAX_POOL_ANSWER)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding"), [(9, 3, 2, 1), (8, 5, 3, 0), (6, 2, 1, 2)]
)
def test_conv_output_size_matches_jax(size: int, kernel: int, stride: int, padding: int) -> None:
    x = jnp.zeros((1, size, size, 1))
    w = jnp.zeros((kernel, kernel, 1, 1))
    y = jax.lax.conv_general_dilated(
        x, w, (stride, stride), [(padding, padding)] * 2, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    assert y.shape[1] == models.conv_output_size(size, kernel, stride, padding)


def test_parameter_counts_match_haiku() -> None:
    def net(x):
        return hk.Linear(7)(hk.Flatten()(hk.Conv2D(5, 3)(x)))

    params = hk.transform(net).init(jax.random.key(0), jnp.zeros((1, 6, 6, 2)))
    counts = list(models.layer_parameter_counts(params).values())
    assert counts == [models.conv_parameters(3, 2, 5), models.dense_parameters(6 * 6 * 5, 7)]


def test_receptive_field_of_stacked_convolutions() -> None:
    assert models.receptive_field([(3, 1)] * 3) == [3, 5, 7]
    assert models.receptive_field([(3, 1), (2, 2), (3, 1)]) == [3, 4, 8]


def test_batch_norm_reference_normalises_each_channel() -> None:
    x = (
        jax.random.normal(jax.random.key(0), (16, 3, 3, 2))
        * jnp.array([1.0, 50.0]).reshape(1, 1, 1, 2)
        + 7.0
    )
    y = models.batch_norm(x)
    np.testing.assert_allclose(jnp.mean(y, axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(jnp.std(y, axis=(0, 1, 2)), 1.0, atol=1e-3)


def test_optax_fit_reference_learns_the_line() -> None:
    x, y = regression.make_linear_data(seed=0)
    start = {"w": jnp.zeros((1,)), "b": jnp.ones(())}
    fitted = basics.optax_fit(start, x, y, optax.adam(0.05), 300)
    assert abs(float(fitted["w"][0]) - regression.TRUE_W) < 0.05
    assert abs(float(fitted["b"]) - regression.TRUE_B) < 0.05


def test_convolution_figures() -> None:
    from khipu.cnn import plots

    fig = plots.plot_convolutions(((1, 0), (2, 1)), size=5, kernel=3)
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "5x5 → 3x3" in titles and "stride 2, padding 1: 5x5 → 3x3" in titles
    fig = plots.plot_receptive_field()
    assert len(fig.axes[1].lines) == 2
