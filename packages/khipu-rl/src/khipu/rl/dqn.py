"""Deep Q-learning: discount, target network, replay buffer, linear ε schedule,
Huber or squared loss and optional double DQN, on gymnasium (:class:`DQNAgent`)
or entirely inside ``jax.jit`` on the JAX CartPole (:func:`make_dqn_train`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
from khipu.core import KhipuError, as_key
from khipu.rl import cartpole
from khipu.rl.envs import Transition
from khipu.rl.loop import History
from khipu.rl.nets import Params, PolicySpec, q_network
from khipu.rl.replay import ReplayBuffer, replay_add, replay_init, replay_sample


class DQNConfig(NamedTuple):
    """DQN hyperparameters.

    Attributes:
      hidden: Q-network hidden sizes.
      learning_rate: Adam's step size.
      anneal_lr: decay the step size linearly to 0 over the run's learning steps.
      gamma: discount factor.
      batch_size: transitions per learning step.
      buffer_size: replay capacity.
      learning_starts: environment steps before learning begins.
      train_every: environment steps between learning phases.
      gradient_steps: learning steps per phase.
      target_update: ``"periodic"`` (copy every ``target_period`` learning steps)
        or ``"polyak"`` (``target <- tau * online + (1 - tau) * target`` every step).
      target_period: learning steps between copies.
      tau: Polyak coefficient.
      eps_start, eps_end, eps_decay_steps: linear ε schedule over environment steps.
      loss: ``"huber"`` or ``"mse"``.
      double: double DQN (online network picks the next action, target evaluates it).
      max_grad_norm: gradient clipping.
      total_steps: environment steps of training.
      num_envs: parallel environments (JAX CartPole only).
      eval_every: environment steps between evaluations.
      eval_episodes: episodes per evaluation.
    """

    hidden: tuple[int, ...] = (256, 256)
    learning_rate: float = 2.3e-3
    anneal_lr: bool = True
    gamma: float = 0.99
    batch_size: int = 64
    buffer_size: int = 100_000
    learning_starts: int = 1_000
    train_every: int = 256
    gradient_steps: int = 128
    target_update: str = "periodic"
    target_period: int = 128
    tau: float = 0.005
    eps_start: float = 1.0
    eps_end: float = 0.04
    eps_decay_steps: int = 8_000
    loss: str = "huber"
    double: bool = True
    max_grad_norm: float = 10.0
    total_steps: int = 80_000
    num_envs: int = 1
    eval_every: int = 2_500
    eval_episodes: int = 16


def check_config(config: DQNConfig) -> None:
    """Raises :class:`~khipu.core.KhipuError` for impossible settings."""
    if not config.learning_rate > 0:
        raise KhipuError(f"learning_rate must be positive, got {config.learning_rate}")
    if config.target_update not in ("periodic", "polyak"):
        raise KhipuError(
            f"target_update must be 'periodic' or 'polyak', got {config.target_update!r}"
        )
    if config.loss not in ("huber", "mse"):
        raise KhipuError(f"loss must be 'huber' or 'mse', got {config.loss!r}")
    if not 0.0 <= config.gamma <= 1.0:
        raise KhipuError(f"gamma must be in [0, 1], got {config.gamma}")
    if not 0.0 < config.tau <= 1.0:
        raise KhipuError(f"tau must be in (0, 1], got {config.tau}")
    for name in (
        "batch_size",
        "buffer_size",
        "train_every",
        "gradient_steps",
        "target_period",
        "total_steps",
        "num_envs",
        "eval_every",
        "eval_episodes",
        "eps_decay_steps",
    ):
        if getattr(config, name) <= 0:
            raise KhipuError(f"{name} must be positive, got {getattr(config, name)}")


def epsilon_schedule(
    step: jax.Array | int, *, start: float, end: float, decay_steps: int
) -> jax.Array:
    """ε decaying linearly from ``start`` to ``end`` over ``decay_steps`` steps, then flat.

    The practical's ``max(1 - t / 3000, 0.1)`` is ``start=1, end=0.1, decay_steps=2700``.
    """
    frac = jnp.clip(jnp.asarray(step, jnp.float32) / decay_steps, 0.0, 1.0)
    return jnp.asarray(start + frac * (end - start), jnp.float32)


def epsilon_greedy(key: jax.Array, q_values: jax.Array, epsilon: jax.Array | float) -> jax.Array:
    """The greedy action of ``q_values [..., A]``, or a uniform one with probability ε."""
    explore_key, action_key = jax.random.split(key)
    shape = q_values.shape[:-1]
    random_actions = jax.random.randint(action_key, shape, 0, q_values.shape[-1])
    explore = jax.random.uniform(explore_key, shape) < epsilon
    return jnp.where(explore, random_actions, jnp.argmax(q_values, axis=-1)).astype(jnp.int32)


def dqn_targets(
    rewards: jax.Array,
    terminated: jax.Array,
    next_q_target: jax.Array,
    next_q_online: jax.Array | None,
    *,
    gamma: float,
) -> jax.Array:
    """Bellman targets ``r + gamma * (1 - terminated) * Q_target(s', a*)``.

    ``a*`` is ``argmax Q_target(s', .)`` (DQN) or, when ``next_q_online`` is
    given, ``argmax Q_online(s', .)`` (double DQN). Only termination stops the
    bootstrap: a truncated transition (time limit) still uses ``Q(s', a*)``.
    """
    chooser = next_q_target if next_q_online is None else next_q_online
    best = jnp.argmax(chooser, axis=-1)
    next_value = jnp.take_along_axis(next_q_target, best[..., None], axis=-1)[..., 0]
    return rewards + gamma * (1.0 - terminated.astype(rewards.dtype)) * next_value


class DQNState(NamedTuple):
    """Everything DQN learning changes, as one pytree."""

    params: Params
    target_params: Params
    opt_state: optax.OptState
    buffer: ReplayBuffer
    learn_steps: jax.Array


def _example_transition(obs_dim: int) -> dict[str, jax.Array]:
    return {
        "obs": jnp.zeros((obs_dim,), jnp.float32),
        "action": jnp.zeros((), jnp.int32),
        "reward": jnp.zeros((), jnp.float32),
        "next_obs": jnp.zeros((obs_dim,), jnp.float32),
        "terminated": jnp.zeros((), jnp.float32),
    }


class DQN(NamedTuple):
    """DQN's pure functions for one environment shape."""

    config: DQNConfig
    spec: PolicySpec
    net: hk.Transformed
    optimizer: optax.GradientTransformation
    init: Callable[[jax.Array], DQNState]
    learn: Callable[[DQNState, jax.Array], tuple[DQNState, dict[str, jax.Array]]]


def make_dqn(config: DQNConfig, obs_dim: int, num_actions: int) -> DQN:
    """Builds DQN's ``init(key) -> state`` and ``learn(state, key) -> (state, metrics)``.

    ``learn`` takes ``gradient_steps`` learning steps, each on a fresh uniform
    minibatch of the replay buffer; the target network is copied every
    ``target_period`` learning steps or moved by Polyak averaging every step.
    """
    check_config(config)
    spec = PolicySpec("q", obs_dim, num_actions, tuple(config.hidden))
    net = q_network(num_actions, config.hidden)
    lr: float | optax.Schedule = config.learning_rate
    if config.anneal_lr:
        phases = max(1, (config.total_steps - config.learning_starts) // config.train_every)
        lr = optax.linear_schedule(config.learning_rate, 0.0, phases * config.gradient_steps)
    optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr))

    def init(key: jax.Array) -> DQNState:
        params = net.init(key, jnp.zeros((obs_dim,), jnp.float32))
        buffer = replay_init(config.buffer_size, _example_transition(obs_dim))
        target = jax.tree.map(jnp.copy, params)  # a separate buffer (donation-safe)
        return DQNState(params, target, optimizer.init(params), buffer, jnp.zeros((), jnp.int32))

    def loss_fn(params: Params, target_params: Params, batch: dict[str, jax.Array]) -> jax.Array:
        q = net.apply(params, batch["obs"])
        q_taken = jnp.take_along_axis(q, batch["action"][:, None], axis=-1)[:, 0]
        next_q_target = net.apply(target_params, batch["next_obs"])
        next_q_online = net.apply(params, batch["next_obs"]) if config.double else None
        targets = dqn_targets(
            batch["reward"], batch["terminated"], next_q_target, next_q_online, gamma=config.gamma
        )
        errors = q_taken - jax.lax.stop_gradient(targets)
        if config.loss == "huber":
            return jnp.mean(optax.huber_loss(errors))
        return jnp.mean(jnp.square(errors))

    def learn_step(state: DQNState, key: jax.Array) -> tuple[DQNState, dict[str, jax.Array]]:
        batch = replay_sample(state.buffer, key, config.batch_size)
        loss, grads = jax.value_and_grad(loss_fn)(state.params, state.target_params, batch)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        learn_steps = state.learn_steps + 1
        if config.target_update == "polyak":
            target = optax.incremental_update(params, state.target_params, config.tau)
        else:
            copy = learn_steps % config.target_period == 0
            target = jax.tree.map(lambda p, t: jnp.where(copy, p, t), params, state.target_params)
        return DQNState(params, target, opt_state, state.buffer, learn_steps), {"loss": loss}

    def learn(state: DQNState, key: jax.Array) -> tuple[DQNState, dict[str, jax.Array]]:
        if config.gradient_steps == 1:
            return learn_step(state, key)
        keys = jax.random.split(key, config.gradient_steps)
        state, metrics = jax.lax.scan(learn_step, state, keys)
        return state, jax.tree.map(jnp.mean, metrics)

    return DQN(config, spec, net, optimizer, init, learn)


class DQNAgent:
    """DQN on a gymnasium environment, for :func:`~khipu.rl.loop.run_training_loop`.

    Memory: the replay buffer (ready after ``learning_starts`` steps); actions:
    ε-greedy while training, greedy in evaluation; learning: one phase of
    :func:`make_dqn`'s ``learn`` (``gradient_steps`` steps).
    """

    def __init__(self, config: DQNConfig, obs_dim: int, num_actions: int, *, key: jax.Array | int):
        self.dqn = make_dqn(config, obs_dim, num_actions)
        self.state = self.dqn.init(as_key(key))
        self.env_steps = 0
        net, cfg = self.dqn.net, config

        @jax.jit
        def act(params: Params, obs: jax.Array, key: jax.Array, step: jax.Array) -> jax.Array:
            eps = epsilon_schedule(
                step, start=cfg.eps_start, end=cfg.eps_end, decay_steps=cfg.eps_decay_steps
            )
            return epsilon_greedy(key, net.apply(params, obs), eps)

        @jax.jit
        def greedy(params: Params, obs: jax.Array) -> jax.Array:
            return jnp.argmax(net.apply(params, obs), axis=-1)

        def add(state: DQNState, item: dict[str, jax.Array]) -> DQNState:
            item = jax.tree.map(lambda x: jnp.asarray(x)[None], item)
            return state._replace(buffer=replay_add(state.buffer, item))

        self._act, self._greedy = act, greedy
        self._add = jax.jit(add, donate_argnums=0)
        self._learn = jax.jit(self.dqn.learn, donate_argnums=0)

    def select_action(self, key: jax.Array, obs: np.ndarray, *, evaluation: bool) -> int:
        obs32 = np.asarray(obs, np.float32)
        if evaluation:
            return int(self._greedy(self.state.params, obs32))
        return int(self._act(self.state.params, obs32, key, self.env_steps))

    def observe(self, transition: Transition) -> None:
        self.env_steps += 1
        item = {
            "obs": np.asarray(transition.obs, np.float32),
            "action": np.int32(transition.action),
            "reward": np.float32(transition.reward),
            "next_obs": np.asarray(transition.next_obs, np.float32),
            "terminated": np.float32(transition.terminated),
        }
        self.state = self._add(self.state, item)

    def ready(self) -> bool:
        return self.env_steps >= max(self.dqn.config.learning_starts, self.dqn.config.batch_size)

    def learn(self, key: jax.Array) -> dict[str, float]:
        self.state, metrics = self._learn(self.state, key)
        return {k: float(v) for k, v in metrics.items()}

    def policy(self) -> tuple[PolicySpec, Params]:
        return self.dqn.spec, self.state.params


class TransitionMemory:
    """The practical's replay memory for a gymnasium agent (NumPy ring buffer).

    Stores ``terminated``, not ``done``: a transition cut by the time limit is
    not terminal and its target still bootstraps from ``Q(s', .)``.

    Args:
      capacity: transitions kept (the oldest are overwritten).
      batch_size: transitions per :meth:`sample`.
      min_size: transitions stored before :meth:`is_ready` (at least ``batch_size``).
    """

    def __init__(self, capacity: int, batch_size: int, *, min_size: int = 0) -> None:
        if capacity <= 0 or batch_size <= 0:
            raise KhipuError(
                f"capacity and batch_size must be positive, got {capacity} and {batch_size}"
            )
        if batch_size > capacity:
            raise KhipuError(f"batch_size {batch_size} is larger than the capacity {capacity}")
        self.capacity, self.batch_size = capacity, batch_size
        self.min_size = max(min_size, batch_size)
        self.data: dict[str, np.ndarray] | None = None
        self.position, self.size = 0, 0

    def push(self, transition: Transition) -> None:
        """Stores one transition."""
        item: dict[str, np.ndarray] = {
            "obs": np.asarray(transition.obs, np.float32),
            "action": np.asarray(transition.action, np.int32),
            "reward": np.asarray(transition.reward, np.float32),
            "next_obs": np.asarray(transition.next_obs, np.float32),
            "terminated": np.asarray(transition.terminated, np.float32),
        }
        if self.data is None:
            self.data = {k: np.zeros((self.capacity, *v.shape), v.dtype) for k, v in item.items()}
        for k, v in item.items():
            self.data[k][self.position] = v
        self.position = (self.position + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def is_ready(self) -> bool:
        """Whether ``min_size`` transitions are stored."""
        return self.size >= self.min_size

    def sample(self, key: jax.Array) -> dict[str, np.ndarray]:
        """``batch_size`` stored transitions drawn uniformly (with replacement):
        ``obs [B, D]``, ``action [B]``, ``reward [B]``, ``next_obs [B, D]``, ``terminated [B]``."""
        if self.data is None or self.size == 0:
            raise KhipuError("the memory is empty")
        idx = np.asarray(jax.random.randint(key, (self.batch_size,), 0, self.size))
        return {k: v[idx] for k, v in self.data.items()}


class JaxRun(NamedTuple):
    """Result of a training run compiled into one ``jit`` on the JAX CartPole.

    Attributes:
      params: the best evaluation's parameters.
      final_params: the parameters at the end of training.
      eval_steps, eval_returns: ``[num_evals]`` env steps and mean greedy returns.
      train_returns: ``[num_evals]`` mean return of the training episodes that
        finished since the previous evaluation (NaN if none).
    """

    params: Params
    final_params: Params
    eval_steps: jax.Array
    eval_returns: jax.Array
    train_returns: jax.Array


def jax_run_history(run: JaxRun) -> History:
    """A :class:`~khipu.rl.loop.History` from a :class:`JaxRun` (host values)."""
    steps = [int(s) for s in np.asarray(run.eval_steps)]
    train = np.asarray(run.train_returns, dtype=float)
    ok = np.isfinite(train)
    return History(
        [s for s, k in zip(steps, ok, strict=True) if k],
        [float(r) for r in train[ok]],
        steps,
        [float(r) for r in np.asarray(run.eval_returns)],
    )


def make_dqn_train(config: DQNConfig) -> Callable[[jax.Array], JaxRun]:
    """DQN on the JAX CartPole as one pure function ``train(key) -> JaxRun``.

    Every iteration steps ``num_envs`` environments with ε-greedy actions,
    stores the transitions and, every ``train_every`` iterations after
    ``learning_starts`` steps, takes one learning step; every ``eval_every``
    steps the greedy policy plays ``eval_episodes`` episodes. The loops are
    ``lax.scan``s, so ``jax.jit(train)`` compiles the whole run once (and
    ``jax.vmap`` runs several seeds at once).
    """
    dqn = make_dqn(config, cartpole.OBS_DIM, cartpole.NUM_ACTIONS)
    n = config.num_envs
    iters_per_eval = max(1, config.eval_every // n)
    num_evals = max(1, config.total_steps // (iters_per_eval * n))

    def greedy(params: Params, obs: jax.Array) -> jax.Array:
        return jnp.argmax(dqn.net.apply(params, obs), axis=-1)

    def train(key: jax.Array) -> JaxRun:
        init_key, env_key, loop_key = jax.random.split(as_key(key), 3)
        state = dqn.init(init_key)
        env_states, obs = cartpole.reset_batch(env_key, n)

        def iteration(carry: Any, it: jax.Array) -> tuple[Any, None]:
            state, env_states, obs, ep_ret, fin_sum, fin_cnt, key = carry
            key, act_key, step_key, learn_key = jax.random.split(key, 4)
            env_steps = it * n
            eps = epsilon_schedule(
                env_steps,
                start=config.eps_start,
                end=config.eps_end,
                decay_steps=config.eps_decay_steps,
            )
            actions = epsilon_greedy(act_key, dqn.net.apply(state.params, obs), eps)
            out = cartpole.step_autoreset_batch(step_key, env_states, actions)
            items = {
                "obs": obs,
                "action": actions,
                "reward": out.reward,
                "next_obs": out.next_obs,
                "terminated": out.terminated.astype(jnp.float32),
            }
            state = state._replace(buffer=replay_add(state.buffer, items))
            do_learn = ((env_steps + n) >= config.learning_starts) & (it % config.train_every == 0)
            state = jax.lax.cond(do_learn, lambda s: dqn.learn(s, learn_key)[0], lambda s: s, state)
            done = (out.terminated | out.truncated).astype(jnp.float32)
            ep_ret = ep_ret + out.reward
            fin_sum = fin_sum + jnp.sum(ep_ret * done)
            fin_cnt = fin_cnt + jnp.sum(done)
            ep_ret = ep_ret * (1.0 - done)
            return (state, out.state, out.obs, ep_ret, fin_sum, fin_cnt, key), None

        def chunk(carry: Any, c: jax.Array) -> tuple[Any, tuple[jax.Array, jax.Array, jax.Array]]:
            inner, best_params, best_return = carry
            state, env_states, obs, ep_ret, _, _, key = inner
            inner = (state, env_states, obs, ep_ret, jnp.zeros(()), jnp.zeros(()), key)
            its = c * iters_per_eval + jnp.arange(iters_per_eval)
            inner, _ = jax.lax.scan(iteration, inner, its)
            state, _, _, _, fin_sum, fin_cnt, key = inner
            key, eval_key = jax.random.split(key)
            inner = (*inner[:-1], key)
            returns = cartpole.evaluate_batch(greedy, state.params, eval_key, config.eval_episodes)
            mean = jnp.mean(returns)
            better = mean >= best_return
            best_params = jax.tree.map(
                lambda p, b: jnp.where(better, p, b), state.params, best_params
            )
            best_return = jnp.maximum(mean, best_return)
            train_mean = jnp.where(fin_cnt > 0, fin_sum / jnp.maximum(fin_cnt, 1.0), jnp.nan)
            steps = (c + 1) * iters_per_eval * n
            return (inner, best_params, best_return), (steps, mean, train_mean)

        inner = (state, env_states, obs, jnp.zeros((n,)), jnp.zeros(()), jnp.zeros(()), loop_key)
        carry = (inner, state.params, -jnp.inf)
        (inner, best_params, _), (steps, evals, trains) = jax.lax.scan(
            chunk, carry, jnp.arange(num_evals)
        )
        return JaxRun(best_params, inner[0].params, steps, evals, trains)

    return train
