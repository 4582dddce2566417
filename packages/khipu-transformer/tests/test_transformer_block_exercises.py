"""The block-by-block exercises: each checker passes the reference, rejects at least
two plausible wrong answers and reports an untouched stub as not attempted; the
quizzes accept their answer only."""

from __future__ import annotations

import math

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import Quiz
from khipu.transformer import exercises as ex
from khipu.transformer.models import merge_heads, sinusoidal_encoding, split_heads

# --- wrong answers ---------------------------------------------------------------------


class SharedQKV(hk.Module):
    """One projection used for queries, keys and values."""

    def __init__(self, output_size, name=None):
        super().__init__(name=name)
        self.output_size = output_size

    def __call__(self, x):
        y = hk.Linear(self.output_size, name="query")(x)
        return y, y, y


class SwappedQKV(ex.SequenceToQKV):
    def __call__(self, x):
        q, k, v = super().__call__(x)
        return k, q, v


class NoBiasQKV(hk.Module):
    def __init__(self, output_size, name=None):
        super().__init__(name=name)
        self.output_size = output_size

    def __call__(self, x):
        return tuple(
            hk.Linear(self.output_size, with_bias=False, name=n)(x)
            for n in ("query", "key", "value")
        )


def _mha(scale=True, transpose=True, project=True):
    class WrongMHA(hk.Module):
        def __init__(self, num_heads, d_model, name=None):
            super().__init__(name=name)
            self.h, self.d = num_heads, d_model

        def __call__(self, query, key=None, value=None, mask=None):
            key = query if key is None else key
            value = key if value is None else value
            q = split_heads(hk.Linear(self.d, name="query")(query), self.h)
            k = split_heads(hk.Linear(self.d, name="key")(key), self.h)
            v = split_heads(hk.Linear(self.d, name="value")(value), self.h)
            scores = q @ jnp.swapaxes(k, -1, -2)
            if scale:
                scores = scores / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = jnp.where(mask, scores, -1e9)
            w = jax.nn.softmax(scores, -1)
            out = w @ v
            b, h, t, kk = out.shape
            out = merge_heads(out) if transpose else out.reshape(b, t, h * kk)
            return (hk.Linear(self.d, name="linear")(out) if project else out), w

    return WrongMHA


class SlicedPositions(ex.LearnedPositions):
    def __call__(self, positions):
        table = self.embed.embeddings
        return table[: positions.shape[0]]


class TransposedPositions(hk.Module):
    def __init__(self, max_len, d_model, name=None):
        super().__init__(name=name)
        self.embed = hk.Embed(d_model, max_len)

    def __call__(self, positions):
        return self.embed.embeddings.T[positions]


def _ffn(act=jax.nn.gelu, widen=True):
    class WrongFFN(hk.Module):
        def __init__(self, widening_factor=4, name=None):
            super().__init__(name=name)
            self.wf = widening_factor

        def __call__(self, x):
            d = x.shape[-1]
            h = hk.Linear(self.wf * d if widen else d)(x)
            return hk.Linear(d)(act(h))

    return WrongFFN


def _add_norm(kind):
    class WrongAddNorm(hk.Module):
        def __call__(self, x, y):
            ln = hk.LayerNorm(axis=-1, create_scale=True, create_offset=True)
            return ln(y) if kind == "no_residual" else x + ln(y)

    return WrongAddNorm


class MaskIgnoredEncoder(ex.EncoderBlock):
    """The original notebook's defect: the mask binds to the key argument and is lost."""

    def __call__(self, x, mask=None):
        a, w = self.attention(x)
        h = self.add_norm_1(x, a)
        return self.add_norm_2(h, self.ffn(h)), w


class PreLNEncoder(ex.EncoderBlock):
    def __call__(self, x, mask=None):
        a, w = self.attention(x, x, x, mask)
        h = x + a
        return h + self.ffn(h), w


class FFNOnInputEncoder(ex.EncoderBlock):
    def __call__(self, x, mask=None):
        a, w = self.attention(x, x, x, mask)
        h = self.add_norm_1(x, a)
        return self.add_norm_2(h, self.ffn(x)), w


