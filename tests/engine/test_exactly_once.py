"""Exactly once at every edge of the engine: a cancel racing the dispatcher, a ledger write
that fails after a create, a create that raises something unexpected, and a takeover after
a worker died. Everything runs in-process on simulated time; nothing waits on real time.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

import soravideo as sv
from helpers import assert_created_once, request, requests
from soravideo._core.clock import VirtualClock, utc_from_timestamp
from soravideo._core.events import EventBus
from soravideo._engine.runner import JobRunner, idempotency_key
from soravideo.repositories import MemoryRepository, SQLiteRepository
from soravideo.testing import check_exactly_once
from soravideo.testing._simulated import simulated_parts
from soravideo.testing._simulated_runway import simulated_runway_parts

pytestmark = pytest.mark.anyio


# -- 1. a cancel racing the dispatcher ------------------------------------------------------


async def test_cancel_batch_sends_nothing_more_and_stops_every_create_on_the_wire(
    client: sv.AsyncSoraVideo,
) -> None:
    fake = client.fake
    assert fake is not None
    # Every create is answered 5 s after the fake made the video: a cancel finds creates
    # on the wire, and the dispatcher has time to send more while the cancel runs.
    fake.inject(delay=5, phase="after", match="POST /videos", rate=1.0)
    created = await client.batches.create_batch(
        sv.BatchVideoRequest(videos=requests(6), concurrency=2)
    )
    result: dict[str, sv.Batch] = {}

    async def process() -> None:
        result["batch"] = await client.batches.process_batch(created.batch_id)

    async with anyio.create_task_group() as tg:
        tg.start_soon(process)
        # Two videos done, the next two creates on the wire.
        while fake.created_count() < 4:
            await client.clock.sleep(0.5)
        summary = await client.batches.cancel_batch(created.batch_id)
        posts = fake.created_count()
        report = await client.batches.get_batch_status(created.batch_id)
    assert summary.already_finished == 2
    assert summary.cancelled == 4
    # Nothing was sent once the cancel began: only the two creates already on the wire.
    assert posts == 4
    # Both were answered, recorded and stopped before cancel_batch returned.
    assert all(r.status is not None for r in fake.requests if r.method == "POST")
    cancelled = [j for j in report.jobs if j.status is sv.JobStatus.CANCELLED]
    stopped = sorted(j.remote_id for j in cancelled if j.remote_id)
    assert len(stopped) == 2
    assert sorted(fake.cancelled_ids()) == stopped
    # Nothing more afterwards either, and never more than two generations at once.
    await client.clock.sleep(120)
    assert fake.created_count() == 4
    assert fake.peak_concurrency() <= 2
    assert_created_once(fake, 4)
    assert result["batch"].status is sv.BatchStatus.CANCELLED


async def test_cancel_job_with_its_create_on_the_wire_keeps_other_jobs_waiting(
    client: sv.AsyncSoraVideo,
) -> None:
    fake = client.fake
    assert fake is not None
    fake.inject(delay=5, phase="after", match="POST /videos", rate=1.0)
    created = await client.batches.create_batch(
        sv.BatchVideoRequest(videos=requests(3), concurrency=1)
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(client.batches.process_batch, created.batch_id)
        while fake.created_count() < 1:
            await client.clock.sleep(0.5)
        report = await client.batches.get_batch_status(created.batch_id)
        job_id = next(j.id for j in report.jobs if j.status is sv.JobStatus.PROCESSING)
        # The batch's single slot stays taken until the create is answered and stopped.
        done = await client.videos.cancel_job(job_id)
        assert done.status is sv.JobStatus.CANCELLED
        assert done.remote_id is not None
        assert fake.cancelled_ids() == [done.remote_id]
        await client.batches.cancel_batch(created.batch_id)
    assert fake.peak_concurrency() <= 1
    assert fake.created_count() <= 2


async def test_cancelling_a_job_whose_create_answer_was_lost_stops_the_video_it_made(
    client: sv.AsyncSoraVideo,
) -> None:
    # The create reached the provider, which made the video, but its answer was lost: the
    # job is processing with no remote id. Cancelling it must find that video (the
    # provider can list) and stop it, not leave it generating, billed and owned by no job.
    fake = client.fake
    assert fake is not None
    fake.inject(reset=True, phase="after", match="POST /videos")
    job = await client.videos.create_video(request("a lone heron"))
    while fake.created_count() < 1:
        await client.clock.sleep(0.1)
    done = await client.videos.cancel_job(job.id)
    assert done.status is sv.JobStatus.CANCELLED
    (made,) = fake.created_ids()
    assert done.remote_id == made
    assert fake.cancelled_ids() == [made]
    await client.clock.sleep(120)
    assert_created_once(fake, 1)
    check_exactly_once(fake, [await client.videos.get_job(job.id)])


async def test_cancelling_while_the_transport_retries_a_create_stops_the_video_it_made(
    client: sv.AsyncSoraVideo,
) -> None:
    # Found by the state machine: the create got a 429 and the transport is waiting out its
    # Retry-After to send it again; the cancel waits for that create, whose retry is made
    # at the provider but its answer lost. The cancel must still find and stop the video.
    fake = client.fake
    assert fake is not None
    fake.inject(status=429, retry_after=2, match="POST /videos")
    fake.inject(reset=True, phase="after", match="POST /videos")
    job = await client.videos.create_video(request("a lone heron"))
    while not fake.requests:
        await client.clock.sleep(0.1)
    done = await client.videos.cancel_job(job.id)
    (made,) = fake.created_ids()
    assert (done.status, done.remote_id) == (sv.JobStatus.CANCELLED, made)
    assert made in fake.cancelled_ids() + fake.deleted_ids()
    check_exactly_once(fake, [done])


async def test_reconciling_never_adopts_a_same_prompt_video_of_another_length(
    client: sv.AsyncSoraVideo,
) -> None:
    # A's create is refused with a 500 (nothing made); B, same prompt but 4 s instead of
    # 8 s, is made but its answer is lost. A must not adopt B's 4-second video: it sends its
    # own create again, and B reconciles onto the video it did make.
    fake = client.fake
    assert fake is not None
    fake.inject(status=500, match="POST /videos")
    a = await client.videos.create_video(request("a fox", duration=8))
    while not any(r.status == 500 for r in fake.requests):
        await client.clock.sleep(0.1)
    fake.inject(reset=True, phase="after", match="POST /videos")
    b = await client.videos.create_video(request("a fox", duration=4))
    a = await client.videos.wait_for_job(a.id, timeout=600)
    b = await client.videos.wait_for_job(b.id, timeout=600)
    assert a.status is b.status is sv.JobStatus.COMPLETED
    assert a.remote_id != b.remote_id
    assert fake.create_params(a.remote_id or "")["seconds"] == "8"
    assert_created_once(fake, 2)
    check_exactly_once(fake, [a, b])


# -- 2. closing while creates wait to be sent (on the wire: tests/e2e/test_closing.py) ------


async def test_closing_hands_back_a_create_not_yet_sent_as_pending() -> None:
    clock = sv.ManualClock()  # nobody moves it: the second create waits for a token forever
    fake, transport = simulated_parts(clock, generation_time=600)  # type: ignore[arg-type]
    repository = MemoryRepository()
    client = sv.AsyncSoraVideo(
        transport=transport, repository=repository, clock=clock, requests_per_second=0.01
    )
    async with client:
        jobs = [await client.videos.create_video(r) for r in requests(2)]
        while fake.created_count() < 1:
            await anyio.wait_all_tasks_blocked()
        await anyio.wait_all_tasks_blocked()
    stored = {job.id: await repository.get_job(job.id) for job in jobs}
    sent = [j for j in stored.values() if j.remote_id is not None]
    unsent = [j for j in stored.values() if j.remote_id is None]
    assert len(sent) == len(unsent) == 1
    assert sent[0].status is sv.JobStatus.PROCESSING
    # Never sent, so not an ambiguous create: pending again, as if never picked up.
    assert unsent[0].status is sv.JobStatus.PENDING
    assert unsent[0].attempts == 0
    assert unsent[0].started_at is None
    assert fake.created_count() == 1


# -- 3. the ledger refuses the write of a create's answer ---------------------------------


class RefusesRemoteIds(MemoryRepository):
    """A ledger that refuses the first ``times`` writes that carry a remote id, as a SQLite
    file locked by another process past its busy timeout does."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times
        self.refused = 0

    async def update_job(self, job: sv.Job, **kwargs: Any) -> sv.Job:
        if job.remote_id is not None and self.refused < self.times:
            self.refused += 1
            raise sv.RepositoryError("database is locked")
        return await super().update_job(job, **kwargs)


