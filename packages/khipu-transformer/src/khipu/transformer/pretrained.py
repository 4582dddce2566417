"""A small pretrained text encoder that ships inside the package, and the labelled task
that shows its features transfer.

Pre-training (``khipu transformer pretrain``): **masked character modelling** (as BERT
masks word pieces) on sentences of the package's own grammar (:func:`grammar_sentence`,
generated offline from a seed, no download — chosen over a corpus from gensim's test
data so that the package needs no extra dependency and the data are reproducible
exactly). 15 % of the characters of each sentence are replaced by ``MASK`` and the
encoder learns to restore them, which needs the word they belong to and its context.

Weights: ``weights/pretrained_encoder.npz`` (khipu-core checkpoint, well under 5 MB)
with ``weights/pretrained_encoder.json`` beside it: the command, the configuration,
the data recipe and the library versions that produced it.

Held-out labelled task (:func:`agent_dataset`): two-noun sentences, one noun a living
thing and one an object ("the old dog finds a book." / "a book finds the old dog."):
*is the subject alive?* Both classes hold the same words, so counting characters or
words cannot answer it; it needs word order. Its sentences are drawn from other seeds
than pre-training's and never carry a label during pre-training.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
from khipu.core import (
    KhipuError,
    fit,
    init_train_state,
    load_checkpoint,
    make_train_step,
    read_metadata,
    save_checkpoint,
)
from khipu.transformer.data import grammar_sentence
from khipu.transformer.models import Embedder, TransformerConfig, TransformerEncoder, check_config
from khipu.transformer.tokenizers import CharTokenizer, pad_batch
from khipu.transformer.train import make_optimizer

MASK = 1
"""The mask token's id (``BOS``'s id: an encoder never reads a BOS)."""
WEIGHTS = "pretrained_encoder.npz"
PROVENANCE = "pretrained_encoder.json"
_ANIMATE = ("cat", "dog", "bird", "child", "teacher", "farmer", "llama")
_INANIMATE = ("river", "house", "tree", "book", "song", "boat", "garden")
_DETERMINERS = ("the", "a", "my", "your", "every", "one", "this", "that")
_ADJECTIVES = ("small", "red", "old", "happy", "quiet", "big", "green", "tired", "brave", "cold")
_VERBS = ("sees", "likes", "finds", "follows", "paints", "carries", "hears", "wants", "loves")


class EncoderOutput(NamedTuple):
    """Hidden states ``[B, T, d]`` and masked-character logits ``[B, T, V]``."""

    hidden: jax.Array
    logits: jax.Array


class TextEncoder(hk.Module):
    """Embedding + positions, a transformer encoder and a masked-character head."""

    def __init__(self, config: TransformerConfig, name: str | None = None) -> None:
        super().__init__(name=name)
        check_config(config)
        self.config = config
        c = config
        self.embedder = Embedder(c, name="embedder")
        self.encoder = TransformerEncoder(
            c.num_heads, c.num_layers, c.d_model, c.widening_factor, pre_ln=c.pre_ln, name="encoder"
        )
        self.head = hk.Linear(c.vocab_size, name="mlm_head")

    def __call__(self, tokens: jax.Array, lengths: jax.Array) -> EncoderOutput:
        """``tokens`` ``[B, T]`` (``MASK`` where hidden), ``lengths`` ``[B]``."""
        mask = (jnp.arange(tokens.shape[1])[None, :] < lengths[:, None])[:, None, None, :]
        hidden, _ = self.encoder(self.embedder(tokens), mask)
        return EncoderOutput(hidden, self.head(hidden))


@functools.cache
def encoder_model(config: TransformerConfig) -> hk.Transformed:
    """``apply(params, None, tokens [B, T], lengths [B]) -> EncoderOutput``."""
    return hk.transform(lambda t, n: TextEncoder(config, name="text_encoder")(t, n))


def grammar_sentences(count: int, *, seed: int) -> list[str]:
    """``count`` sentences of the package's grammar (lower-cased), from ``seed``."""
    rng = np.random.default_rng(seed)
    return [grammar_sentence(rng).lower() for _ in range(count)]


