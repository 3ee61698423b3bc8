"""What the commands print: money, sizes, tables, a job's lines, a batch's summary, events.

Pure text: nothing here writes anywhere but ``EventPrinter``, through the function
it is given.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .._core.converter import unstructure
from .._core.events import JobEvent
from .._core.models import BatchStatusReport, Job, JobStatus

__all__ = [
    "EventPrinter",
    "batch_summary",
    "clip",
    "file_size",
    "job_error_text",
    "job_lines",
    "money",
    "shown",
    "table",
]

_PROMPT_WIDTH = 40


def money(value: float | None) -> str:
    """Return ``$0.40`` for a price, ``-`` for none."""
    return "-" if value is None else f"${value:,.2f}"


def file_size(size: int | None) -> str:
    """Return a byte count as ``64.5 KiB``, ``-`` for none."""
    if size is None:
        return "-"
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def clip(text: str, width: int = _PROMPT_WIDTH) -> str:
    """Return ``text`` on one line, cut to ``width`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def shown(path: str | os.PathLike[str]) -> str:
    """Return a path relative to the working directory when it is inside it."""
    absolute = Path(path).absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, right: str = "") -> list[str]:
    """Return a plain text table; columns whose header is in ``right`` are right-aligned."""
    grid = [list(headers), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in grid) for i in range(len(headers))]
    lines = []
    for row in grid:
        cells = [
            cell.rjust(width) if header in right.split(",") else cell.ljust(width)
            for cell, width, header in zip(row, widths, headers, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def job_error_text(job: Job) -> str:
    """Return ``code: message`` of a job's error (or its status when it has none)."""
    if job.error is None:
        return job.status.value
    return f"{job.error.code}: {job.error.message}"


def job_lines(job: Job) -> list[str]:
    """Return a human description of one job."""
    lines = [
        f"{job.id}  {job.status.value}  {job.progress}%",
        f"  prompt:     {clip(job.request.prompt, 72)}",
        f"  priority:   {job.priority.value}   attempts: {job.attempts}   provider: {job.provider}",
        f"  cost:       {money(job.estimated_cost_usd)} (estimated)"
        + ("" if job.cost_usd is None else f", {money(job.cost_usd)} (the provider's figure)"),
        f"  created:    {job.created_at:%Y-%m-%d %H:%M:%S} UTC",
    ]
    if job.batch_id:
        lines.append(f"  batch:      {job.batch_id}")
    if job.remote_id:
        lines.append(f"  remote id:  {job.remote_id}")
    if job.completed_at is not None:
        lines.append(f"  ended:      {job.completed_at:%Y-%m-%d %H:%M:%S} UTC")
    if job.error is not None:
        lines.append(f"  error:      {job_error_text(job)}")
    if job.result is not None and job.result.path:
        lines.append(f"  file:       {shown(job.result.path)} ({file_size(job.result.bytes)})")
    elif job.result is not None and job.result.url:
        lines.append(f"  url:        {job.result.url}")
    return lines


def batch_summary(report: BatchStatusReport) -> list[str]:
    """Return the lines that sum up a finished (or running) batch: counts, failures, cost."""
    batch, p = report.batch, report.progress
    name = f' "{batch.name}"' if batch.name else ""
    lines = [
        f"batch {batch.id}{name}: {batch.status.value} — {p.completed} of {p.total} completed, "
        f"{p.failed} failed, {p.cancelled} cancelled ({p.percentage:g}% finished)"
    ]
    for job in report.jobs:
        if job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            lines.append(
                f'  {job.status.value}: {job.id} "{clip(job.request.prompt)}" — {job_error_text(job)}'
            )
    costs = [j.estimated_cost_usd for j in report.jobs if j.estimated_cost_usd is not None]
    done = [
        j.estimated_cost_usd
        for j in report.jobs
        if j.status is JobStatus.COMPLETED and j.estimated_cost_usd is not None
    ]
    if costs:
        lines.append(
            f"  estimated cost: {money(sum(costs))} in all, "
            f"{money(sum(done))} for the {len(done)} completed video(s)"
        )
    return lines


class EventPrinter:
    """Print one line per job event: submitted, progress milestones, and how it ended.

    Register ``on_event`` (``client.on("*", printer.on_event)``): a coroutine
    function, so it runs on the event loop and keeps step with simulated time.

    Args:
        write: Where each line goes.
        clock: The time lines are stamped with (seconds since the printer was made).
        step: Print progress when it crosses a multiple of this many percent.
        name: How a job is named in a line (its id by default).
        json_lines: Write each event as one JSON object instead.
    """

    def __init__(
        self,
        write: Callable[[str], None],
        clock: Callable[[], float],
        *,
        step: int = 25,
        name: Callable[[Job], str] | None = None,
        json_lines: bool = False,
    ) -> None:
        self._write = write
        self._clock = clock
        self._start = clock()
        self._step = step
        self._name = name or (lambda job: job.id)
        self._json = json_lines
        self._shown: dict[str, int] = {}

    async def on_event(self, event: JobEvent) -> None:
        """Print the line for one event (if it is worth one)."""
        job = event.job
        if self._json:
            self._write(json.dumps({"event": event.kind, "job": unstructure(job)}, default=str))
            return
        if event.kind == "progress":
            bucket = job.progress // self._step
            if bucket <= self._shown.get(job.id, 0):
                return
            self._shown[job.id] = bucket
            what = f"{job.progress}%"
        elif event.kind == "submitted":
            what = "submitted"
        elif event.kind == "completed":
            what = f"completed  {money(job.estimated_cost_usd)}"
            if job.result is not None and job.result.bytes is not None:
                what += f"  {file_size(job.result.bytes)} downloaded"
        elif event.kind == "failed":
            what = f"failed — {job_error_text(job)}"
        elif event.kind == "cancelled":
            what = "cancelled"
        else:
            return
        elapsed = self._clock() - self._start
        self._write(f"[{elapsed:7.1f}s] {self._name(job)}  {what}")
