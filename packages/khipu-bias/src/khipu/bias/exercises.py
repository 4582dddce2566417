"""Checkers for the exercises of the bias notebook (``notebooks/06_bias``).

Each checker runs the student's function against the package's reference on the
notebook's own toy example and on seeded random and edge-case inputs, prints one line
(✓, ✗ with the failing input, or "not attempted yet") and returns the student's function
when it passed, else the reference::

    cosine_similarity = ex.check_cosine_similarity(cosine_similarity)

The references are small NumPy functions written on top of the package's own
implementations (:mod:`khipu.bias.weat`, :mod:`khipu.bias.directions`,
:mod:`khipu.bias.debias`), so a student's answer is compared with the code the rest of
the practical uses.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from khipu.bias.debias import neutralize as _neutralize
from khipu.bias.weat import (
    association as _association,
    cosine_similarities,
    permutation_test,
    weat_effect_size,
)
from khipu.core.exercises import Case, Checker, Quiz, choice_check, function_check, value_check

__all__ = [
    "TOY_VECTORS",
    "all_splits",
    "check_association",
    "check_cosine_similarity",
    "check_effect_size",
    "check_n_partitions",
    "check_neutralize",
    "check_p_value",
    "check_project",
    "check_ripa",
    "check_rnd",
    "quiz_mac",
    "ref_association",
    "ref_cosine_similarity",
    "ref_effect_size",
    "ref_neutralize",
    "ref_p_value",
    "ref_project",
    "ref_ripa",
    "ref_rnd",
    "toy",
]

# A toy 3-d "embedding" used in the statements: the first axis plays "gender", the second
# "career", the third "family".
TOY_VECTORS: dict[str, tuple[float, float, float]] = {
    "he": (1.0, 0.2, 0.1),
    "she": (-1.0, 0.1, 0.3),
    "man": (0.9, 0.3, 0.0),
    "woman": (-0.8, 0.0, 0.4),
    "salary": (0.3, 1.0, 0.0),
    "office": (0.1, 0.9, 0.2),
    "home": (-0.2, 0.1, 1.0),
    "children": (-0.3, 0.0, 0.8),
    "doctor": (0.4, 0.7, 0.3),
    "nurse": (-0.6, 0.5, 0.5),
}


def toy(*words: str) -> np.ndarray:
    """Toy vectors of ``words`` stacked as ``[N, 3]`` (one word: ``[3]``)."""
    rows = np.array([TOY_VECTORS[w] for w in words], dtype=np.float64)
    return rows[0] if len(words) == 1 else rows


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- 1. cosine similarity --------------------------------------------------------------------


def ref_cosine_similarity(u: np.ndarray, v: np.ndarray) -> float:
    """cos(u, v) = u . v / (|u| |v|) of two vectors ``[D]``."""
    return float(cosine_similarities(np.asarray(u)[None], np.asarray(v)[None])[0, 0])


def _cosine_cases() -> list[Case]:
    rng = _rng(1)
    return [
        Case("toy: he, doctor", (toy("he"), toy("doctor"))),
        Case("toy: she, nurse", (toy("she"), toy("nurse"))),
        Case("random 50-d vectors", (rng.normal(size=50), rng.normal(size=50) * 3.0)),
        Case(
            "a vector and 5 times itself", (np.array([1.0, -2.0, 0.5]), np.array([5.0, -10.0, 2.5]))
        ),
        Case("opposite vectors", (np.array([0.3, 0.4]), np.array([-3.0, -4.0]))),
        Case("orthogonal vectors", (np.array([2.0, 0.0, 0.0]), np.array([0.0, 0.0, 7.0]))),
    ]


check_cosine_similarity: Checker = function_check(
    "cosine_similarity",
    reference=ref_cosine_similarity,
    cases=_cosine_cases,
    hint="divide the dot product by the product of the two norms (np.linalg.norm)",
)


# --- 2. s(w, A, B) ---------------------------------------------------------------------------


def ref_association(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b) for ``w [D]``, ``a [Na, D]``,
    ``b [Nb, D]``."""
    return float(_association(np.asarray(w, float)[None], np.asarray(a), np.asarray(b))[0])


