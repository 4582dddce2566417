"""Hostile-but-fair inputs: bounded memory, honest numbers, one-line errors (issue 11)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import khipu.core as kc
import numpy as np
import pytest
from khipu.bias import data as bias_data
from khipu.bias.analogies import check_questions
from khipu.bias.embeddings import WordEmbeddings, load_embeddings, unit_rows
from khipu.bias.weat import MAX_PARTITIONS, permutation_test, weat
from khipu.bias.wordsets import get_test, load_word_sets, make_test
from khipu.core.cli import main

WORDS = [
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
]


def _vectors(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(len(WORDS), 5))


def _write_w2v(
    path: Path, words: list[str], vectors: np.ndarray, header: str | None = None
) -> Path:
    rows = [
        f"{w} " + " ".join(f"{v:.6g}" for v in vec) for w, vec in zip(words, vectors, strict=True)
    ]
    head = header if header is not None else f"{len(words)} {vectors.shape[1]}"
    path.write_text("\n".join([head, *rows]) + "\n")
    return path


def _error(err: str) -> str:
    """The single error line of a failed command (warnings about other packages aside)."""
    lines = [line for line in err.splitlines() if not line.startswith("khipu: warning:")]
    assert len(lines) == 1, lines
    return lines[0]


def _peak_bytes(fn: Callable[[], Any]) -> tuple[BaseException | None, int]:
    """Runs ``fn`` under tracemalloc; returns (the exception it raised, peak bytes)."""
    tracemalloc.start()
    error: BaseException | None = None
    try:
        fn()
    except Exception as exc:
        error = exc
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return error, peak


BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    + ["name: bomb", "targets: *i", "attributes:", "  Career: [salary]", "  Family: [home]"]
)


def test_yaml_billion_laughs_is_refused_fast_and_without_echo(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB + "\n")
    assert len(BOMB) < 1000
    error, peak = _peak_bytes(lambda: get_test(path))
    assert isinstance(error, kc.KhipuError)
    assert "alias" in str(error) and "lol" not in str(error) and "\n" not in str(error)
    assert peak < 5_000_000  # the expanded document would be ~ 9^9 strings


def test_yaml_errors_never_print_a_value_read_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    words = ", ".join(f"w{i}" for i in range(5000))
    path.write_text(f"targets: [{words}]\nattributes: {{A: [a], B: [b]}}\n")
    with pytest.raises(kc.KhipuError, match="list of 5000 items") as info:
        get_test(path)
    assert "w4999" not in str(info.value)


def test_yaml_syntax_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("sets:\n  A: [a, b\n  B: c\n")
    with pytest.raises(kc.KhipuError, match="not valid YAML") as info:
        load_word_sets(path)
    assert "\n" not in str(info.value)


def test_yaml_words_stay_strings(tmp_path: Path) -> None:
    path = tmp_path / "sets.yaml"
    path.write_text("answers: [yes, no, on, off, null, 1e3, 007, true]\n")
    assert load_word_sets(path) == {
        "answers": ["yes", "no", "on", "off", "null", "1e3", "007", "true"]
    }


def test_a_header_claim_larger_than_the_file_fails_before_allocating(tmp_path: Path) -> None:
    load_embeddings(_write_w2v(tmp_path / "ok.txt", WORDS, _vectors()))  # imports gensim
    path = _write_w2v(tmp_path / "claim.txt", WORDS, _vectors(), header="2000000000 5")
    error, peak = _peak_bytes(lambda: load_embeddings(path))
    assert isinstance(error, kc.KhipuError)
    assert "2000000000" in str(error) and "bytes" in str(error)
    assert peak < 20_000_000  # the claim would need 40 GB of float32


def test_a_header_with_fewer_rows_than_the_file_is_detected(tmp_path: Path) -> None:
    path = _write_w2v(tmp_path / "short.txt", WORDS, _vectors(), header="10 5")
    with pytest.raises(kc.KhipuError, match="claims 10 words but the file has 14 rows"):
        load_embeddings(path)
    assert len(load_embeddings(path, limit=10)) == 10  # an explicit --limit reads fewer


def test_a_header_with_more_rows_than_the_file_is_one_error(tmp_path: Path) -> None:
    path = _write_w2v(tmp_path / "long.txt", WORDS, _vectors(), header="20 5")
    with pytest.raises(kc.KhipuError, match="could not read"):
        load_embeddings(path)


def test_word2vec_text_read_as_glove_is_detected(tmp_path: Path) -> None:
    path = _write_w2v(tmp_path / "w2v.txt", WORDS, _vectors())
    with pytest.raises(kc.KhipuError, match="word2vec header"):
        load_embeddings(path, "glove")


def test_huge_vectors_normalise_without_overflow(tmp_path: Path) -> None:
    vectors = _vectors()
    unit = unit_rows(vectors.astype(np.float32))
    huge = unit_rows((vectors * 1e30).astype(np.float32))
    np.testing.assert_allclose(huge, unit, rtol=1e-6, atol=1e-7)
    test = make_test(
        "t",
        {"M": ["he", "him", "man", "boy"], "F": ["she", "her", "woman", "girl"]},
        {"C": ["salary", "office", "career"], "H": ["home", "family", "children"]},
    )
    small = load_embeddings(_write_w2v(tmp_path / "small.txt", WORDS, vectors))
    big = load_embeddings(_write_w2v(tmp_path / "big.txt", WORDS, vectors * 1e30))
    r_small, r_big = weat(small, test), weat(big, test)
    assert r_big.effect_size == pytest.approx(r_small.effect_size, abs=1e-5)
    assert r_big.p_value == r_small.p_value


def test_vectors_beyond_float32_are_refused_by_word(tmp_path: Path) -> None:
    vectors = _vectors()
    vectors[5, 2] = 1e39  # "her": infinite in float32
    path = _write_w2v(tmp_path / "inf.txt", WORDS, vectors)
    with pytest.raises(kc.KhipuError, match="'her'"):
        load_embeddings(path)
    with pytest.raises(kc.KhipuError, match="NaN or infinite"):
        unit_rows(np.array([[1.0, np.inf]]))


def test_duplicate_words_are_reported_and_dropped(toy_emb: WordEmbeddings) -> None:
    plain = make_test(
        "plain",
        {"X": ["he", "man", "king"], "Y": ["she", "woman", "queen"]},
        {"A": ["doctor", "car"], "B": ["nurse", "paris"]},
    )
    dup = make_test(
        "dup",
        {"X": ["he", "man", "king", "he"], "Y": ["she", "woman", "queen", "queen"]},
        {"A": ["doctor", "car", "car"], "B": ["nurse", "paris"]},
    )
    r_plain, r_dup = weat(toy_emb, plain), weat(toy_emb, dup)
    assert r_dup.duplicates == {"X": ["he"], "Y": ["queen"], "A": ["car"]}
    assert r_dup.words == r_plain.words
    assert r_dup.effect_size == pytest.approx(r_plain.effect_size)
    assert "3 duplicate words dropped" in r_dup.summary()
    assert r_dup.metrics()["duplicate_words"] == "X: he; Y: queen; A: car"


def test_a_sampled_p_value_is_never_zero_and_says_it_is_an_estimate() -> None:
    s_x, s_y = np.arange(20.0) + 100.0, np.arange(20.0)  # nothing beats the observed split
    sampled = permutation_test(s_x, s_y, n_permutations=999, exact_limit=0, seed=0)
    assert not sampled.exact and sampled.p_value == pytest.approx(1 / 1000)
    exact = permutation_test(s_x[:4], s_y[:4])
    assert exact.exact and exact.p_value == 0.0  # exact p-values stay exact


def test_weat_summary_names_the_kind_of_p_value(toy_emb: WordEmbeddings) -> None:
    test = make_test(
        "t",
        {"X": ["he", "man", "king"], "Y": ["she", "woman", "queen"]},
        {"A": ["doctor", "car"], "B": ["nurse", "paris"]},
    )
    sampled = weat(toy_emb, test, n_permutations=10, exact_limit=0)
    assert "estimate" in sampled.summary() and "m = 10 sampled" in sampled.summary()
    assert "exact" in weat(toy_emb, test).metrics()["p_value_kind"]


def test_absurd_permutation_counts_are_refused() -> None:
    with pytest.raises(kc.KhipuError, match="at most"):
        permutation_test(np.ones(3), np.zeros(3), n_permutations=10**15)
    with pytest.raises(kc.KhipuError, match="at most"):
        permutation_test(np.ones(3), np.zeros(3), exact_limit=MAX_PARTITIONS + 1)


@pytest.mark.parametrize("flag", ["--permutations", "--exact-limit"])
def test_absurd_permutation_options_are_usage_errors(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["bias", "weat", flag, "1000000000000000", "--out", str(tmp_path / "r")])
    assert info.value.code == 2
    assert "10000000" in _error(capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("text", "match"),
    [("", "no analogy questions"), (": family\nboy girl brother\n", "line 2.*got 3")],
)
def test_bad_analogy_files_are_one_line(text: str, match: str, tmp_path: Path) -> None:
    path = tmp_path / "q.txt"
    path.write_text(text)
    with pytest.raises(kc.KhipuError, match=match):
        check_questions(path)


def test_analogies_on_an_empty_file_leave_no_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "q.txt").write_text("")
    out = tmp_path / "run"
    args = ["bias", "analogies", "--questions", str(tmp_path / "q.txt"), "--out", str(out)]
    assert main(args) == 1
    assert "no analogy questions" in _error(capsys.readouterr().err)
    assert not out.exists()


def test_non_utf8_words_are_refused_before_any_drawing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = b"caf\xe9".decode("utf-8", "surrogateescape")  # what Python makes of latin-1 argv
    out = tmp_path / "run"
    args = ["bias", "project", "--side1", "he", "--side2", "she", "--words", bad]
    assert main([*args, "--out", str(out)]) == 1
    assert "not valid UTF-8" in _error(capsys.readouterr().err)
    assert not out.exists()


def test_a_corrupt_cached_model_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = bias_data.default_model()
    monkeypatch.setenv("KHIPU_CACHE_DIR", str(tmp_path))
    path = bias_data._cache_file(bias_data.ModelConfig())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x03\x04 this is not a zip file")
    calls: list[int] = []

    def fake_train(sentences: Any, config: Any) -> Any:
        calls.append(1)
        return good

    monkeypatch.setattr(bias_data, "train_cbow", fake_train)
    monkeypatch.setattr(bias_data, "corpus_sentences", lambda corpus: iter(()))
    model = bias_data.default_model()
    assert calls == [1] and model.words == good.words
    assert bias_data._load_model(path).words == good.words  # the cache was rewritten


def test_debias_save_never_replaces_an_existing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "vectors.txt"
    target.write_text("precious\n")
    out = tmp_path / "run"
    assert main(["bias", "debias", "--save", str(target), "--out", str(out)]) == 1
    assert "--replace-save" in _error(capsys.readouterr().err)
    assert target.read_text() == "precious\n" and not out.exists()
    escape = Path("..") / "vectors.txt"  # relative, but outside the run folder
    assert main(["bias", "debias", "--save", str(escape), "--out", str(out)]) == 1
    assert target.read_text() == "precious\n"
