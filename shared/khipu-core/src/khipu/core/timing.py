"""Wall-clock timing of JAX calls that waits for the asynchronous result, and
interleaved comparisons of contenders (khipu against a peer library), one
configuration or a sweep of them (time vs width, time vs batch)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple

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


class SweepCase(NamedTuple):
    """The contenders of one configuration of a :func:`scaling_sweep`.

    Attributes:
      fns: contender name -> thunk running one workload call (e.g. one train step) and
        blocking until its result is ready.
      info: what to record beside the times (parameter counts...), JSON values.
    """

    fns: Mapping[str, Callable[[], object]]
    info: Mapping[str, Any] = MappingProxyType({})


class SweepPoint(NamedTuple):
    """One measured configuration of a :func:`scaling_sweep`.

    Attributes:
      axis: the setting this point varies (``"width"``, ``"batch"``).
      settings: every setting of the configuration (the defaults but ``axis``).
      seconds: contender -> median seconds of one call.
      info: the :attr:`SweepCase.info` of the configuration.
    """

    axis: str
    settings: dict[str, int]
    seconds: dict[str, float]
    info: dict[str, Any]


class ScalingSweep(NamedTuple):
    """What :func:`scaling_sweep` measured, with the conditions of the measurement.

    Attributes:
      defaults: the settings every axis starts from.
      points: one per (axis, value), in the order of ``axes``.
      repeats: interleaved repeats per configuration (medians of that many calls).
      warmup: untimed calls of each contender before timing (compilation excluded).
      load_before, load_after: ``os.getloadavg()`` (1, 5, 15 minutes) around the sweep.
      wall_seconds: the sweep's duration, building and compiling included.
    """

    defaults: dict[str, int]
    points: list[SweepPoint]
    repeats: int
    warmup: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    wall_seconds: float


def scaling_sweep(
    defaults: Mapping[str, int],
    axes: Mapping[str, Sequence[int]],
    build: Callable[[Mapping[str, int]], SweepCase],
    *,
    repeats: int,
    warmup: int = 2,
    log: Callable[[str], None] | None = None,
) -> ScalingSweep:
    """Times every contender over one setting at a time, the others at their defaults.

    For each axis and each of its values, ``build({**defaults, axis: value})`` makes the
    contenders (e.g. khipu's train step and a peer's at that width or batch size); each
    is called ``warmup`` times untimed (compilation excluded), then all are timed with
    :func:`interleaved_medians`. A configuration that two axes share (the defaults) is
    built and measured once. The cases are dropped after their measurement, so one
    configuration's models are alive at a time.

    Args:
      defaults: setting -> value, e.g. ``{"width": 32, "batch": 128}``.
      axes: setting -> the values to sweep it over (keys among ``defaults``).
      build: makes the :class:`SweepCase` of one configuration; every case must name the
        same contenders.
      repeats: timed calls of each contender per configuration.
      warmup: untimed calls of each contender first (at least 1).
      log: called with one line per measured configuration (``print`` to follow along).

    Raises:
      ValueError: an axis that is not a default setting or has no values, ``warmup`` or
        ``repeats`` below 1, or cases that name different contenders.
    """
    unknown = sorted(set(axes) - set(defaults))
    if unknown:
        raise ValueError(f"axes {unknown} are not among the default settings {sorted(defaults)}")
    empty = sorted(name for name, values in axes.items() if not values)
    if empty:
        raise ValueError(f"axes {empty} have no values")
    if warmup < 1:
        raise ValueError(f"warmup must be at least 1 (compilation excluded), got {warmup}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    load_before = os.getloadavg()
    start = time.perf_counter()
    measured: dict[tuple[tuple[str, int], ...], tuple[dict[str, float], dict[str, Any]]] = {}
    names: list[str] | None = None
    points: list[SweepPoint] = []
    for axis, values in axes.items():
        for value in values:
            settings = {**defaults, axis: int(value)}
            key = tuple(sorted(settings.items()))
            if key not in measured:
                measured[key] = _measure(build, settings, names, repeats, warmup)
                names = list(measured[key][0])
                if log is not None:
                    times = ", ".join(f"{n} {s * 1e3:.2f} ms" for n, s in measured[key][0].items())
                    log(f"{settings}: {times}")
            seconds, info = measured[key]
            points.append(SweepPoint(axis, settings, dict(seconds), dict(info)))
    return ScalingSweep(
        defaults=dict(defaults),
        points=points,
        repeats=repeats,
        warmup=warmup,
        load_before=load_before,
        load_after=os.getloadavg(),
        wall_seconds=time.perf_counter() - start,
    )


def _measure(
    build: Callable[[Mapping[str, int]], SweepCase],
    settings: dict[str, int],
    names: list[str] | None,
    repeats: int,
    warmup: int,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Medians and info of one configuration (its case is dropped on return)."""
    case = build(settings)
    if names is not None and list(case.fns) != names:
        raise ValueError(f"contenders {list(case.fns)} at {settings}, {names} before")
    for _ in range(warmup):
        for fn in case.fns.values():
            fn()
    return interleaved_medians(case.fns, repeats), dict(case.info)


