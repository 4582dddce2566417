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
import zipfile
from collections.abc import Iterator, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import khipu.core as kc
import numpy as np
from khipu.bias.embeddings import WordEmbeddings

__all__ = [
    "CORPORA",
    "SPANISH_CONFIG",
    "CbowModel",
    "CorpusName",
    "ModelConfig",
    "cache_dir",
    "corpus_sentences",
    "default_embeddings",
    "default_model",
    "gensim_datapath",
    "spanish_corpus",
    "spanish_embeddings",
    "train_cbow",
]

CorpusName = Literal["wiki+lee", "lee", "es-synthetic"]
CORPORA: tuple[str, ...] = ("wiki+lee", "lee", "es-synthetic")
_WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
_LEE_FILE = "lee_background.cor"
_FORMAT_VERSION = 1
_ES_CORPUS_VERSION = 1


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
    """Lowercased token lists of a bundled corpus (one per paragraph / article / sentence).

    Args:
      corpus: ``"wiki+lee"`` (the default model's corpus), ``"lee"`` (news only, small)
        or ``"es-synthetic"`` (the generated Spanish corpus of :func:`spanish_corpus`,
        default settings).
    """
    from gensim.utils import simple_preprocess

    if corpus not in CORPORA:
        raise kc.UnknownNameError("corpus", str(corpus), list(CORPORA))
    if corpus == "es-synthetic":
        yield from spanish_corpus()
        return
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

    version = (
        [_FORMAT_VERSION, _ES_CORPUS_VERSION]
        if config.corpus == "es-synthetic"
        else [_FORMAT_VERSION]
    )
    key = json.dumps([*version, gensim.__version__, *config], sort_keys=True)
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
        with path.open("rb") as f, np.load(f, allow_pickle=False) as z:
            config = ModelConfig(**json.loads(str(z["config"])))
            return CbowModel(
                tuple(str(w) for w in z["words"]),
                z["input_vectors"],
                z["output_vectors"],
                z["counts"],
                config,
            )
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
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


# --- a generated Spanish corpus -------------------------------------------------------------
#
# No Spanish running text ships with gensim or the practical's other dependencies, so the
# Spanish model is trained on sentences generated from the templates below. The gender
# stereotype is written in on purpose: ``stereotype`` is the probability that a sentence
# about a man talks about career, science, a "male" profession or adjective (and one about
# a woman about family, the arts, a "female" profession or adjective); 0.5 writes no
# association into the choice of sentences (what the model still finds then comes from
# the rest of the corpus: grammar, frequencies, chance).
# Pleasant / unpleasant words, wealth, age and origin are drawn independently of gender
# (controls). Professions and adjectives agree in grammatical gender with their subject
# (el enfermero / la enfermera), as Spanish requires.
#
# Why WEAT is not ~0 at stereotype 0.5 (issue 18: effect sizes of -0.3 to -1.1 for
# es-genero-carrera): grammatical gender. A masculine subject shares its contexts ("el",
# "un", masculine adjective forms such as "tranquilo") with masculine nouns ("el salario",
# "el hogar", "un hogar tranquilo") and a feminine one with feminine nouns ("la oficina",
# "la familia"): every attribute noun leans to the gender of its article, several times
# more than to its topic. The sets' leans do not cancel (hogar and matrimonio lean strongly
# masculine, oficina and gestión feminine), so the model finds "men ~ family" in a corpus
# with no social association at all, and the same templates give the same sign for every
# seed. Replacing the determiners by one token is not enough (agreeing adjectives such as
# "un hogar tranquilo" / "él es muy tranquilo" carry it too). This is the
# grammatical-gender confound of real Spanish embeddings (Zhou et al. 2019; Gonen et al.
# 2019), kept on purpose as a lesson and pinned by
# tests/test_bias_spanish.py::test_spanish_floor_at_0_5_is_grammatical_gender.

