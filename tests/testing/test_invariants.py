"""check_exactly_once: it passes on clean runs (FakeSora and FakeRunway, through the engine)
and fails, naming each one, on every kind of violation built by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import attrs
import httpx
import pytest

import soravideo as sv
from helpers import request, requests
from soravideo._core.clock import VirtualClock
from soravideo.repositories import MemoryRepository
from soravideo.testing import (
    FakeRunway,
    FakeSora,
    ManualClock,
    check_exactly_once,
    check_ledger_exactly_once,
)
from soravideo.testing._simulated_runway import simulated_runway_parts

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


async def cancel_once_sent(client: sv.AsyncSoraVideo, job_id: str) -> None:
    """Cancel a job once it has a remote id (its video generating)."""
    while (await client.videos.get_job(job_id)).remote_id is None:
        await client.clock.sleep(1)
    await client.videos.cancel_job(job_id)


@pytest.fixture
def fake() -> FakeSora:
    return FakeSora(clock=ManualClock(), generation_time=10)


@pytest.fixture
def http(fake: FakeSora) -> Iterator[httpx.Client]:
    with httpx.Client(transport=fake.sync_http_transport(), base_url="http://fake/v1") as client:
        yield client


def create(http: httpx.Client, prompt: str, seconds: str = "8") -> str:
    response = http.post("/videos", json={"prompt": prompt, "seconds": seconds})
    assert response.status_code == 200, response.text
    video_id: str = response.json()["id"]
    return video_id


def job(
    prompt: str,
    remote_id: str | None = None,
    status: sv.JobStatus = sv.JobStatus.COMPLETED,
    *,
    duration: int = 8,
    **fields: Any,
) -> sv.Job:
    fields.setdefault("estimated_cost_usd", round(duration * 0.10, 6))  # sora-2: $0.10/s
    return sv.Job(
        id=f"job_{prompt.replace(' ', '_')}",
        status=status,
        request=request(prompt, duration=duration),
        provider="sora",
        remote_id=remote_id,
        created_at=NOW,
        updated_at=NOW,
        **fields,
    )


def violations(fake: FakeSora | FakeRunway, jobs: list[sv.Job], **kwargs: Any) -> list[str]:
    """Run the check; return its violation lines (empty when it passes)."""
    try:
        check_exactly_once(fake, jobs, **kwargs)
    except AssertionError as error:
        return [line.strip()[2:] for line in str(error).splitlines()[1:]]
    return []


def test_a_clean_hand_built_run_passes(fake: FakeSora, http: httpx.Client) -> None:
    a, b = create(http, "a fox"), create(http, "an owl")
    assert http.delete(f"/videos/{b}").status_code == 200
    jobs = [
        job("a fox", a),
        job("an owl", b, sv.JobStatus.CANCELLED),
        job("never sent", None, sv.JobStatus.CANCELLED),
    ]
    check_exactly_once(fake, jobs)


def test_an_orphan_video_fails(fake: FakeSora, http: httpx.Client) -> None:
    a = create(http, "a fox")
    lost = create(http, "an owl")  # its answer lost: no job recorded it
    found = violations(fake, [job("a fox", a), job("an owl", None, sv.JobStatus.FAILED)])
    assert found == [f"orphan: video {lost} ('an owl') is owned by no job"]


def test_an_orphan_passes_unsettled_only_while_a_job_could_still_adopt_it(
    fake: FakeSora, http: httpx.Client
) -> None:
    lost = create(http, "an owl")
    waiting = job("an owl", None, sv.JobStatus.PROCESSING)
    assert violations(fake, [waiting], settled=False) == []
    other = job("a fox", None, sv.JobStatus.PROCESSING)
    assert violations(fake, [other], settled=False) == [
        f"orphan: video {lost} ('an owl') is owned by no job"
    ]


def test_a_video_owned_twice_fails(fake: FakeSora, http: httpx.Client) -> None:
    a = create(http, "a fox")
    twin = attrs.evolve(job("a fox", a), id="job_twin")
    assert violations(fake, [job("a fox", a), twin]) == [
        f"owned twice: video {a} is held by jobs job_a_fox, job_twin"
    ]


def test_a_remote_id_the_provider_never_made_fails(fake: FakeSora) -> None:
    assert violations(fake, [job("a fox", "video_nowhere")]) == [
        "unknown video: job job_a_fox holds video_nowhere, which the provider never created"
    ]


def test_a_video_adopted_by_the_wrong_job_fails(fake: FakeSora, http: httpx.Client) -> None:
    a = create(http, "a fox")
    found = violations(fake, [job("an owl", a)])
    assert found == [f"wrong owner: job job_an_owl ('an owl') holds video {a}, sent for 'a fox'"]


@pytest.mark.parametrize("status", [sv.JobStatus.PENDING, sv.JobStatus.PROCESSING])
def test_a_job_left_unfinished_is_stuck_once_settled(
    fake: FakeSora, http: httpx.Client, status: sv.JobStatus
) -> None:
    remote_id = create(http, "a fox") if status is sv.JobStatus.PROCESSING else None
    jobs = [job("a fox", remote_id, status)]
    assert violations(fake, jobs) == [
        f"stuck: job job_a_fox is {status.value} (remote id {remote_id})"
    ]
    assert violations(fake, jobs, settled=False) == []


def test_a_cancelled_job_whose_video_runs_on_fails(fake: FakeSora, http: httpx.Client) -> None:
    a = create(http, "a fox")
    assert violations(fake, [job("a fox", a, sv.JobStatus.CANCELLED)]) == [
        f"still running: job job_a_fox is cancelled, but its video {a} was neither cancelled "
        "nor deleted at the provider"
    ]


def test_a_wrong_cost_fails(fake: FakeSora, http: httpx.Client) -> None:
    a = create(http, "a fox", seconds="4")  # sent as 4 s: $0.40
    # The ledger says 8 s were bought.
    assert violations(fake, [job("a fox", a)]) == [
        "cost: job job_a_fox records $0.8, but what was sent costs $0.4"
    ]
    assert violations(fake, [job("a fox", a, estimated_cost_usd=None)]) == [
        "cost: job job_a_fox records $None, but what was sent costs $0.4"
    ]
    # A gateway's own price, passed as SoraTransport(prices=...) takes it.
    assert violations(fake, [job("a fox", a)], prices={"sora-2": 0.2}) == []


def test_every_violation_is_listed_not_only_the_first(fake: FakeSora, http: httpx.Client) -> None:
    a, lost = create(http, "a fox"), create(http, "an owl")
    found = violations(
        fake, [job("a fox", a, sv.JobStatus.CANCELLED, duration=4), job("a cat", None)]
    )
    assert [line.split(":")[0] for line in found] == ["orphan", "still running", "cost"]
    assert lost in found[0]


def test_provider_picks_the_jobs_to_check(fake: FakeSora) -> None:
    other = attrs.evolve(job("a fox", "task_elsewhere"), provider="runway")
    assert violations(fake, [other], provider="sora") == []
    assert violations(fake, [other]) != []


# -- through the engine: clean runs pass ----------------------------------------------------


@pytest.mark.anyio
async def test_a_clean_simulated_sora_run_passes_and_a_tampered_ledger_fails() -> None:
    async with sv.AsyncSoraVideo.simulated(generation_time=30) as client:
        assert client.fake is not None
        jobs = [await client.videos.create_video(r) for r in requests(3, duration=8)]
        await cancel_once_sent(client, jobs[1].id)
        first = await client.videos.wait_for_job(jobs[0].id)
        await client.videos.wait_for_job(jobs[2].id)
        await check_ledger_exactly_once(client.fake, client.repository)

        # A ledger that forgot a remote id: the video becomes an orphan.
        await client.repository.update_job(
            attrs.evolve(first, remote_id=None), expected_status=sv.JobStatus.COMPLETED
        )
        with pytest.raises(AssertionError, match=f"orphan: video {first.remote_id}"):
            await check_ledger_exactly_once(client.fake, client.repository)


@pytest.mark.anyio
async def test_a_clean_simulated_runway_run_passes_its_credits_checked() -> None:
    clock = VirtualClock()
    fake, transport = simulated_runway_parts(clock, generation_time=30)
    repository = MemoryRepository()
    async with sv.AsyncSoraVideo(transport=transport, repository=repository, clock=clock) as client:
        done = await client.videos.create_video(request("a fox", model="gen4.5", duration=5))
        failing = await client.videos.create_video(
            request(f"x {fake.failing_prompt}", model="gen4.5", duration=5)
        )
        running = await client.videos.create_video(request("an owl", model="gen4.5", duration=5))
        await cancel_once_sent(client, running.id)  # charged in full while running
        await client.videos.wait_for_job(done.id)
        await client.videos.wait_for_job(failing.id)  # refunded: charged 0 credits
        await check_ledger_exactly_once(fake, repository)

        jobs = list((await repository.list_jobs(limit=10)).items)
        wrong = [attrs.evolve(j, cost_credits=1.0) if j.id == done.id else j for j in jobs]
        with pytest.raises(AssertionError, match=f"cost: job {done.id} records 1.0 credits"):
            check_exactly_once(fake, wrong)
