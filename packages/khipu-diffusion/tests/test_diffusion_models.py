"""Denoiser shapes at 8x8, 28x28 and 32x32 (traced with eval_shape: no compile), the time
embedding, conditioning and configuration errors."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.diffusion import models


def _shapes(config: models.DenoiserConfig, batch: int = 3) -> tuple[tuple[int, ...], int]:
    den = models.build_denoiser(config)
    x = jax.ShapeDtypeStruct((batch, *config.data_shape), jnp.float32)
    t = jax.ShapeDtypeStruct((batch,), jnp.int32)
    label = None if config.num_classes is None else jax.ShapeDtypeStruct((batch,), jnp.int32)
    params = jax.eval_shape(den.transformed.init, jax.random.key(0), x, t, label)
    out = jax.eval_shape(den.transformed.apply, params, x, t, label)
    n = sum(math.prod(p.shape) for p in jax.tree.leaves(params))
    return out.shape, n


@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 1), (32, 32, 3), (2,)])
@pytest.mark.parametrize("num_classes", [None, 10])
def test_default_denoisers_keep_the_input_shape(shape, num_classes) -> None:  # type: ignore[no-untyped-def]
    config = models.default_config(shape, num_classes=num_classes)
    out, n = _shapes(config)
    assert out == (3, *shape)
    assert n > 1000
    assert config.kind == ("mlp" if len(shape) == 1 else "unet")


def test_presets_use_attention_and_patches_where_documented() -> None:
    assert models.default_config((28, 28, 1)).patch == 2
    assert models.default_config((32, 32, 3)).attention
    assert not models.default_config((8, 8, 1)).attention


def test_timestep_embedding_is_the_sinusoidal_formula() -> None:
    t = jnp.array([0, 1, 17, 999])
    emb = np.asarray(models.timestep_embedding(t, 8))
    freqs = np.exp(-math.log(10000) / 3 * np.arange(4))
    want = np.concatenate(
        [np.sin(np.outer([0, 1, 17, 999], freqs)), np.cos(np.outer([0, 1, 17, 999], freqs))], 1
    )
    np.testing.assert_allclose(emb, want, atol=1e-4)


def test_the_label_changes_the_prediction_and_none_means_null() -> None:
    config = models.DenoiserConfig(kind="mlp", data_shape=(2,), dim=16, num_classes=3)
    den = models.build_denoiser(config)
    params = den.init(jax.random.key(0))
    # a label embedding initialised to zero would hide bugs: perturb it
    params = jax.tree.map(lambda p: p + 0.1, params)
    x, t = jnp.ones((2, 2)), jnp.array([3, 3])
    a = den.apply(params, x, t, jnp.array([0, 0]))
    b = den.apply(params, x, t, jnp.array([1, 1]))
    assert not np.allclose(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(
        np.asarray(den.apply(params, x, t)), np.asarray(den.apply(params, x, t, jnp.array([3, 3])))
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data_shape": (10, 10, 1), "dim_mults": (1, 2, 2)}, "not divisible by 4"),
        ({"data_shape": (28, 28, 1), "dim_mults": (1, 2, 2), "patch": 2}, "not divisible by 8"),
        ({"data_shape": (8, 8)}, "needs images"),
        ({"dim": 12, "groups": 8}, "groups 8 do not divide"),
        ({"num_classes": 1}, ">= 2 classes"),
        ({"kind": "transformer"}, "unknown denoiser kind"),
    ],
)
def test_bad_configurations_are_refused(kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KhipuError, match=message):
        models.build_denoiser(models.DenoiserConfig(**kwargs))


def test_config_round_trips_through_a_dict() -> None:
    config = models.default_config((28, 28, 1), num_classes=10)
    assert models.DenoiserConfig.from_dict(config.to_dict()) == config
    with pytest.raises(KhipuError, match="not a denoiser"):
        models.DenoiserConfig.from_dict({"kind": "unet"})


@pytest.mark.parametrize(
    ("shape", "groups", "mean", "name"),
    [
        ((4, 7, 7, 32), 8, 0.0, "norm_1"),
        ((2, 14, 14, 16), 8, 3.0, None),
        ((3, 5, 6, 12), 3, -1.5, "g"),
    ],
)
def test_group_norm_is_haikus_with_the_same_parameters(shape, groups, mean, name) -> None:  # type: ignore[no-untyped-def]
    import haiku as hk

    ours = hk.without_apply_rng(hk.transform(lambda x: models.GroupNorm(groups, name=name)(x)))
    ref = hk.without_apply_rng(hk.transform(lambda x: hk.GroupNorm(groups, name=name)(x)))
    rng = np.random.default_rng(0)
    x = jnp.asarray(mean + rng.normal(size=shape) * rng.uniform(0.5, 2.0, shape[-1]), jnp.float32)
    params = ref.init(jax.random.key(0), x)
    mine = ours.init(jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, mine) == jax.tree.map(jnp.shape, params)  # same names
    np.testing.assert_array_equal(jax.tree.leaves(mine), jax.tree.leaves(params))  # same init
    params = jax.tree.map(lambda p: p + jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
    np.testing.assert_allclose(ours.apply(params, x), ref.apply(params, x), atol=2e-5)
    weights = jnp.asarray(rng.normal(size=shape), jnp.float32)

    def loss(f):  # type: ignore[no-untyped-def]
        return jax.grad(lambda p, x: jnp.sum(jnp.tanh(f.apply(p, x)) * weights), (0, 1))

    got, want = loss(ours)(params, x), loss(ref)(params, x)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize(("batch", "length", "width", "heads"), [(3, 49, 32, 4), (2, 5, 12, 1)])
def test_multi_head_attention_is_haikus_with_the_same_parameters(
    batch, length, width, heads
) -> None:  # type: ignore[no-untyped-def]
    import haiku as hk

    w_init = hk.initializers.VarianceScaling(1.0)
    size = width // heads
    ours = hk.without_apply_rng(
        hk.transform(lambda s: models.MultiHeadAttention(heads, size, w_init)(s))
    )
    ref = hk.without_apply_rng(
        hk.transform(lambda s: hk.MultiHeadAttention(heads, size, w_init=w_init)(s, s, s))
    )
    rng = np.random.default_rng(0)
    seq = jnp.asarray(rng.normal(size=(batch, length, width)), jnp.float32)
    params = ref.init(jax.random.key(0), seq)
    mine = ours.init(jax.random.key(0), seq)
    assert jax.tree.map(jnp.shape, mine) == jax.tree.map(jnp.shape, params)  # same names
    # large logits: the softmax must subtract its maximum
    params = jax.tree.map(lambda p: 3 * p + jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
    got, want = ours.apply(params, seq), ref.apply(params, seq)
    np.testing.assert_allclose(got, want, atol=1e-5 * float(jnp.max(jnp.abs(want))))
    weights = jnp.asarray(rng.normal(size=seq.shape), jnp.float32)

    def grads(f):  # type: ignore[no-untyped-def]
        return jax.grad(lambda p, s: jnp.sum(f.apply(p, s) * weights), (0, 1))(params, seq)

    want = jax.tree.leaves(grads(ref))
    scale = max(float(jnp.max(jnp.abs(b))) for b in want)  # the key bias's gradient is 0
    for a, b in zip(jax.tree.leaves(grads(ours)), want, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5 * scale)  # float32 rounding
