"""The engine's writes to the ledger, and what follows when a write finds the job changed.

Every status change goes through ``Ledger.write``, guarded by the job's expected
status and this engine's lease, and shielded: a write that started is finished, so a
cancelled engine never leaves a provider's answer (a remote id, a final status) unrecorded
halfway. ``Ledger.write_many`` writes many jobs' changes at once (what one status refresh
learns): one ``update_jobs`` call where the ledger has it, each job's outcome that of its
own write. Writes are committed in groups ([W2-4]): those that arrive while one is under
way (other jobs' processing marks and remote ids) go together in the next ``update_jobs``
call, each still with its own outcome, reported once that call returned.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeAlias

import anyio
import attrs

from .._core.clock import Clock, now_utc
from .._core.errors import ConflictError, JobNotFoundError, NotFoundError, RepositoryError
from .._core.events import EventBus, EventKind
from .._core.gather import Gather
from .._core.models import Job, JobStatus
from .._core.replace import replace
from ..repositories.base import JobRepository, JobUpdate, SupportsUpdateJobs
from ..repositories.memory import MemoryRepository
from ..transports.base import RemoteJob
from .state import EngineState

__all__ = ["Ledger", "Outcome", "Write", "cost_changes"]

logger = logging.getLogger("soravideo")

Outcome: TypeAlias = Job | RepositoryError | NotFoundError
"""What became of one write of ``Ledger.write_many``: the job as written, or the error its
own write would have raised (``ConflictError`` or ``JobNotFoundError`` when the job changed
or went; another ``RepositoryError`` when the ledger refused it)."""


@attrs.frozen
class Write:
    """One job's changes for ``Ledger.write_many`` (the arguments of ``Ledger.write``)."""

    job: Job
    expected: JobStatus
    changes: Mapping[str, Any]
    guarded: bool = True


def cost_changes(remote: RemoteJob) -> dict[str, Any]:
    """The provider's own cost figures, recorded beside the estimate when it gives them."""
    changes: dict[str, Any] = {}
    # [W2-5] The provider's USD figure goes to ``cost_usd``; it no longer replaces
    # ``estimated_cost_usd`` (which stays the estimate made before sending).
    if remote.cost_usd is not None:
        changes["cost_usd"] = remote.cost_usd
    if remote.cost_credits is not None:
        changes["cost_credits"] = remote.cost_credits
    return changes


async def _write_one(repository: JobRepository, update: JobUpdate) -> Outcome:
    """One compare-and-set through ``update_job``, its error returned, not raised."""
    try:
        return await repository.update_job(
            update.job, expected_status=update.expected_status, lease_owner=update.lease_owner
        )
    except (RepositoryError, NotFoundError) as exc:
        return exc


