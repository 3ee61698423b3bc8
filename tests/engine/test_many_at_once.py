"""[W2-4] ``create_videos`` (many single jobs in one ledger write, all or nothing) and
``as_completed`` (each job as it ends), async and sync."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import soravideo as sv
from helpers import request
from soravideo.repositories import MemoryRepository
from soravideo.testing import check_exactly_once, check_ledger_exactly_once

TIMES = {"slow": 90.0, "fast": 10.0, "mid": 40.0}


class CountingWrites(MemoryRepository):
    """A memory ledger that counts ``add_jobs`` calls."""

    def __init__(self) -> None:
        super().__init__()
        self.adds = 0

    async def add_jobs(self, jobs: Sequence[sv.Job], *, batch: sv.Batch | None = None) -> None:
        self.adds += 1
        await super().add_jobs(jobs, batch=batch)


@pytest.mark.anyio
async def test_create_videos_stores_every_job_in_one_write() -> None:
    repository = CountingWrites()
    async with sv.AsyncSoraVideo.simulated(repository=repository, max_concurrency=8) as client:
        jobs = await client.videos.create_videos([request(f"fox {i}") for i in range(20)])
        assert repository.adds == 1
        assert [job.request.prompt for job in jobs] == [f"fox {i}" for i in range(20)]
        assert {job.status for job in jobs} == {sv.JobStatus.PENDING}
        assert all(job.batch_id is None for job in jobs)
        done = [await client.videos.wait_for_job(job.id) for job in jobs]
    assert {job.status for job in done} == {sv.JobStatus.COMPLETED}
    assert client.fake is not None
    check_exactly_once(client.fake, done)


@pytest.mark.anyio
async def test_create_videos_is_all_or_nothing(client: sv.AsyncSoraVideo) -> None:
    with pytest.raises(sv.ValidationError) as info:
        await client.videos.create_videos([request("fine"), request("  "), request(prompt=3)])
    fields = [error.field for error in info.value.errors]
    assert fields == ["requests[1].prompt", "requests[2].prompt"]
    with pytest.raises(sv.ValidationError) as info:
        await client.videos.create_videos([request("fine"), "a fox"])  # type: ignore[list-item]
    assert [error.field for error in info.value.errors] == ["requests[1]"]
    with pytest.raises(sv.ValidationError) as info:
        await client.videos.create_videos("a fox")  # type: ignore[arg-type]
    assert [error.field for error in info.value.errors] == ["requests"]
    assert (await client.videos.list_jobs()).total == 0
    assert await client.videos.create_videos([]) == []
    assert client.fake is not None and client.fake.created_count() == 0


@pytest.mark.anyio
async def test_as_completed_yields_each_job_once_as_it_ends(client: sv.AsyncSoraVideo) -> None:
    assert client.fake is not None
    client.fake.generation_time = lambda params: TIMES.get(str(params["prompt"]), 60.0)
    jobs = await client.videos.create_videos([request(p) for p in ("slow", "fast", "mid")])
    failing = await client.videos.create_video(request("fail-moderation please"))
    ids = [job.id for job in jobs] + [failing.id, jobs[0].id]  # one id twice: comes once
    seen = [job async for job in client.videos.as_completed(ids)]
    assert sorted(job.id for job in seen) == sorted(set(ids))
    prompts = [job.request.prompt for job in seen if job.status is sv.JobStatus.COMPLETED]
    assert prompts == ["fast", "mid", "slow"]
    assert [job.status for job in seen if job.id == failing.id] == [sv.JobStatus.FAILED]
    # Jobs that already ended come at once.
    again = [job.id async for job in client.videos.as_completed(ids, timeout=0)]
    assert sorted(again) == sorted(set(ids))


@pytest.mark.anyio
async def test_as_completed_raises_at_its_deadline_and_the_jobs_go_on(
    client: sv.AsyncSoraVideo,
) -> None:
    jobs = await client.videos.create_videos([request("a"), request("b")])
    ids = [job.id for job in jobs]
    got: list[sv.Job] = []

    async def collect() -> None:
        async for job in client.videos.as_completed(ids, timeout=30):
            got.append(job)

    with pytest.raises(sv.JobTimeoutError) as info:
        await collect()
    assert got == []
    assert info.value.job_id == ids[0] and info.value.timeout == 30
    done = [await client.videos.wait_for_job(job_id) for job_id in ids]
    assert {job.status for job in done} == {sv.JobStatus.COMPLETED}


@pytest.mark.anyio
async def test_as_completed_checks_its_arguments_at_once(client: sv.AsyncSoraVideo) -> None:
    with pytest.raises(sv.ValidationError) as info:
        client.videos.as_completed(["job_ok", "not an id!", 3], timeout=-1)  # type: ignore[list-item]
    assert [e.field for e in info.value.errors] == ["job_ids[1]", "job_ids[2]", "timeout"]
    with pytest.raises(sv.ValidationError):
        client.videos.as_completed("job_ok")
    with pytest.raises(sv.JobNotFoundError):
        await client.videos.as_completed(["job_nowhere"]).__anext__()


@pytest.mark.anyio
async def test_as_completed_drives_the_engine_itself_and_may_stop_early() -> None:
    # No ``async with``: the iteration drives the engine while it waits, as wait_for_job does.
    client = sv.AsyncSoraVideo.simulated(max_concurrency=4)
    try:
        jobs = await client.videos.create_videos([request(f"fox {i}") for i in range(6)])
        ids = [job.id for job in jobs]
        stream = client.videos.as_completed(ids)
        first = await stream.__anext__()
        await stream.aclose()  # type: ignore[attr-defined]
        assert first.status is sv.JobStatus.COMPLETED
        rest = [job async for job in client.videos.as_completed(ids[::-1], timeout=3600)]
        assert len(rest) == 6
        assert client.fake is not None
        await check_ledger_exactly_once(client.fake, client.repository)
    finally:
        await client.aclose()


def test_the_sync_twins() -> None:
    with sv.SoraVideo.simulated() as client:
        jobs = client.videos.create_videos([request("fast"), request("slow")])
        assert client.fake is not None
        ids = [job.id for job in jobs]
        for job in client.videos.as_completed(ids):
            assert job.is_terminal
            break  # closed on the client's portal
        seen = [job.id for job in client.videos.as_completed(ids, timeout=600)]
        assert sorted(seen) == sorted(ids)
        with pytest.raises(sv.ValidationError):
            client.videos.create_videos([request(" ")])
        with pytest.raises(sv.ValidationError):
            client.videos.as_completed(["not an id!"])
        done = [client.videos.wait_for_job(job_id) for job_id in ids]
    check_exactly_once(client.fake, done)
