"""Frozen-feature text classification (the practical's optional Hugging Face part).

A text classifier = a frozen *embedding function* ``embed(texts) -> [N, D]``
plus a small trainable head (logistic regression or an MLP) trained with
khipu-core's ``fit()``. Any embedding function plugs in:

* :func:`encoder_embedder`: mean-pooled outputs of a transformer encoder of this
  package (randomly initialised or the trained inversion model's), all local;
* :func:`hf_embedder`: a Hugging Face encoder such as DistilBERT, when the user
  has installed ``transformers`` and ``torch`` (not dependencies of this
  package: they are large) and has the weights;
* any function of the user's.

:func:`intent_dataset` is an offline stand-in for banking77: short customer
requests generated from templates, one class per intent.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
from khipu.core import (
    KhipuError,
    fit,
    import_optional,
    init_train_state,
    make_train_step,
    split_arrays,
)
from khipu.transformer.models import TransformerConfig
from khipu.transformer.tokenizers import CharTokenizer, pad_batch
from khipu.transformer.train import inversion_parts

EmbedFn = Callable[[Sequence[str]], np.ndarray]
HEADS = ("logistic", "mlp")

_INTENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "card_lost": (
        ("i lost my {x}", "my {x} was stolen", "i cannot find my {x}", "someone took my {x}"),
        ("card", "debit card", "credit card", "bank card", "new card"),
    ),
    "balance": (
        ("what is my {x}", "show me my {x}", "how much is my {x}", "check my {x} please"),
        ("balance", "account balance", "current balance", "savings balance", "money left"),
    ),
    "transfer": (
        (
            "send money to my {x}",
            "transfer cash to my {x}",
            "pay my {x} now",
            "wire funds to my {x}",
        ),
        ("friend", "brother", "landlord", "sister", "mother", "other account"),
    ),
    "exchange_rate": (
        ("what is the rate for {x}", "how many {x} for one dollar", "convert dollars to {x}"),
        ("euros", "pounds", "yen", "pesos", "soles", "rand"),
    ),
    "pin": (
        ("i forgot my {x}", "change my {x}", "reset the {x} of my card", "my {x} is blocked"),
        ("pin", "pin code", "passcode", "secret number"),
    ),
}


def intent_dataset(
    num_per_class: int = 60, *, seed: int = 0
) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """Templated customer requests, labelled by intent.

    Returns:
      ``(texts, labels [N] int32, class_names)`` in a seeded random order.
    """
    if num_per_class <= 0:
        raise KhipuError(f"num_per_class must be positive, got {num_per_class}")
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    names = tuple(_INTENTS)
    for label, (templates, fillers) in enumerate(_INTENTS.values()):
        for _ in range(num_per_class):
            text = str(rng.choice(templates)).format(x=rng.choice(fillers))
            texts.append(text if rng.random() < 0.7 else text + "?")
            labels.append(label)
    order = rng.permutation(len(texts))
    return [texts[i] for i in order], np.asarray(labels, np.int32)[order], names


def encoder_embedder(
    config: TransformerConfig,
    params: hk.Params,
    tokenizer: CharTokenizer,
    *,
    batch_size: int = 128,
) -> EmbedFn:
    """Mean-pooled encoder outputs of an inversion :class:`Transformer` as features.

    Args:
      config, params: the model (trained, or freshly initialised as a random
        feature extractor).
      tokenizer: its character tokenizer; texts longer than ``config.max_len``
        are cut (features describe their first ``max_len`` characters).
      batch_size: texts embedded per call.

    Returns:
      ``embed(texts) -> [N, d_model]`` float32.
    """
    encode = jax.jit(inversion_parts(config).apply[0])

    def embed(texts: Sequence[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch_size):
            ids = [tokenizer.encode(t)[: config.max_len] for t in texts[i : i + batch_size]]
            if min(len(x) for x in ids) == 0:
                raise KhipuError("cannot embed an empty text")
            tokens, lengths = pad_batch(ids, config.max_len)
            memory, _ = encode(params, None, jnp.asarray(tokens), jnp.asarray(lengths))
            valid = (jnp.arange(config.max_len)[None, :] < lengths[:, None])[..., None]
            pooled = jnp.sum(memory * valid, axis=1) / jnp.asarray(lengths, jnp.float32)[:, None]
            out.append(np.asarray(pooled))
        return np.concatenate(out).astype(np.float32)

    return embed


def random_encoder_embedder(
    texts: Sequence[str],
    *,
    d_model: int = 64,
    num_layers: int = 1,
    max_len: int = 64,
    seed: int = 0,
) -> EmbedFn:
    """A small, randomly initialised local encoder (no training, no download).

    Its tokenizer is built from ``texts``; texts with other characters are refused.
    """
    tokenizer = CharTokenizer.from_text("".join(texts))
    config = TransformerConfig(
        tokenizer.vocab_size, d_model=d_model, num_heads=4, num_layers=num_layers, max_len=max_len
    )
    dummy = jnp.zeros((1, max_len), jnp.int32)
    params = jax.jit(inversion_parts(config).init)(jax.random.key(seed), dummy, dummy)
    return encoder_embedder(config, params, tokenizer)


def hf_embedder(model_name: str = "distilbert-base-uncased", *, batch_size: int = 32) -> EmbedFn:
    """The first-token ([CLS]) hidden state of a Hugging Face encoder, as features.

    Needs ``pip install transformers torch`` (not dependencies of this package)
    and the model's weights in the Hugging Face cache (or network access).
    """
    transformers = import_optional("transformers", install="transformers torch")
    torch = import_optional("torch", install="transformers torch")
    try:
        tok = transformers.AutoTokenizer.from_pretrained(model_name)
        model = transformers.AutoModel.from_pretrained(model_name)
    except OSError as exc:
        raise KhipuError(f"Hugging Face model {model_name!r} is not available ({exc})") from exc
    model.eval()

    def embed(texts: Sequence[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch_size):
            batch = tok(
                list(texts[i : i + batch_size]), padding=True, truncation=True, return_tensors="pt"
            )
            with torch.no_grad():
                hidden = model(**batch).last_hidden_state[:, 0]
            out.append(hidden.numpy())
        return np.concatenate(out).astype(np.float32)

    return embed


@functools.cache
def _head(num_classes: int, head: str, hidden: int) -> hk.Transformed:
    def forward(x: jax.Array) -> jax.Array:
        if head == "mlp":
            x = jax.nn.relu(hk.Linear(hidden, name="hidden")(x))
        out: jax.Array = hk.Linear(num_classes, name="logits")(x)
        return out

    return hk.without_apply_rng(hk.transform(forward))


@dataclasses.dataclass(frozen=True)
class FeatureClassifier:
    """A trained head on frozen features (with the feature standardisation)."""

    head: str
    hidden: int
    num_classes: int
    params: hk.Params
    mean: np.ndarray
    std: np.ndarray
    history: dict[str, list[float]]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Class ids ``[N]`` for features ``[N, D]``."""
        x = (np.asarray(features, np.float32) - self.mean) / self.std
        logits = _head(self.num_classes, self.head, self.hidden).apply(self.params, jnp.asarray(x))
        return np.asarray(jnp.argmax(logits, -1))


