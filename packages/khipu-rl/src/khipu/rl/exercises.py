"""The practical's 16 exercises: reference answers and their checkers.

Each ``check_<name>`` is a :class:`khipu.core.Checker`; in the notebook a check
cell reads ``f = check_f(f)``: it prints one line (``✓``, ``✗`` with the input
that failed, or ``not attempted yet``) and returns the student's function if
it passed, else the reference below, so the training cells always run.

Functions are run against the reference on the practical's own example and on
seeded random and edge-case inputs (empty episode, terminal transition, ties,
a policy that reaches the time limit...). Sampling exercises are judged on
their distribution over many keys (and must give the same action for the same
key), never on one particular draw. Exercises whose function the agents call
under ``jax.jit`` are also run under ``jax.jit``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import khipu.core.exercises as _core_exercises
import numpy as np
from khipu.core import Case, Checker, function_check
from khipu.core.exercises import NotAttempted, describe, mismatch
from khipu.rl import nets, rps
from khipu.rl.dqn import (
    dqn_targets,
    epsilon_greedy as _epsilon_greedy,
    epsilon_schedule as _epsilon_schedule,
)
from khipu.rl.envs import make_env, run_episode
from khipu.rl.returns import rewards_to_go as _rewards_to_go
from khipu.rl.rps import RandomPolicySearchParams

__all__ = [
    "RandomPolicySearchParams",
    "bellman_target",
    "check_bellman_target",
    "check_episode_return",
    "check_epsilon_greedy",
    "check_epsilon_schedule",
    "check_greedy_action",
    "check_linear_policy",
    "check_policy_gradient_loss",
    "check_q_learning_loss",
    "check_random_action",
    "check_random_search_learn",
    "check_random_search_select_action",
    "check_random_weights",
    "check_rewards_to_go",
    "check_sample_action",
    "check_squared_error",
    "check_weighted_log_prob",
    "episode_return",
    "epsilon_greedy",
    "epsilon_schedule",
    "greedy_action",
    "linear_policy",
    "policy_gradient_loss",
    "q_learning_loss",
    "random_action",
    "random_search_learn",
    "random_search_select_action",
    "random_weights",
    "rewards_to_go",
    "sample_action",
    "squared_error",
    "weighted_log_prob",
]

# The practical's constants.
WEIGHT_LOW, WEIGHT_HIGH = -2.0, 2.0
PRACTICAL_PARAMS = (1.0, -2.0, 2.0, -1.0)  # exercise 2: return 31 from reset(seed=42)
BALANCING_PARAMS = (0.0, 0.5, 1.0, 1.0)  # balances CartPole until the 500-step time limit


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _f32(x: Any) -> np.ndarray:
    return np.asarray(x, np.float32)


# ---------------------------------------------------------------------------
# References (the package's implementations, in the practical's signatures)
# ---------------------------------------------------------------------------


def linear_policy(params: Any, obs: Any) -> jax.Array:
    """Exercise 1: action 1 if ``params · obs > 0`` else 0 (``params, obs: [4]``)."""
    return nets.linear_policy(jnp.asarray(params), jnp.asarray(obs))


def episode_return(env: Any, policy: Callable[[np.ndarray], int], seed: int) -> float:
    """Exercise 2: the return of one episode of ``policy(obs) -> action`` from
    ``env.reset(seed=seed)``, until the episode terminates *or* is truncated."""
    return run_episode(env, policy, seed=seed)[0]


def random_search_select_action(
    key: jax.Array,
    params: RandomPolicySearchParams,
    actor_state: Any,
    obs: jax.Array,
    evaluation: bool,
) -> tuple[jax.Array, Any]:
    """Exercise 3: the linear policy of ``params.best`` when ``evaluation``, else of
    ``params.current`` (the candidate being scored); ``actor_state`` unchanged."""
    del key
    weights = params.best if evaluation else params.current
    return linear_policy(weights, obs), actor_state


def random_weights(key: jax.Array, shape: Sequence[int]) -> np.ndarray:
    """Exercise 4: weights of ``shape`` drawn uniformly from ``[-2, 2)`` with ``key``."""
    return rps.random_candidate(key, tuple(shape), low=WEIGHT_LOW, high=WEIGHT_HIGH)


def random_search_learn(
    key: jax.Array,
    params: RandomPolicySearchParams,
    learner_state: float,
    average_return: float,
) -> tuple[RandomPolicySearchParams, float]:
    """Exercise 5: if ``average_return`` (the current candidate's score) beats
    ``learner_state`` (the best score so far), the candidate becomes the best;
    then a new candidate is drawn with :func:`random_weights` (``key``)."""
    new_params, best = rps.rps_learn(
        key,
        RandomPolicySearchParams(_f32(params.current), _f32(params.best)),
        float(learner_state),
        float(average_return),
        low=WEIGHT_LOW,
        high=WEIGHT_HIGH,
    )
    return new_params, best


def weighted_log_prob(action_prob: Any, episode_return: Any) -> jax.Array:
    """Exercise 6: ``log(action_prob) * episode_return`` (elementwise)."""
    return jnp.log(jnp.asarray(action_prob, jnp.float32)) * jnp.asarray(episode_return, jnp.float32)


def rewards_to_go(rewards: Sequence[float] | np.ndarray, gamma: float) -> np.ndarray:
    """Exercise 7: ``G_t = sum_{k >= t} gamma^(k-t) r_k`` for each step ``t`` (``[T]`` floats)."""
    return _rewards_to_go(np.asarray(rewards, np.float64), gamma)


def sample_action(key: jax.Array, logits: jax.Array) -> jax.Array:
    """Exercise 8: an action drawn from ``softmax(logits)`` (``logits: [A]``)."""
    return jax.random.categorical(key, jnp.asarray(logits))


def policy_gradient_loss(action: Any, logits: jax.Array, reward_to_go: Any) -> jax.Array:
    """Exercise 9: ``-log softmax(logits)[action] * reward_to_go`` for one step
    (``log_softmax``, stable for large logits)."""
    log_probs = jax.nn.log_softmax(jnp.asarray(logits, jnp.float32))
    return -log_probs[action] * jnp.asarray(reward_to_go, jnp.float32)


def greedy_action(q_values: jax.Array) -> jax.Array:
    """Exercise 10: the index of the largest Q-value along the last axis (the
    first one on ties), ``[..., A] -> [...]``."""
    return jnp.argmax(jnp.asarray(q_values), axis=-1)


def squared_error(pred: Any, target: Any) -> jax.Array:
    """Exercise 11: ``(pred - target)^2``, elementwise."""
    return jnp.square(jnp.asarray(pred, jnp.float32) - jnp.asarray(target, jnp.float32))


def bellman_target(
    reward: Any, terminated: Any, next_q_values: jax.Array, gamma: float
) -> jax.Array:
    """Exercise 12: ``reward + gamma * (1 - terminated) * max_a' next_q_values[a']``
    for one transition (``next_q_values: [A]``)."""
    q = jnp.asarray(next_q_values, jnp.float32)
    return dqn_targets(
        jnp.asarray(reward, jnp.float32),
        jnp.asarray(terminated, jnp.float32),
        q,
        None,
        gamma=gamma,
    )


def q_learning_loss(
    q_values: jax.Array,
    action: Any,
    reward: Any,
    terminated: Any,
    next_q_values: jax.Array,
    gamma: float,
) -> jax.Array:
    """Exercise 13: the squared error between ``q_values[action]`` and the
    Bellman target (held fixed with ``jax.lax.stop_gradient``)."""
    target = jax.lax.stop_gradient(bellman_target(reward, terminated, next_q_values, gamma))
    return squared_error(jnp.asarray(q_values, jnp.float32)[action], target)


def random_action(key: jax.Array, num_actions: int) -> jax.Array:
    """Exercise 14: an action uniform in ``{0, ..., num_actions - 1}``."""
    return jax.random.randint(key, (), 0, num_actions)


def epsilon_schedule(step: Any, start: float, end: float, decay_steps: int) -> jax.Array:
    """Exercise 15: ε from ``start`` linearly down to ``end`` over ``decay_steps``
    steps, then ``end`` (the practical's ``max(1 - t/3000, 0.1)`` is
    ``start=1, end=0.1, decay_steps=2700``)."""
    return _epsilon_schedule(step, start=start, end=end, decay_steps=decay_steps)


def epsilon_greedy(key: jax.Array, q_values: jax.Array, epsilon: Any) -> jax.Array:
    """Exercise 16: with probability ``epsilon`` a uniform random action, else the
    greedy one (``q_values: [A]``)."""
    return _epsilon_greedy(key, jnp.asarray(q_values), epsilon)


# ---------------------------------------------------------------------------
# Checking helpers
# ---------------------------------------------------------------------------


def _student(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` under khipu-core's per-check time limit on the student's
    code, where the installed khipu-core has one."""
    limited = getattr(_core_exercises, "call_with_time_limit", None)
    return fn(*args, **kwargs) if limited is None else limited(fn, *args, **kwargs)


