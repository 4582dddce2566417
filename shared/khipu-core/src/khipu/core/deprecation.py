"""Renamed public names keep working for one minor release.

Each package's ``__init__.py`` keeps a deprecation table, ``old name -> (new name, the
version that removes the old one)``, and wraps its lazy ``__getattr__`` with
:func:`deprecated_getattr`: the old name still answers, with a ``DeprecationWarning``
naming the new one. ``tests/release.py`` lets a name listed there (or listed there in the
previous release) leave the API in a minor release; any other removal needs a major one.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["deprecated_getattr"]


def deprecated_getattr(
    module_name: str,
    getattr_fn: Callable[[str], Any],
    table: Mapping[str, tuple[str, str]],
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that forwards deprecated names to their new names.

    Args:
      module_name: the package (``__name__``).
      getattr_fn: the package's own ``__getattr__`` (lazy_loader's).
      table: old name -> (new name, version that removes the old name).

    Returns:
      The ``__getattr__`` to install in the package.

    Example:
      >>> import types
      >>> mod = types.ModuleType("demo")
      >>> mod.new = 42
      >>> sys.modules["demo"] = mod
      >>> get = deprecated_getattr("demo", mod.__getattribute__, {"old": ("new", "0.4.0")})
      >>> with warnings.catch_warnings(record=True) as caught:
      ...     warnings.simplefilter("always")
      ...     value = get("old")
      >>> value, str(caught[0].message)
      (42, 'demo.old is deprecated and will be removed in 0.4.0; use demo.new')
    """

    def __getattr__(name: str) -> Any:
        if name in table:
            new, removed_in = table[name]
            warnings.warn(
                f"{module_name}.{name} is deprecated and will be removed in {removed_in}; "
                f"use {module_name}.{new}",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(sys.modules[module_name], new)
        return getattr_fn(name)

    return __getattr__
