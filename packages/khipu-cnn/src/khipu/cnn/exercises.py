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
import inspect
import math
import textwrap
import time
from collections.abc import Callable
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
from khipu.cnn import basics, loop, models, regression, train
from khipu.core import Case, Checker, choice_check, function_check, value_check
from khipu.core.exercises import NotAttempted, describe, mismatch

__all__ = [
    "MAX_POOL_ANSWER",
    "MAX_POOL_INPUT",
    "LinearModule",
    "check_batch_norm",
    "check_conv2d",
    "check_conv_output_size",
    "check_conv_parameters",
    "check_cosine",
    "check_cross_entropy",
    "check_dense_parameters",
    "check_filter_images",
    "check_first_derivative",
    "check_global_average_pool",
    "check_jit_speedup_answer",
    "check_linear_module",
    "check_make_step",
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
    "check_to_channels_first",
    "check_train_epoch",
    "quiz_channels_first",
    "quiz_confidence_loss",
    "quiz_dense_blowup",
    "quiz_jit_side_effect",
    "quiz_one_by_one",
    "quiz_prng_reuse",
    "quiz_receptive_field",
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

    # keep core's time-limit contract: a judge that times only the student's calls says so
    judge.times_the_student = getattr(checker.judge, "times_the_student", False)  # type: ignore[attr-defined]
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


#: Two measured speed-ups closer than this ratio count as a tie: either answer is right.
SPEEDUP_TIE = 1.15


def _measured_speedups(times: Any) -> dict[str, float] | str:
    """``{"relu": eager / jit, "selu": eager / jit}`` from ``times``, or why it is unusable."""
    keys = ("time_relu", "time_relu_jit", "time_selu", "time_selu_jit")
    if not isinstance(times, dict) or any(k not in times for k in keys):
        return "pass the timings you measured: the dict of basics.timing_demo(), with " + ", ".join(
            keys
        )
    values = {k: times[k] for k in keys}
    if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values.values()):
        return f"the timings must be positive numbers of seconds, got {values}"
    return {
        "relu": values["time_relu"] / values["time_relu_jit"],
        "selu": values["time_selu"] / values["time_selu_jit"],
    }


def _judge_speedup_answer(answer: Any, times: Any) -> str | None:
    if not isinstance(answer, str) or answer.strip().lower() not in ("relu", "selu"):
        return f"expected 'relu' or 'selu', got {describe(answer)}"
    ratios = _measured_speedups(times)
    if isinstance(ratios, str):
        return ratios
    choice = answer.strip().lower()
    other = "relu" if choice == "selu" else "selu"
    if ratios[choice] * SPEEDUP_TIE >= ratios[other]:
        return None
    return (
        f"on your machine jit made relu {ratios['relu']:.1f}x and selu {ratios['selu']:.1f}x "
        f"faster: {other} gained more"
    )


def check_jit_speedup_answer(answer: Any, times: Any) -> Any:
    """Checks which of ReLU and SELU gained more from ``jit`` *in the student's measurement*.

    The answer is judged against ``times`` (the dict of :func:`basics.timing_demo` run
    on the student's machine), not against a fixed function: the right answer is the
    one with the larger measured speed-up (eager / jitted time); when the two
    speed-ups are within :data:`SPEEDUP_TIE` of each other, both answers count.

    Args:
      answer: ``"relu"`` or ``"selu"`` (``...`` while not attempted).
      times: the measured timings.

    Returns:
      ``answer`` when it agrees with the measurement, else the measured winner.
    """
    ratios = _measured_speedups(times)
    winner = max(ratios, key=ratios.__getitem__) if isinstance(ratios, dict) else "selu"
    checker = Checker(
        "which function gains more from jit",
        lambda a: _judge_speedup_answer(a, times),
        winner,
        hint="compare time_relu / time_relu_jit with time_selu / time_selu_jit; XLA fuses a "
        "chain of element-wise operations into one pass over memory",
    )
    return checker(answer)


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


