"""``Gather`` ([W2-4]): the items of callers that arrive while a call is under way go
together in the next call; each caller gets its own answers, once that call returned."""

from __future__ import annotations

import asyncio
import threading

import anyio
import anyio.abc
import pytest

from soravideo._core.gather import Gather

pytestmark = pytest.mark.anyio


class Doubler:
    """A ``send`` that doubles each item, records each call, and holds each call until the
    test lets it go (``release``), so that callers pile up behind it."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.started = anyio.Event()
        self.gate = anyio.Event()
        self.fail_on: set[int] = set()  # a call carrying one of these fails

    async def __call__(self, items: list[int]) -> list[int]:
        self.calls.append(items)
        self.started.set()
        await self.gate.wait()
        if self.fail_on.intersection(items):
            raise OSError("disk full")
        return [2 * item for item in items]

    def release(self) -> None:
        self.gate.set()


async def wait_until(check: object) -> None:
    """Let the other tasks run until ``check()`` holds (no clock: the loop's turns only)."""
    for _ in range(1000):
        if check():  # type: ignore[operator]
            return
        await anyio.lowlevel.checkpoint()
    raise AssertionError("never happened")


async def test_callers_arriving_meanwhile_go_together_in_the_next_call() -> None:
    send = Doubler()
    gather: Gather[int, int] = Gather(send)
    answers: dict[str, list[int]] = {}

    async def call(name: str, items: list[int]) -> None:
        answers[name] = await gather(items)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "first", [1])
        await send.started.wait()
        tg.start_soon(call, "a", [2, 3])
        tg.start_soon(call, "b", [4])
        tg.start_soon(call, "c", [5, 6, 7])
        await wait_until(lambda: gather.waiting == 3)
        send.release()
    # The first went alone; the three that waited went in one call, in the order they came.
    assert send.calls == [[1], [2, 3, 4, 5, 6, 7]]
    assert answers == {"first": [2], "a": [4, 6], "b": [8], "c": [10, 12, 14]}


async def test_a_lone_caller_is_sent_at_once_and_nothing_is_left_under_way() -> None:
    send = Doubler()
    send.release()
    gather: Gather[int, int] = Gather(send)
    assert await gather([1, 2]) == [2, 4]
    assert await gather([3]) == [6]
    assert await gather([]) == []  # nothing to send: no call
    assert send.calls == [[1, 2], [3]]


async def test_an_error_of_a_call_is_raised_to_every_caller_it_carried_and_not_later() -> None:
    send = Doubler()
    send.fail_on = {3}
    gather: Gather[int, int] = Gather(send)
    outcomes: dict[str, object] = {}

    async def call(name: str, items: list[int]) -> None:
        try:
            outcomes[name] = await gather(items)
        except OSError as exc:
            outcomes[name] = exc

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "first", [1])
        await send.started.wait()
        tg.start_soon(call, "a", [2])
        tg.start_soon(call, "b", [3])
        await wait_until(lambda: gather.waiting == 2)
        # The first call succeeds; the call carrying a and b fails (at b's item).
        send.release()
    assert outcomes["first"] == [2]
    assert isinstance(outcomes["a"], OSError) and outcomes["a"] is outcomes["b"]
    assert send.calls == [[1], [2, 3]]
    # Nothing is left under way: the next caller is sent at once and answered.
    assert await gather([4]) == [8]


async def test_a_caller_cancelled_while_waiting_is_still_sent_then_sees_its_cancellation() -> None:
    send = Doubler()
    gather: Gather[int, int] = Gather(send)
    answers: dict[str, list[int]] = {}
    scope = anyio.CancelScope()

    async def cancelled_caller() -> None:
        with scope:
            answers["cancelled"] = await gather([2])
            raise AssertionError("not reached: the cancellation is raised after the answer")

    async def call(name: str, items: list[int]) -> None:
        answers[name] = await gather(items)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "first", [1])
        await send.started.wait()
        # The cancelled caller is the first to wait: its items lead the next call.
        tg.start_soon(cancelled_caller)
        tg.start_soon(call, "after", [3])
        await wait_until(lambda: gather.waiting == 2)
        scope.cancel()
        await anyio.lowlevel.checkpoint()
        send.release()
    assert scope.cancelled_caught
    # Its item was sent all the same, and the caller after it was not stranded.
    assert send.calls == [[1], [2, 3]]
    assert answers == {"first": [2], "after": [6]}


