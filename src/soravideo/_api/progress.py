"""Optional progress bars (``tqdm.auto``, notebook-aware), from the ``progress`` extra."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._core.models import Job

__all__ = ["Bar", "job_progress"]

INSTALL_HINT = "progress bars need the 'progress' extra: pip install 'soravideo[progress]'"


class Bar:
    """A progress bar that shows a job's or a batch's percentage; does nothing when disabled."""

    def __init__(self, tqdm_bar: Any | None) -> None:
        self._bar = tqdm_bar
        self._shown = 0.0

    def set(self, percentage: float, status: str) -> None:
        """Move the bar to ``percentage`` (0–100) and show ``status``."""
        if self._bar is None:
            return
        step = max(0.0, min(100.0, percentage) - self._shown)
        if step:
            self._bar.update(step)
            self._shown += step
        self._bar.set_postfix_str(status, refresh=False)

    def update(self, job: Job) -> None:
        """Show a job's progress and status."""
        self.set(100.0 if job.is_terminal else float(job.progress), job.status.value)


@contextmanager
def make_bar(*, enabled: bool, description: str) -> Iterator[Bar]:
    """Yield a ``Bar``; a real one when ``enabled`` and tqdm is installed."""
    if not enabled:
        yield Bar(None)
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        warnings.warn(INSTALL_HINT, RuntimeWarning, stacklevel=4)
        yield Bar(None)
        return
    bar = tqdm(total=100, desc=description, unit="%", bar_format="{l_bar}{bar}| {postfix}")
    try:
        yield Bar(bar)
    finally:
        bar.close()


@contextmanager
def job_progress(*, enabled: bool, job_id: str) -> Iterator[Bar]:
    """Yield a bar for one job."""
    with make_bar(enabled=enabled, description=job_id) as bar:
        yield bar
