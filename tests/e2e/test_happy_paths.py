"""Happy paths through the public API, against FakeSora on a loopback port and a SQLite ledger:
create → wait → result → download; a batch watched while it runs; cancel; remix."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from datetime import datetime, timezone
from pathlib import Path

import anyio
import attrs
import pytest

import soravideo as sv
from helpers import (
    AsyncClientFactory,
    ClientFactory,
    assert_created_once,
    assert_distinct_remote_ids,
    logged,
    read_ledger,
    requests,
)
from soravideo.testing import FakeSora


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def test_create_wait_result_download_checks_every_field(
    make_client: ClientFactory, fake: FakeSora, ledger_path: Path, tmp_path: Path
) -> None:
    req = sv.CreateVideoRequest(
        prompt="a red fox in the snow",
        duration=8,
        size="1280x720",
        priority="high",
        metadata={"owner": "e2e"},
    )
    with make_client() as client:
        created = client.videos.create_video(req)
        # Whole objects compared, so every field is checked (a new one too).
        assert created == sv.Job(
            id=created.id,
            status=sv.JobStatus.PENDING,
            request=req,
            provider="sora",
            priority=sv.JobPriority.HIGH,
            metadata={"owner": "e2e"},
            estimated_cost_usd=0.8,  # 8 s of sora-2 at $0.10
            created_at=created.created_at,
            updated_at=created.created_at,
        )
        assert created.id.startswith("job_") and created.created_at.tzinfo is not None

        done = client.videos.wait_for_job(created.id, timeout=10)
        assert done.remote_id is not None and done.remote_id.startswith("video_")
        remote = fake.video(done.remote_id)
        result = sv.VideoResult(remote_id=done.remote_id, expires_at=_utc(remote["expires_at"]))
        assert done == attrs.evolve(
            created,
            status=sv.JobStatus.COMPLETED,
            remote_id=done.remote_id,
            progress=100,
            attempts=1,
            result=result,
            provider_status="completed",
            started_at=done.started_at,
            completed_at=done.completed_at,
            updated_at=done.updated_at,
        )
        assert done.started_at is not None and done.completed_at is not None
        assert created.created_at <= done.started_at <= done.completed_at <= done.updated_at

        # What the provider was asked for, and what it says now.
        assert remote["status"] == "completed"
        assert (remote["prompt"], remote["seconds"], remote["size"], remote["model"]) == (
            "a red fox in the snow",
            "8",
            "1280x720",
            "sora-2",
        )
        (create,) = logged(fake, "POST")
        assert create.status == 200 and create.tag == "created"
        assert create.headers.get("idempotency-key"), "every create carries an Idempotency-Key"
        assert create.headers["authorization"] == "Bearer <redacted>"

        assert client.videos.get_video_result(done.id) == result

        path = client.videos.download_video(done.id, tmp_path / "fox.mp4")
        data = path.read_bytes()
        assert path == tmp_path / "fox.mp4"
        assert data[4:8] == b"ftyp" and len(data) > fake.content_bytes
        downloaded = client.videos.get_job(done.id)
        assert downloaded == attrs.evolve(
            done,
            result=attrs.evolve(
                result,
                path=str(path),
                content_type="video/mp4",
                bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            ),
            updated_at=downloaded.updated_at,
        )
        assert downloaded.updated_at >= done.updated_at

    # The ledger on disk says the same once the client is gone.
    (stored,) = read_ledger(ledger_path)
    assert stored == downloaded
    assert_created_once(fake, 1)
    assert fake.count(route="content") == 1


@pytest.mark.anyio
async def test_batch_of_five_with_progress_watched_from_another_task(
    make_async_client: AsyncClientFactory, fake: FakeSora
) -> None:
    # Staggered generations, so the batch is seen part-done while it runs.
    fake.generation_time = lambda params: 0.2 + 0.12 * int(str(params["prompt"]).split()[-1])
    client = make_async_client(max_concurrency=5)
    changes_in, changes_out = anyio.create_memory_object_stream[str](100)

    async def on_event(event: sv.JobEvent) -> None:
        # Events after the watcher stopped have no reader: nothing to tell.
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await changes_in.send(event.kind)

    client.on("*", on_event)
    seen: list[sv.BatchProgress] = []
    async with client:
        created = await client.batches.create_batch(
            sv.BatchVideoRequest(
                videos=requests(5, prefix="batch video"),
                name="five",
                concurrency=5,
                metadata={"run": "e2e"},
            )
        )
        assert created.total == 5 and len(created.job_ids) == 5

        async def watch() -> None:
            async with changes_out:
                async for _ in changes_out:
                    report = await client.batches.get_batch_status(created.batch_id)
                    seen.append(report.progress)
                    if report.progress.pending == 0:
                        return

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            batch = await client.batches.process_batch(created.batch_id)
        report = await client.batches.get_batch_status(created.batch_id)
    changes_in.close()

    assert batch.status is sv.BatchStatus.COMPLETED
    assert (batch.id, batch.name, batch.job_ids) == (created.batch_id, "five", created.job_ids)
    assert (batch.metadata, batch.concurrency, batch.budget_usd) == ({"run": "e2e"}, 5, None)
    assert batch.progress == sv.BatchProgress(total=5, completed=5, percentage=100.0)
    assert batch.completed_at is not None and batch.created_at <= batch.completed_at
    assert report.progress == batch.progress
    assert [j.id for j in report.jobs] == list(created.job_ids)
    assert all(j.status is sv.JobStatus.COMPLETED for j in report.jobs)
    assert all(j.batch_id == created.batch_id for j in report.jobs)
    assert_distinct_remote_ids(list(report.jobs))
    # Watched while it ran: progress only grows, and it was seen part-done.
    done = [p.completed for p in seen]
    assert done == sorted(done), done
    assert any(0 < p.percentage < 100 for p in seen), seen
    assert seen[-1].percentage == 100.0
    assert fake.peak_concurrency() >= 2  # the videos ran side by side
    assert_created_once(fake, 5)


def test_cancel_while_processing_deletes_the_remote_video(
    make_client: ClientFactory, fake: FakeSora
) -> None:
    fake.generation_time = 3.0  # still generating when cancelled
    client = make_client()
    moved = threading.Event()
    # Polls come at least every poll_max_interval, so progress shows within a fraction of 3 s.
    client.on("progress", lambda event: event.job.progress > 0 and moved.set())
    with client:
        job = client.videos.create_video(sv.CreateVideoRequest(prompt="a long sunset"))
        assert moved.wait(5), "no progress was recorded while the video was generating"
        processing = client.videos.get_job(job.id)
        assert processing.status is sv.JobStatus.PROCESSING and processing.remote_id
        assert 0 < processing.progress < 100  # the ledger has it, not only the event

        cancelled = client.videos.cancel_job(job.id)
        assert cancelled.status is sv.JobStatus.CANCELLED
        assert cancelled.remote_id == processing.remote_id
        assert cancelled.completed_at is not None and cancelled.result is None
        assert cancelled.progress >= processing.progress
        assert client.videos.wait_for_job(job.id, timeout=5) == client.videos.get_job(job.id)
        assert client.videos.get_job(job.id).status is sv.JobStatus.CANCELLED
        with pytest.raises(sv.JobStateError):
            client.videos.cancel_job(job.id)
        with pytest.raises(sv.JobStateError):
            client.videos.get_video_result(job.id)

    (delete,) = logged(fake, "DELETE", f"/videos/{processing.remote_id}")
    assert (delete.status, delete.tag) == (200, "cancelled")
    assert fake.cancelled_ids() == [processing.remote_id]
    assert_created_once(fake, 1)


def test_remix_of_a_completed_video(make_client: ClientFactory, fake: FakeSora) -> None:
    with make_client() as client:
        source = client.videos.create_video(sv.CreateVideoRequest(prompt="a fox", duration=4))
        with pytest.raises(sv.JobStateError):
            client.videos.remix_video(source.id, "too early")
        source = client.videos.wait_for_job(source.id, timeout=10)
        remix = client.videos.remix_video(source.id, "the same fox, at night")
        assert remix.status is sv.JobStatus.PENDING and remix.id != source.id
        assert remix.request == attrs.evolve(source.request, prompt="the same fox, at night")
        done = client.videos.wait_for_job(remix.id, timeout=10)

    assert done.status is sv.JobStatus.COMPLETED
    assert done.remote_id not in (None, source.remote_id)
    (call,) = logged(fake, "POST", f"/videos/{source.remote_id}/remix")
    assert (call.status, call.tag, call.json()) == (200, "created", {"prompt": done.request.prompt})
    remote = fake.video(str(done.remote_id))
    assert remote["remixed_from_video_id"] == source.remote_id
    assert remote["prompt"] == "the same fox, at night"
    assert_created_once(fake, 2)
