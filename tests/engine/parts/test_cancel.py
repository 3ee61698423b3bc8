"""Canceller alone: a queued job is never sent; a running one is stopped at the provider."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any, Literal

import attrs
import pytest

import soravideo as sv
from engine_kit import Kit
from soravideo._engine.cancel import Canceller, VideoStopper

pytestmark = pytest.mark.anyio


def canceller(kit: Kit) -> Canceller:
    async def stop_video(remote_id: str) -> None:
        await kit.ledger.stop_video(remote_id)

    return Canceller(
        state=kit.state,
        ledger=kit.ledger,
        reconciler=kit.reconciler,
        stop_video=stop_video,
        events=kit.events,
    )


async def test_a_queued_job_is_cancelled_and_never_sent(kit: Kit) -> None:
    job = await kit.pending()
    kit.state.enqueue(job)
    done = await canceller(kit).cancel(job.id)
    assert done.status is sv.JobStatus.CANCELLED
    assert not kit.state.holds(job.id)
    assert kit.state.cancelling == set()
    assert kit.seen == [("cancelled", job.id)]
    assert kit.fake.created_count() == 0


async def test_a_running_job_has_its_video_stopped_and_kept_on_record(kit: Kit) -> None:
    job = await kit.sent()
    kit.poller.track(job)
    done = await canceller(kit).cancel(job.id)
    assert done.status is sv.JobStatus.CANCELLED
    assert done.remote_id == job.remote_id
    assert kit.stopped == [job.remote_id]
    assert kit.fake.cancelled_ids() == [job.remote_id]
    assert not kit.state.holds(job.id)


async def test_a_batch_being_cancelled_sends_nothing_more(kit: Kit) -> None:
    client = sv.AsyncSoraVideo(transport=kit.transport, repository=kit.repository, clock=kit.clock)
    batch = await client.batches.create_batch(
        sv.BatchVideoRequest(videos=[sv.CreateVideoRequest(prompt=f"v{i}") for i in range(2)])
    )
    jobs = [await kit.claim(job_id) for job_id in batch.job_ids]
    other = await kit.pending("not in the batch")
    for job in [*jobs, other]:
        kit.state.enqueue(job)
    with canceller(kit).cancelling_batch(batch.batch_id):
        assert list(kit.state.queue) == [other.id]
        assert all(kit.state.blocked(job) for job in jobs)
    assert not any(kit.state.blocked(job) for job in jobs)


async def test_a_finished_job_cannot_be_cancelled(kit: Kit) -> None:
    job = await kit.pending()
    await kit.ledger.finish(job, sv.JobStatus.FAILED, error=sv.JobError(code="x", message="x"))
    with pytest.raises(sv.JobStateError):
        await canceller(kit).cancel(job.id)
    assert kit.state.cancelling == set()


async def test_a_video_that_cannot_be_stopped_is_said_so_not_raised(
    kit: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    job = await kit.sent()
    stopper = VideoStopper(kit.transport, kit.pacer)
    kit.fake.inject(status=500, match="DELETE /videos/*")
    with caplog.at_level(logging.WARNING, logger="soravideo"):
        await stopper.stop(job.remote_id or "")
    assert "could not cancel remote job" in caplog.text
    assert kit.fake.cancelled_ids() == []


async def test_a_cancel_that_fails_after_its_write_still_wakes_the_waiters(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cancel is in the ledger, then the step after it fails: no announcement comes,
    # so the job's waiters must be woken all the same, not left to their recheck.
    job = await kit.sent()
    kit.poller.track(job)
    waiter = kit.events.changed(job.id, ends_only=True)

    async def stop_fails(remote_id: str) -> None:
        await kit.ledger.stop_video(remote_id)  # stopped, then what follows fails
        raise sv.RepositoryError("database is locked")

    broken = Canceller(
        state=kit.state,
        ledger=kit.ledger,
        reconciler=kit.reconciler,
        stop_video=stop_fails,
        events=kit.events,
    )
    with pytest.raises(sv.RepositoryError):
        await broken.cancel(job.id)
    assert (await kit.repository.get_job(job.id)).status is sv.JobStatus.CANCELLED
    assert waiter.is_set()
    assert not kit.state.holds(job.id)


@pytest.mark.parametrize(
    ("can_cancel", "reports_ended", "asks", "reads"),
    [
        (True, True, True, False),
        (True, False, False, False),
        (False, True, False, True),
        (False, False, False, True),
    ],
)
async def test_the_stopper_asks_first_where_a_cancel_reports_an_end_and_reads_where_none(
    kit: Kit, can_cancel: bool, reports_ended: bool, asks: bool, reads: bool
) -> None:
    # A transport of one's own declares it, as fal, Gemini and Replicate do: Sora's and
    # Runway's cancel deletes, so theirs is written first (the default). Where there is no
    # cancel (OpenRouter), the job is read before the cancel is written.
    assert not kit.transport.capabilities.cancel_reports_ended
    declared = attrs.evolve(
        kit.transport.capabilities, can_cancel=can_cancel, cancel_reports_ended=reports_ended
    )
    stopper = VideoStopper(SimpleNamespace(capabilities=declared), kit.pacer)  # type: ignore[arg-type]
    assert (stopper.asks_first, stopper.reads_first) == (asks, reads)


def asking_first(kit: Kit, says: str | None, *, before: Any = None) -> Canceller:
    """A Canceller on a provider whose cancel says when a job had already ended: its cancel
    answers ``says`` (and stops the video unless it says ``"ended"``), after running
    ``before`` (a write of someone else's, say)."""

    async def stop_video(remote_id: str) -> Literal["ended"] | None:
        if before is not None:
            await before()
        if says == "ended":
            return "ended"
        await kit.ledger.stop_video(remote_id)
        return None

    return Canceller(
        state=kit.state,
        ledger=kit.ledger,
        reconciler=kit.reconciler,
        stop_video=stop_video,
        events=kit.events,
        asks_first=True,
        check=kit.poller.check,
    )


async def test_asked_first_a_provider_that_says_ended_but_shows_it_running_leaves_it_polled(
    kit: Kit,
) -> None:
    # The provider's two answers disagree: nothing is written, the job is still polled here
    # and its next status check records what it shows.
    job = await kit.sent()
    kit.poller.track(job)
    with pytest.raises(sv.JobStateError, match="shows it unfinished") as raised:
        await asking_first(kit, "ended").cancel(job.id)
    assert raised.value.status == "processing"
    assert (await kit.repository.get_job(job.id)).status is sv.JobStatus.PROCESSING
    assert kit.state.holds(job.id) and kit.state.cancelling == set()
    assert ("cancelled", job.id) not in kit.seen and kit.stopped == []


async def test_asked_first_a_cancel_written_meanwhile_by_someone_else_is_announced_once(
    kit: Kit,
) -> None:
    # Between the provider's cancel and ours, a poll (or another process) read the
    # provider's cancel and wrote it: the job is cancelled, announced by that write only.
    job = await kit.sent()
    kit.poller.track(job)

    async def someone_else() -> None:
        await kit.ledger.finish(job, sv.JobStatus.CANCELLED)

    done = await asking_first(kit, None, before=someone_else).cancel(job.id)
    assert done.status is sv.JobStatus.CANCELLED and done.remote_id == job.remote_id
    assert kit.seen.count(("cancelled", job.id)) == 1
    assert kit.stopped == [job.remote_id]


async def test_written_first_a_video_found_ended_stays_on_record_and_is_said_so(
    kit: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    # Without asks_first the cancel is written first and final: a provider that then says
    # the video had ended gets a warning, and the video stays on record with the job.
    job = await kit.sent()
    kit.poller.track(job)

    async def stop_video(remote_id: str) -> Literal["ended"] | None:
        await kit.ledger.stop_video(remote_id)
        return "ended"

    late = Canceller(
        state=kit.state,
        ledger=kit.ledger,
        reconciler=kit.reconciler,
        stop_video=stop_video,
        events=kit.events,
    )
    with caplog.at_level(logging.WARNING, logger="soravideo"):
        done = await late.cancel(job.id)
    assert done.status is sv.JobStatus.CANCELLED and done.remote_id == job.remote_id
    assert "had already ended at the provider" in caplog.text
