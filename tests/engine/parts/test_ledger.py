"""Ledger alone: guarded writes, a job's end, and a job changed by someone else."""

from __future__ import annotations

import attrs
import pytest

import soravideo as sv
from engine_kit import OWNER, Kit
from soravideo._core.clock import now_utc
from soravideo._engine.ledger import Write

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
