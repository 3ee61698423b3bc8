"""A client closed while a create waits out a 429, then a new client on the same
SQLite file. The create certainly never happened: the job must be sent once, not failed as
an ambiguous create by a provider that cannot deduplicate creates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import attrs
import pytest

import soravideo as sv
from helpers import request
from soravideo._core.clock import VirtualClock
from soravideo.repositories import SQLiteRepository
from soravideo.testing import check_ledger_exactly_once
from soravideo.testing._fakeserver import wired_transport
from soravideo.testing._simulated import SIMULATED_BASE_URL, simulated_provider_parts
from soravideo.testing._simulated_runway import SIMULATED_RUNWAY_URL

pytestmark = pytest.mark.anyio

WIRING = {
    "sora": {"base_url": SIMULATED_BASE_URL, "api_key": "sk-simulated"},
    "runway": {"base_url": SIMULATED_RUNWAY_URL, "api_key": "key_simulated"},
    "fal": {"base_url": "http://fakefal.invalid", "api_key": "key-simulated"},
    "replicate": {"base_url": "http://fakereplicate.invalid", "api_key": "r8_simulated"},
}


@pytest.mark.parametrize(
    ("provider", "where"),
    [
        *[(provider, "engine") for provider in WIRING],
        # The transport waits out the pause itself, on simulated time, which moves while
        # the client closes: its retries run out there (see below for a wait cut short).
        *[(provider, "transport") for provider in WIRING],
    ],
)
async def test_a_rate_limited_create_left_at_close_is_sent_on_resume_not_failed(
    tmp_path: Path, new_sqlite_ledger: Callable[[Path], Path], provider: str, where: str
) -> None:
    db = new_sqlite_ledger(tmp_path / "ledger.db")
    clock = VirtualClock(only_while_waiting=True)
    fake, transport = simulated_provider_parts(provider, clock, generation_time=60)
    if where == "engine":
        # The transport does not retry: the engine waits out the pause (never sent).
        transport.retry_policy = attrs.evolve(transport.retry_policy, max_retries=0)
    fake.inject(status=429, retry_after=30, match=lambda r: r.method == "POST", times=20)
    async with sv.AsyncSoraVideo(
        transport=transport, repository=SQLiteRepository(db), clock=clock, close_timeout=0.5
    ) as client:
        job = await client.videos.create_video(request("a heron"))
        while fake.rate_limited_count() == 0:
            await clock.sleep(0.5)
    assert fake.created_count() == 0
    fake.faults.clear()
    # A new client on the same ledger and provider (the first one's close closed its
    # transport).
    transport = wired_transport(fake, type(transport), clock=clock, **WIRING[provider])
    async with sv.AsyncSoraVideo(
        transport=transport, repository=SQLiteRepository(db), clock=clock
    ) as client:
        await client.resume()
        done = await client.videos.get_job(job.id)
        assert done.status is sv.JobStatus.COMPLETED, (done.status, done.error)
        await check_ledger_exactly_once(fake, client.repository)


async def test_a_simulated_client_closing_lets_a_create_waiting_out_a_429_finish() -> None:
    # Its retry sleeps on simulated time, which moves while the close waits for the wire:
    # the create is sent and recorded, instead of the close waiting out close_timeout in
    # real time with simulated time stopped, then cutting it.
    client = sv.AsyncSoraVideo.simulated(generation_time=60, close_timeout=5)
    async with client:
        fake = client.fake
        assert fake is not None
        fake.inject(status=429, retry_after=30, match=lambda r: r.method == "POST", times=3)
        job = await client.videos.create_video(request("a heron"))
        while fake.rate_limited_count() == 0:
            await client.clock.sleep(0.5)
    (made,) = fake.created_ids()
    stored = await client.repository.get_job(job.id)
    assert (stored.status, stored.remote_id) == (sv.JobStatus.PROCESSING, made)
    await check_ledger_exactly_once(fake, client.repository, settled=False)  # resumable


@pytest.mark.parametrize("provider", ["runway", "replicate", "fal"])
async def test_a_create_cut_at_close_while_its_transport_waits_to_retry_is_pending_again(
    tmp_path: Path, new_sqlite_ledger: Callable[[Path], Path], provider: str
) -> None:
    # A clock that moves only when the test moves it: the transport's wait after the 429
    # (30 s) is still on when close_timeout (0.5 s, real time) cuts the create short. It
    # made nothing, so its job is pending again, not left as an ambiguous create.
    db = new_sqlite_ledger(tmp_path / "ledger.db")
    clock = sv.ManualClock()
    fake, transport = simulated_provider_parts(provider, clock, generation_time=60)
    fake.inject(status=429, retry_after=30, match=lambda r: r.method == "POST", times=20)
    async with sv.AsyncSoraVideo(
        transport=transport, repository=SQLiteRepository(db), clock=clock, close_timeout=0.5
    ) as client:
        job = await client.videos.create_video(request("a heron"))
        await anyio.wait_all_tasks_blocked()  # sent, refused, its retry waiting
        assert fake.rate_limited_count() == 1
    assert fake.created_count() == 0
    async with SQLiteRepository(db) as ledger:
        stored = await ledger.get_job(job.id)
        assert (stored.status, stored.remote_id) == (sv.JobStatus.PENDING, None)
        await check_ledger_exactly_once(fake, ledger, settled=False)
