"""The ledger seam: a small, domain-level protocol every backend implements.

Rules every backend keeps (the contract suite in ``soravideo.testing`` checks them):

- ``add_jobs`` stores a batch and all its jobs atomically: all or nothing.
- ``update_job`` is a compare-and-set on the job's current status (and lease owner, when
  given): a mismatch raises [`ConflictError`][soravideo.ConflictError] and changes nothing.
- Terminal statuses are final: a completed, failed or cancelled job may be rewritten
  (say, to record where its video was downloaded) but never change status again.
- A batch's ``key`` (when set) is unique across the ledger: ``add_jobs`` with a batch whose
  key another batch holds raises [`ConflictError`][soravideo.ConflictError] naming the key, and
  stores nothing, even when two processes race (the ledger's unique index decides).
- A remote video belongs to one job at most: no two jobs share a ``(provider, remote_id)``
  pair. ``add_jobs`` or ``update_job`` that would give a second job a remote id another
  job holds raises [`ConflictError`][soravideo.ConflictError] naming the remote id and its owner,
  and changes nothing.
- A webhook delivery id is recorded once per provider: ``record_webhook_delivery``
  returns ``True`` to the first caller only, whichever process it runs in.
- ``claim_jobs`` hands each unleased (or lease-expired) non-terminal job to one claimer
  only, urgent before low, then oldest first, and stamps the lease (owner, expiry).

A ledger may also write many jobs in one call
([`SupportsUpdateJobs`][soravideo.repositories.SupportsUpdateJobs]: ``update_jobs``, each
job's outcome that of its own ``update_job``). The built-in ledgers do; the engine writes
through it what one status refresh learns, and one job at a time to a ledger without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from .._core.errors import ConflictError, NotFoundError
from .._core.models import Batch, BatchStatus, Job, JobStatus, Page

__all__ = ["JobRepository", "JobUpdate", "SupportsUpdateJobs"]


@runtime_checkable
class JobRepository(Protocol):
    """Where jobs and batches live. Every method is async; none is called before ``open``.

    The method docstrings here are the only ones: the built-in ledgers subclass this protocol
    and inherit them (in ``help()`` and in the API reference), documenting only what is
    particular to them.
    """

    async def open(self) -> None:
        """Connect and apply schema migrations. Idempotent; called lazily by the client."""
        ...

    async def add_jobs(self, jobs: Sequence[Job], *, batch: Batch | None = None) -> None:
        """Store new jobs (and their batch) atomically: all of them or nothing.

        Raises:
            ConflictError: a job id appears twice or is already stored; the batch's id is
                already stored; another batch already has the batch's ``key`` (the message
                names the key); or a job's ``(provider, remote_id)`` belongs to another job
                (the message names the remote id and its owner).
            BatchNotFoundError: a job names a batch that is neither stored nor given.
            ValidationError: a job holds what JSON and UTF-8 cannot carry (lone surrogates,
                NaN …; nothing stored; ``soravideo._core.validation.check_storable`` names
                each such field).
        """
        ...

    async def get_job(self, job_id: str) -> Job:
        """Return one job.

        Raises:
            JobNotFoundError: no job has this id.
        """
        ...

    async def get_jobs(self, job_ids: Sequence[str]) -> list[Job]:
        """Return the jobs that exist among these ids, in the order given."""
        ...

    async def update_job(
        self, job: Job, *, expected_status: JobStatus, lease_owner: str | None = None
    ) -> Job:
        """Replace a job if it still has ``expected_status`` (and, when given, this lease owner).

        A job that becomes terminal gives up its lease.

        Returns:
            The job as stored.

        Raises:
            JobNotFoundError: no such job.
            ConflictError: the status (or lease owner) differs, a terminal status would
                change, or the job's ``(provider, remote_id)`` belongs to another job (the
                message names the remote id and its owner). Nothing is changed.
            BatchNotFoundError: the job now names a batch that is not stored.
        """
        ...

    async def find_job_by_remote_id(self, provider: str, remote_id: str) -> Job | None:
        """Return the job that owns this provider's remote video, or ``None`` when none does."""
        ...

    async def record_webhook_delivery(
        self, provider: str, delivery_id: str, *, remote_id: str | None, received_at: datetime
    ) -> bool:
        """Remember that a webhook delivery arrived; say whether it is the first time.

        Providers deliver at least once (a retry, a duplicate), so
        [`handle`][soravideo.webhooks.AsyncWebhookService.handle] records each delivery's id
        before applying it: only the first one recorded, by any process sharing the ledger,
        is applied. The ledger's primary key on ``(provider, delivery_id)`` decides a race.

        Args:
            provider: The transport's name (``replicate``, ``fal`` …).
            delivery_id: The provider's id of the delivery (Standard Webhooks'
                ``webhook-id``, fal's request id, OpenRouter's idempotency key).
            remote_id: The remote video it is about, when the body names one.
            received_at: When it arrived (an aware datetime).

        The built-in ledgers remember a delivery for 30 days: a record also forgets up to
        100 deliveries that arrived more than 30 days before it (oldest first), far past
        any provider's retries, so that the table stays bounded. A custom ledger may keep
        them longer.

        Returns:
            ``True`` if it was recorded now; ``False`` if it was recorded before.
        """
        ...

    async def forget_webhook_delivery(self, provider: str, delivery_id: str) -> None:
        """Forget a delivery recorded by
        [`record_webhook_delivery`][soravideo.repositories.JobRepository.record_webhook_delivery]
        whose application failed (the ledger refused a write), so that the provider's retry
        of it is applied instead of being taken for a duplicate. Unknown ids are ignored.
        """
        ...

    async def claim_jobs(
        self,
        owner: str,
        *,
        limit: int,
        lease_seconds: float,
        now: datetime,
        batch_id: str | None = None,
        job_ids: Sequence[str] | None = None,
    ) -> list[Job]:
        """Lease up to ``limit`` non-terminal jobs that nobody holds (or whose lease expired).

        Ordered by priority (urgent first), then ``created_at`` (oldest first). Jobs already
        leased by ``owner`` itself are not returned again until their lease expires.

        A *held* job is a ``pending`` job whose batch is still ``pending`` (created, not yet
        processed): a claim without ``batch_id`` or ``job_ids`` skips it, so a batch's
        videos are sent only once the batch is processed. With ``batch_id`` (or ``job_ids``)
        the claim is restricted to those jobs, held or not.

        Returns:
            The claimed jobs, in claim order.

        Raises:
            ValidationError: ``lease_seconds`` is not positive.
        """
        ...

    async def renew_lease(
        self, job_ids: Sequence[str], owner: str, *, lease_seconds: float, now: datetime
    ) -> list[str]:
        """Extend ``owner``'s leases on these jobs to ``now + lease_seconds``.

        Returns:
            The ids whose lease ``owner`` still held, in the order given.

        Raises:
            ValidationError: ``lease_seconds`` is not positive.
        """
        ...

    async def release_lease(self, job_ids: Sequence[str], owner: str) -> None:
        """Give up ``owner``'s leases on these jobs (others' leases are untouched)."""
        ...

    async def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        batch_id: str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> Page[Job]:
        """Return one page of jobs, newest first, optionally filtered by status and batch.

        Raises:
            ValidationError: ``page`` is below 1, or ``limit`` is not between 1 and 1000.
        """
        ...

    async def count_jobs(self, *, batch_id: str | None = None) -> Mapping[JobStatus, int]:
        """Count jobs by status, optionally in one batch (every status present, zero when none)."""
        ...

    async def get_batch(self, batch_id: str) -> Batch:
        """Return a batch with its progress derived from its jobs.

        Raises:
            BatchNotFoundError: no batch has this id.
        """
        ...

    async def get_batch_by_key(self, key: str) -> Batch | None:
        """Return the batch stored with this idempotency ``key`` (progress included), or ``None``."""
        ...

    async def update_batch(self, batch: Batch, *, expected_status: BatchStatus) -> Batch:
        """Replace a batch if it still has ``expected_status`` (a compare-and-set).

        Returns:
            The batch as stored, its progress derived from its jobs.

        Raises:
            BatchNotFoundError: no such batch.
            ConflictError: the status differs, or the batch's ``key`` belongs to another batch.
        """
        ...

    async def list_batches(self, *, page: int = 1, limit: int = 20) -> Page[Batch]:
        """Return one page of batches, newest first, each with its progress.

        Raises:
            ValidationError: ``page`` is below 1, or ``limit`` is not between 1 and 1000.
        """
        ...

    async def ping(self) -> None:
        """Make one real round trip; raise ``RepositoryError`` when the ledger is unusable."""
        ...

    async def aclose(self) -> None:
        """Release connections and threads. Idempotent."""
        ...


