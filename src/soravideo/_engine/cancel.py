"""Cancels: a pending job is never sent; an in-flight one is stopped at the provider.

The cancel is written to the ledger first (whatever the job's status); a create already on
the wire is waited for, so its video is found and stopped too. One exception: where the
provider's cancel says that a job had already ended (fal, Gemini, Replicate:
``Capabilities.cancel_reports_ended``), a job whose video is on record is stopped at the
provider first, and where there is no cancel (OpenRouter) it is read first, so that a video
that finished unseen is recorded as it ended (completed, with its result), never hidden
behind a ``cancelled`` that stopped nothing. A terminal status is final, so the order is
what decides: a cancel written first could no longer be undone.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Literal

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

    async def stop(self, remote_id: str) -> Literal["ended"] | None:
        """Cancel a remote job; a provider's refusal is logged, never raised.

        Returns:
            ``"ended"`` when the provider answered that the job had already ended (there
            was nothing to stop: see ``Transport.cancel``); ``None`` otherwise.
        """
        if not self.transport.capabilities.can_cancel:
            # [W2-5] Said out loud: the provider goes on making (and billing) the video.
            logger.warning(
                "%s cannot cancel: remote job %s goes on at the provider (and is billed); "
                "soravideo only stops tracking it",
                self.transport.name,
                remote_id,
            )
            return None
        try:
            answer = await self.pacer.call(self.transport.cancel, remote_id)
        except ProviderError as exc:
            logger.warning("could not cancel remote job %s: %s", remote_id, exc)
            return None
        return "ended" if answer == "ended" else None

    @property
    def asks_first(self) -> bool:
        """Whether a cancel asks the provider before it is written (see ``Canceller``): the
        transport's cancel says when a job had already ended
        (``Capabilities.cancel_reports_ended``), so a finished video is never cancelled
        unseen."""
        capabilities = self.transport.capabilities
        return capabilities.can_cancel and capabilities.cancel_reports_ended

    @property
    def reads_first(self) -> bool:
        """Whether a cancel reads the job before it is written (see ``Canceller``): the
        provider cannot cancel (OpenRouter), so a read is what tells a video that had
        already finished from one that goes on."""
        return not self.transport.capabilities.can_cancel


class Canceller:
    """Cancel jobs and batches for one engine.

    Args:
        state: The engine's jobs (``cancelling``, ``cancelling_batches`` are this part's).
        ledger: Where the cancel is written.
        reconciler: Finds the video of a create whose answer was lost.
        stop_video: Stops a video at the provider; ``"ended"`` when the provider said the
            job had already ended there.
        events: Where ``cancelled`` is announced.
        clock: The engine's clock: once the cancel is written, simulated time may move
            while the cancel waits for a create on the wire (``user_waits``).
        asks_first: The provider's cancel says when a job had already ended (and never
            destroys a finished video): a job whose video is on record is stopped at the
            provider before the cancel is written, so that a video that finished unseen
            is recorded ``completed``, not cancelled (``VideoStopper.asks_first``).
        reads_first: The provider cannot cancel: a job whose video is on record is read
            (``check``, one status request) before the cancel is written, with the same
            outcome for a video that finished unseen (``VideoStopper.reads_first``).
        check: Reads a job from the provider and records its answer as a poll does
            (``Poller.check``); needed with ``asks_first`` and ``reads_first``.
    """

    def __init__(
        self,
        *,
        state: EngineState,
        ledger: Ledger,
        reconciler: Reconciler,
        stop_video: Callable[[str], Awaitable[Literal["ended"] | None]],
        events: EventBus,
        clock: Clock | None = None,
        asks_first: bool = False,
        reads_first: bool = False,
        check: Callable[[Job], Awaitable[Job | None]] | None = None,
    ) -> None:
        self.clock = clock
        self.state = state
        self.ledger = ledger
        self.reconciler = reconciler
        self.stop_video = stop_video
        self.events = events
        self.check = check
        self.asks_first = asks_first and check is not None
        self.reads_first = reads_first and check is not None

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

    async def _cancel_in_ledger(
        self, job_id: str, *, stopped: bool, read: Job | None = None
    ) -> tuple[Job, Job | None]:
        """Write ``cancelled`` whatever the job's current status; return (before, after).

        After is ``None`` when the video was ``stopped`` at the provider first and someone
        else (a poll, a delivery, another process) wrote the cancel it saw meanwhile.
        ``read``: the job as just read, if it was (a write from it that finds the job
        changed reads it again).
        """
        while True:
            job, read = read or await self.ledger.get(job_id), None
            if job.status.is_terminal:
                if stopped and job.status is JobStatus.CANCELLED:
                    return job, None
                raise JobStateError(job.id, job.status.value, "a finished job cannot be cancelled")
            with contextlib.suppress(ConflictError):
                done = await self.ledger.write(
                    job, job.status, guarded=False, status=JobStatus.CANCELLED
                )
                return job, done

    async def _stop_first(self, job_id: str) -> tuple[str | None, Job | None]:
        """Where the provider says when a job had already ended (``asks_first``), stop a
        job's recorded video before the cancel is written; return its remote id (``None``
        when there was nothing to ask first, or the job was only read: ``reads_first``),
        and the job as read when nothing was asked (so the cancel's write need not read it
        again).

        A video the provider had already finished is recorded as a poll records it (its
        end, its result, downloaded first where there is a download directory), and the
        cancel ends there: nothing is cancelled.

        Raises:
            JobStateError: The job had ended (in the ledger, or at the provider: it is now
                recorded so, or its end is recorded at its next status check when the read
                of it failed).
        """
        if not (self.asks_first or self.reads_first) or self.check is None:
            return None, None
        job = await self.ledger.get(job_id)
        if job.status.is_terminal:
            raise JobStateError(job.id, job.status.value, "a finished job cannot be cancelled")
        remote_id = job.remote_id
        if job.status is not JobStatus.PROCESSING or remote_id is None:
            return None, job  # not sent, or its create's outcome unknown: the ledger first
        if self.state.submit_event(job_id) is not None:
            return None, job  # a create of it on the wire here: the ledger first
        if self.reads_first:
            await self._read_first(job, self.check)
            return None, None  # still going on there: cancelled as any job (read again)
        if await self.stop_video(remote_id) != "ended":
            return remote_id, None
        # The video ended at the provider before the cancel reached it (finished and billed,
        # or failed): its end is what the ledger records, never a cancel that stopped nothing.
        try:
            written = await self.check(job)
        except ProviderError as exc:
            logger.warning(
                "job %s: its video %s had already ended at the provider; reading how failed "
                "(%s): its next status check records it",
                job.id,
                remote_id,
                exc,
            )
            # The provider's words stay in the log: this message reaches API clients.
            raise JobStateError(
                job.id,
                job.status.value,
                "its video had already ended at the provider, so it cannot be cancelled; "
                "reading its end failed: the job's next status check records it",
            ) from exc
        current = written if written is not None and written.is_terminal else None
        current = current or await self.ledger.get(job_id)
        if current.status is JobStatus.CANCELLED:
            return remote_id, None  # the provider had cancelled it: so it stays
        if current.status.is_terminal:
            raise JobStateError(
                job.id,
                current.status.value,
                "its video had already ended at the provider before the cancel reached it: "
                f"the job is {current.status.value}",
            )
        raise JobStateError(
            job.id,
            current.status.value,
            "the provider refused the cancel, saying its video had already ended, yet shows "
            "it unfinished; try the cancel again later (the job's next status check "
            "records its end if it did end)",
        )

    async def _read_first(self, job: Job, check: Callable[[Job], Awaitable[Job | None]]) -> None:
        """Where the provider cannot cancel, read the job once (``check``) before its cancel
        is written: a video that had already ended there is recorded as a poll records it.

        A read that fails leaves the cancel to go ahead (nothing could be stopped anyway),
        said in the log: had the video finished, it stays behind ``cancelled``.

        Raises:
            JobStateError: The read found the video ended at the provider (now recorded).
        """
        try:
            written = await check(job)
        except ProviderError as exc:
            logger.warning(
                "job %s: reading its video %s before the cancel failed (%s); cancelled all "
                "the same",
                job.id,
                job.remote_id,
                exc,
            )
            return
        if written is not None and written.is_terminal:
            raise JobStateError(
                job.id,
                written.status.value,
                "its video had already ended at the provider before the cancel: "
                f"the job is {written.status.value}",
            )

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job: pending ones are never sent; in-flight ones are stopped at the provider.

        When it returns, nothing more is sent for the job, and a create that was already on
        the wire has been answered, recorded and its video stopped. The job keeps its slot
        (it counts in flight) until then.

        Where the provider says when a job had already ended (``asks_first``), a job whose
        video is on record is stopped at the provider first and the cancel written after:
        a video that had finished unseen (no poll or delivery yet) is then recorded
        ``completed`` with its result, and the cancel raises ``JobStateError`` as for a job
        already finished in the ledger. Where the provider cannot cancel (``reads_first``),
        the job is read first instead, with the same outcome for a video that had ended.
        Elsewhere the cancel is written first.

        Args:
            job_id: The job.

        Returns:
            The job as cancelled.

        Raises:
            JobNotFoundError: No such job.
            JobStateError: The job had already finished (in the ledger, or at the provider).
            RepositoryError: The ledger refused the cancel (the job goes on; where the
                provider was asked first, its video may already be stopped, which its next
                status check records).
        """
        state = self.state
        state.cancelling.add(job_id)
        self.stop_sending(job_id)
        written = finished = kept = False
        announced = True
        waits = contextlib.ExitStack()
        try:
            stopped, read = await self._stop_first(job_id)
            job, cancelled = await self._cancel_in_ledger(
                job_id, stopped=stopped is not None, read=read
            )
            written = True
            if cancelled is None:
                # Cancelled by whoever read the provider's answer to our cancel first (and
                # announced there): told here by a touch, not announced twice.
                announced, done = False, job
            else:
                done = cancelled
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
                    else await self.reconciler.reconcile(job, oldest_of_several=False)
                )
                remote_id = found.remote_id if found is not None else None
            logger.info(
                "job %s %s -> cancelled (provider %s)", job.id, job.status.value, job.provider
            )
            if (
                remote_id is not None
                and remote_id != stopped
                and await self.stop_video(remote_id) == "ended"
            ):
                # Found only now (a lost create's video, reconciled): the cancel is written
                # and final, so the video stays on record with the cancelled job.
                logger.warning(
                    "job %s: its video %s had already ended at the provider (finished and "
                    "billed, or failed) before the cancel reached it; the job stays "
                    "cancelled with the video on record",
                    job.id,
                    remote_id,
                )
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
        except JobStateError as exc:
            # Unfinished in the ledger: its video had ended at the provider, and its next
            # status check records that end (it stays this engine's to poll, if it was).
            kept = not JobStatus(exc.status).is_terminal
            raise
        finally:
            waits.close()
            state.cancelling.discard(job_id)
            if written or (not kept and job_id not in state.submit_done):
                state.drop(job_id)
            if written and not (finished and announced):
                # Cancelled in the ledger, but no announcement comes from here (what followed
                # failed: a read refused, the caller gone; or the cancel was written
                # elsewhere): its waiters look again now.
                self.events.touch(job_id)
            if not written:
                # The ledger refused the cancel (locked, down), so the job goes on; unless a
                # create of it is on the wire (it carries on here), it was taken out of
                # this engine's hands: give its lease back, so a claim takes it up again.
                await self.ledger.release_unheld(job_id)
            state.wake_dispatch.set()
            state.wake_poll.set()
        if announced:
            await self.events.emit("cancelled", done)
        return done
