"""The practical's exercises: reference answers and their checkers.

Each ``check_<name>`` is a :class:`khipu.core.exercises.Checker`: in the notebook,
``q_sample = check_q_sample(q_sample)`` prints one line and returns the student's
function when it is right, else the reference below. The checkers run the student's
code on the practical's own example, seeded random inputs and edge cases.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import khipu.core.exercises as _core_exercises
import numpy as np
from khipu.core.exercises import (
    Case,
    Checker,
    NotAttempted,
    choice_check,
    describe,
    function_check,
    mismatch,
)
from khipu.diffusion import models
from khipu.diffusion.toy import (
    gaussian_conditional as _gaussian_conditional,
    mixture_log_prob,
    practical_mixture,
)


def _student(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` under khipu-core's per-check time limit on the student's
    code, where the installed khipu-core has one."""
    limited = getattr(_core_exercises, "call_with_time_limit", None)
    return fn(*args, **kwargs) if limited is None else limited(fn, *args, **kwargs)


# --- references ---------------------------------------------------------------


def bayes_posterior(likelihoods: jax.Array, prior: jax.Array) -> jax.Array:
    """``p(y | x) = p(x | y) p(y) / Σ_y' p(x | y') p(y')`` for ``[K]`` likelihoods and prior."""
    joint = jnp.asarray(likelihoods) * jnp.asarray(prior)
    return joint / joint.sum()


def gaussian_conditional(
    mean: Any, cov: Any, x: float | None = None, y: float | None = None
) -> tuple[float, float]:
    """Mean and variance of ``p(y | x)`` (``x`` given) or ``p(x | y)`` (``y`` given) of a
    2-D Gaussian with ``mean`` ``[2]`` and ``cov`` ``[2, 2]``."""
    return _gaussian_conditional(mean, cov, x=x, y=y)


def log_density(x: jax.Array) -> jax.Array:
    """``log p(x)`` of the practical's Gaussian mixture at one point ``[2]``."""
    return mixture_log_prob(practical_mixture(), x)


def score_fn(x: jax.Array) -> jax.Array:
    """``∇ₓ log p(x)`` of the practical's mixture at one point ``[2]`` (``jax.grad``)."""
    grad: jax.Array = jax.grad(log_density)(jnp.asarray(x, jnp.float32))
    return grad


def linear_beta_schedule(timesteps: int) -> jax.Array:
    """``timesteps`` values of β from 1e-4 to 0.02, evenly spaced ``[T]``."""
    return jnp.linspace(0.0001, 0.02, timesteps)


def q_sample(x0: jax.Array, t: jax.Array, noise: jax.Array, betas: jax.Array) -> jax.Array:
    """``x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε`` with ``ᾱ_t = ∏_{s≤t} (1 − β_s)``.

    ``x0``, ``noise``: ``[B, ...]``; ``t``: ``[B]`` (0-indexed); ``betas``: ``[T]``.
    """
    abar = jnp.cumprod(1.0 - jnp.asarray(betas))[t]
    abar = abar.reshape((-1,) + (1,) * (jnp.ndim(x0) - 1))
    return jnp.sqrt(abar) * x0 + jnp.sqrt(1.0 - abar) * noise


def posterior_variance(betas: jax.Array) -> jax.Array:
    """``β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)`` for every t (``ᾱ_{−1} = 1``), ``[T]``."""
    betas = jnp.asarray(betas)
    abar = jnp.cumprod(1.0 - betas)
    abar_prev = jnp.concatenate([jnp.ones(1), abar[:-1]])
    return betas * (1.0 - abar_prev) / (1.0 - abar)


def ddpm_loss(
    eps_model: Callable[[jax.Array, jax.Array], jax.Array],
    x0: jax.Array,
    t: jax.Array,
    noise: jax.Array,
    betas: jax.Array,
) -> jax.Array:
    """``mean((ε − ε_θ(x_t, t))²)`` with ``x_t = q_sample(x0, t, ε)`` — on the batch given."""
    x_t = q_sample(x0, t, noise, betas)
    return jnp.mean((noise - eps_model(x_t, t)) ** 2)


