"""benchmarks/bench_peers.py --scaling (issue 21, scaling curves): the option is offered, an
OUT_DIR that cannot be written fails at once (one line, before anything is measured or
written), and the LeNet swept over the width is the package's LeNet at the default width."""

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


def test_scaling_option_is_offered(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(["--help"])
    assert exc.value.code == 0
    assert "--scaling OUT_DIR" in capsys.readouterr().out


def test_scaling_into_a_file_fails_before_measuring(
    bench: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*args: object) -> None:
        raise AssertionError("measured although OUT_DIR cannot be written")

    monkeypatch.setattr(bench, "scaling", never)
    monkeypatch.setattr(bench, "train_steps", never)
    a_file = tmp_path / "a_file"
    a_file.write_text("keep")
    for out in (a_file, a_file / "below"):
        with pytest.raises(SystemExit) as exc:
            bench.main(["--scaling", str(out)])
        assert exc.value.code == 2
        assert "is a file, not a folder" in capsys.readouterr().err.strip().splitlines()[-1]
    assert [p.name for p in tmp_path.iterdir()] == ["a_file"]
    assert a_file.read_text() == "keep"


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
