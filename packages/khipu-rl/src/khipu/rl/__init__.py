"""khipu.rl: reinforcement learning on CartPole with gymnasium and JAX.

The practical's agent–environment loop on gymnasium 1.x, random policy search,
REINFORCE, DQN and PPO, and a pure-JAX CartPole-v1 on which DQN and PPO train
entirely inside one ``jax.jit``.

    >>> import khipu.rl as rl
    >>> result = rl.train("ppo", jax_env=True, seed=0)
    >>> act = rl.greedy_act(result.spec, result.params)
    >>> returns = rl.evaluate_policy(rl.make_env("CartPole-v1"), act, episodes=100, seed=0)
"""

from khipu.rl import cartpole
from khipu.rl.__about__ import __version__
from khipu.rl.dqn import (
    DQNAgent,
    DQNConfig,
    JaxRun,
    dqn_targets,
    epsilon_greedy,
    epsilon_schedule,
    make_dqn,
    make_dqn_train,
)
from khipu.rl.envs import (
    Transition,
    env_info,
    evaluate_policy,
    make_env,
    record_episode_gif,
    record_video,
    return_stats,
    run_episode,
    save_gif,
)
from khipu.rl.loop import Agent, History, LoopResult, run_training_loop
from khipu.rl.nets import (
    PolicySpec,
    actor_critic_network,
    greedy_policy,
    linear_policy,
    logits_network,
    q_network,
)
from khipu.rl.plots import plot_returns
from khipu.rl.policies import greedy_act, load_policy, sampled_act, save_policy
from khipu.rl.ppo import PPOConfig, make_ppo, make_ppo_train, ppo_loss, train_ppo_gym
from khipu.rl.reinforce import (
    ReinforceAgent,
    ReinforceConfig,
    apply_baseline,
    policy_gradient_loss,
)
from khipu.rl.replay import ReplayBuffer, replay_add, replay_init, replay_sample
from khipu.rl.returns import gae, rewards_to_go
from khipu.rl.rps import RandomPolicySearchAgent, RPSConfig, rps_learn
from khipu.rl.train import ALGOS, TrainResult, make_config, train

__all__ = [
    "ALGOS",
    "Agent",
    "DQNAgent",
    "DQNConfig",
    "History",
    "JaxRun",
    "LoopResult",
    "PPOConfig",
    "PolicySpec",
    "RPSConfig",
    "RandomPolicySearchAgent",
    "ReinforceAgent",
    "ReinforceConfig",
    "ReplayBuffer",
    "TrainResult",
    "Transition",
    "__version__",
    "actor_critic_network",
    "apply_baseline",
    "cartpole",
    "dqn_targets",
    "env_info",
    "epsilon_greedy",
    "epsilon_schedule",
    "evaluate_policy",
    "gae",
    "greedy_act",
    "greedy_policy",
    "linear_policy",
    "load_policy",
    "logits_network",
    "make_config",
    "make_dqn",
    "make_dqn_train",
    "make_env",
    "make_ppo",
    "make_ppo_train",
    "plot_returns",
    "policy_gradient_loss",
    "ppo_loss",
    "q_network",
    "record_episode_gif",
    "record_video",
    "replay_add",
    "replay_init",
    "replay_sample",
    "return_stats",
    "rewards_to_go",
    "rps_learn",
    "run_episode",
    "run_training_loop",
    "sampled_act",
    "save_gif",
    "save_policy",
    "train",
    "train_ppo_gym",
]
