"""A worker alive but stalled past its lease, on every simulated provider (memory ledger).

Engine A sends a job's create and stalls before the ledger has its remote id (a long GC
pause, a frozen VM): its write of the remote id and its lease renewals are held. Its lease
expires and engine B takes the job over. Where the provider lists its videos, B finds the
one A made and drives the job; where it cannot (Runway, fal, OpenRouter, Gemini), B cannot know
whether A's create was made, so it fails the job without sending another. Then A wakes and
its late write is refused by the lease guard. Whatever B did, the video A made must not be
left billed and unowned: one video, one job holding it, and nothing stuck. A may also wake
while B is about to fail the job: then A looks again until B has decided.
(`test_stalled_worker_postgres.py` runs the Sora, Runway and fal cases on a real PostgreSQL
server.)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import pytest

import soravideo as sv
from helpers import request
from soravideo._core.events import EventBus
from soravideo._engine.runner import JobRunner
from soravideo.repositories import JobUpdate, MemoryRepository
from soravideo.testing import check_ledger_exactly_once
from soravideo.testing._simulated import SIMULATED_PROVIDERS, simulated_provider_parts

pytestmark = pytest.mark.anyio

LEASE = 60.0
POLL = 1.0


class Stalls:
    """A's view of the shared ledger: its first write of the job's remote id waits for
    ``wake``, and so do its lease renewals meanwhile."""

    def __init__(self, inner: MemoryRepository) -> None:
        self.inner = inner
        self.stalled = anyio.Event()
        self.wake = anyio.Event()
        self.late: list[object] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _holds(self, updates: Sequence[JobUpdate]) -> bool:
        return not self.stalled.is_set() and any(u.job.remote_id is not None for u in updates)

    async def _late(self, write: Callable[[], Awaitable[Any]]) -> Any:
        self.stalled.set()
        await self.wake.wait()
        try:
            outcome = await write()
        except Exception as exc:
            self.late.append(exc)
            raise
        self.late.append(outcome)
        return outcome

    async def update_job(self, job: sv.Job, **kwargs: Any) -> sv.Job:
        update = JobUpdate(job=job, **kwargs)
        if self._holds([update]):
            return await self._late(lambda: self.inner.update_job(job, **kwargs))  # type: ignore[no-any-return]
        return await self.inner.update_job(job, **kwargs)

    async def update_jobs(self, updates: Sequence[JobUpdate]) -> Any:
        if self._holds(updates):
            return await self._late(lambda: self.inner.update_jobs(updates))
        return await self.inner.update_jobs(updates)

    async def renew_lease(self, *args: Any, **kwargs: Any) -> Any:
        if self.stalled.is_set() and not self.wake.is_set():
            await self.wake.wait()
        return await self.inner.renew_lease(*args, **kwargs)


def _runner(
    repository: Any, transport: Any, clock: Any, lease_clock: Any, owner: str, **settings: Any
) -> JobRunner:
    return JobRunner(
        repository=repository,
        transport=transport,
        settings=sv.Settings(
            lease_seconds=LEASE, poll_min_interval=POLL, poll_max_interval=10, **settings
        ),
        clock=clock,
        events=EventBus(),
        owner=owner,
        lease_clock=lease_clock,
    )


async def _settle() -> None:
    # The checkpoints first: anyio's wait_all_tasks_blocked sleeps 0.1 s of real time when
    # it finds a task that a clock.advance() just woke and that has not run yet.
    for _ in range(5):
        for _ in range(10):
            await anyio.lowlevel.checkpoint()
        await anyio.wait_all_tasks_blocked()


@attrs.define
class Scene:
    """One job, created; engine A (its ledger seen through ``ledger_a``) and engine B
    (through ``ledger_b``) on one memory ledger, the provider's fake and one clock."""

    fake: Any
    transport: Any
    clock: sv.ManualClock
    lease_clock: sv.ManualClock  # both engines' real time
    ledger: MemoryRepository
    ledger_a: Stalls
    ledger_b: Any
    job: sv.Job
    a: JobRunner
    b: JobRunner

    async def a_stalls(self) -> None:
        """A sends the job's create; its write of the answer stalls."""
        self.a.wake()
        with anyio.fail_after(5):
            await self.ledger_a.stalled.wait()
        assert self.fake.created_count() == 1

    async def b_takes_over(self, *, until: Callable[[], bool] = lambda: False) -> None:
        """A's lease runs out; B, looking for work, takes the job and does what it can."""
        self.lease_clock.advance(LEASE + POLL)
        for _ in range(20):
            self.clock.advance(POLL)
            await _settle()
            if until():
                return

    async def check(self) -> None:
        """A's late write was refused; the video A made is owned by the job, completed by B
        (a provider that lists) or failed by B, recorded and stopped by A."""
        done = await self.ledger.get_job(self.job.id)
        [late] = self.ledger_a.late
        assert isinstance(late, sv.ConflictError), late
        assert self.fake.created_count() == 1
        [video] = self.fake.created_ids()
        assert done.remote_id == video
        caps = self.transport.capabilities
        if caps.can_list:
            assert done.status is sv.JobStatus.COMPLETED, done.error
        else:
            assert done.status is sv.JobStatus.FAILED
            assert done.error is not None and done.error.code == "ambiguous_submission"
            assert video in done.error.message
            stopped = {*self.fake.cancelled_ids(), *self.fake.deleted_ids()}
            assert (video in stopped) is caps.can_cancel
            assert ("cannot cancel" in done.error.message) is not caps.can_cancel
        await check_ledger_exactly_once(self.fake, self.ledger)


