"""Proximal policy optimisation: vectorised environments, GAE, the clipped
surrogate objective, a value loss and an entropy bonus; on gymnasium's vector
environments (:func:`train_ppo_gym`) or entirely inside ``jax.jit`` on the JAX
CartPole (:func:`make_ppo_train`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
from khipu.core import KeySequence, KhipuError, as_key
from khipu.rl import cartpole
from khipu.rl.dqn import JaxRun
from khipu.rl.envs import env_info, eval_seed, evaluate_policy, make_env
from khipu.rl.loop import History, LoopResult, as_numpy_tree
from khipu.rl.nets import Params, PolicySpec, actor_critic_network
from khipu.rl.returns import gae
from tqdm.auto import tqdm


class PPOConfig(NamedTuple):
    """PPO hyperparameters.

    Attributes:
      hidden: actor and critic hidden sizes.
      learning_rate: Adam's step size (annealed linearly to 0 if ``anneal_lr``).
      num_envs: parallel environments.
      num_steps: rollout length per environment per update.
      total_steps: environment steps of training.
      gamma: discount.
      gae_lambda: GAE's lambda.
      clip_eps: the ratio clipping of the surrogate objective.
      vf_coef: weight of the value loss.
      ent_coef: weight of the entropy bonus.
      update_epochs: passes over each rollout.
      num_minibatches: minibatches per pass.
      max_grad_norm: gradient clipping.
      anneal_lr: decay the learning rate linearly to 0.
      normalize_advantages: standardise advantages per minibatch.
      eval_every: updates between evaluations.
      eval_episodes: episodes per evaluation.
    """

    hidden: tuple[int, ...] = (64, 64)
    learning_rate: float = 2.5e-3
    num_envs: int = 8
    num_steps: int = 128
    total_steps: int = 150_000
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    update_epochs: int = 4
    num_minibatches: int = 4
    max_grad_norm: float = 0.5
    anneal_lr: bool = True
    normalize_advantages: bool = True
    eval_every: int = 10
    eval_episodes: int = 16


def check_config(config: PPOConfig) -> None:
    """Raises :class:`~khipu.core.KhipuError` for impossible settings."""
    if not config.learning_rate > 0:
        raise KhipuError(f"learning_rate must be positive, got {config.learning_rate}")
    for name, value in (("gamma", config.gamma), ("gae_lambda", config.gae_lambda)):
        if not 0.0 <= value <= 1.0:
            raise KhipuError(f"{name} must be in [0, 1], got {value}")
    if not config.clip_eps > 0:
        raise KhipuError(f"clip_eps must be positive, got {config.clip_eps}")
    for name in (
        "num_envs",
        "num_steps",
        "total_steps",
        "update_epochs",
        "num_minibatches",
        "eval_every",
        "eval_episodes",
    ):
        if getattr(config, name) <= 0:
            raise KhipuError(f"{name} must be positive, got {getattr(config, name)}")
    if (config.num_envs * config.num_steps) % config.num_minibatches:
        raise KhipuError("num_envs * num_steps must be divisible by num_minibatches")
    if config.total_steps < config.num_envs * config.num_steps:
        raise KhipuError(
            f"total_steps {config.total_steps} is less than one rollout "
            f"({config.num_envs} envs x {config.num_steps} steps)"
        )


def num_updates(config: PPOConfig) -> int:
    """Number of rollouts (and updates) in ``total_steps``."""
    return config.total_steps // (config.num_envs * config.num_steps)


class PPOState(NamedTuple):
    """Parameters and optimizer state."""

    params: Params
    opt_state: optax.OptState


class PPO(NamedTuple):
    """PPO's pure functions for one environment shape."""

    config: PPOConfig
    spec: PolicySpec
    net: hk.Transformed
    init: Callable[[jax.Array], PPOState]
    update: Callable[
        [PPOState, dict[str, jax.Array], jax.Array], tuple[PPOState, dict[str, jax.Array]]
    ]


