"""Type stub of khipu.rl: the public API, imported lazily (see __init__.py)."""

from . import cartpole as cartpole, exercises as exercises
from .__about__ import (
    __version__ as __version__,
)
from .dqn import (
    DQNAgent as DQNAgent,
    DQNConfig as DQNConfig,
    JaxRun as JaxRun,
    TransitionMemory as TransitionMemory,
    dqn_targets as dqn_targets,
    epsilon_greedy as epsilon_greedy,
    epsilon_schedule as epsilon_schedule,
    make_dqn as make_dqn,
    make_dqn_train as make_dqn_train,
)
from .envs import (
    Transition as Transition,
    env_info as env_info,
    evaluate_policy as evaluate_policy,
    make_env as make_env,
    record_episode_gif as record_episode_gif,
    record_video as record_video,
    return_stats as return_stats,
    run_episode as run_episode,
    save_gif as save_gif,
)
from .loop import (
    Agent as Agent,
    AverageReturnMemory as AverageReturnMemory,
    FunctionAgent as FunctionAgent,
    History as History,
    LoopResult as LoopResult,
    Memory as Memory,
    RewardsToGoMemory as RewardsToGoMemory,
    run_training_loop as run_training_loop,
)
from .nets import (
    PolicySpec as PolicySpec,
    actor_critic_network as actor_critic_network,
    greedy_policy as greedy_policy,
    linear_policy as linear_policy,
    logits_network as logits_network,
    q_network as q_network,
)
from .plots import (
    EpisodeRecording as EpisodeRecording,
    plot_epsilon as plot_epsilon,
    plot_frames as plot_frames,
    plot_returns as plot_returns,
    plot_rewards_to_go as plot_rewards_to_go,
    record_agent as record_agent,
)
from .policies import (
    greedy_act as greedy_act,
    load_policy as load_policy,
    sampled_act as sampled_act,
    save_policy as save_policy,
)
from .ppo import (
    PPOConfig as PPOConfig,
    make_ppo as make_ppo,
    make_ppo_train as make_ppo_train,
    ppo_loss as ppo_loss,
    train_ppo_gym as train_ppo_gym,
)
from .reinforce import (
    ReinforceAgent as ReinforceAgent,
    ReinforceConfig as ReinforceConfig,
    apply_baseline as apply_baseline,
    policy_gradient_loss as policy_gradient_loss,
)
from .replay import (
    ReplayBuffer as ReplayBuffer,
    replay_add as replay_add,
    replay_init as replay_init,
    replay_sample as replay_sample,
)
from .returns import (
    gae as gae,
    rewards_to_go as rewards_to_go,
)
from .rps import (
    RandomPolicySearchAgent as RandomPolicySearchAgent,
    RPSConfig as RPSConfig,
    rps_learn as rps_learn,
)
from .train import (
    ALGOS as ALGOS,
    TrainResult as TrainResult,
    make_config as make_config,
    train as train,
)
