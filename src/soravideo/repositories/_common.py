"""Rules every ledger backend shares: paging limits, time keys, compare-and-set verdicts.

Besides the checks, the pieces of a row that the backends build alike live here: a batch's
stored JSON (``batch_data``), a batch rebuilt with its progress (``with_progress``), a lease's
expiry in microseconds (``lease_expiry_us``), the name suffix of a filtered job listing
(``listing_suffix``), the guard of a claim (``nothing_to_claim``), each outcome of an
``update_jobs`` transaction (``update_outcomes``), and the errors the backends raise alike
(``given_twice``, ``already_stored``, ``batch_status_conflict``, ``first_remote_id_conflict``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone

import attrs

from .._core.converter import dumps, loads
from .._core.errors import ConflictError, FieldError, JobNotFoundError, NotFoundError
from .._core.models import Batch, BatchProgress, Job, JobStatus
from .._core.validation import MAX_PAGE_LIMIT, check_storable, page_errors, raise_if
from .base import JobUpdate

__all__ = [
    "DELIVERY_RETENTION",
    "MAX_PAGE_LIMIT",
    "PRUNE_BATCH",
    "already_stored",
    "batch_data",
    "batch_status_conflict",
    "check_lease_seconds",
    "check_new",
    "check_page",
    "check_update",
    "counts_by_status",
    "first_remote_id_conflict",
    "given_twice",
    "key_taken",
    "lease_expiry_us",
    "listing_suffix",
    "micros",
    "nothing_to_claim",
    "remote_id_taken",
    "update_outcomes",
    "with_progress",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)

# How long a webhook delivery's id is remembered ([W2-7]): far past any provider's retries
# (Standard Webhooks' schedule ends within days; each retry is signed anew, so only its
# id tells it apart), so that the table of deliveries stays bounded.
DELIVERY_RETENTION = timedelta(days=30)
# At most this many deliveries past the retention are forgotten by one record: each record
# stays short, and a ledger that piled up before it had a retention drains over time.
PRUNE_BATCH = 100


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


def update_outcomes(
    updates: Sequence[JobUpdate],
    states: Mapping[str, tuple[JobStatus, str | None]],
    written: Sequence[bool],
) -> list[Job | ConflictError | NotFoundError]:
    """The outcome of each update of one ``update_jobs`` transaction.

    Args:
        updates: The compare-and-sets, in the order they ran.
        states: Each stored job's status and lease owner before the first of them ran (a job
            not stored is absent), its row locked throughout.
        written: Whether each one's statement wrote its row.

    Returns:
        For each update, the job written, or the error ``check_update`` names against the
        state the updates before it left.
    """
    current = dict(states)
    outcomes: list[Job | ConflictError | NotFoundError] = []
    for update, wrote in zip(updates, written, strict=True):
        job = update.job
        if wrote:
            owner = None if job.status.is_terminal else current[job.id][1]
            current[job.id] = (job.status, owner)
            outcomes.append(job)
            continue
        try:
            check_update(
                job,
                expected_status=update.expected_status,
                lease_owner=update.lease_owner,
                actual=current.get(job.id),
            )
        except (ConflictError, NotFoundError) as exc:
            outcomes.append(exc)
        else:
            # Every check passes, yet the row was not written: it changed under the statement.
            outcomes.append(ConflictError(job.id, message=f"job {job.id!r} changed concurrently"))
    return outcomes


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


def first_remote_id_conflict(
    jobs: Sequence[Job], owners: Mapping[tuple[str, str], str]
) -> ConflictError:
    """The error for the first of ``jobs`` whose remote video is taken.

    Taken by the ledger (``owners``: the stored owner of each ``(provider, remote_id)`` pair
    of ``jobs`` that has one) or by a job before it in ``jobs``.
    """
    given: dict[tuple[str, str], str] = {}
    for job in jobs:
        if job.remote_id is None:
            continue
        pair = (job.provider, job.remote_id)
        owner = owners.get(pair) or given.get(pair)
        if owner is not None:
            return remote_id_taken(job, owner)
        given[pair] = job.id
    # Another process took it and let it go again between the two statements.
    return remote_id_taken(jobs[0], None)


def given_twice(job_ids: Iterable[str]) -> ConflictError | None:
    """The error for the first job id that appears twice in ``job_ids``, or ``None``."""
    seen: set[str] = set()
    for job_id in job_ids:
        if job_id in seen:
            return ConflictError(job_id, message=f"job id {job_id!r} is given twice")
        seen.add(job_id)
    return None


def already_stored(kind: str, item_id: str) -> ConflictError:
    """The error for a new job or batch (``kind``) whose id the ledger already holds."""
    return ConflictError(item_id, message=f"{kind} {item_id!r} is already stored")


def batch_status_conflict(batch: Batch, expected: str, actual: str) -> ConflictError:
    """The error for ``update_batch`` when the stored status is not the one expected."""
    return ConflictError(
        batch.id,
        expected=expected,
        actual=actual,
        message=f"batch {batch.id!r}: expected status {expected}, found {actual}",
    )


def batch_data(batch: Batch) -> str:
    """The JSON a batch is stored as: without its progress, which is derived from the jobs on
    every read (a stored copy would only go stale)."""
    return dumps(attrs.evolve(batch, progress=BatchProgress()))


def with_progress(data: str, rows: Iterable[tuple[str | None, int | None]]) -> Batch:
    """A stored batch (its JSON) with the progress its jobs' ``(status, count)`` rows give.

    Rows whose status or count is ``None`` (a batch with no jobs, outer-joined) count nothing.
    """
    counts = counts_by_status((s, n) for s, n in rows if s is not None and n is not None)
    return attrs.evolve(loads(data, Batch), progress=BatchProgress.from_counts(counts))


def lease_expiry_us(now: datetime, lease_seconds: float) -> int:
    """When a lease taken at ``now`` for ``lease_seconds`` expires, in microseconds."""
    return micros(now) + round(lease_seconds * 1_000_000)


def listing_suffix(status: JobStatus | None, batch_id: str | None) -> str:
    """The suffix of the ``list_jobs``/``count_jobs`` query for these filters (``_by_status`` …)."""
    return {
        (False, False): "",
        (True, False): "_by_status",
        (False, True): "_by_batch",
        (True, True): "_by_status_and_batch",
    }[(status is not None, batch_id is not None)]


def nothing_to_claim(limit: int, lease_seconds: float, job_ids: Sequence[str] | None) -> bool:
    """Check a claim's lease, and return whether the claim can only come back empty.

    Raises:
        ValidationError: ``lease_seconds`` is not a positive number.
    """
    check_lease_seconds(lease_seconds)
    return limit < 1 or (job_ids is not None and not job_ids)
