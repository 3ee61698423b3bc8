"""[W2-4] Many jobs in flight at once, each with its own waiter, at a flat cost a job.

Costs are counted (ledger reads, wake-ups, status requests), never timed: a change of one
job wakes that job's waiters only, so each waiter reads the ledger a bounded number of
times however many other jobs are in flight.
"""

from __future__ import annotations

import functools
import gc
import weakref
from collections.abc import Sequence
from typing import Any

import anyio
import attrs
import pytest

import soravideo as sv
from soravideo._core import events as events_module
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


async def create_then_wait(
    client: sv.AsyncSoraVideo, repository: CountingRepository, n: int
) -> tuple[list[sv.Job], int]:
    """Create ``n`` jobs, then wait for each in its own task; return them as they ended,
    and the ledger reads of single jobs the waits made."""
    jobs = [
        await client.videos.create_video(sv.CreateVideoRequest(prompt=f"fox {i}")) for i in range(n)
    ]
    before = repository.reads
    done = await wait_for_all(client, jobs)
    return done, repository.reads - before


@pytest.mark.anyio
@pytest.mark.parametrize("n", [5, 60])
async def test_each_waiter_reads_the_ledger_a_bounded_number_of_times(n: int) -> None:
    repository = CountingRepository()
    client = sv.AsyncSoraVideo.simulated(
        repository=repository, max_concurrency=n, requests_per_second=1000.0
    )
    try:
        done, reads = await create_then_wait(client, repository, n)
    finally:
        await client.aclose()
    assert {job.status for job in done} == {sv.JobStatus.COMPLETED}
    # Two reads a waiter: its first look, and one more while the engine had not yet
    # claimed its job (a job driven elsewhere is re-read every 0.5 s). Its job's end then
    # wakes it with the job as announced, and its news on the way (submitted, progress)
    # does not wake it at all. Before [W2-4] every change of any job woke every waiter;
    # later each change of its own job did (four or five reads a waiter).
    assert reads <= 2 * n, reads
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


@pytest.mark.anyio
async def test_a_waiter_of_the_end_sleeps_through_the_news_on_the_way() -> None:
    events = EventBus()
    job = make_job()
    end, every = events.changed(job.id, ends_only=True), events.changed(job.id)

    await events.emit("progress", attrs.evolve(job, progress=40))

    assert every.is_set() and not end.is_set()
    assert events.latest(job.id) is not None  # kept for the waiter of every change
    every = events.changed(job.id)
    ended = attrs.evolve(job, status=sv.JobStatus.COMPLETED)
    await events.emit("completed", ended)
    assert end.is_set() and every.is_set()
    assert events.latest(job.id) == ended


@pytest.mark.anyio
async def test_news_on_the_way_is_not_kept_for_a_waiter_of_the_end_only() -> None:
    events = EventBus()
    job = make_job()
    end = events.changed(job.id, ends_only=True)

    await events.emit("submitted", job)

    assert not end.is_set()
    assert events.latest(job.id) is None  # nothing held for a waiter that will not look


@pytest.mark.parametrize("job_id", ["job_a", None])
def test_a_change_under_the_engine_wakes_the_waiters_of_the_end(job_id: str | None) -> None:
    # A row changed under the engine (cancelled elsewhere, a lease lost): the job may have
    # ended, or no longer be driven here, so its waiters look again.
    events = EventBus()
    end = events.changed("job_a", ends_only=True)

    events.touch(job_id)

    assert end.is_set()
    assert not events.changed("job_a", ends_only=True).is_set()


@pytest.mark.anyio
async def test_a_waiter_of_the_end_reads_the_ledger_over_news_kept_for_another() -> None:
    # A waiter of every change (a progress bar) had a reading kept for it; the ledger
    # already holds the job's end (written by another process, say). A waiter of the end
    # woken by its timer must not take the older reading for the job.
    from types import SimpleNamespace

    from soravideo._api.videos import _JobLook

    repository = MemoryRepository()
    job = make_job()
    await repository.add_jobs([job])
    ended = attrs.evolve(job, status=sv.JobStatus.CANCELLED)
    await repository.update_job(ended, expected_status=job.status)
    events = EventBus()
    events.changed(job.id)  # the other waiter
    await events.emit("progress", attrs.evolve(job, progress=40))
    context: Any = SimpleNamespace(repository=repository, clock=sv.ManualClock())
    runner: Any = SimpleNamespace(events=events, recheck_interval=lambda _job_id: 1.0)
    look = _JobLook(context, job.id, None, cancel_on_timeout=False, bar=None)

    assert await look(runner) is None
    assert look.ended is not None and look.ended.status is sv.JobStatus.CANCELLED


class CountingAnyio:
    """``anyio`` as the event bus sees it, keeping a weak set of the events it makes."""

    def __init__(self) -> None:
        self.made: weakref.WeakSet[anyio.Event] = weakref.WeakSet()

    def Event(self) -> anyio.Event:  # anyio's name
        event = anyio.Event()
        self.made.add(event)
        return event

    def __getattr__(self, name: str) -> Any:
        return getattr(anyio, name)


@pytest.mark.anyio
@pytest.mark.parametrize("progress", [False, True])
async def test_a_finished_wait_leaves_no_event_behind(
    progress: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each waiter takes an event before each look; the look that finds its job ended used
    # to leave one behind for good: one event for every job ever waited for.
    counting = CountingAnyio()
    monkeypatch.setattr(events_module, "anyio", counting)
    n = 30
    async with sv.AsyncSoraVideo.simulated(max_concurrency=n, requests_per_second=1000.0) as client:
        jobs = [
            await client.videos.create_video(sv.CreateVideoRequest(prompt=f"fox {i}"))
            for i in range(n)
        ]
        async with anyio.create_task_group() as tg:
            for job in jobs:
                tg.start_soon(
                    functools.partial(client.videos.wait_for_job, job.id, progress=progress)
                )
        # Past the waits' timers, which the simulated clock keeps until they are due.
        await client.clock.sleep(2 * client.settings.poll_max_interval)
        gc.collect()
        assert len(counting.made) < n // 3, len(counting.made)


def test_an_event_is_dropped_only_once_every_wait_that_took_it_gave_it_back() -> None:
    # Two waiters of one job took its event; the first saw the job ended (on its own
    # timer) and gives it back. The second, still looking at an older reading, must be
    # woken by the end's announcement: the event stays until it gives it back too.
    events = EventBus()
    first = events.changed("job_a", ends_only=True)
    second = events.changed("job_a", ends_only=True)
    assert first is second

    events.release("job_a", first, ends_only=True)
    assert events.changed("job_a", ends_only=True) is first  # a third take
    events.release("job_a", first, ends_only=True)
    events.touch("job_a")
    assert second.is_set()

    unwaited = events.changed("job_a", ends_only=True)
    events.release("job_a", unwaited)  # another kind of waiter's: not this one
    assert events.changed("job_a", ends_only=True) is unwaited
    events.release("job_a", unwaited, ends_only=True)
    events.release("job_a", unwaited, ends_only=True)  # every take given back
    assert events.changed("job_a", ends_only=True) is not unwaited
