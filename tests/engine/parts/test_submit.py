"""Submitter alone: one create, its answer recorded first, and each way it can go wrong."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import soravideo as sv
from engine_kit import Kit
from soravideo._engine.submit import Submitter, idempotency_key

pytestmark = pytest.mark.anyio


def submitter(kit: Kit) -> Submitter:
    return Submitter(
        state=kit.state,
        ledger=kit.ledger,
        pacer=kit.pacer,
        reconciler=kit.reconciler,
        poller=kit.poller,
        transport=kit.transport,
        repository=kit.repository,
        settings=kit.settings,
        clock=kit.clock,
        events=kit.events,
    )


async def submit(kit: Kit, job: sv.Job) -> None:
    """Hand a job to the submitter as the dispatcher does."""
    kit.state.submitting[job.id] = job
    done = kit.state.submit_done[job.id] = anyio.Event()
    await submitter(kit).submit(job)
    assert done.is_set()  # a cancel or a close waiting for it is told
    assert job.id not in kit.state.submitting


def requeued(kit: Kit, job_id: str) -> sv.Job:
    """Take a job the submitter queued again, once its retry is due (as the dispatcher)."""
    at = kit.state.queue.next_retry(kit.clock.time())
    if at is not None:
        kit.clock.set_time(at)
    job = kit.state.queue.pop_next(
        kit.clock.time(), blocked=kit.state.blocked, running=kit.state.in_flight, caps={}
    )
    assert job is not None and job.id == job_id
    return job


async def test_a_create_is_recorded_then_tracked(kit: Kit) -> None:
    job = await kit.pending()
    await submit(kit, job)
    stored = await kit.repository.get_job(job.id)
    assert stored.status is sv.JobStatus.PROCESSING
    assert stored.remote_id is not None and stored.attempts == 1
    assert kit.state.tracked[job.id].job.remote_id == stored.remote_id
    assert kit.seen == [("submitted", job.id)]
    assert kit.fake.created_count() == 1
    [create] = [r for r in kit.fake.requests if r.method == "POST"]
    assert create.headers.get("idempotency-key") == idempotency_key(job.id)


async def test_a_rate_limited_create_waits_for_the_pause_and_is_sent_as_it_is(kit: Kit) -> None:
    job = await kit.pending()
    kit.fake.inject(status=429, retry_after=20, match="POST /videos")
    await submit(kit, job)
    assert kit.state.never_sent == {job.id}
    assert kit.pacer.paused() == kit.clock.time() + 20
    assert kit.pacer.limit.current < kit.settings.max_concurrency
    assert kit.state.queue.next_retry(kit.clock.time()) == kit.pacer.paused_until
    await submit(kit, requeued(kit, job.id))  # no reconciliation: straight to the create
    assert kit.fake.created_count() == 1
    assert job.id in kit.state.tracked


async def test_a_ledger_refusing_the_first_write_delays_the_job_and_sends_nothing(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await kit.pending()

    async def locked(*args: Any, **kwargs: Any) -> sv.Job:
        raise sv.RepositoryError("database is locked")

    monkeypatch.setattr(kit.repository, "update_job", locked)
    await submit(kit, job)
    assert kit.state.ledger_refusals == {job.id: 1}
    assert kit.fake.created_count() == 0
    monkeypatch.undo()
    await submit(kit, requeued(kit, job.id))
    assert kit.state.ledger_refusals == {}
    assert kit.fake.created_count() == 1


async def test_a_create_whose_answer_was_lost_is_reconciled_not_sent_again(kit: Kit) -> None:
    job = await kit.pending()
    kit.fake.inject(reset=True, phase="after", match="POST /videos")
    await submit(kit, job)
    assert kit.fake.created_count() == 1  # made, but the answer never came
    assert (await kit.repository.get_job(job.id)).remote_id is None
    kit.clock.advance(1)
    await submit(kit, requeued(kit, job.id))
    assert kit.fake.created_count() == 1
    stored = await kit.repository.get_job(job.id)
    assert stored.remote_id is not None
    assert job.id in kit.state.tracked


async def test_a_refused_create_fails_the_job(kit: Kit) -> None:
    job = await kit.pending()
    kit.fake.inject(status=400, message="bad size", match="POST /videos")
    await submit(kit, job)
    failed = await kit.repository.get_job(job.id)
    assert failed.status is sv.JobStatus.FAILED
    assert failed.error is not None and not failed.error.retryable
    assert not kit.state.holds(job.id)
    assert kit.seen == [("failed", job.id)]


async def test_a_stop_writes_a_refused_create_back_to_pending_and_forgets_its_mark(
    kit: Kit,
) -> None:
    job = await kit.pending()
    kit.fake.inject(status=429, retry_after=20, match="POST /videos")
    await submit(kit, job)
    assert kit.state.never_sent == {job.id}
    await submitter(kit).unsend_queued()
    stored = await kit.repository.get_job(job.id)
    assert (stored.status, stored.remote_id) == (sv.JobStatus.PENDING, None)
    assert kit.state.never_sent == set()
    assert kit.fake.created_count() == 0


async def test_a_stop_whose_write_back_is_refused_still_forgets_the_mark(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The ledger keeps the job processing; its lease goes back. Whoever takes it up next
    # (this engine too) must reconcile it, not re-send it on a mark from before the stop:
    # another process may have made its create in between.
    job = await kit.pending()
    kit.fake.inject(status=429, retry_after=20, match="POST /videos")
    await submit(kit, job)

    async def locked(*args: Any, **kwargs: Any) -> Any:
        raise sv.RepositoryError("database is locked")

    monkeypatch.setattr(kit.repository, "update_job", locked)
    monkeypatch.setattr(kit.repository, "update_jobs", locked, raising=False)
    await submitter(kit).unsend_queued()
    monkeypatch.undo()
    assert (await kit.repository.get_job(job.id)).status is sv.JobStatus.PROCESSING
    assert kit.state.never_sent == set()
