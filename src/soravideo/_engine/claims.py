"""Claims: take jobs from the ledger under this engine's lease, as many as there is room for.

Batches processed here get an even share of the room first. A claim the ledger refuses
(a SQLite file locked by another process, a PostgreSQL server restarting) is tried again
after a backoff; it never stops the engine, and jobs a claim took before the refusal are
kept and driven.
"""

from __future__ import annotations

import logging
import math

import anyio
import anyio.lowlevel

from .._core.clock import Clock, now_utc
from .._core.errors import RepositoryError
from .._core.models import Job, JobStatus
from .._core.settings import Settings
from ..repositories.base import JobRepository, SupportsAddClaimed
from .pacer import Pacer
from .polling import Poller
from .state import EngineState

__all__ = ["Claimer"]

logger = logging.getLogger("soravideo")


class Claimer:
    """Claim work for one engine, and give back the leases of work it has not sent.

    Args:
        state: The engine's jobs (claimed ones are queued, or tracked when already sent).
        repository: The ledger.
        settings: The client's settings (``lease_seconds``).
        owner: The lease owner.
        clock: The engine's clock (the backoff after a refused claim).
        lease_clock: The clock leases are measured on (real time).
        pacer: The engine's pace (the concurrency limit, the backoff).
        poller: Takes claimed jobs that already have a remote id.
    """

    def __init__(
        self,
        *,
        state: EngineState,
        repository: JobRepository,
        settings: Settings,
        owner: str,
        clock: Clock,
        lease_clock: Clock,
        pacer: Pacer,
        poller: Poller,
    ) -> None:
        self.state = state
        self.repository = repository
        # Looked up once: a Protocol's isinstance costs microseconds, and every create asks.
        self._adds_claimed = repository if isinstance(repository, SupportsAddClaimed) else None
        self.settings = settings
        self.owner = owner
        self.clock = clock
        self.lease_clock = lease_clock
        self.pacer = pacer
        self.poller = poller
        # Held by a claim and by release_all, so that a release sees every lease a claim took.
        self._lock = anyio.Lock()
        self._refusals = 0
        # After a refused claim, the next one waits until then (engine clock).
        self.retry_at: float | None = None

    def room(self) -> int:
        """How many more jobs this engine may take on now."""
        return self.pacer.limit.current - self.state.in_flight() - len(self.state.queue)

    async def claim(self) -> None:
        """Claim as many jobs as there is room for (none while a refused claim backs off)."""
        if self.room() <= 0:
            return  # the common case in a busy loop: no lock, no ledger
        if self.retry_at is not None and self.clock.time() < self.retry_at:
            return  # the dispatcher's idle wait ends at retry_at
        # Shielded like a write: the ledger may have leased jobs to us even if we stop
        # listening, and a lease nobody here knows of is given back by nobody.
        async with self._lock:
            with anyio.CancelScope(shield=True):
                await self._claim_now()
        # An engine cancelled meanwhile stops here, before it sends any of what it claimed.
        await anyio.lowlevel.checkpoint_if_cancelled()

    async def add_claimed(self, job: Job) -> bool:
        """Add a job created here to the ledger, leased to this engine when a claim would
        take it first and there is room for it: the add and the claim in one ledger call
        ([`SupportsAddClaimed`][soravideo.repositories.SupportsAddClaimed], [W2-4]).

        Returns:
            Whether the job was added here (``False``: not tried, and the caller adds it).
            Added but left for a claim (another job was waiting first), it is not queued.

        Raises:
            ValidationError, ConflictError, RepositoryError: As ``add_jobs``; nothing stored.
        """
        repository = self._adds_claimed
        if repository is None or job.batch_id is not None:
            return False
        state = self.state
        # Under the claims' lock: the room it sees is not taken by a claim meanwhile, and a
        # release of every lease (the engine stopping) sees this one.
        async with self._lock:
            if (
                self.room() <= 0
                or self.retry_at is not None
                or state.batch_limits
                or state.stopping_at is not None
            ):
                return False
            # Shielded as a claim is: a lease the ledger gave is never left unknown here.
            with anyio.CancelScope(shield=True):
                leased = await repository.add_job_claimed(
                    job,
                    owner=self.owner,
                    lease_seconds=self.settings.lease_seconds,
                    now=now_utc(self.lease_clock),
                )
            if leased is not None:
                if state.stopping_at is None:
                    state.enqueue(leased)
                else:
                    # The engine began to stop during the call (its queue already given
                    # back): this job is not one it will send, so its lease goes back too.
                    await self._give_back([leased.id])
        return True

    async def _claim_now(self) -> None:
        state = self.state
        if not (state.claim_needed or state.worker_mode):
            return  # a worker stopped while this claim waited for the lock
        for_worker = state.worker_mode
        room = self.room()
        if room <= 0:
            return
        state.claim_needed = False
        claimed: list[Job] = []
        refused: RepositoryError | None = None
        try:
            await self._claim_into(claimed, room)
        except RepositoryError as exc:
            refused = exc  # what was claimed before it is ours all the same
        if for_worker and not state.worker_mode and not state.claim_needed:
            # The worker stopped while this claim was on the wire: give the jobs back.
            if claimed:
                await self._give_back([job.id for job in claimed])
            return
        for job in claimed:
            if state.holds(job.id) or job.id in state.cancelling:
                continue
            if job.status is JobStatus.PROCESSING and job.remote_id is not None:
                self.poller.track(job)
            else:
                # Pending, or processing without a remote id (a create whose outcome is
                # unknown): both go through the submission, which reconciles the latter first.
                state.enqueue(job)
        if refused is not None:
            self._refused(refused)
            return
        self._refusals = 0
        self.retry_at = None
        if len(claimed) >= room:
            state.claim_needed = True

    async def _claim_into(self, claimed: list[Job], room: int) -> None:
        state = self.state
        now = now_utc(self.lease_clock)
        lease = self.settings.lease_seconds
        # Batches processed here get an even share first, so that two batches run side by
        # side instead of the older one taking every slot.
        batches = sorted(state.batch_limits.items(), key=lambda item: state.load(item[0]))
        for batch_id, cap in batches:
            share = math.ceil(room / len(batches))
            if cap:
                share = min(share, cap - state.load(batch_id))
            share = min(share, room - len(claimed))
            if share > 0:
                claimed += await self.repository.claim_jobs(
                    self.owner, limit=share, lease_seconds=lease, now=now, batch_id=batch_id
                )
        if len(claimed) < room:
            claimed += await self.repository.claim_jobs(
                self.owner, limit=room - len(claimed), lease_seconds=lease, now=now
            )

    def _refused(self, exc: RepositoryError) -> None:
        """Back off after a refused claim, and claim again then."""
        self._refusals += 1
        delay = self.pacer.backoff(self._refusals)
        self.retry_at = self.clock.time() + delay
        self.state.claim_needed = True
        logger.warning("the ledger refused a claim (%s); trying again in %.1f s", exc, delay)

    async def _give_back(self, ids: list[str]) -> None:
        try:
            await self.repository.release_lease(ids, self.owner)
        except RepositoryError as exc:  # the leases then simply expire
            logger.warning("could not give back the leases of %d jobs: %s", len(ids), exc)

    async def release_queued(self) -> None:
        """Give back the leases of queued jobs (not sent), so another process may take them."""
        ids = self.state.queue.clear()
        if ids:
            try:
                await self.repository.release_lease(ids, self.owner)
            except Exception:
                logger.warning("could not release leases of %d queued jobs", len(ids))

    async def release_all(self) -> None:
        """Give back every lease this engine holds (on shutdown).

        Waits for a claim on the wire first, so the leases it takes are given back too.

        Raises:
            RepositoryError: The ledger refused (the leases then expire).
        """
        async with self._lock:
            ids = self.state.held_ids()
            self.state.queue.clear()
            self.state.tracked.clear()
            if ids:
                await self.repository.release_lease(ids, self.owner)
