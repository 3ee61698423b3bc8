from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import soravideo as sv
from soravideo.repositories import MemoryRepository, SQLiteRepository
from soravideo.testing import check_ledger_exactly_once

LEDGERS = ["memory", "sqlite"]


@pytest.fixture(params=LEDGERS)
def ledger(
    request: pytest.FixtureRequest, tmp_path: Path, new_sqlite_ledger: Callable[[Path], Path]
) -> Callable[[], Any]:
    """A factory of fresh repository objects; SQLite ones share one (new, empty) file per test."""
    kind = request.param
    memory = MemoryRepository()
    if kind == "sqlite":
        new_sqlite_ledger(tmp_path / "ledger.db")

    def make() -> Any:
        return memory if kind == "memory" else SQLiteRepository(tmp_path / "ledger.db")

    return make


@pytest.fixture
async def client(ledger: Callable[[], Any]) -> AsyncIterator[sv.AsyncSoraVideo]:
    """A simulated async client (FakeSora, simulated time) on each built-in ledger.

    Once the test has closed it, the ledger and the fake must still match exactly once
    (jobs may be left unfinished: many tests stop mid-run on purpose).
    """
    async with sv.AsyncSoraVideo.simulated(repository=ledger(), generation_time=60) as c:
        yield c
    assert c.fake is not None
    async with ledger() as repository:
        await check_ledger_exactly_once(c.fake, repository, settled=False)
