"""[W2-4] ``SupportsAddClaimed``: which ledgers have it (the repository contract suite checks
what it does, on every ledger that has it)."""

from __future__ import annotations

from pathlib import Path

from soravideo.repositories import MemoryRepository, SQLiteRepository, SupportsAddClaimed


def test_sqlite_has_it_and_the_memory_ledger_does_not(tmp_path: Path) -> None:
    assert isinstance(SQLiteRepository(tmp_path / "jobs.db"), SupportsAddClaimed)
    assert not isinstance(MemoryRepository(), SupportsAddClaimed)
