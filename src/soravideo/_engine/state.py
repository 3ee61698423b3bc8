"""What the engine's parts share: which jobs it holds and where each one is.

The runner, the claims, the submissions, the polling, the leases and the cancels each keep
their own logic; the jobs they pass between them live here, in plain public fields, so no
part reaches into another. Nothing here does I/O.
"""

from __future__ import annotations

import anyio
import attrs

from .._core.models import Job
from ..transports.base import RemoteJob
from .pacing import Observation
from .queue import JobQueue

__all__ = ["HELD", "EngineState", "Tracked", "Wake"]

# The limit of a batch being started (``JobRunner.hold_batch``): none of its jobs is claimed
# for it or sent until its own limit replaces this one.
HELD = -1


@attrs.define
class Tracked:
    """A job sent and accepted by the provider, polled until it ends."""

    job: Job
    observations: list[Observation]
    due: float
    hint: float | None = None
    failures: int = 0
    # Answers in a row that the provider no longer knows the job (404s), apart from
    # failures: a job is failed remote_missing on the third, never for other hiccups.
    missing: int = 0
    # Created with a webhook ([W2-7]): the provider pushes its end, so polling is only the
    # safety net, every poll_max_interval.
    pushed: bool = False


class Wake:
    """A wake-up call that one loop waits for and any part may give.

    The loop re-arms it (``rearm``) before it looks for work, so a call given while it
    looks is not lost.
    """

    def __init__(self) -> None:
        self.event = anyio.Event()

    def set(self) -> None:
        """Wake the loop (now, or as soon as it waits)."""
        self.event.set()

    def rearm(self) -> anyio.Event:
        """Start a new round: return the event the loop waits on until the next call.

        An event not set yet serves the new round as well as a new one would (the
        dispatcher re-arms once a job it sends: no event made for nothing).
        """
        if self.event.is_set():
            self.event = anyio.Event()
        return self.event


class EngineState:
    """The jobs one engine holds, and the flags its loops share.

    A job is held while it is queued (claimed, not sent), submitting (its create under
    way) or tracked (accepted, polled); the three never overlap for long (a job is tracked
    before it leaves ``submitting``, so it never stops counting as in flight).
    """

    def __init__(self) -> None:
        self.queue = JobQueue()
        self.submitting: dict[str, Job] = {}
        self.tracked: dict[str, Tracked] = {}
        # A job's submission under way: a cancel or a close waits for its end. Its event is
        # made when somebody first waits (``submit_event``), not for every job sent.
        self.submit_done: dict[str, anyio.Event | None] = {}
        # Creates not sent yet (waiting for the rate limit): a cancel stops them there.
        self.unsent: dict[str, anyio.CancelScope] = {}
        # Creates on the wire, shielded from the engine's own cancellation: a stopping
        # engine gives them until ``stopping_at`` (close_timeout) to be answered and recorded.
        self.on_the_wire: dict[str, anyio.CancelScope] = {}
        self.stopping_at: float | None = None
        # Jobs (and batches) being cancelled: nothing is sent for them any more.
        self.cancelling: set[str] = set()
        self.cancelling_batches: set[str] = set()
        # Jobs whose last create certainly did not happen (refused, 429, 503): sent again
        # as they are, with no reconciliation (which would fail them on a provider that
        # can neither list nor deduplicate).
        self.never_sent: set[str] = set()
        # Remote ids the ledger could not record yet: kept until a write of the job succeeds.
        self.unrecorded: dict[str, RemoteJob] = {}
        # Unexpected (non-provider) errors of each job's creates, to fail it after max_retries.
        self.unexpected: dict[str, int] = {}
        # Ledger refusals (locked, down) of each job's submission, for the backoff only.
        self.ledger_refusals: dict[str, int] = {}
        # Batches processed here, with their own limit of jobs in flight (0: none; HELD:
        # being started, none sent).
        self.batch_limits: dict[str, int] = {}
        self.claim_needed = True
        self.worker_mode = False
        self.wake_dispatch = Wake()
        self.wake_poll = Wake()
        self.wake_lease = Wake()

    def holds(self, job_id: str) -> bool:
        """Whether the engine drives the job (queued, submitting or tracked)."""
        return job_id in self.queue or job_id in self.submitting or job_id in self.tracked

    def held_ids(self) -> list[str]:
        """Return the ids of every job the engine holds (and so holds the lease of)."""
        return [*self.queue, *self.submitting, *self.tracked]

    def in_flight(self, batch_id: str | None = None) -> int:
        """How many jobs are submitting or tracked (of one batch, when given)."""
        if batch_id is None:
            # O(1): the dispatcher asks before every job it sends.
            return len(self.submitting) + len(self.tracked)
        return sum(1 for j in self.submitting.values() if j.batch_id == batch_id) + sum(
            1 for t in self.tracked.values() if t.job.batch_id == batch_id
        )

    def load(self, batch_id: str) -> int:
        """How many jobs of a batch the engine holds (in flight or queued)."""
        return self.in_flight(batch_id) + self.queue.count(batch_id)

    def blocked(self, job: Job) -> bool:
        """Whether a cancel of the job (or of its batch) has begun: it is never sent then."""
        return job.id in self.cancelling or (job.batch_id or "") in self.cancelling_batches

    def enqueue(self, job: Job, *, at: float | None = None) -> None:
        """Queue a job to be sent (no sooner than ``at``, a clock time, when given)."""
        self.queue.push(job, at=at)
        self.wake_lease.set()

    def drop(self, job_id: str) -> None:
        """Stop driving a job: it ended, or it is no longer this engine's."""
        self.tracked.pop(job_id, None)
        self.submitting.pop(job_id, None)
        self.never_sent.discard(job_id)
        self.ledger_refusals.pop(job_id, None)
        self.queue.remove(job_id)

    def submit_event(self, job_id: str) -> anyio.Event | None:
        """Return the event set when the job's submission ends, or ``None`` when none runs."""
        if job_id not in self.submit_done:
            return None
        event = self.submit_done[job_id]
        if event is None:
            event = self.submit_done[job_id] = anyio.Event()
        return event

    def answered(self, job_id: str) -> None:
        """Tell a cancel or a close waiting for this job's create that it is over (before
        any callback of the job runs, which may itself cancel the job)."""
        done = self.submit_done.pop(job_id, None)
        if done is not None:
            done.set()
