"""khipu.core: the JAX utilities shared by the Khipu practicals.

PRNG key sequences, a ``TrainState`` pytree with a jitted step builder and
``fit()``, data-parallel sharding, seeded minibatches and offline datasets,
atomic checkpoints, run folders, PNG figures and the ``khipu`` command.
"""

import lazy_loader as _lazy

from .deprecation import deprecated_getattr as _deprecated_getattr

# The public API is listed once, in __init__.pyi; submodules (and JAX with them) are
# imported on first use, so `khipu --help` starts without loading JAX.
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)

# A renamed public name keeps working for one minor release: old name -> (new name, the
# version that removes it). tests/release.py lets a name listed here leave the API.
_DEPRECATED: dict[str, tuple[str, str]] = {}
__getattr__ = _deprecated_getattr(__name__, __getattr__, _DEPRECATED)