def ppo_loss(
    net: hk.Transformed, params: Params, batch: dict[str, jax.Array], config: PPOConfig
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Clipped surrogate + ``vf_coef`` x value MSE - ``ent_coef`` x entropy.

    ``batch``: ``obs [B, D]``, ``action [B]``, ``log_prob [B]`` (behaviour
    policy), ``advantage [B]`` and ``target [B]`` (value targets).
    """
    logits, values = net.apply(params, batch["obs"])
    log_probs = jax.nn.log_softmax(logits)
    log_prob = jnp.take_along_axis(log_probs, batch["action"][:, None], axis=-1)[:, 0]
    adv = batch["advantage"]
    if config.normalize_advantages:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    ratio = jnp.exp(log_prob - batch["log_prob"])
    clipped = jnp.clip(ratio, 1.0 - config.clip_eps, 1.0 + config.clip_eps)
    policy_loss = -jnp.mean(jnp.minimum(ratio * adv, clipped * adv))
    value_loss = 0.5 * jnp.mean(jnp.square(values - batch["target"]))
    entropy = -jnp.mean(jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1))
    loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy
    approx_kl = jnp.mean((ratio - 1.0) - jnp.log(ratio))
    return loss, {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": approx_kl,
    }


def make_ppo(config: PPOConfig, obs_dim: int, num_actions: int) -> PPO:
    """Builds PPO's ``init(key)`` and ``update(state, rollout, key)``.

    ``rollout`` holds ``[T, N]`` arrays: ``obs [T, N, D]``, ``action``,
    ``log_prob``, ``value``, ``reward``, ``next_value`` (value of the true next
    observation), ``terminated`` and ``done``.
    """
    check_config(config)
    spec = PolicySpec("actor_critic", obs_dim, num_actions, tuple(config.hidden))
    net = actor_critic_network(num_actions, config.hidden)
    updates_total = num_updates(config)
    steps_per_update = config.update_epochs * config.num_minibatches
    lr: float | optax.Schedule = config.learning_rate
    if config.anneal_lr:
        lr = optax.linear_schedule(config.learning_rate, 0.0, updates_total * steps_per_update)
    optimizer = optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5)
    )

    def init(key: jax.Array) -> PPOState:
        params = net.init(key, jnp.zeros((obs_dim,), jnp.float32))
        return PPOState(params, optimizer.init(params))

    grad_fn = jax.value_and_grad(lambda p, b: ppo_loss(net, p, b, config), has_aux=True)

    def update(
        state: PPOState, rollout: dict[str, jax.Array], key: jax.Array
    ) -> tuple[PPOState, dict[str, jax.Array]]:
        adv, targets = gae(
            rollout["reward"],
            rollout["value"],
            rollout["next_value"],
            rollout["terminated"],
            rollout["done"],
            gamma=config.gamma,
            lam=config.gae_lambda,
        )
        flat = {
            "obs": rollout["obs"].reshape(-1, obs_dim),
            "action": rollout["action"].reshape(-1),
            "log_prob": rollout["log_prob"].reshape(-1),
            "advantage": adv.reshape(-1),
            "target": targets.reshape(-1),
        }
        size = flat["action"].shape[0]
        mb = size // config.num_minibatches

        def epoch(state: PPOState, k: jax.Array) -> tuple[PPOState, dict[str, jax.Array]]:
            perm = jax.random.permutation(k, size)
            shuffled = jax.tree.map(
                lambda x: x[perm].reshape(config.num_minibatches, mb, *x.shape[1:]), flat
            )

            def minibatch(
                state: PPOState, batch: dict[str, jax.Array]
            ) -> tuple[PPOState, dict[str, jax.Array]]:
                (loss, metrics), grads = grad_fn(state.params, batch)
                updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
                params = optax.apply_updates(state.params, updates)
                return PPOState(params, opt_state), {"loss": loss, **metrics}

            return jax.lax.scan(minibatch, state, shuffled)

        state, metrics = jax.lax.scan(epoch, state, jax.random.split(key, config.update_epochs))
        return state, jax.tree.map(jnp.mean, metrics)

    return PPO(config, spec, net, init, update)


def _greedy(net: hk.Transformed) -> Callable[[Params, jax.Array], jax.Array]:
    return lambda params, obs: jnp.argmax(net.apply(params, obs)[0], axis=-1)


def make_ppo_train(config: PPOConfig) -> Callable[[jax.Array], JaxRun]:
    """PPO on the JAX CartPole as one pure function ``train(key) -> JaxRun``.

    Rollouts (``lax.scan`` over steps of ``vmap``-ed environments), GAE and the
    minibatch epochs all stay inside one computation, so ``jax.jit(train)``
    compiles the whole run once. Every ``eval_every`` updates the greedy policy
    plays ``eval_episodes`` episodes; the best evaluation's parameters are kept.
    """
    ppo = make_ppo(config, cartpole.OBS_DIM, cartpole.NUM_ACTIONS)
    n, t = config.num_envs, config.num_steps
    num_evals = max(1, num_updates(config) // config.eval_every)
    greedy = _greedy(ppo.net)

    def train(key: jax.Array) -> JaxRun:
        init_key, env_key, loop_key = jax.random.split(as_key(key), 3)
        state = ppo.init(init_key)
        env_states, obs = cartpole.reset_batch(env_key, n)

        def env_step(carry: Any, _: None) -> tuple[Any, dict[str, jax.Array]]:
            params, env_states, obs, ep_ret, key = carry
            key, act_key, step_key = jax.random.split(key, 3)
            logits, value = ppo.net.apply(params, obs)
            action = jax.random.categorical(act_key, logits)
            log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[
                :, 0
            ]
            out = cartpole.step_autoreset_batch(step_key, env_states, action)
            done = out.terminated | out.truncated
            ep_ret = ep_ret + out.reward
            item = {
                "obs": obs,
                "action": action,
                "log_prob": log_prob,
                "value": value,
                "reward": out.reward,
                "next_obs": out.next_obs,
                "terminated": out.terminated,
                "done": done,
                "finished_return": ep_ret * done,
            }
            ep_ret = ep_ret * (1.0 - done.astype(jnp.float32))
            return (params, out.state, out.obs, ep_ret, key), item

        def one_update(carry: Any, _: None) -> tuple[Any, tuple[jax.Array, jax.Array]]:
            state, env_states, obs, ep_ret, key = carry
            key, update_key = jax.random.split(key)
            (_, env_states, obs, ep_ret, key), rollout = jax.lax.scan(
                env_step, (state.params, env_states, obs, ep_ret, key), None, length=t
            )
            _, next_value = ppo.net.apply(state.params, rollout["next_obs"])
            rollout["next_value"] = next_value
            state, _metrics = ppo.update(state, rollout, update_key)
            return (state, env_states, obs, ep_ret, key), (
                jnp.sum(rollout["finished_return"]),
                jnp.sum(rollout["done"].astype(jnp.float32)),
            )

        def chunk(carry: Any, c: jax.Array) -> tuple[Any, tuple[jax.Array, jax.Array, jax.Array]]:
            inner, best_params, best_return = carry
            inner, (fin_sum, fin_cnt) = jax.lax.scan(
                one_update, inner, None, length=config.eval_every
            )
            state, env_states, obs, ep_ret, key = inner
            key, eval_key = jax.random.split(key)
            returns = cartpole.evaluate_batch(greedy, state.params, eval_key, config.eval_episodes)
            mean = jnp.mean(returns)
            better = mean >= best_return
            best_params = jax.tree.map(
                lambda p, b: jnp.where(better, p, b), state.params, best_params
            )
            total, count = jnp.sum(fin_sum), jnp.sum(fin_cnt)
            train_mean = jnp.where(count > 0, total / jnp.maximum(count, 1.0), jnp.nan)
            steps = (c + 1) * config.eval_every * n * t
            inner = (state, env_states, obs, ep_ret, key)
            return (inner, best_params, jnp.maximum(mean, best_return)), (steps, mean, train_mean)

        inner = (state, env_states, obs, jnp.zeros((n,)), loop_key)
        (inner, best_params, _), (steps, evals, trains) = jax.lax.scan(
            chunk, (inner, state.params, -jnp.inf), jnp.arange(num_evals)
        )
        return JaxRun(best_params, inner[0].params, steps, evals, trains)

    return train


def make_vector_env(env_id: str, num_envs: int) -> Any:
    """``num_envs`` copies of ``env_id`` in a ``SyncVectorEnv`` with same-step autoreset."""
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode

    make_env(env_id).close()  # the checks and errors of make_env
    return gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
    )


def step_vector_env(
    envs: Any, actions: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps a same-step-autoreset vector env.

    Returns:
      ``(obs, reward, terminated, truncated, next_obs)``: ``obs`` is what to
      act on next (a reset observation where an episode ended), ``next_obs`` the
      true observation each step reached (``info["final_obs"]`` where an
      episode ended), which truncated episodes bootstrap from.
    """
    obs, reward, terminated, truncated, infos = envs.step(actions)
    done = terminated | truncated
    next_obs = np.array(obs, dtype=np.float32, copy=True)
    if "final_obs" in infos:
        for i in np.flatnonzero(infos.get("_final_obs", done)):
            next_obs[i] = infos["final_obs"][i]
    return obs, np.asarray(reward, np.float32), terminated, truncated, next_obs


def train_ppo_gym(
    config: PPOConfig, *, env_id: str, seed: int, keep_best: bool = True, progress: bool = True
) -> LoopResult:
    """PPO on gymnasium's vector environments (``SyncVectorEnv``, same-step autoreset).

    Rollouts are collected in Python with a jitted policy; GAE and the updates
    are the jitted :func:`make_ppo` ``update``. Truncated episodes bootstrap
    from their final observation (``info["final_obs"]``).
    """
    probe = make_env(env_id)
    info = env_info(probe)
    probe.close()
    ppo = make_ppo(config, info.obs_dim, info.num_actions)
    keys = KeySequence(seed)
    state = ppo.init(next(keys))
    envs = make_vector_env(env_id, config.num_envs)
    eval_env = make_env(env_id)
    net = ppo.net

    @jax.jit
    def act(params: Params, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, ...]:
        logits, value = net.apply(params, obs)
        action = jax.random.categorical(key, logits)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
        return action, log_prob, value

    values_of = jax.jit(lambda params, obs: net.apply(params, obs)[1])
    greedy = jax.jit(_greedy(net))
    update = jax.jit(ppo.update)
    history = History([], [], [], [])
    best: tuple[PolicySpec, Params] = (ppo.spec, as_numpy_tree(state.params))
    best_return = -math.inf
    obs, _ = envs.reset(seed=seed)
    ep_ret = np.zeros(config.num_envs)
    steps = 0
    total_updates = num_updates(config)
    start = time.perf_counter()
    bar = tqdm(total=total_updates, disable=not progress, unit="update")
    try:
        for u in range(total_updates):
            buf: dict[str, list[np.ndarray]] = {
                k: []
                for k in (
                    "obs",
                    "action",
                    "log_prob",
                    "value",
                    "reward",
                    "next_obs",
                    "terminated",
                    "done",
                )
            }
            for _ in range(config.num_steps):
                obs32 = np.asarray(obs, np.float32)
                action, log_prob, value = (
                    np.asarray(x) for x in act(state.params, obs32, next(keys))
                )
                next_obs, reward, terminated, truncated, true_next = step_vector_env(envs, action)
                done = terminated | truncated
                ep_ret += reward
                for i in np.flatnonzero(done):
                    history.episode_steps.append(int(steps + i + 1))
                    history.episode_returns.append(float(ep_ret[i]))
                    ep_ret[i] = 0.0
                steps += config.num_envs
                for k, v in (
                    ("obs", obs32),
                    ("action", action),
                    ("log_prob", log_prob),
                    ("value", value),
                    ("reward", reward),
                    ("next_obs", true_next),
                    ("terminated", terminated),
                    ("done", done),
                ):
                    buf[k].append(np.asarray(v))
                obs = next_obs
            rollout = {k: jnp.asarray(np.stack(v)) for k, v in buf.items()}
            rollout["reward"] = rollout["reward"].astype(jnp.float32)
            rollout["next_value"] = values_of(state.params, rollout["next_obs"])
            state, _ = update(state, rollout, next(keys))
            bar.update(1)
            if (u + 1) % config.eval_every == 0 or u + 1 == total_updates:
                params = state.params

                def eval_act(o: Any, params: Params = params) -> int:
                    return int(greedy(params, np.asarray(o, np.float32)))

                returns = evaluate_policy(
                    eval_env,
                    eval_act,
                    episodes=config.eval_episodes,
                    seed=eval_seed(seed),
                )
                mean = float(np.mean(returns))
                history.eval_steps.append(steps)
                history.eval_returns.append(mean)
                if mean >= best_return or not keep_best:
                    best_return, best = mean, (ppo.spec, as_numpy_tree(state.params))
                bar.set_postfix(eval=f"{mean:.1f}", refresh=False)
    finally:
        bar.close()
        envs.close()
        eval_env.close()
    return LoopResult(history, steps, time.perf_counter() - start, best, best_return)
