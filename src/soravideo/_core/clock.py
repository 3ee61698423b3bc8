"""Clocks: real time, or simulated time that tests and ``simulated()`` control.

The runner and the fakes read time and sleep only through a [`Clock`][soravideo.Clock], so a whole
generation of many minutes can run in milliseconds, deterministically.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Protocol, runtime_checkable

import anyio
import anyio.lowlevel

__all__ = [
    "Clock",
    "ManualClock",
    "SystemClock",
    "VirtualClock",
    "engine_task",
    "off_loop_work",
    "sleep_or_wake",
    "user_waits",
    "utc_from_timestamp",
]


class _OffLoopWork:
    """Counts work running off the event loop (a ledger's thread) that simulated time must await.

    A task that waits for a thread looks blocked to the loop, yet the thread will answer
    soon; simulated time must not leap ahead (and expire deadlines) meanwhile.
    """

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        """Whether any such work is under way."""
        return self._count > 0

    def __enter__(self) -> None:
        with self._lock:
            self._count += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._count -= 1


off_loop_work = _OffLoopWork()
"""Wrap awaits of thread work in ``with off_loop_work:`` so simulated time waits for it."""


_IN_ENGINE: ContextVar[bool] = ContextVar("soravideo_in_engine", default=False)


@contextmanager
def engine_task() -> Iterator[None]:
    """Mark the block's task (and the tasks it starts) as the engine's.

    A [`VirtualClock`][soravideo.VirtualClock] made with ``only_while_waiting=True`` lets
    time move for a sleep on it outside the engine (a user's ``await clock.sleep(600)``
    waits), never for the engine's own sleeps (its poller and pacer).
    """
    token = _IN_ENGINE.set(True)
    try:
        yield
    finally:
        _IN_ENGINE.reset(token)


def utc_from_timestamp(seconds: float) -> datetime:
    """Return an aware UTC datetime for Unix seconds."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


@runtime_checkable
class Clock(Protocol):
    """What soravideo needs of time: read it, and sleep on it.

    Examples:
        ```python
        async def wait_politely(clock: sv.Clock, seconds: float) -> float:
            # Your code takes any clock: SystemClock in production, a ManualClock in tests.
            start = clock.time()
            await clock.sleep(seconds)
            return clock.time() - start

        print(isinstance(sv.SystemClock(), sv.Clock), await wait_politely(sv.ManualClock(start=0.0), 0))  # True 0.0
        ```
    """

    def time(self) -> float:
        """Return the current time in Unix seconds.

        Examples:
            ```python
            clock: sv.Clock = client.clock  # a simulated client's: VirtualClock
            print(clock.time())  # Unix seconds
            ```
        """
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep this many seconds of this clock's time.

        Examples:
            ```python
            clock = sv.ManualClock(start=0.0)
            await clock.sleep(0)  # returns at once; a positive sleep waits for clock.advance
            await sv.SystemClock().sleep(0.01)  # real time
            ```
        """
        ...


def now_utc(clock: Clock) -> datetime:
    """Return the clock's current time as an aware UTC datetime."""
    return utc_from_timestamp(clock.time())


async def _all_tasks_blocked() -> None:
    """Return once no other task can run.

    On asyncio this watches the loop's ready queue, which answers within a few loop turns;
    anyio's portable ``wait_all_tasks_blocked`` re-checks only every 0.1 s of real time,
    which would make simulated minutes cost real seconds.
    """
    try:
        loop = asyncio.get_running_loop()
        ready = loop._ready  # type: ignore[attr-defined]
    except (RuntimeError, AttributeError):
        await anyio.wait_all_tasks_blocked()
        return
    while True:
        await asyncio.sleep(0)
        if not ready:
            return


async def sleep_or_wake(clock: Clock, seconds: float, event: anyio.Event) -> None:
    """Return after ``seconds`` of ``clock``'s time, or as soon as ``event`` is set.

    The one wait of the engine's loops and of the services' waits (``wait_for_job``,
    ``process_batch``): a timer on the clock raced against an event.

    On a simulated clock (``ManualClock``, ``VirtualClock``) the clock itself sets
    ``event`` when the time is up: no helper task a wait, which ten thousand waiters would
    pay for at every wake-up ([W2-4]). So pass an event of this wait's own round (a loop
    re-arms it), or one whose owner replaces it once set (``EventBus.changed``).

    Args:
        clock: The time ``seconds`` is counted on.
        seconds: How long to wait at most (a negative figure waits for nothing).
        event: Ends the wait early once set (a set event returns at once).
    """
    if event.is_set():
        await anyio.lowlevel.checkpoint()
        return
    if isinstance(clock, SystemClock):
        # Real time: the event loop's own timer, no helper task (the engine waits
        # here between almost every step).
        with anyio.move_on_after(max(0.0, seconds)):
            await event.wait()
        return
    if isinstance(clock, ManualClock):
        clock.set_after(seconds, event)
        await event.wait()
        return
    await _race(clock, seconds, event)


async def _race(clock: Clock, seconds: float, event: anyio.Event) -> None:
    """``sleep_or_wake`` on any other clock: a sleeper task raced against the event.

    Apart from ``sleep_or_wake`` so that its closure's cells are made only here, not by every
    wait of the engine and of ten thousand waiters ([W2-4]).
    """
    async with anyio.create_task_group() as tg:

        async def sleeper() -> None:
            await clock.sleep(seconds)
            tg.cancel_scope.cancel()

        tg.start_soon(sleeper)
        await event.wait()
        tg.cancel_scope.cancel()


class SystemClock:
    """Wall-clock time and real sleeps.

    Examples:
        ```python
        clock = sv.SystemClock()  # the default of every client
        print(clock)  # SystemClock()
        ```
    """

    def time(self) -> float:
        """Return the current time in Unix seconds (``time.time()``).

        Examples:
            ```python
            print(sv.SystemClock().time())  # 1796585680.123…
            ```
        """
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Sleep this many real seconds (none when ≤ 0).

        Examples:
            ```python
            await sv.SystemClock().sleep(0.01)
            ```
        """
        await anyio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


_MIN_SWEEP = 64  # a heap this small is never swept


class ManualClock:
    """Time that moves only when told: ``clock.advance(30)`` wakes every sleeper that is due.

    Sleepers must be on one event loop; ``advance`` may be called from that loop's tasks
    (or synchronously from a test), and it never blocks.

    Examples:
        ```python
        from soravideo.testing import FakeSora

        clock = sv.ManualClock(start=0.0)
        fake = FakeSora(clock=clock, generation_time=60)
        clock.advance(30)
        print(clock.time(), fake.now())  # 30.0 30.0: the fake runs on it
        ```
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        # A sleeper woken early by its event stays in the heap until its deadline; the heap
        # is swept of them when it grows past this, so ten thousand waiters woken early
        # round after round keep about one entry each, not one a round ([W2-4]).
        self._sweep_at = _MIN_SWEEP
        self._seq = itertools.count()
        self._new_sleeper: anyio.Event | None = None

    def time(self) -> float:
        """Return the clock's time in Unix seconds: it moves only when told.

        Examples:
            ```python
            clock = sv.ManualClock(start=1_000.0)
            clock.advance(30)
            print(clock.time())  # 1030.0
            ```
        """
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Sleep until the clock is moved ``seconds`` ahead (at once when ≤ 0).

        Examples:
            ```python
            import anyio

            clock = sv.ManualClock(start=0.0)
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(clock.sleep, 60)
                await anyio.sleep(0)  # let it start sleeping
                clock.advance(60)  # wakes it
            print(clock.time())  # 60.0
            ```
        """
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        self._push(self._now + seconds, event)
        try:
            await event.wait()
        finally:
            event.set()  # a cancelled sleeper leaves no stale deadline behind

    def set_after(self, seconds: float, event: anyio.Event) -> None:
        """Set ``event`` once ``seconds`` have passed on this clock (at once when ≤ 0).

        Args:
            seconds: How long from now.
            event: The event to set; set earlier by someone else, it is forgotten here.

        Examples:
            ```python
            import anyio

            clock = sv.ManualClock(start=0.0)
            done = anyio.Event()
            clock.set_after(10, done)
            clock.advance(10)
            print(done.is_set())  # True
            ```
        """
        if seconds <= 0:
            event.set()
            return
        self._push(self._now + seconds, event)

    def _push(self, deadline: float, event: anyio.Event) -> None:
        """Add a sleeper, sweeping out those already woken when the heap has grown."""
        sleepers = self._sleepers
        if len(sleepers) >= self._sweep_at:
            sleepers[:] = [entry for entry in sleepers if not entry[2].is_set()]
            heapq.heapify(sleepers)
            self._sweep_at = max(_MIN_SWEEP, 2 * len(sleepers))
        heapq.heappush(sleepers, (deadline, next(self._seq), event))
        if self._new_sleeper is not None:
            self._new_sleeper.set()

    def next_deadline(self) -> float | None:
        """Return when the earliest sleeper wakes, or ``None`` when nobody sleeps.

        Examples:
            ```python
            import anyio

            clock = sv.ManualClock(start=0.0)
            print(clock.next_deadline())  # None: nobody sleeps
            clock.set_after(45, anyio.Event())
            print(clock.next_deadline())  # 45.0
            ```
        """
        while self._sleepers and self._sleepers[0][2].is_set():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has come.

        Examples:
            ```python
            clock = sv.ManualClock(start=100.0)
            clock.advance(20)  # wakes every sleeper due by 120
            print(clock.time())  # 120.0
            ```
        """
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        self.set_time(self._now + seconds)

    def set_time(self, when: float) -> None:
        """Move time to ``when`` (never backwards) and wake the sleepers that are due.

        Examples:
            ```python
            clock = sv.ManualClock(start=100.0)
            clock.set_time(500.0)
            clock.set_time(200.0)  # never backwards
            print(clock.time())  # 500.0
            ```
        """
        self._now = max(self._now, when)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, event = heapq.heappop(self._sleepers)
            event.set()

    def __repr__(self) -> str:
        return f"ManualClock(time={self._now:.3f})"


class VirtualClock(ManualClock):
    """Simulated time that jumps ahead by itself whenever every task is waiting.

    Run [`run`][soravideo.VirtualClock.run] in a task group next to the code under test
    (``simulated()`` clients do this for you): each time all tasks are blocked, time skips to the
    next sleeper's deadline, so minutes of simulated waiting take microseconds and stay
    deterministic.

    With ``only_while_waiting=True`` (what ``simulated()`` clients use), time moves only
    while somebody is inside [`waiting`][soravideo.VirtualClock.waiting]: a client's calls
    that wait (``wait_for_job``, ``process_batch``, ``resume``, ``run_worker`` …) and a
    sleep on the clock outside the engine open it, so simulated time stands still between
    a user's calls (a job created a moment ago can still be cancelled) and leaps ahead
    while the user waits.

    Args:
        start: The time to start at (Unix seconds; default: now).
        only_while_waiting: Move only while a [`waiting`][soravideo.VirtualClock.waiting]
            block is open.

    Examples:
        ```python
        import anyio

        clock = sv.VirtualClock(start=0.0)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(clock.run)
            await clock.sleep(3600)  # an hour of simulated time, in microseconds
            tasks.cancel_scope.cancel()
        print(clock.time())  # 3600.0
        ```
    """

    def __init__(self, start: float | None = None, *, only_while_waiting: bool = False) -> None:
        super().__init__(start)
        self.only_while_waiting = only_while_waiting
        self._waiters = 0
        self._waiter_came: anyio.Event | None = None

    def waiting(self) -> AbstractContextManager[None]:
        """Let time move for the duration of the block (blocks nest and overlap).

        Enter and leave it on the clock's event loop. It changes nothing unless the clock
        was made with ``only_while_waiting=True``.

        Examples:
            ```python
            clock = client.clock  # a simulated client's: VirtualClock(only_while_waiting=True)
            print(clock.held)  # True: time stands still between calls
            with clock.waiting():
                print(clock.held)  # False: time may move while the block is open
            ```
        """
        # A small object, not a generator: ten thousand waiters each hold one ([W2-4]).
        return _Waiting(self)

    def _enter_waiting(self) -> None:
        self._waiters += 1
        if self._waiter_came is not None:
            self._waiter_came.set()

    def _leave_waiting(self) -> None:
        self._waiters -= 1

    async def sleep(self, seconds: float) -> None:
        """Sleep this many seconds of simulated time; a sleep outside the engine opens
        [`waiting`][soravideo.VirtualClock.waiting] (``only_while_waiting``).

        Examples:
            ```python
            import anyio

            clock = sv.VirtualClock(start=0.0, only_while_waiting=True)  # as simulated() clients
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(clock.run)
                await clock.sleep(600)  # a user's sleep opens waiting(): time runs meanwhile
                tasks.cancel_scope.cancel()
            print(clock.time())  # 600.0
            ```
        """
        if self.only_while_waiting and not _IN_ENGINE.get():
            # A user sleeping on the clock waits: time moves meanwhile.
            with self.waiting():
                await super().sleep(seconds)
            return
        await super().sleep(seconds)

    @property
    def held(self) -> bool:
        """Whether time stands still now because nobody waits (``only_while_waiting``)."""
        return self.only_while_waiting and self._waiters == 0

    async def run(self) -> None:
        """Drive the clock until cancelled.

        Examples:
            ```python
            import anyio

            clock = sv.VirtualClock(start=0.0)
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(clock.run)  # drives the clock until cancelled
                with anyio.move_on_after(5):  # anyio's timeout is real time: use the clock's sleep
                    await clock.sleep(90)
                tasks.cancel_scope.cancel()
            print(clock.time())  # 90.0
            ```
        """
        while True:
            await _all_tasks_blocked()
            if off_loop_work.busy:
                # A thread is about to answer: let real time pass, not simulated time.
                await anyio.sleep(0.0002)
                continue
            if self.held:
                # Nobody waits: time stands still until a call waits.
                self._waiter_came = anyio.Event()
                if self.held:
                    await self._waiter_came.wait()
                continue
            deadline = self.next_deadline()
            if deadline is None:
                # Nothing sleeps on this clock: time stands still until somebody does.
                self._new_sleeper = anyio.Event()
                await self._new_sleeper.wait()
                continue
            self.set_time(deadline)
            await anyio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return f"VirtualClock(time={self.time():.3f})"


class _Waiting:
    """``VirtualClock.waiting``'s block."""

    __slots__ = ("_clock",)

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock

    def __enter__(self) -> None:
        self._clock._enter_waiting()

    def __exit__(self, *exc_info: object) -> None:
        self._clock._leave_waiting()


def user_waits(clock: Clock) -> AbstractContextManager[None]:
    """Return a block during which ``clock`` may move: a user's call is waiting.

    A [`VirtualClock`][soravideo.VirtualClock] made with ``only_while_waiting=True`` moves
    only inside such blocks; every other clock ignores them.

    Args:
        clock: The client's clock.
    """
    if isinstance(clock, VirtualClock):
        return clock.waiting()
    return nullcontext()
