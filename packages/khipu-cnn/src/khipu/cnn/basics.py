"""JAX fundamentals, as functions that return what the practical demonstrates.

Each ``*_demo`` function runs one of the practical's experiments and returns
its observations as plain data (numbers, lists, booleans, messages), so the
notebook can print them, the CLI can write them to ``metrics.json`` and the
tests can check them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
from khipu.cnn.regression import linear_predict, mse
from matplotlib.figure import Figure

__all__ = [
    "array_semantics_demo",
    "async_dispatch_demo",
    "cosine",
    "derivatives_demo",
    "f_poly",
    "jit_control_flow_demo",
    "min_max",
    "min_max_axis",
    "min_max_loop",
    "min_max_vmap",
    "optax_fit",
    "plot_functions",
    "plot_timings",
    "prng_demo",
    "purity_demo",
    "relu",
    "relu_python",
    "selu",
    "speedups",
    "time_blocked",
    "timing_demo",
    "vmap_demo",
]


def array_semantics_demo() -> dict[str, Any]:
    """NumPy arrays are mutable; JAX arrays are immutable and updated with ``.at[].set``.

    Returns:
      ``numpy_after``: a NumPy array after ``a[0] = 10`` (changed in place);
      ``jax_error``: the error JAX raises for the same assignment;
      ``jax_original`` / ``jax_updated``: ``x`` and ``x.at[0].set(10)`` (``x`` unchanged).
    """
    a = np.arange(5)
    a[0] = 10
    x = jnp.arange(5)
    try:
        x[0] = 10
        error = ""
    except TypeError as exc:
        error = f"TypeError: {str(exc).splitlines()[0]}"
    y = x.at[0].set(10)
    return {
        "numpy_after": a.tolist(),
        "jax_error": error,
        "jax_original": np.asarray(x).tolist(),
        "jax_updated": np.asarray(y).tolist(),
    }


def prng_demo(seed: int = 0) -> dict[str, Any]:
    """NumPy's hidden, mutable generator state versus JAX's explicit keys.

    Returns:
      ``numpy_state_changed``: for three draws from a stateful NumPy generator,
      whether the hidden state changed (always true); ``numpy_samples``: three
      different numbers from the "same" call; ``jax_same_key_same_sample``:
      a key reused gives the same number; ``jax_split_differ``: keys from
      ``jax.random.split`` give different numbers.
    """
    rng = np.random.RandomState(seed)
    changed, samples = [], []
    for _ in range(3):
        before = rng.get_state()
        samples.append(float(rng.normal()))
        after = rng.get_state()
        changed.append(not all(np.array_equal(u, v) for u, v in zip(before, after, strict=True)))
    key = jax.random.key(seed)
    a, b = jax.random.normal(key), jax.random.normal(key)
    k1, k2 = jax.random.split(key)
    c, d = jax.random.normal(k1), jax.random.normal(k2)
    return {
        "numpy_state_changed": changed,
        "numpy_samples": samples,
        "jax_same_key_same_sample": bool(a == b),
        "jax_split_differ": bool(c != d),
        "jax_samples": [float(a), float(c), float(d)],
    }


def cosine(x: jax.Array) -> jax.Array:
    """``cos(x)`` element-wise with ``jax.numpy`` (exercise 1.1)."""
    return jnp.cos(x)


def relu_python(x: Any) -> Any:
    """ReLU with Python control flow: fine on numbers, fails under ``jit`` (exercise 1.2)."""
    if x > 0:
        return x
    return 0.0


def relu(x: jax.Array) -> jax.Array:
    """A jittable ReLU: ``jnp.maximum(x, 0)`` (exercise 1.3)."""
    return jnp.maximum(x, 0.0)


def selu(x: jax.Array, alpha: float = 1.67, scale: float = 1.05) -> jax.Array:
    """SELU: an element-wise function of several operations, which ``jit`` fuses."""
    return scale * jnp.where(x > 0, x, alpha * jnp.exp(x) - alpha)


def jit_control_flow_demo() -> dict[str, Any]:
    """Tracing: Python ``if`` on a traced value fails under ``jit``; ``jnp.where`` works.

    Returns:
      ``python_relu``: ``relu_python`` on -2 and 3 without ``jit``;
      ``jit_error``: the name of the error ``jit(relu_python)`` raises;
      ``jit_relu``: the jitted ``relu`` on ``[-2, 3]``.
    """
    try:
        jax.jit(relu_python)(jnp.float32(1.0))
        error = ""
    except jax.errors.TracerBoolConversionError as exc:
        error = type(exc).__name__
    return {
        "python_relu": [relu_python(-2.0), relu_python(3.0)],
        "jit_error": error,
        "jit_relu": np.asarray(jax.jit(relu)(jnp.array([-2.0, 3.0]))).tolist(),
    }


def f_poly(x: jax.Array) -> jax.Array:
    """The practical's ``f(x) = 6x⁴ − 9x + 4``."""
    return 6 * x**4 - 9 * x + 4


