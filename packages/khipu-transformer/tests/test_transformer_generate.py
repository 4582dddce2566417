"""KV-cache generation equals full re-run decoding; sampling rules; bad settings."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.transformer import TransformerConfig, generate, init_cache, lm_model, sample_logits

CONFIG = TransformerConfig(vocab_size=20, d_model=32, num_heads=4, num_layers=2, max_len=24)


@pytest.fixture(scope="module")
def params():
    tokens = jnp.zeros((1, 4), jnp.int32)
    return lm_model(CONFIG).init(jax.random.key(0), tokens)


def test_cached_forward_matches_full_forward(params) -> None:
    apply = jax.jit(lm_model(CONFIG).apply)
    tokens = jax.random.randint(jax.random.key(1), (2, 10), 3, 20)
    full = apply(params, None, tokens).output
    out = apply(params, None, tokens[:, :6], init_cache(CONFIG, 2), 0)
    steps = [out.output]
    cache = out.cache
    for i in range(6, 10):
        out = apply(params, None, tokens[:, i : i + 1], cache, i)
        cache = out.cache
        steps.append(out.output)
    np.testing.assert_allclose(jnp.concatenate(steps, axis=1), full, atol=1e-4)


@pytest.mark.parametrize(("temperature", "top_k"), [(0.0, None), (1.0, 5)])
def test_kv_cache_decoding_gives_the_tokens_of_full_rerun(params, temperature, top_k) -> None:
    prompt = np.random.default_rng(0).integers(3, 20, (3, 5))
    kwargs = {"key": 7, "temperature": temperature, "top_k": top_k}
    cached = generate(CONFIG, params, prompt, 19, use_cache=True, **kwargs)
    rerun = generate(CONFIG, params, prompt, 19, use_cache=False, **kwargs)
    assert cached.shape == (3, 19)
    np.testing.assert_array_equal(cached, rerun)
    if temperature == 0.0:  # greedy continuation of the prompt, token by token
        apply = jax.jit(lm_model(CONFIG).apply)
        seq = jnp.asarray(prompt)
        for _ in range(3):
            nxt = jnp.argmax(apply(params, None, seq).output[:, -1], -1)
            seq = jnp.concatenate([seq, nxt[:, None]], axis=1)
        np.testing.assert_array_equal(cached[:, :3], np.asarray(seq[:, 5:]))


def test_top_k_only_samples_among_the_k_largest() -> None:
    logits = jnp.tile(jnp.arange(10.0)[None], (500, 1))
    tokens = sample_logits(logits, jax.random.key(0), temperature=5.0, top_k=3)
    assert set(np.unique(np.asarray(tokens))) == {7, 8, 9}
    greedy = sample_logits(logits, jax.random.key(0))
    assert (np.asarray(greedy) == 9).all()


def test_bad_generation_settings_are_refused(params) -> None:
    prompt = np.full((1, 5), 3)
    with pytest.raises(KhipuError, match="longer than the model's maximum"):
        generate(CONFIG, params, prompt, 20)
    with pytest.raises(KhipuError, match="temperature"):
        generate(CONFIG, params, prompt, 2, temperature=-1.0)
    with pytest.raises(KhipuError, match="top_k"):
        generate(CONFIG, params, prompt, 2, temperature=1.0, top_k=0)
    with pytest.raises(KhipuError, match="at least one token"):
        generate(CONFIG, params, np.zeros((1, 0), int), 2)
    with pytest.raises(KhipuError, match="ids must lie"):
        generate(CONFIG, params, np.full((1, 3), 25), 2)
