"""Checkers for the exercises of the CNN notebook (``notebooks/01_cnn``).

Each ``check_*`` is a :class:`khipu.core.Checker`: the notebook's check cell
reads ``relu = check_relu(relu)``; it prints one line (✓, ✗ with the failing
input, expected vs got and a hint, or "not attempted yet") and returns the
student's answer if it passed, else the package's reference, so later cells
always run. The references live in :mod:`khipu.cnn.basics`,
:mod:`khipu.cnn.regression` and :mod:`khipu.cnn.models`.

Inputs are the practical's own examples plus seeded random and edge cases
(zeros, a single row, a 1x1 window, a kernel as wide as the image...).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
from khipu.cnn import basics, models, regression
from khipu.core import Case, Checker, function_check, value_check
from khipu.core.exercises import NotAttempted, describe, mismatch

__all__ = [
    "MAX_POOL_ANSWER",
    "MAX_POOL_INPUT",
    "LinearModule",
    "check_batch_norm",
    "check_conv_output_size",
    "check_conv_parameters",
    "check_cosine",
    "check_dense_parameters",
    "check_filter_images",
    "check_first_derivative",
    "check_global_average_pool",
    "check_jit_speedup_answer",
    "check_linear_module",
    "check_max_pool",
    "check_min_max_batched",
    "check_min_max_of_batch",
    "check_mse_gradient",
    "check_optax_fit",
    "check_relu",
    "check_relu_python",
    "check_residual_block",
    "check_third_derivative",
    "check_time_blocked",
]

#: The practical's 6x6 matrix for the max-pooling exercise.
MAX_POOL_INPUT = np.array(
    [
        [9, 5, 4, 5, 6, 4],
        [6, 6, 3, 5, 8, 2],
        [4, 6, 9, 1, 3, 6],
        [9, 7, 1, 5, 8, 1],
        [4, 9, 9, 5, 7, 3],
        [7, 3, 6, 4, 9, 1],
    ]
)
#: Its 2x2, stride-2 max-pool.
MAX_POOL_ANSWER = np.array([[9, 5, 8], [9, 9, 8], [9, 9, 9]])


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _numpy_broadcasting(checker: Checker) -> Checker:
    """The checker with NumPy's broadcasting rules while judging.

    A student's ``x @ w + b`` broadcasts ``b`` as in NumPy (Colab's default),
    even where ``JAX_NUMPY_RANK_PROMOTION=raise`` is set (as in the tests).
    """

    def judge(answer: Any) -> str | None:
        with jax.numpy_rank_promotion("allow"):
            return checker.judge(answer)

    return dataclasses.replace(checker, judge=judge)


# --- 1.1 cosine -------------------------------------------------------------------------


def _cosine_cases() -> list[Case]:
    return [
        Case("the practical's grid on [-π, π]", (jnp.linspace(-jnp.pi, jnp.pi, 9),)),
        Case("zero", (jnp.float32(0.0),)),
        Case("random values", (jnp.asarray(_rng(1).uniform(-10, 10, 20), jnp.float32),)),
        Case("a 2-D array", (jnp.asarray(_rng(2).normal(size=(3, 4)), jnp.float32),)),
    ]


check_cosine = function_check(
    "cosine",
    reference=basics.cosine,
    cases=_cosine_cases,
    hint="jax.numpy has the same functions as NumPy: jnp.cos (in radians)",
)

# --- 1.2 / 1.3 ReLU ---------------------------------------------------------------------


def _relu_python_cases() -> list[Case]:
    values = [-2.0, 3.0, 0.0, 1e-3, -1e-3, *(_rng(3).normal(size=5) * 5).tolist()]
    return [Case(f"x = {v:.4g}", (v,)) for v in values]


check_relu_python = function_check(
    "relu_python",
    reference=basics.relu_python,
    cases=_relu_python_cases,
    hint="relu(x) is x when x > 0 and 0 otherwise",
)


def _relu_judge_reference(x: jax.Array) -> jax.Array:
    return basics.relu(x)


def _relu_cases() -> list[Case]:
    return [
        Case("the practical's [-2, 3]", (jnp.array([-2.0, 3.0]),)),
        Case("zeros", (jnp.zeros(4),)),
        Case("a scalar", (jnp.float32(-0.5),)),
        Case("1,000 random normals", (jax.random.normal(jax.random.key(0), (1000,)),)),
        Case("a [3, 4] matrix", (jax.random.normal(jax.random.key(1), (3, 4)),)),
    ]


def _judge_relu(student: Any) -> str | None:
    if not callable(student):
        return f"expected a function, got {describe(student)}"
    jitted = jax.jit(student)
    for case in _relu_cases():
        (x,) = case.args
        try:
            got = jitted(x)
        except (NotImplementedError, NotAttempted):
            raise
        except (jax.errors.TracerBoolConversionError, ValueError) as exc:
            if not isinstance(exc, jax.errors.TracerBoolConversionError) and (
                "truth value" not in str(exc)
            ):
                raise
            return (
                f"on {case.label}, jax.jit(relu) raised {type(exc).__name__}: a Python `if` "
                "cannot branch on a traced value (nor on a whole array)"
            )
        if got is Ellipsis:
            raise NotAttempted
        if (why := mismatch(np.asarray(basics.relu(x)), got)) is not None:
            return f"under jax.jit, on {case.label}: {why}"
    grid = jnp.array([-2.0, -0.5, 0.5, 2.0])
    slopes = jax.vmap(jax.grad(student))(grid)
    if (why := mismatch(np.array([0.0, 0.0, 1.0, 1.0]), slopes)) is not None:
        return f"jax.grad(relu) on {describe(grid)}: {why}"
    return None


check_relu = Checker(
    "relu",
    _judge_relu,
    basics.relu,
    hint="no Python `if` on a traced value: jnp.where(x > 0, x, 0.0) or jnp.maximum(x, 0.0)",
)

# --- 1.4 / 1.5 derivatives ------------------------------------------------------------------

check_first_derivative = value_check(
    "f'(2)",
    183.0,
    hint="f'(x) = 24x³ − 9; or jax.grad(f)(2.0)",
)
check_third_derivative = value_check(
    "f'''(2)",
    288.0,
    hint="f'''(x) = 144x; jax.grad composes: jax.grad(jax.grad(jax.grad(f)))(2.0)",
)

# --- 1.6 speed-ups and asynchronous dispatch ----------------------------------------------


def _judge_speedup_answer(answer: Any) -> str | None:
    if not isinstance(answer, str):
        return f"expected 'relu' or 'selu', got {describe(answer)}"
    if answer.strip().lower() not in ("relu", "selu"):
        return f"expected 'relu' or 'selu', got {answer!r}"
    if answer.strip().lower() != "selu":
        return (
            "ReLU is a single maximum per element: jit has nothing to fuse, so eager and "
            "jitted ReLU take about the same time"
        )
    return None


check_jit_speedup_answer = Checker(
    "which function gains more from jit",
    _judge_speedup_answer,
    "selu",
    hint="XLA fuses a chain of element-wise operations into one pass over memory",
)


class _Pending:
    """A fake asynchronous result: ready only ``delay`` seconds after it was created."""

    def __init__(self, delay: float) -> None:
        self.ready_at = time.perf_counter() + delay
        self.blocked = False

    def block_until_ready(self) -> _Pending:
        self.blocked = True
        remaining = self.ready_at - time.perf_counter()
        if remaining > 0:
            time.sleep(remaining)
        return self


def _judge_time_blocked(student: Any) -> str | None:
    if not callable(student):
        return f"expected a function, got {describe(student)}"
    delay = 0.05
    made: list[_Pending] = []

    def slow_computation(x: Any) -> _Pending:
        made.append(_Pending(delay))
        return made[-1]

    seconds = student(slow_computation, 1.0)
    if seconds is Ellipsis:
        raise NotAttempted
    if isinstance(seconds, _Pending) or not isinstance(seconds, (int, float, np.floating)):
        return f"expected the seconds taken (a float), got {describe(seconds)}"
    if len(made) != 1:
        return f"fn was called {len(made)} times; time exactly one call"
    if seconds < 0.8 * delay:
        return (
            f"on a computation that takes {delay} s it measured {float(seconds):.4f} s: that "
            "is the time to *dispatch* it; wait for the result inside the timed region"
        )
    return None


check_time_blocked = Checker(
    "time_blocked",
    _judge_time_blocked,
    basics.time_blocked,
    hint="start = time.perf_counter(); jax.block_until_ready(fn(*args)); "
    "return time.perf_counter() - start",
)

# --- 1.7 vmap -----------------------------------------------------------------------------

check_min_max_of_batch = value_check(
    "min_max(batched_x)",
    [0, 14],
    hint="min_max looks at the whole array it is given, not at each row",
)


def _min_max_cases() -> list[Case]:
    return [
        Case("the practical's arange(15).reshape(3, 5)", (jnp.arange(15).reshape(3, 5),)),
        Case("a random [4, 7] batch", (jnp.asarray(_rng(4).normal(size=(4, 7)), jnp.float32),)),
        Case("a single row", (jnp.array([[3.0, -1.0, 2.0]]),)),
        Case("rows of one element", (jnp.array([[5.0], [-2.0]]),)),
    ]


check_min_max_batched = function_check(
    "min_max_batched",
    reference=basics.min_max_vmap,
    cases=_min_max_cases,
    hint="jax.vmap(min_max) maps over axis 0 (one row at a time): [B, D] → [B, 2]",
)

# --- 2. gradients, optax, haiku -----------------------------------------------------------


def _params(w: Any, b: float) -> dict[str, Any]:
    return {"w": np.asarray(w, np.float32), "b": np.float32(b)}


def _mse_gradient_cases() -> list[Case]:
    x, y = regression.make_linear_data(seed=0)
    r = _rng(5)
    x3 = r.normal(size=(12, 3)).astype(np.float32)
    y3 = r.normal(size=12).astype(np.float32)
    return [
        Case("the practical's data at w=0, b=1", (_params([0.0], 1.0), x, y)),
        Case("the practical's data at w=0.1, b=0.3", (_params([0.1], 0.3), x, y)),
        Case("one sample", (_params([0.5], -0.2), x[:1], y[:1])),
        Case("three features", (_params(r.normal(size=3), 0.7), x3, y3)),
    ]


check_mse_gradient = function_check(
    "mse_gradient",
    reference=regression.mse_gradient,
    cases=_mse_gradient_cases,
    rtol=1e-4,
    atol=1e-5,
    hint="L = mean((x·w + b − y)²), so dL/dw = 2/N · xᵀ(x·w + b − y) and "
    "dL/db = 2/N · Σ(x·w + b − y); return {'w': ..., 'b': ...}",
)


def _optax_cases() -> list[Case]:
    x, y = regression.make_linear_data(seed=0)
    start = {"w": jnp.zeros((1,), jnp.float32), "b": jnp.ones((), jnp.float32)}
    return [
        Case("sgd(0.1), 10 steps", (start, x, y, optax.sgd(0.1), 10)),
        Case("adam(0.05), 8 steps", (start, x, y, optax.adam(0.05), 8)),
        Case("sgd with momentum 0.9, 5 steps", (start, x, y, optax.sgd(0.05, 0.9), 5)),
        Case("0 steps", (start, x, y, optax.sgd(0.1), 0)),
    ]


check_optax_fit = function_check(
    "optax_fit",
    reference=basics.optax_fit,
    cases=_optax_cases,
    rtol=1e-4,
    atol=1e-5,
    hint="opt_state = optimizer.init(params); each step: grads = jax.grad(loss)(params); "
    "updates, opt_state = optimizer.update(grads, opt_state, params); "
    "params = optax.apply_updates(params, updates)",
)


class LinearModule(hk.Module):
    """The reference answer of the Haiku exercise: ``x @ w + b`` with ``w: [D, output_size]``."""

    def __init__(self, output_size: int, name: str | None = None) -> None:
        super().__init__(name=name)
        self.output_size = output_size

    def __call__(self, x: jax.Array) -> jax.Array:
        d = x.shape[-1]
        w = hk.get_parameter(
            "w", [d, self.output_size], init=hk.initializers.TruncatedNormal(1.0 / np.sqrt(d))
        )
        b = hk.get_parameter("b", [self.output_size], init=jnp.zeros)
        out: jax.Array = x @ w + b
        return out


def _judge_linear_module(student: Any) -> str | None:
    if not (isinstance(student, type) and issubclass(student, hk.Module)):
        return f"expected a subclass of hk.Module, got {describe(student)}"
    module: Any = student
    for n, d, out in ((5, 1, 1), (7, 3, 2), (1, 4, 3)):
        label = f"x of shape [{n}, {d}] and output_size={out}"
        model: Any = hk.without_apply_rng(hk.transform(lambda x, o=out: module(o)(x)))
        x = jnp.asarray(_rng(6 + d).normal(size=(n, d)), jnp.float32)
        params = model.init(jax.random.key(0), x)
        leaves = {name: np.shape(v) for layer in params.values() for name, v in layer.items()}
        if leaves != {"w": (d, out), "b": (out,)}:
            return f"for {label} expected parameters w {(d, out)} and b {(out,)}, got " + ", ".join(
                f"{k} {v}" for k, v in sorted(leaves.items())
            )
        r = _rng(10 + d)
        w = jnp.asarray(r.normal(size=(d, out)), jnp.float32)
        b = jnp.asarray(r.normal(size=(out,)), jnp.float32)
        chosen = {m: {"w": w, "b": b} for m in params}
        got = model.apply(chosen, x)
        if (why := mismatch(np.asarray(x @ w + b), got, rtol=1e-4, atol=1e-5)) is not None:
            return f"for {label} with given w and b: {why}"
    return None


check_linear_module = Checker(
    "LinearModule",
    _judge_linear_module,
    LinearModule,
    hint="w = hk.get_parameter('w', [x.shape[-1], self.output_size], init=...); "
    "b = hk.get_parameter('b', [self.output_size], init=jnp.zeros); return x @ w + b",
)

# --- 3. convolutions ----------------------------------------------------------------------


def _max_pool_reference(x: Any, window: int, stride: int) -> np.ndarray:
    return np.asarray(models.max_pool(np.asarray(x), window=window, stride=stride))


def _max_pool_cases() -> list[Case]:
    r = _rng(7)
    odd = r.integers(0, 20, size=(7, 7))
    return [
        Case("the practical's 6x6 matrix, window 2, stride 2", (MAX_POOL_INPUT, 2, 2)),
        Case("the 6x6 matrix, window 3, stride 3", (MAX_POOL_INPUT, 3, 3)),
        Case("the 6x6 matrix, window 2, stride 1", (MAX_POOL_INPUT, 2, 1)),
        Case("a random 7x7, window 2, stride 2 (last row/column dropped)", (odd, 2, 2)),
        Case("a random 7x7, window 3, stride 2", (odd, 3, 2)),
        Case(
            "a random 4x6 with negative values, window 2, stride 2", (r.normal(size=(4, 6)), 2, 2)
        ),
        Case("window 1, stride 1 (the identity)", (odd, 1, 1)),
    ]


check_max_pool = function_check(
    "max_pool_2d",
    reference=_max_pool_reference,
    cases=_max_pool_cases,
    hint="the output has (H − window) // stride + 1 rows; out[i, j] = "
    "x[i*stride : i*stride + window, j*stride : j*stride + window].max()",
)


def _conv_size_cases() -> list[Case]:
    fixed = [
        ("a 32x32 image, 3x3, stride 1, padding 1 ('same')", (32, 3, 1, 1)),
        ("a 32x32 image, 3x3, stride 2, no padding", (32, 3, 2, 0)),
        ("a 28x28 image, 5x5, stride 1, no padding (LeNet)", (28, 5, 1, 0)),
        ("7 pixels, 3x3, stride 2, padding 1", (7, 3, 2, 1)),
        ("a kernel as wide as the image", (5, 5, 1, 0)),
        ("6 pixels, 2x2 pool, stride 2", (6, 2, 2, 0)),
        ("10 pixels, 1x1, stride 3, padding 2", (10, 1, 3, 2)),
    ]
    r = _rng(8)
    random = []
    for _ in range(6):
        k, s, p = int(r.integers(1, 6)), int(r.integers(1, 4)), int(r.integers(0, 3))
        n = int(r.integers(max(1, k - 2 * p), 40))
        random.append((f"random ({n}, {k}, {s}, {p})", (n, k, s, p)))
    return [Case(label, args) for label, args in fixed + random]


check_conv_output_size = function_check(
    "conv_output_size",
    reference=models.conv_output_size,
    cases=_conv_size_cases,
    hint="count the window positions in the padded input: "
    "(size + 2·padding − kernel) // stride + 1",
)


def _dense_cases() -> list[Case]:
    return [
        Case("a 32x32x3 image to 1,024 units", (32 * 32 * 3, 1024)),
        Case("8x8 digits to 10 classes", (64, 10)),
        Case("one input, one unit", (1, 1)),
    ]


check_dense_parameters = function_check(
    "dense_parameters",
    reference=models.dense_parameters,
    cases=_dense_cases,
    hint="one weight per (input, unit) pair plus one bias per unit",
)


def _conv_params_cases() -> list[Case]:
    return [
        Case("3x3, RGB input, 48 filters (the mini-AlexNet's first layer)", (3, 3, 48)),
        Case("5x5, 1 channel, 6 filters (LeNet-5)", (5, 1, 6)),
        Case("1x1, 64 channels, 10 filters", (1, 64, 10)),
        Case("3x3, 48 channels, 128 filters", (3, 48, 128)),
    ]


check_conv_parameters = function_check(
    "conv_parameters",
    reference=models.conv_parameters,
    cases=_conv_params_cases,
    hint="each filter has kernel·kernel·in_channels weights and one bias, shared over every "
    "position: the image size does not appear",
)

# --- extension tasks ----------------------------------------------------------------------


def _feature_cases() -> list[Case]:
    r = _rng(9)
    return [
        Case(
            "random [2, 4, 4, 3] features", (jnp.asarray(r.normal(size=(2, 4, 4, 3)), jnp.float32),)
        ),
        Case(
            "random [3, 5, 2, 4] features (not square)",
            (jnp.asarray(r.normal(1.0, 2.0, size=(3, 5, 2, 4)), jnp.float32),),
        ),
        Case("a 1x1 map", (jnp.asarray(r.normal(size=(4, 1, 1, 2)), jnp.float32),)),
    ]


check_global_average_pool = function_check(
    "global_average_pool",
    reference=models.global_average_pool,
    cases=_feature_cases,
    hint="average over the two spatial axes (height and width): [N, H, W, C] → [N, C]",
)


def _bn_cases() -> list[Case]:
    r = _rng(11)
    scales = np.array([1.0, 10.0, 0.1], np.float32)
    return [
        Case(
            "channels with different scales [8, 4, 4, 3]",
            (jnp.asarray(r.normal(2.0, 1.0, size=(8, 4, 4, 3)) * scales, jnp.float32),),
        ),
        Case("a batch of 2 [2, 3, 5, 4]", (jnp.asarray(r.normal(size=(2, 3, 5, 4)), jnp.float32),)),
        Case("a constant channel (variance 0)", (jnp.ones((4, 2, 2, 1)),)),
    ]


check_batch_norm = function_check(
    "batch_norm",
    reference=models.batch_norm,
    cases=_bn_cases,
    rtol=1e-4,
    atol=1e-4,
    hint="per channel: mean and variance over axes (0, 1, 2), then (x − mean) / sqrt(var + eps)",
)


def _channel_mix(seed: int, channels: int) -> Callable[[jax.Array], jax.Array]:
    w = jnp.asarray(_rng(seed).normal(size=(channels, channels)) / np.sqrt(channels), jnp.float32)
    b = jnp.asarray(_rng(seed + 1).normal(size=(channels,)), jnp.float32)

    def conv(x: jax.Array) -> jax.Array:
        return jnp.einsum("nhwc,cd->nhwd", x, w) + b

    return conv


def _residual_cases() -> list[Case]:
    r = _rng(12)
    x = jnp.asarray(r.normal(size=(2, 3, 3, 4)), jnp.float32)
    x1 = jnp.asarray(r.normal(size=(1, 5, 5, 2)), jnp.float32)
    return [
        Case(
            "random features, two random 1x1 convolutions",
            (x, _channel_mix(1, 4), _channel_mix(3, 4)),
        ),
        Case("conv2 = 0 (the block is then relu(x))", (x, _channel_mix(5, 4), jnp.zeros_like)),
        Case("another random pair", (x1, _channel_mix(7, 2), _channel_mix(9, 2))),
    ]


check_residual_block = function_check(
    "residual_block",
    reference=models.residual_block,
    cases=_residual_cases,
    hint="y = conv2(relu(conv1(x))); return relu(x + y): the skip is added *before* the last ReLU",
)


def _filter_cases() -> list[Case]:
    r = _rng(13)
    varied = r.normal(size=(3, 3, 1, 4)) * np.array([1.0, 5.0, 0.2, 2.0])
    return [
        Case(
            "a [3, 3, 1, 4] kernel (grey, 4 filters of different scales)",
            (varied.astype(np.float32),),
        ),
        Case("a [5, 5, 3, 2] kernel (RGB)", (r.normal(size=(5, 5, 3, 2)).astype(np.float32),)),
        Case(
            "a [2, 3, 2, 3] kernel (not square)", (r.normal(size=(2, 3, 2, 3)).astype(np.float32),)
        ),
    ]


check_filter_images = function_check(
    "filter_images",
    reference=models.filter_images,
    cases=_filter_cases,
    rtol=1e-4,
    atol=1e-5,
    hint="np.transpose(kernel, (3, 0, 1, 2)) gives [F, kh, kw, C]; then scale each filter by its "
    "own min and max (axis=(1, 2, 3), keepdims=True)",
)


check_cosine = _numpy_broadcasting(check_cosine)
check_relu_python = _numpy_broadcasting(check_relu_python)
check_relu = _numpy_broadcasting(check_relu)
check_first_derivative = _numpy_broadcasting(check_first_derivative)
check_third_derivative = _numpy_broadcasting(check_third_derivative)
check_jit_speedup_answer = _numpy_broadcasting(check_jit_speedup_answer)
check_time_blocked = _numpy_broadcasting(check_time_blocked)
check_min_max_of_batch = _numpy_broadcasting(check_min_max_of_batch)
check_min_max_batched = _numpy_broadcasting(check_min_max_batched)
check_mse_gradient = _numpy_broadcasting(check_mse_gradient)
check_optax_fit = _numpy_broadcasting(check_optax_fit)
check_linear_module = _numpy_broadcasting(check_linear_module)
check_max_pool = _numpy_broadcasting(check_max_pool)
check_conv_output_size = _numpy_broadcasting(check_conv_output_size)
check_dense_parameters = _numpy_broadcasting(check_dense_parameters)
check_conv_parameters = _numpy_broadcasting(check_conv_parameters)
check_global_average_pool = _numpy_broadcasting(check_global_average_pool)
check_batch_norm = _numpy_broadcasting(check_batch_norm)
check_residual_block = _numpy_broadcasting(check_residual_block)
check_filter_images = _numpy_broadcasting(check_filter_images)
