"""Engine yardstick: the JobRunner on FakeSora, side by side with what a bare client does.

Every row is measured in this run, next to its baseline (or its bound):

1. Polling. For generation times of 10 s, 60 s and 300 s (each video ±10 %, seeded), the
   status requests each completed video cost and the median delay between the video
   finishing at the fake and the library knowing it (``job.completed_at``), against fixed
   one-second polling as the official ``openai`` client does it (``retrieve``, sleep 1 s,
   repeat) written as a loop of ``SoraTransport.fetch`` on the same FakeSora and the same
   simulated clock. Each video runs alone (no list refresh shares the cost); the
   "at once" rows add the same videos submitted together. Targets: ≤ 6 requests a video,
   delay ≤ max(1 s, 5 % of the generation time).
2. Unknown server limit. 100 videos, FakeSora(max_concurrent=4) answering 429 beyond it,
   the client not told (``max_concurrency`` 8, then 16): makespan from the first create to
   the last completion the library knows, against ``ceil(N / 4) × T``. Target ≤ 1.1 × the
   bound with no job failed.
3. Overhead. Zero generation time, FakeSora in-process on real time: wall-clock per job
   through ``AsyncSoraVideo`` (memory ledger; a SQLite row beside it for information)
   against the same HTTP calls made with a bare ``httpx.AsyncClient`` on the same kind of
   fake: the library's own request bodies replayed, one ``POST /videos`` a job plus as many
   ``GET /videos/{id}`` as the library sent (counted in the fake's request log). Repeated,
   library and baseline alternating; the median of each and of their paired ratios.
   Target ≤ 1.3 ×.
4. Batches. A batch of 10 and a batch of 200 (``max_batch_size`` raised) at concurrency 5:
   makespan against ``ceil(N / 5) × T``. Target ≤ 1.1 ×.
5. Takeover. Real processes on a shared SQLite ledger and FakeSora on loopback (real
   time): a worker sends four 1-second videos of ten, is SIGKILLed, and a second process
   starts at once. Measured: from the kill to the moment the survivor knows the last of
   the dead worker's videos ended (they end before its leases expire, so this is when it
   took each one over and looked at it), against ``lease_seconds`` (2 s) plus one poll
   interval. Target ≤ that bound, each video created once.

6. Webhooks ([W2-7]). FakeSora pushing OpenAI's signed ``video.completed`` events (thin:
   the video's id) to ``client.webhooks.handle`` as each video finishes, polling kept as
   the safety net (``poll_max_interval``): the status requests each video cost (the one
   read a thin event needs; target ≤ 1) and the median delay from the push to the job
   known completed in the ledger.

Simulated time (rows 1, 2, 4 and 6) is FakeSora's clock, a VirtualClock that leaps whenever
every task waits, so minutes of generation take milliseconds and repeat exactly.

Run: ``python benchmarks/engine.py [--quick]`` (``make bench`` runs it). ``--quick`` runs
tiny sizes, for the smoke test. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
from _common import Row, markdown_table, median
from _takeover_child import API_KEY as TAKEOVER_KEY
from _takeover_child import CONCURRENCY as TAKEOVER_CONCURRENCY

import soravideo as sv
from soravideo.repositories import JobRepository, MemoryRepository, SQLiteRepository
from soravideo.testing import FakeSora
from soravideo.transports import SoraTransport

T = TypeVar("T")

BASE_URL = "http://fakesora.invalid/v1"
API_KEY = "sk-benchmark"
GENERATION_TIMES = (10.0, 60.0, 300.0)
SPREAD = 0.10  # each video's generation time is T × (1 ± up to 10 %)
SEED = 2026
FLEET_T = 60.0
FLEET_SERVER_LIMIT = 4
FLEET_CONCURRENCY = (8, 16)
BATCH_T = 60.0
BATCH_CONCURRENCY = 5
TAKEOVER_CHILD = Path(__file__).resolve().parent / "_takeover_child.py"


@dataclass(frozen=True)
class Sizes:
    videos_per_t: int
    fleet: int
    overhead_jobs: int
    overhead_repeats: int
    sqlite_jobs: int
    sqlite_repeats: int
    batches: tuple[int, int]
    takeover: int
    # The takeover's real times: generation (shorter than the lease: done before the
    # survivor may take it over), lease_seconds and poll_min_interval.
    takeover_t: float = 1.0
    takeover_lease: float = 2.0
    takeover_poll: float = 0.5


FULL = Sizes(
    videos_per_t=8,
    fleet=100,
    overhead_jobs=300,
    overhead_repeats=5,
    sqlite_jobs=100,
    sqlite_repeats=3,
    batches=(10, 200),
    takeover=10,
)
QUICK = Sizes(
    videos_per_t=1,
    fleet=8,
    overhead_jobs=10,
    overhead_repeats=1,
    sqlite_jobs=3,
    sqlite_repeats=1,
    batches=(10, 20),
    takeover=6,
    # A quarter of the full times: the smoke test waits out the lease in real time.
    takeover_t=0.25,
    takeover_lease=0.5,
    takeover_poll=0.125,
)

# The library's settings, as a user would pass them (anything not named is the default).
POLL_SETTINGS: dict[str, Any] = {"max_concurrency": 16}
OVERHEAD_SETTINGS: dict[str, Any] = {"max_concurrency": 8, "requests_per_second": 1_000_000.0}


# ------------------------------------------------------------------------------ plumbing


@dataclass
class Sim:
    """One FakeSora in-process, and an httpx client that reaches it without sockets."""

    clock: sv.Clock
    fake: FakeSora
    http: httpx.AsyncClient

    def transport(self) -> SoraTransport:
        """Return a new SoraTransport on the shared client (a client closes its transport)."""
        return SoraTransport(
            base_url=BASE_URL, api_key=API_KEY, http_client=self.http, sleep=self.clock.sleep
        )

    def client(self, repository: JobRepository | None = None, **settings: Any) -> sv.AsyncSoraVideo:
        return sv.AsyncSoraVideo(
            transport=self.transport(),
            repository=repository if repository is not None else MemoryRepository(),
            clock=self.clock,
            **settings,
        )

    async def aclose(self) -> None:
        # The transport was given this client, so it leaves closing it to us.
        await self.http.aclose()


def make_sim(
    clock: sv.Clock, generation_time: float | Callable[[Mapping[str, Any]], float], **knobs: Any
) -> Sim:
    fake = FakeSora(clock=clock, generation_time=generation_time, seed=SEED, **knobs)
    http = httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE_URL)
    return Sim(clock=clock, fake=fake, http=http)


def video_request(i: int) -> sv.CreateVideoRequest:
    return sv.CreateVideoRequest(prompt=f"benchmark video {i}: a red fox in the snow", duration=8)


async def on_clock(clock: sv.VirtualClock, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` while the virtual clock leaps (the library's runner does this itself)."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.run)
        result = await work()
        tg.cancel_scope.cancel()
    return result


def finished_at(fake: FakeSora, remote_id: str, generation_time: float) -> float:
    """When the video finished at the fake, to the microsecond.

    The API's ``completed_at`` is whole seconds; the request log has the create's exact
    arrival, and the fake finishes a video exactly ``generation_time`` later.
    """
    for record in fake.requests:
        if record.tag == "created" and record.response_json()["id"] == remote_id:
            end = record.time + generation_time
            shown = fake.video(remote_id)["completed_at"]
            assert shown == math.floor(end), (shown, end)
            return end
    raise LookupError(f"no create of {remote_id} in the fake's log")


def completed_ts(job: sv.Job) -> float:
    assert job.status is sv.JobStatus.COMPLETED, (job.id, job.status, job.error)
    assert job.completed_at is not None
    return job.completed_at.timestamp()


# ------------------------------------------------------------------------------ 1. polling


@dataclass
class Freshness:
    requests: list[float]
    delays: list[float]


async def poll_every_second(
    transport: SoraTransport, clock: sv.Clock, request: sv.CreateVideoRequest, key: str
) -> tuple[str, float]:
    """The official client's ``create_and_poll``: retrieve, sleep one second, repeat."""
    remote = await transport.submit(request, idempotency_key=key)
    while True:
        remote = await transport.fetch(remote.remote_id)
        if remote.status.is_terminal:
            return remote.remote_id, clock.time()
        await clock.sleep(1.0)


