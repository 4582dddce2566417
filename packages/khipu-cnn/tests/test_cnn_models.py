"""Models: output shapes, parameter counts (computed by hand), dropout, pooling, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import pytest
from khipu.cnn import (
    ModelSpec,
    build_model,
    first_layer_filters,
    layer_parameter_counts,
    max_pool,
    model_summary,
)


def conv(k: int, cin: int, cout: int, bias: bool = True) -> int:
    return k * k * cin * cout + (cout if bias else 0)


def dense(nin: int, nout: int) -> int:
    return nin * nout + nout


LENET_8 = {
    "lenet/conv1/conv": conv(3, 1, 32),
    "lenet/conv2/conv": conv(3, 32, 64),
    "lenet/dense1": dense(2 * 2 * 64, 128),  # 8x8 -> 4x4 -> 2x2
    "lenet/logits": dense(128, 10),
}
LENET_28 = {**LENET_8, "lenet/dense1": dense(7 * 7 * 64, 128)}  # 28 -> 14 -> 7
ALEXNET_32 = {
    "alexnet/conv1/conv": conv(3, 3, 48),
    "alexnet/conv2/conv": conv(3, 48, 128),
    "alexnet/conv3/conv": conv(3, 128, 192),
    "alexnet/conv4/conv": conv(3, 192, 192),
    "alexnet/conv5/conv": conv(3, 192, 128),
    "alexnet/dense1": dense(4 * 4 * 128, 1024),  # 32 -> 16 -> 8 -> 4
    "alexnet/dense2": dense(1024, 1024),
    "alexnet/logits": dense(1024, 10),
}
FCN_8 = {
    "fcn/conv1/conv": conv(3, 1, 32),
    "fcn/conv2/conv": conv(3, 32, 64),
    "fcn/classifier": conv(1, 64, 10),
}


@pytest.mark.parametrize(
    ("name", "shape", "expected"),
    [
        ("lenet", (8, 8, 1), LENET_8),
        ("lenet", (28, 28, 1), LENET_28),
        ("alexnet", (32, 32, 3), ALEXNET_32),
        ("fcn", (8, 8, 1), FCN_8),
        ("fcn", (28, 28, 1), FCN_8),  # no dense layer: the count does not grow
    ],
)
def test_output_shape_and_parameter_counts(name, shape, expected):
    model = build_model(name, num_classes=10)
    params, state = model.init(0, jnp.zeros((1, *shape)))
    logits, _ = model.apply(params, state, None, jnp.zeros((5, *shape)), False)
    assert logits.shape == (5, 10)
    assert layer_parameter_counts(params) == expected
    assert model_summary(model, shape) == expected
    assert state == {}


def test_alexnet_pools_downsample_unlike_the_original():
    counts = model_summary(build_model("alexnet"), (32, 32, 3))
    assert sum(counts.values()) == 3_989_450
    # The original's stride-1 pools kept 32x32x128 features: 136,110,026 parameters.
    assert sum(counts.values()) < 136_110_026 / 30


def test_batch_norm_variant_has_state_and_no_conv_bias():
    model = build_model("lenet", batch_norm=True)
    params, state = model.init(0, jnp.zeros((1, 8, 8, 1)))
    counts = layer_parameter_counts(params)
    assert counts["lenet/conv1/conv"] == conv(3, 1, 32, bias=False)
    assert counts["lenet/conv1/bn"] == 2 * 32  # scale and offset
    assert sum(counts.values()) == 53_002 - 32 - 64 + 2 * 32 + 2 * 64
    assert len(jax.tree.leaves(state)) > 0

    images = jax.random.uniform(jax.random.key(1), (16, 8, 8, 1))
    apply = jax.jit(model.apply, static_argnums=4)
    _, trained_state = apply(params, state, jax.random.key(2), images, True)
    _, eval_state = apply(params, state, None, images, False)
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), state, trained_state)
    assert any(jax.tree.leaves(changed)), "training must update the moving statistics"
    same = jax.tree.map(lambda a, b: bool(jnp.all(a == b)), state, eval_state)
    assert all(jax.tree.leaves(same)), "evaluation must not touch them"


@pytest.mark.parametrize(("name", "shape"), [("lenet", (8, 8, 1)), ("alexnet", (32, 32, 3))])
def test_residual_and_batch_norm_variants_run(name, shape):
    model = build_model(name, batch_norm=True, residual=True, num_classes=7)
    params, state = model.init(0, jnp.zeros((1, *shape)))
    assert any("res" in layer for layer in layer_parameter_counts(params))
    apply = jax.jit(model.apply, static_argnums=4)
    logits, _ = apply(params, state, jax.random.key(0), jnp.ones((3, *shape)), True)
    assert logits.shape == (3, 7)
    assert bool(jnp.all(jnp.isfinite(logits)))


def test_residual_block_is_identity_plus_residual():
    model = build_model("lenet", residual=True)
    params, state = model.init(0, jnp.zeros((1, 8, 8, 1)))
    # Zeroing the residual branch's last conv makes the block relu(x + 0) = x (x >= 0):
    # the output then equals the plain LeNet with the same remaining weights.
    zeroed = {k: (jax.tree.map(jnp.zeros_like, v) if "/b/" in k else v) for k, v in params.items()}
    plain = build_model("lenet")
    plain_params = {k: v for k, v in params.items() if "/res" not in k}
    x = jax.random.uniform(jax.random.key(3), (4, 8, 8, 1))
    out_res, _ = model.apply(zeroed, state, None, x, False)
    out_plain, _ = plain.apply(plain_params, {}, None, x, False)
    np.testing.assert_allclose(out_res, out_plain, rtol=1e-5, atol=1e-6)


def test_dropout_only_in_training():
    model = build_model("lenet", dropout_rate=0.5)
    params, state = model.init(0, jnp.zeros((1, 8, 8, 1)))
    x = jax.random.uniform(jax.random.key(0), (8, 8, 8, 1))
    eval1, _ = model.apply(params, state, None, x, False)
    eval2, _ = model.apply(params, state, jax.random.key(5), x, False)
    np.testing.assert_array_equal(eval1, eval2)
    apply = jax.jit(model.apply, static_argnums=4)
    train1, _ = apply(params, state, jax.random.key(1), x, True)
    train2, _ = apply(params, state, jax.random.key(2), x, True)
    assert not np.allclose(train1, train2), "dropout should make training passes differ"
    no_dropout = build_model("lenet", dropout_rate=0.0)
    t0, _ = no_dropout.apply(params, state, jax.random.key(1), x, True)
    np.testing.assert_allclose(t0, eval1, rtol=1e-6)


PRACTICAL_MATRIX = np.array(
    [
        [9, 5, 4, 5, 6, 4],
        [6, 6, 3, 5, 8, 2],
        [4, 6, 9, 1, 3, 6],
        [9, 7, 1, 5, 8, 1],
        [4, 9, 9, 5, 7, 3],
        [7, 3, 6, 4, 9, 1],
    ]
)


def test_max_pool_matches_the_practicals_hand_computed_answer():
    out = max_pool(PRACTICAL_MATRIX, window=2, stride=2, padding="VALID")
    np.testing.assert_array_equal(out, [[9, 5, 8], [9, 9, 8], [9, 9, 9]])


def test_max_pool_shapes_and_channels():
    x = np.arange(25, dtype=np.float32).reshape(5, 5)
    # stride 1 (the original's mistake) barely shrinks the map
    assert max_pool(x, window=2, stride=1).shape == (4, 4)
    same = max_pool(x, window=2, stride=2, padding="SAME")
    np.testing.assert_array_equal(same, [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    batch = np.stack([x, -x], axis=-1)[None]  # [1, 5, 5, 2]
    out = max_pool(batch, window=2, stride=2)
    np.testing.assert_array_equal(out[0, :, :, 0], [[6, 8], [16, 18]])
    np.testing.assert_array_equal(out[0, :, :, 1], [[0, -2], [-10, -12]])


def test_first_layer_filters():
    params, _ = build_model("alexnet").init(0, jnp.zeros((1, 32, 32, 3)))
    assert first_layer_filters(params).shape == (48, 3, 3, 3)


def test_bad_input_shapes_give_clear_errors():
    model = build_model("lenet")
    params, state = model.init(0, jnp.zeros((1, 8, 8, 1)))
    with pytest.raises(kc.KhipuError, match=r"\[batch, height, width, channels\].*channel axis"):
        model.apply(params, state, None, jnp.zeros((4, 8, 8)), False)
    with pytest.raises(kc.KhipuError, match="expects images with 1 channel"):
        model.apply(params, state, None, jnp.zeros((4, 8, 8, 3)), False)
    with pytest.raises(kc.KhipuError, match="too small"):
        build_model("alexnet").init(0, jnp.zeros((1, 4, 4, 3)))
    with pytest.raises(kc.KhipuError, match="too small"):
        model_summary(build_model("alexnet"), (4, 4, 3))
    with pytest.raises(kc.KhipuError, match="max_pool expects"):
        max_pool(np.zeros(5))
    with pytest.raises(kc.KhipuError, match="channel axis"):  # also under jit
        jax.jit(lambda x: model.apply(params, state, None, x, False))(jnp.zeros((8, 8, 1)))


def test_unknown_model_and_bad_settings():
    with pytest.raises(kc.UnknownNameError, match="available: alexnet, fcn, lenet"):
        build_model("resnet152")
    with pytest.raises(kc.KhipuError, match="dropout_rate"):
        build_model(ModelSpec("lenet", dropout_rate=1.0))
    with pytest.raises(kc.KhipuError, match="num_classes"):
        build_model("lenet", num_classes=1)


def test_first_layer_is_found_by_name_after_pytree_operations():
    # jax.tree.map rebuilds dicts with sorted keys: "fcn/classifier" < "fcn/conv1/conv"
    model = build_model("fcn")
    params, state = model.init(0, jnp.zeros((1, 8, 8, 1)))
    params = jax.tree.map(lambda a: a, params)
    assert next(iter(params)) == "fcn/classifier"
    assert first_layer_filters(params).shape == (32, 3, 3, 1)
    logits, _ = model.apply(params, state, None, jnp.zeros((2, 8, 8, 1)), False)
    assert logits.shape == (2, 10)


@pytest.mark.parametrize("shape", [(3, 8, 8, 4), (2, 4, 6, 1), (2, 7, 7, 3)])
def test_pool_by_reshape_matches_haikus_max_pool_and_its_gradient(shape) -> None:  # type: ignore[no-untyped-def]
    """The 2x2 pool is a max over a reshape where H and W are even (no select-and-scatter)."""
    import haiku as hk
    from khipu.cnn.models import _pool

    def reference(x: jax.Array) -> jax.Array:
        return hk.max_pool(x, window_shape=(1, 2, 2, 1), strides=(1, 2, 2, 1), padding="SAME")

    x = jax.random.normal(jax.random.key(0), shape)  # no ties
    weights = jax.random.normal(jax.random.key(1), reference(x).shape)
    np.testing.assert_array_equal(np.asarray(_pool(x)), np.asarray(reference(x)))
    grad = jax.grad(lambda v: jnp.sum(_pool(v) * weights))(x)
    want = jax.grad(lambda v: jnp.sum(reference(v) * weights))(x)
    np.testing.assert_allclose(np.asarray(grad), np.asarray(want), rtol=1e-6)
    assert int(jnp.sum(grad != 0)) == weights.size  # one winner per window
