"""[W2-4] ``SupportsAddClaimed``: which ledgers have it (the repository contract suite checks
what it does, on every ledger that has it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from soravideo.repositories import MemoryRepository, SQLiteRepository, SupportsAddClaimed
from soravideo.testing.repository_contract import T0, make_job


async def ledger_with_trigger(path: Path, trigger: str) -> SQLiteRepository:
    """A SQLite ledger whose file holds ``trigger``, made by another connection (as another
    process, or a failing disk, would act on the file)."""
    repo = SQLiteRepository(path)
    await repo.list_jobs()  # the file and its schema
    with sqlite3.connect(path) as conn:
        conn.execute(trigger)
    conn.close()
    return repo


def test_sqlite_has_it_and_the_memory_ledger_does_not(tmp_path: Path) -> None:
    assert isinstance(SQLiteRepository(tmp_path / "jobs.db"), SupportsAddClaimed)
    assert not isinstance(MemoryRepository(), SupportsAddClaimed)


@pytest.mark.anyio
async def test_a_lease_refused_after_the_insert_leaves_the_job_stored_for_a_claim(
    tmp_path: Path,
) -> None:
    # The job is committed before its lease is taken: a failure of the lease alone must not
    # report the create as failed (it would run all the same), only leave it to a claim.
    repo = await ledger_with_trigger(
        tmp_path / "jobs.db",
        "CREATE TRIGGER no_lease BEFORE UPDATE OF lease_owner ON jobs "
        "BEGIN SELECT RAISE(FAIL, 'the disk is full'); END",
    )
    job = make_job(age=5)

    assert await repo.add_job_claimed(job, owner="me", lease_seconds=30, now=T0) is None
    assert await repo.get_job(job.id) == job
    await repo.aclose()


@pytest.mark.anyio
async def test_a_job_claimed_by_another_process_right_after_its_insert_stays_theirs(
    tmp_path: Path,
) -> None:
    # Another process's claim between the INSERT and the lease (played by a trigger that
    # leases every new job to "other"): the lease is not taken over.
    repo = await ledger_with_trigger(
        tmp_path / "jobs.db",
        "CREATE TRIGGER other_claims AFTER INSERT ON jobs BEGIN "
        "UPDATE jobs SET lease_owner = 'other', lease_expires_us = 9e15 WHERE id = NEW.id; "
        "END",
    )
    job = make_job(age=5)

    assert await repo.add_job_claimed(job, owner="me", lease_seconds=30, now=T0) is None
    assert await repo.renew_lease([job.id], "other", lease_seconds=30, now=T0) == [job.id]
    assert await repo.renew_lease([job.id], "me", lease_seconds=30, now=T0) == []
    await repo.aclose()