#: The fake computations' delays (seconds): a constant answer cannot tell them apart.
TIME_BLOCKED_DELAYS = (0.02, 0.2)
#: Tries before a measurement that does not separate the two delays counts as wrong
#: (a loaded machine can delay one measurement; a constant never separates them).
TIME_BLOCKED_TRIES = 3


def _time_blocked_once(student: Any) -> tuple[list[float], str | None]:
    measured: list[float] = []
    for delay in TIME_BLOCKED_DELAYS:
        made: list[_Pending] = []

        def slow_computation(x: Any, made: list[_Pending] = made, delay: float = delay) -> Any:
            made.append(_Pending(delay))
            return made[-1]

        seconds = student(slow_computation, 1.0)
        if seconds is Ellipsis:
            raise NotAttempted
        if isinstance(seconds, _Pending) or not isinstance(seconds, (int, float, np.floating)):
            return measured, f"expected the seconds taken (a float), got {describe(seconds)}"
        if len(made) != 1:
            return measured, f"fn was called {len(made)} times; time exactly one call"
        if seconds < 0.8 * delay:
            return measured, (
                f"on a computation that takes {delay} s it measured {float(seconds):.4f} s: that "
                "is the time to *dispatch* it; wait for the result inside the timed region"
            )
        measured.append(float(seconds))
    return measured, None


def _judge_time_blocked(student: Any) -> str | None:
    if not callable(student):
        return f"expected a function, got {describe(student)}"
    short, long = TIME_BLOCKED_DELAYS
    measured: list[float] = []
    for _ in range(TIME_BLOCKED_TRIES):
        measured, failure = _time_blocked_once(student)
        if failure is not None:
            return failure
        if measured[1] - measured[0] >= 0.5 * (long - short):
            return None
    return (
        f"computations taking {short} s and {long} s measured {measured[0]:.4f} s and "
        f"{measured[1]:.4f} s: return the time measured around the call, not a fixed number"
    )


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


_check_min_max_values = function_check(
    "min_max_batched",
    reference=basics.min_max_vmap,
    cases=_min_max_cases,
    hint="jax.vmap(min_max) maps over axis 0 (one row at a time): [B, D] → [B, 2]",
)


def _code_names(code: Any) -> tuple[set[str], bool]:
    """Names a code object (and the functions inside it) uses, and whether it passes ``axis=``."""
    names, axis = set(code.co_names), False
    for const in code.co_consts:
        if isinstance(const, tuple) and "axis" in const:
            axis = True  # keyword names of a call: f(..., axis=...)
        elif inspect.iscode(const):
            inner, inner_axis = _code_names(const)
            names |= inner
            axis |= inner_axis
    return names, axis


def _judge_min_max_batched(student: Any) -> str | None:
    if not callable(student):
        return f"expected a function, got {describe(student)}"
    target = student
    while hasattr(target, "__wrapped__"):  # jax.jit(f), jax.vmap(f), functools.wraps
        target = target.__wrapped__
    # Run it once with the notebook's min_max counted (a stub raises here: not attempted).
    namespace = getattr(target, "__globals__", {})
    given = namespace.get("min_max")
    calls = [0]
    if callable(given):

        def counted(x: Any) -> Any:
            calls[0] += 1
            return given(x)

        namespace["min_max"] = counted
    try:
        student(jnp.arange(15).reshape(3, 5))
    finally:
        if callable(given):
            namespace["min_max"] = given
    if target is not student and getattr(target, "__name__", "") == "min_max":
        return _check_min_max_values.judge(student)  # jax.vmap(min_max) itself
    code = getattr(target, "__code__", None)
    if code is not None:
        names, axis = _code_names(code)
        try:
            source = textwrap.dedent(inspect.getsource(target))
        except (OSError, TypeError):
            source = ""
        if axis or "axis" in source:
            return "the exercise asks for jax.vmap and min_max, without `axis=`"
        if "vmap" not in names and "vmap" not in source:
            return "use jax.vmap(min_max): no loop over the rows and no `axis=`"
        if "min_max" not in names:
            return "vectorise the given min_max with jax.vmap (min_max is not called)"
    if calls[0] > 1:
        return (
            f"min_max was called {calls[0]} times for 3 rows: jax.vmap(min_max) calls it "
            "once, on a traced row (a Python loop calls it once per row)"
        )
    return _check_min_max_values.judge(student)