def _jit_check(
    base: Checker,
    reference: Callable[..., Any],
    case: Case,
    static_argnums: tuple[int, ...] = (),
) -> Checker:
    """``base`` plus: the function also works under ``jax.jit`` (the agents jit it)."""

    def judge(student: Any) -> str | None:
        if (why := base.judge(student)) is not None:
            return why
        try:
            got = _student(jax.jit(student, static_argnums=static_argnums), *case.args)
        except (NotImplementedError, NotAttempted):
            raise
        except Exception as exc:
            return (
                f"it does not work under jax.jit ({type(exc).__name__}); the agent jits it: "
                "use jnp operations (jnp.where, not Python if on arrays)"
            )
        return mismatch(reference(*case.args), got)

    # only the student's calls are timed (the base judge times its own)
    judge.times_the_student = True  # type: ignore[attr-defined]
    return Checker(base.name, judge, base.fallback, base.hint)


class _JitFailure(Exception):
    """The student's sampler does not trace under ``jax.jit`` / ``jax.vmap``."""


def _sampler(fn: Callable[..., Any], num_args: int, static: tuple[int, ...] = ()) -> Any:
    """``draw(keys [n], *args) -> [n]``: ``fn`` vmapped over keys and jitted
    (non-static arguments are traced, so one compilation serves every case of a shape)."""
    in_axes = (0,) + (None,) * num_args
    return jax.jit(jax.vmap(fn, in_axes=in_axes), static_argnums=static)


