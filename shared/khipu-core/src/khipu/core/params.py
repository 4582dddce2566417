"""Parameter counting for any nested-dict pytree (Haiku, Flax, plain dicts)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def parameter_counts(params: Any) -> dict[str, int]:
    """Number of parameters per top-level entry (per Haiku module / layer), in order.

    >>> parameter_counts({"conv": {"w": np.zeros((3, 3, 1, 8)), "b": np.zeros(8)}})
    {'conv': 80}
    """
    if isinstance(params, dict):
        return {str(k): total_parameters(v) for k, v in params.items()}
    return {"params": total_parameters(params)}


def total_parameters(params: Any) -> int:
    """Total number of scalar parameters in a pytree."""
    return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)))
