"""Polling: ask the provider about jobs it accepted, on an ETA schedule, until they end.

Jobs due together are asked about in one request where the provider can list; the answers
are written to the ledger together, in one call where the ledger can take many
(``update_jobs``): progress, or a job's end with its result, downloaded first when the client
has a download directory (the answers before a download are written before it starts).
What the list pages read for them show of the other jobs polled here is used too
(``SupportsFetchSeen``): an end is written as a due job's end is, and a job still running
has its next poll scheduled from what the page showed ([W2-4]).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence

import attrs

from .._core.clock import Clock, sleep_or_wake
from .._core.errors import (
    ConflictError,
    DownloadError,
    JobNotFoundError,
    ProviderError,
    RepositoryError,
    ValidationError,
)
from .._core.events import EventBus
from .._core.models import Job, JobError, JobStatus, VideoResult
from .._core.settings import Settings
from ..transports.base import RemoteJob, SupportsFetchSeen, Transport
from .downloads import download_content, file_name
from .ledger import Ledger, Outcome, Write, cost_changes
from .pacer import Pacer
from .pacing import Observation, next_poll_delay
from .reconcile import Reconciler
from .state import EngineState, Tracked

__all__ = ["Poller"]

logger = logging.getLogger("soravideo")

_DOWNLOAD_ATTEMPTS = 3
# A job the provider no longer knows is failed after this many answers saying so.
_MISSING_LIMIT = 3
# The most answers written in one ledger call: a refresh of ten thousand jobs is written a
# thousand at a time, so neither its transaction nor the answers held for it grow without
# bound (any refresh of fewer jobs is one call).
_WRITTEN_TOGETHER = 1000


def _worth_retrying(error: Exception) -> bool:
    """Whether a failed automatic download may succeed if tried again.

    Not when the content was too large (it would be as large again), nor when another
    file holds the target's name.
    """
    if isinstance(error, ValidationError):
        return False
    return not (isinstance(error, DownloadError) and error.code == "too_large")


@attrs.define
class _Answer:
    """What the provider said of one job, on its way to the ledger."""

    tracked: Tracked
    write: Write
    now: float  # when it was read: the next poll is scheduled from then

    @property
    def ends(self) -> JobStatus | None:
        """The job's end it writes; ``None`` for progress."""
        status: JobStatus | None = self.write.changes.get("status")
        return status


