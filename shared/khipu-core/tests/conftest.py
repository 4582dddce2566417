"""Shared fixtures for khipu-core's tests: a tiny linear-regression training problem."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
import pytest


@pytest.fixture
def regression_data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 3)).astype(np.float32)
    y = (x @ np.array([1.5, -2.0, 0.5], np.float32) + 0.3).astype(np.float32)
    return {"x": x, "y": y}


@pytest.fixture
def fresh_state() -> kc.TrainState:
    params = {"w": jnp.zeros(3), "b": jnp.zeros(())}
    return kc.init_train_state(params, optax.sgd(0.05), key=jax.random.key(1))
