"""Reversible tokenizers (characters, bytes, whitespace-separated words) and padding.

Every tokenizer reserves ``PAD = 0``, ``BOS = 1`` and ``EOS = 2``; its own
symbols start at id 3. ``decode(encode(text)) == text`` for any text the
tokenizer accepts; a character or word it does not know is an error, never a
silent replacement.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np
from khipu.core import KhipuError

PAD, BOS, EOS = 0, 1, 2
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")
NUM_SPECIAL = len(SPECIAL_TOKENS)
SEPARATORS = " \t\n."
_WORD_PIECES = re.compile(r"[ \t\n.]|[^ \t\n.]+")


class Tokenizer(Protocol):
    """What the tasks need from a tokenizer."""

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> np.ndarray: ...

    def decode(self, ids: Iterable[int]) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


def _wrap(ids: list[int], bos: bool, eos: bool) -> np.ndarray:
    return np.asarray(([BOS] if bos else []) + ids + ([EOS] if eos else []), dtype=np.int32)


def _content(ids: Iterable[int]) -> list[int]:
    """Ids up to the first EOS, without PAD/BOS."""
    out = []
    for i in ids:
        i = int(i)
        if i == EOS:
            break
        if i >= NUM_SPECIAL:
            out.append(i)
    return out


@dataclasses.dataclass(frozen=True)
class CharTokenizer:
    """One id per character of ``alphabet`` (ids ``3 .. 3 + len(alphabet) - 1``)."""

    alphabet: str

    def __post_init__(self) -> None:
        if not self.alphabet:
            raise KhipuError("a character tokenizer needs at least one character")
        if len(set(self.alphabet)) != len(self.alphabet):
            raise KhipuError("the tokenizer alphabet repeats characters")

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The sorted set of characters of ``text``."""
        if not text:
            raise KhipuError("cannot build a tokenizer from empty text")
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return NUM_SPECIAL + len(self.alphabet)

    @property
    def _index(self) -> dict[str, int]:
        return {c: i + NUM_SPECIAL for i, c in enumerate(self.alphabet)}

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> np.ndarray:
        """``text`` -> int32 ids ``[len(text) (+ BOS/EOS)]``.

        Raises:
          KhipuError: ``text`` holds a character outside the alphabet.
        """
        index = self._index
        try:
            ids = [index[c] for c in text]
        except KeyError:
            bad = sorted({c for c in text if c not in index})
            pos = min(text.index(c) for c in bad)
            raise KhipuError(
                f"unknown character(s) {''.join(bad)!r} (first at position {pos}); this "
                f"tokenizer knows {len(self.alphabet)} characters: {self.alphabet!r}"
            ) from None
        return _wrap(ids, bos, eos)

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text, stopping at the first EOS and skipping PAD/BOS."""
        return "".join(self.alphabet[i - NUM_SPECIAL] for i in _content(ids) if i < self.vocab_size)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "char", "alphabet": self.alphabet}


@dataclasses.dataclass(frozen=True)
class ByteTokenizer:
    """UTF-8 bytes: id = byte + 3 (vocabulary of 259); accepts any text."""

    @property
    def vocab_size(self) -> int:
        return NUM_SPECIAL + 256

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> np.ndarray:
        return _wrap([b + NUM_SPECIAL for b in text.encode("utf-8")], bos, eos)

    def decode(self, ids: Iterable[int]) -> str:
        data = bytes(i - NUM_SPECIAL for i in _content(ids) if i < self.vocab_size)
        return data.decode("utf-8", errors="replace")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "byte"}


def split_words(text: str) -> list[str]:
    """Words and separators: each of space, tab, newline and ``.`` is its own piece.

    >>> split_words("Look at me.")
    ['Look', ' ', 'at', ' ', 'me', '.']
    """
    return _WORD_PIECES.findall(text)


@dataclasses.dataclass(frozen=True)
class WordTokenizer:
    """One id per word or separator (see :func:`split_words`) of ``vocabulary``."""

    vocabulary: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.vocabulary:
            raise KhipuError("a word tokenizer needs at least one word")
        if len(set(self.vocabulary)) != len(self.vocabulary):
            raise KhipuError("the tokenizer vocabulary repeats words")

    @classmethod
    def from_text(cls, text: str) -> WordTokenizer:
        pieces = split_words(text)
        if not pieces:
            raise KhipuError("cannot build a tokenizer from empty text")
        return cls(tuple(sorted(set(pieces))))

    @property
    def vocab_size(self) -> int:
        return NUM_SPECIAL + len(self.vocabulary)

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> np.ndarray:
        index = {w: i + NUM_SPECIAL for i, w in enumerate(self.vocabulary)}
        pieces = split_words(text)
        unknown = [p for p in pieces if p not in index]
        if unknown:
            raise KhipuError(
                f"unknown word(s) {sorted(set(unknown))[:5]} for a vocabulary of "
                f"{len(self.vocabulary)} words"
            )
        return _wrap([index[p] for p in pieces], bos, eos)

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(
            self.vocabulary[i - NUM_SPECIAL] for i in _content(ids) if i < self.vocab_size
        )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "word", "vocabulary": list(self.vocabulary)}


def tokenizer_from_dict(data: dict[str, Any]) -> CharTokenizer | ByteTokenizer | WordTokenizer:
    """Rebuilds a tokenizer saved with ``to_dict()`` (checkpoint metadata)."""
    kind = data.get("kind")
    if kind == "char":
        return CharTokenizer(str(data["alphabet"]))
    if kind == "byte":
        return ByteTokenizer()
    if kind == "word":
        return WordTokenizer(tuple(str(w) for w in data["vocabulary"]))
    raise KhipuError(f"unknown tokenizer kind {kind!r} in checkpoint metadata")


def pad_batch(
    sequences: Sequence[np.ndarray | Sequence[int]],
    length: int | None = None,
    *,
    pad_id: int = PAD,
) -> tuple[np.ndarray, np.ndarray]:
    """Pads id sequences to one length.

    Args:
      sequences: ``B`` id sequences.
      length: target length ``T`` (default: the longest sequence).
      pad_id: the id written after each sequence.

    Returns:
      ``(tokens, lengths)``: int32 ``[B, T]`` and int32 ``[B]``.

    Raises:
      KhipuError: no sequences, or one longer than ``length``.
    """
    if not sequences:
        raise KhipuError("no sequences to pad")
    lengths = np.asarray([len(s) for s in sequences], dtype=np.int32)
    t = int(lengths.max()) if length is None else length
    if lengths.max() > t:
        raise KhipuError(f"a sequence of length {int(lengths.max())} is longer than {t}")
    tokens = np.full((len(sequences), t), pad_id, dtype=np.int32)
    for i, s in enumerate(sequences):
        tokens[i, : len(s)] = np.asarray(s, dtype=np.int32)
    return tokens, lengths


def lengths_to_mask(lengths: np.ndarray | Sequence[int], length: int) -> np.ndarray:
    """Boolean ``[B, T]``, ``True`` at the first ``lengths[b]`` positions of row ``b``."""
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]
