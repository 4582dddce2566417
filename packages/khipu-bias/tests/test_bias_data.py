"""The offline default model: bundled corpus, seeded training, pickle-free cache."""

from __future__ import annotations

from pathlib import Path

import khipu.bias as kb
import khipu.core as kc
import numpy as np
import pytest
from khipu.bias import data


def test_bundled_corpora_are_english_text() -> None:
    lee = list(kb.corpus_sentences("lee"))
    assert len(lee) >= 299 and all(isinstance(t, str) for t in lee[0])
    first = next(iter(kb.corpus_sentences("wiki+lee")))
    assert first and all(t == t.lower() for t in first)
    with pytest.raises(kc.UnknownNameError):
        list(kb.corpus_sentences("klingon"))  # type: ignore[arg-type]


def test_training_is_reproducible_and_cached_without_pickle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KHIPU_CACHE_DIR", str(tmp_path))
    config = kb.ModelConfig(corpus="lee", vector_size=16, epochs=2, min_count=5)
    first = kb.default_model(config)
    files = list((tmp_path / "bias").glob("*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as z:  # plain arrays only
        assert z["input_vectors"].shape == first.input_vectors.shape
    cached = kb.default_model(config)
    np.testing.assert_array_equal(cached.input_vectors, first.input_vectors)
    retrained = kb.default_model(config, retrain=True)
    assert retrained.words == first.words
    np.testing.assert_array_equal(retrained.input_vectors, first.input_vectors)  # seeded
    np.testing.assert_array_equal(retrained.output_vectors, first.output_vectors)
    other = kb.default_model(config._replace(seed=1))
    assert not np.array_equal(other.input_vectors, first.input_vectors)
    files[0].write_bytes(b"corrupt")
    assert kb.default_model(config).words == first.words  # a corrupt cache is rebuilt
    emb = first.embeddings()
    assert emb.is_normalized() and emb.lowercase and "The" in emb


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KHIPU_CACHE_DIR", "/x/y")
    assert data.cache_dir() == Path("/x/y/bias")
    monkeypatch.delenv("KHIPU_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/c")
    assert data.cache_dir() == Path("/c/khipu/bias")


def test_default_embeddings_cover_the_example_sets(default_emb) -> None:  # type: ignore[no-untyped-def]
    assert len(default_emb) > 5000 and default_emb.dim == 100
    sets = kb.example_sets("en")
    for name in ("male", "female", "career", "family", "science", "arts", "professions"):
        assert all(w in default_emb for w in sets[name]), name