async def _scene(
    provider: str = "runway",
    *,
    a_view: type[Stalls] = Stalls,
    b_view: Callable[[MemoryRepository], Any] = lambda ledger: ledger,
    **settings: Any,
) -> Scene:
    clock = sv.ManualClock()
    lease_clock = sv.ManualClock(start=clock.time())
    fake, transport = simulated_provider_parts(provider, clock, generation_time=600)  # type: ignore[arg-type]
    ledger = MemoryRepository()
    ledger_a, ledger_b = a_view(ledger), b_view(ledger)
    client = sv.AsyncSoraVideo(transport=transport, repository=ledger, clock=clock)
    job = await client.videos.create_video(request())
    a = _runner(ledger_a, transport, clock, lease_clock, "engine-a", **settings)
    b = _runner(ledger_b, transport, clock, lease_clock, "engine-b")
    return Scene(fake, transport, clock, lease_clock, ledger, ledger_a, ledger_b, job, a, b)


@pytest.mark.parametrize("provider", SIMULATED_PROVIDERS)
async def test_a_stalled_workers_video_is_never_left_unowned(provider: str) -> None:
    scene = await _scene(provider)
    async with scene.a.driving():
        await scene.a_stalls()
        scene.b.worker_mode = True
        async with scene.b.driving():
            await scene.b_takes_over()
            scene.ledger_a.wake.set()
            await _settle()
            for _ in range(30):
                scene.clock.advance(60.0)
                await _settle()
                done = await scene.ledger.get_job(scene.job.id)
                if done.status.is_terminal and not scene.a.holds(scene.job.id):
                    break
            scene.b.worker_mode = False
    await scene.check()


class HoldsFailing:
    """B's view of the ledger: its write failing the job waits for ``go``."""

    def __init__(self, inner: MemoryRepository) -> None:
        self.inner = inner
        self.holding = anyio.Event()
        self.go = anyio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def _maybe_hold(self, updates: Sequence[JobUpdate]) -> None:
        if any(u.job.status is sv.JobStatus.FAILED for u in updates):
            self.holding.set()
            await self.go.wait()

    async def update_job(self, job: sv.Job, **kwargs: Any) -> sv.Job:
        await self._maybe_hold([JobUpdate(job=job, **kwargs)])
        return await self.inner.update_job(job, **kwargs)

    async def update_jobs(self, updates: Sequence[JobUpdate]) -> Any:
        await self._maybe_hold(updates)
        return await self.inner.update_jobs(updates)


