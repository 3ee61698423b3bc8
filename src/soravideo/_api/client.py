"""AsyncSoraVideo: wires a repository, a transport and the runner together."""

from __future__ import annotations

import contextlib
import os
from contextlib import AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

from .._core.clock import Clock, SystemClock, VirtualClock, user_waits
from .._core.errors import AuthenticationError, FieldError, ValidationError
from .._core.events import Callback, EventBus
from .._core.models import ResumeSummary
from .._core.settings import Settings
from .._engine.runner import JobRunner
from ..repositories.base import JobRepository
from ..transports.base import Transport
from . import health as _health
from . import metrics as _metrics
from .batches import AsyncBatchService
from .context import ClientContext
from .health import DEFAULT_READY_TIMEOUT, HealthReport, ReadinessReport
from .metrics import Metrics
from .resume import find_unfinished, see_through
from .videos import AsyncVideoService
from .webhooks import AsyncWebhookService

if TYPE_CHECKING:
    from ..testing._simulated import FakeServer

__all__ = ["AsyncSoraVideo", "default_repository", "default_transport", "simulated_client"]

DEFAULT_DB = "soravideo.db"


def default_repository() -> JobRepository:
    """Return the embedded default ledger: SQLite at ``$SORAVIDEO_DB`` or ``./soravideo.db``."""
    from ..repositories.sqlite import SQLiteRepository

    return SQLiteRepository(os.environ.get("SORAVIDEO_DB") or DEFAULT_DB)


def default_transport() -> Transport:
    """Return a Sora-protocol transport configured from the environment."""
    from ..transports.sora import SoraTransport

    return SoraTransport()


def _hand_settings(transport: Transport, settings: Settings) -> None:
    """Give the transport the settings it acts on itself (``request_timeout``, ``max_retry_after``).

    Transports are built before a client's settings exist; every httpx transport gets
    them here (``HttpTransport.use_settings``), once, when the client is made. Other
    transports act on no client setting themselves.
    """
    from ..transports._http import HttpTransport

    if isinstance(transport, HttpTransport):
        transport.use_settings(
            request_timeout=settings.request_timeout, max_retry_after=settings.max_retry_after
        )


_OTHER_PROVIDERS = (
    "other providers: RunwayTransport (RUNWAYML_API_SECRET), FalTransport (FAL_KEY), "
    "OpenRouterTransport (OPENROUTER_API_KEY), GeminiTransport (GOOGLE_API_KEY or "
    "GEMINI_API_KEY), ReplicateTransport (REPLICATE_API_TOKEN); offline and keyless: "
    "SoraVideo.simulated()"
)


def _check_key(transport: Transport) -> None:
    """Raise at once when the transport has no key for its provider's own API root.

    Without one every create would fail later, after its job was stored; the error names
    the environment variables the provider reads (and those of the others).

    Raises:
        AuthenticationError: The transport has no key and its provider needs one.
    """
    from ..transports._http import HttpTransport

    if isinstance(transport, HttpTransport):
        problem = transport.missing_key()
        if problem is not None:
            raise AuthenticationError(f"{problem}; {_OTHER_PROVIDERS}", provider=transport.name)


def _settings(settings: Settings | None, overrides: dict[str, Any]) -> Settings:
    base = settings if settings is not None else Settings()
    return base.merge(**overrides) if overrides else base


def simulated_client(
    repository: JobRepository | None = None,
    *,
    provider: str = "sora",
    generation_time: float = 30.0,
    seed: int = 0,
    cls: type[AsyncSoraVideo] | None = None,
    **kwargs: Any,
) -> AsyncSoraVideo:
    """Return a client on a provider's fake and simulated time (what ``simulated()`` gives).

    The one place outside ``soravideo.testing`` that imports it (lazily, on first use;
    ``lint-imports`` allows this import alone).

    Args:
        repository: A ledger (default: a new `MemoryRepository`).
        provider: The provider to simulate: ``sora`` (FakeSora), ``runway``, ``fal``,
            ``openrouter``, ``gemini`` or ``replicate`` (each by its fake).
        generation_time: Simulated seconds each video takes.
        seed: Seeds the fake's video ids (simulators sharing a ledger one after the
            other, one per CLI command, need different seeds).
        cls: The client class to make (default: ``AsyncSoraVideo``).
        **kwargs: Everything the constructor takes except ``transport`` and ``clock``.

    Raises:
        ValidationError: ``provider`` has no simulator.
    """
    from ..testing._simulated import SIMULATED_PROVIDERS, simulated_provider_parts

    if provider not in SIMULATED_PROVIDERS:
        raise ValidationError(
            [
                FieldError(
                    field="provider",
                    message=f"no simulator for {provider!r}; choose one of "
                    + ", ".join(SIMULATED_PROVIDERS),
                )
            ]
        )
    clock = VirtualClock(only_while_waiting=True)
    fake, transport = simulated_provider_parts(
        provider, clock, generation_time=generation_time, seed=seed
    )
    if repository is None:
        from ..repositories.memory import MemoryRepository

        repository = MemoryRepository()
    make = cls if cls is not None else AsyncSoraVideo
    client = make(transport=transport, repository=repository, clock=clock, **kwargs)
    client.fake = fake
    return client


