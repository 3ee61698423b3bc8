"""Waiting for many jobs at once: each one as it ends (``client.videos.as_completed``).

One waiter for the whole set, not one a job: it reads again only the jobs whose change the
engine announced (``EventBus.watch``), so ten thousand jobs cost one ledger read each per
change, however many are still waited for. Jobs driven elsewhere (another process, or not
claimed here yet) announce nothing and are re-read every few seconds, as ``wait_for_job``
re-reads its job; every job is re-read at ``poll_max_interval`` all the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from .._core.errors import JobNotFoundError, JobTimeoutError
from .._core.models import Job, JobStatus
from .._engine.runner import JobRunner
from .context import ClientContext

__all__ = ["each_as_it_ends"]


async def each_as_it_ends(
    context: ClientContext, job_ids: Sequence[str], timeout: float | None, deadline: float | None
) -> AsyncIterator[Job]:
    """Yield each job of ``job_ids`` (distinct, validated) once, as it ends.

    Nothing spans a ``yield`` but plain state (no task group, no cancel scope), so the
    caller may stop iterating at any point, or resume it from another task.

    Raises:
        JobTimeoutError: ``deadline`` (a clock time) passed first; names the first job
            still unfinished.
        JobNotFoundError: a job is not in the ledger.
    """
    runner = await context.engine()
    clock = context.clock
    settings = context.settings
    # The jobs still waited for, with the status last read (for a timeout's message).
    pending: dict[str, JobStatus | None] = dict.fromkeys(job_ids)
    order = {job_id: index for index, job_id in enumerate(job_ids)}
    unheld: set[str] = set()
    # Clock times of the next re-read of the jobs driven elsewhere, and of every job.
    recheck_at = full_at = clock.time()
    ended: list[Job] = []  # what the last look found ended, yielded before the next one

    async def look(engine: JobRunner) -> float | None:
        nonlocal recheck_at, full_at
        now = clock.time()
        wanted = watch.take()
        if now >= full_at:
            wanted |= pending.keys()
            full_at = now + settings.poll_max_interval
        if now >= recheck_at:
            wanted |= unheld
        # Only what changed: never a pass over every job waited for.
        ids = [job_id for job_id in wanted if job_id in pending]
        found = {job.id: job for job in await context.repository.get_jobs(ids)} if ids else {}
        for job_id in ids:
            job = found.get(job_id)
            if job is None:
                raise JobNotFoundError(job_id)
            pending[job_id] = job.status
            if job.is_terminal:
                ended.append(job)
                del pending[job_id]
                watch.forget(job_id)
                unheld.discard(job_id)
            elif engine.holds(job_id):
                unheld.discard(job_id)
            else:
                unheld.add(job_id)
        if ended:
            # In the order they ended (then as given): a set has no order of its own.
            ended.sort(key=lambda job: (job.completed_at or job.updated_at, order[job.id]))
            return None
        wait = full_at - now
        if unheld:
            if now >= recheck_at:
                recheck_at = now + engine.recheck_interval(next(iter(unheld)))
            wait = min(wait, recheck_at - now)
        if deadline is not None:
            if deadline - now <= 0:
                first, status = next(iter(pending.items()))
                raise JobTimeoutError(
                    first, float(timeout or 0), status=status.value if status else None
                )
            wait = min(wait, deadline - now)
        return max(wait, 0.0)

    with runner.events.watch(pending) as watch:
        while pending:
            await context.watch(look, wake=lambda: watch.event)
            done = list(ended)
            ended.clear()
            for job in done:
                yield job