check_min_max_batched = Checker(
    "min_max_batched",
    _judge_min_max_batched,
    basics.min_max_vmap,
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


# --- convolution theory -------------------------------------------------------------------


def _conv2d_cases() -> list[Case]:
    r = _rng(14)
    edge = np.array([[0, 0, 0, 9, 9, 9]] * 6, np.float32)[..., None]
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)[..., None, None]
    asym = np.array([[1, 2], [3, 4]], np.float32)[..., None, None]  # a flip changes it
    return [
        Case("a vertical edge, 6x6x1, with a 3x3 Sobel filter", (edge, sobel)),
        Case(
            "a random 5x5x1 with an asymmetric 2x2 kernel",
            (r.normal(size=(5, 5, 1)).astype(np.float32), asym),
        ),
        Case(
            "a random 7x6 RGB image, 3x3 kernel, 4 output channels",
            (
                r.normal(size=(7, 6, 3)).astype(np.float32),
                r.normal(size=(3, 3, 3, 4)).astype(np.float32),
            ),
        ),
        Case(
            "a random 8x8x2 image, 3x2 kernel, stride 2",
            (
                r.normal(size=(8, 8, 2)).astype(np.float32),
                r.normal(size=(3, 2, 2, 3)).astype(np.float32),
            ),
            {"stride": 2},
        ),
        Case(
            "a kernel as large as the image (one output pixel)",
            (
                r.normal(size=(3, 3, 2)).astype(np.float32),
                r.normal(size=(3, 3, 2, 1)).astype(np.float32),
            ),
        ),
    ]


check_conv2d = function_check(
    "conv2d",
    reference=models.conv2d,
    cases=_conv2d_cases,
    rtol=1e-4,
    atol=1e-4,
    hint="out[i, j, f] = sum(image[i*s : i*s + kh, j*s : j*s + kw, :] * kernel[:, :, :, f]); "
    "no flip of the kernel, no padding; the output is [(H − kh)//s + 1, (W − kw)//s + 1, F]",
)


def _channels_cases() -> list[Case]:
    r = _rng(15)
    return [
        Case("a batch of 2 RGB 4x5 images", (r.normal(size=(2, 4, 5, 3)).astype(np.float32),)),
        Case("one grey 3x3 image", (r.normal(size=(1, 3, 3, 1)).astype(np.float32),)),
        Case("3 images 2x6 with 4 channels", (r.normal(size=(3, 2, 6, 4)).astype(np.float32),)),
    ]


check_to_channels_first = function_check(
    "to_channels_first",
    reference=models.to_channels_first,
    cases=_channels_cases,
    hint="a transpose moves the axes without mixing values: jnp.transpose(images, (0, 3, 1, 2)); "
    "a reshape to [N, C, H, W] keeps the memory order and scrambles the pixels",
)

# --- the training loop ------------------------------------------------------------------


def _ce_cases() -> list[Case]:
    r = _rng(16)
    return [
        Case(
            "4 examples, 3 classes",
            (r.normal(size=(4, 3)).astype(np.float32), np.array([0, 2, 1, 2], np.int32)),
        ),
        Case(
            "10 classes (the 1/K of the original's mean would show)",
            (r.normal(size=(6, 10)).astype(np.float32), np.arange(6, dtype=np.int32)),
        ),
        Case(
            "large logits (softmax then log overflows to inf / nan)",
            (
                np.array([[1000.0, 0.0, -1000.0], [0.0, 800.0, 0.0]], np.float32),
                np.array([1, 1], np.int32),
            ),
        ),
    ]


