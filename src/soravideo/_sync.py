"""The sync facade: the async core on one anyio blocking portal (its own thread) per client.

Every method is a one-line delegate; a test checks that the sync and async classes have
the same public methods with the same signatures. Ctrl-C during a call cancels the call on
the portal. The portal has its own event loop, so the sync API also works from a thread
whose loop is already running (a Jupyter cell).
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import signal
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator
from concurrent import futures
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.from_thread
from anyio.from_thread import BlockingPortal

from ._batches import AsyncBatchService
from ._client import AsyncSoraVideo
from ._clock import Clock
from ._events import Callback
from ._health import DEFAULT_READY_TIMEOUT, HealthReport, Metrics, ReadinessReport
from ._models import (
    Batch,
    BatchResult,
    BatchStatusReport,
    BatchVideoRequest,
    CancellationSummary,
    CreateVideoRequest,
    Job,
    JobStatus,
    Page,
    ResumeSummary,
    VideoResult,
)
from ._services import AsyncVideoService
from ._settings import Settings
from .repositories.base import JobRepository
from .transports.base import Transport

if TYPE_CHECKING:
    from .testing._fake_sora import FakeSora

__all__ = ["BatchService", "SoraVideo", "VideoService"]

T = TypeVar("T")
logger = logging.getLogger("soravideo")
_RESPONSIVE_WAIT = 0.25
# How often a worker's main thread looks whether SIGTERM arrived.
_SIGNAL_WAIT = 0.05


class SoraVideo:
    """The sync client: the same engine as :class:`AsyncSoraVideo`, for scripts and notebooks.

    Takes the same arguments as :class:`AsyncSoraVideo`. The engine runs in the background
    on the client's own thread from the first call until ``close()`` (also called at
    interpreter exit, and by ``with``).
    """

    def __init__(
        self,
        *,
        transport: Transport | None = None,
        repository: JobRepository | None = None,
        settings: Settings | None = None,
        clock: Clock | None = None,
        worker_id: str | None = None,
        **overrides: Any,
    ) -> None:
        self._wrap(
            AsyncSoraVideo(
                transport=transport,
                repository=repository,
                settings=settings,
                clock=clock,
                worker_id=worker_id,
                **overrides,
            )
        )

    def _wrap(self, inner: AsyncSoraVideo) -> None:
        self._async = inner
        self.videos = VideoService(self, inner.videos)
        self.batches = BatchService(self, inner.batches)
        self._lock = threading.Lock()
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None
        self._background: Future[None] | None = None
        # Running run_worker calls, so that close() from another thread can stop them.
        self._workers: dict[Future[None], anyio.CancelScope] = {}
        self._closed = False

    @classmethod
    def simulated(
        cls,
        *,
        repository: JobRepository | None = None,
        generation_time: float = 30.0,
        **kwargs: Any,
    ) -> SoraVideo:
        """Return a client that runs fully offline on FakeSora with simulated time.

        See :meth:`AsyncSoraVideo.simulated`.
        """
        client = cls.__new__(cls)
        client._wrap(
            AsyncSoraVideo.simulated(
                repository=repository, generation_time=generation_time, **kwargs
            )
        )
        return client

    # ------------------------------------------------------------------ plumbing

    @property
    def settings(self) -> Settings:
        """The client's settings."""
        return self._async.settings

    @property
    def transport(self) -> Transport:
        """The provider transport."""
        return self._async.transport

    @property
    def repository(self) -> JobRepository:
        """The ledger."""
        return self._async.repository

    @property
    def clock(self) -> Clock:
        """The clock the engine runs on."""
        return self._async.clock

    @property
    def fake(self) -> FakeSora | None:
        """The FakeSora behind a ``simulated()`` client (``None`` otherwise)."""
        return self._async.fake

    def _ensure_portal(self) -> BlockingPortal:
        with self._lock:
            if self._closed:
                raise RuntimeError("this client is closed")
            if self._portal is None:
                cm = anyio.from_thread.start_blocking_portal()
                portal = cm.__enter__()
                self._portal_cm, self._portal = cm, portal
                self._background = portal.start_task_soon(self._async.run_background)
                atexit.register(_close_at_exit, weakref.ref(self))
            return self._portal

    def _call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        portal = self._ensure_portal()
        future = portal.start_task_soon(functools.partial(fn, *args, **kwargs))
        try:
            # Short waits keep the main thread responsive to Ctrl-C on every platform.
            # (Not future.result(timeout=...): its TimeoutError would also catch the call's
            # own JobTimeoutError, a TimeoutError too.)
            while not futures.wait([future], timeout=_RESPONSIVE_WAIT)[0]:
                pass
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def close(self) -> None:
        """Stop the engine, give back leases, close the transport and ledger. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            portal, cm = self._portal, self._portal_cm
            self._portal = self._portal_cm = None
        if portal is None or cm is None:
            return
        try:
            if self._background is not None:
                self._background.cancel()
            with self._lock:
                workers = list(self._workers.items())
            for future, scope in workers:
                # Before aclose, so each worker gives its leases back while the ledger is open.
                _stop_and_wait(portal, scope, future)
            portal.call(self._async.aclose)
        finally:
            cm.__exit__(None, None, None)

    def __enter__(self) -> SoraVideo:
        self._ensure_portal()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ API

    def on(self, kind: str, callback: Callback) -> Any:
        """Call ``callback(event)`` on job events (see :meth:`AsyncSoraVideo.on`)."""
        return self._async.on(kind, callback)

    def run_worker(self) -> None:
        """Claim and drive jobs from the shared ledger until SIGTERM or Ctrl-C.

        Called from the main thread, it handles SIGTERM while it runs (and puts the previous
        handler back afterwards): the worker finishes the step in hand, gives its leases
        back and returns. Ctrl-C does the same, then raises ``KeyboardInterrupt``. From
        another thread, SIGTERM is left to whatever handles it in the program; ``close()``
        (from any thread) stops the worker the same way, and it returns.
        """
        stop = _StopFlag()
        # Installed first, so a SIGTERM while the engine starts up is a request to stop too.
        with _sigterm_sets(stop):
            portal = self._ensure_portal()
            future, scope = portal.start_task(_cancellable, self._async.run_worker)
            with self._lock:
                self._workers[future] = scope
            try:
                while not stop.requested:
                    if futures.wait([future], timeout=_SIGNAL_WAIT)[0]:
                        return future.result()
            except KeyboardInterrupt:
                _stop_and_wait(portal, scope, future)
                raise
            finally:
                with self._lock:
                    self._workers.pop(future, None)
            _stop_and_wait(portal, scope, future)

    def health(self) -> HealthReport:
        """Report that the client is alive, without any I/O (see :meth:`AsyncSoraVideo.health`)."""
        return self._async.health()

    def ready(self, timeout: float = DEFAULT_READY_TIMEOUT) -> ReadinessReport:
        """Check the ledger and the provider (see :meth:`AsyncSoraVideo.ready`)."""
        return self._call(self._async.ready, timeout)

    def metrics(self) -> Metrics:
        """Return a metrics snapshot (see :meth:`AsyncSoraVideo.metrics`)."""
        return self._call(self._async.metrics)

    def resume(self, *, download_dir: str | os.PathLike[str] | None = None) -> ResumeSummary:
        """See every unfinished batch and job of the ledger through (see
        :meth:`AsyncSoraVideo.resume`)."""
        return self._call(self._async.resume, download_dir=download_dir)


class _StopFlag:
    # A plain attribute: a signal handler must not take a lock the interrupted code may hold.
    requested = False


@contextmanager
def _sigterm_sets(stop: _StopFlag) -> Iterator[None]:
    """Make SIGTERM set ``stop.requested`` for the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        stop.requested = True

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        # None: the previous handler was installed from C and cannot be put back as such.
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


