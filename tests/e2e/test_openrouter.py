"""OpenRouter end to end: FakeOpenRouter on a loopback port (real time), a SQLite ledger, the
public API only. The e2e conftest ends each scenario with the exactly-once check between
this fake and the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

import soravideo as sv
from soravideo.repositories import SQLiteRepository
from soravideo.testing import FakeOpenRouter
from soravideo.transports import OpenRouterTransport

KEY = "sk-or-v1-e2e-0123456789abcdef"
GENERATION_TIME = 0.15
FAST = {"poll_min_interval": 0.05, "poll_max_interval": 0.25, "request_timeout": 5.0}


@pytest.fixture
def fake() -> FakeOpenRouter:
    """A FakeOpenRouter that demands ``KEY``; a test may change its knobs before serving."""
    return FakeOpenRouter(api_key=KEY, generation_time=GENERATION_TIME)


def _settings(base_url: str, ledger_path: Path, **settings: Any) -> dict[str, Any]:
    transport = OpenRouterTransport(base_url=base_url, api_key=KEY, min_poll_interval=0.05)
    transport.retry_policy = attrs.evolve(transport.retry_policy, base=0.02, cap=0.2)
    return {
        "transport": transport,
        "repository": SQLiteRepository(ledger_path),
        **FAST,
        **settings,
    }


@pytest.fixture
def client(base_url: str, ledger_path: Path) -> Iterator[sv.SoraVideo]:
    with sv.SoraVideo(**_settings(base_url, ledger_path)) as made:
        yield made


def test_a_video_completes_downloads_and_records_what_it_cost(
    client: sv.SoraVideo, fake: FakeOpenRouter, tmp_path: Path
) -> None:
    job = client.videos.create_video(
        sv.CreateVideoRequest(prompt="a red fox in the snow", duration=4, aspect_ratio="9:16")
    )
    assert (job.provider, job.estimated_cost_usd) == ("openrouter", 2.0)
    done = client.videos.wait_for_job(job.id, timeout=10)
    path = client.videos.download_video(job.id, tmp_path / "fox.mp4")

    assert done.status is sv.JobStatus.COMPLETED, done.error
    assert done.remote_id is not None and done.remote_id.startswith("gen-vid-")
    assert (done.cost_usd, done.estimated_cost_usd) == (2.0, 2.0)
    assert fake.create_params(done.remote_id) == {
        "model": "google/veo-3.1",
        "prompt": "a red fox in the snow",
        "duration": 4,
        "resolution": "720p",
        "aspect_ratio": "9:16",
    }
    assert path.read_bytes()[4:8] == b"ftyp"
    assert fake.download_count(status=200) == 1
    assert all(r.headers.get("authorization") == "Bearer <redacted>" for r in fake.requests)


def test_a_batch_with_a_moderated_prompt_ends_partial(
    client: sv.SoraVideo, fake: FakeOpenRouter
) -> None:
    fake.max_concurrent = 1
    videos = [
        sv.CreateVideoRequest(prompt="shot 1", model="alibaba/wan-2.6"),
        sv.CreateVideoRequest(prompt="shot 2", model="openai/sora-2-pro", duration=8),
        sv.CreateVideoRequest(prompt=f"shot 3, {fake.failing_prompt}", model="alibaba/wan-2.6"),
    ]
    created = client.batches.create_batch(
        sv.BatchVideoRequest(videos=videos, name="mixed", budget_usd=3.0)
    )
    batch = client.batches.process_batch(created.batch_id)
    report = client.batches.get_batch_status(created.batch_id)

    assert batch.status is sv.BatchStatus.PARTIAL
    by_prompt = {j.request.prompt: j for j in report.jobs}
    assert by_prompt["shot 1"].cost_usd == pytest.approx(0.2)
    assert by_prompt["shot 2"].cost_usd == pytest.approx(2.4)
    failed = by_prompt[f"shot 3, {fake.failing_prompt}"]
    assert failed.error is not None and failed.error.code == "failed"
    assert fake.created_count() == 3


@pytest.mark.anyio
async def test_a_job_cancelled_in_flight_is_cancelled_in_the_ledger_and_runs_on(
    base_url: str, ledger_path: Path, fake: FakeOpenRouter
) -> None:
    fake.generation_time = 1.0
    async with sv.AsyncSoraVideo(**_settings(base_url, ledger_path)) as client:
        submitted = anyio.Event()
        client.events.on("submitted", lambda _job: submitted.set())
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="a long shot"))
        with anyio.fail_after(10):
            await submitted.wait()
        cancelled = await client.videos.cancel_job(job.id)
    assert cancelled.status is sv.JobStatus.CANCELLED
    assert cancelled.remote_id is not None
    # OpenRouter has no cancel: the fake got none, and generates the video to the end.
    assert fake.cancelled_ids() == []
    assert {r.route for r in fake.requests} <= {"create", "retrieve"}
    assert fake.job(cancelled.remote_id)["status"] in ("pending", "in_progress", "completed")


@pytest.mark.anyio
async def test_a_job_in_flight_when_its_client_stops_is_finished_by_the_next_one(
    base_url: str, ledger_path: Path, fake: FakeOpenRouter
) -> None:
    fake.generation_time = 0.5
    async with sv.AsyncSoraVideo(**_settings(base_url, ledger_path)) as first:
        submitted = anyio.Event()
        first.events.on("submitted", lambda _job: submitted.set())
        job = await first.videos.create_video(sv.CreateVideoRequest(prompt="a fox"))
        with anyio.fail_after(10):
            await submitted.wait()
    async with sv.AsyncSoraVideo(**_settings(base_url, ledger_path)) as second:
        resumed = await second.videos.get_job(job.id)
        assert resumed.status is sv.JobStatus.PROCESSING and resumed.remote_id is not None
        done = await second.videos.wait_for_job(job.id, timeout=10)
    assert done.status is sv.JobStatus.COMPLETED
    assert done.remote_id == resumed.remote_id
    assert fake.created_count() == 1
    assert done.cost_usd == fake.charged(done.remote_id)


@pytest.mark.anyio
async def test_a_hanging_create_is_abandoned_as_ambiguous_and_never_sent_again(
    base_url: str, ledger_path: Path, fake: FakeOpenRouter
) -> None:
    # Far longer than the test: the fake logs a request when it answers, so an empty log
    # shows the client gave up first; the job fails instead of being sent blind.
    fake.inject(delay=30, match="POST /videos")
    async with sv.AsyncSoraVideo(**_settings(base_url, ledger_path, request_timeout=0.3)) as client:
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="a fox"))
        done = await client.videos.wait_for_job(job.id, timeout=10)
        assert client.transport.stats.requests == 1
    assert done.status is sv.JobStatus.FAILED
    assert done.error is not None and done.error.code == "ambiguous_submission"
    assert fake.count("POST") == 0
