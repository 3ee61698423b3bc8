"""Submission: send a job's create once, and record its answer before anything else.

A job moves from pending to processing in the ledger before its create is sent; the
answer's remote id is recorded before the job is polled. A create whose outcome is unknown
is reconciled (``reconcile.py``) before it is ever sent again, and then only with the same
``Idempotency-Key``. Failures are sorted: the provider's refusals fail the job or retry it,
a ledger that refuses a write delays it, and a bug-like error fails it after a few tries.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import anyio
import attrs

from .._core.clock import Clock, now_utc
from .._core.errors import (
    AmbiguousSubmissionError,
    AuthenticationError,
    ConflictError,
    JobNotFoundError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    RepositoryError,
)
from .._core.events import EventBus
from .._core.models import Job, JobError, JobStatus
from .._core.retry import create_never_happened, create_waits
from .._core.settings import Settings
from ..repositories.base import JobRepository
from ..transports.base import RemoteJob, Transport
from .ledger import Ledger, Write, cost_changes
from .pacer import Pacer
from .polling import Poller
from .reconcile import Reconciler
from .state import EngineState, Tracked

__all__ = ["REMIX_OF", "Submitter", "idempotency_key"]

logger = logging.getLogger("soravideo")

# Metadata key that marks a job as a remix: the value is the source video's remote id.
REMIX_OF = "soravideo.remix_of"
# Writes of a remote id the ledger refused (locked, down) before the id is kept in memory only.
_RECORD_ATTEMPTS = 5
# Real seconds a stopping engine gives its last look at a video whose answer the ledger
# refused (Submitter._refused).
_LAST_LOOK = 2.0


def idempotency_key(job_id: str) -> str:
    """Return the idempotency key of a job's create: the same on every attempt and process."""
    return f"soravideo-{job_id}"


def _job_error(exc: ProviderError, *, retryable: bool) -> JobError:
    code = exc.code or (f"http_{exc.status_code}" if exc.status_code else type(exc).__name__)
    return JobError(code=code, message=exc.message, retryable=retryable)


