"""Hypothesis strategies for soravideo's models, shared by its test suite and by yours.

Needs ``hypothesis`` (a test dependency, never imported by ``import soravideo``)::

    from hypothesis import given, strategies as st
    from soravideo.testing import strategies as sst

    @given(sst.jobs(status=st.just(JobStatus.PENDING), complete=True))
    def test_something(job): ...

Every value can be stored by every ledger: datetimes are timezone-aware (UTC or a fixed
offset, microseconds included), text holds no NUL or lone surrogate (PostgreSQL and UTF-8
refuse them), numbers are finite, and ``provider_options`` are JSON values. Requests are
valid for ``soravideo._core.validation.check_request``. ``MODELS`` maps every model class
to a strategy for it.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from hypothesis import strategies as st

from .._core.models import (
    Batch,
    BatchProgress,
    BatchResult,
    BatchStatus,
    BatchStatusReport,
    BatchVideoRequest,
    CancellationSummary,
    CreateVideoRequest,
    Job,
    JobError,
    JobPriority,
    JobStatus,
    Page,
    ResumeSummary,
    VideoResult,
)
from .._core.validation import ASPECT_RATIOS, RESOLUTIONS, resolve_size

__all__ = [
    "MODELS",
    "aware_datetimes",
    "batch_progress",
    "batch_results",
    "batch_status_reports",
    "batch_video_requests",
    "batches",
    "cancellation_summaries",
    "create_video_requests",
    "fresh_id",
    "identifiers",
    "job_errors",
    "jobs",
    "json_values",
    "pages",
    "resume_summaries",
    "texts",
    "video_results",
]

T = TypeVar("T")

_OFFSETS = (
    timezone.utc,
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=-7)),
    timezone(timedelta(hours=5, minutes=30)),
)


@functools.cache  # one strategy per arguments: hypothesis analyses each new one afresh
def texts(*, min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    """Draw text any ledger can store: no NUL, no lone surrogates."""
    alphabet = st.characters(codec="utf-8", exclude_characters="\x00")
    return st.text(alphabet, min_size=min_size, max_size=max_size)


@functools.cache
def _non_blank(max_size: int = 40) -> st.SearchStrategy[str]:
    return texts(min_size=1, max_size=max_size).filter(lambda s: bool(s.strip()))


@functools.cache
def identifiers(prefix: str = "job") -> st.SearchStrategy[str]:
    """Draw unique-looking ids such as ``job_3f2a…`` (random, so rarely equal)."""
    return st.uuids().map(lambda u: f"{prefix}_{u.hex}")


def fresh_id(prefix: str = "job") -> str:
    """Return a new random id (for tests that must not reuse ids across examples)."""
    return f"{prefix}_{uuid.uuid4().hex}"


@functools.cache
def aware_datetimes(
    *,
    min_value: datetime = datetime(2000, 1, 1),
    max_value: datetime = datetime(2100, 1, 1),
    utc_only: bool = False,
) -> st.SearchStrategy[datetime]:
    """Draw timezone-aware datetimes with microseconds (naive bounds are wall times)."""
    zones = st.just(timezone.utc) if utc_only else st.sampled_from(_OFFSETS)
    return st.datetimes(min_value=min_value, max_value=max_value, timezones=zones)


@functools.cache
def json_values(*, max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Draw JSON values: null, booleans, safe integers, finite floats, text, lists, objects."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**53), max_value=2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | texts(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(texts(max_size=8), children, max_size=3)
        ),
        max_leaves=max_leaves,
    )


@functools.cache
def _str_maps(nonempty: bool = False) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(
        texts(max_size=12), texts(max_size=24), min_size=int(nonempty), max_size=3
    )


@functools.cache
def _options(nonempty: bool) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(texts(max_size=12), json_values(), min_size=int(nonempty), max_size=3)


_LATER = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3))
_RESOLUTION = st.sampled_from(sorted(RESOLUTIONS))
_ASPECT = st.sampled_from(ASPECT_RATIOS)
_PIXELS = st.integers(16, 4096)
_REFERENCES = st.binary(min_size=1, max_size=48) | _non_blank(40)
_MODEL_NAMES = st.sampled_from(["sora-2", "sora-2-pro"]) | _non_blank(20)
_SHA256 = st.text("0123456789abcdef", min_size=64, max_size=64)
_PROVIDER_NAMES = st.sampled_from(["sora", "fake", "runway"]) | _non_blank(12)


def _maybe(strategy: st.SearchStrategy[T], complete: bool) -> st.SearchStrategy[T | None]:
    return strategy if complete else st.none() | strategy


@st.composite
def _sizes(draw: st.DrawFn, complete: bool) -> tuple[str | None, str | None, str | None]:
    # (resolution, aspect_ratio, size) in one of the shapes check_request accepts.
    shape = draw(st.sampled_from(["all"] if complete else ["none", "pair", "size", "all"]))
    if shape == "none":
        return None, None, None
    if shape == "size":
        width, height = draw(_PIXELS), draw(_PIXELS)
        return None, None, f"{width}x{height}"
    r, a = draw(_RESOLUTION), draw(_ASPECT)
    if shape == "pair":
        return r, a, None
    size = resolve_size(CreateVideoRequest(prompt="-", resolution=r, aspect_ratio=a))
    assert size is not None  # both halves come from the known lists
    return r, a, f"{size[0]}x{size[1]}"


@st.composite
def create_video_requests(
    draw: st.DrawFn, *, complete: bool = False, max_prompt: int = 80
) -> CreateVideoRequest:
    """Draw valid requests; with ``complete=True`` every optional field is set."""
    resolution, aspect_ratio, size = draw(_sizes(complete))
    return CreateVideoRequest(
        prompt=draw(_non_blank(max_prompt)),
        model=draw(_maybe(_MODEL_NAMES, complete)),
        duration=draw(_maybe(st.integers(min_value=1, max_value=60), complete)),
        resolution=resolution,
        aspect_ratio=aspect_ratio,
        size=size,
        input_reference=draw(_maybe(_REFERENCES, complete)),
        priority=draw(st.sampled_from(JobPriority)),
        metadata=draw(_str_maps(complete)),
        provider_options=draw(_options(complete)),
    )


@functools.cache
def job_errors() -> st.SearchStrategy[JobError]:
    """Draw job errors."""
    return st.builds(
        JobError,
        code=_non_blank(20),
        message=texts(max_size=60),
        retryable=st.booleans(),
    )


@st.composite
def video_results(draw: st.DrawFn, *, complete: bool = False) -> VideoResult:
    """Draw video results; with ``complete=True`` every optional field is set."""
    return VideoResult(
        remote_id=draw(identifiers("video")),
        path=draw(_maybe(_non_blank(40), complete)),
        url=draw(_maybe(st.just("https://cdn.example.com/") | _non_blank(20), complete)),
        content_type=draw(_maybe(st.sampled_from(["video/mp4", "image/webp"]), complete)),
        bytes=draw(_maybe(st.integers(min_value=0, max_value=2**40), complete)),
        sha256=draw(_maybe(st.text("0123456789abcdef", min_size=64, max_size=64), complete)),
        expires_at=draw(_maybe(aware_datetimes(), complete)),
    )


@st.composite
def jobs(
    draw: st.DrawFn,
    *,
    complete: bool = False,
    status: st.SearchStrategy[JobStatus] | None = None,
    batch_id: st.SearchStrategy[str | None] | None = None,
    created_at: st.SearchStrategy[datetime] | None = None,
    ids: st.SearchStrategy[str] | None = None,
) -> Job:
    """Draw jobs; with ``complete=True`` every optional field (and ``batch_id``) is set.

    Args:
        complete: Set every optional field.
        status: Statuses to draw from (default: any).
        batch_id: Batch ids to draw from (default: none, or with ``complete`` a random id).
        created_at: Creation times to draw from (default: any aware datetime).
        ids: Job ids to draw from (default: random ``job_…`` ids).
    """
    created = draw(created_at if created_at is not None else aware_datetimes())
    request = draw(create_video_requests(complete=complete))
    if batch_id is None:
        batch_id = identifiers("batch") if complete else st.none()
    return Job(
        id=draw(ids if ids is not None else identifiers("job")),
        status=draw(status if status is not None else st.sampled_from(JobStatus)),
        request=request,
        provider=draw(_PROVIDER_NAMES),
        priority=request.priority,
        remote_id=draw(_maybe(identifiers("video"), complete)),
        progress=draw(st.integers(min_value=0, max_value=100)),
        attempts=draw(st.integers(min_value=0, max_value=20)),
        error=draw(_maybe(job_errors(), complete)),
        result=draw(_maybe(video_results(complete=complete), complete)),
        batch_id=draw(batch_id),
        metadata=draw(_str_maps(complete)),
        estimated_cost_usd=draw(
            _maybe(st.floats(min_value=0, max_value=1e4, allow_nan=False), complete)
        ),
        created_at=created,
        updated_at=created + draw(_LATER),
        started_at=draw(_maybe(st.just(created + draw(_LATER)), complete)),
        completed_at=draw(_maybe(st.just(created + draw(_LATER)), complete)),
        download_dir=draw(_maybe(_non_blank(30), complete)),
    )


@st.composite
def batch_progress(draw: st.DrawFn) -> BatchProgress:
    """Draw progress that is consistent with some count of jobs by status."""
    counts = {status: draw(st.integers(min_value=0, max_value=50)) for status in JobStatus}
    return BatchProgress.from_counts(counts)


@st.composite
def batches(
    draw: st.DrawFn,
    *,
    complete: bool = False,
    job_ids: st.SearchStrategy[list[str]] | None = None,
    status: st.SearchStrategy[BatchStatus] | None = None,
) -> Batch:
    """Draw batches; with ``complete=True`` every optional field is set.

    Progress is drawn too; a ledger derives its own on read, so compare it apart.
    """
    created = draw(aware_datetimes())
    ids = job_ids if job_ids is not None else st.lists(identifiers("job"), max_size=5)
    return Batch(
        id=draw(identifiers("batch")),
        name=draw(_maybe(_non_blank(30), complete)),
        job_ids=draw(ids),
        status=draw(status if status is not None else st.sampled_from(BatchStatus)),
        progress=draw(batch_progress()),
        metadata=draw(_str_maps(complete)),
        concurrency=draw(_maybe(st.integers(min_value=1, max_value=64), complete)),
        budget_usd=draw(_maybe(st.floats(min_value=0, max_value=1e5, allow_nan=False), complete)),
        created_at=created,
        updated_at=created + draw(_LATER),
        completed_at=draw(_maybe(st.just(created + draw(_LATER)), complete)),
        key=draw(_maybe(identifiers("key"), complete)),
        request_sha256=draw(_maybe(_SHA256, complete)),
    )


@st.composite
def batch_video_requests(draw: st.DrawFn, *, max_videos: int = 4) -> BatchVideoRequest:
    """Draw valid batch requests of 1 to ``max_videos`` videos."""
    return BatchVideoRequest(
        videos=draw(st.lists(create_video_requests(), min_size=1, max_size=max_videos)),
        name=draw(st.none() | _non_blank(30)),
        concurrency=draw(st.none() | st.integers(min_value=1, max_value=16)),
        metadata=draw(_str_maps()),
        budget_usd=draw(st.none() | st.floats(min_value=0, max_value=1e4, allow_nan=False)),
    )


@st.composite
def batch_results(draw: st.DrawFn) -> BatchResult:
    """Draw what ``create_batch`` returns."""
    job_ids = draw(st.lists(identifiers("job"), max_size=5))
    return BatchResult(batch_id=draw(identifiers("batch")), job_ids=job_ids, total=len(job_ids))


@st.composite
def batch_status_reports(draw: st.DrawFn) -> BatchStatusReport:
    """Draw a batch with its jobs and progress."""
    batch = draw(batches())
    members = draw(st.lists(jobs(batch_id=st.just(batch.id)), max_size=2))
    return BatchStatusReport(batch=batch, jobs=members, progress=batch.progress)


@st.composite
def cancellation_summaries(draw: st.DrawFn) -> CancellationSummary:
    """Draw what ``cancel_batch`` returns."""
    cancelled = draw(st.integers(min_value=0, max_value=50))
    finished = draw(st.integers(min_value=0, max_value=50))
    return CancellationSummary(
        batch_id=draw(identifiers("batch")),
        cancelled=cancelled,
        already_finished=finished,
        total=cancelled + finished,
    )


def resume_summaries() -> st.SearchStrategy[ResumeSummary]:
    """Draw what ``client.resume()`` returns."""
    counts = st.integers(min_value=0, max_value=1000)
    return st.builds(ResumeSummary, jobs=counts, batches=counts)


@st.composite
def pages(draw: st.DrawFn, items: st.SearchStrategy[T]) -> Page[T]:
    """Draw a page of ``items`` (``pages`` and ``has_next`` derived from its total)."""
    limit = draw(st.integers(min_value=1, max_value=3))
    page = draw(st.integers(min_value=1, max_value=4))
    drawn = draw(st.lists(items, max_size=limit))
    total = (page - 1) * limit + len(drawn) + draw(st.integers(min_value=0, max_value=12))
    return Page.build(drawn, page=page, limit=limit, total=total)


MODELS: Mapping[type, st.SearchStrategy[Any]] = {
    Batch: batches(),
    BatchProgress: batch_progress(),
    BatchResult: batch_results(),
    BatchStatusReport: batch_status_reports(),
    BatchVideoRequest: batch_video_requests(max_videos=3),
    CancellationSummary: cancellation_summaries(),
    CreateVideoRequest: create_video_requests(),
    Job: jobs(batch_id=st.none() | identifiers("batch")),
    JobError: job_errors(),
    Page: pages(jobs()),
    ResumeSummary: resume_summaries(),
    VideoResult: video_results(),
}
"""A strategy for every model class (``Page`` draws pages of jobs)."""
