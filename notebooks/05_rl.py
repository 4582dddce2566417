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
# maximises the **return**, the (discounted) sum of future rewards.
#
# This 90-minute practical follows the Khipu / Deep Learning Indaba one, on
# gymnasium 1.x and JAX, with `khipu-rl`:
#
# | part | what you write | time |
# |---|---|---|
# | 1. Key concepts | a linear policy, the agent–environment loop | 15 min |
# | 2. Random policy search | the agent's `select_action` and `learn` | 15 min |
# | 3. Policy gradients (REINFORCE) | log-probs, rewards-to-go, sampling, the loss | 25 min |
# | 4. Deep Q-learning (DQN) | greedy action, Bellman target, Q loss, ε-greedy | 30 min |
# | 5. PPO on a CartPole written in JAX | (demo) | 5 min |
#
# **How the exercises work.** Each exercise has a cell with a stub
# (`# YOUR CODE HERE`): replace `raise NotImplementedError` by your code and run
# it, then run the **check** cell below it. It prints one line: ✓ when your
# function agrees with the reference on the practical's example and on random
# and edge-case inputs, ✗ with the input that failed, expected vs got and a
# hint, or "not attempted yet". Whatever happens, the check returns a working
# function (yours if it passed, else the reference), so the rest of the
# notebook always runs. The hidden **Solution** cell under each check shows one
# answer — try first!

# %% tags=["pin"]
# %pip install "khipu-rl==0.3.*"

# %%
import functools
import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import khipu.rl as rl
import numpy as np
import optax
from IPython.display import Image, display

