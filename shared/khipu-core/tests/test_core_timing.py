"""Timing helpers: interleaved medians call every contender in turn."""

import khipu.core as kc
import pytest
from khipu.core import timing


def test_interleaved_medians_alternates_the_contenders_and_takes_medians() -> None:
    calls: list[str] = []
    clock = iter([0.0, 1.0, 1.0, 1.5, 2.0, 5.0, 5.0, 5.5, 6.0, 8.0, 8.0, 8.5])

    def fake_perf_counter() -> float:
        return next(clock)

    mp = pytest.MonkeyPatch()
    mp.setattr(timing.time, "perf_counter", fake_perf_counter)
    try:
        medians = kc.interleaved_medians(
            {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3
        )
    finally:
        mp.undo()
    assert calls == ["a", "b"] * 3
    # a took 1, 3, 2 seconds; b took 0.5 each time
    assert medians == {"a": 2.0, "b": 0.5}


def test_interleaved_medians_needs_a_repeat() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        kc.interleaved_medians({"a": lambda: None}, repeats=0)