def ddpm_step(x: jax.Array, t: int, eps: jax.Array, z: jax.Array, betas: jax.Array) -> jax.Array:
    """One step of Algorithm 2: ``x_{t−1} = (x − β_t ε / √(1 − ᾱ_t)) / √α_t + σ_t z`` with
    ``σ_t² = β̃_t`` (so no noise is added at ``t = 0``)."""
    betas = jnp.asarray(betas)
    abar = jnp.cumprod(1.0 - betas)
    mean = (x - betas[t] / jnp.sqrt(1.0 - abar[t]) * eps) / jnp.sqrt(1.0 - betas[t])
    return mean + jnp.sqrt(posterior_variance(betas)[t]) * z


def ddpm_step_beta(
    x: jax.Array, t: int, eps: jax.Array, z: jax.Array, betas: jax.Array
) -> jax.Array:
    """:func:`ddpm_step` with Ho et al.'s other choice ``σ_t² = β_t``; as Algorithm 2
    says, the last step (``t = 0``) adds no noise."""
    betas = jnp.asarray(betas)
    noise = z if t > 0 else jnp.zeros_like(z)
    return ddpm_step(x, t, eps, jnp.zeros_like(z), betas) + jnp.sqrt(betas[t]) * noise


def unet_up_path(
    h: jax.Array,
    skips: list[jax.Array],
    emb: jax.Array,
    blocks: Sequence[Sequence[models.Block]],
    upsample: Sequence[models.Resample | None],
) -> jax.Array:
    """The U-Net's way up (the package's :func:`khipu.diffusion.models.unet_up_path`):
    for each level from the lowest, each block on ``concat(h, skips.pop())``, then the
    level's up-sampling if it has one."""
    return models.unet_up_path(h, skips, emb, blocks, upsample)


def classifier_free_eps(cond: jax.Array, uncond: jax.Array, w: float) -> jax.Array:
    """Classifier-free guidance: ``(1 + w) ε_θ(x, t, y) − w ε_θ(x, t, ∅)``."""
    return (1.0 + w) * jnp.asarray(cond) - w * jnp.asarray(uncond)


def classifier_guided_eps(
    eps: jax.Array, grad_log_prob: jax.Array, alpha_bar_t: float, scale: float
) -> jax.Array:
    """Classifier guidance in ε-form: ``ε − s √(1 − ᾱ_t) ∇ₓ log p_φ(y | x_t)``."""
    return jnp.asarray(eps) - scale * jnp.sqrt(1.0 - alpha_bar_t) * jnp.asarray(grad_log_prob)


# --- inputs of the checks ---------------------------------------------------------


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _bayes_cases() -> Iterator[Case]:
    yield Case("two classes", (np.array([0.2, 0.6]), np.array([0.5, 0.5])))
    yield Case("unequal prior", (np.array([0.3, 0.1, 0.05]), np.array([0.1, 0.3, 0.6])))
    r = _rng(0)
    yield Case("random, 5 classes", (r.uniform(0.01, 1, 5), r.dirichlet(np.ones(5))))


def _score_cases() -> Iterator[Case]:
    yield Case("the practical's start (−1.6, 0.1)", (np.array([-1.6, 0.1], np.float32),))
    yield Case("near a mode", (np.array([0.8, 3.0], np.float32),))
    for i, p in enumerate(_rng(1).normal(scale=3.0, size=(3, 2)).astype(np.float32)):
        yield Case(f"random point {i}", (p,))


def _schedule_cases() -> Iterator[Case]:
    for t in (200, 1000, 7, 2):
        yield Case(f"T = {t}", (t,))


def _betas(t: int = 200) -> np.ndarray:
    return np.linspace(1e-4, 0.02, t).astype(np.float32)


def _q_sample_cases() -> Iterator[Case]:
    r = _rng(2)
    x0 = r.uniform(-1, 1, (4, 3, 3, 1)).astype(np.float32)
    noise = r.normal(size=x0.shape).astype(np.float32)
    yield Case("T = 200, t = [0, 9, 99, 199]", (x0, np.array([0, 9, 99, 199]), noise, _betas()))
    yield Case(
        "2-D points", (x0[:, :, 0, 0], np.array([5, 50, 150, 10]), noise[:, :, 0, 0], _betas())
    )


def _posterior_cases() -> Iterator[Case]:
    yield Case("linear, T = 200", (_betas(200),))
    yield Case("linear, T = 5", (_betas(5),))
    yield Case("random betas", (np.sort(_rng(3).uniform(0.01, 0.3, 12)).astype(np.float32),))


def _linear_model(x: jax.Array, t: jax.Array) -> jax.Array:
    """A stand-in ε_θ that depends on both its inputs."""
    return 0.5 * x + 0.01 * jnp.asarray(t, jnp.float32).reshape((-1,) + (1,) * (x.ndim - 1))


