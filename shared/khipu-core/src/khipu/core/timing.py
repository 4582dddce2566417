"""Wall-clock timing of JAX calls that waits for the asynchronous result."""

from __future__ import annotations

import time
from collections.abc import Callable
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
