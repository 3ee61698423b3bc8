"""The engine's queue: jobs claimed and waiting to be sent, in the order they go.

A job leaves it when it is picked to be sent (``JobQueue.pop_next``), when its cancel
begins, or when the engine stops (the engine gives those leases back). Nothing here does
I/O or reads a clock: the caller passes the time and what it knows of the jobs in flight.

Every operation costs O(log n) however many jobs wait ([W2-4]): one heap a batch (and
one for single jobs) in send order, a heap of retry times, and entries dropped lazily (a
removed or re-queued job's old entry is skipped when it reaches the top).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping

from .._core.models import Job

__all__ = ["JobQueue"]

# (-priority rank, created_at, sequence, job id): the send order within one batch.
_Entry = tuple[int, float, int, str]
# Single jobs (no batch) share one heap under this key.
_NO_BATCH = ""


class JobQueue:
    """Claimed jobs waiting to be sent: highest priority first, then the oldest.

    A job may wait for a retry (``at``): it is not picked before that time.
    """

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        # The sequence number of each queued job's live entry (older entries are stale).
        self._live: dict[str, int] = {}
        self._ready: dict[str, list[_Entry]] = {}
        self._waiting: list[tuple[float, int, str]] = []
        self._retry_at: dict[str, float] = {}
        self._per_batch: dict[str, int] = {}
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

    def count(self, batch_id: str) -> int:
        """How many queued jobs belong to a batch."""
        return self._per_batch.get(batch_id, 0)

    def push(self, job: Job, *, at: float | None = None) -> None:
        """Queue a job (again), to be sent no sooner than ``at`` when given.

        A job handed back (``clear``) and queued again still waits for its retry.

        Args:
            job: The job, as last written to the ledger.
            at: The clock time of its retry, if it waits for one.
        """
        if job.id not in self._jobs and job.batch_id:
            self._per_batch[job.batch_id] = self._per_batch.get(job.batch_id, 0) + 1
        self._jobs[job.id] = job
        if at is not None:
            self._retry_at[job.id] = at
        self._seq += 1
        self._live[job.id] = self._seq
        retry = self._retry_at.get(job.id)
        if retry is not None:
            heapq.heappush(self._waiting, (retry, self._seq, job.id))
        else:
            self._make_ready(job, self._seq)

    def _make_ready(self, job: Job, seq: int) -> None:
        entry = (-job.priority.rank, job.created_at.timestamp(), seq, job.id)
        heapq.heappush(self._ready.setdefault(job.batch_id or _NO_BATCH, []), entry)

    def _is_live(self, job_id: str, seq: int) -> bool:
        return self._live.get(job_id) == seq

    def remove(self, job_id: str) -> bool:
        """Take a job out of the queue; return whether it was there."""
        self._retry_at.pop(job_id, None)
        job = self._jobs.pop(job_id, None)
        if job is None:
            return False
        del self._live[job_id]  # its heap entries are now stale, dropped when reached
        if job.batch_id:
            left = self._per_batch[job.batch_id] - 1
            if left:
                self._per_batch[job.batch_id] = left
            else:
                del self._per_batch[job.batch_id]
        return True

    def clear(self) -> list[str]:
        """Empty the queue (the engine stops, or gives its leases back); return the ids it
        held.

        Retry times are kept: a job handed back and claimed again by the same engine (a
        waiting call drives it, stops, then drives it again) still waits for its retry.
        """
        ids = list(self._jobs)
        self._jobs.clear()
        self._live.clear()
        self._ready.clear()
        self._waiting.clear()
        self._per_batch.clear()
        return ids

    def _release_due(self, now: float) -> None:
        """Move the jobs whose retry time has come to their batch's ready heap."""
        waiting = self._waiting
        while waiting and waiting[0][0] <= now:
            _, seq, job_id = heapq.heappop(waiting)
            if self._is_live(job_id, seq):
                self._make_ready(self._jobs[job_id], seq)

    def next_retry(self, now: float) -> float | None:
        """Return the earliest retry time after ``now``, if a job waits for one."""
        self._release_due(now)
        waiting = self._waiting
        while waiting and not self._is_live(waiting[0][2], waiting[0][1]):
            heapq.heappop(waiting)
        return waiting[0][0] if waiting else None

    def _best(self, heap: list[_Entry], blocked: Callable[[Job], bool]) -> _Entry | None:
        """Return the first entry of ``heap`` that may go, dropping stale ones on the way.

        Blocked jobs (their cancel has begun: rare, and soon removed) are stepped over and
        put back.
        """
        skipped: list[_Entry] = []
        found: _Entry | None = None
        while heap:
            entry = heap[0]
            if not self._is_live(entry[3], entry[2]):
                heapq.heappop(heap)
                continue
            if blocked(self._jobs[entry[3]]):
                skipped.append(heapq.heappop(heap))
                continue
            found = entry
            break
        for entry in skipped:
            heapq.heappush(heap, entry)
        return found

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
        self._release_due(now)
        best: tuple[int, int, float, int] | None = None
        chosen: str | None = None
        for batch_id, heap in list(self._ready.items()):
            in_batch = running(batch_id) if batch_id else 0
            cap = caps.get(batch_id, 0) if batch_id else 0
            if cap and in_batch >= cap:
                continue
            entry = self._best(heap, blocked)
            if not heap:
                del self._ready[batch_id]
            if entry is None:
                continue
            rank, created, seq, job_id = entry
            key = (rank, in_batch, created, seq)
            if best is None or key < best:
                best, chosen = key, job_id
        if chosen is None:
            return None
        job = self._jobs[chosen]
        self.remove(chosen)
        return job
