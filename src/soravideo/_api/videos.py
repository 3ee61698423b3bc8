"""The service behind ``client.videos``: validate, store, then let the runner work."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from .._core.clock import now_utc
from .._core.errors import FieldError, JobStateError, JobTimeoutError, ValidationError
from .._core.models import (
    CreateVideoRequest,
    Job,
    JobStatus,
    Page,
    VideoResult,
)
from .._core.validation import check_request, id_errors, page_errors, raise_if, timeout_errors
from .._engine.downloads import Existing, download_content, file_name
from .._engine.runner import REMIX_OF, JobRunner
from ..transports.base import model_problems
from .completion import each_as_it_ends
from .context import ClientContext

if TYPE_CHECKING:
    from .progress import Bar

__all__ = [
    "AsyncVideoService",
    "check_id",
    "check_page",
    "new_id",
    "new_job",
    "parse_status",
    "save_video",
]

_VARIANTS_FIELD = "variant"


def new_id(prefix: str) -> str:
    """Return a new unique id such as ``job_0189c3…`` that sorts by creation time.

    Jobs created within one tick of a (simulated) clock share ``created_at``; ids that
    sort in creation order keep "oldest first" exact among them.
    """
    return f"{prefix}_{time.time_ns():016x}{uuid.uuid4().hex[:12]}"


def check_page(page: int, limit: int) -> None:
    """Raise ``ValidationError`` for a page outside 1–10⁹ or a limit outside 1–1000."""
    raise_if(page_errors(page, limit))


def check_id(value: str, field: str = "job_id", *, kind: str = "job") -> None:
    """Raise ``ValidationError`` when ``value`` cannot be a job (or batch) id."""
    raise_if(id_errors(value, field, kind=kind))


def parse_status(status: JobStatus | str | None) -> JobStatus | None:
    """Accept a ``JobStatus`` or its value; ``ValidationError`` for anything else."""
    if status is None or isinstance(status, JobStatus):
        return status
    try:
        return JobStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in JobStatus)
        raise ValidationError(
            [FieldError(field="status", message=f"unknown status {status!r}; use one of {allowed}")]
        ) from None


def new_job(
    context: ClientContext,
    request: CreateVideoRequest,
    *,
    batch_id: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Job:
    """Build (not store) a pending job for a validated request."""
    now = now_utc(context.clock)
    download_dir = context.settings.download_dir
    return Job(
        id=new_id("job"),
        status=JobStatus.PENDING,
        priority=request.priority,
        request=request,
        provider=context.transport.name,
        batch_id=batch_id,
        metadata={**request.metadata, **(metadata or {})},
        estimated_cost_usd=context.transport.estimate_cost(request),
        created_at=now,
        updated_at=now,
        download_dir=os.fspath(download_dir) if download_dir is not None else None,
    )


async def save_video(
    context: ClientContext,
    job_id: str,
    dest: str | os.PathLike[str],
    variant: str,
    *,
    existing: Existing,
) -> Path:
    """Download as ``AsyncVideoService.download_video`` does, with a chosen policy for an
    existing file (``resume`` keeps a file that is this very video: ``"same"``)."""
    check_id(job_id)
    await context.engine()
    job = await context.repository.get_job(job_id)
    if job.status is not JobStatus.COMPLETED or job.remote_id is None:
        raise JobStateError(job.id, job.status.value, "only a completed job can be downloaded")
    variants = context.transport.capabilities.variants
    if variant not in variants:
        raise ValidationError(
            [FieldError(field=_VARIANTS_FIELD, message=f"use one of {', '.join(variants)}")]
        )
    got = await download_content(
        context.transport,
        job.remote_id,
        dest,
        variant=variant,
        name=file_name(job.id, variant),
        max_bytes=context.settings.max_download_bytes,
        existing=existing,
    )
    if variant == "video" and job.result is not None:
        result = attrs.evolve(
            job.result,
            path=str(got.path),
            bytes=got.bytes,
            sha256=got.sha256,
            content_type=got.content_type,
        )
        updated = attrs.evolve(job, result=result, updated_at=now_utc(context.clock))
        await context.repository.update_job(updated, expected_status=JobStatus.COMPLETED)
    return got.path


class _JobLook:
    """``wait_for_job``'s look at its job: the job if it ended, else how long to wait.

    One small object a waiter rather than a closure and its cells: ten thousand waiters
    each hold one for as long as they wait ([W2-4]).
    """

    __slots__ = (
        "_bar",
        "_cancel_on_timeout",
        "_context",
        "_deadline",
        "_timeout",
        "ended",
        "job_id",
    )

    def __init__(
        self,
        context: ClientContext,
        job_id: str,
        timeout: float | None,
        *,
        cancel_on_timeout: bool,
        bar: Bar | None,
    ) -> None:
        self._context = context
        self.job_id = job_id
        self._timeout = timeout
        self._deadline = None if timeout is None else context.clock.time() + timeout
        self._cancel_on_timeout = cancel_on_timeout
        self._bar = bar
        self.ended: Job | None = None

    async def __call__(self, runner: JobRunner) -> float | None:
        job_id = self.job_id
        # The job as the engine announced it, when that is what woke us. A waiter of the
        # end only (no bar) trusts only an ended one: news on the way kept for another
        # waiter may be older than the ledger. Otherwise the ledger, even for a job this
        # engine drives: another process may have ended it (a cancel) before this engine
        # noticed.
        job = runner.events.latest(job_id)
        if job is None or (self._bar is None and not job.is_terminal):
            job = await self._context.repository.get_job(job_id)
        if self._bar is not None:
            self._bar.update(job)
        if job.is_terminal:
            self.ended = job
            return None
        if self._expired():
            if self._cancel_on_timeout:
                try:
                    await runner.cancel(job_id)
                except JobStateError:
                    # It had ended meanwhile, in the ledger or at the provider (its video
                    # finished unseen, now recorded): that end is what the wait returns.
                    job = await self._context.repository.get_job(job_id)
                    if job.is_terminal:
                        self.ended = job
                        return None
            raise JobTimeoutError(job_id, float(self._timeout or 0), status=job.status.value)
        return self._next_wait(runner)

    def _expired(self) -> bool:
        return self._deadline is not None and self._deadline <= self._context.clock.time()

    def _next_wait(self, runner: JobRunner) -> float:
        wait = runner.recheck_interval(self.job_id)
        if self._deadline is not None:
            wait = min(wait, self._deadline - self._context.clock.time())
        return wait


class AsyncVideoService:
    """Create, watch, cancel, list and download single videos (``client.videos``).

    Examples:
        ```python
        request = sv.CreateVideoRequest(prompt="A hummingbird in slow motion", duration=4)
        job = await client.videos.create_video(request)
        job = await client.videos.wait_for_job(job.id)
        path = await client.videos.download_video(job.id, "videos/")
        print(path)  # videos/job_….mp4
        ```
    """

    def __init__(self, context: ClientContext) -> None:
        self._context = context

    def validate(self, request: CreateVideoRequest, path: str = "") -> list[FieldError]:
        """Return every neutral and provider-specific problem of ``request``; store nothing.

        Args:
            request: The request to check.
            path: A prefix for the field names (``"videos[3]"`` gives
                ``videos[3].prompt``); empty for a request on its own.

        Returns:
            One [`FieldError`][soravideo.FieldError] per problem; empty when it can be sent.

        Examples:
            ```python
            request = sv.CreateVideoRequest(prompt="", duration=-1)
            for error in client.videos.validate(request):
                print(error)  # prompt: …, then duration: …
            ```
        """
        errors = check_request(request, path)
        if not errors:
            transport = self._context.transport
            errors = [
                *model_problems(transport.capabilities, request.model, path),
                *transport.validate(request, path),
            ]
        return errors

    async def create_video(self, request: CreateVideoRequest) -> Job:
        """Validate and store a new job; the runner sends it as soon as there is room.

        Args:
            request: What to generate.

        Returns:
            The new job, ``pending``.

        Raises:
            ValidationError: naming every bad field; nothing was stored or sent.
            RuntimeError: the client is closed; nothing was stored.

        Examples:
            ```python
            request = sv.CreateVideoRequest(
                prompt="A timelapse of clouds over a mountain lake",
                model="sora-2",
                duration=8,
                size="1280x720",
                metadata={"campaign": "spring"},
            )
            job = await client.videos.create_video(request)
            print(job.id, job.status)  # job_… pending
            ```
        """
        raise_if(self.validate(request))
        job = new_job(self._context, request)
        return await self._store(job)

    async def create_videos(self, requests: Sequence[CreateVideoRequest]) -> list[Job]:
        """Validate and store many single jobs in one ledger write: all of them or none.

        What [`create_video`][soravideo.AsyncVideoService.create_video] does for one
        request, for many at a time and at a fraction of the cost a job (one write, one
        wake-up of the engine): each job is its own (no batch), sent as soon as there is
        room, highest priority first, then in the order given.

        Args:
            requests: What to generate, one request a video.

        Returns:
            The new jobs, ``pending``, in the order of ``requests``.

        Raises:
            ValidationError: naming every bad field as ``requests[i].field`` (or
                ``requests`` when it is not a list of requests); nothing was stored or sent.
            RuntimeError: the client is closed; nothing was stored.

        Examples:
            ```python
            prompts = ["A cat on a windowsill", "A dog on a beach", "An owl at night"]
            jobs = await client.videos.create_videos([sv.CreateVideoRequest(prompt=p) for p in prompts])
            print([job.status for job in jobs])  # three pending jobs
            ```
        """
        if isinstance(requests, (str, bytes)) or not isinstance(requests, Sequence):
            raise ValidationError(
                [FieldError(field="requests", message="must be a list of CreateVideoRequest")]
            )
        errors: list[FieldError] = []
        for index, request in enumerate(requests):
            errors += self.validate(request, f"requests[{index}]")
        raise_if(errors)
        jobs = [new_job(self._context, request) for request in requests]
        runner = await self._context.working_engine()
        await self._context.repository.add_jobs(jobs)
        for job in jobs:
            await runner.events.emit("created", job)
        runner.wake()
        return jobs

    def as_completed(
        self, job_ids: Sequence[str], timeout: float | None = None
    ) -> AsyncIterator[Job]:
        """Yield each job as it ends (completed, failed or cancelled), the first to end first.

        One waiter for them all: ``async for job in client.videos.as_completed(ids):``
        handles each video as soon as it is done, where waiting for each in turn would
        leave the finished ones waiting behind a slow one. A job already ended comes at
        once; each comes once. A failed job is yielded, not raised: look at
        ``job.status``. Stopping the loop early stops the wait, not the jobs.

        Args:
            job_ids: The jobs to wait for (an id given twice comes once).
            timeout: A real deadline in seconds for all of them, from this call (on the
                client's clock); ``None`` waits as long as it takes.

        Returns:
            The jobs, one at a time as they end (iterate with ``async for``), each as the
            ledger has it then.

        Raises:
            JobTimeoutError: the deadline passed before every job ended (raised by the
                iteration; it names the first job still unfinished, and the jobs go on).
            JobNotFoundError: no job has one of these ids (raised by the iteration).
            ValidationError: ``job_ids`` is not a list of job ids (each bad one named as
                ``job_ids[i]``), or ``timeout`` is not a finite number ≥ 0 (or ``None``).

        Examples:
            ```python
            requests = [sv.CreateVideoRequest(prompt=f"Scene {n} of a heist") for n in range(1, 4)]
            jobs = await client.videos.create_videos(requests)
            async for job in client.videos.as_completed([job.id for job in jobs], timeout=600):
                print(job.id, job.status)  # each as soon as it ends
            ```
        """
        if isinstance(job_ids, (str, bytes)) or not isinstance(job_ids, Sequence):
            raise ValidationError(
                [FieldError(field="job_ids", message="must be a list of job ids")]
            )
        errors = [
            error
            for index, job_id in enumerate(job_ids)
            for error in id_errors(job_id, f"job_ids[{index}]")
        ]
        raise_if([*errors, *timeout_errors(timeout)])
        clock = self._context.clock
        deadline = None if timeout is None else clock.time() + timeout
        return each_as_it_ends(self._context, list(dict.fromkeys(job_ids)), timeout, deadline)

    async def _store(self, job: Job) -> Job:
        runner = await self._context.working_engine()
        await runner.add_created(job)
        await runner.events.emit("created", job)
        runner.created(job)
        return job

    async def get_job(self, job_id: str) -> Job:
        """Return a job as the ledger has it.

        Args:
            job_id: The job's id.

        Raises:
            JobNotFoundError: no job has this id.
            ValidationError: ``job_id`` is not a job id (not text, or of another shape).

        Examples:
            ```python
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A steam train"))
            job = await client.videos.get_job(job.id)
            print(job.status, job.progress)  # pending 0
            ```
        """
        check_id(job_id)
        await self._context.engine()
        return await self._context.repository.get_job(job_id)

    async def wait_for_job(
        self,
        job_id: str,
        timeout: float | None = None,
        *,
        cancel_on_timeout: bool = False,
        progress: bool = False,
    ) -> Job:
        """Wait until the job is completed, failed or cancelled, and return it.

        A failed job is returned, not raised: look at ``job.status`` and ``job.error``.

        Args:
            job_id: The job to wait for.
            timeout: A real deadline in seconds (on the client's clock); ``None`` waits as
                long as it takes.
            cancel_on_timeout: On expiry, also cancel the job at the provider so that it
                stops costing money; a job the cancel finds ended (in the ledger, or at
                the provider: a video finished but not yet seen) is returned instead.
            progress: Show a progress bar (needs the ``progress`` extra).

        Raises:
            JobTimeoutError: the deadline passed first (also a ``TimeoutError``).
            JobNotFoundError: no job has this id.
            ValidationError: ``job_id`` is not a job id, or ``timeout`` is not a finite
                number ≥ 0 (or ``None``).

        Examples:
            ```python
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="Waves at night"))
            job = await client.videos.wait_for_job(job.id, timeout=600, cancel_on_timeout=True)
            if job.status == sv.JobStatus.COMPLETED:
                print("done:", job.result.remote_id)
            else:
                print("no video:", job.status, job.error)
            ```
        """
        from .progress import job_progress

        raise_if([*id_errors(job_id, "job_id"), *timeout_errors(timeout)])

        context = self._context
        await context.engine()
        with job_progress(enabled=progress, job_id=job_id) as bar:
            look = _JobLook(
                context,
                job_id,
                timeout,
                cancel_on_timeout=cancel_on_timeout,
                bar=bar if progress else None,
            )
            try:
                await context.watch(look, job_id=job_id, ends_only=not progress)
            finally:
                context.events.latest(job_id)  # nothing kept for a waiter gone
        assert look.ended is not None
        return look.ended

    async def get_video_result(self, job_id: str) -> VideoResult:
        """Return the result of a completed job.

        Args:
            job_id: A completed job.

        Raises:
            JobStateError: the job is not completed.
            JobNotFoundError: no job has this id.
            ValidationError: ``job_id`` is not a job id.

        Examples:
            ```python
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A city from above"))
            await client.videos.wait_for_job(job.id)
            result = await client.videos.get_video_result(job.id)
            print(result.remote_id, result.url)
            ```
        """
        job = await self.get_job(job_id)
        if job.status is not JobStatus.COMPLETED or job.result is None:
            raise JobStateError(job.id, job.status.value, "only a completed job has a result")
        return job.result

    async def cancel_job(self, job_id: str) -> Job:
        """Cancel a job: a pending one is never sent; an in-flight one is cancelled at the provider.

        Args:
            job_id: The job to cancel.

        Returns:
            The job, ``cancelled``.

        Where the provider says when a job had already ended (fal, Gemini, Replicate,
        Runway), or has no cancel and the job is read instead (OpenRouter), an in-flight job
        is asked about at the provider before its cancel is written: a video that had
        finished there unseen (no status check or delivery yet) is recorded ``completed``,
        with its result, and ``JobStateError`` is raised as for any finished job: a video
        the provider made and bills is never hidden behind ``cancelled``.

        Raises:
            JobStateError: the job already finished, in the ledger or at the provider.
            JobNotFoundError: no job has this id.
            ValidationError: ``job_id`` is not a job id.

        Examples:
            ```python
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A slow sunrise"))
            job = await client.videos.cancel_job(job.id)
            print(job.status)  # cancelled: never sent, never billed
            ```
        """
        check_id(job_id)
        runner = await self._context.engine()
        return await runner.cancel(job_id)

    async def list_jobs(
        self,
        status: JobStatus | str | None = None,
        batch_id: str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> Page[Job]:
        """Return one page of jobs, newest first, optionally by status and batch.

        Args:
            status: Only jobs in this status (a [`JobStatus`][soravideo.JobStatus] or its
                value, ``"completed"``).
            batch_id: Only the jobs of this batch.
            page: Which page, from 1.
            limit: Jobs a page, from 1 to 1000.

        Raises:
            ValidationError: an unknown ``status``, a ``batch_id`` that is not a batch id,
                ``page`` outside 1–10⁹ or ``limit`` outside 1–1000 (each one named).

        Examples:
            ```python
            page = await client.videos.list_jobs(status="completed", limit=50)
            for job in page.items:
                print(job.id, job.request.prompt)
            print(f"page {page.page} of {page.pages}, {page.total} jobs")
            ```
        """
        errors = page_errors(page, limit)
        if batch_id is not None:
            errors = [*id_errors(batch_id, "batch_id", kind="batch"), *errors]
        try:
            parsed = parse_status(status)
        except ValidationError as exc:
            errors = [*exc.errors, *errors]
        raise_if(errors)
        await self._context.engine()
        return await self._context.repository.list_jobs(
            status=parsed, batch_id=batch_id, page=page, limit=limit
        )

    async def download_video(
        self,
        job_id: str,
        dest: str | os.PathLike[str],
        variant: str = "video",
        *,
        overwrite: bool = False,
    ) -> Path:
        """Stream a completed job's content to ``dest``, check it, and return the path.

        The content is written to a temporary file beside the target and renamed only
        once it passed its checks (content type, the container's first bytes, its length,
        ``max_download_bytes``); nothing is left behind when it fails or is cancelled.

        Args:
            job_id: A completed job.
            dest: A file path (missing parent directories are made); or a directory,
                existing or a path ending in a separator (made if missing), which gets
                ``<job id>.<ext>`` inside it (``.mp4``, ``.webp``, ``.jpg``).
            variant: ``"video"``, or another variant the provider offers
                (``"thumbnail"``, ``"spritesheet"`` for the Sora protocol).
            overwrite: Replace a file already at the target (only once the new content
                passed its checks). Without it, an existing file is an error and nothing
                is fetched.

        Returns:
            The path written.

        Raises:
            JobStateError: the job is not completed.
            ValidationError: the provider has no such variant; ``job_id`` is not a job id;
                ``dest`` is not a path; or a file is at the target and ``overwrite`` is false
                (field ``dest``, naming the path).
            DownloadError: the content failed its checks; nothing was kept.

        Examples:
            ```python
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A glass of water"))
            await client.videos.wait_for_job(job.id)
            video = await client.videos.download_video(job.id, "out/glass.mp4")
            thumbnail = await client.videos.download_video(job.id, "out/", variant="thumbnail")
            print(video, thumbnail)  # out/glass.mp4 out/job_….webp
            ```
        """
        errors = id_errors(job_id, "job_id")
        if not isinstance(dest, (str, os.PathLike)) or (isinstance(dest, str) and not dest):
            errors.append(FieldError(field="dest", message="must be a file or directory path"))
        if not isinstance(variant, str):
            errors.append(FieldError(field=_VARIANTS_FIELD, message="must be text"))
        raise_if(errors)
        # Its retries sleep on the client's clock: driven like a wait, so that simulated
        # time moves meanwhile (it moves only while a user's call waits on a running engine).
        runner = await self._context.engine()
        async with runner.driving():
            return await save_video(
                self._context, job_id, dest, variant, existing="replace" if overwrite else "refuse"
            )

    async def remix_video(self, job_id: str, prompt: str) -> Job:
        """Create a new job that remixes a completed video with a new prompt.

        Args:
            job_id: The completed job whose video is remixed.
            prompt: What to change.

        Returns:
            The new job, ``pending``.

        Raises:
            JobStateError: the source job is not completed.
            ValidationError: the prompt is invalid, ``job_id`` is not a job id, or the
                provider cannot remix.
            RuntimeError: the client is closed; nothing was stored.

        Examples:
            ```python
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A blue car"))
            await client.videos.wait_for_job(job.id)
            remix = await client.videos.remix_video(job.id, "Make the car red")
            remix = await client.videos.wait_for_job(remix.id)
            print(remix.status)  # completed
            ```
        """
        errors = id_errors(job_id, "job_id")
        if not isinstance(prompt, str):
            errors.append(FieldError(field="prompt", message="must be a string"))
        raise_if(errors)
        source = await self.get_job(job_id)
        if not self._context.transport.capabilities.can_remix:
            raise ValidationError(
                [FieldError(field="job_id", message=f"provider {source.provider} cannot remix")]
            )
        if source.status is not JobStatus.COMPLETED or source.remote_id is None:
            raise JobStateError(
                source.id, source.status.value, "only a completed video can be remixed"
            )
        request = attrs.evolve(source.request, prompt=prompt, input_reference=None)
        raise_if(check_request(request))
        job = new_job(self._context, request, metadata={REMIX_OF: source.remote_id})
        return await self._store(job)
