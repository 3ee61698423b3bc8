"""The domain model: frozen, keyword-only attrs classes, changed with ``attrs.evolve``."""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import attrs

from . import display as _display

__all__ = [
    "Batch",
    "BatchProgress",
    "BatchResult",
    "BatchStatus",
    "BatchStatusReport",
    "BatchVideoRequest",
    "CancellationSummary",
    "CreateVideoRequest",
    "Job",
    "JobError",
    "JobPriority",
    "JobStatus",
    "Page",
    "ResumeSummary",
    "VideoResult",
]

T = TypeVar("T")


class JobStatus(str, enum.Enum):
    """Where a job is in its life cycle: ``pending → processing → completed | failed | cancelled``.

    Examples:
        ```python
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A calm sea"))
        print(job.status is sv.JobStatus.PENDING, job.status.value)  # True pending
        page = await client.videos.list_jobs(status=sv.JobStatus.PENDING)
        ```
    """

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Whether the status is final (completed, failed or cancelled)."""
        return self in _TERMINAL

    def __str__(self) -> str:
        return self.value


_TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class JobPriority(str, enum.Enum):
    """How soon a pending job is sent: urgent first, then high, normal, low (then by age).

    Examples:
        ```python
        urgent = sv.CreateVideoRequest(prompt="A breaking-news banner", priority=sv.JobPriority.URGENT)
        job = await client.videos.create_video(urgent)  # sent before the waiting NORMAL ones
        print(job.priority)
        ```
    """

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """A number that sorts priorities: larger is sooner."""
        return _RANK[self]

    def __str__(self) -> str:
        return self.value


_RANK = {JobPriority.LOW: 0, JobPriority.NORMAL: 1, JobPriority.HIGH: 2, JobPriority.URGENT: 3}


class BatchStatus(str, enum.Enum):
    """A batch's state; see DESIGN.md §3 for the rules.

    Examples:
        ```python
        videos = [sv.CreateVideoRequest(prompt="A dog"), sv.CreateVideoRequest(prompt="A cat")]
        created = await client.batches.create_batch(sv.BatchVideoRequest(videos=videos))
        batch = await client.batches.process_batch(created.batch_id)
        print(batch.status is sv.BatchStatus.COMPLETED)  # True; PARTIAL when some failed
        ```
    """

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Whether every job of the batch has ended."""
        return self not in (BatchStatus.PENDING, BatchStatus.PROCESSING)

    def __str__(self) -> str:
        return self.value


# The converters turn what they can into the field's type and leave anything else as it
# was given, so that validation (``check_request``, ``check_batch``) names every bad field
# in one ValidationError, instead of the first one failing with a TypeError or ValueError
# while the object is built.


def _to_reference(value: str | bytes | os.PathLike[str] | None) -> str | bytes | None:
    if value is None or isinstance(value, (str, bytes)):
        return value
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
        return path if isinstance(path, str) else cast("str", value)
    return cast("str", value)


# ``type(value) is dict`` first: an ABC's isinstance costs seven times a type test, and the
# labels are copied on every change of a job ([W2-4]).
def _to_str_dict(value: Mapping[str, str] | None) -> dict[str, str]:
    if value is None:
        return {}
    if type(value) is dict or isinstance(value, Mapping):
        return dict(value)
    return cast("dict[str, str]", value)


def _to_any_dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is dict or isinstance(value, Mapping):
        return dict(value)
    return cast("dict[str, Any]", value)


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _any_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(value)


def _to_requests(value: Iterable[Any]) -> tuple[Any, ...]:
    # A list, tuple or other sequence of requests; text, bytes, a mapping or a single
    # request is left as given, for check_batch to name.
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        return cast("tuple[Any, ...]", value)
    return tuple(value)


def _to_priority(value: JobPriority | str) -> JobPriority:
    if isinstance(value, JobPriority):
        return value
    if isinstance(value, str) and value in _PRIORITIES:
        return JobPriority(value)
    return cast("JobPriority", value)


_PRIORITIES = frozenset(p.value for p in JobPriority)


