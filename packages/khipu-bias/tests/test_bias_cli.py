"""``khipu bias ...`` end to end: metrics.json, figures, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors
from khipu.core.cli import main


def _metrics(out: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture
def vec_file(tmp_path: Path) -> Path:
    words = [
        "he",
        "him",
        "man",
        "boy",
        "she",
        "her",
        "woman",
        "girl",
        "salary",
        "office",
        "career",
        "home",
        "family",
        "children",
        "Niño",
    ]
    rng = np.random.default_rng(0)
    kv = KeyedVectors(vector_size=5)
    kv.add_vectors(words, rng.normal(size=(len(words), 5)).astype(np.float32))
    path = tmp_path / "vectors.txt"
    kv.save_word2vec_format(str(path))
    return path


@pytest.fixture
def test_file(tmp_path: Path) -> Path:
    path = tmp_path / "mytest.yaml"
    path.write_text(
        "name: my-gender-career\ntargets:\n  Male: [he, him, man, boy]\n"
        "  Female: [she, her, woman, girl]\nattributes:\n"
        "  Career: [salary, office, career, money]\n  Family: [home, family, children]\n"
    )
    return path


def test_weat_with_a_user_file_and_test(
    tmp_path: Path, vec_file: Path, test_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    rc = main(
        [
            "bias",
            "weat",
            "--embeddings",
            str(vec_file),
            "--format",
            "word2vec",
            "--test",
            str(test_file),
            "--max-missing",
            "0.3",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    m = _metrics(out)
    assert {"effect_size", "p_value", "statistic", "n_missing"} <= set(m)
    assert m["n_missing"] == 1 and m["missing_words"] == "Career: money"
    assert m["exact_p_value"] is True and m["n_partitions"] == 70
    assert (out / "weat.png").stat().st_size > 1000 and (out / "config.json").is_file()
    words = json.loads((out / "words.json").read_text())
    assert words["missing"]["Career"] == ["money"]
    assert "my-gender-career" in capsys.readouterr().out


def test_weat_default_runs_offline(tmp_path: Path) -> None:
    out = tmp_path / "default"
    assert main(["bias", "weat", "--out", str(out)]) == 0
    m = _metrics(out)
    assert m["test"] == "en-gender-career" and m["n_missing"] == 0
    assert m["embeddings"].startswith("word2vec-cbow")


def test_weat_errors_are_one_line(
    tmp_path: Path, vec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bias", "weat", "--test", "caliskan-t1", "--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "aster" in err and "--embeddings" in err and "Traceback" not in err
    assert not (tmp_path / "a").exists()  # nothing half-written
    assert main(["bias", "weat", "--test", "caliskan-t42", "--out", str(tmp_path / "b")]) == 1
    assert "unknown WEAT test" in capsys.readouterr().err
    assert (
        main(
            [
                "bias",
                "weat",
                "--embeddings",
                str(vec_file),
                "--format",
                "word2vec-bin",
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 1
    )
    assert "could not read" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"targets": {"X": ["a", "b"], "Y": ["c"]}, "attributes": {"A": ["d"], "B": []}}'
    )
    assert main(["bias", "weat", "--test", str(bad), "--out", str(tmp_path / "d")]) == 1
    assert "empty" in capsys.readouterr().err
    bad.write_text(
        '{"targets": {"X": ["a", "b"], "Y": ["c"]}, "attributes": {"A": ["d"], "B": ["e"]}}'
    )
    assert main(["bias", "weat", "--test", str(bad), "--out", str(tmp_path / "e")]) == 1
    assert "same size" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bias", "weat", "--embeddings", str(tmp_path / "none.vec"), "--out", "x"])


@pytest.mark.slow
def test_project_debias_pairs_rank_analogies_seat(tmp_path: Path) -> None:
    out = tmp_path / "project"
    assert (
        main(
            [
                "bias",
                "project",
                "--side1",
                "@female",
                "--side2",
                "@male",
                "--y-side1",
                "rich,wealthy",
                "--y-side2",
                "poor",
                "poverty",
                "--words",
                "@professions",
                "unknownword",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    m = _metrics(out)
    assert m["n_missing"] == 1 and m["missing_words"] == "unknownword" and m["direct_bias"] > 0
    assert (out / "projection.png").is_file() and (out / "projection_plane.png").is_file()
    out = tmp_path / "debias"
    assert (
        main(
            [
                "bias",
                "debias",
                "--permutations",
                "2000",
                "--recover-words",
                "100",
                "--save",
                "debiased.txt",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    m = _metrics(out)
    assert m["max_abs_projection_after"] < 1e-5 < m["max_abs_projection_before"]
    assert 0.5 <= m["cluster_accuracy_after"] <= 1.0
    assert (out / "debiased.txt").is_file() and (out / "weat_after.png").is_file()
    out = tmp_path / "pairs"
    assert main(["bias", "pairs", "--out", str(out)]) == 0
    m = _metrics(out)
    assert m["n_pairs"] == 16 and 0 <= m["share_stereotypical"] <= 1 and "share_gender" in m
    assert (out / "pairs.png").is_file()
    out = tmp_path / "rank"
    assert (
        main(
            [
                "bias",
                "rank",
                "--template",
                "The * was a nurse.",
                "--candidates",
                "man",
                "woman",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert _metrics(out)["best"] in ("man", "woman")
    out = tmp_path / "analogies"
    assert main(["bias", "analogies", "--query", "man:king:woman", "--out", str(out)]) == 0
    assert _metrics(out)["n_questions"] > 1000
    out = tmp_path / "seat"
    assert main(["bias", "seat", "--permutations", "2000", "--out", str(out)]) == 0
    assert "effect_size" in _metrics(out)


def test_pairs_bad_csv_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["bias", "pairs", "--pairs", str(bad), "--out", str(tmp_path / "p")]) == 1
    assert "sent_more" in capsys.readouterr().err
    assert main(["bias", "pairs", "--scorer", "nope", "--out", str(tmp_path / "q")]) == 1
    assert "unknown scorer" in capsys.readouterr().err