def _draws(draw: Any, args: tuple[Any, ...], keys: jax.Array) -> np.ndarray:
    """``[n]`` results of ``fn(key, *args)``, one per key of ``keys [n]``."""
    try:
        out = draw(keys, *args)
    except (NotImplementedError, NotAttempted):
        raise
    except Exception as exc:
        raise _JitFailure(type(exc).__name__) from exc
    if out is None or out is Ellipsis:
        raise NotAttempted
    return np.asarray(out).reshape(len(keys))


def _frequencies(actions: np.ndarray, num_actions: int) -> np.ndarray | str:
    actions = np.asarray(actions)
    if actions.dtype.kind not in "iub" and not np.all(np.equal(np.mod(actions, 1), 0)):
        return f"expected integer actions, got {describe(actions[:5])}"
    bad = (actions < 0) | (actions >= num_actions)
    if np.any(bad):
        return f"action {int(actions[bad][0])} is outside 0..{num_actions - 1}"
    return np.bincount(actions.astype(np.int64), minlength=num_actions) / len(actions)


def _sampling_judge(
    fn: Any,
    first_args: tuple[Any, ...],
    checks: Sequence[tuple[tuple[Any, ...], Sequence[float], str]],
    *,
    static: tuple[int, ...] = (),
    n: int = 1000,
    tol: float = 0.06,
) -> str | None:
    """Judges a sampler ``fn(key, *args)``: not a stub, jittable, the same action for
    the same key, and action frequencies over ``n`` keys within ``tol`` of each check's
    probabilities."""
    if not callable(fn):
        return f"expected a function, got {describe(fn)}"
    draw = _sampler(fn, len(first_args), static)
    same_key = jnp.repeat(jax.random.key(7)[None], n, axis=0)
    try:
        got = _draws(draw, first_args, same_key)  # a stub raises NotImplementedError here
        if len(set(got.tolist())) > 1:
            return (
                f"the same key gave different actions ({sorted(set(got.tolist()))[:4]}): draw "
                "with jax.random and the key given, not with np.random / random"
            )
        for i, (args, probs, label) in enumerate(checks):
            keys = jax.random.split(jax.random.key(100 + i), n)
            freq = _frequencies(_draws(draw, args, keys), len(probs))
            if isinstance(freq, str):
                return f"on {label}: {freq}"
            if np.max(np.abs(freq - np.asarray(probs))) > tol:
                return (
                    f"on {label}: over {n} keys the actions' frequencies were "
                    f"{describe(np.round(freq, 3))}, expected about "
                    f"{describe(np.round(np.asarray(probs), 3))}"
                )
    except _JitFailure as exc:
        return (
            f"it does not work under jax.jit / jax.vmap ({exc}); the agent jits it: use "
            "jax.random with the key given and jnp.where instead of a Python if"
        )
    return None


