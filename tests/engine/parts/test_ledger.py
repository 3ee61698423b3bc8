"""Ledger alone: guarded writes, a job's end, and a job changed by someone else."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import pytest

import soravideo as sv
from engine_kit import OWNER, Kit
from soravideo._core.clock import now_utc
from soravideo._engine.ledger import Write
from soravideo.repositories import JobUpdate, MemoryRepository

pytestmark = pytest.mark.anyio


async def test_a_write_is_guarded_by_status_and_lease(kit: Kit) -> None:
    job = await kit.pending()
    with pytest.raises(sv.ConflictError):  # not the status the ledger holds
        await kit.ledger.write(job, sv.JobStatus.PROCESSING, progress=5)
    await kit.repository.release_lease([job.id], OWNER)
    with pytest.raises(sv.ConflictError):  # no longer our lease
        await kit.ledger.write(job, sv.JobStatus.PENDING, progress=5)
    written = await kit.ledger.write(job, sv.JobStatus.PENDING, guarded=False, progress=5)
    assert written.progress == 5
    assert written.updated_at == now_utc(kit.clock)


async def test_a_written_remote_id_is_no_longer_kept_in_memory(kit: Kit) -> None:
    job = await kit.pending()
    remote = await kit.transport.submit(job.request, idempotency_key=f"key-{job.id}")
    kit.state.unrecorded[job.id] = remote
    job = await kit.ledger.write(job, sv.JobStatus.PENDING, status=sv.JobStatus.PROCESSING)
    assert job.id in kit.state.unrecorded  # that write did not carry it
    await kit.ledger.write(job, sv.JobStatus.PROCESSING, remote_id=remote.remote_id)
    assert job.id not in kit.state.unrecorded


async def test_finish_writes_the_end_drops_the_job_and_announces_it(kit: Kit) -> None:
    job = await kit.pending()
    kit.state.enqueue(job)
    kit.state.wake_dispatch.rearm()
    error = sv.JobError(code="bad", message="no")
    done = await kit.ledger.finish(job, sv.JobStatus.FAILED, error=error)
    assert done is not None
    assert done.status is sv.JobStatus.FAILED
    assert done.completed_at == now_utc(kit.clock)
    assert not kit.state.holds(job.id)
    assert kit.seen == [("failed", job.id)]
    assert kit.state.wake_dispatch.event.is_set()


async def test_a_job_cancelled_elsewhere_has_its_video_stopped_and_kept_on_record(
    kit: Kit,
) -> None:
    job = await kit.sent()
    kit.state.submitting[job.id] = job
    # Another process cancels it, overwriting the remote id with its own older copy.
    await kit.repository.update_job(
        attrs.evolve(job, status=sv.JobStatus.CANCELLED, remote_id=None),
        expected_status=sv.JobStatus.PROCESSING,
    )
    assert await kit.ledger.finish(job, sv.JobStatus.COMPLETED) is None
    assert kit.stopped == [job.remote_id]
    stored = await kit.repository.get_job(job.id)
    assert stored.status is sv.JobStatus.CANCELLED
    assert stored.remote_id == job.remote_id
    assert not kit.state.holds(job.id)
    assert kit.state.claim_needed


async def test_a_lease_is_given_back_only_for_a_job_no_longer_driven_here(kit: Kit) -> None:
    job = await kit.pending()
    kit.state.enqueue(job)
    await kit.ledger.release_unheld(job.id)
    now = now_utc(kit.clock)
    assert await kit.repository.claim_jobs("other", limit=1, lease_seconds=60, now=now) == []
    kit.state.drop(job.id)
    await kit.ledger.release_unheld(job.id)
    taken = await kit.repository.claim_jobs("other", limit=1, lease_seconds=60, now=now)
    assert [j.id for j in taken] == [job.id]
    assert await kit.ledger.read("no-such-job") is None


async def test_many_writes_report_each_outcome_and_raise_none(kit: Kit) -> None:
    mine, moved = await kit.pending("a fox"), await kit.pending("a cat")
    ghost = attrs.evolve(mine, id="job_gone")
    remote = await kit.transport.submit(mine.request, idempotency_key=f"key-{mine.id}")
    kit.state.unrecorded[mine.id] = remote
    outcomes = await kit.ledger.write_many(
        [
            Write(
                mine,
                sv.JobStatus.PENDING,
                {"status": sv.JobStatus.PROCESSING, "remote_id": remote.remote_id},
            ),
            Write(moved, sv.JobStatus.PROCESSING, {"progress": 5}),  # it is pending
            Write(ghost, sv.JobStatus.PENDING, {"progress": 5}),
        ]
    )
    written, refused, gone = outcomes
    assert isinstance(written, sv.Job)
    assert written.remote_id == remote.remote_id
    assert written.updated_at == now_utc(kit.clock)
    assert mine.id not in kit.state.unrecorded
    assert isinstance(refused, sv.ConflictError)
    assert isinstance(gone, sv.JobNotFoundError)
    assert await kit.repository.get_job(moved.id) == moved


class Held:
    """The kit's ledger, with each write call recorded (the jobs it carried) and held until
    the test lets it go, so that the writes of other tasks pile up behind it; a call
    carrying a job of ``refuse`` fails whole, as a locked ledger would."""

    def __init__(self, inner: MemoryRepository) -> None:
        self._inner = inner
        self.calls: list[list[str]] = []
        self.gate = anyio.Event()
        self.refuse: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _held(self, ids: list[str]) -> None:
        self.calls.append(ids)
        await self.gate.wait()
        if self.refuse.intersection(ids):
            raise sv.RepositoryError("database is locked")

    async def update_job(self, job: sv.Job, **kwargs: Any) -> sv.Job:
        await self._held([job.id])
        return await self._inner.update_job(job, **kwargs)

    async def update_jobs(self, updates: Sequence[JobUpdate]) -> list[Any]:
        await self._held([update.job.id for update in updates])
        return await self._inner.update_jobs(updates)


async def let_run(until: Callable[[], bool]) -> None:
    """Give the other tasks the loop's turns (no clock) until ``until()`` holds."""
    for _ in range(1000):
        if until():
            return
        await anyio.lowlevel.checkpoint()
    raise AssertionError("never happened")