def _check_features(features: np.ndarray, n: int) -> np.ndarray:
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] != n:
        raise KhipuError(f"the embedding function must return [{n}, D], got {features.shape}")
    if not np.isfinite(features).all():
        raise KhipuError("the embedding function returned non-finite features")
    return features.astype(np.float32)


def train_feature_classifier(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    head: str = "logistic",
    hidden: int = 128,
    epochs: int = 30,
    batch_size: int = 32,
    learning_rate: float = 1e-2,
    seed: int = 0,
) -> FeatureClassifier:
    """Trains a logistic-regression or MLP head on frozen features with ``fit()``.

    Args:
      features: ``[N, D]`` from any embedding function.
      labels: ``[N]`` class ids ``0 .. C-1``.
      head: ``"logistic"`` (one linear layer) or ``"mlp"`` (ReLU hidden layer).
      hidden: MLP hidden width.
      epochs, batch_size, learning_rate: Adam training settings.
      seed: initialisation and shuffling seed.
    """
    if head not in HEADS:
        raise KhipuError(f"unknown head {head!r}; available: {', '.join(HEADS)}")
    labels = np.asarray(labels, np.int32)
    x = _check_features(features, len(labels))
    if labels.min(initial=0) < 0:
        raise KhipuError("labels must be non-negative class ids")
    num_classes = int(labels.max()) + 1
    mean, std = x.mean(0), x.std(0) + 1e-6
    data = {"x": (x - mean) / std, "y": labels}
    model = _head(num_classes, head, hidden)

    def loss_fn(
        params: hk.Params, state: Any, key: jax.Array, batch: Mapping[str, jax.Array]
    ) -> tuple[jax.Array, tuple[Any, dict[str, jax.Array]]]:
        del key
        logits = model.apply(params, batch["x"])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
        acc = (jnp.argmax(logits, -1) == batch["y"]).mean()
        return loss, (state, {"accuracy": acc})

    optimizer = optax.adam(learning_rate)
    params = model.init(jax.random.key(seed), jnp.asarray(data["x"][:1]))
    result = fit(
        init_train_state(params, optimizer, key=seed),
        make_train_step(loss_fn, optimizer),
        data,
        batch_size=min(batch_size, len(labels)),
        epochs=epochs,
        seed=seed,
        monitor="loss",
        progress=False,
    )
    return FeatureClassifier(
        head, hidden, num_classes, result.state.params, mean, std, result.history
    )


def evaluate_text_classifier(
    embed: EmbedFn,
    texts: Sequence[str],
    labels: np.ndarray,
    *,
    head: str = "logistic",
    test_fraction: float = 0.3,
    seed: int = 0,
    **train_kwargs: Any,
) -> tuple[FeatureClassifier, dict[str, float]]:
    """Embeds ``texts``, trains a head on a seeded split and reports held-out accuracy."""
    features = _check_features(embed(list(texts)), len(texts))
    train, test = split_arrays(
        {"x": features, "y": np.asarray(labels, np.int32)},
        (1 - test_fraction, test_fraction),
        seed=seed,
    )
    clf = train_feature_classifier(train["x"], train["y"], head=head, seed=seed, **train_kwargs)
    return clf, {
        "train_accuracy": float((clf.predict(train["x"]) == train["y"]).mean()),
        "test_accuracy": float((clf.predict(test["x"]) == test["y"]).mean()),
    }