def _guarded_cartpole() -> Any:
    """CartPole-v1 that raises if ``step`` is called after the episode ended."""
    import gymnasium

    class _Guard(gymnasium.Wrapper):
        def reset(self, **kwargs: Any) -> Any:
            self._ended = False
            return self.env.reset(**kwargs)

        def step(self, action: Any) -> Any:
            if getattr(self, "_ended", True):
                raise RuntimeError(
                    "step() called after the episode ended (terminated or truncated) "
                    "or before reset()"
                )
            out = self.env.step(action)
            self._ended = bool(out[2] or out[3])
            return out

        def __repr__(self) -> str:
            return "CartPole-v1"

    return _Guard(make_env("CartPole-v1"))


class _LinearAct:
    """``policy(obs) -> int`` of fixed linear weights (shown by its weights in messages)."""

    def __init__(self, params: Sequence[float] | np.ndarray) -> None:
        self.w = np.asarray(params, np.float32)

    def __call__(self, obs: np.ndarray) -> int:
        return int(np.dot(self.w, np.asarray(obs, np.float32)) > 0)

    def __repr__(self) -> str:
        return f"linear policy {np.round(self.w, 2).tolist()}"


class _AlwaysLeft:
    def __call__(self, obs: np.ndarray) -> int:
        return 0

    def __repr__(self) -> str:
        return "always push left"


# ---------------------------------------------------------------------------
# Checkers
# ---------------------------------------------------------------------------


def _linear_policy_cases() -> list[Case]:
    rng = _rng(1)
    cases = [
        Case("the practical's example (push right)", (_f32([1, 1, 1, 1]), _f32([1, 2, 3, 4]))),
        Case("the practical's example (push left)", (_f32([1, 1, 1, 1]), _f32([-1, -2, -3, -4]))),
        Case("params · obs = 0 exactly", (_f32([1, -1, 0, 0]), _f32([1, 1, 0, 0]))),
    ]
    for i in range(6):
        cases.append(
            Case(f"random input {i}", (_f32(rng.normal(size=4)), _f32(rng.normal(size=4))))
        )
    return cases


check_linear_policy = function_check(
    "linear_policy",
    linear_policy,
    _linear_policy_cases,
    hint="return 1 when jnp.dot(params, obs) > 0 (strictly), else 0 — e.g. with jnp.where",
)


def _episode_cases() -> list[Case]:
    rng = _rng(2)
    cases = [
        Case(
            "the practical's episode (return 31)",
            (_guarded_cartpole(), _LinearAct(PRACTICAL_PARAMS), 42),
        ),
        Case("a policy that always pushes left", (_guarded_cartpole(), _AlwaysLeft(), 3)),
        Case(
            "a policy that balances until the 500-step time limit (truncation)",
            (_guarded_cartpole(), _LinearAct(BALANCING_PARAMS), 0),
        ),
    ]
    for i in range(3):
        params = rng.uniform(-2, 2, size=4)
        cases.append(
            Case(f"random linear policy {i}", (_guarded_cartpole(), _LinearAct(params), 10 + i))
        )
    return cases


def _episode_compare(expected: Any, got: Any) -> str | None:
    return mismatch(float(expected), got)


check_episode_return = function_check(
    "episode_return",
    episode_return,
    _episode_cases,
    hint=(
        "obs, info = env.reset(seed=seed); then step with policy(obs), add every reward, and "
        "stop when terminated or truncated"
    ),
    compare=_episode_compare,
)


