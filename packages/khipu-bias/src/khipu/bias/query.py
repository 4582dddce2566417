"""Every metric on one query of word sets, with bootstrap intervals and the missing words.

:func:`query_metrics` looks the words of a WEAT test (targets X, Y; attributes A, B) up,
reports what is missing, and computes WEAT, RND (Euclidean and cosine), RNSB, MAC, ECT
and RIPA on the same words, each with a seeded bootstrap interval (words resampled within
each set), beside WEAT's permutation p-value. :func:`group_metrics` takes any number of
target and attribute groups (MAC, pairwise RND). :func:`rank_embeddings` ranks several
embeddings by every metric and says how far the metrics' rankings agree.

Signs, so that a table of numbers can be read:

* ``weat_effect_size``, ``rnd_*``, ``ripa``: positive when X goes with A and Y with B
  (WEAT's convention; RND is reported as the contrast ``RND(B) - RND(A)``, each RND
  negative where its attributes are closer to X).
* ``rnsb``: a KL divergence (>= 0); B is the "negative" class of the classifier.
* ``mac``: a cosine *distance* (1 = orthogonal), not a contrast.
* ``ect``: a rank correlation; 1 = both target groups order the attributes alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
from khipu.bias import metrics as m
from khipu.bias.embeddings import DEFAULT_MAX_MISSING, WordEmbeddings
from khipu.bias.uncertainty import BootstrapCI, bootstrap_ci
from khipu.bias.weat import DEFAULT_PERMUTATIONS, weat
from khipu.bias.wordsets import WeatTest

Array = jax.Array

METRICS: tuple[str, ...] = (
    "weat_effect_size",
    "rnd_euclidean",
    "rnd_cosine",
    "rnsb",
    "mac",
    "ect",
    "ripa",
)
"""The metrics :func:`query_metrics` reports, in that order."""


def bias_score(name: str, value: float) -> float:
    """A value turned into "larger = more biased", for rankings.

    ``|value|`` for the signed contrasts (WEAT, RND, RIPA), the KL itself for RNSB,
    ``1 - rho`` for ECT and ``1 - MAC`` for MAC (targets closer to the attributes; Manzini
    et al. read a MAC rising towards 1 after debiasing as less bias).
    """
    if name in ("weat_effect_size", "rnd_euclidean", "rnd_cosine", "ripa"):
        return abs(value)
    if name == "rnsb":
        return value
    if name in ("ect", "mac"):
        return 1.0 - value
    raise kc.UnknownNameError("metric", name, list(METRICS))


def matched_pairs(
    emb: WordEmbeddings, first: Sequence[str], second: Sequence[str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(kept, dropped)``: the lists paired **by word** (position i with position i), a
    pair dropped when either word is missing -- never shifting the later pairs.

    Raises:
      KhipuError: the lists have different lengths (no pairing is defined).
    """
    if len(first) != len(second):
        raise kc.KhipuError(
            f"RIPA pairs the target sets word by word, but they hold {len(first)} and "
            f"{len(second)} words; give two lists of equal length"
        )
    kept: list[tuple[str, str]] = []
    dropped: list[tuple[str, str]] = []
    for a, b in zip(first, second, strict=True):
        (kept if a in emb and b in emb else dropped).append((a, b))
    return kept, dropped


def rnd_euclidean_contrast(x: Array, y: Array, a: Array, b: Array) -> Array:
    """``RND(X, Y; B) - RND(X, Y; A)`` (Euclidean): positive when X goes with A."""
    return m.rnd(x, y, b) - m.rnd(x, y, a)


def rnd_cosine_contrast(x: Array, y: Array, a: Array, b: Array) -> Array:
    """``RND(X, Y; B) - RND(X, Y; A)`` (cosine): positive when X goes with A."""
    return m.rnd(x, y, b, distance="cosine") - m.rnd(x, y, a, distance="cosine")


def _rnsb_one(t: Array, a: Array, b: Array, key: Array) -> Array:
    return m.rnsb(t, a, b, key, n_seeds=1)[0][0]