# (text, plural) subjects of each gender
_ES_SUBJECTS: dict[str, tuple[tuple[str, bool], ...]] = {
    "m": (
        ("él", False),
        ("el hombre", False),
        ("los hombres", True),
        ("el niño", False),
        ("el padre", False),
        ("el hijo", False),
        ("el hermano", False),
        ("el rey", False),
        ("el esposo", False),
        ("el abuelo", False),
        ("el tío", False),
        ("el señor", False),
        ("juan", False),
        ("carlos", False),
        ("pedro", False),
        ("luis", False),
        ("diego", False),
        ("jorge", False),
    ),
    "f": (
        ("ella", False),
        ("la mujer", False),
        ("las mujeres", True),
        ("la niña", False),
        ("la madre", False),
        ("la hija", False),
        ("la hermana", False),
        ("la reina", False),
        ("la esposa", False),
        ("la abuela", False),
        ("la tía", False),
        ("la señora", False),
        ("maría", False),
        ("ana", False),
        ("lucía", False),
        ("carmen", False),
        ("sofía", False),
        ("rosa", False),
    ),
}
# (singular, plural) verbs that introduce a topic phrase
_ES_VERBS: tuple[tuple[str, str], ...] = (
    ("habla de", "hablan de"),
    ("piensa en", "piensan en"),
    ("sueña con", "sueñan con"),
    ("se ocupa de", "se ocupan de"),
    ("escribe sobre", "escriben sobre"),
    ("recuerda", "recuerdan"),
    ("pregunta por", "preguntan por"),
    ("vive para", "viven para"),
)
# topic phrases; each word of the Spanish example sets appears in at least one
_ES_TOPICS: dict[str, tuple[str, ...]] = {
    "carrera": (
        "la oficina",
        "la oficina central",
        "un buen salario",
        "el salario del mes",
        "su carrera",
        "la carrera profesional",
        "la gestión de la empresa",
        "la gestión del proyecto",
        "una gran corporación",
        "la corporación internacional",
        "el puesto de ejecutivo",
        "el ejecutivo de ventas",
        "el nuevo negocio",
        "un negocio propio",
        "un trabajo profesional",
        "la reunión con el jefe",
        "un contrato nuevo",
    ),
    "familia": (
        "el hogar",
        "un hogar tranquilo",
        "sus padres",
        "la casa de sus padres",
        "sus hijos",
        "los hijos pequeños",
        "la familia",
        "toda la familia",
        "sus primos",
        "la boda de sus primos",
        "el matrimonio",
        "un matrimonio largo",
        "la boda",
        "sus parientes",
        "los parientes del pueblo",
        "la cena del domingo",
        "la cuna del bebé",
    ),
    "ciencia": (
        "la ciencia",
        "la ciencia moderna",
        "la tecnología",
        "la tecnología nueva",
        "la física",
        "la física cuántica",
        "la química",
        "la química orgánica",
        "las ideas de einstein",
        "einstein y la relatividad",
        "la nasa",
        "un cohete de la nasa",
        "un experimento",
        "los datos del experimento",
        "la astronomía",
        "la astronomía y las estrellas",
        "el laboratorio",
    ),
    "artes": (
        "la poesía",
        "la poesía antigua",
        "el arte",
        "el arte moderno",
        "la danza",
        "la danza clásica",
        "la literatura",
        "la literatura latinoamericana",
        "una novela",
        "la novela histórica",
        "una sinfonía",
        "la sinfonía de beethoven",
        "el teatro",
        "una obra de teatro",
        "la música",
        "la música popular",
        "el museo",
    ),
    "agradable": (
        "la libertad",
        "la salud",
        "el amor",
        "la paz",
        "un amigo",
        "el cielo",
        "un amigo leal",
        "el placer de leer",
        "un regalo",
        "el honor",
        "un día feliz",
        "la alegría",
    ),
    "desagradable": (
        "el abuso",
        "un choque",
        "el asesinato",
        "la enfermedad",
        "un accidente",
        "la muerte",
        "el duelo",
        "el veneno",
        "un desastre",
        "la tragedia",
        "la cárcel",
        "la prisión",
    ),
    "riqueza": (
        "un barrio rico",
        "un banquero rico",
        "un vecino adinerado",
        "un millonario",
        "la vida del millonario",
        "un barrio pobre",
        "un vecino pobre",
        "la pobreza",
        "la pobreza del campo",
        "una casa humilde",
        "un origen humilde",
    ),
    "edad": (
        "un joven",
        "la juventud",
        "un adolescente",
        "un estudiante",
        "el estudiante joven",
        "un viejo",
        "un anciano",
        "la persona mayor",
        "un jubilado",
        "el anciano jubilado",
    ),
    "origen": (
        "un pueblo indígena",
        "la lengua indígena",
        "un pueblo aborigen",
        "un pueblo originario",
        "un árbol nativo",
        "un viajero europeo",
        "un pintor español",
        "el vino blanco",
        "un turista extranjero",
        "el idioma español",
    ),
}
# the stereotype-consistent topic of each gender, and its opposite
_ES_PAIRED = (("carrera", "familia"), ("ciencia", "artes"))
_ES_CONTROLS = ("agradable", "desagradable", "riqueza", "edad", "origen")
# professions: (masculine, feminine) forms, and which gender the stereotype gives them
_ES_PROFESSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "m": (
        ("médico", "médica"),
        ("ingeniero", "ingeniera"),
        ("abogado", "abogada"),
        ("científico", "científica"),
        ("político", "política"),
        ("ministro", "ministra"),
        ("filósofo", "filósofa"),
        ("agricultor", "agricultora"),
        ("soldado", "soldado"),
        ("piloto", "piloto"),
        ("juez", "jueza"),
        ("presidente", "presidenta"),
        ("policía", "policía"),
    ),
    "f": (
        ("enfermero", "enfermera"),
        ("profesor", "profesora"),
        ("secretario", "secretaria"),
        ("cocinero", "cocinera"),
        ("escritor", "escritora"),
        ("artista", "artista"),
        ("cantante", "cantante"),
        ("periodista", "periodista"),
        ("poeta", "poeta"),
    ),
}
_ES_ADJECTIVES: dict[str, tuple[tuple[str, str], ...]] = {
    "m": (
        ("fuerte", "fuerte"),
        ("racional", "racional"),
        ("valiente", "valiente"),
        ("agresivo", "agresiva"),
        ("poderoso", "poderosa"),
        ("violento", "violenta"),
        ("exitoso", "exitosa"),
        ("ambicioso", "ambiciosa"),
        ("inteligente", "inteligente"),
    ),
    "f": (
        ("débil", "débil"),
        ("hermoso", "hermosa"),
        ("emocional", "emocional"),
        ("amable", "amable"),
        ("sensible", "sensible"),
        ("tranquilo", "tranquila"),
    ),
}
_ES_WORK = ("trabaja como", "es", "quiere ser", "fue")
_ES_TEAM = (
    "juega el domingo",
    "gana la liga",
    "entrena en el estadio",
    "pierde la final",
    "viaja a la copa",
)


