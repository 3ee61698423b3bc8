"""[W2-4] What one status refresh learns reaches the ledger in one call (``update_jobs``):
through the whole engine on SQLite, including a ledger that fails such a call midway."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import soravideo as sv
from helpers import requests
from soravideo.repositories import JobUpdate, SQLiteRepository
from soravideo.testing import check_exactly_once

pytestmark = pytest.mark.anyio


class Batches(SQLiteRepository):
    """A SQLite ledger that counts its ``update_jobs`` calls and the jobs they carry, and
    fails the first ``failing`` calls of two or more jobs at their last statement (a
    trigger raising, as a full disk would), after the statements before it ran."""

    def __init__(self, path: Path, *, failing: int = 0) -> None:
        super().__init__(path)
        self.calls = 0
        self.jobs = 0
        self.failing = failing
        self.failed = 0
        self.partial: list[str] = []  # jobs a failed call wrote all the same (none, ever)

    async def update_jobs(self, updates: Sequence[JobUpdate]) -> list[Any]:
        self.calls += 1
        self.jobs += len(updates)
        if self.failed >= self.failing or len(updates) < 2:
            return await super().update_jobs(updates)
        ids = [update.job.id for update in updates]
        before = await self.get_jobs(ids)
        self._side(
            f"CREATE TRIGGER boom BEFORE UPDATE ON jobs WHEN NEW.id = '{ids[-1]}' "
            "BEGIN SELECT json('{'); END"
        )
        try:
            return await super().update_jobs(updates)
        except sv.RepositoryError:
            self.failed += 1
            after = await self.get_jobs(ids)
            self.partial += [job.id for job, then in zip(after, before, strict=True) if job != then]
            raise
        finally:
            self._side("DROP TRIGGER boom")

    def _side(self, statement: str) -> None:
        # Another connection, as an administrator's would be.
        with sqlite3.connect(self.path) as conn:
            conn.execute(statement)
        conn.close()


async def test_jobs_in_flight_together_end_through_few_ledger_calls(tmp_path: Path) -> None:
    repository = Batches(tmp_path / "ledger.db")
    async with sv.AsyncSoraVideo.simulated(repository=repository, max_concurrency=12) as client:
        jobs = await client.videos.create_videos(requests(12, prefix="a fox"))
        done = [await client.videos.wait_for_job(job.id) for job in jobs]
    assert {job.status for job in done} == {sv.JobStatus.COMPLETED}
    # Each job's end (at least) went to the ledger in a call shared with other jobs.
    assert repository.jobs >= len(jobs)
    assert repository.calls < repository.jobs / 2
    assert client.fake is not None
    check_exactly_once(client.fake, done)


async def test_a_ledger_failing_a_refresh_s_write_midway_loses_no_job(tmp_path: Path) -> None:
    repository = Batches(tmp_path / "ledger.db", failing=3)
    async with sv.AsyncSoraVideo.simulated(repository=repository, max_concurrency=12) as client:
        jobs = await client.videos.create_videos(requests(12, prefix="a cat"))
        done = [await client.videos.wait_for_job(job.id, timeout=3600) for job in jobs]
    assert repository.failed == 3
    assert repository.partial == []
    assert {job.status for job in done} == {sv.JobStatus.COMPLETED}
    assert client.fake is not None
    assert client.fake.created_count() == len(jobs)
    check_exactly_once(client.fake, done)