class CausalCrossDecoder(ex.DecoderBlock):
    """The original notebook's defect: the causal mask also hides source positions."""

    def __call__(self, x, self_mask, memory, memory_mask=None):
        a, sw = self.self_attention(x, x, x, self_mask)
        h = self.add_norm_1(x, a)
        c, cw = self.cross_attention(h, memory, memory, self_mask)
        h = self.add_norm_2(h, c)
        return self.add_norm_3(h, self.ffn(h)), sw, cw


class SwappedCrossDecoder(ex.DecoderBlock):
    def __call__(self, x, self_mask, memory, memory_mask=None):
        a, sw = self.self_attention(x, x, x, self_mask)
        h = self.add_norm_1(x, a)
        c, cw = self.cross_attention(memory, h, h)
        h = self.add_norm_2(h, c)
        return self.add_norm_3(h, self.ffn(h)), sw, cw


class NoCrossNormDecoder(ex.DecoderBlock):
    def __call__(self, x, self_mask, memory, memory_mask=None):
        a, sw = self.self_attention(x, x, x, self_mask)
        h = self.add_norm_1(x, a)
        c, cw = self.cross_attention(h, memory, memory, memory_mask)
        h = h + c
        return self.add_norm_3(h, self.ffn(h)), sw, cw


def _seq2seq(positions=True, encoder_causal=False, padding=True):
    class WrongSeq2Seq(ex.Seq2Seq):
        def __call__(self, src, dec_in, src_len):
            s, t, d = src.shape[1], dec_in.shape[1], self.config.d_model
            mm = (jnp.arange(s)[None, :] < src_len[:, None])[:, None, None, :] if padding else None
            pe = sinusoidal_encoding if positions else (lambda n, d: jnp.zeros((n, d)))
            x = self.embed(src) + pe(s, d)[None]
            enc_mask = jnp.tril(jnp.ones((s, s), bool)) if encoder_causal else mm
            for block in self.encoder_blocks:
                x = block(x, enc_mask)[0]
            y = self.embed(dec_in) + pe(t, d)[None]
            for block in self.decoder_blocks:
                y = block(y, jnp.tril(jnp.ones((t, t), bool)), x, mm)[0]
            return self.output(y)

    return WrongSeq2Seq


