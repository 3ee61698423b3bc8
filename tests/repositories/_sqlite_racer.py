"""A child of test_sqlite_two_processes.py: one process's rounds on a shared SQLite ledger.

Usage: python _sqlite_racer.py DB OWNER ROUNDS

Each round adds two jobs for any process to claim and one leased at its add when a claim
would take it first (else left to a claim), claims, takes
each job it holds from pending to processing (a write guarded by its lease: it fails if
another process holds the job), renews its leases and ends the jobs it took. Prints
"took <job id>" for every job this process took from pending to processing, "done" at the end.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import anyio
import attrs

from soravideo import ConflictError, JobStatus, NotFoundError
from soravideo.repositories import SQLiteRepository
from soravideo.testing.repository_contract import make_job


async def main(db: Path, owner: str, rounds: int) -> None:
    lease = 30.0
    async with SQLiteRepository(db, busy_timeout=30) as repo:
        held: dict[str, object] = {}
        for i in range(rounds):
            now = datetime.now(timezone.utc)
            # Two jobs for whoever claims first, one leased at its add when it is next.
            await repo.add_jobs([make_job(age=i), make_job(age=i)])
            job = make_job(age=i)
            leased = await repo.add_job_claimed(job, owner=owner, lease_seconds=lease, now=now)
            if leased is not None:
                held[leased.id] = leased
            for claimed in await repo.claim_jobs(owner, limit=3, lease_seconds=lease, now=now):
                held[claimed.id] = claimed
            for job_id in list(held):
                current = held.pop(job_id)
                assert current.status is JobStatus.PENDING  # type: ignore[attr-defined]
                try:
                    await repo.update_job(
                        attrs.evolve(current, status=JobStatus.PROCESSING),  # type: ignore[misc]
                        expected_status=JobStatus.PENDING,
                        lease_owner=owner,
                    )
                except (ConflictError, NotFoundError):
                    continue
                print("took", job_id, flush=True)
                await repo.renew_lease([job_id], owner, lease_seconds=lease, now=now)
                taken = await repo.get_job(job_id)
                await repo.update_job(
                    attrs.evolve(taken, status=JobStatus.COMPLETED, progress=100),
                    expected_status=JobStatus.PROCESSING,
                    lease_owner=owner,
                )
    print("done", flush=True)


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