@attrs.frozen(kw_only=True)
class CreateVideoRequest:
    """What to generate. Provider-neutral; a transport maps it onto its own API.

    Building one never fails: a value of the wrong type is kept as given, and
    ``create_video`` / ``create_batch`` name every such field in one ``ValidationError``.

    Args:
        prompt: What the video shows (1 to 32,000 characters).
        model: The provider's model name; ``None`` takes the transport's default.
        duration: Length in whole seconds (at most 3,600); ``None`` takes the model's
            default.
        resolution: ``"480p"``, ``"720p"``, ``"1080p"`` … (with ``aspect_ratio``).
        aspect_ratio: ``"16:9"``, ``"9:16"``, ``"1:1"`` … (with ``resolution``).
        size: ``"1280x720"``: an alternative to ``resolution`` + ``aspect_ratio``.
        input_reference: An image to start from: a path, raw bytes or (where the provider
            accepts them) an ``https://`` URL.
        priority: Sooner or later than other pending jobs.
        metadata: Your own labels, ``str → str``, stored with the job.
        provider_options: Passed to the provider unchanged.

    Examples:
        ```python
        request = sv.CreateVideoRequest(
            prompt="A timelapse of clouds over a mountain lake",
            duration=8,
            size="1280x720",
            priority=sv.JobPriority.HIGH,
            metadata={"campaign": "spring"},
        )
        print(client.videos.validate(request))  # []: it can be sent
        job = await client.videos.create_video(request)
        ```
    """

    prompt: str
    model: str | None = None
    duration: int | None = None
    resolution: str | None = None
    aspect_ratio: str | None = None
    size: str | None = None
    input_reference: str | bytes | None = attrs.field(default=None, converter=_to_reference)
    priority: JobPriority = attrs.field(default=JobPriority.NORMAL, converter=_to_priority)
    metadata: dict[str, str] = attrs.field(factory=dict, converter=_to_str_dict, hash=False)
    provider_options: dict[str, Any] = attrs.field(factory=dict, converter=_to_any_dict, hash=False)


@attrs.frozen(kw_only=True)
class JobError:
    """Why a job failed: a stable ``code``, a human ``message``, and whether retrying may help.

    Examples:
        ```python
        refused = sv.CreateVideoRequest(prompt=f"{client.fake.failing_prompt}: a storm")
        job = await client.videos.wait_for_job((await client.videos.create_video(refused)).id)
        print(job.status, job.error.code, job.error.retryable)  # failed moderation_blocked False
        ```
    """

    code: str
    message: str
    retryable: bool = False


