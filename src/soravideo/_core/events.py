"""Events: observe jobs without polling the ledger.

``client.on("completed", callback)`` registers a callback; it receives a
[`JobEvent`][soravideo.JobEvent]. Async callbacks are awaited; plain functions are called in a
worker thread, so a blocking callback (or one that calls the sync client back) never blocks the
event loop. Keep callbacks short: the job's next step waits for them, and a callback must not wait
for a job to finish. A failing callback is logged and otherwise ignored.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Literal, get_args

import anyio
import anyio.to_thread
import attrs

from .clock import off_loop_work
from .models import Job

__all__ = ["EVENT_KINDS", "EventBus", "EventKind", "JobEvent", "JobWatch"]

logger = logging.getLogger("soravideo")

EventKind = Literal["created", "submitted", "progress", "completed", "failed", "cancelled"]
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)
# The kinds that end a job: the only news a waiter of a job's end wakes for.
_ENDS = frozenset({"completed", "failed", "cancelled"})


@attrs.frozen(kw_only=True)
class JobEvent:
    """Something happened to a job: ``kind`` says what, ``job`` is the job afterwards.

    Examples:
        ```python
        seen = []
        client.on("completed", lambda event: seen.append((event.kind, event.job.id)))
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A kite"))
        await client.videos.wait_for_job(job.id)
        print(seen)  # [('completed', 'job_…')]
        ```
    """

    kind: EventKind
    job: Job


Callback = Callable[[JobEvent], Awaitable[None] | None]


def _is_async(callback: Callback) -> bool:
    """Whether calling ``callback`` returns an awaitable (async functions and objects whose
    ``__call__`` is async)."""
    return inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(
        getattr(callback, "__call__", None)  # noqa: B004 - an async __call__ is what we look for
    )


class JobWatch:
    """The changes of a set of jobs, gathered until taken: one waiter of many jobs
    (``as_completed``) learns which of them changed without reading them all.

    Made by ``EventBus.watch``; every job counts as changed at first.
    """

    def __init__(self, job_ids: Iterable[str]) -> None:
        self.job_ids = set(job_ids)
        self.changed: set[str] = set(self.job_ids)
        self.event = anyio.Event()
        self.event.set()

    def note(self, job_id: str | None) -> None:
        """Record a change of one job (``None``: of every job)."""
        if job_id is None:
            self.changed |= self.job_ids
        else:
            self.changed.add(job_id)
        self.event.set()

    def take(self) -> set[str]:
        """Return the jobs changed since the last take, and start gathering afresh.

        The event stays set until a take, so a wait that began before it still ends.
        """
        changed, self.changed = self.changed, set()
        if self.event.is_set():
            self.event = anyio.Event()
        return changed

    def forget(self, job_id: str) -> None:
        """Stop watching a job (it ended)."""
        self.job_ids.discard(job_id)
        self.changed.discard(job_id)


class EventBus:
    """Callbacks by event kind, plus a broadcast that wakes anyone waiting for a change."""

    def __init__(self) -> None:
        self._callbacks: dict[str, list[Callback]] = {kind: [] for kind in EVENT_KINDS}
        # Made on first use: an anyio.Event can only be created inside an event loop.
        self._changed: anyio.Event | None = None
        # One event a job somebody waits for: a change of one job wakes its own waiters
        # only, so ten thousand waiters cost one wake-up each, not one per change of any job.
        self._job_changed: dict[str, anyio.Event] = {}
        # The same for waiters of a job's end only (``wait_for_job`` without a progress
        # bar): its news on the way (submitted, progress) lets them sleep on, so a job
        # costs its waiter two looks, not one per reading of its progress.
        self._job_ended: dict[str, anyio.Event] = {}
        # How many waits took each job's current event (``changed``) and have not given it
        # back (``release``): it is dropped when the last one gives it back unset.
        self._takers: dict[tuple[bool, str], int] = {}
        self._watches: dict[str, list[JobWatch]] = {}
        # The job as last announced, kept for a waiter of it (``latest``) while one waits.
        self._latest: dict[str, Job] = {}

    def listened(self, kind: EventKind) -> bool:
        """Whether any callback follows ``kind`` (directly or through ``"*"``)."""
        return bool(self._callbacks[kind])

    def on(self, kind: str, callback: Callback) -> Callable[[], None]:
        """Register ``callback`` for ``kind`` (``"*"`` for all); return a function that removes it."""
        kinds = EVENT_KINDS if kind == "*" else (kind,)
        for k in kinds:
            if k not in self._callbacks:
                raise ValueError(
                    f"unknown event {kind!r}; use one of {', '.join(EVENT_KINDS)} or '*'"
                )
        for k in kinds:
            self._callbacks[k].append(callback)

        def remove() -> None:
            for k in kinds:
                if callback in self._callbacks[k]:
                    self._callbacks[k].remove(callback)

        return remove

    def changed(self, job_id: str | None = None, *, ends_only: bool = False) -> anyio.Event:
        """Return an event that is set at the next change of any job (or of ``job_id`` only).

        Args:
            job_id: Wake only for a change of this job (and for a ``touch`` of every job).
            ends_only: With ``job_id``: wake for its end (completed, failed, cancelled) and
                for a ``touch`` that is no announcement (its row changed under the engine,
                or every job's), not for the news on the way (created, submitted,
                progress). Such a waiter trusts only an ended job from ``latest``.
        """
        if job_id is not None:
            events = self._job_ended if ends_only else self._job_changed
            key = (ends_only, job_id)
            # A set event (a simulated clock sets a waiter's event when its wait is up:
            # ``sleep_or_wake``) is replaced, so the next wait does not end at once.
            event = events.get(job_id)
            if event is None or event.is_set():
                event = events[job_id] = anyio.Event()
                self._takers[key] = 1
            else:
                self._takers[key] = self._takers.get(key, 0) + 1
            return event
        if self._changed is None or self._changed.is_set():
            self._changed = anyio.Event()
        return self._changed

    def release(self, job_id: str, event: anyio.Event, *, ends_only: bool = False) -> None:
        """Give back ``event``, taken by ``changed(job_id)`` for one wait that is over.

        A waiter takes its job's event before each look and gives it back after its wait
        (or its last look): an event nobody holds any more is dropped. Kept, the event of
        each waiter's last look (the one that finds the job ended) stayed for good, as
        nothing would set it again: one event for every job ever waited for.
        """
        events = self._job_ended if ends_only else self._job_changed
        if events.get(job_id) is not event:
            return  # set and dropped by a change, or replaced since: nothing to count
        key = (ends_only, job_id)
        left = self._takers.get(key, 1) - 1
        if left > 0:
            self._takers[key] = left
            return
        self._takers.pop(key, None)
        del events[job_id]

    @contextmanager
    def watch(self, job_ids: Iterable[str]) -> Iterator[JobWatch]:
        """Gather the changes of these jobs for the duration of the block.

        Args:
            job_ids: The jobs to watch.

        Yields:
            A `JobWatch` (every job counts as changed at first).
        """
        watch = JobWatch(job_ids)
        ids = list(watch.job_ids)
        for job_id in ids:
            self._watches.setdefault(job_id, []).append(watch)
        try:
            yield watch
        finally:
            for job_id in ids:
                watches = self._watches.get(job_id, [])
                if watch in watches:
                    watches.remove(watch)
                if not watches:
                    self._watches.pop(job_id, None)

    def latest(self, job_id: str) -> Job | None:
        """Return (and forget) the job as announced since its waiter last asked, if it was.

        A waiter woken by its job's event reads the job from here instead of the ledger
        (the engine writes a job before it announces it); ``None`` when nothing was
        announced (a time-out, or a change without a job): read the ledger then.

        Args:
            job_id: The job waited for.
        """
        return self._latest.pop(job_id, None)

    def touch(self, job_id: str | None = None, *, ends: bool = True) -> None:
        """Wake everybody waiting on ``changed`` (for a job: its own waiters and those of
        any job).

        Args:
            job_id: The job that changed; ``None`` wakes the waiters of every job too.
            ends: Whether the change may have ended the job: ``False`` (news on the way)
                leaves the waiters of its end asleep.
        """
        if self._changed is not None:
            self._changed.set()
            self._changed = None
        if job_id is not None:
            event = self._job_changed.pop(job_id, None)
            if event is not None:
                self._takers.pop((False, job_id), None)
                event.set()
            if ends:
                event = self._job_ended.pop(job_id, None)
                if event is not None:
                    self._takers.pop((True, job_id), None)
                    event.set()
            for watch in self._watches.get(job_id, ()):
                watch.note(job_id)
            return
        for watches in self._watches.values():
            for watch in watches:
                watch.note(None)
        events, self._job_changed = self._job_changed, {}
        ended, self._job_ended = self._job_ended, {}
        self._takers = {}
        for event in (*events.values(), *ended.values()):
            event.set()

    async def emit(self, kind: EventKind, job: Job) -> None:
        """Run the callbacks of ``kind`` with a [`JobEvent`][soravideo.JobEvent], then wake waiters.

        Waiters wake after the callbacks, so a ``wait_for_job`` that returns has seen every
        callback of the job's end run to completion.
        """
        try:
            await self._run_callbacks(kind, job)
        finally:
            ends = kind in _ENDS
            if job.id in self._job_changed or (ends and job.id in self._job_ended):
                self._latest[job.id] = job
            self.touch(job.id, ends=ends)

    async def _run_callbacks(self, kind: EventKind, job: Job) -> None:
        callbacks = list(self._callbacks[kind])
        if not callbacks:
            return
        event = JobEvent(kind=kind, job=job)
        for callback in callbacks:
            try:
                if _is_async(callback):
                    await callback(event)  # type: ignore[misc]
                else:
                    # Counted as off-loop work, so simulated time waits for the callback.
                    with off_loop_work:
                        await anyio.to_thread.run_sync(callback, event)
            except Exception:
                logger.exception("event callback %r failed on %s of job %s", callback, kind, job.id)
