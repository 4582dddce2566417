"""Type stub of khipu.diffusion: the public API, imported lazily (see __init__.py)."""

from .__about__ import (
    __version__ as __version__,
)
