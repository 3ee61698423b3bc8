"""``soravideo demo`` and ``make demo``: a real workload, offline, in a few seconds.

Everything runs on the simulated provider (FakeSora in-process, simulated time) with a
real SQLite ledger, so minutes of generation take a fraction of a second and nothing
leaves the machine.
"""

from __future__ import annotations

import csv
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread

from .._api.client import AsyncSoraVideo
from .._core.models import BatchStatus, CreateVideoRequest, Job, JobStatus
from ..repositories.sqlite import SQLiteRepository
from .formatting import EventPrinter, batch_summary, clip, file_size, money, table
from .plumbing import simulated_client

__all__ = ["run_demo"]

# (prompt, priority, clip length in seconds): created at once, sent by priority.
SINGLES: tuple[tuple[str, str, int], ...] = (
    ("a lighthouse in a winter storm, cinematic", "low", 4),
    ("a red fox running through fresh snow", "normal", 8),
    ("timelapse of a city skyline at dusk", "high", 4),
    ("a paper boat drifting down a rain gutter", "urgent", 8),
    ("macro shot of coffee poured into a cup", "normal", 12),
)
BATCH_PROMPTS: tuple[str, ...] = (
    "a hummingbird hovering at a red flower",
    "waves rolling onto a black sand beach",
    "a steam train crossing a stone viaduct",
    "",  # replaced by the simulator's moderation-failing prompt
    "northern lights over a frozen lake",
    "a potter shaping clay on a wheel",
)
BATCH_CONCURRENCY = 3
SINGLES_CONCURRENCY = 2
_LEDGER_FILES = ("ledger.db", "ledger.db-wal", "ledger.db-shm", "ledger.db-journal")


def _generation_time(params: Mapping[str, Any]) -> float:
    # Ten seconds of (simulated) work per second of video: longer clips take longer.
    return 10.0 * float(params.get("seconds") or 4)


def _fresh(output: Path) -> tuple[Path, Path]:
    """Remove what an earlier run left (only the demo's own files) and return the paths."""
    output.mkdir(parents=True, exist_ok=True)
    for name in _LEDGER_FILES:
        (output / name).unlink(missing_ok=True)
    videos = output / "videos"
    if videos.is_dir():
        shutil.rmtree(videos)
    videos.mkdir()
    return output / "ledger.db", videos


