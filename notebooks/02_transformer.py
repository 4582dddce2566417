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
# # Attention and transformers, block by block
#
# Attention lets every position of a sequence look at every other position and take
# what it needs. In this practical (after the Khipu / Deep Learning Indaba one) you build
# the transformer from its parts with `khipu-transformer`, and **the model you train at
# the end is built from your own cells**:
#
# | part | what you write |
# |---|---|
# | 1. Attention | seq2seq dot-product attention |
# | 2. Queries, keys, values | Q/K/V projections, scaled dot-product attention, causal mask |
# | 3. Multi-head attention | splitting heads, the whole multi-head module |
# | 4. The architecture | (a figure) |
# | 5. Tokenisation | encode, decode, padding and masks |
# | 6. Positions | sinusoidal encodings, their exp/log form, learned positions |
# | 7. The blocks | feed-forward, Add & Norm, encoder block, decoder block |
# | 8. The whole model | the encoder–decoder, teacher forcing, the loss — then train it |
# | 9. Model families | decoder-only LM with a KV cache (demo) |
# | 10. Vision transformer | image patches; a ViT on digits |
# | 11. Features for classification | frozen encoder features |
#
# **How the exercises work.** Each exercise has a cell with a stub (`# YOUR CODE HERE`):
# replace `raise NotImplementedError` by your code, run it, then run the **check** cell
# below it. It prints ✓, ✗ with the failing input and a hint, or "not attempted yet", and
# always returns something that works (yours if it passed, else the reference), so the
# notebook runs to the end. The hidden **Solution** cell shows one answer — try first!
#
# **Quizzes** are cells reading `quiz_...(None)`: replace `None` by your option (`"a"`,
# `"b"`, …) and run. **Group tasks** are questions to discuss with your neighbours; each
# has a collapsed *Model answer* to open afterwards.

# %% tags=["pin"]
# %pip install "khipu-transformer==0.2.*"

# %%
import os
import re
import tempfile
from pathlib import Path

import haiku as hk
import jax
import jax.numpy as jnp
import khipu.core as kc
import khipu.transformer as tx
import numpy as np

