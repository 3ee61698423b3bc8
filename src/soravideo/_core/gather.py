"""Calls that arrive while one is under way go together in the next one ([W2-4]).

A ledger call costs most of its time in getting there and back (a hand-off to SQLite's
thread, a round trip to PostgreSQL), little in each row it carries. ``Gather`` turns the
calls of many tasks into few: a caller that finds nothing under way makes its call at once;
callers that arrive meanwhile wait, and when the call under way ends, everything that
gathered goes in the next call, in the order it came. Each caller gets exactly its own
items' answers, and only once the call that carried them has returned.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel

__all__ = ["Gather"]

I = TypeVar("I")  # noqa: E741 (an item)
R = TypeVar("R")  # an item's answer


class _Caller(Generic[I, R]):
    """One caller's items, then their answers (or the error of the call that carried them)."""

    __slots__ = ("answers", "done", "error", "items")

    def __init__(self, items: Sequence[I]) -> None:
        self.items = items
        self.answers: list[R] | None = None
        self.error: BaseException | None = None
        self.done = anyio.Event()


class _Round(Generic[I, R]):
    """What one event loop's callers share: who waits, and the task sending their calls."""

    __slots__ = ("busy", "sender", "waiting")

    def __init__(self) -> None:
        self.waiting: list[_Caller[I, R]] = []
        # A call under way: a caller's own, or the sender's.
        self.busy = False
        self.sender: asyncio.Task[None] | None = None


class Gather(Generic[I, R]):
    """Send the items of callers that arrive while a call is under way in one next call.

    A caller that finds nothing under way makes its own call at once. The calls of those
    that wait are sent by a task of their own, not by a caller, so nothing that happens to a
    caller (asyncio's own cancellation, which no shield stops, say) cuts their call short or
    strands the callers after it: a call that started is finished, and its answers reach
    every caller still waiting. A caller cancelled while it waits (anyio's cancellation)
    still waits for the call that carries its items, then raises its cancellation, as a
    single call awaited in a shielded scope would; nothing a call may have written goes
    unreported. Cancelled by asyncio itself while the call carrying its items is under way,
    a caller waits for that call to end too, then raises: its next call never overtakes it. Callers on different event loops (a sync client's thread and a notebook's)
    are gathered apart. On an event loop other than asyncio's (trio), each caller makes its
    own call.

    Args:
        send: Sends many items in one call and returns one answer an item, in order; an
            error it raises is raised to every caller whose items it carried.
    """

    def __init__(self, send: Callable[[list[I]], Awaitable[Sequence[R]]]) -> None:
        self._send = send
        self._rounds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Round[I, R]] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def waiting(self) -> int:
        """How many callers of this event loop wait for the next call (the call under way
        excluded)."""
        try:
            found = self._rounds.get(asyncio.get_running_loop())
        except RuntimeError:
            return 0
        return len(found.waiting) if found is not None else 0

    async def __call__(self, items: Sequence[I]) -> list[R]:
        """Send ``items`` (with whatever else gathered) and return their answers.

        Args:
            items: This caller's items, sent after every item that came before them.

        Returns:
            One answer an item, in order.

        Raises:
            BaseException: Whatever ``send`` raised for the call that carried the items.
        """
        if not items:
            return []
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            with anyio.CancelScope(shield=True):
                answers = await self._checked(list(items))
            await anyio.lowlevel.checkpoint_if_cancelled()
            return answers
        round_ = self._rounds.get(loop)
        if round_ is None:
            round_ = self._rounds[loop] = _Round()
        if not round_.busy:
            # Nothing under way: this caller's own call, at once (no task, no wait).
            round_.busy = True
            try:
                with anyio.CancelScope(shield=True):
                    answers = await self._checked(list(items))
            finally:
                # Whatever became of this caller: those who came meanwhile are sent.
                if round_.waiting:
                    round_.sender = loop.create_task(self._send_rounds(round_))
                else:
                    round_.busy = False
            await anyio.lowlevel.checkpoint_if_cancelled()
            return answers
        mine: _Caller[I, R] = _Caller(items)
        round_.waiting.append(mine)
        try:
            with anyio.CancelScope(shield=True):
                await mine.done.wait()
        except BaseException:
            # asyncio's own cancellation (no shield stops it): items not sent yet stay unsent,
            # as a call never made. Items already on their way are the call's, and this
            # caller waits for it to end before it leaves: whatever it does next must not
            # overtake them (its next call could otherwise reach the ledger first).
            if mine in round_.waiting:
                round_.waiting.remove(mine)
            else:
                with anyio.CancelScope(shield=True):
                    await mine.done.wait()
            raise
        await anyio.lowlevel.checkpoint_if_cancelled()
        if mine.error is not None:
            raise mine.error
        assert mine.answers is not None
        return mine.answers

    async def _send_rounds(self, round_: _Round[I, R]) -> None:
        """Send the waiting callers' items, one call at a time, until nobody waits."""
        try:
            while round_.waiting:
                callers, round_.waiting = round_.waiting, []
                try:
                    answers = await self._checked(
                        [item for caller in callers for item in caller.items]
                    )
                except BaseException as exc:
                    for caller in callers:
                        caller.error = exc
                    if not isinstance(exc, Exception):
                        raise  # the loop is going away (or an interrupt): stop sending
                else:
                    start = 0
                    for caller in callers:
                        caller.answers = answers[start : start + len(caller.items)]
                        start += len(caller.items)
                finally:
                    for caller in callers:
                        caller.done.set()
        finally:
            round_.sender = None
            round_.busy = False
            # Stopped early: nobody is left waiting for a call that will not come.
            for caller in round_.waiting:
                caller.error = RuntimeError("the calls stopped before these items were sent")
                caller.done.set()
            round_.waiting = []

    async def _checked(self, items: list[I]) -> list[R]:
        answers = list(await self._send(items))
        if len(answers) != len(items):
            raise RuntimeError(f"{len(answers)} answers to {len(items)} items")
        return answers