check_cross_entropy = function_check(
    "cross_entropy",
    reference=train.cross_entropy,
    cases=_ce_cases,
    rtol=1e-4,
    atol=1e-4,
    hint="mean over the examples of −log_softmax(logits)[label]: jax.nn.log_softmax is stable "
    "where jnp.log(jax.nn.softmax(...)) is not; average over examples only, not over classes",
)


def _toy_problem(seed: int) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
    r = _rng(seed)
    params = {
        "w": jnp.asarray(r.normal(size=(5, 3)) * 0.1, jnp.float32),
        "b": jnp.zeros((3,), jnp.float32),
    }
    batch = {
        "image": jnp.asarray(r.normal(size=(8, 5)), jnp.float32),
        "label": jnp.asarray(r.integers(0, 3, size=8), jnp.int32),
    }
    return params, batch


def _toy_loss(traces: list[int]) -> Callable[[Any, Any, jax.Array], jax.Array]:
    """A softmax regression with dropout on its input; counts how often it is traced."""

    def loss_fn(params: Any, batch: Any, key: jax.Array) -> jax.Array:
        traces.append(1)  # a side effect: runs once per trace, not once per call
        keep = jax.random.bernoulli(key, 0.8, batch["image"].shape)
        x = jnp.where(keep, batch["image"] / 0.8, 0.0)
        return train.cross_entropy(x @ params["w"] + params["b"], batch["label"])

    return loss_fn


def _judge_make_step(student: Any) -> str | None:
    if not callable(student):
        return f"expected a function, got {describe(student)}"
    for name, optimizer in (
        ("optax.sgd(0.5)", optax.sgd(0.5)),
        ("optax.adam(0.1)", optax.adam(0.1)),
    ):
        traces: list[int] = []
        step = student(_toy_loss(traces), optimizer)
        if step is Ellipsis or step is None:
            raise NotAttempted
        if not callable(step):
            return f"make_step should return the step function, got {describe(step)}"
        reference = loop.make_step(_toy_loss([]), optimizer)
        params, batch = _toy_problem(17)
        ref_params, opt_state, ref_state = params, optimizer.init(params), optimizer.init(params)
        for i in range(3):
            key = jax.random.key(i)
            out = step(params, opt_state, batch, key)
            if not (isinstance(out, tuple) and len(out) == 3):
                return f"step should return (params, opt_state, loss), got {describe(out)}"
            params, opt_state, loss = out
            ref_params, ref_state, ref_loss = reference(ref_params, ref_state, batch, key)
            label = f"with {name}, step {i + 1}"
            if (why := mismatch(np.asarray(ref_loss), loss, rtol=1e-4, atol=1e-5)) is not None:
                return f"{label}, the returned loss (before the update): {why}"
            for leaf in ("w", "b"):
                got = params[leaf] if isinstance(params, dict) else params
                want = np.asarray(ref_params[leaf])
                if (why := mismatch(want, got, rtol=1e-4, atol=1e-5)) is not None:
                    return f"{label}, params[{leaf!r}]: {why}"
        if len(traces) != 1:
            return (
                f"the loss function ran {len(traces)} times in Python for 3 steps: the step is "
                "not compiled (wrap it in jax.jit, so it is traced once and reused)"
            )
    return None


check_make_step = Checker(
    "make_step",
    _judge_make_step,
    loop.make_step,
    time_limit=90.0,  # four compilations of a small model (more under a loaded machine)
    hint="@jax.jit def step(params, opt_state, batch, key): loss, grads = "
    "jax.value_and_grad(loss_fn)(params, batch, key); updates, opt_state = "
    "optimizer.update(grads, opt_state, params); return optax.apply_updates(params, updates), "
    "opt_state, loss",
)


