"""``batch`` and ``resume``: many jobs at once, and what a stopped command left behind."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..._api.resume import find_unfinished
from ..._core.models import BatchStatus, BatchStatusReport, JobStatus
from ..context import Context, shown_ledger
from ..errors import EXIT_FAILED, EXIT_OK, UsageError
from ..formatting import batch_summary, job_error_text, money, shown, table
from ..plumbing import build_client, preflight, request_fields, settle_simulated, watch
from .files import absolute

__all__ = ["cmd_batch", "cmd_resume"]


def _manifest_key(manifest: Path, options: dict[str, Any]) -> str:
    """Return the batch key of a manifest run with these options: its bytes and the options,
    hashed, so the same command run again carries on with the batch it made."""
    digest = hashlib.sha256(manifest.read_bytes())
    # The name is the file's unless given: two copies of one manifest are two batches.
    named = {"name": manifest.stem, **options}
    digest.update(json.dumps(named, sort_keys=True, default=str).encode())
    return f"manifest-{digest.hexdigest()}"


def _manifest(name: str) -> Path:
    """Return the manifest's path; raise a ``UsageError`` if there is no such file."""
    path = Path(name)
    if not path.is_file():
        raise UsageError(f"manifest not found: {name}")
    return path


async def cmd_batch(ctx: Context) -> int:
    """``soravideo batch``: make (or carry on with) the batch of a manifest and process it."""
    args = ctx.args
    manifest = _manifest(args.file)
    out_dir = absolute(args.out_dir) if args.out_dir else None
    client = build_client(ctx, download_dir=out_dir, max_batch_size=args.max_batch_size)
    try:
        defaults = request_fields(args)
        batch_fields = (
            ("concurrency", args.concurrency),
            ("budget_usd", args.budget),
            ("name", args.name),
        )
        defaults.update((key, value) for key, value in batch_fields if value is not None)
        key = None if args.new else _manifest_key(manifest, defaults)
        await preflight(client)
        created = await client.batches.create_batch_from_file(
            manifest, key=key, base_dir=args.base_dir, **defaults
        )
        status = (await client.batches.get_batch_status(created.batch_id)).batch.status
        if status is BatchStatus.PENDING:
            ctx.note(f"batch {created.batch_id}: {created.total} video(s) from {manifest.name}")
        else:
            ctx.note(
                f"carrying on with batch {created.batch_id} ({status.value}), made from this "
                "manifest and these options before (--new for another batch)"
            )
        watch(ctx, client)
        async with client:
            await client.batches.process_batch(created.batch_id)
            await settle_simulated(ctx, client)
            report = await client.batches.get_batch_status(created.batch_id)
    finally:
        await client.aclose()
    ctx.document(report)
    _print_batch(ctx, report)
    return EXIT_OK if report.batch.status is BatchStatus.COMPLETED else EXIT_FAILED


def _print_batch(ctx: Context, report: BatchStatusReport) -> None:
    rows = [
        (
            job.id,
            job.status.value,
            f"{job.progress}%",
            money(job.estimated_cost_usd),
            shown(job.result.path) if job.result is not None and job.result.path else "-",
        )
        for job in report.jobs
    ]
    for text in table(("ID", "STATUS", "PROGRESS", "COST", "FILE"), rows, right="PROGRESS,COST"):
        ctx.line(text)
    for text in batch_summary(report):
        ctx.line(text)


async def cmd_resume(ctx: Context) -> int:
    """``soravideo resume``: see every unfinished batch and job of the ledger through."""
    out_dir = absolute(ctx.args.out_dir) if ctx.args.out_dir else None
    client = build_client(ctx, must_exist=True)
    try:
        # Read before the engine starts: the work is what was unfinished at this moment.
        work = await find_unfinished(client.videos, client.batches)
        if not work.batches and not work.jobs:
            ctx.document({"batches": [], "jobs": []})
            ctx.line(f"nothing to resume: every job in {shown_ledger(ctx.args)} has ended")
            return EXIT_OK
        ctx.note(f"resuming {len(work.loose)} job(s) and {len(work.batches)} batch(es)")
        await preflight(client)
        watch(ctx, client)
        # Not in ``async with client``: resume() lists its work before it drives the engine,
        # so a job ending meanwhile is still its own (and downloaded with --out-dir).
        await client.resume(download_dir=out_dir)
        await settle_simulated(ctx, client)
        reports = [await client.batches.get_batch_status(b.id) for b in work.batches]
        jobs = [await client.videos.get_job(job.id) for job in work.loose]
    finally:
        await client.aclose()
    ctx.document({"batches": reports, "jobs": jobs})
    for report in reports:
        for text in batch_summary(report):
            ctx.line(text)
    for job in jobs:
        tail = "" if job.status is JobStatus.COMPLETED else f" — {job_error_text(job)}"
        ctx.line(f"{job.id}  {job.status.value}{tail}")
    ok = all(j.status is JobStatus.COMPLETED for j in jobs) and all(
        r.batch.status is BatchStatus.COMPLETED for r in reports
    )
    return EXIT_OK if ok else EXIT_FAILED
