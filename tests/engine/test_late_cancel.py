"""A cancel that reaches a video the provider had already finished, unseen (no poll or
delivery yet), on simulated time.

Where the provider's cancel says the job had already ended (fal, Gemini, Replicate, Runway),
the cancel asks it before writing anything: the job is recorded as it ended there
(completed, with its result) and the cancel raises JobStateError, as for a job finished in
the ledger. Where there is no cancel (OpenRouter), the job is read instead, with the same
outcome. Where the cancel deletes a finished video (the Sora protocol), the cancel holds.
Every test ends with the ledger checked against the provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

import soravideo as sv
from helpers import request
from soravideo._core.clock import VirtualClock
from soravideo.repositories import MemoryRepository
from soravideo.repositories.base import JobUpdate
from soravideo.testing import check_ledger_exactly_once
from soravideo.testing._fakeserver import FakeRequest, FakeServer
from soravideo.testing._simulated_runway import simulated_runway_parts
from soravideo.transports import Transport
from webhook_kit import GENERATION, KITS

pytestmark = pytest.mark.anyio

SAFETY_NET = 900.0  # the first poll comes long after the video ended at the provider
REPORTS_ENDED = ("fal", "gemini", "replicate", "runway")
RECORDS_ENDED = (*REPORTS_ENDED, "openrouter")  # OpenRouter: no cancel, a read instead
# Where a cancelled job can still be read, so a cancel sent but not written is recorded by
# polling. Runway forgets a cancelled task (404): there such a job ends failed
# (remote_missing), with nothing lost.
STOPPED_AND_READABLE = ("fal", "gemini", "replicate")
PROVIDERS = sorted([*KITS, "runway"])


def _parts(name: str, clock: VirtualClock) -> tuple[FakeServer, Transport]:
    if name == "runway":
        return simulated_runway_parts(clock, generation_time=GENERATION)
    return KITS[name].make(clock)


def _client(transport: Transport, clock: VirtualClock, **settings: Any) -> sv.AsyncSoraVideo:
    settings.setdefault("repository", MemoryRepository())
    return sv.AsyncSoraVideo(
        transport=transport,
        clock=clock,
        poll_min_interval=SAFETY_NET,  # no poll on an ETA either (Runway pushes nothing)
        poll_max_interval=SAFETY_NET,
        **settings,
    )


async def _running_there(client: sv.AsyncSoraVideo, clock: VirtualClock, job_id: str) -> str:
    """Wait until the job's create is recorded and its video is being made (past the
    provider's queue); return its remote id."""
    with clock.waiting():
        for _ in range(60):
            if (await client.videos.get_job(job_id)).remote_id is not None:
                break
            await clock.sleep(1)
        await clock.sleep(GENERATION / 4)
    remote_id = (await client.videos.get_job(job_id)).remote_id
    assert remote_id is not None
    return remote_id


async def _ended_there(client: sv.AsyncSoraVideo, clock: VirtualClock, job_id: str) -> str:
    """Wait until the job's create is recorded and its video has ended at the provider,
    unseen by the engine; return its remote id."""
    with clock.waiting():
        for _ in range(60):
            if (await client.videos.get_job(job_id)).remote_id is not None:
                break
            await clock.sleep(1)
        await clock.sleep(3 * GENERATION)
    job = await client.videos.get_job(job_id)
    assert job.status is sv.JobStatus.PROCESSING and job.remote_id is not None
    return job.remote_id


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_cancel_after_the_video_completed_records_what_the_provider_did(
    name: str,
) -> None:
    clock = VirtualClock()
    fake, transport = _parts(name, clock)
    async with _client(transport, clock) as client:
        seen: list[tuple[str, str]] = []

        async def record(event: sv.JobEvent) -> None:
            seen.append((event.kind, event.job.status.value))

        client.on("*", record)
        job = await client.videos.create_video(request("finished unseen"))
        remote_id = await _ended_there(client, clock, job.id)
        reads = fake.count(route="retrieve") if name == "openrouter" else 0
        if name in RECORDS_ENDED:
            with pytest.raises(sv.JobStateError, match="the job is completed") as raised:
                await client.videos.cancel_job(job.id)
            if name == "openrouter":  # no cancel there: one read instead, recorded as is
                assert fake.count(route="retrieve") == reads + 1
            assert raised.value.status == "completed"
            done = await client.videos.get_job(job.id)
            assert done.status is sv.JobStatus.COMPLETED
            result = await client.videos.get_video_result(job.id)
            assert result.remote_id == remote_id
            assert ("completed", "completed") in seen and ("cancelled", "cancelled") not in seen
            if name != "openrouter":  # which has no cancel to count
                assert remote_id not in fake.cancelled_ids()  # nothing was stopped
        else:
            done = await client.videos.cancel_job(job.id)
            assert done.status is sv.JobStatus.CANCELLED and done.remote_id == remote_id
            assert ("cancelled", "cancelled") in seen
        await check_ledger_exactly_once(fake, client.repository)