async def freshness_alone(times: Sequence[float]) -> tuple[Freshness, Freshness]:
    """Each video alone on its own fake: the library, then the baseline on that same fake."""
    ours, base = Freshness([], []), Freshness([], [])
    for i, generation_time in enumerate(times):
        clock = sv.VirtualClock()
        sim = make_sim(clock, generation_time)
        try:
            async with sim.client(**POLL_SETTINGS) as client:
                job = await client.videos.create_video(video_request(i))
                job = await client.videos.wait_for_job(job.id)
            assert job.remote_id is not None
            ours.requests.append(sim.fake.status_request_count())
            ours.delays.append(
                completed_ts(job) - finished_at(sim.fake, job.remote_id, generation_time)
            )

            before = sim.fake.status_request_count()

            async def baseline(i: int = i, sim: Sim = sim) -> tuple[str, float]:
                async with sim.transport() as transport:
                    return await poll_every_second(
                        transport, sim.clock, video_request(i), f"baseline-{i}"
                    )

            remote_id, known = await on_clock(clock, baseline)
            base.requests.append(sim.fake.status_request_count() - before)
            base.delays.append(known - finished_at(sim.fake, remote_id, generation_time))
        finally:
            await sim.aclose()
    return ours, base


async def freshness_together(times: Sequence[float]) -> tuple[Freshness, Freshness]:
    """All videos at once on one fake (the library refreshes them with shared list calls)."""
    by_prompt = {video_request(i).prompt: t for i, t in enumerate(times)}
    clock = sv.VirtualClock()
    sim = make_sim(clock, lambda params: by_prompt[str(params["prompt"])])
    ours, base = Freshness([], []), Freshness([], [])
    try:
        async with sim.client(**POLL_SETTINGS) as client:
            jobs = [await client.videos.create_video(video_request(i)) for i in range(len(times))]
            done = [await client.videos.wait_for_job(job.id) for job in jobs]
        spent = sim.fake.status_request_count()
        ours.requests = [spent / len(times)] * len(times)
        for job in done:
            assert job.remote_id is not None
            end = finished_at(sim.fake, job.remote_id, by_prompt[job.request.prompt])
            ours.delays.append(completed_ts(job) - end)

        async def baseline() -> list[tuple[str, float]]:
            results: list[tuple[str, float]] = []

            async def one(transport: SoraTransport, i: int) -> None:
                results.append(
                    await poll_every_second(transport, clock, video_request(i), f"baseline-{i}")
                )

            async with sim.transport() as transport, anyio.create_task_group() as tg:
                for i in range(len(times)):
                    tg.start_soon(one, transport, i)
            return results

        results = await on_clock(clock, baseline)
        base_spent = sim.fake.status_request_count() - spent
        base.requests = [base_spent / len(times)] * len(times)
        prompts = {
            r.response_json()["id"]: r.json()["prompt"]
            for r in sim.fake.requests
            if r.tag == "created"
        }
        for remote_id, known in results:
            base.delays.append(
                known - finished_at(sim.fake, remote_id, by_prompt[prompts[remote_id]])
            )
    finally:
        await sim.aclose()
    return ours, base