# Runway can neither list tasks nor deduplicate creates: a remote id thrown away there is a
# video billed and lost (the next attempt can only fail the job as ambiguous).
@pytest.mark.parametrize("times", [2, 5, 12])
async def test_a_refused_write_of_a_remote_id_is_retried_and_never_dropped(times: int) -> None:
    clock = VirtualClock()
    fake, transport = simulated_runway_parts(clock, generation_time=60)
    repository = RefusesRemoteIds(times)
    async with sv.AsyncSoraVideo(transport=transport, repository=repository, clock=clock) as client:
        job = await client.videos.create_video(request(model="gen4.5", duration=5))
        done = await client.videos.wait_for_job(job.id, timeout=3600)
    assert repository.refused == times
    assert done.status is sv.JobStatus.COMPLETED, done.error
    assert done.remote_id is not None
    assert fake.created_count() == 1


class RefusesEveryWrite(MemoryRepository):
    """A ledger locked against every job write, ``times`` times over (found by the
    exactly-once state machine: a refused pending -> processing write used to count as the
    job's own unexpected error, and a job whose failure could not be written sat on its
    lease, unclaimable, until the lease expired)."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times
        self.refused = 0

    async def update_job(self, job: sv.Job, **kwargs: Any) -> sv.Job:
        if self.refused < self.times:
            self.refused += 1
            raise sv.RepositoryError("database is locked")
        return await super().update_job(job, **kwargs)


@pytest.mark.parametrize("times", [1, 4, 9])
async def test_a_ledger_refusing_writes_before_the_create_delays_the_job_never_fails_it(
    times: int,
) -> None:
    repository = RefusesEveryWrite(times)
    async with sv.AsyncSoraVideo.simulated(repository=repository, generation_time=30) as client:
        job = await client.videos.create_video(request())
        done = await client.videos.wait_for_job(job.id, timeout=3600)
    assert repository.refused == times
    assert done.status is sv.JobStatus.COMPLETED, done.error
    assert client.fake is not None
    assert_created_once(client.fake, 1)
    check_exactly_once(client.fake, [done])


async def test_a_cancel_the_ledger_refuses_leaves_the_job_claimable_by_the_next_process() -> None:
    # Found by the state machine: the cancel's own write was refused (a locked ledger), so
    # the job goes on; it used to be dropped by the engine yet left leased to it, so the
    # next process could not take it up until the lease expired (real minutes).
    repository = RefusesEveryWrite(10_000)
    async with sv.AsyncSoraVideo.simulated(repository=repository, generation_time=30) as client:
        job = await client.videos.create_video(request())
        for _ in range(1000):  # claimed (leased), its sends refused and retried
            if repository.refused >= 3:
                break
            await client.clock.sleep(0.5)
        with pytest.raises(sv.RepositoryError):
            await client.videos.cancel_job(job.id)
    repository.times = 0  # unlocked
    taken = await repository.claim_jobs(
        "next-process", limit=10, lease_seconds=60, now=utc_from_timestamp(time.time())
    )
    assert [j.id for j in taken] == [job.id]
    assert taken[0].status is not sv.JobStatus.CANCELLED


async def test_a_ledger_locked_by_another_process_loses_no_remote_id(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    clock = VirtualClock()
    fake, transport = simulated_runway_parts(clock, generation_time=60)
    repository = SQLiteRepository(db, busy_timeout=0.05)
    submit = transport.submit
    released = threading.Event()

    async def submit_then_lock(req: sv.CreateVideoRequest, *, idempotency_key: str) -> Any:
        remote = await submit(req, idempotency_key=idempotency_key)
        # Another process takes the write lock while the answer is on its way back, and
        # holds it past the busy timeout of the first write.
        other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN EXCLUSIVE")

        def release() -> None:
            other.rollback()
            other.close()
            released.set()

        threading.Timer(0.2, release).start()
        return remote

    transport.submit = submit_then_lock  # type: ignore[method-assign]
    async with sv.AsyncSoraVideo(transport=transport, repository=repository, clock=clock) as client:
        job = await client.videos.create_video(request(model="gen4.5", duration=5))
        done = await client.videos.wait_for_job(job.id, timeout=3600)
    assert released.is_set()
    assert done.status is sv.JobStatus.COMPLETED, done.error
    assert done.remote_id is not None
    assert fake.created_count() == 1


# -- 4. a create that fails with something unexpected -------------------------------------


async def test_an_unexpected_error_fails_the_job_after_bounded_attempts(
    client: sv.AsyncSoraVideo, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(req: sv.CreateVideoRequest, *, idempotency_key: str) -> Any:
        raise ValueError("cannot serialise a set")

    client.transport.submit = broken  # type: ignore[method-assign]
    created = await client.batches.create_batch(sv.BatchVideoRequest(videos=requests(2)))
    result: dict[str, sv.Batch] = {}

    async def process() -> None:
        result["batch"] = await client.batches.process_batch(created.batch_id)

    with caplog.at_level(logging.WARNING, logger="soravideo"):
        async with anyio.create_task_group() as tg:
            tg.start_soon(process)

            async def watchdog() -> None:
                await client.clock.sleep(
                    3600
                )  # simulated: an hour of retries, far more than needed
                tg.cancel_scope.cancel()

            tg.start_soon(watchdog)
            while "batch" not in result:
                await client.clock.sleep(60)
            tg.cancel_scope.cancel()
    assert result["batch"].status is sv.BatchStatus.FAILED
    report = await client.batches.get_batch_status(created.batch_id)
    max_retries = client.settings.max_retries
    for job in report.jobs:
        assert job.status is sv.JobStatus.FAILED
        assert job.error is not None
        assert job.error.code == "unexpected_error"
        assert job.error.message == "ValueError: cannot serialise a set"
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 2 * (max_retries + 1)
    assert client.fake is not None
    assert client.fake.created_count() == 0


# -- 5. taking over from a worker that died -----------------------------------------------

LEASE = 60.0
POLL = 1.0


async def _left_by_a_dead_worker(
    repository: MemoryRepository, transport: Any, lease_clock: sv.ManualClock
) -> sv.Job:
    """Store a job that a worker (since killed) sent and holds the lease of."""
    client = sv.AsyncSoraVideo(transport=transport, repository=repository, clock=lease_clock)
    job = await client.videos.create_video(request())
    now = utc_from_timestamp(lease_clock.time())
    [claimed] = await repository.claim_jobs("dead", limit=1, lease_seconds=LEASE, now=now)
    remote = await transport.submit(claimed.request, idempotency_key=idempotency_key(job.id))
    sent = attrs.evolve(
        claimed,
        status=sv.JobStatus.PROCESSING,
        remote_id=remote.remote_id,
        started_at=now,
        attempts=1,
    )
    return await repository.update_job(
        sent, expected_status=sv.JobStatus.PENDING, lease_owner="dead"
    )


async def test_a_worker_takes_over_within_the_lease_and_polls_at_once() -> None:
    clock = sv.ManualClock()
    lease_clock = sv.ManualClock(start=clock.time())
    start = lease_clock.time()
    fake, transport = simulated_parts(clock, generation_time=600)  # type: ignore[arg-type]
    repository = MemoryRepository()
    job = await _left_by_a_dead_worker(repository, transport, lease_clock)
    clock.advance(300)  # the video is half done when the other worker looks
    settings = sv.Settings(lease_seconds=LEASE, poll_min_interval=POLL, poll_max_interval=120)
    runner = JobRunner(
        repository=repository,
        transport=transport,
        settings=settings,
        clock=clock,
        events=EventBus(),
        owner="survivor",
        lease_clock=lease_clock,
    )
    runner.worker_mode = True
    async with runner.driving():
        await anyio.wait_all_tasks_blocked()
        lease_clock.set_time(start + LEASE - POLL)
        await anyio.wait_all_tasks_blocked()
        assert not runner.holds(job.id)  # the dead worker's lease still stands
        # Its worker looks for work once a poll interval (real time): the expired lease is
        # taken over by then, and the video, unseen for a while, is checked at once.
        lease_clock.set_time(start + LEASE + POLL)
        await anyio.wait_all_tasks_blocked()
        assert runner.holds(job.id)
        assert fake.status_request_count() == 1
        runner.worker_mode = False
    stored = await repository.get_job(job.id)
    assert stored.progress == 50
    assert fake.created_count() == 1


async def test_a_callback_may_cancel_the_job_it_is_told_was_submitted(
    client: sv.AsyncSoraVideo,
) -> None:
    cancelled: list[sv.Job] = []

    async def cancel(event: Any) -> None:
        cancelled.append(await client.videos.cancel_job(event.job.id))

    client.on("submitted", cancel)
    job = await client.videos.create_video(request())
    done = await client.videos.wait_for_job(job.id, timeout=3600)
    assert done.status is sv.JobStatus.CANCELLED
    assert [j.id for j in cancelled] == [job.id]
    assert client.fake is not None
    assert client.fake.cancelled_ids() == [done.remote_id]