def spanish_corpus(
    n_sentences: int = 20_000, *, stereotype: float = 0.8, seed: int = 0
) -> list[list[str]]:
    """A generated Spanish corpus whose gender stereotypes are set by one number.

    Each sentence has a subject of either gender (equally likely) and one topic:

    * with probability 0.4 career / family or science / arts: the gender's
      stereotype-consistent side with probability ``stereotype``, else the other side;
    * 0.2: a profession, 0.1: an adjective, agreeing with the subject's grammatical gender,
      taken from the gender's stereotypical half with probability ``stereotype``;
    * 0.25: a control topic (pleasant / unpleasant, wealth, age, origin) independent of
      gender; 0.05: a men's or women's team (``masculino`` / ``femenino``).

    Args:
      n_sentences: how many sentences (about 9 tokens each).
      stereotype: probability of the stereotype-consistent choice; 0.5 = none written in
        (WEAT still finds an effect there: the attribute nouns' grammatical gender, see
        the comment above the templates),
        1.0 = always the stereotype.
      seed: seed of the generator (same arguments, same corpus).

    Returns:
      ``n_sentences`` lowercased token lists.

    Raises:
      KhipuError: ``n_sentences`` is not positive or ``stereotype`` is outside [0, 1].
    """
    if n_sentences <= 0:
        raise kc.KhipuError(f"n_sentences must be positive, got {n_sentences}")
    if not 0.0 <= stereotype <= 1.0:
        raise kc.KhipuError(f"stereotype must be a probability in [0, 1], got {stereotype}")
    rng = np.random.default_rng(seed)
    sentences: list[list[str]] = []

    def pick(options: Sized) -> int:
        return int(rng.integers(len(options)))

    for _ in range(n_sentences):
        gender = "m" if rng.random() < 0.5 else "f"
        other = "f" if gender == "m" else "m"
        consistent = bool(rng.random() < stereotype)
        kind = float(rng.random())
        if kind < 0.4 or kind >= 0.7:
            subject, plural = _ES_SUBJECTS[gender][pick(_ES_SUBJECTS[gender])]
        else:  # professions and adjectives agree with a singular subject
            singular = tuple(s for s in _ES_SUBJECTS[gender] if not s[1])
            subject, plural = singular[pick(singular)]
        if kind < 0.4:
            pair = _ES_PAIRED[int(rng.integers(len(_ES_PAIRED)))]
            side = pair[0] if (gender == "m") == consistent else pair[1]
            phrases = _ES_TOPICS[side]
            verb = _ES_VERBS[pick(_ES_VERBS)][int(plural)]
            first, second = rng.choice(len(phrases), size=2, replace=False)
            text = f"{subject} {verb} {phrases[first]} y {phrases[second]}"
        elif kind < 0.6:
            half = _ES_PROFESSIONS[gender if consistent else other]
            job = half[pick(half)][0 if gender == "m" else 1]
            text = f"{subject} {_ES_WORK[pick(_ES_WORK)]} {job}"
        elif kind < 0.7:
            half = _ES_ADJECTIVES[gender if consistent else other]
            adjective = half[pick(half)][0 if gender == "m" else 1]
            text = f"{subject} es muy {adjective}"
        elif kind < 0.95:
            phrases = _ES_TOPICS[_ES_CONTROLS[pick(_ES_CONTROLS)]]
            verb = _ES_VERBS[pick(_ES_VERBS)][int(plural)]
            text = f"{subject} {verb} {phrases[pick(phrases)]}"
        else:
            team = "masculino" if gender == "m" else "femenino"
            text = f"el equipo {team} {_ES_TEAM[pick(_ES_TEAM)]}"
        sentences.append(text.split())
    return sentences


