"""What debiasing costs and what it leaves: one before/after table for any set of methods.

* Quality: Spearman's rho between cosine similarity and human judgements on WordSim-353
  and SimLex-999 (both ship in gensim's test data; gensim's ``evaluate_word_pairs``), and
  the accuracy on gensim's ``questions-words.txt`` analogies.
* Remaining bias: WEAT's effect size on a test, the direct bias of neutral words, and
  Gonen and Goldberg's (2019) *recoverability*: a classifier trained on the **debiased**
  vectors of the most biased words predicts their **original** gender side on held-out
  words (0.5 = gone, 1 = fully recoverable), beside their k-means cluster accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
from khipu.bias import metrics as m
from khipu.bias.analogies import evaluate_analogies
from khipu.bias.debias import recoverability
from khipu.bias.directions import BiasDirection, direct_bias
from khipu.bias.embeddings import WordEmbeddings, unit_rows
from khipu.bias.weat import weat
from khipu.bias.wordsets import WeatTest

SIMILARITY_FILES = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}


class WordSimilarity(NamedTuple):
    """Spearman's rho with human judgements, and how many pairs were out of vocabulary."""

    spearman: float
    oov_ratio: float


def word_similarity(emb: WordEmbeddings, benchmark: str = "wordsim353") -> WordSimilarity:
    """Spearman's rho between cosine similarity and a benchmark's human scores (gensim).

    Args:
      emb: the vectors.
      benchmark: ``"wordsim353"`` or ``"simlex999"`` (gensim's bundled files).
    """
    from khipu.bias.data import gensim_datapath

    if benchmark not in SIMILARITY_FILES:
        raise kc.UnknownNameError("similarity benchmark", benchmark, list(SIMILARITY_FILES))
    kv = emb.to_keyed_vectors()
    _, spearman, oov = kv.evaluate_word_pairs(
        str(gensim_datapath(SIMILARITY_FILES[benchmark])), case_insensitive=True
    )
    return WordSimilarity(float(spearman[0]), float(oov) / 100.0)


def recoverability_classifier(
    before: WordEmbeddings,
    after: WordEmbeddings,
    direction: BiasDirection | np.ndarray,
    *,
    n_words: int = 500,
    exclude: Iterable[str] = (),
    train_fraction: float = 0.8,
    seed: int = 0,
) -> float:
    """Gonen and Goldberg's recoverability: held-out accuracy of a classifier (an
    L2-regularised logistic regression, :func:`khipu.bias.metrics.fit_logistic`) that reads
    the original gender side of the most biased words from their debiased vectors.

    Args:
      before, after: the same vocabulary before and after debiasing.
      direction: the bias direction measured before.
      n_words: most biased words per side (fewer if the vocabulary is small).
      exclude: words to leave out (the gender-specific ones).
      train_fraction: share of the words used to train; the rest measure accuracy.
      seed: the split's seed.

    Returns:
      Accuracy on the held-out words (0.5 = chance).
    """
    if before.words != after.words:
        raise kc.KhipuError("before and after must share the same vocabulary")
    g = direction.vector if isinstance(direction, BiasDirection) else np.asarray(direction)
    skip = {before.key(w) for w in exclude}
    cand = np.array([i for i, w in enumerate(before.words) if w not in skip], dtype=np.int64)
    n_words = max(2, min(n_words, len(cand) // 2))
    proj = unit_rows(np.asarray(before.vectors, np.float64)[cand]) @ unit_rows(g[None])[0]
    order = np.argsort(-proj, kind="stable")
    chosen = cand[np.concatenate([order[:n_words], order[::-1][:n_words]])]
    labels = np.concatenate([np.ones(n_words), np.zeros(n_words)])
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(chosen))
    n_train = max(2, min(len(chosen) - 2, round(train_fraction * len(chosen))))
    train, test = perm[:n_train], perm[n_train:]
    x = jnp.asarray(unit_rows(np.asarray(after.vectors, np.float64)[chosen]), jnp.float32)
    y = jnp.asarray(labels, jnp.float32)
    weight = jnp.zeros(len(chosen)).at[jnp.asarray(train)].set(1.0)
    fit = m.fit_logistic(x, y, weight, l2=1e-3, steps=500)
    pred = np.asarray(jax.nn.sigmoid(x @ fit.w + fit.b)) > 0.5
    return float(np.mean(pred[test] == labels[test].astype(bool)))


def quality_row(
    original: WordEmbeddings,
    emb: WordEmbeddings,
    direction: BiasDirection,
    test: WeatTest,
    neutral_words: Sequence[str],
    *,
    exclude: Iterable[str] = (),
    n_words: int = 500,
    seed: int = 0,
    analogies: bool = True,
) -> dict[str, float]:
    """Every quality and bias number of one embedding (``original`` itself for "before")."""
    exclude = list(exclude)
    row: dict[str, float] = {}
    for bench in SIMILARITY_FILES:
        row[bench] = word_similarity(emb, bench).spearman
    row["analogy_accuracy"] = evaluate_analogies(emb).accuracy if analogies else float("nan")
    row["weat_effect_size"] = weat(emb, test, seed=seed, n_permutations=1000).effect_size
    row["direct_bias"] = direct_bias(emb, neutral_words, direction, max_missing=None)
    row["recoverability"] = recoverability_classifier(
        original, emb, direction, n_words=n_words, exclude=exclude, seed=seed
    )
    row["cluster_accuracy"] = recoverability(
        original, emb, direction, n_words=min(n_words, 250), exclude=exclude, seed=seed
    ).cluster_accuracy
    return row


def quality_table(
    original: WordEmbeddings,
    debiased: Mapping[str, WordEmbeddings],
    direction: BiasDirection,
    test: WeatTest,
    neutral_words: Sequence[str],
    *,
    exclude: Iterable[str] = (),
    n_words: int = 500,
    seed: int = 0,
    analogies: bool = True,
) -> dict[str, dict[str, float]]:
    """``{"before": row, method: row, ...}`` (see :func:`quality_row`)."""
    exclude = list(exclude)
    kwargs: dict[str, Any] = {
        "exclude": exclude,
        "n_words": n_words,
        "seed": seed,
        "analogies": analogies,
    }
    table = {"before": quality_row(original, original, direction, test, neutral_words, **kwargs)}
    for name, emb in debiased.items():
        table[name] = quality_row(original, emb, direction, test, neutral_words, **kwargs)
    return table


def format_table(table: Mapping[str, Mapping[str, float]]) -> str:
    """A fixed-width text table (rows: embeddings; columns: the numbers)."""
    columns = list(next(iter(table.values())))
    head = f"{'':<14}" + "".join(f"{c:>18}" for c in columns)
    lines = [head]
    for name, row in table.items():
        lines.append(f"{name:<14}" + "".join(f"{row[c]:>18.3f}" for c in columns))
    return "\n".join(lines)
