"""PostgreSQL rows of the ledger benchmark: claims by 1, 2 and 4 worker processes, a page.

Run alone (``python benchmarks/ledger_postgres.py``) or from ``benchmarks/ledger.py``. It
starts its own throwaway server with the test tooling (``initdb`` + ``pg_ctl`` on loopback,
``fsync=off``: the numbers are CPU, locking and round trips, not the disk), or uses
``$SORAVIDEO_BENCH_POSTGRES_DSN``.

- **claims**: N pending jobs; k worker *processes* each loop "claim 10, mark each one
  completed" (one ``claim_jobs`` and ten ``update_job`` compare-and-sets) until the table is
  drained. Jobs per second from the first worker's start to the last one's end; best of
  a few rounds, since other processes share this machine.
- **page**: 100,000 jobs, one page (limit 20) of the ``completed`` ones, deep in the list.

The baseline is plain psycopg (sync, one connection) running the very same SQL text from
``sql/postgres.sql`` with the same parameters, but without the library's models, converter,
pool or event loop.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from multiprocessing.synchronize import Barrier
from typing import Any

import anyio
import attrs
import psycopg
from psycopg import conninfo, sql

from soravideo import CreateVideoRequest, Job, JobStatus
from soravideo.repositories._queries import load_queries
from soravideo.repositories.postgres import PostgresRepository
from soravideo.testing._postgres_server import PostgresUnavailableError, TemporaryPostgres

DSN_ENV = "SORAVIDEO_BENCH_POSTGRES_DSN"
NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
LEASE = 600.0
CLAIM = 10
QUERIES = load_queries("postgres.sql")
STATUSES = list(JobStatus)
Row = tuple[str, str, str, str]


def make_jobs(n: int, *, spread_statuses: bool = False) -> list[Job]:
    request = CreateVideoRequest(prompt="a red fox running through fresh snow, golden hour")
    return [
        Job(
            id=f"job_{i:07d}",
            status=STATUSES[i % len(STATUSES)] if spread_statuses else JobStatus.PENDING,
            request=request,
            provider="fake",
            created_at=NOW + timedelta(milliseconds=i),
            updated_at=NOW + timedelta(milliseconds=i),
        )
        for i in range(n)
    ]


@contextmanager
def fresh_schema(dsn: str) -> Iterator[str]:
    """Yield a DSN whose search_path is a new schema, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield conninfo.make_conninfo(dsn, options=f"-c search_path={schema}")
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def load(dsn: str, jobs: Sequence[Job], *, chunk: int = 1000) -> float:
    """Store jobs through the library; return the seconds it took. Then settle the table."""

    async def run() -> float:
        async with PostgresRepository(dsn, max_size=1) as repo:
            started = time.perf_counter()
            for i in range(0, len(jobs), chunk):
                await repo.add_jobs(jobs[i : i + chunk])
            return time.perf_counter() - started

    seconds = anyio.run(run)
    with psycopg.connect(dsn, autocommit=True) as conn:
        # A checkpoint first, so that VACUUM can mark every page all-visible even with
        # asynchronous commits: counts and deep pages are then index-only scans.
        conn.execute("CHECKPOINT")
        conn.execute("VACUUM (ANALYZE) soravideo_jobs")
    return seconds


# -- claim workers (each runs in its own process) ----------------------------------------------


def library_worker(dsn: str, owner: str, barrier: Barrier, results: Any) -> None:
    async def run() -> tuple[int, float, float]:
        async with PostgresRepository(dsn, min_size=1, max_size=1) as repo:
            await repo.ping()
            barrier.wait()
            started, done = time.perf_counter(), 0
            while jobs := await repo.claim_jobs(owner, limit=CLAIM, lease_seconds=LEASE, now=NOW):
                for job in jobs:
                    finished = attrs.evolve(
                        job, status=JobStatus.COMPLETED, updated_at=NOW, completed_at=NOW
                    )
                    await repo.update_job(finished, expected_status=job.status, lease_owner=owner)
                done += len(jobs)
            return done, started, time.perf_counter()

    results.put(anyio.run(run))


def raw_worker(dsn: str, owner: str, barrier: Barrier, results: Any) -> None:
    claim = {"owner": owner, "now": NOW, "expires_at": NOW + timedelta(seconds=LEASE)}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(QUERIES["ping"])
        barrier.wait()
        started, done = time.perf_counter(), 0
        while rows := conn.execute(QUERIES["claim_jobs"], {**claim, "limit": CLAIM}).fetchall():
            for (data,) in rows:
                job = json.loads(data)
                update = {
                    "id": job["id"],
                    "status": "completed",
                    "rank": 1,
                    "batch_id": None,
                    "created_at": job["created_at"],
                    "updated_at": NOW,
                    "data": data,
                    "expected": job["status"],
                    "owner": owner,
                    "terminal": True,
                }
                conn.execute(QUERIES["update_job"], update)
            done += len(rows)
        results.put((done, started, time.perf_counter()))