def _run_recorded_epoch(
    student: Any, n: int, batch_size: int, key: jax.Array
) -> tuple[Any, list[dict[str, Any]]] | str:
    """Runs the student's epoch with a recording fake step; returns its output and the calls."""
    calls: list[dict[str, Any]] = []

    def fake_step(params: Any, opt_state: Any, batch: Any, step_key: Any) -> Any:
        calls.append({"batch": {k: np.asarray(v) for k, v in batch.items()}, "key": step_key})
        return params + 1, opt_state + 10, jnp.float32(np.mean(np.asarray(batch["x"])))

    data = {"x": np.arange(n, dtype=np.float32), "y": np.arange(n, dtype=np.int32) * 10}
    out = student(fake_step, 0, 0, data, batch_size, key)
    if out is Ellipsis or out is None:
        raise NotAttempted
    if not (isinstance(out, tuple) and len(out) == 3):
        return f"train_epoch should return (params, opt_state, mean_loss), got {describe(out)}"
    return out, calls


def _key_data(key: Any) -> bytes:
    return np.asarray(
        jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    ).tobytes()


def _judge_train_epoch(student: Any) -> str | None:
    if not callable(student):
        return f"expected a function, got {describe(student)}"
    orders = []
    for n, batch_size, seed in ((40, 8, 0), (23, 5, 1), (40, 8, 2), (40, 8, 0)):
        run = _run_recorded_epoch(student, n, batch_size, jax.random.key(seed))
        if isinstance(run, str):
            return run
        (params, opt_state, mean_loss), calls = run
        label = f"{n} examples, batch_size {batch_size}"
        steps = n // batch_size
        if len(calls) != steps:
            return (
                f"{label}: step was called {len(calls)} times, expected {steps} "
                "(N // batch_size: drop the last incomplete batch, so jit compiles once)"
            )
        sizes = {len(c["batch"]["x"]) for c in calls}
        if sizes != {batch_size}:
            return f"{label}: batches of sizes {sorted(sizes)}, expected {batch_size}"
        for c in calls:
            if not np.array_equal(c["batch"]["y"], c["batch"]["x"].astype(np.int32) * 10):
                return f"{label}: a batch's 'y' rows do not belong to its 'x' rows"
        seen = np.concatenate([c["batch"]["x"] for c in calls])
        if len(set(seen.tolist())) != len(seen):
            return f"{label}: an example was visited twice in one epoch"
        if np.array_equal(seen, np.arange(len(seen))):
            return f"{label}: the examples came in their stored order; shuffle them with the key"
        if params != steps or opt_state != 10 * steps:
            return (
                f"{label}: after {steps} steps expected the params and opt_state each step "
                "returned; pass the new ones to the next step and return the last ones"
            )
        losses = [float(np.mean(c["batch"]["x"])) for c in calls]
        if (why := mismatch(np.float32(np.mean(losses)), mean_loss, rtol=1e-4)) is not None:
            return f"{label}: the mean of the steps' losses: {why}"
        keys = {_key_data(c["key"]) for c in calls}
        if len(keys) != len(calls):
            return f"{label}: the same key was passed to several steps; split one key per step"
        orders.append(seen)
    if np.array_equal(orders[0], orders[2]):
        return "two different keys gave the same order: draw the permutation from the key"
    if not np.array_equal(orders[0], orders[3]):
        return "the same key gave two different orders: use only the key for randomness"
    return None


check_train_epoch = Checker(
    "train_epoch",
    _judge_train_epoch,
    loop.train_epoch,
    time_limit=60.0,
    hint="order_key, *step_keys = jax.random.split(key, steps + 1); order = "
    "jax.random.permutation(order_key, n); for each full batch: params, opt_state, loss = "
    "step(params, opt_state, batch, step_keys[i]); return params, opt_state, mean of the losses",
)

# --- quizzes ------------------------------------------------------------------------------

