"""[W2-4] A job created by a client whose engine runs beside it is added already leased to
that engine (``SupportsAddClaimed``): no claim a job on SQLite when jobs are created one at a
time; the claim path as before whenever a claim would take another job first, or a callback
follows "created"."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest

import soravideo as sv
from soravideo.repositories import SQLiteRepository
from soravideo.testing import check_ledger_exactly_once

pytestmark = pytest.mark.anyio


class Counting(SQLiteRepository):
    """A SQLite ledger that counts claims and adds made already leased."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.claims = 0
        self.leased: list[str] = []
        self.unleased: list[str] = []

    async def claim_jobs(self, owner: str, **kwargs: Any) -> list[sv.Job]:
        self.claims += 1
        return await super().claim_jobs(owner, **kwargs)

    async def add_job_claimed(
        self, job: sv.Job, *, owner: str, lease_seconds: float, now: datetime
    ) -> sv.Job | None:
        got = await super().add_job_claimed(job, owner=owner, lease_seconds=lease_seconds, now=now)
        (self.leased if got is not None else self.unleased).append(job.id)
        return got


def requests(n: int) -> Sequence[sv.CreateVideoRequest]:
    return [sv.CreateVideoRequest(prompt=f"a fox, take {i}", duration=4) for i in range(n)]


async def test_jobs_created_one_at_a_time_need_no_claim(tmp_path: Path) -> None:
    repository = Counting(tmp_path / "jobs.db")
    async with sv.AsyncSoraVideo.simulated(repository=repository, max_concurrency=20) as client:
        jobs = [await client.videos.create_video(r) for r in requests(10)]
        claims_after_creates = repository.claims
        done = [await client.videos.wait_for_job(job.id) for job in jobs]
        assert {job.status for job in done} == {sv.JobStatus.COMPLETED}
        assert client.fake is not None
        await check_ledger_exactly_once(client.fake, repository)
    # The first jobs may be made before the engine runs, or while one of those still waits
    # for its claim: they are claimed. Every job after the first one leased at its add is
    # leased at its add too (room for all of them), and needs no claim. Before, each of
    # the ten needed a claim of its own.
    ids = [job.id for job in jobs]
    leased = repository.leased
    assert leased
    assert leased == ids[len(ids) - len(leased) :]
    assert claims_after_creates <= len(ids) - len(leased) + 1


async def test_past_the_engine_s_room_jobs_wait_for_a_claim_in_order(tmp_path: Path) -> None:
    repository = Counting(tmp_path / "jobs.db")
    async with sv.AsyncSoraVideo.simulated(repository=repository, max_concurrency=2) as client:
        jobs = [await client.videos.create_video(r) for r in requests(6)]
        done = [await client.videos.wait_for_job(job.id) for job in jobs]
        assert {job.status for job in done} == {sv.JobStatus.COMPLETED}
        assert client.fake is not None
        await check_ledger_exactly_once(client.fake, repository)
        # Sent in the order they were created: those left for a claim kept their turn.
        created = [json.loads(r.body)["prompt"] for r in client.fake.requests if r.tag == "created"]
        assert created == [job.request.prompt for job in jobs]
    assert len(repository.leased) <= 2  # the engine's room; the others went through claims
    assert repository.claims > 0


async def test_a_created_callback_keeps_the_claim_path_and_runs_first(tmp_path: Path) -> None:
    repository = Counting(tmp_path / "jobs.db")
    seen: list[tuple[str, str]] = []
    async with sv.AsyncSoraVideo.simulated(repository=repository, max_concurrency=8) as client:

        async def note(event: sv.JobEvent) -> None:
            seen.append((event.kind, event.job.id))

        client.on("created", note)
        client.on("submitted", note)
        jobs = [await client.videos.create_video(r) for r in requests(3)]
        for job in jobs:
            await client.videos.wait_for_job(job.id)
        assert client.fake is not None
        await check_ledger_exactly_once(client.fake, repository)
    assert repository.leased == repository.unleased == []
    for job in jobs:
        assert seen.index(("created", job.id)) < seen.index(("submitted", job.id))


async def test_one_job_on_an_idle_engine_is_sent_at_once(tmp_path: Path) -> None:
    # Nothing else keeps the dispatcher awake: the job leased at its add must wake it.
    repository = Counting(tmp_path / "jobs.db")
    async with sv.AsyncSoraVideo.simulated(repository=repository) as client:
        await client.videos.list_jobs()  # the engine runs, idle
        with anyio.fail_after(30):
            job = await client.videos.create_video(requests(1)[0])
            done = await client.videos.wait_for_job(job.id)
        assert done.status is sv.JobStatus.COMPLETED
        assert client.fake is not None
        await check_ledger_exactly_once(client.fake, repository)
    assert repository.leased == [job.id]


class Slow(Counting):
    """Holds each add_job_claimed call until told to go on."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.entered = anyio.Event()
        self.go = anyio.Event()

    async def add_job_claimed(
        self, job: sv.Job, *, owner: str, lease_seconds: float, now: datetime
    ) -> sv.Job | None:
        self.entered.set()
        await self.go.wait()
        return await super().add_job_claimed(job, owner=owner, lease_seconds=lease_seconds, now=now)


async def test_an_engine_stopping_during_the_add_gives_the_lease_back(tmp_path: Path) -> None:
    # The engine stops (its queue already given back) while a create's add is on its way:
    # the job it leased is not queued in the stopped engine, and its lease goes back, so any
    # engine may claim it at once.
    repository = Slow(tmp_path / "jobs.db")
    client = sv.AsyncSoraVideo.simulated(repository=repository)
    runner = await client._started()
    created: list[sv.Job] = []
    stopped = anyio.Event()
    async with anyio.create_task_group() as tg:
        engine = anyio.CancelScope()

        async def run_engine() -> None:
            try:
                with engine:
                    await runner.run_forever()
            finally:
                stopped.set()

        async def create() -> None:
            created.append(await client.videos.create_video(requests(1)[0]))

        with anyio.fail_after(10):
            tg.start_soon(run_engine)
            await anyio.wait_all_tasks_blocked()
            assert runner._background  # the engine runs in the background: the add leases
            tg.start_soon(create)
            await repository.entered.wait()
            engine.cancel()
            await stopped.wait()
        repository.go.set()
    [job] = created
    assert repository.leased == [job.id]  # leased by the add...
    taken = await repository.claim_jobs(
        "other", limit=1, lease_seconds=30, now=datetime.now(timezone.utc)
    )
    assert [j.id for j in taken] == [job.id]  # ...and given back
    await client.aclose()