def agent_dataset(count: int = 400, *, seed: int = 1) -> tuple[list[str], np.ndarray]:
    """The held-out labelled task: is the subject of the sentence alive?

    Each sentence has one living and one non-living noun, in random order
    (``"the old dog finds a book."`` -> 1, ``"a book finds the old dog."`` -> 0), so
    both classes use the same words.

    Returns:
      ``(texts, labels [N] int32)``, balanced, in a seeded random order.
    """
    if count <= 1:
        raise KhipuError(f"count must be at least 2, got {count}")
    rng = np.random.default_rng(10_000 + seed)

    def phrase(noun: str) -> str:
        words = [str(rng.choice(_DETERMINERS))]
        if rng.random() < 0.5:
            words.append(str(rng.choice(_ADJECTIVES)))
        return " ".join([*words, noun])

    texts, labels = [], []
    for i in range(count):
        alive, thing = str(rng.choice(_ANIMATE)), str(rng.choice(_INANIMATE))
        label = i % 2
        subject, obj = (alive, thing) if label else (thing, alive)
        texts.append(f"{phrase(subject)} {rng.choice(_VERBS)} {phrase(obj)}.")
        labels.append(label)
    order = rng.permutation(count)
    return [texts[i] for i in order], np.asarray(labels, np.int32)[order]


class PretrainConfig(NamedTuple):
    """Pre-training settings (recorded in the provenance file)."""

    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2
    widening_factor: int = 4
    max_len: int = 96
    num_sentences: int = 8_000
    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 2e-3
    mask_rate: float = 0.15
    seed: int = 0


def _alphabet() -> str:
    text = " ".join(grammar_sentences(2000, seed=123)) + " ".join(agent_dataset(200)[0])
    return "".join(sorted(set(text)))


def _mask_loss(config: TransformerConfig, mask_rate: float) -> Any:
    model = encoder_model(config)

    def loss_fn(
        params: hk.Params, state: Any, key: jax.Array, batch: dict[str, jax.Array]
    ) -> tuple[jax.Array, tuple[Any, dict[str, jax.Array]]]:
        tokens, lengths = batch["tokens"], batch["lengths"]
        real = jnp.arange(tokens.shape[1])[None, :] < lengths[:, None]
        hide = (jax.random.uniform(key, tokens.shape) < mask_rate) & real
        out = model.apply(params, None, jnp.where(hide, MASK, tokens), lengths)
        nll = optax.softmax_cross_entropy_with_integer_labels(out.logits, tokens)
        w = hide.astype(nll.dtype)
        loss = jnp.sum(nll * w) / jnp.maximum(jnp.sum(w), 1.0)
        hits = (jnp.argmax(out.logits, -1) == tokens) & hide
        accuracy = jnp.sum(hits) / jnp.maximum(jnp.sum(hide), 1)
        return loss, (state, {"masked_accuracy": accuracy})

    return loss_fn