def _write_manifest(path: Path, prompts: Sequence[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["prompt", "duration"])
        for i, prompt in enumerate(prompts):
            writer.writerow([prompt, 4 if i % 2 else 8])


def _client(ledger: Path, videos: Path, *, seed: int, **settings: Any) -> AsyncSoraVideo:
    client = simulated_client(SQLiteRepository(ledger), seed=seed, download_dir=videos, **settings)
    _fake(client).generation_time = _generation_time
    return client


def _fake(client: AsyncSoraVideo) -> Any:
    """Return the FakeSora of a simulated client (typed as any fake provider)."""
    assert client.fake is not None
    return client.fake


def _named(job: Job) -> str:
    return f"{job.priority.value:<6}  {clip(job.request.prompt, 38):<38}"


async def _singles(
    ledger: Path, videos: Path, write: Callable[[str], None]
) -> tuple[list[Job], int, float]:
    write(
        f"1) {len(SINGLES)} videos of mixed priority created at once; "
        f"at most {SINGLES_CONCURRENCY} generate at the same time"
    )
    client = _client(ledger, videos, seed=1, max_concurrency=SINGLES_CONCURRENCY)
    start = client.clock.time()
    client.on("*", EventPrinter(write, client.clock.time, name=_named).on_event)
    # Stored before the engine starts, so that it sees all five at once and sends them
    # by priority (then age), not in the order they were typed.
    created = [
        await client.videos.create_video(
            CreateVideoRequest(prompt=prompt, priority=priority, duration=duration)
        )
        for prompt, priority, duration in SINGLES
    ]
    async with client:
        jobs: dict[str, Job] = {}

        async def wait(job_id: str) -> None:
            jobs[job_id] = await client.videos.wait_for_job(job_id, timeout=3600)

        async with anyio.create_task_group() as tg:
            for job in created:
                tg.start_soon(wait, job.id)
        elapsed = client.clock.time() - start
        status_requests = _fake(client).status_request_count()
    finished = sorted(
        jobs.values(),
        key=lambda j: (j.started_at or j.created_at, -j.priority.rank, j.created_at, j.id),
    )
    write("")
    write("   in the order they were sent:")
    rows = [
        (
            job.id,
            job.priority.value,
            job.status.value,
            f"{job.progress}%",
            str(job.attempts),
            money(job.estimated_cost_usd),
            file_size(job.result.bytes if job.result is not None else None),
        )
        for job in finished
    ]
    headers = ("ID", "PRIORITY", "STATUS", "PROGRESS", "ATTEMPTS", "COST", "FILE SIZE")
    for line in table(headers, rows, right="PROGRESS,ATTEMPTS,COST,FILE SIZE"):
        write(f"   {line}")
    return finished, status_requests, elapsed


async def _batch(
    ledger: Path, videos: Path, manifest: Path, write: Callable[[str], None]
) -> tuple[list[Job], int, float, bool]:
    client = _client(ledger, videos, seed=2)
    fake = _fake(client)
    prompts = [p or fake.failing_prompt for p in BATCH_PROMPTS]
    await anyio.to_thread.run_sync(_write_manifest, manifest, prompts)
    write(
        f"2) a batch of {len(prompts)} from {manifest} at concurrency {BATCH_CONCURRENCY}; "
        "the simulator's moderation refuses one prompt"
    )
    async with client:
        start = client.clock.time()
        client.on("*", EventPrinter(write, client.clock.time, name=_named).on_event)
        created = await client.batches.create_batch_from_file(
            manifest, name="demo-batch", concurrency=BATCH_CONCURRENCY
        )
        await client.batches.process_batch(created.batch_id)
        report = await client.batches.get_batch_status(created.batch_id)
        elapsed = client.clock.time() - start
        status_requests = fake.status_request_count()
        peak = fake.peak_concurrency()
    write("")
    for line in batch_summary(report):
        write(f"   {line}")
    write(
        f"     at most {peak} generating at once at the provider "
        f"(batch concurrency {BATCH_CONCURRENCY})"
    )
    p = report.progress
    as_expected = (
        report.batch.status is BatchStatus.PARTIAL
        and p.failed == 1
        and p.completed == len(prompts) - 1
        and peak <= BATCH_CONCURRENCY
    )
    return list(report.jobs), status_requests, elapsed, as_expected


def _one_second_polls(jobs: Sequence[Job]) -> int:
    """Status requests a client polling every second would have made for these jobs."""
    total = 0
    for job in jobs:
        if job.started_at is not None and job.completed_at is not None:
            total += max(1, math.ceil((job.completed_at - job.started_at).total_seconds()))
    return total


async def run_demo(output: Path, *, write: Callable[[str], None]) -> int:
    """Run the demo, writing its lines with ``write``; return 0 when it showed what it claims.

    Args:
        output: The directory for the ledger (``ledger.db``, fresh each run), the batch
            manifest and the downloaded videos (``videos/``).
        write: Prints one line.

    Returns:
        0 when every single video completed and the batch ended ``partial`` with exactly
        the one refused prompt failed; 1 otherwise.
    """
    wall = time.perf_counter()
    ledger, videos = await anyio.to_thread.run_sync(_fresh, output)
    write(
        "soravideo demo: offline on the simulated provider (FakeSora, simulated time), "
        f"SQLite ledger {ledger}"
    )
    write("")
    singles, singles_requests, singles_time = await _singles(ledger, videos, write)
    write("")
    batch_jobs, batch_requests, batch_time, batch_ok = await _batch(
        ledger, videos, output / "batch.csv", write
    )
    write("")
    everything = [*singles, *batch_jobs]
    requests = singles_requests + batch_requests
    naive = _one_second_polls(everything)
    count = len(everything)
    write(
        f"3) status requests: {requests} for {count} videos ({requests / count:.1f} per video); "
        f"polling every second would have made {naive} ({naive / count:.0f} per video)"
    )
    files = sorted(videos.glob("*.mp4"))
    write("")
    write(
        f"{singles_time + batch_time:.0f} s of simulated generation in "
        f"{time.perf_counter() - wall:.1f} s; {len(files)} videos in {videos}"
    )
    write(f"look at the ledger: soravideo --provider simulated --db {ledger} list")
    ok = batch_ok and all(job.status is JobStatus.COMPLETED for job in singles)
    return 0 if ok else 1