def generation_times(t: float, n: int) -> list[float]:
    rng = random.Random(f"{SEED}:{t}")
    return [t * (1 + SPREAD * (2 * rng.random() - 1)) for _ in range(n)]


async def polling_rows(sizes: Sizes) -> list[Row]:
    rows: list[Row] = []
    together_rows: list[Row] = []
    for t in GENERATION_TIMES:
        times = generation_times(t, sizes.videos_per_t)
        ours, base = await freshness_alone(times)
        # The mean (all requests / all videos), so no costly outlier hides behind a median.
        requests = statistics.fmean(ours.requests)
        base_requests = statistics.fmean(base.requests)
        rows.append(
            Row(
                f"status requests / video, T={t:.0f} s (each video alone; max {max(ours.requests):.0f})",
                f"{requests:.1f}",
                f"{base_requests:.1f} (1 s polling)",
                requests / base_requests,
                "≤ 6",
                requests <= 6,
            )
        )
        delay, base_delay = median(ours.delays), median(base.delays)
        limit = max(1.0, 0.05 * t)
        rows.append(
            Row(
                f"median finish → known delay, T={t:.0f} s (max {max(ours.delays):.2f} s)",
                f"{delay:.2f} s",
                f"{base_delay:.2f} s (1 s polling)",
                delay / base_delay if base_delay > 0 else None,
                f"≤ {limit:g} s",
                delay <= limit,
            )
        )
        ours, base = await freshness_together(times)
        together_rows.append(
            Row(
                f"status requests / video, T={t:.0f} s, {len(times)} video(s) at once",
                f"{median(ours.requests):.2f} (delay {median(ours.delays):.2f} s)",
                f"{median(base.requests):.2f} (delay {median(base.delays):.2f} s)",
                median(ours.requests) / median(base.requests),
                "— (info)",
                None,
            )
        )
    return rows + together_rows


