"""JobRunner: the only code that changes a job's status.

It claims jobs from the ledger with a lease, sends pending ones in priority order within
an adaptive concurrency limit and a token bucket, polls in-flight ones on an ETA schedule
(many at once where the provider can list), and records every transition in the ledger
before its next provider call. Its state lives on the object, not in a task: ``run()``
may be started and cancelled many times (by a background task, a waiting call or a
worker) and always picks up where it left off.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import math
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import attrs

from ._clock import Clock, SystemClock, now_utc
from ._download import download_content
from ._errors import (
    AmbiguousSubmissionError,
    AuthenticationError,
    ConflictError,
    JobNotFoundError,
    JobStateError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
)
from ._events import EventBus, EventKind
from ._models import Job, JobError, JobStatus, VideoResult
from ._policy import AdaptiveLimit, Observation, TokenBucket, next_poll_delay
from ._retry import RetryAfterCap, create_never_happened
from ._settings import Settings
from .repositories.base import JobRepository
from .transports.base import RemoteJob, Transport

__all__ = ["REMIX_OF", "JobRunner", "RunnerStats", "idempotency_key"]

logger = logging.getLogger("soravideo")
T = TypeVar("T")

# Metadata key that marks a job as a remix: the value is the source video's remote id.
REMIX_OF = "soravideo.remix_of"
# Matching an ambiguous create against the provider's recent jobs allows for clock skew.
_RECONCILE_SKEW = 5.0
# Remote ids this runner has recorded, so reconciliation never adopts one twice.
_SEEN_LIMIT = 50_000
_DOWNLOAD_ATTEMPTS = 3


def idempotency_key(job_id: str) -> str:
    """Return the idempotency key of a job's create: the same on every attempt and process."""
    return f"soravideo-{job_id}"


def _default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@attrs.frozen(kw_only=True)
class RunnerStats:
    """A snapshot of the engine, for metrics."""

    in_flight: int
    queued: int
    concurrency_limit: int
    paused_until: float | None
    owner: str


@attrs.define
class _Tracked:
    job: Job
    observations: list[Observation]
    due: float
    hint: float | None = None
    failures: int = 0


