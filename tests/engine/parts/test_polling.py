"""Poller alone: when a job is asked about, and what each answer does to the ledger."""

from __future__ import annotations

from typing import Any

import pytest

import soravideo as sv
from engine_kit import Kit

pytestmark = pytest.mark.anyio


async def test_a_claimed_job_is_checked_at_once_a_new_one_after_its_eta(kit: Kit) -> None:
    claimed = await kit.sent()
    kit.poller.track(claimed)
    assert kit.state.tracked[claimed.id].due == kit.clock.time()
    assert kit.state.wake_poll.event.is_set()
    fresh = await kit.sent("a cat")
    remote = await kit.transport.fetch(fresh.remote_id or "")
    kit.poller.track(fresh, remote)
    assert kit.state.tracked[fresh.id].due > kit.clock.time()
    assert kit.reconciler.seen(fresh.remote_id or "")


async def test_progress_is_recorded_then_the_end_with_its_result(kit: Kit) -> None:
    job = await kit.sent()
    kit.poller.track(job)
    tracked = kit.state.tracked[job.id]
    kit.clock.advance(30)  # half of the fake's 60 s generation
    await kit.poller.refresh([tracked])
    stored = await kit.repository.get_job(job.id)
    assert stored.status is sv.JobStatus.PROCESSING
    assert stored.progress == 50
    assert kit.seen == [("progress", job.id)]
    assert tracked.due > kit.clock.time()
    kit.clock.advance(30)
    await kit.poller.refresh([tracked])
    done = await kit.repository.get_job(job.id)
    assert done.status is sv.JobStatus.COMPLETED
    assert done.result is not None and done.result.remote_id == job.remote_id
    assert not kit.state.holds(job.id)
    assert kit.seen[-1] == ("completed", job.id)


async def test_a_provider_error_backs_off_and_keeps_the_job(kit: Kit) -> None:
    job = await kit.sent()
    kit.poller.track(job)
    tracked = kit.state.tracked[job.id]
    kit.fake.inject(status=503, match="GET /videos/*")
    await kit.poller.refresh([tracked])
    assert tracked.failures == 1
    assert tracked.due == kit.clock.time() + kit.pacer.backoff(1)
    assert kit.state.holds(job.id)


async def test_a_refused_ledger_write_keeps_the_job_to_check_again(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await kit.sent()
    kit.poller.track(job)
    tracked = kit.state.tracked[job.id]

    async def locked(*args: Any, **kwargs: Any) -> sv.Job:
        raise sv.RepositoryError("database is locked")

    monkeypatch.setattr(kit.repository, "update_job", locked)
    kit.clock.advance(60)
    await kit.poller.refresh([tracked])  # completed at the provider, not written
    assert kit.state.holds(job.id)
    assert tracked.failures == 1
    monkeypatch.undo()
    await kit.poller.refresh([tracked])
    assert (await kit.repository.get_job(job.id)).status is sv.JobStatus.COMPLETED


async def test_a_job_the_provider_no_longer_knows_is_failed_not_polled_forever(kit: Kit) -> None:
    job = await kit.sent()
    kit.poller.track(job)
    tracked = kit.state.tracked[job.id]
    kit.fake.inject(status=404, match="GET /videos/*", times=2)
    # A 404 of a single job counts as a failed request and as a missing answer (as before
    # the engine was split): the third count, on the second 404, fails the job.
    await kit.poller.refresh([tracked])
    assert kit.state.holds(job.id)
    assert tracked.failures == 2
    await kit.poller.refresh([tracked])
    failed = await kit.repository.get_job(job.id)
    assert failed.status is sv.JobStatus.FAILED
    assert failed.error is not None and failed.error.code == "remote_missing"
    assert not kit.state.holds(job.id)
