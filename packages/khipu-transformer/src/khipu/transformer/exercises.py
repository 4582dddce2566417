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

import functools
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from khipu.core import Case, Checker, choice_check, function_check
from khipu.core.exercises import describe, mismatch
from khipu.transformer import models as _models
from khipu.transformer.attention import (
    causal_mask as _causal_mask,
    dot_product_attention as _dot_product_attention,
    key_padding_mask as _key_padding_mask,
    scaled_dot_product_attention as _scaled_dot_product_attention,
)
from khipu.transformer.data import invert_words as _invert_words
from khipu.transformer.models import (
    sinusoidal_encoding as _sinusoidal_encoding,
    split_heads as _split_heads,
)
from khipu.transformer.tokenizers import pad_batch as _pad_batch
from khipu.transformer.train import sequence_loss as _sequence_loss
from khipu.transformer.vit import image_to_patches as _image_to_patches

__all__ = [
    "AddNorm",
    "DecoderBlock",
    "EncoderBlock",
    "FeedForwardBlock",
    "LearnedPositions",
    "MultiHeadAttention",
    "Seq2Seq",
    "SequenceToQKV",
    "causal_mask",
    "check_add_norm",
    "check_causal_mask",
    "check_decode",
    "check_decoder_block",
    "check_dot_product_attention",
    "check_encode",
    "check_encoder_block",
    "check_feed_forward",
    "check_frequency_term",
    "check_image_to_patches",
    "check_invert_words",
    "check_learned_positions",
    "check_multi_head_attention",
    "check_pad_and_mask",
    "check_scaled_dot_product_attention",
    "check_seq2seq",
    "check_sequence_loss",
    "check_sequence_to_qkv",
    "check_shift_right",
    "check_sinusoidal_encoding",
    "check_split_heads",
    "decode",
    "dot_product_attention",
    "encode",
    "frequency_term",
    "image_to_patches",
    "invert_words",
    "pad_and_mask",
    "quiz_cls",
    "quiz_cross_mask",
    "quiz_families",
    "quiz_heads",
    "quiz_kv_cache",
    "quiz_positions",
    "quiz_post_ln",
    "quiz_query",
    "quiz_scaling",
    "quiz_teacher_forcing",
    "scaled_dot_product_attention",
    "sequence_loss",
    "shift_right",
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


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


# --- Haiku modules: helpers shared by the module checkers ---------------------------------


MODULE_CHECK_SECONDS = 120.0
"""CPU seconds a module check may take: it builds, initialises and runs Haiku modules
(several compilations), far above khipu-core's 10 s default on a loaded 2-core machine;
still a bound for an endless loop in the student's module."""


def _pure(fn: Any) -> Any:
    """``hk.without_apply_rng(hk.transform(fn))`` (typed loosely: the checkers' models)."""
    return hk.without_apply_rng(hk.transform(fn))


def _is_module_class(student: Any) -> bool:
    return isinstance(student, type) and issubclass(student, hk.Module)


def _not_a_module(student: Any) -> str:
    return f"expected a subclass of hk.Module, got {describe(student)}"


def _randomise(params: hk.Params, seed: int) -> hk.Params:
    """The same tree with seeded normal values (so biases and LayerNorm offsets matter)."""
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.key(seed), max(len(leaves), 1))
    new = [0.5 * jax.random.normal(k, jnp.shape(x)) for k, x in zip(keys, leaves, strict=True)]
    out: hk.Params = jax.tree_util.tree_unflatten(tree, new)
    return out


def _run_randomised(both: Any, args: tuple[Any, ...], seed: int, where: str) -> Any:
    """Initialises ``both`` (a function running the student's module and the reference
    beside it, returning ``(got, expected)`` or why it failed), re-draws its parameters
    with :func:`_randomise` and runs it on ``args``: ``(got, expected)`` or the failure
    (``where`` prefixes a raised error, e.g. ``"on a padded batch "``)."""
    model = _pure(both)
    try:
        params = model.init(jax.random.key(0), *args)
    except NotImplementedError:
        raise
    except Exception as exc:
        return f"{where}it raised {type(exc).__name__}: {_short(str(exc))}"
    if isinstance(params, str):
        return params
    return model.apply(_randomise(params, seed), *args)