def pretrain_encoder(
    settings: PretrainConfig | None = None, *, progress: bool = True
) -> tuple[TransformerConfig, CharTokenizer, hk.Params, dict[str, Any]]:
    """Masked-character pre-training on grammar sentences.

    Returns:
      ``(config, tokenizer, params, metrics)`` (final loss, masked accuracy, seconds).
    """
    s = PretrainConfig() if settings is None else settings
    tokenizer = CharTokenizer(_alphabet())
    config = TransformerConfig(
        tokenizer.vocab_size, s.d_model, s.num_heads, s.num_layers, s.widening_factor, s.max_len
    )
    sentences = grammar_sentences(s.num_sentences, seed=s.seed)
    tokens, lengths = pad_batch([tokenizer.encode(t) for t in sentences], s.max_len)
    data = {"tokens": tokens, "lengths": lengths}
    loss_fn = _mask_loss(config, s.mask_rate)
    steps = s.epochs * (len(sentences) // s.batch_size)
    optimizer = make_optimizer(s.learning_rate, warmup_steps=100, total_steps=steps)
    params = encoder_model(config).init(
        jax.random.key(s.seed), jnp.asarray(tokens[:1]), jnp.asarray(lengths[:1])
    )
    start = time.perf_counter()
    result = fit(
        init_train_state(params, optimizer, key=s.seed),
        make_train_step(loss_fn, optimizer),
        data,
        batch_size=s.batch_size,
        epochs=s.epochs,
        seed=s.seed,
        monitor="loss",
        progress=progress,
    )
    metrics = {
        "final_loss": float(result.history["loss"][-1]),
        "final_masked_accuracy": float(result.history["masked_accuracy"][-1]),
        "train_seconds": time.perf_counter() - start,
        "steps": steps,
    }
    return config, tokenizer, result.state.params, metrics


def save_pretrained(
    folder: str | Path,
    config: TransformerConfig,
    tokenizer: CharTokenizer,
    params: hk.Params,
    provenance: dict[str, Any],
) -> Path:
    """Writes the weights (khipu-core checkpoint) and the provenance JSON into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"config": config._asdict(), "tokenizer": tokenizer.to_dict()}
    path = save_checkpoint(folder / WEIGHTS, {"params": params}, meta)
    (folder / PROVENANCE).write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
    return path


class PretrainedEncoder(NamedTuple):
    """The shipped encoder: sizes, tokenizer, parameters and provenance."""

    config: TransformerConfig
    tokenizer: CharTokenizer
    params: hk.Params
    provenance: dict[str, Any]


def _weights_dir() -> Path:
    return Path(str(importlib.resources.files("khipu.transformer") / "weights"))


def load_pretrained(folder: str | Path | None = None) -> PretrainedEncoder:
    """The encoder shipped in the package (or the one saved in ``folder``)."""
    folder = _weights_dir() if folder is None else Path(folder)
    meta = read_metadata(folder / WEIGHTS)
    config = TransformerConfig(**meta["config"])
    tokenizer = CharTokenizer(str(meta["tokenizer"]["alphabet"]))
    like = encoder_model(config).init(
        jax.random.key(0), jnp.zeros((1, 4), jnp.int32), jnp.ones((1,), jnp.int32)
    )
    tree, _ = load_checkpoint(folder / WEIGHTS, {"params": like})
    provenance = json.loads((folder / PROVENANCE).read_text())
    return PretrainedEncoder(config, tokenizer, tree["params"], provenance)


def random_like(encoder: PretrainedEncoder, *, seed: int = 0) -> PretrainedEncoder:
    """The same encoder with freshly initialised (random) weights."""
    params = encoder_model(encoder.config).init(
        jax.random.key(seed), jnp.zeros((1, 4), jnp.int32), jnp.ones((1,), jnp.int32)
    )
    return encoder._replace(params=params, provenance={"weights": f"random, seed {seed}"})


def frozen_features(encoder: PretrainedEncoder, texts: Sequence[str]) -> np.ndarray:
    """Mean-pooled hidden states ``[N, d_model]`` of ``texts`` (the encoder stays frozen)."""
    c = encoder.config
    ids = [encoder.tokenizer.encode(t)[: c.max_len] for t in texts]
    if not ids or min(len(i) for i in ids) == 0:
        raise KhipuError("cannot embed an empty text")
    apply = jax.jit(encoder_model(c).apply)
    out = []
    for i in range(0, len(ids), 256):
        tokens, lengths = pad_batch(ids[i : i + 256], c.max_len)
        hidden = apply(encoder.params, None, jnp.asarray(tokens), jnp.asarray(lengths)).hidden
        real = (np.arange(c.max_len)[None, :] < lengths[:, None])[..., None]
        out.append((np.asarray(hidden) * real).sum(1) / lengths[:, None])
    return np.concatenate(out).astype(np.float32)
