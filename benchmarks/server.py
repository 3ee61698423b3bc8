"""Load on ``soravideo serve``: 100 concurrent clients against the REST API.

Starts ``soravideo serve --provider simulated`` on a loopback port with a SQLite ledger in a
temporary folder, then runs CLIENTS concurrent clients for SECONDS: each creates a video,
then reads it and lists the newest jobs in a loop (a poller's traffic), creating another
every tenth request. Prints requests a second and latency percentiles by route.

    python benchmarks/server.py [--clients 100] [--seconds 10] [--quick]

Not a test: figures depend on the machine. The server is one process (one core); the
clients share this one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

KEY = "bench-key"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _start(db: Path) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, SORAVIDEO_SERVER_API_KEYS=KEY)
    sim = ["--provider", "simulated", "--db", str(db)]
    serve = ["serve", "--port", "0", "--rate-limit", "100000000/minute"]
    process = subprocess.Popen(
        [sys.executable, "-m", "soravideo", *sim, *serve],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("serving on "):
            return process, line.split()[2]
    raise SystemExit(f"soravideo serve did not start (exit {process.wait()})")


async def _client(
    http: httpx.AsyncClient, until: float, timings: dict[str, list[float]], errors: list[str]
) -> None:
    job_id = None
    n = 0
    while time.perf_counter() < until:
        if job_id is None or n % 10 == 0:
            route, call = (
                "POST /api/v1/videos",
                http.post("/api/v1/videos", json={"prompt": "a fox"}),
            )
        elif n % 3 == 0:
            route, call = "GET /api/v1/videos", http.get("/api/v1/videos", params={"limit": 20})
        else:
            route, call = "GET /api/v1/videos/{jobId}", http.get(f"/api/v1/videos/{job_id}")
        started = time.perf_counter()
        response = await call
        timings[route].append(time.perf_counter() - started)
        if response.status_code >= 400:
            errors.append(f"{route}: {response.status_code}")
        elif route.startswith("POST"):
            job_id = response.json()["data"]["jobId"]
        n += 1


async def _load(
    address: str, clients: int, seconds: float
) -> tuple[dict[str, list[float]], list[str], float]:
    timings: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=address, headers={"x-api-key": KEY}, limits=limits, timeout=60
    ) as http:
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(_client(http, until, timings, errors) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return timings, errors, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="3 seconds")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    with tempfile.TemporaryDirectory() as folder:
        process, address = _start(Path(folder) / "ledger.db")
        try:
            timings, errors, elapsed = asyncio.run(_load(address, args.clients, seconds))
        finally:
            process.terminate()
            process.wait(timeout=60)
    every = [t for values in timings.values() for t in values]
    print(f"soravideo serve, {args.clients} concurrent clients, {elapsed:.1f} s, SQLite ledger\n")
    print("| route | requests | requests/s | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for route, values in [*sorted(timings.items()), ("all", every)]:
        cells = [
            route,
            f"{len(values)}",
            f"{len(values) / elapsed:.0f}",
            f"{statistics.median(values) * 1000:.1f}",
            f"{_percentile(values, 0.95) * 1000:.1f}",
            f"{_percentile(values, 0.99) * 1000:.1f}",
            f"{max(values) * 1000:.1f}",
        ]
        print("| " + " | ".join(cells) + " |")
    print(f"\nerrors (4xx/5xx): {len(errors)}" + (f", e.g. {errors[0]}" if errors else ""))


if __name__ == "__main__":
    main()
