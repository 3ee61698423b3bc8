"""``client.resume()``: see every unfinished batch and job of the ledger through.

What a crashed or interrupted process left behind: batches still ``pending`` or
``processing`` are processed (and so finalized), and every other unfinished job is waited
for. Nothing is re-created: the engine polls in-flight jobs by their remote id and sends
pending ones once.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import anyio.abc
import attrs

from .._core.errors import ProviderError, ValidationError
from .._core.models import Batch, Job, JobStatus, Page
from .batches import AsyncBatchService
from .context import ClientContext
from .videos import AsyncVideoService, save_video

__all__ = ["Unfinished", "find_unfinished", "see_through"]

T = TypeVar("T")
logger = logging.getLogger("soravideo")
_PAGE_SIZE = 1000


@attrs.frozen(kw_only=True)
class Unfinished:
    """The unfinished work of a ledger at one moment."""

    batches: tuple[Batch, ...]
    # Every unfinished job, those of the batches included.
    jobs: tuple[Job, ...]

    @property
    def loose(self) -> tuple[Job, ...]:
        """The unfinished jobs that none of ``batches`` sees through."""
        ids = {batch.id for batch in self.batches}
        return tuple(job for job in self.jobs if job.batch_id not in ids)


async def _every(read: Callable[[int], Awaitable[Page[T]]]) -> list[T]:
    items: list[T] = []
    page = 1
    while True:
        got = await read(page)
        items.extend(got.items)
        if not got.has_next:
            return items
        page += 1


async def find_unfinished(videos: AsyncVideoService, batches: AsyncBatchService) -> Unfinished:
    """Return every batch not yet ended and every job not yet ended, as the ledger has them.

    Args:
        videos: The client's video service (``client.videos``).
        batches: The client's batch service (``client.batches``).
    """
    unfinished = await _every(functools.partial(batches.list_batches, limit=_PAGE_SIZE))
    jobs: dict[str, Job] = {}
    for status in (JobStatus.PENDING, JobStatus.PROCESSING):
        read = functools.partial(videos.list_jobs, status, None, limit=_PAGE_SIZE)
        # By id: a job that moved on between the two reads is listed once.
        jobs.update((job.id, job) for job in await _every(read))
    return Unfinished(
        batches=tuple(b for b in unfinished if not b.status.is_terminal),
        jobs=tuple(jobs.values()),
    )


async def see_through(
    context: ClientContext,
    videos: AsyncVideoService,
    batches: AsyncBatchService,
    work: Unfinished,
    *,
    download_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Process ``work``'s batches and wait for its other jobs, all at once, until each ended.

    With ``download_dir``, each job of ``work`` that completed without being saved (it was
    created with no download directory of its own) is downloaded there.
    """

    errors: list[Exception] = []

    async def guarded(
        step: Callable[[str], Awaitable[object]], item_id: str, tg: anyio.abc.TaskGroup
    ) -> None:
        # The first error stops the others and is raised as it is, not in an ExceptionGroup.
        try:
            await step(item_id)
        except Exception as exc:
            errors.append(exc)
            tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        for batch in work.batches:
            tg.start_soon(guarded, batches.process_batch, batch.id, tg)
        for job in work.loose:
            tg.start_soon(guarded, videos.wait_for_job, job.id, tg)
    if errors:
        raise errors[0]
    if download_dir is None or not work.jobs:
        return
    await anyio.Path(download_dir).mkdir(parents=True, exist_ok=True)
    for job in await context.repository.get_jobs([job.id for job in work.jobs]):
        if job.status is not JobStatus.COMPLETED or (job.result is not None and job.result.path):
            continue
        try:
            # As the engine's own downloads: a file already there is kept if it is this
            # very video, and another one is never replaced.
            await save_video(
                context, job.id, os.path.join(download_dir, ""), "video", existing="same"
            )
        except (ProviderError, OSError, ValidationError) as exc:
            # As the engine does with a download that fails: the job stays completed.
            logger.warning("job %s: could not download into %s: %s", job.id, download_dir, exc)
