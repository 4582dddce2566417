"""The JAX CartPole against gymnasium's CartPole-v1, step by step."""

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.rl import cartpole as cp

_step = jax.jit(cp.step)


@pytest.mark.parametrize("seed", range(12))
def test_random_action_episodes_match_gymnasium(seed: int) -> None:
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    state = cp.from_observation(np.asarray(env.unwrapped.state, np.float32))
    np.testing.assert_allclose(np.asarray(cp.observation(state)), obs, atol=1e-7)
    rng = np.random.default_rng(100 + seed)
    for t in range(1, 501):
        action = int(rng.integers(2))
        obs, reward, terminated, truncated, _ = env.step(action)
        state, j_obs, j_reward, j_term, j_trunc = _step(state, action)
        np.testing.assert_allclose(np.asarray(j_obs), obs, atol=1e-5, err_msg=f"step {t}")
        assert float(j_reward) == reward
        assert bool(j_term) == terminated, f"step {t}"
        assert bool(j_trunc) == truncated, f"step {t}"
        assert int(state.t) == t
        if terminated or truncated:
            break
    assert terminated  # random actions drop the pole long before 500 steps


def _controller(obs: np.ndarray, rng: np.random.Generator) -> int:
    if rng.random() < 0.1:
        return int(rng.integers(2))
    return int(obs[2] + 0.5 * obs[3] + 0.01 * obs[0] + 0.1 * obs[1] > 0)


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_every_step_matches_up_to_truncation_at_500(seed: int) -> None:
    # The pole is chaotic, so two float implementations drift apart over
    # hundreds of steps: each step starts from gymnasium's state (as gymnax's
    # tests do) while the JAX env keeps its own step counter.
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    state = cp.from_observation(np.asarray(env.unwrapped.state, np.float32))
    rng = np.random.default_rng(seed)
    steps = 0
    while True:
        action = _controller(obs, rng)
        state = state._replace(physics=jnp.asarray(env.unwrapped.state, jnp.float32))
        obs, reward, terminated, truncated, _ = env.step(action)
        state, j_obs, j_reward, j_term, j_trunc = _step(state, action)
        steps += 1
        np.testing.assert_allclose(np.asarray(j_obs), obs, atol=1e-5, err_msg=f"step {steps}")
        assert (float(j_reward), bool(j_term), bool(j_trunc)) == (reward, terminated, truncated)
        if terminated or truncated:
            break
    if seed in (1, 3):  # these seeds balance to the time limit
        assert (steps, truncated, terminated) == (500, True, False)


def test_truncation_and_termination_flags_at_the_limit() -> None:
    upright = cp.CartPoleState(jnp.zeros(4), jnp.asarray(499, jnp.int32))
    _, _, _, term, trunc = cp.step(upright, 1)
    assert (bool(term), bool(trunc)) == (False, True)
    falling = cp.CartPoleState(jnp.asarray([0.0, 0.0, 0.2094, 2.0]), jnp.asarray(499, jnp.int32))
    _, _, _, term, trunc = cp.step(falling, 1)
    assert (bool(term), bool(trunc)) == (True, True)  # gymnasium's TimeLimit sets both
    early = cp.CartPoleState(jnp.zeros(4), jnp.asarray(10, jnp.int32))
    assert not bool(cp.step(early, 0)[4])


def test_reset_distribution_and_vmap_match_single_envs() -> None:
    states, obs = cp.reset_batch(jax.random.key(0), 1000)
    assert obs.shape == (1000, 4) and obs.dtype == jnp.float32
    assert float(jnp.max(jnp.abs(obs))) < 0.05 and float(jnp.std(obs)) > 0.02
    actions = jnp.arange(1000) % 2
    batched = jax.vmap(cp.step)(states, actions)
    for i in (0, 1, 999):
        single = cp.step(jax.tree.map(lambda x, i=i: x[i], states), actions[i])
        np.testing.assert_array_equal(np.asarray(batched[1][i]), np.asarray(single[1]))


def test_autoreset_returns_true_final_observation() -> None:
    falling = cp.CartPoleState(jnp.asarray([0.0, 0.0, 0.2094, 2.0]), jnp.asarray(5, jnp.int32))
    out = cp.step_autoreset(jax.random.key(1), falling, 1)
    assert bool(out.terminated)
    assert float(out.next_obs[2]) > cp.THETA_THRESHOLD  # the state that ended the episode
    assert float(jnp.max(jnp.abs(out.obs))) < 0.05  # a fresh episode to act on
    assert int(out.state.t) == 0


def test_evaluate_batch_counts_episode_returns() -> None:
    always_left = cp.evaluate_batch(
        lambda p, o: jnp.zeros(o.shape[0], jnp.int32), None, jax.random.key(0), 5
    )
    assert always_left.shape == (5,)
    assert bool(jnp.all((always_left >= 8) & (always_left <= 12)))  # falls after ~10 steps
    balancing = cp.evaluate_batch(
        lambda p, o: (o[:, 2] + 0.5 * o[:, 3] + 0.01 * o[:, 0] + 0.1 * o[:, 1] > 0).astype(
            jnp.int32
        ),
        None,
        jax.random.key(0),
        5,
    )
    np.testing.assert_array_equal(np.asarray(balancing), 500.0)


def test_batch_autoreset_restarts_only_ended_episodes() -> None:
    states = cp.CartPoleState(
        jnp.asarray([[0.0, 0.0, 0.2094, 2.0], [0.0, 0.0, 0.0, 0.0]]), jnp.asarray([5, 7], jnp.int32)
    )
    out = cp.step_autoreset_batch(jax.random.key(2), states, jnp.asarray([1, 0]))
    np.testing.assert_array_equal(np.asarray(out.terminated), [True, False])
    np.testing.assert_array_equal(np.asarray(out.state.t), [0, 8])
    assert float(out.next_obs[0, 2]) > cp.THETA_THRESHOLD
    assert float(jnp.max(jnp.abs(out.obs[0]))) < 0.05
    single = cp.step(jax.tree.map(lambda x: x[1], states), 0)
    np.testing.assert_array_equal(np.asarray(out.obs[1]), np.asarray(single[1]))


def test_hashed_uniform_reset_noise_is_uniform_and_fresh() -> None:
    a = np.asarray(cp.hashed_uniform(jax.random.key(0), (50_000, 4), low=-0.05, high=0.05))
    b = np.asarray(cp.hashed_uniform(jax.random.key(1), (50_000, 4), low=-0.05, high=0.05))
    assert a.min() >= -0.05 and a.max() < 0.05
    counts = np.histogram(a, bins=10, range=(-0.05, 0.05))[0]
    chi2 = float(((counts - 20_000) ** 2 / 20_000).sum())
    assert chi2 < 27.9  # 0.999 quantile, 9 degrees of freedom
    assert abs(float(np.corrcoef(a.ravel(), b.ravel())[0, 1])) < 0.02
    assert abs(float(np.corrcoef(a[:-1, 0], a[1:, 0])[0, 1])) < 0.02
