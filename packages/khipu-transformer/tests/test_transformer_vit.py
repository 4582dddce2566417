"""Image patches against a plain loop; the ViT learns the offline digits; the CLI's
``--task vit`` writes test_accuracy."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import KhipuError, load_digits
from khipu.core.cli import main
from khipu.transformer import ViTConfig, image_to_patches, train_vit, vit_model


def test_image_to_patches_matches_a_plain_loop() -> None:
    images = np.random.default_rng(0).normal(size=(2, 6, 4, 3)).astype(np.float32)
    p = 2
    expected = np.stack(
        [
            np.stack(
                [
                    images[b, i * p : (i + 1) * p, j * p : (j + 1) * p, :].reshape(-1)
                    for i in range(3)
                    for j in range(2)
                ]
            )
            for b in range(2)
        ]
    )
    np.testing.assert_array_equal(image_to_patches(jnp.asarray(images), p), expected)
    with pytest.raises(KhipuError, match="must divide"):
        image_to_patches(jnp.asarray(images), 4)


def test_vit_shapes_and_a_short_training_beats_chance() -> None:
    config = ViTConfig(patch_size=4, d_model=16, num_heads=2, num_layers=1)
    logits, weights = vit_model(config).apply(
        vit_model(config).init(jax.random.key(0), jnp.zeros((1, 8, 8, 1))),
        None,
        jnp.zeros((3, 8, 8, 1)),
    )
    assert logits.shape == (3, 10) and weights.shape == (3, 1, 2, 5, 5)  # 4 patches + [CLS]
    d = load_digits(seed=0)
    result = train_vit(
        config,
        d.train,
        d.val,
        d.test,
        epochs=4,
        learning_rate=3e-3,
        warmup_steps=10,
        progress=False,
    )
    assert result.metrics["test_accuracy"] > 0.5  # chance is 0.1
    assert result.history["loss"][-1] < result.history["loss"][0]
    with pytest.raises(KhipuError, match="images are"):
        train_vit(config._replace(image_size=4, patch_size=2), d.train, d.val, d.test, epochs=1)


@pytest.mark.slow
def test_cli_vit_writes_test_accuracy(tmp_path, capsys) -> None:
    out = tmp_path / "vit"
    args = ["transformer", "train", "--task", "vit", "--epochs", "1", "--d-model", "16"]
    code = main(
        [*args, "--num-heads", "2", "--num-layers", "1", "--no-progress", "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and math.isfinite(metrics["test_loss"])
    assert (out / "model.npz").is_file() and (out / "learning_curves.png").is_file()
    assert "test accuracy" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert None not in config.values() and None not in config["versions"].values()
    assert config["patch_size"] == 2 and "length" not in config and "text" not in config
