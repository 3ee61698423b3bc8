"""Pure decisions of the runner: when to poll next, how many jobs to run, how fast to ask.

Nothing here does I/O or reads a clock: every function takes the time it needs, so each
rule is tested by a table and by hypothesis (``tests/test_policy.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs

__all__ = ["AdaptiveLimit", "Observation", "TokenBucket", "next_poll_delay"]

# Poll at most this late after the estimated completion, as a share of the generation time.
_LATENESS_SHARE = 0.04


Observation = tuple[float, int]
"""One look at a job: when (clock seconds) and how far it was (0–100), as ``(at, progress)``.

A plain tuple of two numbers, which the garbage collector stops tracking at its first look
(a named tuple or a class it tracks for good): a job keeps every reading while it runs,
and with ten thousand jobs in flight each tracked reading reached the old generation and
added to every full collection ([W2-4]).
"""


def next_poll_delay(
    observations: Sequence[Observation],
    now: float,
    *,
    min_interval: float,
    max_interval: float,
    hint: float | None = None,
) -> float:
    """Return how long to wait before asking about a job again.

    The first observation is the moment the job was submitted (progress 0). While the job
    shows no progress, the wait doubles with the time elapsed (1 s, 2 s, 4 s …). Once it
    shows progress, the rate since the last zero reading brackets the completion time
    between ``eta_low`` and ``eta_high`` (progress is a whole number, so each reading is
    only known to ±1 %). The next poll goes at ``eta_high`` when that is at most a few
    percent of the generation time after ``eta_low``, and otherwise just after ``eta_low``
    to narrow the bracket: few requests, and a finished video is seen within about 4 % of
    its generation time.

    Args:
        observations: Readings so far, ``(at, progress)``, oldest first (at least one).
        now: The current time on the same clock.
        min_interval: Never sooner than this (seconds).
        max_interval: Never later than this (seconds), unless the provider's hint says so.
        hint: The provider's own "ask again in" hint (seconds), honoured as a minimum.

    Returns:
        Seconds to wait, within ``[min_interval, max(max_interval, hint)]``.
    """
    if not observations:
        raise ValueError("at least one observation is needed")
    first_at = observations[0][0]
    last_at, last_progress = observations[-1]
    anchor_at = first_at  # when the job last showed no progress
    for at, progress in observations:
        if progress <= 0:
            anchor_at = at
    if last_progress <= 0 or last_at <= anchor_at:
        target = now + max(now - first_at, min_interval)
    else:
        elapsed = last_at - anchor_at
        done = min(last_progress, 100)
        rate_high = (done + 1) / elapsed
        rate_low = max(done - 1, 0) / elapsed
        eta_low = last_at + max(100 - done - 1, 0) / rate_high
        eta_high = last_at + (100 - done) / rate_low if rate_low > 0 else math.inf
        lateness = max(min_interval, _LATENESS_SHARE * (eta_low - anchor_at))
        target = min(eta_high, eta_low + lateness)
    delay = min(max(target - now, min_interval), max_interval)
    if hint is not None and hint > delay:
        delay = hint
    return delay


@attrs.define
class AdaptiveLimit:
    """How many generations may be in flight: shrinks on 429, grows back one at a time.

    On a 429 the limit halves, but never below the number of jobs the provider has just
    shown it accepts (``in_flight``): halving below that would leave paid-for capacity idle.
    Each accepted submission that fills it grows it by one, never above ``maximum``.
    """

    maximum: int
    current: int = attrs.field()

    @current.default
    def _start_at_maximum(self) -> int:
        return self.maximum

    def on_rate_limited(self, in_flight: int) -> int:
        """Shrink after a 429 while ``in_flight`` jobs were accepted; return the new limit."""
        self.current = max(1, min(self.maximum, max(self.current // 2, in_flight)))
        return self.current

    def on_queued(self, in_flight: int, ahead: int) -> int:
        """Shrink when the provider queues our work instead of refusing it (fal).

        A job reported waiting with ``ahead`` requests before it in the provider's queue
        shows that at least ``ahead`` of the ``in_flight`` jobs are not running either:
        sending more would only lengthen that queue. The limit drops to what runs plus
        one kept waiting for the next free slot (never below 1); ``ahead`` of 0 (next in
        line, as a fresh request is while a runner starts) says nothing. Returns the limit.
        """
        if ahead >= 1:
            self.current = max(1, min(self.current, in_flight - ahead))
        return self.current

    def on_success(self, in_flight: int) -> int:
        """Grow by one after an accepted submission that filled the limit; return the limit.

        A limit that is not reached tells nothing about the provider, so it does not grow.
        """
        if in_flight >= self.current:
            self.current = min(self.maximum, self.current + 1)
        return self.current


@attrs.define
class TokenBucket:
    """A token bucket: ``rate`` tokens a second, at most ``burst`` saved up.

    ``reserve(now)`` takes a token and returns how long the caller must wait before
    using it (0 when one was available); reservations queue fairly in call order.
    """

    rate: float
    burst: float = 1.0
    tokens: float = attrs.field(init=False)
    updated: float | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.tokens = self.burst

    def reserve(self, now: float) -> float:
        """Take one token at ``now``; return the wait before it may be used."""
        if self.updated is not None and now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = max(now, self.updated or now)
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate
