"""How jobs and batches show themselves: a short plain repr, and HTML cards for Jupyter.

The models' ``__repr__`` and ``_repr_html_`` delegate here, so the models stay plain data.
Every piece of user text (prompts, names, error messages, paths) is HTML-escaped.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Batch, BatchProgress, BatchStatusReport, Job

__all__ = ["batch_html", "batch_repr", "job_html", "job_repr", "report_html", "report_repr"]

_REPR_PROMPT = 30
_HTML_PROMPT = 240
_TABLE_PROMPT = 60
_REPORT_ROWS = 50
_VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".m4v")

# Status colours: grey waiting, blue working, green done, amber mixed, red failed.
_COLOURS = {
    "pending": "#6b7280",
    "processing": "#2563eb",
    "completed": "#16a34a",
    "partial": "#d97706",
    "failed": "#dc2626",
    "cancelled": "#78716c",
}
_CARD = (
    "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;"
    "border:1px solid #d1d5db;border-radius:6px;padding:8px 10px;max-width:720px"
)
_MUTED = "color:#6b7280"
_TRACK = "display:flex;background:#e5e7eb;border-radius:3px;height:8px;overflow:hidden;margin:6px 0"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _short(text: str, limit: int) -> str:
    """Return ``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _model(job: Job) -> str:
    model = f"{job.provider}/{job.request.model}" if job.request.model else job.provider
    return _short(model, 60)


def _counts(progress: BatchProgress) -> str:
    parts = [
        f"{count} {label}"
        for count, label in (
            (progress.completed, "completed"),
            (progress.failed, "failed"),
            (progress.cancelled, "cancelled"),
            (progress.pending, "pending"),
        )
        if count
    ]
    return ", ".join(parts) or "no jobs"


# -- plain reprs -------------------------------------------------------------------------------


def job_repr(job: Job) -> str:
    """Return ``<Job job_… completed 100% sora/sora-2 'a red fox…'>``."""
    error = f" error={_short(job.error.code, 40)}" if job.error is not None else ""
    prompt = _short(job.request.prompt, _REPR_PROMPT)
    return f"<Job {job.id} {job.status.value} {job.progress}% {_model(job)} {prompt!r}{error}>"


def _batch_head(batch: Batch) -> str:
    name = f" {batch.name!r}" if batch.name else ""
    return f"{batch.id}{name} {batch.status.value}"


def batch_repr(batch: Batch) -> str:
    """Return ``<Batch batch_… 'ads' partial 3/3 done: 2 completed, 1 failed>``."""
    progress = batch.progress
    done = progress.total - progress.pending
    return f"<Batch {_batch_head(batch)} {done}/{progress.total} done: {_counts(progress)}>"


def report_repr(report: BatchStatusReport) -> str:
    """Return ``<BatchStatusReport batch_… 'ads' partial, 3 jobs: 2 completed, 1 failed>``."""
    progress = report.progress
    return (
        f"<BatchStatusReport {_batch_head(report.batch)}, "
        f"{progress.total} jobs: {_counts(progress)}>"
    )


# -- HTML --------------------------------------------------------------------------------------


def _badge(status: str) -> str:
    colour = _COLOURS.get(status, "#6b7280")
    style = (
        f"background:{colour};color:#fff;border-radius:9px;padding:1px 8px;"
        "font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:.03em"
    )
    return f'<span class="sv-badge sv-{_esc(status)}" style="{style}">{_esc(status)}</span>'


def _bar(segments: list[tuple[float, str]], label: str) -> str:
    """A horizontal bar of coloured segments (percentages of the whole)."""
    inner = "".join(
        f'<div style="width:{max(0.0, min(100.0, share)):.2f}%;background:{colour}"></div>'
        for share, colour in segments
        if share > 0
    )
    return (
        f'<div class="sv-bar" role="progressbar" title="{_esc(label)}" '
        f'aria-label="{_esc(label)}" style="{_TRACK}">{inner}</div>'
    )


def _job_bar(job: Job) -> str:
    return _bar([(float(job.progress), _COLOURS[job.status.value])], f"{job.progress}%")


def _batch_bar(progress: BatchProgress) -> str:
    if not progress.total:
        return _bar([], "0%")
    share = 100.0 / progress.total
    return _bar(
        [
            (progress.completed * share, _COLOURS["completed"]),
            (progress.failed * share, _COLOURS["failed"]),
            (progress.cancelled * share, _COLOURS["cancelled"]),
        ],
        f"{progress.percentage:g}%",
    )


