"""The pretrained encoder that ships in the package: its files, its provenance, and that
its frozen features beat the same encoder's random-weight features on the held-out task."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import jax
import numpy as np
import pytest
from khipu.transformer.classify import train_feature_classifier
from khipu.transformer.pretrained import (
    PROVENANCE,
    WEIGHTS,
    PretrainConfig,
    agent_dataset,
    frozen_features,
    grammar_sentences,
    load_pretrained,
    pretrain_encoder,
    random_like,
    save_pretrained,
)

# the installed package's copy (also inside a wheel)
SHIPPED = Path(str(importlib.resources.files("khipu.transformer") / "weights"))


def test_the_shipped_weights_are_small_and_carry_their_provenance() -> None:
    assert (SHIPPED / WEIGHTS).stat().st_size <= 5 * 2**20
    provenance = json.loads((SHIPPED / PROVENANCE).read_text())
    for key in ("command", "objective", "pretrain_config", "model_config", "data", "versions"):
        assert provenance[key]
    assert provenance["command"].startswith("khipu transformer pretrain")
    assert "jax" in provenance["versions"] and "dm-haiku" in provenance["versions"]
    encoder = load_pretrained()
    assert encoder.config._asdict() == provenance["model_config"]


ALIVE = {"cat", "dog", "bird", "child", "teacher", "farmer", "llama"}
THINGS = {"river", "house", "tree", "book", "song", "boat", "garden"}


def test_the_labelled_task_is_held_out_and_needs_word_order() -> None:
    texts, labels = agent_dataset(200, seed=1)
    assert abs(labels.mean() - 0.5) < 0.01
    # no labels in pre-training; a short sentence may occur there by chance (1 in 600)
    pretraining = set(grammar_sentences(8_000, seed=0))
    held_out, _ = agent_dataset(600, seed=1)
    assert sum(t in pretraining for t in held_out) / len(held_out) < 0.01
    for text, label in zip(texts, labels, strict=True):
        nouns = [w for w in text.rstrip(".").split() if w in ALIVE | THINGS]
        assert len(nouns) == 2 and len(set(nouns) & ALIVE) == 1  # one of each in every text
        assert (nouns[0] in ALIVE) == bool(label)  # the label is the subject's


@pytest.mark.slow
def test_pretrained_features_beat_random_features_on_the_held_out_task() -> None:
    encoder = load_pretrained()
    texts, labels = agent_dataset(600, seed=1)
    accuracies = {}
    for name, enc in (("pretrained", encoder), ("random", random_like(encoder))):
        features = frozen_features(enc, texts)
        clf = train_feature_classifier(features[:400], labels[:400], head="mlp", epochs=60)
        accuracies[name] = float((clf.predict(features[400:]) == labels[400:]).mean())
    # measured: 0.77 vs 0.63 (MLP head, 400 training / 200 held-out sentences)
    assert accuracies["pretrained"] >= 0.72, accuracies
    assert accuracies["pretrained"] >= accuracies["random"] + 0.10, accuracies


def test_pretraining_lowers_the_masked_character_loss_and_round_trips(tmp_path) -> None:
    settings = PretrainConfig(
        d_model=16, num_heads=2, num_layers=1, num_sentences=256, epochs=2, batch_size=32
    )
    config, tokenizer, params, metrics = pretrain_encoder(settings, progress=False)
    assert np.isfinite(metrics["final_loss"]) and 0.0 <= metrics["final_masked_accuracy"] <= 1.0
    save_pretrained(tmp_path, config, tokenizer, params, {"command": "test"})
    loaded = load_pretrained(tmp_path)
    for a, b in zip(
        jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(loaded.params), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    features = frozen_features(loaded, ["the cat sees a dog.", "a dog."])
    assert features.shape == (2, 16) and np.isfinite(features).all()
