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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from .._core.models import Batch, BatchStatus, Job, JobStatus, Page

__all__ = ["JobRepository"]


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
