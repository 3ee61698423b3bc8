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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import attrs

from ._clock import Clock, SystemClock, now_utc
from ._download import download_content, file_name
from ._errors import (
    AmbiguousSubmissionError,
    AuthenticationError,
    ConflictError,
    DownloadError,
    JobNotFoundError,
    JobStateError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    RepositoryError,
    ValidationError,
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
# Writes of a remote id the ledger refused (locked, down) before the id is kept in memory only.
_RECORD_ATTEMPTS = 5


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


def _worth_retrying(error: Exception) -> bool:
    """Whether a failed automatic download may succeed if tried again.

    Not when the content was too large (it would be as large again), nor when another
    file holds the target's name.
    """
    if isinstance(error, ValidationError):
        return False
    return not (isinstance(error, DownloadError) and error.code == "too_large")


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
        lease_clock: Clock | None = None,
    ) -> None:
        self.repository = repository
        self.transport = transport
        self.settings = settings
        self.clock = clock
        self.events = events
        self.owner = owner or _default_owner()
        # Leases guard against dead processes, so they run on real time even when the
        # engine runs on simulated time (which may leap minutes while a thread works).
        # (Injectable so that tests can expire a lease without waiting.)
        self._lease_clock = lease_clock or SystemClock()
        self._limit = AdaptiveLimit(settings.max_concurrency)
        self._bucket = TokenBucket(
            settings.requests_per_second, burst=max(1.0, settings.requests_per_second)
        )
        self._paused_until = 0.0
        self._cap_retry_after = RetryAfterCap("engine")
        # Jobs whose last create certainly did not happen (refused, 429, 503): sent again
        # as they are, with no reconciliation (which would fail them on a provider that
        # can neither list nor deduplicate).
        self._never_sent: set[str] = set()
        self._queue: list[tuple[int, float, int, str]] = []
        self._queued: dict[str, Job] = {}
        self._retry_at: dict[str, float] = {}
        self._seq = 0
        self._submitting: dict[str, Job] = {}
        self._tracked: dict[str, _Tracked] = {}
        self._seen_remote_ids: dict[str, None] = {}
        self._submit_done: dict[str, anyio.Event] = {}
        # Creates not sent yet (waiting for the rate limit): a cancel stops them there.
        self._unsent: dict[str, anyio.CancelScope] = {}
        # Creates on the wire, shielded from the engine's own cancellation: a stopping engine
        # gives them until _stopping_at (close_timeout) to be answered and recorded.
        self._on_the_wire: dict[str, anyio.CancelScope] = {}
        self._stopping_at: float | None = None
        # Jobs (and batches) being cancelled: nothing is sent for them any more.
        self._cancelling: set[str] = set()
        self._cancelling_batches: set[str] = set()
        # Remote ids the ledger could not record yet: kept until a write of the job succeeds.
        self._unrecorded: dict[str, RemoteJob] = {}
        # Unexpected (non-provider) errors of each job's creates, to fail it after max_retries.
        self._unexpected: dict[str, int] = {}
        # Ledger refusals (locked, down) of each job's submission, for the backoff only.
        self._ledger_refusals: dict[str, int] = {}
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
            self._stopping_at = None
            try:
                async with anyio.create_task_group() as outer:
                    # Simulated time keeps running while a stopping engine waits for its
                    # creates on the wire (a transport's retry may sleep on it).
                    clock_scope = anyio.CancelScope(shield=True)
                    clock_run = getattr(self.clock, "run", None)
                    if clock_run is not None:
                        outer.start_soon(_run_in, clock_scope, clock_run)
                    try:
                        async with anyio.create_task_group() as tg:
                            tg.start_soon(self._dispatch_loop, tg)
                            tg.start_soon(self._poll_loop)
                            tg.start_soon(self._lease_loop)
                    finally:
                        clock_scope.cancel()
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
        stopping worker or a closing client does not give away a job whose remote id is about
        to arrive."""
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
        if written.remote_id is not None:
            self._unrecorded.pop(written.id, None)
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
        self._never_sent.discard(job_id)
        self._ledger_refusals.pop(job_id, None)
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
        """Stop touching a job whose ledger row changed under us (cancelled, or lease lost),
        or whose create a cancel stopped before it was sent."""
        self._drop_local(job_id)
        # A cancel that then fails to write (a locked ledger) leaves the job unfinished and
        # leased to us: given back, it is claimed again (by anyone) instead of sitting on
        # our lease until it expires. A cancelled job or another owner's is untouched.
        await self._release_unheld(job_id)
        self.events.touch()
        self._wake_dispatch.set()

    async def _release_unheld(self, job_id: str) -> None:
        """Give back our lease on a job this engine no longer drives, and look for work."""
        if self.holds(job_id):
            return
        with anyio.CancelScope(shield=True):
            try:
                await self.repository.release_lease([job_id], self.owner)
            except Exception as exc:  # the lease then simply expires
                logger.warning("job %s: could not give its lease back: %s", job_id, exc)
        self._claim_needed = True

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
            if self.holds(job.id) or job.id in self._cancelling:
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
        if remote is not None:
            # Just created: its first check waits for the ETA. A job claimed from the ledger
            # (resumed, or taken over from a dead worker) is checked at once: nobody has
            # looked at it for a while, and it may have finished long ago.
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
            if job is None or self._retry_at.get(job_id, 0.0) > now or self._blocked(job):
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

    def _blocked(self, job: Job) -> bool:
        """Whether a cancel of the job (or of its batch) has begun: it is never sent then."""
        return job.id in self._cancelling or (job.batch_id or "") in self._cancelling_batches

    async def _dispatch_loop(self, tg: anyio.abc.TaskGroup) -> None:
        try:
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
        finally:
            # The engine is stopping (this loop ends only then): nothing more is sent, and
            # creates on the wire get close_timeout (real time) to be answered and recorded.
            self._stopping_at = anyio.current_time() + self.settings.close_timeout
            for scope in self._on_the_wire.values():
                scope.deadline = self._stopping_at

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
        try:
            await self._submit_once(job)
            self._unexpected.pop(job.id, None)
            self._ledger_refusals.pop(job.id, None)
        except RepositoryError as exc:
            # The ledger refused a write (locked, down): not the job's fault, so it does not
            # count towards failing it. Tried again after a backoff; a create already sent
            # is reconciled then, never sent blind.
            await self._ledger_refused(self._submitting.pop(job.id, job), exc)
        except Exception as exc:
            await self._unexpected_error(self._submitting.pop(job.id, job), exc)
        finally:
            self._answered(job.id)

    async def _ledger_refused(self, job: Job, exc: RepositoryError) -> None:
        refusals = self._ledger_refusals[job.id] = self._ledger_refusals.get(job.id, 0) + 1
        delay = self._backoff(refusals)
        logger.warning(
            "job %s: the ledger refused a write (%s); trying again in %.1f s", job.id, exc, delay
        )
        self._enqueue(job, at=self.clock.time() + delay)
        self._wake_dispatch.set()

    def _answered(self, job_id: str) -> None:
        """Tell a cancel or a close waiting for this job's create that it is over (before
        any callback of the job runs, which may itself cancel the job)."""
        done = self._submit_done.pop(job_id, None)
        if done is not None:
            done.set()

    async def _unexpected_error(self, job: Job, exc: Exception) -> None:
        """Retry a create that failed with a bug-like error (not a provider's answer) a few
        times, then fail the job with that error rather than loop on it forever."""
        failures = self._unexpected[job.id] = self._unexpected.get(job.id, 0) + 1
        if failures <= self.settings.max_retries:
            delay = self._backoff(failures)
            logger.exception(
                "unexpected error while submitting job %s (attempt %d of %d); retrying in %.1f s",
                job.id,
                failures,
                self.settings.max_retries + 1,
                delay,
            )
            self._enqueue(job, at=self.clock.time() + delay)
            return
        logger.exception("unexpected error while submitting job %s; failing it", job.id)
        del self._unexpected[job.id]
        error = JobError(
            code="unexpected_error",
            message=f"{type(exc).__name__}: {exc}",
            retryable=False,
        )
        try:
            await self._finish(job, JobStatus.FAILED, error=error)
        except RepositoryError as refused:
            # The ledger is down too: queued again (still leased by us), so the failure is
            # written once the ledger takes writes, instead of the job sitting on our lease.
            self._unexpected[job.id] = self.settings.max_retries
            await self._ledger_refused(job, refused)

    async def _submit_once(self, job: Job) -> None:
        fresh = job.status is JobStatus.PENDING
        try:
            if fresh:
                job = await self._write(
                    job,
                    JobStatus.PENDING,
                    status=JobStatus.PROCESSING,
                    started_at=now_utc(self.clock),
                    attempts=job.attempts + 1,
                )
                logger.info("job %s pending -> processing (provider %s)", job.id, job.provider)
            elif job.id in self._never_sent:
                self._never_sent.discard(job.id)
                job = await self._write(job, JobStatus.PROCESSING, attempts=job.attempts + 1)
            else:
                # A remote id this process holds but could not write is the answer itself.
                adopted = self._unrecorded.get(job.id) or await self._reconcile(job)
                if adopted is not None:
                    await self._record_remote(job, adopted)
                    return
                caps = self.transport.capabilities
                # [W2-6 replicate] A list that shows no such job is no proof either (the
                # create may land later): without deduplication, never re-send.
                if not caps.idempotent_creates:
                    # Re-sending could make a second video; failing is the safe answer.
                    why = (
                        "whose list shows no one job for it and which cannot deduplicate"
                        if caps.can_list
                        else "which can neither list jobs nor deduplicate"
                    )
                    error = JobError(
                        code="ambiguous_submission",
                        message=(
                            f"the create may or may not have reached {job.provider}, {why} "
                            "creates; check the provider's dashboard before creating this "
                            "video again"
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
            remote = await self._send_create(job, fresh=fresh)
            if remote is None:
                return
        except RateLimitError:
            logger.info(
                "job %s: rate limited; sent again after the pause (provider %s)",
                job.id,
                job.provider,
            )
            self._never_sent.add(job.id)
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
        if remote.queue_position:  # [W2-5 fal] queued, not refused: back-pressure too
            self._limit.on_queued(len(self._tracked) + 1, remote.queue_position)
        await self._record_remote(job, remote)

    async def _send_create(self, job: Job, *, fresh: bool) -> RemoteJob | None:
        """Send the job's create and return the answer; ``None`` when it was not sent (a
        cancel or the engine's stop came first) or its answer never came (engine stopped).

        ``fresh``: this attempt moved the job from pending, so nothing was sent for it yet.
        """
        try:
            with anyio.CancelScope() as waiting:
                self._unsent[job.id] = waiting
                try:
                    await self._gate()
                finally:
                    self._unsent.pop(job.id, None)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._unsend(job, fresh=fresh)
            raise
        if waiting.cancel_called or self._blocked(job):
            # Not sent: the cancel under way writes the job off itself.
            await self._forget(job.id)
            return None
        if self._stopping_at is not None:
            await self._unsend(job, fresh=fresh)
            return None
        # On the wire: shielded, so that a stopping engine (close, a worker's stop) does not
        # throw away an answer that may carry a remote id (a video made, and billed). The
        # engine's stop bounds the wait at close_timeout (the scope's deadline).
        with anyio.CancelScope(shield=True) as wire:
            self._on_the_wire[job.id] = wire
            try:
                remix_of = job.metadata.get(REMIX_OF)
                try:
                    if remix_of is not None:
                        return await self.transport.remix(
                            remix_of, job.request.prompt, idempotency_key=idempotency_key(job.id)
                        )
                    return await self.transport.submit(
                        job.request, idempotency_key=idempotency_key(job.id)
                    )
                except RateLimitError as exc:
                    self._pause(exc.retry_after)
                    raise
            finally:
                self._on_the_wire.pop(job.id, None)
        # close_timeout passed without an answer: the job stays processing without a remote
        # id, resumable (the next run reconciles it); never failed here.
        logger.warning(
            "job %s: create unanswered after close_timeout; left to the next run", job.id
        )
        self._submitting.pop(job.id, None)
        self._enqueue(job)  # queued, so that the engine's stop gives its lease back
        return None

    async def _unsend(self, job: Job, *, fresh: bool) -> None:
        """Hand back a job whose create the stopping engine did not send: pending again
        when nothing was ever sent for it (it is not an ambiguous create), and queued, so
        that the engine's stop gives its lease back."""
        self._submitting.pop(job.id, None)
        if fresh:
            with contextlib.suppress(RepositoryError):
                job = await self._write(
                    job,
                    JobStatus.PROCESSING,
                    status=JobStatus.PENDING,
                    started_at=None,
                    attempts=job.attempts - 1,
                )
        self._enqueue(job)

    async def _retry_or_fail(self, job: Job, exc: ProviderError) -> None:
        self._submitting.pop(job.id, None)
        if create_never_happened(exc):
            self._never_sent.add(job.id)
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

        Adopts a remote job only when exactly one recent remote job matches this job's
        request (the transport's ``describes``, else the prompt),
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
            and self._describes(remote, job)
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

    def _describes(self, remote: RemoteJob, job: Job) -> bool:
        """Whether a listed remote job is what this job's create would have made."""
        describes = getattr(self.transport, "describes", None)
        if describes is not None:
            return bool(describes(remote, job.request))
        return bool(remote.raw.get("prompt") == job.request.prompt)

    def _remember_remote(self, remote_id: str) -> None:
        self._seen_remote_ids[remote_id] = None
        if len(self._seen_remote_ids) > _SEEN_LIMIT:
            self._seen_remote_ids.pop(next(iter(self._seen_remote_ids)))

    async def _record_remote(self, job: Job, remote: RemoteJob) -> None:
        self._remember_remote(remote.remote_id)
        # Held in memory until a ledger write has it, so that it is never thrown away while
        # this process lives (a reconciliation, a re-send, would ask the provider instead).
        self._unrecorded[job.id] = remote
        changes: dict[str, Any] = {
            "remote_id": remote.remote_id,
            "progress": remote.progress,
            "provider_status": remote.provider_status or None,
            **_cost(remote),
        }
        try:
            job = await self._write_remote(job, changes)
        except (ConflictError, JobNotFoundError):
            if await self._owned_elsewhere(job, remote):
                return
            # Cancelled (or taken over) while the create was on the wire: stop the video.
            # (Still counted in flight until forgotten, so no other create takes its slot
            # while this video is being stopped.)
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
        except RepositoryError as exc:
            # The ledger stays unwritable: drive the job on with the id in memory; its next
            # successful write (progress, or its end) records the id with it.
            logger.error(
                "job %s: could not record remote id %s (%s); kept in memory until the ledger "
                "takes it",
                job.id,
                remote.remote_id,
                exc,
            )
            job = attrs.evolve(job, **changes)
        logger.info("job %s submitted as %s (provider %s)", job.id, remote.remote_id, job.provider)
        if remote.status.is_terminal:
            self._submitting.pop(job.id, None)
            self._answered(job.id)
            await self._emit("submitted", job)
            await self._apply(_Tracked(job=job, observations=[], due=0.0), remote)
        else:
            # Tracked before it leaves _submitting, so it never stops counting as in flight.
            self._track(job, remote)
            self._submitting.pop(job.id, None)
            self._answered(job.id)
            await self._emit("submitted", job)

    async def _write_remote(self, job: Job, changes: dict[str, Any]) -> Job:
        """Record a create's answer, retrying (bounded, with backoff) while the ledger refuses."""
        for attempt in range(1, _RECORD_ATTEMPTS + 1):
            try:
                return await self._write(job, JobStatus.PROCESSING, **changes)
            except (ConflictError, JobNotFoundError):
                raise
            except RepositoryError as exc:
                if attempt == _RECORD_ATTEMPTS:
                    raise
                logger.warning(
                    "job %s: ledger write of its remote id failed (%s); retrying", job.id, exc
                )
                await self.clock.sleep(self._backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

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
        # Not this job's answer after all: the next attempt must not adopt it again.
        self._unrecorded.pop(job.id, None)
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
            # [W2-5] Said out loud: the provider goes on making (and billing) the video.
            logger.warning(
                "%s cannot cancel: remote job %s goes on at the provider (and is billed); "
                "soravideo only stops tracking it",
                self.transport.name,
                remote_id,
            )
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
            # A job being cancelled is not polled: its cancel is stopping it.
            pollable = [t for t in self._tracked.values() if t.job.id not in self._cancelling]
            if not pollable:
                await self._wake_poll.wait()
                continue
            now = self.clock.time()
            earliest = min(t.due for t in pollable)
            if earliest > now:
                await self._sleep_or_wake(earliest - now, self._wake_poll)
                continue
            floor = max(
                self.settings.poll_min_interval, self.transport.capabilities.min_poll_interval
            )
            due = [t for t in pollable if t.due <= now + floor / 2]
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
            if tracked.job.id not in self._tracked or tracked.job.id in self._cancelling:
                continue
            remote = remotes.get(tracked.job.remote_id or "")
            try:
                if remote is None:
                    await self._apply_missing(tracked)
                else:
                    tracked.failures = 0
                    await self._apply(tracked, remote)
            except RepositoryError as exc:
                # The ledger refused the write (locked, down): the job stays here, with a
                # remote id it may not have recorded yet, and is checked and written again.
                tracked.failures += 1
                tracked.due = self.clock.time() + self._backoff(tracked.failures)
                logger.warning(
                    "job %s: ledger write failed (%s); trying again", tracked.job.id, exc
                )

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
            if remote.queue_position:  # [W2-5 fal] queued, not refused: back-pressure too
                self._limit.on_queued(len(self._tracked), remote.queue_position)
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
            ttl = self.transport.capabilities.results_expire_after  # [W2-6 replicate]
            if ttl is not None:
                logger.warning(
                    "job %s: %s deletes the video %.0f minutes after it completes and no "
                    "download_dir is set: download it now (videos.download_video)",
                    job.id,
                    job.provider,
                    ttl / 60,
                )
            return result
        for attempt in range(1, _DOWNLOAD_ATTEMPTS + 1):
            try:
                await self._gate()
                # A file already there is kept only if it is this very video (the same
                # job saved before, by a worker that died before recording it); another
                # file is never replaced: the job completes without a path.
                got = await download_content(
                    self.transport,
                    remote.remote_id,
                    os.path.join(directory, ""),  # a directory, even one not made yet
                    name=file_name(job.id),
                    max_bytes=self.settings.max_download_bytes,
                    existing="same",
                )
            except (ProviderError, OSError, ValidationError) as exc:
                logger.warning("job %s: download attempt %d failed: %s", job.id, attempt, exc)
                if not _worth_retrying(exc):
                    break
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

    @contextmanager
    def cancelling_batch(self, batch_id: str) -> Iterator[None]:
        """Send nothing more for a batch's jobs for the duration of the block (its cancel):
        from the first line, before anything is awaited, so the dispatcher cannot pick up
        the next job of the batch while the ones before it are being cancelled."""
        self._cancelling_batches.add(batch_id)
        for job in [*self._queued.values(), *self._submitting.values()]:
            if job.batch_id == batch_id:
                self._stop_sending(job.id)
        try:
            yield
        finally:
            self._cancelling_batches.discard(batch_id)

    def _stop_sending(self, job_id: str) -> None:
        """Take a job out of the queue, and stop its create if it waits to be sent."""
        if self._queued.pop(job_id, None) is not None:
            self._queue = [e for e in self._queue if e[3] != job_id]
            heapq.heapify(self._queue)
            self._retry_at.pop(job_id, None)
        unsent = self._unsent.get(job_id)
        if unsent is not None:
            unsent.cancel()

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job: pending ones are never sent; in-flight ones are stopped at the provider.

        When it returns, nothing more is sent for the job, and a create that was already on
        the wire has been answered, recorded and its video stopped. The job keeps its slot
        (it counts in flight) until then.
        """
        self._cancelling.add(job_id)
        self._stop_sending(job_id)
        written = False
        try:
            job, done = await self._cancel_in_ledger(job_id)
            written = True
            on_the_wire = self._submit_done.get(job_id)
            if on_the_wire is not None:
                # Its answer's ledger write finds the job cancelled and stops the video
                # itself, unless it got in before this write of ours (next lines).
                await on_the_wire.wait()
            local = self._tracked.get(job_id)
            remote_id = job.remote_id or (local.job.remote_id if local else None)
            if remote_id is None and job.status is JobStatus.PROCESSING:
                # A create was sent at some point. Its answer may have been recorded while
                # we waited (and its video stopped); else its outcome is unknown (the answer
                # was lost, or its process died) and it may still have made a video: find
                # that video and stop it too.
                answered = await self._read(job_id)
                found = self._unrecorded.get(job_id) or (
                    None
                    if answered is not None and answered.remote_id is not None
                    else await self._reconcile(job)
                )
                remote_id = found.remote_id if found is not None else None
            logger.info(
                "job %s %s -> cancelled (provider %s)", job.id, job.status.value, job.provider
            )
            if remote_id is not None:
                await self._cancel_remote(remote_id)
            current = await self._read(job_id) or done
            if remote_id is not None and current.remote_id is None:
                # Keep the video on record with its job: our write may have overwritten the
                # remote id a create's answer had just recorded, or it was found above.
                with contextlib.suppress(ConflictError):  # another job recorded it first
                    current = await self._write(
                        current, JobStatus.CANCELLED, guarded=False, remote_id=remote_id
                    )
            done = current
        finally:
            self._cancelling.discard(job_id)
            if written or job_id not in self._submit_done:
                self._drop_local(job_id)
            if not written:
                # The ledger refused the cancel (locked, down), so the job goes on; unless a
                # create of it is on the wire (it carries on here), it was taken out of
                # this engine's hands: give its lease back, so a claim takes it up again.
                await self._release_unheld(job_id)
            self._wake_dispatch.set()
            self._wake_poll.set()
        await self._emit("cancelled", done)
        return done


async def _run_in(scope: anyio.CancelScope, fn: Callable[[], Awaitable[None]]) -> None:
    with scope:
        await fn()


def _job_error(exc: ProviderError, *, retryable: bool) -> JobError:
    code = exc.code or (f"http_{exc.status_code}" if exc.status_code else type(exc).__name__)
    return JobError(code=code, message=exc.message, retryable=retryable)


def _cost(remote: RemoteJob) -> dict[str, Any]:
    """The provider's own cost figures, recorded beside the estimate when it gives them."""
    changes: dict[str, Any] = {}
    # [W2-5] The provider's USD figure goes to ``cost_usd``; it no longer replaces
    # ``estimated_cost_usd`` (which stays the estimate made before sending).
    if remote.cost_usd is not None:
        changes["cost_usd"] = remote.cost_usd
    if remote.cost_credits is not None:
        changes["cost_credits"] = remote.cost_credits
    return changes
