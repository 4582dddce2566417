"""Word embeddings: loading, preprocessing, unit normalisation and honest vocabulary look-up.

A :class:`WordEmbeddings` is a vocabulary (``words``) and a float32 matrix
``vectors [V, D]``. It is loaded from word2vec (text or binary), GloVe (text
without a header line) or fastText ``.vec`` files through gensim's
``KeyedVectors`` -- never by unpickling a file unless the caller asks for it.
Look-ups report which words are missing instead of silently dropping them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import khipu.core as kc
import numpy as np

EmbeddingFormat = Literal["word2vec", "word2vec-bin", "glove", "fasttext", "gensim"]
FORMATS: tuple[str, ...] = ("word2vec", "word2vec-bin", "glove", "fasttext", "gensim")
DEFAULT_MAX_MISSING = 0.2


class MissingWordsError(kc.KhipuError):
    """Too many words of a word set are not in the embedding's vocabulary."""

    def __init__(self, message: str, missing: Mapping[str, Sequence[str]]) -> None:
        super().__init__(message)
        self.missing = {k: list(v) for k, v in missing.items()}


def strip_accents(text: str) -> str:
    """Removes combining accents: ``"canción" -> "cancion"``, ``"niño" -> "nino"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize(
        "NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    )


def display_name(text: str) -> str:
    """``text`` safe to print and draw: file-name bytes that are not UTF-8 become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def preprocess_word(word: str, *, lowercase: bool = False, accents: bool = True) -> str:
    """The form of ``word`` used as a key: optionally lowercased and without accents."""
    word = word.strip()
    if lowercase:
        word = word.lower()
    if not accents:
        word = strip_accents(word)
    return word


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x [N, D]`` scaled to unit L2 norm (zero rows stay zero).

    Each row is first divided by its largest absolute value, so the norm never
    overflows (vectors of size 1e30 in float32 give the same directions as small ones).
    float32 input stays float32 (large vocabularies); anything else becomes float64.

    Raises:
      KhipuError: a row holds NaN or infinite values.
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    if x.size and not np.all(np.isfinite(x)):
        raise kc.KhipuError("cannot normalise vectors holding NaN or infinite values")
    if x.shape[-1] == 0:
        return x.copy()
    scale = np.max(np.abs(x), axis=-1, keepdims=True)
    scaled = np.divide(x, scale, out=np.zeros_like(x), where=scale > 0)
    norms = np.linalg.norm(scaled, axis=-1, keepdims=True)
    return np.asarray(np.divide(scaled, norms, out=np.zeros_like(x), where=norms > 0))


@dataclass(frozen=True)
class Lookup:
    """The result of looking up named word sets: what was found and what was missing.

    Attributes:
      found: per set, the words found (in their original spelling, input order).
      missing: per set, the words not in the vocabulary (in input order).
    """

    found: dict[str, list[str]]
    missing: dict[str, list[str]]

    @property
    def n_missing(self) -> int:
        """Total number of missing words over all sets."""
        return sum(len(v) for v in self.missing.values())

    def describe_missing(self) -> str:
        """``"Flowers: aster, crocus; Insects: gnat"`` (empty string when nothing is missing)."""
        return "; ".join(f"{k}: {', '.join(v)}" for k, v in self.missing.items() if v)