def _mac_two(x: Array, y: Array, a: Array, b: Array) -> Array:
    return m.mac([x, y], [a, b])


def _ripa_pairs(pairs: Array, a: Array, b: Array) -> Array:
    return m.ripa_contrast(pairs[:, 0], pairs[:, 1], a, b)


_STATISTICS: dict[str, tuple[Any, bool]] = {
    "weat_effect_size": (m.weat_d, False),
    "rnd_euclidean": (rnd_euclidean_contrast, False),
    "rnd_cosine": (rnd_cosine_contrast, False),
    "rnsb": (_rnsb_one, True),
    "mac": (_mac_two, False),
    "ect": (m.ect, False),
    "ripa": (_ripa_pairs, False),
}
"""``{metric: (statistic over its sets, takes a key)}``."""


@dataclass(frozen=True)
class QueryMetrics:
    """Every metric of one query on one embedding.

    Attributes:
      test, embeddings: names.
      values: ``{metric: BootstrapCI}`` (see :data:`METRICS`). RNSB's value is the mean of
        ``rnsb_per_seed``; its interval trains one seeded classifier per resample, so it
        holds the classifier's randomness as well as the words'.
      p_value: WEAT's permutation p-value; p_value_kind: how it was computed.
      alternative: ``"greater"`` or ``"two-sided"``.
      rnsb_per_seed: the KL of each seeded classifier (``values["rnsb"]`` is their mean).
      words: ``{"X", "Y", "A", "B": words used}``; pairs: RIPA's pairs.
      missing: ``{set name: missing words}``; dropped_pairs: RIPA pairs with a missing word.
      details: per-word numbers (RND terms, RIPA scores, RNSB probabilities).
    """

    test: str
    embeddings: str
    values: dict[str, BootstrapCI]
    p_value: float
    p_value_kind: str
    alternative: str
    rnsb_per_seed: np.ndarray
    words: dict[str, list[str]]
    pairs: list[tuple[str, str]]
    missing: dict[str, list[str]]
    dropped_pairs: list[tuple[str, str]]
    details: dict[str, dict[str, float]] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        """A flat dict for ``metrics.json``: every metric, its interval, the missing words."""
        out: dict[str, Any] = {"test": self.test, "embeddings": self.embeddings}
        for name, ci in self.values.items():
            out.update(ci.as_dict(name))
        out["ci_level"] = next(iter(self.values.values())).level
        out["bootstrap_resamples"] = next(iter(self.values.values())).n_resamples
        out["weat_p_value"] = self.p_value
        out["weat_p_value_kind"] = self.p_value_kind
        out["weat_p_value_alternative"] = self.alternative
        out["rnsb_seed_mean"] = float(np.mean(self.rnsb_per_seed))
        out["rnsb_seed_std"] = (
            float(np.std(self.rnsb_per_seed, ddof=1)) if len(self.rnsb_per_seed) > 1 else 0.0
        )
        out["rnsb_seeds"] = len(self.rnsb_per_seed)
        out["n_missing"] = sum(len(v) for v in self.missing.values())
        out["missing_words"] = "; ".join(
            f"{k}: {', '.join(v)}" for k, v in self.missing.items() if v
        )
        out["ripa_dropped_pairs"] = ", ".join(f"{a}/{b}" for a, b in self.dropped_pairs)
        for role in "XYAB":
            out[f"n_{role}"] = len(self.words[role])
        return out

    def summary(self) -> str:
        """One line per metric: value [low, high]."""
        lines = [f"{self.test} on {self.embeddings}:"]
        for name, ci in self.values.items():
            lines.append(f"  {name:<17} {ci.value:+.4f}  [{ci.low:+.4f}, {ci.high:+.4f}]")
        lines.append(f"  WEAT p-value ({self.alternative}) {self.p_value:.3g}")
        return "\n".join(lines)