async def _cancellable(
    fn: Callable[[], Awaitable[None]],
    *,
    task_status: anyio.abc.TaskStatus[anyio.CancelScope] = anyio.TASK_STATUS_IGNORED,
) -> None:
    with anyio.CancelScope() as scope:
        task_status.started(scope)
        await fn()


def _stop_and_wait(portal: BlockingPortal, scope: anyio.CancelScope, future: Future[None]) -> None:
    """Cancel a worker on the portal and wait until it has given its leases back."""
    portal.call(scope.cancel)
    try:
        future.result()
    except Exception:
        # Stopping must not fail (the ledger may be down); the leases then expire instead.
        logger.warning("worker: could not give every lease back on stopping", exc_info=True)


def _close_at_exit(ref: weakref.ReferenceType[SoraVideo]) -> None:
    client = ref()
    if client is not None:
        client.close()


class VideoService:
    """Sync twin of :class:`AsyncVideoService` (``client.videos``)."""

    def __init__(self, client: SoraVideo, inner: AsyncVideoService) -> None:
        self._client = client
        self._inner = inner

    def create_video(self, request: CreateVideoRequest) -> Job:
        """Validate and store a new job (see :meth:`AsyncVideoService.create_video`)."""
        return self._client._call(self._inner.create_video, request)

    def get_job(self, job_id: str) -> Job:
        """Return a job as the ledger has it."""
        return self._client._call(self._inner.get_job, job_id)

    def wait_for_job(
        self,
        job_id: str,
        timeout: float | None = None,
        *,
        cancel_on_timeout: bool = False,
        progress: bool = False,
    ) -> Job:
        """Wait until the job has ended and return it (see :meth:`AsyncVideoService.wait_for_job`)."""
        return self._client._call(
            self._inner.wait_for_job,
            job_id,
            timeout,
            cancel_on_timeout=cancel_on_timeout,
            progress=progress,
        )

    def get_video_result(self, job_id: str) -> VideoResult:
        """Return the result of a completed job."""
        return self._client._call(self._inner.get_video_result, job_id)

    def cancel_job(self, job_id: str) -> Job:
        """Cancel a job (see :meth:`AsyncVideoService.cancel_job`)."""
        return self._client._call(self._inner.cancel_job, job_id)

    def list_jobs(
        self,
        status: JobStatus | str | None = None,
        batch_id: str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> Page[Job]:
        """Return one page of jobs, newest first."""
        return self._client._call(self._inner.list_jobs, status, batch_id, page, limit)

    def download_video(
        self,
        job_id: str,
        dest: str | os.PathLike[str],
        variant: str = "video",
        *,
        overwrite: bool = False,
    ) -> Path:
        """Stream a completed job's content to ``dest``, check it, and return the path (see
        :meth:`AsyncVideoService.download_video`)."""
        return self._client._call(
            self._inner.download_video, job_id, dest, variant, overwrite=overwrite
        )

    def remix_video(self, job_id: str, prompt: str) -> Job:
        """Create a job that remixes a completed video."""
        return self._client._call(self._inner.remix_video, job_id, prompt)

    def validate(self, request: CreateVideoRequest, path: str = "") -> list[Any]:
        """Return every problem of ``request`` without storing anything."""
        return self._inner.validate(request, path)


class BatchService:
    """Sync twin of :class:`AsyncBatchService` (``client.batches``)."""

    def __init__(self, client: SoraVideo, inner: AsyncBatchService) -> None:
        self._client = client
        self._inner = inner

    def estimate_cost(self, request: CreateVideoRequest | BatchVideoRequest) -> float:
        """Return the estimated price in USD of a video or a batch."""
        return self._inner.estimate_cost(request)

    def create_batch(self, request: BatchVideoRequest, *, key: str | None = None) -> BatchResult:
        """Validate and store a batch and its jobs atomically; a known ``key`` gives back its
        batch (see :meth:`AsyncBatchService.create_batch`)."""
        return self._client._call(self._inner.create_batch, request, key=key)

    def create_batch_from_file(
        self,
        path: str | os.PathLike[str],
        *,
        key: str | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        **defaults: Any,
    ) -> BatchResult:
        """Create a batch from a JSONL or CSV manifest (a known ``key`` gives back its batch;
        files it names must be images inside ``base_dir``, by default the manifest's folder)."""
        return self._client._call(
            self._inner.create_batch_from_file, path, key=key, base_dir=base_dir, **defaults
        )

    def process_batch(
        self, batch_id: str, concurrency: int | None = None, *, progress: bool = False
    ) -> Batch:
        """Run every job of the batch; return the batch once each has ended."""
        return self._client._call(
            self._inner.process_batch, batch_id, concurrency, progress=progress
        )

    def get_batch_status(self, batch_id: str) -> BatchStatusReport:
        """Return the batch, its jobs and its progress."""
        return self._client._call(self._inner.get_batch_status, batch_id)

    def cancel_batch(self, batch_id: str) -> CancellationSummary:
        """Cancel every unfinished job of the batch."""
        return self._client._call(self._inner.cancel_batch, batch_id)

    def list_batches(self, page: int = 1, limit: int = 20) -> Page[Batch]:
        """Return one page of batches, newest first."""
        return self._client._call(self._inner.list_batches, page, limit)
