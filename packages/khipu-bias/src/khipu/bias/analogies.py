"""Analogies: a is to b as c is to ? (3CosAdd and 3CosMul), and gensim's analogy benchmark.

3CosAdd (Mikolov et al. 2013) answers ``argmax_d cos(d, b) - cos(d, a) + cos(d, c)``;
3CosMul (Levy and Goldberg 2014) answers ``argmax_d cos'(d, b) cos'(d, c) / (cos'(d, a) +
eps)`` with ``cos' = (cos + 1) / 2``. Both exclude a, b and c from the answers by default --
which is itself a source of "biased analogies": with ``exclude_inputs=False`` the answer to
man : doctor :: woman : ? is often just "doctor" (Nissim et al. 2020).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import khipu.core as kc
import numpy as np
from khipu.bias.embeddings import WordEmbeddings, unit_rows

AnalogyMethod = Literal["3cosadd", "3cosmul"]
ANALOGY_METHODS: tuple[str, ...] = ("3cosadd", "3cosmul")


def analogy(
    emb: WordEmbeddings,
    a: str,
    b: str,
    c: str,
    *,
    method: str = "3cosadd",
    topn: int = 5,
    exclude_inputs: bool = True,
    eps: float = 1e-3,
) -> list[tuple[str, float]]:
    """The ``topn`` answers to ``a : b :: c : ?`` with their scores.

    Raises:
      MissingWordsError: a, b or c is not in the vocabulary.
      UnknownNameError: unknown method.
    """
    if method not in ANALOGY_METHODS:
        raise kc.UnknownNameError("analogy method", method, list(ANALOGY_METHODS))
    emb.lookup({"analogy": [a, b, c]}, max_missing=0.0)
    unit = unit_rows(emb.vectors)
    cos_a, cos_b, cos_c = (unit @ unit_rows(emb.matrix([w]))[0] for w in (a, b, c))
    if method == "3cosadd":
        scores = cos_b - cos_a + cos_c
    else:
        scores = ((cos_b + 1) / 2) * ((cos_c + 1) / 2) / ((cos_a + 1) / 2 + eps)
    if exclude_inputs:
        for w in (a, b, c):
            scores[emb.index[emb.key(w)]] = -np.inf
    order = np.argsort(-scores, kind="stable")[:topn]
    return [(emb.words[i], float(scores[i])) for i in order]


@dataclass(frozen=True)
class AnalogyEvaluation:
    """gensim's ``evaluate_word_analogies`` result.

    Attributes:
      accuracy: overall share correct (over questions whose four words are known).
      sections: ``{section: (correct, total)}``.
      n_questions: questions evaluated.
    """

    accuracy: float
    sections: dict[str, tuple[int, int]]
    n_questions: int


MAX_QUESTIONS_BYTES = 50_000_000


def check_questions(path: str | Path) -> int:
    """Checks an analogy questions file (word2vec's format) before gensim reads it.

    The format: ``: section`` lines and ``a b c d`` lines (four words each).

    Returns:
      The number of questions.

    Raises:
      KhipuError: missing, too large, not UTF-8, a line without four words, or no
        question at all.
    """
    path = Path(path)
    if not path.is_file():
        raise kc.KhipuError(f"analogy file {path} does not exist")
    if path.stat().st_size > MAX_QUESTIONS_BYTES:
        raise kc.KhipuError(f"analogy file {path} is larger than {MAX_QUESTIONS_BYTES} bytes")
    count = 0
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip() or line.startswith(":"):
                    continue
                n = len(line.split())
                if n != 4:
                    raise kc.KhipuError(
                        f"{path} line {number}: an analogy question is four words "
                        f"'a b c d', got {n}"
                    )
                count += 1
    except UnicodeDecodeError as exc:
        kc.check_utf8_file(path)  # names the byte offset in the file
        raise kc.KhipuError(f"{path} is not UTF-8 text ({exc.reason})") from exc
    if count == 0:
        raise kc.KhipuError(
            f"{path} holds no analogy questions (lines 'a b c d', sections ': name')"
        )
    return count


def evaluate_analogies(
    emb: WordEmbeddings,
    path: str | Path | None = None,
    *,
    restrict_vocab: int = 30_000,
    case_insensitive: bool = True,
) -> AnalogyEvaluation:
    """Runs gensim's ``KeyedVectors.evaluate_word_analogies`` (3CosAdd, inputs excluded).

    Args:
      emb: the vectors.
      path: a questions file in word2vec's format (default: gensim's bundled
        ``questions-words.txt``).
      restrict_vocab: only the first words of the vocabulary are candidate answers.
      case_insensitive: compare in lowercase.
    """
    from khipu.bias.data import gensim_datapath

    source = Path(path) if path is not None else gensim_datapath("questions-words.txt")
    check_questions(source)
    kv = emb.to_keyed_vectors()
    try:
        score, sections = kv.evaluate_word_analogies(
            str(source), restrict_vocab=restrict_vocab, case_insensitive=case_insensitive
        )
    except ZeroDivisionError:  # no question has all four words in the vocabulary
        score, sections = float("nan"), []
    except (ValueError, UnicodeDecodeError) as exc:
        raise kc.KhipuError(f"could not read analogy questions from {source}: {exc}") from exc
    table: dict[str, tuple[int, int]] = {}
    for sec in sections:
        correct, incorrect = len(sec["correct"]), len(sec["incorrect"])
        table[str(sec["section"])] = (correct, correct + incorrect)
    total = table.get("Total accuracy", (0, 0))[1]
    return AnalogyEvaluation(float(score) if total else float("nan"), table, total)
