import json
from pathlib import Path

import khipu.core as kc
import numpy as np
import pytest


def test_refuses_non_empty_folder_without_flags(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(kc.KhipuError, match="--overwrite"):
        kc.prepare_run_dir(tmp_path)
    # overwrite refuses folders that are not khipu runs, so nothing is deleted
    with pytest.raises(kc.KhipuError, match="does not look like a khipu run"):
        kc.prepare_run_dir(tmp_path, overwrite=True)
    assert (tmp_path / "x.txt").read_text() == "keep me"
    # resume keeps the contents
    assert kc.prepare_run_dir(tmp_path, resume=True) == tmp_path
    assert (tmp_path / "x.txt").exists()


def test_overwrite_empties_a_previous_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    kc.prepare_run_dir(run)
    kc.write_config(run, {"lr": 0.1, "out": run, "layers": (1, 2)})
    (run / "old.png").write_bytes(b"x")
    kc.prepare_run_dir(run, overwrite=True)
    assert list(run.iterdir()) == []


def test_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("")
    with pytest.raises(kc.KhipuError, match="is a file"):
        kc.prepare_run_dir(f)


def test_config_has_settings_and_versions(tmp_path: Path) -> None:
    kc.write_config(tmp_path, {"seed": 3, "out": tmp_path, "sizes": (8, 16)})
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["seed"] == 3
    assert config["out"] == str(tmp_path)
    assert config["sizes"] == [8, 16]
    assert config["versions"]["khipu-core"] == kc.__version__
    assert "jax" in config["versions"] and "python" in config["versions"]


def test_metrics_are_flat_scalars(tmp_path: Path) -> None:
    kc.write_metrics(
        tmp_path, {"acc": np.float32(0.5), "n": np.int64(3), "ok": True, "bad": float("nan")}
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == {"acc": 0.5, "n": 3, "ok": True, "bad": None}
    with pytest.raises(kc.KhipuError, match="not a scalar"):
        kc.write_metrics(tmp_path, {"curve": [1.0, 2.0]})


def test_read_json_errors(tmp_path: Path) -> None:
    with pytest.raises(kc.KhipuError, match="does not exist"):
        kc.read_json(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(kc.KhipuError, match="not valid JSON"):
        kc.read_json(tmp_path / "bad.json")
