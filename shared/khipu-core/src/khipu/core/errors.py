"""User-facing errors.

Every error a user can cause (bad input, missing data, a diverging run) is a
:class:`KhipuError`; the ``khipu`` command prints its message on one line and
exits non-zero instead of showing a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class KhipuError(Exception):
    """An error caused by input or environment, reported to the user as one line."""


class NonFiniteLossError(KhipuError):
    """Training produced a NaN or infinite value for a monitored metric."""


class CheckpointError(KhipuError):
    """A checkpoint is missing, truncated, corrupt or does not match the model."""


class DatasetNotAvailableError(KhipuError):
    """A dataset is known but its files are not on this machine."""


class UnknownNameError(KhipuError):
    """A name (dataset, model, optimizer, test...) that is not registered.

    The message lists the available names, or, when there are more than
    :attr:`MAX_LISTED` (gymnasium's registry), the closest ones to ``name``.
    """

    MAX_LISTED = 20

    def __init__(self, kind: str, name: str, available: list[str] | tuple[str, ...]) -> None:
        self.kind = kind
        self.name = name
        self.available = tuple(sorted(available))
        if len(self.available) <= self.MAX_LISTED:
            listed = f"available: {', '.join(self.available)}"
        else:
            closest = closest_names(name, self.available)
            listed = f"did you mean {', '.join(closest)}? " if closest else ""
            listed += f"({len(self.available)} available)"
        super().__init__(f"unknown {kind} {name!r}; {listed}")


def closest_names(name: str, candidates: tuple[str, ...] | list[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``candidates`` closest to ``name`` (ignoring case), best first."""
    import difflib

    by_lower = {c.lower(): c for c in candidates}
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.7)
    return [by_lower[f] for f in found]


class MissingDependencyError(KhipuError):
    """An optional dependency is not installed."""


def import_optional(module: str, *, install: str) -> ModuleType:
    """Imports an optional dependency or raises an error naming the fix.

    Args:
      module: the module to import, e.g. ``"tensorflow_datasets"``.
      install: the pip requirement that provides it, e.g. ``"khipu-core[tfds]"``.

    Returns:
      The imported module.

    Raises:
      MissingDependencyError: the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module} is not installed; run: pip install '{install}'"
        ) from exc
