"""The engine's queue: jobs claimed and waiting to be sent, in the order they go.

A job leaves it when it is picked to be sent (``JobQueue.pop_next``), when its cancel
begins, or when the engine stops (the engine gives those leases back). Nothing here does
I/O or reads a clock: the caller passes the time and what it knows of the jobs in flight.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping

from .._core.models import Job

__all__ = ["JobQueue"]


class JobQueue:
    """Claimed jobs waiting to be sent: highest priority first, then the oldest.

    A job may wait for a retry (``at``): it is not picked before that time.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, float, int, str]] = []
        self._jobs: dict[str, Job] = {}
        self._retry_at: dict[str, float] = {}
        self._seq = 0

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[str]:
        """The ids of the queued jobs, in the order they were queued."""
        return iter(list(self._jobs))

    def jobs(self) -> list[Job]:
        """Return the queued jobs, in the order they were queued."""
        return list(self._jobs.values())

    def push(self, job: Job, *, at: float | None = None) -> None:
        """Queue a job (again), to be sent no sooner than ``at`` when given.

        Args:
            job: The job, as last written to the ledger.
            at: The clock time of its retry, if it waits for one.
        """
        self._jobs[job.id] = job
        if at is not None:
            self._retry_at[job.id] = at
        self._seq += 1
        heapq.heappush(
            self._heap, (-job.priority.rank, job.created_at.timestamp(), self._seq, job.id)
        )

    def remove(self, job_id: str) -> bool:
        """Take a job out of the queue; return whether it was there."""
        self._retry_at.pop(job_id, None)
        if self._jobs.pop(job_id, None) is None:
            return False
        self._heap = [entry for entry in self._heap if entry[3] != job_id]
        heapq.heapify(self._heap)
        return True

    def clear(self) -> list[str]:
        """Empty the queue (the engine stops, or gives its leases back); return the ids it
        held.

        Retry times are kept: a job handed back and claimed again by the same engine (a
        waiting call drives it, stops, then drives it again) still waits for its retry.
        """
        ids = list(self._jobs)
        self._heap.clear()
        self._jobs.clear()
        return ids

    def next_retry(self, now: float) -> float | None:
        """Return the earliest retry time after ``now``, if a job waits for one."""
        later = [at for at in self._retry_at.values() if at > now]
        return min(later) if later else None

    def pop_next(
        self,
        now: float,
        *,
        blocked: Callable[[Job], bool],
        running: Callable[[str], int],
        caps: Mapping[str, int],
    ) -> Job | None:
        """Pick the next job to send and take it out of the queue.

        Highest priority first, then the batch with the fewest jobs in flight (fair
        sharing), then the oldest; skipping jobs that wait for a retry, jobs ``blocked``
        (their cancel has begun) and jobs whose batch is at its own limit.

        Args:
            now: The current clock time (retries due by then may go).
            blocked: Whether a job must not be sent (a cancel of it or its batch began).
            running: How many jobs of a batch are in flight.
            caps: Each batch's own limit of jobs in flight (0 or absent: none).

        Returns:
            The job, or ``None`` when none may go now.
        """
        best: tuple[int, int, float, int] | None = None
        chosen: Job | None = None
        for rank, created, seq, job_id in self._heap:
            job = self._jobs.get(job_id)
            if job is None or self._retry_at.get(job_id, 0.0) > now or blocked(job):
                continue
            in_batch = running(job.batch_id) if job.batch_id else 0
            cap = caps.get(job.batch_id or "", 0)
            if cap and in_batch >= cap:
                continue
            key = (rank, in_batch, created, seq)
            if best is None or key < best:
                best, chosen = key, job
        if chosen is not None:
            self.remove(chosen.id)
        return chosen
