"""Pacer alone: the 429 pause every request waits for, the token bucket, the backoff."""

from __future__ import annotations

import anyio
import pytest

import soravideo as sv
from soravideo._engine.pacer import Pacer

pytestmark = pytest.mark.anyio


async def passes_gate(pacer: Pacer, clock: sv.ManualClock, after: float) -> bool:
    """Whether a request waiting at the gate goes through once ``after`` seconds pass."""
    went = anyio.Event()

    async def request() -> None:
        await pacer.gate()
        went.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(request)
        await anyio.wait_all_tasks_blocked()
        early = went.is_set()
        clock.advance(after)
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    return went.is_set() and not early


async def test_a_429_pauses_every_request_for_its_retry_after_capped() -> None:
    clock = sv.ManualClock(start=0.0)
    pacer = Pacer(sv.Settings(max_retry_after=30), clock)
    assert pacer.paused() is None
    pacer.pause(1e9)  # a provider's absurd Retry-After
    assert pacer.paused() == 30
    pacer.pause(5)  # a shorter pause never cuts a longer one short
    assert pacer.paused() == 30
    assert await passes_gate(pacer, clock, after=30)
    assert pacer.paused() is None


async def test_call_pauses_on_a_rate_limit_and_raises_it() -> None:
    clock = sv.ManualClock(start=0.0)
    pacer = Pacer(sv.Settings(), clock)

    async def limited() -> None:
        raise sv.RateLimitError("slow down", status_code=429, retry_after=7)

    with pytest.raises(sv.RateLimitError):
        await pacer.call(limited)
    assert pacer.paused() == 7

    async def fine(value: int) -> int:
        return value

    clock.advance(7)
    assert await pacer.call(fine, 3) == 3


async def test_the_token_bucket_spaces_requests() -> None:
    clock = sv.ManualClock(start=0.0)
    pacer = Pacer(sv.Settings(requests_per_second=0.5), clock)
    await pacer.gate()  # the one token of the burst
    assert await passes_gate(pacer, clock, after=2)  # the next one comes 2 s later


def test_backoff_doubles_from_the_poll_minimum_up_to_its_maximum() -> None:
    pacer = Pacer(sv.Settings(poll_min_interval=1.0, poll_max_interval=10.0), sv.ManualClock())
    assert [pacer.backoff(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert pacer.backoff(0) == 1
    # Hours of failures (a provider down, a ledger refusing) never overflow: 2 ** 1024 did.
    assert pacer.backoff(1025) == pacer.backoff(10**9) == 10
