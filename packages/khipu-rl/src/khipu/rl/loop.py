"""The agent–environment loop on gymnasium, with the practical's contracts.

An agent chooses actions (``select_action``), stores experience in its memory
(``observe``; ``ready`` says whether the memory can feed a learning step) and
learns from it (``learn``). :class:`FunctionAgent` builds one from the
practical's pure functions: ``select_action(key, params, actor_state, obs,
evaluation) -> (action, actor_state)``, ``learn(key, params, learner_state,
batch) -> (params, learner_state)`` and a :class:`Memory` (``push`` /
``is_ready`` / ``sample``). :func:`run_training_loop` plays episodes, learns
every ``learn_every_steps`` steps and/or ``learn_steps_per_episode`` times after
each episode, and evaluates the agent every ``eval_every`` episodes over
``eval_episodes`` episodes of a separate environment. Terminated and truncated
episodes are told apart in every :class:`~khipu.rl.envs.Transition`, so agents
bootstrap through truncation and not through termination.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import numpy as np
from khipu.core import KeySequence, KhipuError
from khipu.rl.envs import Transition, eval_seed, evaluate_policy, make_env
from khipu.rl.nets import Params, PolicySpec
from khipu.rl.returns import rewards_to_go
from tqdm.auto import tqdm


class Agent(Protocol):
    """What :func:`run_training_loop` needs from an agent."""

    def select_action(self, key: jax.Array, obs: np.ndarray, *, evaluation: bool) -> int:
        """The action to take on ``obs`` (``evaluation``: the evaluation policy)."""
        ...

    def observe(self, transition: Transition) -> None:
        """Pushes one transition into the agent's memory."""
        ...

    def ready(self) -> bool:
        """Whether the memory holds enough experience to learn."""
        ...

    def learn(self, key: jax.Array) -> dict[str, float]:
        """One learning step from the memory; returns scalar metrics."""
        ...

    def policy(self) -> tuple[PolicySpec, Params]:
        """The current evaluation policy (spec and parameters)."""
        ...


class Memory(Protocol):
    """The practical's memory: what an agent stores and learns from."""

    def push(self, transition: Transition) -> None:
        """Stores one transition."""
        ...

    def is_ready(self) -> bool:
        """Whether :meth:`sample` can feed a learning step."""
        ...

    def sample(self, key: jax.Array) -> Any:
        """What one learning step learns from (a batch, an average return...)."""
        ...


SelectAction = Callable[[jax.Array, Params, Any, np.ndarray, bool], tuple[Any, Any]]
Learn = Callable[[jax.Array, Params, Any, Any], tuple[Params, Any]]


class FunctionAgent:
    """An :class:`Agent` made of the practical's pure functions.

    Args:
      select_action: ``select_action(key, params, actor_state, obs, evaluation)
        -> (action, actor_state)``; ``evaluation`` is a Python bool (the
        evaluation policy when true, e.g. greedy; the behaviour policy else).
      params: the agent's parameters (any pytree).
      spec: how to rebuild the evaluation policy from ``policy_params(params)``
        (for evaluation GIFs and checkpoints).
      actor_state: state of ``select_action`` (a step counter...), or ``None``.
      learn: ``learn(key, params, learner_state, batch) -> (params,
        learner_state)`` where ``batch = memory.sample(key)``; ``None``: never learns.
      learner_state: state of ``learn`` (optimiser state...), or ``None``.
      memory: a :class:`Memory`; ``None``: nothing is stored.
      policy_params: the parameters of the evaluation policy within ``params``
        (default: ``params`` itself).

    The actor state is only carried forward from training steps: evaluation
    episodes do not advance an exploration schedule.
    """

    def __init__(
        self,
        select_action: SelectAction,
        params: Params,
        *,
        spec: PolicySpec,
        actor_state: Any = None,
        learn: Learn | None = None,
        learner_state: Any = None,
        memory: Memory | None = None,
        policy_params: Callable[[Params], Params] | None = None,
    ) -> None:
        if learn is not None and memory is None:
            raise KhipuError("an agent that learns needs a memory to learn from")
        self.select_fn = select_action
        self.learn_fn = learn
        self.params = params
        self.spec = spec
        self.actor_state = actor_state
        self.learner_state = learner_state
        self.memory = memory
        self.policy_params = policy_params or (lambda p: p)

    def select_action(self, key: jax.Array, obs: np.ndarray, *, evaluation: bool) -> int:
        action, actor_state = self.select_fn(
            key, self.params, self.actor_state, np.asarray(obs, np.float32), evaluation
        )
        if not evaluation:
            self.actor_state = actor_state
        return int(action)

    def observe(self, transition: Transition) -> None:
        if self.memory is not None:
            self.memory.push(transition)

    def ready(self) -> bool:
        return self.learn_fn is not None and self.memory is not None and self.memory.is_ready()

    def learn(self, key: jax.Array) -> dict[str, float]:
        if self.learn_fn is None or self.memory is None:
            return {}
        sample_key, learn_key = jax.random.split(key)
        batch = self.memory.sample(sample_key)
        self.params, self.learner_state = self.learn_fn(
            learn_key, self.params, self.learner_state, batch
        )
        return {}

    def policy(self) -> tuple[PolicySpec, Params]:
        return self.spec, self.policy_params(self.params)


