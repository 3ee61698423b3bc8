"""The engine outlives a transport's own bugs, and a sync client whose engine stopped says so.

A status read that raises something other than a ProviderError (a transport's bug, such as an
OverflowError on a number past float range) is logged and retried after a backoff: the
engine goes on and the job completes. If the sync client's background engine ever stops on
an error, the error is logged at once and the next call raises instead of waiting forever.
"""

from __future__ import annotations

import logging
import threading
from concurrent import futures
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal

import soravideo as sv
from soravideo.testing import check_exactly_once


@pytest.mark.anyio
async def test_a_status_read_that_raises_a_bug_is_retried_and_the_job_completes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = sv.AsyncSoraVideo.simulated(generation_time=10)
    transport = client.transport
    real_fetch, real_many = transport.fetch, transport.fetch_many
    raised = []

    async def fetch(remote_id: str) -> Any:
        if len(raised) < 2:
            raised.append(remote_id)
            raise OverflowError("int too large to convert to float")
        return await real_fetch(remote_id)

    async def fetch_many(remote_ids: Any) -> Any:
        if len(raised) < 2:
            raised.append(remote_ids)
            raise OverflowError("int too large to convert to float")
        return await real_many(remote_ids)

    transport.fetch = fetch  # type: ignore[method-assign]
    transport.fetch_many = fetch_many  # type: ignore[method-assign]
    async with client:
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="a fox"))
        with caplog.at_level(logging.ERROR, logger="soravideo"):
            done = await client.videos.wait_for_job(job.id, timeout=3600)
        assert done.status is sv.JobStatus.COMPLETED
        assert len(raised) == 2
        assert "failed unexpectedly" in caplog.text
        assert client.fake is not None
        check_exactly_once(client.fake, [done])


def test_a_sync_client_whose_engine_stopped_logs_it_and_raises_on_the_next_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = sv.SoraVideo.simulated()

    async def broken() -> None:
        raise RuntimeError("the engine broke")

    client._async.run_background = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="soravideo"), client:
        # Entering starts the engine on the client's portal; it stops at once.
        background = client._background
        assert background is not None
        futures.wait([background], timeout=30)
        with pytest.raises(sv.SoraVideoError, match="engine stopped") as info:
            client.videos.create_video(sv.CreateVideoRequest(prompt="a fox"))
        assert isinstance(info.value.__cause__, RuntimeError)
        assert caplog.text.count("the client's engine stopped") == 1
    assert client.fake is not None
    assert client.fake.created_count() == 0


def test_an_engine_that_stops_before_its_callback_is_registered_does_not_hang_the_client(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The race behind a hung suite: the engine stopped before the client registered the
    # callback that notes it, so the callback ran at once, in the thread that held the
    # client's lock, and waited for that lock forever. Made certain here: the engine's task
    # is awaited before start_task_soon returns.
    real = BlockingPortal.start_task_soon

    def settled(self: BlockingPortal, *args: Any, **kwargs: Any) -> Any:
        future = real(self, *args, **kwargs)
        futures.wait([future], timeout=30)
        return future

    monkeypatch.setattr(BlockingPortal, "start_task_soon", settled)
    client = sv.SoraVideo.simulated()

    async def broken() -> None:
        raise RuntimeError("the engine broke at once")

    client._async.run_background = broken  # type: ignore[method-assign]
    outcome: list[BaseException | None] = []

    def use() -> None:
        try:
            with client:
                client.videos.create_video(sv.CreateVideoRequest(prompt="a fox"))
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    with caplog.at_level(logging.ERROR, logger="soravideo"):
        thread = threading.Thread(target=use, daemon=True)
        thread.start()
        thread.join(timeout=60)
    assert not thread.is_alive(), "the client hung on entry"
    [error] = outcome
    assert isinstance(error, sv.SoraVideoError) and "engine stopped" in str(error)
    assert caplog.text.count("the client's engine stopped") == 1
    assert client.fake is not None
    assert client.fake.created_count() == 0


def test_ready_and_metrics_report_instead_of_raising_after_the_engine_stopped() -> None:
    client = sv.SoraVideo.simulated()

    async def broken() -> None:
        raise RuntimeError("the engine broke")

    client._async.run_background = broken  # type: ignore[method-assign]
    with client:
        background = client._background
        assert background is not None
        futures.wait([background], timeout=30)
        report = client.ready()
        metrics = client.metrics()
        with pytest.raises(sv.SoraVideoError, match="engine stopped"):
            client.videos.list_jobs()
    assert report.ready  # the ledger and the provider answer; the report is the answer
    assert metrics.jobs is not None
    assert client.fake is not None
    assert client.fake.created_count() == 0


def test_a_worker_starting_while_the_client_closes_stops_and_close_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The race behind a hung docs example: close() took its list of workers after this
    # worker's task started but before the worker was listed, then waited for that task
    # forever. Made certain: close() begins between the two and has time to run on.
    client = sv.SoraVideo.simulated()
    client.health()
    real = BlockingPortal.start_task
    closer: list[threading.Thread] = []

    def start_then_close(self: BlockingPortal, *args: Any, **kwargs: Any) -> Any:
        started = real(self, *args, **kwargs)
        thread = threading.Thread(target=client.close, daemon=True)
        closer.append(thread)
        thread.start()
        for _ in range(3000):  # until close() has begun
            if client._closed:
                break
            threading.Event().wait(0.01)
        # Time for close() to run on as far as it can: before the fix, to the portal's
        # exit, where it waited forever for this worker's task (and the worker's own
        # cancel then found the portal stopped); now, to the wait for this start.
        thread.join(timeout=0.5)
        return started

    monkeypatch.setattr(BlockingPortal, "start_task", start_then_close)
    worker = threading.Thread(target=client.run_worker, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "run_worker never returned"
    [thread] = closer
    thread.join(timeout=60)
    assert not thread.is_alive(), "close() waited forever for the worker"
    assert client.fake is not None
    assert client.fake.created_count() == 0
