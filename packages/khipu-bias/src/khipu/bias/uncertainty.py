"""Bootstrap confidence intervals for any effect size over word sets.

An effect size computed on a few dozen words depends on which words were chosen. The
bootstrap resamples **words within each set** with replacement (the sets keep their
sizes), recomputes the statistic on every resample -- all at once with ``jax.vmap`` -- and
reads the interval from the percentiles of the resampled values (Efron's percentile
interval). Seeded: one key gives the same interval on every run.

This is a different question from the permutation p-value: the p-value asks whether the
association could come from an arbitrary split of the targets; the interval shows how
much the effect size would move with other, equally reasonable word lists.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np

Array = jax.Array
MAX_BOOTSTRAP = 100_000


class BootstrapCI(NamedTuple):
    """A statistic with its percentile bootstrap interval.

    Attributes:
      value: the statistic on the original sets.
      low, high: the interval's ends (NaN when too few resamples were finite).
      level: the interval's coverage (0.95).
      n_resamples: resamples drawn; n_finite: those with a finite statistic (a resample
        of identical words can make a spread 0 and the statistic undefined).
      samples: the resampled statistics ``[n_resamples]``.
    """

    value: float
    low: float
    high: float
    level: float
    n_resamples: int
    n_finite: int
    samples: np.ndarray

    def as_dict(self, name: str) -> dict[str, float | int]:
        """``{name: value, name_ci_low: ..., name_ci_high: ...}`` for ``metrics.json``."""
        return {
            name: self.value,
            f"{name}_ci_low": self.low,
            f"{name}_ci_high": self.high,
            f"{name}_ci_finite": self.n_finite,
        }


def resample_indices(key: Array, sizes: Sequence[int], n_resamples: int) -> list[Array]:
    """For each set size n, indices ``[n_resamples, n]`` drawn uniformly with replacement."""
    keys = jax.random.split(key, len(sizes))
    return [jax.random.randint(k, (n_resamples, n), 0, n) for k, n in zip(keys, sizes, strict=True)]


def bootstrap_samples(
    statistic: Callable[..., Array],
    sets: Sequence[Array],
    key: Array,
    n_resamples: int,
    *,
    with_key: bool = False,
) -> Array:
    """The statistic on ``n_resamples`` resamples of the sets ``[n_resamples]``.

    Args:
      statistic: ``f(*sets) -> scalar`` (or ``f(*sets, key)`` when ``with_key``), pure JAX.
      sets: arrays whose first axis indexes words ``[N_i, ...]`` (a set of pairs
        ``[P, 2, D]`` resamples whole pairs).
      key: PRNG key.
      n_resamples: how many resamples.
      with_key: pass each resample its own key (for randomised statistics such as RNSB).
    """
    k_idx, k_stat = jax.random.split(key)
    idx = resample_indices(k_idx, [len(s) for s in sets], n_resamples)
    run = _vmapped(statistic, with_key)
    return jnp.asarray(run(list(sets), idx, jax.random.split(k_stat, n_resamples)))


@functools.lru_cache(maxsize=64)
def _vmapped(statistic: Callable[..., Array], with_key: bool) -> Callable[..., Array]:
    """One jitted, vmapped resampler per statistic (compiled once per set of shapes)."""

    def one(sets: list[Array], rows: list[Array], k: Array) -> Array:
        picked = [s[r] for s, r in zip(sets, rows, strict=True)]
        return statistic(*picked, k) if with_key else statistic(*picked)

    return jax.jit(jax.vmap(one, in_axes=(None, 0, 0)))


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float, int]:
    """``(low, high, n_finite)``: the percentile interval of the finite samples."""
    finite = np.asarray(samples, np.float64)
    finite = finite[np.isfinite(finite)]
    if len(finite) < 2:
        return float("nan"), float("nan"), len(finite)
    alpha = (1 - level) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return float(low), float(high), len(finite)


def bootstrap_ci(
    statistic: Callable[..., Array],
    sets: Sequence[Array],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    with_key: bool = False,
    value: float | None = None,
) -> BootstrapCI:
    """The statistic and its percentile bootstrap interval, resampling words within sets.

    Args:
      statistic: ``f(*sets) -> scalar`` (pure JAX, vmappable).
      sets: the word-vector sets ``[N_i, D]`` (or ``[P, 2, D]`` for pairs).
      n_resamples: resamples (at most 10^5).
      seed: the resampling seed.
      level: coverage of the interval, in (0, 1).
      with_key: see :func:`bootstrap_samples`.
      value: the statistic on the original sets, if already known (else computed; a
        randomised statistic gets the key of seed ``seed``).

    Raises:
      KhipuError: bad ``n_resamples`` or ``level``.
    """
    if not 1 <= n_resamples <= MAX_BOOTSTRAP:
        raise kc.KhipuError(
            f"the bootstrap takes 1 to {MAX_BOOTSTRAP} resamples, got {n_resamples}"
        )
    if not 0 < level < 1:
        raise kc.KhipuError(f"the interval's level must be in (0, 1), got {level}")
    key = jax.random.key(seed)
    if value is None:
        arrays = [jnp.asarray(s) for s in sets]
        value = float(statistic(*arrays, key) if with_key else statistic(*arrays))
    samples = np.asarray(
        bootstrap_samples(
            statistic, [jnp.asarray(s) for s in sets], key, n_resamples, with_key=with_key
        )
    )
    low, high, n_finite = percentile_interval(samples, level)
    return BootstrapCI(float(value), low, high, level, n_resamples, n_finite, samples)
