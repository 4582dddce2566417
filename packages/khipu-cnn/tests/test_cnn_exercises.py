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
from khipu.cnn import basics, exercises, loop, models, regression, train as cnn_train
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


def time_then_constant(fn, *args):
    fn(*args)
    return 0.05


def time_blocked_then_constant(fn, *args):
    jax.block_until_ready(fn(*args))
    return 0.1


def min_max_by_axis(batched):
    # right values, but the exercise forbids axis=
    return jnp.stack([jnp.min(batched, axis=1), jnp.max(batched, axis=1)], axis=1)


def min_max_by_positional_axis(batched):
    return jnp.stack([jnp.min(batched, 1), jnp.max(batched, 1)], 1)


def min_max_python_loop(batched):
    return jnp.stack([min_max(row) for row in batched])


def min_max_loop_of_vmaps(batched):
    return jnp.stack([jax.vmap(min_max)(row[None])[0] for row in batched])


def conv2d_flipped(image, kernel, stride=1):
    # a true convolution (kernel flipped): not what deep-learning layers compute
    return models.conv2d(image, kernel[::-1, ::-1], stride)


def conv2d_ignores_stride(image, kernel, stride=1):
    return models.conv2d(image, kernel, 1)


def conv2d_same_padding(image, kernel, stride=1):
    out = jax.lax.conv_general_dilated(
        jnp.asarray(image)[None],
        jnp.asarray(kernel),
        (stride, stride),
        "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    return out[0]


def conv2d_first_channel_only(image, kernel, stride=1):
    return models.conv2d(image[..., :1], kernel[:, :, :1], stride)


def channels_first_by_reshape(images):
    n, h, w, c = images.shape
    return jnp.reshape(images, (n, c, h, w))


def channels_first_wrong_order(images):
    return jnp.transpose(images, (0, 3, 2, 1))


def cross_entropy_over_classes_too(logits, labels):
    # the original practical's -mean(one_hot * log(softmax)): divided by K as well
    one_hot = jax.nn.one_hot(labels, logits.shape[-1])
    return -jnp.mean(one_hot * jax.nn.log_softmax(logits))


def cross_entropy_unstable(logits, labels):
    probs = jnp.exp(logits) / jnp.sum(jnp.exp(logits), axis=-1, keepdims=True)
    return -jnp.mean(jnp.log(jnp.take_along_axis(probs, labels[:, None], axis=-1)))


def cross_entropy_sum(logits, labels):
    picked = jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=-1)
    return -jnp.sum(picked)


def make_step_without_jit(loss_fn, optimizer):
    def step(params, opt_state, batch, key):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def make_step_plain_gradient_descent(loss_fn, optimizer):
    @jax.jit
    def step(params, opt_state, batch, key):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch, key)
        params = jax.tree.map(lambda p, g: p - 0.5 * g, params, grads)  # ignores the optimizer
        return params, opt_state, loss

    return step


def make_step_loss_after_update(loss_fn, optimizer):
    @jax.jit
    def step(params, opt_state, batch, key):
        grads = jax.grad(loss_fn)(params, batch, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, loss_fn(params, batch, key)

    return step


def make_step_stale_state(loss_fn, optimizer):
    @jax.jit
    def step(params, opt_state, batch, key):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch, key)
        updates, _ = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def _epoch(step, params, opt_state, data, batch_size, key, *, order=None, keys=None, last=False):
    n = len(next(iter(data.values())))
    steps = n // batch_size
    order_key, *step_keys = jax.random.split(key, steps + 1)
    order = np.asarray(jax.random.permutation(order_key, n)) if order is None else order
    keys = step_keys if keys is None else keys
    losses = []
    for i in range(steps):
        idx = order[i * batch_size : (i + 1) * batch_size]
        batch = {k: np.asarray(v)[idx] for k, v in data.items()}
        params, opt_state, loss = step(params, opt_state, batch, keys[i])
        losses.append(float(loss))
    return params, opt_state, losses[-1] if last else float(np.mean(losses))