# ------------------------------------------------------------------ 2. unknown server limit


async def fleet_row(n: int, concurrency: int) -> Row:
    clock = sv.VirtualClock()
    sim = make_sim(clock, FLEET_T, max_concurrent=FLEET_SERVER_LIMIT)
    try:
        async with sim.client(max_concurrency=concurrency) as client:
            jobs = [await client.videos.create_video(video_request(i)) for i in range(n)]
            done = [await client.videos.wait_for_job(job.id) for job in jobs]
    finally:
        await sim.aclose()
    failed = sum(1 for job in done if job.status is not sv.JobStatus.COMPLETED)
    first = min(r.time for r in sim.fake.requests if r.route == "create")
    last = max(job.completed_at.timestamp() for job in done if job.completed_at is not None)
    makespan = last - first
    bound = math.ceil(n / FLEET_SERVER_LIMIT) * FLEET_T
    return Row(
        f"{n} videos, server limit {FLEET_SERVER_LIMIT} unknown, max_concurrency {concurrency}: "
        "makespan",
        f"{makespan:,.0f} s ({failed} failed, {sim.fake.rate_limited_count()} × 429, "
        f"peak {sim.fake.peak_concurrency()})",
        f"{bound:,.0f} s",
        makespan / bound,
        "≤ 1.1× bound, 0 failed",
        makespan <= 1.1 * bound and failed == 0,
    )


# ----------------------------------------------------------------------------- 3. overhead


@dataclass
class LibraryPass:
    seconds_per_job: float
    bodies: list[bytes]
    status_calls: int


async def library_pass(n: int, repository: JobRepository) -> LibraryPass:
    """Create ``n`` jobs then wait for each, on real time; zero generation time."""
    sim = make_sim(sv.SystemClock(), 0.0)
    try:
        async with sim.client(repository, **OVERHEAD_SETTINGS) as client:
            warm = await client.videos.create_video(video_request(-1))
            await client.videos.wait_for_job(warm.id)
            sim.fake.clear_requests()
            started = time.perf_counter()
            jobs = [await client.videos.create_video(video_request(i)) for i in range(n)]
            for job in jobs:
                completed_ts(await client.videos.wait_for_job(job.id))
            elapsed = time.perf_counter() - started
    finally:
        await sim.aclose()
    log = sim.fake.requests
    unexpected = {r.route for r in log} - {"create", "retrieve", "list"}
    assert not unexpected, unexpected
    creates = [r for r in log if r.route == "create"]
    assert len(creates) == n, (len(creates), n)
    return LibraryPass(
        seconds_per_job=elapsed / n,
        bodies=[r.body for r in creates],
        status_calls=len(log) - len(creates),
    )


async def bare_pass(bodies: Sequence[bytes], status_calls: int) -> float:
    """The same calls with a bare httpx client: POST each body, GET until done (and as often)."""
    n = len(bodies)
    fake = FakeSora(clock=sv.SystemClock(), generation_time=0.0, seed=SEED)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE_URL, headers=headers
    ) as http:
        warm = await http.post("/videos", json={"prompt": "warm", "seconds": "8"})
        warm.raise_for_status()
        fake.clear_requests()
        started = time.perf_counter()
        for i, body in enumerate(bodies):
            response = await http.post(
                "/videos",
                content=body,
                headers={"Content-Type": "application/json", "Idempotency-Key": f"bare-{i}"},
            )
            response.raise_for_status()
            video = response.json()
            gets = status_calls // n + (1 if i < status_calls % n else 0)
            while gets > 0 or video["status"] in ("queued", "in_progress"):
                response = await http.get(f"/videos/{video['id']}")
                response.raise_for_status()
                video = response.json()
                gets -= 1
            assert video["status"] == "completed", video
        elapsed = time.perf_counter() - started
    assert len(fake.requests) == n + status_calls, (len(fake.requests), n + status_calls)
    return elapsed / n