class Ledger:
    """Write jobs for one engine, under its lease.

    Args:
        repository: The ledger.
        clock: The engine's clock (``updated_at``, ``completed_at``).
        owner: The lease owner the engine claims under.
        state: The engine's jobs (a job that ends is dropped from them).
        events: Where a job's end is announced.
        stop_video: Stops a video at the provider (a job cancelled elsewhere).
    """

    def __init__(
        self,
        *,
        repository: JobRepository,
        clock: Clock,
        owner: str,
        state: EngineState,
        events: EventBus,
        stop_video: Callable[[str], Awaitable[object]],
    ) -> None:
        self.repository = repository
        self.clock = clock
        self.owner = owner
        self.state = state
        self.events = events
        self.stop_video = stop_video

    @property
    def repository(self) -> JobRepository:
        """The ledger written to."""
        return self._repository

    @repository.setter
    def repository(self, repository: JobRepository) -> None:
        self._repository = repository
        # Writes of many tasks go together through update_jobs, where the ledger has it.
        self._many = repository if isinstance(repository, SupportsUpdateJobs) else None
        # Not the memory ledger's (its own class, not a subclass that may do I/O): a call
        # costs it no trip to gather calls for, only the gathering itself.
        self._gathered: Gather[JobUpdate, Outcome] | None = (
            None if type(repository) is MemoryRepository else Gather(self._send)
        )

    async def write(
        self, job: Job, expected: JobStatus, *, guarded: bool = True, **changes: Any
    ) -> Job:
        """Write ``changes`` to a job whose status is still ``expected``.

        Args:
            job: The job as last read or written.
            expected: The status the ledger must still hold.
            guarded: Only while this engine holds the job's lease.
            **changes: Fields to change (``updated_at`` and, on a job's end,
                ``completed_at`` are set unless given).

        Returns:
            The job as written.

        Raises:
            ConflictError: The job changed (or its lease moved) since.
            JobNotFoundError: The job is gone.
            RepositoryError: The ledger refused the write (locked, down).
        """
        [outcome] = await self.write_many([Write(job, expected, changes, guarded)])
        if isinstance(outcome, Job):
            return outcome
        raise outcome

    async def write_many(self, writes: Sequence[Write]) -> list[Outcome]:
        """Write many jobs' changes at once, each as ``write`` would alone.

        One ``update_jobs`` call (one transaction) where the ledger has it, together with
        the writes of other tasks that arrived while the call before it was under way
        (group commit: in the order they came, so two writes of one job apply one after
        the other; not on the memory ledger, which answers at once); ``update_job`` for a
        write alone; a write at a time on a ledger without
        ``update_jobs``. Shielded as a whole: writes that started are all finished, and
        each is reported only once the call that carried it returned.

        Args:
            writes: Each job's changes.

        Returns:
            Each write's outcome, in order: never raised, so that every job is dealt with
            (a ledger that fails a whole ``update_jobs`` call fails each of its writes).
        """
        updates = [self._update(write) for write in writes]
        outcomes: list[Outcome]
        with anyio.CancelScope(shield=True):
            if self._gathered is None:
                outcomes = await self._send(updates)
            elif self._many is not None:
                # Together with the writes of other tasks that wait meanwhile (group commit).
                outcomes = await self._gathered(updates)
            else:
                # One at a time: a ledger without update_jobs (a plugin written before it).
                outcomes = [await _write_one(self.repository, update) for update in updates]
        for outcome in outcomes:
            if isinstance(outcome, Job) and outcome.remote_id is not None:
                self.state.unrecorded.pop(outcome.id, None)
        return outcomes

    async def _send(self, updates: list[JobUpdate]) -> list[Outcome]:
        """One ledger call: ``update_job`` for one update, ``update_jobs`` for more."""
        if len(updates) == 1 or self._many is None:
            return [await _write_one(self.repository, update) for update in updates]
        try:
            return list(await self._many.update_jobs(updates))
        except RepositoryError as exc:
            return [exc] * len(updates)

    def _update(self, write: Write) -> JobUpdate:
        """The compare-and-set of a write: its changes made, with ``updated_at`` (and, on a
        job's end, ``completed_at``) set unless given."""
        job, changes = write.job, dict(write.changes)
        now = now_utc(self.clock)
        changes.setdefault("updated_at", now)
        new_status = changes.get("status", job.status)
        if new_status.is_terminal and not job.status.is_terminal:
            changes.setdefault("completed_at", now)
        return JobUpdate(
            job=replace(job, **changes),
            expected_status=write.expected,
            lease_owner=self.owner if write.guarded else None,
        )

    async def get(self, job_id: str) -> Job:
        """Return the job as the ledger has it.

        Raises:
            JobNotFoundError: No such job.
        """
        return await self.repository.get_job(job_id)

    async def read(self, job_id: str) -> Job | None:
        """Return the job as the ledger has it, or ``None`` if it is gone."""
        try:
            return await self.repository.get_job(job_id)
        except JobNotFoundError:
            return None

    async def finish(
        self, job: Job, status: JobStatus, *, guarded: bool = True, **changes: Any
    ) -> Job | None:
        """Write a terminal status and announce it; return ``None`` if someone else
        changed the job first (the job is then no longer driven here).

        Raises:
            RepositoryError: The ledger refused the write (the job stays held).
        """
        [outcome] = await self.write_many([self.ending(job, status, guarded=guarded, **changes)])
        return await self.ended(job, status, outcome)

    @staticmethod
    def ending(job: Job, status: JobStatus, *, guarded: bool = True, **changes: Any) -> Write:
        """The write of a job's end (``finish``'s, for ``write_many``)."""
        return Write(job, job.status, {"status": status, **changes}, guarded)

    async def ended(self, job: Job, status: JobStatus, outcome: Outcome) -> Job | None:
        """Follow the write of a job's end: drop the job and announce its end, or, if someone
        else changed the job first (``outcome`` a ``ConflictError`` or ``JobNotFoundError``),
        stop driving it; return the job as written, or ``None``.

        Raises:
            RepositoryError: The ledger refused the write (``outcome``; the job stays held).
        """
        if isinstance(outcome, (ConflictError, JobNotFoundError)):
            if status is not JobStatus.CANCELLED:
                await self.changed_elsewhere(job)
            else:
                await self.forget(job.id)
            return None
        if not isinstance(outcome, Job):
            raise outcome
        done = outcome
        self.state.drop(job.id)
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
        await self.events.emit(kind, done)
        self.state.wake_dispatch.set()
        return done

    async def changed_elsewhere(self, job: Job) -> None:
        """Handle a job whose ledger row changed under us: if another process cancelled it,
        stop its video (a concurrent cancel may even have overwritten its remote id)."""
        current = await self.read(job.id)
        if current is not None and current.status is JobStatus.CANCELLED and job.remote_id:
            await self.stop_video(job.remote_id)
            if current.remote_id is None:
                with contextlib.suppress(ConflictError, JobNotFoundError):
                    await self.write(
                        current, JobStatus.CANCELLED, guarded=False, remote_id=job.remote_id
                    )
        await self.forget(job.id)

    async def forget(self, job_id: str) -> None:
        """Stop touching a job whose ledger row changed under us (cancelled, or lease lost),
        or whose create a cancel stopped before it was sent."""
        self.state.drop(job_id)
        # A cancel that then fails to write (a locked ledger) leaves the job unfinished and
        # leased to us: given back, it is claimed again (by anyone) instead of sitting on
        # our lease until it expires. A cancelled job or another owner's is untouched.
        await self.release_unheld(job_id)
        self.events.touch(job_id)
        self.state.wake_dispatch.set()

    async def release_unheld(self, job_id: str) -> None:
        """Give back our lease on a job this engine no longer drives, and look for work."""
        if self.state.holds(job_id):
            return
        with anyio.CancelScope(shield=True):
            try:
                await self.repository.release_lease([job_id], self.owner)
            except Exception as exc:  # the lease then simply expires
                logger.warning("job %s: could not give its lease back: %s", job_id, exc)
        self.state.claim_needed = True
