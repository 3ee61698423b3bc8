"""The provider-agnostic engine scenarios, run on both built-in transports against their fakes.

Each scenario runs once on SoraTransport + FakeSora and once on RunwayTransport +
FakeRunway, both in-process on one VirtualClock: the core must not care which provider it
drives (bytes or URL results, 429s or THROTTLED queueing, a 5 s minimum poll interval).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

import soravideo as sv
from helpers import request
from soravideo._core.clock import VirtualClock
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeRunway
from soravideo.testing._simulated import simulated_parts
from soravideo.testing._simulated_runway import simulated_runway_parts
from soravideo.transports import Transport

GENERATION = 60.0


@attrs.define
class Provider:
    """One transport wired to its fake on a shared VirtualClock, plus what differs between them."""

    kind: str
    fake: Any
    transport: Transport
    clock: VirtualClock
    models: tuple[str, ...]
    moderation_code: str

    def client(self, **settings: Any) -> sv.AsyncSoraVideo:
        return sv.AsyncSoraVideo(
            transport=self.transport, repository=MemoryRepository(), clock=self.clock, **settings
        )

    def sync_client(self, **settings: Any) -> sv.SoraVideo:
        return sv.SoraVideo(
            transport=self.transport, repository=MemoryRepository(), clock=self.clock, **settings
        )

    def back_pressure_seen(self) -> bool:
        """Whether the fake pushed back: Sora answers 429, Runway queues tasks THROTTLED."""
        if isinstance(self.fake, FakeRunway):
            return bool(self.fake.throttled_ids()) and self.fake.rate_limited_count() == 0
        return bool(self.fake.rate_limited_count())


def build(kind: str, **knobs: Any) -> Provider:
    clock = VirtualClock()
    if kind == "sora":
        sora, transport = simulated_parts(clock, generation_time=GENERATION)
        for name, value in knobs.items():
            setattr(sora, name, value)
        return Provider(
            kind=kind,
            fake=sora,
            transport=transport,
            clock=clock,
            models=("sora-2", "sora-2-pro"),
            moderation_code="moderation_blocked",
        )
    runway, transport = simulated_runway_parts(clock, generation_time=GENERATION, **knobs)
    return Provider(
        kind=kind,
        fake=runway,
        transport=transport,
        clock=clock,
        models=("gen4.5", "veo3.1", "veo3.1_fast"),
        moderation_code="SAFETY.INPUT.TEXT",
    )


@pytest.fixture(params=["sora", "runway"])
def provider(request: pytest.FixtureRequest) -> Callable[..., Provider]:
    """A factory of a fresh provider setup (fake knobs as keywords) for each transport."""
    return lambda **knobs: build(request.param, **knobs)


def status_gaps(fake: Any, remote_id: str) -> list[float]:
    times = [
        r.time for r in fake.requests if r.method == "GET" and r.path.endswith(f"/{remote_id}")
    ]
    return [b - a for a, b in itertools.pairwise(times)]


@pytest.mark.anyio
async def test_create_wait_and_download(provider: Callable[..., Provider], tmp_path: Path) -> None:
    p = provider()
    async with p.client(download_dir=tmp_path / "auto") as client:
        job = await client.videos.create_video(request(duration=8))
        assert job.estimated_cost_usd is not None
        assert job.estimated_cost_usd == p.transport.estimate_cost(job.request)

        done = await client.videos.wait_for_job(job.id, timeout=600)
        assert done.status is sv.JobStatus.COMPLETED
        assert (done.progress, done.attempts, done.error) == (100, 1, None)
        result = done.result
        assert result is not None and result.remote_id == done.remote_id
        assert result.path == str(tmp_path / "auto" / f"{job.id}.mp4")
        data = Path(result.path).read_bytes()
        assert data[4:8] == b"ftyp"
        assert (result.bytes, result.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        assert result.expires_at is not None and done.completed_at is not None
        assert result.expires_at > done.completed_at
        if p.transport.capabilities.result_kind == "url":
            assert result.url is not None and result.url.startswith("http")

        again = await client.videos.download_video(job.id, tmp_path / "again.mp4")
        assert again.read_bytes() == data
    assert p.fake.created_count() == 1
    floor = p.transport.capabilities.min_poll_interval
    assert all(gap >= floor for gap in status_gaps(p.fake, done.remote_id or ""))


@pytest.mark.anyio
async def test_a_moderation_failure_is_final(provider: Callable[..., Provider]) -> None:
    p = provider()
    async with p.client() as client:
        job = await client.videos.create_video(request(f"a cat, {p.fake.failing_prompt}"))
        done = await client.videos.wait_for_job(job.id, timeout=600)
        assert done.status is sv.JobStatus.FAILED
        assert done.error is not None
        assert (done.error.code, done.error.retryable) == (p.moderation_code, False)
        assert done.attempts == 1
        with pytest.raises(sv.JobStateError):
            await client.videos.get_video_result(job.id)
    assert p.fake.created_count() == 1


@pytest.mark.anyio
async def test_cancel_in_flight_stops_the_remote_job(provider: Callable[..., Provider]) -> None:
    p = provider()
    async with p.client() as client:
        job = await client.videos.create_video(request())
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=10)
        cancelled = await client.videos.cancel_job(job.id)
        assert cancelled.status is sv.JobStatus.CANCELLED
        assert cancelled.remote_id is not None
        assert p.fake.cancelled_ids() == [cancelled.remote_id]
        assert (await client.videos.wait_for_job(job.id)).status is sv.JobStatus.CANCELLED
        with pytest.raises(sv.JobStateError):
            await client.videos.cancel_job(job.id)


@pytest.mark.anyio
async def test_back_pressure_below_the_client_limit_completes_everything(
    provider: Callable[..., Provider],
) -> None:
    p = provider(max_concurrent=2)
    async with p.client(max_concurrency=4) as client:
        jobs = [await client.videos.create_video(request(f"video {i}")) for i in range(6)]
        done = [await client.videos.wait_for_job(j.id, timeout=3600) for j in jobs]
    assert [j.status for j in done] == [sv.JobStatus.COMPLETED] * 6
    assert p.fake.created_count() == 6
    assert p.fake.peak_concurrency() <= 2
    assert p.back_pressure_seen()


def test_a_mixed_batch_through_the_sync_facade(
    provider: Callable[..., Provider], tmp_path: Path
) -> None:
    """Issue 7's "done when": mixed models, back-pressure, a moderation failure, a stale URL."""
    p = provider(max_concurrent=1)
    if isinstance(p.fake, FakeRunway):
        # The first download finds its signed URL refused, as an expired one is.
        p.fake.inject(status=403, match="GET /_cdn/*", times=1)
    prompts = [f"shot {i}" for i in range(5)] + [f"shot 5, {p.fake.failing_prompt}"]
    videos = [
        request(prompt, model=p.models[i % len(p.models)], duration=8)
        for i, prompt in enumerate(prompts)
    ]
    with p.sync_client(download_dir=tmp_path, max_concurrency=4) as client:
        created = client.batches.create_batch(sv.BatchVideoRequest(videos=videos, name="mixed"))
        batch = client.batches.process_batch(created.batch_id)
        report = client.batches.get_batch_status(created.batch_id)

    assert batch.status is sv.BatchStatus.PARTIAL
    assert (report.progress.completed, report.progress.failed) == (5, 1)
    by_prompt = {job.request.prompt: job for job in report.jobs}
    failed = by_prompt[prompts[-1]]
    assert failed.status is sv.JobStatus.FAILED
    assert failed.error is not None and failed.error.code == p.moderation_code
    for prompt in prompts[:-1]:
        job = by_prompt[prompt]
        assert job.status is sv.JobStatus.COMPLETED
        assert job.result is not None and job.result.path is not None
        assert Path(job.result.path).read_bytes()[4:8] == b"ftyp"
    assert {job.request.model for job in report.jobs} == set(p.models)
    assert p.fake.created_count() == 6
    assert p.back_pressure_seen()
    if isinstance(p.fake, FakeRunway):
        assert p.fake.download_count(status=403) == 1
        assert all(job.result and job.result.url for job in report.jobs if job.result)


@pytest.mark.anyio
async def test_an_expired_output_url_is_refreshed_during_download(tmp_path: Path) -> None:
    p = build("runway", url_ttl=3600.0)
    fake: FakeRunway = p.fake
    async with p.client() as client:
        job = await client.videos.create_video(request(duration=5))
        done = await client.videos.wait_for_job(job.id, timeout=600)
        assert done.status is sv.JobStatus.COMPLETED
        reads = fake.status_request_count()
        p.clock.advance(2 * 3600.0)  # the URL the engine saw has expired meanwhile

        path = await client.videos.download_video(job.id, tmp_path / "late.mp4")

    assert path.read_bytes()[4:8] == b"ftyp"
    assert fake.download_count(status=403) == 1
    assert fake.download_count(status=200) == 1
    assert fake.status_request_count() == reads + 1  # one fresh read for a fresh URL
    cdn = [r for r in fake.requests if r.route == "cdn"]
    assert cdn and all("authorization" not in r.headers for r in cdn)
