"""Ledger yardstick: SQLiteRepository at 100,000 jobs against raw sqlite3 running the same SQL.

Two files get the same 100,000 jobs (70% completed, 10% failed, 5% cancelled, 10% pending,
5% processing; one in ten in one of 1,000 batches). One is written and read through
``SQLiteRepository``; the other through a bare ``sqlite3`` connection that runs the very
statements of ``sql/sqlite.sql`` with the same pragmas, on rows prepared in advance. So the
ratio is everything soravideo adds: JSON (de)serialisation, checks, and the hop to the
worker thread.

Operations:

- bulk insert: one ``add_jobs`` call with all 100,000 jobs (one transaction);
- 1,000 single updates: ``update_job`` compare-and-sets, pending → processing;
- filtered page: ``list_jobs(status=completed, page=2000, limit=20)``, rows 39,981-40,000 of
  the 70,000 completed jobs (total count included), median of 30;
- count by status: ``count_jobs()`` over all jobs, median of 30;
- claim 10: ``claim_jobs(limit=10)`` (select, then stamp the lease, in one write
  transaction), median of 30.

Then the PostgreSQL table of ``benchmarks/ledger_postgres.py`` (claims by 1, 2 and 4 worker
processes; the same page and counts on the same jobs), on a throwaway server.

Run: ``python benchmarks/ledger.py [--jobs N] [--sqlite-only]``. Exits 1 when a target is
missed. The issue's targets are for ``--jobs 1000000``.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import attrs

from soravideo import Batch, CreateVideoRequest, Job, JobPriority, JobStatus
from soravideo.repositories import SQLiteRepository
from soravideo.repositories._queries import load_queries
from soravideo.repositories.sqlite import _batch_row, _job_row, _statements

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
Q = load_queries("sqlite.sql")
STATUSES = [JobStatus.COMPLETED] * 14 + [JobStatus.FAILED] * 2 + [JobStatus.PENDING] * 2
STATUSES += [JobStatus.CANCELLED, JobStatus.PROCESSING]
REPEAT = 30
PAGE, LIMIT = 2000, 20


def make_ledger(n: int) -> tuple[list[Batch], list[Job]]:
    rng = random.Random(42)
    batches = [
        Batch(id=f"batch_{b:05d}", job_ids=(), created_at=T0, updated_at=T0) for b in range(1000)
    ]
    jobs = []
    for i in range(n):
        created = T0 + timedelta(seconds=i)
        priority = rng.choice(list(JobPriority))
        jobs.append(
            Job(
                id=f"job_{rng.getrandbits(64):016x}{i:06d}",
                status=rng.choice(STATUSES),
                request=CreateVideoRequest(
                    prompt=f"a red fox in the snow, take {i}",
                    model="sora-2",
                    duration=8,
                    size="1280x720",
                    priority=priority,
                    metadata={"campaign": "winter", "take": str(i)},
                ),
                provider="sora",
                priority=priority,
                remote_id=f"video_{i:08d}" if i % 3 else None,
                progress=100,
                batch_id=batches[i % 1000].id if i % 10 == 0 else None,
                created_at=created,
                updated_at=created,
            )
        )
    return batches, jobs


def raw_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    for statement in _statements(Q["configure"]):
        conn.execute(statement)
    return conn


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


async def atimed(fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fn()
    return (time.perf_counter() - start) * 1000


class Raw:
    """The baseline: the repository's statements on a bare connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def insert(self, rows: list[dict[str, Any]]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(Q["insert_job"], rows)
        self.conn.execute("COMMIT")

    def update(self, params: dict[str, Any]) -> None:
        assert self.conn.execute(Q["update_job"], params).rowcount == 1

    def page(self, status: str) -> list[Any]:
        params = {"status": status, "limit": LIMIT, "offset": (PAGE - 1) * LIMIT}
        self.conn.execute("BEGIN")
        self.conn.execute(Q["count_jobs_by_status"], params).fetchone()
        rows = self.conn.execute(Q["list_jobs_by_status"], params).fetchall()
        self.conn.execute("COMMIT")
        return rows

    def counts(self) -> list[Any]:
        return self.conn.execute(Q["group_jobs_by_status"]).fetchall()

    def claim(self, now_us: int) -> list[Any]:
        self.conn.execute("BEGIN IMMEDIATE")
        rows = self.conn.execute(Q["claim_candidates"], {"now": now_us, "limit": 10}).fetchall()
        ids = "[" + ",".join(f'"{job_id}"' for job_id, _ in rows) + "]"
        stamp = {"owner": "raw", "expires_us": now_us + 60_000_000, "ids": ids}
        self.conn.execute(Q["stamp_leases"], stamp)
        self.conn.execute("COMMIT")
        return rows


