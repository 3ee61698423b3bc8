"""Calls that arrive while one is under way go together in the next one ([W2-4]).

A ledger call costs most of its time in getting there and back (a hand-off to SQLite's
thread, a round trip to PostgreSQL), little in each row it carries. ``Gather`` turns the
calls of many tasks into few: the first caller to find nothing under way sends its items
at once; callers that arrive meanwhile wait, and when the call under way ends, the first of
them sends everything that gathered, in the order it came. Each caller gets exactly its
own items' answers, and only once the call that carried them has returned.
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

    __slots__ = ("answers", "error", "items", "turn")

    def __init__(self, items: Sequence[I]) -> None:
        self.items = items
        self.answers: list[R] | None = None
        self.error: BaseException | None = None
        # Set when the answers are in, or when this caller is to send the next call.
        self.turn = anyio.Event()


class _Round(Generic[I, R]):
    """What one event loop's callers share: who waits, and whether a call is under way."""

    __slots__ = ("busy", "waiting")

    def __init__(self) -> None:
        self.waiting: list[_Caller[I, R]] = []
        self.busy = False


class Gather(Generic[I, R]):
    """Send the items of callers that arrive while a call is under way in one next call.

    Not cancellable halfway: a caller waits for the call that carries its items to end,
    even when cancelled meanwhile (then it raises its cancellation), exactly as a single
    call awaited in a shielded scope would; so a caller handed the next call is always
    there to send it, and nothing a call may have written goes unreported.

    Callers on different event loops (a sync client's thread and a notebook's, say) are
    gathered apart: each loop's callers wait only for calls of their own loop, and a loop
    that stopped with a call under way strands no caller of another one.

    Args:
        send: Sends many items in one call and returns one answer an item, in order; an
            error it raises is raised to every caller whose items it carried.
    """

    def __init__(self, send: Callable[[list[I]], Awaitable[Sequence[R]]]) -> None:
        self._send = send
        self._rounds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Round[I, R]] = (
            weakref.WeakKeyDictionary()
        )
        self._elsewhere: _Round[I, R] | None = None  # not asyncio (trio): one loop at a time

    def _round(self) -> _Round[I, R]:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if self._elsewhere is None:
                self._elsewhere = _Round()
            return self._elsewhere
        found = self._rounds.get(loop)
        if found is None:
            found = self._rounds[loop] = _Round()
        return found

    @property
    def waiting(self) -> int:
        """How many callers of this event loop wait for the next call (the call under way
        excluded)."""
        return len(self._round().waiting)

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
        mine: _Caller[I, R] = _Caller(items)
        round_ = self._round()
        round_.waiting.append(mine)
        with anyio.CancelScope(shield=True):
            if round_.busy:
                await mine.turn.wait()
            else:
                round_.busy = True
            if mine.answers is None and mine.error is None:
                await self._send_waiting(round_)
        await anyio.lowlevel.checkpoint_if_cancelled()
        if mine.error is not None:
            raise mine.error
        assert mine.answers is not None
        return mine.answers

    async def _send_waiting(self, round_: _Round[I, R]) -> None:
        """Send every waiting caller's items in one call; then hand the next call to the
        first caller that arrived meanwhile, or leave nothing under way."""
        callers, round_.waiting = round_.waiting, []
        try:
            items = [item for caller in callers for item in caller.items]
            answers = await self._send(items)
            if len(answers) != len(items):
                raise RuntimeError(f"{len(answers)} answers to {len(items)} items")
            start = 0
            for caller in callers:
                caller.answers = list(answers[start : start + len(caller.items)])
                start += len(caller.items)
        except BaseException as exc:
            for caller in callers:
                caller.error = exc
            raise
        finally:
            for caller in callers:
                caller.turn.set()
            if round_.waiting:
                round_.waiting[0].turn.set()
            else:
                round_.busy = False