def _affine(x: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
    """``x @ w + b`` with the bias broadcast explicitly."""
    out: jax.Array = x @ w
    return out + b.reshape((1,) * (out.ndim - 1) + b.shape)


def _linears(params: hk.Params) -> list[tuple[str, jax.Array, jax.Array]]:
    """``(module name, w, b)`` of every linear layer, in creation order."""
    out = []
    for name, layer in params.items():
        if set(layer) != {"w", "b"}:
            continue
        out.append((name, layer["w"], layer["b"]))
    return out


def _by_role(
    linears: list[tuple[str, jax.Array, jax.Array]], roles: tuple[str, ...]
) -> dict[str, str] | None:
    """Module name of each role: the linears named after ``roles`` (``.../query``),
    else the linears in creation order (``linears`` from the freshly initialised params)."""
    if len(linears) != len(roles):
        return None
    named = {n.rsplit("/", 1)[-1]: n for n, _, _ in linears}
    if all(role in named for role in roles):
        return {role: named[role] for role in roles}
    return {role: n for role, (n, _, _) in zip(roles, linears, strict=True)}


def _param_shapes(params: hk.Params) -> str:
    return ", ".join(
        f"{n.rsplit('/', 1)[-1]}.{k} {tuple(np.shape(v))}"
        for n, m in params.items()
        for k, v in m.items()
    )


# --- 8. queries, keys and values -----------------------------------------------------------


class SequenceToQKV(hk.Module):
    """Reference: three linear maps ``[B, T, d] -> 3 × [B, T, output_size]`` (query, key, value)."""

    def __init__(self, output_size: int, name: str | None = None) -> None:
        super().__init__(name=name)
        self.output_size = output_size

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        init = hk.initializers.VarianceScaling(0.5)
        q = hk.Linear(self.output_size, w_init=init, name="query")(x)
        k = hk.Linear(self.output_size, w_init=init, name="key")(x)
        v = hk.Linear(self.output_size, w_init=init, name="value")(x)
        return q, k, v


def _judge_sequence_to_qkv(student: Any) -> str | None:
    if not _is_module_class(student):
        return _not_a_module(student)
    cls: Any = student
    for b, t, d, size in ((2, 5, 6, 4), (1, 3, 8, 8)):
        model = _pure((lambda x, s=size: cls(s)(x)))
        x = _normal(20 + d, b, t, d)
        fresh = model.init(jax.random.key(0), x)
        names = _by_role(_linears(fresh), ("query", "key", "value"))
        params = _randomise(fresh, seed=d)
        roles = {r: (params[n]["w"], params[n]["b"]) for r, n in (names or {}).items()}
        label = f"x [{b}, {t}, {d}], output_size={size}"
        if names is None or any(
            np.shape(w) != (d, size) or np.shape(bias) != (size,) for w, bias in roles.values()
        ):
            return (
                f"for {label} expected three linear layers with w {(d, size)} and b {(size,)}, "
                f"got {_param_shapes(params)}"
            )
        got = model.apply(params, x)
        expected = tuple(_affine(x, w, bias) for w, bias in roles.values())
        if (
            why := mismatch(
                expected,
                tuple(got) if isinstance(got, (tuple, list)) else got,
                rtol=1e-4,
                atol=1e-5,
            )
        ) is not None:
            return f"for {label}: {why}"
    return None


check_sequence_to_qkv = Checker(
    "SequenceToQKV",
    _judge_sequence_to_qkv,
    SequenceToQKV,
    hint="three separate hk.Linear(self.output_size) layers named 'query', 'key' and "
    "'value', each applied to x; return (q, k, v) in that order",
    time_limit=MODULE_CHECK_SECONDS,
)


# --- 9. multi-head attention ---------------------------------------------------------------


class MultiHeadAttention(hk.Module):
    """Reference: multi-head attention returning ``(output [B, T_q, d], weights [B, H, T_q, T_k])``.

    The parameters are those of ``hk.MultiHeadAttention``: linear layers
    ``query``, ``key``, ``value`` to ``d_model`` and the output ``linear``.
    """

    def __init__(self, num_heads: int, d_model: int, name: str | None = None) -> None:
        super().__init__(name=name)
        init = hk.initializers.VarianceScaling(0.5)
        self.num_heads = num_heads
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
    ) -> tuple[jax.Array, jax.Array]:
        key = query if key is None else key
        value = key if value is None else value
        q = _split_heads(self.query(query), self.num_heads)
        k = _split_heads(self.key(key), self.num_heads)
        v = _split_heads(self.value(value), self.num_heads)
        out, weights = _scaled_dot_product_attention(q, k, v, mask)
        output: jax.Array = self.linear(_models.merge_heads(out))
        return output, weights


_MHA_ROLES = ("query", "key", "value", "linear")


def _mha_cases() -> list[tuple[str, jax.Array, jax.Array | None, jax.Array | None, int]]:
    x = _normal(30, 2, 5, 8)
    memory = _normal(31, 2, 7, 8)
    padding = (jnp.arange(7)[None, :] < jnp.array([7, 4])[:, None])[:, None, None, :]
    causal = _causal_mask(5)[None, None]
    return [
        ("self-attention, 2 heads", x, None, None, 2),
        ("self-attention with a causal mask, 4 heads", x, None, causal, 4),
        ("cross-attention to a 7-step memory, 2 heads", x, memory, None, 2),
        ("cross-attention with a padding mask, 4 heads", x, memory, padding, 4),
        ("self-attention, 1 head", x, None, None, 1),
    ]


