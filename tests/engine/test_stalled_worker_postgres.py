"""A worker alive but stalled past its lease, on a PostgreSQL ledger shared with another.

Engine A sends a job's create and stalls before the ledger has its remote id (a long GC
pause, a frozen VM): its write of the remote id and its lease renewals are held. Its lease
expires, engine B takes the job over, finds the video A made and drives the job (Sora), or,
where the provider cannot list (Runway, fal), fails the job without sending another; then A
wakes and its late writes land. The ledger's lease guard refuses them: one video, owned by
one job (the failed one gets A's video on record, stopped), and the job ends. Engine time is a ``ManualClock``; the ledger is a real server,
so the test waits for the ledger's state (not for time) between steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import pytest

import soravideo as sv
from helpers import request, until
from soravideo._core.events import EventBus
from soravideo._engine.runner import JobRunner
from soravideo.repositories import JobUpdate
from soravideo.repositories.postgres import PostgresRepository
from soravideo.testing import check_ledger_exactly_once
from soravideo.testing._simulated import simulated_parts, simulated_provider_parts

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

LEASE = 60.0
POLL = 1.0


class CountsClaims(PostgresRepository):
    """Engine B's ledger: counts the claims that found nothing."""

    claims = 0

    async def claim_jobs(self, owner: str, **kwargs: Any) -> list[sv.Job]:
        claimed = list(await super().claim_jobs(owner, **kwargs))
        self.claims += 1
        return claimed