@pytest.mark.parametrize("provider", ["runway", "fal", "openrouter", "gemini"])
async def test_a_stalled_worker_waking_while_the_job_is_being_failed_elsewhere(
    provider: str,
) -> None:
    scene = await _scene(provider, b_view=HoldsFailing)
    async with scene.a.driving():
        await scene.a_stalls()
        scene.b.worker_mode = True
        async with scene.b.driving():
            await scene.b_takes_over(until=scene.ledger_b.holding.is_set)
            assert scene.ledger_b.holding.is_set(), "B never came to fail the job"
            scene.ledger_a.wake.set()  # A's late write lands while B's failing write waits
            await _settle()
            scene.ledger_b.go.set()
            for _ in range(30):
                scene.clock.advance(60.0)
                await _settle()
            scene.b.worker_mode = False
    await scene.check()


async def test_an_engine_stopping_while_it_looks_again_says_so_and_frees_the_slot(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="soravideo")
    scene = await _scene(b_view=HoldsFailing, max_concurrency=1)
    a, clock, ledger = scene.a, scene.clock, scene.ledger
    async with anyio.create_task_group() as tg:
        a_stops = anyio.CancelScope()

        async def run_a() -> None:
            with a_stops:
                await a.run()

        tg.start_soon(run_a)
        await scene.a_stalls()
        scene.b.worker_mode = True
        tg.start_soon(scene.b.run)
        await scene.b_takes_over(until=scene.ledger_b.holding.is_set)
        assert scene.ledger_b.holding.is_set(), "B never came to fail the job"
        scene.ledger_a.wake.set()
        await _settle()
        assert a.holds(scene.job.id), "A does not look again"
        a_stops.cancel()  # A stops while B has not decided
        await _settle()
        assert not a.holds(scene.job.id)
        [said] = [r.getMessage() for r in caplog.records if "check the provider" in r.getMessage()]
        assert scene.job.id in said
        scene.ledger_b.go.set()
        await _settle()
        scene.b.worker_mode = False
        # A runs again: its only slot is free, and its next job is sent.
        client = sv.AsyncSoraVideo(transport=scene.transport, repository=ledger, clock=clock)
        second = await client.videos.create_video(request("another fox"))
        tg.start_soon(a.run)
        a.wake()
        for _ in range(20):
            clock.advance(POLL)
            scene.lease_clock.advance(POLL)
            await _settle()
        assert (await ledger.get_job(second.id)).remote_id is not None
        tg.cancel_scope.cancel()
    # What is left: the video the log line names, owned by no job (B failed the job
    # without it, A stopped before it could put it on record).
    first = scene.fake.created_ids()[0]
    assert first in said
    with pytest.raises(AssertionError, match=f"orphan: video {first}"):
        await check_ledger_exactly_once(scene.fake, ledger, settled=False)


class RefusesReads(Stalls):
    """A's view of the ledger: once its late write was answered, its next reads of the
    job after the first are refused (a locked ledger), ``refusals`` of them."""

    refusals = 3

    async def get_job(self, job_id: str) -> sv.Job:
        if self.late:
            if self.first_read_done and self.refusals > 0:
                self.refusals -= 1
                raise sv.RepositoryError("database is locked")
            self.first_read_done = True
        return await self.inner.get_job(job_id)

    first_read_done = False


async def test_a_ledger_refusing_reads_while_the_late_answer_is_settled_loses_no_video() -> None:
    scene = await _scene(a_view=RefusesReads)
    async with scene.a.driving():
        await scene.a_stalls()
        scene.b.worker_mode = True
        async with scene.b.driving():
            await scene.b_takes_over()
            assert (await scene.ledger.get_job(scene.job.id)).status is sv.JobStatus.FAILED
            scene.ledger_a.wake.set()
            for _ in range(30):  # real time passes as engine time does: leases renew
                scene.clock.advance(1.0)
                scene.lease_clock.advance(5.0)
                await _settle()
            scene.b.worker_mode = False
    assert isinstance(scene.ledger_a, RefusesReads) and scene.ledger_a.refusals == 0
    await scene.check()