def derivatives_demo(x: float = 2.0) -> dict[str, float]:
    """``grad`` and higher-order derivatives of :func:`f_poly` at ``x``.

    At ``x = 2``: ``f = 82``, ``f′ = 24x³ − 9 = 183``, ``f″ = 72x² = 288``,
    ``f‴ = 144x = 288`` (exercises 1.4 and 1.5).
    """
    d1 = jax.grad(f_poly)
    d2 = jax.grad(d1)
    d3 = jax.grad(d2)
    value, slope = jax.value_and_grad(f_poly)(x)
    return {
        "f": float(value),
        "df": float(slope),
        "d2f": float(d2(x)),
        "d3f": float(d3(x)),
    }


def min_max(x: jax.Array) -> jax.Array:
    """``[min(x), max(x)]`` of a whole array."""
    return jnp.array([jnp.min(x), jnp.max(x)])


def min_max_loop(batched: jax.Array) -> jax.Array:
    """Per-row ``min_max`` with a Python loop (``[B, D]`` → ``[B, 2]``)."""
    return jnp.stack([min_max(row) for row in batched])


def min_max_axis(batched: jax.Array) -> jax.Array:
    """Per-row ``min_max`` vectorised by hand with ``axis=1``."""
    return jnp.stack([jnp.min(batched, axis=1), jnp.max(batched, axis=1)], axis=1)


def min_max_vmap(batched: jax.Array) -> jax.Array:
    """Per-row ``min_max`` by ``jax.vmap`` of the single-row function."""
    return jax.vmap(min_max)(batched)


def vmap_demo() -> dict[str, Any]:
    """Exercise 1.7: ``min_max`` on a ``[3, 5]`` batch without and with ``vmap``.

    Returns:
      ``min_max_of_batch``: ``[0, 14]`` (the whole array's extremes);
      ``vmap``: ``[[0, 4], [5, 9], [10, 14]]``; ``all_agree``: loop, axis and
      vmap versions give the same per-row result.
    """
    batched = jnp.arange(15).reshape(3, 5)
    per_row = [np.asarray(fn(batched)) for fn in (min_max_loop, min_max_axis, min_max_vmap)]
    return {
        "min_max_of_batch": np.asarray(min_max(batched)).tolist(),
        "vmap": per_row[2].tolist(),
        "all_agree": all(np.array_equal(per_row[0], p) for p in per_row[1:]),
    }


def purity_demo() -> dict[str, Any]:
    """Impure functions under ``jit``: side effects run only while tracing, and
    captured globals are frozen into the compiled function until it retraces.

    Returns:
      ``side_effects_per_call``: how many times the side effect had run after each
      of three calls (float, float, 1-element array): ``[1, 1, 2]``;
      ``global_results``: ``x + g`` for ``x = 4`` with ``g = 0``, then after
      setting ``g = 10`` (stale: still 4), then with a new input shape (retrace: 14).
    """
    calls: list[Any] = []

    def impure_side_effect(x: jax.Array) -> jax.Array:
        calls.append(x)  # a side effect, like the practical's print
        return x

    jitted = jax.jit(impure_side_effect)
    counts = []
    for arg in (jnp.float32(4.0), jnp.float32(5.0), jnp.array([5.0])):
        jitted(arg)
        counts.append(len(calls))

    config = {"g": 0.0}

    def impure_uses_globals(x: jax.Array) -> jax.Array:
        return x + config["g"]

    jit_globals = jax.jit(impure_uses_globals)
    first = float(jit_globals(jnp.float32(4.0)))
    config["g"] = 10.0
    second = float(jit_globals(jnp.float32(4.0)))
    third = float(jit_globals(jnp.array([4.0]))[0])
    return {"side_effects_per_call": counts, "global_results": [first, second, third]}


def time_blocked(fn: Callable[..., Any], *args: Any) -> float:
    """Seconds taken by one call ``fn(*args)``, *including* the wait for its result.

    JAX dispatches work asynchronously: ``fn(*args)`` returns as soon as the
    computation is queued. Timing it without ``jax.block_until_ready`` measures
    the dispatch, not the computation (exercise 1.6).
    """
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def async_dispatch_demo(size: int = 1000, seed: int = 0) -> dict[str, float]:
    """Asynchronous dispatch: a matrix product "returns" before it is computed.

    Returns:
      ``dispatch_seconds``: time until ``jnp.dot`` returns (the work is only queued);
      ``blocked_seconds``: time until the product is ready (``block_until_ready``).
    """
    a = jax.random.normal(kc.as_key(seed), (size, size))
    dot = jax.jit(jnp.dot)
    jax.block_until_ready(dot(a, a))  # compile first
    start = time.perf_counter()
    out = dot(a, a)
    dispatched = time.perf_counter() - start
    out.block_until_ready()
    ready = time.perf_counter() - start
    return {"dispatch_seconds": dispatched, "blocked_seconds": ready}


