"""Each checker passes the reference and rejects plausible wrong answers."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import pytest
from khipu.transformer import exercises as ex


def _sdpa(scale: bool = True, axis: int = -1, use_mask: bool = True):
    def f(query, key, value, mask=None):
        scores = jnp.einsum("...qd,...kd->...qk", query, key)
        if scale:
            scores = scores / math.sqrt(query.shape[-1])
        if mask is not None and use_mask:
            scores = jnp.where(mask, scores, -1e9)
        weights = jax.nn.softmax(scores, axis=axis)
        return jnp.einsum("...qk,...kd->...qd", weights, value), weights

    return f


def _dot(axis: int = -1, transpose: bool = False):
    def f(hidden_states, previous_state):
        scores = jnp.einsum("bsd,btd->bst", previous_state, hidden_states)
        w = jax.nn.softmax(scores, axis=axis)
        ctx = jnp.einsum("bst,btd->bsd", w, hidden_states)
        return (ctx, w) if transpose else (w, ctx)

    return f


def _pe(swap: bool = False, base: float = 10000.0, per_dim: bool = False):
    def f(length, d_model):
        pos = jnp.arange(length, dtype=jnp.float32)[:, None]
        i = jnp.arange(0, d_model, 2, dtype=jnp.float32)[None, :]
        div = base ** ((i / 2 if per_dim else i) / d_model)
        a, b = jnp.sin(pos / div), jnp.cos(pos / div)
        if swap:
            a, b = b, a
        return jnp.stack([a, b], -1).reshape(length, -1)[:, :d_model]

    return f


def _loss(masked_mean: bool = True, use_mask: bool = True):
    def f(logits, targets, mask):
        logp = jax.nn.log_softmax(logits)
        nll = -jnp.take_along_axis(logp, targets[..., None], -1)[..., 0]
        m = mask.astype(nll.dtype) if use_mask else jnp.ones_like(nll)
        return jnp.sum(nll * m) / (jnp.sum(m) if masked_mean else m.size)

    return f


WRONG = {
    "dot_product_attention": [_dot(axis=1), _dot(transpose=True)],
    "scaled_dot_product_attention": [
        _sdpa(scale=False),
        _sdpa(axis=-2),
        _sdpa(use_mask=False),
    ],
    "causal_mask": [
        lambda n: jnp.tril(jnp.ones((n, n), bool), k=-1),  # off by one: no self
        lambda n: jnp.triu(jnp.ones((n, n), bool)),  # the future instead
        lambda n: jnp.tril(jnp.ones((n, n))),  # not boolean... but equal values
    ],
    "sinusoidal_encoding": [_pe(swap=True), _pe(per_dim=True)],
    "split_heads": [
        lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1),  # no transpose
        lambda x, h: x.reshape(x.shape[0], x.shape[1], h, -1),  # heads not moved
    ],
    "sequence_loss": [_loss(masked_mean=False), _loss(use_mask=False)],
    "invert_words": [
        lambda t: t[::-1],
        lambda t: " ".join(reversed(t.split(" "))),
    ],
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_checker_passes_the_reference_and_rejects_wrong_answers(name: str) -> None:
    checker = getattr(ex, f"check_{name}")
    reference = getattr(ex, name)
    assert checker.evaluate(reference).passed
    rejected = [not checker.evaluate(w).passed for w in WRONG[name]]
    assert sum(rejected) >= 2, rejected


def test_stub_is_not_attempted_and_fallback_is_the_reference(capsys) -> None:
    def stub(length):
        # YOUR CODE HERE
        raise NotImplementedError

    assert ex.check_causal_mask.evaluate(stub).status == "not_attempted"
    assert ex.check_causal_mask(stub) is ex.causal_mask
    assert "not attempted" in capsys.readouterr().out
