"""Sampling: DDPM ancestral sampling (Ho et al. 2020, Algorithm 2) and DDIM
(Song et al. 2021, deterministic, any number of steps), with classifier-free guidance.

Each sampler is one ``jax.lax.scan`` over the time steps inside one ``jax.jit``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from khipu.core.errors import KhipuError
from khipu.core.random import PRNGKey
from khipu.diffusion.guidance import NoisyClassifier, check_classifier_args, classifier_guided_eps
from khipu.diffusion.models import Denoiser
from khipu.diffusion.schedules import Schedule

EpsFn = Callable[[jax.Array, jax.Array], jax.Array]
"""``eps_fn(x_t [B, ...], t [B]) -> ε̂ [B, ...]``."""


class Samples(NamedTuple):
    """What a sampler returns.

    Attributes:
      x: the final samples ``[B, ...]``.
      trajectory: ``[S + 1, B, ...]`` — ``x_T`` then the state after each of the
        ``S`` steps (``None`` unless asked for).
      timesteps: the time indices visited ``[S]`` (descending).
    """

    x: jax.Array
    trajectory: jax.Array | None
    timesteps: np.ndarray


def guided_eps(denoiser: Denoiser, params: Any, labels: jax.Array | None, guidance: float) -> EpsFn:
    """The noise prediction used for sampling.

    Unconditional models (or ``labels is None``) use ``ε_θ(x, t)``. With labels, the
    classifier-free-guided prediction ``(1 + w) ε_θ(x, t, y) − w ε_θ(x, t, ∅)``
    (Ho & Salimans 2022; ``w = 0``: plain conditional), both halves in one batch.
    """
    if labels is None or guidance == 0.0:

        def eps(x: jax.Array, t: jax.Array) -> jax.Array:
            return denoiser.apply(params, x, t, labels)

        return eps
    null = jnp.full_like(labels, denoiser.config.num_classes or 0)

    def guided(x: jax.Array, t: jax.Array) -> jax.Array:
        both = denoiser.apply(
            params,
            jnp.concatenate([x, x]),
            jnp.concatenate([t, t]),
            jnp.concatenate([labels, null]),
        )
        cond, uncond = jnp.split(both, 2)
        return (1.0 + guidance) * cond - guidance * uncond

    return guided


def check_sampling_args(
    denoiser: Denoiser, labels: Any, guidance: float, num_samples: int
) -> jax.Array | None:
    """Validates labels and guidance; returns the labels as ``[B]`` int32 (or ``None``).

    Raises:
      KhipuError: guidance or labels for an unconditional model, labels of the
        wrong count or range, a negative guidance weight, no samples.
    """
    if num_samples <= 0:
        raise KhipuError(f"the number of samples must be positive, got {num_samples}")
    k = denoiser.config.num_classes
    if guidance < 0 or not np.isfinite(guidance):
        raise KhipuError(f"guidance weight must be a non-negative number, got {guidance}")
    if k is None:
        if guidance != 0.0:
            raise KhipuError("guidance needs a conditional model (train with --conditional)")
        if labels is not None:
            raise KhipuError("labels given to an unconditional model")
        return None
    if labels is None:
        if guidance != 0.0:
            raise KhipuError("guidance needs labels to guide towards")
        return None
    arr = np.asarray(labels)
    if arr.shape != (num_samples,):
        raise KhipuError(f"need one label per sample ({num_samples}), got shape {arr.shape}")
    if arr.min() < 0 or arr.max() >= k:
        raise KhipuError(f"labels must lie in [0, {k}), got {arr.min()}..{arr.max()}")
    return jnp.asarray(arr, jnp.int32)


def _eps_fn(
    denoiser: Denoiser,
    params: Any,
    schedule: Schedule,
    labels: jax.Array | None,
    guidance: float,
    clf_params: Any,
    clf_classes: int | None,
    clf_scale: float,
) -> EpsFn:
    """Classifier guidance when a classifier is given, else :func:`guided_eps`."""
    if clf_classes is None or labels is None:
        return guided_eps(denoiser, params, labels, guidance)
    return classifier_guided_eps(
        denoiser, params, schedule, clf_params, clf_classes, labels, clf_scale
    )


_STATIC = ("denoiser", "guidance", "shape", "trajectory", "clip", "clf_classes", "clf_scale")


def _labels(
    denoiser: Denoiser,
    labels: Any,
    guidance: float,
    num_samples: int,
    classifier: NoisyClassifier | None,
    scale: float,
) -> tuple[jax.Array | None, NoisyClassifier | None]:
    if classifier is None:
        return check_sampling_args(denoiser, labels, guidance, num_samples), None
    lab = check_classifier_args(denoiser, classifier, labels, scale, guidance, num_samples)
    return lab, classifier


@functools.partial(jax.jit, static_argnames=_STATIC)
def _ddpm(
    denoiser: Denoiser,
    params: Any,
    schedule: Schedule,
    key: PRNGKey,
    labels: jax.Array | None,
    guidance: float,
    clf_params: Any = None,
    *,
    shape: tuple[int, ...],
    trajectory: bool,
    clip: float | None,
    clf_classes: int | None = None,
    clf_scale: float = 0.0,
) -> tuple[jax.Array, jax.Array | None]:
    eps_fn = _eps_fn(
        denoiser, params, schedule, labels, guidance, clf_params, clf_classes, clf_scale
    )
    k_init, k_steps = jax.random.split(key)
    x_t = jax.random.normal(k_init, shape)
    steps = schedule.num_steps
    ts = jnp.arange(steps - 1, -1, -1)

    def body(x: jax.Array, inputs: tuple[jax.Array, PRNGKey]) -> tuple[jax.Array, jax.Array]:
        t_scalar, k = inputs
        t = jnp.full((shape[0],), t_scalar)
        eps = eps_fn(x, t)
        if clip is None:  # Algorithm 2: μ = (x − β_t ε / √(1 − ᾱ_t)) / √α_t
            coef = schedule.betas[t_scalar] / schedule.sqrt_one_minus_alphas_cumprod[t_scalar]
            mean = schedule.sqrt_recip_alphas[t_scalar] * (x - coef * eps)
        else:  # the same mean through x̂_0, clipped to the data range
            x0 = (x - schedule.sqrt_one_minus_alphas_cumprod[t_scalar] * eps) / (
                schedule.sqrt_alphas_cumprod[t_scalar]
            )
            x0 = jnp.clip(x0, -clip, clip)
            mean = (
                schedule.posterior_mean_coef1[t_scalar] * x0
                + schedule.posterior_mean_coef2[t_scalar] * x
            )
        # σ_t² = β̃_t (zero at t = 0: the last step adds no noise)
        sigma = jnp.sqrt(schedule.posterior_variance[t_scalar])
        x = mean + sigma * jax.random.normal(k, shape)
        return x, (x if trajectory else jnp.zeros(()))

    x0, path = jax.lax.scan(body, x_t, (ts, jax.random.split(k_steps, steps)))
    return x0, (jnp.concatenate([x_t[None], path]) if trajectory else None)


def ddpm_sample(
    denoiser: Denoiser,
    params: Any,
    schedule: Schedule,
    key: PRNGKey,
    num_samples: int,
    *,
    labels: Any = None,
    guidance: float = 0.0,
    trajectory: bool = False,
    clip: float | None = None,
    classifier: NoisyClassifier | None = None,
    classifier_scale: float = 1.0,
) -> Samples:
    """DDPM ancestral sampling over all ``T`` steps (Algorithm 2, ``σ_t² = β̃_t``).

    Args:
      denoiser, params: the trained noise predictor.
      schedule: the schedule it was trained with.
      key: PRNG key (same key, same samples).
      num_samples: ``B``.
      labels: ``[B]`` class labels (conditional models; ``None``: unconditional).
      guidance: classifier-free guidance weight ``w`` (needs labels).
      trajectory: also return every intermediate ``x_t``.
      clip: clip the predicted ``x̂_0`` to ``[−clip, clip]`` (``1.0`` for images in
        [−1, 1]); ``None`` follows Algorithm 2 exactly.
      classifier: a noise-conditional classifier for *classifier guidance* towards
        ``labels`` (the model's unconditional prediction plus the classifier's
        gradient, see :mod:`khipu.diffusion.guidance`); then ``guidance`` must be 0.
      classifier_scale: the classifier guidance scale ``s``.

    Returns:
      :class:`Samples` with ``x`` ``[B, *data_shape]``.
    """
    lab, clf = _labels(denoiser, labels, guidance, num_samples, classifier, classifier_scale)
    shape = (num_samples, *denoiser.config.data_shape)
    x, path = _ddpm(
        denoiser,
        params,
        schedule,
        key,
        lab,
        float(guidance),
        None if clf is None else clf.params,
        shape=shape,
        trajectory=trajectory,
        clip=clip,
        clf_classes=None if clf is None else clf.num_classes,
        clf_scale=float(classifier_scale),
    )
    return Samples(x, path, np.arange(schedule.num_steps - 1, -1, -1))


def ddim_timesteps(num_train_steps: int, num_steps: int) -> np.ndarray:
    """``num_steps`` time indices evenly spread over ``[0, T)``, descending, ending at 0.

    Raises:
      KhipuError: ``num_steps`` not in ``[1, T]``.
    """
    if not 1 <= num_steps <= num_train_steps:
        raise KhipuError(
            f"DDIM steps must be between 1 and the model's T = {num_train_steps}, got {num_steps}"
        )
    ts = np.unique(np.round(np.linspace(0, num_train_steps - 1, num_steps)).astype(np.int32))
    return ts[::-1].copy()


@functools.partial(jax.jit, static_argnames=_STATIC)
def _ddim(
    denoiser: Denoiser,
    params: Any,
    schedule: Schedule,
    key: PRNGKey,
    labels: jax.Array | None,
    guidance: float,
    ts: jax.Array,
    ts_prev: jax.Array,
    clf_params: Any = None,
    *,
    shape: tuple[int, ...],
    trajectory: bool,
    clip: float | None,
    clf_classes: int | None = None,
    clf_scale: float = 0.0,
) -> tuple[jax.Array, jax.Array | None]:
    eps_fn = _eps_fn(
        denoiser, params, schedule, labels, guidance, clf_params, clf_classes, clf_scale
    )
    x_t = jax.random.normal(key, shape)

    def body(x: jax.Array, inputs: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        t_scalar, t_prev = inputs
        eps = eps_fn(x, jnp.full((shape[0],), t_scalar))
        abar = schedule.alphas_cumprod[t_scalar]
        abar_prev = jnp.where(t_prev >= 0, schedule.alphas_cumprod[jnp.maximum(t_prev, 0)], 1.0)
        x0 = (x - jnp.sqrt(1.0 - abar) * eps) / jnp.sqrt(abar)
        if clip is not None:
            x0 = jnp.clip(x0, -clip, clip)
            eps = (x - jnp.sqrt(abar) * x0) / jnp.sqrt(1.0 - abar)
        x = jnp.sqrt(abar_prev) * x0 + jnp.sqrt(1.0 - abar_prev) * eps
        return x, (x if trajectory else jnp.zeros(()))

    x0, path = jax.lax.scan(body, x_t, (ts, ts_prev))
    return x0, (jnp.concatenate([x_t[None], path]) if trajectory else None)


def ddim_sample(
    denoiser: Denoiser,
    params: Any,
    schedule: Schedule,
    key: PRNGKey,
    num_samples: int,
    *,
    steps: int = 50,
    labels: Any = None,
    guidance: float = 0.0,
    trajectory: bool = False,
    clip: float | None = None,
    classifier: NoisyClassifier | None = None,
    classifier_scale: float = 1.0,
) -> Samples:
    """Deterministic DDIM sampling (η = 0) on ``steps`` of the ``T`` time steps.

    ``x_{t'} = √ᾱ_{t'} x̂_0 + √(1 − ᾱ_{t'}) ε̂`` with ``x̂_0 = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t``;
    the only randomness is ``x_T``. Arguments as in :func:`ddpm_sample`.

    Returns:
      :class:`Samples` with ``x`` ``[B, *data_shape]``.
    """
    lab, clf = _labels(denoiser, labels, guidance, num_samples, classifier, classifier_scale)
    ts = ddim_timesteps(schedule.num_steps, steps)
    ts_prev = np.concatenate([ts[1:], [-1]]).astype(np.int32)
    shape = (num_samples, *denoiser.config.data_shape)
    x, path = _ddim(
        denoiser,
        params,
        schedule,
        key,
        lab,
        float(guidance),
        jnp.asarray(ts),
        jnp.asarray(ts_prev),
        None if clf is None else clf.params,
        shape=shape,
        trajectory=trajectory,
        clip=clip,
        clf_classes=None if clf is None else clf.num_classes,
        clf_scale=float(classifier_scale),
    )
    return Samples(x, path, ts)


def sample(
    sampler: str,
    denoiser: Denoiser,
    params: Any,
    schedule: Schedule,
    key: PRNGKey,
    num_samples: int,
    *,
    steps: int | None = None,
    **kwargs: Any,
) -> Samples:
    """:func:`ddpm_sample` (``sampler="ddpm"``, all ``T`` steps) or :func:`ddim_sample`.

    Raises:
      UnknownNameError: unknown sampler.
      KhipuError: ``steps`` given for DDPM with a value other than ``T``.
    """
    from khipu.core.errors import UnknownNameError

    if sampler == "ddpm":
        if steps is not None and steps != schedule.num_steps:
            raise KhipuError(
                f"DDPM runs all T = {schedule.num_steps} steps; use --sampler ddim for {steps}"
            )
        return ddpm_sample(denoiser, params, schedule, key, num_samples, **kwargs)
    if sampler == "ddim":
        return ddim_sample(
            denoiser, params, schedule, key, num_samples, steps=steps or 50, **kwargs
        )
    raise UnknownNameError("sampler", sampler, ("ddim", "ddpm"))