def epoch_in_stored_order(step, params, opt_state, data, batch_size, key):
    n = len(next(iter(data.values())))
    return _epoch(step, params, opt_state, data, batch_size, key, order=np.arange(n))


def epoch_one_key_for_every_step(step, params, opt_state, data, batch_size, key):
    return _epoch(step, params, opt_state, data, batch_size, key, keys=[key] * len(data["x"]))


def epoch_last_loss(step, params, opt_state, data, batch_size, key):
    return _epoch(step, params, opt_state, data, batch_size, key, last=True)


def epoch_fixed_seed(step, params, opt_state, data, batch_size, key):
    return _epoch(step, params, opt_state, data, batch_size, jax.random.key(42))


def epoch_keeps_partial_batch(step, params, opt_state, data, batch_size, key):
    n = len(next(iter(data.values())))
    order = np.asarray(jax.random.permutation(key, n))
    keys = jax.random.split(key, n)
    losses = []
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        batch = {k: np.asarray(v)[idx] for k, v in data.items()}
        params, opt_state, loss = step(params, opt_state, batch, keys[i])
        losses.append(float(loss))
    return params, opt_state, float(np.mean(losses))


def epoch_forgets_opt_state(step, params, opt_state, data, batch_size, key):
    start = opt_state
    params, _, loss = _epoch(step, params, opt_state, data, batch_size, key)
    return params, start, loss