jax.config.update("jax_numpy_rank_promotion", "allow")  # NumPy's broadcasting, as in Colab
QUICK = os.environ.get("KHIPU_QUICK") == "1"
OUT = Path(os.environ.get("KHIPU_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="khipu-tx-"))
print("quick mode" if QUICK else "full settings", "- writing to", OUT)

# %% [markdown]
# ## 1. Attention
#
# Read “The animal didn't cross the street because **it** was too tired.” To understand
# *it* you look back at *animal*, not at *street*. A recurrent network would have to carry
# *animal* through every word in between; **attention** lets the representation of *it*
# look at every word directly and take a weighted mix of them, with weights that depend on
# how relevant each word is.
#
# Attention first appeared in translation (Bahdanau et al., 2015): a decoder state $s$
# scores each encoder hidden state $h_t$, here with a dot product $e_t = s \cdot h_t$,
# turns the scores into weights with a softmax $\alpha_t = \mathrm{softmax}(e)_t$ and
# reads the **context vector** $c = \sum_t \alpha_t h_t$.
#
# **Exercise 1.** Write `dot_product_attention(hidden_states, previous_state)` for
# `hidden_states` `[B, T, d]` and `previous_state` `[B, S, d]`, returning
# `(weights [B, S, T], context [B, S, d])`.


# %% tags=["exercise"]
def dot_product_attention(hidden_states, previous_state):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
dot_product_attention = tx.exercises.check_dot_product_attention(dot_product_attention)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def dot_product_attention(hidden_states, previous_state):
    scores = jnp.einsum("bsd,btd->bst", previous_state, hidden_states)
    weights = jax.nn.softmax(scores, axis=-1)
    return weights, jnp.einsum("bst,btd->bsd", weights, hidden_states)


# %% [markdown]
# Word vectors that point the same way attend to each other. Here are made-up 3-d vectors
# for a sentence: food words share a direction, drinks another.

# %% tags=["figure"]
words = ["I", "drink", "coke", "but", "eat", "steak"]
vectors = jnp.array(
    [[1, 0, 0], [0, 2, 0.3], [0, 2.5, 0.2], [0.5, 0.5, 0.5], [0, 0.3, 2], [0, 0.2, 2.5]]
)
weights, _ = dot_product_attention(vectors[None], vectors[None])
tx.plot_attention(np.asarray(weights[0]), queries=words, keys=words, title="dot-product attention")

# %% [markdown]
# **Group task.** In the heatmap, which words attend to which? Why does *coke* attend
# more to *coke* than to *drink*, although they point the same way? What would happen to
# the weights if every vector were multiplied by 10?
#
# <details><summary>Model answer</summary>
#
# Drinks attend to drinks and foods to foods: the dot product is large between vectors
# that point the same way. A vector attends most to the longest vector in its direction —
# *coke* (length 2.5) scores higher with itself than *drink* (length 2) does, so raw dot
# products mix direction and length. Multiplying every vector by 10 multiplies the scores
# by 100: the softmax becomes almost one-hot (each word attends only to its best match).
# That is why the transformer divides the scores by √d (section 2) and learns its own
# projections instead of using raw word vectors.
#
# </details>

# %% [markdown]
# ## 2. Queries, keys and values
#
# Attention is a soft dictionary lookup. Each position emits three vectors, made by three
# learned linear maps of its embedding $x$:
#
# * a **query** $q = x W_Q$ — what am I looking for? (*it*: “which noun do I refer to?”)
# * a **key** $k = x W_K$ — what do I offer? (*animal*: “I am an animate noun”)
# * a **value** $v = x W_V$ — what do I hand over when I am chosen?
#
# The query of *it* is compared with every key; *animal*'s key matches best, so the new
# representation of *it* is mostly *animal*'s value. Think of looking for “the dog” in a
# photo: your query (“dog-like”) is compared with what every region of the picture shows
# (its key), and what you take away is the content of the matching regions (their values).
# Separating keys from values lets a word be *found* for one reason and *contribute*
# something else.
#
# **Quiz.** In “The animal didn't cross the street because it was too tired”, the model
# builds a new representation of “it”. What plays the role of the query?
#
# * (a) the vector of “it”, projected by W_Q
# * (b) the vector of “animal”, projected by W_Q
# * (c) the average of all the words' vectors
# * (d) the values of every word

# %% tags=["quiz"]
tx.exercises.quiz_query(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# **Exercise 2.** Write the Haiku module `SequenceToQKV(output_size)`: three separate
# `hk.Linear(output_size)` layers named `"query"`, `"key"` and `"value"`, each applied to
# `x` `[B, T, d]`; return `(q, k, v)`, each `[B, T, output_size]`.


# %% tags=["exercise"]
class SequenceToQKV(hk.Module):
    def __init__(self, output_size, name=None):
        super().__init__(name=name)
        self.output_size = output_size

    def __call__(self, x):
        # YOUR CODE HERE
        raise NotImplementedError


# %% tags=["check"]
SequenceToQKV = tx.exercises.check_sequence_to_qkv(SequenceToQKV)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
class SequenceToQKV(hk.Module):
    def __init__(self, output_size, name=None):
        super().__init__(name=name)
        self.output_size = output_size

    def __call__(self, x):
        q = hk.Linear(self.output_size, name="query")(x)
        k = hk.Linear(self.output_size, name="key")(x)
        v = hk.Linear(self.output_size, name="value")(x)
        return q, k, v


# %% [markdown]
# $\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\big(QK^\top / \sqrt{d}\big)\,V$. A dot
# product of two random $d$-dimensional vectors has a spread of about $\sqrt{d}$, so
# dividing by $\sqrt{d}$ keeps the scores' scale independent of the width. A boolean
# **mask** (`True` = may attend) hides padding or the future: masked scores become a very
# negative number before the softmax, so their weights are zero.
#
# **Exercise 3.** Write `scaled_dot_product_attention(query, key, value, mask=None)` for
# `[..., T, d]` arrays, returning `(outputs, weights)`.


# %% tags=["exercise"]
def scaled_dot_product_attention(query, key, value, mask=None):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
scaled_dot_product_attention = tx.exercises.check_scaled_dot_product_attention(
    scaled_dot_product_attention
)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def scaled_dot_product_attention(query, key, value, mask=None):
    scores = jnp.einsum("...qd,...kd->...qk", query, key) / jnp.sqrt(query.shape[-1])
    if mask is not None:
        scores = jnp.where(mask, scores, -1e9)
    weights = jax.nn.softmax(scores, axis=-1)
    return jnp.einsum("...qk,...kd->...qd", weights, value), weights


# %% [markdown]
# **Quiz.** Why are the scores divided by √d before the softmax?
#
# * (a) to make the attention weights sum to one
# * (b) because a dot product of d random components has a standard deviation of about √d;
#   unscaled, wide models get near one-hot softmaxes with vanishing gradients
# * (c) to save memory
# * (d) so that masked positions get zero weight

# %% tags=["quiz"]
tx.exercises.quiz_scaling(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# **Exercise 4.** A decoder must not look at the tokens it has yet to predict. Write
# `causal_mask(length)`: a boolean `[T, T]` array, `True` where key `j <= i`.


# %% tags=["exercise"]
def causal_mask(length):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
causal_mask = tx.exercises.check_causal_mask(causal_mask)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def causal_mask(length):
    return jnp.tril(jnp.ones((length, length), dtype=bool))


# %% [markdown]
# With the mask, each position spreads its attention over itself and the past only:

# %% tags=["figure"]
x = jax.random.normal(jax.random.key(0), (12, 8))
_, masked = scaled_dot_product_attention(x, x, x, causal_mask(12))
tx.plot_attention(np.asarray(masked), title="causally masked self-attention weights")

# %% [markdown]
# **Group task.** Padding masks hide the `PAD` tokens of short sentences in a batch. (1)
# What goes wrong if the masked scores are set to `-inf` and a row is masked entirely (a
# query that may attend to nothing)? (2) Why is padding hidden as a *key* but not as a
# *query*?
#
# <details><summary>Model answer</summary>
#
# (1) The softmax of a row of `-inf` is `0 / 0 = NaN`, and one NaN spreads through the
# whole batch in the next matrix product and into every gradient. Fill with a large
# finite negative number, or give such rows zero weights explicitly (the package's
# `scaled_dot_product_attention` does the latter). (2) Hiding a padded *key* stops real
# tokens from reading padding. A padded *query* only computes an output at a padded
# position, which nothing reads later and the loss ignores — so it may attend freely.
#
# </details>

# %% [markdown]
# ## 3. Multi-head attention
#
# One softmax gives one weighted average: *it* can look at *animal* (what it refers to)
# **or** at *tired* (what is said about it), but a single average blurs the two. **Multi-head
# attention** runs H attentions in parallel, each on its own slice of width $d/H$ of the
# projected queries, keys and values, so each head can specialise: one follows the
# previous word, one the subject, one matching brackets. The heads' outputs are
# concatenated and mixed by a last linear layer. The projections are the same $d \times d$
# matrices cut into slices, so H heads cost about as much as one wide head.
#
# **Exercise 5.** Write `split_heads(x, num_heads)`: `[B, T, H·k] -> [B, H, T, k]`.


# %% tags=["exercise"]
def split_heads(x, num_heads):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
split_heads = tx.exercises.check_split_heads(split_heads)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def split_heads(x, num_heads):
    b, t, d = x.shape
    return x.reshape(b, t, num_heads, d // num_heads).transpose(0, 2, 1, 3)


# %% [markdown]
# **Exercise 6.** Now the whole module. `MultiHeadAttention(num_heads, d_model)(query,
# key=None, value=None, mask=None)`: project `query`, `key` and `value` with the given
# linear layers (for self-attention `key` and `value` default to `query`; for
# cross-attention they are the encoder's output), split each into heads with your
# `split_heads`, attend with your `scaled_dot_product_attention`, merge the heads back to
# `[B, T, d_model]` (the inverse of `split_heads`) and apply the output layer `linear`.
# Return `(output [B, T_q, d_model], weights [B, H, T_q, T_k])`. The checker gives your
# module the weights of Haiku's own `hk.MultiHeadAttention` and compares the outputs, for
# self- and cross-attention, with and without masks.


# %% tags=["exercise"]
class MultiHeadAttention(hk.Module):
    def __init__(self, num_heads, d_model, name=None):
        super().__init__(name=name)
        self.num_heads = num_heads
        self.query = hk.Linear(d_model, name="query")
        self.key = hk.Linear(d_model, name="key")
        self.value = hk.Linear(d_model, name="value")
        self.linear = hk.Linear(d_model, name="linear")

    def __call__(self, query, key=None, value=None, mask=None):
        # YOUR CODE HERE
        raise NotImplementedError


# %% tags=["check"]
MultiHeadAttention = tx.exercises.check_multi_head_attention(MultiHeadAttention)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
class MultiHeadAttention(hk.Module):
    def __init__(self, num_heads, d_model, name=None):
        super().__init__(name=name)
        self.num_heads = num_heads
        self.query = hk.Linear(d_model, name="query")
        self.key = hk.Linear(d_model, name="key")
        self.value = hk.Linear(d_model, name="value")
        self.linear = hk.Linear(d_model, name="linear")

    def __call__(self, query, key=None, value=None, mask=None):
        key = query if key is None else key
        value = key if value is None else value
        q = split_heads(self.query(query), self.num_heads)
        k = split_heads(self.key(key), self.num_heads)
        v = split_heads(self.value(value), self.num_heads)
        out, weights = scaled_dot_product_attention(q, k, v, mask)
        b, h, t, width = out.shape
        merged = out.transpose(0, 2, 1, 3).reshape(b, t, h * width)
        return self.linear(merged), weights


# %% [markdown]
# **Quiz.** Multi-head attention with H heads of width d/H, compared with one head of
# width d:
#
# * (a) costs about H times more compute
# * (b) lets each head attend to a different pattern (the subject, the previous word, the
#   matching bracket...) at about the same cost
# * (c) needs H times more parameters
# * (d) is needed to handle sequences longer than d

# %% tags=["quiz"]
tx.exercises.quiz_heads(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# ## 4. The transformer
#
# The transformer of “Attention is all you need” (Vaswani et al., 2017) is an
# **encoder–decoder**. The encoder reads the whole source with self-attention; the decoder
# writes the target one token at a time with **causal** self-attention (it may only look
# back) and **cross-attention**, whose queries come from the decoder and whose keys and
# values are the encoder's output — the whole source, never causally masked. Each
# sublayer sits on a **residual** connection, $x + \mathrm{sublayer}(x)$, followed by
# LayerNorm (“Add & Norm”). Token embeddings and positional encodings enter once, at the
# bottom; a linear layer and a softmax turn the decoder's last vectors into next-token
# probabilities.

# %% tags=["figure"]
tx.plot_architecture()

# %% [markdown]
# **Group task.** Follow the source word *cat* through the figure while the decoder writes
# its third output token. Which boxes does information from *cat* pass through, and where
# does it meet the decoder? Which of the decoder's inputs can the third output token see?
#
# <details><summary>Model answer</summary>
#
# *cat* is embedded, gets its position added, and goes up through every encoder block:
# self-attention mixes in the other source words, the feed-forward block transforms each
# position on its own, and each step is added to the residual stream and normalised. The
# encoder's last output for *cat* becomes a key and a value of **every** decoder block's
# cross-attention. The third output token's query sees all source positions through
# cross-attention, but in the decoder's self-attention only BOS and the first two output
# tokens (the causal mask hides the rest).
#
# </details>
#
# ## 5. Tokenisation
#
# A model reads integers, not text. A **tokenizer** cuts text into pieces and maps each
# piece to an id: characters (tiny vocabulary, long sequences), words (short sequences, but
# every unseen word is a problem), or **subwords** (BPE, WordPiece: frequent words whole,
# rare words cut into frequent pieces — `"tokenisation"` → `"token", "##isation"`). A good
# tokenizer is **reversible**: decoding the ids gives the text back.
#
# A few ids are reserved for **special tokens**: `PAD` fills short sequences up to the
# batch's length, `BOS` (begin of sequence) is the decoder's first input, `EOS` (end of
# sequence) tells the decoder to stop. BERT adds `[CLS]`, a first token whose output vector
# summarises the input for classification, and `[SEP]`, which separates two segments (a
# question and a passage). Here `PAD = 0`, `BOS = 1`, `EOS = 2`, and the characters of an
# alphabet get ids from 3.
#
# **Exercise 7.** Write `encode(text, alphabet)`: `[BOS, ids of the characters..., EOS]`
# as an int array, where character `c` has id `3 + alphabet.index(c)`.


# %% tags=["exercise"]
def encode(text, alphabet):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
encode = tx.exercises.check_encode(encode)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def encode(text, alphabet):
    return np.array([1] + [3 + alphabet.index(c) for c in text] + [2], dtype=np.int32)


# %% [markdown]
# **Exercise 8.** Write `decode(ids, alphabet)`, the inverse: skip `PAD` and `BOS`, stop at
# the first `EOS` (a generating model may go on after it), map the other ids back to
# characters.


# %% tags=["exercise"]
def decode(ids, alphabet):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
decode = tx.exercises.check_decode(decode)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def decode(ids, alphabet):
    out = []
    for i in np.asarray(ids).tolist():
        if i == 2:
            break
        if i >= 3:
            out.append(alphabet[i - 3])
    return "".join(out)


# %% [markdown]
# **Exercise 9.** Sequences of different lengths form one batch by padding. Write
# `pad_and_mask(sequences)`: `ids [B, T]` filled with `PAD` after each sequence (T = the
# longest length) and the boolean `mask [B, T]`, `True` on real tokens — the mask built
# from the lengths, which attention turns into a key padding mask.


# %% tags=["exercise"]
def pad_and_mask(sequences):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
pad_and_mask = tx.exercises.check_pad_and_mask(pad_and_mask)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def pad_and_mask(sequences):
    lengths = np.array([len(s) for s in sequences])
    ids = np.zeros((len(sequences), lengths.max()), dtype=np.int32)
    for row, s in zip(ids, sequences, strict=True):
        row[: len(s)] = s
    return ids, np.arange(lengths.max())[None, :] < lengths[:, None]


# %% [markdown]
# Your tokenizer round-trips text, and the batch keeps track of what is padding:

# %%
alphabet = " .abcdefghijklmnopqrstuvwxyz"
batch, mask = pad_and_mask([encode(t, alphabet) for t in ("the cat.", "a dog", "hello world")])
print(batch)
print(mask.astype(int))
print([decode(row, alphabet) for row in batch])

# %% [markdown]
# **Quiz.** What are BERT's special tokens [CLS] and [SEP] for?
#
# * (a) [CLS] marks capital letters, [SEP] marks spaces
# * (b) [CLS] is an extra first token whose output vector summarises the input for
#   classification; [SEP] separates two segments (a question and a passage)
# * (c) both are padding
# * (d) they mark unknown words

# %% tags=["quiz"]
tx.exercises.quiz_cls(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# **Group task.** Characters, words or subwords: for a model of isiZulu, Quechua or
# Spanish text, what goes wrong with a word-level vocabulary? What does a character-level
# model pay instead? Why did large models settle on subwords?
#
# <details><summary>Model answer</summary>
#
# Agglutinative languages (isiZulu, Quechua) build long words from many morphemes, so a
# word vocabulary explodes and most words of a new text were never seen: they all become
# one `UNK` token. Characters never meet an unknown word, but sequences get 4–6 times
# longer, attention costs grow with the square of the length, and the model must learn
# spelling before meaning. Subwords are the compromise: a fixed vocabulary (30k–100k),
# frequent words in one piece, rare words as a few meaningful pieces (often morphemes).
# Their weak spot: a tokenizer trained mostly on English cuts other languages into many
# more pieces, which makes them slower and costlier to process.
#
# </details>
#
# ## 6. Positions
#
# Attention compares contents only: shuffle the input and the outputs are shuffled the
# same way. “Dog bites man” and “man bites dog” would look alike. So each position gets a
# vector, added to the token's embedding once, at the input.
#
# **Quiz.** What does self-attention without positional encodings compute for a shuffled
# input?
#
# * (a) the same outputs, shuffled the same way (it is permutation-equivariant)
# * (b) an error
# * (c) random outputs
# * (d) the outputs of the unshuffled input

# %% tags=["quiz"]
tx.exercises.quiz_positions(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# The original transformer uses fixed **sinusoids** of geometrically spaced frequencies:
# $PE_{p,2i} = \sin(p\,\omega_i)$ and $PE_{p,2i+1} = \cos(p\,\omega_i)$ with
# $\omega_i = 1 / 10000^{2i/d}$. Low dimensions oscillate fast, high ones slowly, like the
# hands of a clock; and $PE_{p+k}$ is a rotation of $PE_p$, so relative offsets are easy to
# read with a linear map.
#
# **Exercise 10.** Write `sinusoidal_encoding(length, d_model)` returning `[length, d_model]`.


# %% tags=["exercise"]
def sinusoidal_encoding(length, d_model):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
sinusoidal_encoding = tx.exercises.check_sinusoidal_encoding(sinusoidal_encoding)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def sinusoidal_encoding(length, d_model):
    pos = jnp.arange(length, dtype=jnp.float32)[:, None]
    i = jnp.arange(0, d_model, 2, dtype=jnp.float32)[None, :]
    angles = pos / 10000 ** (i / d_model)
    return jnp.stack([jnp.sin(angles), jnp.cos(angles)], -1).reshape(length, -1)[:, :d_model]


# %% tags=["figure"]
tx.plot_positional_encoding(200 if QUICK else 1000, 128)

# %% [markdown]
# **Group task (maths).** Implementations compute the frequency term
# $\omega_i = 1/10000^{2i/d}$ as $\exp\!\big(-\tfrac{2i}{d}\ln 10000\big)$. Derive this
# form. Why is it preferred in code?
#
# <details><summary>Model answer</summary>
#
# For any $a > 0$, $a = e^{\ln a}$, so $10000^{2i/d} = e^{\frac{2i}{d}\ln 10000}$ and
# $\omega_i = 10000^{-2i/d} = \exp\!\big(-\tfrac{2i}{d}\ln 10000\big)$. In code, `exp` of a
# vector times a constant is one cheap, vectorised, numerically tame operation; it never
# forms the huge number $10000^{2i/d}$ (up to $10^4$) to divide by it, and the constant
# $\ln 10000$ is computed once.
#
# </details>
#
# **Exercise 11.** Write `frequency_term(d_model)` in the exp/log form: the `⌈d/2⌉`
# values $\omega_i = \exp(-\tfrac{2i}{d}\ln 10000)$ for $i = 0, 1, \dots$


# %% tags=["exercise"]
def frequency_term(d_model):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
frequency_term = tx.exercises.check_frequency_term(frequency_term)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def frequency_term(d_model):
    two_i = jnp.arange(0, d_model, 2, dtype=jnp.float32)
    return jnp.exp(-two_i / d_model * jnp.log(10000.0))


# %% [markdown]
# Both forms give the same encodings:

# %%
angles = jnp.arange(50.0)[:, None] * frequency_term(32)[None, :]
print(
    "max difference:", float(jnp.abs(jnp.sin(angles) - sinusoidal_encoding(50, 32)[:, ::2]).max())
)

# %% [markdown]
# BERT, GPT-2 and ViT instead **learn** their position vectors: a table of `max_len`
# trainable vectors, row `p` added at position `p`. It can fit the data better but knows
# nothing about positions beyond `max_len`.
#
# **Exercise 12.** Write `LearnedPositions(max_len, d_model)`: create an
# `hk.Embed(max_len, d_model)` in `__init__` and return the rows of the integer
# `positions` `[T]` (`[T, d_model]`). Positions need not start at 0 — with a KV cache
# (section 9) the next token sits at position `t`.


# %% tags=["exercise"]
class LearnedPositions(hk.Module):
    def __init__(self, max_len, d_model, name=None):
        super().__init__(name=name)
        # YOUR CODE HERE
        raise NotImplementedError

    def __call__(self, positions):
        raise NotImplementedError


# %% tags=["check"]
LearnedPositions = tx.exercises.check_learned_positions(LearnedPositions)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
class LearnedPositions(hk.Module):
    def __init__(self, max_len, d_model, name=None):
        super().__init__(name=name)
        self.embed = hk.Embed(max_len, d_model, name="positions")

    def __call__(self, positions):
        return self.embed(positions)


# %% [markdown]
# ## 7. The blocks
#
# Between attention layers, a **feed-forward block** transforms each position on its own:
# `Linear(w·d) → GELU → Linear(d)`, with a widening factor `w` (4 in the original).
# Attention moves information *between* positions; the feed-forward block processes it
# *at* each position, and holds most of the model's parameters.
#
# **Exercise 13.** Write `FeedForwardBlock(widening_factor)` for `x` `[..., d]`.


# %% tags=["exercise"]
class FeedForwardBlock(hk.Module):
    def __init__(self, widening_factor=4, name=None):
        super().__init__(name=name)
        self.widening_factor = widening_factor

    def __call__(self, x):
        # YOUR CODE HERE
        raise NotImplementedError


# %% tags=["check"]
FeedForwardBlock = tx.exercises.check_feed_forward(FeedForwardBlock)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
class FeedForwardBlock(hk.Module):
    def __init__(self, widening_factor=4, name=None):
        super().__init__(name=name)
        self.widening_factor = widening_factor

    def __call__(self, x):
        d = x.shape[-1]
        h = hk.Linear(self.widening_factor * d)(x)
        return hk.Linear(d)(jax.nn.gelu(h))


# %% [markdown]
# **Residual connections and LayerNorm.** Each sublayer computes a *change* that is added
# to its input, $x + f(x)$: the input flows through unchanged along the **residual
# stream**, so gradients reach the first layers of a deep stack directly, and a layer that
# has nothing to add can output about zero. **LayerNorm** rescales each position's vector
# to mean 0 and variance 1 over its features (then a learned scale and offset), which keeps
# activations in a stable range whatever the depth; unlike BatchNorm it does not depend on
# the other examples of the batch, nor on padding.
#
# The original transformer is **post-LN**, “Add & Norm”: $\mathrm{LayerNorm}(x + f(x))$.
# GPT-2, ViT and most recent models are **pre-LN**: $x + f(\mathrm{LayerNorm}(x))$, with one
# final LayerNorm at the top. (The package's models take `pre_ln=True`.)
#
# **Exercise 14.** Write `AddNorm()(x, sublayer_output)`: post-LN, with
# `hk.LayerNorm(axis=-1, create_scale=True, create_offset=True)`.


# %% tags=["exercise"]
class AddNorm(hk.Module):
    def __call__(self, x, sublayer_output):
        # YOUR CODE HERE
        raise NotImplementedError


# %% tags=["check"]
AddNorm = tx.exercises.check_add_norm(AddNorm)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
class AddNorm(hk.Module):
    def __call__(self, x, sublayer_output):
        norm = hk.LayerNorm(axis=-1, create_scale=True, create_offset=True)
        return norm(x + sublayer_output)


# %% [markdown]
# **Quiz.** Post-LN computes LayerNorm(x + sublayer(x)); pre-LN computes
# x + sublayer(LayerNorm(x)). What does pre-LN change?
#
# * (a) nothing: the two are the same function
# * (b) the residual stream x passes through untouched from input to output, which makes
#   deep stacks train stably without a long learning-rate warm-up
# * (c) it removes the need for residual connections
# * (d) it normalises over the batch instead of the features

# %% tags=["quiz"]
tx.exercises.quiz_post_ln(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# **Exercise 15.** The **encoder block**: self-attention, Add & Norm, feed-forward, Add &
# Norm. `__init__` creates the submodules from *your* classes above; write `__call__(x,
# mask)` returning `(x [B, T, d], attention weights [B, H, T, T])`. Pass the mask *as the
# mask* (the original practical's block passed it in the key's place, where it was
# silently ignored).


# %% tags=["exercise"]
class EncoderBlock(hk.Module):
    def __init__(self, num_heads, d_model, widening_factor=4, name=None):
        super().__init__(name=name)
        self.attention = MultiHeadAttention(num_heads, d_model, name="attention")
        self.add_norm_1 = AddNorm(name="add_norm_1")
        self.ffn = FeedForwardBlock(widening_factor, name="ffn")
        self.add_norm_2 = AddNorm(name="add_norm_2")

    def __call__(self, x, mask=None):
        # YOUR CODE HERE
        raise NotImplementedError


# %% tags=["check"]
EncoderBlock = tx.exercises.check_encoder_block(EncoderBlock)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
class EncoderBlock(hk.Module):
    def __init__(self, num_heads, d_model, widening_factor=4, name=None):
        super().__init__(name=name)
        self.attention = MultiHeadAttention(num_heads, d_model, name="attention")
        self.add_norm_1 = AddNorm(name="add_norm_1")
        self.ffn = FeedForwardBlock(widening_factor, name="ffn")
        self.add_norm_2 = AddNorm(name="add_norm_2")

    def __call__(self, x, mask=None):
        a, weights = self.attention(x, x, x, mask)
        h = self.add_norm_1(x, a)
        return self.add_norm_2(h, self.ffn(h)), weights


# %% [markdown]
# **Exercise 16.** The **decoder block**: causal self-attention over the decoder's input
# (with `self_mask`), Add & Norm; then **cross-attention** — queries from that result,
# keys and values from the encoder output `memory`, masked by `memory_mask` (the source's
# padding) and **not** causally: the whole source is known before decoding starts; Add &
# Norm; feed-forward, Add & Norm. Return `(x, self_weights, cross_weights)`.


# %% tags=["exercise"]
class DecoderBlock(hk.Module):
    def __init__(self, num_heads, d_model, widening_factor=4, name=None):
        super().__init__(name=name)
        self.self_attention = MultiHeadAttention(num_heads, d_model, name="self_attention")
        self.add_norm_1 = AddNorm(name="add_norm_1")
        self.cross_attention = MultiHeadAttention(num_heads, d_model, name="cross_attention")
        self.add_norm_2 = AddNorm(name="add_norm_2")
        self.ffn = FeedForwardBlock(widening_factor, name="ffn")
        self.add_norm_3 = AddNorm(name="add_norm_3")

    def __call__(self, x, self_mask, memory, memory_mask=None):
        # YOUR CODE HERE
        raise NotImplementedError


# %% tags=["check"]
DecoderBlock = tx.exercises.check_decoder_block(DecoderBlock)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
class DecoderBlock(hk.Module):
    def __init__(self, num_heads, d_model, widening_factor=4, name=None):
        super().__init__(name=name)
        self.self_attention = MultiHeadAttention(num_heads, d_model, name="self_attention")
        self.add_norm_1 = AddNorm(name="add_norm_1")
        self.cross_attention = MultiHeadAttention(num_heads, d_model, name="cross_attention")
        self.add_norm_2 = AddNorm(name="add_norm_2")
        self.ffn = FeedForwardBlock(widening_factor, name="ffn")
        self.add_norm_3 = AddNorm(name="add_norm_3")

    def __call__(self, x, self_mask, memory, memory_mask=None):
        a, self_weights = self.self_attention(x, x, x, self_mask)
        h = self.add_norm_1(x, a)
        c, cross_weights = self.cross_attention(h, memory, memory, memory_mask)
        h = self.add_norm_2(h, c)
        return self.add_norm_3(h, self.ffn(h)), self_weights, cross_weights


# %% [markdown]
# **Quiz.** Why is cross-attention (queries from the decoder, keys and values from the
# encoder) not causally masked?
#
# * (a) it is an implementation shortcut that leaks the answer
# * (b) the encoder output is the whole source, which is known before decoding starts;
#   only the target's future is hidden (by the causal self-attention)
# * (c) cross-attention has no softmax
# * (d) because the source and target have the same length

# %% tags=["quiz"]
tx.exercises.quiz_cross_mask(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# ## 8. The whole model, trained from your blocks
#
# **Exercise 17.** Assemble the encoder–decoder. `__init__` builds one shared token
# embedding, `num_layers` encoder and decoder blocks from `blocks` (a `tx.Blocks` holding
# *your* `EncoderBlock` and `DecoderBlock` classes) and the output layer. Write
# `__call__(src [B, S], dec_in [B, T], src_len [B])`:
#
# 1. the key padding mask of the source, `[B, 1, 1, S]`: `True` at the first `src_len[b]`
#    positions (it broadcasts over heads and queries);
# 2. `x = embed(src) + sinusoidal_encoding(S, d)`, then each encoder block with that mask;
# 3. `y = embed(dec_in) + sinusoidal_encoding(T, d)`, then each decoder block with
#    `causal_mask(T)`, the encoder output `x` and the source's padding mask;
# 4. return the logits `self.output(y)`, `[B, T, vocab]`.


# %% tags=["exercise"]
class Seq2Seq(hk.Module):
    def __init__(self, config, blocks, name=None):
        super().__init__(name=name)
        c = self.config = config
        self.embed = hk.Embed(c.vocab_size, c.d_model, w_init=hk.initializers.TruncatedNormal(1.0))
        self.encoder_blocks = [
            blocks.encoder_block(c.num_heads, c.d_model, c.widening_factor, name=f"encoder_{i}")
            for i in range(c.num_layers)
        ]
        self.decoder_blocks = [
            blocks.decoder_block(c.num_heads, c.d_model, c.widening_factor, name=f"decoder_{i}")
            for i in range(c.num_layers)
        ]
        self.output = hk.Linear(c.vocab_size, name="output")

    def __call__(self, src, dec_in, src_len):
        # YOUR CODE HERE
        raise NotImplementedError


# %% tags=["check"]
Seq2Seq = tx.exercises.check_seq2seq(Seq2Seq)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
class Seq2Seq(hk.Module):
    def __init__(self, config, blocks, name=None):
        super().__init__(name=name)
        c = self.config = config
        self.embed = hk.Embed(c.vocab_size, c.d_model, w_init=hk.initializers.TruncatedNormal(1.0))
        self.encoder_blocks = [
            blocks.encoder_block(c.num_heads, c.d_model, c.widening_factor, name=f"encoder_{i}")
            for i in range(c.num_layers)
        ]
        self.decoder_blocks = [
            blocks.decoder_block(c.num_heads, c.d_model, c.widening_factor, name=f"decoder_{i}")
            for i in range(c.num_layers)
        ]
        self.output = hk.Linear(c.vocab_size, name="output")

    def __call__(self, src, dec_in, src_len):
        s, t, d = src.shape[1], dec_in.shape[1], self.config.d_model
        memory_mask = (jnp.arange(s)[None, :] < src_len[:, None])[:, None, None, :]
        x = self.embed(src) + sinusoidal_encoding(s, d)[None]
        for block in self.encoder_blocks:
            x, _ = block(x, memory_mask)
        y = self.embed(dec_in) + sinusoidal_encoding(t, d)[None]
        for block in self.decoder_blocks:
            y = block(y, causal_mask(t), x, memory_mask)[0]
        return self.output(y)


# %% [markdown]
# ### The task: reverse the word order
#
# The encoder reads a crop of text; the decoder writes it with its words in reverse
# order. Space, tab, newline and `.` are separators that move as tokens, so
# “Look at me, I am reversed.” becomes “.reversed am I me, at Look”.
#
# **Exercise 18.** Write `invert_words(text)`.


# %% tags=["exercise"]
def invert_words(text):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
invert_words = tx.exercises.check_invert_words(invert_words)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def invert_words(text):
    return "".join(reversed(re.findall(r"[ \t\n.]|[^ \t\n.]+", text)))


# %% [markdown]
# The text comes from a small grammar written for the package (no download):

# %%
text = tx.grammar_text(200_000, seed=0)
print(text[:300])
print(repr(invert_words(text[:40])))

# %% [markdown]
# **Teacher forcing.** In training the decoder does not read its own guesses: it reads
# the **true** target shifted one step right, starting with `BOS`, and predicts every next
# token at once, in one parallel pass (the causal mask keeps it honest). For the target
# `c a t EOS` the decoder reads `BOS c a t`.
#
# **Exercise 19.** Write `shift_right(targets)` for `[B, T]` ids: `BOS` (1) in front, the
# last column dropped.


# %% tags=["exercise"]
def shift_right(targets):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
shift_right = tx.exercises.check_shift_right(shift_right)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def shift_right(targets):
    bos = jnp.ones_like(targets[:, :1])
    return jnp.concatenate([bos, targets[:, :-1]], axis=1)


# %% [markdown]
# **Exercise 20.** The loss: `sequence_loss(logits, targets, mask)`, the mean
# cross-entropy over the positions where `mask` is `True` (padding does not count).


# %% tags=["exercise"]
def sequence_loss(logits, targets, mask):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
sequence_loss = tx.exercises.check_sequence_loss(sequence_loss)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def sequence_loss(logits, targets, mask):
    logp = jax.nn.log_softmax(logits)
    nll = -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    m = mask.astype(nll.dtype)
    return jnp.sum(nll * m) / jnp.maximum(jnp.sum(m), 1.0)


# %% [markdown]
# The task's decoder inputs are its targets shifted right, as your `shift_right` makes
# them; and here is the teacher-forced loss of your untrained model, next to ln V, the loss of a
# uniform guess over the V token ids:

# %%
if QUICK:
    settings = {"length": 10, "num_train": 640, "d_model": 32, "num_layers": 1}
    epochs = 2
else:
    settings = {"length": 24, "num_train": 9600, "d_model": 64, "num_layers": 2}
    epochs = 10
inversion = tx.prepare_task("invert", text, **settings)
tgt = jnp.asarray(inversion.train["tgt"][:64])
# (after EOS the target is PAD and the loss ignores those positions)
same = (shift_right(tgt) == inversion.train["dec_in"][:64]) | (tgt == 0)
print("decoder input = shift_right(target) wherever the loss looks:", bool(same.all()))
blocks = tx.Blocks(encoder_block=EncoderBlock, decoder_block=DecoderBlock)
model = hk.transform(lambda s, d, n: Seq2Seq(inversion.config, blocks)(s, d, n))
src, src_len = (
    jnp.asarray(inversion.train["src"][:64]),
    jnp.asarray(inversion.train["src_len"][:64]),
)
params = model.init(jax.random.key(0), src, shift_right(tgt), src_len)
logits = model.apply(params, None, src, shift_right(tgt), src_len)
print(
    f"untrained loss {float(sequence_loss(logits, tgt, tgt != 0)):.3f}, "
    f"ln V = {np.log(inversion.config.vocab_size):.3f}"
)

# %% [markdown]
# **Training with your blocks.** `tx.train_inversion` is the package's training (Adam with
# warm-up and cosine decay through khipu-core's `fit()`); `model=Seq2Seq` and
# `blocks=tx.Blocks(EncoderBlock, DecoderBlock)` plug in **your** classes. (Unanswered
# exercises use the package's blocks, which give exactly the package's own model.) After
# training, the held-out crops — cut from text the model never saw — are decoded
# **autoregressively**: greedy, each generated token fed back, and scored by exact match
# of whole sequences. With the full settings, your blocks reach an exact match above 0.9.

# %%
result = tx.train_inversion(
    inversion,
    model=Seq2Seq,
    blocks=blocks,
    epochs=epochs,
    batch_size=64,
    learning_rate=2e-3,
    warmup_steps=100,
    seed=0,
)
print({k: round(v, 4) for k, v in result.metrics.items()})

# %% tags=["figure"]
kc.plot_learning_curves(result.history, metrics=["loss", "token_accuracy"])

# %% [markdown]
# **Teacher forcing vs autoregressive decoding**, side by side on the same held-out
# input. Teacher-forced, the decoder reads the true previous characters (as in training),
# so one early mistake costs one character; autoregressive, it reads its own output, as it
# must at test time, and a mistake is fed back.

# %%
n = settings["length"]
for crop in tx.random_crops(text[-5000:], n, 4, seed=1):
    forced = tx.invert_texts(inversion, result, [crop], teacher_forcing=True)[0]
    free = tx.invert_texts(inversion, result, [crop])[0]
    print(
        f"source {crop!r}\n  target {invert_words(crop)!r}\n  forced {forced!r}\n  free   {free!r}"
    )

# %% [markdown]
# **Quiz.** During training the decoder reads the true previous tokens (teacher forcing).
# At test time it must read its own predictions. What can go wrong?
#
# * (a) nothing, the two are always identical
# * (b) an early mistake is fed back and the model, never trained on its own errors, may
#   drift further (exposure bias); teacher-forced accuracy overstates generation quality
# * (c) the model cannot run without the targets
# * (d) teacher forcing is slower than autoregressive decoding

# %% tags=["quiz"]
tx.exercises.quiz_teacher_forcing(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# ## 9. Three families of models, and the KV cache
#
# The transformer's halves are used on their own, too:
#
# * **encoder-only** (BERT, RoBERTa, the ViT of section 10): bidirectional self-attention
#   over the whole input, trained to fill in masked tokens; their outputs are features for
#   classification, tagging, retrieval.
# * **decoder-only** (GPT, Llama, Gemma): causal self-attention, trained to predict the
#   next token; they generate text, and by prompting do most other tasks too.
# * **encoder–decoder** (the original transformer, T5, BART, Whisper): read a source,
#   write a different sequence — translation, summarisation, speech to text, our inversion.
#
# **Quiz.** Which model family fits each job? (1) classify a sentence's sentiment,
# (2) continue a story, (3) translate a sentence.
#
# * (a) (1) decoder-only, (2) encoder-only, (3) encoder-only
# * (b) (1) encoder-only like BERT, (2) decoder-only like GPT, (3) encoder–decoder like T5
#   or the original transformer
# * (c) all three need an encoder–decoder
# * (d) (1) encoder–decoder, (2) encoder-only, (3) decoder-only

# %% tags=["quiz"]
tx.exercises.quiz_families(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# A decoder-only **character language model** predicts the next character. Generating
# with it, every new token would re-run the model on the whole sequence so far. But with a
# causal mask the keys and values of earlier tokens never change, so the **KV cache**
# keeps every layer's keys and values: each new token computes only its own query, key and
# value and attends to the cache. Both give the same tokens; the cache turns each step
# from a pass over `t` tokens into a pass over one.

# %%
lm = tx.prepare_task(
    "lm",
    text,
    length=32 if QUICK else 128,
    num_train=640 if QUICK else 6400,
    d_model=32 if QUICK else 64,
)
lm_run = OUT / "lm"
lm_run.mkdir(parents=True, exist_ok=True)
lm_metrics = tx.run_training(
    lm_run,
    lm,
    epochs=1 if QUICK else 4,
    batch_size=64,
    learning_rate=2e-3,
    warmup_steps=20,
    seed=0,
    resume=False,
    progress=True,
)
print(
    f"val loss {lm_metrics['val_loss']:.3f}, {lm_metrics['bits_per_char']:.3f} bits per character"
)
lm_model = tx.load_model(lm_run)
print(tx.generate_text(lm_model, "The ", max_new_tokens=40, temperature=0.8, top_k=5, seed=0))

# %% tags=["figure"]
prompt = lm_model.tokenizer.encode("The ")[None]
new = lm_model.config.max_len - prompt.shape[1]
cached = tx.generate(lm_model.config, lm_model.params, prompt, new, use_cache=True)
rerun = tx.generate(lm_model.config, lm_model.params, prompt, new, use_cache=False)
print("same tokens:", bool((cached == rerun).all()))
times = {
    "KV cache": kc.time_call(
        lambda: tx.generate(lm_model.config, lm_model.params, prompt, new), repeats=2
    ),
    "re-run": kc.time_call(
        lambda: tx.generate(lm_model.config, lm_model.params, prompt, new, use_cache=False),
        repeats=2,
    ),
}
kc.plot_bars({k: v * 1e3 for k, v in times.items()}, ylabel="ms", title=f"generating {new} tokens")

# %% [markdown]
# **Quiz.** When a decoder-only model generates token t+1, what does the KV cache save?
#
# * (a) the attention weights of earlier steps
# * (b) recomputing the keys and values of tokens 1..t in every layer: only the new token's
#   query, key and value are computed, and its query attends to the cached keys
# * (c) the softmax
# * (d) nothing, it only saves memory

# %% tags=["quiz"]
tx.exercises.quiz_kv_cache(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# **Group task.** The cache is not free. For a model with 32 layers, `d_model` 4096 and
# 16-bit numbers, how much memory does the cache of one 8,000-token conversation take?
# What does that mean for serving many users at once?
#
# <details><summary>Model answer</summary>
#
# Per token and layer the cache keeps one key and one value of 4096 numbers:
# 2 × 4096 × 2 bytes = 16 KiB; × 32 layers = 512 KiB per token; × 8,000 tokens ≈ 4 GiB for
# one conversation. Memory, not compute, limits how many users a GPU serves at once; hence
# grouped-query attention (several query heads share one key/value head), sliding-window
# attention and quantised caches.
#
# </details>
#
# ## 10. A vision transformer
#
# A transformer reads any sequence of vectors. The **vision transformer** (ViT, Dosovitskiy
# et al., 2021) cuts an image into square **patches**, flattens each patch into a vector,
# embeds it with a linear layer, puts a learned `[CLS]` vector in front, adds learned
# position embeddings and runs a (pre-LN) encoder; the `[CLS]` output classifies the image.
#
# **Exercise 21.** Write `image_to_patches(images, patch_size)`: `[B, H, W, C]` ->
# `[B, (H/p)·(W/p), p·p·C]`, patches row by row (left to right, then top to bottom), each
# flattened in `(row, column, channel)` order.


# %% tags=["exercise"]
def image_to_patches(images, patch_size):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
image_to_patches = tx.exercises.check_image_to_patches(image_to_patches)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def image_to_patches(images, patch_size):
    b, h, w, c = images.shape
    p = patch_size
    x = images.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


# %% [markdown]
# scikit-learn's 8×8 handwritten digits ship with the library (no download). One digit
# cut into 2×2 patches, the 16 tokens the ViT reads:

# %% tags=["figure"]
digits = kc.load_digits(seed=0)
image = digits.train["image"][:1]
patches = np.asarray(image_to_patches(jnp.asarray(image), 2))[0].reshape(16, 2, 2, 1)
kc.plot_image_grid(image, ncols=1, suptitle=f"a {digits.train['label'][0]}")

# %% tags=["figure"]
kc.plot_image_grid(patches, ncols=4, suptitle="its 16 patches, row by row")

# %% [markdown]
# `khipu transformer train --task vit` trains the package's ViT (2×2 patches, d 64, 2
# layers, 60 epochs) and writes `metrics.json` with the held-out `test_accuracy`. Here the
# same training, shortened in quick mode:

# %%
vit_config = tx.ViTConfig(patch_size=2, d_model=32 if QUICK else 64, num_layers=1 if QUICK else 2)
vit = tx.train_vit(
    vit_config,
    digits.train,
    digits.val,
    digits.test,
    epochs=3 if QUICK else 60,
    batch_size=64,
    learning_rate=2e-3,
    warmup_steps=20 if QUICK else 50,
    seed=0,
)
print(
    f"ViT test accuracy {vit.metrics['test_accuracy']:.3f} "
    f"on {len(digits.test['label'])} held-out digits"
)

# %% [markdown]
# **Group task.** A convolutional network reaches about 98 % on these digits with few
# parameters. What does a CNN know about images before training that a ViT must learn
# from data? When does the ViT's lack of such assumptions pay off?
#
# <details><summary>Model answer</summary>
#
# A convolution assumes **locality** (a pixel's meaning depends on its neighbours) and
# **translation equivariance** (the same filter everywhere), and pooling builds a
# hierarchy from small to large features. A ViT only knows that patches are patches: its
# attention may link any two patches, and the position embeddings must learn which
# patches are neighbours. With little data that freedom costs accuracy; with very large
# datasets (or pre-training) the ViT learns the useful structure itself and can model
# long-range relations that convolutions reach only after many layers, and it scales
# better.
#
# </details>

# %% [markdown]
# ## 11. Pretrained features
#
# The practical's last part fed the [CLS] vector of a pretrained DistilBERT to a small
# classifier: **pre-training** on lots of unlabelled text teaches a model about language,
# so a new task with few labels needs only a light head on its frozen features.
#
# The package ships a small pretrained encoder (2 layers, `d_model` 64, about 0.1 M
# parameters, a few hundred KB). `khipu transformer pretrain` trained it on 8,000
# sentences generated from the package's grammar, with **masked character modelling**:
# 15 % of the characters of a sentence are hidden and the encoder learns to restore them
# — which needs the word they belong to and its role in the sentence. Its provenance
# (command, configuration, data recipe, library versions) sits beside the weights.
#
# The labelled task was never part of pre-training: **is the subject of the sentence
# alive?** Every sentence holds one living and one non-living noun, in either order
# (“the old dog finds a book.” → yes, “a book finds the old dog.” → no), so both classes
# use the same words and only word order decides. We train the same MLP head on frozen,
# mean-pooled features of (a) the pretrained encoder and (b) the same encoder with random
# weights. (Measured: 0.77 vs 0.63 held-out accuracy; the package's tests keep it so.)

# %%
encoder = tx.load_pretrained()
print(encoder.provenance["command"])
print(encoder.provenance["objective"])
texts, labels = tx.agent_dataset(600, seed=1)
print(texts[:3], labels[:3])
accuracy = {}
for name, enc in (("pretrained", encoder), ("random weights", tx.random_like(encoder))):
    features = tx.frozen_features(enc, texts)
    head = tx.train_feature_classifier(features[:400], labels[:400], head="mlp", epochs=60)
    accuracy[name] = float((head.predict(features[400:]) == labels[400:]).mean())
    print(f"{name:>15}: held-out accuracy {accuracy[name]:.3f}")

# %% tags=["figure"]
kc.plot_bars(accuracy, ylabel="held-out accuracy", title="the same head on frozen features")

# %% [markdown]
# With `pip install transformers torch` and the weights at hand, a Hugging Face encoder
# plugs into the same head: `tx.hf_embedder("distilbert-base-uncased")` returns an
# embedding function `texts -> [N, 768]` ([CLS] vectors), to use with
# `tx.evaluate_text_classifier(embed, texts, labels)`.
#
# **Group task.** Why do random-weight features fail on this task although they see the
# same characters? What did masked-character pre-training have to learn that happens to
# help? Think of a task where these pretrained features would *not* help.
#
# <details><summary>Model answer</summary>
#
# Mean-pooled random features are roughly a bag of characters (with some position mixed
# in): the two classes contain the same words, so they look alike. To restore a hidden
# character the encoder must recognise the word around it and use the context — which
# word comes before the verb, which after — so its hidden states encode words *and*
# their roles, and the subject's animacy becomes easy to read off. Features help only
# where the pre-training text and objective cover what the task needs: for text in
# another language or alphabet, or a task about something the grammar never varies
# (punctuation style, sentence length counted in bytes), these features would be no
# better than random ones.
#
# </details>
