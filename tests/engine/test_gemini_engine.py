"""The engine on GeminiTransport + FakeGemini, in-process on one VirtualClock.

Gemini Omni videos come back inline (base64 in the interaction) or by a Files URI; Veo
videos by a Files URI. Interactions can be cancelled, Veo operations cannot; neither API
can list or deduplicate a create. Each scenario ends with the exactly-once check between
the fake and the ledger.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

import soravideo as sv
from helpers import request
from soravideo._core.clock import VirtualClock
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeGemini, check_ledger_exactly_once
from soravideo.transports import GeminiTransport

pytestmark = pytest.mark.anyio

GENERATION = 90.0
KEY = "AIza-engine-test-key"
VEO = "veo-3.1-generate-preview"


@attrs.define
class Setup:
    fake: FakeGemini
    transport: GeminiTransport
    clock: VirtualClock
    repository: MemoryRepository

    def client(self, **settings: Any) -> sv.AsyncSoraVideo:
        return sv.AsyncSoraVideo(
            transport=self.transport, repository=self.repository, clock=self.clock, **settings
        )


def build(**knobs: Any) -> Setup:
    clock = VirtualClock()
    fake = FakeGemini(api_key=KEY, clock=clock, generation_time=GENERATION, **knobs)
    transport = GeminiTransport(
        base_url="http://fake-gemini.invalid",
        api_key=KEY,
        http_client=httpx.AsyncClient(transport=fake.http_transport()),
        clock=clock,
    )
    return Setup(fake=fake, transport=transport, clock=clock, repository=MemoryRepository())


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    made = build()
    yield made
    await check_ledger_exactly_once(made.fake, made.repository)


@pytest.mark.parametrize(
    ("fields", "estimate"),
    [
        ({"duration": 6, "resolution": "1080p"}, 0.9),
        ({"provider_options": {"delivery": "uri"}}, 0.8),
        ({"model": VEO, "aspect_ratio": "9:16"}, 3.2),
    ],
    ids=["omni-inline", "omni-uri", "veo"],
)
async def test_a_video_completes_downloads_and_records_its_estimate(
    setup: Setup, tmp_path: Path, fields: dict[str, Any], estimate: float
) -> None:
    async with setup.client(download_dir=tmp_path) as client:
        job = await client.videos.create_video(request(**fields))
        assert job.estimated_cost_usd == pytest.approx(estimate)
        done = await client.videos.wait_for_job(job.id, timeout=3600)
        again = await client.videos.download_video(job.id, tmp_path / "again.mp4")
    assert done.status is sv.JobStatus.COMPLETED, done.error
    assert (done.progress, done.attempts) == (100, 1)
    assert done.remote_id is not None
    result = done.result
    assert result is not None and result.path == str(tmp_path / f"{job.id}.mp4")
    data = Path(result.path).read_bytes()
    assert data == setup.fake.video_bytes(done.remote_id) == again.read_bytes()
    assert (result.bytes, result.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert setup.fake.price_usd(done.remote_id) == pytest.approx(estimate)
    # Polled no more often than every 5 s until done (then read again to download).
    reads = [r for r in setup.fake.requests if r.route in ("retrieve", "operation")]
    end = next(i for i, r in enumerate(reads) if r.tag in ("completed", "done"))
    polls = [r.time for r in reads[: end + 1]]
    assert all(b - a >= 5.0 for a, b in itertools.pairwise(polls))


async def test_failures_are_final_with_googles_reason(setup: Setup) -> None:
    async with setup.client() as client:
        omni = await client.videos.create_video(request(f"a cat, {setup.fake.failing_prompt}"))
        veo = await client.videos.create_video(request(setup.fake.failing_prompt, model=VEO))
        failed = [await client.videos.wait_for_job(j.id, timeout=3600) for j in (omni, veo)]
    assert [j.status for j in failed] == [sv.JobStatus.FAILED] * 2
    assert [(j.error.code, j.error.retryable) for j in failed if j.error] == [
        ("SAFETY", False),
        ("content_filtered", False),
    ]
    assert all(j.attempts == 1 for j in failed)


async def test_cancelling_an_interaction_cancels_it_at_google(setup: Setup) -> None:
    async with setup.client() as client:
        job = await client.videos.create_video(request())
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
        cancelled = await client.videos.cancel_job(job.id)
    assert cancelled.remote_id is not None
    assert setup.fake.cancelled_ids() == [cancelled.remote_id]
    assert setup.fake.status_of(cancelled.remote_id) == "cancelled"


async def test_cancelling_a_veo_job_stops_tracking_it_and_says_it_runs_on(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="soravideo")
    async with setup.client() as client:
        job = await client.videos.create_video(request(model=VEO))
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
        cancelled = await client.videos.cancel_job(job.id)
        await client.clock.sleep(3 * GENERATION)
    assert cancelled.status is sv.JobStatus.CANCELLED and cancelled.remote_id is not None
    assert setup.fake.cancel_count() == 0
    assert setup.fake.status_of(cancelled.remote_id) == "done"
    warnings = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "cannot be cancelled" in warnings


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
    # The price of failing safely: Gemini can neither deduplicate a create nor list jobs,
    # so the video the lost create made is owned by no job. The check sees exactly that.
    with pytest.raises(AssertionError) as caught:
        await check_ledger_exactly_once(made.fake, made.repository)
    (violation,) = str(caught.value).splitlines()[1:]
    assert violation.strip().startswith("- orphan: video v1_")


@pytest.mark.parametrize(("status", "retried"), [(429, True), (503, True), (500, False)])
async def test_a_create_is_sent_again_only_when_it_certainly_did_not_happen(
    status: int, retried: bool
) -> None:
    made = build()
    made.fake.inject(status=status, match="POST /v1/interactions", retry_after=1)
    async with made.client(max_retries=3) as client:
        job = await client.videos.create_video(request())
        done = await client.videos.wait_for_job(job.id, timeout=3600)
    sent = made.fake.count("POST")
    if retried:
        assert (done.status, sent) == (sv.JobStatus.COMPLETED, 2)
    else:
        assert (done.status, sent) == (sv.JobStatus.FAILED, 1)
        assert done.error is not None and done.error.code == "ambiguous_submission"
    assert made.fake.created_count() == (1 if retried else 0)
    await check_ledger_exactly_once(made.fake, made.repository)


async def test_jobs_beyond_googles_concurrency_wait_queued_and_all_complete() -> None:
    made = build(max_concurrent=2)
    async with made.client(max_concurrency=4) as client:
        jobs = [
            await client.videos.create_video(request(f"video {i}", model=VEO if i % 2 else None))
            for i in range(6)
        ]
        done = [await client.videos.wait_for_job(j.id, timeout=7200) for j in jobs]
    assert [j.status for j in done] == [sv.JobStatus.COMPLETED] * 6
    assert made.fake.created_count() == 6
    assert made.fake.peak_concurrency() <= 2
    await check_ledger_exactly_once(made.fake, made.repository)


async def test_a_request_google_cannot_make_is_refused_before_anything_is_sent(
    setup: Setup,
) -> None:
    async with setup.client() as client:
        with pytest.raises(sv.ValidationError) as info:
            await client.videos.create_video(
                request(model=VEO, duration=5, provider_options={"negative_prompt": 3})
            )
    assert set(info.value.fields) == {"duration", "provider_options.negative_prompt"}
    assert setup.fake.requests == []