def claims_per_second(dsn: str, worker: Callable[..., None], workers: int, jobs: int) -> float:
    with fresh_schema(dsn) as schema_dsn:
        load(schema_dsn, make_jobs(jobs))
        # fork where it exists: the parent holds no thread, loop or connection here.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        barrier = context.Barrier(workers)
        results = context.Queue()
        processes = [
            context.Process(target=worker, args=(schema_dsn, f"worker-{n}", barrier, results))
            for n in range(workers)
        ]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=600) for _ in processes]
        for process in processes:
            process.join()
            if process.exitcode != 0:
                raise RuntimeError(f"a claim worker exited with {process.exitcode}")
    claimed = sum(n for n, _, _ in outcomes)
    if claimed != jobs:
        raise RuntimeError(f"{claimed} jobs claimed of {jobs}: the ledger lost or repeated some")
    return claimed / (max(end for _, _, end in outcomes) - min(s for _, s, _ in outcomes))


def best_of(rounds: int, measure: Callable[[], float]) -> float:
    return max(measure() for _ in range(rounds))


# -- the page at 100k ------------------------------------------------------------------------


def page_timings(dsn: str, total: int, *, page: int, repeat: int = 50) -> tuple[float, float]:
    """Return the median seconds of the library's and of raw psycopg's filtered page."""

    async def library() -> list[float]:
        async with PostgresRepository(dsn, max_size=1) as repo:
            timings = []
            for _ in range(repeat):
                started = time.perf_counter()
                result = await repo.list_jobs(status=JobStatus.COMPLETED, page=page, limit=20)
                timings.append(time.perf_counter() - started)
            assert len(result.items) == 20
            assert result.total == total // len(STATUSES)
            return timings

    params = {"status": "completed", "batch_id": None, "limit": 20, "offset": (page - 1) * 20}
    raw: list[float] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(repeat):
            started = time.perf_counter()
            rows = conn.execute(QUERIES["list_jobs_by_status"], params).fetchall()
            raw.append(time.perf_counter() - started)
        assert len(rows) == 20
    # The first runs plan and prepare the statements: leave them out.
    skip = repeat // 5
    return statistics.median(anyio.run(library)[skip:]), statistics.median(raw[skip:])


# -- the table -------------------------------------------------------------------------------


def postgres_rows(
    *, claim_jobs: int = 3000, rounds: int = 3, page_jobs: int = 100_000
) -> list[Row]:
    """Measure everything on one throwaway server; return ``(operation, library, raw, ratio)``.

    Raises:
        PostgresUnavailableError: no ``$SORAVIDEO_BENCH_POSTGRES_DSN`` and no server binaries.
    """
    server = TemporaryPostgres(settings={"autovacuum": "off"})
    dsn = os.environ.get(DSN_ENV) or server.start()
    rows: list[Row] = []
    try:
        rates: dict[tuple[str, int], float] = {}
        for workers in (1, 2, 4):
            for name, worker in (("library", library_worker), ("raw", raw_worker)):
                measure = functools.partial(claims_per_second, dsn, worker, workers, claim_jobs)
                rates[name, workers] = best_of(rounds, measure)
            lib, raw = rates["library", workers], rates["raw", workers]
            rows.append(
                (
                    f"claims/s, {workers} worker process{'es' if workers > 1 else ''}",
                    f"{lib:,.0f}/s",
                    f"{raw:,.0f}/s",
                    f"{raw / lib:.2f}x",  # time per claim: library / raw
                )
            )
        rows.append(
            (
                "claims scaling, 1 → 4 workers",
                f"{rates['library', 4] / rates['library', 1]:.2f}x",
                f"{rates['raw', 4] / rates['raw', 1]:.2f}x",
                "",
            )
        )
        with fresh_schema(dsn) as schema_dsn:
            seconds = load(schema_dsn, make_jobs(page_jobs, spread_statuses=True))
            rows.append(
                (f"bulk insert {page_jobs:,} (chunks of 1,000)", f"{seconds:.2f} s", "", "")
            )
            deep = page_jobs // len(STATUSES) // 20 // 2
            lib_s, raw_s = page_timings(schema_dsn, page_jobs, page=deep)
            rows.append(
                (
                    f"filtered page (limit 20, page {deep}) at {page_jobs // 1000}k",
                    f"{lib_s * 1000:.2f} ms",
                    f"{raw_s * 1000:.2f} ms",
                    f"{lib_s / raw_s:.2f}x",
                )
            )
    finally:
        server.stop()
    return rows


def main() -> int:
    try:
        rows = postgres_rows()
    except PostgresUnavailableError as exc:
        print(f"PostgreSQL rows skipped: {exc}")
        return 0
    header = ("PostgreSQL", "soravideo", "raw psycopg", "lib / raw time")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(f"({os.cpu_count()} CPUs; claims: best of rounds; page: median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
