from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import soravideo as sv
from soravideo.repositories import MemoryRepository, SQLiteRepository

LEDGERS = ["memory", "sqlite"]


@pytest.fixture(params=LEDGERS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Any]:
    """A factory of fresh repository objects; SQLite ones share one file per test."""
    kind = request.param
    memory = MemoryRepository()

    def make() -> Any:
        return memory if kind == "memory" else SQLiteRepository(tmp_path / "ledger.db")

    return make


@pytest.fixture
async def client(ledger: Callable[[], Any]) -> AsyncIterator[sv.AsyncSoraVideo]:
    """A simulated async client (FakeSora, simulated time) on each built-in ledger."""
    async with sv.AsyncSoraVideo.simulated(repository=ledger(), generation_time=60) as c:
        yield c
