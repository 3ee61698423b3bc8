"""The one object the services and the monitoring calls receive instead of the client.

``AsyncSoraVideo`` makes one `ClientContext` and hands it to ``client.videos``,
``client.batches`` and the health and metrics calls. It holds what they share (the
ledger, the provider, the settings, the clock, the events), the engine's life cycle
(started on first use, closed once) and the one wait loop of every call that waits.
Nothing here imports the client, so the services never reach into it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from .._core.clock import Clock, sleep_or_wake
from .._core.events import EventBus
from .._core.settings import Settings
from .._engine.runner import JobRunner
from ..repositories.base import JobRepository
from ..transports.base import Transport

__all__ = ["ClientContext"]


class ClientContext:
    """What a client's services share: its parts, its engine's life cycle, and its wait loop.

    Args:
        repository: The ledger.
        transport: The provider.
        settings: The client's settings.
        clock: The client's time source.
        events: The client's event bus (the runner emits on it).
        worker_id: The owner name the runner takes leases under (default: its own).
    """

    def __init__(
        self,
        *,
        repository: JobRepository,
        transport: Transport,
        settings: Settings,
        clock: Clock,
        events: EventBus,
        worker_id: str | None = None,
    ) -> None:
        self.repository = repository
        self.transport = transport
        self.settings = settings
        self.clock = clock
        self.events = events
        self.worker_id = worker_id
        self.runner: JobRunner | None = None
        """The engine, once `engine` built it."""
        self.closed = False
        """Set once the client closes; `engine` refuses from then on."""
        self.started_at = clock.time()
        """The clock's time when the client was made (its uptime counts from here)."""
        self._open_lock: anyio.Lock | None = None

    def uptime(self) -> float:
        """Return the seconds since the client was made, on its clock (never negative)."""
        return max(0.0, self.clock.time() - self.started_at)

    async def engine(self) -> JobRunner:
        """Open the ledger and build the engine on first use; return the runner.

        Returns:
            The client's one `JobRunner`.

        Raises:
            RuntimeError: The client is closed.
        """
        if self.runner is not None:
            return self.runner
        if self.closed:
            raise RuntimeError("this client is closed")
        if self._open_lock is None:
            self._open_lock = anyio.Lock()
        async with self._open_lock:
            if self.runner is None:
                await self.repository.open()
                self.runner = JobRunner(
                    repository=self.repository,
                    transport=self.transport,
                    settings=self.settings,
                    clock=self.clock,
                    events=self.events,
                    owner=self.worker_id,
                )
        return self.runner

    async def working_engine(self) -> JobRunner:
        """`engine`, for a call that stores new jobs or runs jobs: refused once the client
        is closed.

        A job stored then would wait in the ledger with nothing to send it until another
        client resumed it, while its caller believed it under way; and a closed client's
        engine must not start running jobs again.

        Raises:
            RuntimeError: The client is closed; nothing is stored or run.
        """
        if self.closed:
            raise RuntimeError("this client is closed")
        return await self.engine()

    async def watch(
        self,
        look: Callable[[JobRunner], Awaitable[float | None]],
        *,
        job_id: str | None = None,
        ends_only: bool = False,
        wake: Callable[[], anyio.Event] | None = None,
    ) -> None:
        """Drive the engine while calling ``look`` until it says it is done.

        The one wait loop of every call that waits (``wait_for_job``, ``process_batch``):
        ``look`` reads the ledger and returns ``None`` when it has what it waited for, or
        the seconds (of the client's clock) to wait before it looks again. The wait ends
        early as soon as the engine reports a change (a job event), so nothing is missed
        between two looks.

        Args:
            look: Called with the runner; returns ``None`` to stop, or seconds to wait.
            job_id: Wake early only for a change of this job (a ``wait_for_job``), not for
                every job's: ten thousand waiters then cost one look per change each, not
                one per change of any job.
            ends_only: With ``job_id``: wake early only when the job may have ended (its
                end announced, or its row changed under the engine), not for its news on
                the way (submitted, progress): a ``wait_for_job`` without a progress bar.
            wake: Returns the event that ends each wait early, taken before each look
                (``as_completed``: the changes of the jobs it waits for); instead of
                ``job_id``'s.
        """
        runner = await self.engine()
        async with runner.driving():
            while True:
                changed = (
                    wake()
                    if wake is not None
                    else runner.events.changed(job_id, ends_only=ends_only)
                )
                try:
                    wait = await look(runner)
                    if wait is None:
                        return
                    if self.closed:
                        # Closed by another task meanwhile (and not ended, so far): its
                        # engine is gone, so nothing would end this wait.
                        raise RuntimeError("this client was closed while a call waited")
                    await sleep_or_wake(self.clock, wait, changed)
                finally:
                    if wake is None and job_id is not None:
                        # Each wait gives back the job's event it took (dropped once
                        # nobody holds it).
                        runner.events.release(job_id, changed, ends_only=ends_only)
