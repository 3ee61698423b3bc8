"""A job written back to pending by a stopping engine forgets that its last create never
happened: on the same runner's next run its fresh create may be ambiguous, and a stale mark
would re-send it without reconciliation (a second video where creates cannot be
deduplicated)."""

from __future__ import annotations

import attrs
import pytest

import soravideo as sv
from helpers import request
from soravideo._core.clock import VirtualClock
from soravideo.repositories import MemoryRepository
from soravideo.testing import check_ledger_exactly_once
from soravideo.testing._simulated import simulated_provider_parts

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("provider", ["runway", "replicate", "fal"])
async def test_an_ambiguous_create_after_a_stop_is_never_sent_again(provider: str) -> None:
    clock = VirtualClock(only_while_waiting=True)
    fake, transport = simulated_provider_parts(provider, clock, generation_time=60)
    # The engine waits out the 429 itself (never_sent), not the transport.
    transport.retry_policy = attrs.evolve(transport.retry_policy, max_retries=0)
    fake.inject(status=429, retry_after=30, match=lambda r: r.method == "POST", times=1)
    # Not context-managed: each waiting call drives the engine, which stops when it returns.
    client = sv.AsyncSoraVideo(transport=transport, repository=MemoryRepository(), clock=clock)
    job = await client.videos.create_video(request("a heron"))
    with pytest.raises(sv.JobTimeoutError):
        await client.videos.wait_for_job(job.id, timeout=5)  # 429 seen, queued for 30 s
    assert fake.rate_limited_count() == 1 and fake.created_count() == 0
    stored = await client.videos.get_job(job.id)
    assert stored.status is sv.JobStatus.PENDING
    # Next run: the fresh create is made but its answer lost (ambiguous).
    fake.faults.clear()
    fake.inject(status=500, phase="after", match=lambda r: r.method == "POST", times=1)
    done = await client.videos.wait_for_job(job.id, timeout=3600)
    assert fake.created_count() == 1, "the ambiguous create was sent again: two videos"
    if done.status is sv.JobStatus.FAILED:
        # A provider that can neither list its jobs nor deduplicate creates cannot say
        # whether the create happened: the job says so, and its video is the user's call.
        assert done.error is not None and done.error.code == "ambiguous_submission", done
    else:
        assert done.status is sv.JobStatus.COMPLETED, done
        await check_ledger_exactly_once(fake, client.repository)
    await client.aclose()
