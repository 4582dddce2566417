"""khipu.gnn: graph neural networks with jraph and Haiku.

Graphs as jraph ``GraphsTuple``s (:mod:`khipu.gnn.graphs`), GCN / GAT / graph-network
layers, readouts and graph filters (:mod:`khipu.gnn.layers`), the practical's tasks
(karate-club node classification, collaborative filtering with graph filters, graph
classification, link prediction) trained through khipu-core's ``fit()``.
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
