"""The in-memory ledger: for tests, notebooks and ``SoraVideo.simulated()``.

It keeps every rule of the contract suite (compare-and-set, final terminal statuses,
leases, the held batches of a claim), so code tested against it behaves the same on SQLite
or PostgreSQL. What you get back is always a fresh object, never one another caller (or the
ledger) still holds; a job that would not survive a real backend's serialisation fails here
too: new jobs are written to JSON once, as the SQL backends store them, and so is an update
that changes what a job was created with. The ledger's own copy of a job shares no mutable
part (the labels, the provider options) with anyone: copying that costs a fraction of a
JSON round trip on every write and read, which was a fifth of the engine's CPU a job
([W2-4]).
"""

from __future__ import annotations

import heapq
import json
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import anyio.lowlevel
import attrs

from .._core.converter import dumps, loads
from .._core.errors import BatchNotFoundError, ConflictError, JobNotFoundError, NotFoundError
from .._core.models import (
    Batch,
    BatchProgress,
    BatchStatus,
    CreateVideoRequest,
    Job,
    JobStatus,
    Page,
)
from .._core.replace import replace
from ._common import (
    DELIVERY_RETENTION,
    PRUNE_BATCH,
    already_stored,
    batch_data,
    batch_status_conflict,
    check_lease_seconds,
    check_new,
    check_page,
    check_update,
    counts_by_status,
    key_taken,
    lease_expiry_us,
    micros,
    nothing_to_claim,
    remote_id_taken,
)
from .base import JobRepository, JobUpdate, SupportsUpdateJobs

__all__ = ["MemoryRepository"]


def _copied_options(options: dict[str, Any]) -> dict[str, Any]:
    # Any JSON: copied as a backend would give it back (and refused as it would refuse it).
    return json.loads(json.dumps(options)) if options else {}


def _private_request(request: CreateVideoRequest) -> CreateVideoRequest:
    return replace(
        request,
        metadata=request.metadata,  # copied by its converter, as replace runs it
        provider_options=_copied_options(request.provider_options),
    )


def _private(job: Job, held: Job | None = None) -> Job:
    """A copy of ``job`` sharing no mutable part with anyone (its frozen values are shared).

    ``held``: the ledger's own copy before this write; its request is kept when the new one
    is equal (the usual update: the engine changes status, progress, result).
    """
    if held is not None and job.request == held.request:
        request = held.request
    else:
        if held is not None:
            dumps(job.request)  # a changed request must survive serialisation, as it would in SQL
        request = _private_request(job.request)
    return replace(job, request=request, metadata=job.metadata)  # labels copied by their converter


@attrs.define
class _StoredJob:
    job: Job  # the ledger's own copy: never handed out (callers get ``fresh()``)
    created_us: int
    lease_owner: str | None = None
    lease_expires_us: int | None = None

    @classmethod
    def of(cls, job: Job, held: Job | None = None) -> _StoredJob:
        return cls(job=_private(job, held), created_us=micros(job.created_at))

    def fresh(self) -> Job:
        """A copy for a caller: its labels and options are its own to change."""
        job = self.job
        # ``replace`` runs the labels' converter, which copies them.
        return replace(job, request=_private_request(job.request), metadata=job.metadata)

    def newest_first(self) -> tuple[int, str]:
        return (self.created_us, self.job.id)

    def claim_order(self) -> tuple[int, int, str]:
        return (-self.job.priority.rank, self.created_us, self.job.id)


@attrs.define
class _StoredBatch:
    batch: Batch
    data: str
    created_us: int

    @classmethod
    def of(cls, batch: Batch) -> _StoredBatch:
        return cls(batch=batch, data=batch_data(batch), created_us=micros(batch.created_at))


