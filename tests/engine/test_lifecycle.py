"""The whole life cycle of single videos, on every built-in ledger, through the async facade."""

from __future__ import annotations

import hashlib
from pathlib import Path

import anyio
import pytest

import soravideo as sv
from helpers import assert_created_once, assert_exactly_once, request

pytestmark = pytest.mark.anyio


async def test_create_wait_result_download(client: sv.AsyncSoraVideo, tmp_path: Path) -> None:
    job = await client.videos.create_video(request(duration=8, metadata={"team": "ads"}))
    assert job.status is sv.JobStatus.PENDING
    assert job.remote_id is None
    assert job.estimated_cost_usd == pytest.approx(0.8)  # sora-2, 8 s at $0.10/s
    assert job.metadata == {"team": "ads"}

    done = await client.videos.wait_for_job(job.id, timeout=600)
    assert done.status is sv.JobStatus.COMPLETED
    assert done.progress == 100
    assert done.remote_id is not None
    assert done.attempts == 1
    assert done.error is None
    assert done.started_at is not None and done.completed_at is not None
    assert done.created_at <= done.started_at <= done.completed_at
    assert done.updated_at == done.completed_at

    result = await client.videos.get_video_result(job.id)
    assert result.remote_id == done.remote_id
    assert result.expires_at is not None and result.expires_at > done.completed_at

    path = await client.videos.download_video(job.id, tmp_path / "fox.mp4")
    data = path.read_bytes()
    assert data[4:8] == b"ftyp"
    stored = (await client.videos.get_job(job.id)).result
    assert stored is not None
    assert stored.path == str(path)
    assert stored.bytes == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.content_type == "video/mp4"
    assert not list(tmp_path.glob(".*.part"))

    thumb = await client.videos.download_video(job.id, tmp_path, variant="thumbnail")
    assert thumb.name == f"{job.id}.webp"
    assert thumb.read_bytes()[:4] == b"RIFF"
    assert client.fake is not None
    assert_created_once(client.fake, 1)


async def test_events_are_emitted_in_order(client: sv.AsyncSoraVideo) -> None:
    seen: list[tuple[str, str]] = []

    async def record(event: sv.JobEvent) -> None:
        seen.append((event.kind, event.job.status.value))

    client.on("*", record)
    job = await client.videos.create_video(request())
    await client.videos.wait_for_job(job.id)
    kinds = [k for k, _ in seen]
    assert kinds[0] == "created"
    assert kinds[1] == "submitted"
    assert kinds[-1] == "completed"
    assert set(kinds[2:-1]) <= {"progress"}
    assert seen[-1] == ("completed", "completed")


async def test_a_failed_job_is_returned_not_raised(client: sv.AsyncSoraVideo) -> None:
    assert client.fake is not None
    job = await client.videos.create_video(request(f"a cat {client.fake.failing_prompt}"))
    done = await client.videos.wait_for_job(job.id)
    assert done.status is sv.JobStatus.FAILED
    assert done.error is not None
    assert done.error.code == "moderation_blocked"
    assert done.error.retryable is False
    with pytest.raises(sv.JobStateError):
        await client.videos.get_video_result(job.id)
    with pytest.raises(sv.JobStateError):
        await client.videos.download_video(job.id, "never.mp4")


async def test_unknown_ids_raise_not_found(client: sv.AsyncSoraVideo) -> None:
    for call in (
        client.videos.get_job,
        client.videos.wait_for_job,
        client.videos.cancel_job,
        client.videos.get_video_result,
    ):
        with pytest.raises(sv.JobNotFoundError) as info:
            await call("job_missing")
        assert info.value.job_id == "job_missing"


async def test_validation_names_every_field_and_stores_nothing(client: sv.AsyncSoraVideo) -> None:
    bad = sv.CreateVideoRequest(
        prompt="  ",
        duration=0,
        resolution="999p",
        size="huge",
        metadata={"a": 1},  # type: ignore[dict-item]
    )
    with pytest.raises(sv.ValidationError) as info:
        await client.videos.create_video(bad)
    assert set(info.value.fields) == {"prompt", "duration", "resolution", "size", "metadata"}
    page = await client.videos.list_jobs()
    assert page.total == 0
    assert client.fake is not None
    assert client.fake.count() == 0


