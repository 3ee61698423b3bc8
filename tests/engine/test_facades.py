"""The sync and async facades: same API, same engine, usable with and without ``with``."""

from __future__ import annotations

import _thread
import asyncio
import threading
from pathlib import Path

import pytest

import soravideo as sv
from helpers import assert_created_once, request, requests
from soravideo.repositories import MemoryRepository, SQLiteRepository
from soravideo.testing._simulated import simulated_parts


@pytest.mark.parametrize("ledger_kind", ["memory", "sqlite"])
def test_sync_life_cycle(ledger_kind: str, tmp_path: Path) -> None:
    repo = MemoryRepository() if ledger_kind == "memory" else SQLiteRepository(tmp_path / "l.db")
    with sv.SoraVideo.simulated(repository=repo) as client:
        job = client.videos.create_video(request())
        done = client.videos.wait_for_job(job.id, timeout=600)
        assert done.status is sv.JobStatus.COMPLETED
        assert client.videos.get_video_result(job.id).remote_id == done.remote_id
        path = client.videos.download_video(job.id, tmp_path / "v.mp4")
        assert path.stat().st_size > 0
        page = client.videos.list_jobs(status="completed")
        assert [j.id for j in page.items] == [job.id]
        with pytest.raises(sv.JobStateError):
            client.videos.cancel_job(job.id)
        with pytest.raises(sv.JobNotFoundError):
            client.videos.get_job("job_nope")


def test_sync_callbacks_run_off_the_engine_thread_and_may_call_back() -> None:
    seen: list[tuple[str, bool]] = []
    called = threading.Event()
    with sv.SoraVideo.simulated() as client:

        def on_completed(event: sv.JobEvent) -> None:
            # Calling the client back from a callback must not deadlock.
            status = client.videos.get_job(event.job.id).status.value
            seen.append((status, threading.current_thread() is threading.main_thread()))
            called.set()

        client.on("completed", on_completed)
        job = client.videos.create_video(request())
        client.videos.wait_for_job(job.id)
        assert called.wait(timeout=10)
    assert seen == [("completed", False)]


def test_the_sync_client_works_inside_a_running_event_loop() -> None:
    # A Jupyter cell runs in a thread whose event loop is already running.
    async def cell() -> sv.Job:
        with sv.SoraVideo.simulated() as client:
            job = client.videos.create_video(request())
            return client.videos.wait_for_job(job.id)

    done = asyncio.run(cell())
    assert done.status is sv.JobStatus.COMPLETED


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_cancels_the_blocking_call() -> None:
    # Clocks that nobody advances: the wait could only end by interruption.
    _, transport = simulated_parts(sv.VirtualClock(), generation_time=30)
    clock = sv.ManualClock()
    with sv.SoraVideo(transport=transport, repository=MemoryRepository(), clock=clock) as client:
        job = client.videos.create_video(request())
        timer = threading.Timer(0.2, _thread.interrupt_main)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            client.videos.wait_for_job(job.id)
        timer.cancel()
        # The client still answers afterwards: the interrupted call was cancelled, not stuck.
        assert client.videos.get_job(job.id).id == job.id


def test_close_is_idempotent_and_final() -> None:
    client = sv.SoraVideo.simulated()
    client.videos.create_video(request())
    client.close()
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.videos.list_jobs()


def test_a_client_that_was_never_used_closes_cleanly() -> None:
    sv.SoraVideo.simulated().close()


def test_settings_as_keywords_or_one_object() -> None:
    a = sv.SoraVideo.simulated(max_concurrency=7, poll_min_interval=2.0)
    b = sv.SoraVideo.simulated(settings=sv.Settings(max_concurrency=7, poll_min_interval=2.0))
    assert a.settings == b.settings
    assert a.settings.max_concurrency == 7
    with pytest.raises(sv.ValidationError) as info:
        sv.SoraVideo.simulated(max_concurrency=0, poll_max_interval=-1)
    assert set(info.value.fields) == {"max_concurrency", "poll_max_interval"}
    with pytest.raises(TypeError):
        sv.SoraVideo.simulated(no_such_setting=1)
    a.close()
    b.close()


@pytest.mark.anyio
async def test_async_client_without_a_with_block() -> None:
    client = sv.AsyncSoraVideo.simulated()
    jobs = [await client.videos.create_video(r) for r in requests(3)]
    done = [await client.videos.wait_for_job(j.id) for j in jobs]
    assert [j.status for j in done] == [sv.JobStatus.COMPLETED] * 3
    assert client.fake is not None
    assert_created_once(client.fake, 3)
    await client.aclose()
    await client.aclose()


@pytest.mark.anyio
async def test_concurrent_waits_share_one_engine() -> None:
    import anyio

    client = sv.AsyncSoraVideo.simulated(max_concurrency=2)
    jobs = [await client.videos.create_video(r) for r in requests(5)]
    results: dict[str, sv.Job] = {}

    async def wait(job_id: str) -> None:
        results[job_id] = await client.videos.wait_for_job(job_id)

    async with anyio.create_task_group() as tg:
        for job in jobs:
            tg.start_soon(wait, job.id)
    assert all(j.status is sv.JobStatus.COMPLETED for j in results.values())
    assert client.fake is not None
    assert client.fake.peak_concurrency() <= 2
    assert_created_once(client.fake, 5)
    await client.aclose()


def test_a_sync_call_hands_over_a_timeout_error() -> None:
    # JobTimeoutError is a TimeoutError: the sync bridge must raise it, not mistake it for
    # its own short waits. (A simulated clock runs on between two sync calls, so the bridge
    # is tested directly rather than through a race with simulated time.)
    async def deadline_passed() -> None:
        raise sv.JobTimeoutError("job_x", 60.0, status="processing")

    with sv.SoraVideo.simulated() as client, pytest.raises(sv.JobTimeoutError):
        client._call(deadline_passed)


def test_a_client_left_open_is_closed_at_interpreter_exit(tmp_path: Path) -> None:
    # No close(): the atexit hook must stop the engine thread and close the ledger, so the
    # interpreter exits promptly and the SQLite file is left consistent.
    db = tmp_path / "l.db"
    code = (
        "import soravideo as sv\n"
        "from soravideo.repositories import SQLiteRepository\n"
        f"client = sv.SoraVideo.simulated(repository=SQLiteRepository({str(db)!r}))\n"
        "job = client.videos.create_video(sv.CreateVideoRequest(prompt='left open'))\n"
        "print(client.videos.wait_for_job(job.id).status.value)\n"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "completed"
    # The hook itself must work, not the interpreter's teardown after it failed.
    assert "Exception ignored" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not (tmp_path / "l.db-wal").exists() or (tmp_path / "l.db-wal").stat().st_size == 0
