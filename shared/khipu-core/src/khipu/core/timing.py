"""Wall-clock timing of JAX calls that waits for the asynchronous result."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax


def time_call(fn: Callable[..., Any], *args: Any, repeats: int = 5, warmup: int = 1) -> float:
    """Best-of-``repeats`` seconds for ``fn(*args)``, blocking until results are ready.

    ``warmup`` calls run first (and are not timed) so compilation is excluded.
    """
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def interleaved_medians(fns: Mapping[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each thunk, the thunks called in turn ``repeats`` times.

    Interleaving spreads a shared machine's load evenly over the contenders, so the
    ratio of two medians is fairer than two back-to-back timings. Each thunk must
    block until its result is ready (``jax.block_until_ready`` / ``loss.item()``) and
    should have been called once before, so that compilation is excluded.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}