class AverageReturnMemory:
    """Random policy search's memory: the returns of the last ``episodes`` episodes.

    ``sample`` gives their mean and forgets them (the next candidate starts afresh).
    """

    def __init__(self, episodes: int) -> None:
        if episodes <= 0:
            raise KhipuError(f"episodes must be positive, got {episodes}")
        self.episodes = episodes
        self.returns: list[float] = []
        self._running = 0.0

    def push(self, transition: Transition) -> None:
        self._running += float(transition.reward)
        if transition.terminated or transition.truncated:
            self.returns.append(self._running)
            self._running = 0.0

    def is_ready(self) -> bool:
        return len(self.returns) >= self.episodes

    def sample(self, key: jax.Array | None = None) -> float:
        """The mean return of the stored episodes; empties the memory."""
        del key
        mean = float(np.mean(self.returns))
        self.returns.clear()
        return mean


class RewardsToGoMemory:
    """REINFORCE's memory: the steps of the last ``episodes`` complete episodes,
    each with its discounted rewards-to-go.

    ``sample`` returns them all (the policy gradient is on-policy: old episodes
    were played by an older policy) as a dict of arrays padded to a power of
    two, so a jitted learning step compiles only a few times:
    ``obs [N, D]``, ``action [N]``, ``rewards_to_go [N]`` and ``mask [N]``
    (1 for real steps, 0 for padding); it then forgets them.
    """

    def __init__(
        self,
        episodes: int,
        *,
        gamma: float = 1.0,
        returns_fn: Callable[[list[float], float], Any] = rewards_to_go,
    ) -> None:
        if episodes <= 0:
            raise KhipuError(f"episodes must be positive, got {episodes}")
        self.episodes, self.gamma, self.returns_fn = episodes, gamma, returns_fn
        self._obs: list[np.ndarray] = []
        self._actions: list[int] = []
        self._rewards: list[float] = []
        self.obs: list[np.ndarray] = []
        self.actions: list[int] = []
        self.rewards_to_go: list[np.ndarray] = []
        self.complete = 0

    def push(self, transition: Transition) -> None:
        self._obs.append(np.asarray(transition.obs, np.float32))
        self._actions.append(int(transition.action))
        self._rewards.append(float(transition.reward))
        if transition.terminated or transition.truncated:
            self.obs += self._obs
            self.actions += self._actions
            self.rewards_to_go.append(
                np.asarray(self.returns_fn(self._rewards, self.gamma), np.float32).reshape(-1)
            )
            self._obs, self._actions, self._rewards = [], [], []
            self.complete += 1

    def is_ready(self) -> bool:
        return self.complete >= self.episodes

    def sample(self, key: jax.Array | None = None) -> dict[str, np.ndarray]:
        """The stored steps, padded (see the class docstring); empties the memory."""
        del key
        n = len(self.actions)
        size = 64
        while size < n:
            size *= 2
        pad = size - n
        obs = np.stack(self.obs)
        batch = {
            "obs": np.concatenate([obs, np.zeros((pad, obs.shape[1]), np.float32)]),
            "action": np.concatenate([np.asarray(self.actions, np.int32), np.zeros(pad, np.int32)]),
            "rewards_to_go": np.concatenate(
                [np.concatenate(self.rewards_to_go), np.zeros(pad, np.float32)]
            ),
            "mask": np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)]),
        }
        self.obs, self.actions, self.rewards_to_go, self.complete = [], [], [], 0
        return batch


class History(NamedTuple):
    """Learning-curve data of one run.

    Attributes:
      episode_steps: environment steps at the end of each training episode.
      episode_returns: return of each training episode.
      eval_steps: environment steps at each evaluation.
      eval_returns: mean evaluation return at each evaluation.
    """

    episode_steps: list[int]
    episode_returns: list[float]
    eval_steps: list[int]
    eval_returns: list[float]

    def to_json(self) -> dict[str, list[float]]:
        """The history as JSON-serialisable lists."""
        return {k: [float(x) for x in v] for k, v in self._asdict().items()}


