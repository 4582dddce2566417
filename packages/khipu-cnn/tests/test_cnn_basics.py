"""JAX fundamentals: each demonstration returns what the practical teaches."""

from __future__ import annotations

import numpy as np
from khipu.cnn import basics


def test_array_semantics():
    out = basics.array_semantics_demo()
    assert out["numpy_after"] == [10, 1, 2, 3, 4]
    assert out["jax_error"].startswith("TypeError")
    assert out["jax_original"] == [0, 1, 2, 3, 4]
    assert out["jax_updated"] == [10, 1, 2, 3, 4]


def test_prng():
    out = basics.prng_demo(0)
    assert out["numpy_state_changed"] == [True, True, True]
    assert len(set(out["numpy_samples"])) == 3
    assert out["jax_same_key_same_sample"] and out["jax_split_differ"]
    assert basics.prng_demo(0) == out


def test_jit_control_flow_and_relu():
    out = basics.jit_control_flow_demo()
    assert out["python_relu"] == [0.0, 3.0]
    assert out["jit_error"] == "TracerBoolConversionError"
    assert out["jit_relu"] == [0.0, 3.0]


def test_derivatives_match_the_power_rule():
    assert basics.derivatives_demo(2.0) == {"f": 82.0, "df": 183.0, "d2f": 288.0, "d3f": 288.0}
    x = 1.5
    d = basics.derivatives_demo(x)
    assert d["df"] == 24 * x**3 - 9 and d["d3f"] == 144 * x


def test_vmap_exercise():
    out = basics.vmap_demo()
    assert out["min_max_of_batch"] == [0, 14]
    assert out["vmap"] == [[0, 4], [5, 9], [10, 14]]
    assert out["all_agree"]


def test_purity():
    out = basics.purity_demo()
    assert out["side_effects_per_call"] == [1, 1, 2]
    assert out["global_results"] == [4.0, 4.0, 14.0]


def test_timings_are_measured_and_speedups_computed():
    times = basics.timing_demo(quick=True, repeats=1)
    assert all(np.isfinite(v) and v > 0 for v in times.values())
    ratios = basics.speedups(times)
    assert ratios["speedup_vmap_vs_python_loop"] == (
        times["time_min_max_loop"] / times["time_min_max_vmap_jit"]
    )
    fig = basics.plot_timings(times)
    assert len(fig.axes[0].patches) == len(times)
