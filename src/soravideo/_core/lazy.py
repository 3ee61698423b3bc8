"""The lazy exports of soravideo's packages (PEP 562), written once.

A package lists ``_LAZY`` (name -> the module that defines it, relative to the package)
and keeps its own two-line ``__getattr__`` and ``__dir__`` (so type checkers see them as
before), which call these::

    def __getattr__(name: str) -> Any:
        return _lazy_attribute(globals(), _LAZY, name)


    def __dir__() -> list[str]:
        return _lazy_dir(globals())
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["lazy_attribute", "lazy_dir"]


def lazy_attribute(namespace: MutableMapping[str, Any], lazy: Mapping[str, str], name: str) -> Any:
    """Import ``name`` from the module ``lazy`` names for it, and keep it in ``namespace``.

    Args:
        namespace: The package's ``globals()``.
        lazy: Name -> the module that defines it (``".fal"``), relative to the package.
        name: The attribute asked for.

    Returns:
        The attribute, imported on this first access (later ones find it in ``namespace``).

    Raises:
        AttributeError: ``name`` is not one of ``lazy``.
    """
    package = namespace["__name__"]
    module = lazy.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, package), name)
    namespace[name] = value
    return value


def lazy_dir(namespace: Mapping[str, Any]) -> list[str]:
    """Return what ``dir()`` of a package shows: what it holds and all it exports."""
    return sorted(set(namespace) | set(namespace["__all__"]))