def optax_fit(
    params: Any,
    x: jax.Array,
    y: jax.Array,
    optimizer: optax.GradientTransformation,
    num_steps: int,
) -> Any:
    """``num_steps`` optax updates of a linear model on the mean squared error.

    The loop of the practical's ``train_model_optax``: gradient of the loss,
    ``optimizer.update`` (which also returns the optimizer's new state) and
    ``optax.apply_updates``.

    Args:
      params: ``{"w": [D], "b": []}``.
      x: inputs ``[N, D]``; y: targets ``[N]``.
      optimizer: any optax optimizer (``optax.sgd(0.1)``, ``optax.adam(0.05)``...).
      num_steps: the number of updates (0 returns ``params`` unchanged).

    Returns:
      The parameters after the updates.
    """

    def loss_fn(p: Any) -> jax.Array:
        return mse(linear_predict(p, x), y)

    opt_state = optimizer.init(params)
    for _ in range(num_steps):
        grads = jax.grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return params


def _speedup(slow: float, fast: float) -> float:
    return slow / fast if fast > 0 else float("inf")


def timing_demo(*, quick: bool = False, repeats: int = 5, seed: int = 0) -> dict[str, float]:
    """Wall-clock seconds (best of ``repeats``) of the practical's timing experiments.

    * NumPy vs JAX matrix product (1000x1000; 200x200 when ``quick``);
    * ReLU and SELU on 1,000,000 normals (100,000 when ``quick``), eager vs ``jit``;
    * per-row min/max on a 500x100 batch (50x100 when ``quick``): Python loop, ``jit`` of the loop,
      vectorised by hand (``axis=1``, jitted) and ``jit(vmap(min_max))``.

    Returns:
      ``time_<name>`` seconds for each variant.
    """
    n_dot, n_elem, rows = (200, 100_000, 50) if quick else (1000, 1_000_000, 500)
    k1, k2 = jax.random.split(kc.as_key(seed))
    a_np = np.asarray(jax.random.normal(k1, (n_dot, n_dot)))
    a_jx = jnp.asarray(a_np)
    x = jax.random.normal(k2, (n_elem,))
    batched = jnp.arange(rows * 100).reshape(rows, 100)

    def timed(fn: Callable[..., Any], *args: Any) -> float:
        return kc.time_call(fn, *args, repeats=repeats, warmup=1)

    return {
        "time_numpy_dot": timed(np.dot, a_np, a_np),
        "time_jax_dot": timed(jnp.dot, a_jx, a_jx),
        "time_relu": timed(relu, x),
        "time_relu_jit": timed(jax.jit(relu), x),
        "time_selu": timed(selu, x),
        "time_selu_jit": timed(jax.jit(selu), x),
        "time_min_max_loop": timed(min_max_loop, batched),
        "time_min_max_loop_jit": timed(jax.jit(min_max_loop), batched),
        "time_min_max_axis_jit": timed(jax.jit(min_max_axis), batched),
        "time_min_max_vmap_jit": timed(jax.jit(min_max_vmap), batched),
    }


def speedups(times: dict[str, float]) -> dict[str, float]:
    """Speed-up ratios (slow / fast) from :func:`timing_demo`'s timings."""
    return {
        "speedup_jax_dot_vs_numpy": _speedup(times["time_numpy_dot"], times["time_jax_dot"]),
        "speedup_relu_jit": _speedup(times["time_relu"], times["time_relu_jit"]),
        "speedup_selu_jit": _speedup(times["time_selu"], times["time_selu_jit"]),
        "speedup_vmap_vs_python_loop": _speedup(
            times["time_min_max_loop"], times["time_min_max_vmap_jit"]
        ),
        "speedup_vmap_vs_jit_loop": _speedup(
            times["time_min_max_loop_jit"], times["time_min_max_vmap_jit"]
        ),
        "speedup_vmap_vs_axis": _speedup(
            times["time_min_max_axis_jit"], times["time_min_max_vmap_jit"]
        ),
    }


def plot_timings(times: dict[str, float], *, path: str | None = None) -> Figure:
    """Bar chart of :func:`timing_demo`'s timings in milliseconds (log scale)."""
    labels = {k.removeprefix("time_").replace("_", " "): 1e3 * v for k, v in times.items()}
    return kc.plot_bars(
        labels,
        ylabel="milliseconds (best of runs, log scale)",
        log_y=True,
        title="NumPy vs JAX, eager vs jit, loop vs vmap",
        path=path,
    )


def plot_functions(*, path: str | None = None) -> Figure:
    """sin with NumPy and JAX, cos, ReLU and its derivative by ``jax.grad``."""
    fig = kc.new_figure(10, 3.2)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    xs = np.linspace(-np.pi, np.pi, 200)
    ax1.plot(xs, np.sin(xs), label="np.sin", lw=3, alpha=0.5)
    ax1.plot(xs, np.asarray(jnp.sin(jnp.asarray(xs))), "--", label="jnp.sin")
    ax1.legend()
    ax2.plot(xs, np.asarray(jnp.cos(jnp.asarray(xs))), label="jnp.cos")
    ax2.legend()
    grid = jnp.linspace(-3.0, 3.0, 201)
    ax3.plot(grid, relu(grid), label="relu")
    ax3.plot(grid, jax.vmap(jax.grad(relu))(grid), label="grad(relu)")
    ax3.legend()
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
    if path is not None:
        kc.save_figure(fig, path)
    return fig
