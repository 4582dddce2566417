"""Timing helpers: interleaved medians call every contender in turn; scaling sweeps
(time vs a setting, khipu against a peer) written as JSON and PNG."""

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import khipu.core as kc
import numpy as np
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


class FakeClock:
    """``time.perf_counter`` stand-in that advances only when a fake workload 'runs'."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def work(self, seconds: float) -> Callable[[], None]:
        def run() -> None:
            self.now += seconds

        return run


def khipu_cost(width: int, batch: int) -> float:
    return width * batch * 1e-6


def peer_cost(width: int, batch: int) -> float:
    return 2e-3 + 0.5 * width * batch * 1e-6  # fixed overhead + half the work


def sweep_with_fake_clock(
    monkeypatch: pytest.MonkeyPatch, builds: list[dict[str, int]], calls: list[str]
) -> kc.ScalingSweep:
    clock = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    loads = iter([(3.0, 2.5, 2.0), (4.0, 3.5, 3.0)])
    monkeypatch.setattr(timing.os, "getloadavg", lambda: next(loads))

    def build(settings: Mapping[str, int]) -> kc.SweepCase:
        builds.append(dict(settings))
        w, b = settings["width"], settings["batch"]
        khipu, peer = clock.work(khipu_cost(w, b)), clock.work(peer_cost(w, b))

        def khipu_call() -> None:
            calls.append("khipu")
            khipu()

        def peer_call() -> None:
            calls.append("peer")
            peer()

        return kc.SweepCase({"khipu": khipu_call, "peer": peer_call}, {"params": 10 * w})

    return kc.scaling_sweep(
        {"width": 32, "batch": 128},
        {"width": [16, 32, 64], "batch": [64, 128, 256]},
        build,
        repeats=3,
        warmup=2,
    )


def test_scaling_sweep_varies_one_setting_at_a_time_and_measures_shared_defaults_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builds: list[dict[str, int]] = []
    calls: list[str] = []
    sweep = sweep_with_fake_clock(monkeypatch, builds, calls)
    # the default configuration (32, 128) is on both axes but built once
    assert builds == [
        {"width": 16, "batch": 128},
        {"width": 32, "batch": 128},
        {"width": 64, "batch": 128},
        {"width": 32, "batch": 64},
        {"width": 32, "batch": 256},
    ]
    # per configuration: 2 untimed warm-up rounds, then 3 interleaved timed rounds
    assert calls == ["khipu", "peer"] * (5 * 5)
    assert [(p.axis, p.settings) for p in sweep.points] == [
        ("width", {"width": 16, "batch": 128}),
        ("width", {"width": 32, "batch": 128}),
        ("width", {"width": 64, "batch": 128}),
        ("batch", {"width": 32, "batch": 64}),
        ("batch", {"width": 32, "batch": 128}),
        ("batch", {"width": 32, "batch": 256}),
    ]
    for point in sweep.points:
        w, b = point.settings["width"], point.settings["batch"]
        assert point.seconds["khipu"] == pytest.approx(khipu_cost(w, b))
        assert point.seconds["peer"] == pytest.approx(peer_cost(w, b))
        assert point.info == {"params": 10 * w}
    assert sweep.load_before == (3.0, 2.5, 2.0)
    assert sweep.load_after == (4.0, 3.5, 3.0)
    assert (sweep.repeats, sweep.warmup) == (3, 2)


def test_scaling_report_json_and_figure_are_written_into_the_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sweep = sweep_with_fake_clock(monkeypatch, [], [])
    report = kc.scaling_report(
        sweep,
        baseline="khipu",
        title="fake step",
        axis_labels={"width": "channels", "batch": "batch size"},
        versions={"jax": "0.0.1", "torch": "9.9"},
        notes={"workload": "a clock"},
    )
    out = tmp_path / "new" / "folder"
    json_path, png_path = kc.save_scaling_report(report, out, "khipu-fake_scaling")
    assert (json_path, png_path) == (
        out / "khipu-fake_scaling.json",
        out / "khipu-fake_scaling.png",
    )
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "khipu-fake_scaling.json",
        "khipu-fake_scaling.png",
    ]  # no temporary file left, nothing outside the folder
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    saved = json.loads(json_path.read_text())
    assert saved["baseline"] == "khipu"
    assert saved["contenders"] == ["khipu", "peer"]
    assert saved["defaults"] == {"width": 32, "batch": 128}
    assert saved["load_average"] == {"before": [3.0, 2.5, 2.0], "after": [4.0, 3.5, 3.0]}
    assert saved["versions"] == {"jax": "0.0.1", "torch": "9.9"}
    assert saved["notes"] == {"workload": "a clock"}
    assert (saved["repeats"], saved["warmup"]) == (3, 2)
    assert [entry["name"] for entry in saved["axes"]] == ["width", "batch"]
    for entry, axis, label, values in zip(
        saved["axes"],
        ("width", "batch"),
        ("channels", "batch size"),
        ([16, 32, 64], [64, 128, 256]),
        strict=True,
    ):
        assert entry["label"] == label
        assert entry["values"] == values
        settings = [{"width": 32, "batch": 128, axis: v} for v in values]
        assert entry["settings"] == settings
        assert entry["info"] == [{"params": 10 * s["width"]} for s in settings]
        khipu = [khipu_cost(s["width"], s["batch"]) for s in settings]
        peer = [peer_cost(s["width"], s["batch"]) for s in settings]
        assert entry["seconds"]["khipu"] == pytest.approx(khipu)
        assert entry["seconds"]["peer"] == pytest.approx(peer)
        assert entry["ratio_to_baseline"] == {
            "peer": pytest.approx([p / k for p, k in zip(peer, khipu, strict=True)])
        }
        assert "khipu" not in entry["ratio_to_baseline"]

    fig = kc.plot_scaling(saved)
    top_width, top_batch, ratio_width, ratio_batch = fig.get_axes()
    assert [line.get_label() for line in top_width.get_lines()][:2] == ["khipu", "peer"]
    assert top_width.get_xscale() == top_width.get_yscale() == "log"
    assert np.asarray(top_batch.get_lines()[1].get_xdata()).tolist() == [64, 128, 256]
    drawn = np.asarray(ratio_batch.get_lines()[0].get_ydata()).tolist()
    assert drawn == pytest.approx(saved["axes"][1]["ratio_to_baseline"]["peer"])
    texts = [t.get_text() for t in ratio_width.texts]
    assert texts == [f"{r:.2f}" for r in saved["axes"][0]["ratio_to_baseline"]["peer"]] + [
        "above 1: khipu faster"
    ]


def test_scaling_sweep_rejects_bad_settings() -> None:
    def build(settings: Mapping[str, int]) -> kc.SweepCase:
        return kc.SweepCase({"khipu": lambda: None})

    with pytest.raises(ValueError, match="not among the default"):
        kc.scaling_sweep({"width": 1}, {"depth": [1]}, build, repeats=1)
    with pytest.raises(ValueError, match="no values"):
        kc.scaling_sweep({"width": 1}, {"width": []}, build, repeats=1)
    with pytest.raises(ValueError, match="warmup"):
        kc.scaling_sweep({"width": 1}, {"width": [1]}, build, repeats=1, warmup=0)

    def changing(settings: Mapping[str, int]) -> kc.SweepCase:
        return kc.SweepCase({f"v{settings['width']}": lambda: None})

    with pytest.raises(ValueError, match="contenders"):
        kc.scaling_sweep({"width": 1}, {"width": [1, 2]}, changing, repeats=1)
    sweep = kc.scaling_sweep({"width": 1}, {"width": [1]}, build, repeats=1)
    with pytest.raises(ValueError, match="baseline 'jax'"):
        kc.scaling_report(sweep, baseline="jax", title="t")


def test_scaling_report_paths_fail_before_writing_and_keep_old_files(tmp_path: Path) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("keep")
    with pytest.raises(kc.KhipuError, match="is a file"):
        kc.scaling_report_paths(a_file, "x")
    with pytest.raises(kc.KhipuError, match="is a file"):
        kc.scaling_report_paths(a_file / "below", "x")
    for stem in ("../x", "a/b", "", ".."):
        with pytest.raises(ValueError, match="plain name"):
            kc.scaling_report_paths(tmp_path, stem)
    (tmp_path / "x.png").mkdir()
    with pytest.raises(kc.KhipuError, match="is a folder"):
        kc.scaling_report_paths(tmp_path, "x")
    # a report that cannot be drawn writes nothing: the previous files stay as they were
    (tmp_path / "y.json").write_text("old")
    with pytest.raises(KeyError):
        kc.save_scaling_report({"axes": []}, tmp_path, "y")
    assert (tmp_path / "y.json").read_text() == "old"
    assert not (tmp_path / "y.png").exists()
    assert a_file.read_text() == "keep"