def _video_src(path: str) -> str | None:
    """Return a ``src`` a notebook can load for a local video, or ``None`` when there is none.

    Jupyter serves files relative to the notebook's folder, so a path below the working
    directory is given relative; anything else as a ``file:`` URI (which local front ends
    such as VS Code can open).
    """
    file = Path(path)
    if file.suffix.lower() not in _VIDEO_SUFFIXES or not file.is_file():
        return None
    resolved = file.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_uri()


def _result_html(job: Job) -> str:
    result = job.result
    if result is None:
        return ""
    if result.path:
        src = _video_src(result.path)
        if src is not None:
            return (
                f'<video class="sv-video" src="{_esc(src)}" controls muted '
                f'style="max-width:100%;width:360px;margin-top:6px"></video>'
            )
        return f'<div style="{_MUTED}">saved to <code>{_esc(result.path)}</code></div>'
    if result.url and result.url.startswith(("https://", "http://")):
        return f'<div><a href="{_esc(result.url)}" target="_blank" rel="noopener">video</a></div>'
    return ""


def _details(job: Job) -> str:
    details = [_model(job)]
    if job.request.duration is not None:
        details.append(f"{job.request.duration} s")
    if job.estimated_cost_usd is not None:
        details.append(f"${job.estimated_cost_usd:.2f}")
    if job.batch_id is not None:
        details.append(f"batch {job.batch_id}")
    return " · ".join(details)


def job_html(job: Job) -> str:
    """Return an HTML card: status badge, id, prompt, progress bar, error, and the video."""
    error = ""
    if job.error is not None:
        error = (
            f'<div class="sv-error" style="color:{_COLOURS["failed"]}">'
            f"<code>{_esc(job.error.code)}</code>: {_esc(job.error.message)}</div>"
        )
    return (
        f'<div class="soravideo sv-job" style="{_CARD}">'
        f"<div>{_badge(job.status.value)} <code>{_esc(job.id)}</code> "
        f'<span style="{_MUTED}">{_esc(_details(job))}</span></div>'
        f'<div class="sv-prompt" style="margin-top:4px">'
        f"{_esc(_short(job.request.prompt, _HTML_PROMPT))}</div>"
        f'{_job_bar(job)}<div style="{_MUTED}">{job.progress}%</div>'
        f"{error}{_result_html(job)}</div>"
    )


def _batch_header(batch: Batch, progress: BatchProgress) -> str:
    name = f"<b>{_esc(batch.name)}</b> " if batch.name else ""
    return (
        f"<div>{_badge(batch.status.value)} {name}<code>{_esc(batch.id)}</code></div>"
        f"{_batch_bar(progress)}"
        f'<div style="{_MUTED}">{progress.percentage:g}% · '
        f"{progress.total} jobs: {_esc(_counts(progress))}</div>"
    )


def batch_html(batch: Batch) -> str:
    """Return an HTML card: status badge, name, and a bar of completed / failed / cancelled."""
    return (
        f'<div class="soravideo sv-batch" style="{_CARD}">'
        f"{_batch_header(batch, batch.progress)}</div>"
    )


def _job_row(job: Job) -> str:
    outcome = ""
    if job.error is not None:
        outcome = f'<span style="color:{_COLOURS["failed"]}">{_esc(job.error.code)}</span>'
    elif job.result is not None and job.result.path:
        outcome = f"<code>{_esc(os.path.basename(job.result.path))}</code>"
    cell = "padding:2px 6px;text-align:left;vertical-align:top"
    return (
        f"<tr><td style='{cell}'>{_badge(job.status.value)}</td>"
        f"<td style='{cell}'><code>{_esc(job.id)}</code></td>"
        f"<td style='{cell};text-align:right'>{job.progress}%</td>"
        f"<td style='{cell}'>{_esc(_short(job.request.prompt, _TABLE_PROMPT))}</td>"
        f"<td style='{cell}'>{outcome}</td></tr>"
    )


def report_html(report: BatchStatusReport) -> str:
    """Return the batch card followed by a table of its jobs (the first fifty)."""
    rows = "".join(_job_row(job) for job in report.jobs[:_REPORT_ROWS])
    more = len(report.jobs) - _REPORT_ROWS
    if more > 0:
        rows += f"<tr><td colspan='5' style='{_MUTED}'>… and {more} more</td></tr>"
    return (
        f'<div class="soravideo sv-report" style="{_CARD}">'
        f"{_batch_header(report.batch, report.progress)}"
        f'<table class="sv-jobs" style="border-collapse:collapse;margin-top:6px;font-size:inherit">{rows}</table>'
        f"</div>"
    )
