"""REINFORCE: a softmax policy network trained on discounted rewards-to-go,
with an optional baseline or return normalisation."""

from __future__ import annotations

from typing import NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
from khipu.core import KhipuError, as_key
from khipu.rl.envs import Transition
from khipu.rl.nets import Params, PolicySpec, logits_network
from khipu.rl.returns import rewards_to_go

BASELINES = ("none", "mean", "normalize")
EVAL_MODES = ("greedy", "sampled")


class ReinforceConfig(NamedTuple):
    """REINFORCE settings.

    Attributes:
      hidden: policy MLP hidden sizes.
      learning_rate: Adam's step size.
      gamma: discount of the rewards-to-go.
      episodes_per_update: complete episodes per policy-gradient step.
      baseline: ``"none"`` (the practical), ``"mean"`` (subtract the batch mean
        return) or ``"normalize"`` (subtract the mean, divide by the std).
      eval_mode: ``"greedy"`` (most probable action) or ``"sampled"``.
      num_episodes: training episodes.
      eval_every: episodes between evaluations.
      eval_episodes: episodes per evaluation.
    """

    hidden: tuple[int, ...] = (32, 32)
    learning_rate: float = 5e-3
    gamma: float = 0.99
    episodes_per_update: int = 4
    baseline: str = "normalize"
    eval_mode: str = "greedy"
    num_episodes: int = 600
    eval_every: int = 25
    eval_episodes: int = 8


def check_config(config: ReinforceConfig) -> None:
    """Raises :class:`~khipu.core.KhipuError` for impossible settings."""
    if not config.learning_rate > 0:
        raise KhipuError(f"learning_rate must be positive, got {config.learning_rate}")
    if config.baseline not in BASELINES:
        raise KhipuError(f"baseline must be one of {', '.join(BASELINES)}; got {config.baseline!r}")
    if config.eval_mode not in EVAL_MODES:
        raise KhipuError(
            f"eval_mode must be one of {', '.join(EVAL_MODES)}; got {config.eval_mode!r}"
        )
    if not 0.0 <= config.gamma <= 1.0:
        raise KhipuError(f"gamma must be in [0, 1], got {config.gamma}")
    for name in ("episodes_per_update", "num_episodes", "eval_every", "eval_episodes"):
        if getattr(config, name) <= 0:
            raise KhipuError(f"{name} must be positive, got {getattr(config, name)}")


def policy_gradient_loss(
    logits: jax.Array, actions: jax.Array, weights: jax.Array, mask: jax.Array
) -> jax.Array:
    """``-mean(log pi(a|s) * weight)`` over the valid (``mask``) steps."""
    log_probs = jax.nn.log_softmax(logits)
    log_prob = jnp.take_along_axis(log_probs, actions[:, None], axis=-1)[:, 0]
    return -jnp.sum(log_prob * weights * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def apply_baseline(returns: np.ndarray, baseline: str) -> np.ndarray:
    """Rewards-to-go weighted as the baseline option says."""
    r = np.asarray(returns, np.float32)
    if baseline == "mean":
        return np.asarray(r - r.mean(), np.float32)
    if baseline == "normalize":
        return np.asarray((r - r.mean()) / (r.std() + 1e-8), np.float32)
    return r


class EpisodeMemory:
    """Complete episodes' observations, actions and discounted rewards-to-go."""

    def __init__(self, gamma: float) -> None:
        self.gamma = gamma
        self._obs: list[np.ndarray] = []
        self._actions: list[int] = []
        self._rewards: list[float] = []
        self.obs: list[np.ndarray] = []
        self.actions: list[int] = []
        self.returns: list[np.ndarray] = []
        self.episodes = 0

    def push(self, transition: Transition) -> None:
        """Adds a step; an episode's end turns its rewards into rewards-to-go."""
        self._obs.append(np.asarray(transition.obs, np.float32))
        self._actions.append(int(transition.action))
        self._rewards.append(float(transition.reward))
        if transition.terminated or transition.truncated:
            self.obs += self._obs
            self.actions += self._actions
            self.returns.append(rewards_to_go(self._rewards, self.gamma))
            self._obs, self._actions, self._rewards = [], [], []
            self.episodes += 1

    def take(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(obs [N, D], actions [N], rewards_to_go [N])`` of the stored episodes; clears them."""
        out = (np.stack(self.obs), np.asarray(self.actions, np.int32), np.concatenate(self.returns))
        self.obs, self.actions, self.returns, self.episodes = [], [], [], 0
        return out


def _bucket(n: int) -> int:
    size = 256
    while size < n:
        size *= 2
    return size


class ReinforceAgent:
    """REINFORCE for :func:`~khipu.rl.loop.run_training_loop`: samples actions
    while training, learns after every ``episodes_per_update`` episodes.

    Rewards-to-go are Monte Carlo returns of the episode as played: a
    truncated episode's are cut at the time limit (there is no critic to
    bootstrap from).
    """

    def __init__(
        self, config: ReinforceConfig, obs_dim: int, num_actions: int, *, key: jax.Array | int
    ):
        check_config(config)
        self.config = config
        self.spec = PolicySpec("logits", obs_dim, num_actions, tuple(config.hidden))
        net: hk.Transformed = logits_network(num_actions, config.hidden)
        self.params = net.init(as_key(key), jnp.zeros((obs_dim,), jnp.float32))
        optimizer = optax.adam(config.learning_rate)
        self.opt_state = optimizer.init(self.params)
        self.memory = EpisodeMemory(config.gamma)

        @jax.jit
        def sample(params: Params, obs: jax.Array, key: jax.Array) -> jax.Array:
            return jax.random.categorical(key, net.apply(params, obs))

        @jax.jit
        def greedy(params: Params, obs: jax.Array) -> jax.Array:
            return jnp.argmax(net.apply(params, obs))

        @jax.jit
        def update(
            params: Params,
            opt_state: optax.OptState,
            obs: jax.Array,
            actions: jax.Array,
            weights: jax.Array,
            mask: jax.Array,
        ) -> tuple[Params, optax.OptState, jax.Array]:
            def loss_fn(p: Params) -> jax.Array:
                return policy_gradient_loss(net.apply(p, obs), actions, weights, mask)

            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

        self._sample, self._greedy, self._update = sample, greedy, update

    def select_action(self, key: jax.Array, obs: np.ndarray, *, evaluation: bool) -> int:
        obs32 = np.asarray(obs, np.float32)
        if evaluation and self.config.eval_mode == "greedy":
            return int(self._greedy(self.params, obs32))
        return int(self._sample(self.params, obs32, key))

    def observe(self, transition: Transition) -> None:
        self.memory.push(transition)

    def ready(self) -> bool:
        return self.memory.episodes >= self.config.episodes_per_update

    def learn(self, key: jax.Array) -> dict[str, float]:
        del key
        obs, actions, returns = self.memory.take()
        weights = apply_baseline(returns, self.config.baseline)
        n, size = len(actions), _bucket(len(actions))
        pad = size - n
        mask = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
        obs = np.concatenate([obs, np.zeros((pad, obs.shape[1]), np.float32)])
        actions = np.concatenate([actions, np.zeros(pad, np.int32)])
        weights = np.concatenate([weights, np.zeros(pad, np.float32)])
        self.params, self.opt_state, loss = self._update(
            self.params, self.opt_state, obs, actions, weights, mask
        )
        return {"loss": float(loss)}

    def policy(self) -> tuple[PolicySpec, Params]:
        return self.spec, self.params