def _select_cases() -> list[Case]:
    rng = _rng(3)
    ones, minus = _f32([1, 1, 1, 1]), _f32([-1, -1, -1, -1])
    params = RandomPolicySearchParams(current=ones, best=minus)
    obs = _f32([1, 1, 1, 1])
    key = jax.random.key(0)
    cases = [
        Case("training: the current candidate acts", (key, params, None, obs, False)),
        Case("evaluation: the best policy acts", (key, params, None, obs, True)),
        Case("the actor state is passed through", (key, params, 7, obs, False)),
    ]
    for i in range(4):
        p = RandomPolicySearchParams(_f32(rng.normal(size=4)), _f32(rng.normal(size=4)))
        cases.append(
            Case(f"random input {i}", (key, p, None, _f32(rng.normal(size=4)), bool(i % 2)))
        )
    return cases


def _select_compare(expected: Any, got: Any) -> str | None:
    if not isinstance(got, tuple) or len(got) != 2:
        return f"expected a pair (action, actor_state), got {describe(got)}"
    if (why := mismatch(np.asarray(expected[0]), got[0])) is not None:
        return f"action: {why}"
    if expected[1] is not got[1] and expected[1] != got[1]:
        return f"actor_state: expected {describe(expected[1])}, got {describe(got[1])}"
    return None


check_random_search_select_action = function_check(
    "random_search_select_action",
    random_search_select_action,
    _select_cases,
    hint=(
        "act with linear_policy(params.best, obs) when evaluation, else with "
        "params.current, and return (action, actor_state)"
    ),
    compare=_select_compare,
)


def _weights_cases() -> list[Case]:
    return [
        Case("the practical's key PRNGKey(42)", (jax.random.PRNGKey(42), (4,))),
        Case("key 0", (jax.random.key(0), (4,))),
        Case("key 1, weights of shape (4, 2)", (jax.random.key(1), (4, 2))),
        Case("key 2, one weight", (jax.random.key(2), (1,))),
    ]


check_random_weights = function_check(
    "random_weights",
    random_weights,
    _weights_cases,
    hint="jax.random.uniform(key, shape, minval=-2.0, maxval=2.0)",
)


def _learn_cases() -> list[Case]:
    ones, twos = _f32([1, 1, 1, 1]), _f32([2, 2, 2, 2])
    params = RandomPolicySearchParams(current=ones, best=twos)
    return [
        Case(
            "the practical's example: first score 11 (best so far -inf)",
            (jax.random.key(0), params, -np.inf, 11.0),
        ),
        Case("the candidate beats the best (12 > 11)", (jax.random.key(1), params, 11.0, 12.0)),
        Case("the candidate is worse (5 < 11)", (jax.random.key(2), params, 11.0, 5.0)),
        Case(
            "a tie (11 = 11): only a strictly better candidate replaces the best",
            (jax.random.key(3), params, 11.0, 11.0),
        ),
    ]


def _learn_compare(expected: Any, got: Any) -> str | None:
    if not isinstance(got, tuple) or len(got) != 2:
        return f"expected a pair (params, learner_state), got {describe(got)}"
    exp_params, exp_state = expected
    try:
        current, best = got[0][0], got[0][1]
    except Exception:
        return f"expected params RandomPolicySearchParams(current, best), got {describe(got[0])}"
    if (why := mismatch(np.asarray(exp_params.best), best)) is not None:
        return f"params.best: {why}"
    if (why := mismatch(np.asarray(exp_params.current), current)) is not None:
        return f"params.current (the new candidate): {why}"
    if (why := mismatch(float(exp_state), got[1])) is not None:
        return f"learner_state (the best average return): {why}"
    return None


check_random_search_learn = function_check(
    "random_search_learn",
    random_search_learn,
    _learn_cases,
    hint=(
        "if average_return > learner_state (strictly: a tie keeps the best): best, "
        "learner_state = params.current, average_return; then current = "
        "random_weights(key, params.current.shape) (a fresh draw, not a perturbation)"
    ),
    compare=_learn_compare,
)


