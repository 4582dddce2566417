"""Haiku image classifiers: LeNet-style, AlexNet-style and fully convolutional.

Every model maps images ``[N, H, W, C]`` (float, NHWC) to logits ``[N, classes]``
and is built with ``hk.transform_with_state`` so that the batch-norm variants
carry their moving statistics in ``model_state`` (an empty dict otherwise).
Dropout is applied only when ``is_training`` is true, so evaluation is
deterministic and needs no PRNG key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np

Params = Any
ModelState = Any
Array = jax.Array

#: Glorot (Xavier) initialisation, as in the original practical.
glorot_init = hk.initializers.VarianceScaling(1.0, "fan_avg", "truncated_normal")


def check_images(images: Any, *, min_size: int = 1, channels: int | None = None) -> None:
    """Raises a readable :class:`khipu.core.KhipuError` unless ``images`` is ``[N, H, W, C]``.

    Args:
      images: an array-like with a ``shape``.
      min_size: the smallest height / width the model can downsample.
      channels: the number of channels the model was built for (``None``: any).
    """
    shape = tuple(np.shape(images))
    if len(shape) != 4:
        hint = " (add a channel axis: images[..., None])" if len(shape) == 3 else ""
        raise kc.KhipuError(
            f"images must have shape [batch, height, width, channels], got shape {shape}{hint}"
        )
    _, height, width, chans = shape
    if height < min_size or width < min_size:
        raise kc.KhipuError(
            f"images of {height}x{width} are too small for this model (needs at least "
            f"{min_size}x{min_size})"
        )
    if channels is not None and chans != channels:
        raise kc.KhipuError(
            f"the model expects images with {channels} channel(s), got {chans} (shape {shape})"
        )


def max_pool(x: Any, *, window: int = 2, stride: int = 2, padding: str = "VALID") -> Array:
    """2-D max pooling of ``[H, W]``, ``[H, W, C]`` or ``[N, H, W, C]`` inputs.

    Window and stride apply to the two spatial axes only; the original
    practical's ``hk.MaxPool(..., strides=2)`` on a 2-D input pooled with stride
    1 instead (the integer stride was broadcast over the wrong axes).

    Args:
      x: the input; a ``[H, W]`` matrix is treated as one single-channel image.
      window: side of the square pooling window.
      stride: step between windows along height and width.
      padding: ``"VALID"`` (drop incomplete windows) or ``"SAME"``.

    Returns:
      The pooled array, with the same rank as ``x``.
    """
    x = jnp.asarray(x)
    if x.ndim not in (2, 3, 4):
        raise kc.KhipuError(f"max_pool expects [H, W], [H, W, C] or [N, H, W, C], got {x.shape}")
    if padding not in ("VALID", "SAME"):
        raise kc.KhipuError(f"padding must be 'VALID' or 'SAME', got {padding!r}")
    if window <= 0 or stride <= 0:
        raise kc.KhipuError(f"window and stride must be positive, got {window} and {stride}")
    expanded = {2: x[None, :, :, None], 3: x[None], 4: x}[x.ndim]
    pooled = hk.max_pool(
        expanded,
        window_shape=(1, window, window, 1),
        strides=(1, stride, stride, 1),
        padding=padding,
    )
    if x.ndim == 2:
        return pooled[0, :, :, 0]
    return pooled[0] if x.ndim == 3 else pooled


def conv2d(image: Any, kernel: Any, stride: int = 1) -> Array:
    """What one convolution layer computes (no bias), for one image, "VALID" padding.

    ``out[i, j, f] = Σ_{a, b, c} image[i·s + a, j·s + b, c] · kernel[a, b, c, f]``: each
    output channel ``f`` slides its ``[kh, kw, C_in]`` filter over the image and takes
    the dot product with the window under it. As in every deep-learning library the
    kernel is not flipped (mathematically a cross-correlation). Computed with
    ``jax.lax.conv_general_dilated``.

    Args:
      image: ``[H, W, C_in]``.
      kernel: ``[kh, kw, C_in, C_out]`` (Haiku's ``HWIO`` layout).
      stride: step between windows, along height and width.

    Returns:
      ``[(H − kh) // s + 1, (W − kw) // s + 1, C_out]``.
    """
    image, kernel = jnp.asarray(image), jnp.asarray(kernel)
    if image.ndim != 3 or kernel.ndim != 4 or image.shape[2] != kernel.shape[2]:
        raise kc.KhipuError(
            f"conv2d expects an image [H, W, C] and a kernel [kh, kw, C, F] with the same C, "
            f"got {image.shape} and {kernel.shape}"
        )
    out = jax.lax.conv_general_dilated(
        image[None],
        kernel,
        window_strides=(stride, stride),
        padding="VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    return out[0]


def to_channels_first(images: Any) -> Array:
    """``[N, H, W, C]`` (channels last: JAX, Haiku, TensorFlow) → ``[N, C, H, W]`` (PyTorch).

    A transpose, not a reshape: pixel ``(h, w)`` of channel ``c`` stays the same number.
    """
    images = jnp.asarray(images)
    if images.ndim != 4:
        raise kc.KhipuError(f"expected images [N, H, W, C], got shape {images.shape}")
    return jnp.transpose(images, (0, 3, 1, 2))


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output side of a convolution (or pooling) along one axis.

    ``⌊(size + 2·padding − kernel) / stride⌋ + 1``: the number of positions of
    a ``kernel``-wide window that fit in the padded input, moving ``stride`` at a
    time. ``padding`` is the number of zero pixels added on *each* side.

    Args:
      size: the input's height (or width).
      kernel: the window's side.
      stride: the step between windows.
      padding: zero pixels added on each side.
    """
    if size <= 0 or kernel <= 0 or stride <= 0 or padding < 0:
        raise kc.KhipuError(
            f"size, kernel and stride must be positive and padding non-negative, got "
            f"size={size}, kernel={kernel}, stride={stride}, padding={padding}"
        )
    if kernel > size + 2 * padding:
        raise kc.KhipuError(f"a {kernel}-wide kernel does not fit in {size} + 2·{padding} pixels")
    return (size + 2 * padding - kernel) // stride + 1


def receptive_field(layers: Sequence[tuple[int, int]]) -> list[int]:
    """Receptive field side after each of a stack of layers ``(kernel, stride)``.

    One output pixel of layer ``l`` sees ``r_l = r_{l-1} + (k_l − 1)·j_{l-1}``
    input pixels per side, where ``j`` (the product of the previous strides) is
    the distance, in input pixels, between neighbouring pixels of layer ``l − 1``.

    Returns:
      ``[r_1, ..., r_L]``.
    """
    r, jump, out = 1, 1, []
    for kernel, stride in layers:
        r += (kernel - 1) * jump
        jump *= stride
        out.append(r)
    return out


def dense_parameters(in_features: int, units: int) -> int:
    """Parameters of a fully-connected layer: ``in_features·units`` weights + ``units`` biases."""
    return in_features * units + units


def conv_parameters(kernel: int, in_channels: int, filters: int) -> int:
    """Parameters of a ``kernel``x``kernel`` convolution with biases.

    Each of the ``filters`` kernels has ``kernel·kernel·in_channels`` weights and one
    bias, shared over every position of the image (so the image size does not appear).
    """
    return kernel * kernel * in_channels * filters + filters


def global_average_pool(x: Array) -> Array:
    """``[N, H, W, C]`` → ``[N, C]``: the mean of each channel over the positions.

    The head of a fully convolutional net (extension task 1): no dense layer, so
    any image size gives one score per class.
    """
    return jnp.mean(x, axis=(1, 2))


def batch_norm(x: Array, eps: float = 1e-5) -> Array:
    """Batch normalisation of ``[N, H, W, C]`` features in training mode, without scale/offset.

    Each channel is normalised with the mean and (biased) variance over the batch and the
    positions, ``(x − μ_c) / √(σ²_c + eps)`` (extension task 2).
    """
    mean = jnp.mean(x, axis=(0, 1, 2), keepdims=True)
    var = jnp.var(x, axis=(0, 1, 2), keepdims=True)
    return (x - mean) / jnp.sqrt(var + eps)


def residual_block(
    x: Array, conv1: Callable[[Array], Array], conv2: Callable[[Array], Array]
) -> Array:
    """``relu(x + conv2(relu(conv1(x))))``: the residual block of extension task 3.

    The block learns a correction ``f(x)`` to add to its input; with ``f = 0``
    it is the identity, which is what lets very deep nets train.
    """
    return jax.nn.relu(x + conv2(jax.nn.relu(conv1(x))))


def filter_images(kernel: Any) -> np.ndarray:
    """A Haiku convolution kernel ``[kh, kw, C_in, F]`` as ``F`` images ``[F, kh, kw, C_in]``.

    Each filter is scaled to [0, 1] on its own (``(w − min) / (max − min)``), so
    its pattern is visible whatever its magnitude (extension task 4). A constant
    filter becomes all zeros.
    """
    w = np.transpose(np.asarray(kernel, np.float32), (3, 0, 1, 2))
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    hi = w.max(axis=(1, 2, 3), keepdims=True)
    out: np.ndarray = (w - lo) / np.maximum(hi - lo, 1e-12)
    return out


def _pool(x: Array, window: int = 2) -> Array:
    """Max pooling that halves height and width (SAME padding keeps odd sizes).

    A 2x2 window over an even ``[N, H, W, C]`` is a max over a reshape
    ``[N, H/2, 2, W/2, 2, C]``: the same values, and a gradient that is an element-wise
    mask instead of XLA's select-and-scatter, the slowest op of the LeNet step on a
    CPU (train step 1.62x faster, same run; the package README's "Performance").
    Where a window holds equal maxima the gradient is split among them rather than
    given to the first; after a ReLU such ties are zeros, whose gradient is zero.
    """
    n, h, w, c = x.shape
    if window == 2 and h % 2 == 0 and w % 2 == 0:
        return jnp.max(x.reshape(n, h // 2, 2, w // 2, 2, c), axis=(2, 4))
    return hk.max_pool(x, window_shape=(1, window, window, 1), strides=(1, 2, 2, 1), padding="SAME")


class ConvBlock(hk.Module):
    """Convolution, optional batch norm, then (optionally) ReLU."""

    def __init__(
        self,
        channels: int,
        *,
        kernel: int = 3,
        batch_norm: bool = False,
        activation: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.channels, self.kernel = channels, kernel
        self.batch_norm, self.activation = batch_norm, activation

    def __call__(self, x: Array, *, is_training: bool) -> Array:
        x = hk.Conv2D(
            self.channels,
            self.kernel,
            padding="SAME",
            w_init=glorot_init,
            with_bias=not self.batch_norm,
            name="conv",
        )(x)
        if self.batch_norm:
            x = hk.BatchNorm(True, True, decay_rate=0.9, name="bn")(x, is_training)
        return jax.nn.relu(x) if self.activation else x


class ResidualBlock(hk.Module):
    """Two 3x3 convolutions with an identity skip connection: ``relu(x + f(x))``.

    The practical's extension task 3 ("add a residual block"), in the style of
    He et al. (2016); the channel count is kept so the skip is an identity.
    """

    def __init__(self, channels: int, *, batch_norm: bool = False, name: str | None = None):
        super().__init__(name=name)
        self.channels, self.batch_norm = channels, batch_norm

    def __call__(self, x: Array, *, is_training: bool) -> Array:
        y = ConvBlock(self.channels, batch_norm=self.batch_norm, name="a")(
            x, is_training=is_training
        )
        y = ConvBlock(self.channels, batch_norm=self.batch_norm, activation=False, name="b")(
            y, is_training=is_training
        )
        return jax.nn.relu(x + y)


def _dropout(x: Array, rate: float, is_training: bool) -> Array:
    if is_training and rate > 0:
        return hk.dropout(hk.next_rng_key(), rate, x)
    return x


def _conv_stack(
    x: Array, channels: tuple[int, ...], batch_norm: bool, residual: bool, *, is_training: bool
) -> Array:
    """``conv{i}`` blocks (each optionally followed by ``res{i}``), each pooled by 2.

    Called inside a module's ``__call__``, so the parameters keep that module's names.
    """
    for i, c in enumerate(channels):
        x = ConvBlock(c, batch_norm=batch_norm, name=f"conv{i + 1}")(x, is_training=is_training)
        if residual:
            x = ResidualBlock(c, batch_norm=batch_norm, name=f"res{i + 1}")(
                x, is_training=is_training
            )
        x = _pool(x)
    return x


class LeNet(hk.Module):
    """A small LeNet-style CNN for 8x8 or 28x28 grey images.

    ``[conv 3x3 → (BN) → ReLU → (residual block) → max-pool /2] x len(channels)``,
    then flatten → dense ``hidden`` → ReLU → dropout → dense ``num_classes``.
    An 8x8 input becomes 4x4 then 2x2; a 28x28 input 14x14 then 7x7.
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        channels: Sequence[int] = (32, 64),
        hidden: int = 128,
        dropout_rate: float = 0.5,
        batch_norm: bool = False,
        residual: bool = False,
        name: str | None = "lenet",
    ) -> None:
        super().__init__(name=name)
        self.num_classes, self.channels, self.hidden = num_classes, tuple(channels), hidden
        self.dropout_rate, self.batch_norm, self.residual = dropout_rate, batch_norm, residual

    def __call__(self, images: Array, *, is_training: bool) -> Array:
        x = _conv_stack(
            images, self.channels, self.batch_norm, self.residual, is_training=is_training
        )
        x = hk.Flatten()(x)
        x = jax.nn.relu(hk.Linear(self.hidden, w_init=glorot_init, name="dense1")(x))
        x = _dropout(x, self.dropout_rate, is_training)
        return hk.Linear(self.num_classes, w_init=glorot_init, name="logits")(x)


class AlexNet(hk.Module):
    """The practical's mini-AlexNet for 32x32 colour images (5 conv + 3 dense layers).

    conv 48 → pool, conv 128 → pool, conv 192 → conv 192 → conv 128 → pool, then
    dense 1024 → dense 1024 → dense ``num_classes`` with dropout after each hidden
    dense layer. Every pool is 3x3 with stride 2, so 32x32 becomes 16, 8 and 4
    and the flattened features number 4·4·128 = 2,048: about 4 M parameters
    instead of the original's 136 M (whose stride-1 pools never downsampled).
    Unlike the original, every convolution is followed by a ReLU.
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        hidden: int = 1024,
        dropout_rate: float = 0.5,
        batch_norm: bool = False,
        residual: bool = False,
        name: str | None = "alexnet",
    ) -> None:
        super().__init__(name=name)
        self.num_classes, self.hidden, self.dropout_rate = num_classes, hidden, dropout_rate
        self.batch_norm, self.residual = batch_norm, residual

    def __call__(self, images: Array, *, is_training: bool) -> Array:
        bn = self.batch_norm
        x = ConvBlock(48, batch_norm=bn, name="conv1")(images, is_training=is_training)
        x = _pool(x, 3)
        x = ConvBlock(128, batch_norm=bn, name="conv2")(x, is_training=is_training)
        x = _pool(x, 3)
        x = ConvBlock(192, batch_norm=bn, name="conv3")(x, is_training=is_training)
        if self.residual:
            x = ResidualBlock(192, batch_norm=bn, name="res3")(x, is_training=is_training)
        else:
            x = ConvBlock(192, batch_norm=bn, name="conv4")(x, is_training=is_training)
        x = ConvBlock(128, batch_norm=bn, name="conv5")(x, is_training=is_training)
        x = _pool(x, 3)
        x = hk.Flatten()(x)
        for i in (1, 2):
            x = jax.nn.relu(hk.Linear(self.hidden, w_init=glorot_init, name=f"dense{i}")(x))
            x = _dropout(x, self.dropout_rate, is_training)
        return hk.Linear(self.num_classes, w_init=glorot_init, name="logits")(x)


class FullyConvNet(hk.Module):
    """A fully convolutional classifier (the practical's extension task 1).

    Conv stages as in :class:`LeNet`, then a 1x1 convolution to ``num_classes``
    channels and global average pooling: no dense layer, so any image size works
    and the parameter count does not grow with the image.
    """

    def __init__(
        self,
        num_classes: int = 10,
        *,
        channels: Sequence[int] = (32, 64),
        dropout_rate: float = 0.0,
        batch_norm: bool = False,
        residual: bool = False,
        name: str | None = "fcn",
    ) -> None:
        super().__init__(name=name)
        self.num_classes, self.channels, self.dropout_rate = (
            num_classes,
            tuple(channels),
            dropout_rate,
        )
        self.batch_norm, self.residual = batch_norm, residual

    def __call__(self, images: Array, *, is_training: bool) -> Array:
        x = _conv_stack(
            images, self.channels, self.batch_norm, self.residual, is_training=is_training
        )
        x = _dropout(x, self.dropout_rate, is_training)
        x = hk.Conv2D(self.num_classes, 1, w_init=glorot_init, name="classifier")(x)
        return jnp.mean(x, axis=(1, 2))


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to build one of the registered models.

    Attributes:
      name: registry name (``"lenet"``, ``"alexnet"``, ``"fcn"``).
      num_classes: size of the output layer.
      batch_norm: batch normalisation after every convolution (extension task 2).
      residual: add residual blocks (extension task 3).
      dropout_rate: dropout probability of the hidden dense layers (training only).
    """

    name: str
    num_classes: int = 10
    batch_norm: bool = False
    residual: bool = False
    dropout_rate: float = 0.5


_MODULES: dict[str, tuple[Callable[..., hk.Module], int, str]] = {
    "lenet": (LeNet, 4, "LeNet-style CNN for 8x8 / 28x28 grey images"),
    "alexnet": (AlexNet, 16, "the practical's mini-AlexNet for 32x32 colour images"),
    "fcn": (FullyConvNet, 4, "fully convolutional net with global average pooling"),
}


def available_models() -> dict[str, str]:
    """Model names with a one-line description each."""
    return {name: desc for name, (_, _, desc) in sorted(_MODULES.items())}


class Model(NamedTuple):
    """A built classifier: pure ``init`` / ``apply`` functions plus its spec.

    Attributes:
      spec: the :class:`ModelSpec` it was built from.
      init: ``init(key, images) -> (params, model_state)``.
      apply: ``apply(params, model_state, key, images, is_training) -> (logits, model_state)``;
        ``key`` may be ``None`` when ``is_training`` is false.
      min_size: the smallest image side the model accepts.
    """

    spec: ModelSpec
    init: Callable[[Any, Array], tuple[Params, ModelState]]
    apply: Callable[[Params, ModelState, Any, Array, bool], tuple[Array, ModelState]]
    min_size: int


def build_model(spec: ModelSpec | str, **overrides: Any) -> Model:
    """Builds a registered model as a pair of pure functions.

    Args:
      spec: a :class:`ModelSpec` or just a model name.
      **overrides: fields of :class:`ModelSpec` to set (``num_classes=...``).

    Raises:
      UnknownNameError: the model name is not registered (the message lists them).
      KhipuError: an invalid setting (no classes, dropout outside [0, 1)).
    """
    if isinstance(spec, str):
        spec = ModelSpec(spec)
    spec = dataclasses.replace(spec, **overrides)
    if spec.name not in _MODULES:
        raise kc.UnknownNameError("model", spec.name, list(_MODULES))
    if spec.num_classes < 2:
        raise kc.KhipuError(f"num_classes must be at least 2, got {spec.num_classes}")
    if not 0.0 <= spec.dropout_rate < 1.0:
        raise kc.KhipuError(f"dropout_rate must be in [0, 1), got {spec.dropout_rate}")
    module, min_size, _ = _MODULES[spec.name]

    def forward(images: Array, is_training: bool) -> Array:
        check_images(images, min_size=min_size)
        net = module(
            spec.num_classes,
            dropout_rate=spec.dropout_rate,
            batch_norm=spec.batch_norm,
            residual=spec.residual,
        )
        logits: Array = net(images, is_training=is_training)  # type: ignore[operator]
        return logits

    transformed = hk.transform_with_state(forward)

    def init(key: Any, images: Array) -> tuple[Params, ModelState]:
        params, state = transformed.init(kc.as_key(key), images, True)
        return params, state

    def apply(
        params: Params, state: ModelState, key: Any, images: Array, is_training: bool
    ) -> tuple[Array, ModelState]:
        if params:
            first = _first_kernel(params)
            check_images(images, min_size=min_size, channels=int(np.shape(first)[2]))
        logits, new_state = transformed.apply(params, state, key, images, is_training)
        return logits, new_state

    return Model(spec, init, apply, min_size)


def layer_parameter_counts(params: Params) -> dict[str, int]:
    """Parameters per Haiku layer (e.g. ``"lenet/~/conv1/~/conv": 320``), in model order."""
    return kc.parameter_counts(params)


def first_layer_filters(params: Params) -> np.ndarray:
    """The first convolution's kernels as ``[out_channels, kh, kw, in_channels]``."""
    return np.transpose(np.asarray(_first_kernel(params)), (3, 0, 1, 2))


def _first_kernel(params: Params) -> Any:
    # Pytree operations sort dict keys, so find the first layer by name, not position.
    kernels = {k: v["w"] for k, v in params.items() if np.ndim(v.get("w")) == 4}
    for name, w in kernels.items():
        if name.endswith("/conv1/conv"):
            return w
    if not kernels:
        raise kc.KhipuError("the parameters hold no convolution kernel")
    return next(iter(kernels.values()))


def feature_maps(
    model: Model, params: Params, model_state: ModelState, images: Any
) -> dict[str, np.ndarray]:
    """The output of every convolution block for ``images`` (evaluation mode).

    Runs the model with :func:`haiku.intercept_methods` recording what each
    ``ConvBlock`` (``conv1``, ``conv2``...) returns: the feature maps from the
    first layer's edges and colour blobs to the deeper layers' parts of shapes.

    Args:
      model: from :func:`build_model`.
      params, model_state: the trained parameters and state.
      images: ``[N, H, W, C]``.

    Returns:
      ``{"conv1": [N, H1, W1, C1], ...}`` in the order the blocks ran (the blocks
      inside a residual block as ``"res1/a"``, ``"res1/b"``).
    """
    check_images(images, min_size=model.min_size)
    spec = model.spec
    module, _, _ = _MODULES[spec.name]

    def forward(x: Array) -> dict[str, Array]:
        maps: dict[str, Array] = {}

        def record(method: Any, args: Any, kwargs: Any, context: Any) -> Any:
            out = method(*args, **kwargs)
            if isinstance(context.module, ConvBlock) and context.method_name == "__call__":
                path = context.module.module_name.split("/")[1:]  # drop the model's name
                maps["/".join(path)] = out
            return out

        net = module(
            spec.num_classes,
            dropout_rate=spec.dropout_rate,
            batch_norm=spec.batch_norm,
            residual=spec.residual,
        )
        with hk.intercept_methods(record):
            net(x, is_training=False)  # type: ignore[operator]
        return maps

    transformed = hk.transform_with_state(forward)
    maps, _ = transformed.apply(params, model_state, None, jnp.asarray(images, jnp.float32))
    return {name: np.asarray(value) for name, value in maps.items()}


def model_summary(model: Model, image_shape: tuple[int, ...], *, seed: int = 0) -> dict[str, int]:
    """Parameters per layer of ``model`` for images of ``image_shape`` (``(H, W, C)``).

    Shapes only: the parameters are traced with ``jax.eval_shape``, not allocated.
    """
    if len(image_shape) != 3:
        raise kc.KhipuError(f"image_shape must be (height, width, channels), got {image_shape}")
    check_images(np.zeros((1, *image_shape)), min_size=model.min_size)
    params, _ = jax.eval_shape(
        lambda: model.init(kc.as_key(seed), jnp.zeros((1, *image_shape), jnp.float32))
    )
    return layer_parameter_counts(params)
