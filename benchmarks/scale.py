"""Scale yardstick: many jobs in flight at once, each awaited by its own ``wait_for_job``.

Every row is measured in this run (CPU time, ``time.process_time``: this process and its
threads, so a busy machine does not count against it):

1. CPU per job, create → completed, N jobs in flight at once (``max_concurrency`` N), each
   awaited by its own ``wait_for_job`` (the natural ``gather`` of waits), on the memory
   ledger and on SQLite, at each size; beside it, for information, bare ``httpx`` making
   the same kind of calls to the same simulated provider (a ``POST /videos`` a job, then
   list pages until every video ended). Flatness: the largest size's figure against the
   smallest's. Targets: ≤ 1 ms a job (memory), ≤ 2 ms (SQLite), ≤ 1.3× from the smallest
   size to the largest.
2. Memory per job in flight at the largest size: ``tracemalloc``'s traced memory halfway
   through the generations (every job in flight), less what was allocated before, less
   what bare httpx's run on the same fake holds at the same point (the fake's videos and
   its log of every request and answer: test equipment, not the library), divided by N.
   Target ≤ 16 KiB. The whole figure and the run's peak, the fake included, are shown
   beside it.
3. ``create_videos`` CPU per job at the largest size (one call, one ledger write), against
   ``create_video`` one at a time (information). Target ≤ 1 ms.
4. Status requests per video with 1,000 in flight on the Sora protocol (list refresh),
   generation times 60 s ± 10 % (seeded). Target ≤ 1. Beside it, for information, the
   status requests per video of the memory-ledger CPU runs at each size.
5. For information: the memory-ledger CPU rows at the smallest and largest size again, with
   the application's collector threshold raised (``gc.set_threshold(100_000)``, restored
   after), the setting the waiting guide shows for a process with thousands of jobs in
   flight. A library never changes it on its own: it is the whole process's.

The provider is FakeSora in-process on simulated time (a VirtualClock that leaps whenever
every task waits), so its own cost is in every figure, the bare one included.

Run: ``python benchmarks/scale.py [--quick]``. ``--quick`` runs tiny sizes, for the smoke
test. Exits 1 when a target is missed. For a quicker look at one figure:
``--sizes 1000 --ledger sqlite --cpu-only`` (the CPU rows of the SQLite ledger at 1,000 in
flight, with bare httpx beside them).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import itertools
import platform
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
from _common import Row, markdown_table

import soravideo as sv
from soravideo.repositories import JobRepository, MemoryRepository, SQLiteRepository
from soravideo.testing import FakeSora
from soravideo.transports import SoraTransport

T = TypeVar("T")

BASE_URL = "http://fakesora.invalid/v1"
API_KEY = "sk-benchmark"
SEED = 2026
GENERATION_T = 60.0
SPREAD = 0.10
KIB = 1024
WARM_UP = 50  # jobs of the uncounted first run
REPEAT = 3  # runs of each CPU row (bare's too): the median is shown
# The young-generation threshold of the info row (CPython's default is 700).
APP_THRESHOLD = 100_000


@dataclass(frozen=True)
class Sizes:
    in_flight: tuple[int, ...]
    listing: int


FULL = Sizes(in_flight=(100, 1_000, 10_000), listing=1_000)
QUICK = Sizes(in_flight=(2, 5), listing=4)
LEDGERS = ("memory", "sqlite")


def settings(n: int) -> dict[str, Any]:
    """Every job in flight at once: no client limit below N, no rate limit in the way."""
    return {"max_concurrency": n, "requests_per_second": 1_000_000.0}


def prompt(i: int) -> str:
    return f"scale video {i}: a red fox in the snow"


def generation_time(n: int) -> Callable[[Mapping[str, Any]], float]:
    rng = random.Random(f"{SEED}:{n}")
    times = {prompt(i): GENERATION_T * (1 + SPREAD * (2 * rng.random() - 1)) for i in range(n)}
    return lambda params: times[str(params["prompt"])]


def video_request(i: int) -> sv.CreateVideoRequest:
    return sv.CreateVideoRequest(prompt=prompt(i), duration=8)


@dataclass
class Sim:
    clock: sv.VirtualClock
    fake: FakeSora
    http: httpx.AsyncClient

    def client(self, repository: JobRepository, n: int) -> sv.AsyncSoraVideo:
        transport = SoraTransport(
            base_url=BASE_URL, api_key=API_KEY, http_client=self.http, clock=self.clock
        )
        return sv.AsyncSoraVideo(
            transport=transport, repository=repository, clock=self.clock, **settings(n)
        )


def make_sim(n: int) -> Sim:
    clock = sv.VirtualClock()
    fake = FakeSora(clock=clock, generation_time=generation_time(n), seed=SEED)
    http = httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE_URL)
    return Sim(clock=clock, fake=fake, http=http)


@dataclass
class Run:
    cpu_per_job: float
    status_per_video: float
    peak_bytes_per_job: float | None = None
    # Traced with every job in flight, halfway through the generations.
    in_flight_bytes_per_job: float | None = None
    # Of cpu_per_job, the CPU of the garbage collector's full (generation 2) passes.
    full_gc_per_job: float = 0.0


class FullCollections:
    """Count the CPU time of the garbage collector's full (generation 2) passes in a block."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def _note(self, phase: str, info: Mapping[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started

    def __enter__(self) -> FullCollections:
        gc.callbacks.append(self._note)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._note)