def _log_prob_cases() -> list[Case]:
    rng = _rng(6)
    return [
        Case("the practical's example", (0.8, 100.0)),
        Case("a certain action (p = 1)", (1.0, 50.0)),
        Case("a zero return", (0.3, 0.0)),
        Case("a negative return", (0.5, -4.0)),
        Case(
            "arrays of probabilities and returns",
            (_f32(rng.uniform(0.05, 1, size=5)), _f32(rng.normal(size=5) * 10)),
        ),
    ]


check_weighted_log_prob = function_check(
    "weighted_log_prob",
    weighted_log_prob,
    _log_prob_cases,
    hint="jnp.log(action_prob) * episode_return (natural log, no minus sign here)",
    rtol=1e-4,
)


def _rtg_cases() -> list[Case]:
    rng = _rng(7)
    return [
        Case("the practical's example", ([1.0, 2.0, 3.0, 4.0], 1.0)),
        Case("discounted, γ = 0.9", ([1.0, 1.0, 1.0], 0.9)),
        Case("an empty episode", ([], 0.99)),
        Case("a one-step episode", ([5.0], 0.9)),
        Case("γ = 0: just the rewards", ([1.0, 2.0, 3.0], 0.0)),
        Case("a random 30-step episode, γ = 0.99", (list(rng.normal(size=30)), 0.99)),
    ]


check_rewards_to_go = function_check(
    "rewards_to_go",
    rewards_to_go,
    _rtg_cases,
    hint=(
        "go backwards: running = rewards[t] + gamma * running, G[t] = running; keep floats "
        "(do not cast to integers)"
    ),
    rtol=1e-4,
    atol=1e-4,
)


def _judge_sample_action(student: Any) -> str | None:
    return _sampling_judge(
        student,
        (_f32([1.0, 2.0, 0.0, 0.0]),),
        [
            ((_f32([0.0, 30.0, 0.0, 0.0]),), [0.0, 1.0, 0.0, 0.0], "logits [0, 30, 0, 0]"),
            ((_f32([30.0, 0.0, 0.0, 0.0]),), [1.0, 0.0, 0.0, 0.0], "logits [30, 0, 0, 0]"),
            (
                (_f32(np.log([0.7, 0.1, 0.1, 0.1])),),
                [0.7, 0.1, 0.1, 0.1],
                "logits log([0.7, 0.1, 0.1, 0.1])",
            ),
            ((_f32([0.0, 0.0, 0.0, 0.0]),), [0.25] * 4, "equal logits"),
        ],
    )


check_sample_action = Checker(
    "sample_action",
    _judge_sample_action,
    sample_action,
    "jax.random.categorical(key, logits) samples from softmax(logits); pass the logits, "
    "not the probabilities",
)


def _pg_cases() -> list[Case]:
    rng = _rng(9)
    return [
        Case("the practical's example", (1, _f32([1.0, 2.0]), 10.0)),
        Case("action 0", (0, _f32([1.0, 2.0]), 10.0)),
        Case("a zero reward-to-go", (1, _f32([0.5, -0.5]), 0.0)),
        Case("large logits (needs a stable log-softmax)", (0, _f32([0.0, 200.0]), 1.0)),
        Case("four actions", (2, _f32(rng.normal(size=4)), float(rng.normal() * 5))),
    ]


check_policy_gradient_loss = _jit_check(
    function_check(
        "policy_gradient_loss",
        policy_gradient_loss,
        _pg_cases,
        hint=(
            "-jax.nn.log_softmax(logits)[action] * reward_to_go (log_softmax stays finite where "
            "log(softmax) gives -inf)"
        ),
        rtol=1e-4,
        atol=1e-5,
    ),
    policy_gradient_loss,
    Case("jit", (1, _f32([1.0, 2.0]), 10.0)),
)


def _greedy_cases() -> list[Case]:
    rng = _rng(10)
    return [
        Case("the practical's example", (_f32([1.0, 2.0, 0.5, 3.0]),)),
        Case("ties: the first of the largest", (_f32([1.0, 3.0, 3.0]),)),
        Case("negative values", (_f32([-5.0, -1.0, -3.0]),)),
        Case("a batch of Q-values [3, 2]", (_f32([[1.0, 2.0], [3.0, 0.0], [0.0, 0.0]]),)),
        Case("a random batch [5, 4]", (_f32(rng.normal(size=(5, 4))),)),
    ]