def _judge_multi_head_attention(student: Any) -> str | None:
    if not _is_module_class(student):
        return _not_a_module(student)
    cls: Any = student
    d = 8
    for label, x, memory, mask, heads in _mha_cases():
        kv = x if memory is None else memory

        def run(
            q: jax.Array, kv: jax.Array, m: jax.Array | None, h: int = heads, cross: bool = False
        ) -> Any:
            # self-attention passes the sequence once; cross-attention passes keys/values
            return cls(h, d)(q, kv, kv, m) if cross else cls(h, d)(q, mask=m)

        model = _pure(functools.partial(run, h=heads, cross=memory is not None))
        fresh = model.init(jax.random.key(0), x, kv, mask)
        names = _by_role(_linears(fresh), _MHA_ROLES)
        params = _randomise(fresh, seed=heads)
        roles = {r: (params[n]["w"], params[n]["b"]) for r, n in (names or {}).items()}
        if names is None or any(
            np.shape(w) != (d, d) or np.shape(b) != (d,) for w, b in roles.values()
        ):
            return (
                f"on {label} expected four linear layers query, key, value and linear "
                f"with w {(d, d)}, got {_param_shapes(params)}"
            )
        got = model.apply(params, x, kv, mask)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"on {label} expected (output, weights), got {describe(got)}"
        haiku = _pure(
            lambda q, kv, m, h=heads: hk.MultiHeadAttention(
                h, d // h, model_size=d, w_init=hk.initializers.VarianceScaling(1.0)
            )(q, kv, kv, m)
        )
        ref = _pure(lambda q, kv, m, h=heads: _models.MultiHeadAttention(h, d)(q, kv, kv, m))
        theirs = {f"multi_head_attention/{r}": {"w": w, "b": b} for r, (w, b) in roles.items()}
        ours = {f"multi_head_attention/~/{r}": {"w": w, "b": b} for r, (w, b) in roles.items()}
        expected_out = haiku.apply(theirs, x, kv, mask)
        expected_w = ref.apply(ours, x, kv, mask).weights
        if (why := mismatch(expected_out, got[0], rtol=1e-4, atol=1e-5)) is not None:
            return f"on {label}, output compared with hk.MultiHeadAttention: {why}"
        if (why := mismatch(expected_w, got[1], rtol=1e-4, atol=1e-5)) is not None:
            return f"on {label}, attention weights [B, H, T_q, T_k]: {why}"
    return None


check_multi_head_attention = Checker(
    "MultiHeadAttention",
    _judge_multi_head_attention,
    MultiHeadAttention,
    hint="project query/key/value with hk.Linear(d_model) named 'query', 'key', 'value' "
    "(keys and values from `key`, `value` when given), split_heads each, "
    "scaled_dot_product_attention(q, k, v, mask), merge the heads back to [B, T, d_model] "
    "(transpose, then reshape), apply hk.Linear(d_model, name='linear'); return (output, weights)",
    time_limit=MODULE_CHECK_SECONDS,
)


# --- 10. positional encodings: the exp/log form and learned positions ----------------------


def frequency_term(d_model: int) -> jax.Array:
    """Reference: ``ω_i = 1 / 10000^(2i/d) = exp(-(2i/d)·ln 10000)`` for ``i = 0 .. ⌈d/2⌉ - 1``."""
    two_i = jnp.arange(0, d_model, 2, dtype=jnp.float32)
    return jnp.exp(-two_i / d_model * jnp.log(10000.0))


check_frequency_term = function_check(
    "frequency_term",
    reference=frequency_term,
    cases=[
        Case("width 6", (6,)),
        Case("width 128", (128,)),
        Case("odd width 7", (7,)),
        Case("width 2", (2,)),
    ],
    hint="1 / 10000^(2i/d) = exp(log(1) - (2i/d)·log(10000)): jnp.exp(-jnp.arange(0, d, 2) / d "
    "* jnp.log(10000.0)); one value per sin/cos pair",
    rtol=1e-4,
)


class LearnedPositions(hk.Module):
    """Reference: a trainable ``[max_len, d_model]`` table (``hk.Embed``) looked up by position."""

    def __init__(self, max_len: int, d_model: int, name: str | None = None) -> None:
        super().__init__(name=name)
        self.embed = hk.Embed(
            max_len, d_model, w_init=hk.initializers.TruncatedNormal(0.02), name="positions"
        )

    def __call__(self, positions: jax.Array) -> jax.Array:
        """``positions`` ``[T]`` integers -> ``[T, d_model]``."""
        out: jax.Array = self.embed(positions)
        return out


def _judge_learned_positions(student: Any) -> str | None:
    if not _is_module_class(student):
        return _not_a_module(student)
    cls: Any = student
    max_len, d = 12, 6
    model = _pure(lambda p: cls(max_len, d)(p))
    params = _randomise(model.init(jax.random.key(0), jnp.arange(4)), seed=7)
    tables = [v for m in params.values() for v in m.values()]
    if len(tables) != 1 or np.shape(tables[0]) != (max_len, d):
        return f"expected one table of shape {(max_len, d)}, got {_param_shapes(params)}"
    table = tables[0]
    for label, positions in (
        ("positions 0..4", jnp.arange(5)),
        ("positions 4..6 (a KV-cache step)", jnp.arange(3) + 4),
        ("positions in reverse", jnp.arange(6)[::-1]),
        ("one position", jnp.array([11])),
    ):
        got = model.apply(params, positions)
        if (why := mismatch(table[positions], got)) is not None:
            return f"on {label}: {why}"
    return None


check_learned_positions = Checker(
    "LearnedPositions",
    _judge_learned_positions,
    LearnedPositions,
    hint="self.embed = hk.Embed(max_len, d_model) in __init__; __call__ returns "
    "self.embed(positions): row p of the table for each position p",
    time_limit=MODULE_CHECK_SECONDS,
)


# --- 11. feed-forward block and Add & Norm -------------------------------------------------


class FeedForwardBlock(_models.FeedForwardBlock):
    """Reference: ``Linear(w·d) → GELU → Linear(d)`` on ``[..., d]``."""


