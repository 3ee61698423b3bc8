"""The engine on Replicate (ReplicateTransport + FakeReplicate, in-process on one VirtualClock):
the exactly-once invariant, a lost create adopted from the list and never re-sent, outputs
saved as they complete (a warning when nowhere to save them), deadlines."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

import soravideo as sv
from helpers import request
from soravideo._core.clock import VirtualClock
from soravideo.repositories import MemoryRepository
from soravideo.repositories.base import JobRepository
from soravideo.testing import FakeReplicate, check_ledger_exactly_once
from soravideo.transports.replicate import ReplicateTransport

pytestmark = pytest.mark.anyio

URL = "http://fake-replicate.test"
TOKEN = "r8_engine_0123456789abcdef"
VEO = "google/veo-3.1"
KLING = "kwaivgi/kling-v2.5-turbo-pro"
PRICES = {VEO: 0.4, KLING: 0.07}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def replicate_client(
    fake: FakeReplicate | None = None,
    repository: JobRepository | None = None,
    clock: VirtualClock | None = None,
    transport_options: dict[str, Any] | None = None,
    **settings: Any,
) -> sv.AsyncSoraVideo:
    """A client on FakeReplicate; pass ``fake``, ``repository`` and ``clock`` to resume a run."""
    clock = clock or VirtualClock()
    fake = fake or FakeReplicate(
        api_token=TOKEN, clock=clock, generation_time=60, queue_time=3, prices=PRICES
    )
    transport = ReplicateTransport(
        base_url=URL,
        api_key=TOKEN,
        http_client=httpx.AsyncClient(transport=fake.http_transport()),
        clock=clock,
        prices=PRICES,
        **(transport_options or {}),
    )
    client = sv.AsyncSoraVideo(
        transport=transport, repository=repository or MemoryRepository(), clock=clock, **settings
    )
    client.fake = fake  # type: ignore[assignment]
    return client


def the_fake(client: sv.AsyncSoraVideo) -> FakeReplicate:
    assert isinstance(client.fake, FakeReplicate)
    return client.fake


async def test_a_run_on_replicate_is_exactly_once_and_saves_each_video_without_the_token(
    tmp_path: Path,
) -> None:
    async with replicate_client(max_concurrency=4, download_dir=str(tmp_path)) as client:
        fake = the_fake(client)
        plain = await client.videos.create_video(request("a fox", model=KLING, duration=10))
        veo = await client.videos.create_video(
            request("a heron", model=VEO, duration=4, resolution="1080p")
        )
        framed = await client.videos.create_video(
            request("an owl", model=KLING, input_reference=PNG)
        )
        flagged = await client.videos.create_video(request(f"x {fake.failing_prompt}", model=VEO))
        running = await client.videos.create_video(request("a crane", model=VEO))
        while (await client.videos.get_job(running.id)).provider_status != "processing":
            await client.clock.sleep(1)
        await client.videos.cancel_job(running.id)
        done = [await client.videos.wait_for_job(j.id) for j in (plain, veo, framed, flagged)]
        stopped = await client.videos.get_job(running.id)
        await check_ledger_exactly_once(fake, client.repository)

    fox, heron, owl, failed = done
    assert (fox.status, heron.status, owl.status) == (sv.JobStatus.COMPLETED,) * 3
    assert fox.estimated_cost_usd == pytest.approx(0.70)
    assert heron.estimated_cost_usd == pytest.approx(1.60)
    assert fake.create_params(owl.remote_id or "")["start_image"]["data_uri"].startswith(
        "data:image/png"
    )
    assert failed.error is not None and (failed.error.code, failed.error.retryable) == (
        "E005",
        False,
    )
    for job in (fox, heron, owl):
        assert job.result is not None and job.result.path is not None
        assert Path(job.result.path).read_bytes() == fake.video_bytes(job.remote_id or "")
        assert job.result.expires_at is not None
    assert fake.download_count(status=200) == 3 and fake.download_count() == 3
    assert stopped.status is sv.JobStatus.CANCELLED
    assert fake.cancelled_ids() == [stopped.remote_id]


async def test_many_jobs_are_refreshed_through_the_list() -> None:
    clock = VirtualClock()
    fake = FakeReplicate(api_token=TOKEN, clock=clock, generation_time=60, page_size=100)
    async with replicate_client(fake, clock=clock, max_concurrency=8) as client:
        jobs = [await client.videos.create_video(request(f"take {n}", model=VEO)) for n in range(8)]
        done = [await client.videos.wait_for_job(j.id) for j in jobs]
        await check_ledger_exactly_once(fake, client.repository)
    assert all(j.status is sv.JobStatus.COMPLETED for j in done)
    assert fake.count(route="get") < fake.count(route="list")


async def test_a_lost_create_is_adopted_from_the_list_and_never_sent_again() -> None:
    async with replicate_client() as client:
        fake = the_fake(client)
        fake.reset_next_create()
        job = await client.videos.create_video(request("a fox", model=VEO, duration=6))
        done = await client.videos.wait_for_job(job.id)
        await check_ledger_exactly_once(fake, client.repository)
    assert done.status is sv.JobStatus.COMPLETED
    assert done.remote_id == fake.created_ids()[0]
    assert fake.count("POST", "/v1/models/*") == 1


async def test_a_lost_create_the_list_does_not_show_fails_and_is_never_sent_again() -> None:
    # The answer is lost before the create took effect: the list shows nothing. That is no
    # proof (a create can land after the list was read) and Replicate cannot deduplicate, so
    # the job fails instead of making the video a second time.
    async with replicate_client() as client:
        fake = the_fake(client)
        fake.inject(reset=True, phase="before", match="POST /v1/models/*")
        job = await client.videos.create_video(request("a fox", model=VEO))
        done = await client.videos.wait_for_job(job.id)
        await check_ledger_exactly_once(fake, client.repository)
    assert done.status is sv.JobStatus.FAILED
    assert done.error is not None and done.error.code == "ambiguous_submission"
    assert "list shows no one job" in done.error.message
    assert fake.count("POST", "/v1/models/*") == 1 and fake.created_count() == 0


async def test_a_second_lost_create_of_the_same_request_adopts_the_unowned_prediction() -> None:
    async with replicate_client(max_concurrency=1) as client:
        fake = the_fake(client)
        fake.inject(reset=True, phase="after", match="POST /v1/models/*", times=2)
        first = await client.videos.create_video(request("a fox", model=VEO))
        second = await client.videos.create_video(request("a fox", model=VEO))
        done = [await client.videos.wait_for_job(j.id) for j in (first, second)]
        await check_ledger_exactly_once(fake, client.repository)
    # Both listed predictions fit the second job, but the first job owns one of them.
    assert [j.status for j in done] == [sv.JobStatus.COMPLETED] * 2
    assert sorted(j.remote_id or "" for j in done) == sorted(fake.created_ids())
    assert fake.count("POST", "/v1/models/*") == 2


async def test_a_completed_video_with_nowhere_to_be_saved_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "soravideo"):
        async with replicate_client() as client:
            job = await client.videos.create_video(request("a fox", model=VEO))
            done = await client.videos.wait_for_job(job.id)
            await check_ledger_exactly_once(the_fake(client), client.repository)
    assert done.status is sv.JobStatus.COMPLETED
    assert done.result is not None and done.result.path is None and done.result.url
    (warning,) = [r for r in caplog.records if "no download_dir" in r.getMessage()]
    assert job.id in warning.getMessage() and "60 minutes" in warning.getMessage()


async def test_a_deadline_passed_before_the_start_fails_the_job_as_aborted() -> None:
    clock = VirtualClock()
    fake = FakeReplicate(api_token=TOKEN, clock=clock, generation_time=60, queue_time=600)
    options = {"cancel_after": 120}
    async with replicate_client(fake, clock=clock, transport_options=options) as client:
        job = await client.videos.create_video(request("a fox", model=VEO))
        done = await client.videos.wait_for_job(job.id)
        await check_ledger_exactly_once(fake, client.repository)
    assert done.status is sv.JobStatus.FAILED
    assert done.error is not None and (done.error.code, done.error.retryable) == ("aborted", True)
    assert done.provider_status == "aborted"


async def test_a_new_process_resumes_a_job_from_its_prediction_id() -> None:
    clock = VirtualClock()
    fake = FakeReplicate(api_token=TOKEN, clock=clock, generation_time=60)
    repository = MemoryRepository()
    async with replicate_client(fake, repository, clock) as first:
        job = await first.videos.create_video(request("a fox", model=VEO))
        while (await first.videos.get_job(job.id)).remote_id is None:
            await clock.sleep(1)
    async with replicate_client(fake, repository, clock) as second:
        await second.resume()
        done = await second.videos.wait_for_job(job.id)
        await check_ledger_exactly_once(fake, repository)
    assert done.status is sv.JobStatus.COMPLETED and fake.created_count() == 1
