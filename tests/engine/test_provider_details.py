"""What the engine records of a provider's own words: THROTTLED back-pressure, credits, and
the safe answer when a create's outcome cannot be known."""

from __future__ import annotations

import pytest

import soravideo as sv
from helpers import request, requests
from soravideo._core.clock import VirtualClock
from soravideo.repositories import MemoryRepository
from soravideo.testing import check_ledger_exactly_once
from soravideo.testing._simulated_runway import simulated_runway_parts

pytestmark = pytest.mark.anyio


def runway_client(**knobs: object) -> sv.AsyncSoraVideo:
    clock = VirtualClock()
    fake, transport = simulated_runway_parts(clock, generation_time=30, **knobs)
    client = sv.AsyncSoraVideo(
        transport=transport, repository=MemoryRepository(), clock=clock, max_concurrency=4
    )
    client.fake = fake  # type: ignore[assignment]
    return client


async def test_throttled_tasks_show_in_the_job_and_credits_are_recorded() -> None:
    seen: set[str | None] = set()

    async def record(event: sv.JobEvent) -> None:
        seen.add(event.job.provider_status)

    async with runway_client(max_concurrent=1) as client:
        client.on("*", record)
        jobs = [
            await client.videos.create_video(r) for r in requests(3, model="gen4.5", duration=5)
        ]
        done = [await client.videos.wait_for_job(j.id) for j in jobs]
    assert "THROTTLED" in seen
    assert all(j.status is sv.JobStatus.COMPLETED for j in done)
    assert all(j.provider_status == "SUCCEEDED" for j in done)
    assert all(j.cost_credits is not None and j.cost_credits > 0 for j in done)
    # The provider's own cost is recorded beside the estimate, which stays what it was.
    assert all(j.cost_usd == pytest.approx(j.cost_credits * 0.01) for j in done)
    assert [j.estimated_cost_usd for j in done] == [j.estimated_cost_usd for j in jobs]
    assert client.fake is not None
    await check_ledger_exactly_once(client.fake, client.repository)


async def test_an_unknowable_create_on_a_provider_without_keys_or_lists_fails_safely() -> None:
    async with runway_client() as client:
        assert client.fake is not None
        client.fake.inject(reset=True, phase="after", match="POST /v1/*", times=1)
        job = await client.videos.create_video(request(model="gen4.5", duration=5))
        done = await client.videos.wait_for_job(job.id)
        assert done.status is sv.JobStatus.FAILED
        assert done.error is not None
        assert done.error.code == "ambiguous_submission"
        assert done.error.retryable is True
        # One create reached the fake; it was never sent a second time.
        assert client.fake.count("POST") == 1
        # The price of failing safely: Runway can neither replay a create nor list tasks, so
        # the video made by the lost create is paid for and owned by no job. The check sees
        # exactly that, and nothing else.
        with pytest.raises(AssertionError) as caught:
            await check_ledger_exactly_once(client.fake, client.repository)
        (violation,) = str(caught.value).splitlines()[1:]
        assert violation.strip().startswith("- orphan: video ")