async def test_cancel_batch_counts_a_video_finished_at_the_provider_as_already_finished() -> None:
    # One job at a time: the first one's video has ended at fal (unseen), the second one
    # waits unsent. The batch's cancel records the first completed and counts it finished.
    clock = VirtualClock()
    fake, transport = _parts("fal", clock)
    async with _client(transport, clock, max_concurrency=1) as client:
        created = await client.batches.create_batch(
            sv.BatchVideoRequest(videos=[request("first"), request("second")])
        )
        first, second = created.job_ids
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(client.batches.process_batch, created.batch_id)
            await _ended_there(client, clock, first)
            summary = await client.batches.cancel_batch(created.batch_id)
        assert (summary.cancelled, summary.already_finished, summary.total) == (1, 1, 2)
        assert (await client.videos.get_job(first)).status is sv.JobStatus.COMPLETED
        assert (await client.videos.get_job(second)).status is sv.JobStatus.CANCELLED
        assert fake.created_count() == 1
        await check_ledger_exactly_once(fake, client.repository)


def _status_read(request: FakeRequest) -> bool:
    return request.method == "GET" and request.path.endswith("/status")


async def test_a_failed_read_of_the_ended_video_leaves_the_job_to_its_next_poll() -> None:
    # fal says the request had completed, then its status cannot be read: nothing is written
    # (never cancelled: the video is finished and billed); the job stays in flight here and
    # its next status check records it completed.
    clock = VirtualClock()
    fake, transport = _parts("fal", clock)
    async with _client(transport, clock, max_retries=1) as client:
        job = await client.videos.create_video(request("read fails"))
        remote_id = await _ended_there(client, clock, job.id)
        fault = fake.inject(status=500, match=_status_read, times=10)
        with pytest.raises(sv.JobStateError, match="reading its end failed") as raised:
            await client.videos.cancel_job(job.id)
        assert raised.value.status == "processing"
        assert "500" not in str(raised.value)  # the provider's words stay in the log
        assert fault.fired >= 1
        assert (await client.videos.get_job(job.id)).status is sv.JobStatus.PROCESSING
        fault.times = fault.fired  # the provider answers again
        done = await client.videos.wait_for_job(job.id, timeout=2 * SAFETY_NET)
        assert done.status is sv.JobStatus.COMPLETED and done.remote_id == remote_id
        await check_ledger_exactly_once(fake, client.repository)