async def written_together(
    kit: Kit, first: sv.Job, writes: Sequence[Write], *, refuse: Sequence[sv.Job] = ()
) -> tuple[Held, list[object]]:
    """Write ``first`` (held at the ledger), then ``writes`` from a task each while it is
    held; return the ledger's calls and each of ``writes``' outcome (the job written, or the
    error its ``Ledger.write`` raised)."""
    held = Held(kit.repository)
    held.refuse = {job.id for job in refuse}
    kit.ledger.repository = held  # type: ignore[assignment]
    outcomes: list[object] = [None] * len(writes)
    entered: list[int] = []

    async def write(index: int, w: Write) -> None:
        # Nothing is awaited between here and the wait for the write under way.
        entered.append(index)
        try:
            outcomes[index] = await kit.ledger.write(w.job, w.expected, **w.changes)
        except sv.SoraVideoError as exc:
            outcomes[index] = exc

    async with anyio.create_task_group() as tg:
        tg.start_soon(kit.ledger.write, first, sv.JobStatus.PENDING)
        await let_run(lambda: len(held.calls) == 1)
        for index, w in enumerate(writes):
            tg.start_soon(write, index, w)
        await let_run(lambda: len(entered) == len(writes))
        assert held.calls == [[first.id]]  # they all wait
        held.gate.set()
    return held, outcomes


async def test_writes_arriving_while_one_is_written_go_together_each_with_its_outcome(
    kit: Kit,
) -> None:
    first, fox, cat, owl = [await kit.pending(p) for p in ("a", "a fox", "a cat", "an owl")]
    held, (wrote_fox, refused_cat, wrote_owl) = await written_together(
        kit,
        first,
        [
            Write(fox, sv.JobStatus.PENDING, {"progress": 10}),
            Write(cat, sv.JobStatus.PROCESSING, {"progress": 20}),  # it is pending
            Write(owl, sv.JobStatus.PENDING, {"progress": 30}),
        ],
    )
    # The first write went alone; the three that arrived meanwhile went in one call.
    assert held.calls == [[first.id], [fox.id, cat.id, owl.id]]
    assert isinstance(wrote_fox, sv.Job) and wrote_fox.progress == 10
    assert isinstance(refused_cat, sv.ConflictError)
    assert isinstance(wrote_owl, sv.Job) and wrote_owl.progress == 30
    stored = {job.id: job for job in await kit.repository.get_jobs([fox.id, cat.id, owl.id])}
    assert (stored[fox.id].progress, stored[cat.id], stored[owl.id].progress) == (10, cat, 30)


