"""Closing a client while a create is on the wire: the answer is waited for (up to
``close_timeout``) and recorded, so the video the provider made is never lost; past the
timeout the job stays resumable, never failed.

Runway on loopback (real time): it can neither list tasks nor deduplicate creates, so a
remote id not recorded is a video billed and lost.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest

import soravideo as sv
from helpers import read_ledger, request
from soravideo.repositories import SQLiteRepository
from soravideo.testing import FakeRunway
from soravideo.transports import RunwayTransport

KEY = "key_e2e_closing"
# The fake makes the task at once and answers this much later (real seconds).
SLOW_ANSWER = 0.3


@pytest.fixture
def fake() -> FakeRunway:
    """This module's provider: the exactly-once check that ends each scenario uses it."""
    return FakeRunway(api_key=KEY, generation_time=5.0)


@pytest.fixture
def runway(fake: FakeRunway) -> FakeRunway:
    return fake


@pytest.fixture
def runway_url(runway: FakeRunway) -> Iterator[str]:
    with runway.serve() as url:
        yield url


def _settings(runway_url: str, ledger: Path, **settings: Any) -> dict[str, Any]:
    return {
        "transport": RunwayTransport(base_url=runway_url, api_key=KEY),
        "repository": SQLiteRepository(ledger),
        "poll_min_interval": 0.05,
        "poll_max_interval": 0.25,
        **settings,
    }


def _slow_creates(runway: FakeRunway, delay: float = SLOW_ANSWER) -> threading.Event:
    """Answer every create ``delay`` seconds after making its task; return an event set
    when a create arrives (the fake's server thread sets it)."""
    arrived = threading.Event()

    def match(req: Any) -> bool:
        if req.method != "POST":
            return False
        arrived.set()
        return True

    runway.inject(delay=delay, phase="after", match=match, rate=1.0)
    return arrived


def _video() -> sv.CreateVideoRequest:
    return request(model="gen4.5", duration=5)


def _task_ids(runway: FakeRunway) -> list[str]:
    return [r.response_json()["id"] for r in runway.requests if r.method == "POST"]


@pytest.mark.exactly_once(settled=False)  # closed with the video still generating
@pytest.mark.anyio
async def test_aclose_records_the_answer_of_a_create_on_the_wire(
    runway: FakeRunway, runway_url: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.db"
    arrived = _slow_creates(runway)
    async with sv.AsyncSoraVideo(**_settings(runway_url, ledger)) as client:
        job = await client.videos.create_video(_video())
        assert await anyio.to_thread.run_sync(arrived.wait, 10)
    async with SQLiteRepository(ledger) as repository:
        stored = await repository.get_job(job.id)
    assert stored.status is sv.JobStatus.PROCESSING
    assert stored.remote_id is not None
    assert _task_ids(runway) == [stored.remote_id]


@pytest.mark.exactly_once(settled=False)  # closed with the video still generating
def test_sync_close_records_the_answer_of_a_create_on_the_wire(
    runway: FakeRunway, runway_url: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.db"
    arrived = _slow_creates(runway)
    client = sv.SoraVideo(**_settings(runway_url, ledger))
    job = client.videos.create_video(_video())
    assert arrived.wait(10)
    client.close()
    [stored] = read_ledger(ledger)
    assert stored.id == job.id
    assert stored.status is sv.JobStatus.PROCESSING
    assert stored.remote_id is not None
    assert _task_ids(runway) == [stored.remote_id]


@pytest.mark.exactly_once(settled=False)  # left resumable on purpose
@pytest.mark.anyio
async def test_a_create_unanswered_past_close_timeout_leaves_the_job_resumable(
    runway: FakeRunway, runway_url: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.db"
    arrived = _slow_creates(runway, delay=2.0)
    async with sv.AsyncSoraVideo(**_settings(runway_url, ledger, close_timeout=0.05)) as client:
        job = await client.videos.create_video(_video())
        assert await anyio.to_thread.run_sync(arrived.wait, 10)
    async with SQLiteRepository(ledger) as repository:
        stored = await repository.get_job(job.id)
        # Not failed, and its lease given back: the next run (any process) picks it up.
        assert stored.status is sv.JobStatus.PROCESSING
        assert stored.error is None
        assert stored.remote_id is None
        now = datetime.now(timezone.utc)
        claimed = await repository.claim_jobs("next-run", limit=1, lease_seconds=60, now=now)
    assert [j.id for j in claimed] == [job.id]
