"""cancel_job at the stages of a create not covered elsewhere, each ending with the
exactly-once check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import pytest

import soravideo as sv
from helpers import request
from soravideo.repositories import MemoryRepository
from soravideo.testing import check_ledger_exactly_once

pytestmark = pytest.mark.anyio


async def test_cancel_while_the_engine_waits_out_a_429_sends_nothing(
    ledger: Callable[[], Any],
) -> None:
    async with sv.AsyncSoraVideo.simulated(repository=ledger(), generation_time=60) as client:
        fake = client.fake
        assert fake is not None
        client.transport.retry_policy = attrs.evolve(  # type: ignore[attr-defined]
            client.transport.retry_policy,  # type: ignore[attr-defined]
            max_retries=0,
        )
        fake.inject(status=429, retry_after=30, match="POST /videos")
        job = await client.videos.create_video(request("a heron"))
        while fake.rate_limited_count() == 0:
            await client.clock.sleep(0.5)
        done = await client.videos.cancel_job(job.id)
        assert done.status is sv.JobStatus.CANCELLED
        await client.clock.sleep(120)
        assert fake.created_count() == 0
        await check_ledger_exactly_once(fake, client.repository)


@pytest.mark.parametrize("turns", [0, 1, 3, 10])
async def test_cancel_racing_the_clients_close_with_a_create_on_the_wire(turns: int) -> None:
    # The cancel waits for the create on the wire while close stops the engine: whichever
    # wins, the video is recorded with its job and stopped.
    repository = MemoryRepository()
    async with anyio.create_task_group() as tg:
        client = sv.AsyncSoraVideo.simulated(repository=repository, generation_time=60)
        await client.__aenter__()
        fake = client.fake
        assert fake is not None
        fake.inject(delay=5, phase="after", match="POST /videos")
        job = await client.videos.create_video(request("a heron"))
        while fake.created_count() < 1:
            await client.clock.sleep(0.5)
        tg.start_soon(client.videos.cancel_job, job.id)
        for _ in range(turns):
            await anyio.lowlevel.checkpoint()
        await client.aclose()
    done = await repository.get_job(job.id)
    (made,) = fake.created_ids()
    assert (done.status, done.remote_id) == (sv.JobStatus.CANCELLED, made)
    assert fake.cancelled_ids() == [made]
    await check_ledger_exactly_once(fake, repository)


@pytest.mark.parametrize("provider", ["sora", "runway", "fal", "openrouter", "gemini", "replicate"])
async def test_a_cancel_while_the_create_is_on_the_wire_records_the_video_and_its_cost(
    provider: str,
) -> None:
    # The create's answer comes after the cancel is written: the video is put on the
    # cancelled job's record with what the provider bills for it (Runway: credits).
    client = sv.AsyncSoraVideo.simulated(provider=provider)
    transport: Any = client.transport
    on_the_wire, answer = anyio.Event(), anyio.Event()
    submit = transport.submit

    async def held(*args: Any, **kwargs: Any) -> Any:
        on_the_wire.set()
        await answer.wait()
        return await submit(*args, **kwargs)

    transport.submit = held
    async with client:
        job = await client.videos.create_video(request("a heron"))
        with anyio.fail_after(5):
            await on_the_wire.wait()
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.videos.cancel_job, job.id)
            await anyio.wait_all_tasks_blocked()
            answer.set()
    done = await client.repository.get_job(job.id)
    assert done.status is sv.JobStatus.CANCELLED
    assert client.fake is not None
    assert done.remote_id == client.fake.created_ids()[0]
    await check_ledger_exactly_once(client.fake, client.repository)
