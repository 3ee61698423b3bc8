"""[W2-4] ``SupportsAddClaimed``: which ledgers have it (the repository contract suite checks
what it does, on every ledger that has it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from soravideo import BatchStatus
from soravideo.repositories import MemoryRepository, SQLiteRepository, SupportsAddClaimed
from soravideo.testing.repository_contract import T0, make_batch, make_job


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


@pytest.mark.anyio
@pytest.mark.parametrize(("held", "leased"), [(63, True), (64, False)])
async def test_behind_many_held_jobs_a_new_job_is_left_to_a_claim(
    tmp_path: Path, held: int, leased: bool
) -> None:
    """The pending jobs of a pending batch are held (no claim takes them), so a new job is
    the next to claim. Past 64 unleased jobs the lease at its add does not walk past them
    all (it runs on the event loop's thread): the job is stored and left to a claim, which
    takes it next all the same."""
    async with SQLiteRepository(tmp_path / "jobs.db") as repo:
        batch_id = "batch_held"
        jobs = [make_job(batch_id=batch_id, age=i) for i in range(held)]
        batch = make_batch([job.id for job in jobs], batch_id=batch_id, status=BatchStatus.PENDING)
        await repo.add_jobs(jobs, batch=batch)
        job = make_job(age=500)
        got = await repo.add_job_claimed(job, owner="me", lease_seconds=30, now=T0)
        assert (got == job) if leased else (got is None)
        if not leased:
            [claimed] = await repo.claim_jobs("me", limit=5, lease_seconds=30, now=T0)
            assert claimed == job