@attrs.frozen(kw_only=True)
class JobUpdate:
    """One compare-and-set of
    [`update_jobs`][soravideo.repositories.SupportsUpdateJobs.update_jobs]: the arguments of
    one ``update_job`` call.

    Args:
        job: The new version of the job.
        expected_status: The status the stored job must still have.
        lease_owner: The lease owner the stored job must have; ``None`` skips that check.

    Examples:
        ```python
        import attrs
        from soravideo.repositories import JobUpdate, MemoryRepository

        ledger = MemoryRepository()
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A red kite"))
        await ledger.add_jobs([job])  # a copy of the client's new job, in a ledger of its own
        update = JobUpdate(job=attrs.evolve(job, progress=30), expected_status=sv.JobStatus.PENDING)
        [written] = await ledger.update_jobs([update])
        print(written.progress)  # 30
        ```
    """

    job: Job
    expected_status: JobStatus
    lease_owner: str | None = None


@runtime_checkable
class SupportsUpdateJobs(Protocol):
    """A ledger that applies many compare-and-sets in one call (one transaction).

    Optional: a [`JobRepository`][soravideo.repositories.JobRepository] need not have it.
    The engine writes what one status refresh learns (the progress and ends of every job
    it asked about) with one ``update_jobs`` call where the ledger has it, and with one
    ``update_job`` a job otherwise. The built-in ledgers have it.

    A subclass of a built-in ledger that overrides ``update_job`` (to audit writes, say)
    overrides ``update_jobs`` too: the built-in ``update_jobs`` does not call ``update_job``.

    Examples:
        ```python
        from soravideo.repositories import MemoryRepository, SQLiteRepository, SupportsUpdateJobs

        print(isinstance(MemoryRepository(), SupportsUpdateJobs))  # True
        print(isinstance(SQLiteRepository("jobs.db"), SupportsUpdateJobs))  # True
        ```
    """

    async def update_jobs(
        self, updates: Sequence[JobUpdate]
    ) -> list[Job | ConflictError | NotFoundError]:
        """Apply many compare-and-sets at once, each with its own expected status and lease owner.

        Each update has exactly the outcome its own
        [`update_job`][soravideo.repositories.JobRepository.update_job] call would have had,
        the updates made one after another in the order given (so a remote id one of them
        gives up, a later one may take): written, or refused with the error ``update_job``
        would have raised for it. A refused update changes nothing and fails no other one.
        They are applied in one transaction: a ledger that fails (locked, down) fails them
        all, and writes none of them.

        Args:
            updates: The compare-and-sets, in the order to apply them.

        Returns:
            One outcome an update, in the order given: the job as stored, or the error
            ``update_job`` would have raised for it (``ConflictError``, ``JobNotFoundError``,
            ``BatchNotFoundError``).

        Raises:
            RepositoryError: The ledger failed; no update was written.

        Examples:
            ```python
            import attrs
            from soravideo.repositories import JobUpdate, MemoryRepository

            ledger = MemoryRepository()
            kite = await client.videos.create_video(sv.CreateVideoRequest(prompt="A kite"))
            crane = await client.videos.create_video(sv.CreateVideoRequest(prompt="A crane"))
            await ledger.add_jobs([kite, crane])  # copies, in a ledger of their own
            outcomes = await ledger.update_jobs(
                [
                    JobUpdate(job=attrs.evolve(kite, progress=40), expected_status=kite.status),
                    # The crane is pending, not completed: refused, and the kite still written.
                    JobUpdate(
                        job=attrs.evolve(crane, progress=40),
                        expected_status=sv.JobStatus.COMPLETED,
                    ),
                ]
            )
            print(outcomes[0].progress, type(outcomes[1]).__name__)  # 40 ConflictError
            ```
        """
        ...


