"""How fast the engine asks the provider, at run time: the pause a 429 imposes on every
request, the token bucket, the adaptive concurrency limit and the retry backoff.

The rules themselves (the bucket, the limit, poll delays) are pure and live in
``pacing.py``; this applies them on the engine's clock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .._core.clock import Clock
from .._core.errors import RateLimitError
from .._core.retry import RetryAfterCap
from .._core.settings import Settings
from .pacing import AdaptiveLimit, TokenBucket

__all__ = ["Pacer"]

logger = logging.getLogger("soravideo")
T = TypeVar("T")


class Pacer:
    """The engine's shared pace: every provider request goes through ``gate``.

    Args:
        settings: The client's settings (``requests_per_second``, ``max_concurrency``,
            ``max_retry_after``, ``poll_min_interval``, ``poll_max_interval``).
        clock: The engine's clock.
    """

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.limit = AdaptiveLimit(settings.max_concurrency)
        self.bucket = TokenBucket(
            settings.requests_per_second, burst=max(1.0, settings.requests_per_second)
        )
        self.paused_until = 0.0
        self._cap_retry_after = RetryAfterCap("engine")

    def paused(self) -> float | None:
        """Return when the current pause ends (clock time), or ``None`` when not paused."""
        return self.paused_until if self.paused_until > self.clock.time() else None

    async def gate(self) -> None:
        """Wait for the shared pause (after a 429) and for a token of the rate limit."""
        while True:
            now = self.clock.time()
            if now < self.paused_until:
                await self.clock.sleep(self.paused_until - now)
                continue
            wait = self.bucket.reserve(now)
            if wait > 0:
                await self.clock.sleep(wait)
            return

    def pause(self, retry_after: float | None) -> None:
        """Hold every request for the provider's ``Retry-After`` (capped at ``max_retry_after``).

        Args:
            retry_after: The provider's wait in seconds (``None``: ``poll_min_interval``).
        """
        delay = retry_after if retry_after is not None else self.settings.poll_min_interval
        delay = self._cap_retry_after(delay, self.settings.max_retry_after) or 0.0
        self.paused_until = max(self.paused_until, self.clock.time() + delay)
        logger.info("provider rate limit: pausing requests for %.1f s", delay)

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Make one provider request through the gate; a 429 pauses every request.

        Raises:
            RateLimitError: The provider's 429 (after the pause is set).
        """
        await self.gate()
        try:
            return await fn(*args, **kwargs)
        except RateLimitError as exc:
            self.pause(exc.retry_after)
            raise

    def backoff(self, attempt: int) -> float:
        """Return the wait before retry number ``attempt`` (1, 2, …): doubling from
        ``poll_min_interval``, at most ``poll_max_interval``."""
        base = self.settings.poll_min_interval
        # The exponent is capped: a count of failures that runs for hours (a provider down,
        # a ledger refusing) would otherwise overflow a float (2 ** 1024).
        exponent = min(max(0, attempt - 1), 64)
        return float(min(self.settings.poll_max_interval, base * 2.0**exponent))