SPANISH_CONFIG = ModelConfig(corpus="es-synthetic", vector_size=50, epochs=10)


def spanish_embeddings(
    stereotype: float = 0.8,
    *,
    n_sentences: int = 20_000,
    seed: int = 0,
    config: ModelConfig = SPANISH_CONFIG,
) -> WordEmbeddings:
    """Unit-normalised CBOW vectors trained on :func:`spanish_corpus`.

    The default settings are trained once and cached like :func:`default_model`
    (``default_model(SPANISH_CONFIG)``); any other ``stereotype``, ``n_sentences`` or
    ``seed`` trains a fresh model (a few seconds).

    Args:
      stereotype: probability of the stereotype-consistent choice in the corpus.
      n_sentences: corpus size.
      seed: seed of the corpus; the training uses ``config.seed + seed``.
      config: word2vec settings; ``config.corpus`` must be ``"es-synthetic"``.
    """
    if config.corpus != "es-synthetic":
        raise kc.KhipuError(
            f"spanish_embeddings needs corpus 'es-synthetic', got {config.corpus!r}"
        )
    if (stereotype, n_sentences, seed) == (0.8, 20_000, 0):
        model = default_model(config)
    else:
        corpus = spanish_corpus(n_sentences, stereotype=stereotype, seed=seed)
        model = train_cbow(corpus, config._replace(seed=config.seed + seed))
    emb = model.embeddings()
    return emb.with_vectors(
        emb.vectors, name=f"word2vec-cbow[es-synthetic, stereotype {stereotype:.2f}]"
    )
