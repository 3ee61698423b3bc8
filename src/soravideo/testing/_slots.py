"""A provider's concurrency slots, as the fakes simulate them (first come, first served).

The fakes that cap how many jobs run at once (``max_concurrent``) replay their jobs in
arrival order through one ``Slots`` (or one per model) to find when each starts::

    slots = Slots(limit)
    for job in sorted(jobs, key=arrival):
        start = slots.start(job.created)  # when a slot is free for it
        ...
        slots.hold_until(stop)  # the slot frees when the job stops

With no limit a job starts when it arrives and nothing is held. ``job_spans`` does that
replay for the fakes whose jobs hold a slot for their whole run; ``span_ends``,
``peak_running``, ``waited_ids`` and ``peak_overlap`` read the spans it returns.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, TypeVar

__all__ = ["Slots", "Span", "job_spans", "peak_overlap", "peak_running", "span_ends", "waited_ids"]


class Slots:
    """Slots of a provider that runs at most ``limit`` jobs at once (``None``: no limit)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._busy: list[float] = []

    def start(self, arrival: float) -> float:
        """Return when a job arriving at ``arrival`` gets a slot (taking it from the queue)."""
        if self.limit is None:
            return arrival
        while self._busy and self._busy[0] <= arrival:
            heapq.heappop(self._busy)
        if len(self._busy) >= self.limit:
            return max(arrival, heapq.heappop(self._busy))
        return arrival

    def hold_until(self, stop: float) -> None:
        """Keep a slot busy until ``stop``."""
        if self.limit is not None:
            heapq.heappush(self._busy, stop)


Span = tuple[float, float]
"""When a job held a slot: ``(start, stop)``."""


class _Slotted(Protocol):
    """A fake's job, as its slots see it."""

    @property
    def id(self) -> str: ...
    @property
    def created(self) -> float: ...
    @property
    def runtime(self) -> float: ...
    @property
    def cancelled_at(self) -> float | None: ...


_J = TypeVar("_J", bound=_Slotted)


def job_spans(
    jobs: Iterable[_J],
    limit: int | None,
    *,
    delay: float = 0.0,
    pool: Callable[[_J], str] | None = None,
) -> dict[str, Span | None]:
    """Return each job's ``(start, stop)`` in a slot, or ``None`` if it never starts.

    Jobs (given in arrival order) take the slots first come, first served, ``limit`` of
    them per pool (``pool(job)``: one pool of all jobs when ``None``); a job holds its slot
    ``delay`` plus its ``runtime``, or until it is cancelled. A job cancelled before it
    gets a slot never starts; cancelling a waiting job changes only the future.
    """
    spans: dict[str, Span | None] = {}
    pools: dict[str, Slots] = {}
    for job in jobs:
        slots = pools.setdefault(pool(job) if pool is not None else "", Slots(limit))
        start = slots.start(job.created)
        if job.cancelled_at is not None and job.cancelled_at < start:
            spans[job.id] = None
            continue
        stop = start + delay + job.runtime
        if job.cancelled_at is not None:
            stop = min(stop, job.cancelled_at)
        spans[job.id] = (start, stop)
        slots.hold_until(stop)
    return spans


def span_ends(spans: Mapping[str, Span | None], now: float) -> list[float]:
    """Return when each job holding a slot past ``now`` will stop."""
    return [span[1] for span in spans.values() if span is not None and span[1] > now]


def peak_running(spans: Mapping[str, Span | None], now: float) -> int:
    """Return the most jobs that held a slot at once, up to ``now``."""
    events: list[tuple[float, int]] = []
    for span in spans.values():
        if span is None or span[0] > now:
            continue
        events.append((span[0], 1))
        if span[1] <= now:
            events.append((span[1], -1))
    return peak_overlap(events)


def waited_ids(jobs: Iterable[_Slotted], spans: Mapping[str, Span | None]) -> list[str]:
    """Return the ids of jobs that waited for a slot (or wait still)."""
    waited = []
    for job in jobs:
        span = spans[job.id]
        if span is None or span[0] > job.created:
            waited.append(job.id)
    return waited


def peak_overlap(events: Iterable[tuple[float, int]]) -> int:
    """Return the most intervals open at once, from ``(time, +1)`` starts and ``(time, -1)``
    ends; at equal times an end counts first (a slot freed can be reused at once)."""
    peak = current = 0
    for _, delta in sorted(events):
        current += delta
        peak = max(peak, current)
    return peak