async def test_a_video_completed_unseen_is_downloaded_by_the_cancel_that_finds_it(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    fake, transport = _parts("replicate", clock)
    async with _client(transport, clock, download_dir=tmp_path) as client:
        job = await client.videos.create_video(request("saved"))
        await _ended_there(client, clock, job.id)
        with pytest.raises(sv.JobStateError):
            await client.videos.cancel_job(job.id)
        result = await client.videos.get_video_result(job.id)
        assert result.path is not None and Path(result.path).stat().st_size == result.bytes
        await check_ledger_exactly_once(fake, client.repository)


async def test_a_video_failed_unseen_is_recorded_failed_not_cancelled() -> None:
    clock = VirtualClock()
    fake, transport = _parts("replicate", clock)
    async with _client(transport, clock) as client:
        job = await client.videos.create_video(request("fail-moderation please"))
        await _ended_there(client, clock, job.id)
        with pytest.raises(sv.JobStateError, match="the job is failed"):
            await client.videos.cancel_job(job.id)
        done = await client.videos.get_job(job.id)
        assert done.status is sv.JobStatus.FAILED and done.error is not None
        await check_ledger_exactly_once(fake, client.repository)


async def test_a_wait_that_cancels_on_timeout_returns_a_video_finished_unseen() -> None:
    clock = VirtualClock()
    fake, transport = _parts("gemini", clock)
    async with _client(transport, clock) as client:
        job = await client.videos.create_video(request("on time after all"))
        done = await client.videos.wait_for_job(
            job.id, timeout=3 * GENERATION, cancel_on_timeout=True
        )
        assert done.status is sv.JobStatus.COMPLETED
        await check_ledger_exactly_once(fake, client.repository)


class RefusesCancels(MemoryRepository):
    """A memory ledger whose first write of ``cancelled`` fails (a locked file, say)."""

    refused = 0

    def _refuse(self, jobs: Sequence[sv.Job]) -> None:
        if not self.refused and any(job.status is sv.JobStatus.CANCELLED for job in jobs):
            self.refused += 1
            raise sv.RepositoryError("database is locked")

    async def update_job(
        self, job: sv.Job, *, expected_status: sv.JobStatus, lease_owner: str | None = None
    ) -> sv.Job:
        self._refuse([job])
        return await super().update_job(
            job, expected_status=expected_status, lease_owner=lease_owner
        )

    async def update_jobs(self, updates: Sequence[JobUpdate]) -> list[Any]:
        self._refuse([update.job for update in updates])
        return await super().update_jobs(updates)


@pytest.mark.parametrize("name", STOPPED_AND_READABLE)
async def test_a_cancel_stopped_at_the_provider_but_not_written_is_recorded_by_polling(
    name: str,
) -> None:
    # Asked first, the provider stops the video; then the ledger refuses the cancel (as if
    # the process had died there). The job is still processing with its remote id: its next
    # status check reads the provider's cancel and records the job cancelled. Nothing lost.
    clock = VirtualClock()
    fake, transport = _parts(name, clock)
    ledger = RefusesCancels()
    async with _client(transport, clock, repository=ledger) as client:
        job = await client.videos.create_video(request("stopped, not written"))
        remote_id = await _running_there(client, clock, job.id)
        with pytest.raises(sv.RepositoryError):
            await client.videos.cancel_job(job.id)
        assert (await client.videos.get_job(job.id)).status is sv.JobStatus.PROCESSING
        done = await client.videos.wait_for_job(job.id, timeout=2 * SAFETY_NET)
        assert done.status is sv.JobStatus.CANCELLED and done.remote_id == remote_id
        assert ledger.refused == 1 and remote_id in fake.cancelled_ids()
        await check_ledger_exactly_once(fake, client.repository)


@pytest.mark.parametrize("name", STOPPED_AND_READABLE)
async def test_a_process_that_died_after_the_providers_cancel_is_resumed_cancelled(
    name: str,
) -> None:
    # The provider stopped the video, and the process died before writing the cancel: the
    # ledger says processing with a remote id. A new client resumes it by polling, never by
    # creating again, and records the provider's cancel.
    clock = VirtualClock()
    fake, transport = _parts(name, clock)
    ledger = MemoryRepository()
    async with _client(transport, clock, repository=ledger) as first:
        job = await first.videos.create_video(request("died mid-cancel"))
        remote_id = await _running_there(first, clock, job.id)
        assert await transport.cancel(remote_id) is None  # stopped: not ended
    async with _client(KITS[name].transport_on(fake, clock), clock, repository=ledger) as again:
        await again.resume()
        done = await again.videos.wait_for_job(job.id, timeout=2 * SAFETY_NET)
        assert done.status is sv.JobStatus.CANCELLED and done.remote_id == remote_id
        assert fake.created_count() == 1
        await check_ledger_exactly_once(fake, again.repository)


async def test_a_veo_operation_finished_unseen_is_recorded_completed_not_cancelled() -> None:
    # A Veo operation cannot be cancelled with an API key: its cancel reads it instead, so
    # one already done is recorded completed with its result, like an interaction.
    clock = VirtualClock()
    fake, transport = _parts("gemini", clock)
    async with _client(transport, clock) as client:
        job = await client.videos.create_video(
            request("veo late", model="veo-3.1-generate-preview")
        )
        remote_id = await _ended_there(client, clock, job.id)
        with pytest.raises(sv.JobStateError, match="completed"):
            await client.videos.cancel_job(job.id)
        done = await client.videos.get_job(job.id)
        assert done.status is sv.JobStatus.COMPLETED and done.result is not None
        assert done.remote_id == remote_id
        await check_ledger_exactly_once(fake, client.repository)


async def test_a_running_veo_operation_is_cancelled_in_the_ledger_and_goes_on_there() -> None:
    # Still running: it cannot be stopped (it goes on, billed), and the job is cancelled.
    clock = VirtualClock()
    fake, transport = _parts("gemini", clock)
    async with _client(transport, clock) as client:
        job = await client.videos.create_video(
            request("veo early", model="veo-3.1-generate-preview")
        )
        await _running_there(client, clock, job.id)
        done = await client.videos.cancel_job(job.id)
        assert done.status is sv.JobStatus.CANCELLED
        await check_ledger_exactly_once(fake, client.repository)


def _openrouter_read(request: FakeRequest) -> bool:
    return request.method == "GET" and "/videos/" in request.path


async def test_a_running_openrouter_video_is_read_then_cancelled_in_the_ledger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # No cancel at OpenRouter: the job is read, found still generating, and cancelled in the
    # ledger; the video goes on there (and is billed), which the log says.
    clock = VirtualClock()
    fake, transport = _parts("openrouter", clock)
    async with _client(transport, clock) as client:
        job = await client.videos.create_video(request("goes on there"))
        remote_id = await _running_there(client, clock, job.id)
        reads = fake.count(route="retrieve")
        with caplog.at_level("WARNING", logger="soravideo"):
            done = await client.videos.cancel_job(job.id)
        assert done.status is sv.JobStatus.CANCELLED and done.remote_id == remote_id
        assert fake.count(route="retrieve") == reads + 1  # the read instead of a cancel
        assert "goes on at the provider" in caplog.text
        await check_ledger_exactly_once(fake, client.repository)


async def test_an_openrouter_video_that_cannot_be_read_is_cancelled_as_before(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The read before the cancel fails: the cancel is written all the same (nothing can be
    # stopped there), and the log says both why and that the video goes on.
    clock = VirtualClock()
    fake, transport = _parts("openrouter", clock)
    async with _client(transport, clock, max_retries=1) as client:
        job = await client.videos.create_video(request("unreadable"))
        await _running_there(client, clock, job.id)
        fault = fake.inject(status=500, match=_openrouter_read, times=10)
        with caplog.at_level("WARNING", logger="soravideo"):
            done = await client.videos.cancel_job(job.id)
        assert done.status is sv.JobStatus.CANCELLED and fault.fired >= 1
        assert "before the cancel failed" in caplog.text
        assert "goes on at the provider" in caplog.text
        fault.times = fault.fired
        await check_ledger_exactly_once(fake, client.repository)


async def test_two_cancels_of_a_running_openrouter_video_at_once_cancel_it_once() -> None:
    # Nothing is stopped at OpenRouter, so each cancel's read stops nothing either: the
    # second finds the job cancelled and raises, as on any provider whose cancel is written
    # first.
    clock = VirtualClock()
    fake, transport = _parts("openrouter", clock)
    async with _client(transport, clock) as client:
        seen: list[str] = []

        async def record(event: sv.JobEvent) -> None:
            seen.append(event.kind)

        client.on("*", record)
        job = await client.videos.create_video(request("twice"))
        await _running_there(client, clock, job.id)
        outcomes: list[str] = []

        async def cancel() -> None:
            try:
                outcomes.append((await client.videos.cancel_job(job.id)).status.value)
            except sv.JobStateError as exc:
                outcomes.append(f"raised: {exc.status}")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(cancel)
            tasks.start_soon(cancel)
        assert sorted(outcomes) == ["cancelled", "raised: cancelled"]
        assert seen.count("cancelled") == 1
        await check_ledger_exactly_once(fake, client.repository)