async def overhead_row(
    label: str,
    n: int,
    repeats: int,
    make_repository: Callable[[int], JobRepository],
    *,
    target: bool,
) -> Row:
    ours: list[float] = []
    base: list[float] = []
    ratios: list[float] = []
    calls = 0.0
    for rep in range(repeats):
        lib = await library_pass(n, make_repository(rep))
        bare = await bare_pass(lib.bodies, lib.status_calls)
        ours.append(lib.seconds_per_job)
        base.append(bare)
        ratios.append(lib.seconds_per_job / bare)
        calls = (n + lib.status_calls) / n
    ratio = median(ratios)
    return Row(
        f"overhead per job, zero generation time, {label} ({n} jobs × {repeats}, "
        f"{calls:.2f} HTTP calls a job)",
        f"{median(ours) * 1e6:,.0f} µs",
        f"{median(base) * 1e6:,.0f} µs (bare httpx)",
        ratio,
        "≤ 1.3×" if target else "— (info)",
        ratio <= 1.3 if target else None,
    )


# ------------------------------------------------------------------------------ 4. batches


async def batch_row(n: int) -> Row:
    clock = sv.VirtualClock()
    sim = make_sim(clock, BATCH_T)
    try:
        async with sim.client(max_concurrency=8, max_batch_size=max(n, 10)) as client:
            created = await client.batches.create_batch(
                sv.BatchVideoRequest(
                    videos=[video_request(i) for i in range(n)],
                    name=f"benchmark-{n}",
                    concurrency=BATCH_CONCURRENCY,
                )
            )
            batch = await client.batches.process_batch(created.batch_id)
            jobs = [await client.videos.get_job(job_id) for job_id in created.job_ids]
    finally:
        await sim.aclose()
    first = min(r.time for r in sim.fake.requests if r.route == "create")
    makespan = max(completed_ts(job) for job in jobs) - first
    bound = math.ceil(n / BATCH_CONCURRENCY) * BATCH_T
    return Row(
        f"batch of {n} at concurrency {BATCH_CONCURRENCY}: makespan",
        f"{makespan:,.1f} s ({batch.status.value}, peak {sim.fake.peak_concurrency()})",
        f"{bound:,.0f} s",
        makespan / bound,
        "≤ 1.1× bound",
        makespan <= 1.1 * bound and batch.status is sv.BatchStatus.COMPLETED,
    )


# ------------------------------------------------------------------------------ 5. takeover