@contextlib.contextmanager
def collector_threshold(first: int) -> Iterator[None]:
    """The application's setting of the waiting guide: the garbage collector's first
    threshold raised to ``first`` for the block, the process's thresholds restored after."""
    saved = gc.get_threshold()
    gc.set_threshold(first, *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)


async def tuned_row(sizes: Sequence[int], default: Mapping[int, Run], repeat: int) -> Row:
    """The memory-ledger CPU at the smallest and largest size, the collector tuned."""
    small, large = min(sizes), max(sizes)
    with collector_threshold(APP_THRESHOLD):
        tuned = {
            n: await median_run(repeat, lambda n=n: library_run(n, MemoryRepository()))
            for n in (small, large)
        }
    growth = tuned[large].cpu_per_job / tuned[small].cpu_per_job
    return Row(
        f"CPU per job at {small:,} / {large:,} in flight, memory ledger, the application's "
        f"collector threshold raised (gc.set_threshold({APP_THRESHOLD:_}), the waiting guide); "
        "growth",
        f"{ms(tuned[small].cpu_per_job)} / {ms(tuned[large].cpu_per_job)}; {growth:.2f}×",
        f"{ms(default[small].cpu_per_job)} / {ms(default[large].cpu_per_job)} (the rows above)",
        tuned[large].cpu_per_job / default[large].cpu_per_job,
        "— (info)",
        None,
    )


def traced_now(base: int) -> int:
    return tracemalloc.get_traced_memory()[0] - base


async def library_run(
    n: int, repository: JobRepository, *, bulk: bool = False, trace: bool = False
) -> Run:
    """N jobs created (one by one, or in one ``create_videos``), each awaited by its own
    ``wait_for_job``, the engine running in the background (``async with``)."""
    sim = make_sim(n)
    gc.collect()
    in_flight: int | None = None
    if trace:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    started = time.process_time()
    full = FullCollections()
    try:
        with full:
            async with sim.client(repository, n) as client:
                if bulk:
                    jobs = await client.videos.create_videos([video_request(i) for i in range(n)])
                else:
                    jobs = [await client.videos.create_video(video_request(i)) for i in range(n)]
                done: list[sv.Job] = []

                async def wait(job_id: str) -> None:
                    done.append(await client.videos.wait_for_job(job_id))

                async def sample() -> None:
                    nonlocal in_flight
                    await sim.clock.sleep(GENERATION_T / 2)  # every job still generating
                    in_flight = traced_now(base)

                async with anyio.create_task_group() as tg:
                    for job in jobs:
                        tg.start_soon(wait, job.id)
                    if trace:
                        tg.start_soon(sample)
        cpu = time.process_time() - started
        peak = None
        if trace:
            peak = (tracemalloc.get_traced_memory()[1] - base) / n
    finally:
        if trace:
            tracemalloc.stop()
        await sim.http.aclose()
    assert len(done) == n
    assert all(job.status is sv.JobStatus.COMPLETED for job in done)
    assert sim.fake.created_count() == n
    return Run(
        cpu / n,
        sim.fake.status_request_count() / n,
        peak,
        in_flight / n if in_flight is not None else None,
        full.seconds / n,
    )


