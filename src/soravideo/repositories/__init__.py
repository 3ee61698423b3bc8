"""Ledgers: where jobs and batches are stored (memory, SQLite, PostgreSQL).

Each ledger loads on first use (``from soravideo.repositories import SQLiteRepository``):
importing the package costs only the interface. psycopg itself is imported later still,
when a ``PostgresRepository`` is created.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import JobRepository, JobUpdate, SupportsUpdateJobs

if TYPE_CHECKING:
    from .memory import MemoryRepository
    from .postgres import PostgresRepository
    from .sqlite import SQLiteRepository

__all__ = [
    "JobRepository",
    "JobUpdate",
    "MemoryRepository",
    "PostgresRepository",
    "SQLiteRepository",
    "SupportsUpdateJobs",
]

# Name -> the module that defines it, imported on first access (PEP 562).
_LAZY = {
    "MemoryRepository": ".memory",
    "PostgresRepository": ".postgres",
    "SQLiteRepository": ".sqlite",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
