"""[W2-4] Many jobs in flight at once, each with its own waiter, at a flat cost a job.

Costs are counted (ledger reads, wake-ups, status requests), never timed: a change of one
job wakes that job's waiters only, so each waiter reads the ledger a bounded number of
times however many other jobs are in flight.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

import soravideo as sv
from soravideo._core.events import EventBus
from soravideo.repositories import MemoryRepository
from soravideo.testing import check_exactly_once


class CountingRepository(MemoryRepository):
    """A memory ledger that counts the reads of single jobs."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get_job(self, job_id: str) -> sv.Job:
        self.reads += 1
        return await super().get_job(job_id)


async def wait_for_all(client: sv.AsyncSoraVideo, jobs: Sequence[sv.Job]) -> list[sv.Job]:
    done: list[sv.Job] = []

    async def one(job_id: str) -> None:
        done.append(await client.videos.wait_for_job(job_id))

    async with anyio.create_task_group() as tg:
        for job in jobs:
            tg.start_soon(one, job.id)
    return done


@pytest.mark.anyio
@pytest.mark.parametrize("n", [5, 60])
async def test_each_waiter_reads_the_ledger_a_bounded_number_of_times(n: int) -> None:
    repository = CountingRepository()
    client = sv.AsyncSoraVideo.simulated(
        repository=repository, max_concurrency=n, requests_per_second=1000.0
    )
    try:
        jobs = [
            await client.videos.create_video(sv.CreateVideoRequest(prompt=f"fox {i}"))
            for i in range(n)
        ]
        before = repository.reads
        done = await wait_for_all(client, jobs)
        reads = repository.reads - before
    finally:
        await client.aclose()
    assert {job.status for job in done} == {sv.JobStatus.COMPLETED}
    # Five reads a waiter (its first look, then one a change of its own job: submitted,
    # progress, completed...). Before [W2-4] every change of any job woke every waiter.
    assert reads <= 5 * n, reads
    assert client.fake is not None
    check_exactly_once(client.fake, done)


@pytest.mark.anyio
async def test_a_change_of_one_job_wakes_its_own_waiters_and_the_general_ones() -> None:
    events = EventBus()
    mine, other, anyone = events.changed("job_a"), events.changed("job_b"), events.changed()
    assert events.changed("job_a") is mine

    events.touch("job_a")

    assert mine.is_set() and anyone.is_set()
    assert not other.is_set()
    events.touch()  # no job named: everybody
    assert other.is_set()
    assert not events.changed("job_a").is_set()
