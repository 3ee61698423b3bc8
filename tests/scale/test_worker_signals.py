"""``SoraVideo.run_worker()`` stops gracefully on SIGTERM and Ctrl-C (in process, simulated time)."""

from __future__ import annotations

import _thread
import os
import signal
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType

import anyio
import pytest

import soravideo as sv
from soravideo._core.events import JobEvent
from soravideo.repositories import SQLiteRepository

# Only a bound for a broken run: the tests wait for events, never for time.
DEADLINE = 30.0

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGTERM") or os.name == "nt", reason="POSIX signals"
)


@pytest.fixture
def previous_handler() -> Iterator[list[int]]:
    """Install a SIGTERM handler of the test's own, which run_worker must put back."""
    calls: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        calls.append(signum)

    original = signal.signal(signal.SIGTERM, handler)
    try:
        yield calls
    finally:
        signal.signal(signal.SIGTERM, original)


def _free_to_claim(db: Path) -> list[str]:
    async def claim() -> list[str]:
        async with SQLiteRepository(db) as repository:
            now = datetime.now(timezone.utc)
            jobs = await repository.claim_jobs("another", limit=10, lease_seconds=60, now=now)
            return sorted(job.id for job in jobs)

    return anyio.run(claim)


def _store(db: Path, n: int) -> list[str]:
    """Store pending jobs through a client that runs no engine (nothing is sent yet)."""

    async def store() -> list[str]:
        client = sv.AsyncSoraVideo.simulated(repository=SQLiteRepository(db))
        try:
            return sorted(
                [
                    (await client.videos.create_video(sv.CreateVideoRequest(prompt=f"fox {i}"))).id
                    for i in range(n)
                ]
            )
        finally:
            await client.aclose()

    return anyio.run(store)


def _worker(db: Path, n: int, on_submitted: Callable[[], None]) -> sv.SoraVideo:
    """Return a worker client that calls ``on_submitted`` once it has sent ``n`` jobs."""
    # The videos never finish (on simulated time, a shorter one might while we look).
    client = sv.SoraVideo.simulated(repository=SQLiteRepository(db), generation_time=1e9)
    submitted: list[str] = []

    def seen(event: JobEvent) -> None:
        submitted.append(event.job.id)
        if len(submitted) == n:
            on_submitted()

    client.on("submitted", seen)
    return client


def test_sigterm_stops_run_worker_gives_leases_back_and_restores_the_handler(
    previous_handler: list[int], tmp_path: Path
) -> None:
    db = tmp_path / "ledger.db"
    ids = _store(db, 3)
    mine = signal.getsignal(signal.SIGTERM)
    client = _worker(db, 3, lambda: os.kill(os.getpid(), signal.SIGTERM))
    try:
        client.run_worker()  # returns: SIGTERM is a request to stop, not an error
        assert signal.getsignal(signal.SIGTERM) is mine
        assert previous_handler == []  # the worker handled that SIGTERM, not the program
        jobs = [client.videos.get_job(job_id) for job_id in ids]
        assert [job.status for job in jobs] == [sv.JobStatus.PROCESSING] * 3
        assert all(job.remote_id for job in jobs)
        # Its leases are back before the client closes: another worker may go on at once.
        assert _free_to_claim(db) == ids
        assert client.fake is not None and client.fake.created_count() == 3
    finally:
        client.close()


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_stops_run_worker_gracefully_then_raises(
    previous_handler: list[int], tmp_path: Path
) -> None:
    db = tmp_path / "ledger.db"
    ids = _store(db, 2)
    mine = signal.getsignal(signal.SIGTERM)
    client = _worker(db, 2, _thread.interrupt_main)
    try:
        with pytest.raises(KeyboardInterrupt):
            client.run_worker()
        assert signal.getsignal(signal.SIGTERM) is mine
        assert _free_to_claim(db) == ids
    finally:
        client.close()


def test_from_another_thread_signals_are_left_alone_and_close_stops_the_worker(
    previous_handler: list[int], tmp_path: Path
) -> None:
    db = tmp_path / "ledger.db"
    ids = _store(db, 2)
    mine = signal.getsignal(signal.SIGTERM)
    sent = threading.Event()
    client = _worker(db, 2, sent.set)
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(client.run_worker()))
    thread.start()
    try:
        assert sent.wait(timeout=DEADLINE)
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        client.close()
        thread.join(timeout=DEADLINE)
    assert not thread.is_alive()
    assert outcome == [None]  # close() stopped it; it returned
    assert _free_to_claim(db) == ids