async def test_asyncio_cancelling_a_waiting_caller_strands_nobody() -> None:
    """asyncio's own cancellation (``asyncio.timeout`` around a call, say) passes through any
    shield: the caller leaves, its items unsent (as a call never made), and the callers
    after it are answered."""
    send = Doubler()
    gather: Gather[int, int] = Gather(send)
    first = asyncio.ensure_future(gather([1]))
    await send.started.wait()
    leaving = asyncio.ensure_future(gather([2]))
    staying = asyncio.ensure_future(gather([3]))
    await wait_until(lambda: gather.waiting == 2)
    leaving.cancel()
    await wait_until(leaving.done)
    send.release()
    assert await first == [2]
    assert await staying == [6]
    assert leaving.cancelled()
    assert send.calls == [[1], [3]]
    assert await gather([4]) == [8]  # and the next caller is not stranded either


async def test_asyncio_cancelling_a_caller_whose_items_are_on_their_way_waits_for_them() -> None:
    """Cancelled by asyncio while the sender's call carries its items, the caller leaves
    only once that call has ended: what it does next (another call, to the same ledger)
    never overtakes its own items."""
    send = Doubler()
    gather: Gather[int, int] = Gather(send)
    first = asyncio.ensure_future(gather([1]))
    await send.started.wait()
    carried = asyncio.ensure_future(gather([2]))
    await wait_until(lambda: gather.waiting == 1)
    first_gate, send.gate = send.gate, anyio.Event()  # the next call is held on its own
    first_gate.set()  # the first call ends...
    assert await first == [2]
    await wait_until(lambda: send.calls == [[1], [2]])  # ...and the sender carries [2]
    carried.cancel()
    for _ in range(20):
        await anyio.lowlevel.checkpoint()
    assert not carried.done()  # still waiting for the call that carries its item
    send.release()
    await wait_until(carried.done)
    assert carried.cancelled()
    assert send.calls == [[1], [2]]


async def test_asyncio_cancelling_the_caller_whose_call_is_under_way_strands_nobody() -> None:
    """The caller's own call is cut short, as that call alone would be; the callers that
    came meanwhile are sent all the same."""
    send = Doubler()
    gather: Gather[int, int] = Gather(send)
    starter = asyncio.ensure_future(gather([1]))
    await send.started.wait()
    after = asyncio.ensure_future(gather([2]))
    await wait_until(lambda: gather.waiting == 1)
    starter.cancel()
    await wait_until(starter.done)
    send.release()
    assert await after == [4]
    assert starter.cancelled()
    assert send.calls == [[1], [2]]


async def test_a_send_giving_the_wrong_number_of_answers_fails_its_callers() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    gather: Gather[int, int] = Gather(short)
    with pytest.raises(RuntimeError, match="1 answers to 2 items"):
        await gather([1, 2])


def test_callers_on_two_event_loops_are_gathered_apart() -> None:
    """A call under way on one event loop (a sync client's thread, say) holds back no caller
    of another loop: each loop's callers are gathered among themselves."""
    started, release = threading.Event(), threading.Event()
    calls: list[list[int]] = []

    async def send(items: list[int]) -> list[int]:
        calls.append(items)
        if items == [1]:
            started.set()
            await anyio.to_thread.run_sync(release.wait)  # held until the other loop is done
        return [2 * item for item in items]

    gather: Gather[int, int] = Gather(send)
    answers: list[list[int]] = []
    other = threading.Thread(target=lambda: answers.append(anyio.run(gather, [1])))
    other.start()
    try:
        assert started.wait(timeout=10)
        assert anyio.run(gather, [2]) == [4]  # not behind the other loop's call
    finally:
        release.set()
        other.join(timeout=10)
    assert answers == [[2]]
    assert calls == [[1], [2]]