def takeover_child(
    base_url: str, db: Path, mode: str, n: int, sizes: Sizes
) -> subprocess.Popen[str]:
    lease, poll = sizes.takeover_lease, sizes.takeover_poll
    args = [base_url, str(db), mode, str(n), str(lease), str(poll)]
    return subprocess.Popen(
        [sys.executable, str(TAKEOVER_CHILD), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_submissions(proc: subprocess.Popen[str], count: int) -> None:
    """Wait until the worker has created all its videos and sent ``count`` of them (the
    engine may send the first ones before the last is created)."""
    assert proc.stdout is not None
    seen, created = 0, False
    for line in proc.stdout:
        seen += line.startswith("submitted")
        created = created or line.startswith("created")
        if seen >= count and created:
            return
    raise RuntimeError(f"the worker ended early: {proc.stderr.read() if proc.stderr else ''}")


def sigkill_mid_run(base_url: str, db: Path, n: int, sizes: Sizes) -> float:
    """Run the first worker until its slots are full, SIGKILL it; return when it died."""
    first = takeover_child(base_url, db, "start", n, sizes)
    wait_for_submissions(first, TAKEOVER_CONCURRENCY)
    first.kill()  # SIGKILL: its leases stay behind until they expire
    killed_at = time.time()
    first.communicate(timeout=30)
    return killed_at


def survive(base_url: str, db: Path, n: int, sizes: Sizes) -> None:
    second = takeover_child(base_url, db, "resume", n, sizes)
    out, err = second.communicate(timeout=120)
    if second.returncode != 0 or not out.strip().endswith("done"):
        raise RuntimeError(
            f"the survivor failed: rc={second.returncode} out={out[-600:]!r} err={err}"
        )


async def ledger_jobs(db: Path) -> list[sv.Job]:
    async with SQLiteRepository(db) as repository:
        return list((await repository.list_jobs(limit=1000)).items)


async def takeover_row(sizes: Sizes) -> Row:
    n = sizes.takeover
    fake = FakeSora(api_key=TAKEOVER_KEY, generation_time=sizes.takeover_t, seed=SEED)
    with tempfile.TemporaryDirectory() as tmp, fake.serve() as base_url:
        db = Path(tmp) / "takeover.db"
        killed_at = await anyio.to_thread.run_sync(sigkill_mid_run, base_url, db, n, sizes)
        orphans = {
            job.id
            for job in await ledger_jobs(db)
            if job.status is sv.JobStatus.PROCESSING and job.remote_id is not None
        }
        await anyio.to_thread.run_sync(survive, base_url, db, n, sizes)
        jobs = await ledger_jobs(db)
    # The videos of the dead worker ended before its leases expired: the survivor knows
    # each one ended once it has taken the job over and looked at it.
    taken = max(completed_ts(job) - killed_at for job in jobs if job.id in orphans)
    bound = sizes.takeover_lease + sizes.takeover_poll
    done = sum(job.status is sv.JobStatus.COMPLETED for job in jobs)
    return Row(
        f"takeover after SIGKILL, lease {sizes.takeover_lease:g} s: {len(orphans)} videos in "
        f"flight of {n}",
        f"{taken:,.2f} s ({done}/{n} completed, {fake.created_count()} created)",
        f"{bound:g} s (lease + poll interval)",
        taken / bound,
        "≤ bound, each video once",
        taken <= bound and done == fake.created_count() == n,
    )


# ---------------------------------------------------------------------------------- main


# ------------------------------------------------------------------------------ 6. webhooks


async def webhook_rows(sizes: Sizes) -> list[Row]:
    t = 60.0
    n = max(2, sizes.videos_per_t)
    clock = sv.VirtualClock()
    fake = FakeSora(clock=clock, generation_time=t, seed=SEED)
    http = httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE_URL)
    transport = SoraTransport(
        base_url=BASE_URL,
        api_key=API_KEY,
        http_client=http,
        sleep=clock.sleep,
        webhook_secret=fake.webhooks.secret,
    )
    client = sv.AsyncSoraVideo(
        transport=transport,
        repository=MemoryRepository(),
        clock=clock,
        poll_max_interval=10 * t,
        **POLL_SETTINGS,
    )

    async def receive(headers: dict[str, str], body: bytes) -> None:
        await client.webhooks.handle(provider="sora", headers=headers, body=body)

    fake.webhooks.configure(receive)
    async with client, anyio.create_task_group() as tg:
        tg.start_soon(fake.webhooks.run)
        jobs = [await client.videos.create_video(video_request(i)) for i in range(n)]
        done = [await client.videos.wait_for_job(job.id, timeout=20 * t) for job in jobs]
        tg.cancel_scope.cancel()
    await http.aclose()
    reads = fake.status_request_count() / n
    # When each push was sent (the fake's clock), by video.
    pushed_at = {
        d.event.remote_id: d.sent_at for d in fake.webhooks.deliveries if d.sent_at is not None
    }
    delays = [
        completed_ts(job) - pushed_at[job.remote_id]
        for job in done
        if job.remote_id is not None and job.remote_id in pushed_at
    ]
    # Simulated seconds; the ledger keeps microseconds, so clamp the rounding's -0.000.
    delay = max(0.0, median(delays)) if delays else math.inf
    return [
        Row(
            f"status requests / video with webhooks on, T={t:.0f} s ({n} videos, thin events)",
            f"{reads:.2f}",
            "— (polling alone: row 1)",
            None,
            "≤ 1",
            reads <= 1,
        ),
        Row(
            "median push → job known completed",
            f"{delay:.3f} s",
            "—",
            None,
            "— (info)",
            None,
        ),
    ]


async def run(sizes: Sizes) -> list[Row]:
    rows = await polling_rows(sizes)
    rows += await webhook_rows(sizes)
    for concurrency in FLEET_CONCURRENCY:
        rows.append(await fleet_row(sizes.fleet, concurrency))
    rows.append(
        await overhead_row(
            "memory ledger",
            sizes.overhead_jobs,
            sizes.overhead_repeats,
            lambda _rep: MemoryRepository(),
            target=True,
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(
            await overhead_row(
                "SQLite ledger",
                sizes.sqlite_jobs,
                sizes.sqlite_repeats,
                lambda rep: SQLiteRepository(Path(tmp) / f"engine-{rep}.db"),
                target=False,
            )
        )
    for n in sizes.batches:
        rows.append(await batch_row(n))
    rows.append(await takeover_row(sizes))
    return rows


def settings_note(sizes: Sizes) -> str:
    defaults = sv.Settings()
    return "\n".join(
        [
            "Settings (anything not named is the library default: "
            f"poll_min_interval={defaults.poll_min_interval:g} s, "
            f"poll_max_interval={defaults.poll_max_interval:g} s, "
            f"requests_per_second={defaults.requests_per_second:g}, "
            f"max_retries={defaults.max_retries}):",
            f"- polling: {sizes.videos_per_t} videos per T, each T × (1 ± {SPREAD:.0%}) "
            f"(seed {SEED}); client {POLL_SETTINGS}, memory ledger, FakeSora on a "
            "VirtualClock (linear progress, no queue time); baseline = SoraTransport: "
            "create, then fetch / sleep 1 s until terminal, on the same fake and clock. "
            "Delay = job.completed_at − (the create's arrival in the fake's log + its "
            "generation time). Requests: mean over the videos; delays: median (and max).",
            f"- server limit: FakeSora(max_concurrent={FLEET_SERVER_LIMIT}) answering 429 "
            f"with Retry-After until its earliest job ends; T = {FLEET_T:g} s; "
            f"{sizes.fleet} jobs created at once; client max_concurrency "
            f"{' and '.join(map(str, FLEET_CONCURRENCY))}; makespan = last "
            "job.completed_at − first POST /videos at the fake.",
            f"- overhead: FakeSora(generation_time=0) in-process on real time (SystemClock), "
            f"client {OVERHEAD_SETTINGS}; {sizes.overhead_jobs} jobs created one by one, then "
            f"waited for one by one; one warm-up job first on both sides; "
            f"{sizes.overhead_repeats} rounds alternating library and bare httpx; medians, "
            "ratio = median of the paired ratios. SQLite: WAL file in a temporary directory, "
            f"{sizes.sqlite_jobs} jobs × {sizes.sqlite_repeats}.",
            f"- batches: BatchVideoRequest(concurrency={BATCH_CONCURRENCY}), T = {BATCH_T:g} s, "
            "client max_concurrency 8, max_batch_size raised to the batch size, memory "
            "ledger; makespan = last job.completed_at − first POST /videos.",
            f"- takeover: two processes (benchmarks/_takeover_child.py, sync client, SQLite "
            f"WAL ledger) on FakeSora served on loopback, T = {sizes.takeover_t:g} s; "
            f"lease_seconds={sizes.takeover_lease:g}, "
            f"poll_min_interval={sizes.takeover_poll:g} s, "
            f"max_concurrency 4; the survivor starts right after the SIGKILL; times are "
            "job.completed_at of the dead worker's jobs in flight − the parent's clock at the kill.",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    rows = anyio.run(run, sizes)
    print(markdown_table(rows))
    print()
    print(settings_note(sizes))
    print(
        f"\nsoravideo {sv.__version__} · Python {platform.python_version()} · "
        f"{platform.machine()} · {time.perf_counter() - started:.1f} s in all"
        + (" · QUICK sizes: not a measurement" if args.quick else "")
    )
    return 0 if all(row.ok is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
