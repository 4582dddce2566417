"""Haiku modules of the transformer, block by block.

Shapes: ``B`` batch, ``T`` sequence length, ``d`` model width (``d_model``),
``H`` heads, ``L`` layers. Masks are boolean, ``True`` = may attend.

Every module creates its submodules in ``__init__`` so that all methods
(``__call__``, ``encode``, ``decode``) share one set of parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from khipu.core import KhipuError
from khipu.transformer.attention import (
    causal_mask,
    check_mask,
    key_padding_mask,
    scaled_dot_product_attention,
)

POSITIONAL_KINDS = ("sinusoidal", "learned")


class TransformerConfig(NamedTuple):
    """Sizes of a transformer.

    Attributes:
      vocab_size: number of token ids (PAD/BOS/EOS included).
      d_model: width of every residual stream vector.
      num_heads: attention heads per layer (must divide ``d_model``).
      num_layers: blocks in the encoder and in the decoder.
      widening_factor: hidden width of the feed-forward block / ``d_model``.
      max_len: longest sequence the model accepts.
      pre_ln: LayerNorm before each sublayer (pre-LN) instead of after the
        residual addition (post-LN, the practical's "Add & Norm").
      positional: ``"sinusoidal"`` or ``"learned"`` positional encodings.
    """

    vocab_size: int
    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 2
    widening_factor: int = 4
    max_len: int = 128
    pre_ln: bool = False
    positional: str = "sinusoidal"


def check_config(config: TransformerConfig) -> None:
    """Raises :class:`KhipuError` for sizes that cannot build a model."""
    for name in ("vocab_size", "d_model", "num_heads", "num_layers", "widening_factor", "max_len"):
        if getattr(config, name) <= 0:
            raise KhipuError(f"{name} must be positive, got {getattr(config, name)}")
    if config.d_model % config.num_heads:
        raise KhipuError(
            f"d_model {config.d_model} is not divisible by num_heads {config.num_heads}"
        )
    if config.positional not in POSITIONAL_KINDS:
        raise KhipuError(
            f"unknown positional encoding {config.positional!r}; available: "
            + ", ".join(POSITIONAL_KINDS)
        )


BlockFactory = Callable[..., Any]
"""Builds a block: ``factory(num_heads, d_model, widening_factor, name=...)`` -> a module."""


def _check_plain_block(pre_ln: bool) -> None:
    if pre_ln:
        raise KhipuError(
            "pre_ln applies to the package's own blocks; a plugged-in block is post-LN"
        )


class KVCache(NamedTuple):
    """Keys and values of one self-attention layer, ``[B, H, T_max, d/H]`` each."""

    key: jax.Array
    value: jax.Array


class AttentionOutput(NamedTuple):
    """What :class:`MultiHeadAttention` returns.

    Attributes:
      output: ``[B, T_q, d]``.
      weights: per-head attention weights ``[B, H, T_q, T_k]``.
      cache: the updated :class:`KVCache` when one was given, else ``None``.
    """

    output: jax.Array
    weights: jax.Array
    cache: KVCache | None


def split_heads(x: jax.Array, num_heads: int) -> jax.Array:
    """``[B, T, H * k]`` -> ``[B, H, T, k]``."""
    b, t, d = x.shape
    return x.reshape(b, t, num_heads, d // num_heads).transpose(0, 2, 1, 3)


def merge_heads(x: jax.Array) -> jax.Array:
    """``[B, H, T, k]`` -> ``[B, T, H * k]`` (inverse of :func:`split_heads`)."""
    b, h, t, k = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, t, h * k)


def sinusoidal_encoding(positions: jax.Array | int, d_model: int) -> jax.Array:
    """Sinusoidal positional encodings (Vaswani et al.).

    ``PE[p, 2i] = sin(p / 10000^(2i/d))``, ``PE[p, 2i+1] = cos(p / 10000^(2i/d))``.

    Args:
      positions: a length ``T`` (positions ``0..T-1``) or integer positions ``[T]``.
      d_model: encoding width ``d`` (odd widths drop the last cosine).

    Returns:
      ``[T, d]`` float32.
    """
    pos = jnp.arange(positions) if isinstance(positions, int) else jnp.asarray(positions)
    i = jnp.arange(0, d_model, 2, dtype=jnp.float32)
    angles = pos.astype(jnp.float32)[:, None] * jnp.exp(-jnp.log(10000.0) * i / d_model)[None, :]
    pe = jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1).reshape(pos.shape[0], -1)
    return pe[:, :d_model]


class SequenceToQKV(hk.Module):
    """Three linear maps of ``[B, T, d_in]`` to queries, keys and values ``[B, T, size]``."""

    def __init__(self, output_size: int, name: str | None = None) -> None:
        super().__init__(name=name)
        init = hk.initializers.VarianceScaling(0.5)
        self.query = hk.Linear(output_size, w_init=init, name="query")
        self.key = hk.Linear(output_size, w_init=init, name="key")
        self.value = hk.Linear(output_size, w_init=init, name="value")

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        return self.query(x), self.key(x), self.value(x)


class MultiHeadAttention(hk.Module):
    """Multi-head attention for self- and cross-attention.

    Queries, keys and values are all projected (``query``, ``key``, ``value``
    linear layers to ``d_model``), split into ``num_heads`` heads of
    ``d_model / num_heads``, attended with :func:`scaled_dot_product_attention`,
    merged and projected by ``linear`` — the parameterisation of
    ``haiku.MultiHeadAttention``.
    """

    def __init__(self, num_heads: int, d_model: int, name: str | None = None) -> None:
        super().__init__(name=name)
        if d_model % num_heads:
            raise KhipuError(f"d_model {d_model} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.d_model = d_model
        init = hk.initializers.VarianceScaling(0.5)
        self.query = hk.Linear(d_model, w_init=init, name="query")
        self.key = hk.Linear(d_model, w_init=init, name="key")
        self.value = hk.Linear(d_model, w_init=init, name="value")
        self.linear = hk.Linear(d_model, w_init=init, name="linear")

    def __call__(
        self,
        query: jax.Array,
        key: jax.Array | None = None,
        value: jax.Array | None = None,
        mask: jax.Array | None = None,
        *,
        cache: KVCache | None = None,
        cache_index: jax.Array | int = 0,
    ) -> AttentionOutput:
        """Attends from ``query`` ``[B, T_q, d]`` to ``key``/``value`` ``[B, T_k, d]``.

        Args:
          query: query sequence; also keys and values when those are ``None``
            (self-attention).
          key: key sequence (cross-attention: the encoder output).
          value: value sequence (defaults to ``key``).
          mask: boolean, broadcastable to ``[B, H, T_q, T_k]``.
          cache: self-attention keys/values so far; the new keys and values
            are written at ``cache_index`` and the queries attend to the whole
            cache (``T_k = T_max``; the mask must hide the unwritten slots).
          cache_index: position of the first query in the cache.
        """
        key = query if key is None else key
        value = key if value is None else value
        for name, x in (("query", query), ("key", key), ("value", value)):
            if x.ndim != 3:
                raise KhipuError(f"{name} must be [batch, time, features], got {x.shape}")
        q = split_heads(self.query(query), self.num_heads)
        k = split_heads(self.key(key), self.num_heads)
        v = split_heads(self.value(value), self.num_heads)
        new_cache = None
        if cache is not None:
            start = (0, 0, cache_index, 0)
            k = jax.lax.dynamic_update_slice(cache.key, k.astype(cache.key.dtype), start)
            v = jax.lax.dynamic_update_slice(cache.value, v.astype(cache.value.dtype), start)
            new_cache = KVCache(k, v)
        if mask is not None:
            check_mask(mask, q.shape[2], k.shape[2], q.shape[:2])
        out, weights = scaled_dot_product_attention(q, k, v, mask)
        return AttentionOutput(self.linear(merge_heads(out)), weights, new_cache)


class LearnedPositionalEncoding(hk.Module):
    """A trainable table ``[max_len, d]`` of position vectors, looked up by position."""

    def __init__(self, max_len: int, d_model: int, name: str | None = None) -> None:
        super().__init__(name=name)
        self.max_len = max_len
        self.d_model = d_model

    def __call__(self, positions: jax.Array) -> jax.Array:
        """``positions`` ``[T]`` integers -> ``[T, d]``."""
        table = hk.get_parameter(
            "embeddings",
            (self.max_len, self.d_model),
            init=hk.initializers.TruncatedNormal(0.02),
        )
        return jnp.take(table, positions, axis=0)


class FeedForwardBlock(hk.Module):
    """Position-wise Linear(w·d) → GELU → Linear(d)."""

    def __init__(self, widening_factor: int = 4, name: str | None = None) -> None:
        super().__init__(name=name)
        self.widening_factor = widening_factor

    def __call__(self, x: jax.Array) -> jax.Array:
        """``[..., d]`` -> ``[..., d]``."""
        d = x.shape[-1]
        init = hk.initializers.VarianceScaling(0.5)
        h = hk.Linear(self.widening_factor * d, w_init=init, name="linear_1")(x)
        return hk.Linear(d, w_init=init, name="linear_2")(jax.nn.gelu(h))


def _layer_norm(name: str) -> hk.LayerNorm:
    return hk.LayerNorm(axis=-1, create_scale=True, create_offset=True, name=name)


class AddNorm(hk.Module):
    """Add & Norm: ``LayerNorm(x + sublayer_output)`` (post-LN)."""

    def __call__(self, x: jax.Array, sublayer_output: jax.Array) -> jax.Array:
        return _layer_norm("layer_norm")(x + sublayer_output)


class EncoderBlock(hk.Module):
    """Self-attention and a feed-forward block, each with a residual and LayerNorm."""

    def __init__(
        self,
        num_heads: int,
        d_model: int,
        widening_factor: int = 4,
        *,
        pre_ln: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.pre_ln = pre_ln
        self.mha = MultiHeadAttention(num_heads, d_model, name="self_attention")
        self.ffn = FeedForwardBlock(widening_factor, name="feed_forward")
        self.norm_1 = _layer_norm("norm_1")
        self.norm_2 = _layer_norm("norm_2")

    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """``x`` ``[B, T, d]``, ``mask`` broadcastable to ``[B, H, T, T]`` ->
        (``[B, T, d]``, weights ``[B, H, T, T]``)."""
        if self.pre_ln:
            h = self.norm_1(x)
            att = self.mha(h, h, h, mask)
            x = x + att.output
            return x + self.ffn(self.norm_2(x)), att.weights
        att = self.mha(x, x, x, mask)
        x = self.norm_1(x + att.output)
        return self.norm_2(x + self.ffn(x)), att.weights


class TransformerEncoder(hk.Module):
    """A stack of encoder blocks (with a final LayerNorm when pre-LN).

    ``block`` builds each block (default :class:`EncoderBlock`); any factory
    ``block(num_heads, d_model, widening_factor, name=...)`` whose module maps
    ``(x [B, T, d], mask)`` to ``(x [B, T, d], weights [B, H, T, T])`` plugs in.
    """

    def __init__(
        self,
        num_heads: int,
        num_layers: int,
        d_model: int,
        widening_factor: int = 4,
        *,
        pre_ln: bool = False,
        block: BlockFactory | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        factory: Any = block
        self.blocks: list[Any]
        if factory is None or (isinstance(factory, type) and issubclass(factory, EncoderBlock)):
            cls = EncoderBlock if factory is None else factory
            self.blocks = [
                cls(num_heads, d_model, widening_factor, pre_ln=pre_ln, name=f"block_{i}")
                for i in range(num_layers)
            ]
        else:
            _check_plain_block(pre_ln)
            self.blocks = [
                factory(num_heads, d_model, widening_factor, name=f"block_{i}")
                for i in range(num_layers)
            ]
        self.final_norm = _layer_norm("final_norm") if pre_ln else None

    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """``[B, T, d]`` -> (``[B, T, d]``, weights ``[B, L, H, T, T]``)."""
        weights = []
        for block in self.blocks:
            out = block(x, mask)
            x, w = out[0], out[1]
            weights.append(w)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x, jnp.stack(weights, axis=1)


class DecoderBlockOutput(NamedTuple):
    output: jax.Array
    self_weights: jax.Array
    cross_weights: jax.Array | None
    cache: KVCache | None


class DecoderBlock(hk.Module):
    """Causal self-attention, cross-attention to the encoder (not causal), FFN.

    With ``cross_attention=False`` it is the block of a decoder-only model.
    """

    def __init__(
        self,
        num_heads: int,
        d_model: int,
        widening_factor: int = 4,
        *,
        pre_ln: bool = False,
        cross_attention: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.pre_ln = pre_ln
        self.self_attention = MultiHeadAttention(num_heads, d_model, name="self_attention")
        self.cross_attention = (
            MultiHeadAttention(num_heads, d_model, name="cross_attention")
            if cross_attention
            else None
        )
        self.ffn = FeedForwardBlock(widening_factor, name="feed_forward")
        self.norm_1 = _layer_norm("norm_1")
        self.norm_2 = _layer_norm("norm_2") if cross_attention else None
        self.norm_3 = _layer_norm("norm_3")

    def __call__(
        self,
        x: jax.Array,
        self_mask: jax.Array,
        memory: jax.Array | None = None,
        memory_mask: jax.Array | None = None,
        *,
        cache: KVCache | None = None,
        cache_index: jax.Array | int = 0,
    ) -> DecoderBlockOutput:
        """``x`` ``[B, T, d]``; ``self_mask`` (causal, & padding) broadcastable to
        ``[B, H, T, T_k]``; ``memory`` the encoder output ``[B, S, d]`` with
        ``memory_mask`` broadcastable to ``[B, H, T, S]``."""

        h = self.norm_1(x) if self.pre_ln else x
        att = self.self_attention(h, h, h, self_mask, cache=cache, cache_index=cache_index)
        x = x + att.output if self.pre_ln else self.norm_1(x + att.output)
        cross_weights = None
        if self.cross_attention is not None:
            if memory is None or self.norm_2 is None:
                raise KhipuError("this decoder block needs the encoder output (memory)")
            h = self.norm_2(x) if self.pre_ln else x
            cross = self.cross_attention(h, memory, memory, memory_mask)
            x = x + cross.output if self.pre_ln else self.norm_2(x + cross.output)
            cross_weights = cross.weights
        x = x + self.ffn(self.norm_3(x)) if self.pre_ln else self.norm_3(x + self.ffn(x))
        return DecoderBlockOutput(x, att.weights, cross_weights, att.cache)


class DecoderOutput(NamedTuple):
    """What a decoder returns.

    Attributes:
      output: ``[B, T, d]`` (or logits ``[B, T, V]`` from the full models).
      self_weights: ``[B, L, H, T, T_k]``.
      cross_weights: ``[B, L, H, T, S]`` (``None`` for decoder-only models).
      cache: one :class:`KVCache` per layer when decoding with a cache.
    """

    output: jax.Array
    self_weights: jax.Array
    cross_weights: jax.Array | None
    cache: list[KVCache] | None


class TransformerDecoder(hk.Module):
    """A stack of :class:`DecoderBlock` (with a final LayerNorm when pre-LN)."""

    def __init__(
        self,
        num_heads: int,
        num_layers: int,
        d_model: int,
        widening_factor: int = 4,
        *,
        pre_ln: bool = False,
        cross_attention: bool = True,
        block: BlockFactory | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        factory: Any = block
        self.blocks: list[Any]
        if factory is None or (isinstance(factory, type) and issubclass(factory, DecoderBlock)):
            cls = DecoderBlock if factory is None else factory
            self.blocks = [
                cls(
                    num_heads,
                    d_model,
                    widening_factor,
                    pre_ln=pre_ln,
                    cross_attention=cross_attention,
                    name=f"block_{i}",
                )
                for i in range(num_layers)
            ]
        else:
            _check_plain_block(pre_ln)
            if not cross_attention:
                raise KhipuError("a decoder-only stack uses the package's decoder blocks")
            self.blocks = [
                factory(num_heads, d_model, widening_factor, name=f"block_{i}")
                for i in range(num_layers)
            ]
        self.final_norm = _layer_norm("final_norm") if pre_ln else None

    def __call__(
        self,
        x: jax.Array,
        self_mask: jax.Array,
        memory: jax.Array | None = None,
        memory_mask: jax.Array | None = None,
        *,
        cache: list[KVCache] | None = None,
        cache_index: jax.Array | int = 0,
    ) -> DecoderOutput:
        self_w, cross_w = [], []
        caches: list[KVCache] = []
        for i, block in enumerate(self.blocks):
            if cache is None:
                # any block (x, self_mask, memory, memory_mask) -> (x, self_w, cross_w, ...)
                out = block(x, self_mask, memory, memory_mask)
            else:
                out = block(
                    x, self_mask, memory, memory_mask, cache=cache[i], cache_index=cache_index
                )
                caches.append(out[3])
            x = out[0]
            self_w.append(out[1])
            if out[2] is not None:
                cross_w.append(out[2])
        if self.final_norm is not None:
            x = self.final_norm(x)
        return DecoderOutput(
            x,
            jnp.stack(self_w, axis=1),
            jnp.stack(cross_w, axis=1) if cross_w else None,
            caches if cache is not None else None,
        )


class Embedder(hk.Module):
    """Token embedding plus positional encoding, added once at the input."""

    def __init__(self, config: TransformerConfig, name: str | None = None) -> None:
        super().__init__(name=name)
        self.config = config
        self.embed = hk.Embed(
            config.vocab_size,
            config.d_model,
            w_init=hk.initializers.TruncatedNormal(1.0),
            name="token_embedding",
        )
        self.positions = (
            LearnedPositionalEncoding(config.max_len, config.d_model, name="position_embedding")
            if config.positional == "learned"
            else None
        )

    def __call__(self, tokens: jax.Array, offset: jax.Array | int = 0) -> jax.Array:
        """``tokens`` ``[B, T]`` int (first one at position ``offset``) -> ``[B, T, d]``."""
        check_tokens(tokens, self.config)
        positions = jnp.arange(tokens.shape[1]) + offset
        pe = (
            self.positions(positions)
            if self.positions is not None
            else sinusoidal_encoding(positions, self.config.d_model)
        )
        return self.embed(tokens) + pe[None]


def check_tokens(tokens: jax.Array, config: TransformerConfig) -> None:
    """Raises :class:`KhipuError` unless ``tokens`` is ``[B, T]`` with ``T <= max_len``."""
    if tokens.ndim != 2:
        raise KhipuError(f"tokens must be [batch, time], got shape {tokens.shape}")
    if tokens.shape[1] > config.max_len:
        raise KhipuError(
            f"sequence of length {tokens.shape[1]} is longer than the model's maximum "
            f"{config.max_len}"
        )
    if not jnp.issubdtype(tokens.dtype, jnp.integer):
        raise KhipuError(f"tokens must be integers, got dtype {tokens.dtype}")


def _lengths_mask(lengths: jax.Array | None, length: int) -> jax.Array | None:
    return None if lengths is None else key_padding_mask(lengths, length)


class TransformerOutput(NamedTuple):
    """What :class:`Transformer` returns.

    Attributes:
      logits: ``[B, T, V]``.
      encoder_weights: ``[B, L, H, S, S]``.
      decoder_weights: self-attention ``[B, L, H, T, T]``.
      cross_weights: ``[B, L, H, T, S]``.
    """

    logits: jax.Array
    encoder_weights: jax.Array
    decoder_weights: jax.Array
    cross_weights: jax.Array


class Blocks(NamedTuple):
    """The blocks an encoder-decoder is built from: plug in your own.

    Attributes:
      encoder_block: ``encoder_block(num_heads, d_model, widening_factor, name=...)``
        -> a module mapping ``(x [B, S, d], mask)`` to ``(x, weights [B, H, S, S])``.
        Default: the package's :class:`EncoderBlock`.
      decoder_block: ``decoder_block(num_heads, d_model, widening_factor, name=...)``
        -> a module mapping ``(x [B, T, d], self_mask, memory [B, S, d], memory_mask)``
        to ``(x, self_weights [B, H, T, T], cross_weights [B, H, T, S])``.
        Default: the package's :class:`DecoderBlock`.
    """

    encoder_block: BlockFactory = EncoderBlock
    decoder_block: BlockFactory = DecoderBlock


class Transformer(hk.Module):
    """The encoder-decoder transformer: shared token embedding, encoder,
    decoder (causal self-attention, cross-attention) and an output projection.

    ``blocks`` swaps in other encoder / decoder blocks (see :class:`Blocks`);
    with the default the package's blocks are used.
    """

    def __init__(
        self, config: TransformerConfig, blocks: Blocks | None = None, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        check_config(config)
        self.config = config
        c = config
        b = blocks or Blocks()
        self.embedder = Embedder(c, name="embedder")
        self.encoder = TransformerEncoder(
            c.num_heads,
            c.num_layers,
            c.d_model,
            c.widening_factor,
            pre_ln=c.pre_ln,
            block=b.encoder_block,
            name="encoder",
        )
        self.decoder = TransformerDecoder(
            c.num_heads,
            c.num_layers,
            c.d_model,
            c.widening_factor,
            pre_ln=c.pre_ln,
            block=b.decoder_block,
            name="decoder",
        )
        self.output = hk.Linear(c.vocab_size, name="output")

    def encode(
        self, src: jax.Array, src_lengths: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """``src`` ``[B, S]`` -> (memory ``[B, S, d]``, weights ``[B, L, H, S, S]``)."""
        x = self.embedder(src)
        return self.encoder(x, _lengths_mask(src_lengths, src.shape[1]))

    def decode(
        self,
        tgt: jax.Array,
        memory: jax.Array,
        src_lengths: jax.Array | None = None,
        tgt_lengths: jax.Array | None = None,
    ) -> DecoderOutput:
        """``tgt`` ``[B, T]`` (shifted right, starting with BOS) and the encoder
        output -> logits ``[B, T, V]`` and the decoder's attention weights."""
        x = self.embedder(tgt)
        mask = causal_mask(tgt.shape[1])
        if tgt_lengths is not None:
            mask = mask & key_padding_mask(tgt_lengths, tgt.shape[1])
        out = self.decoder(x, mask, memory, _lengths_mask(src_lengths, memory.shape[1]))
        return out._replace(output=self.output(out.output))

    def __call__(
        self,
        src: jax.Array,
        tgt: jax.Array,
        src_lengths: jax.Array | None = None,
        tgt_lengths: jax.Array | None = None,
    ) -> TransformerOutput:
        """Teacher-forced forward pass: logits ``[B, T, V]`` for ``tgt`` ``[B, T]``."""
        memory, enc_w = self.encode(src, src_lengths)
        out = self.decode(tgt, memory, src_lengths, tgt_lengths)
        assert out.cross_weights is not None
        return TransformerOutput(out.output, enc_w, out.self_weights, out.cross_weights)


def init_cache(
    config: TransformerConfig, batch_size: int, dtype: jnp.dtype = jnp.float32
) -> list[KVCache]:
    """An empty KV cache for a :class:`DecoderLM`: per layer ``[B, H, max_len, d/H]`` zeros."""
    shape = (batch_size, config.num_heads, config.max_len, config.d_model // config.num_heads)
    return [
        KVCache(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype)) for _ in range(config.num_layers)
    ]


class DecoderLM(hk.Module):
    """A decoder-only (GPT-style) language model: embedding, causal blocks, logits."""

    def __init__(self, config: TransformerConfig, name: str | None = None) -> None:
        super().__init__(name=name)
        check_config(config)
        self.config = config
        c = config
        self.embedder = Embedder(c, name="embedder")
        self.decoder = TransformerDecoder(
            c.num_heads,
            c.num_layers,
            c.d_model,
            c.widening_factor,
            pre_ln=c.pre_ln,
            cross_attention=False,
            name="decoder",
        )
        self.output = hk.Linear(c.vocab_size, name="output")

    def __call__(
        self,
        tokens: jax.Array,
        lengths: jax.Array | None = None,
        *,
        cache: list[KVCache] | None = None,
        cache_index: jax.Array | int = 0,
    ) -> DecoderOutput:
        """Next-token logits ``[B, T, V]`` for ``tokens`` ``[B, T]``.

        Without a cache the whole sequence is processed with a causal mask
        (and a key padding mask from ``lengths``). With a cache (see
        :func:`init_cache`), ``tokens`` are the next ``T`` tokens starting at
        position ``cache_index``; their keys and values are written into the
        cache and they attend to everything written so far.
        """
        t = tokens.shape[1]
        x = self.embedder(tokens, cache_index if cache is not None else 0)
        if cache is None:
            mask = causal_mask(t)
            if lengths is not None:
                mask = mask & key_padding_mask(lengths, t)
        else:
            mask = causal_mask(t, offset=cache_index, key_length=self.config.max_len)
        out = self.decoder(x, mask, cache=cache, cache_index=cache_index)
        return out._replace(output=self.output(out.output))


def parameter_count(params: hk.Params) -> int:
    """Total number of parameters."""
    return int(sum(np.prod(np.shape(p)) for p in jax.tree_util.tree_leaves(params)))
