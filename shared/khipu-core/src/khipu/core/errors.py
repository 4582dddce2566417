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
    """A name (dataset, model, optimizer, test...) that is not registered."""

    def __init__(self, kind: str, name: str, available: list[str] | tuple[str, ...]) -> None:
        self.kind = kind
        self.name = name
        self.available = tuple(sorted(available))
        super().__init__(f"unknown {kind} {name!r}; available: {', '.join(self.available)}")


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
