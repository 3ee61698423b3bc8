"""Ledgers: where jobs and batches are stored (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

from .base import JobRepository

__all__ = ["JobRepository"]