min_max = basics.min_max  # the notebook's given function, as a global of the answers


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
    (
        exercises.check_time_blocked,
        basics.time_blocked,
        [
            time_without_blocking,
            time_blocking_after_the_clock,
            time_returning_the_result,
            time_then_constant,
            time_blocked_then_constant,
        ],
    ),
    (exercises.check_min_max_of_batch, [0, 14], [[[0, 4], [5, 9], [10, 14]], [0, 4]]),
    (
        exercises.check_min_max_batched,
        basics.min_max_vmap,
        [
            min_max_whole_batch,
            min_max_wrong_axis,
            min_max_vmap_wrong_in_axes,
            min_max_by_axis,
            min_max_by_positional_axis,
            min_max_python_loop,
            min_max_loop_of_vmaps,
        ],
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
    (
        exercises.check_conv2d,
        models.conv2d,
        [
            conv2d_flipped,
            conv2d_ignores_stride,
            conv2d_same_padding,
            conv2d_first_channel_only,
        ],
    ),
    (
        exercises.check_to_channels_first,
        models.to_channels_first,
        [channels_first_by_reshape, channels_first_wrong_order],
    ),
    (
        exercises.check_cross_entropy,
        cnn_train.cross_entropy,
        [cross_entropy_over_classes_too, cross_entropy_unstable, cross_entropy_sum],
    ),
    (
        exercises.check_make_step,
        loop.make_step,
        [
            make_step_without_jit,
            make_step_plain_gradient_descent,
            make_step_loss_after_update,
            make_step_stale_state,
        ],
    ),
    (
        exercises.check_train_epoch,
        loop.train_epoch,
        [
            epoch_in_stored_order,
            epoch_one_key_for_every_step,
            epoch_last_loss,
            epoch_fixed_seed,
            epoch_keeps_partial_batch,
            epoch_forgets_opt_state,
        ],
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


# --- which function gains more from jit: judged on the student's own measurement ---------


def _times(relu_eager: float, relu_jit: float, selu_eager: float, selu_jit: float) -> dict:
    return {
        "time_relu": relu_eager,
        "time_relu_jit": relu_jit,
        "time_selu": selu_eager,
        "time_selu_jit": selu_jit,
    }


@pytest.mark.parametrize(
    ("times", "right", "wrong"),
    [
        (_times(1.0, 0.9, 4.0, 1.0), "selu", "relu"),  # the usual CPU result
        (_times(5.0, 1.0, 1.2, 1.0), "relu", "selu"),  # a machine where relu gained more
    ],
)
def test_jit_speedup_answer_follows_the_measurement(
    times: dict, right: str, wrong: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exercises.check_jit_speedup_answer(right, times) == right
    assert capsys.readouterr().out.startswith("✓")
    assert exercises.check_jit_speedup_answer(wrong, times) == right  # falls back to the winner
    out = capsys.readouterr().out
    assert out.startswith("✗") and "on your machine" in out and f"{right} gained more" in out


def test_jit_speedup_answer_accepts_either_on_a_tie(capsys: pytest.CaptureFixture[str]) -> None:
    times = _times(1.05, 1.0, 1.1, 1.0)
    for answer in ("relu", "selu", " SELU "):
        assert exercises.check_jit_speedup_answer(answer, times) == answer
        assert capsys.readouterr().out.startswith("✓")


def test_jit_speedup_answer_rejects_non_answers_and_bad_timings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = _times(1.0, 1.0, 3.0, 1.0)
    for answer, times in (("both", good), (3.0, good), ("selu", {}), ("selu", _times(1, 0, 1, 1))):
        exercises.check_jit_speedup_answer(answer, times)
        assert capsys.readouterr().out.startswith("✗"), (answer, times)
    assert exercises.check_jit_speedup_answer(..., good) == "selu"
    assert "not attempted" in capsys.readouterr().out


def test_min_max_batched_accepts_vmap_forms() -> None:
    def vmapped_lambda(batched):
        return jax.vmap(lambda row: min_max(row))(batched)

    @jax.jit
    def jitted_vmap(batched):
        return jax.vmap(min_max)(batched)

    for answer in (vmapped_lambda, jitted_vmap, jax.vmap(min_max), basics.min_max_vmap):
        result = exercises.check_min_max_batched.evaluate(answer)
        assert result.passed, result.message


def test_min_max_batched_says_why_an_axis_answer_fails() -> None:
    message = exercises.check_min_max_batched.evaluate(min_max_by_axis).message
    assert "without `axis=`" in message
    message = exercises.check_min_max_batched.evaluate(min_max_loop_of_vmaps).message
    assert "called 3 times" in message


def test_make_step_says_why_an_unjitted_step_fails() -> None:
    message = exercises.check_make_step.evaluate(make_step_without_jit).message
    assert "ran 3 times" in message and "jax.jit" in message


QUIZZES = [
    exercises.quiz_prng_reuse,
    exercises.quiz_jit_side_effect,
    exercises.quiz_channels_first,
    exercises.quiz_dense_blowup,
    exercises.quiz_receptive_field,
    exercises.quiz_confidence_loss,
    exercises.quiz_one_by_one,
]


@pytest.mark.parametrize("quiz", QUIZZES, ids=[q.name for q in QUIZZES])
def test_quiz_right_answer_passes_and_wrong_ones_fail(quiz: Any) -> None:
    assert quiz.evaluate(quiz.answer).passed
    for key in quiz.options:
        if key != quiz.answer:
            result = quiz.evaluate(key)
            assert result.status == "failed" and quiz.explanation in result.message
    assert quiz.evaluate(None).status == "not_attempted"


def test_quiz_answers_agree_with_the_computations() -> None:
    """The quizzes' right options are what the package computes."""
    key = jax.random.key(0)
    assert jax.random.normal(key) == jax.random.normal(key)  # prng_reuse: (b)
    assert exercises.quiz_dense_blowup.options["c"] == f"{models.dense_parameters(30_000, 500):,}"
    assert exercises.quiz_receptive_field.options["b"] == str(
        models.receptive_field([(3, 1)] * 3)[-1]
    )
    shape = models.to_channels_first(jnp.zeros((8, 32, 32, 3))).shape
    assert exercises.quiz_channels_first.options["b"] == str(shape)
    printed: list[int] = []

    @jax.jit
    def impure(x):
        printed.append(1)
        return x

    for _ in range(3):
        impure(jnp.ones(3))
    assert len(printed) == 1  # jit_side_effect: (b)
