"""Cancels: a pending job is never sent; an in-flight one is stopped at the provider.

The cancel is written to the ledger first (whatever the job's status); a create already on
the wire is waited for, so its video is found and stopped too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from .._core.clock import Clock, user_waits
from .._core.errors import ConflictError, JobStateError, ProviderError
from .._core.events import EventBus
from .._core.models import Job, JobStatus
from ..transports.base import Transport
from .ledger import Ledger
from .pacer import Pacer
from .reconcile import Reconciler
from .state import EngineState

__all__ = ["Canceller", "VideoStopper"]

logger = logging.getLogger("soravideo")


class VideoStopper:
    """Stop a video at the provider (through the engine's gate), as far as it can.

    Args:
        transport: The provider.
        pacer: The engine's pace.
    """

    def __init__(self, transport: Transport, pacer: Pacer) -> None:
        self.transport = transport
        self.pacer = pacer

    async def stop(self, remote_id: str) -> None:
        """Cancel a remote job; a provider's refusal is logged, never raised."""
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
            await self.pacer.call(self.transport.cancel, remote_id)
        except ProviderError as exc:
            logger.warning("could not cancel remote job %s: %s", remote_id, exc)


class Canceller:
    """Cancel jobs and batches for one engine.

    Args:
        state: The engine's jobs (``cancelling``, ``cancelling_batches`` are this part's).
        ledger: Where the cancel is written.
        reconciler: Finds the video of a create whose answer was lost.
        stop_video: Stops a video at the provider.
        events: Where ``cancelled`` is announced.
        clock: The engine's clock: once the cancel is written, simulated time may move
            while the cancel waits for a create on the wire (``user_waits``).
    """

    def __init__(
        self,
        *,
        state: EngineState,
        ledger: Ledger,
        reconciler: Reconciler,
        stop_video: Callable[[str], Awaitable[None]],
        events: EventBus,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock
        self.state = state
        self.ledger = ledger
        self.reconciler = reconciler
        self.stop_video = stop_video
        self.events = events

    @contextmanager
    def cancelling_batch(self, batch_id: str) -> Iterator[None]:
        """Send nothing more for a batch's jobs for the duration of the block (its cancel):
        from the first line, before anything is awaited, so the dispatcher cannot pick up
        the next job of the batch while the ones before it are being cancelled."""
        state = self.state
        state.cancelling_batches.add(batch_id)
        for job in [*state.queue.jobs(), *state.submitting.values()]:
            if job.batch_id == batch_id:
                self.stop_sending(job.id)
        try:
            yield
        finally:
            state.cancelling_batches.discard(batch_id)

    def stop_sending(self, job_id: str) -> None:
        """Take a job out of the queue, and stop its create if it waits to be sent."""
        self.state.queue.remove(job_id)
        unsent = self.state.unsent.get(job_id)
        if unsent is not None:
            unsent.cancel()

    async def _cancel_in_ledger(self, job_id: str) -> tuple[Job, Job]:
        """Write ``cancelled`` whatever the job's current status; return (before, after)."""
        while True:
            job = await self.ledger.get(job_id)
            if job.status.is_terminal:
                raise JobStateError(job.id, job.status.value, "a finished job cannot be cancelled")
            with contextlib.suppress(ConflictError):
                done = await self.ledger.write(
                    job, job.status, guarded=False, status=JobStatus.CANCELLED
                )
                return job, done

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job: pending ones are never sent; in-flight ones are stopped at the provider.

        When it returns, nothing more is sent for the job, and a create that was already on
        the wire has been answered, recorded and its video stopped. The job keeps its slot
        (it counts in flight) until then.

        Args:
            job_id: The job.

        Returns:
            The job as cancelled.

        Raises:
            JobNotFoundError: No such job.
            JobStateError: The job had already finished.
            RepositoryError: The ledger refused the cancel (the job goes on).
        """
        state = self.state
        state.cancelling.add(job_id)
        self.stop_sending(job_id)
        written = finished = False
        waits = contextlib.ExitStack()
        try:
            job, done = await self._cancel_in_ledger(job_id)
            written = True
            if self.clock is not None:
                # The job can no longer complete: simulated time may move now, for a
                # create on the wire (its retries sleep on the clock).
                waits.enter_context(user_waits(self.clock))
            on_the_wire = state.submit_event(job_id)
            if on_the_wire is not None:
                # Its answer's ledger write finds the job cancelled and stops the video
                # itself, unless it got in before this write of ours (next lines).
                await on_the_wire.wait()
            local = state.tracked.get(job_id)
            remote_id = job.remote_id or (local.job.remote_id if local else None)
            if remote_id is None and job.status is JobStatus.PROCESSING:
                # A create was sent at some point. Its answer may have been recorded while
                # we waited (and its video stopped); else its outcome is unknown (the answer
                # was lost, or its process died) and it may still have made a video: find
                # that video and stop it too.
                answered = await self.ledger.read(job_id)
                found = state.unrecorded.get(job_id) or (
                    None
                    if answered is not None and answered.remote_id is not None
                    else await self.reconciler.reconcile(job)
                )
                remote_id = found.remote_id if found is not None else None
            logger.info(
                "job %s %s -> cancelled (provider %s)", job.id, job.status.value, job.provider
            )
            if remote_id is not None:
                await self.stop_video(remote_id)
            current = await self.ledger.read(job_id) or done
            if remote_id is not None and current.remote_id is None:
                # Keep the video on record with its job: our write may have overwritten the
                # remote id a create's answer had just recorded, or it was found above.
                with contextlib.suppress(ConflictError):  # another job recorded it first
                    current = await self.ledger.write(
                        current, JobStatus.CANCELLED, guarded=False, remote_id=remote_id
                    )
            done = current
            finished = True
        finally:
            waits.close()
            state.cancelling.discard(job_id)
            if written or job_id not in state.submit_done:
                state.drop(job_id)
            if written and not finished:
                # Cancelled in the ledger, but what followed failed (a read refused, the
                # caller gone): no announcement comes, so its waiters look again now.
                self.events.touch(job_id)
            if not written:
                # The ledger refused the cancel (locked, down), so the job goes on; unless a
                # create of it is on the wire (it carries on here), it was taken out of
                # this engine's hands: give its lease back, so a claim takes it up again.
                await self.ledger.release_unheld(job_id)
            state.wake_dispatch.set()
            state.wake_poll.set()
        await self.events.emit("cancelled", done)
        return done
