"""Optax and Haiku on the smallest problem there is: linear regression.

Synthetic data ``y = w·x + b + noise`` with the practical's true values
``w = 0.4``, ``b = -0.2`` and noise standard deviation 0.05. The fit runs as
one jitted ``lax.while_loop`` that stops when the gradient norm falls below a
tolerance or after ``max_steps`` updates, with any optax optimizer by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
from khipu.cnn.optim import make_optimizer

__all__ = [
    "NOISE_STD",
    "TRUE_B",
    "TRUE_W",
    "LinearModel",
    "MinimizeResult",
    "Params",
    "RegressionFit",
    "fit_haiku_regression",
    "fit_linear_regression",
    "haiku_linear_model",
    "least_squares",
    "linear_predict",
    "make_linear_data",
    "minimize",
    "mse",
    "mse_gradient",
    "plot_regression",
]

Params = Any
TRUE_W = 0.4
TRUE_B = -0.2
NOISE_STD = 0.05


def make_linear_data(
    *,
    w: float = TRUE_W,
    b: float = TRUE_B,
    num_samples: int = 100,
    noise_std: float = NOISE_STD,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``x ~ U[0, 1)`` and ``y = w·x + b + N(0, noise_std²)``.

    Returns:
      ``x`` of shape ``[num_samples, 1]`` and ``y`` of shape ``[num_samples]`` (float32).
    """
    if num_samples < 2:
        raise kc.KhipuError(f"num_samples must be at least 2, got {num_samples}")
    if noise_std < 0:
        raise kc.KhipuError(f"noise_std must be non-negative, got {noise_std}")
    k1, k2 = jax.random.split(kc.as_key(seed))
    x = jax.random.uniform(k1, (num_samples, 1))
    y = w * x[:, 0] + b + noise_std * jax.random.normal(k2, (num_samples,))
    return np.asarray(x, np.float32), np.asarray(y, np.float32)


def linear_predict(params: Params, x: jax.Array) -> jax.Array:
    """``x @ w + b`` for ``params = {"w": [D], "b": []}`` and ``x`` ``[N, D]`` → ``[N]``."""
    out: jax.Array = x @ params["w"] + params["b"]
    return out


def mse(predictions: jax.Array, y: jax.Array) -> jax.Array:
    """Mean squared error."""
    return jnp.mean((predictions - y) ** 2)


