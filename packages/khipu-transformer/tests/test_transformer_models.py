"""Shapes, masking and causality of the Haiku modules."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.transformer import (
    AddNorm,
    FeedForwardBlock,
    TransformerConfig,
    inversion_model,
    lm_model,
    merge_heads,
    sinusoidal_encoding,
    split_heads,
)

CONFIG = TransformerConfig(vocab_size=12, d_model=16, num_heads=2, num_layers=2, max_len=9)


@pytest.fixture(scope="module")
def inversion():
    model = inversion_model(CONFIG)
    src = jnp.full((2, 8), 3, jnp.int32)
    params = jax.jit(model.init)(jax.random.key(0), src, jnp.full((2, 9), 3, jnp.int32), None)
    return params, jax.jit(model.apply)


def test_attention_weights_shapes_and_masks(inversion) -> None:
    params, apply = inversion
    rng = np.random.default_rng(0)
    src = jnp.asarray(rng.integers(3, 12, (2, 8)), jnp.int32)
    tgt = jnp.asarray(rng.integers(3, 12, (2, 9)), jnp.int32)
    lengths = jnp.array([8, 5])
    out = apply(params, None, src, tgt, lengths)
    assert out.logits.shape == (2, 9, 12)
    assert out.encoder_weights.shape == (2, 2, 2, 8, 8)
    assert out.decoder_weights.shape == (2, 2, 2, 9, 9)
    assert out.cross_weights.shape == (2, 2, 2, 9, 8)
    # padded source positions get no attention, decoder self-attention is causal,
    # cross-attention is not: early queries attend to late (valid) source positions
    assert float(out.encoder_weights[1, ..., 5:].max()) == 0.0
    assert float(out.cross_weights[1, ..., 5:].max()) == 0.0
    assert float(jnp.triu(out.decoder_weights, k=1).max()) == 0.0
    assert float(out.cross_weights[0, :, :, 0, 4:].min()) > 0.0
    # changing padded source tokens changes nothing
    src2 = src.at[1, 5:].set(7)
    np.testing.assert_allclose(
        apply(params, None, src2, tgt, lengths).logits, out.logits, atol=1e-5
    )
    # changing a future decoder token leaves earlier logits unchanged
    tgt2 = tgt.at[:, 6].set((tgt[:, 6] + 1 - 3) % 9 + 3)
    changed = apply(params, None, src, tgt2, lengths).logits
    np.testing.assert_allclose(changed[:, :6], out.logits[:, :6], atol=1e-5)
    assert float(jnp.abs(changed[:, 6:] - out.logits[:, 6:]).max()) > 1e-4


def test_too_long_sequences_are_refused(inversion) -> None:
    params, apply = inversion
    with pytest.raises(KhipuError, match="longer than the model's maximum"):
        apply(params, None, jnp.full((1, 10), 3), jnp.full((1, 4), 3), None)


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
def test_pre_ln_lm_with_either_positional_encoding(positional) -> None:
    config = CONFIG._replace(pre_ln=True, positional=positional)
    model = lm_model(config)
    tokens = jnp.asarray(np.random.default_rng(1).integers(3, 12, (2, 7)), jnp.int32)
    params = jax.jit(model.init)(jax.random.key(1), tokens)
    assert any("final_norm" in k for k in params)
    assert any("position_embedding" in k for k in params) == (positional == "learned")
    out = jax.jit(model.apply)(params, None, tokens)
    assert out.output.shape == (2, 7, 12) and out.self_weights.shape == (2, 2, 2, 7, 7)
    assert out.cross_weights is None


def test_sinusoidal_encoding_matches_the_formula() -> None:
    pe = np.asarray(sinusoidal_encoding(6, 8))
    for p in range(6):
        for i in range(4):
            angle = p / 10000 ** (2 * i / 8)
            assert pe[p, 2 * i] == pytest.approx(np.sin(angle), abs=1e-5)
            assert pe[p, 2 * i + 1] == pytest.approx(np.cos(angle), abs=1e-5)
    np.testing.assert_allclose(sinusoidal_encoding(jnp.arange(3, 6), 8), pe[3:6], atol=1e-5)


def test_heads_split_and_merge_are_inverse() -> None:
    x = jnp.arange(2 * 3 * 8.0).reshape(2, 3, 8)
    heads = split_heads(x, 4)
    assert heads.shape == (2, 4, 3, 2)
    np.testing.assert_array_equal(heads[0, 1, 2], x[0, 2, 2:4])
    np.testing.assert_array_equal(merge_heads(heads), x)


def test_feed_forward_and_add_norm() -> None:
    def f(x):
        return FeedForwardBlock(widening_factor=3)(x), AddNorm()(x, 2 * x)

    model = hk.without_apply_rng(hk.transform(f))
    x = jax.random.normal(jax.random.key(2), (2, 3, 4))
    params = model.init(jax.random.key(3), x)
    assert params["feed_forward_block/linear_1"]["w"].shape == (4, 12)
    ffn, norm = model.apply(params, x)
    p1, p2 = params["feed_forward_block/linear_1"], params["feed_forward_block/linear_2"]
    want = jax.nn.gelu(x @ p1["w"] + p1["b"][None, None]) @ p2["w"] + p2["b"][None, None]
    np.testing.assert_allclose(ffn, want, atol=1e-5)
    y = 3 * x
    want_norm = (y - y.mean(-1, keepdims=True)) / jnp.sqrt(y.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(norm, want_norm, atol=1e-4)
