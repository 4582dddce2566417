"""benchmarks/bench_peers.py --scaling (issue 21, scaling curves): the option is offered, and
an OUT_DIR that cannot be written fails at once (one line, before anything is built,
measured or written). The peer side needs the `peers` environment and is not tested here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_peers.py"
STEM = "khipu-diffusion_scaling"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("khipu_diffusion_bench_peers", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # NamedTuple needs its module registered
    spec.loader.exec_module(module)
    return module


def test_scaling_option_is_offered(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--scaling OUT_DIR" in out


def test_scaling_into_a_file_fails_before_measuring(
    bench: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*args: object) -> None:
        raise AssertionError("measured although OUT_DIR cannot be written")

    monkeypatch.setattr(bench, "scaling", never)
    a_file = tmp_path / "a_file"
    a_file.write_text("keep")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / f"{STEM}.png").mkdir()  # a folder where the figure would go
    for out, message in (
        (a_file, "is a file, not a folder"),
        (a_file / "below", "is a file, not a folder"),
        (tmp_path / "out", "is a folder"),
    ):
        with pytest.raises(SystemExit) as exc:
            bench.main(["--scaling", str(out)])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["a_file", "out", f"{STEM}.png"])
    assert a_file.read_text() == "keep"
    assert bench.WIDTH in bench.SCALING_WIDTHS  # the default point is on the width curve
