"""How the runner schedules: priorities, concurrency caps, rate limits, polling economy."""

from __future__ import annotations

from typing import Any

import pytest

import soravideo as sv
from helpers import assert_created_once, request, requests

pytestmark = pytest.mark.anyio


def _create_order(fake: Any) -> list[str]:
    return [
        r.json()["prompt"]
        for r in fake.requests
        if r.method == "POST" and r.path == "/videos" and r.tag == "created"
    ]


async def test_priority_then_age_decides_the_order(ledger: Any) -> None:
    async with sv.AsyncSoraVideo.simulated(repository=ledger(), max_concurrency=1) as client:
        # A first job takes the only slot, so the others wait in the ledger together.
        blocker = await client.videos.create_video(request("blocker"))
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(blocker.id, timeout=5)
        priorities = ["low", "normal", "urgent", "low", "high", "normal"]
        jobs = [
            await client.videos.create_video(request(f"{p} {i}", priority=p))
            for i, p in enumerate(priorities)
        ]
        for job in jobs:
            await client.videos.wait_for_job(job.id)
        assert _create_order(client.fake) == [
            "blocker",
            "urgent 2",
            "high 4",
            "normal 1",
            "normal 5",
            "low 0",
            "low 3",
        ]


async def test_the_concurrency_cap_is_never_exceeded(ledger: Any) -> None:
    async with sv.AsyncSoraVideo.simulated(repository=ledger(), max_concurrency=3) as client:
        jobs = [await client.videos.create_video(r) for r in requests(12)]
        done = [await client.videos.wait_for_job(j.id) for j in jobs]
        assert all(j.status is sv.JobStatus.COMPLETED for j in done)
        assert client.fake is not None
        assert client.fake.peak_concurrency() == 3
        assert_created_once(client.fake, 12)


async def test_a_429_storm_fails_no_job(ledger: Any) -> None:
    async with sv.AsyncSoraVideo.simulated(repository=ledger(), max_concurrency=4) as client:
        assert client.fake is not None
        client.fake.inject(status=429, retry_after=3, rate=0.5, match="POST /videos")
        client.fake.inject(status=429, retry_after=2, times=5, match="GET /videos*")
        jobs = [await client.videos.create_video(r) for r in requests(10)]
        done = [await client.videos.wait_for_job(j.id) for j in jobs]
        assert [j.status for j in done] == [sv.JobStatus.COMPLETED] * 10
        assert client.fake.rate_limited_count() > 0
        assert_created_once(client.fake, 10)


async def test_an_unknown_server_limit_is_found_and_respected(ledger: Any) -> None:
    async with sv.AsyncSoraVideo.simulated(repository=ledger(), max_concurrency=16) as client:
        assert client.fake is not None
        client.fake.max_concurrent = 4
        jobs = [await client.videos.create_video(r) for r in requests(20)]
        done = [await client.videos.wait_for_job(j.id) for j in jobs]
        assert all(j.status is sv.JobStatus.COMPLETED for j in done)
        assert client.fake.peak_concurrency() == 4
        assert_created_once(client.fake, 20)
        # The adaptive limit came down from 16 towards what the provider accepts.
        assert client.fake.rate_limited_count() > 0
        runner = await client._started()
        assert runner.stats().concurrency_limit < 16


@pytest.mark.parametrize("generation", [10.0, 60.0, 300.0])
async def test_eta_polling_needs_few_status_requests(generation: float) -> None:
    async with sv.AsyncSoraVideo.simulated(generation_time=generation) as client:
        assert client.fake is not None
        job = await client.videos.create_video(request())
        done = await client.videos.wait_for_job(job.id)
        assert done.status is sv.JobStatus.COMPLETED
        assert client.fake.status_request_count() <= 6
        remote = client.fake.video(done.remote_id or "")
        assert done.completed_at is not None
        lateness = done.completed_at.timestamp() - remote["completed_at"]
        assert lateness <= max(1.0, 0.05 * generation) + 1.0  # + 1 s: Unix-second rounding


async def test_many_jobs_are_refreshed_with_one_list_request() -> None:
    async with sv.AsyncSoraVideo.simulated(max_concurrency=10, generation_time=60) as client:
        assert client.fake is not None
        jobs = [await client.videos.create_video(r) for r in requests(10)]
        for job in jobs:
            await client.videos.wait_for_job(job.id)
        lists = client.fake.count("GET", "/videos")
        retrieves = client.fake.count("GET", "/videos/*")
        assert lists >= 1
        # Ten jobs polled one by one would need many more requests than this.
        assert lists + retrieves <= 8


async def test_rate_limit_spaces_requests() -> None:
    async with sv.AsyncSoraVideo.simulated(requests_per_second=2.0, max_concurrency=8) as client:
        assert client.fake is not None
        jobs = [await client.videos.create_video(r) for r in requests(8)]
        for job in jobs:
            await client.videos.wait_for_job(job.id)
        times = sorted(r.time for r in client.fake.requests if r.method == "POST")
        # With a burst of 2, the 8 creates take at least (8 - 2) / 2 s of simulated time.
        assert times[-1] - times[0] >= 3.0 - 1e-6