QUICK = os.environ.get("KHIPU_QUICK") == "1"  # short runs (tests, slow machines)
OUT = Path(os.environ.get("KHIPU_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="khipu-rl-"))
print("quick mode:", QUICK, "| GIFs in", OUT)

# %% [markdown]
# ## 1. Key concepts
#
# ### The environment
#
# We use gymnasium's `CartPole-v1`: push a cart left (action 0) or right
# (action 1) to keep a pole upright. The observation is *(cart position, cart
# velocity, pole angle, pole angular velocity)*, fully observed; there are two
# discrete actions; the reward is +1 per step.
#
# An episode **terminates** when the pole passes 12° or the cart leaves the
# track, and is **truncated** after 500 steps (so 500 is the best return).
# gymnasium tells the two apart: `reset(seed=...)` returns `(obs, info)` and
# `step(action)` returns `(obs, reward, terminated, truncated, info)`. The
# difference matters later: after a termination there is no future reward,
# after a truncation there would have been.

# %%
env = rl.make_env("CartPole-v1")
print("observations:", env.observation_space)
print("actions:", env.action_space)
obs, info = env.reset(seed=42)
print("first observation:", obs)
obs, reward, terminated, truncated, info = env.step(1)
print("after pushing right:", obs, reward, terminated, truncated)

# %% [markdown]
# ### Policies
#
# A **policy** π_θ maps an observation to an action. The simplest one is
# *linear*: with parameters θ (one weight per observation component), push
# right when θ · obs > 0 and left otherwise.
#
# **Exercise 1.** Write `linear_policy(params, obs)`: `1` if
# `jnp.dot(params, obs) > 0` (strictly), else `0`. `params` and `obs` are `[4]`
# arrays.


# %% tags=["exercise"]
def linear_policy(params, obs):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
linear_policy = rl.exercises.check_linear_policy(linear_policy)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def linear_policy(params, obs):
    return jnp.where(jnp.dot(params, obs) > 0, 1, 0)


# %%
print(linear_policy(jnp.ones(4), jnp.array([1.0, 2.0, 3.0, 4.0])))  # 1
print(linear_policy(jnp.ones(4), jnp.array([-1.0, -2.0, -3.0, -4.0])))  # 0

# %% [markdown]
# ### The return and the agent–environment loop
#
# The **return** of an episode is the sum of its rewards, R = Σ_t r_t (later
# discounted: Σ_t γ^t r_t). The agent–environment loop is: reset, then until
# the episode ends, choose an action from the observation, step, collect the
# reward.
#
# **Exercise 2.** Write `episode_return(env, policy, seed)`: reset `env` with
# `seed`, play `policy(obs) -> action` until the episode **terminates or is
# truncated**, and return the sum of the rewards. (The checker's environment
# complains if you step after the end of the episode.)


# %% tags=["exercise"]
def episode_return(env, policy, seed):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
episode_return = rl.exercises.check_episode_return(episode_return)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def episode_return(env, policy, seed):
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total += float(reward)
        done = terminated or truncated
    return total


# %% [markdown]
# The practical's linear policy θ = [1, −2, 2, −1] from `reset(seed=42)`
# scores 31 (gymnasium's `step` wants a Python `int` action, hence `int(...)`):

# %%
practical_params = jnp.array([1.0, -2.0, 2.0, -1.0])


def practical_policy(obs):
    return int(linear_policy(practical_params, obs))


print("episode return:", episode_return(env, practical_policy, seed=42))

# %% [markdown]
# What that episode looks like (the GIF loops; the strip below shows six key frames):

# %% tags=["figure"]
recording = rl.record_agent(
    "CartPole-v1", practical_policy, OUT / "linear.gif", seed=42, title="θ = [1, −2, 2, −1]"
)
display(Image(filename=str(recording.gif)))
recording.figure

# %% [markdown]
# ### The training loop and the agent contract
#
# `rl.run_training_loop` is the practical's loop. It plays episodes on a
# gymnasium environment and, every `eval_every` episodes, evaluates the agent
# on separate episodes. An agent is three pieces you write as **pure
# functions** plus a **memory**, wrapped by `rl.FunctionAgent`:
#
# ```python
# select_action(key, params, actor_state, obs, evaluation) -> (action, actor_state)
# learn(key, params, learner_state, batch) -> (params, learner_state)
# memory.push(transition); memory.is_ready(); batch = memory.sample(key)
# ```
#
# * `select_action` acts; `evaluation=True` asks for the evaluation policy
#   (no exploration); `actor_state` carries what acting needs between steps
#   (a step counter for an exploration schedule...).
# * the memory stores every `rl.Transition(obs, action, reward, next_obs,
#   terminated, truncated)`;
# * when the memory is ready, the loop calls `learn` on a sample of it, after
#   each episode (`learn_steps_per_episode`) or every few steps
#   (`learn_every_steps`).
#
# Keys are explicit JAX PRNG keys; the loop hands a fresh one to each call.

# %% [markdown]
# ## 2. Random policy search
#
# The simplest learning algorithm: draw a linear policy at random (the
# *current* candidate), score it by its average return over a few episodes,
# keep it if it beats the *best* so far, and draw the next candidate. Its
# parameters are a pair `RandomPolicySearchParams(current, best)`.
#
# **Exercise 3.** Write the agent's `random_search_select_action(key, params,
# actor_state, obs, evaluation)`: act with the linear policy of `params.best`
# when `evaluation` (we evaluate the best policy found), else with
# `params.current` (the candidate being scored). Return `(action,
# actor_state)` — this agent has no actor state to change.


# %% tags=["exercise"]
def random_search_select_action(key, params, actor_state, obs, evaluation):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
random_search_select_action = rl.exercises.check_random_search_select_action(
    random_search_select_action
)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def random_search_select_action(key, params, actor_state, obs, evaluation):
    weights = params.best if evaluation else params.current
    return linear_policy(weights, obs), actor_state


# %% [markdown]
# **Exercise 4.** Write `random_weights(key, shape)`: new weights of `shape`
# drawn uniformly from [−2, 2) with `jax.random` and `key`.


# %% tags=["exercise"]
def random_weights(key, shape):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
random_weights = rl.exercises.check_random_weights(random_weights)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def random_weights(key, shape):
    return jax.random.uniform(key, shape, minval=-2.0, maxval=2.0)


# %% [markdown]
# The original practical printed `[0.29657745, 1.4265499, -1.7621555,
# -1.7505779]` for `PRNGKey(42)`: that was JAX's old random-bit generation
# (`jax_threefry_partitionable=False`); today's default draws other numbers
# from the same key. Same key, same numbers — on a given JAX configuration.

# %%
print(random_weights(jax.random.PRNGKey(42), (4,)))
RandomPolicySearchParams = rl.exercises.RandomPolicySearchParams  # (current, best)

# %% [markdown]
# The memory of this agent, `rl.AverageReturnMemory(episodes)`, adds up each
# episode's rewards; it is ready once it holds `episodes` returns, and
# `sample` gives their mean (the candidate's score) and forgets them.
#
# **Exercise 5.** Write `random_search_learn(key, params, learner_state,
# average_return)`. `learner_state` is the best average return so far (−∞ at
# first). If `average_return` is strictly larger, the current candidate becomes
# the best and `average_return` the new `learner_state`. In every case draw a
# **new** current candidate with `random_weights(key, params.current.shape)`
# (a fresh draw, not a perturbation). Return `(RandomPolicySearchParams(current,
# best), learner_state)`.


# %% tags=["exercise"]
def random_search_learn(key, params, learner_state, average_return):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
random_search_learn = rl.exercises.check_random_search_learn(random_search_learn)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def random_search_learn(key, params, learner_state, average_return):
    best = params.best
    if average_return > learner_state:
        best, learner_state = params.current, average_return
    current = random_weights(key, params.current.shape)
    return RandomPolicySearchParams(current, best), learner_state


# %%
ones = jnp.ones(4)
new_params, best_return = random_search_learn(
    jax.random.key(0), RandomPolicySearchParams(ones, ones), -np.inf, 11.0
)
print("best return:", best_return, "| next candidate:", new_params.current)

# %% [markdown]
# Now plug your two functions and the memory into the training loop. Each
# candidate plays 10 episodes (20 outside quick mode); after each episode the
# loop calls `learn` if the memory is ready.

# %%
first = random_weights(jax.random.key(0), (4,))
rps_agent = rl.FunctionAgent(
    random_search_select_action,
    RandomPolicySearchParams(current=first, best=first),
    spec=rl.PolicySpec("linear", obs_dim=4, num_actions=2, hidden=()),
    learn=random_search_learn,
    learner_state=-np.inf,
    memory=rl.AverageReturnMemory(episodes=10 if QUICK else 20),
    policy_params=lambda params: params.best,  # the policy evaluated and recorded
)
rps_run = rl.run_training_loop(
    rps_agent,
    env_id="CartPole-v1",
    seed=0,
    num_episodes=100 if QUICK else 1000,
    learn_steps_per_episode=1,
    eval_every=25 if QUICK else 100,
    progress=False,
)
print("best average return while searching:", rps_agent.learner_state)
print("evaluation returns:", rps_run.history.eval_returns)

# %% tags=["figure"]
rl.plot_returns(rps_run.history, title="Random policy search", solved_at=475)

# %% tags=["figure"]
rps_act = rl.greedy_act(*rps_run.best_policy)
recording = rl.record_agent(
    "CartPole-v1", rps_act, OUT / "rps.gif", every=4 if QUICK else 2, title="Random search"
)
display(Image(filename=str(recording.gif)))
recording.figure

# %% [markdown]
# ## 3. Policy gradients: REINFORCE
#
# Random search ignores *how* the return depends on θ. Policy-gradient methods
# climb J(θ) = E_{π_θ}[R] by gradient ascent. The policy-gradient theorem
# (derivation omitted) gives
#
# ∇_θ J(θ) = E[ Σ_t ∇_θ log π_θ(a_t | s_t) · R ],
#
# so we increase the log-probability of the actions taken, weighted by the
# return: actions of good episodes become more likely.
#
# **Exercise 6.** Write `weighted_log_prob(action_prob, episode_return)`:
# `log(action_prob) * episode_return` with `jnp.log` (natural log), so that it
# also works elementwise on arrays.


# %% tags=["exercise"]
def weighted_log_prob(action_prob, episode_return):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
weighted_log_prob = rl.exercises.check_weighted_log_prob(weighted_log_prob)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def weighted_log_prob(action_prob, episode_return):
    return jnp.log(action_prob) * episode_return


# %%
print(weighted_log_prob(0.8, 100.0))  # -22.314354

# %% [markdown]
# ### Rewards-to-go
#
# An action cannot change the rewards received before it, so each step only
# needs the rewards from then on: the **reward-to-go**
# G_t = Σ_{k ≥ t} γ^{k−t} r_k. The discount γ ≤ 1 weighs the near future more
# (and lowers the variance).
#
# **Exercise 7.** Write `rewards_to_go(rewards, gamma)`: the list or array of
# G_t for every step of one episode (floats; an empty episode gives an empty
# result). Hint: go backwards, G_t = r_t + γ G_{t+1}.


# %% tags=["exercise"]
def rewards_to_go(rewards, gamma):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
rewards_to_go = rl.exercises.check_rewards_to_go(rewards_to_go)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def rewards_to_go(rewards, gamma):
    out = np.zeros(len(rewards), np.float32)
    running = 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


# %%
print(rewards_to_go([1.0, 2.0, 3.0, 4.0], 1.0))  # [10, 9, 7, 4]

# %% [markdown]
# On CartPole every reward is 1: without discount G_t counts the steps left;
# with γ < 1 it saturates at 1 / (1 − γ).

# %% tags=["figure"]
rl.plot_rewards_to_go([1.0] * 200, rewards_to_go, gammas=(1.0, 0.99, 0.95))

# %% [markdown]
# ### The policy network and sampling
#
# REINFORCE's policy is a small MLP (Haiku) from the observation to one
# **logit** per action; π_θ(a | s) = softmax(logits)_a. While training, the
# agent **samples** its actions from π_θ (that is how it explores).
#
# **Exercise 8.** Write `sample_action(key, logits)`: an action drawn from
# softmax(`logits`) with `jax.random` and `key` (hint:
# `jax.random.categorical` takes logits). The checker draws with many keys and
# compares the frequencies with the probabilities; the agent runs your
# function under `jax.jit`.


# %% tags=["exercise"]
def sample_action(key, logits):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
sample_action = rl.exercises.check_sample_action(sample_action)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def sample_action(key, logits):
    return jax.random.categorical(key, logits)


# %%
logits = jnp.array([1.0, 2.0])
print("softmax:", jax.nn.softmax(logits))
print(
    "ten samples:", [int(sample_action(k, logits)) for k in jax.random.split(jax.random.key(0), 10)]
)

# %% [markdown]
# ### The loss
#
# Optimisers *minimise*, so REINFORCE minimises the negative weighted
# log-probability: for one step, −log π_θ(a_t | s_t) · G_t.
#
# **Exercise 9.** Write `policy_gradient_loss(action, logits, reward_to_go)`
# for one step. Use `jax.nn.log_softmax` rather than `jnp.log(jax.nn.softmax(...))`:
# the latter gives −∞ when a probability underflows to 0 (the checker tries
# logits `[0, 200]`).


# %% tags=["exercise"]
def policy_gradient_loss(action, logits, reward_to_go):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
policy_gradient_loss = rl.exercises.check_policy_gradient_loss(policy_gradient_loss)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def policy_gradient_loss(action, logits, reward_to_go):
    return -jax.nn.log_softmax(logits)[action] * reward_to_go


# %%
print(policy_gradient_loss(1, jnp.array([1.0, 2.0]), 10.0))  # 3.1326175 (float32 may print ...65)

# %% [markdown]
# ### The REINFORCE agent
#
# Your functions become the agent:
#
# * `select_action` samples from the policy while training and takes the most
#   probable action in evaluation;
# * the memory `rl.RewardsToGoMemory` keeps the steps of the last 4 complete
#   episodes with their rewards-to-go (computed by **your** `rewards_to_go`,
#   γ = 0.99), padded to a fixed size with a `mask`;
# * `learn` averages your loss over the batch with `jax.vmap` and takes one
#   Adam step. Before that it standardises the rewards-to-go of the batch
#   (subtract their mean, divide by their standard deviation). This is
#   **variance reduction and rescaling**, not an unbiased baseline: a baseline
#   b(s_t) that does not depend on the action leaves the expected gradient
#   unchanged, but the batch mean here is computed from the same episodes
#   (including the action being scored), so it adds a small bias, and dividing
#   by the standard deviation rescales every update (an adaptive step size).
#   In exchange the gradient is far less noisy and its size no longer depends
#   on how long the episodes are, which is why it is the usual trick.
#
# Both functions are compiled with `jax.jit` (`evaluation` is a Python bool,
# hence `static_argnums`).

# %%
policy_net = rl.logits_network(num_actions=2, hidden=(32, 32))
reinforce_optimizer = optax.adam(5e-3)


@functools.partial(jax.jit, static_argnums=4)
def reinforce_select_action(key, params, actor_state, obs, evaluation):
    logits = policy_net.apply(params, obs)
    action = jnp.argmax(logits) if evaluation else sample_action(key, logits)
    return action, actor_state


@jax.jit
def reinforce_learn(key, params, opt_state, batch):
    mask, returns = batch["mask"], batch["rewards_to_go"]  # [N]: 1 for real steps, 0 for padding
    n = jnp.sum(mask)
    mean = jnp.sum(returns * mask) / n
    std = jnp.sqrt(jnp.sum(jnp.square(returns - mean) * mask) / n)
    weights = (returns - mean) / (std + 1e-8)

    def loss_fn(p):
        logits = policy_net.apply(p, batch["obs"])  # [N, 2]
        losses = jax.vmap(policy_gradient_loss)(batch["action"], logits, weights)  # [N]
        return jnp.sum(losses * mask) / n

    grads = jax.grad(loss_fn)(params)
    updates, opt_state = reinforce_optimizer.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state


reinforce_params = policy_net.init(jax.random.key(0), jnp.zeros(4))
reinforce_agent = rl.FunctionAgent(
    reinforce_select_action,
    reinforce_params,
    spec=rl.PolicySpec("logits", obs_dim=4, num_actions=2, hidden=(32, 32)),
    learn=reinforce_learn,
    learner_state=reinforce_optimizer.init(reinforce_params),
    memory=rl.RewardsToGoMemory(episodes=4, gamma=0.99, returns_fn=rewards_to_go),
)
reinforce_run = rl.run_training_loop(
    reinforce_agent,
    env_id="CartPole-v1",
    seed=0,
    num_episodes=60 if QUICK else 600,
    learn_steps_per_episode=1,
    eval_every=20 if QUICK else 50,
    progress=False,
)
print("evaluation returns:", reinforce_run.history.eval_returns)

# %% tags=["figure"]
rl.plot_returns(reinforce_run.history, title="REINFORCE", solved_at=475)

# %% tags=["figure"]
recording = rl.record_agent(
    "CartPole-v1",
    rl.greedy_act(*reinforce_run.best_policy),
    OUT / "reinforce.gif",
    every=4 if QUICK else 2,
    title="REINFORCE",
)
display(Image(filename=str(recording.gif)))
recording.figure

# %% [markdown]
# ## 4. Deep Q-learning
#
# The **action-value** Q_π(s, a) is the expected return after taking a in s
# and following π; the optimal one, Q_*, satisfies the **Bellman equation**
#
# Q_*(s, a) = E[ r + γ max_a' Q_*(s', a') ],
#
# and once we know Q_* the best policy is **greedy**: a = argmax_a Q_*(s, a).
# DQN learns Q_θ with a network that outputs one value per action.
#
# **Exercise 10.** Write `greedy_action(q_values)`: the index of the largest
# value along the last axis (so it works on one `[A]` vector and on a batch
# `[B, A]`), the first one on ties.


# %% tags=["exercise"]
def greedy_action(q_values):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
greedy_action = rl.exercises.check_greedy_action(greedy_action)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def greedy_action(q_values):
    return jnp.argmax(q_values, axis=-1)


# %%
print(greedy_action(jnp.array([1.0, 2.0, 0.5, 3.0])))  # 3

# %% [markdown]
# ### The Bellman target and the loss
#
# DQN regresses Q_θ(s, a) on the **target** y = r + γ max_a' Q(s', a'),
# with a squared error. When the transition **terminated** there is no
# future: y = r. A transition cut by the time limit (truncated) is *not*
# terminal: its target still bootstraps from Q(s', ·) — that is why the memory
# stores `terminated`, not "done".
#
# **Exercise 11.** `squared_error(pred, target)`: (pred − target)², elementwise.


# %% tags=["exercise"]
def squared_error(pred, target):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
squared_error = rl.exercises.check_squared_error(squared_error)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def squared_error(pred, target):
    return (pred - target) ** 2


# %% [markdown]
# **Exercise 12.** `bellman_target(reward, terminated, next_q_values, gamma)`
# for one transition: `reward + gamma * (1 - terminated) * max(next_q_values)`
# (`terminated` is 0.0 or 1.0; `next_q_values` is `[A]`).


# %% tags=["exercise"]
def bellman_target(reward, terminated, next_q_values, gamma):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
bellman_target = rl.exercises.check_bellman_target(bellman_target)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def bellman_target(reward, terminated, next_q_values, gamma):
    return reward + gamma * (1.0 - terminated) * jnp.max(next_q_values)


# %%
print(bellman_target(1.0, 0.0, jnp.array([1.0, 3.0]), 1.0))  # 4
print(bellman_target(1.0, 1.0, jnp.array([1.0, 3.0]), 1.0))  # 1: terminal

# %% [markdown]
# **Exercise 13.** `q_learning_loss(q_values, action, reward, terminated,
# next_q_values, gamma)` for one transition: the squared error between
# `q_values[action]` and the Bellman target. Wrap the target in
# `jax.lax.stop_gradient`: it is a fixed regression target, not something to
# move.


# %% tags=["exercise"]
def q_learning_loss(q_values, action, reward, terminated, next_q_values, gamma):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
q_learning_loss = rl.exercises.check_q_learning_loss(q_learning_loss)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def q_learning_loss(q_values, action, reward, terminated, next_q_values, gamma):
    target = jax.lax.stop_gradient(bellman_target(reward, terminated, next_q_values, gamma))
    return squared_error(q_values[action], target)


# %%
print(q_learning_loss(jnp.array([1.0, 2.0]), 0, 1.0, 0.0, jnp.array([1.0, 3.0]), 1.0))  # 9.0

# %% [markdown]
# ### Exploration
#
# A greedy agent only sees what it already believes is best. DQN explores
# with **ε-greedy** actions: a uniformly random action with probability ε,
# the greedy one otherwise, with ε decaying from 1 (all random) to a small
# floor as the agent learns.
#
# **Exercise 14.** `random_action(key, num_actions)`: an action uniform in
# {0, …, num_actions − 1} (careful: `jax.random.randint`'s upper bound is
# excluded).


# %% tags=["exercise"]
def random_action(key, num_actions):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
random_action = rl.exercises.check_random_action(random_action)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def random_action(key, num_actions):
    return jax.random.randint(key, (), 0, num_actions)


# %% [markdown]
# **Exercise 15.** `epsilon_schedule(step, start, end, decay_steps)`: ε goes
# linearly from `start` at step 0 to `end` at `decay_steps`, then stays at
# `end` (never below). The practical's schedule max(1 − t/3000, 0.1) is
# `start=1.0, end=0.1, decay_steps=2700`.


# %% tags=["exercise"]
def epsilon_schedule(step, start, end, decay_steps):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
epsilon_schedule = rl.exercises.check_epsilon_schedule(epsilon_schedule)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def epsilon_schedule(step, start, end, decay_steps):
    fraction = min(step / decay_steps, 1.0)
    return start + fraction * (end - start)


# %%
print(epsilon_schedule(10, start=1.0, end=0.1, decay_steps=2700))  # 0.99666667
print(epsilon_schedule(5000, start=1.0, end=0.1, decay_steps=2700))  # 0.1

# %% tags=["figure"]
rl.plot_epsilon(lambda t: epsilon_schedule(t, start=1.0, end=0.1, decay_steps=2700), 5000)

# %% [markdown]
# **Exercise 16.** `epsilon_greedy(key, q_values, epsilon)`: split the key;
# with probability `epsilon` (`jax.random.uniform(k1) < epsilon`) return
# `random_action(k2, num_actions)`, else `greedy_action(q_values)`. The agent
# jits it, so choose with `jnp.where`, not a Python `if`.


# %% tags=["exercise"]
def epsilon_greedy(key, q_values, epsilon):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
epsilon_greedy = rl.exercises.check_epsilon_greedy(epsilon_greedy)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def epsilon_greedy(key, q_values, epsilon):
    explore_key, action_key = jax.random.split(key)
    explore = jax.random.uniform(explore_key) < epsilon
    return jnp.where(
        explore, random_action(action_key, q_values.shape[-1]), greedy_action(q_values)
    )


# %%
q = jnp.array([1.0, 3.0])
keys = jax.random.split(jax.random.key(0), 10)
print("ε = 0.5:", [int(epsilon_greedy(k, q, 0.5)) for k in keys])
print("ε = 0.0:", [int(epsilon_greedy(k, q, 0.0)) for k in keys])

# %% [markdown]
# ### The DQN agent
#
# Two more ideas make Q-learning with a network stable:
#
# * a **replay memory** (`rl.TransitionMemory`) keeps the last 50 000
#   transitions; each learning step uses a random batch of them, which breaks
#   the correlation between consecutive steps;
# * a **target network**: the targets use a copy of the parameters that is
#   refreshed every 100 learning steps, so the target does not move with every
#   update.
#
# The agent's parameters are the pair `QParams(online, target)`; its actor
# state counts the training steps for the ε schedule; its learner state counts
# the learning steps and holds Adam's state. It learns every 4 environment
# steps, on **gymnasium's** CartPole.


# %%
class QParams(NamedTuple):
    online: Any
    target: Any


class QLearnerState(NamedTuple):
    count: jax.Array
    opt_state: Any


q_net = rl.q_network(num_actions=2, hidden=(64, 64))
q_optimizer = optax.adam(1e-3)
GAMMA, TARGET_PERIOD = 0.99, 100


@jax.jit
def q_explore(online, obs, key, epsilon):
    return epsilon_greedy(key, q_net.apply(online, obs), epsilon)


@jax.jit
def q_greedy(online, obs):
    return greedy_action(q_net.apply(online, obs))


def dqn_select_action(key, params, actor_state, obs, evaluation):
    if evaluation:
        return q_greedy(params.online, obs), actor_state
    epsilon = epsilon_schedule(actor_state, start=1.0, end=0.1, decay_steps=2700)
    return q_explore(params.online, obs, key, epsilon), actor_state + 1


@jax.jit
def dqn_learn(key, params, learner_state, batch):
    def loss_fn(online):
        q_values = q_net.apply(online, batch["obs"])  # [B, 2]
        next_q_values = q_net.apply(params.target, batch["next_obs"])  # [B, 2]: target network
        losses = jax.vmap(q_learning_loss, in_axes=(0, 0, 0, 0, 0, None))(
            q_values, batch["action"], batch["reward"], batch["terminated"], next_q_values, GAMMA
        )
        return jnp.mean(losses)

    grads = jax.grad(loss_fn)(params.online)
    updates, opt_state = q_optimizer.update(grads, learner_state.opt_state)
    online = optax.apply_updates(params.online, updates)
    count = learner_state.count + 1
    refresh = count % TARGET_PERIOD == 0
    target = jax.tree.map(lambda o, t: jnp.where(refresh, o, t), online, params.target)
    return QParams(online, target), QLearnerState(count, opt_state)


q_params = q_net.init(jax.random.key(0), jnp.zeros(4))
dqn_agent = rl.FunctionAgent(
    dqn_select_action,
    QParams(q_params, q_params),
    spec=rl.PolicySpec("q", obs_dim=4, num_actions=2, hidden=(64, 64)),
    actor_state=0,
    learn=dqn_learn,
    learner_state=QLearnerState(jnp.zeros((), jnp.int32), q_optimizer.init(q_params)),
    memory=rl.TransitionMemory(capacity=50_000, batch_size=128, min_size=500),
    policy_params=lambda params: params.online,
)
dqn_run = rl.run_training_loop(
    dqn_agent,
    env_id="CartPole-v1",
    seed=0,
    max_env_steps=3_000 if QUICK else 30_000,
    learn_every_steps=4,
    eval_every_steps=1_000 if QUICK else 2_500,
    progress=False,
)
print("evaluation returns:", dqn_run.history.eval_returns)

# %% tags=["figure"]
rl.plot_returns(dqn_run.history, title="DQN (your agent, gymnasium)", solved_at=475)

# %% tags=["figure"]
recording = rl.record_agent(
    "CartPole-v1",
    rl.greedy_act(*dqn_run.best_policy),
    OUT / "dqn.gif",
    every=4 if QUICK else 2,
    title="DQN (your agent)",
)
display(Image(filename=str(recording.gif)))
recording.figure

# %% [markdown]
# ### DQN inside one `jax.jit`
#
# `khipu-rl` also ships a pure-JAX CartPole-v1 (same dynamics as gymnasium's,
# checked step by step below). Because the environment is a pure function,
# the *whole* DQN run — acting, the replay buffer, learning, target updates,
# evaluations — is one `lax.scan` compiled by `jax.jit`. The package's DQN adds
# double DQN (the online network picks a', the target network scores it), a
# Huber loss and gradient clipping; the same `rl.train("dqn")` also runs on
# gymnasium without `jax_env=True`.

# %%
gym_env = rl.make_env("CartPole-v1")
obs, _ = gym_env.reset(seed=0)
state = rl.cartpole.from_observation(np.asarray(gym_env.unwrapped.state, np.float32))
worst = 0.0
for t in range(20):
    obs, *_ = gym_env.step(t % 2)
    state, jax_obs, *_ = rl.cartpole.step(state, t % 2)
    worst = max(worst, float(np.max(np.abs(np.asarray(jax_obs) - obs))))
print("largest difference from gymnasium over 20 steps:", worst)

# %%
dqn_config = rl.DQNConfig(
    total_steps=6_000 if QUICK else 80_000, eval_every=2_000 if QUICK else 2_500
)
jax_dqn = rl.train("dqn", jax_env=True, seed=0, config=dqn_config)
print(f"{jax_dqn.env_steps} steps in {jax_dqn.train_seconds:.1f}s (compilation included)")

# %% tags=["figure"]
rl.plot_returns(jax_dqn.history, title="DQN (JAX CartPole, one jit)", solved_at=475, window=1)

# %% tags=["figure"]
recording = rl.record_agent(
    "CartPole-v1",
    rl.greedy_act(jax_dqn.spec, jax_dqn.params),
    OUT / "jax_dqn.gif",
    every=4 if QUICK else 2,
    title="DQN trained in JAX, played in gymnasium",
)
display(Image(filename=str(recording.gif)))
recording.figure

# %% [markdown]
# ## 5. PPO on the JAX CartPole
#
# PPO collects rollouts from many environments at once (`vmap`), computes
# advantages with GAE (a learned value function as baseline), and maximises
# the clipped surrogate objective with a value loss and an entropy bonus — all
# inside one `jit`. The policy trained on the JAX CartPole is then evaluated,
# greedily, on **gymnasium's** CartPole-v1.

# %%
ppo_config = rl.PPOConfig(total_steps=40_960 if QUICK else 150_000, eval_every=5 if QUICK else 10)
ppo = rl.train("ppo", jax_env=True, seed=0, config=ppo_config)
print(f"{ppo.env_steps} steps in {ppo.train_seconds:.1f}s (compilation included)")

# %% tags=["figure"]
rl.plot_returns(ppo.history, title="PPO (JAX CartPole)", solved_at=475, window=1)

# %% tags=["figure"]
ppo_act = rl.greedy_act(ppo.spec, ppo.params)
returns = rl.evaluate_policy(
    rl.make_env("CartPole-v1"), ppo_act, episodes=5 if QUICK else 100, seed=0
)
print(rl.return_stats(returns))
recording = rl.record_agent(
    "CartPole-v1", ppo_act, OUT / "ppo.gif", every=4 if QUICK else 2, title="PPO"
)
display(Image(filename=str(recording.gif)))
recording.figure

# %% [markdown]
# ## Going further
#
# - Train and evaluate from a terminal:
#   `khipu rl train --algo ppo --jax-env --out runs/ppo`, then
#   `khipu rl evaluate --checkpoint runs/ppo --episodes 100`.
# - Replace the standardised rewards-to-go of REINFORCE by the raw ones (no
#   centring, no rescaling): how much slower does it learn? Then subtract
#   only a learned state-value baseline b(s_t) (unbiased) and compare.
# - In your DQN, store `terminated or truncated` as the terminal flag: what
#   happens to the Q-values near the 500-step limit?
# - Try `Acrobot-v1`, or `LunarLander-v3` with `gymnasium[box2d]`.
# - Read: REINFORCE with baselines (Sutton & Barto, ch. 13), DQN (arXiv
#   1312.5602), double DQN (arXiv 1509.06461), PPO (arXiv 1707.06347).