class LoopResult(NamedTuple):
    """What :func:`run_training_loop` returns.

    Attributes:
      history: the learning curves.
      env_steps: training environment steps taken.
      seconds: wall-clock training time.
      best_policy: the policy of the best evaluation (the final one if
        ``keep_best`` is off or no evaluation ran).
      best_eval_return: its mean evaluation return (NaN without evaluation).
    """

    history: History
    env_steps: int
    seconds: float
    best_policy: tuple[PolicySpec, Params]
    best_eval_return: float


def run_training_loop(
    agent: Agent,
    *,
    env_id: str,
    seed: int,
    num_episodes: int | None = None,
    max_env_steps: int | None = None,
    learn_every_steps: int | None = None,
    learn_steps_per_episode: int = 0,
    eval_every: int = 50,
    eval_every_steps: int | None = None,
    eval_episodes: int = 8,
    keep_best: bool = True,
    progress: bool = True,
) -> LoopResult:
    """Trains ``agent`` on gymnasium's ``env_id`` until an episode or step budget runs out.

    Args:
      agent: an :class:`Agent`.
      env_id: gymnasium environment id (checked by :func:`~khipu.rl.envs.make_env`).
      seed: seeds the environment resets (episode ``i`` uses ``seed + i``) and
        the agent's keys.
      num_episodes: stop after this many training episodes.
      max_env_steps: stop at the end of the episode that reaches this many steps.
      learn_every_steps: learn every this many environment steps (``None``: never
        during episodes).
      learn_steps_per_episode: learning steps after each episode.
      eval_every: evaluate every this many episodes (and after the last one).
      eval_every_steps: instead, evaluate at the end of the first episode after
        every multiple of this many environment steps.
      eval_episodes: evaluation episodes (seeds ``10**6 + seed*1000 + k``, never
        the training seeds).
      keep_best: return the policy of the best evaluation.
      progress: show a progress bar.

    Returns:
      A :class:`LoopResult`.
    """
    if num_episodes is None and max_env_steps is None:
        raise KhipuError("give num_episodes or max_env_steps")
    if eval_every <= 0 or eval_episodes <= 0 or (eval_every_steps or 1) <= 0:
        raise KhipuError("eval_every, eval_every_steps and eval_episodes must be positive")
    env, eval_env = make_env(env_id), make_env(env_id)
    keys = KeySequence(seed)
    history = History([], [], [], [])
    best_policy, best_return = agent.policy(), -math.inf
    steps, episode, next_eval_step = 0, 0, eval_every_steps
    start = time.perf_counter()
    total = num_episodes if num_episodes is not None else max_env_steps
    bar = tqdm(total=total, disable=not progress, unit="ep" if num_episodes else "step")

    def evaluate() -> None:
        nonlocal best_policy, best_return
        returns = evaluate_policy(
            eval_env,
            lambda obs: agent.select_action(next(keys), obs, evaluation=True),
            episodes=eval_episodes,
            seed=eval_seed(seed),
        )
        mean = float(np.mean(returns))
        history.eval_steps.append(steps)
        history.eval_returns.append(mean)
        if mean >= best_return or not keep_best:
            spec, params = agent.policy()
            best_return, best_policy = mean, (spec, as_numpy_tree(params))
        bar.set_postfix(eval=f"{mean:.1f}", refresh=False)

    try:
        while True:
            obs, _ = env.reset(seed=seed + episode)
            ep_return, done = 0.0, False
            while not done:
                action = agent.select_action(next(keys), obs, evaluation=False)
                next_obs, reward, terminated, truncated, _ = env.step(action)
                agent.observe(
                    Transition(
                        obs, action, float(reward), next_obs, bool(terminated), bool(truncated)
                    )
                )
                steps += 1
                ep_return += float(reward)
                done = terminated or truncated
                obs = next_obs
                if learn_every_steps and steps % learn_every_steps == 0 and agent.ready():
                    agent.learn(next(keys))
            for _ in range(learn_steps_per_episode):
                if agent.ready():
                    agent.learn(next(keys))
            episode += 1
            history.episode_steps.append(steps)
            history.episode_returns.append(ep_return)
            bar.update(1 if num_episodes else steps - bar.n)
            last = (num_episodes is not None and episode >= num_episodes) or (
                max_env_steps is not None and steps >= max_env_steps
            )
            if next_eval_step is not None:
                due = steps >= next_eval_step
                while next_eval_step <= steps:
                    next_eval_step += eval_every_steps or 1
            else:
                due = episode % eval_every == 0
            if due or last:
                evaluate()
            if last:
                break
    finally:
        bar.close()
        env.close()
        eval_env.close()
    seconds = time.perf_counter() - start
    if not keep_best or not history.eval_returns:
        best_policy = agent.policy()
    return LoopResult(history, steps, seconds, best_policy, best_return)


def as_numpy_tree(tree: Any) -> Any:
    """A copy of a pytree with NumPy leaves (a snapshot that later updates cannot change)."""
    return jax.tree.map(np.array, tree)
