"""khipu.diffusion: denoising diffusion models in JAX and Haiku.

Scores of a known 2-D density and Langevin sampling (:mod:`khipu.diffusion.toy`),
noise schedules and the forward process (:mod:`khipu.diffusion.schedules`), a Haiku
U-Net and an MLP denoiser (:mod:`khipu.diffusion.models`), ε-prediction training
with an exponential moving average of the parameters through khipu-core's ``fit()``
(:mod:`khipu.diffusion.train`), DDPM and DDIM sampling with classifier-free guidance
(:mod:`khipu.diffusion.sampling`) and evaluation with a classifier trained on the
real data (:mod:`khipu.diffusion.evaluation`).
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
