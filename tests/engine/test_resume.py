"""Picking work up again: ``client.resume()``, downloads that outlive their process, batch keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import soravideo as sv
from helpers import assert_created_once, requests
from soravideo.repositories import MemoryRepository, SQLiteRepository

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


# -- batch keys: the same batch script run again picks its batch up -------------------------


async def test_a_known_key_returns_the_same_batch_and_stores_and_sends_nothing(
    client: sv.AsyncSoraVideo,
) -> None:
    request = batch(4, name="ads", concurrency=2)
    created = await client.batches.create_batch(request, key="ads-2026-12")
    again = await client.batches.create_batch(request, key="ads-2026-12")
    assert again == created
    assert (await client.videos.list_jobs()).total == 4
    assert (await client.batches.list_batches()).total == 1
    assert (await client.batches.get_batch_status(created.batch_id)).batch.key == "ads-2026-12"
    done = await client.batches.process_batch(again.batch_id)
    assert done.status is sv.BatchStatus.COMPLETED
    # Once it has ended too: still that batch, nothing new.
    assert await client.batches.create_batch(request, key="ads-2026-12") == created
    assert client.fake is not None
    assert_created_once(client.fake, 4)


async def test_a_different_request_under_a_known_key_is_a_conflict(
    client: sv.AsyncSoraVideo,
) -> None:
    await client.batches.create_batch(batch(2, name="ads"), key="ads-2026-12")
    for other in (batch(3, name="ads"), batch(2, name="ads", concurrency=1), batch(2)):
        with pytest.raises(sv.ConflictError, match="ads-2026-12"):
            await client.batches.create_batch(other, key="ads-2026-12")
    assert (await client.videos.list_jobs()).total == 2
    # Another key is another batch.
    await client.batches.create_batch(batch(3, name="ads"), key="ads-2027-01")
    assert (await client.batches.list_batches()).total == 2


async def test_a_blank_key_is_refused(client: sv.AsyncSoraVideo) -> None:
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch(batch(1), key=" ")
    assert info.value.fields == ("key",)


class _RaceLedger(MemoryRepository):
    """A ledger where a rival stores its batch right after our first look for the key."""

    rival: Callable[[], Awaitable[None]] | None = None

    async def get_batch_by_key(self, key: str) -> sv.Batch | None:
        if self.rival is not None:
            rival, self.rival = self.rival, None
            await rival()
            return None  # what we saw: the key was free when we looked
        return await super().get_batch_by_key(key)


@pytest.mark.parametrize("same", [True, False])
async def test_the_loser_of_a_race_for_a_key_returns_the_winners_batch(same: bool) -> None:
    ledger = _RaceLedger()
    winner = sv.AsyncSoraVideo.simulated(repository=ledger)
    loser = sv.AsyncSoraVideo.simulated(repository=ledger)
    won: list[sv.BatchResult] = []

    async def win() -> None:
        won.append(await winner.batches.create_batch(batch(3), key="k"))

    ledger.rival = win
    try:
        if same:
            assert await loser.batches.create_batch(batch(3), key="k") == won[0]
        else:
            with pytest.raises(sv.ConflictError, match="'k'"):
                await loser.batches.create_batch(batch(2), key="k")
        assert won and (await winner.videos.list_jobs()).total == 3
        assert (await winner.batches.list_batches()).total == 1
    finally:
        await loser.aclose()
        await winner.aclose()


async def test_a_keyed_batch_created_again_after_a_crash_carries_on(tmp_path: Path) -> None:
    db, manifest = tmp_path / "ledger.db", tmp_path / "prompts.csv"
    manifest.write_text("prompt\n" + "".join(f"a paper boat take {i}\n" for i in range(4)))
    first = simulated(db)
    created = await first.batches.create_batch_from_file(manifest, key="boats", concurrency=2)
    await first.aclose()  # killed before it processed anything

    async with simulated(db) as second:
        again = await second.batches.create_batch_from_file(manifest, key="boats", concurrency=2)
        assert again == created
        done = await second.batches.process_batch(again.batch_id)
        assert done.status is sv.BatchStatus.COMPLETED
        assert (await second.videos.list_jobs()).total == 4
        assert second.fake is not None
        assert_created_once(second.fake, 4)
        with pytest.raises(sv.ConflictError):
            await second.batches.create_batch_from_file(manifest, key="boats", concurrency=3)


async def test_a_download_that_fails_on_resume_leaves_the_job_completed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db, out = tmp_path / "ledger.db", tmp_path / "out"
    first = simulated(db)
    created = await first.batches.create_batch(batch(1))
    await first.aclose()

    async with simulated(db) as second:
        assert second.fake is not None
        # Only the content fails (404: the provider no longer has it); polling works.
        second.fake.inject(status=404, match="GET /videos/*/content*", times=None, rate=1.0)
        assert await second.resume(download_dir=out) == sv.ResumeSummary(jobs=1, batches=1)
        job = await second.videos.get_job(created.job_ids[0])
    assert job.status is sv.JobStatus.COMPLETED and job.result is not None
    assert job.result.path is None and files(out) == []
    assert "could not download" in caplog.text


async def test_an_error_while_resuming_is_raised_as_itself(tmp_path: Path) -> None:
    # Not wrapped in an ExceptionGroup from the tasks resume() runs side by side.
    db = tmp_path / "ledger.db"
    first = simulated(db)
    created = await first.batches.create_batch(batch(2))
    await first.videos.create_video(sv.CreateVideoRequest(prompt="a lone heron"))
    await first.aclose()

    class Broken(SQLiteRepository):
        async def get_batch(self, batch_id: str) -> sv.Batch:
            raise sv.RepositoryError(f"cannot read batch {batch_id}")

    second = sv.AsyncSoraVideo.simulated(repository=Broken(db), generation_time=60)
    try:
        with pytest.raises(sv.RepositoryError, match=created.batch_id):
            await second.resume()
    finally:
        await second.aclose()
