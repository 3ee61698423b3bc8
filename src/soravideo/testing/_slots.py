"""A provider's concurrency slots, as the fakes simulate them (first come, first served).

The fakes that cap how many jobs run at once (``max_concurrent``) replay their jobs in
arrival order through one ``Slots`` (or one per model) to find when each starts::

    slots = Slots(limit)
    for job in sorted(jobs, key=arrival):
        start = slots.start(job.created)  # when a slot is free for it
        ...
        slots.hold_until(stop)  # the slot frees when the job stops

With no limit a job starts when it arrives and nothing is held.
"""

from __future__ import annotations

import heapq

__all__ = ["Slots"]


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
