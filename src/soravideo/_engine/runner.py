"""JobRunner: the only code that changes a job's status.

It claims jobs from the ledger with a lease, sends pending ones in priority order within
an adaptive concurrency limit and a token bucket, polls in-flight ones on an ETA schedule
(many at once where the provider can list), and records every transition in the ledger
before its next provider call. Its state lives on the object, not in a task: ``run()``
may be started and cancelled many times (by a background task, a waiting call or a
worker) and always picks up where it left off.

The runner keeps the life cycle (``run``, the dispatch loop, stopping) and wires the
parts that live beside it, each in its own module and sharing only the
``EngineState`` (``state.py``): the queue (``queue.py``), the pace
(``pacer.py``, on the rules of ``pacing.py``), the ledger writes (``ledger.py``), claims
(``claims.py``), submission (``submit.py``) and reconciliation (``reconcile.py``),
polling (``polling.py``), leases (``leases.py``) and cancels (``cancel.py``).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from types import TracebackType

import anyio
import attrs

from .._core.clock import Clock, SystemClock, engine_task, sleep_or_wake, user_waits
from .._core.events import EventBus
from .._core.models import Job
from .._core.settings import Settings
from ..repositories.base import JobRepository
from ..transports.base import RemoteJob, Transport
from .cancel import Canceller, VideoStopper
from .claims import Claimer
from .leases import LeaseKeeper
from .ledger import Ledger
from .pacer import Pacer
from .polling import Poller
from .reconcile import Reconciler
from .state import HELD, EngineState
from .submit import REMIX_OF, Submitter, idempotency_key

__all__ = ["REMIX_OF", "JobRunner", "RunnerStats", "idempotency_key"]

logger = logging.getLogger("soravideo")


class _Waits:
    """``JobRunner.driving`` when the engine runs in the background: ``user_waits`` only."""

    __slots__ = ("_block",)

    def __init__(self, block: AbstractContextManager[None]) -> None:
        self._block = block

    async def __aenter__(self) -> None:
        self._block.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._block.__exit__(exc_type, exc, traceback)


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
        lease_clock = lease_clock or SystemClock()
        state = self._state = EngineState()
        pacer = self._pacer = Pacer(settings, clock)
        stopper = VideoStopper(transport, pacer)
        ledger = Ledger(
            repository=repository,
            clock=clock,
            owner=self.owner,
            state=state,
            events=events,
            stop_video=stopper.stop,
        )
        reconciler = Reconciler(transport=transport, repository=repository, pacer=pacer)
        self._poller = Poller(
            state=state,
            ledger=ledger,
            pacer=pacer,
            reconciler=reconciler,
            transport=transport,
            settings=settings,
            clock=clock,
            events=events,
        )
        self._claims = Claimer(
            state=state,
            repository=repository,
            settings=settings,
            owner=self.owner,
            clock=clock,
            lease_clock=lease_clock,
            pacer=pacer,
            poller=self._poller,
        )
        self._submitter = Submitter(
            state=state,
            ledger=ledger,
            pacer=pacer,
            reconciler=reconciler,
            poller=self._poller,
            transport=transport,
            repository=repository,
            settings=settings,
            clock=clock,
            events=events,
        )
        self._leases = LeaseKeeper(
            state=state,
            repository=repository,
            settings=settings,
            owner=self.owner,
            lease_clock=lease_clock,
            pacer=pacer,
            events=events,
        )
        self._canceller = Canceller(
            state=state,
            ledger=ledger,
            reconciler=reconciler,
            stop_video=stopper.stop,
            events=events,
            clock=self.clock,
            asks_first=stopper.asks_first,
            reads_first=stopper.reads_first,
            check=self._poller.check,
        )
        self._lease_clock = lease_clock
        self._run_lock = anyio.Lock()
        self._background = False

    @property
    def worker_mode(self) -> bool:
        """Whether the engine looks for new work by itself (a worker), not only when asked."""
        return self._state.worker_mode

    @worker_mode.setter
    def worker_mode(self, value: bool) -> None:
        self._state.worker_mode = value

    # ---------------------------------------------------------------- introspection

    def stats(self) -> RunnerStats:
        """Return how many jobs are in flight and queued, and the current limits."""
        state = self._state
        return RunnerStats(
            in_flight=len(state.submitting) + len(state.tracked),
            queued=len(state.queue),
            concurrency_limit=self._pacer.limit.current,
            paused_until=self._pacer.paused(),
            owner=self.owner,
        )

    def holds(self, job_id: str) -> bool:
        """Whether this runner is driving the job (so its changes arrive as events)."""
        return self._state.holds(job_id)

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

    # ---------------------------------------------------------------- control

    def wake(self) -> None:
        """Look for new work now (a job was created, cancelled, or a batch started)."""
        self._state.claim_needed = True
        self._state.wake_dispatch.set()

    async def add_created(self, job: Job) -> None:
        """Store a job created by this client's user; call ``created`` once it is announced.

        Where the engine runs in the background and the ledger can
        (``SupportsAddClaimed``), the job is added already leased to this engine when a claim
        would take it first: one ledger call instead of an add and a claim ([W2-4]).
        Otherwise it is added (``add_jobs``) and claimed as any other, after ``created``.
        Not while a callback follows "created": the job is queued here at its add, and the
        dispatcher (awake for other jobs) could send it while that callback runs.
        """
        if (
            self._background
            and not self.events.listened("created")
            and await self._claims.add_claimed(job)
        ):
            return
        await self.repository.add_jobs([job])

    def created(self, job: Job) -> None:
        """Look for work after announcing a job ``add_created`` stored: send it if it is
        queued here already, else claim."""
        if self._state.holds(job.id):
            self._state.wake_dispatch.set()
        else:
            self.wake()

    def set_batch_limit(self, batch_id: str, concurrency: int) -> None:
        """Mark a batch as being processed here, with at most ``concurrency`` jobs in flight
        (0: only the client's limit applies)."""
        self._state.batch_limits[batch_id] = concurrency
        self.wake()

    def hold_batch(self, batch_id: str) -> None:
        """Claim and send none of a batch's jobs until ``set_batch_limit`` (or
        ``release_batch``): the batch is being marked processing, from when any claim may
        take its jobs, and it may yet fail to start."""
        self._state.batch_limits[batch_id] = HELD

    def release_batch(self, batch_id: str) -> None:
        """Forget a batch's own limit once it is no longer processed here; its jobs queued
        here (held while it started, say) may then be sent."""
        self._state.batch_limits.pop(batch_id, None)
        self._state.wake_dispatch.set()

    def _pause(self, retry_after: float | None) -> None:
        """Hold every request for ``retry_after`` seconds (tests call it as a provider would)."""
        self._pacer.pause(retry_after)

    def driving(self) -> AbstractAsyncContextManager[None]:
        """Keep the engine running for the duration of the block.

        When a background task already runs it (a context-managed or sync client), this
        only lets simulated time move (``user_waits``); otherwise the calling task also
        drives the engine while it waits.
        """
        if self._background:
            # A small object, not generators: ten thousand waiters each hold one ([W2-4]).
            return _Waits(user_waits(self.clock))
        return self._driving_here()

    @asynccontextmanager
    async def _driving_here(self) -> AsyncIterator[None]:
        with user_waits(self.clock):
            async with self._driven():
                yield

    @asynccontextmanager
    async def _driven(self) -> AsyncIterator[None]:
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
        with engine_task():
            await self._run()

    async def _run(self) -> None:
        async with self._run_lock:
            self._state.claim_needed = True
            self._state.stopping_at = None
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
                            tg.start_soon(self._poller.run)
                            tg.start_soon(self._leases.run)
                    finally:
                        clock_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True):
                    # Queued jobs have not been sent: hand them back so another process
                    # may take them (pending again where their last create certainly
                    # never happened, so that it is not taken for an ambiguous one).
                    await self._submitter.unsend_queued()
                    await self._claims.release_queued()

    async def settle_submissions(self, seconds: float) -> None:
        """Wait (real time, at most ``seconds``) until creates on the wire are recorded, so a
        stopping worker or a closing client does not give away a job whose remote id is about
        to arrive."""
        with anyio.move_on_after(seconds):
            for job_id in list(self._state.submit_done):
                done = self._state.submit_event(job_id)
                if done is not None:
                    await done.wait()

    def stop_worker(self) -> None:
        """Leave worker mode: look for new work again only when a caller asks (``wake``;
        a waiter's re-reads ask too, so nobody waits on a job left unclaimed here)."""
        self._state.worker_mode = False
        self._state.claim_needed = False

    async def release_all(self) -> None:
        """Give back every lease this runner holds (on shutdown).

        Waits for a claim on the wire first, so the leases it takes are given back too.
        """
        await self._claims.release_all()

    # ---------------------------------------------------------------- dispatching

    async def _dispatch_loop(self, tg: anyio.abc.TaskGroup) -> None:
        state = self._state
        try:
            while True:
                state.wake_dispatch.rearm()
                if state.claim_needed or state.worker_mode:
                    await self._claims.claim()
                job = None
                if state.in_flight() < self._pacer.limit.current:
                    job = state.queue.pop_next(
                        self.clock.time(),
                        blocked=state.blocked,
                        running=state.in_flight,
                        caps=state.batch_limits,
                    )
                if job is None:
                    await self._idle_wait()
                    continue
                state.submitting[job.id] = job
                state.submit_done[job.id] = None  # its event made if someone waits
                tg.start_soon(self._submitter.submit, job)
        finally:
            # The engine is stopping (this loop ends only then): nothing more is sent, and
            # creates on the wire get close_timeout (real time) to be answered and recorded.
            state.stopping_at = anyio.current_time() + self.settings.close_timeout
            for scope in state.on_the_wire.values():
                scope.deadline = state.stopping_at

    async def _idle_wait(self) -> None:
        state = self._state
        now = self.clock.time()
        # A job waiting for its retry, or a claim the ledger refused, ends the wait.
        later = [
            at
            for at in (state.queue.next_retry(now), self._claims.retry_at)
            if at is not None and at > now
        ]
        wake = state.wake_dispatch.event
        if state.worker_mode:
            # Other processes create jobs in real time: look for them on a real-time tick
            # (on simulated time an idle worker would otherwise spin through its ticks).
            tick = max(self.settings.poll_min_interval, 1.0)
            if later:
                await sleep_or_wake(self.clock, min(min(later) - now, tick), wake)
            else:
                await sleep_or_wake(self._lease_clock, tick, wake)
            # Only while still a worker: a stopped one must not take its leases back.
            state.claim_needed = state.claim_needed or state.worker_mode
        elif later:
            await sleep_or_wake(self.clock, min(later) - now, wake)
        else:
            await wake.wait()

    # ---------------------------------------------------------------- webhooks

    async def push(self, job: Job, remote: RemoteJob | None) -> Job | None:
        """Apply a webhook delivery's news of a job through polling's writes ([W2-7]).

        Args:
            job: The job as the ledger has it.
            remote: What the delivery says (``None``: a thin event; the job is read once).

        Returns:
            The job as written, or ``None`` when nothing was applied (it had ended, was
            being cancelled, or the news was not newer than the ledger's).

        Raises:
            ProviderError: The status read of a thin event failed.
            RepositoryError: The ledger refused the write.
        """
        return await self._poller.push(job, remote)

    # ---------------------------------------------------------------- cancel

    @contextmanager
    def cancelling_batch(self, batch_id: str) -> Iterator[None]:
        """Send nothing more for a batch's jobs for the duration of the block (its cancel):
        from the first line, before anything is awaited, so the dispatcher cannot pick up
        the next job of the batch while the ones before it are being cancelled."""
        with self._canceller.cancelling_batch(batch_id):
            yield

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job: pending ones are never sent; in-flight ones are stopped at the provider.

        When it returns, nothing more is sent for the job, and a create that was already on
        the wire has been answered, recorded and its video stopped. The job keeps its slot
        (it counts in flight) until then.
        """
        return await self._canceller.cancel(job_id)


async def _run_in(scope: anyio.CancelScope, fn: Callable[[], Awaitable[None]]) -> None:
    with scope:
        await fn()