def _loss_cases() -> Iterator[Case]:
    r = _rng(4)
    for i in range(2):
        x0 = r.uniform(-1, 1, (6, 4, 4, 1)).astype(np.float32)
        noise = r.normal(size=x0.shape).astype(np.float32)
        t = r.integers(0, 200, 6)
        yield Case(f"batch {i}", (_linear_model, x0, t, noise, _betas()))


def _step_cases() -> Iterator[Case]:
    r = _rng(5)
    x = r.normal(size=(3, 2)).astype(np.float32)
    eps = r.normal(size=(3, 2)).astype(np.float32)
    z = r.normal(size=(3, 2)).astype(np.float32)
    for t in (199, 100, 1, 0):
        yield Case(f"t = {t}", (x, t, eps, z, _betas()))


def _conditional_cases() -> Iterator[Case]:
    m, c = np.array([0.8, 3.2]), np.array([[0.8, -0.8], [-0.8, 2.0]])
    pos = np.array([[2.0, 0.9], [0.9, 1.0]])
    yield Case("the practical's p(y | x = −0.8)", (m, c, -0.8, None))
    yield Case("the practical's p(x | y = 2)", (m, c, None, 2.0))
    yield Case("positive correlation, p(y | x = 1.5)", (np.zeros(2), pos, 1.5, None))
    yield Case("positive correlation, p(x | y = −1)", (np.array([1.0, -1.0]), pos, None, -1.0))


def _cfg_cases() -> Iterator[Case]:
    r = _rng(6)
    cond = r.normal(size=(2, 4, 4, 1)).astype(np.float32)
    uncond = r.normal(size=(2, 4, 4, 1)).astype(np.float32)
    for w in (0.0, 1.0, 2.0, 0.5):
        yield Case(f"w = {w}", (cond, uncond, w))


def _cg_cases() -> Iterator[Case]:
    r = _rng(7)
    eps = r.normal(size=(3, 4, 4, 1)).astype(np.float32)
    grad = r.normal(size=(3, 4, 4, 1)).astype(np.float32)
    for abar, scale in ((0.9, 1.0), (0.05, 3.0), (0.5, 0.0), (0.3, 10.0)):
        yield Case(f"ᾱ_t = {abar}, s = {scale}", (eps, grad, abar, scale))


_UP_PATH_CONFIG = models.DenoiserConfig(
    data_shape=(8, 8, 1), dim=8, dim_mults=(1, 2, 2), num_res_blocks=2, groups=4, num_classes=3
)
_UP_PATH_LABEL = "three levels of two blocks each"


@functools.cache
def _up_path_reference() -> tuple[Any, tuple[jax.Array, ...], np.ndarray]:
    """Random, non-zero parameters (no init compile: it is slow), inputs and the
    reference U-Net's output, computed once."""
    reference = models.build_denoiser(_UP_PATH_CONFIG)
    rng = _rng(100)
    shapes = jax.eval_shape(reference.init, jax.random.key(0))
    params = jax.tree.map(lambda s: jnp.asarray(0.2 * rng.normal(size=s.shape), s.dtype), shapes)
    x = jnp.asarray(rng.normal(size=(2, *_UP_PATH_CONFIG.data_shape)), jnp.float32)
    inputs = (x, jnp.array([3, 700]), jnp.array([0, 2]))
    expected = np.asarray(jax.jit(reference.transformed.apply)(params, *inputs))
    return params, inputs, expected


def _judge_up_path(student: Any) -> str | None:
    """Runs a U-Net whose way up is ``student`` with the reference U-Net's (random,
    non-zero) parameters: the same blocks called in the same way give the same output;
    a missing skip, a wrong order or a missing up-sampling changes a shape or a value."""
    if not callable(student):
        return f"expected a function, got {describe(student)}"
    params, inputs, expected = _up_path_reference()
    try:
        answer = models.build_denoiser(_UP_PATH_CONFIG, up_path=student)
        # the student's code runs while tracing (timed); XLA's compilation is not theirs
        lowered = _student(jax.jit(answer.transformed.apply).lower, params, *inputs)
        got = lowered.compile()(params, *inputs)
    except (NotImplementedError, NotAttempted):
        raise
    except Exception as exc:
        text = " ".join(str(exc).split())[:140]
        return f"on a U-Net with {_UP_PATH_LABEL} it raised {type(exc).__name__}: {text}"
    if (why := mismatch(expected, got, rtol=1e-4, atol=1e-5)) is not None:
        return f"on a U-Net with {_UP_PATH_LABEL}, the output differs: {why}"
    return None