class JobRunner:
    """Move jobs through their life cycle. Built by the client; not usually used directly."""

    def __init__(
        self,
        *,
        repository: JobRepository,
        transport: Transport,
        settings: Settings,
        clock: Clock,
        events: EventBus,
        owner: str | None = None,
    ) -> None:
        self.repository = repository
        self.transport = transport
        self.settings = settings
        self.clock = clock
        self.events = events
        self.owner = owner or _default_owner()
        # Leases guard against dead processes, so they run on real time even when the
        # engine runs on simulated time (which may leap minutes while a thread works).
        self._lease_clock = SystemClock()
        self._limit = AdaptiveLimit(settings.max_concurrency)
        self._bucket = TokenBucket(
            settings.requests_per_second, burst=max(1.0, settings.requests_per_second)
        )
        self._paused_until = 0.0
        self._cap_retry_after = RetryAfterCap("engine")
        # Jobs whose last create certainly did not happen (refused, 429, 503): sent again
        # as they are, with no reconciliation (which would fail them on a provider that
        # can neither list nor deduplicate).
        self._unsent: set[str] = set()
        self._queue: list[tuple[int, float, int, str]] = []
        self._queued: dict[str, Job] = {}
        self._retry_at: dict[str, float] = {}
        self._seq = 0
        self._submitting: dict[str, Job] = {}
        self._tracked: dict[str, _Tracked] = {}
        self._seen_remote_ids: dict[str, None] = {}
        self._submit_done: dict[str, anyio.Event] = {}
        self._cancel_requested: set[str] = set()
        self._batch_limits: dict[str, int] = {}
        self._wake_dispatch = anyio.Event()
        self._wake_poll = anyio.Event()
        self._wake_lease = anyio.Event()
        self._claim_needed = True
        # Held by a claim and by release_all, so that a release sees every lease a claim took.
        self._claim_lock = anyio.Lock()
        self._run_lock = anyio.Lock()
        self._background = False
        self.worker_mode = False

    # ---------------------------------------------------------------- introspection

    def stats(self) -> RunnerStats:
        """Return how many jobs are in flight and queued, and the current limits."""
        paused = self._paused_until if self._paused_until > self.clock.time() else None
        return RunnerStats(
            in_flight=len(self._submitting) + len(self._tracked),
            queued=len(self._queued),
            concurrency_limit=self._limit.current,
            paused_until=paused,
            owner=self.owner,
        )

    def holds(self, job_id: str) -> bool:
        """Whether this runner is driving the job (so its changes arrive as events)."""
        return job_id in self._queued or job_id in self._submitting or job_id in self._tracked

    def recheck_interval(self, *job_ids: str) -> float:
        """How long a waiter may rely on events before reading the ledger again.

        Jobs this runner drives announce every change; a job driven elsewhere (another
        process, or not yet claimable because a dead worker's lease has not expired) is
        re-read often, and each re-read asks the runner to try claiming again.
        """
        if all(self.holds(job_id) for job_id in job_ids) and job_ids:
            return self.settings.poll_max_interval
        self.wake()
        return max(self.settings.poll_min_interval, 0.5)

    def _held_ids(self) -> list[str]:
        return [*self._queued, *self._submitting, *self._tracked]

    def _in_flight(self, batch_id: str | None = None) -> int:
        jobs = [*self._submitting.values(), *(t.job for t in self._tracked.values())]
        if batch_id is None:
            return len(jobs)
        return sum(1 for j in jobs if j.batch_id == batch_id)

    # ---------------------------------------------------------------- control

    def wake(self) -> None:
        """Look for new work now (a job was created, cancelled, or a batch started)."""
        self._claim_needed = True
        self._wake_dispatch.set()
        self._wake_poll.set()

    def set_batch_limit(self, batch_id: str, concurrency: int) -> None:
        """Mark a batch as being processed here, with at most ``concurrency`` jobs in flight
        (0: only the client's limit applies)."""
        self._batch_limits[batch_id] = concurrency
        self.wake()

    def release_batch(self, batch_id: str) -> None:
        """Forget a batch's own limit once it is no longer processed here."""
        self._batch_limits.pop(batch_id, None)

    @asynccontextmanager
    async def driving(self) -> AsyncIterator[None]:
        """Keep the engine running for the duration of the block.

        When a background task already runs it (a context-managed or sync client), this
        does nothing; otherwise the calling task drives the engine while it waits.
        """
        if self._background:
            yield
            return
        error: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.run)
            try:
                yield
            except Exception as exc:
                # Raised after the engine stopped, so callers see their own exception
                # rather than an ExceptionGroup from this task group.
                error = exc
            finally:
                tg.cancel_scope.cancel()
        if error is not None:
            raise error

    async def run_forever(self) -> None:
        """Run the engine as the client's background task until cancelled."""
        self._background = True
        try:
            await self.run()
        finally:
            self._background = False

    async def run(self) -> None:
        """Drive jobs until cancelled. Only one ``run`` is active at a time."""
        async with self._run_lock:
            self._claim_needed = True
            try:
                async with anyio.create_task_group() as tg:
                    clock_run = getattr(self.clock, "run", None)
                    if clock_run is not None:
                        tg.start_soon(clock_run)
                    tg.start_soon(self._dispatch_loop, tg)
                    tg.start_soon(self._poll_loop)
                    tg.start_soon(self._lease_loop)
            finally:
                with anyio.CancelScope(shield=True):
                    await self._release_idle()

    async def _release_idle(self) -> None:
        # Queued jobs have not been sent: hand them back so another process may take them.
        ids = list(self._queued)
        self._queue.clear()
        self._queued.clear()
        if ids:
            try:
                await self.repository.release_lease(ids, self.owner)
            except Exception:
                logger.warning("could not release leases of %d queued jobs", len(ids))

    async def settle_submissions(self, seconds: float) -> None:
        """Wait (real time, at most ``seconds``) until creates on the wire are recorded, so a
        stopping worker does not give away a job whose remote id is about to arrive."""
        with anyio.move_on_after(seconds):
            for done in list(self._submit_done.values()):
                await done.wait()

    def stop_worker(self) -> None:
        """Leave worker mode: look for new work again only when a caller asks (``wake``;
        a waiter's re-reads ask too, so nobody waits on a job left unclaimed here)."""
        self.worker_mode = False
        self._claim_needed = False

    async def release_all(self) -> None:
        """Give back every lease this runner holds (on shutdown).

        Waits for a claim on the wire first, so the leases it takes are given back too.
        """
        async with self._claim_lock:
            ids = self._held_ids()
            self._queue.clear()
            self._queued.clear()
            self._tracked.clear()
            if ids:
                await self.repository.release_lease(ids, self.owner)

    # ---------------------------------------------------------------- gate

    async def _gate(self) -> None:
        """Wait for the shared pause (after a 429) and for a token of the rate limit."""
        while True:
            now = self.clock.time()
            if now < self._paused_until:
                await self.clock.sleep(self._paused_until - now)
                continue
            wait = self._bucket.reserve(now)
            if wait > 0:
                await self.clock.sleep(wait)
            return

    def _pause(self, retry_after: float | None) -> None:
        """Hold every request for the provider's ``Retry-After`` (capped at ``max_retry_after``)."""
        delay = retry_after if retry_after is not None else self.settings.poll_min_interval
        delay = self._cap_retry_after(delay, self.settings.max_retry_after) or 0.0
        self._paused_until = max(self._paused_until, self.clock.time() + delay)
        logger.info("provider rate limit: pausing requests for %.1f s", delay)

    async def _call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        await self._gate()
        try:
            return await fn(*args, **kwargs)
        except RateLimitError as exc:
            self._pause(exc.retry_after)
            raise

    def _backoff(self, attempt: int) -> float:
        base = self.settings.poll_min_interval
        return float(min(self.settings.poll_max_interval, base * 2 ** max(0, attempt - 1)))

    # ---------------------------------------------------------------- ledger writes

    async def _write(
        self, job: Job, expected: JobStatus, *, guarded: bool = True, **changes: Any
    ) -> Job:
        now = now_utc(self.clock)
        changes.setdefault("updated_at", now)
        new_status = changes.get("status", job.status)
        if new_status.is_terminal and not job.status.is_terminal:
            changes.setdefault("completed_at", now)
        updated = attrs.evolve(job, **changes)
        # Shielded: a write that started is finished, so a cancelled engine never leaves a
        # provider answer (a remote id, a final status) unrecorded halfway.
        with anyio.CancelScope(shield=True):
            written = await self.repository.update_job(
                updated, expected_status=expected, lease_owner=self.owner if guarded else None
            )
        return written

    async def _emit(self, kind: EventKind, job: Job) -> None:
        await self.events.emit(kind, job)

    async def _finish(
        self,
        job: Job,
        status: JobStatus,
        *,
        guarded: bool = True,
        **changes: Any,
    ) -> Job | None:
        """Write a terminal status; return ``None`` if someone else changed the job first."""
        try:
            done = await self._write(job, job.status, guarded=guarded, status=status, **changes)
        except (ConflictError, JobNotFoundError):
            if status is not JobStatus.CANCELLED:
                await self._changed_elsewhere(job)
            else:
                await self._forget(job.id)
            return None
        self._drop_local(job.id)
        logger.info(
            "job %s %s -> %s (provider %s)", job.id, job.status.value, status.value, job.provider
        )
        kind: EventKind = (
            "completed"
            if status is JobStatus.COMPLETED
            else "failed"
            if status is JobStatus.FAILED
            else "cancelled"
        )
        await self._emit(kind, done)
        self._wake_dispatch.set()
        return done

    def _drop_local(self, job_id: str) -> None:
        self._tracked.pop(job_id, None)
        self._submitting.pop(job_id, None)
        self._retry_at.pop(job_id, None)
        self._unsent.discard(job_id)
        if self._queued.pop(job_id, None) is not None:
            self._queue = [e for e in self._queue if e[3] != job_id]
            heapq.heapify(self._queue)

    async def _changed_elsewhere(self, job: Job) -> None:
        """Handle a job whose ledger row changed under us: if another process cancelled it,
        stop its video (a concurrent cancel may even have overwritten its remote id)."""
        current = await self._read(job.id)
        if current is not None and current.status is JobStatus.CANCELLED and job.remote_id:
            await self._cancel_remote(job.remote_id)
            if current.remote_id is None:
                with contextlib.suppress(ConflictError, JobNotFoundError):
                    await self._write(
                        current, JobStatus.CANCELLED, guarded=False, remote_id=job.remote_id
                    )
        await self._forget(job.id)

    async def _forget(self, job_id: str) -> None:
        """Stop touching a job whose ledger row changed under us (cancelled, or lease lost)."""
        self._drop_local(job_id)
        self.events.touch()
        self._wake_dispatch.set()

    # ---------------------------------------------------------------- claiming

    def _enqueue(self, job: Job, *, at: float | None = None) -> None:
        self._queued[job.id] = job
        if at is not None:
            self._retry_at[job.id] = at
        self._seq += 1
        heapq.heappush(
            self._queue, (-job.priority.rank, job.created_at.timestamp(), self._seq, job.id)
        )
        self._wake_lease.set()

    def _claim_room(self) -> int:
        """How many more jobs this runner may take on now."""
        return self._limit.current - self._in_flight() - len(self._queued)

    async def _claim(self) -> None:
        if self._claim_room() <= 0:
            return  # the common case in a busy loop: no lock, no ledger
        # Shielded like a write: the ledger may have leased jobs to us even if we stop
        # listening, and a lease nobody here knows of is given back by nobody.
        async with self._claim_lock:
            with anyio.CancelScope(shield=True):
                await self._claim_now()
        # An engine cancelled meanwhile stops here, before it sends any of what it claimed.
        await anyio.lowlevel.checkpoint_if_cancelled()

    async def _claim_now(self) -> None:
        if not (self._claim_needed or self.worker_mode):
            return  # a worker stopped while this claim waited for the lock
        for_worker = self.worker_mode
        room = self._claim_room()
        if room <= 0:
            return
        self._claim_needed = False
        now = now_utc(self._lease_clock)
        lease = self.settings.lease_seconds
        claimed: list[Job] = []

        # Batches processed here get an even share first, so that two batches run side by
        # side instead of the older one taking every slot.
        def load(batch_id: str) -> int:
            queued = sum(1 for j in self._queued.values() if j.batch_id == batch_id)
            return self._in_flight(batch_id) + queued

        batches = sorted(self._batch_limits.items(), key=lambda item: load(item[0]))
        for batch_id, cap in batches:
            share = math.ceil(room / len(batches))
            if cap:
                share = min(share, cap - load(batch_id))
            share = min(share, room - len(claimed))
            if share > 0:
                claimed += await self.repository.claim_jobs(
                    self.owner, limit=share, lease_seconds=lease, now=now, batch_id=batch_id
                )
        if len(claimed) < room:
            claimed += await self.repository.claim_jobs(
                self.owner, limit=room - len(claimed), lease_seconds=lease, now=now
            )
        if for_worker and not self.worker_mode and not self._claim_needed:
            # The worker stopped while this claim was on the wire: give the jobs back.
            if claimed:
                await self.repository.release_lease([job.id for job in claimed], self.owner)
            return
        for job in claimed:
            if job.id in self._queued or job.id in self._submitting or job.id in self._tracked:
                continue
            if job.status is JobStatus.PROCESSING and job.remote_id is not None:
                self._track(job)
            else:
                # Pending, or processing without a remote id (a create whose outcome is
                # unknown): both go through _submit, which reconciles the latter first.
                self._enqueue(job)
        if len(claimed) >= room:
            self._claim_needed = True

    def _track(self, job: Job, remote: RemoteJob | None = None) -> None:
        if job.remote_id is not None:
            self._remember_remote(job.remote_id)
        now = self.clock.time()
        started = job.started_at.timestamp() if job.started_at else now
        observations = [Observation(at=min(started, now), progress=0)]
        if remote is not None and remote.progress > 0:
            observations.append(Observation(at=now, progress=remote.progress))
        elif job.progress > 0:
            observations.append(Observation(at=now, progress=job.progress))
        hint = remote.poll_after if remote is not None else None
        tracked = _Tracked(job=job, observations=observations, due=now, hint=hint)
        tracked.due = now + self._poll_delay(tracked)
        self._tracked[job.id] = tracked
        self._wake_poll.set()
        self._wake_lease.set()

    # ---------------------------------------------------------------- dispatching

    def _next_dispatchable(self) -> Job | None:
        """Pick the next job to send: highest priority, then the batch with the fewest jobs
        in flight (fair sharing), then the oldest; skipping jobs that wait for a retry or
        whose batch is at its own limit."""
        now = self.clock.time()
        best: tuple[int, int, float, int] | None = None
        chosen: Job | None = None
        for rank, created, seq, job_id in self._queue:
            job = self._queued.get(job_id)
            if job is None or self._retry_at.get(job_id, 0.0) > now:
                continue
            running = self._in_flight(job.batch_id) if job.batch_id else 0
            cap = self._batch_limits.get(job.batch_id or "", 0)
            if cap and running >= cap:
                continue
            key = (rank, running, created, seq)
            if best is None or key < best:
                best, chosen = key, job
        if chosen is not None:
            del self._queued[chosen.id]
            self._retry_at.pop(chosen.id, None)
            self._queue = [e for e in self._queue if e[3] != chosen.id]
            heapq.heapify(self._queue)
        return chosen

    async def _dispatch_loop(self, tg: anyio.abc.TaskGroup) -> None:
        while True:
            self._wake_dispatch = anyio.Event()
            if self._claim_needed or self.worker_mode:
                await self._claim()
            job = None
            if self._in_flight() < self._limit.current:
                job = self._next_dispatchable()
            if job is None:
                await self._idle_wait()
                continue
            self._submitting[job.id] = job
            self._submit_done[job.id] = anyio.Event()
            tg.start_soon(self._submit, job)

    async def _idle_wait(self) -> None:
        now = self.clock.time()
        retry = [t for t in self._retry_at.values() if t > now]
        if self.worker_mode:
            # Other processes create jobs in real time: look for them on a real-time tick
            # (on simulated time an idle worker would otherwise spin through its ticks).
            tick = max(self.settings.poll_min_interval, 1.0)
            if retry:
                await self._sleep_or_wake(min(min(retry) - now, tick), self._wake_dispatch)
            else:
                await self._sleep_or_wake(tick, self._wake_dispatch, clock=self._lease_clock)
            # Only while still a worker: a stopped one must not take its leases back.
            self._claim_needed = self._claim_needed or self.worker_mode
        elif retry:
            await self._sleep_or_wake(min(retry) - now, self._wake_dispatch)
        else:
            await self._wake_dispatch.wait()

    async def _submit(self, job: Job) -> None:
        # Not shielded: a create cancelled on the wire leaves the job processing without a
        # remote id, which the next run reconciles (and re-sends with the same key).
        try:
            await self._submit_once(job)
        except Exception:
            logger.exception("unexpected error while submitting job %s", job.id)
            self._submitting.pop(job.id, None)
            self._enqueue(job, at=self.clock.time() + self._backoff(job.attempts))
        finally:
            done = self._submit_done.pop(job.id, None)
            if done is not None:
                done.set()

    async def _submit_once(self, job: Job) -> None:
        try:
            if job.status is JobStatus.PENDING:
                job = await self._write(
                    job,
                    JobStatus.PENDING,
                    status=JobStatus.PROCESSING,
                    started_at=now_utc(self.clock),
                    attempts=job.attempts + 1,
                )
                logger.info("job %s pending -> processing (provider %s)", job.id, job.provider)
            elif job.id in self._unsent:
                self._unsent.discard(job.id)
                job = await self._write(job, JobStatus.PROCESSING, attempts=job.attempts + 1)
            else:
                adopted = await self._reconcile(job)
                if adopted is not None:
                    await self._record_remote(job, adopted)
                    return
                caps = self.transport.capabilities
                if not caps.can_list and not caps.idempotent_creates:
                    # Re-sending could make a second video; failing is the safe answer.
                    error = JobError(
                        code="ambiguous_submission",
                        message=(
                            f"the create may or may not have reached {job.provider}, which can "
                            "neither list jobs nor deduplicate creates; check the provider's "
                            "dashboard before creating this video again"
                        ),
                        retryable=True,
                    )
                    await self._finish(job, JobStatus.FAILED, error=error)
                    return
                job = await self._write(job, JobStatus.PROCESSING, attempts=job.attempts + 1)
        except (ConflictError, JobNotFoundError):
            await self._forget(job.id)
            return
        self._submitting[job.id] = job
        try:
            remix_of = job.metadata.get(REMIX_OF)
            if remix_of is not None:
                remote = await self._call(
                    self.transport.remix,
                    remix_of,
                    job.request.prompt,
                    idempotency_key=idempotency_key(job.id),
                )
            else:
                remote = await self._call(
                    self.transport.submit, job.request, idempotency_key=idempotency_key(job.id)
                )
        except RateLimitError:
            logger.info(
                "job %s: rate limited; sent again after the pause (provider %s)",
                job.id,
                job.provider,
            )
            self._unsent.add(job.id)
            self._limit.on_rate_limited(len(self._tracked))
            self._submitting.pop(job.id, None)
            self._enqueue(job, at=self._paused_until)
            return
        except AmbiguousSubmissionError as exc:
            logger.warning("job %s: create outcome unknown (%s); will reconcile", job.id, exc)
            await self._retry_or_fail(job, exc)
            return
        except (AuthenticationError, PermissionDeniedError) as exc:
            await self._finish(job, JobStatus.FAILED, error=_job_error(exc, retryable=False))
            return
        except (ProviderUnavailableError, ProviderConnectionError) as exc:
            await self._retry_or_fail(job, exc)
            return
        except ProviderError as exc:
            await self._finish(job, JobStatus.FAILED, error=_job_error(exc, retryable=False))
            return
        # Jobs the provider has accepted (submissions still on the wire are not proof).
        self._limit.on_success(len(self._tracked) + 1)
        await self._record_remote(job, remote)

    async def _retry_or_fail(self, job: Job, exc: ProviderError) -> None:
        self._submitting.pop(job.id, None)
        if create_never_happened(exc):
            self._unsent.add(job.id)
        if job.attempts > self.settings.max_retries:
            await self._finish(job, JobStatus.FAILED, error=_job_error(exc, retryable=True))
            return
        delay = self._backoff(job.attempts)
        logger.info(
            "job %s: attempt %d failed (%s); retrying in %.1f s (provider %s)",
            job.id,
            job.attempts,
            type(exc).__name__,
            delay,
            job.provider,
        )
        self._enqueue(job, at=self.clock.time() + delay)
        self._wake_dispatch.set()

    async def _reconcile(self, job: Job) -> RemoteJob | None:
        """Find the remote job an earlier, unanswered create may have made.

        Adopts a remote job only when exactly one recent remote job has this job's prompt,
        was created after the job's first attempt (``started_at``, less a small clock skew)
        and belongs to no other job in the ledger (any process's, not only this runner's);
        anything less certain falls back to re-sending the create with the same
        ``Idempotency-Key``, which a provider that honours keys answers with the original
        video instead of a second one.
        """
        if not self.transport.capabilities.can_list or job.started_at is None:
            # Without the time of the first attempt, no remote job can be proven to be ours.
            return None
        started = job.started_at.timestamp()
        try:
            recent = await self._call(self.transport.list_recent, limit=100)
        except ProviderError as exc:
            logger.warning("job %s: could not list remote jobs to reconcile: %s", job.id, exc)
            return None
        candidates = [
            remote
            for remote in recent
            if remote.remote_id not in self._seen_remote_ids
            and remote.raw.get("prompt") == job.request.prompt
            and remote.created_at is not None
            and remote.created_at.timestamp() >= started - _RECONCILE_SKEW
        ]
        # Another process's job may own one (a second client on the same ledger).
        unowned = []
        for remote in candidates:
            owner = await self.repository.find_job_by_remote_id(job.provider, remote.remote_id)
            if owner is None or owner.id == job.id:
                unowned.append(remote)
        candidates = unowned
        if len(candidates) != 1:
            return None
        logger.info("job %s: reconciled with remote job %s", job.id, candidates[0].remote_id)
        return candidates[0]

    def _remember_remote(self, remote_id: str) -> None:
        self._seen_remote_ids[remote_id] = None
        if len(self._seen_remote_ids) > _SEEN_LIMIT:
            self._seen_remote_ids.pop(next(iter(self._seen_remote_ids)))

    async def _record_remote(self, job: Job, remote: RemoteJob) -> None:
        self._remember_remote(remote.remote_id)
        try:
            job = await self._write(
                job,
                JobStatus.PROCESSING,
                remote_id=remote.remote_id,
                progress=remote.progress,
                provider_status=remote.provider_status or None,
                **_cost(remote),
            )
        except (ConflictError, JobNotFoundError):
            if await self._owned_elsewhere(job, remote):
                return
            # Cancelled (or taken over) while the create was on the wire: stop the video.
            self._submitting.pop(job.id, None)
            self._cancel_requested.discard(job.id)
            current = await self._read(job.id)
            if current is not None and current.status is JobStatus.CANCELLED:
                await self._cancel_remote(remote.remote_id)
                if current.remote_id is None:
                    # Keep the remote id on record: the provider did make (and stop) it.
                    with contextlib.suppress(ConflictError, JobNotFoundError):
                        await self._write(
                            current, JobStatus.CANCELLED, guarded=False, remote_id=remote.remote_id
                        )
            await self._forget(job.id)
            return
        logger.info("job %s submitted as %s (provider %s)", job.id, remote.remote_id, job.provider)
        if remote.status.is_terminal:
            self._submitting.pop(job.id, None)
            await self._emit("submitted", job)
            await self._apply(_Tracked(job=job, observations=[], due=0.0), remote)
        else:
            # Tracked before it leaves _submitting, so it never stops counting as in flight.
            self._track(job, remote)
            self._submitting.pop(job.id, None)
            await self._emit("submitted", job)
        if job.id in self._cancel_requested:
            self._cancel_requested.discard(job.id)
            await self._changed_elsewhere(job)

    async def _owned_elsewhere(self, job: Job, remote: RemoteJob) -> bool:
        """Handle a remote id the ledger refused because another job owns it.

        Another process recorded (or adopted) that video between our reconciliation and our
        write. The job itself is untouched in the ledger and still ours: it is neither lost
        nor failed, but queued again to reconcile (now seeing the owner) and, failing that,
        to re-send its create with the same ``Idempotency-Key``. A provider that answers
        every re-send with a video another job owns fails the job after ``max_retries``.
        """
        current = await self._read(job.id)
        if current is None or current.status is not job.status or current.remote_id is not None:
            return False
        owner = await self.repository.find_job_by_remote_id(job.provider, remote.remote_id)
        if owner is None or owner.id == job.id:
            return False
        self._submitting.pop(job.id, None)
        logger.warning(
            "job %s: remote job %s belongs to job %s; reconciling again (provider %s)",
            job.id,
            remote.remote_id,
            owner.id,
            job.provider,
        )
        if job.attempts > self.settings.max_retries:
            error = JobError(
                code="remote_id_taken",
                message=f"{job.provider} answered with video {remote.remote_id!r}, which "
                f"belongs to job {owner.id!r}; check the provider before creating it again",
                retryable=True,
            )
            await self._finish(job, JobStatus.FAILED, error=error)
        else:
            self._enqueue(job, at=self.clock.time() + self._backoff(job.attempts))
            self._wake_dispatch.set()
        return True

    async def _read(self, job_id: str) -> Job | None:
        try:
            return await self.repository.get_job(job_id)
        except JobNotFoundError:
            return None

    async def _cancel_remote(self, remote_id: str) -> None:
        if not self.transport.capabilities.can_cancel:
            return
        try:
            await self._call(self.transport.cancel, remote_id)
        except ProviderError as exc:
            logger.warning("could not cancel remote job %s: %s", remote_id, exc)

    # ---------------------------------------------------------------- polling

    def _poll_delay(self, tracked: _Tracked) -> float:
        floor = max(self.settings.poll_min_interval, self.transport.capabilities.min_poll_interval)
        return next_poll_delay(
            tracked.observations,
            self.clock.time(),
            min_interval=floor,
            max_interval=max(floor, self.settings.poll_max_interval),
            hint=tracked.hint,
        )

    async def _poll_loop(self) -> None:
        while True:
            self._wake_poll = anyio.Event()
            if not self._tracked:
                await self._wake_poll.wait()
                continue
            now = self.clock.time()
            earliest = min(t.due for t in self._tracked.values())
            if earliest > now:
                await self._sleep_or_wake(earliest - now, self._wake_poll)
                continue
            floor = max(
                self.settings.poll_min_interval, self.transport.capabilities.min_poll_interval
            )
            due = [t for t in self._tracked.values() if t.due <= now + floor / 2]
            await self._refresh(due)

    async def _sleep_or_wake(
        self, seconds: float, event: anyio.Event, clock: Clock | None = None
    ) -> None:
        """Return after ``seconds`` of the clock's time, or as soon as ``event`` is set."""
        clock = clock or self.clock
        if event.is_set():
            await anyio.lowlevel.checkpoint()
            return
        if isinstance(clock, SystemClock):
            # Real time: the event loop's own timer, no helper task (the engine waits
            # here between almost every step).
            with anyio.move_on_after(max(0.0, seconds)):
                await event.wait()
            return
        async with anyio.create_task_group() as tg:

            async def sleeper() -> None:
                await clock.sleep(seconds)
                tg.cancel_scope.cancel()

            tg.start_soon(sleeper)
            await event.wait()
            tg.cancel_scope.cancel()

    async def _refresh(self, due: list[_Tracked]) -> None:
        ids = [t.job.remote_id for t in due if t.job.remote_id]
        try:
            if len(ids) > 1 and self.transport.capabilities.can_list:
                remotes = await self._call(self.transport.fetch_many, ids)
            else:
                remotes = {}
                for remote_id in ids:
                    remotes[remote_id] = await self._call(self.transport.fetch, remote_id)
        except ProviderError as exc:
            remotes = {}
            logger.warning("status refresh of %d jobs failed: %s", len(ids), exc)
            for tracked in due:
                tracked.failures += 1
                tracked.due = self.clock.time() + self._backoff(tracked.failures)
            if exc.status_code == 404 and len(due) == 1:
                await self._apply_missing(due[0])
            return
        for tracked in due:
            if tracked.job.id not in self._tracked:
                continue
            remote = remotes.get(tracked.job.remote_id or "")
            if remote is None:
                await self._apply_missing(tracked)
            else:
                tracked.failures = 0
                await self._apply(tracked, remote)

    async def _apply_missing(self, tracked: _Tracked) -> None:
        tracked.failures += 1
        if tracked.failures < 3:
            tracked.due = self.clock.time() + self._backoff(tracked.failures)
            return
        error = JobError(code="remote_missing", message="the provider no longer knows this job")
        await self._finish(tracked.job, JobStatus.FAILED, error=error)

    async def _apply(self, tracked: _Tracked, remote: RemoteJob) -> None:
        job = tracked.job
        now = self.clock.time()
        final = {"provider_status": remote.provider_status or None, **_cost(remote)}
        if remote.status is JobStatus.COMPLETED:
            result = await self._result(job, remote)
            await self._finish(
                job, JobStatus.COMPLETED, progress=100, result=result, error=None, **final
            )
        elif remote.status is JobStatus.FAILED:
            error = remote.error or JobError(code="failed", message="the provider reported failure")
            await self._finish(job, JobStatus.FAILED, error=error, **final)
        elif remote.status is JobStatus.CANCELLED:
            await self._finish(job, JobStatus.CANCELLED, **final)
        else:
            tracked.hint = remote.poll_after
            if remote.progress != (
                tracked.observations[-1].progress if tracked.observations else 0
            ):
                tracked.observations.append(Observation(at=now, progress=remote.progress))
            status_word = remote.provider_status or None
            if remote.progress != job.progress or status_word != job.provider_status:
                try:
                    job = await self._write(
                        job,
                        JobStatus.PROCESSING,
                        progress=remote.progress,
                        provider_status=status_word,
                        **_cost(remote),
                    )
                except (ConflictError, JobNotFoundError):
                    await self._changed_elsewhere(job)
                    return
                tracked.job = job
                await self._emit("progress", job)
            tracked.due = now + self._poll_delay(tracked)

    async def _result(self, job: Job, remote: RemoteJob) -> VideoResult:
        result = VideoResult(
            remote_id=remote.remote_id,
            url=remote.urls.get("video"),
            expires_at=remote.expires_at,
        )
        # The job's own directory first: it may have been created by another process.
        directory = job.download_dir or self.settings.download_dir
        if directory is None:
            return result
        dest = Path(directory) / f"{job.id}.mp4"
        for attempt in range(1, _DOWNLOAD_ATTEMPTS + 1):
            try:
                await self._gate()
                got = await download_content(self.transport, remote.remote_id, dest)
            except (ProviderError, OSError) as exc:
                logger.warning("job %s: download attempt %d failed: %s", job.id, attempt, exc)
                await self.clock.sleep(self._backoff(attempt))
                continue
            return attrs.evolve(
                result,
                path=str(got.path),
                bytes=got.bytes,
                sha256=got.sha256,
                content_type=got.content_type,
            )
        return result

    # ---------------------------------------------------------------- leases

    async def _lease_loop(self) -> None:
        interval = self.settings.lease_seconds / 3
        while True:
            if not self._held_ids():
                # Idle: wait without sleeping on the clock, so simulated time stands still.
                self._wake_lease = anyio.Event()
                await self._wake_lease.wait()
                continue
            await self._lease_clock.sleep(interval)
            ids = self._held_ids()
            if not ids:
                continue
            kept = set(
                await self.repository.renew_lease(
                    ids,
                    self.owner,
                    lease_seconds=self.settings.lease_seconds,
                    now=now_utc(self._lease_clock),
                )
            )
            for job_id in ids:
                # A job that ended meanwhile gave its lease up; only a live one was lost.
                if job_id not in kept and self.holds(job_id) and job_id not in self._submitting:
                    logger.warning("lost the lease of job %s; another worker has it", job_id)
                    self._drop_local(job_id)

    # ---------------------------------------------------------------- cancel

    async def _cancel_in_ledger(self, job_id: str) -> tuple[Job, Job]:
        """Write ``cancelled`` whatever the job's current status; return (before, after)."""
        while True:
            job = await self.repository.get_job(job_id)
            if job.status.is_terminal:
                raise JobStateError(job.id, job.status.value, "a finished job cannot be cancelled")
            with contextlib.suppress(ConflictError):
                done = await self._write(job, job.status, guarded=False, status=JobStatus.CANCELLED)
                return job, done

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job: pending ones are never sent; in-flight ones are stopped at the provider."""
        job, done = await self._cancel_in_ledger(job_id)
        on_the_wire = self._submit_done.get(job_id)
        local = self._tracked.get(job_id)
        remote_id = job.remote_id or (local.job.remote_id if local else None)
        if remote_id is None and on_the_wire is not None:
            # A create is on the wire. When it answers, either its ledger write finds the
            # job cancelled and stops the video itself, or it got in before this write of
            # ours (which then overwrote its remote id): _record_remote sees the request.
            self._cancel_requested.add(job_id)
        self._drop_local(job_id)
        logger.info("job %s %s -> cancelled (provider %s)", job.id, job.status.value, job.provider)
        if remote_id is not None:
            await self._cancel_remote(remote_id)
            if done.remote_id is None:
                done = await self._write(
                    done, JobStatus.CANCELLED, guarded=False, remote_id=remote_id
                )
        await self._emit("cancelled", done)
        self._wake_dispatch.set()
        return done


def _job_error(exc: ProviderError, *, retryable: bool) -> JobError:
    code = exc.code or (f"http_{exc.status_code}" if exc.status_code else type(exc).__name__)
    return JobError(code=code, message=exc.message, retryable=retryable)


def _cost(remote: RemoteJob) -> dict[str, Any]:
    """The provider's own cost figures, which replace the estimate when it gives them."""
    changes: dict[str, Any] = {}
    if remote.cost_usd is not None:
        changes["estimated_cost_usd"] = remote.cost_usd
    if remote.cost_credits is not None:
        changes["cost_credits"] = remote.cost_credits
    return changes
