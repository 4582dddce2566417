"""Frozen-feature classification with a pluggable embedding function."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from khipu.core import KhipuError, MissingDependencyError
from khipu.transformer import (
    evaluate_text_classifier,
    hf_embedder,
    intent_dataset,
    random_encoder_embedder,
    train_feature_classifier,
)


def test_intent_dataset_is_balanced_and_seeded() -> None:
    texts, labels, names = intent_dataset(10, seed=1)
    assert len(texts) == 10 * len(names) and np.bincount(labels).tolist() == [10] * len(names)
    assert intent_dataset(10, seed=1)[0] == texts


@pytest.mark.slow
@pytest.mark.parametrize("head", ["logistic", "mlp"])
def test_a_small_local_encoder_gives_features_a_head_can_classify(head) -> None:
    texts, labels, names = intent_dataset(40, seed=0)
    embed = random_encoder_embedder(texts, d_model=32, seed=0)
    features = embed(texts[:3])
    assert features.shape == (3, 32) and features.dtype == np.float32
    clf, metrics = evaluate_text_classifier(embed, texts, labels, head=head, epochs=20)
    chance = 1 / len(names)
    assert metrics["test_accuracy"] > 0.8 > chance
    assert clf.history["loss"][-1] < clf.history["loss"][0]


def test_any_embedding_function_plugs_in_and_bad_ones_are_refused() -> None:
    texts, labels, _ = intent_dataset(20, seed=0)

    def bag_of_letters(batch):
        return np.stack([[t.count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in batch]).astype(
            float
        )

    _, metrics = evaluate_text_classifier(bag_of_letters, texts, labels, epochs=20)
    assert metrics["train_accuracy"] > 0.9
    with pytest.raises(KhipuError, match="must return"):
        evaluate_text_classifier(lambda batch: np.zeros((3, 4)), texts, labels)
    with pytest.raises(KhipuError, match="non-finite"):
        train_feature_classifier(np.full((4, 2), np.nan), np.arange(4))
    with pytest.raises(KhipuError, match="unknown head"):
        train_feature_classifier(np.zeros((4, 2)), np.arange(4), head="svm")


@pytest.mark.skipif(importlib.util.find_spec("transformers") is not None, reason="hf installed")
def test_hugging_face_is_optional() -> None:
    with pytest.raises(MissingDependencyError, match="transformers torch"):
        hf_embedder()
