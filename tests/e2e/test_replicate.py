"""Replicate end to end: FakeReplicate served on loopback (real time), ReplicateTransport, a
SQLite ledger, the public sync and async clients. Every scenario ends with the exactly-once
check (conftest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

import soravideo as sv
from helpers import request
from soravideo.repositories import SQLiteRepository
from soravideo.testing import FakeReplicate
from soravideo.transports.replicate import ReplicateTransport

TOKEN = "r8_e2e_0123456789abcdef"
VEO = "google/veo-3.1"
KLING = "kwaivgi/kling-v2.5-turbo-pro"
FAST = {"poll_min_interval": 0.05, "poll_max_interval": 0.25, "request_timeout": 5.0}


@pytest.fixture
def fake() -> FakeReplicate:
    """This module's provider: the exactly-once check that ends each scenario uses it."""
    return FakeReplicate(api_token=TOKEN, generation_time=0.15, page_size=2)


@pytest.fixture
def replicate_url(fake: FakeReplicate) -> Iterator[str]:
    with fake.serve() as url:
        yield url


def _settings(url: str, ledger: Path, **settings: Any) -> dict[str, Any]:
    transport = ReplicateTransport(base_url=url, api_key=TOKEN, min_poll_interval=0.0)
    transport.retry_policy = attrs.evolve(transport.retry_policy, base=0.02, cap=0.2)
    return {"transport": transport, "repository": SQLiteRepository(ledger), **FAST, **settings}


def test_a_sync_batch_on_replicate_completes_fails_and_saves_each_video_as_it_completes(
    fake: FakeReplicate, replicate_url: str, ledger_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "videos"
    with sv.SoraVideo(**_settings(replicate_url, ledger_path, download_dir=str(out))) as client:
        batch = client.batches.create_batch(
            sv.BatchVideoRequest(
                videos=[
                    request("a fox", model=KLING),
                    request("a heron", model=VEO, duration=4),
                    request(f"x {fake.failing_prompt}", model=VEO),
                    request("an owl", model="minimax/video-01"),
                    request("a crane", model=KLING, aspect_ratio="9:16"),
                ]
            )
        )
        done = client.batches.process_batch(batch.batch_id)
        jobs = client.batches.get_batch_status(batch.batch_id).jobs

    assert done.status is sv.BatchStatus.PARTIAL
    assert sorted(j.status.value for j in jobs) == ["completed"] * 4 + ["failed"]
    assert len(list(out.glob("*.mp4"))) == 4
    assert fake.download_count(status=200) == 4
    assert all("authorization" not in r.headers for r in fake.requests if r.route == "delivery")


@pytest.mark.anyio
async def test_cancelling_running_predictions_stops_them_at_replicate(
    fake: FakeReplicate, replicate_url: str, ledger_path: Path
) -> None:
    fake.generation_time = 30.0  # long enough to be cancelled while it runs
    submitted: set[str] = set()
    all_sent = anyio.Event()

    async def on_submitted(event: sv.JobEvent) -> None:
        submitted.add(event.job.id)
        if len(submitted) == 3:
            all_sent.set()

    async with sv.AsyncSoraVideo(**_settings(replicate_url, ledger_path)) as client:
        client.on("submitted", on_submitted)
        jobs = [await client.videos.create_video(request(f"take {n}", model=VEO)) for n in range(3)]
        with anyio.fail_after(10):
            await all_sent.wait()
        cancelled = [await client.videos.cancel_job(j.id) for j in jobs]

    assert all(j.status is sv.JobStatus.CANCELLED for j in cancelled)
    assert sorted(fake.cancelled_ids()) == sorted(fake.created_ids())
