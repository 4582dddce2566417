"""Optax optimizers by name."""

from __future__ import annotations

import inspect
from typing import Any

import khipu.core as kc
import optax


def available_optimizers() -> list[str]:
    """Names of the optax optimizers whose first argument is ``learning_rate``."""
    names = []
    for name in dir(optax):
        fn = getattr(optax, name)
        if name.startswith(("_", "scale_by")) or not inspect.isfunction(fn):
            continue
        try:
            params = list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):  # pragma: no cover - builtins without signature
            continue
        if params and params[0] == "learning_rate":
            names.append(name)
    return sorted(names)


def make_optimizer(
    name: str, learning_rate: float, *, seed: int = 0, **kwargs: Any
) -> optax.GradientTransformationExtraArgs:
    """Builds ``optax.<name>(learning_rate, **kwargs)``.

    The result accepts optax's extra update arguments (``value``, ``grad``,
    ``value_fn``), so line-search optimizers such as ``lbfgs`` work in the same
    loop as ``sgd`` or ``adam``. Optimizers that draw noise (``noisy_sgd``) get
    an explicit PRNG key made from ``seed``.

    Raises:
      UnknownNameError: ``name`` is not an optax optimizer (the message lists them).
      KhipuError: a non-positive learning rate or arguments optax rejects.
    """
    available = available_optimizers()
    if name not in available:
        raise kc.UnknownNameError("optimizer", name, available)
    if not learning_rate > 0:
        raise kc.KhipuError(f"learning_rate must be positive, got {learning_rate}")
    fn = getattr(optax, name)
    if "key" in inspect.signature(fn).parameters and "key" not in kwargs:
        kwargs["key"] = kc.as_key(seed)
    try:
        optimizer = fn(learning_rate, **kwargs)
    except TypeError as exc:
        raise kc.KhipuError(f"optax.{name} rejected its arguments: {exc}") from exc
    return optax.with_extra_args_support(optimizer)
