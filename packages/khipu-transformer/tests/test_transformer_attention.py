"""Attention functions and modules against independent references:
``jax.nn.dot_product_attention``, ``haiku.MultiHeadAttention`` and plain loops."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.transformer import (
    MultiHeadAttention,
    causal_mask,
    dot_product_attention,
    key_padding_mask,
    scaled_dot_product_attention,
)


def _qkv(seed: int, b: int = 2, h: int = 3, tq: int = 5, tk: int = 7, d: int = 8):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    return (
        jax.random.normal(k1, (b, h, tq, d)),
        jax.random.normal(k2, (b, h, tk, d)),
        jax.random.normal(k3, (b, h, tk, d)),
    )


def _reference(q, k, v, mask):
    # jax.nn.dot_product_attention takes [B, T, N, H]
    t = lambda x: jnp.swapaxes(x, 1, 2)  # noqa: E731
    out = jax.nn.dot_product_attention(t(q), t(k), t(v), mask=mask, implementation="xla")
    return t(out)


@pytest.mark.parametrize("kind", ["none", "padding", "causal", "both"])
def test_scaled_attention_matches_jax_nn(kind: str) -> None:
    q, k, v = _qkv(0, tq=6, tk=6)
    lengths = jnp.array([6, 3])
    mask = {
        "none": None,
        "padding": key_padding_mask(lengths, 6),
        "causal": causal_mask(6)[None, None],
        "both": causal_mask(6)[None, None] & key_padding_mask(lengths, 6),
    }[kind]
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    np.testing.assert_allclose(out, _reference(q, k, v, mask), atol=1e-5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    if mask is not None:
        assert float(jnp.abs(jnp.where(mask, 0.0, weights)).max()) == 0.0


def test_fully_masked_row_gives_zero_weights_and_finite_output() -> None:
    q, k, v = _qkv(1)
    mask = jnp.ones((5, 7), bool).at[2].set(False)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert bool(jnp.isfinite(out).all())
    assert float(jnp.abs(weights[..., 2, :]).max()) == 0.0
    assert float(jnp.abs(out[..., 2, :]).max()) == 0.0
    grads = jax.grad(lambda q: scaled_dot_product_attention(q, k, v, mask)[0].sum())(q)
    assert bool(jnp.isfinite(grads).all())


def test_mask_of_wrong_shape_or_dtype_is_refused() -> None:
    q, k, v = _qkv(2)
    with pytest.raises(KhipuError, match="does not broadcast"):
        scaled_dot_product_attention(q, k, v, jnp.ones((7, 5), bool))
    with pytest.raises(KhipuError, match="boolean"):
        scaled_dot_product_attention(q, k, v, jnp.ones((5, 7)))
    with pytest.raises(KhipuError, match="feature sizes"):
        scaled_dot_product_attention(q, k[..., :4], v)


def test_causal_mask_offset_and_key_length() -> None:
    m = np.asarray(causal_mask(2, offset=3, key_length=6))
    assert m.tolist() == [[j <= 3 for j in range(6)], [j <= 4 for j in range(6)]]
    assert np.array_equal(np.asarray(causal_mask(4)), np.tril(np.ones((4, 4), bool)))


def test_seq2seq_dot_product_attention_is_a_softmax_weighted_sum() -> None:
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(2, 4, 3)).astype(np.float32)
    prev = rng.normal(size=(2, 1, 3)).astype(np.float32)
    weights, context = dot_product_attention(jnp.asarray(hidden), jnp.asarray(prev))
    for b in range(2):
        scores = hidden[b] @ prev[b, 0]
        w = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        np.testing.assert_allclose(weights[b, 0], w, rtol=1e-5)
        np.testing.assert_allclose(context[b, 0], w @ hidden[b], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cross", [False, True])
def test_multi_head_attention_matches_haiku(cross: bool) -> None:
    heads, d = 4, 16
    x = jax.random.normal(jax.random.key(3), (2, 5, d))
    memory = jax.random.normal(jax.random.key(4), (2, 7, d)) if cross else x
    mask = key_padding_mask(jnp.array([7, 4]) if cross else jnp.array([5, 2]), memory.shape[1])

    ours = hk.without_apply_rng(
        hk.transform(lambda x, m, mask: MultiHeadAttention(heads, d)(x, m, m, mask))
    )
    theirs = hk.without_apply_rng(
        hk.transform(
            lambda x, m, mask: hk.MultiHeadAttention(
                heads, d // heads, w_init=hk.initializers.VarianceScaling(1.0), model_size=d
            )(x, m, m, mask)
        )
    )
    p_ours = ours.init(jax.random.key(5), x, memory, mask)
    p_theirs = theirs.init(jax.random.key(6), x, memory, mask)
    # copy haiku's weights into ours, matching the layer names
    by_layer = {name.rsplit("/", 1)[-1]: v for name, v in p_theirs.items()}
    p_ours = {name: by_layer[name.rsplit("/", 1)[-1]] for name in p_ours}
    got = ours.apply(p_ours, x, memory, mask)
    want = theirs.apply(p_theirs, x, memory, mask)
    np.testing.assert_allclose(got.output, want, atol=1e-5)
    assert got.weights.shape == (2, heads, 5, memory.shape[1])
