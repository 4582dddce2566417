"""The convolution lesson, the training loop the student writes and the shapes32 dataset:
each against an independent computation (plain loops, jax.lax, khipu-core's step)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
import pytest
from khipu.cnn import build_model, data, loop, models, plots, train

# --- convolution theory ------------------------------------------------------------------


def _conv2d_loops(image: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    kh, kw, _, f = kernel.shape
    rows = (image.shape[0] - kh) // stride + 1
    cols = (image.shape[1] - kw) // stride + 1
    out = np.zeros((rows, cols, f))
    for i in range(rows):
        for j in range(cols):
            window = image[i * stride : i * stride + kh, j * stride : j * stride + kw]
            for c in range(f):
                out[i, j, c] = np.sum(window * kernel[..., c])
    return out


@pytest.mark.parametrize(
    ("shape", "kshape", "stride"),
    [((6, 6, 1), (3, 3, 1, 1), 1), ((7, 5, 3), (2, 3, 3, 4), 1), ((9, 8, 2), (3, 3, 2, 2), 2)],
)
def test_conv2d_reference_is_the_sliding_window_sum(shape, kshape, stride):
    r = np.random.default_rng(0)
    image, kernel = r.normal(size=shape), r.normal(size=kshape)
    got = models.conv2d(image.astype(np.float32), kernel.astype(np.float32), stride)
    np.testing.assert_allclose(got, _conv2d_loops(image, kernel, stride), rtol=1e-4, atol=1e-4)


def test_channels_first_moves_axes_and_lax_agrees_in_both_layouts():
    r = np.random.default_rng(1)
    images = r.normal(size=(2, 5, 6, 3)).astype(np.float32)
    first = np.asarray(models.to_channels_first(images))
    assert first.shape == (2, 3, 5, 6)
    assert first[1, 2, 4, 5] == images[1, 4, 5, 2]
    kernel = r.normal(size=(3, 3, 3, 4)).astype(np.float32)
    last_out = jax.lax.conv_general_dilated(
        images, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    first_out = jax.lax.conv_general_dilated(
        first,
        np.transpose(kernel, (3, 2, 0, 1)),
        (1, 1),
        "VALID",
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
    )
    np.testing.assert_allclose(models.to_channels_first(last_out), first_out, rtol=1e-4, atol=1e-4)
    with pytest.raises(kc.KhipuError, match="expected images"):
        models.to_channels_first(images[0])


def test_feature_maps_are_the_conv_blocks_outputs():
    model = build_model("alexnet")
    params, state = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    images = np.random.default_rng(2).uniform(size=(2, 32, 32, 3)).astype(np.float32)
    maps = models.feature_maps(model, params, state, images)
    assert list(maps) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert maps["conv1"].shape == (2, 32, 32, 48) and maps["conv5"].shape == (2, 8, 8, 128)
    # conv1 is relu(conv2d(image, w) + b) with SAME padding
    w, b = params["alexnet/conv1/conv"]["w"], params["alexnet/conv1/conv"]["b"]
    padded = np.pad(images[0], ((1, 1), (1, 1), (0, 0)))
    expected = np.maximum(_conv2d_loops(padded, np.asarray(w), 1) + np.asarray(b), 0)
    np.testing.assert_allclose(maps["conv1"][0], expected, rtol=1e-3, atol=1e-4)


def test_lesson_figures_draw():
    image = np.array([[0, 0, 0, 9, 9, 9]] * 6, np.float32)
    fig = plots.plot_sliding_kernel(image, np.array([[-1, 0, 1]] * 3, np.float32))
    assert len(fig.axes) == 12
    # the last panel shows the whole output map: 27 where the window straddles the edge
    texts = {t.get_text() for t in fig.axes[-1].texts}
    assert texts == {"0", "27"}
    fig = plots.plot_parameter_growth(sides=(8, 100), units=500)
    assert "15,000,500" in {t.get_text() for t in fig.axes[0].texts}
    maps = {"conv1": np.ones((8, 8, 4)), "conv2": np.ones((4, 4, 16))}
    fig = plots.plot_feature_maps(np.zeros((8, 8, 3)), maps, channels=6)
    assert len(fig.axes) == 2 * 7
    with pytest.raises(kc.KhipuError):
        plots.plot_sliding_kernel(image, np.ones((7, 7)))


# --- the training loop the student writes ---------------------------------------------------


def _problem():
    r = np.random.default_rng(3)
    x = r.normal(size=(48, 4)).astype(np.float32)
    labels = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    params = {"w": jnp.zeros((4, 2)), "b": jnp.zeros((2,))}

    def loss_fn(p, batch, key):
        keep = jax.random.bernoulli(key, 0.9, batch["x"].shape)
        logits = jnp.where(keep, batch["x"] / 0.9, 0.0) @ p["w"] + p["b"][None]
        return train.cross_entropy(logits, batch["label"])

    return {"x": x, "label": labels}, params, loss_fn


def test_make_step_equals_khipu_core_train_step():
    data_, params, loss_fn = _problem()
    opt = optax.adam(0.05)
    step = loop.make_step(loss_fn, opt)
    core_step = kc.make_train_step(
        lambda p, ms, key, batch: (loss_fn(p, batch, key), (ms, {})), opt
    )
    state = kc.init_train_state(params, opt, key=0)
    p, s = params, opt.init(params)
    batch = {k: jnp.asarray(v[:16]) for k, v in data_.items()}
    for _ in range(3):
        _, key = jax.random.split(state.rng)  # the key core's step uses
        p, s, loss = step(p, s, batch, key)
        state, metrics = core_step(state, batch)
        np.testing.assert_allclose(loss, metrics["loss"], rtol=1e-6)
    np.testing.assert_allclose(p["w"], state.params["w"], rtol=1e-5, atol=1e-7)


def test_train_epoch_visits_each_example_once_and_learns():
    data_, params, loss_fn = _problem()
    opt = optax.sgd(0.5)
    step = loop.make_step(loss_fn, opt)
    state = opt.init(params)
    losses = []
    for epoch in range(6):
        params, state, loss = loop.train_epoch(
            step, params, state, data_, 16, jax.random.key(epoch)
        )
        losses.append(loss)
    assert losses[-1] < 0.6 * losses[0]
    logits = data_["x"] @ params["w"] + params["b"][None]
    assert float(train.accuracy(logits, data_["label"])) > 0.9
    with pytest.raises(kc.KhipuError, match="batch_size"):
        loop.train_epoch(step, params, state, data_, 100, jax.random.key(0))


# --- shapes32 --------------------------------------------------------------------------------


def test_shapes32_is_deterministic_from_its_seed():
    a = data.make_shapes32(20, seed=3)
    b = data.make_shapes32(20, seed=3)
    c = data.make_shapes32(20, seed=4)
    np.testing.assert_array_equal(a["image"], b["image"])
    assert not np.array_equal(a["image"], c["image"])
    s1, s2 = data.load_shapes32(seed=5, limit=300), data.load_shapes32(seed=5, limit=300)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(s1, split)["image"], getattr(s2, split)["image"])
        np.testing.assert_array_equal(getattr(s1, split)["label"], getattr(s2, split)["label"])


def test_shapes32_shapes_dtype_range_and_class_balance():
    splits = data.load_image_dataset("shapes32", limit=400)
    assert splits.class_names == data.SHAPES32_CLASSES and splits.num_classes == 10
    sizes = {}
    for name in ("train", "val", "test"):
        split = getattr(splits, name)
        assert split["image"].shape[1:] == (32, 32, 3)
        assert split["image"].dtype == np.float32 and split["label"].dtype == np.int32
        assert split["image"].min() >= 0.0 and split["image"].max() <= 1.0
        counts = np.bincount(split["label"], minlength=10)
        assert len(set(counts.tolist())) == 1, (name, counts)  # every class equally often
        sizes[name] = len(split["label"])
        assert not np.array_equal(split["label"], np.sort(split["label"]))  # shuffled
    assert sizes == {"train": 280, "val": 60, "test": 60}
    every = np.concatenate([getattr(splits, n)["image"] for n in ("train", "val", "test")])
    assert len({im.tobytes() for im in every}) == 400  # disjoint splits, no duplicates
    full = data.load_image_dataset("shapes32")
    assert [len(s["label"]) for s in (full.train, full.val, full.test)] == [4200, 900, 900]


def test_shapes32_colour_says_nothing_about_the_class():
    d = data.make_shapes32(200, seed=0)
    mean_colour = d["image"].mean(axis=(1, 2))  # [N, 3]
    per_class = np.stack([mean_colour[d["label"] == k].mean(0) for k in range(10)])
    assert np.ptp(per_class, axis=0).max() < 0.1  # every class has the same average colour


def test_shapes32_bad_limits_and_arguments():
    with pytest.raises(kc.KhipuError, match="at least 30"):
        data.load_shapes32(limit=20)
    with pytest.raises(kc.KhipuError, match="n_per_class"):
        data.make_shapes32(0)
    with pytest.raises(kc.KhipuError, match="noise"):
        data.make_shapes32(2, noise=-1.0)
    assert "shapes32" in data.available_datasets()


def test_a_short_training_on_shapes32_learns():
    """A LeNet-style net, 6 epochs on 700 training images: well above chance (0.1).

    (Measured: test accuracy 0.30 after 6 epochs; the full dataset and the mini-AlexNet
    reach the README's number.)
    """
    splits = data.load_image_dataset("shapes32", limit=1000, seed=1)
    model = build_model("lenet", num_classes=10, dropout_rate=0.0)
    result = train.train_classifier(
        model, splits, epochs=6, batch_size=32, learning_rate=3e-3, patience=None, progress=False
    )
    history = result.history
    assert history["loss"][-1] < 0.9 * history["loss"][0]
    accuracy = train.evaluate_classifier(model, result.state, splits.test)["accuracy"]
    assert accuracy > 0.2, history
