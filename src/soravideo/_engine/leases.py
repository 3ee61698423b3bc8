"""Leases: renew this engine's hold on the jobs it drives, and let go of the ones it lost.

A lease guards against a dead process: while this engine lives it renews every lease a
third of the way through; a job whose lease another worker took is dropped here (that
worker drives it now). Leases run on real time (``lease_clock``), even when the engine
runs on simulated time.
"""

from __future__ import annotations

import logging

from .._core.clock import Clock, now_utc
from .._core.errors import RepositoryError
from .._core.events import EventBus
from .._core.settings import Settings
from ..repositories.base import JobRepository
from .pacer import Pacer
from .state import EngineState

__all__ = ["LeaseKeeper"]

logger = logging.getLogger("soravideo")


class LeaseKeeper:
    """Renew the leases of the jobs one engine holds.

    Args:
        state: The engine's jobs.
        repository: The ledger.
        settings: The client's settings (``lease_seconds``).
        owner: The lease owner.
        lease_clock: The clock leases are measured on (real time).
        pacer: The backoff after a refused renewal.
    """

    def __init__(
        self,
        *,
        state: EngineState,
        repository: JobRepository,
        settings: Settings,
        owner: str,
        lease_clock: Clock,
        pacer: Pacer,
        events: EventBus,
    ) -> None:
        self.state = state
        self.events = events
        self.repository = repository
        self.settings = settings
        self.owner = owner
        self.lease_clock = lease_clock
        self.pacer = pacer

    async def run(self) -> None:
        """Renew leases every third of ``lease_seconds`` while jobs are held, until cancelled.

        A renewal the ledger refuses (locked, down) is tried again sooner, after a backoff
        (never later than the usual interval); the jobs stay held meanwhile.
        """
        interval = self.settings.lease_seconds / 3
        wait = interval
        refusals = 0
        while True:
            if not self.state.held_ids():
                # Idle: wait without sleeping on the clock, so simulated time stands still.
                await self.state.wake_lease.rearm().wait()
                continue
            await self.lease_clock.sleep(wait)
            ids = self.state.held_ids()
            if not ids:
                continue
            try:
                kept = set(await self.renew(ids))
            except RepositoryError as exc:
                refusals += 1
                wait = min(interval, self.pacer.backoff(refusals))
                logger.warning(
                    "could not renew the leases of %d jobs (%s); trying again in %.1f s",
                    len(ids),
                    exc,
                    wait,
                )
                continue
            refusals, wait = 0, interval
            for job_id in ids:
                # A job that ended meanwhile gave its lease up; only a live one was lost.
                if (
                    job_id not in kept
                    and self.state.holds(job_id)
                    and job_id not in self.state.submitting
                ):
                    logger.warning("lost the lease of job %s; another worker has it", job_id)
                    self.state.drop(job_id)
                    # Its waiters look again: no longer driven here, it may even have
                    # ended (a cancel or a push elsewhere ends a lease's renewals).
                    self.events.touch(job_id)

    async def renew(self, ids: list[str]) -> list[str]:
        """Renew the leases of ``ids``; return the ids whose lease this engine still holds.

        Raises:
            RepositoryError: The ledger refused.
        """
        return list(
            await self.repository.renew_lease(
                ids,
                self.owner,
                lease_seconds=self.settings.lease_seconds,
                now=now_utc(self.lease_clock),
            )
        )
