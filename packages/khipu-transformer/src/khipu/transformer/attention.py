"""Attention as plain functions: the seq2seq dot-product attention, scaled
dot-product attention with masks, and the masks themselves.

Masks are boolean, ``True`` where a query may attend to a key, and broadcast
against attention scores of shape ``[..., T_q, T_k]``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from khipu.core import KhipuError


def dot_product_attention(
    hidden_states: jax.Array, previous_state: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The seq2seq (Luong-style) attention of the practical, with a dot-product score.

    Each decoder state scores every encoder hidden state by a dot product; the
    softmax of the scores weights the hidden states into a context vector.

    Args:
      hidden_states: encoder states ``[B, T, d]``.
      previous_state: decoder states ``[B, S, d]`` (one query per row).

    Returns:
      ``(weights, context)``: ``weights`` ``[B, S, T]`` (rows sum to 1) and
      ``context`` ``[B, S, d]``.
    """
    scores = jnp.einsum("bsd,btd->bst", previous_state, hidden_states)
    weights = jax.nn.softmax(scores, axis=-1)
    context = jnp.einsum("bst,btd->bsd", weights, hidden_states)
    return weights, context


def causal_mask(
    length: int, *, offset: jax.Array | int = 0, key_length: int | None = None
) -> jax.Array:
    """Lower-triangular mask: query ``i`` may attend to keys ``j <= i + offset``.

    Args:
      length: number of queries ``T_q``.
      offset: position of the first query among the keys (KV-cache decoding).
      key_length: number of keys ``T_k`` (default ``length``).

    Returns:
      Boolean ``[T_q, T_k]``.
    """
    t_k = length if key_length is None else key_length
    q = jnp.arange(length)[:, None] + offset
    k = jnp.arange(t_k)[None, :]
    return k <= q


def padding_mask(lengths: jax.Array, length: int) -> jax.Array:
    """``[B, T]`` boolean mask, ``True`` at the first ``lengths[b]`` positions."""
    return jnp.arange(length)[None, :] < jnp.asarray(lengths)[:, None]


def key_padding_mask(lengths: jax.Array, key_length: int) -> jax.Array:
    """Attention mask ``[B, 1, 1, T_k]`` hiding padded keys (broadcasts over heads, queries)."""
    return padding_mask(lengths, key_length)[:, None, None, :]


def check_mask(mask: jax.Array, t_q: int, t_k: int, batch_shape: tuple[int, ...] = ()) -> None:
    """Raises :class:`KhipuError` unless ``mask`` is boolean and broadcasts to the scores."""
    if mask.dtype != jnp.bool_:
        raise KhipuError(f"attention mask must be boolean, got dtype {mask.dtype}")
    if mask.ndim < 2:
        raise KhipuError(f"attention mask must have at least 2 dims [T_q, T_k], got {mask.shape}")
    target = (*batch_shape, t_q, t_k)
    try:
        ok = jnp.broadcast_shapes(tuple(mask.shape), target) == target
    except ValueError:
        ok = False
    if not ok:
        raise KhipuError(
            f"attention mask of shape {tuple(mask.shape)} does not broadcast to scores "
            f"of shape {target} (expected [..., {t_q}, {t_k}])"
        )


def masked_softmax(scores: jax.Array, mask: jax.Array | None) -> jax.Array:
    """Softmax over the last axis where ``mask`` is ``True``; zero elsewhere.

    A row with no allowed entry gets all-zero weights (not NaN).
    """
    if mask is None:
        return jax.nn.softmax(scores, axis=-1)
    exp, total = _unnormalised_softmax(scores, mask)
    return exp / total


def scaled_dot_product_attention(
    query: jax.Array,
    key: jax.Array,
    value: jax.Array,
    mask: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """softmax(Q Kᵀ / √d) V with an optional boolean mask.

    Args:
      query: ``[..., T_q, d]``.
      key: ``[..., T_k, d]``.
      value: ``[..., T_k, d_v]``.
      mask: boolean, broadcastable to ``[..., T_q, T_k]``; ``True`` = may attend.
        Padding, causal and combined masks (``a & b``) all work; a fully masked
        query row gets zero weights and a zero output.

    Returns:
      ``(outputs, weights)``: ``[..., T_q, d_v]`` and ``[..., T_q, T_k]``.

    Raises:
      KhipuError: mismatched feature sizes or a mask of the wrong shape / dtype.
    """
    if query.shape[-1] != key.shape[-1]:
        raise KhipuError(
            f"query and key feature sizes differ: {query.shape[-1]} vs {key.shape[-1]}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise KhipuError(f"key and value lengths differ: {key.shape[-2]} vs {value.shape[-2]}")
    t_q, t_k = query.shape[-2], key.shape[-2]
    if mask is not None:
        check_mask(mask, t_q, t_k, tuple(query.shape[:-2]))
    # Softmax(s) V computed as (exp(s - max) V) / sum exp(s - max): the scale is applied to
    # the queries [..., T_q, d] and the normalisation to the outputs [..., T_q, d_v], not to
    # the [..., T_q, T_k] scores, which saves two passes over the largest array (forward and
    # backward). ``weights`` is only computed when something reads it (jit drops it from a
    # training step): char-LM train step 1.10x, same run (README, "Performance").
    scores = jnp.einsum("...qd,...kd->...qk", query / math.sqrt(query.shape[-1]), key)
    exp, total = _unnormalised_softmax(scores, mask)
    outputs = jnp.einsum("...qk,...kd->...qd", exp, value) / total
    return outputs, exp / total


def _unnormalised_softmax(scores: jax.Array, mask: jax.Array | None) -> tuple[jax.Array, jax.Array]:
    """``(exp(scores - max), its row sums)``, zero where ``mask`` is ``False``; a row with
    no allowed entry has sum 1 (so that it normalises to zeros, not NaN)."""
    if mask is None:
        top = jax.lax.stop_gradient(jnp.max(scores, axis=-1, keepdims=True))
        exp = jnp.exp(scores - top)
    else:
        top = jnp.max(jnp.where(mask, scores, -jnp.inf), axis=-1, keepdims=True)
        top = jax.lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0.0))
        exp = jnp.where(mask, jnp.exp(jnp.where(mask, scores, top) - top), 0.0)
    total = jnp.sum(exp, axis=-1, keepdims=True)
    return exp, jnp.where(total > 0, total, 1.0)