class StallsAfterCreate(PostgresRepository):
    """Engine A's ledger: its first write of the job's remote id waits for ``wake``, and
    so do its lease renewals meanwhile (the whole process is stalled); what the late write
    came to is kept in ``late``."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn)
        self.stalled = anyio.Event()  # the remote id's write arrived, and waits
        self.wake = anyio.Event()
        self.landed = anyio.Event()  # the late write has its answer
        self.late: list[object] = []

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
        else:
            self.late.extend(outcome if isinstance(outcome, list) else [outcome])
            return outcome
        finally:
            self.landed.set()

    async def update_job(
        self, job: sv.Job, *, expected_status: sv.JobStatus, lease_owner: str | None = None
    ) -> sv.Job:
        update = JobUpdate(job=job, expected_status=expected_status, lease_owner=lease_owner)
        if self._holds([update]):
            return await self._late(
                lambda: super(StallsAfterCreate, self).update_job(
                    job, expected_status=expected_status, lease_owner=lease_owner
                )
            )
        return await super().update_job(
            job, expected_status=expected_status, lease_owner=lease_owner
        )

    async def update_jobs(self, updates: Sequence[JobUpdate]) -> Any:
        if self._holds(updates):
            return await self._late(lambda: super(StallsAfterCreate, self).update_jobs(updates))
        return await super().update_jobs(updates)

    async def renew_lease(self, job_ids: Any, owner: str, **kwargs: Any) -> list[str]:
        if self.stalled.is_set() and not self.wake.is_set():
            await self.wake.wait()
        return list(await super().renew_lease(job_ids, owner, **kwargs))


def _runner(
    repository: PostgresRepository,
    transport: Any,
    clock: sv.ManualClock,
    lease_clock: Any,
    owner: str,
) -> JobRunner:
    return JobRunner(
        repository=repository,
        transport=transport,
        settings=sv.Settings(lease_seconds=LEASE, poll_min_interval=POLL, poll_max_interval=10),
        clock=clock,
        events=EventBus(),
        owner=owner,
        lease_clock=lease_clock,
    )


@pytest.mark.parametrize("wakes", ["while B drives the job", "after B finished the job"])
async def test_a_stalled_worker_wakes_to_find_its_late_writes_refused(
    postgres_dsn: str, wakes: str
) -> None:
    clock = sv.ManualClock()
    lease_clock = sv.ManualClock(start=clock.time())  # both engines' real time
    fake, transport = simulated_parts(clock, generation_time=600)  # type: ignore[arg-type]
    async with StallsAfterCreate(postgres_dsn) as ledger_a, CountsClaims(postgres_dsn) as ledger_b:
        client = sv.AsyncSoraVideo(transport=transport, repository=ledger_b, clock=clock)
        job = await client.videos.create_video(request())
        a = _runner(ledger_a, transport, clock, lease_clock, "engine-a")
        b = _runner(ledger_b, transport, clock, lease_clock, "engine-b")
        async with a.driving():
            # A claims the job and sends its create; the answer's write stalls.
            a.wake()
            await until("A's write of the remote id", _event(ledger_a.stalled))
            assert fake.created_count() == 1
            [video] = await transport.list_recent(limit=10)
            assert a.holds(job.id)
            b.worker_mode = True
            async with b.driving():
                # A's lease still stands: B, looking for work, finds none.
                await until("B looks for work", lambda: _now(ledger_b.claims > 0))
                assert not b.holds(job.id)
                # A's lease runs out (its renewals stall too); B's next look takes the job.
                lease_clock.advance(LEASE + POLL)
                await until("B takes the job over", lambda: _now(b.holds(job.id)))
                await until(
                    "B records the video A made",
                    lambda: _remote_id_is(ledger_b, job.id, video.remote_id),
                )
                if wakes == "after B finished the job":
                    await _finish(clock, ledger_b, job.id)
                # A wakes: its late write of the remote id (and its renewal) reach the ledger.
                ledger_a.wake.set()
                await until("A's late write answered", _event(ledger_a.landed))
                await until("A lets go of the job", lambda: _now(not a.holds(job.id)))
                if wakes == "while B drives the job":
                    assert b.holds(job.id)  # A's release of its lease took nothing of B's
                    await _finish(clock, ledger_b, job.id)
                b.worker_mode = False
        [late] = ledger_a.late
        assert isinstance(late, sv.ConflictError), late
        if wakes == "while B drives the job":
            assert "lease" in str(late)  # the same status and remote id: only the lease differs
        done = await ledger_b.get_job(job.id)
        assert done.status is sv.JobStatus.COMPLETED, done.error
        assert done.remote_id == video.remote_id
        assert fake.created_count() == 1
        await check_ledger_exactly_once(fake, ledger_b)


def _event(event: anyio.Event) -> Callable[[], Awaitable[bool]]:
    return lambda: _now(event.is_set())


async def _now(value: bool) -> bool:
    return value


async def _remote_id_is(ledger: PostgresRepository, job_id: str, remote_id: str) -> bool:
    return (await ledger.get_job(job_id)).remote_id == remote_id


async def _finish(clock: sv.ManualClock, ledger: PostgresRepository, job_id: str) -> None:
    """Let the video finish (simulated time) and wait until the ledger says so."""

    async def finished() -> bool:
        if (await ledger.get_job(job_id)).status.is_terminal:
            return True
        clock.advance(60.0)
        return False

    await until("the job ends", finished)


class KeepsHeld(StallsAfterCreate):
    """``StallsAfterCreate`` that keeps the job its held write carried (A's create's answer:
    the remote id and what the provider said it costs)."""

    held: sv.Job | None = None

    def _holds(self, updates: Sequence[JobUpdate]) -> bool:
        holds = super()._holds(updates)
        if holds:
            [self.held] = [u.job for u in updates if u.job.remote_id is not None]
        return holds


async def _status_is(ledger: PostgresRepository, job_id: str, status: sv.JobStatus) -> bool:
    return (await ledger.get_job(job_id)).status is status


@pytest.mark.parametrize("provider", ["runway", "fal"])
async def test_a_stalled_workers_late_answer_lands_on_the_job_failed_elsewhere(
    postgres_dsn: str, provider: str
) -> None:
    # A provider that cannot list: B, taking the job over, cannot know whether A's create
    # was made and fails it ``ambiguous_submission``. A wakes; its late write is refused,
    # and it puts its video (remote id, cost) on the failed job's record and stops it.
    clock = sv.ManualClock()
    lease_clock = sv.ManualClock(start=clock.time())
    fake, transport = simulated_provider_parts(provider, clock, generation_time=600)  # type: ignore[arg-type]
    assert not transport.capabilities.can_list
    async with KeepsHeld(postgres_dsn) as ledger_a, CountsClaims(postgres_dsn) as ledger_b:
        client = sv.AsyncSoraVideo(transport=transport, repository=ledger_b, clock=clock)
        job = await client.videos.create_video(request())
        a = _runner(ledger_a, transport, clock, lease_clock, "engine-a")
        b = _runner(ledger_b, transport, clock, lease_clock, "engine-b")
        async with a.driving():
            a.wake()
            await until("A's write of the remote id", _event(ledger_a.stalled))
            assert fake.created_count() == 1
            [video] = fake.created_ids()
            held = ledger_a.held
            assert held is not None and held.remote_id == video
            b.worker_mode = True
            async with b.driving():
                await until("B looks for work", lambda: _now(ledger_b.claims > 0))
                assert not b.holds(job.id)
                lease_clock.advance(LEASE + POLL)

                async def failed() -> bool:
                    if await _status_is(ledger_b, job.id, sv.JobStatus.FAILED):
                        return True
                    clock.advance(POLL)
                    return False

                await until("B fails the job", failed)
                failed_by_b = await ledger_b.get_job(job.id)
                assert failed_by_b.remote_id is None
                assert failed_by_b.error is not None
                assert failed_by_b.error.code == "ambiguous_submission"
                assert fake.created_count() == 1  # B sent no other create
                ledger_a.wake.set()
                await until("A's late write answered", _event(ledger_a.landed))

                async def recorded() -> bool:
                    if (await ledger_b.get_job(job.id)).remote_id == video and not a.holds(job.id):
                        return True
                    clock.advance(POLL)
                    return False

                await until("A records its video on the failed job", recorded)
                b.worker_mode = False
        [late] = ledger_a.late
        assert isinstance(late, sv.ConflictError), late
        done = await ledger_b.get_job(job.id)
        assert done.status is sv.JobStatus.FAILED
        assert done.error is not None and done.error.code == "ambiguous_submission"
        assert video in done.error.message
        assert done.remote_id == video
        assert (done.cost_usd, done.cost_credits) == (held.cost_usd, held.cost_credits)
        caps = transport.capabilities
        stopped = {*fake.cancelled_ids(), *fake.deleted_ids()}
        assert (video in stopped) is caps.can_cancel
        assert fake.created_count() == 1
        await check_ledger_exactly_once(fake, ledger_b)
