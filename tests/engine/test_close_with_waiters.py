"""A client closed while a call of another task waits: the call ends, saying why, instead
of waiting for ever (its engine is gone; on simulated time, so is the clock's driver)."""

from __future__ import annotations

import anyio
import pytest

import soravideo as sv
from helpers import request
from soravideo.testing import check_ledger_exactly_once

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("progress", [False, True])
async def test_a_waiter_in_another_task_ends_when_the_client_closes(progress: bool) -> None:
    outcome: list[object] = []
    async with anyio.create_task_group() as tg:
        client = sv.AsyncSoraVideo.simulated(generation_time=3600)
        async with client:
            job = await client.videos.create_video(request("a heron"))

            async def waiter() -> None:
                try:
                    outcome.append(await client.videos.wait_for_job(job.id, progress=progress))
                except RuntimeError as exc:
                    outcome.append(exc)

            tg.start_soon(waiter)
            await client.clock.sleep(5)
        await anyio.wait_all_tasks_blocked()
        assert len(outcome) == 1, "the waiter still waits after the close"
        tg.cancel_scope.cancel()
    (error,) = outcome
    assert isinstance(error, RuntimeError) and "closed while a call waited" in str(error)
    assert client.fake is not None
    await check_ledger_exactly_once(client.fake, client.repository, settled=False)