def query_metrics(
    emb: WordEmbeddings,
    test: WeatTest,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    rnsb_seeds: int = 10,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    alternative: str = "greater",
    max_missing: float | None = DEFAULT_MAX_MISSING,
    level: float = 0.95,
) -> QueryMetrics:
    """Every metric of :data:`METRICS` on one WEAT test, with bootstrap intervals.

    The words are those :func:`khipu.bias.weat` uses (missing and duplicate words dropped
    and reported, X and Y balanced); RIPA pairs X and Y by word (:func:`matched_pairs`).

    Args:
      emb: the vectors (normalised inside).
      test: the query.
      bootstrap: resamples per interval; seed: the seed of everything random.
      rnsb_seeds: RNSB classifiers (mean and spread reported).
      n_permutations: WEAT's sampled partitions when the exact test is too large.
      alternative: WEAT p-value, ``"greater"`` or ``"two-sided"``.
      max_missing: the largest missing fraction of any set.
      level: coverage of the intervals.

    Raises:
      MissingWordsError: too many words are missing.
      ConstantInputError: ECT is undefined on these words.
    """
    result = weat(
        emb,
        test,
        max_missing=max_missing,
        n_permutations=n_permutations,
        seed=seed,
        alternative=alternative,
    )
    pairs, dropped = matched_pairs(emb, test.x.words, test.y.words)
    if len(pairs) < 2:
        raise kc.KhipuError(
            f"RIPA needs at least two pairs of target words in {emb.name}; found {len(pairs)}"
        )
    unit = emb.normalized()
    vec = {r: jnp.asarray(unit.matrix(result.words[r])) for r in "XYAB"}
    x, y, a, b = vec["X"], vec["Y"], vec["A"], vec["B"]
    ab = jnp.concatenate([a, b])
    px = jnp.asarray(unit.matrix([p[0] for p in pairs]))
    py = jnp.asarray(unit.matrix([p[1] for p in pairs]))
    pair_arr = jnp.stack([px, py], axis=1)
    m.ect_checked(x, y, ab)  # refuses a constant input with a clear error
    kl, probs = m.rnsb(jnp.concatenate([x, y]), a, b, jax.random.key(seed), n_seeds=rnsb_seeds)
    sets = {
        "weat_effect_size": [x, y, a, b],
        "rnd_euclidean": [x, y, a, b],
        "rnd_cosine": [x, y, a, b],
        "rnsb": [jnp.concatenate([x, y]), a, b],
        "mac": [x, y, a, b],
        "ect": [x, y, ab],
        "ripa": [pair_arr, a, b],
    }
    values: dict[str, BootstrapCI] = {}
    for name, (stat, with_key) in _STATISTICS.items():
        values[name] = bootstrap_ci(
            stat,
            sets[name],
            n_resamples=bootstrap,
            seed=seed,
            level=level,
            with_key=with_key,
            value=float(jnp.mean(kl)) if name == "rnsb" else None,
        )
    rel = m.relation_vector(px, py)
    details = {
        "rnd_euclidean_per_attribute": _per_word(
            result.words["A"] + result.words["B"], m.rnd_per_word(x, y, ab)
        ),
        "rnd_cosine_per_attribute": _per_word(
            result.words["A"] + result.words["B"], m.rnd_per_word(x, y, ab, distance="cosine")
        ),
        "ripa_per_attribute": _per_word(result.words["A"] + result.words["B"], ab @ rel),
        "rnsb_probability": _per_word(
            result.words["X"] + result.words["Y"], jnp.mean(probs, axis=0)
        ),
    }
    return QueryMetrics(
        test=test.name,
        embeddings=emb.name,
        values=values,
        p_value=result.p_value,
        p_value_kind=result.p_value_kind,
        alternative=alternative,
        rnsb_per_seed=np.asarray(kl, np.float64),
        words=result.words,
        pairs=pairs,
        missing=result.missing,
        dropped_pairs=dropped,
        details=details,
    )


def _per_word(words: Sequence[str], values: Array) -> dict[str, float]:
    return {w: float(v) for w, v in zip(words, np.asarray(values), strict=True)}


