"""Reconciliation on simulated time: two clients, one fake, one ledger ([W2-1] item 2).

Job A completes; job B, same prompt, from a second client, gets a 500 on its create and
nothing is created. Reconciling B must never adopt A's video, even when the ledger's answer
about A comes too late (another process records it between B's check and B's write).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import soravideo as sv
from helpers import assert_created_once, assert_distinct_remote_ids, request
from soravideo.repositories import MemoryRepository, SQLiteRepository
from soravideo.transports import SoraTransport

pytestmark = pytest.mark.anyio


class _Blind:
    """A ledger that misses the owner of a remote video ``blind`` times: as if the owner
    were recorded by another process just after the lookup, just before the write."""

    blind = 0
    lookups = 0

    async def find_job_by_remote_id(self, provider: str, remote_id: str) -> sv.Job | None:
        self.lookups += 1
        if self.blind:
            self.blind -= 1
            return None
        return await super().find_job_by_remote_id(provider, remote_id)  # type: ignore[misc]


class BlindMemory(_Blind, MemoryRepository):
    pass


class BlindSQLite(_Blind, SQLiteRepository):
    pass


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Any]:
    """A factory of handles on one ledger (a client closes its SQLite handle)."""
    memory = BlindMemory()

    def make() -> Any:
        return memory if request.param == "memory" else BlindSQLite(tmp_path / "ledger.db")

    return make


@pytest.mark.parametrize("blind", [0, 1], ids=["owner seen", "owner recorded mid-adoption"])
async def test_a_create_with_no_answer_never_adopts_another_jobs_video(
    ledger: Callable[[], Any], blind: int, caplog: pytest.LogCaptureFixture
) -> None:
    # Generations short enough that A's video is "recent" when B reconciles.
    first = sv.AsyncSoraVideo.simulated(repository=ledger(), generation_time=1)
    fake = first.fake
    assert fake is not None
    http = httpx.AsyncClient(transport=fake.http_transport(), base_url="http://fake.invalid/v1")
    transport = SoraTransport(
        base_url="http://fake.invalid/v1",
        api_key="sk-second",
        http_client=http,
        sleep=first.clock.sleep,
        idempotent_creates=True,  # FakeSora deduplicates creates
    )
    # One client after the other: each drives the shared simulated clock while it runs.
    shared = ledger()
    second = sv.AsyncSoraVideo(transport=transport, repository=shared, clock=first.clock)
    try:
        async with first:
            a = await first.videos.create_video(request("a red fox"))
            a = await first.videos.wait_for_job(a.id, timeout=600)
            assert a.status is sv.JobStatus.COMPLETED
        async with second:
            shared.blind = blind
            injected = fake.inject(status=500, match="POST /videos", times=1)
            b = await second.videos.create_video(request("a red fox"))
            b = await second.videos.wait_for_job(b.id, timeout=600)
            assert (await shared.get_job(a.id)).remote_id == a.remote_id
    finally:
        await http.aclose()

    assert injected.fired == 1
    assert b.status is sv.JobStatus.COMPLETED, b.error
    assert b.remote_id != a.remote_id, "job B reports job A's video as its own"
    assert_distinct_remote_ids([a, b])
    assert_created_once(fake, 2)
    assert shared.blind == 0
    assert shared.lookups > blind  # the ledger was asked, not only this runner's memory
    # Missed once, the owner is caught by the ledger's unique index at the adoption write,
    # and B goes back to reconciling instead of being lost or failed.
    assert ("reconciling again" in caplog.text) == bool(blind)
