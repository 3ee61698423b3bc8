"""Ledgers: where jobs and batches are stored (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import JobRepository
from .memory import MemoryRepository
from .sqlite import SQLiteRepository

if TYPE_CHECKING:
    from .postgres import PostgresRepository

__all__ = ["JobRepository", "MemoryRepository", "PostgresRepository", "SQLiteRepository"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, so that only PostgreSQL users pay for it (psycopg itself is
    # imported later still, when a PostgresRepository is created).
    if name == "PostgresRepository":
        from .postgres import PostgresRepository

        return PostgresRepository
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
