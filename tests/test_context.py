"""The one wait of the engine and the services (``sleep_or_wake``) and the ClientContext that
the services and monitoring receive instead of the client."""

from __future__ import annotations

import anyio
import pytest

import soravideo as sv
from soravideo._api.context import ClientContext
from soravideo._core.clock import sleep_or_wake
from soravideo.repositories import MemoryRepository
from soravideo.testing import check_ledger_exactly_once


@pytest.mark.anyio
async def test_sleep_or_wake_waits_the_clocks_seconds_when_nothing_happens() -> None:
    clock = sv.VirtualClock()
    started = clock.time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.run)
        await sleep_or_wake(clock, 30.0, anyio.Event())
        tg.cancel_scope.cancel()
    assert clock.time() - started == 30.0


@pytest.mark.anyio
async def test_sleep_or_wake_ends_when_the_event_is_set() -> None:
    clock = sv.ManualClock()
    event = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(sleep_or_wake, clock, 3600.0, event)
        await anyio.lowlevel.checkpoint()
        event.set()
    # Ended by the event: the clock never moved.
    assert clock.next_deadline() is None


@pytest.mark.anyio
async def test_sleep_or_wake_returns_at_once_for_an_event_already_set() -> None:
    clock = sv.ManualClock()
    event = anyio.Event()
    event.set()
    await sleep_or_wake(clock, 3600.0, event)
    assert clock.next_deadline() is None


@pytest.mark.anyio
async def test_the_services_share_the_clients_context_not_the_client() -> None:
    async with sv.AsyncSoraVideo.simulated() as client:
        context = client.videos._context
        assert isinstance(context, ClientContext)
        assert client.batches._context is context
        assert (context.repository, context.transport, context.clock) == (
            client.repository,
            client.transport,
            client.clock,
        )
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="a context"))
        done = await client.videos.wait_for_job(job.id)
        assert done.status is sv.JobStatus.COMPLETED
        assert context.runner is not None and not context.closed
        assert client.fake is not None
        await check_ledger_exactly_once(client.fake, client.repository)
    assert context.closed


@pytest.mark.anyio
async def test_a_client_closed_before_its_first_use_starts_no_engine() -> None:
    client = sv.AsyncSoraVideo.simulated()
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.videos._context.engine()
    assert client.videos._context.runner is None


@pytest.mark.anyio
async def test_a_context_opens_its_ledger_and_builds_one_engine_on_first_use() -> None:
    clock = sv.ManualClock()
    async with sv.AsyncSoraVideo.simulated(repository=MemoryRepository()) as client:
        context = ClientContext(
            repository=client.repository,
            transport=client.transport,
            settings=client.settings,
            clock=clock,
            events=client.events,
        )
        assert context.runner is None
        first = await context.engine()
        assert await context.engine() is first
        assert context.uptime() == 0.0
        clock.advance(5)
        assert context.uptime() == 5.0
