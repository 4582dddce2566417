"""PPO's pieces: the clipped loss, gymnasium vector-env stepping."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from khipu.rl import cartpole
from khipu.rl.nets import actor_critic_network
from khipu.rl.ppo import PPOConfig, make_vector_env, ppo_loss, step_vector_env


def test_vector_env_returns_true_final_observation_and_resets() -> None:
    envs = make_vector_env("CartPole-v1", 3)
    obs, _ = envs.reset(seed=0)
    ended = False
    for _ in range(30):
        obs, _reward, terminated, truncated, next_obs = step_vector_env(envs, np.zeros(3, int))
        done = terminated | truncated
        not_done = ~done
        np.testing.assert_array_equal(next_obs[not_done], obs[not_done])
        for i in np.flatnonzero(done):
            ended = True
            assert abs(next_obs[i, 2]) > cartpole.THETA_THRESHOLD  # the falling pole
            assert np.max(np.abs(obs[i])) <= 0.05  # a fresh episode to act on
    assert ended
    envs.close()


def _batch(net: hk.Transformed, params: object, key: jax.Array) -> dict[str, jax.Array]:
    obs = jax.random.normal(key, (16, 4))
    logits, _ = net.apply(params, obs)
    actions = jnp.arange(16) % 2
    log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), actions[:, None], axis=-1)[:, 0]
    return {
        "obs": obs,
        "action": actions,
        "log_prob": log_prob,
        "advantage": jnp.linspace(-1.0, 1.0, 16),
        "target": jnp.ones(16),
    }


def test_ppo_loss_parts_at_the_behaviour_policy() -> None:
    net = actor_critic_network(2, (8,))
    params = net.init(jax.random.key(0), jnp.zeros(4))
    batch = _batch(net, params, jax.random.key(1))
    config = PPOConfig(vf_coef=0.5, ent_coef=0.01, normalize_advantages=False)
    loss, m = ppo_loss(net, params, batch, config)
    # ratio = 1: policy loss is -mean(advantage) = 0, KL is 0.
    np.testing.assert_allclose(float(m["policy_loss"]), 0.0, atol=1e-6)
    np.testing.assert_allclose(float(m["approx_kl"]), 0.0, atol=1e-6)
    _, values = net.apply(params, batch["obs"])
    np.testing.assert_allclose(
        float(m["value_loss"]), 0.5 * float(jnp.mean((values - 1.0) ** 2)), rtol=1e-5
    )
    assert 0.0 < float(m["entropy"]) <= np.log(2) + 1e-6
    expected = m["policy_loss"] + 0.5 * m["value_loss"] - 0.01 * m["entropy"]
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-5)


def test_ppo_clipping_stops_the_gradient_beyond_the_trust_region() -> None:
    net = actor_critic_network(2, (8,))
    params = net.init(jax.random.key(0), jnp.zeros(4))
    batch = _batch(net, params, jax.random.key(1))
    # Pretend the behaviour policy was far less likely to pick these actions: ratio >> 1 + eps.
    batch["log_prob"] = batch["log_prob"] - 2.0
    batch["advantage"] = jnp.ones(16)
    config = PPOConfig(vf_coef=0.0, ent_coef=0.0, normalize_advantages=False, clip_eps=0.2)
    grads = jax.grad(lambda p: ppo_loss(net, p, batch, config)[0])(params)
    actor = [g for path, g in jax.tree_util.tree_leaves_with_path(grads) if "actor" in str(path)]
    assert all(float(jnp.max(jnp.abs(g))) == 0.0 for g in actor)
    loss, _ = ppo_loss(net, params, batch, config)
    np.testing.assert_allclose(float(loss), -1.2, rtol=1e-6)  # -(1 + eps) * advantage
