"""Ledger yardstick, PostgreSQL part: claims by 1, 2 and 4 worker processes, page, counts, claim.

``benchmarks/ledger.py`` prints this table under its SQLite one; run alone with
``python benchmarks/ledger_postgres.py [--jobs N]`` (exits 1 when a target is missed). It
starts its own throwaway server with the test tooling (``initdb`` + ``pg_ctl`` on loopback,
``fsync=off``, autovacuum off: the numbers are CPU, locking and round trips, not the disk),
or uses ``$SORAVIDEO_BENCH_POSTGRES_DSN``.

- **claims**: 3,000 pending jobs; k worker *processes* each loop "claim 10, mark each one
  completed" (one ``claim_jobs``, then ten ``update_job`` compare-and-sets under the lease)
  until the table is drained. Jobs per second from the first worker's start to the last
  one's end; best of 4 rounds, since other processes share this machine.
- **page** and **counts**: ledger.py's jobs (100,000 by default, 70% completed; the
  targets hold at ``--jobs 1000000``) loaded with ``add_jobs``, then the same
  ``list_jobs(status=completed, page=2000, limit=20)`` (total included) and
  ``count_jobs()``, median of 30, library and raw calls alternating: under 5 ms and 20 ms.
  Both read the counter rows of migration 3 for their totals, never a count of the jobs.
- **claim**: ``claim_jobs(limit=10)`` on the same jobs a month later, median of 30 (each
  claim leases ten more, so later ones walk past the leased): under 2 ms.

The baseline is plain psycopg (sync, one connection) running the very same SQL text from
``sql/postgres.sql`` with the same parameters, but without the library's models, converter,
pool or event loop.
"""

from __future__ import annotations

import argparse
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

from soravideo import Batch, CreateVideoRequest, Job, JobStatus
from soravideo.repositories._queries import load_queries
from soravideo.repositories.postgres import PostgresRepository
from soravideo.testing._postgres_server import PostgresUnavailableError, TemporaryPostgres

DSN_ENV = "SORAVIDEO_BENCH_POSTGRES_DSN"
NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
LEASE = 600.0
CLAIM = 10
CLAIM_JOBS = 3000
ROUNDS = 4
QUERIES = load_queries("postgres.sql")