def _judge_ddpm_step(student: Any) -> str | None:
    """Accepts σ_t² = β̃_t or σ_t² = β_t (both in Ho et al.), the same choice at every t."""
    if not callable(student):
        return f"expected a function, got {describe(student)}"
    fits = {"β̃": True, "β": True}
    for case in _step_cases():
        try:
            got = _student(student, *case.args)
        except (NotImplementedError, NotAttempted):
            raise
        except Exception as exc:
            return f"on {case.label} it raised {type(exc).__name__}"
        if got is Ellipsis:
            raise NotAttempted
        for name, ref in (("β̃", ddpm_step), ("β", ddpm_step_beta)):
            if fits[name] and mismatch(ref(*case.args), got, rtol=1e-4, atol=1e-5) is not None:
                fits[name] = False
        if not any(fits.values()):
            want = describe(np.asarray(ddpm_step(*case.args)))
            alt = describe(np.asarray(ddpm_step_beta(*case.args)))
            return (
                f"on {case.label}: expected {want} (σ² = β̃_t) or {alt} (σ² = β_t), "
                f"got {describe(got)}"
            )
    return None


# the judges above time only the student's own calls (core's convention)
_judge_up_path.times_the_student = True  # type: ignore[attr-defined]
_judge_ddpm_step.times_the_student = True  # type: ignore[attr-defined]

# --- checkers -----------------------------------------------------------------------

check_gaussian_conditional = function_check(
    "gaussian_conditional",
    gaussian_conditional,
    _conditional_cases,
    rtol=1e-5,
    atol=1e-6,
    hint=(
        "given x: mean μ_y + Σ_yx / Σ_xx · (x − μ_x), variance Σ_yy − Σ_yx Σ_xy / Σ_xx; "
        "given y swap the roles; return (mean, variance)"
    ),
)
check_unet_up_path = Checker(
    "unet_up_path",
    _judge_up_path,
    unet_up_path,
    hint=(
        "for level in reversed(range(len(blocks))): for block in blocks[level]: "
        "h = block(jnp.concatenate([h, skips.pop()], axis=-1), emb); then h = "
        "upsample[level](h) unless it is None"
    ),
)
check_classifier_free_eps = function_check(
    "classifier_free_eps",
    classifier_free_eps,
    _cfg_cases,
    rtol=1e-5,
    atol=1e-6,
    hint="(1 + w) · cond − w · uncond (w = 0 is the plain conditional model)",
)
check_classifier_guided_eps = function_check(
    "classifier_guided_eps",
    classifier_guided_eps,
    _cg_cases,
    rtol=1e-5,
    atol=1e-5,
    hint="ε − s · √(1 − ᾱ_t) · ∇ log p(y | x_t): minus, since ε points away from the data",
)

check_bayes_posterior = function_check(
    "bayes_posterior",
    bayes_posterior,
    _bayes_cases,
    hint="multiply likelihood and prior, then divide by their sum over the classes (sum rule)",
)
check_score_fn = function_check(
    "score_fn",
    score_fn,
    _score_cases,
    rtol=1e-3,
    atol=1e-4,
    hint="jax.grad of log_density (the log of p, not p itself)",
)
check_linear_beta_schedule = function_check(
    "linear_beta_schedule",
    linear_beta_schedule,
    _schedule_cases,
    hint="jnp.linspace(0.0001, 0.02, timesteps)",
)
check_q_sample = function_check(
    "q_sample",
    q_sample,
    _q_sample_cases,
    rtol=1e-4,
    atol=1e-5,
    hint="ᾱ_t is the cumulative product of 1 − β up to t; use the square roots of ᾱ_t and 1 − ᾱ_t",
)
check_posterior_variance = function_check(
    "posterior_variance",
    posterior_variance,
    _posterior_cases,
    rtol=1e-4,
    atol=1e-8,
    hint="β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t), with ᾱ_{−1} = 1 so β̃_0 = 0",
)
check_ddpm_loss = function_check(
    "ddpm_loss",
    ddpm_loss,
    _loss_cases,
    rtol=1e-4,
    atol=1e-5,
    hint="noise x0 with q_sample, feed x_t (not x0) and t to the model, compare with the noise",
)
check_ddpm_step = Checker(
    "ddpm_step",
    _judge_ddpm_step,
    ddpm_step,
    hint=(
        "divide by √α_t (not √ᾱ_t) and add σ_t · z with σ_t² = β̃_t or β_t; "
        "no noise at the last step (t = 0)"
    ),
)

