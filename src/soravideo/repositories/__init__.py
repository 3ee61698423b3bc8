"""Ledgers: where jobs and batches are stored (memory, SQLite, PostgreSQL).

Each ledger loads on first use (``from soravideo.repositories import SQLiteRepository``):
importing the package costs only the interface. psycopg itself is imported later still,
when a ``PostgresRepository`` is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._core.lazy import lazy_attribute as _lazy_attribute
from .._core.lazy import lazy_dir as _lazy_dir
from .base import JobRepository, JobUpdate, SupportsAddClaimed, SupportsUpdateJobs

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
    "SupportsAddClaimed",
    "SupportsUpdateJobs",
]

# Name -> the module that defines it, imported on first access (PEP 562).
_LAZY = {
    "MemoryRepository": ".memory",
    "PostgresRepository": ".postgres",
    "SQLiteRepository": ".sqlite",
}


def __getattr__(name: str) -> Any:
    return _lazy_attribute(globals(), _LAZY, name)


def __dir__() -> list[str]:
    return _lazy_dir(globals())
