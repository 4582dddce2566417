"""``khipu bias metrics``: metrics.json with every metric and its interval, the figures,
``--compare`` rankings, and one-line errors that leave nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import khipu.bias as kb
import numpy as np
import pytest
from gensim.models import KeyedVectors
from khipu.core.cli import main

WORDS = {
    "male": ["he", "him", "man", "boy", "father"],
    "female": ["she", "her", "woman", "girl", "mother"],
    "career": ["salary", "office", "career", "business"],
    "family": ["home", "family", "children", "parents"],
}


def _write(path: Path, noise: float, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(2, 12))
    words, rows = [], []
    for group, centre in (
        (WORDS["male"] + WORDS["career"], 0),
        (WORDS["female"] + WORDS["family"], 1),
    ):
        for w in group:
            words.append(w)
            rows.append(base[centre] + noise * rng.normal(size=12))
    kv = KeyedVectors(vector_size=12)
    kv.add_vectors(words, np.array(rows, np.float32))
    kv.save_word2vec_format(str(path))
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    test = tmp_path / "query.yaml"
    test.write_text(
        "name: planted\ntargets:\n"
        f"  male: [{', '.join(WORDS['male'])}]\n  female: [{', '.join(WORDS['female'])}]\n"
        f"attributes:\n  career: [{', '.join(WORDS['career'])}]\n"
        f"  family: [{', '.join(WORDS['family'])}]\n"
    )
    return {
        "test": test,
        "clear": _write(tmp_path / "clear.txt", 0.5),
        "noisy": _write(tmp_path / "noisy.txt", 3.0, seed=1),
    }


def test_metrics_writes_every_metric_with_its_interval(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    out = tmp_path / "run"
    args = ["bias", "metrics", "--embeddings", str(files["clear"]), "--test", str(files["test"])]
    assert main([*args, "--bootstrap", "50", "--rnsb-seeds", "3", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    for name in kb.METRICS:
        assert m[f"{name}_ci_low"] <= m[name] <= m[f"{name}_ci_high"], name
    assert m["bootstrap_resamples"] == 50 and m["rnsb_seeds"] == 3
    assert m["n_missing"] == 0 and m["weat_p_value_alternative"] == "greater"
    ref = kb.query_metrics(
        kb.load_embeddings(files["clear"]), kb.get_test(files["test"]), bootstrap=50, rnsb_seeds=3
    )
    for name in kb.METRICS:
        assert m[name] == pytest.approx(ref.values[name].value, rel=1e-5, abs=1e-7)
    assert (out / "metrics.png").stat().st_size > 5000
    details = json.loads((out / "details.json").read_text())
    assert set(details["clear.txt"]["rnd_euclidean_per_attribute"]) == set(
        WORDS["career"] + WORDS["family"]
    )


def test_metrics_compare_ranks_embeddings_and_shows_agreement(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    out = tmp_path / "cmp"
    rc = main(
        [
            "bias", "metrics", "--embeddings", str(files["clear"]),
            "--compare", str(files["noisy"]), "--test", str(files["test"]),
            "--bootstrap", "20", "--rnsb-seeds", "2",
            "--two-sided", "--out", str(out),
        ]
    )  # fmt: skip
    assert rc == 0
    ranking = json.loads((out / "ranking.json").read_text())
    assert ranking["embeddings"] == ["clear.txt", "noisy.txt"]
    j = ranking["metrics"].index("weat_effect_size")
    m = json.loads((out / "metrics.json").read_text())
    clear, noisy = abs(m["weat_effect_size"]), abs(m["noisy.txt: weat_effect_size"])
    assert (ranking["ranks"][0][j] < ranking["ranks"][1][j]) == (clear > noisy)
    assert m["weat_p_value_alternative"] == "two-sided"
    assert (out / "ranking.png").stat().st_size > 5000
    assert "rank_agreement[weat_effect_size,rnd_euclidean]" in m


def test_metrics_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("not vectors at all\n")
    out = tmp_path / "bad"
    args = ["bias", "metrics", "--embeddings", str(files["clear"]), "--test", str(files["test"])]
    assert main([*args, "--compare", str(garbage), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
    unequal = tmp_path / "unequal.yaml"
    unequal.write_text(
        "targets:\n  male: [he, him]\n  female: [she]\nattributes:\n  a: [home]\n  b: [office]\n"
    )
    assert main([*args[:4], "--test", str(unequal), "--out", str(out)]) == 1
    assert "same size" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_debias_every_method_writes_new_files_and_a_quality_table(
    tmp_path: Path, default_emb: kb.WordEmbeddings
) -> None:
    import hashlib

    need = set(kb.gender_specific_words()) | {w for p in kb.definitional_pairs() for w in p}
    need |= {w for p in kb.equalize_pairs() for w in p}
    need |= {w for ws in kb.get_test("en-gender-career").word_sets().values() for w in ws}
    need |= set(kb.example_sets()["professions"])
    words = [w for i, w in enumerate(default_emb.words) if i < 800 or w in need]
    small = kb.WordEmbeddings(tuple(words), default_emb.matrix(words), name="small")
    source = small.save_word2vec(tmp_path / "small.txt")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    out = tmp_path / "debias"
    rc = main(
        [
            "bias", "debias", "--embeddings", str(source), "--method", "all",
            "--no-analogies", "--recover-words", "40", "--ran-words", "50",
            "--permutations", "100", "--out", str(out),
        ]
    )  # fmt: skip
    assert rc == 0
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest  # original untouched
    table = json.loads((out / "quality.json").read_text())
    assert set(table) == {"before", "hard", "multiclass", "double-hard", "hsr", "ran"}
    for method in table:
        if method != "before":
            written = kb.load_embeddings(out / f"debiased-{method}.txt")
            assert written.words == small.words
    assert table["hard"]["direct_bias"] < 0.2 * table["before"]["direct_bias"]
    assert {"wordsim353", "simlex999", "recoverability", "weat_effect_size"} <= set(table["hsr"])
    assert (out / "quality.png").stat().st_size > 5000
