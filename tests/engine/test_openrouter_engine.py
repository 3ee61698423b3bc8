"""The engine on OpenRouterTransport + FakeOpenRouter, in-process on one VirtualClock.

OpenRouter reports what each job cost, and can neither cancel, list, nor deduplicate a
create. Each scenario ends with the exactly-once check between the fake and the ledger.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import soravideo as sv
from helpers import request
from soravideo._core.clock import VirtualClock
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeOpenRouter, check_ledger_exactly_once
from soravideo.testing._simulated_openrouter import simulated_openrouter_parts
from soravideo.transports import OpenRouterTransport
from soravideo.transports.openrouter import OPENROUTER_MODELS

pytestmark = pytest.mark.anyio

GENERATION = 90.0


@attrs.define
class Setup:
    fake: FakeOpenRouter
    transport: OpenRouterTransport
    clock: VirtualClock
    repository: MemoryRepository

    def client(self, **settings: Any) -> sv.AsyncSoraVideo:
        return sv.AsyncSoraVideo(
            transport=self.transport, repository=self.repository, clock=self.clock, **settings
        )


def build(**knobs: Any) -> Setup:
    clock = VirtualClock()
    fake, transport = simulated_openrouter_parts(clock, generation_time=GENERATION, **knobs)
    return Setup(fake=fake, transport=transport, clock=clock, repository=MemoryRepository())


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    made = build()
    yield made
    await check_ledger_exactly_once(made.fake, made.repository)


def read_gaps(fake: FakeOpenRouter, remote_id: str) -> list[float]:
    times = [r.time for r in fake.requests if r.route == "retrieve" and r.path.endswith(remote_id)]
    return [b - a for a, b in itertools.pairwise(times)]


async def test_a_video_completes_downloads_and_records_its_cost_beside_the_estimate(
    setup: Setup, tmp_path: Path
) -> None:
    async with setup.client(download_dir=tmp_path) as client:
        job = await client.videos.create_video(request(duration=8, resolution="1080p"))
        assert job.estimated_cost_usd == pytest.approx(6.0)  # 8 s at the 1080p $0.75
        done = await client.videos.wait_for_job(job.id, timeout=3600)
        again = await client.videos.download_video(job.id, tmp_path / "again.mp4")
    assert done.status is sv.JobStatus.COMPLETED, done.error
    assert (done.progress, done.attempts, done.provider_status) == (100, 1, "completed")
    assert done.remote_id is not None
    assert done.cost_usd == setup.fake.charged(done.remote_id) == pytest.approx(6.0)
    assert done.estimated_cost_usd == pytest.approx(6.0)
    result = done.result
    assert result is not None and result.path == str(tmp_path / f"{job.id}.mp4")
    data = Path(result.path).read_bytes()
    assert data[4:8] == b"ftyp" and again.read_bytes() == data
    assert (result.bytes, result.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert result.url is not None and result.url.endswith(
        f"/videos/{done.remote_id}/content?index=0"
    )
    assert setup.fake.created_count() == 1
    # Polled no more often than OpenRouter asks (every 10 s at least).
    assert all(gap >= 10.0 for gap in read_gaps(setup.fake, done.remote_id))


async def test_the_provider_charge_is_kept_even_when_it_differs_from_the_estimate() -> None:
    # The fake charges its own (newer) price; the estimate stays what soravideo priced.
    made = build(prices={"google/veo-3.1": 0.40})
    async with made.client() as client:
        job = await client.videos.create_video(request(duration=4))
        done = await client.videos.wait_for_job(job.id, timeout=3600)
    assert (done.estimated_cost_usd, done.cost_usd) == (pytest.approx(2.0), pytest.approx(1.6))
    with pytest.raises(AssertionError, match=r"- cost: job .* records \$2.0, but what was sent"):
        await check_ledger_exactly_once(made.fake, made.repository)


async def test_a_moderation_failure_is_final_and_costs_nothing(setup: Setup) -> None:
    async with setup.client() as client:
        job = await client.videos.create_video(request(f"a cat, {setup.fake.failing_prompt}"))
        done = await client.videos.wait_for_job(job.id, timeout=3600)
        with pytest.raises(sv.JobStateError):
            await client.videos.get_video_result(job.id)
    assert done.status is sv.JobStatus.FAILED
    assert done.error is not None
    assert (done.error.code, done.error.retryable) == ("failed", False)
    assert done.error.message == setup.fake.failure_message
    assert (done.attempts, done.cost_usd) == (1, None)


async def test_cancelling_a_video_in_flight_stops_tracking_it_and_says_it_runs_on(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="soravideo")
    async with setup.client() as client:
        job = await client.videos.create_video(request())
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
        reads = setup.fake.status_request_count()
        cancelled = await client.videos.cancel_job(job.id)
        assert cancelled.status is sv.JobStatus.CANCELLED
        assert cancelled.remote_id is not None
        assert (await client.videos.wait_for_job(job.id)).status is sv.JobStatus.CANCELLED
        await client.clock.sleep(3 * GENERATION)
        with pytest.raises(sv.JobStateError):
            await client.videos.cancel_job(job.id)
    remote = cancelled.remote_id
    # The cancel read the job once (it has no endpoint to cancel: the read tells a video
    # already finished from one that goes on), and nobody asked again.
    assert setup.fake.status_request_count() == reads + 1
    assert setup.fake.cancelled_ids() == []
    # The video went on to the end, and was billed; the ledger never read that cost.
    assert setup.fake.job(remote)["status"] == "completed"
    assert setup.fake.charged(remote) == pytest.approx(4.0)
    assert (await setup.repository.get_job(job.id)).cost_usd is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"openrouter cannot cancel: remote job {remote}" in w for w in warnings)


async def test_a_job_cancelled_before_it_is_sent_is_never_sent(setup: Setup) -> None:
    async with setup.client(max_concurrency=1) as client:
        first = await client.videos.create_video(request("first"))
        second = await client.videos.create_video(request("second"))
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(first.id, timeout=30)
        cancelled = await client.videos.cancel_job(second.id)
        done = await client.videos.wait_for_job(first.id, timeout=3600)
    assert (cancelled.status, cancelled.remote_id) == (sv.JobStatus.CANCELLED, None)
    assert done.status is sv.JobStatus.COMPLETED
    assert [setup.fake.create_params(i)["prompt"] for i in setup.fake.created_ids()] == ["first"]


async def test_a_job_stopped_on_openrouters_side_ends_cancelled(setup: Setup) -> None:
    async with setup.client() as client:
        job = await client.videos.create_video(request())
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
        remote = (await client.videos.get_job(job.id)).remote_id
        assert remote is not None
        setup.fake.cancel(remote)
        done = await client.videos.wait_for_job(job.id, timeout=3600)
    assert (done.status, done.provider_status) == (sv.JobStatus.CANCELLED, "cancelled")


async def test_jobs_beyond_openrouters_concurrency_wait_pending_and_all_complete() -> None:
    made = build(max_concurrent=2)
    async with made.client(max_concurrency=4) as client:
        jobs = [await client.videos.create_video(request(f"video {i}")) for i in range(6)]
        done = [await client.videos.wait_for_job(j.id, timeout=7200) for j in jobs]
    assert [j.status for j in done] == [sv.JobStatus.COMPLETED] * 6
    assert made.fake.created_count() == 6
    assert made.fake.peak_concurrency() <= 2
    assert made.fake.queued_ids()
    await check_ledger_exactly_once(made.fake, made.repository)


async def test_an_unknowable_create_fails_safely_and_is_never_sent_twice() -> None:
    made = build()
    made.fake.reset_next_create()
    async with made.client() as client:
        job = await client.videos.create_video(request())
        done = await client.videos.wait_for_job(job.id, timeout=3600)
    assert done.status is sv.JobStatus.FAILED
    assert done.error is not None
    assert (done.error.code, done.error.retryable) == ("ambiguous_submission", True)
    assert made.fake.count("POST") == 1
    # The price of failing safely: OpenRouter can neither replay a create nor list jobs, so
    # the video the lost create made is paid for and owned by no job. The check sees
    # exactly that, and nothing else.
    with pytest.raises(AssertionError) as caught:
        await check_ledger_exactly_once(made.fake, made.repository)
    (violation,) = str(caught.value).splitlines()[1:]
    assert violation.strip().startswith("- orphan: video gen-vid-")


@pytest.mark.parametrize(
    ("status", "retried"), [(503, True), (429, True), (500, False), (502, False), (402, False)]
)
async def test_a_create_is_sent_again_only_when_it_certainly_did_not_happen(
    status: int, retried: bool
) -> None:
    made = build()
    made.fake.inject(status=status, match="POST /videos", retry_after=1)
    async with made.client(max_retries=3) as client:
        job = await client.videos.create_video(request())
        done = await client.videos.wait_for_job(job.id, timeout=3600)
    sent = made.fake.count("POST")
    if retried:
        assert (done.status, sent) == (sv.JobStatus.COMPLETED, 2)
    else:
        assert (done.status, sent) == (sv.JobStatus.FAILED, 1)
        assert done.error is not None
        expected = "ambiguous_submission" if status >= 500 else "402"
        assert done.error.code in (expected, f"http_{status}")
    assert made.fake.created_count() == (1 if retried else 0)
    await check_ledger_exactly_once(made.fake, made.repository)


async def test_refreshed_models_price_and_check_what_is_sent() -> None:
    listing = {
        "kwaivgi/kling-v3.0-pro": attrs.evolve(
            OPENROUTER_MODELS["alibaba/wan-2.6"],
            name="kwaivgi/kling-v3.0-pro",
            durations=(5, 10),
            pricing_skus={"per-video-second": "0.112"},
        )
    }
    made = build(models=listing)
    await made.transport.refresh_models()
    async with made.client() as client:
        job = await client.videos.create_video(request(model="kwaivgi/kling-v3.0-pro", duration=10))
        with pytest.raises(sv.ValidationError) as info:
            await client.videos.create_video(request(model="kwaivgi/kling-v3.0-pro", duration=7))
        done = await client.videos.wait_for_job(job.id, timeout=3600)
    assert info.value.fields == ("duration",)
    assert done.estimated_cost_usd == pytest.approx(1.12)
    assert done.cost_usd == pytest.approx(1.12)
    await check_ledger_exactly_once(made.fake, made.repository)
