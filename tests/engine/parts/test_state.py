"""EngineState alone: which jobs an engine holds, and dropping one."""

from __future__ import annotations

import anyio

import soravideo as sv
from soravideo._engine.state import EngineState, Tracked, Wake
from soravideo.testing.repository_contract import make_job


def test_held_jobs_are_queued_submitting_or_tracked() -> None:
    state = EngineState()
    queued = make_job("queued", batch_id="b")
    submitting = make_job("submitting", batch_id="b")
    tracked = make_job("tracked", status=sv.JobStatus.PROCESSING, remote_id="video_1")
    state.enqueue(queued)
    state.submitting[submitting.id] = submitting
    state.tracked[tracked.id] = Tracked(job=tracked, observations=[(0, 0)], due=0)
    assert state.held_ids() == ["queued", "submitting", "tracked"]
    assert all(state.holds(job_id) for job_id in state.held_ids())
    assert not state.holds("elsewhere")
    assert state.in_flight() == 2
    assert state.in_flight("b") == 1
    assert state.load("b") == 2  # one in flight, one queued
    assert state.wake_lease.event.is_set()  # a queued job has a lease to renew


def test_dropping_a_job_forgets_it_everywhere() -> None:
    state = EngineState()
    job = make_job("gone")
    state.enqueue(job, at=5.0)
    state.never_sent.add(job.id)
    state.ledger_refusals[job.id] = 2
    state.drop(job.id)
    assert not state.holds(job.id)
    assert job.id not in state.never_sent
    assert job.id not in state.ledger_refusals
    assert state.queue.next_retry(0.0) is None


def test_a_cancel_blocks_the_job_and_its_batch() -> None:
    state = EngineState()
    job = make_job("j", batch_id="b")
    assert not state.blocked(job)
    state.cancelling_batches.add("b")
    assert state.blocked(job)
    state.cancelling_batches.clear()
    state.cancelling.add("j")
    assert state.blocked(job)


def test_a_wake_given_before_the_loop_waits_is_not_lost() -> None:
    wake = Wake()
    event = wake.rearm()
    wake.set()
    assert event.is_set()
    assert not wake.rearm().is_set()


def test_answered_releases_whoever_waits_for_the_create() -> None:
    state = EngineState()
    done = state.submit_done["j"] = anyio.Event()
    state.answered("j")
    state.answered("j")  # twice is harmless
    assert done.is_set()
    assert "j" not in state.submit_done