def _association_cases() -> list[Case]:
    rng = _rng(2)
    career, family = toy("salary", "office"), toy("home", "children")
    return [
        Case("toy: he, A = salary, office, B = home, children", (toy("he"), career, family)),
        Case("toy: she, A = salary, office, B = home, children", (toy("she"), career, family)),
        Case(
            "toy: nurse, A = he, man, B = she, woman",
            (toy("nurse"), toy("he", "man"), toy("she", "woman")),
        ),
        Case(
            "random 20-d, |A| = 3, |B| = 5, not unit length",
            (rng.normal(size=20) * 2, rng.normal(size=(3, 20)) * 4, rng.normal(size=(5, 20)) * 0.5),
        ),
        Case(
            "A with a single word",
            (rng.normal(size=8), rng.normal(size=(1, 8)), rng.normal(size=(4, 8))),
        ),
    ]


check_association: Checker = function_check(
    "association",
    reference=ref_association,
    cases=_association_cases,
    hint="mean cosine with every row of A, minus mean cosine with every row of B "
    "(normalise the vectors: a dot product is not a cosine)",
)


# --- 3. the effect size ------------------------------------------------------------------------


def ref_effect_size(s_x: np.ndarray, s_y: np.ndarray) -> float:
    """d = (mean s_x - mean s_y) / std(s_x and s_y together, ddof = 1)."""
    return weat_effect_size(np.asarray(s_x, float), np.asarray(s_y, float), ddof=1)


def _effect_cases() -> list[Case]:
    rng = _rng(3)
    career, family = toy("salary", "office"), toy("home", "children")
    s_x = np.array([ref_association(toy(w), career, family) for w in ("he", "man")])
    s_y = np.array([ref_association(toy(w), career, family) for w in ("she", "woman")])
    return [
        Case("toy: X = he, man; Y = she, woman", (s_x, s_y)),
        Case("random, 8 words each", (rng.normal(0.05, 0.1, 8), rng.normal(-0.02, 0.1, 8))),
        Case(
            "random, 3 words each, X below Y", (rng.normal(-0.3, 0.1, 3), rng.normal(0.2, 0.1, 3))
        ),
        Case(
            "X and Y with different spreads",
            (np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.0, 0.01, 0.02, 0.03])),
        ),
    ]


check_effect_size: Checker = function_check(
    "effect_size",
    reference=ref_effect_size,
    cases=_effect_cases,
    hint="divide by the sample standard deviation (ddof=1) of X and Y pooled together",
)


# --- 4. the permutation p-value ----------------------------------------------------------------


def ref_p_value(s_x: np.ndarray, s_y: np.ndarray) -> float:
    """Exact one-sided p-value: the share of the equal-size re-splittings (X_i, Y_i) of
    X u Y whose statistic S(X_i, Y_i) is strictly greater than S(X, Y)."""
    s_x, s_y = np.asarray(s_x, float), np.asarray(s_y, float)
    return permutation_test(s_x, s_y, exact_limit=10**7).p_value


def _dyadic(rng: np.random.Generator, n: int, shift: int = 0) -> np.ndarray:
    """Multiples of 1/64: every sum is exact, so ties are real ties."""
    return (rng.integers(-32, 33, size=n) + shift) / 64.0


def _p_value_cases() -> list[Case]:
    rng = _rng(4)
    return [
        Case("4 words each", (_dyadic(rng, 4, 8), _dyadic(rng, 4))),
        Case("6 words each, X below Y", (_dyadic(rng, 6, -10), _dyadic(rng, 6))),
        Case("7 words each, no difference", (_dyadic(rng, 7), _dyadic(rng, 7))),
        Case("ties: X = [1, 1], Y = [0, 0]", (np.array([1.0, 1.0]), np.array([0.0, 0.0]))),
        Case("ties: X = [0, 0], Y = [1, 1]", (np.array([0.0, 0.0]), np.array([1.0, 1.0]))),
        Case("one word each", (np.array([0.25]), np.array([0.5]))),
    ]


