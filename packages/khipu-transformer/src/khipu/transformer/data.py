"""Text sources and the two tasks: word-order inversion and language modelling.

Text sources:

* ``"grammar"`` (the offline default): sentences generated from a small
  grammar and vocabulary written for this package (:func:`grammar_text`);
* a path to any UTF-8 text file;
* ``"tiny_shakespeare"``: through tensorflow-datasets, when the user has it
  prepared (``khipu-transformer[tfds]``).

Each source is split by position into train (80 %), validation (10 %) and
test (10 %) text, so held-out crops never overlap training text.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from khipu.core import KhipuError, check_input_file, decode_text, load_tfds_split
from khipu.transformer.tokenizers import CharTokenizer, pad_batch, split_words

MAX_TEXT_BYTES = 64 * 1024 * 1024
TEXT_SOURCES = ("grammar", "tiny_shakespeare")

_DETERMINERS = ("the", "a", "my", "your", "every", "one", "this", "that")
_ADJECTIVES = ("small", "red", "old", "happy", "quiet", "big", "green", "tired", "brave", "cold")
_NOUNS = (
    "cat",
    "dog",
    "bird",
    "child",
    "teacher",
    "farmer",
    "river",
    "house",
    "tree",
    "book",
    "llama",
    "song",
    "boat",
    "garden",
)
_VERBS = ("sees", "likes", "finds", "follows", "paints", "carries", "hears", "wants", "loves")
_PREPOSITIONS = ("near", "under", "behind", "with", "over", "inside")
_OPENERS = ("Today,", "Then", "Later,", "At night", "In spring", "Slowly,", "Again")


def _noun_phrase(rng: np.random.Generator) -> list[str]:
    words = [str(rng.choice(_DETERMINERS))]
    if rng.random() < 0.5:
        words.append(str(rng.choice(_ADJECTIVES)))
    words.append(str(rng.choice(_NOUNS)))
    return words


def grammar_sentence(rng: np.random.Generator) -> str:
    """One sentence of the grammar, e.g. ``"Today, my old dog sees a bird near the river."``."""
    words: list[str] = []
    if rng.random() < 0.25:
        words.append(str(rng.choice(_OPENERS)))
    words += _noun_phrase(rng)
    words.append(str(rng.choice(_VERBS)))
    words += _noun_phrase(rng)
    if rng.random() < 0.4:
        words.append(str(rng.choice(_PREPOSITIONS)))
        words += _noun_phrase(rng)
    words[0] = words[0][0].upper() + words[0][1:]
    return " ".join(words) + "."


def grammar_text(num_chars: int = 200_000, *, seed: int = 0) -> str:
    """Offline text: grammar sentences separated by spaces, a newline every few.

    Args:
      num_chars: length of the text to generate (at least this many characters,
        cut at the end of a sentence).
      seed: seed of the sentence generator; the same seed gives the same text.
    """
    if num_chars <= 0:
        raise KhipuError(f"num_chars must be positive, got {num_chars}")
    rng = np.random.default_rng(seed)
    parts: list[str] = []
    size = 0
    while size < num_chars:
        sentence = grammar_sentence(rng)
        sep = "\n" if rng.random() < 0.15 else " "
        parts += [sentence, sep]
        size += len(sentence) + 1
    return "".join(parts[:-1])


def invert_words(text: str) -> str:
    """Reverses the order of words; space, tab, newline and ``.`` move as tokens.

    >>> invert_words("Look at me, I am reversed.")
    '.reversed am I me, at Look'
    """
    return "".join(reversed(split_words(text)))


def read_text_file(path: str | Path) -> str:
    """A UTF-8 text file's contents, with clear errors for missing, empty,
    oversized or binary files."""
    path = check_input_file(path, "text")  # missing, or a folder: one line
    size = path.stat().st_size
    if size == 0:
        raise KhipuError(f"text file {path} is empty")
    if size > MAX_TEXT_BYTES:
        raise KhipuError(
            f"text file {path} is {size / 2**20:.0f} MiB; at most "
            f"{MAX_TEXT_BYTES // 2**20} MiB is read"
        )
    # a byte that is not UTF-8, or a NUL byte: one line with the file and byte offset
    text = decode_text(path.read_bytes(), f"text file {path}")
    if not text.strip():
        raise KhipuError(f"text file {path} holds only whitespace")
    return text


def load_text(
    source: str | Path = "grammar",
    *,
    data_dir: str | Path | None = None,
    num_chars: int = 200_000,
    seed: int = 0,
) -> str:
    """The text of a source: ``"grammar"``, ``"tiny_shakespeare"`` or a file path."""
    if isinstance(source, Path) or source not in TEXT_SOURCES:
        return read_text_file(source)
    if source == "grammar":
        return grammar_text(num_chars, seed=seed)
    parts = []
    for split in ("train", "validation", "test"):
        ds = load_tfds_split("tiny_shakespeare", split, data_dir=data_dir)
        parts.append("".join(_as_text(ds[i]["text"]) for i in range(len(ds))))
    text = "".join(parts)
    if not text.strip():
        raise KhipuError("tiny_shakespeare holds no text")
    return text


def _as_text(value: object) -> str:
    """A tfds ``Text`` feature (bytes from array_record, str from some readers) as str."""
    if isinstance(value, str):
        return value
    if hasattr(value, "item"):
        value = value.item()  # a NumPy scalar
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


@dataclasses.dataclass(frozen=True)
class TextSplits:
    """A text cut by position into train / validation / test parts."""

    train: str
    val: str
    test: str


def split_text(text: str, *, min_length: int = 1) -> TextSplits:
    """80 / 10 / 10 % of ``text`` by position.

    Raises:
      KhipuError: a part would be shorter than ``min_length`` characters.
    """
    n = len(text)
    a, b = int(n * 0.8), int(n * 0.9)
    splits = TextSplits(text[:a], text[a:b], text[b:])
    shortest = min(len(splits.val), len(splits.test))
    if shortest < min_length:
        raise KhipuError(
            f"the text has {n} characters: too short for crops of {min_length} "
            f"(need about {10 * min_length} characters)"
        )
    return splits


def random_crops(
    text: str, length: int, count: int, *, seed: int, min_length: int | None = None
) -> list[str]:
    """``count`` crops at seeded random offsets, of ``length`` characters or, with
    ``min_length``, of seeded random lengths in ``[min_length, length]``."""
    if len(text) < length:
        raise KhipuError(f"text of {len(text)} characters is shorter than a crop of {length}")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(text) - length + 1, size=count)
    lo = length if min_length is None else min_length
    if not 1 <= lo <= length:
        raise KhipuError(f"min_length must be between 1 and {length}, got {lo}")
    sizes = rng.integers(lo, length + 1, size=count)
    return [text[s : s + n] for s, n in zip(starts, sizes, strict=True)]


def inversion_arrays(
    crops: list[str], tokenizer: CharTokenizer, length: int | None = None
) -> dict[str, np.ndarray]:
    """The inversion task as padded arrays for teacher forcing.

    Args:
      crops: source texts of at most ``length`` characters.
      tokenizer: a character tokenizer that knows every character.
      length: padded source length ``L`` (default: the longest crop).

    Returns:
      ``{"src": [N, L], "src_len": [N], "dec_in": [N, L + 1], "tgt": [N, L + 1]}``
      int32: the source ids, their lengths, ``BOS`` + inverted ids and inverted
      ids + ``EOS``, padded with ``PAD``.
    """
    if not crops:
        raise KhipuError("no crops to build the inversion task from")
    src, src_len = pad_batch([tokenizer.encode(c) for c in crops], length)
    dec_in, _ = pad_batch(
        [tokenizer.encode(invert_words(c), bos=True) for c in crops], src.shape[1] + 1
    )
    tgt, _ = pad_batch(
        [tokenizer.encode(invert_words(c), eos=True) for c in crops], src.shape[1] + 1
    )
    return {"src": src, "src_len": src_len, "dec_in": dec_in, "tgt": tgt}


def lm_arrays(
    text: str, tokenizer: CharTokenizer, length: int, count: int | None, *, seed: int
) -> dict[str, np.ndarray]:
    """Language-modelling windows ``{"tokens": [N, length + 1]}`` int32.

    ``count=None`` cuts the text into consecutive non-overlapping windows
    (evaluation); otherwise ``count`` windows at seeded random offsets (training).
    """
    ids = tokenizer.encode(text)
    if len(ids) < length + 1:
        raise KhipuError(f"text of {len(ids)} characters is shorter than a window of {length + 1}")
    if count is None:
        n = len(ids) // (length + 1)
        windows = ids[: n * (length + 1)].reshape(n, length + 1)
    else:
        starts = np.random.default_rng(seed).integers(0, len(ids) - length, size=count)
        windows = np.stack([ids[s : s + length + 1] for s in starts])
    return {"tokens": windows.astype(np.int32)}
