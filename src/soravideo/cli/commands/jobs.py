"""``create``, ``status``, ``list`` and ``cancel``: one job at a time."""

from __future__ import annotations

import anyio.to_thread

from ..._api.client import AsyncSoraVideo
from ..._core.models import CreateVideoRequest, Job, JobStatus, Page
from ..._core.validation import raise_if
from ..context import Context
from ..errors import EXIT_FAILED, EXIT_OK
from ..formatting import clip, job_error_text, job_lines, money, table
from ..plumbing import build_client, preflight, request_fields, settle_simulated, watch
from .files import destination, refuse_file_at

__all__ = ["cmd_cancel", "cmd_create", "cmd_list", "cmd_status"]


async def cmd_create(ctx: Context) -> int:
    """``soravideo create``: store a job; with ``--wait`` (``--out``, ``--timeout``) see it through."""
    args = ctx.args
    request = CreateVideoRequest(prompt=args.prompt, **request_fields(args))
    wait = args.wait or args.out is not None or args.timeout is not None
    client = build_client(ctx)
    try:
        if not wait:
            job = await client.videos.create_video(request)
            ctx.document(job)
            ctx.line(
                f"{job.id}  {job.status.value}  ({job.priority.value} priority, "
                f"estimated {money(job.estimated_cost_usd)})"
            )
            ctx.note(
                f"stored; it is sent when a command runs the engine: "
                f"`soravideo status {job.id} --wait`, `soravideo resume` or a running worker"
            )
            return EXIT_OK
        # Checked before the provider is: a bad request is the first thing to hear about.
        raise_if(client.videos.validate(request))
        if args.out is not None and not args.force:
            # A file in the way is found now, not once the video was paid for.
            await anyio.to_thread.run_sync(refuse_file_at, args.out)
        # Then the provider, before anything is stored: a job it cannot get is not created.
        await preflight(client)
        watch(ctx, client)
        async with client:
            job = await client.videos.create_video(request)
            ctx.note(f"created {job.id}")
            return await _see_through(ctx, client, job.id, args.out)
    finally:
        await client.aclose()


async def cmd_status(ctx: Context) -> int:
    """``soravideo status``: show a job; with ``--wait`` see it through."""
    args = ctx.args
    wait = args.wait or args.timeout is not None
    client = build_client(ctx, must_exist=True)
    try:
        job = await client.videos.get_job(args.job_id)
        if not wait:
            ctx.document(job)
            for text in job_lines(job):
                ctx.line(text)
            return EXIT_OK
        if job.is_terminal:
            return _ended(ctx, job)
        await preflight(client)
        watch(ctx, client)
        async with client:
            return await _see_through(ctx, client, job.id)
    finally:
        await client.aclose()


async def cmd_list(ctx: Context) -> int:
    """``soravideo list``: one page of jobs, newest first."""
    args = ctx.args
    client = build_client(ctx, must_exist=True)
    try:
        page: Page[Job] = await client.videos.list_jobs(
            status=args.status, batch_id=args.batch, page=args.page, limit=args.limit
        )
    finally:
        await client.aclose()
    ctx.document(page)
    rows = [
        (
            job.id,
            job.status.value,
            job.priority.value,
            f"{job.progress}%",
            money(job.estimated_cost_usd),
            f"{job.created_at:%Y-%m-%d %H:%M:%S}",
            clip(job.request.prompt),
        )
        for job in page.items
    ]
    if rows:
        headers = ("ID", "STATUS", "PRIORITY", "PROGRESS", "COST", "CREATED (UTC)", "PROMPT")
        for text in table(headers, rows, right="PROGRESS,COST"):
            ctx.line(text)
    more = f"; next: --page {page.page + 1}" if page.has_next else ""
    ctx.line(f"page {page.page} of {max(page.pages, 1)} ({page.total} jobs){more}")
    return EXIT_OK


async def cmd_cancel(ctx: Context) -> int:
    """``soravideo cancel``: cancel a job, or every unfinished job of a batch."""
    target = ctx.args.job_id
    client = build_client(ctx, must_exist=True)
    try:
        if target.startswith("batch_"):
            summary = await client.batches.cancel_batch(target)
            ctx.document(summary)
            ctx.line(
                f"batch {target} cancelled: {summary.cancelled} job(s) cancelled, "
                f"{summary.already_finished} had already ended, of {summary.total}"
            )
            return EXIT_OK
        job = await client.videos.cancel_job(target)
        ctx.document(job)
        ctx.line(f"{job.id}  {job.status.value}")
        return EXIT_OK
    finally:
        await client.aclose()


def _ended(ctx: Context, job: Job) -> int:
    """Report how a waited-for job ended and return the exit code."""
    ctx.document(job)
    for text in job_lines(job):
        ctx.line(text)
    if job.status is JobStatus.COMPLETED:
        return EXIT_OK
    ctx.note(f"error: job {job.id} {job.status.value}: {job_error_text(job)}")
    return EXIT_FAILED


async def _see_through(
    ctx: Context, client: AsyncSoraVideo, job_id: str, out: str | None = None
) -> int:
    args = ctx.args
    job = await client.videos.wait_for_job(
        job_id, args.timeout, cancel_on_timeout=args.cancel_on_timeout
    )
    if job.status is JobStatus.COMPLETED and out is not None:
        await client.videos.download_video(
            job.id, destination(out), overwrite=getattr(args, "force", False)
        )
        job = await client.videos.get_job(job.id)
    await settle_simulated(ctx, client)
    return _ended(ctx, job)