class MemoryRepository(JobRepository, SupportsUpdateJobs):
    """Keep jobs in this process's memory (gone when it exits).

    Safe to share between tasks and threads: each method holds a lock for a few dict operations and
    never awaits while holding it. [`aclose`][soravideo.repositories.MemoryRepository.aclose]
    releases nothing and forgets nothing, so a test can still read the ledger after closing the
    client that used it.

    Example::

        repository = MemoryRepository()
        async with AsyncSoraVideo.simulated(repository=repository) as client:
            job = await client.videos.create_video(CreateVideoRequest(prompt="a red fox"))
            await client.videos.wait_for_job(job.id)
        assert (await repository.get_job(job.id)).status is JobStatus.COMPLETED

    Examples:
        ```python
        from soravideo.repositories import MemoryRepository

        ledger = MemoryRepository()  # gone with the process: for tests and notebooks
        async with sv.AsyncSoraVideo.simulated(repository=ledger) as client:
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A paper crane"))
            print((await ledger.get_job(job.id)).status)  # pending
        ```
    """

    def __init__(self) -> None:
        # A thread lock, not an anyio one: critical sections never await, and one
        # repository may serve sync clients whose portals run different event loops.
        self._lock = threading.Lock()
        self._jobs: dict[str, _StoredJob] = {}
        # Ids of unfinished jobs nobody holds (never leased, given back, or found expired):
        # a claim looks at these only, so its cost follows the work waiting to be taken,
        # not the size of the ledger nor the jobs in flight ([W2-4]).
        self._free: dict[str, None] = {}
        # (lease expiry, job id) of leased unfinished jobs, earliest first; an entry whose
        # job has since been renewed, given back or finished is skipped when reached.
        self._expiries: list[tuple[int, str]] = []
        self._batches: dict[str, _StoredBatch] = {}
        # The ledger's unique indexes: (provider, remote id) -> job id, batch key -> batch id.
        self._remote: dict[tuple[str, str], str] = {}
        self._keys: dict[str, str] = {}
        # Webhook deliveries received ([W2-7]): (provider, delivery id) → when it arrived
        # (µs), oldest recorded first.
        self._deliveries: dict[tuple[str, str], int] = {}

    def __repr__(self) -> str:
        return f"MemoryRepository({len(self._jobs)} jobs, {len(self._batches)} batches)"

    async def __aenter__(self) -> MemoryRepository:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Do nothing: memory needs no connection. Idempotent."""
        await anyio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        """Do nothing: the jobs stay readable. Idempotent."""
        await anyio.lowlevel.checkpoint()

    async def ping(self) -> None:
        """Succeed: memory is always reachable."""
        await anyio.lowlevel.checkpoint()

    # -- jobs ---------------------------------------------------------------------------------

    async def add_jobs(self, jobs: Sequence[Job], *, batch: Batch | None = None) -> None:
        check_new(jobs, batch)
        await anyio.lowlevel.checkpoint()
        for job in jobs:
            dumps(job)  # what the SQL backends write: a job that cannot be written fails here too
        stored = [_StoredJob.of(job) for job in jobs]
        stored_batch = _StoredBatch.of(batch) if batch is not None else None
        with self._lock:
            seen: set[str] = set()
            for job in jobs:
                if job.id in self._jobs:
                    raise already_stored("job", job.id)
                if job.id in seen:
                    raise ConflictError(job.id, message=f"job id {job.id!r} is given twice")
                seen.add(job.id)
            if batch is not None and batch.id in self._batches:
                raise already_stored("batch", batch.id)
            known = self._batches.keys() | ({batch.id} if batch is not None else set())
            for job in jobs:
                if job.batch_id is not None and job.batch_id not in known:
                    raise BatchNotFoundError(job.batch_id)
            if batch is not None and batch.key is not None and batch.key in self._keys:
                raise key_taken(batch, self._keys[batch.key])
            remotes: dict[tuple[str, str], str] = {}
            for job in jobs:
                if job.remote_id is not None:
                    pair = (job.provider, job.remote_id)
                    owner = self._remote.get(pair) or remotes.get(pair)
                    if owner is not None:
                        raise remote_id_taken(job, owner)
                    remotes[pair] = job.id
            if stored_batch is not None:
                self._batches[stored_batch.batch.id] = stored_batch
                if batch is not None and batch.key is not None:
                    self._keys[batch.key] = batch.id
            self._remote.update(remotes)
            self._jobs.update((row.job.id, row) for row in stored)
            self._free.update(
                (row.job.id, None) for row in stored if not row.job.status.is_terminal
            )

    async def get_job(self, job_id: str) -> Job:
        await anyio.lowlevel.checkpoint()
        with self._lock:
            row = self._jobs.get(job_id)
        if row is None:
            raise JobNotFoundError(job_id)
        return row.fresh()

    async def get_jobs(self, job_ids: Sequence[str]) -> list[Job]:
        await anyio.lowlevel.checkpoint()
        with self._lock:
            rows = [self._jobs[job_id] for job_id in job_ids if job_id in self._jobs]
        return [row.fresh() for row in rows]

    async def update_job(
        self, job: Job, *, expected_status: JobStatus, lease_owner: str | None = None
    ) -> Job:
        await anyio.lowlevel.checkpoint()
        with self._lock:
            old = self._jobs.get(job.id)
        if old is None:
            raise JobNotFoundError(job.id)
        new = _StoredJob.of(job, old.job)  # outside the lock: it may serialise the request
        with self._lock:
            self._replace(new, expected_status, lease_owner)
        return job

    def _replace(
        self, new: _StoredJob, expected_status: JobStatus, lease_owner: str | None
    ) -> None:
        """Store ``new`` in place of its job if every check passes (the lock held)."""
        job = new.job
        old = self._jobs.get(job.id)
        if old is None:
            raise JobNotFoundError(job.id)
        actual = (old.job.status, old.lease_owner)
        check_update(job, expected_status=expected_status, lease_owner=lease_owner, actual=actual)
        if job.batch_id is not None and job.batch_id not in self._batches:
            raise BatchNotFoundError(job.batch_id)
        pair = (job.provider, job.remote_id) if job.remote_id is not None else None
        if pair is not None and self._remote.get(pair, job.id) != job.id:
            raise remote_id_taken(job, self._remote[pair])
        if old.job.remote_id is not None:
            old_pair = (old.job.provider, old.job.remote_id)
            if old_pair != pair and self._remote.get(old_pair) == job.id:
                del self._remote[old_pair]
        if pair is not None:
            self._remote[pair] = job.id
        if not job.status.is_terminal:
            new.lease_owner, new.lease_expires_us = old.lease_owner, old.lease_expires_us
        else:
            self._free.pop(job.id, None)
        self._jobs[job.id] = new

    async def update_jobs(
        self, updates: Sequence[JobUpdate]
    ) -> list[Job | ConflictError | NotFoundError]:
        await anyio.lowlevel.checkpoint()
        with self._lock:
            held = [self._jobs.get(update.job.id) for update in updates]
        # Copied outside the lock (a changed request is serialised), as update_job does.
        stored = [
            _StoredJob.of(update.job, row.job if row is not None else None)
            for update, row in zip(updates, held, strict=True)
        ]
        outcomes: list[Job | ConflictError | NotFoundError] = []
        with self._lock:
            for update, new in zip(updates, stored, strict=True):
                try:
                    self._replace(new, update.expected_status, update.lease_owner)
                except (ConflictError, NotFoundError) as exc:
                    outcomes.append(exc)
                else:
                    outcomes.append(update.job)
        return outcomes

    async def find_job_by_remote_id(self, provider: str, remote_id: str) -> Job | None:
        await anyio.lowlevel.checkpoint()
        with self._lock:
            job_id = self._remote.get((provider, remote_id))
            row = self._jobs.get(job_id) if job_id is not None else None
        return row.fresh() if row is not None else None

    async def record_webhook_delivery(
        self, provider: str, delivery_id: str, *, remote_id: str | None, received_at: datetime
    ) -> bool:
        await anyio.lowlevel.checkpoint()
        with self._lock:
            key = (provider, delivery_id)
            if key in self._deliveries:
                return False
            self._forget_old_deliveries(micros(received_at - DELIVERY_RETENTION))
            self._deliveries[key] = micros(received_at)
            return True

    def _forget_old_deliveries(self, before_us: int) -> None:
        # Oldest recorded first (a dict keeps its order): up to PRUNE_BATCH received before
        # ``before_us``, stopping at the first one that is not.
        deliveries = self._deliveries
        for _ in range(PRUNE_BATCH):
            oldest = next(iter(deliveries), None)
            if oldest is None or deliveries[oldest] >= before_us:
                return
            del deliveries[oldest]

    async def forget_webhook_delivery(self, provider: str, delivery_id: str) -> None:
        await anyio.lowlevel.checkpoint()
        with self._lock:
            self._deliveries.pop((provider, delivery_id), None)

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
        empty = nothing_to_claim(limit, lease_seconds, job_ids)
        await anyio.lowlevel.checkpoint()
        if empty:
            return []
        now_us = micros(now)
        expires_us = lease_expiry_us(now, lease_seconds)
        with self._lock:
            if job_ids is not None:
                pool = [self._jobs[job_id] for job_id in set(job_ids) if job_id in self._jobs]
            else:
                self._free_expired(now_us)
                pool = [self._jobs[job_id] for job_id in self._free]
            candidates = [
                row
                for row in pool
                if not row.job.status.is_terminal
                and (row.lease_owner is None or (row.lease_expires_us or 0) <= now_us)
                and (batch_id is None or row.job.batch_id == batch_id)
                and (batch_id is not None or job_ids is not None or not self._is_held(row.job))
            ]
            candidates.sort(key=_StoredJob.claim_order)
            claimed = candidates[:limit]
            for row in claimed:
                row.lease_owner, row.lease_expires_us = owner, expires_us
                self._leased(row)
        return [row.fresh() for row in claimed]

    def _leased(self, row: _StoredJob) -> None:
        """Note a lease taken or renewed (the lock held)."""
        self._free.pop(row.job.id, None)
        heapq.heappush(self._expiries, (row.lease_expires_us or 0, row.job.id))

    def _free_expired(self, now_us: int) -> None:
        """Make the jobs whose lease has expired claimable again (the lock held)."""
        expiries = self._expiries
        while expiries and expiries[0][0] <= now_us:
            expires_us, job_id = heapq.heappop(expiries)
            row = self._jobs.get(job_id)
            if (
                row is not None
                and row.lease_owner is not None
                and row.lease_expires_us == expires_us
                and not row.job.status.is_terminal
            ):
                self._free[job_id] = None

    def _is_held(self, job: Job) -> bool:
        if job.status is not JobStatus.PENDING or job.batch_id is None:
            return False
        batch = self._batches.get(job.batch_id)
        return batch is not None and batch.batch.status is BatchStatus.PENDING

    async def renew_lease(
        self, job_ids: Sequence[str], owner: str, *, lease_seconds: float, now: datetime
    ) -> list[str]:
        check_lease_seconds(lease_seconds)
        await anyio.lowlevel.checkpoint()
        expires_us = lease_expiry_us(now, lease_seconds)
        renewed: list[str] = []
        with self._lock:
            for job_id in job_ids:
                row = self._jobs.get(job_id)
                if row is not None and row.lease_owner == owner and not row.job.is_terminal:
                    row.lease_expires_us = expires_us
                    self._leased(row)
                    renewed.append(job_id)
        return renewed

    async def release_lease(self, job_ids: Sequence[str], owner: str) -> None:
        await anyio.lowlevel.checkpoint()
        with self._lock:
            for job_id in job_ids:
                row = self._jobs.get(job_id)
                if row is not None and row.lease_owner == owner:
                    row.lease_owner = row.lease_expires_us = None
                    if not row.job.status.is_terminal:
                        self._free[job_id] = None

    async def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        batch_id: str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> Page[Job]:
        offset = check_page(page, limit)
        wanted = JobStatus(status) if status is not None else None
        await anyio.lowlevel.checkpoint()
        with self._lock:
            rows = [
                row
                for row in self._jobs.values()
                if (wanted is None or row.job.status is wanted)
                and (batch_id is None or row.job.batch_id == batch_id)
            ]
        rows.sort(key=_StoredJob.newest_first, reverse=True)
        items = [row.fresh() for row in rows[offset : offset + limit]]
        return Page.build(items, page=page, limit=limit, total=len(rows))

    async def count_jobs(self, *, batch_id: str | None = None) -> Mapping[JobStatus, int]:
        await anyio.lowlevel.checkpoint()
        with self._lock:
            return counts_by_status(
                (row.job.status.value, 1)
                for row in self._jobs.values()
                if batch_id is None or row.job.batch_id == batch_id
            )

    def _with_progress(self, rows: Sequence[_StoredBatch]) -> list[Batch]:
        # One pass over the jobs for the whole page of batches.
        counts: dict[str, dict[JobStatus, int]] = {row.batch.id: {} for row in rows}
        for job_row in self._jobs.values():
            batch_id = job_row.job.batch_id
            if batch_id in counts:
                status = job_row.job.status
                counts[batch_id][status] = counts[batch_id].get(status, 0) + 1
        return [
            attrs.evolve(
                loads(row.data, Batch), progress=BatchProgress.from_counts(counts[row.batch.id])
            )
            for row in rows
        ]

    # -- batches ------------------------------------------------------------------------------

    async def get_batch(self, batch_id: str) -> Batch:
        await anyio.lowlevel.checkpoint()
        with self._lock:
            row = self._batches.get(batch_id)
            if row is None:
                raise BatchNotFoundError(batch_id)
            return self._with_progress([row])[0]

    async def get_batch_by_key(self, key: str) -> Batch | None:
        await anyio.lowlevel.checkpoint()
        with self._lock:
            batch_id = self._keys.get(key)
            row = self._batches.get(batch_id) if batch_id is not None else None
            return self._with_progress([row])[0] if row is not None else None

    async def update_batch(self, batch: Batch, *, expected_status: BatchStatus) -> Batch:
        await anyio.lowlevel.checkpoint()
        expected = BatchStatus(expected_status)
        new = _StoredBatch.of(batch)
        with self._lock:
            old = self._batches.get(batch.id)
            if old is None:
                raise BatchNotFoundError(batch.id)
            actual = old.batch.status
            if actual is not expected:
                raise batch_status_conflict(batch, expected.value, actual.value)
            if batch.key is not None and self._keys.get(batch.key, batch.id) != batch.id:
                raise key_taken(batch, self._keys[batch.key])
            if old.batch.key is not None and old.batch.key != batch.key:
                del self._keys[old.batch.key]
            if batch.key is not None:
                self._keys[batch.key] = batch.id
            self._batches[batch.id] = new
            return self._with_progress([new])[0]

    async def list_batches(self, *, page: int = 1, limit: int = 20) -> Page[Batch]:
        offset = check_page(page, limit)
        await anyio.lowlevel.checkpoint()
        with self._lock:
            rows = sorted(
                self._batches.values(), key=lambda row: (row.created_us, row.batch.id), reverse=True
            )
            items = self._with_progress(rows[offset : offset + limit])
            return Page.build(items, page=page, limit=limit, total=len(rows))