class AsyncSoraVideo:
    """The async client: ``client.videos`` and ``client.batches`` over one ledger and one provider.

    Use it as ``async with AsyncSoraVideo(...) as client:`` to keep the engine running in
    the background for the whole block. Without ``async with`` it works too: the calls
    that wait (``wait_for_job``, ``process_batch``, ``run_worker``) drive the engine while
    they wait. ``aclose()`` is idempotent. The client owns the transport and repository it
    is given and closes them.

    Args:
        transport: The provider (default: a
            [`SoraTransport`][soravideo.transports.SoraTransport] from the environment).
            An httpx transport is given this client's
            ``request_timeout`` (unless it was built with its own ``timeout=``) and
            ``max_retry_after`` (see ``HttpTransport.use_settings``).
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

        # AsyncSoraVideo() reads OPENAI_API_KEY; simulated() runs offline.
        async with sv.AsyncSoraVideo.simulated() as client:
            request = sv.CreateVideoRequest(prompt="A red fox in fresh snow", duration=8)
            job = await client.videos.create_video(request)
            job = await client.videos.wait_for_job(job.id)
            print(job.status)  # completed
        ```
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
        self.settings: Settings = _settings(settings, overrides)
        """The client's settings."""
        self.transport: Transport = transport if transport is not None else default_transport()
        """The provider transport."""
        _check_key(self.transport)
        _hand_settings(self.transport, self.settings)
        self.repository: JobRepository = (
            repository if repository is not None else default_repository()
        )
        """The ledger."""
        self.clock: Clock = clock if clock is not None else SystemClock()
        """The clock the engine runs on."""
        self.events = EventBus()
        self._context = ClientContext(
            repository=self.repository,
            transport=self.transport,
            settings=self.settings,
            clock=self.clock,
            events=self.events,
            worker_id=worker_id,
        )
        self.videos: AsyncVideoService = AsyncVideoService(self._context)
        """Single videos: create, wait for, download, remix, cancel and list them."""
        self.batches: AsyncBatchService = AsyncBatchService(self._context)
        """Batches of videos: create (from a manifest too), process, watch and cancel them."""
        self.webhooks: AsyncWebhookService = AsyncWebhookService(self._context)
        """Providers' webhook deliveries: verify one and apply it to the ledger."""
        self.fake: FakeServer | None = None
        """The fake provider behind a ``simulated()`` client (a
        [`FakeSora`][soravideo.testing.FakeSora] unless another provider was asked for;
        ``None`` otherwise)."""
        self._stack: AsyncExitStack | None = None
        self._stack_task: int | None = None  # the task that entered ``async with``

    @classmethod
    def simulated(
        cls,
        *,
        repository: JobRepository | None = None,
        generation_time: float = 30.0,
        provider: str = "sora",
        **kwargs: Any,
    ) -> AsyncSoraVideo:
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
            client = sv.AsyncSoraVideo.simulated(generation_time=300)
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A paper boat"))
            job = await client.videos.cancel_job(job.id)  # no simulated time has passed yet
            print(job.status)  # cancelled
            await client.aclose()
            ```
        """
        return simulated_client(
            repository, provider=provider, generation_time=generation_time, cls=cls, **kwargs
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def _runner(self) -> JobRunner | None:
        """The engine, once built (tests look at it)."""
        return self._context.runner

    async def _started(self) -> JobRunner:
        """Open the ledger and build the engine on first use; return the runner."""
        return await self._context.engine()

    async def __aenter__(self) -> AsyncSoraVideo:
        runner = await self._started()
        stack = AsyncExitStack()
        tg = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(tg.cancel_scope.cancel)
        tg.start_soon(runner.run_forever)
        self._stack = stack
        self._stack_task = anyio.get_current_task().id
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def run_background(self) -> None:
        """Run the engine until cancelled (the sync client runs this on its portal)."""
        runner = await self._started()
        await runner.run_forever()

    async def aclose(self) -> None:
        """Stop the engine, give back leases, close the transport and the ledger. Idempotent.

        Creates already on the wire are waited for (up to ``close_timeout`` seconds, real
        time) and their answers recorded, so a video the provider made is never lost; a
        create still unanswered then leaves its job resumable (processing), never failed.

        A client entered with ``async with`` runs its engine in a task group of that task:
        close it there (end the block). From another task this raises ``RuntimeError``
        and closes nothing. A call still waiting in another task when the client closes
        ends with a ``RuntimeError`` saying so (its jobs go on in the ledger).

        Examples:
            ```python
            client = sv.AsyncSoraVideo.simulated()
            await client.videos.create_video(sv.CreateVideoRequest(prompt="A lighthouse at dusk"))
            await client.aclose()
            await client.aclose()  # idempotent
            ```
        """
        if self._context.closed:
            return
        if self._stack is not None and anyio.get_current_task().id != self._stack_task:
            # anyio would refuse with "Attempted to exit cancel scope in a different task".
            raise RuntimeError(
                "close this client in the task that entered `async with` it: its engine "
                "runs in a task group of that task (end that block, or cancel that task)"
            )
        self._context.closed = True
        if self._stack is not None:
            stack, self._stack = self._stack, None
            # The engine in the background stops here, giving creates on the wire up to
            # close_timeout (real time) to be answered: simulated time moves meanwhile, as
            # their retries sleep on it (else a create waiting out a 429 held the close
            # for all of close_timeout).
            with user_waits(self.clock):
                await stack.aclose()
        with anyio.CancelScope(shield=True):
            runner = self._context.runner
            if runner is not None:
                # Calls still waiting in other tasks look again, find the client closed,
                # and say so (their engine is gone: nothing else would end their wait).
                runner.events.touch()
                # An engine driven elsewhere (the sync client's portal task, another
                # task's wait) may still have creates on the wire: not before they answer
                # (simulated time moves meanwhile: their retries sleep on it).
                with user_waits(self.clock):
                    await runner.settle_submissions(self.settings.close_timeout)
                # Closing must not fail because the ledger is down.
                with contextlib.suppress(Exception):
                    await runner.release_all()
            await self.transport.aclose()
            await self.repository.aclose()

    # ------------------------------------------------------------------ engine

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
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A kite over dunes"))
            await client.videos.wait_for_job(job.id)
            stop()  # no more calls
            ```
        """
        return self.events.on(kind, callback)

    # ------------------------------------------------------------------ monitoring

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
        return _health.health(self._context)

    async def ready(
        self,
        timeout: float = DEFAULT_READY_TIMEOUT,  # noqa: ASYNC109 - each check's own deadline, on real time
    ) -> ReadinessReport:
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
            report = await client.ready(timeout=2)
            print(report.ready, [(check.name, check.status) for check in report.checks])
            ```
        """
        return await _health.ready(self._context, timeout)

    async def metrics(self) -> Metrics:
        """Return job counts, provider counters, engine state, spend and system figures.

        Returns:
            A [`Metrics`][soravideo.Metrics] snapshot (``to_dict()``, ``to_prometheus()``).

        Raises:
            RepositoryError: The ledger cannot be read.

        Examples:
            ```python
            metrics = await client.metrics()
            print(metrics.jobs.total, metrics.spend.estimated_usd)
            print(metrics.to_prometheus())  # serve it on /metrics
            ```
        """
        return await _metrics.metrics(self._context)

    async def resume(self, *, download_dir: str | os.PathLike[str] | None = None) -> ResumeSummary:
        """See every unfinished batch and job of the ledger through: what a crashed or
        interrupted process left behind (``soravideo resume`` from a terminal).

        Batches still pending or processing are processed, as
        [`process_batch`][soravideo.AsyncBatchService.process_batch] does, and finalized;
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
            await client.videos.create_video(request)  # as a process that crashed left it
            summary = await client.resume(download_dir="videos")  # sent, waited for, saved
            print(summary)  # ResumeSummary(jobs=1, batches=0)
            ```
        """
        await self._context.working_engine()
        work = await find_unfinished(self.videos, self.batches)
        await see_through(self._context, self.videos, self.batches, work, download_dir=download_dir)
        return ResumeSummary(jobs=len(work.jobs), batches=len(work.batches))

    async def run_worker(self) -> None:
        """Claim and drive jobs from the shared ledger until cancelled.

        Any process may create jobs; every worker picks them up. Leases make sure each job
        is submitted once; a worker that dies leaves its jobs to the others once its leases
        expire. On cancellation it finishes the step in hand, waits up to ``close_timeout``
        for creates on the wire to be answered and recorded, and gives its leases back.

        Raises:
            RuntimeError: the client is closed.

        Examples:
            ```python
            import anyio

            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A harbour at dawn"))
            async with anyio.create_task_group() as workers:
                workers.start_soon(client.run_worker)  # in a worker process: await client.run_worker()
                await client.videos.wait_for_job(job.id)
                workers.cancel_scope.cancel()  # the worker gives its leases back
            ```
        """
        runner = await self._context.working_engine()
        runner.worker_mode = True
        runner.wake()
        try:
            async with runner.driving():
                await anyio.sleep_forever()
        finally:
            runner.stop_worker()
            with anyio.CancelScope(shield=True):
                await runner.settle_submissions(self.settings.close_timeout)
                await runner.release_all()