async def test_provider_limits_are_validated_before_anything_is_stored(
    client: sv.AsyncSoraVideo,
) -> None:
    with pytest.raises(sv.ValidationError) as info:
        await client.videos.create_video(request(model="sora-2", duration=7, size="640x480"))
    assert set(info.value.fields) == {"duration", "size"}
    assert (await client.videos.list_jobs()).total == 0


async def test_wait_timeout_raises_and_can_cancel(client: sv.AsyncSoraVideo) -> None:
    job = await client.videos.create_video(request())
    with pytest.raises(sv.JobTimeoutError) as info:
        await client.videos.wait_for_job(job.id, timeout=5)
    assert isinstance(info.value, TimeoutError)
    assert info.value.status == "processing"
    # Without cancel_on_timeout the job keeps going.
    assert (await client.videos.get_job(job.id)).status is sv.JobStatus.PROCESSING
    with pytest.raises(sv.JobTimeoutError):
        await client.videos.wait_for_job(job.id, timeout=5, cancel_on_timeout=True)
    cancelled = await client.videos.get_job(job.id)
    assert cancelled.status is sv.JobStatus.CANCELLED
    assert client.fake is not None
    assert client.fake.deleted_ids() == [cancelled.remote_id]


async def test_cancel_pending_is_never_sent(ledger: object) -> None:
    # One slot, taken by a long job: the second stays pending until cancelled.
    async with sv.AsyncSoraVideo.simulated(
        repository=ledger(),
        max_concurrency=1,
        generation_time=600,  # type: ignore[operator]
    ) as client:
        first = await client.videos.create_video(request("first"))
        second = await client.videos.create_video(request("second"))
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(first.id, timeout=10)
        assert (await client.videos.get_job(second.id)).status is sv.JobStatus.PENDING
        cancelled = await client.videos.cancel_job(second.id)
        assert cancelled.status is sv.JobStatus.CANCELLED
        assert cancelled.completed_at is not None
        done = await client.videos.wait_for_job(first.id)
        assert done.status is sv.JobStatus.COMPLETED
        assert client.fake is not None
        assert_created_once(client.fake, 1)
        assert client.fake.deleted_ids() == []
        await assert_exactly_once(client)


async def test_cancel_in_flight_deletes_at_provider_and_terminal_is_final(
    client: sv.AsyncSoraVideo,
) -> None:
    job = await client.videos.create_video(request())
    with pytest.raises(sv.JobTimeoutError):
        await client.videos.wait_for_job(job.id, timeout=10)
    cancelled = await client.videos.cancel_job(job.id)
    assert cancelled.status is sv.JobStatus.CANCELLED
    assert client.fake is not None
    assert client.fake.deleted_ids() == [cancelled.remote_id]
    assert (await client.videos.wait_for_job(job.id)).status is sv.JobStatus.CANCELLED
    with pytest.raises(sv.JobStateError):
        await client.videos.cancel_job(job.id)
    await assert_exactly_once(client)


async def test_list_jobs_filters_and_pages(client: sv.AsyncSoraVideo) -> None:
    assert client.fake is not None
    ids = [(await client.videos.create_video(request(f"v{i}"))).id for i in range(5)]
    bad = await client.videos.create_video(request(f"x {client.fake.failing_prompt}"))
    for job_id in [*ids, bad.id]:
        await client.videos.wait_for_job(job_id)
    page = await client.videos.list_jobs(status="completed", page=1, limit=2)
    assert (page.total, page.pages, page.has_next, len(page.items)) == (5, 3, True, 2)
    assert all(j.status is sv.JobStatus.COMPLETED for j in page.items)
    last = await client.videos.list_jobs(status=sv.JobStatus.COMPLETED, page=3, limit=2)
    assert (len(last.items), last.has_next) == (1, False)
    failed = await client.videos.list_jobs(status=sv.JobStatus.FAILED)
    assert [j.id for j in failed.items] == [bad.id]
    with pytest.raises(sv.ValidationError) as info:
        await client.videos.list_jobs(status="done", page=0, limit=0)
    assert set(info.value.fields) == {"status", "page", "limit"}


