"""The engine's parts, each built alone (``tests/engine/parts``) on a FakeSora, a memory
ledger and a manual clock.

A ``kit`` holds the shared state and the parts a test needs, wired as the runner wires
them but with no loop running: a test calls one part's methods and looks at the state,
the ledger and the fake. Every test ends with the ledger checked against the fake.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import attrs
import httpx

import soravideo as sv
from helpers import request
from soravideo._core.clock import now_utc
from soravideo._core.events import EVENT_KINDS, EventBus, JobEvent
from soravideo._engine.ledger import Ledger
from soravideo._engine.pacer import Pacer
from soravideo._engine.polling import Poller
from soravideo._engine.reconcile import Reconciler
from soravideo._engine.state import EngineState
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeSora, check_ledger_exactly_once
from soravideo.transports import SoraTransport

OWNER = "engine-under-test"


@attrs.define
class Kit:
    clock: sv.ManualClock
    fake: FakeSora
    transport: SoraTransport
    repository: MemoryRepository
    settings: sv.Settings
    state: EngineState
    pacer: Pacer
    events: EventBus
    ledger: Ledger
    reconciler: Reconciler
    poller: Poller
    stopped: list[str]  # the videos the parts asked to stop
    seen: list[tuple[str, str]]  # the events announced: (kind, job id)

    async def pending(self, prompt: str = "a red fox in the snow", **fields: Any) -> sv.Job:
        """Store a new job (as a client's create does) and claim it for this engine."""
        client = sv.AsyncSoraVideo(
            transport=self.transport, repository=self.repository, clock=self.clock
        )
        job = await client.videos.create_video(request(prompt, **fields))
        return await self.claim(job.id)

    async def claim(self, job_id: str) -> sv.Job:
        """Take the job's lease for this engine."""
        [claimed] = await self.repository.claim_jobs(
            OWNER,
            limit=1,
            lease_seconds=self.settings.lease_seconds,
            now=now_utc(self.clock),
            job_ids=[job_id],
        )
        return claimed

    async def sent(self, prompt: str = "a red fox in the snow") -> sv.Job:
        """Store a job whose create was sent and recorded (processing, with a remote id)."""
        job = await self.pending(prompt)
        remote = await self.transport.submit(job.request, idempotency_key=f"key-{job.id}")
        return await self.ledger.write(
            job,
            sv.JobStatus.PENDING,
            status=sv.JobStatus.PROCESSING,
            remote_id=remote.remote_id,
            started_at=now_utc(self.clock),
            attempts=1,
        )


@contextlib.asynccontextmanager
async def built() -> AsyncIterator[Kit]:
    """Build a kit; on leaving, check the ledger against the fake."""
    clock = sv.ManualClock()
    fake = FakeSora(clock=clock, generation_time=60)
    base_url = "http://fakesora.invalid/v1"
    # No retries of its own: a fault the fake injects reaches the part under test at once.
    transport = SoraTransport(
        base_url=base_url,
        api_key="sk-parts",
        http_client=httpx.AsyncClient(transport=fake.http_transport(), base_url=base_url),
        clock=clock,
        max_retries=0,
        idempotent_creates=True,  # FakeSora deduplicates creates
    )
    repository = MemoryRepository()
    settings = sv.Settings(poll_min_interval=1.0, poll_max_interval=30.0, max_concurrency=4)
    state = EngineState()
    pacer = Pacer(settings, clock)
    events = EventBus()
    stopped: list[str] = []
    seen: list[tuple[str, str]] = []

    async def note(event: JobEvent) -> None:
        seen.append((event.kind, event.job.id))

    for kind in EVENT_KINDS:
        events.on(kind, note)

    async def stop_video(remote_id: str) -> None:
        stopped.append(remote_id)
        await transport.cancel(remote_id)

    ledger = Ledger(
        repository=repository,
        clock=clock,
        owner=OWNER,
        state=state,
        events=events,
        stop_video=stop_video,
    )
    reconciler = Reconciler(transport=transport, repository=repository, pacer=pacer)
    poller = Poller(
        state=state,
        ledger=ledger,
        pacer=pacer,
        reconciler=reconciler,
        transport=transport,
        settings=settings,
        clock=clock,
        events=events,
    )
    yield Kit(
        clock=clock,
        fake=fake,
        transport=transport,
        repository=repository,
        settings=settings,
        state=state,
        pacer=pacer,
        events=events,
        ledger=ledger,
        reconciler=reconciler,
        poller=poller,
        stopped=stopped,
        seen=seen,
    )
    await transport.aclose()
    await check_ledger_exactly_once(fake, repository, settled=False)