class Poller:
    """Track accepted jobs and apply what the provider says of them.

    Args:
        state: The engine's jobs (``tracked`` is this part's).
        ledger: Where answers are written.
        pacer: The engine's pace (each status request goes through its gate).
        reconciler: Told of every remote id tracked here.
        transport: The provider.
        settings: The client's settings (poll intervals, download directory).
        clock: The engine's clock.
        events: Where progress is announced.
    """

    def __init__(
        self,
        *,
        state: EngineState,
        ledger: Ledger,
        pacer: Pacer,
        reconciler: Reconciler,
        transport: Transport,
        settings: Settings,
        clock: Clock,
        events: EventBus,
    ) -> None:
        self.state = state
        self.ledger = ledger
        self.pacer = pacer
        self.reconciler = reconciler
        self.transport = transport
        self.settings = settings
        self.clock = clock
        self.events = events
        # When the loop's sleep ends (-inf while it is awake and about to look again; +inf
        # before it runs): a job tracked for later than that needs no wake-up, so tracking
        # ten thousand jobs does not make the loop scan them all ten thousand times ([W2-4]).
        self._sleeping_until = math.inf

    def _floor(self) -> float:
        return max(self.settings.poll_min_interval, self.transport.capabilities.min_poll_interval)

    def poll_delay(self, tracked: Tracked) -> float:
        """Return how long to wait before asking about a tracked job again.

        A job whose provider pushes its end (a webhook) is asked about every
        ``poll_max_interval`` only: polling is then the safety net for a lost delivery.
        """
        floor = self._floor()
        if tracked.pushed:
            return max(floor, self.settings.poll_max_interval)
        return next_poll_delay(
            tracked.observations,
            self.clock.time(),
            min_interval=floor,
            max_interval=max(floor, self.settings.poll_max_interval),
            hint=tracked.hint,
        )

    def track(self, job: Job, remote: RemoteJob | None = None) -> None:
        """Start polling a job with a remote id.

        Args:
            job: The job, as recorded.
            remote: The create's answer, when the job was just created: its first check
                then waits for the ETA. A job claimed from the ledger (resumed, or taken
                over from a dead worker) is checked at once: nobody has looked at it for a
                while, and it may have finished long ago.
        """
        if job.remote_id is not None:
            self.reconciler.remember(job.remote_id)
        now = self.clock.time()
        started = job.started_at.timestamp() if job.started_at else now
        observations: list[Observation] = [(min(started, now), 0)]
        if remote is not None and remote.progress > 0:
            observations.append((now, remote.progress))
        elif job.progress > 0:
            observations.append((now, job.progress))
        hint = remote.poll_after if remote is not None else None
        tracked = Tracked(job=job, observations=observations, due=now, hint=hint)
        tracked.pushed = bool(getattr(self.transport, "webhook_pushes", False))
        if remote is not None:
            tracked.due = now + self.poll_delay(tracked)
        self.state.tracked[job.id] = tracked
        if tracked.due < self._sleeping_until:
            self.state.wake_poll.set()
        self.state.wake_lease.set()

    async def run(self) -> None:
        """Poll tracked jobs as they fall due, until cancelled."""
        state = self.state
        while True:
            wake = state.wake_poll.rearm()
            self._sleeping_until = -math.inf
            # A job being cancelled is not polled: its cancel is stopping it.
            pollable = [t for t in state.tracked.values() if t.job.id not in state.cancelling]
            if not pollable:
                self._sleeping_until = math.inf
                await wake.wait()
                continue
            now = self.clock.time()
            earliest = min(t.due for t in pollable)
            if earliest > now:
                self._sleeping_until = earliest
                await sleep_or_wake(self.clock, earliest - now, wake)
                continue
            floor = self._floor()
            due = [t for t in pollable if t.due <= now + floor / 2]
            await self.refresh(due)

    def _retry_later(self, tracked: Tracked) -> None:
        tracked.failures += 1
        tracked.due = self.clock.time() + self.pacer.backoff(tracked.failures)

    async def refresh(self, due: list[Tracked]) -> None:
        """Ask the provider about ``due`` jobs and apply its answers.

        Where the transport reads list pages for them and can say what those pages showed
        of the other jobs polled here
        ([`SupportsFetchSeen`][soravideo.transports.SupportsFetchSeen]), those answers are
        used too, after the due ones ([W2-4]): a job seen finished has its end written as a
        due job's end is (the same guarded compare-and-set, its result downloaded first);
        a job seen running has the page's progress added to its observations and, when its
        next poll was less than the minimum interval away, that poll scheduled from them
        (never sooner than the minimum interval), so it is not asked about again soon; its
        progress is written at its own poll, which keeps a refresh's writes to the jobs due. A
        job being cancelled is left alone, and a seen job's progress is never taken below
        what is recorded.

        The answers are written together (one ledger call where the ledger takes many, a
        thousand at most), those before a download before it starts. Neither a provider's
        error nor a ledger that refuses a write stops polling: the jobs concerned are asked
        about again after a backoff.
        """
        ids = [t.job.remote_id for t in due if t.job.remote_id]
        watched: dict[str, Tracked] = {}
        unanswered: set[str] = set()  # read one by one, failed: asked about again later
        try:
            if len(ids) > 1 and self.transport.capabilities.can_list:
                if isinstance(self.transport, SupportsFetchSeen):
                    watched = self._watched(due)
                    remotes = await self.pacer.call(
                        self.transport.fetch_many_seen, ids, watched=watched.keys()
                    )
                else:
                    remotes = await self.pacer.call(self.transport.fetch_many, ids)
            else:
                remotes = await self._read_each(due, unanswered)
        except ProviderError as exc:
            logger.warning("status refresh of %d jobs failed: %s", len(ids), exc)
            for tracked in due:
                self._retry_later(tracked)
            if exc.status_code == 404 and len(due) == 1:
                await self._record([self._missing(due[0])])
            return
        except Exception:
            # A transport's own bug (not a ProviderError): the jobs are asked about again
            # after a backoff; the engine goes on and no job is dropped.
            logger.exception("status refresh of %d jobs failed unexpectedly", len(ids))
            for tracked in due:
                self._retry_later(tracked)
            return
        answers: list[_Answer | None] = []
        for tracked in due:
            remote = remotes.get(tracked.job.remote_id or "")
            if len(answers) >= _WRITTEN_TOGETHER or (
                remote is not None and self._downloads(tracked.job, remote)
            ):
                # A download takes a while: what was learnt before it is written first.
                await self._record(answers)
                answers = []
            if tracked.job.id not in self.state.tracked or tracked.job.id in self.state.cancelling:
                continue
            if tracked.job.id in unanswered:
                continue  # its read failed: asked about again after a backoff
            if remote is None:
                answers.append(self._missing(tracked))
            else:
                tracked.failures = tracked.missing = 0
                answers.append(await self._answer(tracked, remote))
        for remote_id, remote in remotes.items():
            seen = watched.get(remote_id)
            if seen is None:
                continue  # one of the due jobs (or no job polled here)
            if len(answers) >= _WRITTEN_TOGETHER or self._downloads(seen.job, remote):
                await self._record(answers)
                answers = []
            if not self._ours(seen):
                continue  # ended, let go or being cancelled since the pages were read
            seen.failures = seen.missing = 0
            answers.append(
                await self._answer(seen, self._not_behind(seen, remote), progress_written=False)
            )
        await self._record(answers)

    async def _read_each(self, due: list[Tracked], unanswered: set[str]) -> dict[str, RemoteJob]:
        """Read ``due`` jobs one by one (a provider that cannot list): one job's failed read
        never holds up the others.

        A job the provider no longer knows (404) is left out of the answers, and counted
        missing as a list would leave it out. Any other failure is not about one job (an
        outage, a 429, a key refused): that job and the rest of the round are asked about
        again after a backoff (their ids added to ``unanswered``), instead of each paying a
        retry cycle of its own.

        Raises:
            ProviderError: The first read failed, when it is the only one.
        """
        remotes: dict[str, RemoteJob] = {}
        for index, tracked in enumerate(due):
            remote_id = tracked.job.remote_id
            if not remote_id:
                continue
            try:
                remotes[remote_id] = await self.pacer.call(self.transport.fetch, remote_id)
            except ProviderError as exc:
                if len(due) == 1:
                    raise
                if exc.status_code == 404:
                    logger.warning("job %s: the provider no longer knows it", tracked.job.id)
                    continue
                # Not about this job alone (an outage, a rate limit, a key refused): the rest
                # of the round would fail the same way, one retry cycle each.
                logger.warning("status read of job %s failed: %s", tracked.job.id, exc)
                for later in due[index:]:
                    unanswered.add(later.job.id)
                    self._retry_later(later)
                break
        return remotes

    def _watched(self, due: list[Tracked]) -> dict[str, Tracked]:
        """The other jobs polled here, by remote id: those whose answers a page may show."""
        asked = {t.job.id for t in due}
        cancelling = self.state.cancelling
        return {
            t.job.remote_id: t
            for t in self.state.tracked.values()
            if t.job.remote_id and t.job.id not in asked and t.job.id not in cancelling
        }

    @staticmethod
    def _not_behind(tracked: Tracked, remote: RemoteJob) -> RemoteJob:
        """A seen job's answer, its progress never below the one recorded (a webhook's news
        may have been written since the page was read)."""
        if remote.status.is_terminal or remote.progress >= tracked.job.progress:
            return remote
        return attrs.evolve(remote, progress=tracked.job.progress)

    async def _record(self, answers: Sequence[_Answer | None]) -> None:
        """Write answers to the ledger together, then follow each one's outcome in turn."""
        written = [answer for answer in answers if answer is not None]
        if not written:
            return
        outcomes = await self.ledger.write_many([answer.write for answer in written])
        for answer, outcome in zip(written, outcomes, strict=True):
            tracked = answer.tracked
            if answer.ends is None and isinstance(outcome, Job) and not self._ours(tracked):
                continue  # a cancel took the job over since its write: its progress is old news
            try:
                await self._settle(answer, outcome)
            except RepositoryError as exc:
                # The ledger refused the write (locked, down): the job stays here, with a
                # remote id it may not have recorded yet, and is checked and written again.
                self._retry_later(tracked)
                logger.warning(
                    "job %s: ledger write failed (%s); trying again", tracked.job.id, exc
                )

    def _ours(self, tracked: Tracked) -> bool:
        """Whether this engine still polls the job (no cancel has begun on it)."""
        job_id = tracked.job.id
        return self.state.tracked.get(job_id) is tracked and job_id not in self.state.cancelling

    async def _settle(self, answer: _Answer, outcome: Outcome) -> None:
        """Follow the write of an answer: announce it and schedule the next poll, or end the
        job, or stop driving a job someone else changed.

        Raises:
            RepositoryError: The ledger refused the write (``outcome``), or a read after it.
        """
        tracked, job = answer.tracked, answer.write.job
        if answer.ends is not None:
            await self.ledger.ended(job, answer.ends, outcome)
        elif isinstance(outcome, (ConflictError, JobNotFoundError)):
            await self.ledger.changed_elsewhere(job)
        elif not isinstance(outcome, Job):
            raise outcome
        else:
            tracked.job = outcome
            await self.events.emit("progress", outcome)
            tracked.due = answer.now + self.poll_delay(tracked)

    def _missing(self, tracked: Tracked) -> _Answer | None:
        """Count an answer that the provider no longer knows the job; fail it on the third."""
        tracked.failures += 1
        tracked.missing += 1
        if tracked.missing < _MISSING_LIMIT:
            tracked.due = self.clock.time() + self.pacer.backoff(tracked.failures)
            return None
        error = JobError(code="remote_missing", message="the provider no longer knows this job")
        end = self.ledger.ending(tracked.job, JobStatus.FAILED, error=error)
        return _Answer(tracked, end, self.clock.time())

    async def push(self, job: Job, remote: RemoteJob | None) -> Job | None:
        """Apply what a webhook delivery says of a job, as a poll's answer is applied.

        The same writes as polling (``apply``: a compare-and-set on the job's status, its
        result downloaded first when there is a download directory). A job this engine
        polls is written under its lease; any other (driven by another process, or by
        none) without one, so whoever writes first wins and the other one finds the job
        changed. Nothing moves a job backwards: a finished or cancelling job is left as
        it is, and an older progress than the one recorded is not written.

        Args:
            job: The job as the ledger has it (the owner of the delivery's remote id).
            remote: What the delivery says; ``None`` for a thin event, whose job is then
                read from the provider once.

        Returns:
            The job as written, or ``None`` when nothing was applied.

        Raises:
            ProviderError: The status read of a thin event failed.
            RepositoryError: The ledger refused the write.
        """
        if job.status is not JobStatus.PROCESSING or job.id in self.state.cancelling:
            return None
        if job.remote_id is None:
            return None
        if remote is None:
            remote = await self.pacer.call(self.transport.fetch, job.remote_id)
        else:
            remote = attrs.evolve(remote, remote_id=job.remote_id)
        tracked = self.state.tracked.get(job.id)
        current = tracked.job if tracked is not None else job
        if not remote.status.is_terminal:
            word = remote.provider_status or None
            if remote.progress <= current.progress and word == current.provider_status:
                return None
            if remote.progress < current.progress:
                remote = attrs.evolve(remote, progress=current.progress)
        if tracked is None:
            seen: list[Observation] = [(self.clock.time(), job.progress)]
            tracked = Tracked(job=job, observations=seen, due=math.inf)
            written = await self.apply(tracked, remote, guarded=False)
        else:
            tracked.failures = tracked.missing = 0
            written = await self.apply(tracked, remote)
        # Only this delivery's own write: a job someone else changed first (a cancel, a
        # poll) was not changed by it, whatever the ledger now shows.
        return written

    async def check(self, job: Job) -> Job | None:
        """Ask the provider about one job now and record its answer as a poll does (a cancel
        that the provider answered with "already ended").

        A job this engine polls is written under its lease, and a failed read has it asked
        about again after a backoff, as a poll's does; any other job without a lease, so
        whoever writes first wins and the other finds the job changed.

        Args:
            job: The job as the ledger has it (``processing``, with a remote id).

        Returns:
            The job as written (its end, or its progress); ``None`` when nothing was
            written (nothing new, or someone else changed the job first).

        Raises:
            ProviderError: The status read failed.
            RepositoryError: The ledger refused the write.
        """
        tracked = self.state.tracked.get(job.id)
        try:
            remote = await self.pacer.call(self.transport.fetch, job.remote_id or "")
        except ProviderError:
            if tracked is not None:
                self._retry_later(tracked)
            raise
        if tracked is not None:
            tracked.failures = tracked.missing = 0
            return await self.apply(tracked, remote)
        seen: list[Observation] = [(self.clock.time(), job.progress)]
        untracked = Tracked(job=job, observations=seen, due=math.inf)
        return await self.apply(untracked, remote, guarded=False)

    async def apply(
        self, tracked: Tracked, remote: RemoteJob, *, guarded: bool = True
    ) -> Job | None:
        """Record what the provider says of a job: its progress, or its end.

        Args:
            tracked: The job and its polling schedule.
            remote: The provider's answer.
            guarded: Write under this engine's lease (a job it polls); ``False`` for a
                webhook's news of a job it does not hold.

        Returns:
            The job as this write left it; ``None`` when nothing was written (nothing new)
            or the write found the job changed by someone else (cancelled, taken over).

        Raises:
            RepositoryError: The ledger refused the write (the job stays tracked).
        """
        answer = await self._answer(tracked, remote, guarded=guarded)
        if answer is None:
            return None
        [outcome] = await self.ledger.write_many([answer.write])
        await self._settle(answer, outcome)
        return outcome if isinstance(outcome, Job) else None

    async def _answer(
        self,
        tracked: Tracked,
        remote: RemoteJob,
        *,
        guarded: bool = True,
        progress_written: bool = True,
    ) -> _Answer | None:
        """What to write of the provider's answer (its result downloaded first, when it is a
        completed video and there is a download directory); ``None`` when nothing changed,
        or when the answer is progress and ``progress_written`` is false (a job seen on a
        list page, not asked about: what it shows is added to its observations, and its
        next poll scheduled from them when it was due sooner than the minimum interval)."""
        job = tracked.job
        now = self.clock.time()
        final = {"provider_status": remote.provider_status or None, **cost_changes(remote)}
        if remote.status is JobStatus.COMPLETED:
            result = await self.result(job, remote)
            end = self.ledger.ending(
                job,
                JobStatus.COMPLETED,
                guarded=guarded,
                progress=100,
                result=result,
                error=None,
                **final,
            )
            return _Answer(tracked, end, now)
        if remote.status is JobStatus.FAILED:
            error = remote.error or JobError(code="failed", message="the provider reported failure")
            end = self.ledger.ending(job, JobStatus.FAILED, guarded=guarded, error=error, **final)
            return _Answer(tracked, end, now)
        if remote.status is JobStatus.CANCELLED:
            end = self.ledger.ending(job, JobStatus.CANCELLED, guarded=guarded, **final)
            return _Answer(tracked, end, now)
        tracked.hint = remote.poll_after
        if remote.queue_position:  # [W2-5 fal] queued, not refused: back-pressure too
            self.pacer.limit.on_queued(len(self.state.tracked), remote.queue_position)
        if remote.progress != (tracked.observations[-1][1] if tracked.observations else 0):
            tracked.observations.append((now, remote.progress))
        status_word = remote.provider_status or None
        if progress_written and (
            remote.progress != job.progress or status_word != job.provider_status
        ):
            changes = {
                "progress": remote.progress,
                "provider_status": status_word,
                **cost_changes(remote),
            }
            return _Answer(tracked, Write(job, JobStatus.PROCESSING, changes, guarded), now)
        if progress_written or tracked.due < now + self._floor():
            # A job seen on a page keeps a poll already at least the minimum interval away:
            # the next page that shows it (or that poll) says whether it ended.
            tracked.due = now + self.poll_delay(tracked)
        return None

    def _download_dir(self, job: Job) -> str | os.PathLike[str] | None:
        # The job's own directory first: it may have been created by another process.
        return job.download_dir or self.settings.download_dir

    def _downloads(self, job: Job, remote: RemoteJob) -> bool:
        """Whether writing this answer waits for a download first."""
        return remote.status is JobStatus.COMPLETED and self._download_dir(job) is not None

    async def result(self, job: Job, remote: RemoteJob) -> VideoResult:
        """Return a completed job's result, with the video downloaded to the job's (or the
        client's) download directory when there is one (a few attempts; a failed download
        leaves the result without a path)."""
        result = VideoResult(
            remote_id=remote.remote_id,
            url=remote.urls.get("video"),
            expires_at=remote.expires_at,
        )
        directory = self._download_dir(job)
        if directory is None:
            ttl = self.transport.capabilities.results_expire_after
            if ttl is not None:
                logger.warning(
                    "job %s: %s deletes the video %.0f minutes after it completes and no "
                    "download_dir is set: download it now (videos.download_video)",
                    job.id,
                    job.provider,
                    ttl / 60,
                )
            return result
        for attempt in range(1, _DOWNLOAD_ATTEMPTS + 1):
            try:
                await self.pacer.gate()
                # A file already there is kept only if it is this very video (the same
                # job saved before, by a worker that died before recording it); another
                # file is never replaced: the job completes without a path.
                got = await download_content(
                    self.transport,
                    remote.remote_id,
                    os.path.join(directory, ""),  # a directory, even one not made yet
                    name=file_name(job.id),
                    max_bytes=self.settings.max_download_bytes,
                    existing="same",
                )
            except (ProviderError, OSError, ValidationError) as exc:
                logger.warning("job %s: download attempt %d failed: %s", job.id, attempt, exc)
                if not _worth_retrying(exc) or attempt == _DOWNLOAD_ATTEMPTS:
                    break  # no wait after the last attempt: nothing follows it
                await self.clock.sleep(self.pacer.backoff(attempt))
                continue
            return attrs.evolve(
                result,
                path=str(got.path),
                bytes=got.bytes,
                sha256=got.sha256,
                content_type=got.content_type,
            )
        return result
