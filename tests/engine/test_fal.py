"""The engine on fal (FalTransport + FakeFal, in-process on one VirtualClock): queue positions
as back-pressure, the exactly-once invariant, the safe answer to a lost create, downloads
without the key, and a job resumed from its remote id alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

import soravideo as sv
from helpers import request
from soravideo._core.clock import VirtualClock
from soravideo.repositories import MemoryRepository
from soravideo.repositories.base import JobRepository
from soravideo.testing import check_ledger_exactly_once
from soravideo.testing._fake_fal import FakeFal
from soravideo.transports.fal import FalTransport

pytestmark = pytest.mark.anyio

URL = "http://fake-fal.test"
KEY = "fal-engine:0123456789abcdef"
KLING = "fal-ai/kling-video/v2.5-turbo/pro/text-to-video"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def fal_client(
    fake: FakeFal | None = None,
    repository: JobRepository | None = None,
    clock: VirtualClock | None = None,
    **settings: Any,
) -> sv.AsyncSoraVideo:
    """A client on FakeFal; pass ``fake``, ``repository`` and ``clock`` to resume a run."""
    clock = clock or VirtualClock()
    fake = fake or FakeFal(api_key=KEY, clock=clock, generation_time=60, queue_time=3)
    transport = FalTransport(
        base_url=URL,
        api_key=KEY,
        http_client=httpx.AsyncClient(transport=fake.http_transport()),
        clock=clock,
    )
    client = sv.AsyncSoraVideo(
        transport=transport, repository=repository or MemoryRepository(), clock=clock, **settings
    )
    client.fake = fake  # type: ignore[assignment]
    return client


def the_fake(client: sv.AsyncSoraVideo) -> FakeFal:
    assert isinstance(client.fake, FakeFal)
    return client.fake


async def test_queue_positions_hold_back_work_fal_would_only_queue() -> None:
    # fal never refuses excess work: requests beyond the account's two slots wait IN_QUEUE.
    # The engine reads their queue_position as back-pressure and stops sending, instead of
    # filling fal's queue up to its own max_concurrency.
    clock = VirtualClock()
    fake = FakeFal(api_key=KEY, clock=clock, generation_time=60, max_concurrent=2)
    seen: set[str | None] = set()

    async def record(event: sv.JobEvent) -> None:
        seen.add(event.job.provider_status)

    async with fal_client(fake, clock=clock, max_concurrency=8) as client:
        client.on("*", record)
        jobs = [
            await client.videos.create_video(request(f"take {n}", model=KLING, duration=5))
            for n in range(12)
        ]
        done = [await client.videos.wait_for_job(j.id) for j in jobs]
        await check_ledger_exactly_once(fake, client.repository)

    assert all(j.status is sv.JobStatus.COMPLETED for j in done)
    assert "IN_QUEUE" in seen
    assert fake.peak_concurrency() == 2
    positions = [r.response_json()["queue_position"] for r in fake.requests if r.tag == "created"]
    # The first eight went out together, before any answer: six of them had to wait.
    assert positions[:8] == [0, 0, 0, 1, 2, 3, 4, 5]
    # Once fal's answers showed work waiting, a create went out only when at most one other
    # request waited, instead of topping fal's queue up to max_concurrency=8 again.
    assert max(positions[8:]) <= 1


async def test_a_run_on_fal_is_exactly_once_with_its_prices_checked(tmp_path: Path) -> None:
    async with fal_client(max_concurrency=4, download_dir=str(tmp_path)) as client:
        fake = the_fake(client)
        plain = await client.videos.create_video(request("a fox", model=KLING, duration=10))
        veo = await client.videos.create_video(
            request("a heron", model="fal-ai/veo3.1", duration=4, resolution="1080p")
        )
        framed = await client.videos.create_video(
            request("an owl", model=KLING, input_reference=PNG)
        )
        moderated = await client.videos.create_video(
            request(f"x {fake.failing_prompt}", model=KLING)
        )
        running = await client.videos.create_video(request("a crane", model="fal-ai/veo3.1"))
        while (await client.videos.get_job(running.id)).provider_status != "IN_PROGRESS":
            await client.clock.sleep(1)
        await client.videos.cancel_job(running.id)
        finished = [await client.videos.wait_for_job(j.id) for j in (plain, veo, framed, moderated)]
        await check_ledger_exactly_once(fake, client.repository)

    ok, heron, owl, failed = finished
    assert (ok.status, heron.status, owl.status) == (sv.JobStatus.COMPLETED,) * 3
    assert ok.estimated_cost_usd == pytest.approx(0.70)
    assert heron.estimated_cost_usd == pytest.approx(1.60)  # 4 s at $0.40 with audio
    assert (
        fake.endpoint_of(owl.remote_id or "") == "fal-ai/kling-video/v2.5-turbo/pro/image-to-video"
    )
    assert failed.status is sv.JobStatus.FAILED
    assert failed.error is not None
    assert (failed.error.code, failed.error.retryable) == ("content_policy_violation", False)
    assert ok.result is not None and ok.result.path is not None
    assert Path(ok.result.path).read_bytes()[4:8] == b"ftyp"
    # Every download went to the CDN without the key (FakeFal refuses a keyed one).
    assert fake.download_count(status=200) == 3 and fake.download_count() == 3
    assert all(r.headers.get("x-fal-no-retry") == "1" for r in fake.requests if r.route == "submit")


async def test_a_create_whose_answer_is_lost_fails_safely_and_is_never_sent_again() -> None:
    async with fal_client() as client:
        fake = the_fake(client)
        fake.reset_next_create()
        job = await client.videos.create_video(request(model=KLING))
        done = await client.videos.wait_for_job(job.id)
        assert done.status is sv.JobStatus.FAILED
        assert done.error is not None and done.error.code == "ambiguous_submission"
        assert fake.count("POST") == 1
        # fal can neither list requests nor deduplicate creates: the lost create's video is
        # owned by no job, and the check says exactly that.
        with pytest.raises(AssertionError) as caught:
            await check_ledger_exactly_once(fake, client.repository)
        (violation,) = str(caught.value).splitlines()[1:]
        assert violation.strip().startswith("- orphan: video fal-ai:kling-video:")


async def test_a_new_process_resumes_a_job_from_its_remote_id_alone() -> None:
    clock = VirtualClock()
    fake = FakeFal(api_key=KEY, clock=clock, generation_time=60)
    repository = MemoryRepository()
    first = fal_client(fake, repository, clock)
    async with first:
        job = await first.videos.create_video(
            request("a fox", model="fal-ai/pika/v2.2/text-to-video")
        )
        while (await first.videos.get_job(job.id)).remote_id is None:
            await clock.sleep(1)
    # A new transport (nothing remembered) on the same ledger finds the request by its id.
    async with fal_client(fake, repository, clock) as second:
        await second.resume()
        done = await second.videos.wait_for_job(job.id)
        await check_ledger_exactly_once(fake, repository)
    assert done.status is sv.JobStatus.COMPLETED
    assert done.remote_id is not None and done.remote_id.startswith("fal-ai:pika:")
    assert fake.created_count() == 1
