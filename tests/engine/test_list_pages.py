"""[W2-4] A status refresh that reads list pages applies what they show of every job it
polls, not only of the jobs due: a job seen on a page is not asked about again before
``poll_min_interval``, so jobs with a spread of due times are read in fewer rounds.

Counted on FakeSora on simulated time (requests, rounds), never timed.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from typing import Any

import anyio
import httpx
import pytest

import soravideo as sv
from helpers import WithoutFetchSeen
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeSora, check_exactly_once
from soravideo.transports import SoraTransport, SupportsFetchSeen

BASE_URL = "http://fakesora.invalid/v1"
JOBS = 100  # one list page
GENERATION = 60.0


def generation_times() -> Mapping[str, float]:
    rng = random.Random(2026)
    return {f"fox {i}": GENERATION * (1 + 0.1 * (2 * rng.random() - 1)) for i in range(JOBS)}


async def run(*, seen: bool) -> tuple[FakeSora, list[sv.Job]]:
    times = generation_times()
    clock = sv.VirtualClock()
    fake = FakeSora(clock=clock, generation_time=lambda params: times[str(params["prompt"])])
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE_URL) as http:
        transport = SoraTransport(
            base_url=BASE_URL, api_key="sk-test", http_client=http, clock=clock
        )
        plugin: Any = transport if seen else WithoutFetchSeen(transport)
        assert isinstance(plugin, SupportsFetchSeen) is seen
        client = sv.AsyncSoraVideo(
            transport=plugin,
            repository=MemoryRepository(),
            clock=clock,
            max_concurrency=JOBS,
            requests_per_second=1e6,
        )
        async with client:
            jobs = await client.videos.create_videos(
                [sv.CreateVideoRequest(prompt=prompt) for prompt in times]
            )
            done: list[sv.Job] = []

            async def wait(job_id: str) -> None:
                done.append(await client.videos.wait_for_job(job_id))

            async with anyio.create_task_group() as tg:
                for job in jobs:
                    tg.start_soon(wait, job.id)
    return fake, done


def gaps(fake: FakeSora) -> list[float]:
    """The time between two refreshes that read the list (each reads it at one simulated
    time)."""
    reads = sorted({request.time for request in fake.requests if request.route == "list"})
    return [later - earlier for earlier, later in itertools.pairwise(reads)]


@pytest.mark.anyio
async def test_jobs_seen_on_a_page_are_not_asked_about_again_before_the_minimum_interval() -> None:
    fake, done = await run(seen=True)
    assert {job.status for job in done} == {sv.JobStatus.COMPLETED}
    check_exactly_once(fake, done)
    # Every job is on the one page each refresh reads: after a refresh, none is due
    # before poll_min_interval (1 s by default) has passed.
    assert min(gaps(fake)) >= sv.Settings().poll_min_interval

    # The same jobs on a transport without fetch_many_seen: each refresh applies the
    # jobs due only, and the others, due a moment later, take a round of their own.
    plain, plain_done = await run(seen=False)
    check_exactly_once(plain, plain_done)
    assert min(gaps(plain)) < sv.Settings().poll_min_interval
    assert fake.status_request_count() < plain.status_request_count()