def _judge_feed_forward(student: Any) -> str | None:
    if not _is_module_class(student):
        return _not_a_module(student)
    cls: Any = student
    for label, x, wf in (
        ("x [2, 5, 6], widening 4", _normal(40, 2, 5, 6), 4),
        ("x [3, 4], widening 2", _normal(41, 3, 4), 2),
    ):
        d = x.shape[-1]
        model = _pure((lambda x, wf=wf: cls(wf)(x)))
        params = _randomise(model.init(jax.random.key(0), x), seed=wf)
        shapes = {tuple(np.shape(w)): (w, b) for _, w, b in _linears(params)}
        if len(_linears(params)) != 2 or set(shapes) != {(d, wf * d), (wf * d, d)}:
            return (
                f"on {label} expected two linear layers, w {(d, wf * d)} then {(wf * d, d)}, "
                f"got {_param_shapes(params)}"
            )
        (w1, b1), (w2, b2) = shapes[(d, wf * d)], shapes[(wf * d, d)]
        got = model.apply(params, x)
        approx = _affine(jax.nn.gelu(_affine(x, w1, b1)), w2, b2)
        exact = _affine(jax.nn.gelu(_affine(x, w1, b1), approximate=False), w2, b2)
        why = mismatch(approx, got, rtol=1e-4, atol=1e-4)
        if why is not None and mismatch(exact, got, rtol=1e-4, atol=1e-4) is not None:
            return f"on {label}: {why}"
    return None


check_feed_forward = Checker(
    "FeedForwardBlock",
    _judge_feed_forward,
    FeedForwardBlock,
    hint="d = x.shape[-1]; h = hk.Linear(self.widening_factor * d)(x); "
    "return hk.Linear(d)(jax.nn.gelu(h))",
    time_limit=MODULE_CHECK_SECONDS,
)


class AddNorm(_models.AddNorm):
    """Reference: ``LayerNorm(x + sublayer_output)`` over the features (post-LN)."""


def _layer_norm(x: jax.Array, scale: jax.Array, offset: jax.Array) -> jax.Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    shape = (1,) * (x.ndim - 1) + scale.shape
    return (x - mean) / jnp.sqrt(var + 1e-5) * scale.reshape(shape) + offset.reshape(shape)


def _judge_add_norm(student: Any) -> str | None:
    if not _is_module_class(student):
        return _not_a_module(student)
    cls: Any = student
    for label, x, y in (
        ("x, sublayer output [2, 5, 8]", _normal(42, 2, 5, 8), _normal(43, 2, 5, 8)),
        ("x, sublayer output [3, 4]", 3.0 + _normal(44, 3, 4), _normal(45, 3, 4)),
    ):
        model = _pure((lambda x, y: cls()(x, y)))
        params = _randomise(model.init(jax.random.key(0), x, y), seed=3)
        leaves = {k: v for m in params.values() for k, v in m.items()}
        d = x.shape[-1]
        if set(leaves) != {"scale", "offset"} or any(np.shape(v) != (d,) for v in leaves.values()):
            return (
                f"on {label} expected one LayerNorm over the features with scale and offset "
                f"of shape {(d,)}, got {_param_shapes(params)}"
            )
        got = model.apply(params, x, y)
        expected = _layer_norm(x + y, leaves["scale"], leaves["offset"])
        if (why := mismatch(expected, got, rtol=1e-4, atol=1e-4)) is not None:
            return f"on {label}: {why}"
    return None


check_add_norm = Checker(
    "AddNorm",
    _judge_add_norm,
    AddNorm,
    hint="return hk.LayerNorm(axis=-1, create_scale=True, create_offset=True)(x + sublayer_output)"
    " — add first, then normalise (post-LN)",
    time_limit=MODULE_CHECK_SECONDS,
)


# --- 12. encoder and decoder blocks --------------------------------------------------------


