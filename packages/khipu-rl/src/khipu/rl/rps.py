"""Random policy search, as in the practical: draw linear policies at random and
keep the one with the best average episode return."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import numpy as np
from khipu.core import KhipuError, as_key
from khipu.rl.envs import Transition
from khipu.rl.nets import Params, PolicySpec


class RPSConfig(NamedTuple):
    """Random-search settings.

    Attributes:
      num_episodes: training episodes.
      episodes_per_candidate: episodes averaged to score one candidate (the
        practical's 50).
      low, high: each weight is drawn uniformly from ``[low, high)``.
      eval_every: episodes between evaluations.
      eval_episodes: episodes per evaluation.
      init: ``"random"`` (the first candidate is a random draw) or ``"ones"``
        (the practical's start; on CartPole the all-ones policy already balances
        the pole, so the search has nothing left to find).
    """

    num_episodes: int = 1000
    episodes_per_candidate: int = 20
    low: float = -2.0
    high: float = 2.0
    eval_every: int = 100
    eval_episodes: int = 8
    init: str = "random"


def check_config(config: RPSConfig) -> None:
    """Raises :class:`~khipu.core.KhipuError` for impossible settings."""
    if config.low >= config.high:
        raise KhipuError(f"need low < high, got [{config.low}, {config.high})")
    if config.init not in ("random", "ones"):
        raise KhipuError(f"init must be 'random' or 'ones', got {config.init!r}")
    for name in ("num_episodes", "episodes_per_candidate", "eval_every", "eval_episodes"):
        if getattr(config, name) <= 0:
            raise KhipuError(f"{name} must be positive, got {getattr(config, name)}")


class RandomPolicySearchParams(NamedTuple):
    """The candidate being scored and the best one so far (both start at ones)."""

    current: np.ndarray
    best: np.ndarray


class AverageEpisodeReturnBuffer:
    """The practical's memory: returns of the current candidate's episodes."""

    def __init__(self, num_episodes_to_store: int) -> None:
        if num_episodes_to_store <= 0:
            raise KhipuError(
                f"episodes per candidate must be positive, got {num_episodes_to_store}"
            )
        self.size = num_episodes_to_store
        self.returns: list[float] = []
        self._running = 0.0

    def push(self, transition: Transition) -> None:
        """Adds a step's reward; an episode's end stores its return."""
        self._running += transition.reward
        if transition.terminated or transition.truncated:
            self.returns.append(self._running)
            self._running = 0.0

    def is_ready(self) -> bool:
        """Whether the candidate has played its episodes."""
        return len(self.returns) >= self.size

    def average_and_clear(self) -> float:
        """The average return of the stored episodes; empties the buffer."""
        mean = float(np.mean(self.returns))
        self.returns.clear()
        return mean


def random_candidate(
    key: jax.Array, shape: tuple[int, ...], *, low: float, high: float
) -> np.ndarray:
    """A fresh linear policy with weights uniform in ``[low, high)``."""
    return np.asarray(jax.random.uniform(key, shape, minval=low, maxval=high), np.float32)


def rps_learn(
    key: jax.Array,
    params: RandomPolicySearchParams,
    best_average: float,
    average: float,
    *,
    low: float,
    high: float,
) -> tuple[RandomPolicySearchParams, float]:
    """The practical's learning step: keep ``current`` if it beat the best
    average, then replace ``current`` by a new random draw (not a perturbation)."""
    best, best_average = (
        (params.current, average) if average > best_average else (params.best, best_average)
    )
    current = random_candidate(key, params.current.shape, low=low, high=high)
    return RandomPolicySearchParams(current, best), best_average


class RandomPolicySearchAgent:
    """The practical's random-search agent for :func:`~khipu.rl.loop.run_training_loop`."""

    def __init__(self, config: RPSConfig, obs_dim: int, num_actions: int, *, key: jax.Array | int):
        check_config(config)
        self.config = config
        shape = (obs_dim,) if num_actions == 2 else (obs_dim, num_actions)
        self.spec = PolicySpec("linear", obs_dim, num_actions, ())
        first = np.ones(shape, np.float32)
        if config.init == "random":
            first = random_candidate(as_key(key), shape, low=config.low, high=config.high)
        self.params = RandomPolicySearchParams(first, first.copy())
        self.best_average = -math.inf
        self.memory = AverageEpisodeReturnBuffer(config.episodes_per_candidate)

    @staticmethod
    def _act(weights: np.ndarray, obs: np.ndarray) -> int:
        if weights.ndim == 1:
            return int(np.dot(weights, obs) > 0)
        return int(np.argmax(obs @ weights))

    def select_action(self, key: jax.Array, obs: np.ndarray, *, evaluation: bool) -> int:
        del key
        return self._act(self.params.best if evaluation else self.params.current, obs)

    def observe(self, transition: Transition) -> None:
        self.memory.push(transition)

    def ready(self) -> bool:
        return self.memory.is_ready()

    def learn(self, key: jax.Array) -> dict[str, float]:
        average = self.memory.average_and_clear()
        self.params, self.best_average = rps_learn(
            as_key(key),
            self.params,
            self.best_average,
            average,
            low=self.config.low,
            high=self.config.high,
        )
        return {"candidate_return": average, "best_return": self.best_average}

    def policy(self) -> tuple[PolicySpec, Params]:
        return self.spec, self.params.best