@dataclass(frozen=True)
class GroupMetrics:
    """Metrics of a query with any number of groups.

    Attributes:
      targets, attributes: the group names, in order.
      mac: MAC over every group; mac_per_target: the MAC of each target group alone.
      rnd_pairwise: ``{attribute group: [k, k] RND matrix}`` (row i negative where the
        attributes are closer to target group i than to group j).
      missing: the missing words of each group.
    """

    targets: tuple[str, ...]
    attributes: tuple[str, ...]
    mac: float
    mac_per_target: dict[str, float]
    rnd_pairwise: dict[str, np.ndarray]
    missing: dict[str, list[str]]


def group_metrics(
    emb: WordEmbeddings,
    targets: Mapping[str, Sequence[str]],
    attributes: Mapping[str, Sequence[str]],
    *,
    max_missing: float | None = DEFAULT_MAX_MISSING,
    distance: str = "euclidean",
) -> GroupMetrics:
    """MAC and pairwise RND for ``k >= 2`` target groups and ``>= 1`` attribute groups.

    Raises:
      KhipuError: fewer than two target groups or no attribute group; a name repeated.
      MissingWordsError: too many words missing.
    """
    if len(targets) < 2 or len(attributes) < 1:
        raise kc.KhipuError(
            "an n-group query needs at least two target groups and one attribute group"
        )
    if set(targets) & set(attributes):
        shared = sorted(set(targets) & set(attributes))
        raise kc.KhipuError(f"group names must differ between targets and attributes: {shared}")
    look = emb.lookup({**targets, **attributes}, max_missing=max_missing)
    unit = emb.normalized()
    t = {k: jnp.asarray(unit.matrix(look.found[k])) for k in targets}
    a = {k: jnp.asarray(unit.matrix(look.found[k])) for k in attributes}
    return GroupMetrics(
        targets=tuple(targets),
        attributes=tuple(attributes),
        mac=float(m.mac(list(t.values()), list(a.values()))),
        mac_per_target={k: float(m.mac([v], list(a.values()))) for k, v in t.items()},
        rnd_pairwise={
            k: np.asarray(m.rnd_pairwise(list(t.values()), v, distance=distance))
            for k, v in a.items()
        },
        missing={k: v for k, v in look.missing.items() if v},
    )


@dataclass(frozen=True)
class Ranking:
    """Several embeddings ranked by every metric.

    Attributes:
      embeddings: the names, in input order.
      metrics: the metric names.
      scores: ``[E, M]`` bias scores (:func:`bias_score`, larger = more biased).
      ranks: ``[E, M]`` rank of each embedding under each metric (1 = most biased,
        ties averaged).
      agreement: ``[M, M]`` Spearman correlation between the metrics' rankings (NaN where
        a metric ranks every embedding alike).
    """

    embeddings: tuple[str, ...]
    metrics: tuple[str, ...]
    scores: np.ndarray
    ranks: np.ndarray
    agreement: np.ndarray


def rank_embeddings(results: Sequence[QueryMetrics]) -> Ranking:
    """Ranks embeddings by each metric's bias score and correlates the rankings
    (WEFE's ranking-correlation idea: do the metrics agree which embedding is most biased?).

    Raises:
      KhipuError: fewer than two results.
    """
    if len(results) < 2:
        raise kc.KhipuError("ranking needs at least two embeddings")
    names = tuple(METRICS)
    scores = np.array(
        [[bias_score(n, r.values[n].value) for n in names] for r in results], np.float64
    )
    ranks = np.stack(
        [np.asarray(m.average_ranks(jnp.asarray(-scores[:, j]))) for j in range(len(names))],
        axis=1,
    )
    k = len(names)
    agreement = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(k):
            if np.ptp(ranks[:, i]) > 0 and np.ptp(ranks[:, j]) > 0:
                agreement[i, j] = float(
                    m.spearman(jnp.asarray(ranks[:, i]), jnp.asarray(ranks[:, j]))
                )
    return Ranking(tuple(r.embeddings for r in results), names, scores, ranks, agreement)
