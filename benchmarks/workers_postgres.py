"""Many worker processes on one PostgreSQL ledger: 10,000 jobs, 1, 2 and 4 ``run_worker``.

For each fleet size, a fresh schema gets 10,000 pending jobs (``add_jobs`` in chunks of
1,000); then k processes each run ``SoraVideo.run_worker()`` against it, each with its own
in-process FakeSora (no sockets, real time, ``--generation`` seconds a video) behind a
``SoraTransport``. A job is claimed, submitted and polled by exactly one worker, so each
fake sees only its own videos. The parent samples ``count_jobs()`` every 50 ms from the
moment it starts the workers:

- **claims/s**: 10,000 over the time until no job is left pending (every job claimed and
  submitted);
- **makespan**: the time until every job is completed;
- **bound**: ``ceil(10,000 / (k × concurrency)) × generation``, what the provider alone
  would take.

Worker start-up (interpreter, imports, first connection) is inside the timings: the
parent starts the clock when it starts the processes. Printed, never gated. A throwaway
server (``fsync`` off) unless ``$SORAVIDEO_BENCH_POSTGRES_DSN`` is set.

Run: ``python benchmarks/workers_postgres.py [--jobs N] [--concurrency C] [--generation S]``.
Each worker is this file run as ``--worker DSN NAME CONCURRENCY GENERATION``.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import anyio
from _common import Row, markdown_table

from soravideo import CreateVideoRequest, Job, JobStatus
from soravideo.repositories.postgres import PostgresRepository

DSN_ENV = "SORAVIDEO_BENCH_POSTGRES_DSN"
SAMPLE = 0.05
DEADLINE = 1800.0


def run_worker(dsn: str, name: str, concurrency: int, generation: float) -> None:
    """One worker process: a SoraVideo on its own FakeSora, ``run_worker`` until SIGTERM."""
    import httpx

    import soravideo as sv
    from soravideo.testing import FakeSora
    from soravideo.transports import SoraTransport

    clock = sv.SystemClock()
    fake = FakeSora(clock=clock, generation_time=generation, seed=int(name.rsplit("-", 1)[1]) + 1)
    base_url = "http://fakesora.invalid/v1"
    transport = SoraTransport(
        base_url=base_url,
        api_key="sk-bench",
        http_client=httpx.AsyncClient(transport=fake.http_transport(), base_url=base_url),
        clock=clock,
    )
    client = sv.SoraVideo(
        transport=transport,
        repository=PostgresRepository(dsn, max_size=4),
        clock=clock,
        worker_id=name,
        max_concurrency=concurrency,
        poll_min_interval=0.05,
        poll_max_interval=0.5,
        requests_per_second=100_000.0,
    )
    with client:
        client.run_worker()


def make_jobs(n: int) -> list[Job]:
    now = datetime.now(timezone.utc)
    request = CreateVideoRequest(prompt="a red fox running through fresh snow, golden hour")
    return [
        Job(
            id=f"job_{i:07d}",
            status=JobStatus.PENDING,
            request=request,
            provider="sora",
            created_at=now,
            updated_at=now,
        )
        for i in range(n)
    ]


async def load(dsn: str, jobs: Sequence[Job]) -> None:
    async with PostgresRepository(dsn, max_size=1) as repo:
        for i in range(0, len(jobs), 1000):
            await repo.add_jobs(jobs[i : i + 1000])


async def follow(dsn: str, n: int, procs: Sequence[subprocess.Popen[bytes]]) -> tuple[float, float]:
    """Sample the counts until every job is completed; return (claimed at, completed at)."""
    started = time.perf_counter()
    claimed_at = math.nan
    async with PostgresRepository(dsn, max_size=1) as repo:
        while time.perf_counter() - started < DEADLINE:
            counts = await repo.count_jobs()
            elapsed = time.perf_counter() - started
            if math.isnan(claimed_at) and counts[JobStatus.PENDING] == 0:
                claimed_at = elapsed
            if counts[JobStatus.COMPLETED] == n:
                return claimed_at, elapsed
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a worker exited early: {counts}")
            await anyio.sleep(SAMPLE)
    raise RuntimeError(f"not every job completed within {DEADLINE} s")


def fleet(dsn: str, workers: int, args: argparse.Namespace) -> tuple[float, float]:
    from ledger_postgres import fresh_schema

    with fresh_schema(dsn) as schema_dsn:
        anyio.run(load, schema_dsn, make_jobs(args.jobs))
        me = str(Path(__file__).resolve())
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    me,
                    "--worker",
                    schema_dsn,
                    f"worker-{k}",
                    str(args.concurrency),
                    str(args.generation),
                ],
            )
            for k in range(workers)
        ]
        try:
            return anyio.run(follow, schema_dsn, args.jobs, procs)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        dsn, name, concurrency, generation = argv[1:5]
        run_worker(dsn, name, int(concurrency), float(generation))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200, help="max_concurrency a worker")
    parser.add_argument("--generation", type=float, default=1.0, help="seconds a video")
    parser.add_argument("--fleets", default="1,2,4", help="worker processes, comma-separated")
    args = parser.parse_args(argv)

    from soravideo.testing._postgres_server import TemporaryPostgres

    server = TemporaryPostgres()
    dsn = os.environ.get(DSN_ENV) or server.start()
    rows: list[Row] = []
    try:
        results = {k: fleet(dsn, k, args) for k in map(int, args.fleets.split(","))}
    finally:
        server.stop()
    first = next(iter(results.values()))
    for k, (claimed_at, makespan) in results.items():
        bound = math.ceil(args.jobs / (k * args.concurrency)) * args.generation
        plural = "es" if k > 1 else ""
        rows.append(
            Row(
                f"{args.jobs:,} jobs, {k} run_worker process{plural}: claims/s",
                f"{args.jobs / claimed_at:,.0f}/s",
                f"{args.jobs / first[0]:,.0f}/s (1st fleet)",
                first[0] / claimed_at,
                "— (info)",
                None,
            )
        )
        rows.append(
            Row(
                f"{args.jobs:,} jobs, {k} run_worker process{plural}: makespan",
                f"{makespan:.1f} s",
                f"{bound:.0f} s (bound)",
                makespan / bound,
                "— (info)",
                None,
            )
        )
    print(markdown_table(rows))
    print(
        f"\n{os.cpu_count()} CPUs · max_concurrency {args.concurrency} a worker · "
        f"{args.generation:g} s a video · FakeSora in each worker, real time · "
        f"throwaway server, fsync off"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
