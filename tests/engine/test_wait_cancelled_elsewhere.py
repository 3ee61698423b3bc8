"""A job another process cancelled (the ledger says cancelled) is still driven here until
this engine notices; a wait_for_job begun meanwhile returns at once all the same."""

from __future__ import annotations

import attrs
import pytest

import soravideo as sv
from helpers import request
from soravideo.repositories import MemoryRepository
from soravideo.testing import check_ledger_exactly_once

pytestmark = pytest.mark.anyio


async def test_wait_for_a_job_cancelled_by_another_process_returns_at_once() -> None:
    repo = MemoryRepository()
    async with sv.AsyncSoraVideo.simulated(repository=repo, generation_time=3600) as client:
        job = await client.videos.create_video(request("a heron"))
        clock = client.clock
        # Sent and tracked here.
        while (await client.videos.get_job(job.id)).remote_id is None:
            await clock.sleep(0.5)
        await clock.sleep(900)  # polls far apart by now
        runner = await client._context.engine()
        assert runner.holds(job.id)
        # Another process cancels it: a plain ledger write, as its engine makes, and the
        # stop of its video at the provider.
        current = await repo.get_job(job.id)
        await repo.update_job(
            attrs.evolve(current, status=sv.JobStatus.CANCELLED),
            expected_status=sv.JobStatus.PROCESSING,
        )
        assert current.remote_id is not None
        await client.transport.cancel(current.remote_id)
        start = clock.time()
        done = await client.videos.wait_for_job(job.id)
        waited = clock.time() - start
        assert done.status is sv.JobStatus.CANCELLED
        assert waited == 0, f"waited {waited} simulated seconds for a job already cancelled"
    assert client.fake is not None
    await check_ledger_exactly_once(client.fake, repo, settled=False)