class Submitter:
    """Send creates and record their answers.

    Args:
        state: The engine's jobs (``submitting``, ``unsent``, ``on_the_wire`` are this
            part's; a job it gives up on is queued again).
        ledger: Where each step is written first.
        pacer: The engine's pace (the gate, 429 pauses, the limit, backoffs).
        reconciler: Finds what an unanswered create made.
        poller: Takes the jobs the provider accepted.
        transport: The provider.
        repository: The ledger itself (who owns a remote id).
        settings: The client's settings (``max_retries``).
        clock: The engine's clock.
        events: Where ``submitted`` is announced.
    """

    def __init__(
        self,
        *,
        state: EngineState,
        ledger: Ledger,
        pacer: Pacer,
        reconciler: Reconciler,
        poller: Poller,
        transport: Transport,
        repository: JobRepository,
        settings: Settings,
        clock: Clock,
        events: EventBus,
    ) -> None:
        self.state = state
        self.ledger = ledger
        self.pacer = pacer
        self.reconciler = reconciler
        self.poller = poller
        self.transport = transport
        self.repository = repository
        self.settings = settings
        self.clock = clock
        self.events = events

    async def submit(self, job: Job) -> None:
        """Drive one job (already in ``state.submitting``) through its create.

        Never raises: whatever goes wrong queues the job again or fails it.
        """
        state = self.state
        try:
            await self._submit_once(job)
            state.unexpected.pop(job.id, None)
            state.ledger_refusals.pop(job.id, None)
        except RepositoryError as exc:
            # The ledger refused a write (locked, down): not the job's fault, so it does not
            # count towards failing it. Tried again after a backoff; a create already sent
            # is reconciled then, never sent blind.
            await self.ledger_refused(state.submitting.pop(job.id, job), exc)
        except Exception as exc:
            await self._unexpected_error(state.submitting.pop(job.id, job), exc)
        finally:
            state.answered(job.id)

    async def ledger_refused(self, job: Job, exc: RepositoryError) -> None:
        """Queue a job again, after a backoff, because the ledger refused one of its writes."""
        refusals = self.state.ledger_refusals[job.id] = (
            self.state.ledger_refusals.get(job.id, 0) + 1
        )
        delay = self.pacer.backoff(refusals)
        logger.warning(
            "job %s: the ledger refused a write (%s); trying again in %.1f s", job.id, exc, delay
        )
        self.state.enqueue(job, at=self.clock.time() + delay)
        self.state.wake_dispatch.set()

    async def _unexpected_error(self, job: Job, exc: Exception) -> None:
        """Retry a create that failed with a bug-like error (not a provider's answer) a few
        times, then fail the job with that error rather than loop on it forever."""
        unexpected = self.state.unexpected
        failures = unexpected[job.id] = unexpected.get(job.id, 0) + 1
        if failures <= self.settings.max_retries:
            delay = self.pacer.backoff(failures)
            logger.exception(
                "unexpected error while submitting job %s (attempt %d of %d); retrying in %.1f s",
                job.id,
                failures,
                self.settings.max_retries + 1,
                delay,
            )
            self.state.enqueue(job, at=self.clock.time() + delay)
            return
        logger.exception("unexpected error while submitting job %s; failing it", job.id)
        del unexpected[job.id]
        error = JobError(
            code="unexpected_error",
            message=f"{type(exc).__name__}: {exc}",
            retryable=False,
        )
        try:
            await self.ledger.finish(job, JobStatus.FAILED, error=error)
        except RepositoryError as refused:
            # The ledger is down too: queued again (still leased by us), so the failure is
            # written once the ledger takes writes, instead of the job sitting on our lease.
            unexpected[job.id] = self.settings.max_retries
            await self.ledger_refused(job, refused)

    async def _submit_once(self, job: Job) -> None:
        state = self.state
        fresh = job.status is JobStatus.PENDING
        try:
            if fresh:
                # A first create: whatever an earlier run knew of the job's creates is moot.
                state.never_sent.discard(job.id)
                job = await self.ledger.write(
                    job,
                    JobStatus.PENDING,
                    status=JobStatus.PROCESSING,
                    started_at=now_utc(self.clock),
                    attempts=job.attempts + 1,
                )
                logger.info("job %s pending -> processing (provider %s)", job.id, job.provider)
            elif job.id in state.never_sent:
                state.never_sent.discard(job.id)
                job = await self.ledger.write(job, JobStatus.PROCESSING, attempts=job.attempts + 1)
            else:
                # A remote id this process holds but could not write is the answer itself.
                adopted = state.unrecorded.get(job.id) or await self.reconciler.reconcile(job)
                if adopted is not None:
                    await self._record_remote(job, adopted)
                    return
                caps = self.transport.capabilities
                # A list that shows no such job is no proof either (the create may land
                # later): without deduplication, never re-send.
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
                    await self.ledger.finish(job, JobStatus.FAILED, error=error)
                    return
                job = await self.ledger.write(job, JobStatus.PROCESSING, attempts=job.attempts + 1)
        except (ConflictError, JobNotFoundError):
            await self.ledger.forget(job.id)
            return
        state.submitting[job.id] = job
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
            state.never_sent.add(job.id)
            self.pacer.limit.on_rate_limited(len(state.tracked))
            state.submitting.pop(job.id, None)
            state.enqueue(job, at=self.pacer.paused_until)
            return
        except AmbiguousSubmissionError as exc:
            logger.warning("job %s: create outcome unknown (%s); will reconcile", job.id, exc)
            await self._retry_or_fail(job, exc)
            return
        except (AuthenticationError, PermissionDeniedError) as exc:
            await self.ledger.finish(job, JobStatus.FAILED, error=_job_error(exc, retryable=False))
            return
        except (ProviderUnavailableError, ProviderConnectionError) as exc:
            await self._retry_or_fail(job, exc)
            return
        except ProviderError as exc:
            await self.ledger.finish(job, JobStatus.FAILED, error=_job_error(exc, retryable=False))
            return
        # Jobs the provider has accepted (submissions still on the wire are not proof).
        self.pacer.limit.on_success(len(state.tracked) + 1)
        if remote.queue_position:  # [W2-5 fal] queued, not refused: back-pressure too
            self.pacer.limit.on_queued(len(state.tracked) + 1, remote.queue_position)
        await self._record_remote(job, remote)

    async def _send_create(self, job: Job, *, fresh: bool) -> RemoteJob | None:
        """Send the job's create and return the answer; ``None`` when it was not sent (a
        cancel or the engine's stop came first) or its answer never came (engine stopped).

        ``fresh``: this attempt moved the job from pending, so nothing was sent for it yet.
        """
        state = self.state
        try:
            with anyio.CancelScope() as waiting:
                state.unsent[job.id] = waiting
                try:
                    await self.pacer.gate()
                finally:
                    state.unsent.pop(job.id, None)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._unsend(job, fresh=fresh)
            raise
        if waiting.cancel_called or state.blocked(job):
            # Not sent: the cancel under way writes the job off itself.
            await self.ledger.forget(job.id)
            return None
        if state.stopping_at is not None:
            await self._unsend(job, fresh=fresh)
            return None
        # On the wire: shielded, so that a stopping engine (close, a worker's stop) does not
        # throw away an answer that may carry a remote id (a video made, and billed). The
        # engine's stop bounds the wait at close_timeout (the scope's deadline).
        with create_waits() as cut_while_waiting, anyio.CancelScope(shield=True) as wire:
            state.on_the_wire[job.id] = wire
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
                    self.pacer.pause(exc.retry_after)
                    raise
            finally:
                state.on_the_wire.pop(job.id, None)
        if cut_while_waiting():
            # close_timeout passed while the transport waited to send the create again
            # (after a 429, say): nothing was made. The stop writes it back to pending.
            logger.info("job %s: create not sent before close_timeout; pending again", job.id)
            state.never_sent.add(job.id)
        else:
            # close_timeout passed without an answer: the job stays processing without a
            # remote id, resumable (the next run reconciles it); never failed here.
            logger.warning(
                "job %s: create unanswered after close_timeout; left to the next run", job.id
            )
        state.submitting.pop(job.id, None)
        state.enqueue(job)  # queued, so that the engine's stop gives its lease back
        return None

    async def _unsend(self, job: Job, *, fresh: bool) -> None:
        """Hand back a job whose create the stopping engine did not send: pending again
        when nothing was ever sent for it (it is not an ambiguous create), and queued, so
        that the engine's stop gives its lease back."""
        self.state.submitting.pop(job.id, None)
        if fresh:
            with contextlib.suppress(RepositoryError):
                job = await self.ledger.write(
                    job,
                    JobStatus.PROCESSING,
                    status=JobStatus.PENDING,
                    started_at=None,
                    attempts=job.attempts - 1,
                )
        self.state.enqueue(job)

    async def unsend_queued(self) -> None:
        """Write the queued jobs whose last create certainly never happened (a 429, a
        refused connection, a 503) back to pending, before the stopping engine gives their
        leases back.

        ``never_sent`` lives in this process only: left processing without a remote id,
        such a job looks like an ambiguous create to whoever takes it up next (another
        process, or this client's next run), which reconciles it and, on a provider that
        cannot deduplicate creates, fails it as ``ambiguous_submission`` although nothing
        was ever made. Pending, it is sent once, as a new job is. A write the ledger
        refuses leaves the job as it was (processing: reconciled then).

        Every queued job's mark is dropped: its lease goes back now, and whoever takes it up
        next (this engine included) judges its creates from the ledger. A mark kept past
        that would re-send, unreconciled, a create someone else made in between.
        """
        state = self.state
        queued = state.queue.jobs()
        writes = [
            Write(job, JobStatus.PROCESSING, {"status": JobStatus.PENDING, "started_at": None})
            for job in queued
            if job.id in state.never_sent
            and job.status is JobStatus.PROCESSING
            and job.remote_id is None
        ]
        if writes:
            await self.ledger.write_many(writes)
        for job in queued:
            state.never_sent.discard(job.id)

    async def _retry_or_fail(self, job: Job, exc: ProviderError) -> None:
        self.state.submitting.pop(job.id, None)
        if create_never_happened(exc):
            self.state.never_sent.add(job.id)
        if job.attempts > self.settings.max_retries:
            await self.ledger.finish(job, JobStatus.FAILED, error=_job_error(exc, retryable=True))
            return
        delay = self.pacer.backoff(job.attempts)
        logger.info(
            "job %s: attempt %d failed (%s); retrying in %.1f s (provider %s)",
            job.id,
            job.attempts,
            type(exc).__name__,
            delay,
            job.provider,
        )
        self.state.enqueue(job, at=self.clock.time() + delay)
        self.state.wake_dispatch.set()

    async def _record_remote(self, job: Job, remote: RemoteJob) -> None:
        state = self.state
        self.reconciler.remember(remote.remote_id)
        # Held in memory until a ledger write has it, so that it is never thrown away while
        # this process lives (a reconciliation, a re-send, would ask the provider instead).
        state.unrecorded[job.id] = remote
        changes: dict[str, Any] = {
            "remote_id": remote.remote_id,
            "progress": remote.progress,
            "provider_status": remote.provider_status or None,
            **cost_changes(remote),
        }
        try:
            job = await self._write_remote(job, changes)
        except (ConflictError, JobNotFoundError):
            if await self._owned_elsewhere(job, remote):
                return
            # Cancelled, or taken over, while the create was on the wire. (Still counted in
            # flight until forgotten, so no other create takes its slot meanwhile; forgotten
            # also when the engine stops meanwhile, or a next run had a slot the fewer.)
            try:
                await self._refused(job.id, remote)
            finally:
                with anyio.CancelScope(shield=True):
                    await self.ledger.forget(job.id)
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
            state.submitting.pop(job.id, None)
            state.answered(job.id)
            await self.events.emit("submitted", job)
            await self.poller.apply(Tracked(job=job, observations=[], due=0.0), remote)
        else:
            # Tracked before it leaves submitting, so it never stops counting as in flight.
            self.poller.track(job, remote)
            state.submitting.pop(job.id, None)
            state.answered(job.id)
            await self.events.emit("submitted", job)

    async def _write_remote(self, job: Job, changes: dict[str, Any]) -> Job:
        """Record a create's answer, retrying (bounded, with backoff) while the ledger refuses."""
        for attempt in range(1, _RECORD_ATTEMPTS + 1):
            try:
                return await self.ledger.write(job, JobStatus.PROCESSING, **changes)
            except (ConflictError, JobNotFoundError):
                raise
            except RepositoryError as exc:
                if attempt == _RECORD_ATTEMPTS:
                    raise
                logger.warning(
                    "job %s: ledger write of its remote id failed (%s); retrying", job.id, exc
                )
                await self.clock.sleep(self.pacer.backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _refused(self, job_id: str, remote: RemoteJob) -> None:
        """See the video of a create whose answer the ledger refused to a home.

        Cancelled meanwhile: the video is put on record, and stopped. Taken over by another
        process (this one stalled past its lease): that process either finds the video
        (a provider that lists) or, unable to know, fails the job; a job failed without
        it gets the video on record, stopped. While the other process has not decided
        yet, or the ledger refuses, this one looks again, for at most ``lease_seconds``;
        a stopping engine takes one last short look. What is left undone is logged with
        the video's id.
        """
        deadline = self.clock.time() + self.settings.lease_seconds
        try:
            while not await self._settle_refused(job_id, remote):
                if self.clock.time() >= deadline or self.state.stopping_at is not None:
                    self._unrecorded(job_id, remote, "no process recorded it in time")
                    return
                await self.clock.sleep(self.settings.poll_min_interval)
        except anyio.get_cancelled_exc_class():
            settled = False
            with anyio.move_on_after(_LAST_LOOK, shield=True):
                settled = await self._settle_refused(job_id, remote)
            if not settled:
                self._unrecorded(job_id, remote, "the engine stopped first")
            raise

    def _unrecorded(self, job_id: str, remote: RemoteJob, why: str) -> None:
        logger.error(
            "job %s: its create made %s, which the ledger does not hold (%s); check the "
            "provider for it",
            job_id,
            remote.remote_id,
            why,
        )

    async def _settle_refused(self, job_id: str, remote: RemoteJob) -> bool:
        """One look for `_refused`: ``True`` once nothing more is to be done for the video,
        ``False`` to look again (undecided elsewhere, the ledger refused, the job changed)."""
        try:
            current = await self.ledger.read(job_id)
            if current is None or current.remote_id == remote.remote_id:
                return True
            if current.remote_id is not None:
                # The job holds another video: nothing will ever fetch this one.
                logger.warning(
                    "job %s holds %s; stopping %s, which its create had also made",
                    job_id,
                    current.remote_id,
                    remote.remote_id,
                )
                await self.ledger.stop_video(remote.remote_id)
                return True
            if current.status is JobStatus.CANCELLED:
                # Keep the video on record: the provider did make it (and it is stopped).
                await self.ledger.write(
                    current,
                    JobStatus.CANCELLED,
                    guarded=False,
                    remote_id=remote.remote_id,
                    **cost_changes(remote),
                )
            elif current.status is JobStatus.FAILED:
                await self._made_after_failing(current, remote)
            else:
                return False  # taken over, not decided yet
        except (ConflictError, JobNotFoundError):
            return False  # changed meanwhile: look again
        except RepositoryError as exc:
            logger.warning("job %s: the ledger refused (%s); looking again", job_id, exc)
            return False
        await self.ledger.stop_video(remote.remote_id)
        return True

    async def _made_after_failing(self, job: Job, remote: RemoteJob) -> None:
        """Record a video whose job failed elsewhere without knowing of it (stopped next).

        This process sent the create, then stalled past its lease before recording the
        answer. Another process took the job over, could not find out whether the create
        had been made (a provider that can neither list nor deduplicate) and failed it.
        Nothing will ever fetch this video: it is put on the failed job's record, with
        what it costs, and stopped where the provider can cancel, so no video is left
        billed and unowned.

        Raises:
            ConflictError: The job changed meanwhile.
            RepositoryError: The ledger refused the write.
        """
        logger.warning(
            "job %s: its create had made %s, answered after the job failed elsewhere (this "
            "process stalled past its lease); stopping that video",
            job.id,
            remote.remote_id,
        )
        said = job.error.message if job.error is not None else "failed"
        stopped = (
            "soravideo asked the provider to stop it"
            if self.transport.capabilities.can_cancel
            else f"{self.transport.name} cannot cancel it: it goes on, and is billed"
        )
        error = JobError(
            code=job.error.code if job.error is not None else "ambiguous_submission",
            message=(
                f"{said} (it had: the provider made {remote.remote_id}, answered to a process "
                f"that stalled past its lease after the job had failed; {stopped})"
            ),
            retryable=job.error.retryable if job.error is not None else True,
        )
        await self.ledger.write(
            job,
            JobStatus.FAILED,
            guarded=False,
            remote_id=remote.remote_id,
            error=error,
            **cost_changes(remote),  # what the provider bills for it
        )

    async def _owned_elsewhere(self, job: Job, remote: RemoteJob) -> bool:
        """Handle a remote id the ledger refused because another job owns it.

        Another process recorded (or adopted) that video between our reconciliation and our
        write. The job itself is untouched in the ledger and still ours: it is neither lost
        nor failed, but queued again to reconcile (now seeing the owner) and, failing that,
        to re-send its create with the same ``Idempotency-Key``. A provider that answers
        every re-send with a video another job owns fails the job after ``max_retries``.
        """
        current = await self.ledger.read(job.id)
        if current is None or current.status is not job.status or current.remote_id is not None:
            return False
        owner = await self.repository.find_job_by_remote_id(job.provider, remote.remote_id)
        if owner is None or owner.id == job.id:
            return False
        self.state.submitting.pop(job.id, None)
        # Not this job's answer after all: the next attempt must not adopt it again.
        self.state.unrecorded.pop(job.id, None)
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
            await self.ledger.finish(job, JobStatus.FAILED, error=error)
        else:
            self.state.enqueue(job, at=self.clock.time() + self.pacer.backoff(job.attempts))
            self.state.wake_dispatch.set()
        return True
