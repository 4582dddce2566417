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
# Attention lets every position of a sequence look at every other position and
# take what it needs. We build it from its parts with `khipu-transformer`: the
# seq2seq attention of translation models, scaled dot-product attention with
# masks, multi-head attention, positional encodings, and the full
# encoder–decoder transformer, which we train to **reverse the order of the words**
# of a text. Then a decoder-only character language model that generates text
# with a **KV cache**, and a text classifier on frozen transformer features.

# %% tags=["pin"]
# %pip install "khipu-transformer==0.1.*"

# %%
import os
import tempfile
from pathlib import Path

import haiku as hk
import jax
import jax.numpy as jnp
import khipu.core as kc
import khipu.transformer as tx
import numpy as np
from IPython.display import Image, display

QUICK = os.environ.get("KHIPU_QUICK") == "1"
OUT = Path(os.environ.get("KHIPU_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="khipu-tx-"))
print("quick mode" if QUICK else "full settings", "- writing to", OUT)

# %% [markdown]
# ## 1. Seq2seq attention
#
# A decoder state $s$ scores each encoder hidden state $h_t$ with a dot product
# $e_t = s \cdot h_t$, turns the scores into weights with a softmax
# $\alpha_t = \mathrm{softmax}(e)_t$ and reads the **context vector**
# $c = \sum_t \alpha_t h_t$.
#
# **Exercise 1.** Write `dot_product_attention(hidden_states, previous_state)`
# for `hidden_states` `[B, T, d]` and `previous_state` `[B, S, d]`, returning
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
# Word vectors that point the same way attend to each other. Here are made-up
# 3-d vectors for a sentence: food words share a direction, drinks another.

# %% tags=["figure"]
words = ["I", "drink", "coke", "but", "eat", "steak"]
vectors = jnp.array(
    [[1, 0, 0], [0, 2, 0.3], [0, 2.5, 0.2], [0.5, 0.5, 0.5], [0, 0.3, 2], [0, 0.2, 2.5]]
)
weights, _ = dot_product_attention(vectors[None], vectors[None])
tx.plot_attention(np.asarray(weights[0]), queries=words, keys=words, title="dot-product attention")

# %% [markdown]
# ## 2. Queries, keys, values and masks
#
# $\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\big(QK^\top / \sqrt{d}\big)\,V$. The
# $\sqrt{d}$ keeps the scores' scale independent of the width. A boolean **mask**
# (`True` = may attend) hides padding or the future: masked scores become a very
# negative number before the softmax.
#
# **Exercise 2.** Write `scaled_dot_product_attention(query, key, value, mask=None)`
# for `[..., T, d]` arrays, returning `(outputs, weights)`.


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
# **Exercise 3.** A decoder must not look at the tokens it has yet to predict.
# Write `causal_mask(length)`: a boolean `[T, T]` array, `True` where key `j <= i`.


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
# ## 3. Multi-head attention
#
# Several heads attend in parallel, each on its own slice of the projected queries,
# keys and values, then the heads are merged and projected again.
#
# **Exercise 4.** Write `split_heads(x, num_heads)`: `[B, T, H·k] -> [B, H, T, k]`.


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
# The package's `tx.MultiHeadAttention` projects Q, K and V (for self- and
# cross-attention alike), splits them into heads and returns the weights per
# head. Given the same weights it computes exactly what Haiku's own
# `hk.MultiHeadAttention` computes:

# %%
x = jax.random.normal(jax.random.key(1), (2, 5, 16))
ours = hk.without_apply_rng(hk.transform(lambda x: tx.MultiHeadAttention(4, 16)(x)))
theirs = hk.without_apply_rng(
    hk.transform(
        lambda x: hk.MultiHeadAttention(
            4, 4, w_init=hk.initializers.VarianceScaling(1.0), model_size=16
        )(x, x, x)
    )
)
p_theirs = theirs.init(jax.random.key(2), x)
by_layer = {k.rsplit("/", 1)[-1]: v for k, v in p_theirs.items()}
p_ours = {k: by_layer[k.rsplit("/", 1)[-1]] for k in ours.init(jax.random.key(3), x)}
out = ours.apply(p_ours, x)
print("weights per head:", out.weights.shape)
print(
    "max difference to hk.MultiHeadAttention:",
    float(jnp.abs(out.output - theirs.apply(p_theirs, x)).max()),
)


# %% [markdown]
# ## 4. Positional encodings
#
# Attention ignores order, so each position gets a vector added once, at the input:
# $PE_{p,2i} = \sin(p / 10000^{2i/d})$ and $PE_{p,2i+1} = \cos(p / 10000^{2i/d})$.
#
# **Exercise 5.** Write `sinusoidal_encoding(length, d_model)` returning `[length, d_model]`.


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
# ## 5. The task: reverse the word order
#
# The encoder reads a crop of text; the decoder writes it with its words in reverse
# order. Space, tab, newline and `.` are separators that move as tokens, so
# "Look at me, I am reversed." becomes ".reversed am I me, at Look".
#
# **Exercise 6.** Write `invert_words(text)`.


# %% tags=["exercise"]
def invert_words(text):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
invert_words = tx.exercises.check_invert_words(invert_words)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
import re


def invert_words(text):
    return "".join(reversed(re.findall(r"[ \t\n.]|[^ \t\n.]+", text)))


# %% [markdown]
# The text comes from a small grammar written for the package (no download):

# %%
text = tx.grammar_text(200_000, seed=0)
print(text[:300])
print(repr(invert_words(text[:40])))

# %% [markdown]
# **Exercise 7.** The decoder is trained with *teacher forcing*: it reads the target
# shifted right (starting with BOS) and predicts every next token at once. Write the
# loss `sequence_loss(logits, targets, mask)`: the mean cross-entropy over the
# positions where `mask` is `True` (padding does not count).


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
# ## 6. Training the encoder–decoder transformer
#
# `tx.prepare_task` cuts held-out crops from text the model never trains on;
# `tx.run_training` trains through khipu-core's `fit()` (Adam with warm-up and
# cosine decay), then **decodes autoregressively** — each generated token is fed
# back — and reports the exact match of whole sequences. (Full settings: about
# 1,500 steps, exact match 1.0.)

# %%
if QUICK:
    settings = {"length": 10, "num_train": 640, "d_model": 32, "num_layers": 1}
    epochs = 2
else:
    settings = {"length": 24, "num_train": 9600, "d_model": 64, "num_layers": 2}
    epochs = 10
inversion = tx.prepare_task("invert", text, **settings)
run = OUT / "invert"
run.mkdir(parents=True, exist_ok=True)
metrics = tx.run_training(
    run,
    inversion,
    epochs=epochs,
    batch_size=64,
    learning_rate=2e-3,
    warmup_steps=100,
    seed=0,
    resume=False,
    progress=True,
)
print({k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()})

# %% tags=["figure"]
display(Image(filename=str(run / "learning_curves.png")))
display(Image(filename=str(run / "attention_encoder.png")))
display(Image(filename=str(run / "attention_cross.png")))

# %% [markdown]
# In the cross-attention map each output character looks at the source character it
# copies: the anti-diagonal blocks are the reversed words. Greedy decoding of new text:

# %%
model = tx.load_model(run)
n = settings["length"]
for crop in tx.random_crops(text[-5000:], n, 4, seed=1):
    print(repr(crop), "->", repr(tx.generate_text(model, crop, max_new_tokens=n + 1)))

# %% [markdown]
# ## 7. A character language model with a KV cache
#
# A decoder-only model predicts the next character. Generating with it, each new
# token would re-run the whole sequence; the **KV cache** keeps every layer's keys
# and values, so each new token costs one step. Both give the same tokens.

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
# ## 8. Frozen features for classification
#
# The practical's optional Hugging Face part fed DistilBERT's [CLS] vector to a
# classifier. Any embedding function plugs in; here a small local transformer
# encoder (random weights, no download) embeds templated bank requests, and a
# logistic regression or an MLP is trained on the frozen features. With
# `pip install transformers torch` and the weights at hand,
# `tx.hf_embedder("distilbert-base-uncased")` takes its place.

# %%
texts, labels, names = tx.intent_dataset(40 if QUICK else 100, seed=0)
embed = tx.random_encoder_embedder(texts, d_model=32 if QUICK else 64)
for head in ("logistic", "mlp"):
    _, acc = tx.evaluate_text_classifier(embed, texts, labels, head=head, epochs=20)
    print(f"{head:>8}: test accuracy {acc['test_accuracy']:.3f} ({len(names)} intents)")