def mse_gradient(params: Params, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The MSE gradient written out by hand (the 2022 practical's manual gradient):
    ``dL/dw = 2/N · xᵀ(xw + b − y)`` and ``dL/db = 2/N · Σ(xw + b − y)``."""
    residual = np.asarray(x) @ np.asarray(params["w"]) + np.asarray(params["b"]) - y
    n = len(y)
    return {"w": 2.0 / n * np.asarray(x).T @ residual, "b": 2.0 / n * residual.sum()}


def least_squares(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """The closed-form fit ``(w, b)`` (NumPy ``lstsq``), the reference for gradient descent."""
    design = np.concatenate([np.asarray(x, np.float64), np.ones((len(x), 1))], axis=1)
    coef, *_ = np.linalg.lstsq(design, np.asarray(y, np.float64), rcond=None)
    return coef[:-1], float(coef[-1])


class MinimizeResult(NamedTuple):
    """What :func:`minimize` returns.

    Attributes:
      params: the final parameters.
      losses: loss before each update, ``[steps]``.
      grad_norms: global gradient norm before each update, ``[steps]``.
      steps: number of updates applied.
      converged: whether the gradient norm fell below the tolerance.
    """

    params: Params
    losses: np.ndarray
    grad_norms: np.ndarray
    steps: int
    converged: bool


def minimize(
    loss_fn: Callable[[Params], jax.Array],
    params: Params,
    optimizer: optax.GradientTransformationExtraArgs,
    *,
    tolerance: float = 1e-4,
    max_steps: int = 1000,
) -> MinimizeResult:
    """Gradient-based minimisation until ``‖∇loss‖ < tolerance`` or ``max_steps`` updates.

    The whole loop is one jitted ``lax.while_loop``; losses and gradient norms
    are written into preallocated buffers.

    Raises:
      NonFiniteLossError: the loss diverged (try a smaller learning rate).
    """
    if max_steps <= 0:
        raise kc.KhipuError(f"max_steps must be positive, got {max_steps}")
    if not tolerance > 0:
        raise kc.KhipuError(f"tolerance must be positive, got {tolerance}")
    value_and_grad = jax.value_and_grad(loss_fn)

    def cond(carry: tuple[Any, ...]) -> jax.Array:
        _, _, step, norm, loss, *_ = carry
        keep_going: jax.Array = (step < max_steps) & (norm >= tolerance) & jnp.isfinite(loss)
        return keep_going

    def body(carry: tuple[Any, ...]) -> tuple[Any, ...]:
        p, opt_state, step, _, _, losses, norms = carry
        loss, grads = value_and_grad(p)
        norm = optax.tree.norm(grads)
        updates, opt_state = optimizer.update(
            grads, opt_state, p, value=loss, grad=grads, value_fn=loss_fn
        )
        converged = norm < tolerance
        p = jax.tree.map(lambda a, u: jnp.where(converged, a, a + u), p, updates)
        losses, norms = losses.at[step].set(loss), norms.at[step].set(norm)
        return p, opt_state, step + jnp.where(converged, 0, 1), norm, loss, losses, norms

    @jax.jit
    def run(p: Params) -> tuple[Any, ...]:
        buf = jnp.full((max_steps,), jnp.nan, jnp.float32)
        init = (
            p,
            optimizer.init(p),
            jnp.int32(0),
            jnp.float32(jnp.inf),
            jnp.float32(0.0),
            buf,
            buf,
        )
        return jax.lax.while_loop(cond, body, init)

    p, _, step, norm, loss, losses, norms = run(params)
    steps = int(step)
    if not np.isfinite(float(loss)):
        raise kc.NonFiniteLossError(
            f"the loss became {float(loss)} at step {steps}; try a smaller learning rate"
        )
    return MinimizeResult(
        p, np.asarray(losses[:steps]), np.asarray(norms[:steps]), steps, bool(norm < tolerance)
    )


class RegressionFit(NamedTuple):
    """A fitted linear model.

    Attributes:
      w, b: the fitted slope and intercept.
      final_loss: MSE at the returned parameters.
      result: the optimisation trace (:class:`MinimizeResult`).
    """

    w: float
    b: float
    final_loss: float
    result: MinimizeResult


def fit_linear_regression(
    x: np.ndarray,
    y: np.ndarray,
    *,
    optimizer: str = "sgd",
    learning_rate: float = 0.1,
    tolerance: float = 1e-4,
    max_steps: int = 1000,
) -> RegressionFit:
    """Fits ``y ≈ x·w + b`` from ``w = 0``, ``b = 1`` with ``optax.<optimizer>``.

    Args:
      x: inputs ``[N, 1]``; y: targets ``[N]``.
      optimizer: any optax optimizer name (``"sgd"``, ``"adam"``, ``"lbfgs"``...).
      learning_rate: its step size.
      tolerance: stop when the gradient norm falls below it.
      max_steps: at most this many updates.
    """
    xs, ys = _check_xy(x, y)
    opt = make_optimizer(optimizer, learning_rate)
    params = {"w": jnp.zeros((xs.shape[1],), jnp.float32), "b": jnp.ones((), jnp.float32)}

    def loss_fn(p: Params) -> jax.Array:
        return mse(linear_predict(p, xs), ys)

    res = minimize(loss_fn, params, opt, tolerance=tolerance, max_steps=max_steps)
    final = float(loss_fn(res.params))
    return RegressionFit(float(res.params["w"][0]), float(res.params["b"]), final, res)


class LinearModel(hk.Module):
    """``x @ w + b`` as a Haiku module (``w ~ TruncatedNormal(1/√D)``, ``b = 1``)."""

    def __init__(self, output_dim: int = 1, name: str | None = None) -> None:
        super().__init__(name=name)
        self.output_dim = output_dim

    def __call__(self, x: jax.Array) -> jax.Array:
        d = x.shape[-1]
        w = hk.get_parameter(
            "w", [d, self.output_dim], init=hk.initializers.TruncatedNormal(1.0 / np.sqrt(d))
        )
        b = hk.get_parameter("b", [self.output_dim], init=jnp.ones)
        out: jax.Array = x @ w + b[None, :]
        return out


def haiku_linear_model() -> hk.Transformed:
    """``hk.without_apply_rng(hk.transform(...))`` of :class:`LinearModel`: ``[N, D]`` → ``[N]``."""

    def forward(x: jax.Array) -> jax.Array:
        return LinearModel(1)(x)[:, 0]

    return hk.without_apply_rng(hk.transform(forward))


def fit_haiku_regression(
    x: np.ndarray,
    y: np.ndarray,
    *,
    optimizer: str = "sgd",
    learning_rate: float = 0.1,
    tolerance: float = 1e-4,
    max_steps: int = 1000,
    seed: int = 42,
) -> RegressionFit:
    """The same fit with the model written as a Haiku module.

    Unlike the original practical (which passed ``x`` as ``[1, N]`` and so fitted a
    100-input model that only learnt the mean), ``x`` is ``[N, 1]``: one input feature.
    """
    xs, ys = _check_xy(x, y)
    model = haiku_linear_model()
    params = model.init(kc.as_key(seed), xs)
    opt = make_optimizer(optimizer, learning_rate)

    def loss_fn(p: Params) -> jax.Array:
        return mse(model.apply(p, xs), ys)

    res = minimize(loss_fn, params, opt, tolerance=tolerance, max_steps=max_steps)
    lin = res.params["linear_model"]
    return RegressionFit(float(lin["w"][0, 0]), float(lin["b"][0]), float(loss_fn(res.params)), res)


def _check_xy(x: np.ndarray, y: np.ndarray) -> tuple[jax.Array, jax.Array]:
    if np.ndim(x) != 2 or np.ndim(y) != 1 or np.shape(x)[0] != np.shape(y)[0]:
        raise kc.KhipuError(
            f"expected x of shape [N, D] and y of shape [N], got {np.shape(x)} and {np.shape(y)}"
        )
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)


def plot_regression(
    x: np.ndarray,
    y: np.ndarray,
    fits: dict[str, RegressionFit],
    *,
    path: str | None = None,
) -> Any:
    """Two panels: the loss per step on a log scale, and the data with each fitted line."""
    fig = kc.new_figure(10, 3.8)
    ax_loss, ax_fit = fig.subplots(1, 2)
    for name, fit in fits.items():
        ax_loss.semilogy(np.arange(1, fit.result.steps + 1), fit.result.losses, label=name)
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("MSE (log scale)")
    ax_loss.grid(alpha=0.3, which="both")
    ax_loss.legend()
    ax_fit.scatter(np.asarray(x)[:, 0], y, s=8, alpha=0.6, label="data")
    grid = np.linspace(0, 1, 50)
    ax_fit.plot(grid, TRUE_W * grid + TRUE_B, "k--", label=f"true w={TRUE_W}, b={TRUE_B}")
    for name, fit in fits.items():
        ax_fit.plot(grid, fit.w * grid + fit.b, label=f"{name}: w={fit.w:.3f}, b={fit.b:.3f}")
    ax_fit.set_xlabel("x")
    ax_fit.set_ylabel("y")
    ax_fit.legend(fontsize=8)
    if path is not None:
        kc.save_figure(fig, path)
    return fig
