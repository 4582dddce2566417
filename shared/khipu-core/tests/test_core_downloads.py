"""tensorflow-datasets downloads are opt-in: offline is the default, ``download=True``
(``--download``) lets tfds fetch and prepare a missing dataset as array_record, and the
missing-dataset error names the flag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import khipu.core as kc
import pytest
from khipu.core import data

tfds = pytest.importorskip("tensorflow_datasets")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """tfds.data_source replaced by a recorder that fails like a missing dataset."""
    seen: list[dict[str, Any]] = []

    def fake(name: str, **kwargs: Any) -> Any:
        seen.append({"name": name, **kwargs})
        raise FileNotFoundError("not prepared here")

    monkeypatch.setattr(tfds, "data_source", fake)
    yield seen
    data.allow_downloads(False)


def test_offline_is_the_default_and_the_error_names_the_flag(
    calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    with pytest.raises(kc.DatasetNotAvailableError) as info:
        kc.load_tfds_split("mnist", "train", data_dir=tmp_path)
    assert calls[-1]["download"] is False
    message = str(info.value)
    assert "Pass --download" in message and "download=True" in message
    assert "tfds build mnist --file_format=array_record" in message


@pytest.mark.parametrize("how", ["argument", "allow_downloads"])
def test_download_lets_tfds_prepare_the_dataset_as_array_record(
    calls: list[dict[str, Any]], tmp_path: Path, how: str
) -> None:
    if how == "argument":
        call = lambda: kc.load_tfds_split("tiny_shakespeare", "train", download=True)  # noqa: E731
    else:
        data.allow_downloads(True)
        call = lambda: kc.load_tfds_split("tiny_shakespeare", "train")  # noqa: E731
    with pytest.raises(kc.DatasetNotAvailableError, match="could not download"):
        call()
    assert calls[-1]["download"] is True
    assert calls[-1]["builder_kwargs"] == {"file_format": "array_record"}


def test_image_datasets_pass_download_through(calls: list[dict[str, Any]]) -> None:
    with pytest.raises(kc.DatasetNotAvailableError, match="could not download"):
        kc.load_dataset("cifar10", download=True)
    assert calls[-1]["name"] == "cifar10" and calls[-1]["download"] is True


def test_a_really_missing_dataset_is_one_line_naming_the_flag(tmp_path: Path) -> None:
    with pytest.raises(kc.DatasetNotAvailableError) as info:
        kc.load_tfds_split("mnist", "train", data_dir=tmp_path)
    assert "--download" in str(info.value)