async def test_remix_creates_a_new_job_from_a_finished_one(client: sv.AsyncSoraVideo) -> None:
    source = await client.videos.create_video(request())
    pending_remix_source = source
    with pytest.raises(sv.JobStateError):
        await client.videos.remix_video(pending_remix_source.id, "now with snow")
    source = await client.videos.wait_for_job(source.id)
    remix = await client.videos.remix_video(source.id, "now with snow")
    assert remix.request.prompt == "now with snow"
    done = await client.videos.wait_for_job(remix.id)
    assert done.status is sv.JobStatus.COMPLETED
    assert client.fake is not None
    assert client.fake.video(done.remote_id or "")["remixed_from_video_id"] == source.remote_id
    await assert_exactly_once(client)


async def test_download_dir_downloads_on_completion(ledger: object, tmp_path: Path) -> None:
    out = tmp_path / "videos"
    async with sv.AsyncSoraVideo.simulated(repository=ledger(), download_dir=out) as client:  # type: ignore[operator]
        job = await client.videos.create_video(request())
        done = await client.videos.wait_for_job(job.id)
        await assert_exactly_once(client)
    assert done.result is not None
    assert done.result.path == str(out / f"{job.id}.mp4")
    data = (out / f"{job.id}.mp4").read_bytes()
    assert done.result.bytes == len(data)
    assert done.result.sha256 == hashlib.sha256(data).hexdigest()


async def test_authentication_error_fails_the_job_without_retry(ledger: object) -> None:
    async with sv.AsyncSoraVideo.simulated(repository=ledger()) as client:  # type: ignore[operator]
        assert client.fake is not None
        client.fake.inject(status=401, match="POST /videos", times=None, code="invalid_api_key")
        job = await client.videos.create_video(request())
        done = await client.videos.wait_for_job(job.id)
        assert done.status is sv.JobStatus.FAILED
        assert done.error is not None and done.error.retryable is False
        assert client.fake.count("POST", "/videos") == 1
        await assert_exactly_once(client)


async def test_server_errors_on_create_are_retried_then_succeed(ledger: object) -> None:
    async with sv.AsyncSoraVideo.simulated(repository=ledger(), max_retries=3) as client:  # type: ignore[operator]
        assert client.fake is not None
        client.fake.inject(status=503, match="POST /videos", times=2)
        job = await client.videos.create_video(request())
        done = await client.videos.wait_for_job(job.id)
        assert done.status is sv.JobStatus.COMPLETED
        assert_created_once(client.fake, 1)
        await assert_exactly_once(client)


async def test_an_ambiguous_create_is_reconciled_not_resent(ledger: object) -> None:
    async with sv.AsyncSoraVideo.simulated(repository=ledger()) as client:  # type: ignore[operator]
        assert client.fake is not None
        # The connection breaks after the fake created the video: the outcome is unknown.
        client.fake.inject(reset=True, phase="after", match="POST /videos", times=1)
        job = await client.videos.create_video(request())
        done = await client.videos.wait_for_job(job.id)
        assert done.status is sv.JobStatus.COMPLETED
        assert_created_once(client.fake, 1)
        await assert_exactly_once(client)


@pytest.mark.anyio
async def test_closing_from_another_task_than_the_async_with_is_refused_clearly() -> None:
    client = sv.AsyncSoraVideo.simulated()
    errors: list[BaseException] = []

    async def close_elsewhere() -> None:
        try:
            await client.aclose()
        except RuntimeError as exc:
            errors.append(exc)

    async with client:
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="a heron"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(close_elsewhere)
        # Nothing was closed: the client still works, and its own block closes it.
        assert (await client.videos.wait_for_job(job.id)).status is sv.JobStatus.COMPLETED
    assert len(errors) == 1
    assert "in the task that entered `async with` it" in str(errors[0])
