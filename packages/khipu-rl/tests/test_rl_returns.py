"""Rewards-to-go and GAE against plain Python loops."""

import jax.numpy as jnp
import numpy as np
import pytest
from khipu.rl.returns import gae, rewards_to_go


def test_rewards_to_go_practical_check_value() -> None:
    np.testing.assert_array_equal(rewards_to_go([1, 2, 3, 4]), [10, 9, 7, 4])


@pytest.mark.parametrize("gamma", [1.0, 0.99, 0.5])
def test_rewards_to_go_matches_python_loop(gamma: float) -> None:
    rewards = np.random.default_rng(0).normal(size=37)
    expected = [sum(gamma ** (k - t) * rewards[k] for k in range(t, 37)) for t in range(37)]
    out = rewards_to_go(rewards, gamma)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_rewards_to_go_are_floats_not_rounded() -> None:
    out = rewards_to_go([1.0, 1.0, 1.0], 0.9)
    np.testing.assert_allclose(out, [2.71, 1.9, 1.0], rtol=1e-6)


def _gae_loop(rewards, values, next_values, terminated, done, gamma, lam):  # type: ignore[no-untyped-def]
    t_len, n = rewards.shape
    adv = np.zeros((t_len, n))
    for i in range(n):
        running = 0.0
        for t in reversed(range(t_len)):
            bootstrap = 0.0 if terminated[t, i] else next_values[t, i]
            delta = rewards[t, i] + gamma * bootstrap - values[t, i]
            if done[t, i]:
                running = 0.0
            running = delta + gamma * lam * running
            adv[t, i] = running
    return adv


def test_gae_matches_python_loop_with_terminations_and_truncations() -> None:
    rng = np.random.default_rng(1)
    t_len, n = 50, 3
    rewards = rng.normal(size=(t_len, n)).astype(np.float32)
    values = rng.normal(size=(t_len, n)).astype(np.float32)
    next_values = rng.normal(size=(t_len, n)).astype(np.float32)
    terminated = rng.random((t_len, n)) < 0.08
    truncated = (rng.random((t_len, n)) < 0.08) & ~terminated
    done = terminated | truncated
    assert terminated.any() and truncated.any()
    adv, returns = gae(
        jnp.asarray(rewards),
        jnp.asarray(values),
        jnp.asarray(next_values),
        jnp.asarray(terminated),
        jnp.asarray(done),
        gamma=0.97,
        lam=0.9,
    )
    expected = _gae_loop(rewards, values, next_values, terminated, done, 0.97, 0.9)
    np.testing.assert_allclose(np.asarray(adv), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(returns), expected + values, rtol=1e-4, atol=1e-5)


def test_gae_with_lambda_one_is_discounted_return_minus_value() -> None:
    rewards = jnp.ones((4, 1))
    zeros = jnp.zeros((4, 1))
    done = jnp.asarray([[0], [0], [0], [1]], bool)
    adv, _ = gae(rewards, zeros, zeros, done, done, gamma=0.5, lam=1.0)
    np.testing.assert_allclose(np.asarray(adv)[:, 0], [1.875, 1.75, 1.5, 1.0])
    # Truncated instead of terminated: the last step bootstraps from V(s') = 2.
    adv, _ = gae(
        rewards,
        zeros,
        jnp.asarray([[0.0], [0.0], [0.0], [2.0]]),
        jnp.zeros((4, 1), bool),
        done,
        gamma=0.5,
        lam=1.0,
    )
    np.testing.assert_allclose(np.asarray(adv)[:, 0], [2.0, 2.0, 2.0, 2.0])
