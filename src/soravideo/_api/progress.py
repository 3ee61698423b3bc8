"""Optional progress bars (``tqdm.auto``: a widget in Jupyter), from the ``progress`` extra.

A bar shows the percentage, the status, the time elapsed and an estimate of the time
left. Time is the client's: a job's bar counts from when the job was created and moves
to the time of each update the ledger records (``Job.updated_at``), so on a simulated
client, whose clock runs far ahead of the wall clock, the bar shows the simulated
minutes a video took and steps through the progress the provider reported, rather than
a run of a few milliseconds. A batch's bar counts on the client's clock from when it
started. On a real provider the wall clock is ahead, and it counts.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any

from .._core.clock import Clock
from .._core.models import Job

__all__ = ["Bar", "job_progress"]

INSTALL_HINT = (
    "progress bars need the 'progress' extra: pip install 'soravideo[progress]' "
    "(in Jupyter, 'soravideo[notebook]' also installs ipywidgets for a widget bar)"
)
BAR_FORMAT = "{l_bar}{bar}| {elapsed}<{remaining}{postfix}"


class Bar:
    """A progress bar that shows a job's or a batch's percentage; does nothing when disabled.

    Args:
        tqdm_bar: The tqdm bar to drive, or ``None`` for a disabled bar.
        clock: The client's clock, to count time on from now (else the wall clock, moved
            on by the times of the updates: see ``set``).
    """

    def __init__(self, tqdm_bar: Any | None, clock: Clock | None = None) -> None:
        self._bar = tqdm_bar
        self._clock = clock
        self._shown = 0.0
        self._status = ""
        self._started = False
        self._latest = 0.0  # the latest client time an update was true at (epoch seconds)
        if tqdm_bar is not None:
            tqdm_bar._time = self.now  # tqdm reads its clock there, for elapsed and ETA
            if clock is not None:
                self._started = True
                tqdm_bar.start_t = tqdm_bar.last_print_t = self.now()

    def now(self) -> float:
        """Return the bar's time: the wall clock, or the client's or the latest update's
        time if later (a simulated client's clock runs ahead of the wall clock)."""
        client = self._clock.time() if self._clock is not None else 0.0
        return max(time.time(), client, self._latest)

    def since(self, start: datetime) -> None:
        """Count the elapsed time from ``start`` (on the client's clock); only before the
        first update (else the bar counts from the first update's time)."""
        if self._bar is not None and not self._started:
            self._started = True
            self._latest = max(self._latest, start.timestamp())
            self._bar.start_t = self._bar.last_print_t = start.timestamp()

    def set(self, percentage: float, status: str, *, at: datetime | None = None) -> None:
        """Move the bar to ``percentage`` (0–100) and show ``status``.

        Args:
            percentage: How far along, 0 to 100; a bar never goes back.
            status: Shown after the time.
            at: When this was true, on the client's clock (a simulated client's runs ahead
                of the wall clock): the bar's time moves there.
        """
        if self._bar is None:
            return
        if at is not None:
            self.since(at)
            self._latest = max(self._latest, at.timestamp())
        step = max(0.0, min(100.0, percentage) - self._shown)
        if not step and status == self._status and self.now() - self._bar.last_print_t < 1:
            return  # nothing new to draw
        self._status = status
        self._bar.set_postfix_str(status, refresh=False)
        if step:
            self._shown += step
            self._bar.update(step)
        else:
            self._bar.refresh()
            self._bar.last_print_t = self.now()

    def update(self, job: Job) -> None:
        """Show a job's progress and status, timed from its creation to its last update."""
        self.since(job.created_at)
        at = job.completed_at or job.updated_at
        self.set(100.0 if job.is_terminal else float(job.progress), job.status.value, at=at)


@contextmanager
def make_bar(*, enabled: bool, description: str, clock: Clock | None = None) -> Iterator[Bar]:
    """Yield a ``Bar``; a real one when ``enabled`` and tqdm is installed.

    Args:
        enabled: Whether to show a bar at all.
        description: Shown before the bar.
        clock: The client's clock, to time the bar on (see ``Bar``).
    """
    if not enabled:
        yield Bar(None)
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        warnings.warn(INSTALL_HINT, RuntimeWarning, stacklevel=4)
        yield Bar(None)
        return
    # Every update is drawn (they come a few seconds apart at most, or all at once on a
    # simulated client, whose steps would otherwise be skipped).
    bar = tqdm(
        total=100, desc=description, unit="%", bar_format=BAR_FORMAT, mininterval=0, miniters=1
    )
    try:
        yield Bar(bar, clock)
    finally:
        bar.close()


# A disabled bar holds nothing and does nothing: one serves every waiter that shows none.
_DISABLED: AbstractContextManager[Bar] = nullcontext(Bar(None))


def job_progress(*, enabled: bool, job_id: str) -> AbstractContextManager[Bar]:
    """Return a block holding a bar for one job (a disabled bar, without a generator, when
    not ``enabled``: ten thousand waiters each hold one)."""
    if not enabled:
        return _DISABLED
    return make_bar(enabled=enabled, description=job_id)
