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
from soravideo._api.context import JobReads
from soravideo._core.events import EventBus
from soravideo.repositories import MemoryRepository
from soravideo.testing import check_exactly_once
from soravideo.testing.repository_contract import make_job


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


class CountingBoth(CountingRepository):
    """Counts the reads of many jobs too: the ids each ``get_jobs`` call asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.many: list[list[str]] = []

    async def get_jobs(self, job_ids: Sequence[str]) -> list[sv.Job]:
        self.many.append(list(job_ids))
        return await super().get_jobs(job_ids)


@pytest.mark.anyio
async def test_waiters_started_together_read_their_jobs_with_one_ledger_call() -> None:
    repository = CountingBoth()
    client = sv.AsyncSoraVideo.simulated(repository=repository, max_concurrency=30)
    try:
        jobs = await client.videos.create_videos(
            [sv.CreateVideoRequest(prompt=f"owl {i}") for i in range(30)]
        )
        done = await wait_for_all(client, jobs)
    finally:
        await client.aclose()
    assert {job.status for job in done} == {sv.JobStatus.COMPLETED}
    # Their first looks: one read of all thirty jobs, none of a single job.
    assert sorted(repository.many[0]) == sorted(job.id for job in jobs)
    assert repository.reads == 0
    assert client.fake is not None
    check_exactly_once(client.fake, done)


class Reads(MemoryRepository):
    """A memory ledger whose reads can fail, and whose reads of many jobs can wait until
    let go."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False
        self.gate: anyio.Event | None = None
        self.singles: list[str] = []

    async def get_jobs(self, job_ids: Sequence[str]) -> list[sv.Job]:
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise sv.RepositoryError("the ledger is down")
        return await super().get_jobs(job_ids)

    async def get_job(self, job_id: str) -> sv.Job:
        self.singles.append(job_id)
        if self.failing:
            raise sv.RepositoryError("the ledger is down")
        return await super().get_job(job_id)


async def read_all(reads: JobReads, ids: Sequence[str]) -> dict[str, object]:
    """Each id read by its own task at one moment: each one's job, or its error."""
    got: dict[str, object] = {}

    async def one(job_id: str) -> None:
        try:
            got[job_id] = await reads.get(job_id)
        except sv.SoraVideoError as exc:
            got[job_id] = exc

    async with anyio.create_task_group() as tg:
        for job_id in ids:
            tg.start_soon(one, job_id)
    return got


@pytest.mark.anyio
async def test_reads_of_one_moment_answer_each_reader_as_its_own_read_would() -> None:
    repository = Reads()
    jobs = [make_job(age=i) for i in range(3)]
    await repository.add_jobs(jobs)
    reads = JobReads(repository)
    got = await read_all(reads, [*(job.id for job in jobs), "job_missing"])
    assert [got[job.id] for job in jobs] == jobs
    assert isinstance(got["job_missing"], sv.JobNotFoundError)
    assert repository.singles == []
    # A failed read: each reader reads alone again, and gets its own error.
    repository.failing = True
    got = await read_all(reads, [job.id for job in jobs])
    assert all(isinstance(got[job.id], sv.RepositoryError) for job in jobs)
    assert sorted(repository.singles) == sorted(job.id for job in jobs[1:])
    assert len({id(error) for error in got.values()}) == 3


@pytest.mark.anyio
async def test_a_reader_cancelled_mid_read_leaves_the_others_answered() -> None:
    repository = Reads()
    jobs = [make_job(age=i) for i in range(3)]
    await repository.add_jobs(jobs)
    reads = JobReads(repository)
    repository.gate = anyio.Event()  # the read of all three waits
    got: dict[str, sv.Job] = {}
    first = anyio.CancelScope()

    async def read(job_id: str) -> None:
        got[job_id] = await reads.get(job_id)

    async def read_first() -> None:
        with first:
            await read(jobs[0].id)

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_first)  # the first reader: it reads for all three
        for job in jobs[1:]:
            tg.start_soon(read, job.id)
        await anyio.wait_all_tasks_blocked()
        first.cancel()
    assert jobs[0].id not in got
    assert [got[job.id] for job in jobs[1:]] == jobs[1:]
    assert sorted(repository.singles) == sorted(job.id for job in jobs[1:])