def _patches_no_transpose(images, p):
    b, h, w, c = images.shape
    return images.reshape(b, (h // p) * (w // p), p * p * c)


def _patches_column_major(images, p):
    b, h, w, c = images.shape
    x = images.reshape(b, h // p, p, w // p, p, c).transpose(0, 3, 1, 2, 4, 5)
    return x.reshape(b, -1, p * p * c)


WRONG = {
    "sequence_to_qkv": [SharedQKV, SwappedQKV, NoBiasQKV],
    "multi_head_attention": [_mha(scale=False), _mha(transpose=False), _mha(project=False)],
    "frequency_term": [
        lambda d: jnp.exp(jnp.arange(0, d, 2) / d * jnp.log(10000.0)),  # sign
        lambda d: jnp.exp(-jnp.arange(0, (d + 1) // 2) / d * jnp.log(10000.0)),  # i, not 2i
        lambda d: 10000.0 ** (-jnp.arange(0, d, 2) / d)[: d // 2],  # drops the odd width's last
    ],
    "learned_positions": [SlicedPositions, TransposedPositions],
    "feed_forward": [_ffn(act=jax.nn.relu), _ffn(widen=False), _ffn(act=lambda h: h)],
    "add_norm": [_add_norm("no_residual"), _add_norm("pre_ln")],
    "encoder_block": [MaskIgnoredEncoder, PreLNEncoder, FFNOnInputEncoder],
    "decoder_block": [CausalCrossDecoder, SwappedCrossDecoder, NoCrossNormDecoder],
    "seq2seq": [_seq2seq(positions=False), _seq2seq(encoder_causal=True), _seq2seq(padding=False)],
    "encode": [
        lambda text, a: np.array([3 + a.index(c) for c in text]),  # no BOS / EOS
        lambda text, a: np.array([1, *(a.index(c) for c in text), 2]),  # clashes with specials
    ],
    "decode": [
        lambda ids, a: "".join(a[i - 3] for i in np.asarray(ids) if i >= 3),  # past EOS
        lambda ids, a: "".join(a[i - 3] if i >= 3 else "?" for i in np.asarray(ids)),
    ],
    "pad_and_mask": [
        lambda seqs: (lambda ids, m: (ids, ~m))(*ex.pad_and_mask(seqs)),  # inverted mask
        lambda seqs: (lambda ids, m: (np.where(m, ids, -1), m))(*ex.pad_and_mask(seqs)),
    ],
    "image_to_patches": [_patches_no_transpose, _patches_column_major],
    "shift_right": [
        lambda t: t,
        lambda t: jnp.concatenate([t[:, 1:], jnp.full_like(t[:, :1], 1)], 1),
    ],
}
REFERENCE = {
    "sequence_to_qkv": "SequenceToQKV",
    "multi_head_attention": "MultiHeadAttention",
    "learned_positions": "LearnedPositions",
    "feed_forward": "FeedForwardBlock",
    "add_norm": "AddNorm",
    "encoder_block": "EncoderBlock",
    "decoder_block": "DecoderBlock",
    "seq2seq": "Seq2Seq",
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_checker_passes_the_reference_and_rejects_wrong_answers(name: str) -> None:
    checker = getattr(ex, f"check_{name}")
    reference = getattr(ex, REFERENCE.get(name, name))
    assert checker.fallback is reference
    assert checker.evaluate(reference).passed, checker.evaluate(reference).message
    verdicts = [checker.evaluate(w) for w in WRONG[name]]
    assert all(v.status == "failed" for v in verdicts), [v.message for v in verdicts]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_an_untouched_module_stub_is_not_attempted(name: str) -> None:
    class Stub(hk.Module):
        def __init__(self, *args, name=None, **kwargs):
            super().__init__(name=name)

        def __call__(self, *args, **kwargs):
            # YOUR CODE HERE
            raise NotImplementedError

    assert getattr(ex, f"check_{name}").evaluate(Stub).status == "not_attempted"


def test_the_multi_head_attention_reference_is_haikus_given_the_same_weights() -> None:
    x, memory = jax.random.normal(jax.random.key(0), (2, 5, 8)), jnp.ones((2, 3, 8))
    ours = hk.without_apply_rng(hk.transform(lambda q, kv: ex.MultiHeadAttention(2, 8)(q, kv)))
    theirs = hk.without_apply_rng(
        hk.transform(
            lambda q, kv: hk.MultiHeadAttention(2, 4, w_init=hk.initializers.VarianceScaling(1.0))(
                q, kv, kv
            )
        )
    )
    for kv in (x, memory):
        params = ours.init(jax.random.key(1), x, kv)
        mapped = {k.replace("/~/", "/"): v for k, v in params.items()}
        np.testing.assert_allclose(
            ours.apply(params, x, kv)[0], theirs.apply(mapped, x, kv), rtol=1e-5, atol=1e-6
        )


def test_frequency_term_gives_the_sinusoidal_encoding() -> None:
    # PE[p, 2i] = sin(p · ω_i): the exp/log form and the power form agree
    w = ex.frequency_term(16)
    np.testing.assert_allclose(
        jnp.sin(jnp.arange(5.0)[:, None] * w[None]), sinusoidal_encoding(5, 16)[:, ::2], atol=1e-5
    )


QUIZZES = [name for name in dir(ex) if name.startswith("quiz_")]


def test_the_practical_has_its_quizzes() -> None:
    assert len(QUIZZES) >= 8


@pytest.mark.parametrize("name", QUIZZES)
def test_quiz_accepts_only_its_answer(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    quiz: Quiz = getattr(ex, name)
    assert quiz(quiz.answer) is True
    assert "✓" in capsys.readouterr().out
    for key in quiz.options:
        if key != quiz.answer:
            assert quiz(key) is False
            assert "✗" in capsys.readouterr().out
    assert quiz(None) is False
    assert "not attempted" in capsys.readouterr().out