check_p_value: Checker = function_check(
    "p_value",
    reference=ref_p_value,
    cases=_p_value_cases,
    hint="enumerate every subset of size |X| of the pooled words (itertools.combinations), "
    "compute S for each split and count those strictly greater than the observed S "
    "(a tie is not greater; the observed split is one of the splits)",
)

check_n_partitions: Checker = value_check(
    "n_partitions",
    math.comb(16, 8),
    hint="choose which 8 of the 16 pooled words form X_i (math.comb)",
)


# --- 5. projection on a direction --------------------------------------------------------------


def ref_project(vectors: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Cosine of every row of ``vectors [N, D]`` with the direction ``g [D]``: ``[N]``."""
    return np.asarray(cosine_similarities(np.asarray(vectors), np.asarray(g)[None])[:, 0])


def _project_cases() -> list[Case]:
    rng = _rng(5)
    g = toy("she") - toy("he")
    return [
        Case(
            "toy: doctor, nurse, salary, home on she - he",
            (toy("doctor", "nurse", "salary", "home"), g),
        ),
        Case(
            "random [7, 20] rows, direction of length 3",
            (rng.normal(size=(7, 20)) * 2, rng.normal(size=20) * 3),
        ),
        Case("one row", (rng.normal(size=(1, 5)), rng.normal(size=5))),
        Case(
            "rows of very different lengths",
            (np.array([[10.0, 0.0], [0.0, 0.1], [1.0, 1.0]]), np.array([1.0, 1.0])),
        ),
    ]


check_project: Checker = function_check(
    "project",
    reference=ref_project,
    cases=_project_cases,
    hint="normalise every row (axis=1, keepdims=True) and the direction, then one matrix "
    "product gives the N cosines",
)


# --- 6. neutralize -----------------------------------------------------------------------------


def ref_neutralize(vectors: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``normalize(v - (v . g_hat) g_hat)`` for every row of ``vectors [N, D]``; ``[N, D]``."""
    return np.asarray(_neutralize(np.asarray(vectors, np.float64), np.asarray(g, np.float64)))


def _neutralize_cases() -> list[Case]:
    rng = _rng(6)
    g = toy("she") - toy("he")
    return [
        Case("toy: doctor, nurse on she - he", (toy("doctor", "nurse"), g)),
        Case(
            "random [6, 10] rows, direction of length 4",
            (rng.normal(size=(6, 10)), rng.normal(size=10) * 4),
        ),
        Case(
            "a row already orthogonal to g",
            (np.array([[0.0, 2.0, 0.0]]), np.array([1.0, 0.0, 0.0])),
        ),
        Case("direction along an axis", (rng.normal(size=(3, 4)), np.array([0.0, 0.0, 5.0, 0.0]))),
    ]


check_neutralize: Checker = function_check(
    "neutralize",
    reference=ref_neutralize,
    cases=_neutralize_cases,
    hint="use the unit direction g / |g|: subtract (v . g_hat) g_hat from each row, then "
    "rescale every row to length 1",
)


# --- 8. Relative Norm Distance (Garg et al. 2018) ----------------------------------------------


def _unit_np(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return np.asarray(x / np.linalg.norm(x, axis=-1, keepdims=True))


def ref_rnd(t1: np.ndarray, t2: np.ndarray, attributes: np.ndarray) -> float:
    """RND: mean over the attribute rows a of ``||a - c1|| - ||a - c2||``, ci the mean of
    the rows of ti (all inputs unit rows ``[N, D]``)."""
    import jax.numpy as jnp
    from khipu.bias.metrics import rnd

    return float(rnd(jnp.asarray(t1), jnp.asarray(t2), jnp.asarray(attributes)))


def _rnd_cases() -> list[Case]:
    rng = _rng(8)
    return [
        Case(
            "toy: he, man vs she, woman; attributes salary, office",
            (
                _unit_np(toy("he", "man")),
                _unit_np(toy("she", "woman")),
                _unit_np(toy("salary", "office")),
            ),
        ),
        Case(
            "random sets of 4, 6 and 5 words in 10-d",
            (
                _unit_np(rng.normal(size=(4, 10))),
                _unit_np(rng.normal(size=(6, 10))),
                _unit_np(rng.normal(size=(5, 10))),
            ),
        ),
        Case(
            "one attribute word",
            (
                _unit_np(rng.normal(size=(3, 5))),
                _unit_np(rng.normal(size=(3, 5))),
                _unit_np(rng.normal(size=(1, 5))),
            ),
        ),
    ]


check_rnd: Checker = function_check(
    "rnd",
    reference=ref_rnd,
    cases=_rnd_cases,
    hint="c1 = t1.mean(axis=0), c2 = t2.mean(axis=0) (do not renormalise them); for each "
    "attribute row take the distance to c1 minus the distance to c2, then the mean",
)


# --- 9. RIPA (Ethayarajh et al. 2019) --------------------------------------------------------


def ref_ripa(x: np.ndarray, y: np.ndarray, words: np.ndarray) -> np.ndarray:
    """RIPA ``<w, b>`` for every row of ``words`` ``[N]``: b is the unit first principal
    direction of the (uncentred) differences ``x_i - y_i``, signed so the mean difference
    projects positively."""
    import jax.numpy as jnp
    from khipu.bias.metrics import ripa

    return np.asarray(ripa(jnp.asarray(x), jnp.asarray(y), jnp.asarray(words)), np.float64)


def _ripa_cases() -> list[Case]:
    rng = _rng(9)
    shift = np.zeros(8)
    shift[0] = 1.5
    return [
        Case(
            "toy: pairs (he, she), (man, woman); words doctor, nurse",
            (
                _unit_np(toy("he", "man")),
                _unit_np(toy("she", "woman")),
                _unit_np(toy("doctor", "nurse")),
            ),
        ),
        Case(
            "five random pairs sharing a relation, 4 words",
            (
                _unit_np(rng.normal(size=(5, 8)) + shift),
                _unit_np(rng.normal(size=(5, 8)) - shift),
                _unit_np(rng.normal(size=(4, 8))),
            ),
        ),
        Case(
            "pairs whose differences disagree (PCA, not the mean)",
            (
                _unit_np(np.array([[1.0, 0.2, 0.0], [1.0, -0.9, 0.1], [0.9, 0.0, 0.3]])),
                _unit_np(np.array([[-1.0, 0.1, 0.0], [-0.2, 0.8, 0.0], [-0.9, 0.1, -0.2]])),
                _unit_np(rng.normal(size=(3, 3))),
            ),
        ),
        Case(
            "one pair: b = (x - y) / |x - y|",
            (
                _unit_np(rng.normal(size=(1, 6))),
                _unit_np(rng.normal(size=(1, 6))),
                _unit_np(rng.normal(size=(2, 6))),
            ),
        ),
    ]


check_ripa: Checker = function_check(
    "ripa",
    reference=ref_ripa,
    cases=_ripa_cases,
    hint="d = x - y (do not centre it); b = np.linalg.svd(d)[2][0]; flip b if "
    "d.mean(axis=0) @ b < 0; return words @ b",
)


# --- quizzes -----------------------------------------------------------------------------------

quiz_mac: Quiz = choice_check(
    "mac",
    "The MAC of some embeddings fell from 0.95 to 0.80 after debiasing. What does it say?",
    [
        "the bias fell: MAC measures bias, lower is better",
        "the target words moved closer to the attribute words on average; MAC is a "
        "distance, not a contrast, and cannot say which group is closer to which attribute",
        "the debiasing failed, since MAC should be 0 without bias",
    ],
    "b",
    "MAC (Manzini et al. 2019) is the mean cosine distance between every target word and "
    "every attribute set: 1 for orthogonal words. It mixes both groups, so it has no 'no "
    "bias' value; compare the MAC of each group, or use a contrast such as WEAT or RND.",
)


# --- helpers used by the notebook ------------------------------------------------------------


def all_splits(n_x: int, n_y: int) -> list[tuple[int, ...]]:
    """The index sets X_i (size ``n_x``) of every split of ``n_x + n_y`` pooled words."""
    return list(itertools.combinations(range(n_x + n_y), n_x))
