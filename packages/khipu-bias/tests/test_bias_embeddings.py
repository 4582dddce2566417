"""Loading word vectors in every format, preprocessing, honest look-ups, bad files."""

from __future__ import annotations

import pickle
from pathlib import Path

import khipu.bias as kb
import khipu.core as kc
import numpy as np
import pytest
from gensim.models import KeyedVectors


def _kv(words: list[str], seed: int = 0) -> KeyedVectors:
    rng = np.random.default_rng(seed)
    kv = KeyedVectors(vector_size=6)
    kv.add_vectors(words, rng.normal(size=(len(words), 6)).astype(np.float32))
    return kv


WORDS = ["Paris", "paris", "canción", "cancion", "he", "she", "niño"]


def _write(kv: KeyedVectors, path: Path, fmt: str) -> Path:
    if fmt == "glove":
        kv.save_word2vec_format(str(path), binary=False, write_header=False)
    else:
        kv.save_word2vec_format(str(path), binary=fmt == "word2vec-bin")
    return path


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-bin", "glove", "fasttext"])
def test_every_format_loads_the_same_vectors(tmp_path: Path, fmt: str) -> None:
    kv = _kv(WORDS)
    path = _write(kv, tmp_path / f"v.{fmt}", fmt)
    emb = kb.load_embeddings(path, fmt)  # type: ignore[arg-type]
    assert emb.words == tuple(WORDS)
    expected = kv.vectors / np.linalg.norm(kv.vectors, axis=1, keepdims=True)
    np.testing.assert_allclose(emb.vectors, expected, rtol=1e-5, atol=1e-6)
    assert emb.is_normalized()
    raw = kb.load_embeddings(path, fmt, normalize=False)  # type: ignore[arg-type]
    np.testing.assert_allclose(raw.vectors, kv.vectors, rtol=1e-5, atol=1e-6)
    assert len(kb.load_embeddings(path, fmt, limit=3)) == 3  # type: ignore[arg-type]


def test_lowercase_and_accent_stripping_merge_keeping_the_first(tmp_path: Path) -> None:
    kv = _kv(WORDS)
    path = _write(kv, tmp_path / "v.txt", "word2vec")
    emb = kb.load_embeddings(path, lowercase=True, strip_accents=True, normalize=False)
    assert emb.words == ("paris", "cancion", "he", "she", "nino")
    np.testing.assert_allclose(emb.vector("PARIS"), kv["Paris"], rtol=1e-6)  # first wins
    np.testing.assert_allclose(emb.vector("Canción"), kv["canción"], rtol=1e-6)
    assert "NIÑO" in emb and "niño" in emb
    plain = kb.load_embeddings(path)
    assert "PARIS" not in plain and "canción" in plain and "cancion" in plain
    assert kb.strip_accents("año índice Ñandú") == "ano indice Nandu"


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(kc.KhipuError, match="does not exist"):
        kb.load_embeddings(tmp_path / "nope.vec")
    binary = _write(_kv(WORDS), tmp_path / "v.bin", "word2vec-bin")
    with pytest.raises(kc.KhipuError, match=r"could not read .* as word2vec"):
        kb.load_embeddings(binary, "word2vec")
    glove = _write(_kv(WORDS), tmp_path / "g.txt", "glove")
    with pytest.raises(kc.KhipuError, match=r"could not read .* as word2vec"):
        kb.load_embeddings(glove, "word2vec")
    text = _write(_kv(WORDS), tmp_path / "v.txt", "word2vec")
    with pytest.raises(kc.KhipuError, match="plain text"):
        kb.load_embeddings(text, "word2vec-bin")
    junk = tmp_path / "junk.txt"
    junk.write_text("this is not\na vector file at all\n")
    for fmt in ("word2vec", "glove", "fasttext", "word2vec-bin"):
        with pytest.raises(kc.KhipuError, match="could not read"):
            kb.load_embeddings(junk, fmt)  # type: ignore[arg-type]
    with pytest.raises(kc.UnknownNameError, match="embedding format"):
        kb.load_embeddings(junk, "pickle")  # type: ignore[arg-type]


def test_gensim_pickles_are_refused_unless_allowed(tmp_path: Path) -> None:
    path = tmp_path / "model.kv"
    _kv(WORDS).save(str(path))
    with pytest.raises(kc.KhipuError, match="pickle"):
        kb.load_embeddings(path, "gensim")
    assert len(kb.load_embeddings(path, "gensim", allow_pickle=True)) == len(WORDS)
    evil = tmp_path / "evil.txt"
    evil.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(kc.KhipuError, match="could not read"):
        kb.load_embeddings(evil, "word2vec")


def test_lookup_reports_missing_in_order_and_enforces_the_limit(toy_emb) -> None:  # type: ignore[no-untyped-def]
    look = toy_emb.lookup({"a": ["he", "zz", "she", "yy"], "b": ["king"]}, max_missing=None)
    assert look.found == {"a": ["he", "she"], "b": ["king"]}
    assert look.missing == {"a": ["zz", "yy"], "b": []}
    assert look.n_missing == 2 and look.describe_missing() == "a: zz, yy"
    with pytest.raises(kb.MissingWordsError, match=r"2 of 4 words of 'a' \(zz, yy\)") as info:
        toy_emb.lookup({"a": ["he", "zz", "she", "yy"]}, max_missing=0.25)
    assert info.value.missing == {"a": ["zz", "yy"]}
    with pytest.raises(kc.KhipuError, match="empty"):
        toy_emb.lookup({"a": []})
    with pytest.raises(kb.MissingWordsError, match="1 of 1"):
        toy_emb.lookup({"a": ["nothing"]}, max_missing=None)  # all missing is always an error


def test_embeddings_validate_and_round_trip(tmp_path: Path, toy_emb) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(kc.KhipuError, match=r"\[V, D\]"):
        kb.WordEmbeddings(("a", "b"), np.ones((3, 2)))
    with pytest.raises(kc.KhipuError, match="NaN"):
        kb.WordEmbeddings(("a",), np.array([[np.nan, 1.0]]))
    path = toy_emb.save_word2vec(tmp_path / "out.txt")
    back = kb.load_embeddings(path, normalize=False)
    assert back.words == toy_emb.words
    np.testing.assert_allclose(back.vectors, toy_emb.vectors, rtol=1e-5)
    kv = toy_emb.to_keyed_vectors()
    assert kv.index_to_key == list(toy_emb.words)
    mine = toy_emb.most_similar("he", topn=3)
    theirs = kv.most_similar("he", topn=3)
    assert [w for w, _ in mine] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in mine], [s for _, s in theirs], rtol=1e-5)
