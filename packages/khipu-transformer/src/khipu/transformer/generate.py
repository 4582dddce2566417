"""Text generation with the decoder-only LM: greedy, temperature and top-k
sampling, with a KV cache (one token per step) or by re-running the whole
sequence for every new token (the baseline the cache is measured against).

Both paths draw the sampling noise from the same per-step keys, so for the same
key they produce the same tokens.
"""

from __future__ import annotations

import functools

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from khipu.core import KhipuError
from khipu.transformer.models import KVCache, TransformerConfig, init_cache
from khipu.transformer.train import lm_model


def sample_logits(
    logits: jax.Array, key: jax.Array, *, temperature: float = 0.0, top_k: int | None = None
) -> jax.Array:
    """Picks one token per row of ``logits`` ``[B, V]`` -> ``[B]`` int32.

    ``temperature == 0`` is greedy (argmax); otherwise a sample from
    ``softmax(logits / temperature)`` restricted to the ``top_k`` largest logits.
    """
    if temperature == 0.0:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    scaled = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = jax.lax.top_k(scaled, top_k)[0][..., -1:]
        scaled = jnp.where(scaled >= kth, scaled, -jnp.inf)
    return jax.random.categorical(key, scaled, axis=-1).astype(jnp.int32)


def check_generation(
    config: TransformerConfig,
    prompt_length: int,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
) -> None:
    """Raises :class:`KhipuError` for settings that cannot generate."""
    if prompt_length < 1:
        raise KhipuError("the prompt must hold at least one token")
    if max_new_tokens < 1:
        raise KhipuError(f"max_new_tokens must be positive, got {max_new_tokens}")
    if prompt_length + max_new_tokens > config.max_len:
        raise KhipuError(
            f"prompt ({prompt_length}) + new tokens ({max_new_tokens}) = "
            f"{prompt_length + max_new_tokens} is longer than the model's maximum "
            f"sequence length {config.max_len}"
        )
    if not temperature >= 0.0 or not np.isfinite(temperature):
        raise KhipuError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and not 1 <= top_k <= config.vocab_size:
        raise KhipuError(f"top_k must be between 1 and {config.vocab_size}, got {top_k}")


@functools.partial(jax.jit, static_argnames=("config", "max_new_tokens", "temperature", "top_k"))
def _generate_cached(
    params: hk.Params,
    prompt: jax.Array,
    key: jax.Array,
    *,
    config: TransformerConfig,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
) -> jax.Array:
    apply = lm_model(config).apply
    b, p = prompt.shape
    first = apply(params, None, prompt, init_cache(config, b), 0)
    keys = jax.random.split(key, max_new_tokens)

    def body(
        carry: tuple[list[KVCache], jax.Array], inputs: tuple[jax.Array, jax.Array]
    ) -> tuple[tuple[list[KVCache], jax.Array], jax.Array]:
        cache, logits = carry
        index, k = inputs
        token = sample_logits(logits, k, temperature=temperature, top_k=top_k)
        out = apply(params, None, token[:, None], cache, index)
        return (out.cache, out.output[:, 0]), token

    # The last step's forward pass is not needed, but keeps the loop uniform.
    indices = jnp.arange(p, p + max_new_tokens)
    _, tokens = jax.lax.scan(body, (first.cache, first.output[:, -1]), (indices, keys))
    return tokens.T


@functools.partial(jax.jit, static_argnames=("config", "max_new_tokens", "temperature", "top_k"))
def _generate_rerun(
    params: hk.Params,
    prompt: jax.Array,
    key: jax.Array,
    *,
    config: TransformerConfig,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
) -> jax.Array:
    apply = lm_model(config).apply
    b, p = prompt.shape
    total = p + max_new_tokens
    buf = jnp.zeros((b, total), jnp.int32).at[:, :p].set(prompt)
    keys = jax.random.split(key, max_new_tokens)

    def body(buf: jax.Array, inputs: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        i, k = inputs
        logits = apply(params, None, buf).output  # the whole sequence, every step
        last = jax.lax.dynamic_index_in_dim(logits, p + i - 1, axis=1, keepdims=False)
        token = sample_logits(last, k, temperature=temperature, top_k=top_k)
        return jax.lax.dynamic_update_index_in_dim(buf, token, p + i, axis=1), token

    _, tokens = jax.lax.scan(body, buf, (jnp.arange(max_new_tokens), keys))
    return tokens.T


def generate(
    config: TransformerConfig,
    params: hk.Params,
    prompt: np.ndarray | jax.Array,
    max_new_tokens: int,
    *,
    key: jax.Array | int = 0,
    temperature: float = 0.0,
    top_k: int | None = None,
    use_cache: bool = True,
) -> np.ndarray:
    """Continues each prompt row by ``max_new_tokens`` tokens.

    Args:
      config: the LM's sizes.
      params: parameters of :func:`~khipu.transformer.train.lm_model`.
      prompt: ``[B, P]`` int ids (all rows the same length, ``P >= 1``).
      max_new_tokens: ``N``; ``P + N`` must not exceed ``config.max_len``.
      key: PRNG key or seed of the sampling.
      temperature: 0 for greedy decoding.
      top_k: sample only among the ``k`` most likely tokens.
      use_cache: decode with the KV cache (one token per forward pass) instead
        of re-running the model on the whole sequence for every token.

    Returns:
      ``[B, N]`` int32 new ids.
    """
    prompt = jnp.asarray(prompt)
    if prompt.ndim != 2:
        raise KhipuError(f"prompt must be [batch, length], got shape {prompt.shape}")
    check_generation(config, prompt.shape[1], max_new_tokens, temperature, top_k)
    if bool(jnp.any((prompt < 0) | (prompt >= config.vocab_size))):
        raise KhipuError(f"prompt ids must lie in [0, {config.vocab_size})")
    k = jax.random.key(key) if isinstance(key, int) else key
    fn = _generate_cached if use_cache else _generate_rerun
    out = fn(
        params,
        prompt.astype(jnp.int32),
        k,
        config=config,
        max_new_tokens=max_new_tokens,
        temperature=float(temperature),
        top_k=top_k,
    )
    return np.asarray(out)