class EncoderBlock(hk.Module):
    """Reference encoder block (post-LN): ``(x [B, T, d], mask) -> (x, weights [B, H, T, T])``.

    Computes what the package's :class:`~khipu.transformer.models.EncoderBlock`
    computes, from the exercises' submodules.
    """

    def __init__(
        self, num_heads: int, d_model: int, widening_factor: int = 4, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.attention = MultiHeadAttention(num_heads, d_model, name="attention")
        self.add_norm_1 = AddNorm(name="add_norm_1")
        self.ffn = FeedForwardBlock(widening_factor, name="ffn")
        self.add_norm_2 = AddNorm(name="add_norm_2")

    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        a, weights = self.attention(x, x, x, mask)
        h = self.add_norm_1(x, a)
        return self.add_norm_2(h, self.ffn(h)), weights


class DecoderBlock(hk.Module):
    """Reference decoder block: ``(x, self_mask, memory, memory_mask) ->
    (x [B, T, d], self_weights [B, H, T, T], cross_weights [B, H, T, S])``."""

    def __init__(
        self, num_heads: int, d_model: int, widening_factor: int = 4, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.self_attention = MultiHeadAttention(num_heads, d_model, name="self_attention")
        self.add_norm_1 = AddNorm(name="add_norm_1")
        self.cross_attention = MultiHeadAttention(num_heads, d_model, name="cross_attention")
        self.add_norm_2 = AddNorm(name="add_norm_2")
        self.ffn = FeedForwardBlock(widening_factor, name="ffn")
        self.add_norm_3 = AddNorm(name="add_norm_3")

    def __call__(
        self,
        x: jax.Array,
        self_mask: jax.Array | None,
        memory: jax.Array,
        memory_mask: jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        a, self_weights = self.self_attention(x, x, x, self_mask)
        h = self.add_norm_1(x, a)
        c, cross_weights = self.cross_attention(h, memory, memory, memory_mask)
        h = self.add_norm_2(h, c)
        return self.add_norm_3(h, self.ffn(h)), self_weights, cross_weights


def _submodules(block: Any, names: tuple[str, ...]) -> str | None:
    missing = [n for n in names if not hasattr(block, n)]
    if missing:
        return (
            "keep the submodules the stub's __init__ creates (missing: " + ", ".join(missing) + ")"
        )
    return None


_ENCODER_PARTS = ("attention", "add_norm_1", "ffn", "add_norm_2")


def _encoder_reference(block: Any, x: jax.Array, mask: jax.Array | None) -> tuple[Any, Any]:
    a, weights = block.attention(x, x, x, mask)
    h = block.add_norm_1(x, a)
    return block.add_norm_2(h, block.ffn(h)), weights


def _judge_encoder_block(student: Any) -> str | None:
    if not _is_module_class(student):
        return _not_a_module(student)
    cls: Any = student
    x = _normal(50, 2, 6, 8)
    padding = (jnp.arange(6)[None, :] < jnp.array([6, 3])[:, None])[:, None, None, :]
    for label, mask in (("no mask", None), ("a padding mask [B, 1, 1, T]", padding)):

        def both(x: jax.Array, m: jax.Array | None) -> Any:
            block = cls(2, 8, 2)
            got = block(x, m)
            if (why := _submodules(block, _ENCODER_PARTS)) is not None:
                return why
            return got, _encoder_reference(block, x, m)

        out = _run_randomised(both, (x, mask), 5, f"on {label} ")
        if isinstance(out, str):
            return out
        got, expected = out
        if (why := mismatch(expected, tuple(got), rtol=1e-4, atol=1e-4)) is not None:
            return f"on {label}, (output, weights): {why}"
    return None


check_encoder_block = Checker(
    "EncoderBlock",
    _judge_encoder_block,
    EncoderBlock,
    hint="a, weights = self.attention(x, x, x, mask) (pass the mask as the mask!); "
    "h = self.add_norm_1(x, a); return self.add_norm_2(h, self.ffn(h)), weights",
    time_limit=MODULE_CHECK_SECONDS,
)

_DECODER_PARTS = (
    "self_attention",
    "add_norm_1",
    "cross_attention",
    "add_norm_2",
    "ffn",
    "add_norm_3",
)


def _decoder_reference(
    block: Any, x: jax.Array, self_mask: jax.Array, memory: jax.Array, memory_mask: jax.Array | None
) -> tuple[Any, Any, Any]:
    a, self_w = block.self_attention(x, x, x, self_mask)
    h = block.add_norm_1(x, a)
    c, cross_w = block.cross_attention(h, memory, memory, memory_mask)
    h = block.add_norm_2(h, c)
    return block.add_norm_3(h, block.ffn(h)), self_w, cross_w


def _judge_decoder_block(student: Any) -> str | None:
    if not _is_module_class(student):
        return _not_a_module(student)
    cls: Any = student
    x = _normal(51, 2, 5, 8)
    causal = _causal_mask(5)[None, None]
    for label, memory, lengths in (
        ("memory as long as the target, no padding", _normal(52, 2, 5, 8), (5, 5)),
        ("a 7-step memory with padding", _normal(53, 2, 7, 8), (7, 4)),
        ("a 5-step padded memory", _normal(54, 2, 5, 8), (3, 5)),
    ):
        s = memory.shape[1]
        memory_mask = (jnp.arange(s)[None, :] < jnp.array(lengths)[:, None])[:, None, None, :]

        def both(x: jax.Array, mem: jax.Array, mm: jax.Array) -> Any:
            block = cls(2, 8, 2)
            got = block(x, causal, mem, mm)
            if (why := _submodules(block, _DECODER_PARTS)) is not None:
                return why
            return got, _decoder_reference(block, x, causal, mem, mm)

        out = _run_randomised(both, (x, memory, memory_mask), 6, f"on {label} ")
        if isinstance(out, str):
            return out
        got, expected = out
        if not isinstance(got, (tuple, list)) or len(got) < 3:
            return f"on {label} expected (output, self_weights, cross_weights), got {describe(got)}"
        if (why := mismatch(expected, tuple(got[:3]), rtol=1e-4, atol=1e-4)) is not None:
            return f"on {label}, (output, self_weights, cross_weights): {why}"
    return None


check_decoder_block = Checker(
    "DecoderBlock",
    _judge_decoder_block,
    DecoderBlock,
    hint="causal self-attention on x with self_mask, add & norm; cross-attention with "
    "queries from that result and keys/values from memory, masked by memory_mask only "
    "(never causally), add & norm; feed-forward, add & norm; return (x, self_w, cross_w)",
    time_limit=MODULE_CHECK_SECONDS,
)


# --- 13. the full encoder-decoder ----------------------------------------------------------


class Seq2Seq(hk.Module):
    """Reference encoder-decoder built from ``blocks``:
    ``Seq2Seq(config, blocks)(src [B, S], dec_in [B, T], src_len [B]) -> logits [B, T, V]``.

    With the exercises' blocks it computes what the package's
    :class:`~khipu.transformer.models.Transformer` computes (post-LN,
    sinusoidal positions), and creates its parameters in the same order.
    """

    def __init__(
        self, config: _models.TransformerConfig, blocks: _models.Blocks, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        c = config
        self.config = config
        self.embed = hk.Embed(
            c.vocab_size,
            c.d_model,
            w_init=hk.initializers.TruncatedNormal(1.0),
            name="token_embedding",
        )
        self.encoder_blocks = [
            blocks.encoder_block(c.num_heads, c.d_model, c.widening_factor, name=f"encoder_{i}")
            for i in range(c.num_layers)
        ]
        self.decoder_blocks = [
            blocks.decoder_block(c.num_heads, c.d_model, c.widening_factor, name=f"decoder_{i}")
            for i in range(c.num_layers)
        ]
        self.output = hk.Linear(c.vocab_size, name="output")

    def __call__(self, src: jax.Array, dec_in: jax.Array, src_len: jax.Array) -> jax.Array:
        s, t, d = src.shape[1], dec_in.shape[1], self.config.d_model
        memory_mask = _key_padding_mask(src_len, s)
        x = self.embed(src) + _sinusoidal_encoding(s, d)[None]
        for block in self.encoder_blocks:
            x = block(x, memory_mask)[0]
        y = self.embed(dec_in) + _sinusoidal_encoding(t, d)[None]
        for block in self.decoder_blocks:
            y = block(y, _causal_mask(t), x, memory_mask)[0]
        logits: jax.Array = self.output(y)
        return logits


def _seq2seq_reference(model: Any, src: jax.Array, dec_in: jax.Array, src_len: jax.Array) -> Any:
    c = model.config
    s, t = src.shape[1], dec_in.shape[1]
    key_mask = _key_padding_mask(src_len, s)
    x = model.embed(src) + _sinusoidal_encoding(s, c.d_model)[None]
    for block in model.encoder_blocks:
        x = block(x, key_mask)[0]
    y = model.embed(dec_in) + _sinusoidal_encoding(t, c.d_model)[None]
    for block in model.decoder_blocks:
        y = block(y, _causal_mask(t), x, key_mask)[0]
    return model.output(y)


_SEQ2SEQ_PARTS = ("config", "embed", "encoder_blocks", "decoder_blocks", "output")


def _judge_seq2seq(student: Any) -> str | None:
    if not callable(student):
        return f"expected a module class, got {describe(student)}"
    cls: Any = student
    config = _models.TransformerConfig(
        vocab_size=11, d_model=8, num_heads=2, num_layers=2, widening_factor=2, max_len=16
    )
    blocks = _models.Blocks(EncoderBlock, DecoderBlock)
    r = np.random.default_rng(0)
    src_len = jnp.array([6, 3, 5])
    src = jnp.asarray(
        r.integers(3, 11, size=(3, 6)) * (np.arange(6)[None] < np.asarray(src_len)[:, None])
    )
    dec_in = jnp.asarray(r.integers(3, 11, size=(3, 7))).at[:, 0].set(_BOS)

    def both(src: jax.Array, dec_in: jax.Array, src_len: jax.Array) -> Any:
        model = cls(config, blocks)
        got = model(src, dec_in, src_len)
        if (why := _submodules(model, _SEQ2SEQ_PARTS)) is not None:
            return why
        return got, _seq2seq_reference(model, src, dec_in, src_len)

    out = _run_randomised(both, (src, dec_in, src_len), 8, "")
    if isinstance(out, str):
        return out
    got, expected = out
    got = got if isinstance(got, jax.Array) else got[0]
    if (why := mismatch(expected, got, rtol=1e-4, atol=1e-4)) is not None:
        return f"on 3 padded sources of lengths 6, 3, 5 and 7 decoder inputs, logits: {why}"
    return None


check_seq2seq = Checker(
    "Seq2Seq",
    _judge_seq2seq,
    Seq2Seq,
    hint="embed(src) + sinusoidal_encoding(S, d); the encoder blocks with the key padding "
    "mask [B, 1, 1, S] from src_len; embed(dec_in) + sinusoidal_encoding(T, d); the "
    "decoder blocks with causal_mask(T) and the same padding mask over the memory; "
    "self.output(y) -> logits [B, T, V]",
    time_limit=MODULE_CHECK_SECONDS,
)


# --- 14. tokenisation ----------------------------------------------------------------------

_PAD, _BOS, _EOS, _NUM_SPECIAL = 0, 1, 2, 3


def encode(text: str, alphabet: str) -> np.ndarray:
    """Reference: ``[BOS, ids of the characters..., EOS]``; ``c`` -> ``3 + alphabet.index(c)``."""
    return np.asarray([_BOS, *(_NUM_SPECIAL + alphabet.index(c) for c in text), _EOS], np.int32)


def decode(ids: Any, alphabet: str) -> str:
    """Reference: the text of ``ids``, skipping PAD and BOS, stopping at the first EOS."""
    out = []
    for i in np.asarray(ids).tolist():
        if i == _EOS:
            break
        if i >= _NUM_SPECIAL:
            out.append(alphabet[i - _NUM_SPECIAL])
    return "".join(out)


def pad_and_mask(sequences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Reference: ``(ids [B, T] padded with PAD, mask [B, T] True on real tokens)``.

    ``T`` is the longest sequence's length.
    """
    ids, lengths = _pad_batch(sequences)
    return ids, np.arange(ids.shape[1])[None, :] < lengths[:, None]


_ALPHABET = " .abcdehilnorstw"

check_encode = function_check(
    "encode",
    reference=encode,
    cases=[
        Case("a word", ("cat", _ALPHABET)),
        Case("a sentence", ("the cat sees a bird.", _ALPHABET)),
        Case("the empty text", ("", _ALPHABET)),
        Case("another alphabet", ("ba", "ab")),
    ],
    hint="ids = [BOS] + [3 + alphabet.index(c) for c in text] + [EOS] (PAD=0, BOS=1, EOS=2 "
    "come first, so characters start at 3)",
)

check_decode = function_check(
    "decode",
    reference=decode,
    cases=lambda: [
        Case("encode('the cat.')", (encode("the cat.", _ALPHABET), _ALPHABET)),
        Case(
            "a padded row",
            (np.concatenate([encode("a bird", _ALPHABET), np.zeros(4, np.int32)]), _ALPHABET),
        ),
        Case("generation that goes on after EOS", (np.array([1, 5, 6, 2, 7, 8]), _ALPHABET)),
        Case("no BOS, no EOS", (np.array([3, 4, 5]), _ALPHABET)),
    ],
    hint="skip PAD (0) and BOS (1), stop at the first EOS (2); character = alphabet[id - 3]",
)

check_pad_and_mask = function_check(
    "pad_and_mask",
    reference=pad_and_mask,
    cases=lambda: [
        Case(
            "three encoded texts",
            ([encode(t, _ALPHABET) for t in ("cat", "a bird.", "")],),
        ),
        Case("equal lengths", ([np.array([1, 3, 2]), np.array([1, 4, 2])],)),
        Case("one sequence", ([np.array([1, 5, 6, 7, 2])],)),
    ],
    hint="T = the longest length; ids = PAD everywhere, then copy each sequence to the start "
    "of its row; mask[b, t] = t < len(sequences[b])",
)


# --- 15. image patches ---------------------------------------------------------------------


def image_to_patches(images: jax.Array, patch_size: int) -> jax.Array:
    """Reference: ``[B, H, W, C]`` -> ``[B, (H/p)·(W/p), p·p·C]``, patches row by row."""
    return _image_to_patches(images, patch_size)


check_image_to_patches = function_check(
    "image_to_patches",
    reference=image_to_patches,
    cases=lambda: [
        Case("a 4x4 grey image, 2x2 patches", (jnp.arange(16.0).reshape(1, 4, 4, 1), 2)),
        Case("two 8x8 RGB images, 4x4 patches", (_normal(60, 2, 8, 8, 3), 4)),
        Case("a 6x4 image, 2x2 patches", (_normal(61, 1, 6, 4, 2), 2)),
        Case("patch = the whole image", (_normal(62, 1, 4, 4, 1), 4)),
    ],
    hint="reshape to [B, H/p, p, W/p, p, C], move the axes to [B, H/p, W/p, p, p, C], "
    "then reshape to [B, (H/p)(W/p), p·p·C]",
)


# --- 16. teacher forcing -------------------------------------------------------------------


def shift_right(targets: jax.Array) -> jax.Array:
    """Reference: the decoder's input under teacher forcing: ``[BOS, t_0, ..., t_{T-2}]``."""
    bos = jnp.full_like(targets[:, :1], _BOS)
    return jnp.concatenate([bos, targets[:, :-1]], axis=1)


check_shift_right = function_check(
    "shift_right",
    reference=shift_right,
    cases=lambda: [
        Case("one target ending in EOS", (jnp.array([[5, 6, 7, 2]]),)),
        Case("a padded batch", (jnp.array([[5, 6, 2, 0, 0], [4, 4, 4, 4, 2]]),)),
        Case("length 1", (jnp.array([[2], [2]]),)),
    ],
    hint="drop the last column and put a BOS column in front: the decoder reads token t-1 "
    "to predict token t",
)


# --- quizzes (multiple choice, khipu.core.choice_check) ------------------------------------

quiz_query = choice_check(
    "query",
    "In “The animal didn't cross the street because it was too tired”, the model builds a "
    "new representation of “it”. In self-attention, what plays the role of the query?",
    [
        "the vector of “it”, projected by W_Q",
        "the vector of “animal”, projected by W_Q",
        "the average of all the words' vectors",
        "the values of every word",
    ],
    "a",
    "The word being updated asks the question: its query is compared with every word's key "
    "(“animal” should match best), and the values of the matching words are mixed into "
    "the new representation of “it”.",
)

quiz_scaling = choice_check(
    "scaling",
    "Why are the scores Q·K divided by √d before the softmax?",
    [
        "to make the attention weights sum to one",
        "because a dot product of d random components has a standard deviation of about √d; "
        "unscaled, wide models get near one-hot softmaxes with vanishing gradients",
        "to save memory",
        "so that masked positions get zero weight",
    ],
    "b",
    "The softmax already normalises; the √d keeps the scores' spread independent of the "
    "width, so the softmax stays soft at initialisation and gradients flow.",
)

quiz_heads = choice_check(
    "heads",
    "Multi-head attention with H heads of width d/H, compared with one head of width d:",
    [
        "costs about H times more compute",
        "lets each head attend to a different pattern (the subject, the previous word, the "
        "matching bracket...) at about the same cost",
        "needs H times more parameters",
        "is needed to handle sequences longer than d",
    ],
    "b",
    "The projections are the same d×d matrices cut into H slices, so parameters and FLOPs "
    "are about the same; what changes is that H separate softmaxes can each pick a "
    "different relation instead of one average.",
)

quiz_positions = choice_check(
    "positions",
    "What does self-attention without positional encodings compute for a shuffled input?",
    [
        "the same outputs, shuffled the same way (it is permutation-equivariant)",
        "an error",
        "random outputs",
        "the outputs of the unshuffled input",
    ],
    "a",
    "Attention only compares contents, so order is invisible: “dog bites man” and “man "
    "bites dog” look alike. Adding a position vector to each token makes order visible.",
)

quiz_post_ln = choice_check(
    "post_ln",
    "The original transformer is post-LN: LayerNorm(x + sublayer(x)). Pre-LN, used by GPT-2 "
    "and ViT, computes x + sublayer(LayerNorm(x)). What does pre-LN change?",
    [
        "nothing: the two are the same function",
        "the residual stream x passes through untouched from input to output, which makes deep "
        "stacks train stably without a long learning-rate warm-up",
        "it removes the need for residual connections",
        "it normalises over the batch instead of the features",
    ],
    "b",
    "With pre-LN the identity path is never normalised, so gradients reach early layers "
    "directly; post-LN puts a LayerNorm on that path and needs warm-up in deep models. "
    "Pre-LN models add one final LayerNorm at the top.",
)

quiz_cross_mask = choice_check(
    "cross_mask",
    "In the decoder, why is cross-attention (queries from the decoder, keys and values from "
    "the encoder) not causally masked?",
    [
        "it is an implementation shortcut that leaks the answer",
        "the encoder output is the whole source, which is known before decoding starts; "
        "only the target's future is hidden (by the causal self-attention)",
        "cross-attention has no softmax",
        "because the source and target have the same length",
    ],
    "b",
    "Reading the whole input is allowed: translating or inverting a sentence needs its end. "
    "Masking it causally (as the original notebook did) hides source words for no reason; "
    "padding of the source is still masked.",
)

quiz_families = choice_check(
    "families",
    "Which model family fits each job? (1) classify a sentence's sentiment, (2) continue a "
    "story, (3) translate a sentence.",
    [
        "(1) decoder-only, (2) encoder-only, (3) encoder-only",
        "(1) encoder-only like BERT, (2) decoder-only like GPT, (3) encoder–decoder like T5 or "
        "the original transformer",
        "all three need an encoder–decoder",
        "(1) encoder–decoder, (2) encoder-only, (3) decoder-only",
    ],
    "b",
    "An encoder sees the whole input at once (good features for classification); a causal "
    "decoder predicts the next token (generation); an encoder–decoder reads a source and "
    "writes a different sequence. Large decoder-only models also do (1) and (3) by prompting.",
)

quiz_cls = choice_check(
    "cls",
    "What are BERT's special tokens [CLS] and [SEP] for?",
    [
        "[CLS] marks capital letters, [SEP] marks spaces",
        "[CLS] is an extra first token whose output vector summarises the input for "
        "classification; [SEP] separates two segments (a question and a passage)",
        "both are padding",
        "they mark unknown words",
    ],
    "b",
    "Attention lets [CLS] gather information from every token, and fine-tuning trains it "
    "to carry what the task needs; [SEP] (with segment embeddings) tells the model where "
    "one text ends. The ViT below uses a [CLS] token in the same way.",
)

quiz_kv_cache = choice_check(
    "kv_cache",
    "When a decoder-only model generates token t+1, what does the KV cache save?",
    [
        "the attention weights of earlier steps",
        "recomputing the keys and values of tokens 1..t in every layer: only the new token's "
        "query, key and value are computed, and its query attends to the cached keys",
        "the softmax",
        "nothing, it only saves memory",
    ],
    "b",
    "Causal masking means earlier tokens' keys and values never change, so they can be "
    "kept. Each step then costs O(t) instead of re-running the whole O(t²) sequence; the "
    "price is memory: layers × 2 × t × d numbers per sequence.",
)

quiz_teacher_forcing = choice_check(
    "teacher_forcing",
    "During training the decoder reads the true previous tokens (teacher forcing). At test "
    "time it must read its own predictions. What can go wrong?",
    [
        "nothing, the two are always identical",
        "an early mistake is fed back and the model, never trained on its own errors, may "
        "drift further (exposure bias); teacher-forced accuracy overstates generation quality",
        "the model cannot run without the targets",
        "teacher forcing is slower than autoregressive decoding",
    ],
    "b",
    "That is why the inversion task is scored by decoding autoregressively, never by the "
    "teacher-forced predictions (compare them side by side below).",
)