@attrs.frozen(kw_only=True)
class VideoResult:
    """A finished video: where it is (``path`` once downloaded, ``url`` where the provider gives one).

    Examples:
        ```python
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A city from above"))
        await client.videos.wait_for_job(job.id)
        await client.videos.download_video(job.id, "videos/")
        result = await client.videos.get_video_result(job.id)
        print(result.remote_id, result.path, result.bytes, result.sha256)
        ```
    """

    remote_id: str
    path: str | None = None
    url: str | None = None
    content_type: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    expires_at: datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class Job:
    """One video-generation job as the ledger knows it.

    Examples:
        ```python
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A red fox in snow"))
        job = await client.videos.wait_for_job(job.id)
        print(job.status, job.progress, job.request.prompt, job.estimated_cost_usd)
        if job.status is sv.JobStatus.COMPLETED:
            print(job.result.remote_id)
        ```
    """

    id: str
    status: JobStatus
    request: CreateVideoRequest
    provider: str
    priority: JobPriority = JobPriority.NORMAL
    remote_id: str | None = None
    progress: int = 0
    attempts: int = 0
    error: JobError | None = None
    result: VideoResult | None = None
    batch_id: str | None = None
    metadata: dict[str, str] = attrs.field(factory=dict, converter=_to_str_dict, hash=False)
    estimated_cost_usd: float | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    # Beyond DESIGN.md §1: what the provider itself says (``THROTTLED`` shows back-pressure)
    # and what it charges in its own unit (Runway credits), when it says.
    provider_status: str | None = None
    cost_credits: float | None = None
    # What the provider says the job costs in USD (OpenRouter's ``usage.cost``, Runway's
    # credits × credit_usd), when it says; final once the job has ended. Recorded beside
    # ``estimated_cost_usd``, which stays the estimate made before anything was sent.
    cost_usd: float | None = None
    # Where the engine saves the video once it completes (the creating client's
    # ``download_dir``, the CLI's ``--out-dir``): a process that resumes the job saves it
    # there too.
    download_dir: str | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the job has ended (completed, failed or cancelled)."""
        return self.status.is_terminal

    def __repr__(self) -> str:
        return _display.job_repr(self)

    def _repr_html_(self) -> str:
        """Return an HTML card for Jupyter: status, progress, error, and the video once local."""
        return _display.job_html(self)


@attrs.frozen(kw_only=True)
class BatchVideoRequest:
    """Many videos, created together and processed together.

    Args:
        videos: One request per video (1 to ``max_batch_size``).
        name: A label for the batch.
        concurrency: How many of this batch's videos run at once (``None``: the client's limit).
        metadata: Your own labels, ``str → str``.
        budget_usd: Refuse the batch when its estimated cost is above this.

    Examples:
        ```python
        request = sv.BatchVideoRequest(
            videos=[sv.CreateVideoRequest(prompt=f"Product shot, angle {n}") for n in range(4)],
            name="catalogue",
            concurrency=2,
            budget_usd=5.0,
        )
        created = await client.batches.create_batch(request)
        print(created.total)  # 4
        ```
    """

    videos: tuple[CreateVideoRequest, ...] = attrs.field(converter=_to_requests)
    name: str | None = None
    concurrency: int | None = None
    metadata: dict[str, str] = attrs.field(factory=dict, converter=_to_str_dict, hash=False)
    budget_usd: float | None = None


@attrs.frozen(kw_only=True)
class BatchProgress:
    """How far a batch is: counts of its jobs by outcome, and the share that has ended.

    Examples:
        ```python
        videos = [sv.CreateVideoRequest(prompt=p) for p in ("A bee", "A wasp")]
        created = await client.batches.create_batch(sv.BatchVideoRequest(videos=videos))
        batch = await client.batches.process_batch(created.batch_id)
        print(batch.progress.completed, batch.progress.percentage)  # 2 100.0
        ```
    """

    total: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    pending: int = 0
    percentage: float = 0.0

    @classmethod
    def from_counts(cls, counts: Mapping[JobStatus, int]) -> BatchProgress:
        """Build progress from a count of jobs by status (``pending`` counts every unfinished job).

        Examples:
            ```python
            progress = sv.BatchProgress.from_counts({sv.JobStatus.COMPLETED: 3, sv.JobStatus.PENDING: 1})
            print(progress.total, progress.percentage)  # 4 75.0
            ```
        """
        completed = counts.get(JobStatus.COMPLETED, 0)
        failed = counts.get(JobStatus.FAILED, 0)
        cancelled = counts.get(JobStatus.CANCELLED, 0)
        pending = counts.get(JobStatus.PENDING, 0) + counts.get(JobStatus.PROCESSING, 0)
        total = completed + failed + cancelled + pending
        done = completed + failed + cancelled
        percentage = round(100.0 * done / total, 2) if total else 0.0
        return cls(
            total=total,
            completed=completed,
            failed=failed,
            cancelled=cancelled,
            pending=pending,
            percentage=percentage,
        )


@attrs.frozen(kw_only=True, repr=False)
class Batch:
    """A stored batch. ``progress`` is derived from its jobs each time it is read.

    Examples:
        ```python
        videos = [sv.CreateVideoRequest(prompt=p) for p in ("Dawn", "Dusk")]
        created = await client.batches.create_batch(sv.BatchVideoRequest(videos=videos, name="day"))
        batch = await client.batches.process_batch(created.batch_id)
        print(batch.name, batch.status, batch.progress.completed, len(batch.job_ids))  # day completed 2 2
        ```
    """

    id: str
    name: str | None = None
    job_ids: tuple[str, ...] = attrs.field(converter=_str_tuple)
    status: BatchStatus = BatchStatus.PENDING
    progress: BatchProgress = attrs.field(factory=BatchProgress)
    metadata: dict[str, str] = attrs.field(factory=dict, converter=_to_str_dict, hash=False)
    concurrency: int | None = None
    budget_usd: float | None = None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    key: str | None = None
    """The idempotency key given to ``create_batch(key=)``: unique across the ledger."""
    request_sha256: str | None = None
    """The fingerprint of the request a keyed batch was made from (``create_batch(key=)``
    compares it, to refuse another request under the same key)."""

    def __repr__(self) -> str:
        return _display.batch_repr(self)

    def _repr_html_(self) -> str:
        """Return an HTML card for Jupyter: status and a bar of completed, failed, cancelled."""
        return _display.batch_html(self)


@attrs.frozen(kw_only=True)
class BatchResult:
    """What ``create_batch`` returns: the new batch's id and its jobs' ids.

    Examples:
        ```python
        videos = [sv.CreateVideoRequest(prompt=f"Frame {n}") for n in range(3)]
        result = await client.batches.create_batch(sv.BatchVideoRequest(videos=videos))
        print(result.batch_id, result.total, result.job_ids[0])
        ```
    """

    batch_id: str
    job_ids: tuple[str, ...] = attrs.field(converter=_str_tuple)
    total: int


@attrs.frozen(kw_only=True, repr=False)
class BatchStatusReport:
    """A batch, every job in it, and its progress.

    Examples:
        ```python
        videos = [sv.CreateVideoRequest(prompt=p) for p in ("A bee", "A wasp")]
        created = await client.batches.create_batch(sv.BatchVideoRequest(videos=videos))
        report = await client.batches.get_batch_status(created.batch_id)
        print(report.batch.status, report.progress.total, [job.status.value for job in report.jobs])
        ```
    """

    batch: Batch
    jobs: tuple[Job, ...] = attrs.field(converter=_any_tuple)
    progress: BatchProgress

    def __repr__(self) -> str:
        return _display.report_repr(self)

    def _repr_html_(self) -> str:
        """Return an HTML card for Jupyter: the batch, then a table of its jobs."""
        return _display.report_html(self)


@attrs.frozen(kw_only=True)
class CancellationSummary:
    """What ``cancel_batch`` did.

    Examples:
        ```python
        videos = [sv.CreateVideoRequest(prompt=f"Tile {n}") for n in range(3)]
        created = await client.batches.create_batch(sv.BatchVideoRequest(videos=videos))
        summary = await client.batches.cancel_batch(created.batch_id)
        print(summary.cancelled, summary.already_finished, summary.total)  # 3 0 3
        ```
    """

    batch_id: str
    cancelled: int
    already_finished: int
    total: int


@attrs.frozen(kw_only=True)
class ResumeSummary:
    """What ``client.resume()`` saw through.

    Args:
        jobs: The unfinished jobs it found (those of the batches included).
        batches: The unfinished batches it processed and finalized.

    Examples:
        ```python
        summary = await client.resume()  # after a crash: what the ledger left unfinished
        print(summary.jobs, summary.batches)  # 0 0 on a fresh ledger
        ```
    """

    jobs: int
    batches: int


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a listing. ``page`` counts from 1.

    Examples:
        ```python
        await client.videos.create_videos([sv.CreateVideoRequest(prompt=p) for p in "ABC"])
        page = await client.videos.list_jobs(limit=2)
        print(len(page.items), page.total, page.pages, page.has_next)  # 2 3 2 True
        ```
    """

    items: tuple[T, ...] = attrs.field(converter=_any_tuple)
    page: int
    limit: int
    total: int
    pages: int
    has_next: bool

    @classmethod
    def build(cls, items: Sequence[T], *, page: int, limit: int, total: int) -> Page[T]:
        """Make a page, deriving ``pages`` and ``has_next`` from the total.

        Examples:
            ```python
            page = sv.Page.build(["a", "b"], page=1, limit=2, total=5)
            print(page.pages, page.has_next)  # 3 True
            ```
        """
        pages = math.ceil(total / limit) if limit > 0 else 0
        return cls(
            items=tuple(items),
            page=page,
            limit=limit,
            total=total,
            pages=pages,
            has_next=page < pages,
        )

    def to_records(self) -> list[dict[str, Any]]:
        """Return the items as flat dicts, one per item, for a table or a CSV writer.

        A job gives ``id``, ``status`` (its string), ``progress``, ``provider``, ``model``,
        ``prompt``, ``duration``, ``estimated_cost_usd``, ``cost_usd``, ``batch_id``,
        ``error`` (its code), ``path`` (of the downloaded video), ``created_at`` and
        ``completed_at``; a batch its ``id``, ``name``, ``status``, counts (``total``,
        ``completed``, ``failed``, ``cancelled``, ``pending``), ``percentage``,
        ``budget_usd``, ``created_at`` and ``completed_at``.

        Returns:
            One dict per item, in the page's order, its keys in the same order.

        Examples:
            ```python
            import csv

            await client.videos.create_video(sv.CreateVideoRequest(prompt="A fox"))
            records = (await client.videos.list_jobs()).to_records()
            with open("jobs.csv", "w", newline="") as out:
                writer = csv.DictWriter(out, fieldnames=list(records[0]))
                writer.writeheader()
                writer.writerows(records)
            ```
        """
        return _display.records(self.items)

    def to_pandas(self) -> Any:
        """Return the items as a ``pandas.DataFrame``, one row per item (see ``to_records``).

        Returns:
            A ``pandas.DataFrame``.

        Raises:
            ImportError: pandas is not installed (it is optional: ``pip install pandas``).
        """
        try:
            import pandas
        except ImportError as error:
            raise ImportError(
                "Page.to_pandas() needs pandas, which soravideo does not install: "
                "pip install pandas (or use Page.to_records())"
            ) from error
        return pandas.DataFrame.from_records(self.to_records())

    def _repr_html_(self) -> str:
        """Return an HTML table of the items for Jupyter, and which page of how many it is."""
        return _display.page_html(self)
