"""How jobs and batches show themselves: a short plain repr, and HTML cards for Jupyter.

The models' ``__repr__`` and ``_repr_html_`` delegate here, so the models stay plain data.
A job's card plays its video once downloaded, with its thumbnail as the poster; a batch
report's card shows a grid of its videos and a small status and cost chart (inline SVG);
a page of a listing is a table (``page_html``), or records (``records``).
Every piece of user text (prompts, names, error messages, paths) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from .models import Batch, BatchProgress, BatchStatusReport, Job, Page

__all__ = [
    "batch_html",
    "batch_repr",
    "job_html",
    "job_repr",
    "page_html",
    "records",
    "report_html",
    "report_repr",
]

_REPR_PROMPT = 30
_HTML_PROMPT = 240
_TABLE_PROMPT = 60
_REPORT_ROWS = 50
_VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".m4v")
# A thumbnail beside a video (``fox.webp`` or ``<job id>.webp`` next to ``fox.mp4``) is its
# poster; one this small is put inline, so the card shows it wherever the notebook is opened.
_POSTER_TYPES = {".webp": "image/webp", ".png": "image/png", ".jpeg": "image/jpeg"}
_INLINE_POSTER = 256 * 1024
_GRID_VIDEOS = 12
_CHART_JOBS = 50

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


def _video_src(path: str, suffixes: tuple[str, ...] = _VIDEO_SUFFIXES) -> str | None:
    """Return a ``src`` a notebook can load for a local video, or ``None`` when there is none.

    Jupyter serves files relative to the notebook's folder, so a path below the working
    directory is given relative; anything else as a ``file:`` URI (which local front ends
    such as VS Code can open).
    """
    file = Path(path)
    if file.suffix.lower() not in suffixes or not file.is_file():
        return None
    resolved = file.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_uri()


def _poster(job: Job, video: Path) -> str | None:
    """Return a ``poster`` for a local video: its thumbnail beside it, inline when small."""
    for stem in dict.fromkeys((video.stem, job.id)):
        for suffix, media_type in _POSTER_TYPES.items():
            image = video.with_name(stem + suffix)
            try:
                size = image.stat().st_size
                if size <= _INLINE_POSTER:
                    data = base64.b64encode(image.read_bytes()).decode("ascii")
                    return f"data:{media_type};base64,{data}"
            except OSError:
                continue
            return _video_src(str(image), suffixes=(suffix,))
    return None


def _video_tag(job: Job, path: str, width: str) -> str | None:
    """Return a ``<video>`` that plays a downloaded video, with its poster, or ``None``."""
    src = _video_src(path)
    if src is None:
        return None
    poster = _poster(job, Path(path))
    poster_attr = f' poster="{_esc(poster)}"' if poster else ""
    return (
        f'<video class="sv-video" src="{_esc(src)}"{poster_attr} controls muted '
        f'preload="metadata" style="max-width:100%;width:{width};margin-top:6px"></video>'
    )


def _result_html(job: Job) -> str:
    result = job.result
    if result is None:
        return ""
    if result.path:
        video = _video_tag(job, result.path, "360px")
        if video is not None:
            return video
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


def _grid(jobs: Sequence[Job]) -> str:
    """A grid of the downloaded videos (the first twelve), each with its short prompt."""
    cells: list[str] = []
    for job in jobs:
        if len(cells) == _GRID_VIDEOS:
            break
        video = _video_tag(job, job.result.path, "100%") if job.result and job.result.path else None
        if video is not None:
            caption = _esc(_short(job.request.prompt, 40))
            cells.append(f'<div class="sv-cell">{video}<div style="{_MUTED}">{caption}</div></div>')
    if not cells:
        return ""
    style = "display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:8px;margin-top:6px"
    return f'<div class="sv-grid" style="{style}">{"".join(cells)}</div>'


def _svg(width: int, height: int, label: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(label)}" '
        f'style="margin:6px 12px 0 0;vertical-align:top">{body}</svg>'
    )


def _status_chart(jobs: Sequence[Job]) -> str:
    """Bars of how many jobs are in each status, as inline SVG."""
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.status.value] = counts.get(job.status.value, 0) + 1
    statuses = [s for s in _COLOURS if counts.get(s)]
    if not statuses:
        return ""
    top = max(counts.values())
    row, label_w, bar_w = 18, 80, 140
    body = []
    for i, status in enumerate(statuses):
        y = i * row
        w = max(1.0, bar_w * counts[status] / top)
        body.append(
            f'<text x="0" y="{y + 12}" font-size="11" fill="#374151">{status}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="11" rx="2" '
            f'fill="{_COLOURS[status]}"><title>{counts[status]} {status}</title></rect>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 12}" font-size="11" fill="#374151">'
            f"{counts[status]}</text>"
        )
    width = label_w + bar_w + 30
    return _svg(width, row * len(statuses), "jobs by status", "".join(body))


def _cost(job: Job) -> float | None:
    return job.cost_usd if job.cost_usd is not None else job.estimated_cost_usd


def _cost_chart(jobs: Sequence[Job], budget: float | None) -> str:
    """A bar per job (the first fifty) of what it costs, with the total, as inline SVG."""
    costs = [(job, _cost(job)) for job in jobs[:_CHART_JOBS]]
    priced = [(job, cost) for job, cost in costs if cost is not None]
    if not priced:
        return ""
    top = max(cost for _, cost in priced) or 1.0
    total = sum(_cost(job) or 0.0 for job in jobs)
    plot_h, bar_w, gap = 48, 8, 2
    body = []
    for i, (job, cost) in enumerate(costs):
        if cost is None:
            continue
        h = max(1.0, plot_h * cost / top)
        tip = f"{job.id} ${cost:.2f} {_short(job.request.prompt, 60)}"
        body.append(
            f'<rect x="{i * (bar_w + gap)}" y="{plot_h - h:.1f}" width="{bar_w}" '
            f'height="{h:.1f}" fill="{_COLOURS.get(job.status.value, "#6b7280")}">'
            f"<title>{_esc(tip)}</title></rect>"
        )
    of_budget = f" of ${budget:.2f} budget" if budget is not None else ""
    caption = f"${total:.2f}{of_budget}"
    body.append(
        f'<text x="0" y="{plot_h + 14}" font-size="11" fill="#374151">{_esc(caption)}</text>'
    )
    width = max(140, len(costs) * (bar_w + gap))
    return _svg(width, plot_h + 18, f"cost per job, {caption}", "".join(body))


def _charts(report: BatchStatusReport) -> str:
    charts = _status_chart(report.jobs) + _cost_chart(report.jobs, report.batch.budget_usd)
    return f'<div class="sv-charts">{charts}</div>' if charts else ""


def report_html(report: BatchStatusReport) -> str:
    """Return the batch card, a status and cost chart, a grid of its downloaded videos,
    and a table of its jobs (the first fifty)."""
    rows = "".join(_job_row(job) for job in report.jobs[:_REPORT_ROWS])
    more = len(report.jobs) - _REPORT_ROWS
    if more > 0:
        rows += f"<tr><td colspan='5' style='{_MUTED}'>… and {more} more</td></tr>"
    return (
        f'<div class="soravideo sv-report" style="{_CARD}">'
        f"{_batch_header(report.batch, report.progress)}"
        f"{_charts(report)}{_grid(report.jobs)}"
        f'<table class="sv-jobs" style="border-collapse:collapse;margin-top:6px;font-size:inherit">{rows}</table>'
        f"</div>"
    )


# -- pages: records and a table ----------------------------------------------------------------


def _job_record(job: Job) -> dict[str, Any]:
    result = job.result
    return {
        "id": job.id,
        "status": job.status.value,
        "progress": job.progress,
        "provider": job.provider,
        "model": job.request.model,
        "prompt": job.request.prompt,
        "duration": job.request.duration,
        "estimated_cost_usd": job.estimated_cost_usd,
        "cost_usd": job.cost_usd,
        "batch_id": job.batch_id,
        "error": job.error.code if job.error is not None else None,
        "path": result.path if result is not None else None,
        "created_at": job.created_at,
        "completed_at": job.completed_at,
    }


def _batch_record(batch: Batch) -> dict[str, Any]:
    progress = batch.progress
    return {
        "id": batch.id,
        "name": batch.name,
        "status": batch.status.value,
        "total": progress.total,
        "completed": progress.completed,
        "failed": progress.failed,
        "cancelled": progress.cancelled,
        "pending": progress.pending,
        "percentage": progress.percentage,
        "budget_usd": batch.budget_usd,
        "created_at": batch.created_at,
        "completed_at": batch.completed_at,
    }


def _record(item: object) -> dict[str, Any]:
    from .models import Batch, Job

    if isinstance(item, Job):
        return _job_record(item)
    if isinstance(item, Batch):
        return _batch_record(item)
    if attrs.has(type(item)):
        return attrs.asdict(item, recurse=False)  # type: ignore[arg-type]
    return {"value": item}


def records(items: Sequence[object]) -> list[dict[str, Any]]:
    """Return one flat dict per item: a job or a batch as plain values (its status as a string) in a
    fixed column order; any other attrs item as its fields."""
    return [_record(item) for item in items]


def _cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key == "status":
        return _badge(str(value))
    if key == "prompt":
        return _esc(_short(str(value), _TABLE_PROMPT))
    if key == "id":
        return f"<code>{_esc(value)}</code>"
    if isinstance(value, datetime):
        return _esc(value.strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(value, float):
        return _esc(f"{value:.2f}")
    return _esc(_short(str(value), _TABLE_PROMPT))


def page_html(page: Page[Any]) -> str:
    """Return a table of a page's items (one row each, one column a record key), and which
    page of how many it is."""
    rows = records(page.items)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cell = "padding:2px 6px;text-align:left;vertical-align:top;border-bottom:1px solid #e5e7eb"
    head = "".join(f"<th style='{cell}'>{_esc(key)}</th>" for key in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td style='{cell}'>{_cell(key, row.get(key))}</td>" for key in columns)
        + "</tr>"
        for row in rows
    )
    more = " · next: page=" + str(page.page + 1) if page.has_next else ""
    summary = f"page {page.page} of {max(page.pages, 1)} · {len(rows)} shown of {page.total}{more}"
    return (
        f'<div class="soravideo sv-page" style="{_CARD};max-width:none;overflow-x:auto">'
        f'<table class="sv-records" style="border-collapse:collapse;font-size:inherit">'
        f"<tr>{head}</tr>{body}</table>"
        f'<div style="{_MUTED};margin-top:4px">{_esc(summary)}</div></div>'
    )
