from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from soravideo.repositories import MemoryRepository, SQLiteRepository


@pytest.fixture(params=["memory", "sqlite"])
def ledger(
    request: pytest.FixtureRequest, tmp_path: Path, new_sqlite_ledger: Callable[[Path], Path]
) -> Callable[[], Any]:
    """A factory of repository objects on one ledger (a shared memory one, or one file)."""
    memory = MemoryRepository()
    if request.param == "sqlite":
        new_sqlite_ledger(tmp_path / "ledger.db")

    def make() -> Any:
        return memory if request.param == "memory" else SQLiteRepository(tmp_path / "ledger.db")

    return make
