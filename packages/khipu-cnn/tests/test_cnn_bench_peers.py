"""benchmarks/bench_peers.py --scaling (issue 21, scaling curves): the LeNet swept over the
width is the package's LeNet at the default width. The option itself (offered, a bad
OUT_DIR refused before measuring) is tested for all three dense workloads in the repo's
tests/test_bench_scaling.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import jax
import numpy as np
import pytest
from khipu.cnn import build_model

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_peers.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("khipu_cnn_bench_peers", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def lenet_parameters(w: int) -> int:
    """conv 3x3 1→w, conv 3x3 w→2w, dense (2·2·2w)→4w, dense 4w→10 on 8x8 inputs."""
    return (9 * w + w) + (9 * w * 2 * w + 2 * w) + (8 * w * 4 * w + 4 * w) + (4 * w * 10 + 10)


def test_the_swept_lenet_is_the_packages_lenet_at_the_default_width(bench: ModuleType) -> None:
    images = np.random.default_rng(0).random((3, 8, 8, 1), np.float32)
    ref = build_model("lenet")
    ref_params, ref_state = ref.init(0, images)
    swept = bench.khipu_lenet(bench.WIDTH)
    params, _ = swept.init(0, images)
    shapes = jax.tree_util.tree_map(np.shape, params)
    assert shapes == jax.tree_util.tree_map(np.shape, ref_params)
    want, _ = ref.apply(ref_params, ref_state, None, images, False)
    got, _ = swept.apply(ref_params, ref_state, None, images, False)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
    for w in (bench.WIDTH, *bench.SCALING_WIDTHS):
        params, _ = bench.khipu_lenet(w).init(0, images)
        assert sum(int(np.size(p)) for p in jax.tree_util.tree_leaves(params)) == (
            lenet_parameters(w)
        )
    assert bench.WIDTH in bench.SCALING_WIDTHS  # the default point is on the width curve
