"""Training: agents learn on small budgets; one seed gives one curve."""

import jax
import numpy as np
import pytest
from khipu.core import KhipuError, UnknownNameError
from khipu.rl import make_config, train
from khipu.rl.dqn import DQNConfig, make_dqn_train
from khipu.rl.envs import evaluate_policy, make_env
from khipu.rl.policies import greedy_act
from khipu.rl.ppo import PPOConfig, make_ppo_train
from khipu.rl.reinforce import apply_baseline, policy_gradient_loss

SMALL_PPO = PPOConfig(num_envs=4, num_steps=64, total_steps=60 * 256, eval_every=5, eval_episodes=4)


def test_ppo_jax_env_same_seed_same_curve_and_learns() -> None:
    fn = jax.jit(make_ppo_train(SMALL_PPO))
    a, b = fn(jax.random.key(0)), fn(jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(a.eval_returns), np.asarray(b.eval_returns))
    np.testing.assert_array_equal(np.asarray(a.train_returns), np.asarray(b.train_returns))
    c = fn(jax.random.key(1))
    assert not np.array_equal(np.asarray(a.train_returns), np.asarray(c.train_returns))
    train_returns = np.asarray(a.train_returns)
    assert train_returns[-1] > 2 * train_returns[0]  # ~20 (random) -> well above
    assert float(np.max(np.asarray(a.eval_returns))) >= 150


def test_dqn_jax_env_same_seed_same_curve() -> None:
    config = DQNConfig(
        hidden=(32,),
        total_steps=2000,
        train_every=50,
        gradient_steps=4,
        learning_starts=200,
        buffer_size=1000,
        batch_size=32,
        eval_every=500,
        eval_episodes=2,
        eps_decay_steps=1000,
    )
    fn = jax.jit(make_dqn_train(config))
    a, b = fn(jax.random.key(3)), fn(jax.random.key(3))
    assert np.asarray(a.eval_returns).shape == (4,)
    np.testing.assert_array_equal(np.asarray(a.eval_returns), np.asarray(b.eval_returns))
    for x, y in zip(jax.tree.leaves(a.final_params), jax.tree.leaves(b.final_params), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_gymnasium_loop_same_seed_same_curve() -> None:
    config = make_config(
        "reinforce",
        {
            "num_episodes": 12,
            "eval_every": 6,
            "eval_episodes": 2,
            "episodes_per_update": 3,
            "hidden": "16",
        },
    )
    a = train("reinforce", seed=5, config=config, progress=False)
    b = train("reinforce", seed=5, config=config, progress=False)
    assert a.history == b.history
    assert len(a.history.episode_returns) == 12 and len(a.history.eval_returns) == 2
    assert a.env_steps == a.history.episode_steps[-1]


def test_rps_finds_a_balancing_linear_policy() -> None:
    config = make_config(
        "rps",
        {"num_episodes": 60, "episodes_per_candidate": 3, "eval_every": 30, "eval_episodes": 3},
    )
    result = train("rps", seed=0, config=config, progress=False)
    returns = evaluate_policy(
        make_env(), greedy_act(result.spec, result.params), episodes=5, seed=9
    )
    assert returns.mean() >= 150  # 20 random candidates; random weights average ~30


@pytest.mark.slow
def test_dqn_jax_env_learns_cartpole() -> None:
    config = DQNConfig(
        hidden=(128, 128),
        learning_rate=1e-3,
        batch_size=128,
        train_every=1,
        gradient_steps=1,
        target_period=100,
        eps_decay_steps=5_000,
        eps_end=0.02,
        total_steps=15_000,
        eval_every=2_500,
        eval_episodes=8,
    )
    run = jax.jit(make_dqn_train(config))(jax.random.key(0))
    returns = np.asarray(run.eval_returns)
    # A random policy lasts ~20 steps, a constant action ~9.
    assert float(np.max(returns)) >= 120


def test_reinforce_loss_and_baselines() -> None:
    # The practical's exercise 9: -log softmax([1, 2])[1] * 10.
    loss = policy_gradient_loss(
        jax.numpy.asarray([[1.0, 2.0]]),
        jax.numpy.asarray([1]),
        jax.numpy.asarray([10.0]),
        jax.numpy.asarray([1.0]),
    )
    np.testing.assert_allclose(float(loss), 3.1326169, rtol=1e-6)
    r = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(apply_baseline(r, "mean"), [-1, 0, 1])
    np.testing.assert_allclose(
        apply_baseline(r, "normalize"), [-1.2247449, 0, 1.2247449], rtol=1e-6
    )
    np.testing.assert_allclose(apply_baseline(r, "none"), r)


def test_bad_settings() -> None:
    with pytest.raises(UnknownNameError, match="algorithm"):
        make_config("a2c")
    with pytest.raises(UnknownNameError, match="setting 'gama'"):
        make_config("dqn", {"gama": 0.9})
    with pytest.raises(KhipuError, match="expected float"):
        make_config("dqn", {"gamma": "high"})
    with pytest.raises(KhipuError, match="baseline"):
        train("reinforce", config=make_config("reinforce", {"baseline": "median"}), progress=False)
    with pytest.raises(KhipuError, match="jax"):
        train("rps", jax_env=True)
    with pytest.raises(KhipuError, match="CartPole-v1"):
        train("ppo", env_id="Acrobot-v1", jax_env=True)
    with pytest.raises(KhipuError, match="one rollout"):
        make_config("ppo", {"total_steps": 10}) and train(
            "ppo", config=make_config("ppo", {"total_steps": 10}), jax_env=True
        )
