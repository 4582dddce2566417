# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Introduction to reinforcement learning — CartPole with gymnasium and JAX
#
# An **agent** observes an **environment**, picks an **action**, receives a
# **reward** and a new observation; it learns a **policy** π(a | s) that
# maximises the **return**, the (discounted) sum of future rewards. We follow
# the Khipu practical with `khipu-rl`: the agent–environment loop, random
# policy search, REINFORCE, deep Q-learning, and finally PPO on a CartPole
# written in pure JAX that trains in seconds.

# %% tags=["pin"]
# %pip install "khipu-rl==0.1.*"

# %%
import os
import tempfile
from pathlib import Path

import jax.numpy as jnp
import khipu.rl as rl
import numpy as np
from IPython.display import Image, display

QUICK = os.environ.get("KHIPU_QUICK") == "1"
OUT = Path(os.environ.get("KHIPU_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="khipu-rl-"))
print("quick mode:", QUICK, "| outputs in", OUT)

# %% [markdown]
# ## 1. The environment
#
# `CartPole-v1`: push a cart left (0) or right (1) to keep a pole upright. The
# observation is *(cart position, cart velocity, pole angle, pole angular
# velocity)*; the reward is +1 per step. An episode **terminates** when the pole
# passes 12° or the cart leaves the track, and is **truncated** after 500 steps.
# The difference matters: after a termination there is no future reward, after
# a truncation there would have been, so value estimates must bootstrap
# through truncation but not through termination.

# %%
env = rl.make_env("CartPole-v1")
print(env.observation_space, env.action_space)
obs, info = env.reset(seed=42)
obs, reward, terminated, truncated, info = env.step(1)
print(obs, reward, terminated, truncated)

# %% [markdown]
# A **linear policy** pushes right when `params · obs > 0`. The agent–environment
# loop plays one episode with it (the practical's exercise 2: return 31).

# %%
params = jnp.array([1.0, -2.0, 2.0, -1.0])
episode_return, length, _ = rl.run_episode(
    env, lambda o: int(rl.linear_policy(params, jnp.asarray(o))), seed=42
)
print("episode return:", episode_return)

# %% [markdown]
# ## 2. Random policy search
#
# Draw linear policies uniformly in [-2, 2]⁴, score each by its average return
# over a few episodes and keep the best. `run_training_loop` implements the
# practical's loop: *select action*, store in *memory*, *learn*, evaluate
# every few episodes.

# %%
rps_config = rl.make_config(
    "rps", {"num_episodes": 200 if QUICK else 1000, "eval_every": 50 if QUICK else 100}
)
rps = rl.train("rps", seed=0, config=rps_config, progress=False)
print("best evaluation returns:", rps.history.eval_returns)
rl.plot_returns(rps.history, title="Random policy search", solved_at=475)

# %% [markdown]
# ## 3. Policy gradients: REINFORCE
#
# Gradient ascent on J(π_θ) = E[return]: the policy-gradient theorem gives
# ∇J = E[Σ_t ∇ log π_θ(a_t | s_t) · G_t] with the **rewards-to-go**
# G_t = Σ_{k≥t} γ^{k-t} r_k. Subtracting a baseline (or normalising G) keeps the
# gradient unbiased and lowers its variance.

# %%
print(rl.rewards_to_go([1, 2, 3, 4]))  # the practical's check: [10, 9, 7, 4]
print(rl.rewards_to_go([1, 1, 1], gamma=0.9))  # floats, not truncated to integers
loss = rl.policy_gradient_loss(
    jnp.array([[1.0, 2.0]]), jnp.array([1]), jnp.array([10.0]), jnp.array([1.0])
)
print("-log π(a=1) · 10 =", float(loss))

# %%
reinforce_config = rl.make_config(
    "reinforce", {"num_episodes": 60 if QUICK else 600, "eval_every": 20 if QUICK else 25}
)
reinforce = rl.train("reinforce", seed=0, config=reinforce_config, progress=False)
rl.plot_returns(reinforce.history, title="REINFORCE", solved_at=475)

# %% [markdown]
# ## 4. Deep Q-learning
#
# Q_π(s, a) is the expected return after taking a in s and following π; the
# greedy policy picks argmax_a Q. DQN regresses Q_θ(s, a) on the Bellman
# target r + γ (1 − terminated) max_a' Q_target(s', a') (double DQN lets the
# online network choose a'), samples transitions uniformly from a **replay
# buffer**, keeps a slowly updated **target network**, and explores with
# ε-greedy actions on a linear ε schedule.

# %%
print(
    rl.dqn_targets(
        jnp.array([1.0, 1.0, 1.0]),
        jnp.array([0.0, 1.0, 0.0]),
        jnp.array([[1.0, 3.0]] * 3),
        None,
        gamma=0.99,
    )
)  # terminal: just r
# The practical's ε = max(1 - t/3000, 0.1):
print(
    [
        round(float(rl.epsilon_schedule(t, start=1.0, end=0.1, decay_steps=2700)), 8)
        for t in (10, 5000)
    ]
)

# %% [markdown]
# Because the JAX CartPole is a pure function, the *whole* DQN run — acting in
# the environment, the replay buffer, learning, target updates, evaluations —
# is one `lax.scan` compiled by `jax.jit`.

# %%
dqn_config = rl.DQNConfig(
    total_steps=6_000 if QUICK else 80_000, eval_every=2_000 if QUICK else 2_500
)
dqn = rl.train("dqn", jax_env=True, seed=0, config=dqn_config)
print(f"{dqn.env_steps} steps in {dqn.train_seconds:.1f}s")
rl.plot_returns(dqn.history, title="DQN (JAX CartPole)", solved_at=475, window=1)

# %% [markdown]
# ## 5. PPO on the JAX CartPole
#
# First, the JAX CartPole against gymnasium's, step by step from the same state:

# %%
gym_env = rl.make_env("CartPole-v1")
obs, _ = gym_env.reset(seed=0)
state = rl.cartpole.from_observation(np.asarray(gym_env.unwrapped.state, np.float32))
worst = 0.0
for t in range(20):
    obs, *_ = gym_env.step(t % 2)
    state, j_obs, *_ = rl.cartpole.step(state, t % 2)
    worst = max(worst, float(np.max(np.abs(np.asarray(j_obs) - obs))))
print("largest difference over 20 steps:", worst)

# %% [markdown]
# PPO collects rollouts from many environments at once (`vmap`), computes
# advantages with GAE, and maximises the clipped surrogate objective with a
# value loss and an entropy bonus — all inside one `jit`.

# %%
ppo_config = rl.PPOConfig(total_steps=40_960 if QUICK else 150_000, eval_every=5 if QUICK else 10)
ppo = rl.train("ppo", jax_env=True, seed=0, config=ppo_config)
print(f"{ppo.env_steps} steps in {ppo.train_seconds:.1f}s (compilation included)")
rl.plot_returns(ppo.history, title="PPO (JAX CartPole)", solved_at=475, window=1)

# %% [markdown]
# The policy trained on the JAX CartPole is evaluated on **gymnasium's**
# CartPole-v1, greedily, and one episode is saved as a GIF.

# %%
act = rl.greedy_act(ppo.spec, ppo.params)
returns = rl.evaluate_policy(rl.make_env("CartPole-v1"), act, episodes=10 if QUICK else 100, seed=0)
print(rl.return_stats(returns))
gif, _ = rl.record_episode_gif("CartPole-v1", act, OUT / "ppo.gif", seed=0, every=4 if QUICK else 2)
display(Image(filename=str(gif)))

# %% [markdown]
# ## Going further
#
# - The same commands train and evaluate from a terminal:
#   `khipu rl train --algo ppo --jax-env --out runs/ppo`, then
#   `khipu rl evaluate --checkpoint runs/ppo --episodes 100`.
# - Try `--env Acrobot-v1`, or `LunarLander-v3` with `gymnasium[box2d]`.
# - Read about REINFORCE with baselines, double DQN (arXiv 1509.06461),
#   DQN (arXiv 1312.5602) and PPO (arXiv 1707.06347).