check_greedy_action = _jit_check(
    function_check(
        "greedy_action",
        greedy_action,
        _greedy_cases,
        hint="jnp.argmax(q_values, axis=-1): the index (not the value), the first one on ties",
    ),
    greedy_action,
    Case("jit", (_f32([1.0, 2.0, 0.5, 3.0]),)),
)


def _sq_cases() -> list[Case]:
    rng = _rng(11)
    return [
        Case("the practical's example", (4.0, 1.0)),
        Case("prediction below the target", (1.0, 4.0)),
        Case("arrays (elementwise)", (_f32(rng.normal(size=5)), _f32(rng.normal(size=5)))),
    ]


check_squared_error = function_check(
    "squared_error",
    squared_error,
    _sq_cases,
    hint="(pred - target) ** 2, elementwise (no mean, no square root)",
    rtol=1e-4,
)


def _bellman_cases() -> list[Case]:
    rng = _rng(12)
    return [
        Case("the practical's example", (1.0, 0.0, _f32([1.0, 3.0]), 1.0)),
        Case("the practical's terminal transition", (1.0, 1.0, _f32([1.0, 3.0]), 1.0)),
        Case("discounted, γ = 0.99", (1.0, 0.0, _f32([1.0, 3.0]), 0.99)),
        Case("terminal and discounted", (2.0, 1.0, _f32([5.0, 3.0]), 0.9)),
        Case("three actions, random", (float(rng.normal()), 0.0, _f32(rng.normal(size=3)), 0.95)),
    ]


check_bellman_target = _jit_check(
    function_check(
        "bellman_target",
        bellman_target,
        _bellman_cases,
        hint=(
            "reward + gamma * (1 - terminated) * jnp.max(next_q_values): a terminal step has "
            "no future"
        ),
        rtol=1e-4,
    ),
    bellman_target,
    Case("jit", (1.0, 0.0, _f32([1.0, 3.0]), 0.99)),
)


def _qloss_cases() -> list[Case]:
    rng = _rng(13)
    return [
        Case("the practical's example", (_f32([1.0, 2.0]), 0, 1.0, 0.0, _f32([1.0, 3.0]), 1.0)),
        Case("action 1, discounted", (_f32([1.0, 2.0]), 1, 1.0, 0.0, _f32([1.0, 3.0]), 0.9)),
        Case("a terminal transition", (_f32([1.0, 2.0]), 1, 1.0, 1.0, _f32([1.0, 3.0]), 0.9)),
        Case(
            "random, three actions",
            (_f32(rng.normal(size=3)), 2, float(rng.normal()), 0.0, _f32(rng.normal(size=3)), 0.99),
        ),
    ]


_QLOSS_HINT = (
    "squared_error(q_values[action], jax.lax.stop_gradient(bellman_target(reward, "
    "terminated, next_q_values, gamma)))"
)


def _qloss_grads(fn: Any, case: Case) -> tuple[jax.Array, jax.Array]:
    """Gradients of ``fn``'s loss on ``case`` w.r.t. ``q_values`` and ``next_q_values``."""
    q, action, reward, terminated, next_q, gamma = case.args

    def loss(q_: jax.Array, next_q_: jax.Array) -> jax.Array:
        return jnp.asarray(fn(q_, action, reward, terminated, next_q_, gamma)).sum()

    g_q, g_next = jax.grad(loss, argnums=(0, 1))(jnp.asarray(q), jnp.asarray(next_q))
    return g_q, g_next


def _qloss_gradient_check(base: Checker) -> Checker:
    """``base`` plus: the target is held fixed. The gradient of the loss with respect to
    ``next_q_values`` must be zero (``jax.lax.stop_gradient`` on the Bellman target), and
    the gradient with respect to ``q_values`` must be the reference's (the prediction
    is what learns)."""

    def judge(student: Any) -> str | None:
        if (why := base.judge(student)) is not None:
            return why
        # two non-terminal transitions (a terminal one has no gradient to next_q_values)
        for case in (_qloss_cases()[1], _qloss_cases()[3]):
            try:
                g_q, g_next = _student(_qloss_grads, student, case)
            except (NotImplementedError, NotAttempted):
                raise
            except Exception as exc:
                return f"on {case.label}, jax.grad of the loss raised {type(exc).__name__}"
            if np.any(np.abs(np.asarray(g_next)) > 1e-6):
                return (
                    f"on {case.label}: the gradient with respect to next_q_values is "
                    f"{describe(np.asarray(g_next))}, expected zeros (the target must not move "
                    "with the network's own estimate)"
                )
            ref_q, _ = _qloss_grads(q_learning_loss, case)
            if (why := mismatch(np.asarray(ref_q), np.asarray(g_q), rtol=1e-4)) is not None:
                return f"on {case.label}, the gradient with respect to q_values: {why}"
        return None

    judge.times_the_student = True  # type: ignore[attr-defined]
    return Checker(base.name, judge, base.fallback, base.hint)


