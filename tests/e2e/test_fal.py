"""fal end to end: FakeFal served on loopback (real time), FalTransport, a SQLite ledger, the
public sync and async clients. Every scenario ends with the exactly-once check (conftest)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

import soravideo as sv
from helpers import request
from soravideo.repositories import SQLiteRepository
from soravideo.testing._fake_fal import FakeFal
from soravideo.transports.fal import FalTransport

KEY = "fal-e2e:0123456789abcdef"
KLING = "fal-ai/kling-video/v2.5-turbo/pro/text-to-video"
FAST = {"poll_min_interval": 0.05, "poll_max_interval": 0.25, "request_timeout": 5.0}


@pytest.fixture
def fake() -> FakeFal:
    """This module's provider: the exactly-once check that ends each scenario uses it."""
    return FakeFal(api_key=KEY, generation_time=0.15, max_concurrent=2)


@pytest.fixture
def fal_url(fake: FakeFal) -> Iterator[str]:
    with fake.serve() as url:
        yield url


def _settings(fal_url: str, ledger: Path, **settings: Any) -> dict[str, Any]:
    transport = FalTransport(base_url=fal_url, api_key=KEY, min_poll_interval=0.0)
    transport.retry_policy = attrs.evolve(transport.retry_policy, base=0.02, cap=0.2)
    return {
        "transport": transport,
        "repository": SQLiteRepository(ledger),
        **FAST,
        **settings,
    }


def test_a_sync_batch_on_fal_completes_fails_and_downloads_without_the_key(
    fake: FakeFal, fal_url: str, ledger_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "videos"
    with sv.SoraVideo(**_settings(fal_url, ledger_path, download_dir=str(out))) as client:
        batch = client.batches.create_batch(
            sv.BatchVideoRequest(
                videos=[
                    request("a fox", model=KLING),
                    request("a heron", model="fal-ai/veo3.1", duration=4),
                    request(f"x {fake.failing_prompt}", model=KLING),
                    request("an owl", model="fal-ai/pika/v2.2/text-to-video", duration=10),
                ]
            )
        )
        done = client.batches.process_batch(batch.batch_id)
        jobs = client.batches.get_batch_status(batch.batch_id).jobs

    assert done.status is sv.BatchStatus.PARTIAL
    statuses = sorted(j.status.value for j in jobs)
    assert statuses == ["completed", "completed", "completed", "failed"]
    assert len(list(out.glob("*.mp4"))) == 3
    assert fake.download_count(status=200) == 3
    assert all("authorization" not in r.headers for r in fake.requests if r.route == "cdn")


@pytest.mark.anyio
async def test_cancelling_jobs_queued_and_running_at_fal_stops_both(
    fake: FakeFal, fal_url: str, ledger_path: Path
) -> None:
    fake.generation_time = 30.0  # long enough to be cancelled while it runs
    submitted: set[str] = set()
    all_sent = anyio.Event()

    async def on_submitted(event: sv.JobEvent) -> None:
        submitted.add(event.job.id)
        if len(submitted) == 3:
            all_sent.set()

    async with sv.AsyncSoraVideo(**_settings(fal_url, ledger_path)) as client:
        client.on("submitted", on_submitted)
        jobs = [
            await client.videos.create_video(request(f"take {n}", model=KLING)) for n in range(3)
        ]
        # Two run, the third waits in fal's queue.
        with anyio.fail_after(10):
            await all_sent.wait()
        # The waiting one first (the last to reach fal): cancelling a running one would
        # free its slot for it.
        remote = {(await client.videos.get_job(j.id)).remote_id or "": j.id for j in jobs}
        waiting = [remote[r] for r in remote if fake.queue_position(r) is not None]
        assert len(waiting) == 1
        order = waiting + [j.id for j in jobs if j.id not in waiting]
        cancelled = [await client.videos.cancel_job(job_id) for job_id in order]

    assert all(j.status is sv.JobStatus.CANCELLED for j in cancelled)
    assert sorted(fake.cancelled_ids()) == sorted(j.remote_id for j in cancelled)
    assert len(fake.deleted_ids()) == 1  # the queued one was removed before it ran


@pytest.mark.exactly_once(settled=False)  # closed with the video still generating
@pytest.mark.anyio
async def test_aclose_records_the_answer_of_a_create_on_the_wire(
    fake: FakeFal, fal_url: str, ledger_path: Path
) -> None:
    # fal can neither list requests nor deduplicate creates: a request id not recorded is
    # a video billed and lost. Closing waits for the create's answer and records it.
    fake.generation_time = 5.0
    arrived = threading.Event()

    def slow(req: Any) -> bool:
        if req.method != "POST":
            return False
        arrived.set()
        return True

    fake.inject(delay=0.3, phase="after", match=slow, rate=1.0)
    async with sv.AsyncSoraVideo(**_settings(fal_url, ledger_path)) as client:
        job = await client.videos.create_video(request(model=KLING))
        assert await anyio.to_thread.run_sync(arrived.wait, 10)
    async with SQLiteRepository(ledger_path) as repository:
        stored = await repository.get_job(job.id)
    assert stored.status is sv.JobStatus.PROCESSING
    assert stored.remote_id == fake.created_ids()[0]