def scaling_report(
    sweep: ScalingSweep,
    *,
    baseline: str,
    title: str,
    axis_labels: Mapping[str, str] | None = None,
    versions: Mapping[str, str] | None = None,
    notes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The sweep as a JSON-ready report, with every contender's time over ``baseline``'s.

    The report is what :func:`khipu.core.plot_scaling` draws and
    :func:`khipu.core.save_scaling_report` writes:

    ``{"title", "baseline", "contenders", "defaults", "repeats", "warmup",
    "load_average": {"before", "after"}, "wall_seconds", "cpus", "created",
    "versions", "notes", "axes": [{"name", "label", "values", "settings",
    "seconds": {name: [...]}, "ratio_to_baseline": {other name: [...]}, "info": [...]}]}``

    with one ``axes`` entry per swept setting, in the sweep's order; the lists in an
    entry run over the setting's values, and ``ratio_to_baseline`` is
    ``seconds[name] / seconds[baseline]`` (above 1: the baseline is faster).

    Args:
      sweep: from :func:`scaling_sweep`.
      baseline: the contender the others are divided by (``"khipu"``).
      title: what was measured, for the figure (``"LeNet train step, digits 8x8"``).
      axis_labels: axis -> label with its unit (default: the axis name).
      versions: library name -> version (see :func:`khipu.core.package_versions`).
      notes: anything else to keep with the numbers (JSON values).

    Raises:
      ValueError: ``baseline`` is not a contender of the sweep.
    """
    contenders = list(sweep.points[0].seconds) if sweep.points else []
    if baseline not in contenders:
        raise ValueError(f"baseline {baseline!r} is not among the contenders {contenders}")
    labels = dict(axis_labels or {})
    axes: dict[str, dict[str, Any]] = {}
    for point in sweep.points:
        entry = axes.setdefault(
            point.axis,
            {
                "name": point.axis,
                "label": labels.get(point.axis, point.axis),
                "values": [],
                "settings": [],
                "seconds": {name: [] for name in contenders},
                "ratio_to_baseline": {name: [] for name in contenders if name != baseline},
                "info": [],
            },
        )
        entry["values"].append(point.settings[point.axis])
        entry["settings"].append(point.settings)
        entry["info"].append(point.info)
        for name in contenders:
            entry["seconds"][name].append(point.seconds[name])
            if name != baseline:
                entry["ratio_to_baseline"][name].append(
                    point.seconds[name] / point.seconds[baseline]
                )
    return {
        "title": title,
        "baseline": baseline,
        "contenders": contenders,
        "defaults": sweep.defaults,
        "repeats": sweep.repeats,
        "warmup": sweep.warmup,
        "load_average": {"before": list(sweep.load_before), "after": list(sweep.load_after)},
        "wall_seconds": sweep.wall_seconds,
        "cpus": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": dict(versions or {}),
        "notes": dict(notes or {}),
        "axes": list(axes.values()),
    }
