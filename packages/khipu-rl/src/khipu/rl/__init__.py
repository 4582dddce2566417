"""khipu.rl: reinforcement learning on CartPole with gymnasium and JAX.

The practical's agent–environment loop on gymnasium 1.x, random policy search,
REINFORCE, DQN and PPO, and a pure-JAX CartPole-v1 on which DQN and PPO train
entirely inside one ``jax.jit``.

    >>> import khipu.rl as rl
    >>> result = rl.train("ppo", jax_env=True, seed=0)
    >>> act = rl.greedy_act(result.spec, result.params)
    >>> returns = rl.evaluate_policy(rl.make_env("CartPole-v1"), act, episodes=100, seed=0)
"""

import lazy_loader as _lazy
from khipu.core.deprecation import deprecated_getattr as _deprecated_getattr

# The public API is listed once, in __init__.pyi; submodules (and JAX with them)
# are imported on first use, so `khipu --help` stays fast.
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)

# A renamed public name keeps working for one minor release: old name -> (new name, the
# version that removes it). tests/release.py lets a name listed here leave the API.
_DEPRECATED: dict[str, tuple[str, str]] = {}
__getattr__ = _deprecated_getattr(__name__, __getattr__, _DEPRECATED)
