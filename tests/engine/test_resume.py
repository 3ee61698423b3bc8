"""Picking work up again: ``client.resume()``, downloads that outlive their process, batch keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import soravideo as sv
from helpers import assert_created_once, requests
from soravideo.repositories import SQLiteRepository

pytestmark = pytest.mark.anyio


def batch(n: int, **fields: Any) -> sv.BatchVideoRequest:
    return sv.BatchVideoRequest(videos=requests(n), **fields)


def simulated(db: Path, **settings: Any) -> sv.AsyncSoraVideo:
    return sv.AsyncSoraVideo.simulated(
        repository=SQLiteRepository(db), generation_time=60, **settings
    )


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


async def test_a_job_downloads_where_it_was_created_to_in_a_later_process(
    tmp_path: Path,
) -> None:
    db, out = tmp_path / "ledger.db", tmp_path / "out"
    first = simulated(db, download_dir=out)
    created = await first.batches.create_batch(batch(3))
    await first.aclose()  # stopped before processing, as a crash would

    async with simulated(db) as second:  # no download_dir of its own
        done = await second.batches.process_batch(created.batch_id)
        jobs = (await second.batches.get_batch_status(created.batch_id)).jobs
    assert done.status is sv.BatchStatus.COMPLETED
    assert files(out) == sorted(f"{job_id}.mp4" for job_id in created.job_ids)
    assert all(job.result is not None and job.result.path for job in jobs)
    assert all(job.download_dir == str(out) for job in jobs)


async def test_resume_sees_every_unfinished_batch_and_job_through(tmp_path: Path) -> None:
    db, out = tmp_path / "ledger.db", tmp_path / "out"
    first = simulated(db, download_dir=out)
    one = await first.batches.create_batch(batch(3))
    two = await first.batches.create_batch(batch(2))
    loose = await first.videos.create_video(sv.CreateVideoRequest(prompt="a lone heron"))
    await first.aclose()

    second = simulated(db)
    try:
        summary = await second.resume()
        assert summary == sv.ResumeSummary(jobs=6, batches=2)
        for created in (one, two):
            batch_now = await second.batches.get_batch_status(created.batch_id)
            assert batch_now.batch.status is sv.BatchStatus.COMPLETED
        assert (await second.videos.get_job(loose.id)).status is sv.JobStatus.COMPLETED
        assert second.fake is not None
        assert_created_once(second.fake, 6)
        assert len(files(out)) == 6
        # Nothing left: a second resume has nothing to do.
        assert await second.resume() == sv.ResumeSummary(jobs=0, batches=0)
    finally:
        await second.aclose()


async def test_resume_downloads_into_the_directory_it_is_given(tmp_path: Path) -> None:
    db, out = tmp_path / "ledger.db", tmp_path / "out"
    first = simulated(db)  # created without any download directory
    created = await first.batches.create_batch(batch(2))
    loose = await first.videos.create_video(sv.CreateVideoRequest(prompt="a lone heron"))
    await first.aclose()

    async with simulated(db) as second:
        assert await second.resume(download_dir=out) == sv.ResumeSummary(jobs=3, batches=1)
        loose_now = await second.videos.get_job(loose.id)
    assert files(out) == sorted(f"{j}.mp4" for j in (*created.job_ids, loose.id))
    assert loose_now.result is not None and loose_now.result.path == str(out / f"{loose.id}.mp4")


async def test_resume_finalizes_a_batch_whose_jobs_had_all_ended(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    async with simulated(db) as first:
        created = await first.batches.create_batch(batch(2))
        for job_id in created.job_ids:
            await first.videos.cancel_job(job_id)
    # The batch is still "pending" although every job has ended (a crash before the end).
    async with simulated(db) as second:
        assert await second.resume() == sv.ResumeSummary(jobs=0, batches=1)
        report = await second.batches.get_batch_status(created.batch_id)
    assert report.batch.status is sv.BatchStatus.CANCELLED


def test_the_sync_client_resumes_too(tmp_path: Path) -> None:
    db, out = tmp_path / "ledger.db", tmp_path / "out"
    with sv.SoraVideo.simulated(repository=SQLiteRepository(db), download_dir=out) as first:
        created = first.batches.create_batch(batch(2))
    with sv.SoraVideo.simulated(repository=SQLiteRepository(db)) as second:
        assert second.resume() == sv.ResumeSummary(jobs=2, batches=1)
        assert second.batches.get_batch_status(created.batch_id).batch.status is (
            sv.BatchStatus.COMPLETED
        )
    assert len(files(out)) == 2