check_q_learning_loss = _jit_check(
    _qloss_gradient_check(
        function_check(
            "q_learning_loss", q_learning_loss, _qloss_cases, hint=_QLOSS_HINT, rtol=1e-4
        )
    ),
    q_learning_loss,
    Case("jit", (_f32([1.0, 2.0]), 0, 1.0, 0.0, _f32([1.0, 3.0]), 0.99)),
)


def _judge_random_action(student: Any) -> str | None:
    for num_actions in (2, 5):
        why = _sampling_judge(
            student,
            (num_actions,),
            [((num_actions,), [1.0 / num_actions] * num_actions, f"num_actions = {num_actions}")],
            static=(1,),
        )
        if why is not None:
            return why
    return None


check_random_action = Checker(
    "random_action",
    _judge_random_action,
    random_action,
    "jax.random.randint(key, (), 0, num_actions): the upper bound is excluded",
)


def _eps_cases() -> list[Case]:
    practical = {"start": 1.0, "end": 0.1, "decay_steps": 2700}
    other = {"start": 0.5, "end": 0.05, "decay_steps": 1000}
    return [
        Case("the practical's step 10", (10,), practical),
        Case("the practical's step 5000 (after the decay)", (5000,), practical),
        Case("step 0", (0,), practical),
        Case("halfway", (1350,), practical),
        Case("the last decay step", (2700,), practical),
        Case("another schedule, step 250", (250,), other),
        Case("another schedule, step 10_000", (10_000,), other),
    ]


check_epsilon_schedule = function_check(
    "epsilon_schedule",
    epsilon_schedule,
    _eps_cases,
    hint=(
        "start + min(step / decay_steps, 1) * (end - start): linear from start, then flat at "
        "end (never below it)"
    ),
    rtol=1e-5,
    atol=1e-6,
)


def _judge_epsilon_greedy(student: Any) -> str | None:
    q = _f32([1.0, 3.0, 2.0, 0.0])
    return _sampling_judge(
        student,
        (q, 0.5),
        [
            ((q, 0.0), [0.0, 1.0, 0.0, 0.0], "ε = 0 (always greedy)"),
            ((_f32([2.0, 2.0, 0.0, 1.0]), 0.0), [1.0, 0.0, 0.0, 0.0], "ε = 0, tied Q-values"),
            ((q, 1.0), [0.25] * 4, "ε = 1 (uniform over all actions, the greedy one included)"),
            ((q, 0.5), [0.125, 0.625, 0.125, 0.125], "ε = 0.5"),
            ((q, 0.2), [0.05, 0.85, 0.05, 0.05], "ε = 0.2"),
        ],
    )


check_epsilon_greedy = Checker(
    "epsilon_greedy",
    _judge_epsilon_greedy,
    epsilon_greedy,
    "split the key; explore when jax.random.uniform(k1) < epsilon with random_action(k2, A), "
    "else greedy_action(q_values); choose with jnp.where",
)

CHECKERS: dict[int, Checker] = {
    1: check_linear_policy,
    2: check_episode_return,
    3: check_random_search_select_action,
    4: check_random_weights,
    5: check_random_search_learn,
    6: check_weighted_log_prob,
    7: check_rewards_to_go,
    8: check_sample_action,
    9: check_policy_gradient_loss,
    10: check_greedy_action,
    11: check_squared_error,
    12: check_bellman_target,
    13: check_q_learning_loss,
    14: check_random_action,
    15: check_epsilon_schedule,
    16: check_epsilon_greedy,
}
"""The practical's exercises by number."""