@runtime_checkable
class SupportsAddClaimed(Protocol):
    """A ledger that adds one job already leased to the engine creating it, in one call.

    Optional: a [`JobRepository`][soravideo.repositories.JobRepository] need not have it.
    A client whose engine runs beside it and has room adds a job it creates this way, so
    that it needs no claim of its own: a trip to the ledger less for every job created one
    at a time ([W2-4]). Without it, the job is added and then claimed. `SQLiteRepository`
    has it (its trips cross threads); the memory ledger, whose calls cost no trip, does not.
    A subclass of a ledger that has it and overrides ``add_jobs`` (to audit adds, say)
    overrides ``add_job_claimed`` too: the built-in one does not call ``add_jobs``.

    Examples:
        ```python
        from soravideo.repositories import SQLiteRepository, SupportsAddClaimed

        print(isinstance(SQLiteRepository("jobs.db"), SupportsAddClaimed))  # True
        ```
    """

    async def add_job_claimed(
        self, job: Job, *, owner: str, lease_seconds: float, now: datetime
    ) -> Job | None:
        """Add one new job, as ``add_jobs([job])`` would, and lease it to ``owner`` when no
        other job waits to be claimed.

        The job is stored whatever the answer, exactly as ``add_jobs([job])`` stores it (the
        same checks, the same errors, nothing stored on an error). It is leased to ``owner``
        for ``lease_seconds`` from ``now``, as ``claim_jobs`` would have leased it, only
        when it is pending, has no batch, and no other job is claimable (unleased, or with
        its lease expired, and not held by a pending batch): a claim would then have taken
        this one first, so claim order is kept. Otherwise it is left for a claim.

        Args:
            job: The new job (pending, without a batch, to be leased).
            owner: The lease owner (the creating engine).
            lease_seconds: How long the lease lasts.
            now: The time the lease counts from.

        Returns:
            The job as stored, as ``claim_jobs`` would have returned it (a copy of its own),
            when it was leased to ``owner``; ``None`` when it was left for a claim.

        Raises:
            ValidationError: The job cannot be stored (as ``add_jobs``).
            ConflictError: A job with this id (or remote id) is already stored.
            RepositoryError: The ledger failed; nothing was stored.
        """
        ...