async def test_a_ledger_refusing_a_group_refuses_each_of_its_writers_and_writes_none(
    kit: Kit,
) -> None:
    first, fox, cat = [await kit.pending(p) for p in ("a", "a fox", "a cat")]
    held, outcomes = await written_together(
        kit,
        first,
        [
            Write(fox, sv.JobStatus.PENDING, {"progress": 10}),
            Write(cat, sv.JobStatus.PENDING, {"progress": 20}),
        ],
        refuse=[cat],  # the ledger fails the whole call that carries the cat
    )
    assert held.calls == [[first.id], [fox.id, cat.id]]
    assert [type(outcome) for outcome in outcomes] == [sv.RepositoryError] * 2
    assert await kit.repository.get_jobs([fox.id, cat.id]) == [fox, cat]
    # Nothing is left under way: the next write goes at once.
    assert (await kit.ledger.write(fox, sv.JobStatus.PENDING, progress=11)).progress == 11


async def test_two_writes_of_one_job_in_one_group_apply_as_if_one_after_the_other(
    kit: Kit,
) -> None:
    first, fox, cat = [await kit.pending(p) for p in ("a", "a fox", "a cat")]
    processing = sv.JobStatus.PROCESSING
    held, outcomes = await written_together(
        kit,
        first,
        [
            # The fox: moved on, then written again at the status the first write gave it.
            Write(fox, sv.JobStatus.PENDING, {"status": processing}),
            Write(attrs.evolve(fox, status=processing), processing, {"progress": 40}),
            # The cat: the second write comes first, so it finds the job still pending.
            Write(attrs.evolve(cat, status=processing), processing, {"progress": 40}),
            Write(cat, sv.JobStatus.PENDING, {"status": processing}),
        ],
    )
    assert held.calls[1] == [fox.id, fox.id, cat.id, cat.id]
    moved_fox, progressed_fox, refused_cat, moved_cat = outcomes
    assert isinstance(moved_fox, sv.Job) and isinstance(progressed_fox, sv.Job)
    assert isinstance(refused_cat, sv.ConflictError) and isinstance(moved_cat, sv.Job)
    stored_fox, stored_cat = await kit.repository.get_jobs([fox.id, cat.id])
    assert (stored_fox.status, stored_fox.progress) == (processing, 40)
    assert (stored_cat.status, stored_cat.progress) == (processing, 0)


async def test_a_writer_cancelled_while_waiting_is_written_then_sees_its_cancellation(
    kit: Kit,
) -> None:
    first, fox, cat = [await kit.pending(p) for p in ("a", "a fox", "a cat")]
    held = Held(kit.repository)
    kit.ledger.repository = held  # type: ignore[assignment]
    scope = anyio.CancelScope()
    written: list[sv.Job] = []

    entered: list[str] = []

    async def cancelled_writer() -> None:
        with scope:
            entered.append(fox.id)
            # A write that started is finished (and its outcome returned, as before group
            # commit); the cancellation comes at the writer's next checkpoint.
            written.append(await kit.ledger.write(fox, sv.JobStatus.PENDING, progress=10))
            await anyio.lowlevel.checkpoint()
            raise AssertionError("not reached")

    async def writer() -> None:
        entered.append(cat.id)
        written.append(await kit.ledger.write(cat, sv.JobStatus.PENDING, progress=20))

    async with anyio.create_task_group() as tg:
        tg.start_soon(kit.ledger.write, first, sv.JobStatus.PENDING)
        await let_run(lambda: len(held.calls) == 1)
        # The cancelled writer waits first: its write leads the next call.
        tg.start_soon(cancelled_writer)
        tg.start_soon(writer)
        await let_run(lambda: len(entered) == 2)
        scope.cancel()
        await anyio.lowlevel.checkpoint()
        held.gate.set()
    assert scope.cancelled_caught
    assert held.calls == [[first.id], [fox.id, cat.id]]
    assert [job.progress for job in await kit.repository.get_jobs([fox.id, cat.id])] == [10, 20]
    assert sorted(job.progress for job in written) == [10, 20]
