"""The offline default model: a CBOW word2vec trained on English text shipped with gensim.

gensim's wheel carries two English corpora in ``gensim/test/test_data``:

* ``enwiki-...-shortened.bz2``: 206 Wikipedia articles (anarchism, Albert Einstein,
  Alabama...), about 470k tokens after gensim's wiki markup filter;
* ``lee_background.cor``: 299 Australian news articles (about 60k tokens).

:func:`default_model` trains a CBOW ``Word2Vec`` (negative sampling, one worker, fixed
seed) on both, once, and caches the input vectors, the output weights and the vocabulary
in an ``.npz`` file (no pickle) under the user cache folder. The output weights make the
model a tiny masked-word predictor (gensim's ``predict_output_word``), the offline
default scorer of :mod:`khipu.bias.lm`.

The corpus is small: rare words (most flower and insect names, most of the names in
Caliskan et al.'s tests) are not in its ~9.5k-word vocabulary, and its neighbours are
noisy. That is part of the lesson: every function reports the missing words by name.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import khipu.core as kc
import numpy as np
from khipu.bias.embeddings import WordEmbeddings

CorpusName = Literal["wiki+lee", "lee"]
CORPORA: tuple[str, ...] = ("wiki+lee", "lee")
_WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
_LEE_FILE = "lee_background.cor"
_FORMAT_VERSION = 1


def gensim_datapath(name: str) -> Path:
    """Path of a file in gensim's bundled test data."""
    from gensim.test.utils import datapath

    path = Path(datapath(name))
    if not path.is_file():
        raise kc.DatasetNotAvailableError(
            f"gensim's test data file {name} is missing from this gensim installation"
        )
    return path


def cache_dir() -> Path:
    """Where khipu-bias caches trained models.

    ``$KHIPU_CACHE_DIR/bias`` if set, else ``$XDG_CACHE_HOME/khipu/bias``, else
    ``~/.cache/khipu/bias``.
    """
    if env := os.environ.get("KHIPU_CACHE_DIR"):
        return Path(env) / "bias"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "khipu" / "bias"


def corpus_sentences(corpus: CorpusName = "wiki+lee") -> Iterator[list[str]]:
    """Lowercased token lists of the bundled English corpus (one per paragraph / article).

    Args:
      corpus: ``"wiki+lee"`` (the default model's corpus) or ``"lee"`` (news only, small).
    """
    from gensim.utils import simple_preprocess

    if corpus not in CORPORA:
        raise kc.UnknownNameError("corpus", str(corpus), list(CORPORA))
    if corpus == "wiki+lee":
        from gensim.corpora.wikicorpus import extract_pages, filter_wiki, tokenize

        with bz2.open(gensim_datapath(_WIKI_FILE)) as f:
            for _title, text, _pageid in extract_pages(f):
                for paragraph in filter_wiki(text).split("\n"):
                    tokens = tokenize(paragraph, 1, 30, True)
                    if len(tokens) > 2:
                        yield tokens
    with open(gensim_datapath(_LEE_FILE), encoding="utf-8") as f:
        for line in f:
            tokens = simple_preprocess(line)
            if tokens:
                yield tokens


class ModelConfig(NamedTuple):
    """Settings of the default CBOW word2vec model (part of the cache key)."""

    corpus: CorpusName = "wiki+lee"
    vector_size: int = 100
    window: int = 5
    min_count: int = 5
    negative: int = 10
    epochs: int = 20
    seed: int = 0


@dataclass(frozen=True)
class CbowModel:
    """A trained CBOW word2vec model as plain arrays.

    Attributes:
      words: the vocabulary, by decreasing corpus frequency.
      input_vectors: ``[V, D]`` word vectors (gensim's ``wv.vectors``), not normalised.
      output_vectors: ``[V, D]`` output weights of negative sampling (gensim's ``syn1neg``).
      counts: ``[V]`` corpus frequencies.
      config: the training settings.
      window: the context window used in training.
    """

    words: tuple[str, ...]
    input_vectors: np.ndarray
    output_vectors: np.ndarray
    counts: np.ndarray
    config: ModelConfig

    def embeddings(self, *, normalize: bool = True) -> WordEmbeddings:
        """The input vectors as :class:`WordEmbeddings` (lowercased vocabulary)."""
        emb = WordEmbeddings(
            self.words,
            self.input_vectors,
            name=f"word2vec-cbow[{self.config.corpus}]",
            lowercase=True,
        )
        return emb.normalized() if normalize else emb


def train_cbow(sentences: list[list[str]], config: ModelConfig) -> CbowModel:
    """Trains a CBOW word2vec with one worker and a fixed seed (reproducible bit for bit)."""
    from gensim.models import Word2Vec

    if not sentences:
        raise kc.KhipuError("cannot train word2vec on an empty corpus")
    model = Word2Vec(
        sentences,
        vector_size=config.vector_size,
        window=config.window,
        min_count=config.min_count,
        sg=0,
        cbow_mean=1,
        hs=0,
        negative=config.negative,
        epochs=config.epochs,
        seed=config.seed,
        workers=1,
    )
    words = tuple(model.wv.index_to_key)
    counts = np.array([model.wv.get_vecattr(w, "count") for w in words], dtype=np.int64)
    return CbowModel(
        words,
        np.array(model.wv.vectors, dtype=np.float32),
        np.array(model.syn1neg, dtype=np.float32),
        counts,
        config,
    )


def _cache_file(config: ModelConfig) -> Path:
    import gensim

    key = json.dumps([_FORMAT_VERSION, gensim.__version__, *config], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return cache_dir() / f"cbow-{config.corpus.replace('+', '-')}-{digest}.npz"


def _save_model(path: Path, model: CbowModel) -> None:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        words=np.array(model.words, dtype=str),
        input_vectors=model.input_vectors,
        output_vectors=model.output_vectors,
        counts=model.counts,
        config=np.array(json.dumps(model.config._asdict())),
    )
    kc.atomic_write_bytes(path, buffer.getvalue())


def _load_model(path: Path) -> CbowModel:
    try:
        with np.load(path, allow_pickle=False) as z:
            config = ModelConfig(**json.loads(str(z["config"])))
            return CbowModel(
                tuple(str(w) for w in z["words"]),
                z["input_vectors"],
                z["output_vectors"],
                z["counts"],
                config,
            )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise kc.CheckpointError(f"cached model {path} is unreadable: {exc}") from exc


def default_model(config: ModelConfig | None = None, *, retrain: bool = False) -> CbowModel:
    """The offline default CBOW model, trained on first use and then read from the cache.

    Args:
      config: training settings (default :class:`ModelConfig()`: ~9.5k words, 100 dims,
        about 10 s to train on one core).
      retrain: ignore (and replace) a cached copy.
    """
    config = config or ModelConfig()
    path = _cache_file(config)
    if path.is_file() and not retrain:
        try:
            return _load_model(path)
        except kc.CheckpointError:
            pass  # a corrupt cache file is rebuilt below
    model = train_cbow(list(corpus_sentences(config.corpus)), config)
    _save_model(path, model)
    return model


def default_embeddings(config: ModelConfig | None = None) -> WordEmbeddings:
    """Unit-normalised vectors of :func:`default_model`."""
    return default_model(config).embeddings()