@dataclass(frozen=True)
class WordEmbeddings:
    """A vocabulary and its vectors.

    Attributes:
      words: the vocabulary, in file order (usually by decreasing frequency).
      vectors: float32 ``[V, D]``.
      name: where the vectors came from (shown in reports and figures).
      lowercase: look-ups lowercase the query (the vocabulary was lowercased at load time).
      accents: ``False`` when accents were stripped (look-ups strip them too).
    """

    words: tuple[str, ...]
    vectors: np.ndarray
    name: str = "embeddings"
    lowercase: bool = False
    accents: bool = True
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            vectors = np.asarray(self.vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(self.words):
            raise kc.KhipuError(
                f"vectors must be [V, D] with V = {len(self.words)} words, got {vectors.shape}"
            )
        finite = np.isfinite(vectors).all(axis=1) if vectors.size else np.ones(0, bool)
        if not finite.all():
            bad = [repr(self.words[i]) for i in np.flatnonzero(~finite)[:5]]
            raise kc.KhipuError(
                f"{self.name}: {int((~finite).sum())} vector(s) hold NaN or infinite values "
                f"(or values beyond float32), e.g. {', '.join(bad)}"
            )
        object.__setattr__(self, "vectors", vectors)
        index: dict[str, int] = {}
        for i, w in enumerate(self.words):
            index.setdefault(w, i)
        object.__setattr__(self, "index", index)

    # --- basic access ----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.words)

    @property
    def dim(self) -> int:
        """Vector dimension D."""
        return int(self.vectors.shape[1])

    def key(self, word: str) -> str:
        """The vocabulary key of ``word`` after this embedding's preprocessing."""
        return preprocess_word(word, lowercase=self.lowercase, accents=self.accents)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.key(word) in self.index

    def vector(self, word: str) -> np.ndarray:
        """The vector of one word.

        Raises:
          MissingWordsError: the word is not in the vocabulary.
        """
        k = self.key(word)
        if k not in self.index:
            raise MissingWordsError(
                f"{word!r} is not in the vocabulary of {self.name}", {"": [word]}
            )
        return np.asarray(self.vectors[self.index[k]])

    def matrix(self, words: Sequence[str]) -> np.ndarray:
        """Vectors ``[N, D]`` of ``words`` (all must be present)."""
        missing = [w for w in words if w not in self]
        if missing:
            raise MissingWordsError(
                f"not in the vocabulary of {self.name}: {', '.join(missing)}", {"": missing}
            )
        return self.vectors[[self.index[self.key(w)] for w in words]]

    def is_normalized(self, atol: float = 1e-4) -> bool:
        """Whether every vector has unit norm."""
        return bool(np.allclose(np.linalg.norm(self.vectors, axis=1), 1.0, atol=atol))

    def normalized(self) -> WordEmbeddings:
        """A copy with every vector scaled to unit norm (cosine = dot product)."""
        return self.with_vectors(unit_rows(self.vectors))

    def with_vectors(self, vectors: np.ndarray, *, name: str | None = None) -> WordEmbeddings:
        """The same vocabulary with new vectors (e.g. after debiasing)."""
        return WordEmbeddings(
            self.words,
            np.asarray(vectors, dtype=np.float32),
            name=self.name if name is None else name,
            lowercase=self.lowercase,
            accents=self.accents,
        )

    # --- honest look-up ----------------------------------------------------------------

    def lookup(
        self,
        word_sets: Mapping[str, Sequence[str]],
        *,
        max_missing: float | None = DEFAULT_MAX_MISSING,
    ) -> Lookup:
        """Splits every named word set into found and missing words.

        Args:
          word_sets: ``{set name: words}``.
          max_missing: the largest allowed fraction of missing words per set
            (``None``: no limit). An empty set is always an error.

        Returns:
          A :class:`Lookup` naming the missing words of each set.

        Raises:
          KhipuError: a set is empty.
          MissingWordsError: a set lost more than ``max_missing`` of its words, or
            all of them.
        """
        found: dict[str, list[str]] = {}
        missing: dict[str, list[str]] = {}
        for name, words in word_sets.items():
            words = list(words)
            if not words:
                raise kc.KhipuError(f"word set {name!r} is empty")
            found[name] = [w for w in words if w in self]
            missing[name] = [w for w in words if w not in self]
        result = Lookup(found, missing)
        bad = []
        for name, words in word_sets.items():
            n, lost = len(list(words)), len(missing[name])
            if lost == n or (max_missing is not None and lost / n > max_missing):
                bad.append(f"{lost} of {n} words of {name!r} ({', '.join(missing[name])})")
        if bad:
            limit = "" if max_missing is None else f" (limit {max_missing:.0%} per set)"
            raise MissingWordsError(
                f"not in the vocabulary of {self.name}{limit} (use embeddings that cover them "
                "with --embeddings FILE, other word sets, or raise --max-missing): "
                f"{'; '.join(bad)}",
                missing,
            )
        return result

    # --- neighbours --------------------------------------------------------------------

    def similarities(self, vector: np.ndarray) -> np.ndarray:
        """Cosine similarity ``[V]`` of every vocabulary vector with ``vector``."""
        v = unit_rows(np.asarray(vector, dtype=np.float64)[None, :])[0]
        return np.asarray(unit_rows(self.vectors) @ v)

    def most_similar(
        self, query: str | np.ndarray, *, topn: int = 10, exclude: Iterable[str] = ()
    ) -> list[tuple[str, float]]:
        """The ``topn`` nearest words by cosine similarity to a word or a vector."""
        vec = self.vector(query) if isinstance(query, str) else np.asarray(query)
        sims = self.similarities(vec)
        skip = {self.index[self.key(w)] for w in exclude if w in self}
        if isinstance(query, str):
            skip.add(self.index[self.key(query)])
        order = np.argsort(-sims, kind="stable")
        out = [(self.words[i], float(sims[i])) for i in order[: topn + len(skip)] if i not in skip]
        return out[:topn]

    # --- gensim interop ------------------------------------------------------------------

    def to_keyed_vectors(self) -> Any:
        """A gensim ``KeyedVectors`` holding the same vocabulary and vectors."""
        from gensim.models import KeyedVectors

        kv = KeyedVectors(vector_size=self.dim)
        kv.add_vectors(list(self.words), self.vectors)
        return kv

    @classmethod
    def from_keyed_vectors(
        cls,
        kv: Any,
        *,
        name: str = "embeddings",
        lowercase: bool = False,
        strip_accents: bool = False,
        normalize: bool = True,
    ) -> WordEmbeddings:
        """Wraps a gensim ``KeyedVectors`` (or anything with ``index_to_key`` and ``vectors``).

        Args:
          kv: the gensim vectors.
          name: a label for reports.
          lowercase: lowercase the vocabulary (and every later query).
          strip_accents: remove accents from the vocabulary (and every later query).
          normalize: scale every vector to unit norm.

        When preprocessing maps several words to one key (``"Paris"``, ``"paris"``),
        the first one in file order wins, as frequency-sorted files put the most
        frequent spelling first.
        """
        words = [str(w) for w in kv.index_to_key]
        vectors = np.asarray(kv.vectors, dtype=np.float32)
        if lowercase or strip_accents:
            keys = [
                preprocess_word(w, lowercase=lowercase, accents=not strip_accents) for w in words
            ]
            seen: dict[str, int] = {}
            for i, k in enumerate(keys):
                seen.setdefault(k, i)
            rows = sorted(seen.values())
            words = [keys[i] for i in rows]
            vectors = vectors[rows]
        emb = cls(tuple(words), vectors, name=name, lowercase=lowercase, accents=not strip_accents)
        return emb.normalized() if normalize else emb

    def save_word2vec(self, path: str | Path, *, binary: bool = False) -> Path:
        """Writes the vectors in word2vec format (text or binary), readable by any tool."""
        import os

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:  # written beside, then renamed: a failure never leaves half a file at ``path``
            self.to_keyed_vectors().save_word2vec_format(str(tmp), binary=binary)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path


def _looks_like_text(path: Path, size: int = 4096) -> bool:
    """Whether the start of a file is printable UTF-8 text (binary float32 data never is)."""
    with open(path, "rb") as f:
        head = f.read(size)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end
            return False
        text = head[: exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\n\r\t" for ch in text)


MAX_DIMENSION = 100_000


def _header(path: Path) -> tuple[int, int, int]:
    """``(count, dimension, header bytes)`` from a word2vec file's first line.

    Raises:
      ValueError: the first line is not two positive integers.
    """
    with open(path, "rb") as f:
        line = f.readline(256)
    fields = line.split()
    try:
        if len(fields) != 2 or not line.endswith(b"\n"):
            raise ValueError
        count, dim = int(fields[0]), int(fields[1])
    except ValueError:
        shown = line[:60].decode("utf-8", "replace").strip()
        raise ValueError(f"the first line should be '<words> <dimension>', got {shown!r}") from None
    if count <= 0 or not 0 < dim <= MAX_DIMENSION:
        raise ValueError(
            f"the header claims {count} words of dimension {dim} (need at least one word "
            f"and a dimension in [1, {MAX_DIMENSION}])"
        )
    return count, dim, len(line)


def _check_header(path: Path, binary: bool, limit: int | None) -> int:
    """Checks a word2vec header's claims against the file size before anything is allocated.

    A text row needs at least ``2 D + 1`` bytes (a one-letter word, D one-digit values with
    their spaces, a newline); a binary row ``4 D + 2`` (word, space, D float32). A header
    claiming more rows than the file can hold is refused.

    Returns:
      The number of rows the header claims.
    """
    count, dim, head = _header(path)
    row = 4 * dim + 2 if binary else 2 * dim + 1
    room = (path.stat().st_size - head) // row
    wanted = count if limit is None else min(count, limit)
    if wanted > room:
        raise ValueError(
            f"the header claims {count} words of dimension {dim}, but the file's "
            f"{path.stat().st_size} bytes hold at most {room} such rows"
        )
    return count


def _count_rows(path: Path) -> int:
    """Non-blank lines after the first (streamed: constant memory)."""
    rows = 0
    with open(path, "rb") as f:
        f.readline()
        for line in f:
            if line.strip():
                rows += 1
    return rows


def _load_glove(path: Path, limit: int | None) -> Any:
    """GloVe text (``word x1 ... xD`` lines, no header) into a gensim ``KeyedVectors``.

    (gensim's own ``no_header=True`` reader leaves a file handle open.) The last D fields
    are the vector, so words containing spaces survive.
    """
    from gensim.models import KeyedVectors

    words: list[str] = []
    rows: list[np.ndarray] = []
    dim = 0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if len(parts) < 2:
                if not line.strip():
                    continue
                raise ValueError(f"line {number} has no vector")
            if dim == 0:
                dim = len(parts) - 1
                if dim == 1 and all(p.isdigit() for p in parts):
                    raise ValueError(
                        f"line 1 is a word2vec header ({line.strip()!r}); "
                        "read this file with format 'word2vec'"
                    )
            if len(parts) - 1 < dim:
                raise ValueError(f"line {number} has {len(parts) - 1} values, expected {dim}")
            words.append(" ".join(parts[:-dim]))
            with np.errstate(over="ignore"):  # values beyond float32 are reported by word
                rows.append(np.array(parts[-dim:], dtype=np.float32))
            if limit is not None and len(words) >= limit:
                break
    if not words:
        raise ValueError("no 'word x1 x2 ...' lines found")
    kv = KeyedVectors(vector_size=dim)
    kv.add_vectors(words, np.stack(rows))
    return kv


def load_embeddings(
    path: str | Path,
    format: EmbeddingFormat = "word2vec",
    *,
    lowercase: bool = False,
    strip_accents: bool = False,
    normalize: bool = True,
    limit: int | None = None,
    allow_pickle: bool = False,
) -> WordEmbeddings:
    """Loads word vectors from a file through gensim.

    Args:
      path: the file.
      format: ``"word2vec"`` (text with a ``V D`` header), ``"word2vec-bin"`` (binary),
        ``"glove"`` (text, no header), ``"fasttext"`` (a ``.vec`` file: word2vec text),
        or ``"gensim"`` (a ``KeyedVectors.save`` file, which is a pickle: only with
        ``allow_pickle=True``, for files you made yourself).
      lowercase: lowercase the vocabulary and later queries.
      strip_accents: strip accents from the vocabulary and later queries.
      normalize: scale every vector to unit norm.
      limit: read only the first ``limit`` vectors (the most frequent words).
      allow_pickle: allow ``format="gensim"``. Unpickling runs code from the file.

    Raises:
      KhipuError: the file is missing, unreadable or not in ``format``; an unknown format.
    """
    from gensim.models import KeyedVectors

    path = Path(path)
    if format not in FORMATS:
        raise kc.UnknownNameError("embedding format", str(format), list(FORMATS))
    if not path.is_file():
        raise kc.KhipuError(f"embedding file {path} does not exist")
    if limit is not None and limit <= 0:
        raise kc.KhipuError(f"limit must be positive, got {limit}")
    if format == "gensim" and not allow_pickle:
        raise kc.KhipuError(
            f"{path}: gensim's native format is a pickle, which can run code when loaded; "
            "pass allow_pickle=True only for files you made yourself, or save the vectors "
            "in word2vec format"
        )
    claimed = 0
    try:
        if format == "word2vec-bin" and _looks_like_text(path):
            raise ValueError("the file is plain text; use format 'word2vec' (or 'glove')")
        if format == "gensim":
            kv = KeyedVectors.load(str(path))
        elif format == "glove":
            kv = _load_glove(path, limit)
        else:
            claimed = _check_header(path, format == "word2vec-bin", limit)
            with np.errstate(over="ignore"):  # values beyond float32 are reported by word below
                kv = KeyedVectors.load_word2vec_format(
                    str(path),
                    binary=format == "word2vec-bin",
                    limit=limit,
                    unicode_errors="strict",
                )
    except (ValueError, UnicodeDecodeError, EOFError, IndexError, TypeError, OSError) as exc:
        hint = {
            "word2vec": "a text file whose first line is '<words> <dimension>'",
            "fasttext": "a .vec text file whose first line is '<words> <dimension>'",
            "word2vec-bin": "a binary word2vec file",
            "glove": "a text file of 'word x1 x2 ...' lines without a header",
            "gensim": "a file written by KeyedVectors.save",
        }[format]
        why = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, UnicodeDecodeError) and format != "word2vec-bin":
            try:  # the byte offset in the file, not in gensim's line
                kc.check_utf8_file(path)
            except kc.KhipuError as not_text:
                why = str(not_text)
        raise kc.KhipuError(f"could not read {path} as {format} ({hint}): {why}") from exc
    except Exception as exc:  # gensim raises bare errors on some corrupt files
        raise kc.KhipuError(
            f"could not read {path} as {format}: {type(exc).__name__}: {exc}"
        ) from exc
    if len(kv.index_to_key) == 0:
        raise kc.KhipuError(f"{path} holds no vectors")
    if format in ("word2vec", "fasttext") and (limit is None or limit > claimed):
        rows = _count_rows(path)
        if rows != claimed:
            raise kc.KhipuError(
                f"{path}: the header claims {claimed} words but the file has {rows} rows; "
                "fix the first line (or pass --limit to read fewer)"
            )
    return WordEmbeddings.from_keyed_vectors(
        kv,
        name=display_name(path.name),
        lowercase=lowercase,
        strip_accents=strip_accents,
        normalize=normalize,
    )
