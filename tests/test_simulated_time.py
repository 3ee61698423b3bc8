"""Simulated time stands still between a user's calls and runs while a call waits [W2-9 #5]."""

from __future__ import annotations

import time

import pytest

import soravideo as sv
from soravideo.testing import check_exactly_once, check_ledger_exactly_once

pytestmark = pytest.mark.anyio


async def test_a_job_just_created_can_be_cancelled_async() -> None:
    client = sv.AsyncSoraVideo.simulated(generation_time=300)
    async with client:
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="a fox"))
        cancelled = await client.videos.cancel_job(job.id)
        assert cancelled.status is sv.JobStatus.CANCELLED
        assert client.fake is not None
        await check_ledger_exactly_once(client.fake, client.repository)


def test_a_job_just_created_can_be_cancelled_sync() -> None:
    with sv.SoraVideo.simulated(generation_time=300) as client:
        job = client.videos.create_video(sv.CreateVideoRequest(prompt="a fox"))
        time.sleep(0.2)  # a user reads the answer: no simulated time passes meanwhile
        again = client.videos.get_job(job.id)
        assert again.status is not sv.JobStatus.COMPLETED
        cancelled = client.videos.cancel_job(job.id)
        assert cancelled.status is sv.JobStatus.CANCELLED
        assert client.fake is not None
        check_exactly_once(client.fake, [client.videos.get_job(job.id)])


def test_time_stands_still_between_calls_and_runs_while_waiting() -> None:
    with sv.SoraVideo.simulated(generation_time=300) as client:
        start = client.clock.time()
        job = client.videos.create_video(sv.CreateVideoRequest(prompt="a fox"))
        for _ in range(20):
            assert client.videos.get_job(job.id).status is not sv.JobStatus.COMPLETED
        assert client.clock.time() == start
        done = client.videos.wait_for_job(job.id, timeout=3600)
        assert done.status is sv.JobStatus.COMPLETED
        assert client.clock.time() >= start + 300
        assert client.fake is not None
        check_exactly_once(client.fake, [done])


async def test_a_plain_virtual_clock_still_runs_by_itself() -> None:
    clock = sv.VirtualClock(start=0)
    assert not clock.held
    held = sv.VirtualClock(start=0, only_while_waiting=True)
    assert held.held
    with held.waiting():
        assert not held.held
    assert held.held


def test_as_completed_lets_time_run_while_it_waits() -> None:
    with sv.SoraVideo.simulated(generation_time=300) as client:
        jobs = client.videos.create_videos(
            [sv.CreateVideoRequest(prompt=p) for p in ("a fox", "a hare")]
        )
        done = list(client.videos.as_completed([j.id for j in jobs], timeout=3600))
        assert {j.status for j in done} == {sv.JobStatus.COMPLETED}
        assert client.fake is not None
        check_exactly_once(client.fake, done)


async def test_a_users_sleep_on_the_clock_lets_time_run() -> None:
    async with sv.AsyncSoraVideo.simulated(generation_time=60) as client:
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="a fox"))
        await client.clock.sleep(600)
        assert (await client.videos.get_job(job.id)).status is sv.JobStatus.COMPLETED
        assert client.fake is not None
        await check_ledger_exactly_once(client.fake, client.repository)


@pytest.mark.anyio
async def test_sleepers_woken_early_round_after_round_do_not_pile_up() -> None:
    """A waiter whose event is set before its deadline (a job changed) leaves its entry in
    the clock's heap; the heap is swept as it grows, so 1,000 waiters re-arming a
    one-hour recheck 20 times hold about one entry each, not twenty ([W2-4])."""
    import anyio

    clock = sv.ManualClock(start=0.0)
    waiters = 1_000
    for _ in range(20):
        events = [anyio.Event() for _ in range(waiters)]
        for event in events:
            clock.set_after(3_600, event)
        for event in events:
            event.set()  # woken early: the deadline is an hour away
    live = anyio.Event()
    clock.set_after(10, live)
    assert len(clock._sleepers) <= 3 * waiters
    clock.advance(10)
    assert live.is_set()
    assert clock.next_deadline() is None