def update_params(job: Job) -> dict[str, Any]:
    return {
        **_job_row(job),
        "expected": JobStatus.PENDING.value,
        "lease_owner": None,
        "terminal": False,
    }


async def run(n: int) -> list[tuple[str, float, float, str, bool]]:
    batches, jobs = make_ledger(n)
    pending = [job for job in jobs if job.status is JobStatus.PENDING][:1000]
    updated = [attrs.evolve(job, status=JobStatus.PROCESSING, attempts=1) for job in pending]
    raw_rows = [_job_row(job) for job in jobs]  # prepared outside the baseline's timing
    raw_updates = [update_params(job) for job in updated]
    results: list[tuple[str, float, float, str, bool]] = []

    with tempfile.TemporaryDirectory() as tmp:
        ours_path, raw_path = Path(tmp) / "soravideo.db", Path(tmp) / "raw.db"
        async with SQLiteRepository(raw_path):
            pass  # the same schema, made by the same migrations
        raw = Raw(raw_connect(raw_path))
        raw.conn.execute("BEGIN")
        raw.conn.executemany(Q["insert_batch"], [_batch_row(batch) for batch in batches])
        raw.conn.execute("COMMIT")

        async with SQLiteRepository(ours_path) as repo:
            for batch in batches:
                await repo.add_jobs([], batch=batch)

            ours = await atimed(lambda: repo.add_jobs(jobs))
            base = timed(lambda: raw.insert(raw_rows))
            results.append((f"bulk insert {n:,} jobs", ours, base, "≤ 2× raw", ours <= 2 * base))

            async def updates() -> None:
                for job in updated:
                    await repo.update_job(job, expected_status=JobStatus.PENDING)

            ours = await atimed(updates)

            def raw_updates_run() -> None:
                for params in raw_updates:
                    raw.update(params)

            base = timed(raw_updates_run)
            results.append(("1,000 single updates (total)", ours, base, "-", True))

            async def page() -> None:
                got = await repo.list_jobs(status=JobStatus.COMPLETED, page=PAGE, limit=LIMIT)
                assert len(got.items) == LIMIT, got.total

            ours = await median(page)
            base = median_sync(lambda: raw.page("completed"))
            label = f"filtered page (completed, page {PAGE:,}, limit {LIMIT})"
            results.append((label, ours, base, "< 5 ms", ours < 5))

            ours = await median(repo.count_jobs)
            base = median_sync(raw.counts)
            results.append(("count by status", ours, base, "< 20 ms", ours < 20))

            now = T0 + timedelta(days=30)
            now_us = int((now - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() * 1e6)

            async def claim() -> None:
                got = await repo.claim_jobs("bench", limit=10, lease_seconds=60, now=now)
                assert len(got) == 10

            ours = await median(claim)
            base = median_sync(lambda: raw.claim(now_us))
            results.append(("claim 10", ours, base, "-", True))
        raw.conn.close()
    return results


async def median(fn: Callable[[], Awaitable[Any]]) -> float:
    await fn()  # warm the page cache and statement cache, as in a running process
    return statistics.median([await atimed(fn) for _ in range(REPEAT)])


def median_sync(fn: Callable[[], Any]) -> float:
    fn()
    return statistics.median(timed(fn) for _ in range(REPEAT))


def table(results: Sequence[tuple[str, float, float, str, bool]]) -> str:
    lines = [
        "| operation | soravideo ms | raw sqlite3 ms | ratio | target | ok? |",
        "|---|---:|---:|---:|---|---|",
    ]
    for name, ours, base, target, ok in results:
        lines.append(
            f"| {name} | {ours:,.2f} | {base:,.2f} | {ours / base:.2f}× | {target} | "
            f"{'yes' if ok else 'NO'} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the ledger")
    parser.add_argument(
        "--sqlite-only", action="store_true", help="skip the PostgreSQL table (ledger_postgres.py)"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = anyio.run(run, args.jobs)
    print(table(results))
    print(
        f"\n{args.jobs:,} jobs · SQLite {sqlite3.sqlite_version} · Python "
        f"{sys.version.split()[0]} · {time.perf_counter() - start:.1f} s in all"
    )
    if args.sqlite_only:
        return 0 if all(ok for *_, ok in results) else 1
    # PostgreSQL beside it, on the same jobs: see benchmarks/ledger_postgres.py.
    from ledger_postgres import section

    postgres_ok = section(*make_ledger(args.jobs), page=PAGE, limit=LIMIT)
    return 0 if all(ok for *_, ok in results) and postgres_ok else 1


if __name__ == "__main__":
    sys.exit(main())
