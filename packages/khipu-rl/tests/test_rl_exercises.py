"""The practical's checkers: each accepts the reference (and a correct answer
written differently) and rejects plausible wrong answers; stubs are "not attempted"."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import Checker
from khipu.rl import exercises as ex
from khipu.rl.exercises import RandomPolicySearchParams


def _stub(*args: Any, **kwargs: Any) -> Any:
    # YOUR CODE HERE
    raise NotImplementedError


# --- wrong answers, by exercise ------------------------------------------------


def linear_ge(params: Any, obs: Any) -> Any:  # >= instead of >
    return jnp.where(jnp.dot(params, obs) >= 0, 1, 0)


def linear_sign(params: Any, obs: Any) -> Any:  # -1 / +1 instead of 0 / 1
    return jnp.sign(jnp.dot(params, obs))


def episode_skips_last_reward(env: Any, policy: Any, seed: int) -> float:  # off by one
    obs, _ = env.reset(seed=seed)
    total = 0.0
    while True:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        if terminated or truncated:
            return total
        total += reward


def episode_ignores_truncation(env: Any, policy: Any, seed: int) -> float:
    obs, _ = env.reset(seed=seed)
    total, terminated = 0.0, False
    for _ in range(2000):  # (a student's loop would run on; the guard stops it)
        obs, reward, terminated, _, _ = env.step(policy(obs))
        total += reward
        if terminated:
            break
    return total


def episode_unseeded(env: Any, policy: Any, seed: int) -> float:
    obs, _ = env.reset()
    total = 0.0
    while True:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total += reward
        if terminated or truncated:
            return total


def select_current_in_evaluation(key: Any, params: Any, state: Any, obs: Any, ev: bool) -> Any:
    return ex.linear_policy(params.current, obs), state


def select_swapped(key: Any, params: Any, state: Any, obs: Any, ev: bool) -> Any:
    return ex.linear_policy(params.current if ev else params.best, obs), state


def select_action_only(key: Any, params: Any, state: Any, obs: Any, ev: bool) -> Any:
    return ex.linear_policy(params.best if ev else params.current, obs)


def weights_unit_interval(key: Any, shape: Any) -> Any:
    return jax.random.uniform(key, shape)


def weights_normal(key: Any, shape: Any) -> Any:
    return 2.0 * jax.random.normal(key, shape)


def weights_fixed_key(key: Any, shape: Any) -> Any:
    return jax.random.uniform(jax.random.PRNGKey(42), shape, minval=-2.0, maxval=2.0)


def learn_always_replaces(key: Any, params: Any, best: float, average: float) -> Any:
    current = ex.random_weights(key, params.current.shape)
    return RandomPolicySearchParams(current, params.current), average


def learn_keeps_current(key: Any, params: Any, best: float, average: float) -> Any:
    if average > best:
        return RandomPolicySearchParams(params.current, params.current), average
    return params, best


def learn_perturbs(key: Any, params: Any, best: float, average: float) -> Any:
    new_best, best = (params.current, average) if average > best else (params.best, best)
    current = params.current + ex.random_weights(key, params.current.shape)
    return RandomPolicySearchParams(current, new_best), best


def learn_tie_replaces(key: Any, params: Any, best: float, average: float) -> Any:
    new_best, best = (params.current, average) if average >= best else (params.best, best)
    return RandomPolicySearchParams(ex.random_weights(key, params.current.shape), new_best), best


def log_prob_no_log(p: Any, r: Any) -> Any:
    return jnp.asarray(p) * jnp.asarray(r)


def log_prob_log10(p: Any, r: Any) -> Any:
    return jnp.log10(jnp.asarray(p)) * jnp.asarray(r)


def log_prob_negated(p: Any, r: Any) -> Any:
    return -jnp.log(jnp.asarray(p)) * jnp.asarray(r)


def rtg_undiscounted(rewards: Any, gamma: float) -> Any:
    return np.cumsum(np.asarray(rewards, np.float32)[::-1])[::-1]


def rtg_forward(rewards: Any, gamma: float) -> Any:
    out, running = [], 0.0
    for r in rewards:
        running = r + gamma * running
        out.append(running)
    return np.asarray(out, np.float32)


def rtg_excludes_current(rewards: Any, gamma: float) -> Any:
    r = list(rewards)
    return np.asarray(
        [sum(gamma ** (k - t - 1) * r[k] for k in range(t + 1, len(r))) for t in range(len(r))],
        np.float32,
    )


def rtg_int(rewards: Any, gamma: float) -> Any:
    return ex.rewards_to_go(rewards, gamma).astype(np.int32)


def sample_argmax(key: Any, logits: Any) -> Any:
    return jnp.argmax(logits)


def sample_uniform(key: Any, logits: Any) -> Any:
    return jax.random.randint(key, (), 0, logits.shape[-1])


def sample_probs_as_logits(key: Any, logits: Any) -> Any:
    return jax.random.categorical(key, jax.nn.softmax(logits))


def sample_numpy_rng(key: Any, logits: Any) -> Any:
    p = np.asarray(jax.nn.softmax(logits), np.float64)
    return np.random.default_rng().choice(len(p), p=p / p.sum())


def pg_no_minus(a: Any, logits: Any, r: Any) -> Any:
    return jax.nn.log_softmax(logits)[a] * r


def pg_unstable(a: Any, logits: Any, r: Any) -> Any:
    return -jnp.log(jax.nn.softmax(logits)[a]) * r


def pg_prob(a: Any, logits: Any, r: Any) -> Any:
    return -jax.nn.softmax(logits)[a] * r


def greedy_argmin(q: Any) -> Any:
    return jnp.argmin(q, axis=-1)


def greedy_flat(q: Any) -> Any:
    return jnp.argmax(q)


def greedy_value(q: Any) -> Any:
    return jnp.max(q, axis=-1)


def greedy_last_tie(q: Any) -> Any:
    q = jnp.asarray(q)
    return q.shape[-1] - 1 - jnp.argmax(q[..., ::-1], axis=-1)


def sq_abs(p: Any, t: Any) -> Any:
    return jnp.abs(jnp.asarray(p) - jnp.asarray(t))


def sq_mean(p: Any, t: Any) -> Any:
    return jnp.mean((jnp.asarray(p) - jnp.asarray(t)) ** 2)


def sq_no_square(p: Any, t: Any) -> Any:
    return jnp.asarray(p) - jnp.asarray(t)


def bellman_no_gamma(r: Any, term: Any, q: Any, gamma: float) -> Any:
    return r + (1.0 - term) * jnp.max(q)


def bellman_no_mask(r: Any, term: Any, q: Any, gamma: float) -> Any:
    return r + gamma * jnp.max(q)


def bellman_masks_reward(r: Any, term: Any, q: Any, gamma: float) -> Any:
    return (1.0 - term) * (r + gamma * jnp.max(q))


def qloss_max(q: Any, a: Any, r: Any, term: Any, nq: Any, gamma: float) -> Any:
    return (jnp.max(q) - ex.bellman_target(r, term, nq, gamma)) ** 2


def qloss_no_mask(q: Any, a: Any, r: Any, term: Any, nq: Any, gamma: float) -> Any:
    return (q[a] - (r + gamma * jnp.max(nq))) ** 2


def qloss_not_squared(q: Any, a: Any, r: Any, term: Any, nq: Any, gamma: float) -> Any:
    return ex.bellman_target(r, term, nq, gamma) - q[a]


def qloss_no_stop_gradient(q: Any, a: Any, r: Any, term: Any, nq: Any, gamma: float) -> Any:
    return (q[a] - ex.bellman_target(r, term, nq, gamma)) ** 2  # the target moves too


def qloss_stops_the_prediction(q: Any, a: Any, r: Any, term: Any, nq: Any, gamma: float) -> Any:
    target = jax.lax.stop_gradient(ex.bellman_target(r, term, nq, gamma))
    return (jax.lax.stop_gradient(q[a]) - target) ** 2 + 0.0 * jnp.sum(q)  # nothing learns


def random_off_by_one(key: Any, n: int) -> Any:
    return jax.random.randint(key, (), 0, n - 1)


def random_shifted(key: Any, n: int) -> Any:
    return jax.random.randint(key, (), 1, n + 1)


def random_always_zero(key: Any, n: int) -> Any:
    return jnp.zeros((), jnp.int32)


def random_python(key: Any, n: int) -> Any:
    return int(np.random.default_rng().integers(n))


def eps_no_floor(t: Any, start: float, end: float, decay_steps: int) -> Any:
    return start + t / decay_steps * (end - start)


def eps_clipped_at_zero(t: Any, start: float, end: float, decay_steps: int) -> Any:
    return max(start + t / decay_steps * (end - start), 0.0)


def eps_practical_formula(t: Any, start: float, end: float, decay_steps: int) -> Any:
    return max(1.0 - t / decay_steps, end)  # the practical's max(1 - t/3000, .1), wrong scale


def eps_min(t: Any, start: float, end: float, decay_steps: int) -> Any:
    return min(start + t / decay_steps * (end - start), end)


def egreedy_inverted(key: Any, q: Any, eps: Any) -> Any:
    k1, k2 = jax.random.split(key)
    explore = jax.random.uniform(k1) > eps
    return jnp.where(explore, jax.random.randint(k2, (), 0, q.shape[-1]), jnp.argmax(q))


def egreedy_excludes_greedy(key: Any, q: Any, eps: Any) -> Any:
    k1, k2 = jax.random.split(key)
    greedy = jnp.argmax(q)
    other = (greedy + 1 + jax.random.randint(k2, (), 0, q.shape[-1] - 1)) % q.shape[-1]
    return jnp.where(jax.random.uniform(k1) < eps, other, greedy)


def egreedy_python_if(key: Any, q: Any, eps: Any) -> Any:
    k1, k2 = jax.random.split(key)
    if jax.random.uniform(k1) < eps:  # not jittable
        return jax.random.randint(k2, (), 0, q.shape[-1])
    return jnp.argmax(q)


def egreedy_last_tie(key: Any, q: Any, eps: Any) -> Any:
    k1, k2 = jax.random.split(key)
    greedy = q.shape[-1] - 1 - jnp.argmax(q[::-1])
    return jnp.where(
        jax.random.uniform(k1) < eps, jax.random.randint(k2, (), 0, q.shape[-1]), greedy
    )


# --- correct answers written differently from the reference ---------------------


def linear_python(params: Any, obs: Any) -> int:
    return 1 if float(np.dot(np.asarray(params), np.asarray(obs))) > 0 else 0


def episode_loop(env: Any, policy: Any, seed: int) -> float:
    obs, _ = env.reset(seed=seed)
    total, done = 0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total += reward
        done = terminated or truncated
    return total


def rtg_python(rewards: Any, gamma: float) -> list[float]:
    out, running = [], 0.0
    for r in reversed(list(rewards)):
        running = r + gamma * running
        out.append(running)
    return out[::-1]


def egreedy_cond(key: Any, q: Any, eps: Any) -> Any:
    k1, k2 = jax.random.split(key)
    return jax.lax.cond(
        jax.random.uniform(k1) < eps,
        lambda: jax.random.randint(k2, (), 0, q.shape[-1]),
        lambda: jnp.argmax(q).astype(jnp.int32),
    )


def eps_python(t: Any, start: float, end: float, decay_steps: int) -> float:
    return max(end, start - (start - end) * t / decay_steps)


def sample_gumbel(key: Any, logits: Any) -> Any:
    return jnp.argmax(logits + jax.random.gumbel(key, logits.shape))


CASES: list[
    tuple[Checker, Callable[..., Any], list[Callable[..., Any]], list[Callable[..., Any]]]
] = [
    (ex.check_linear_policy, ex.linear_policy, [linear_python], [linear_ge, linear_sign]),
    (
        ex.check_episode_return,
        ex.episode_return,
        [episode_loop],
        [episode_skips_last_reward, episode_ignores_truncation, episode_unseeded],
    ),
    (
        ex.check_random_search_select_action,
        ex.random_search_select_action,
        [],
        [select_current_in_evaluation, select_swapped, select_action_only],
    ),
    (
        ex.check_random_weights,
        ex.random_weights,
        [],
        [weights_unit_interval, weights_normal, weights_fixed_key],
    ),
    (
        ex.check_random_search_learn,
        ex.random_search_learn,
        [],
        [learn_always_replaces, learn_keeps_current, learn_perturbs, learn_tie_replaces],
    ),
    (
        ex.check_weighted_log_prob,
        ex.weighted_log_prob,
        [],
        [log_prob_no_log, log_prob_log10, log_prob_negated],
    ),
    (
        ex.check_rewards_to_go,
        ex.rewards_to_go,
        [rtg_python],
        [rtg_undiscounted, rtg_forward, rtg_excludes_current, rtg_int],
    ),
    (
        ex.check_sample_action,
        ex.sample_action,
        [sample_gumbel],
        [sample_argmax, sample_uniform, sample_probs_as_logits, sample_numpy_rng],
    ),
    (
        ex.check_policy_gradient_loss,
        ex.policy_gradient_loss,
        [],
        [pg_no_minus, pg_unstable, pg_prob],
    ),
    (
        ex.check_greedy_action,
        ex.greedy_action,
        [],
        [greedy_argmin, greedy_flat, greedy_value, greedy_last_tie],
    ),
    (ex.check_squared_error, ex.squared_error, [], [sq_abs, sq_mean, sq_no_square]),
    (
        ex.check_bellman_target,
        ex.bellman_target,
        [],
        [bellman_no_gamma, bellman_no_mask, bellman_masks_reward],
    ),
    (
        ex.check_q_learning_loss,
        ex.q_learning_loss,
        [],
        [
            qloss_max,
            qloss_no_mask,
            qloss_not_squared,
            qloss_no_stop_gradient,
            qloss_stops_the_prediction,
        ],
    ),
    (
        ex.check_random_action,
        ex.random_action,
        [],
        [random_off_by_one, random_shifted, random_always_zero, random_python],
    ),
    (
        ex.check_epsilon_schedule,
        ex.epsilon_schedule,
        [eps_python],
        [eps_no_floor, eps_clipped_at_zero, eps_practical_formula, eps_min],
    ),
    (
        ex.check_epsilon_greedy,
        ex.epsilon_greedy,
        [egreedy_cond],
        [egreedy_inverted, egreedy_excludes_greedy, egreedy_python_if, egreedy_last_tie],
    ),
]
IDS = [c[0].name for c in CASES]


def test_every_exercise_has_a_checker() -> None:
    assert sorted(ex.CHECKERS) == list(range(1, 17))
    assert {c.name for c in ex.CHECKERS.values()} == set(IDS)


@pytest.mark.parametrize(("checker", "reference", "right", "wrong"), CASES, ids=IDS)
def test_checker_accepts_the_reference_and_right_answers(
    checker: Checker, reference: Any, right: list[Any], wrong: list[Any], capsys: Any
) -> None:
    for answer in [reference, *right]:
        result = checker.evaluate(answer)
        assert result.passed, f"{getattr(answer, '__name__', answer)}: {result.message}"
        assert checker(answer) is answer
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize(("checker", "reference", "right", "wrong"), CASES, ids=IDS)
def test_checker_rejects_wrong_answers(
    checker: Checker, reference: Any, right: list[Any], wrong: list[Any], capsys: Any
) -> None:
    assert len(wrong) >= 2
    for answer in wrong:
        result = checker.evaluate(answer)
        assert result.status == "failed", f"{answer.__name__} was not rejected: {result.message}"
        assert "✗" in result.message and "\n" not in result.message
        assert checker(answer) is checker.fallback  # later cells use the reference
    capsys.readouterr()


@pytest.mark.parametrize(("checker", "reference", "right", "wrong"), CASES, ids=IDS)
def test_stub_is_not_attempted(
    checker: Checker, reference: Any, right: list[Any], wrong: list[Any], capsys: Any
) -> None:
    for stub in (_stub, ..., None):
        result = checker.evaluate(stub)
        assert result.status == "not_attempted", result.message
    assert checker(_stub) is reference
    assert "not attempted" in capsys.readouterr().out


def test_q_learning_loss_without_stop_gradient_is_rejected_by_its_gradient() -> None:
    # same values as the reference: only the gradient w.r.t. next_q_values tells them apart
    args = (jnp.asarray([1.0, 2.0]), 0, 1.0, 0.0, jnp.asarray([1.0, 3.0]), 0.9)
    assert float(qloss_no_stop_gradient(*args)) == pytest.approx(float(ex.q_learning_loss(*args)))
    grad_next = jax.grad(lambda nq: qloss_no_stop_gradient(*args[:4], nq, args[5]))(args[4])
    assert float(jnp.abs(grad_next).max()) > 0
    result = ex.check_q_learning_loss.evaluate(qloss_no_stop_gradient)
    assert result.status == "failed" and "next_q_values" in result.message
    result = ex.check_q_learning_loss.evaluate(qloss_stops_the_prediction)
    assert result.status == "failed" and "q_values" in result.message


def test_random_search_learn_tie_keeps_the_best() -> None:
    params = RandomPolicySearchParams(np.ones(4, np.float32), np.full(4, 2.0, np.float32))
    key = jax.random.key(3)
    new, best = ex.random_search_learn(key, params, 11.0, 11.0)
    np.testing.assert_array_equal(np.asarray(new.best), params.best)
    assert best == 11.0
    tie_new, _ = learn_tie_replaces(key, params, 11.0, 11.0)  # >= instead of >
    assert not np.array_equal(np.asarray(tie_new.best), params.best)
    result = ex.check_random_search_learn.evaluate(learn_tie_replaces)
    assert result.status == "failed" and "tie" in result.message


def test_the_practicals_values() -> None:
    env = ex._guarded_cartpole()
    params = jnp.asarray(ex.PRACTICAL_PARAMS)
    assert ex.episode_return(env, lambda o: int(ex.linear_policy(params, o)), 42) == 31.0
    np.testing.assert_allclose(ex.rewards_to_go([1, 2, 3, 4], 1.0), [10, 9, 7, 4])
    assert float(ex.weighted_log_prob(0.8, 100.0)) == pytest.approx(-22.314354, rel=1e-6)
    assert float(ex.policy_gradient_loss(1, jnp.asarray([1.0, 2.0]), 10.0)) == pytest.approx(
        3.1326175, rel=1e-6
    )
    assert int(ex.greedy_action(jnp.asarray([1.0, 2.0, 0.5, 3.0]))) == 3
    assert float(ex.squared_error(4.0, 1.0)) == 9.0
    assert float(ex.bellman_target(1.0, 0.0, jnp.asarray([1.0, 3.0]), 1.0)) == 4.0
    assert float(ex.bellman_target(1.0, 1.0, jnp.asarray([1.0, 3.0]), 1.0)) == 1.0
    q = jnp.asarray([1.0, 2.0])
    assert float(ex.q_learning_loss(q, 0, 1.0, 0.0, jnp.asarray([1.0, 3.0]), 1.0)) == 9.0
    assert float(ex.epsilon_schedule(10, 1.0, 0.1, 2700)) == pytest.approx(0.99666667, rel=1e-6)
    assert float(ex.epsilon_schedule(5000, 1.0, 0.1, 2700)) == pytest.approx(0.1, rel=1e-6)
    ones = np.ones(4, np.float32)
    new, best = ex.random_search_learn(
        jax.random.key(0), RandomPolicySearchParams(ones, -ones), -math.inf, 11.0
    )
    assert best == 11.0
    np.testing.assert_array_equal(new.best, ones)
    assert np.all(np.abs(new.current) <= 2.0) and not np.array_equal(new.current, ones)


def test_episode_guard_refuses_stepping_past_the_end() -> None:
    env = ex._guarded_cartpole()
    env.reset(seed=0)
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(0)
        done = terminated or truncated
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step(0)


# --- the agent contract the notebook plugs the exercises into --------------------


def _transition(reward: float, *, terminated: bool = False, truncated: bool = False) -> Any:
    from khipu.rl.envs import Transition

    obs = np.full(4, reward, np.float32)
    return Transition(obs, 1, reward, obs + 1, terminated, truncated)


def test_average_return_memory_scores_whole_episodes_then_forgets() -> None:
    from khipu.rl.loop import AverageReturnMemory

    memory = AverageReturnMemory(episodes=2)
    for r in (1.0, 2.0):
        memory.push(_transition(r))
    memory.push(_transition(3.0, terminated=True))  # episode 1: 6
    assert not memory.is_ready()
    memory.push(_transition(2.0, truncated=True))  # episode 2: 2 (time limit ends it too)
    assert memory.is_ready()
    assert memory.sample(jax.random.key(0)) == 4.0
    assert not memory.is_ready()


def test_rewards_to_go_memory_pads_with_a_mask_and_uses_the_given_returns() -> None:
    from khipu.rl.loop import RewardsToGoMemory

    memory = RewardsToGoMemory(episodes=2, gamma=0.5, returns_fn=ex.rewards_to_go)
    memory.push(_transition(1.0))
    memory.push(_transition(2.0, terminated=True))
    assert not memory.is_ready()
    memory.push(_transition(4.0, truncated=True))
    memory.push(_transition(9.0))  # an unfinished episode is not sampled
    assert memory.is_ready()
    batch = memory.sample(jax.random.key(0))
    assert batch["obs"].shape == (64, 4) and batch["action"].shape == (64,)
    np.testing.assert_array_equal(batch["mask"][:4], [1, 1, 1, 0])
    assert batch["mask"].sum() == 3
    np.testing.assert_allclose(batch["rewards_to_go"][:3], [1 + 0.5 * 2, 2, 4])
    np.testing.assert_array_equal(batch["obs"][:3, 0], [1, 2, 4])
    assert not memory.is_ready()


def test_transition_memory_stores_termination_not_truncation() -> None:
    from khipu.rl.dqn import TransitionMemory

    memory = TransitionMemory(capacity=3, batch_size=2)
    memory.push(_transition(1.0, truncated=True))
    assert not memory.is_ready()
    memory.push(_transition(2.0, terminated=True))
    assert memory.is_ready()
    assert memory.data is not None
    np.testing.assert_array_equal(memory.data["terminated"][:2], [0.0, 1.0])
    for r in (3.0, 4.0):  # ring buffer: the oldest are overwritten
        memory.push(_transition(r))
    np.testing.assert_array_equal(sorted(memory.data["reward"]), [2.0, 3.0, 4.0])
    batch = memory.sample(jax.random.key(0))
    assert batch["next_obs"].shape == (2, 4)
    again = memory.sample(jax.random.key(0))
    np.testing.assert_array_equal(batch["reward"], again["reward"])  # same key, same batch


def test_function_agent_learns_with_the_reference_answers() -> None:
    """The notebook's random-search agent, built from the exercises' references, learns."""
    import khipu.rl as rl

    first = np.zeros(4, np.float32)  # scores ~9: every push goes left
    agent = rl.FunctionAgent(
        ex.random_search_select_action,
        RandomPolicySearchParams(first, first),
        spec=rl.PolicySpec("linear", 4, 2, ()),
        learn=ex.random_search_learn,
        learner_state=-np.inf,
        memory=rl.AverageReturnMemory(episodes=3),
        policy_params=lambda p: p.best,
    )
    run = rl.run_training_loop(
        agent,
        env_id="CartPole-v1",
        seed=0,
        num_episodes=60,
        learn_steps_per_episode=1,
        eval_every=60,
        eval_episodes=4,
        progress=False,
    )
    assert agent.learner_state > 50.0  # some random candidate beat the all-left start
    spec, best = run.best_policy
    assert spec.kind == "linear" and not np.array_equal(best, first)
    assert run.history.eval_returns[-1] > 50.0


def test_function_agent_keeps_the_actor_state_of_training_steps_only() -> None:
    import khipu.rl as rl

    def select(key: Any, params: Any, count: int, obs: Any, evaluation: bool) -> Any:
        return 0, count + 1

    agent = rl.FunctionAgent(select, None, spec=rl.PolicySpec("linear", 4, 2, ()), actor_state=0)
    obs = np.zeros(4, np.float32)
    agent.select_action(jax.random.key(0), obs, evaluation=False)
    agent.select_action(jax.random.key(0), obs, evaluation=True)
    assert agent.actor_state == 1 and not agent.ready()
    with pytest.raises(Exception, match="memory"):
        rl.FunctionAgent(select, None, spec=rl.PolicySpec("linear", 4, 2, ()), learn=lambda *a: a)


def test_record_agent_writes_a_gif_and_returns_a_key_frames_figure(tmp_path: Any) -> None:
    from khipu.rl.plots import record_agent
    from matplotlib.figure import Figure

    rec = record_agent("CartPole-v1", lambda obs: 0, tmp_path / "left.gif", seed=3, title="left")
    assert rec.gif.is_file() and rec.gif.read_bytes()[:4] == b"GIF8"
    assert rec.length == rec.episode_return and rec.length < 30
    assert isinstance(rec.figure, Figure) and len(rec.figure.axes) == 6
