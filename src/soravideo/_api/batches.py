"""The service behind ``client.batches``: many videos, stored whole, processed together."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import attrs

from .._core.clock import now_utc
from .._core.converter import dumps
from .._core.errors import (
    BudgetExceededError,
    ConflictError,
    FieldError,
    JobStateError,
    ValidationError,
)
from .._core.manifest import read_manifest
from .._core.models import (
    Batch,
    BatchProgress,
    BatchResult,
    BatchStatus,
    BatchStatusReport,
    BatchVideoRequest,
    CancellationSummary,
    CreateVideoRequest,
    JobStatus,
    Page,
)
from .._core.validation import (
    MAX_KEY_LENGTH,
    check_batch,
    check_request,
    concurrency_errors,
    id_errors,
    raise_if,
    unsendable,
)
from .._engine.runner import JobRunner
from ..transports.base import model_problems
from .context import ClientContext
from .videos import check_id, check_page, new_id, new_job

__all__ = ["AsyncBatchService", "final_status", "request_sha256"]


def request_sha256(request: BatchVideoRequest) -> str:
    """Return the fingerprint of a batch request: the SHA-256 of its canonical JSON."""
    return hashlib.sha256(dumps(request).encode()).hexdigest()


def _same_batch(batch: Batch, key: str, fingerprint: str) -> BatchResult:
    """Return the stored batch of ``key`` if it was made from the request ``fingerprint``."""
    if batch.request_sha256 not in (None, fingerprint):
        raise ConflictError(
            batch.id,
            message=f"batch key {key!r} is taken by batch {batch.id!r}, made from another "
            "request; use another key for a new batch",
        )
    return BatchResult(batch_id=batch.id, job_ids=batch.job_ids, total=len(batch.job_ids))


def _key_errors(key: Any) -> list[FieldError]:
    if key is None:
        return []
    if not isinstance(key, str) or not key.strip():
        return [FieldError(field="key", message="must be a non-blank string")]
    if len(key) > MAX_KEY_LENGTH:
        return [FieldError(field="key", message=f"must be at most {MAX_KEY_LENGTH} characters")]
    return unsendable(key, "key")


def final_status(progress: BatchProgress) -> BatchStatus:
    """Return the status of a batch whose jobs have all ended (DESIGN.md §3)."""
    if progress.total and progress.completed == progress.total:
        return BatchStatus.COMPLETED
    if progress.completed:
        return BatchStatus.PARTIAL
    if progress.total and progress.cancelled == progress.total:
        return BatchStatus.CANCELLED
    return BatchStatus.FAILED


class AsyncBatchService:
    """Create, process, watch and cancel batches of videos (``client.batches``).

    Examples:
        ```python
        videos = [sv.CreateVideoRequest(prompt=f"Product shot {n}", duration=4) for n in range(3)]
        created = await client.batches.create_batch(sv.BatchVideoRequest(videos=videos, name="shots"))
        batch = await client.batches.process_batch(created.batch_id)
        print(batch.status, batch.progress.completed)  # completed 3
        ```
    """

    def __init__(self, context: ClientContext) -> None:
        self._context = context

    def estimate_cost(self, request: CreateVideoRequest | BatchVideoRequest) -> float:
        """Return the estimated price in USD of one video or a whole batch.

        Args:
            request: One video, or a batch (the sum of its videos).

        Raises:
            ValidationError: a request is invalid (named field by field, as
                ``create_batch`` names them), or the provider has no price for a requested
                model.

        Examples:
            ```python
            one = sv.CreateVideoRequest(prompt="A foggy forest", model="sora-2", duration=8)
            print(client.batches.estimate_cost(one))  # USD, for one video
            batch = sv.BatchVideoRequest(videos=[one] * 10)
            print(client.batches.estimate_cost(batch))  # ten times as much
            ```
        """
        if isinstance(request, BatchVideoRequest):
            videos: Any = request.videos
            ok = isinstance(videos, tuple)
            errors = (
                [e for i, v in enumerate(videos) for e in check_request(v, f"videos[{i}]")]
                if ok
                else [FieldError(field="videos", message="must be a list of CreateVideoRequest")]
            )
        else:
            videos = [request]
            errors = check_request(request)
        raise_if(errors, message="cannot estimate the cost")
        total = 0.0
        unknown: list[FieldError] = []
        for i, video in enumerate(videos):
            cost = self._context.transport.estimate_cost(video)
            if cost is None:
                path = f"videos[{i}].model" if isinstance(request, BatchVideoRequest) else "model"
                unknown.append(
                    FieldError(field=path, message=f"no known price for model {video.model!r}")
                )
            else:
                total += cost
        raise_if(unknown, message="cannot estimate the cost")
        return round(total, 6)

    async def create_batch(
        self,
        request: BatchVideoRequest,
        *,
        key: str | None = None,
        budget_usd: float | None = None,
    ) -> BatchResult:
        """Validate and store a batch and all its jobs, atomically; nothing is sent yet.

        With a ``key``, creating is idempotent: the same script run again (after a crash,
        say) gets the batch it created the first time, with the same batch id and job ids,
        and nothing new is stored or sent;
        [`process_batch`][soravideo.AsyncBatchService.process_batch] then carries on where
        it stopped. The ledger keeps a fingerprint of the request (a SHA-256 of its
        canonical JSON), so a different request under a known key is refused rather than
        mistaken for it. Two processes racing with one key end up with the same batch.

        Args:
            request: The videos and the batch's options.
            key: Your name for this batch, unique in the ledger (``"ads-2026-12"``).
            budget_usd: The most the batch may cost (USD): the same as
                ``BatchVideoRequest.budget_usd``, which it sets; give it one way only.

        Raises:
            ValidationError: naming every bad field (``videos[3].prompt``), or
                ``budget_usd`` given both here and in the request; nothing stored.
            BudgetExceededError: the estimate is above ``budget_usd``; nothing stored.
            ConflictError: another request was stored under ``key``; nothing stored.
            RuntimeError: the client is closed; nothing stored.

        Examples:
            ```python
            request = sv.BatchVideoRequest(
                videos=[sv.CreateVideoRequest(prompt=p) for p in ("Dawn", "Noon", "Dusk")],
                name="day",
                concurrency=2,
            )
            created = await client.batches.create_batch(request, key="day-2026-12", budget_usd=10)
            again = await client.batches.create_batch(request, key="day-2026-12", budget_usd=10)
            print(again.batch_id == created.batch_id, created.total)  # True 3
            ```
        """
        context = self._context
        if budget_usd is not None and isinstance(request, BatchVideoRequest):
            if request.budget_usd is not None:
                raise ValidationError(
                    [
                        FieldError(
                            field="budget_usd",
                            message="given twice (as the keyword and as "
                            "BatchVideoRequest.budget_usd): give it one way",
                        )
                    ]
                )
            request = attrs.evolve(request, budget_usd=budget_usd)
        errors = check_batch(request, max_batch_size=context.settings.max_batch_size)
        errors.extend(_key_errors(key))
        videos = request.videos if isinstance(request, BatchVideoRequest) else ()
        for i, video in enumerate(videos if isinstance(videos, tuple) else ()):
            path = f"videos[{i}]"
            if isinstance(video, CreateVideoRequest) and not any(
                e.field.startswith(f"{path}.") for e in errors
            ):
                errors.extend(model_problems(context.transport.capabilities, video.model, path))
                errors.extend(context.transport.validate(video, path))
        raise_if(errors)
        if request.budget_usd is not None:
            estimate = self.estimate_cost(request)
            if estimate > request.budget_usd:
                raise BudgetExceededError(estimate, float(request.budget_usd))
        await context.working_engine()
        fingerprint = request_sha256(request)
        if key is not None:
            existing = await context.repository.get_batch_by_key(key)
            if existing is not None:
                return _same_batch(existing, key, fingerprint)
        batch_id = new_id("batch")
        jobs = [new_job(context, video, batch_id=batch_id) for video in request.videos]
        now = now_utc(context.clock)
        batch = Batch(
            id=batch_id,
            name=request.name,
            job_ids=[job.id for job in jobs],
            status=BatchStatus.PENDING,
            metadata=request.metadata,
            concurrency=request.concurrency,
            budget_usd=request.budget_usd,
            created_at=now,
            updated_at=now,
            key=key,
            request_sha256=fingerprint if key is not None else None,
        )
        try:
            await context.repository.add_jobs(jobs, batch=batch)
        except ConflictError:
            # Another process stored a batch under this key since we looked: theirs stands.
            winner = None if key is None else await context.repository.get_batch_by_key(key)
            if winner is None or key is None:
                raise
            return _same_batch(winner, key, fingerprint)
        return BatchResult(batch_id=batch_id, job_ids=batch.job_ids, total=len(jobs))

    async def create_batch_from_file(
        self,
        path: str | os.PathLike[str],
        *,
        key: str | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        budget_usd: float | None = None,
        **defaults: Any,
    ) -> BatchResult:
        """Create a batch from a JSONL or CSV manifest: one video a row (``prompt`` plus any
        request field).

        A file a row names (``input_reference``) is read from the manifest's own folder, or
        from ``base_dir``: a relative path resolves inside it, and a path that leads out of
        it (absolute, ``..``, a symbolic link to elsewhere) is refused, as is a file that is
        not a JPEG, PNG or WebP image. URLs (``https://…``, ``data:``) are left to the
        provider's own checks.

        Args:
            path: A ``.jsonl`` / ``.ndjson`` or ``.csv`` file.
            key: Make creating idempotent, as with
                [`create_batch`][soravideo.AsyncBatchService.create_batch]: the same
                manifest and defaults under the same key give back the batch made the first
                time.
            base_dir: The folder the manifest's files must be in (default: the manifest's).
            budget_usd: The most the batch may cost (USD), as for
                [`create_batch`][soravideo.AsyncBatchService.create_batch].
            **defaults: Request fields for rows that leave them out (``model="sora-2"``),
                and the batch's own ``name``, ``concurrency`` and ``metadata``.

        Raises:
            ValidationError: naming the row and field of every problem
                (``row 4: input_reference``); nothing stored.
            BudgetExceededError: the estimate is above ``budget_usd``; nothing stored.
            ConflictError: another request was stored under ``key``.

        Examples:
            ```python
            import csv

            with open("prompts.csv", "w", newline="") as manifest:
                rows = [["prompt", "duration"], ["A red kite", 4], ["A green field", 8]]
                csv.writer(manifest).writerows(rows)
            created = await client.batches.create_batch_from_file(
                "prompts.csv", key="kites", budget_usd=20, model="sora-2", concurrency=4
            )
            print(created.total)  # 2
            ```
        """
        batch_fields = {f.name for f in attrs.fields(BatchVideoRequest)} - {"videos"}
        batch_kwargs = {k: defaults.pop(k) for k in list(defaults) if k in batch_fields}
        videos = read_manifest(
            path, defaults, max_rows=self._context.settings.max_batch_size, base_dir=base_dir
        )
        stem = os.path.splitext(os.path.basename(os.fspath(path)))[0]
        # A file name is bytes on POSIX; one that is not UTF-8 holds surrogates, shown as "?".
        batch_kwargs.setdefault("name", stem.encode("utf-8", "replace").decode("utf-8"))
        return await self.create_batch(
            BatchVideoRequest(videos=videos, **batch_kwargs), key=key, budget_usd=budget_usd
        )

    async def process_batch(
        self, batch_id: str, concurrency: int | None = None, *, progress: bool = False
    ) -> Batch:
        """Run every job of the batch and return the batch once each one has ended.

        Jobs run in parallel within the batch's concurrency and the client's limits; a
        failing job does not stop the others. Calling it again (after a crash, in another
        process) carries on with what is left and never re-sends a job that has a remote id.

        Args:
            batch_id: The batch to run.
            concurrency: At most this many of its jobs at the provider at once, from 1 to
                100,000 (default: the batch's own ``concurrency``; without one, only the
                client's ``max_concurrency`` applies).
            progress: Show a progress bar (needs the ``progress`` extra).

        Raises:
            BatchNotFoundError: no batch has this id.
            ValidationError: ``batch_id`` is not a batch id, or ``concurrency`` is not a
                whole number from 1 to 100,000.
            RuntimeError: the client is closed.

        Examples:
            ```python
            videos = [sv.CreateVideoRequest(prompt=f"Tile {n}") for n in range(4)]
            created = await client.batches.create_batch(sv.BatchVideoRequest(videos=videos))
            batch = await client.batches.process_batch(created.batch_id, concurrency=2)
            print(batch.status, batch.progress.percentage)  # completed 100.0
            ```
        """
        from .progress import make_bar

        raise_if([*id_errors(batch_id, "batch_id", kind="batch"), *concurrency_errors(concurrency)])
        context = self._context
        runner = await context.working_engine()
        batch = await context.repository.get_batch(batch_id)
        if batch.status.is_terminal:
            return batch
        try:
            if batch.status is BatchStatus.PENDING:
                # Held first: once the ledger says "processing", any claim may take the
                # batch's jobs (one made before its limit was set took them all at once),
                # and none may be sent if the batch fails to start.
                runner.hold_batch(batch_id)
                batch = await self._set_status(batch, BatchStatus.PROCESSING)
            runner.set_batch_limit(batch_id, concurrency or batch.concurrency or 0)
            with make_bar(
                enabled=progress, description=batch.name or batch.id, clock=context.clock
            ) as bar:

                async def look(engine: JobRunner) -> float | None:
                    nonlocal batch
                    batch = await context.repository.get_batch(batch_id)
                    bar.set(batch.progress.percentage, batch.status.value)
                    if batch.status.is_terminal:
                        return None
                    if batch.progress.pending == 0:
                        batch = await self._finalize(batch)
                        bar.set(batch.progress.percentage, batch.status.value)
                        return None
                    return engine.recheck_interval()

                await context.watch(look)
                return batch
        finally:
            runner.release_batch(batch_id)

    async def _set_status(
        self, batch: Batch, status: BatchStatus, *, progress: BatchProgress | None = None
    ) -> Batch:
        now = now_utc(self._context.clock)
        changes: dict[str, Any] = {"status": status, "updated_at": now}
        if status.is_terminal:
            changes["completed_at"] = now
        updated = attrs.evolve(batch, **changes)
        return await self._context.repository.update_batch(updated, expected_status=batch.status)

    async def _finalize(self, batch: Batch) -> Batch:
        try:
            return await self._set_status(batch, final_status(batch.progress))
        except ConflictError:
            # Another process finalized (or cancelled) it first: theirs stands.
            return await self._context.repository.get_batch(batch.id)

    async def get_batch_status(self, batch_id: str) -> BatchStatusReport:
        """Return the batch, every one of its jobs, and its progress.

        Args:
            batch_id: The batch's id.

        Raises:
            BatchNotFoundError: no batch has this id.
            ValidationError: ``batch_id`` is not a batch id.

        Examples:
            ```python
            videos = [sv.CreateVideoRequest(prompt=p) for p in ("A bee", "A wasp")]
            created = await client.batches.create_batch(sv.BatchVideoRequest(videos=videos))
            report = await client.batches.get_batch_status(created.batch_id)
            print(report.batch.status, report.progress.pending, [job.status for job in report.jobs])
            ```
        """
        check_id(batch_id, "batch_id", kind="batch")
        await self._context.engine()
        batch = await self._context.repository.get_batch(batch_id)
        jobs = await self._context.repository.get_jobs(batch.job_ids)
        counts: dict[JobStatus, int] = {}
        for job in jobs:
            counts[job.status] = counts.get(job.status, 0) + 1
        return BatchStatusReport(batch=batch, jobs=jobs, progress=BatchProgress.from_counts(counts))

    async def cancel_batch(self, batch_id: str) -> CancellationSummary:
        """Cancel every unfinished job of the batch; finished ones are left as they are.

        Pending jobs are cancelled without being sent; in-flight ones are cancelled at the
        provider. When it returns, nothing more is sent for the batch, and creates that were
        on the wire have been answered, recorded and their videos stopped. The batch ends
        ``cancelled``. A job whose video the provider had already finished (unseen yet) is
        recorded ``completed`` and counted in ``already_finished``, as ``cancel_job`` does.

        Args:
            batch_id: The batch to cancel.

        Raises:
            BatchNotFoundError: no batch has this id.
            ValidationError: ``batch_id`` is not a batch id.

        Examples:
            ```python
            videos = [sv.CreateVideoRequest(prompt=f"Frame {n}") for n in range(5)]
            created = await client.batches.create_batch(sv.BatchVideoRequest(videos=videos))
            summary = await client.batches.cancel_batch(created.batch_id)
            print(summary.cancelled, summary.already_finished)  # 5 0
            ```
        """
        check_id(batch_id, "batch_id", kind="batch")
        context = self._context
        runner = await context.engine()
        # Nothing more of the batch is sent from here on, even while the jobs before it in
        # the loop below are being cancelled.
        with runner.cancelling_batch(batch_id):
            batch = await context.repository.get_batch(batch_id)
            # The batch is marked first, so a concurrent process_batch cannot finalize it as
            # "partial" or "failed" while its jobs are being cancelled.
            while not batch.status.is_terminal:
                try:
                    batch = await self._set_status(batch, BatchStatus.CANCELLED)
                except ConflictError:
                    batch = await context.repository.get_batch(batch_id)
            cancelled = finished = 0
            for job in await context.repository.get_jobs(batch.job_ids):
                if job.is_terminal:
                    finished += 1
                    continue
                try:
                    await runner.cancel(job.id)
                    cancelled += 1
                except JobStateError:
                    finished += 1
        runner.events.touch()
        return CancellationSummary(
            batch_id=batch_id,
            cancelled=cancelled,
            already_finished=finished,
            total=len(batch.job_ids),
        )

    async def list_batches(self, page: int = 1, limit: int = 20) -> Page[Batch]:
        """Return one page of batches, newest first.

        Args:
            page: Which page, from 1.
            limit: Batches a page, from 1 to 1000.

        Raises:
            ValidationError: ``page`` outside 1–10⁹ or ``limit`` outside 1–1000.

        Examples:
            ```python
            page = await client.batches.list_batches(limit=10)
            for batch in page.items:
                print(batch.id, batch.name, batch.status, batch.progress.percentage)
            ```
        """
        check_page(page, limit)
        await self._context.engine()
        return await self._context.repository.list_batches(page=page, limit=limit)
