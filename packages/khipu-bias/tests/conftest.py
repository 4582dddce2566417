"""Shared fixtures: a private model cache for the session and small embeddings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Train the default model once per session into a temporary cache (never ~/.cache)."""
    path = tmp_path_factory.mktemp("khipu-cache")
    old = os.environ.get("KHIPU_CACHE_DIR")
    os.environ["KHIPU_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("KHIPU_CACHE_DIR", None)
    else:
        os.environ["KHIPU_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def default_emb():  # type: ignore[no-untyped-def]
    import khipu.bias as kb

    return kb.default_embeddings()


@pytest.fixture
def toy_emb():  # type: ignore[no-untyped-def]
    """Twelve random 16-d words."""
    import khipu.bias as kb

    rng = np.random.default_rng(0)
    words = (
        "he",
        "she",
        "man",
        "woman",
        "king",
        "queen",
        "doctor",
        "nurse",
        "Canción",
        "Paris",
        "paris",
        "car",
    )
    return kb.WordEmbeddings(words, rng.normal(size=(len(words), 16)), name="toy")
