"""``benchmarks/bench_peers.py --scaling OUT_DIR`` of the three dense workloads (issue 21,
scaling curves): the option is offered, the default point lies on the width curve, and an
OUT_DIR that cannot be written fails at once (one argparse line, before anything is built,
measured or written). The peer side needs the ``peers`` environment and is not run here;
what each benchmark builds is tested in its package (e.g. the cnn's swept LeNet)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ("cnn", "transformer", "diffusion")
# what measures: replaced by a function that fails the test if it is reached
MEASURES = {
    "cnn": ("scaling", "train_steps"),
    "transformer": ("scaling",),
    "diffusion": ("scaling",),
}


def load_bench(topic: str) -> ModuleType:
    """``packages/khipu-<topic>/benchmarks/bench_peers.py`` as a module (not installed)."""
    pytest.importorskip(f"khipu.{topic}")
    path = ROOT / "packages" / f"khipu-{topic}" / "benchmarks" / "bench_peers.py"
    spec = importlib.util.spec_from_file_location(f"khipu_{topic}_bench_peers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # NamedTuple needs its module registered
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("topic", TOPICS)
def test_scaling_option_is_offered(topic: str, capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench(topic)
    with pytest.raises(SystemExit) as exc:
        bench.main(["--help"])
    assert exc.value.code == 0
    assert "--scaling OUT_DIR" in capsys.readouterr().out
    assert bench.WIDTH in bench.SCALING_WIDTHS  # the default point is on the width curve


@pytest.mark.parametrize("topic", TOPICS)
def test_scaling_into_a_file_fails_before_measuring(
    topic: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bench = load_bench(topic)

    def never(*args: object) -> None:
        raise AssertionError("measured although OUT_DIR cannot be written")

    for name in MEASURES[topic]:
        monkeypatch.setattr(bench, name, never)
    stem = f"khipu-{topic}_scaling"
    a_file = tmp_path / "a_file"
    a_file.write_text("keep")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / f"{stem}.png").mkdir()  # a folder where the figure would go
    for out, message in (
        (a_file, "is a file, not a folder"),
        (a_file / "below", "is a file, not a folder"),
        (tmp_path / "out", "is a folder"),
    ):
        with pytest.raises(SystemExit) as exc:
            bench.main(["--scaling", str(out)])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["a_file", "out", f"{stem}.png"])
    assert a_file.read_text() == "keep"