CHECKERS = (
    check_bayes_posterior,
    check_gaussian_conditional,
    check_score_fn,
    check_linear_beta_schedule,
    check_q_sample,
    check_posterior_variance,
    check_unet_up_path,
    check_ddpm_loss,
    check_ddpm_step,
    check_classifier_guided_eps,
    check_classifier_free_eps,
)

# --- quizzes --------------------------------------------------------------------------

quiz_score_normaliser = choice_check(
    "score_normaliser",
    "p_θ(x) = exp(f_θ(x)) / Z_θ. Why can a network learn the score ∇ₓ log p_θ(x) without Z_θ?",
    [
        "Z_θ is always 1 for neural networks",
        "log Z_θ does not depend on x, so its gradient with respect to x is zero",
        "the score is only needed at the data points, where Z_θ cancels",
        "Z_θ is estimated by Monte Carlo during training",
    ],
    "b",
    "∇ₓ log p_θ(x) = ∇ₓ f_θ(x) − ∇ₓ log Z_θ and the last term is 0: the normalising "
    "constant, the hard part of p_θ(x), drops out of the score.",
)
quiz_skip_connections = choice_check(
    "skip_connections",
    "What do the U-Net's skip connections give the way up?",
    [
        "fewer parameters than an autoencoder of the same depth",
        "the fine, high-resolution detail of x_t that the bottleneck has thrown away, "
        "and short paths for the gradient",
        "the time embedding, which the bottleneck does not receive",
        "a way to skip the noisy time steps during training",
    ],
    "b",
    "The bottleneck is coarse (2×2 or 4×4 here); concatenating the way down's features "
    "at each resolution lets the output be exact at the pixel level, and the short paths "
    "help the gradient flow (as in ResNets).",
)
quiz_simple_loss = choice_check(
    "simple_loss",
    "Ho et al.'s loss ‖ε − ε_θ(x_t, t)‖² with t uniform, compared with the variational bound:",
    [
        "it is exactly the bound, simplified",
        "it is the bound with each time step's term reweighted (λ_t = 1 instead of "
        "β_t² / (2σ_t² α_t (1 − ᾱ_t))): a different objective with the same minimiser "
        "for a perfect model",
        "it is a lower bound on the bound",
        "it ignores the forward process",
    ],
    "b",
    "Each KL term is λ_t ‖ε − ε_θ‖² + const; dropping λ_t reweights the terms (small t "
    "count less than in the bound). It no longer bounds log p, but every term is still "
    "minimised by the true noise prediction, and samples are better.",
)
quiz_guidance_weight = choice_check(
    "guidance_weight",
    "With ε̂ = (1 + w) ε_θ(x, t, y) − w ε_θ(x, t, ∅), what does w = 0 sample from?",
    [
        "the unconditional model p(x)",
        "the conditional model p(x | y), unguided",
        "p(x | y) with the classifier term doubled",
        "nothing: w must be positive",
    ],
    "b",
    "w = 0 leaves ε_θ(x, t, y), the conditional model; w > 0 adds w times the implicit "
    "classifier's gradient ∇ log p(y | x) (γ = 1 + w in the original's notation; γ = 0 "
    "would be the unconditional model).",
)
QUIZZES = (quiz_score_normaliser, quiz_skip_connections, quiz_simple_loss, quiz_guidance_weight)

__all__ = [
    "CHECKERS",
    "QUIZZES",
    "bayes_posterior",
    "check_bayes_posterior",
    "check_classifier_free_eps",
    "check_classifier_guided_eps",
    "check_ddpm_loss",
    "check_ddpm_step",
    "check_gaussian_conditional",
    "check_linear_beta_schedule",
    "check_posterior_variance",
    "check_q_sample",
    "check_score_fn",
    "check_unet_up_path",
    "classifier_free_eps",
    "classifier_guided_eps",
    "ddpm_loss",
    "ddpm_step",
    "ddpm_step_beta",
    "gaussian_conditional",
    "linear_beta_schedule",
    "log_density",
    "posterior_variance",
    "q_sample",
    "quiz_guidance_weight",
    "quiz_score_normaliser",
    "quiz_simple_loss",
    "quiz_skip_connections",
    "score_fn",
    "unet_up_path",
]
