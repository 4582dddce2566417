"""The agent–environment loop on gymnasium, with the practical's contracts.

An agent chooses actions (``select_action``), stores experience in its memory
(``observe``; ``ready`` says whether the memory can feed a learning step) and
learns from it (``learn``). :func:`run_training_loop` plays episodes, learns
every ``learn_every_steps`` steps and/or ``learn_steps_per_episode`` times after
each episode, and evaluates the agent every ``eval_every`` episodes over
``eval_episodes`` episodes of a separate environment. Terminated and truncated
episodes are told apart in every :class:`~khipu.rl.envs.Transition`, so agents
bootstrap through truncation and not through termination.
"""

from __future__ import annotations

import math
import time
from typing import Any, NamedTuple, Protocol

import jax
import numpy as np
from khipu.core import KeySequence, KhipuError
from khipu.rl.envs import Transition, eval_seed, evaluate_policy, make_env
from khipu.rl.nets import Params, PolicySpec
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
