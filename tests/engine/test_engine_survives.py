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


def test_a_sync_client_whose_engine_stops_before_it_is_watched_does_not_deadlock(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engine's future is done before the client registers its callback (as on a busy
    # machine): the callback then runs at once in the entering thread, which must not hold
    # the client's lock then.
    client = sv.SoraVideo.simulated()

    async def broken() -> None:
        raise RuntimeError("the engine broke")

    client._async.run_background = broken  # type: ignore[method-assign]
    start_task_soon = BlockingPortal.start_task_soon

    def start_and_finish(portal: BlockingPortal, *args: Any, **kwargs: Any) -> Any:
        future = start_task_soon(portal, *args, **kwargs)
        futures.wait([future], timeout=30)
        return future

    monkeypatch.setattr(BlockingPortal, "start_task_soon", start_and_finish)
    with caplog.at_level(logging.ERROR, logger="soravideo"):
        entering = threading.Thread(target=client.__enter__, daemon=True)
        entering.start()
        entering.join(timeout=30)
        assert not entering.is_alive(), "entering the client deadlocked"
        with pytest.raises(sv.SoraVideoError, match="engine stopped"):
            client.videos.create_video(sv.CreateVideoRequest(prompt="a fox"))
        client.close()
    assert caplog.text.count("the client's engine stopped") == 1
    assert client.fake is not None
    assert client.fake.created_count() == 0