quiz_prng_reuse = choice_check(
    "prng_reuse",
    "You call jax.random.normal(key) twice with the same key. What do you get?",
    [
        "two different numbers: each call advances the generator",
        "the same number twice: a key is a value, not a generator with state",
        "an error: a key can be used only once",
    ],
    "b",
    "JAX's random functions are pure: same key in, same number out. Use jax.random.split "
    "to get new keys; reusing one by mistake silently correlates your 'random' draws.",
)
quiz_jit_side_effect = choice_check(
    "jit_side_effect",
    "A jitted function calls print(x) and appends x to a global list. You call it three "
    "times on float32 arrays of the same shape. How many times does it print?",
    ["three times", "once: the Python code runs only while tracing", "never"],
    "b",
    "jit runs the Python function once with tracers to record its operations; later calls "
    "with the same shapes and dtypes run the compiled code, which has no print and no append. "
    "It prints again only when a new shape or dtype makes jit retrace.",
)
quiz_channels_first = choice_check(
    "channels_first",
    "A batch of 8 RGB images of 32x32 pixels in the channels-first (NCHW) layout has shape:",
    ["(8, 32, 32, 3)", "(8, 3, 32, 32)", "(3, 8, 32, 32)", "(32, 32, 3, 8)"],
    "b",
    "N, C, H, W: PyTorch's default. JAX, Haiku and TensorFlow default to channels last, "
    "(8, 32, 32, 3); jax.lax.conv_general_dilated takes either through dimension_numbers.",
)
quiz_dense_blowup = choice_check(
    "dense_blowup",
    "One fully connected layer of 500 neurons takes 100x100 RGB images as input. How many "
    "parameters (weights and biases) does it have?",
    ["15,500", "5,000,500", "15,000,500", "45,000,000"],
    "c",
    "100·100·3 = 30,000 inputs, each connected to 500 units: 15,000,000 weights + 500 biases. "
    "A 3x3 convolution with 500 filters has 3·3·3·500 + 500 = 14,000, whatever the image size.",
)
quiz_receptive_field = choice_check(
    "receptive_field",
    "Three 3x3 convolutions, stride 1, are stacked. How many input pixels (per side) does "
    "one pixel of the third layer see?",
    ["3", "7", "9", "27"],
    "b",
    "Each 3x3 layer adds 2 pixels: 3, 5, 7. The same field as one 7x7 convolution with "
    "3·(9·C²) instead of 49·C² weights and two more non-linearities: why VGG and ResNet use 3x3.",
)
quiz_confidence_loss = choice_check(
    "confidence_loss",
    "Of a trained classifier's test images, which kind has the largest cross-entropy loss?",
    [
        "correct with high confidence",
        "correct with low confidence",
        "incorrect with high confidence",
        "incorrect with low confidence",
    ],
    "c",
    "The loss is −log p(true class). Confidently wrong means the true class got a tiny "
    "probability, so −log p is large (p = 0.01 gives 4.6); correct and confident is near 0.",
)
quiz_one_by_one = choice_check(
    "one_by_one",
    "What does a 1x1 convolution do?",
    [
        "nothing: it copies its input",
        "mixes the channels at each pixel, with the same weights everywhere",
        "averages each channel over the image",
        "halves the height and width",
    ],
    "b",
    "A 1x1 kernel sees one pixel, all channels: it is a dense layer C_in → C_out applied at "
    "every position. Networks use it to change the number of channels cheaply (Inception's "
    "bottlenecks, the fully convolutional net's classifier).",
)


check_cosine = _numpy_broadcasting(check_cosine)
check_relu_python = _numpy_broadcasting(check_relu_python)
check_relu = _numpy_broadcasting(check_relu)
check_first_derivative = _numpy_broadcasting(check_first_derivative)
check_third_derivative = _numpy_broadcasting(check_third_derivative)
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
check_conv2d = _numpy_broadcasting(check_conv2d)
check_to_channels_first = _numpy_broadcasting(check_to_channels_first)
check_cross_entropy = _numpy_broadcasting(check_cross_entropy)
check_make_step = _numpy_broadcasting(check_make_step)
check_train_epoch = _numpy_broadcasting(check_train_epoch)