async def create_only(n: int, *, bulk: bool) -> float:
    """CPU per job of creating N jobs (engine running), without waiting for them."""
    sim = make_sim(n)
    requests = [video_request(i) for i in range(n)]
    try:
        async with sim.client(MemoryRepository(), n) as client:
            started = time.process_time()
            if bulk:
                await client.videos.create_videos(requests)
            else:
                for request in requests:
                    await client.videos.create_video(request)
            cpu = time.process_time() - started
            await client.videos.wait_for_job((await client.videos.list_jobs(limit=1)).items[0].id)
    finally:
        await sim.http.aclose()
    return cpu / n


async def on_clock(clock: sv.VirtualClock, work: Callable[[], Awaitable[T]]) -> T:
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.run)
        result = await work()
        tg.cancel_scope.cancel()
    return result


async def bare_run(n: int, *, trace: bool = False) -> Run:
    """Bare httpx on the same simulated provider: create N videos, then read list pages
    (100 a page, newest first) every ``GENERATION_T / 6`` seconds until all ended.

    With ``trace``, the memory traced halfway through the generations (the fake's videos
    and its log of requests, as in a library run) is kept too."""
    sim = make_sim(n)
    http = sim.http
    gc.collect()
    in_flight: int | None = None
    if trace:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    started = time.process_time()

    async def work() -> None:
        nonlocal in_flight
        open_ids: set[str] = set()
        for i in range(n):
            response = await http.post(
                "/videos",
                json={"prompt": prompt(i), "seconds": "8"},
                headers={"Idempotency-Key": f"bare-{i}"},
            )
            response.raise_for_status()
            open_ids.add(response.json()["id"])
        rounds = 0
        while open_ids:
            await sim.clock.sleep(GENERATION_T / 6)
            rounds += 1
            if trace and rounds == 3:  # halfway
                in_flight = traced_now(base)
            after: str | None = None
            while True:
                params: dict[str, Any] = {"limit": 100, "order": "desc"}
                if after is not None:
                    params["after"] = after
                page = (await http.get("/videos", params=params)).json()
                for video in page["data"]:
                    if video["status"] in ("completed", "failed"):
                        open_ids.discard(video["id"])
                if not page["has_more"] or not page["data"]:
                    break
                after = page["data"][-1]["id"]

    try:
        await on_clock(sim.clock, work)
        cpu = time.process_time() - started
    finally:
        if trace:
            tracemalloc.stop()
        await http.aclose()
    return Run(
        cpu / n,
        sim.fake.status_request_count() / n,
        None,
        in_flight / n if in_flight is not None else None,
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


async def median_run(repeat: int, measure: Callable[[], Awaitable[Run]]) -> Run:
    """The run of median CPU per job among ``repeat`` runs (the machine's noise, both ways)."""
    runs = sorted([await measure() for _ in range(repeat)], key=lambda r: r.cpu_per_job)
    return runs[len(runs) // 2]


async def cpu_rows(
    label: str,
    sizes: Sequence[int],
    make_repository: Callable[[int], JobRepository],
    bound: float,
    bare: Mapping[int, float],
    repeat: int = 1,
) -> tuple[list[Row], dict[int, Run]]:
    rows: list[Row] = []
    runs: dict[int, Run] = {}
    for n in sizes:
        run = runs[n] = await median_run(repeat, lambda n=n: library_run(n, make_repository(n)))
        rows.append(
            Row(
                f"CPU per job, {n:,} in flight, each with its own wait_for_job, {label}",
                ms(run.cpu_per_job),
                f"{ms(bare[n])} (bare httpx)",
                run.cpu_per_job / bare[n],
                f"≤ {bound * 1e3:g} ms",
                run.cpu_per_job <= bound,
            )
        )
    rows.append(
        Row(
            "of which the garbage collector's full (generation 2) passes at "
            f"{' / '.join(f'{n:,}' for n in sizes)} in flight, {label}",
            " / ".join(ms(runs[n].full_gc_per_job) for n in sizes),
            "—",
            None,
            "— (info)",
            None,
        )
    )
    small, large = min(sizes), max(sizes)
    growth = runs[large].cpu_per_job / runs[small].cpu_per_job
    rows.append(
        Row(
            f"CPU per job growth {small:,} → {large:,} in flight, {label}",
            f"{growth:.2f}×",
            f"{ms(runs[small].cpu_per_job)} at {small:,}",
            growth,
            "≤ 1.3×",
            growth <= 1.3,
        )
    )
    return rows, runs


async def run(
    sizes: Sizes, ledgers: Sequence[str] = LEDGERS, *, cpu_only: bool = False, repeat: int = 1
) -> list[Row]:
    # A first run pays once for what a process does at its first job (lazy imports,
    # generated converters): one warm-up run of each kind, not counted, as timeit would.
    await bare_run(WARM_UP)
    await library_run(WARM_UP, MemoryRepository())
    bare = {
        n: (await median_run(repeat, lambda n=n: bare_run(n))).cpu_per_job for n in sizes.in_flight
    }
    rows: list[Row] = []
    memory_runs: dict[int, Run] = {}
    if "memory" in ledgers:
        rows, memory_runs = await cpu_rows(
            "memory ledger", sizes.in_flight, lambda _n: MemoryRepository(), 1e-3, bare, repeat
        )
    if "sqlite" in ledgers:
        with tempfile.TemporaryDirectory() as tmp:
            files = itertools.count()
            sqlite, _ = await cpu_rows(
                "SQLite ledger",
                sizes.in_flight,
                lambda n: SQLiteRepository(Path(tmp) / f"scale-{n}-{next(files)}.db"),
                2e-3,
                bare,
                repeat,
            )
        rows += sqlite
    if memory_runs:
        # Last of the CPU rows: a run with the collector tuned leaves the heap laid out
        # otherwise, which the other rows should not inherit.
        rows.append(await tuned_row(sizes.in_flight, memory_runs, repeat))
    if cpu_only:
        return rows
    large = max(sizes.in_flight)
    traced = await library_run(large, MemoryRepository(), trace=True)
    bare_traced = await bare_run(large, trace=True)
    in_flight = (traced.in_flight_bytes_per_job or 0.0) / KIB
    fake = (bare_traced.in_flight_bytes_per_job or 0.0) / KIB
    per_job = in_flight - fake
    peak = (traced.peak_bytes_per_job or 0.0) / KIB
    rows.append(
        Row(
            f"memory per job in flight, {large:,} in flight, memory ledger (traced halfway, "
            "less bare httpx's on the same fake)",
            f"{per_job:.1f} KiB",
            "16 KiB",
            per_job / 16,
            "≤ 16 KiB",
            per_job <= 16,
        )
    )
    rows.append(
        Row(
            f"memory per job, {large:,} in flight, the fake included: halfway; bare httpx "
            "halfway; tracemalloc peak of the run",
            f"{in_flight:.1f} KiB",
            f"{fake:.1f} KiB; {peak:.1f} KiB",
            None,
            "— (info)",
            None,
        )
    )
    bulk = await create_only(large, bulk=True)
    one_by_one = await create_only(large, bulk=False)
    rows.append(
        Row(
            f"create_videos CPU per job, {large:,} in one call, memory ledger",
            ms(bulk),
            f"{ms(one_by_one)} (create_video one at a time)",
            bulk / one_by_one,
            "≤ 1 ms",
            bulk <= 1e-3,
        )
    )
    listing = await library_run(sizes.listing, MemoryRepository(), bulk=True)
    rows.append(
        Row(
            f"status requests per video, {sizes.listing:,} in flight, Sora protocol (list refresh)",
            f"{listing.status_per_video:.2f}",
            "1",
            listing.status_per_video,
            "≤ 1",
            listing.status_per_video <= 1,
        )
    )
    per_size = [memory_runs[n].status_per_video for n in sizes.in_flight if n in memory_runs]
    if per_size:
        rows.append(
            Row(
                "status requests per video at "
                f"{' / '.join(f'{n:,}' for n in sizes.in_flight)} in flight, Sora protocol "
                "(list refresh; the memory-ledger CPU runs above)",
                " / ".join(f"{value:.2f}" for value in per_size),
                "1",
                max(per_size),
                "— (info)",
                None,
            )
        )
    return rows


def settings_note(sizes: Sizes, repeat: int = 1) -> str:
    return "\n".join(
        [
            f"Sizes {', '.join(f'{n:,}' for n in sizes.in_flight)} in flight; client "
            f"max_concurrency = N, requests_per_second = 1e6 (every job at the provider at "
            f"once), other settings the defaults; generation times {GENERATION_T:g} s ± "
            f"{SPREAD:.0%} (seed {SEED}); FakeSora in-process on a VirtualClock; jobs created "
            "one by one with create_video (the create_videos row: one call), the engine in "
            "the background (async with), then one wait_for_job task a job in one task group.",
            "CPU = time.process_time() from the first create to the last wait's return, "
            f"divided by N (the SQLite ledger's thread included), the median of {repeat} "
            "run(s) of each row (bare's too), after one uncounted warm-up "
            f"run of {WARM_UP} jobs each (lazy imports, generated converters: a process pays "
            "them once). Bare httpx: POST /videos a "
            f"job, then every {GENERATION_T / 6:g} s list pages until every video ended, on the "
            'same fake; its ratio column is library / bare. The "of which" rows: the CPU '
            "of the garbage collector's full (generation 2) passes during those runs "
            "(gc.callbacks), included in their CPU. The collector row: the same memory-ledger "
            f"runs with gc.set_threshold({APP_THRESHOLD:_}) (CPython's default first "
            "threshold is 700), restored after; its ratio is against the default's row at "
            "the largest size.",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        metavar="N",
        help="jobs in flight to measure (instead of 100, 1,000 and 10,000)",
    )
    parser.add_argument(
        "--ledger",
        choices=LEDGERS,
        action="append",
        help="measure this ledger's CPU rows only (repeat for both; default: both)",
    )
    parser.add_argument(
        "--cpu-only", action="store_true", help="the CPU rows only (no memory, listing rows)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        metavar="K",
        help=f"runs of each CPU row, the median shown (default {REPEAT}; 1 with --quick)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.sizes:
        sizes = Sizes(in_flight=tuple(args.sizes), listing=min(sizes.listing, max(args.sizes)))
    started = time.perf_counter()
    repeat = args.repeat or (1 if args.quick else REPEAT)
    rows = anyio.run(
        functools.partial(
            run, sizes, tuple(args.ledger or LEDGERS), cpu_only=args.cpu_only, repeat=repeat
        )
    )
    print(markdown_table(rows))
    print()
    print(settings_note(sizes, repeat))
    print(
        f"\nsoravideo {sv.__version__} · Python {platform.python_version()} · "
        f"{platform.machine()} · {time.perf_counter() - started:.1f} s in all"
        + (" · QUICK sizes: not a measurement" if args.quick else "")
    )
    return 0 if all(row.ok is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
