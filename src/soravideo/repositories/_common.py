"""Rules every ledger backend shares: paging limits, time keys, compare-and-set verdicts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from .._core.errors import ConflictError, FieldError, JobNotFoundError
from .._core.models import Batch, Job, JobStatus
from .._core.validation import MAX_PAGE_LIMIT, check_storable, page_errors, raise_if

__all__ = [
    "MAX_PAGE_LIMIT",
    "check_lease_seconds",
    "check_new",
    "check_page",
    "check_update",
    "counts_by_status",
    "key_taken",
    "micros",
    "remote_id_taken",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def check_page(page: int, limit: int) -> int:
    """Validate a page request and return its offset (the number of rows before it).

    Raises:
        ValidationError: ``page`` is not between 1 and 10⁹, or ``limit`` not between 1
            and 1000 (bounds that keep the offset inside every backend's integers).
    """
    raise_if(page_errors(page, limit))
    return (page - 1) * limit


def check_new(jobs: Iterable[Job], batch: Batch | None = None) -> None:
    """Refuse new jobs (and their batch) holding what JSON and UTF-8 cannot carry.

    Raises:
        ValidationError: naming each such field (``jobs[0].request.prompt``); nothing stored.
    """
    raise_if(check_storable(jobs, batch), message="cannot be stored")


def check_lease_seconds(lease_seconds: float) -> None:
    """Refuse a lease that would expire at once (or never be representable).

    Raises:
        ValidationError: ``lease_seconds`` is not a positive number.
    """
    if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, (int, float)):
        ok = False
    else:
        ok = 0 < lease_seconds < float("inf")
    raise_if([] if ok else [FieldError(field="lease_seconds", message="must be positive")])


def micros(value: datetime) -> int:
    """Return a datetime as exact integer microseconds since the epoch (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // _MICROSECOND


def counts_by_status(rows: Iterable[tuple[str, int]]) -> dict[JobStatus, int]:
    """Turn ``(status, count)`` rows into a count for every status (zero when absent)."""
    counts = dict.fromkeys(JobStatus, 0)
    for status, count in rows:
        counts[JobStatus(status)] += int(count)
    return counts


def check_update(
    job: Job,
    *,
    expected_status: JobStatus,
    lease_owner: str | None,
    actual: tuple[JobStatus, str | None] | None,
) -> None:
    """Decide whether ``update_job`` may replace the stored job.

    Args:
        job: The new version of the job.
        expected_status: The status the caller believes the stored job has.
        lease_owner: The lease owner the caller claims to be, or ``None`` to skip that check.
        actual: The stored job's status and lease owner, or ``None`` when there is no such job.

    Raises:
        JobNotFoundError: no such job.
        ConflictError: the status or the lease owner differs, or a terminal status would change.
    """
    if actual is None:
        raise JobNotFoundError(job.id)
    status, owner = actual
    expected = JobStatus(expected_status)
    if status is not expected:
        raise ConflictError(job.id, expected=expected.value, actual=status.value)
    if lease_owner is not None and owner != lease_owner:
        raise ConflictError(
            job.id,
            expected=expected.value,
            actual=status.value,
            message=f"job {job.id!r} is leased by {owner!r}, not {lease_owner!r}",
        )
    if status.is_terminal and job.status is not status:
        raise ConflictError(
            job.id,
            expected=expected.value,
            actual=status.value,
            message=f"job {job.id!r} is {status.value}: a terminal status is final "
            f"(cannot become {job.status.value})",
        )


def remote_id_taken(job: Job, owner: str | None) -> ConflictError:
    """The error for a job given a remote video that another job (``owner``) already holds."""
    holder = f"job {owner!r}" if owner else "another job"
    return ConflictError(
        job.id,
        message=f"job {job.id!r}: remote video {job.remote_id!r} of {job.provider} "
        f"already belongs to {holder}",
    )


def key_taken(batch: Batch, owner: str | None) -> ConflictError:
    """The error for a batch whose idempotency key another batch (``owner``) already has."""
    holder = f"batch {owner!r}" if owner else "another batch"
    return ConflictError(
        batch.id,
        message=f"batch key {batch.key!r} is already taken by {holder}",
    )
