"""khipu.rl"""
from khipu.rl.__about__ import __version__

__all__ = ["__version__"]
