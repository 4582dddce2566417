"""The practical's exercises: reference answers and their checkers.

Each ``check_<name>`` is a :class:`khipu.core.Checker`; in the notebook a check
cell reads ``f = check_f(f)``: it prints one line (``✓``, ``✗`` with the input
that failed, or ``not attempted yet``) and returns the student's function if
it passed, else the reference, so the later cells always run.

Every checker runs the student's function against the reference on the
practical's own example and on seeded random and edge-case inputs (padding,
causal and combined masks, odd widths, a single position, separators at the
ends of a text).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from khipu.core import Case, function_check
from khipu.transformer.attention import (
    causal_mask as _causal_mask,
    dot_product_attention as _dot_product_attention,
    scaled_dot_product_attention as _scaled_dot_product_attention,
)
from khipu.transformer.data import invert_words as _invert_words
from khipu.transformer.models import (
    sinusoidal_encoding as _sinusoidal_encoding,
    split_heads as _split_heads,
)
from khipu.transformer.train import sequence_loss as _sequence_loss

__all__ = [
    "causal_mask",
    "check_causal_mask",
    "check_dot_product_attention",
    "check_invert_words",
    "check_scaled_dot_product_attention",
    "check_sequence_loss",
    "check_sinusoidal_encoding",
    "check_split_heads",
    "dot_product_attention",
    "invert_words",
    "scaled_dot_product_attention",
    "sequence_loss",
    "sinusoidal_encoding",
    "split_heads",
]


def dot_product_attention(
    hidden_states: jax.Array, previous_state: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Reference: seq2seq attention ``(weights [B, S, T], context [B, S, d])``."""
    return _dot_product_attention(hidden_states, previous_state)


def scaled_dot_product_attention(
    query: jax.Array, key: jax.Array, value: jax.Array, mask: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    """Reference: ``(outputs [..., T_q, d_v], weights [..., T_q, T_k])``."""
    return _scaled_dot_product_attention(query, key, value, mask)


def causal_mask(length: int) -> jax.Array:
    """Reference: boolean ``[T, T]``, ``True`` where key ``j <= `` query ``i``."""
    return _causal_mask(length)


def sinusoidal_encoding(length: int, d_model: int) -> jax.Array:
    """Reference: the ``[length, d_model]`` sinusoidal positional encodings."""
    return _sinusoidal_encoding(length, d_model)


def split_heads(x: jax.Array, num_heads: int) -> jax.Array:
    """Reference: ``[B, T, H * k] -> [B, H, T, k]``."""
    return _split_heads(x, num_heads)


def sequence_loss(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
    """Reference: mean cross-entropy over the positions where ``mask`` is ``True``."""
    return _sequence_loss(logits, targets, mask)


def invert_words(text: str) -> str:
    """Reference: the inversion task's target for ``text``."""
    return _invert_words(text)


def _normal(seed: int, *shape: int) -> jax.Array:
    return jax.random.normal(jax.random.key(seed), shape)


def _dot_cases() -> list[Case]:
    practical = jnp.array([[[1.0, 2.0], [3.0, 0.5]]])  # two hidden states of size 2
    query = jnp.array([[[2.0, 1.0], [0.5, 4.0]]])
    return [
        Case("the practical's two states", (practical, query)),
        Case("random batch", (_normal(0, 3, 5, 4), _normal(1, 3, 2, 4))),
        Case("one hidden state", (_normal(2, 2, 1, 3), _normal(3, 2, 4, 3))),
    ]


def _sdpa_cases() -> list[Case]:
    q, k, v = _normal(4, 2, 5, 8), _normal(5, 2, 6, 8), _normal(6, 2, 6, 3)
    padding = jnp.arange(6)[None, None, :] < jnp.array([6, 3])[:, None, None]
    causal = _causal_mask(6)
    qs = _normal(7, 2, 6, 8)
    return [
        Case("no mask", (q, k, v)),
        Case("padding mask", (q, k, v, jnp.broadcast_to(padding, (2, 5, 6)))),
        Case("causal mask", (qs, k, v, causal)),
        Case("causal and padding", (qs, k, v, causal[None] & padding)),
        Case(
            "heads axis",
            (_normal(8, 2, 3, 4, 16), _normal(9, 2, 3, 4, 16), _normal(10, 2, 3, 4, 2)),
        ),
    ]


check_dot_product_attention = function_check(
    "dot_product_attention",
    reference=dot_product_attention,
    cases=_dot_cases,
    hint="scores = previous_state · hidden_states (per batch), softmax over the hidden "
    "states, context = weights · hidden_states; return (weights, context)",
)

check_scaled_dot_product_attention = function_check(
    "scaled_dot_product_attention",
    reference=scaled_dot_product_attention,
    cases=_sdpa_cases,
    hint="scores = Q Kᵀ / √d (d = the last axis of Q); where mask is False put a very "
    "negative number; softmax over the keys (the last axis); return (weights @ V, weights)",
)

check_causal_mask = function_check(
    "causal_mask",
    reference=causal_mask,
    cases=[Case(f"length {n}", (n,)) for n in (1, 2, 5, 8)],
    hint="position i may see itself and the positions before it: jnp.tril of ones, as bool",
)

check_sinusoidal_encoding = function_check(
    "sinusoidal_encoding",
    reference=sinusoidal_encoding,
    cases=[
        Case("4 positions, width 6", (4, 6)),
        Case("the plot's size", (50, 32)),
        Case("one position", (1, 8)),
    ],
    hint="PE[p, 2i] = sin(p / 10000^(2i/d)) and PE[p, 2i+1] = cos(p / 10000^(2i/d))",
    atol=1e-4,
)

check_split_heads = function_check(
    "split_heads",
    reference=split_heads,
    cases=[
        Case("2 heads", (jnp.arange(2 * 3 * 4.0).reshape(2, 3, 4), 2)),
        Case("4 heads", (_normal(11, 2, 5, 16), 4)),
        Case("1 head", (_normal(12, 1, 3, 6), 1)),
    ],
    hint="reshape to [B, T, H, k], then move the heads axis before time: [B, H, T, k]",
)


def _loss_cases() -> list[Case]:
    logits = _normal(13, 3, 5, 7)
    targets = jax.random.randint(jax.random.key(14), (3, 5), 0, 7)
    mask = jnp.arange(5)[None, :] < jnp.array([5, 2, 4])[:, None]
    return [
        Case("padded batch", (logits, targets, mask)),
        Case("no padding", (logits, targets, jnp.ones((3, 5), bool))),
        Case("one valid token", (logits, targets, jnp.zeros((3, 5), bool).at[1, 0].set(True))),
    ]


check_sequence_loss = function_check(
    "sequence_loss",
    reference=sequence_loss,
    cases=_loss_cases,
    hint="per-position cross-entropy -log softmax(logits)[target]; average over the "
    "positions where mask is True only (divide by the number of valid positions)",
)

check_invert_words = function_check(
    "invert_words",
    reference=invert_words,
    cases=[
        Case("the practical's sentence", ("Look at me, I am reversed.",)),
        Case("separators at both ends", (" the cat.",)),
        Case("tabs and newlines", ("one\ttwo\nthree four",)),
        Case("a crop cut mid-word", ("ld cat sees a b",)),
        Case("double spaces", ("a  b..c",)),
    ],
    hint="split into words and single separator characters (space, tab, newline, '.'), "
    "reverse that list and join it",
)
