"""A ledger that refuses the engine's claims and lease renewals (SQLite "database is
locked", a PostgreSQL server restarting): the engine backs off and tries again; it never
stops, and never loses a job it had claimed. Simulated time; nothing waits on real time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import anyio
import pytest

import soravideo as sv
from helpers import assert_created_once, request, requests
from soravideo._core.clock import VirtualClock
from soravideo._core.events import EventBus
from soravideo._engine.runner import JobRunner
from soravideo.repositories import MemoryRepository
from soravideo.testing import check_exactly_once, check_ledger_exactly_once
from soravideo.testing._simulated import simulated_parts

pytestmark = pytest.mark.anyio


class RefusesClaims(MemoryRepository):
    """A ledger whose first ``times`` claims fail as a locked SQLite file does; with
    ``only_unbatched``, only claims not limited to one batch do."""

    def __init__(self, times: int, *, only_unbatched: bool = False) -> None:
        super().__init__()
        self.times = times
        self.only_unbatched = only_unbatched
        self.refused = 0

    async def claim_jobs(self, owner: str, **kwargs: Any) -> list[sv.Job]:
        batched = kwargs.get("batch_id") is not None
        if self.refused < self.times and not (self.only_unbatched and batched):
            self.refused += 1
            raise sv.RepositoryError("database is locked")
        return await super().claim_jobs(owner, **kwargs)


class RefusesRenewals(MemoryRepository):
    """A ledger whose first ``times`` lease renewals fail."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times
        self.refused = 0
        self.renewed = 0

    async def renew_lease(self, job_ids: Any, owner: str, **kwargs: Any) -> list[str]:
        if self.refused < self.times:
            self.refused += 1
            raise sv.RepositoryError("database is locked")
        self.renewed += 1
        return await super().renew_lease(job_ids, owner, **kwargs)


@pytest.mark.parametrize("times", [1, 3, 8])
async def test_a_refused_claim_is_tried_again_and_the_job_completes(times: int) -> None:
    repository = RefusesClaims(times)
    async with sv.AsyncSoraVideo.simulated(repository=repository, generation_time=30) as client:
        job = await client.videos.create_video(request())
        done = await client.videos.wait_for_job(job.id, timeout=3600)
    assert repository.refused == times
    assert done.status is sv.JobStatus.COMPLETED, done.error
    assert client.fake is not None
    assert_created_once(client.fake, 1)
    check_exactly_once(client.fake, [done])


async def test_a_batch_whose_claims_are_refused_completes_every_job() -> None:
    repository = RefusesClaims(4)
    async with sv.AsyncSoraVideo.simulated(repository=repository, generation_time=30) as client:
        created = await client.batches.create_batch(
            sv.BatchVideoRequest(videos=requests(3), concurrency=2)
        )
        batch = await client.batches.process_batch(created.batch_id)
    assert repository.refused == 4
    assert batch.status is sv.BatchStatus.COMPLETED
    assert client.fake is not None
    assert_created_once(client.fake, 3)
    await check_ledger_exactly_once(client.fake, repository)


async def test_jobs_claimed_before_a_refused_claim_are_kept_and_sent() -> None:
    # The batch's own claim succeeds, the claim for the rest of the room is refused: the
    # jobs already leased to this engine are driven here, not left on a lease nobody
    # drives (the lease clock stands still: they would never be claimed again).
    clock = VirtualClock()
    fake, transport = simulated_parts(clock, generation_time=30)
    repository = RefusesClaims(1, only_unbatched=True)
    runner = JobRunner(
        repository=repository,
        transport=transport,
        settings=sv.Settings(max_concurrency=4, poll_min_interval=1.0, poll_max_interval=10.0),
        clock=clock,
        events=EventBus(),
        owner="engine",
        lease_clock=sv.ManualClock(start=clock.time()),
    )
    client = sv.AsyncSoraVideo(transport=transport, repository=repository, clock=clock)
    created = await client.batches.create_batch(
        sv.BatchVideoRequest(videos=requests(2), concurrency=2)
    )
    runner.set_batch_limit(created.batch_id, 2)
    async with runner.driving():
        for _ in range(600):
            jobs = (await repository.list_jobs(batch_id=created.batch_id)).items
            if all(job.status.is_terminal for job in jobs):
                break
            await clock.sleep(1.0)
    assert repository.refused == 1
    assert [job.status for job in jobs] == [sv.JobStatus.COMPLETED] * 2
    assert_created_once(fake, 2)
    check_exactly_once(fake, list(jobs))


async def test_a_worker_survives_refused_claims() -> None:
    clock = VirtualClock()  # the engine's time jumps ahead whenever every task waits
    fake, transport = simulated_parts(clock, generation_time=30)
    repository = RefusesClaims(5)
    runner = JobRunner(
        repository=repository,
        transport=transport,
        settings=sv.Settings(poll_min_interval=1.0, poll_max_interval=10.0),
        clock=clock,
        events=EventBus(),
        owner="worker",
        lease_clock=sv.ManualClock(start=clock.time()),
    )
    client = sv.AsyncSoraVideo(transport=transport, repository=repository, clock=clock)
    job = await client.videos.create_video(request())
    runner.worker_mode = True
    async with runner.driving():
        for _ in range(1000):
            if (await repository.get_job(job.id)).status.is_terminal:
                break
            await clock.sleep(1.0)
        runner.worker_mode = False
    done = await repository.get_job(job.id)
    assert repository.refused == 5
    assert done.status is sv.JobStatus.COMPLETED, done.error
    assert_created_once(fake, 1)
    check_exactly_once(fake, [done])


async def test_refused_lease_renewals_neither_stop_the_engine_nor_drop_the_job() -> None:
    clock = sv.ManualClock()
    lease_clock = sv.ManualClock(start=clock.time())
    fake, transport = simulated_parts(clock, generation_time=600)  # type: ignore[arg-type]
    repository = RefusesRenewals(3)
    settings = sv.Settings(lease_seconds=60, poll_min_interval=1.0, poll_max_interval=120)
    runner = JobRunner(
        repository=repository,
        transport=transport,
        settings=settings,
        clock=clock,
        events=EventBus(),
        owner="worker",
        lease_clock=lease_clock,
    )
    client = sv.AsyncSoraVideo(transport=transport, repository=repository, clock=clock)
    job = await client.videos.create_video(request())
    runner.wake()
    async with runner.driving():
        await anyio.wait_all_tasks_blocked()
        assert runner.holds(job.id)
        # Each renewal (every lease_seconds / 3 of real time) is refused three times over,
        # then taken: the job stays here throughout, its lease renewed in the end.
        for _ in range(40):
            lease_clock.advance(5.0)
            await anyio.wait_all_tasks_blocked()
            assert runner.holds(job.id)
            if repository.renewed:
                break
        assert repository.refused == 3
        assert repository.renewed >= 1
        # The video finishes (simulated time) and is recorded by this same engine.
        for _ in range(100):
            if (await repository.get_job(job.id)).status.is_terminal:
                break
            clock.advance(100.0)
            await anyio.wait_all_tasks_blocked()
    done = await repository.get_job(job.id)
    assert done.status is sv.JobStatus.COMPLETED, done.error
    assert isinstance(done.completed_at, datetime)
    assert_created_once(fake, 1)
    check_exactly_once(fake, [done])