def make_jobs(n: int) -> list[Job]:
    request = CreateVideoRequest(prompt="a red fox running through fresh snow, golden hour")
    return [
        Job(
            id=f"job_{i:07d}",
            status=JobStatus.PENDING,
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
    """Store jobs through the library; return the seconds it took. Then vacuum the table."""

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
                    "provider": job["provider"],
                    "remote_id": job.get("remote_id"),
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


# -- the page at 100k ------------------------------------------------------------------------


def load_ledger(dsn: str, batches: Sequence[Batch], jobs: Sequence[Job]) -> float:
    """Store batches, then jobs in chunks, through the library; return the jobs' seconds."""

    async def run() -> None:
        async with PostgresRepository(dsn, max_size=1) as repo:
            for batch in batches:
                await repo.add_jobs([], batch=batch)

    anyio.run(run)
    return load(dsn, jobs)


def claim_timing(dsn: str, *, repeat: int = 30, warmup: int = 5) -> float:
    """Return the median milliseconds of ``claim_jobs(limit=10)`` on the loaded ledger.

    As in ledger.py: a month after the jobs were made, each claim leasing ten more jobs
    (the ones claimed before stay leased, so later claims walk past them).
    """
    now = NOW + timedelta(days=30)
    timings: list[float] = []

    async def run() -> None:
        async with PostgresRepository(dsn, max_size=1) as repo:
            for _ in range(warmup + repeat):
                started = time.perf_counter()
                got = await repo.claim_jobs("bench", limit=CLAIM, lease_seconds=60, now=now)
                timings.append((time.perf_counter() - started) * 1000)
                assert len(got) == CLAIM

    anyio.run(run)
    return statistics.median(timings[warmup:])


def page_timings(
    dsn: str, *, page: int, limit: int, repeat: int = 30, warmup: int = 5
) -> tuple[float, float, float, float]:
    """Return median milliseconds of (library page, raw page, library counts, raw counts).

    Library and raw calls alternate, so that both see the same load from the rest of the
    machine. The first ``warmup`` rounds are left out: psycopg prepares a statement on its
    fifth run, and until then PostgreSQL plans it every time.
    """
    params = {"status": "completed", "limit": limit, "offset": (page - 1) * limit}
    timings: dict[str, list[float]] = {"page": [], "raw page": [], "counts": [], "raw counts": []}

    def timed(name: str, started: float) -> None:
        timings[name].append((time.perf_counter() - started) * 1000)

    async def run() -> None:
        async with PostgresRepository(dsn, max_size=1) as repo:
            with psycopg.connect(dsn, autocommit=True) as raw:
                for _ in range(warmup + repeat):
                    started = time.perf_counter()
                    got = await repo.list_jobs(status=JobStatus.COMPLETED, page=page, limit=limit)
                    timed("page", started)
                    started = time.perf_counter()
                    rows = raw.execute(QUERIES["list_jobs_by_status"], params).fetchall()
                    timed("raw page", started)
                    started = time.perf_counter()
                    await repo.count_jobs()
                    timed("counts", started)
                    started = time.perf_counter()
                    raw.execute(QUERIES["group_jobs_by_status"]).fetchall()
                    timed("raw counts", started)
        assert len(got.items) == limit, got.total
        assert len(rows) == limit

    anyio.run(run)
    page_ms, raw_page_ms, counts_ms, raw_counts_ms = (
        statistics.median(values[warmup:]) for values in timings.values()
    )
    return page_ms, raw_page_ms, counts_ms, raw_counts_ms


# -- the table -------------------------------------------------------------------------------

Result = tuple[str, str, str, str, str, bool]  # operation, ours, raw, ratio, target, met


def run_postgres(
    batches: Sequence[Batch],
    jobs: Sequence[Job],
    *,
    page: int,
    limit: int,
    claim_jobs: int = CLAIM_JOBS,
    rounds: int = ROUNDS,
) -> list[Result]:
    """Measure everything on one throwaway server (or ``$SORAVIDEO_BENCH_POSTGRES_DSN``).

    Raises:
        PostgresUnavailableError: no DSN given and no server binaries.
    """
    server = TemporaryPostgres(settings={"autovacuum": "off"})
    dsn = os.environ.get(DSN_ENV) or server.start()
    results: list[Result] = []
    try:
        # Rounds go over every configuration in turn, so that a burst of load from the
        # rest of the machine does not land on one configuration only; each keeps its best.
        rates: dict[tuple[str, int], float] = {}
        for _ in range(rounds):
            for workers in (1, 2, 4):
                for name, worker in (("library", library_worker), ("raw", raw_worker)):
                    rate = claims_per_second(dsn, worker, workers, claim_jobs)
                    rates[name, workers] = max(rate, rates.get((name, workers), 0.0))
        for workers in (1, 2, 4):
            ours, raw = rates["library", workers], rates["raw", workers]
            plural = "es" if workers > 1 else ""
            results.append(
                (
                    f"claims/s, {workers} worker process{plural} (claim 10, complete each)",
                    f"{ours:,.0f}/s",
                    f"{raw:,.0f}/s",
                    f"{raw / ours:.2f}×",
                    "-",
                    True,
                )
            )
        scaling, raw_scaling = (rates[n, 4] / rates[n, 1] for n in ("library", "raw"))
        results.append(
            (
                "claims scaling, 1 → 4 worker processes",
                f"{scaling:.2f}×",
                f"{raw_scaling:.2f}×",
                "",
                "≥ 1.6×",
                scaling >= 1.6,
            )
        )
        with fresh_schema(dsn) as schema_dsn:
            seconds = load_ledger(schema_dsn, batches, jobs)
            results.append(
                (
                    f"bulk insert {len(jobs):,} jobs (1,000 per add_jobs)",
                    f"{seconds:.2f} s",
                    "",
                    "",
                    "-",
                    True,
                )
            )
            ours_page, raw_page, ours_counts, raw_counts = page_timings(
                schema_dsn, page=page, limit=limit
            )
            claim_ms = claim_timing(schema_dsn)
        results.append(
            (
                f"filtered page (completed, page {page:,}, limit {limit})",
                f"{ours_page:.2f} ms",
                f"{raw_page:.2f} ms",
                f"{ours_page / raw_page:.2f}×",
                "< 5 ms",
                ours_page < 5,
            )
        )
        results.append(
            (
                "count by status",
                f"{ours_counts:.2f} ms",
                f"{raw_counts:.2f} ms",
                f"{ours_counts / raw_counts:.2f}×",
                "< 20 ms",
                ours_counts < 20,
            )
        )
        results.append(("claim 10", f"{claim_ms:.2f} ms", "", "", "< 2 ms", claim_ms < 2))
    finally:
        server.stop()
    return results


def table(results: Sequence[Result]) -> str:
    lines = [
        "| PostgreSQL | soravideo | raw psycopg | ratio (time) | target | ok? |",
        "|---|---:|---:|---:|---|---|",
    ]
    for name, ours, raw, ratio, target, ok in results:
        lines.append(f"| {name} | {ours} | {raw} | {ratio} | {target} | {'yes' if ok else 'NO'} |")
    return "\n".join(lines)


def section(batches: Sequence[Batch], jobs: Sequence[Job], *, page: int, limit: int) -> bool:
    """Print the PostgreSQL table (or why it was skipped); return whether targets were met."""
    started = time.perf_counter()
    try:
        results = run_postgres(batches, jobs, page=page, limit=limit)
    except PostgresUnavailableError as exc:
        print(f"\nPostgreSQL rows skipped: {exc}")
        return True
    print()
    print(table(results))
    print(
        f"\n{os.cpu_count()} CPUs · claims: {CLAIM_JOBS:,} jobs, best of {ROUNDS} rounds · server: "
        f"throwaway, fsync off · {time.perf_counter() - started:.1f} s in all"
    )
    return all(ok for *_, ok in results)


def main(argv: Sequence[str] | None = None) -> int:
    from ledger import LIMIT, PAGE, make_ledger

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the ledger")
    args = parser.parse_args(argv)
    batches, jobs = make_ledger(args.jobs)
    return 0 if section(batches, jobs, page=PAGE, limit=LIMIT) else 1


if __name__ == "__main__":
    sys.exit(main())
