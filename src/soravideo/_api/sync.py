"""The sync facade: the async core on one anyio blocking portal (its own thread) per client.

Every method is a one-line delegate with its async twin's docstring in sync words;
``tests/test_sync_parity.py`` checks that the sync and async classes have the same public
members with the same signatures, types and docstrings. Ctrl-C during a call cancels the
call on the portal. The portal has its own event loop, so the sync API also works from a thread
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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent import futures
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.from_thread
from anyio.from_thread import BlockingPortal

from .._core.clock import Clock
from .._core.errors import FieldError, SoraVideoError
from .._core.events import Callback
from .._core.models import (
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
from .._core.settings import Settings
from ..repositories.base import JobRepository
from ..transports.base import Transport
from .batches import AsyncBatchService
from .client import AsyncSoraVideo
from .health import DEFAULT_READY_TIMEOUT, HealthReport, ReadinessReport
from .metrics import Metrics
from .videos import AsyncVideoService
from .webhooks import AsyncWebhookService, WebhookEvent

if TYPE_CHECKING:
    from ..testing._simulated import FakeServer

__all__ = ["BatchService", "SoraVideo", "VideoService", "WebhookService"]

T = TypeVar("T")
logger = logging.getLogger("soravideo")
_RESPONSIVE_WAIT = 0.25
# How often a worker's main thread looks whether SIGTERM arrived.
_SIGNAL_WAIT = 0.05


class SoraVideo:
    """The sync client: ``client.videos`` and ``client.batches`` over one ledger and one provider.

    The same engine and API as [`AsyncSoraVideo`][soravideo.AsyncSoraVideo], for scripts and
    notebooks: each method blocks until its async twin's call has ended, and Ctrl-C
    cancels the call. The engine runs in the background on the client's own thread (an
    event loop of its own, so the client also works in a Jupyter cell) from the first call
    until ``close()``, which ``with SoraVideo(...) as client:`` calls at the end of the
    block and the interpreter calls at exit. ``close()`` is idempotent. The client owns the
    transport and repository it is given and closes them.

    Args:
        transport: The provider (default: a
            [`SoraTransport`][soravideo.transports.SoraTransport] from the environment).
            An httpx transport is given this client's ``request_timeout`` (unless it was
            built with its own ``timeout=``) and ``max_retry_after`` (see
            ``HttpTransport.use_settings``).
        repository: The ledger (default: SQLite at ``$SORAVIDEO_DB`` or ``./soravideo.db``).
        settings: A [`Settings`][soravideo.Settings]; keyword arguments override its fields.
        clock: Time source (tests and ``simulated()`` pass a simulated one).
        worker_id: This client's name as the owner of the leases it takes in a shared
            ledger (default: ``host:pid:random``); name workers so that the ledger tells
            who holds what.
        **overrides: Any [`Settings`][soravideo.Settings] field, e.g. ``max_concurrency=8``.

    Raises:
        AuthenticationError: The provider needs an API key and none was found (in
            ``api_key=`` or the environment variables the message names); nothing was
            stored or sent.
        ValidationError: The default transport's environment is malformed
            (``SORAVIDEO_IDEMPOTENT_CREATES`` is neither a yes nor a no).

    Examples:
        ```python
        import soravideo as sv

        # SoraVideo() reads OPENAI_API_KEY; simulated() runs offline.
        with sv.SoraVideo.simulated() as client:
            request = sv.CreateVideoRequest(prompt="A red fox in fresh snow", duration=8)
            job = client.videos.create_video(request)
            job = client.videos.wait_for_job(job.id)
            print(job.status)  # completed
        ```
    """

    videos: VideoService
    """Single videos: create, wait for, download, remix, cancel and list them."""
    batches: BatchService
    """Batches of videos: create (from a manifest too), process, watch and cancel them."""
    webhooks: WebhookService
    """Providers' webhook deliveries: verify one and apply it to the ledger."""

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
        self.webhooks = WebhookService(self, inner.webhooks)
        self._lock = threading.Lock()
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None
        self._background: Future[None] | None = None
        self._engine_error: BaseException | None = None
        # Running run_worker calls, so that close() from another thread can stop them.
        self._workers: dict[Future[None], anyio.CancelScope] = {}
        # run_worker calls starting their task: close() waits for them to be in _workers
        # (a task it did not see would keep the portal from ever stopping).
        self._starting = 0
        self._started = threading.Condition(self._lock)
        self._closed = False

    @classmethod
    def simulated(
        cls,
        *,
        repository: JobRepository | None = None,
        generation_time: float = 30.0,
        provider: str = "sora",
        **kwargs: Any,
    ) -> SoraVideo:
        """Return a client that runs fully offline on a fake provider with simulated time.

        Simulated time stands still between your calls and leaps ahead while a call waits
        (``wait_for_job``, ``process_batch``, ``resume`` …), so a 30-second generation
        finishes in milliseconds, and a job created a moment ago can still be cancelled. The
        ledger is in memory unless ``repository`` is given. ``client.fake`` is the fake
        behind it (failure prompts, injected faults, request counters). No key is needed.

        Args:
            repository: A ledger (default: a new
                [`MemoryRepository`][soravideo.repositories.MemoryRepository]).
            generation_time: Simulated seconds each video takes.
            provider: The provider to simulate: ``"sora"`` ([`FakeSora`][soravideo.testing.FakeSora]),
                ``"runway"``, ``"fal"``, ``"openrouter"``, ``"gemini"`` or ``"replicate"``
                (their fakes in `soravideo.testing`).
            **kwargs: Everything the constructor takes except ``transport``.

        Raises:
            ValidationError: ``provider`` has no simulator.

        Examples:
            ```python
            client = sv.SoraVideo.simulated(generation_time=300)
            job = client.videos.create_video(sv.CreateVideoRequest(prompt="A paper boat"))
            job = client.videos.cancel_job(job.id)  # no simulated time has passed yet
            print(job.status)  # cancelled
            client.close()
            ```
        """
        client = cls.__new__(cls)
        client._wrap(
            AsyncSoraVideo.simulated(
                repository=repository,
                generation_time=generation_time,
                provider=provider,
                **kwargs,
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
    def fake(self) -> FakeServer | None:
        """The fake provider behind a ``simulated()`` client (a
        [`FakeSora`][soravideo.testing.FakeSora] unless another provider was asked for;
        ``None`` otherwise)."""
        return self._async.fake

    def _ensure_portal(self) -> BlockingPortal:
        started: Future[None] | None = None
        with self._lock:
            if self._closed:
                raise RuntimeError("this client is closed")
            if self._portal is None:
                cm = anyio.from_thread.start_blocking_portal()
                portal = cm.__enter__()
                self._portal_cm, self._portal = cm, portal
                started = self._background = portal.start_task_soon(self._async.run_background)
                atexit.register(_close_at_exit, weakref.ref(self))
            portal = self._portal
        if started is not None:
            # Outside the lock: an engine that already stopped runs the callback here, at
            # once, and the callback takes the lock (under it, this thread waited forever).
            started.add_done_callback(self._engine_ended)
        return portal

    def _engine_ended(self, future: Future[None]) -> None:
        """Note an engine that stopped on an error: logged at once, raised by the next call."""
        self._engine_failure()

    def _engine_failure(self) -> BaseException | None:
        """Return the error the background engine stopped on (logged once), or ``None``."""
        future = self._background
        if future is None or not future.done() or future.cancelled():
            return None
        error = future.exception()
        if error is not None:
            with self._lock:
                # Logged under the lock: a caller that finds it already noted finds it logged.
                if self._engine_error is None:
                    self._engine_error = error
                    logger.error("the client's engine stopped: %r", error, exc_info=error)
        return error

    def _call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        self._ensure_portal()
        failure = self._engine_failure()
        if failure is not None:
            raise SoraVideoError(
                "the client's engine stopped on an error (logged as it happened); its jobs "
                "are in the ledger: close this client and resume them with a new one"
            ) from failure
        return self._call_anyway(fn, *args, **kwargs)

    def _call_anyway(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the portal even after the engine stopped: for the reports (ready,
        metrics), which say what is wrong instead of raising."""
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

    def _iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        """Walk an async iterator of the core on the portal, one item a call; stopping early
        closes it there (unless the client closed first)."""
        try:
            while True:
                more, item = self._call(_next_of, iterator)
                if not more:
                    return
                yield item  # type: ignore[misc]
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None and not self._closed:
                self._call(aclose)

    def close(self) -> None:
        """Stop the engine, give back leases, close the transport and the ledger. Idempotent.

        Creates already on the wire are waited for (up to ``close_timeout`` seconds, real
        time) and their answers recorded, so a video the provider made is never lost; a
        create still unanswered then leaves its job resumable (processing), never failed.

        Examples:
            ```python
            client = sv.SoraVideo.simulated()
            client.videos.create_video(sv.CreateVideoRequest(prompt="A lighthouse at dusk"))
            client.close()
            client.close()  # idempotent
            ```
        """
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
                while self._starting:
                    self._started.wait()
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
        """Call ``callback(event)`` on job events: ``created``, ``submitted``, ``progress``,
        ``completed``, ``failed``, ``cancelled``, or ``"*"`` for all.

        Args:
            kind: The event kind to follow, or ``"*"`` for every kind.
            callback: A function, or a coroutine function, of one
                [`JobEvent`][soravideo.JobEvent].

        Returns:
            A function that unregisters the callback.

        Raises:
            ValueError: ``kind`` is not an event kind.

        Examples:
            ```python
            def show(event: sv.JobEvent) -> None:
                print(event.kind, event.job.id, event.job.progress)

            stop = client.on("*", show)
            job = client.videos.create_video(sv.CreateVideoRequest(prompt="A kite over dunes"))
            client.videos.wait_for_job(job.id)
            stop()  # no more calls
            ```
        """
        return self._async.on(kind, callback)

    def run_worker(self) -> None:
        """Claim and drive jobs from the shared ledger until SIGTERM, Ctrl-C or ``close()``.

        Any process may create jobs; every worker picks them up. Leases make sure each job
        is submitted once; a worker that dies leaves its jobs to the others once its leases
        expire.

        Called from the main thread, it handles SIGTERM while it runs (and puts the previous
        handler back afterwards): the worker finishes the step in hand, waits up to
        ``close_timeout`` for creates on the wire to be answered and recorded, gives its
        leases back and returns. Ctrl-C does the same, then raises ``KeyboardInterrupt``.
        From another thread, SIGTERM is left to whatever handles it in the program;
        ``close()`` (from any thread) stops the worker the same way, and it returns.

        Raises:
            RuntimeError: the client is closed.

        Examples:
            ```python
            import threading

            worker = sv.SoraVideo.simulated()  # in a worker process: worker.run_worker()
            job = worker.videos.create_video(sv.CreateVideoRequest(prompt="A harbour at dawn"))
            thread = threading.Thread(target=worker.run_worker)
            thread.start()
            worker.videos.wait_for_job(job.id)
            worker.close()  # the worker gives its leases back and returns
            thread.join()
            ```
        """
        stop = _StopFlag()
        # Installed first, so a SIGTERM while the engine starts up is a request to stop too.
        with _sigterm_sets(stop):
            portal = self._ensure_portal()
            with self._lock:
                if self._closed:
                    return  # close() began meanwhile: nothing started, nothing to stop
                self._starting += 1
            started: tuple[Future[None], anyio.CancelScope] | None = None
            try:
                started = portal.start_task(_cancellable, self._async.run_worker)
            finally:
                with self._lock:
                    self._starting -= 1
                    if started is not None:
                        # Recorded even when close() began meanwhile: close() waited for this
                        # start, and stops the worker with the others, while the portal runs.
                        self._workers[started[0]] = started[1]
                    self._started.notify_all()
            future, scope = started
            try:
                while not stop.requested:
                    if futures.wait([future], timeout=_SIGNAL_WAIT)[0]:
                        return future.result()
                _stop_and_wait(portal, scope, future)
            except KeyboardInterrupt:
                _stop_and_wait(portal, scope, future)
                raise
            finally:
                # Only once its task has ended: until then close() sees it, and stops it
                # before the portal stops (a task left running would keep the portal up).
                with self._lock:
                    self._workers.pop(future, None)

    def health(self) -> HealthReport:
        """Report that the client is alive (liveness), without any I/O.

        Returns:
            ``HealthReport(status="ok", timestamp, uptime, version)``.

        Examples:
            ```python
            report = client.health()
            print(report.status, report.version)  # ok 1.…
            ```
        """
        return self._async.health()

    def ready(self, timeout: float = DEFAULT_READY_TIMEOUT) -> ReadinessReport:
        """Check the ledger and the provider with one real round trip each (readiness).

        Never raises because a dependency is down or hangs: that check is ``unhealthy``
        with a reason, and ``ready`` is ``False``.

        Args:
            timeout: Real seconds each check may take (they run at the same time).

        Returns:
            ``ReadinessReport(ready, checks, timestamp)``.

        Raises:
            ValidationError: ``timeout`` is not a positive number.

        Examples:
            ```python
            report = client.ready(timeout=2)
            print(report.ready, [(check.name, check.status) for check in report.checks])
            ```
        """
        return self._call_anyway(self._async.ready, timeout)

    def metrics(self) -> Metrics:
        """Return job counts, provider counters, engine state, spend and system figures.

        Returns:
            A [`Metrics`][soravideo.Metrics] snapshot (``to_dict()``, ``to_prometheus()``).

        Raises:
            RepositoryError: The ledger cannot be read.

        Examples:
            ```python
            metrics = client.metrics()
            print(metrics.jobs.total, metrics.spend.estimated_usd)
            print(metrics.to_prometheus())  # serve it on /metrics
            ```
        """
        return self._call_anyway(self._async.metrics)

    def resume(self, *, download_dir: str | os.PathLike[str] | None = None) -> ResumeSummary:
        """See every unfinished batch and job of the ledger through: what a crashed or
        interrupted process left behind (``soravideo resume`` from a terminal).

        Batches still pending or processing are processed, as
        [`process_batch`][soravideo.BatchService.process_batch] does, and finalized;
        every other unfinished job is waited for. Nothing is created again: jobs in flight
        are polled by their remote id, pending ones are sent once. It waits until each one
        has ended (a failed job is not an error: see the ledger); cancelling the call stops
        the wait, not the jobs.

        A job created to be downloaded (its client's ``download_dir``, the CLI's
        ``--out-dir``) is saved in its own directory when it completes, whichever process
        completes it.

        Args:
            download_dir: Also save here each resumed job that completes without being
                saved (it has no directory of its own, or saving there failed).

        Returns:
            ``ResumeSummary(jobs, batches)``: the unfinished jobs it found (those of the
            batches included) and the batches it processed; zeros when nothing was left.

        Raises:
            RuntimeError: the client is closed.

        Examples:
            ```python
            request = sv.CreateVideoRequest(prompt="A tram in the rain")
            client.videos.create_video(request)  # as a process that crashed left it
            summary = client.resume(download_dir="videos")  # sent, waited for, saved
            print(summary)  # ResumeSummary(jobs=1, batches=0)
            ```
        """
        return self._call(self._async.resume, download_dir=download_dir)


async def _next_of(iterator: AsyncIterator[T]) -> tuple[bool, T | None]:
    """Return ``(True, item)`` for the iterator's next item, ``(False, None)`` at its end."""
    try:
        return True, await iterator.__anext__()
    except StopAsyncIteration:
        return False, None


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
    """Cancel a worker on the portal and wait until it has given its leases back.

    A worker whose task has ended (``close()`` stopped it from another thread) is not
    cancelled again: the portal may be stopping by then.
    """
    if not future.done():
        try:
            portal.call(scope.cancel)
        except RuntimeError:
            if not future.done():  # the portal stopped with the worker still running
                raise
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
    """Create, watch, cancel, list and download single videos (``client.videos``).

    Examples:
        ```python
        request = sv.CreateVideoRequest(prompt="A hummingbird in slow motion", duration=4)
        job = client.videos.create_video(request)
        job = client.videos.wait_for_job(job.id)
        path = client.videos.download_video(job.id, "videos/")
        print(path)  # videos/job_….mp4
        ```
    """

    def __init__(self, client: SoraVideo, inner: AsyncVideoService) -> None:
        self._client = client
        self._inner = inner

    def create_video(self, request: CreateVideoRequest) -> Job:
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
            job = client.videos.create_video(request)
            print(job.id, job.status)  # job_… pending
            ```
        """
        return self._client._call(self._inner.create_video, request)

    def create_videos(self, requests: Sequence[CreateVideoRequest]) -> list[Job]:
        """Validate and store many single jobs in one ledger write: all of them or none.

        What [`create_video`][soravideo.VideoService.create_video] does for one
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
            jobs = client.videos.create_videos([sv.CreateVideoRequest(prompt=p) for p in prompts])
            print([job.status for job in jobs])  # three pending jobs
            ```
        """
        return self._client._call(self._inner.create_videos, requests)

    def as_completed(self, job_ids: Sequence[str], timeout: float | None = None) -> Iterator[Job]:
        """Yield each job as it ends (completed, failed or cancelled), the first to end first.

        One waiter for them all: ``for job in client.videos.as_completed(ids):``
        handles each video as soon as it is done, where waiting for each in turn would
        leave the finished ones waiting behind a slow one. A job already ended comes at
        once; each comes once. A failed job is yielded, not raised: look at
        ``job.status``. Stopping the loop early stops the wait, not the jobs.

        Args:
            job_ids: The jobs to wait for (an id given twice comes once).
            timeout: A real deadline in seconds for all of them, from this call (on the
                client's clock); ``None`` waits as long as it takes.

        Returns:
            The jobs, one at a time as they end (iterate with ``for``), each as the
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
            jobs = client.videos.create_videos(requests)
            for job in client.videos.as_completed([job.id for job in jobs], timeout=600):
                print(job.id, job.status)  # each as soon as it ends
            ```
        """
        return self._client._iterate(self._inner.as_completed(job_ids, timeout))

    def get_job(self, job_id: str) -> Job:
        """Return a job as the ledger has it.

        Args:
            job_id: The job's id.

        Raises:
            JobNotFoundError: no job has this id.
            ValidationError: ``job_id`` is not a job id (not text, or of another shape).

        Examples:
            ```python
            job = client.videos.create_video(sv.CreateVideoRequest(prompt="A steam train"))
            job = client.videos.get_job(job.id)
            print(job.status, job.progress)  # pending 0
            ```
        """
        return self._client._call(self._inner.get_job, job_id)

    def wait_for_job(
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
            job = client.videos.create_video(sv.CreateVideoRequest(prompt="Waves at night"))
            job = client.videos.wait_for_job(job.id, timeout=600, cancel_on_timeout=True)
            if job.status == sv.JobStatus.COMPLETED:
                print("done:", job.result.remote_id)
            else:
                print("no video:", job.status, job.error)
            ```
        """
        return self._client._call(
            self._inner.wait_for_job,
            job_id,
            timeout,
            cancel_on_timeout=cancel_on_timeout,
            progress=progress,
        )

    def get_video_result(self, job_id: str) -> VideoResult:
        """Return the result of a completed job.

        Args:
            job_id: A completed job.

        Raises:
            JobStateError: the job is not completed.
            JobNotFoundError: no job has this id.
            ValidationError: ``job_id`` is not a job id.

        Examples:
            ```python
            job = client.videos.create_video(sv.CreateVideoRequest(prompt="A city from above"))
            client.videos.wait_for_job(job.id)
            result = client.videos.get_video_result(job.id)
            print(result.remote_id, result.url)
            ```
        """
        return self._client._call(self._inner.get_video_result, job_id)

    def cancel_job(self, job_id: str) -> Job:
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
            job = client.videos.create_video(sv.CreateVideoRequest(prompt="A slow sunrise"))
            job = client.videos.cancel_job(job.id)
            print(job.status)  # cancelled: never sent, never billed
            ```
        """
        return self._client._call(self._inner.cancel_job, job_id)

    def list_jobs(
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
            page = client.videos.list_jobs(status="completed", limit=50)
            for job in page.items:
                print(job.id, job.request.prompt)
            print(f"page {page.page} of {page.pages}, {page.total} jobs")
            ```
        """
        return self._client._call(self._inner.list_jobs, status, batch_id, page, limit)

    def download_video(
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
            job = client.videos.create_video(sv.CreateVideoRequest(prompt="A glass of water"))
            client.videos.wait_for_job(job.id)
            video = client.videos.download_video(job.id, "out/glass.mp4")
            thumbnail = client.videos.download_video(job.id, "out/", variant="thumbnail")
            print(video, thumbnail)  # out/glass.mp4 out/job_….webp
            ```
        """
        return self._client._call(
            self._inner.download_video, job_id, dest, variant, overwrite=overwrite
        )

    def remix_video(self, job_id: str, prompt: str) -> Job:
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
            job = client.videos.create_video(sv.CreateVideoRequest(prompt="A blue car"))
            client.videos.wait_for_job(job.id)
            remix = client.videos.remix_video(job.id, "Make the car red")
            remix = client.videos.wait_for_job(remix.id)
            print(remix.status)  # completed
            ```
        """
        return self._client._call(self._inner.remix_video, job_id, prompt)

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
        return self._inner.validate(request, path)


class BatchService:
    """Create, process, watch and cancel batches of videos (``client.batches``).

    Examples:
        ```python
        videos = [sv.CreateVideoRequest(prompt=f"Product shot {n}", duration=4) for n in range(3)]
        created = client.batches.create_batch(sv.BatchVideoRequest(videos=videos, name="shots"))
        batch = client.batches.process_batch(created.batch_id)
        print(batch.status, batch.progress.completed)  # completed 3
        ```
    """

    def __init__(self, client: SoraVideo, inner: AsyncBatchService) -> None:
        self._client = client
        self._inner = inner

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
        return self._inner.estimate_cost(request)

    def create_batch(
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
        [`process_batch`][soravideo.BatchService.process_batch] then carries on where
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
            created = client.batches.create_batch(request, key="day-2026-12", budget_usd=10)
            again = client.batches.create_batch(request, key="day-2026-12", budget_usd=10)
            print(again.batch_id == created.batch_id, created.total)  # True 3
            ```
        """
        return self._client._call(self._inner.create_batch, request, key=key, budget_usd=budget_usd)

    def create_batch_from_file(
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
                [`create_batch`][soravideo.BatchService.create_batch]: the same
                manifest and defaults under the same key give back the batch made the first
                time.
            base_dir: The folder the manifest's files must be in (default: the manifest's).
            budget_usd: The most the batch may cost (USD), as for
                [`create_batch`][soravideo.BatchService.create_batch].
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
            created = client.batches.create_batch_from_file(
                "prompts.csv", key="kites", budget_usd=20, model="sora-2", concurrency=4
            )
            print(created.total)  # 2
            ```
        """
        return self._client._call(
            self._inner.create_batch_from_file,
            path,
            key=key,
            base_dir=base_dir,
            budget_usd=budget_usd,
            **defaults,
        )

    def process_batch(
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
            created = client.batches.create_batch(sv.BatchVideoRequest(videos=videos))
            batch = client.batches.process_batch(created.batch_id, concurrency=2)
            print(batch.status, batch.progress.percentage)  # completed 100.0
            ```
        """
        return self._client._call(
            self._inner.process_batch, batch_id, concurrency, progress=progress
        )

    def get_batch_status(self, batch_id: str) -> BatchStatusReport:
        """Return the batch, every one of its jobs, and its progress.

        Args:
            batch_id: The batch's id.

        Raises:
            BatchNotFoundError: no batch has this id.
            ValidationError: ``batch_id`` is not a batch id.

        Examples:
            ```python
            videos = [sv.CreateVideoRequest(prompt=p) for p in ("A bee", "A wasp")]
            created = client.batches.create_batch(sv.BatchVideoRequest(videos=videos))
            report = client.batches.get_batch_status(created.batch_id)
            print(report.batch.status, report.progress.pending, [job.status for job in report.jobs])
            ```
        """
        return self._client._call(self._inner.get_batch_status, batch_id)

    def cancel_batch(self, batch_id: str) -> CancellationSummary:
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
            created = client.batches.create_batch(sv.BatchVideoRequest(videos=videos))
            summary = client.batches.cancel_batch(created.batch_id)
            print(summary.cancelled, summary.already_finished)  # 5 0
            ```
        """
        return self._client._call(self._inner.cancel_batch, batch_id)

    def list_batches(self, page: int = 1, limit: int = 20) -> Page[Batch]:
        """Return one page of batches, newest first.

        Args:
            page: Which page, from 1.
            limit: Batches a page, from 1 to 1000.

        Raises:
            ValidationError: ``page`` outside 1–10⁹ or ``limit`` outside 1–1000.

        Examples:
            ```python
            page = client.batches.list_batches(limit=10)
            for batch in page.items:
                print(batch.id, batch.name, batch.status, batch.progress.percentage)
            ```
        """
        return self._client._call(self._inner.list_batches, page, limit)


class WebhookService:
    """Apply providers' webhook deliveries to the ledger (``client.webhooks``).

    Examples:
        ```python
        service = client.webhooks  # one per client, over its transport and ledger
        print(type(service).__name__)  # WebhookService
        ```
    """

    def __init__(self, client: SoraVideo, inner: AsyncWebhookService) -> None:
        self._client = client
        self._inner = inner

    def handle(self, *, provider: str, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify one webhook delivery and apply it to the ledger.

        Hand it the raw request: the body exactly as received (bytes: the signature covers
        them) and the headers. It verifies the signature and the timestamp (five minutes
        either way) first, then records the delivery's id in the ledger (a delivery seen
        before, by any process sharing the ledger, is a ``duplicate`` and changes
        nothing), then applies the news through the same compare-and-set writes as
        polling: a job never moves backwards (a late ``processing`` after ``completed``
        is ignored), and a delivery for a video no job owns is acknowledged and recorded,
        not applied. A thin event (Sora's, Gemini's: an id only) costs one status read.

        Args:
            provider: The provider the delivery comes from: the client's transport's name
                (``replicate``, ``fal``, ``openrouter``, ``gemini``, ``sora``).
            headers: The request's headers (any mapping; names in any case).
            body: The request's raw body.

        Returns:
            A [`WebhookEvent`][soravideo.webhooks.WebhookEvent]: the remote id, the job,
            whether the delivery was applied, and whether it was a duplicate.

        Raises:
            WebhookVerificationError: A bad or missing signature, a stale timestamp, a
                body that is not the provider's event, or no secret configured: nothing
                was recorded or applied (answer ``400``/``401``).
            ValidationError: ``provider`` is not this client's provider, or the provider
                sends no webhooks (Runway: its tasks are polled).
            ProviderError: The status read of a thin event failed (answer ``5xx``: the
                provider delivers it again).
            RepositoryError: The ledger refused a write (answer ``5xx``).

        Examples:
            ```python
            # In a web route: the raw body and headers of the provider's POST.
            headers = {"webhook-id": "msg_1", "webhook-timestamp": "1765000000"}
            try:
                event = client.webhooks.handle(provider="sora", headers=headers, body=b"{}")
            except sv.WebhookVerificationError as exc:
                print(401, exc.reason)  # 401 not_configured: this client has no webhook secret
            else:
                print(200, event.applied, event.duplicate)  # acknowledge every event returned
            ```
        """
        return self._client._call(self._inner.handle, provider=provider, headers=headers, body=body)
