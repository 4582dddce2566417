"""DQN's pieces: targets, ε schedule, replay buffer, target updates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.rl.dqn import (
    DQNAgent,
    DQNConfig,
    dqn_targets,
    epsilon_greedy,
    epsilon_schedule,
    make_dqn,
)
from khipu.rl.envs import Transition
from khipu.rl.replay import replay_add, replay_init, replay_sample


def test_target_uses_gamma_and_stops_only_at_termination() -> None:
    rewards = jnp.asarray([1.0, 1.0, 1.0])
    terminated = jnp.asarray([0.0, 1.0, 0.0])  # the third is a truncated transition
    next_q = jnp.asarray([[2.0, 5.0], [2.0, 5.0], [7.0, 3.0]])
    y = dqn_targets(rewards, terminated, next_q, None, gamma=0.9)
    np.testing.assert_allclose(np.asarray(y), [1 + 0.9 * 5, 1.0, 1 + 0.9 * 7], rtol=1e-6)
    # The practical's check value: no discount, max next value 3 -> 4; terminal -> 1.
    y = dqn_targets(
        jnp.asarray([1.0, 1.0]),
        jnp.asarray([0.0, 1.0]),
        jnp.asarray([[1.0, 3.0], [1.0, 3.0]]),
        None,
        gamma=1.0,
    )
    np.testing.assert_allclose(np.asarray(y), [4.0, 1.0])


def test_double_dqn_evaluates_online_argmax_with_target_net() -> None:
    next_target = jnp.asarray([[2.0, 5.0]])
    next_online = jnp.asarray([[9.0, 1.0]])  # online prefers action 0
    y = dqn_targets(jnp.asarray([0.0]), jnp.asarray([0.0]), next_target, next_online, gamma=1.0)
    np.testing.assert_allclose(np.asarray(y), [2.0])


def test_agent_stores_truncation_as_non_terminal() -> None:
    agent = DQNAgent(DQNConfig(buffer_size=8), 4, 2, key=0)
    obs = np.zeros(4, np.float32)
    agent.observe(Transition(obs, 1, 1.0, obs + 1, terminated=False, truncated=True))
    agent.observe(Transition(obs, 0, 1.0, obs + 2, terminated=True, truncated=False))
    stored = agent.state.buffer.data
    np.testing.assert_array_equal(np.asarray(stored["terminated"][:2]), [0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(stored["next_obs"][0]), np.ones(4))
    np.testing.assert_array_equal(np.asarray(stored["action"][:2]), [1, 0])


def test_epsilon_schedule_values() -> None:
    # The practical's max(1 - t / 3000, 0.1).
    values = [
        float(epsilon_schedule(t, start=1.0, end=0.1, decay_steps=2700))
        for t in (0, 10, 1350, 2700, 10_000)
    ]
    np.testing.assert_allclose(values, [1.0, 0.99666667, 0.55, 0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(
        float(epsilon_schedule(50, start=0.5, end=0.0, decay_steps=100)), 0.25
    )


def test_epsilon_greedy_extremes() -> None:
    q = jnp.tile(jnp.asarray([[0.0, 1.0, 0.5]]), (4000, 1))
    greedy = epsilon_greedy(jax.random.key(0), q, 0.0)
    assert bool(jnp.all(greedy == 1))
    uniform = np.asarray(epsilon_greedy(jax.random.key(0), q, 1.0))
    counts = np.bincount(uniform, minlength=3) / 4000
    np.testing.assert_allclose(counts, [1 / 3] * 3, atol=0.03)


def test_replay_capacity_and_ring_order() -> None:
    buf = replay_init(5, {"x": jnp.zeros((), jnp.int32)})
    buf = replay_add(buf, {"x": jnp.arange(3)})
    assert int(buf.size) == 3 and int(buf.position) == 3
    buf = replay_add(buf, {"x": jnp.arange(3, 7)})
    assert int(buf.size) == 5 and buf.capacity == 5
    np.testing.assert_array_equal(np.asarray(buf.data["x"]), [5, 6, 2, 3, 4])  # 0, 1 overwritten
    with pytest.raises(KhipuError):
        replay_init(0, {"x": jnp.zeros(())})


def test_replay_sampling_is_uniform_over_valid_items() -> None:
    buf = replay_init(100, {"x": jnp.zeros((), jnp.int32)})
    buf = replay_add(buf, {"x": jnp.arange(10)})  # only 10 valid items
    draws = np.asarray(replay_sample(buf, jax.random.key(0), 50_000)["x"])
    assert draws.min() == 0 and draws.max() == 9
    counts = np.bincount(draws, minlength=10)
    expected = 5000.0
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 27.9  # the 0.999 quantile of chi-square with 9 degrees of freedom


@pytest.mark.parametrize("target_update", ["periodic", "polyak"])
def test_target_network_updates(target_update: str) -> None:
    config = DQNConfig(
        hidden=(8,),
        batch_size=4,
        buffer_size=16,
        target_period=3,
        target_update=target_update,
        tau=0.5,
        gradient_steps=1,
    )
    dqn = make_dqn(config, 4, 2)
    state = dqn.init(jax.random.key(0))
    items = {
        "obs": jnp.ones((8, 4)),
        "action": jnp.zeros(8, jnp.int32),
        "reward": jnp.ones(8),
        "next_obs": jnp.ones((8, 4)),
        "terminated": jnp.zeros(8),
    }
    state = state._replace(buffer=replay_add(state.buffer, items))
    learn = jax.jit(dqn.learn)

    def dist(a, b):  # type: ignore[no-untyped-def]
        return sum(
            float(jnp.sum(jnp.abs(x - y)))
            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        )

    before = state.target_params
    state, _ = learn(state, jax.random.key(1))
    if target_update == "periodic":
        assert dist(state.target_params, before) == 0.0  # not copied yet
        state, _ = learn(state, jax.random.key(2))
        state, _ = learn(state, jax.random.key(3))  # third learning step: copy
        assert dist(state.target_params, state.params) == 0.0
    else:
        mid = jax.tree.map(lambda p, t: 0.5 * p + 0.5 * t, state.params, before)
        assert dist(state.target_params, mid) < 1e-5


def test_bad_config_is_refused() -> None:
    with pytest.raises(KhipuError, match="loss"):
        make_dqn(DQNConfig(loss="l1"), 4, 2)
    with pytest.raises(KhipuError, match="target_update"):
        make_dqn(DQNConfig(target_update="sometimes"), 4, 2)


def test_learn_takes_gradient_steps_per_phase() -> None:
    config = DQNConfig(hidden=(8,), batch_size=4, buffer_size=16, gradient_steps=5, target_period=5)
    dqn = make_dqn(config, 4, 2)
    state = dqn.init(jax.random.key(0))
    items = {
        "obs": jnp.ones((8, 4)),
        "action": jnp.zeros(8, jnp.int32),
        "reward": jnp.ones(8),
        "next_obs": jnp.ones((8, 4)),
        "terminated": jnp.zeros(8),
    }
    state = state._replace(buffer=replay_add(state.buffer, items))
    state, metrics = jax.jit(dqn.learn)(state, jax.random.key(1))
    assert int(state.learn_steps) == 5 and metrics["loss"].shape == ()
    for p, t in zip(
        jax.tree.leaves(state.params), jax.tree.leaves(state.target_params), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(p), np.asarray(t))  # copied at step 5
