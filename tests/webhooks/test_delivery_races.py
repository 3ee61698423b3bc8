"""Webhook deliveries racing the engine's own writes (probe): a delivery before the create's
answer is recorded, one naming another job's video, one for a job being cancelled, and one
delivery handed to two clients at once on one SQLite file. Each ends with the ledger
checked against the provider: every remote video owned by exactly one job, none stuck."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

import soravideo as sv
from helpers import request
from helpers import request as request_
from soravideo._core.clock import VirtualClock
from soravideo.repositories import MemoryRepository, SQLiteRepository
from soravideo.repositories.base import JobUpdate
from soravideo.testing import check_ledger_exactly_once
from soravideo.testing._fakeserver import FakeServer
from webhook_kit import FINAL_EVENT, KITS, Kit

pytestmark = pytest.mark.anyio

SAFETY_NET = 900.0


class Held(MemoryRepository):
    """A memory ledger that holds the first job write matching ``when`` until released."""

    def __init__(self) -> None:
        super().__init__()
        self.when: Callable[[sv.Job, sv.Job], bool] | None = None
        self.held = anyio.Event()
        self.release = anyio.Event()

    async def _hold(self, jobs: Sequence[sv.Job]) -> None:
        when = self.when
        if when is None:
            return
        for job in jobs:
            stored = await super().get_job(job.id)
            if when(stored, job):
                self.when = None
                self.held.set()
                await self.release.wait()
                return

    async def update_job(
        self, job: sv.Job, *, expected_status: sv.JobStatus, lease_owner: str | None = None
    ) -> sv.Job:
        await self._hold([job])
        return await super().update_job(
            job, expected_status=expected_status, lease_owner=lease_owner
        )

    async def update_jobs(self, updates: Sequence[JobUpdate]) -> list[Any]:
        await self._hold([update.job for update in updates])
        return await super().update_jobs(updates)


def _records_remote_id(stored: sv.Job, new: sv.Job) -> bool:
    return stored.remote_id is None and new.remote_id is not None


def _completes(stored: sv.Job, new: sv.Job) -> bool:
    return stored.status is sv.JobStatus.PROCESSING and new.status is sv.JobStatus.COMPLETED


def _final(fake: FakeServer, kit: Kit, remote_id: str) -> tuple[dict[str, str], bytes]:
    part = remote_id.rsplit(":", 1)[-1]
    (event,) = [
        e
        for e in fake.webhooks.events()
        if e.key.endswith(FINAL_EVENT[kit.name]) and e.remote_id.endswith(part)
    ]
    return fake.webhooks.signed(event.payload)


def _resigned(
    fake: FakeServer, headers: dict[str, str], body: bytes
) -> tuple[dict[str, str], bytes]:
    """The provider's retry of a delivery: the same id and body, signed anew (now)."""
    names = ("webhook-id", "x-openrouter-idempotency-key", "x-fal-webhook-request-id")
    (delivery_id,) = [headers[name] for name in names if name in headers]
    return fake.webhooks.sign(body, delivery_id=delivery_id), body


def _client(transport: Any, ledger: Any, clock: VirtualClock) -> sv.AsyncSoraVideo:
    """A client that asks for pushes, polling every SAFETY_NET only as the safety net."""
    return sv.AsyncSoraVideo(
        transport=transport,
        repository=ledger,
        clock=clock,
        poll_max_interval=SAFETY_NET,
        max_concurrency=4,
    )


async def _sent_and_ended_there(client: sv.AsyncSoraVideo, clock: VirtualClock, job: sv.Job) -> str:
    """Wait until the job's create is recorded, then until its video has ended at the
    provider (simulated time); return its remote id."""
    with clock.waiting():
        while (await client.videos.get_job(job.id)).remote_id is None:
            await clock.sleep(1)
        await clock.sleep(200)
    remote_id = (await client.videos.get_job(job.id)).remote_id
    assert remote_id is not None
    return remote_id


def _remote_ids(fake: FakeServer) -> list[str]:
    return [e.remote_id for e in fake.webhooks.events()]


@pytest.fixture(params=sorted(KITS))
def kit(request: pytest.FixtureRequest) -> Kit:
    return KITS[request.param]


# Providers whose cancel of a job already ended says so (and never destroys the video), and
# OpenRouter, which has no cancel (the job is read instead): a cancel that reaches a video
# finished unseen (no poll, no delivery yet) records it completed and raises
# JobStateError. Sora's cancel of a finished video deletes it: there the cancel holds.
REPORTS_ENDED = ("fal", "gemini", "openrouter", "replicate")


async def test_a_cancel_after_the_video_completed_at_the_provider(kit: Kit) -> None:
    # The minimal form, without webhooks: the video ends at the provider at 60 s, the
    # first poll would come at 900 s, the cancel comes at 200 s.
    clock = VirtualClock()
    fake, transport = kit.make(clock)
    async with sv.AsyncSoraVideo(
        transport=transport,
        repository=MemoryRepository(),
        clock=clock,
        poll_max_interval=SAFETY_NET,
    ) as client:
        job = await client.videos.create_video(request_("too late"))
        remote_id = await _sent_and_ended_there(client, clock, job)
        if kit.name in REPORTS_ENDED:
            with pytest.raises(sv.JobStateError, match="already ended at the provider"):
                await client.videos.cancel_job(job.id)
            final = await client.videos.get_job(job.id)
            assert final.status is sv.JobStatus.COMPLETED and final.remote_id == remote_id
            assert final.result is not None and final.result.remote_id == remote_id
        else:
            cancelled = await client.videos.cancel_job(job.id)
            assert cancelled.status is sv.JobStatus.CANCELLED
        await check_ledger_exactly_once(fake, client.repository)


async def test_a_delivery_before_the_create_answer_is_recorded_leaves_the_job_to_polling(
    kit: Kit,
) -> None:
    # The provider pushes the video's end while the write of its create's answer is held:
    # no job owns the video yet. The delivery is acknowledged, not applied; the answer is
    # then recorded and polling completes the job. One video, one job, nothing stuck.
    clock = VirtualClock()
    fake, transport = kit.make(clock)
    ledger = Held()
    ledger.when = _records_remote_id
    async with _client(transport, ledger, clock) as client:
        job = await client.videos.create_video(request("a heron"))
        with clock.waiting():
            await ledger.held.wait()
            await clock.sleep(200)  # the video ends at the provider meanwhile
        (remote_id,) = set(_remote_ids(fake))
        headers, body = _final(fake, kit, remote_id)
        early = await client.webhooks.handle(provider=kit.name, headers=headers, body=body)
        assert (early.job, early.applied, early.duplicate) == (None, False, False)
        ledger.release.set()
        done = await client.videos.wait_for_job(job.id, timeout=2 * SAFETY_NET)
        assert done.status is sv.JobStatus.COMPLETED
        # The provider's retry of that delivery is a duplicate: polling already had it.
        headers, body = _resigned(fake, headers, body)
        again = await client.webhooks.handle(provider=kit.name, headers=headers, body=body)
        assert again.duplicate and not again.applied
        await check_ledger_exactly_once(fake, client.repository)


async def test_a_delivery_for_another_jobs_video_never_lands_on_a_job_still_unanswered(
    kit: Kit,
) -> None:
    # Job A's create has been answered by the provider but the answer is held before the
    # engine sees it (A has no remote id) while job B's video ends and is pushed: B
    # completes, A is untouched; A's answer is then recorded and its end found by polling.
    clock = VirtualClock()
    fake, transport = kit.make(clock)
    answered, release = anyio.Event(), anyio.Event()
    submit = transport.submit

    async def held_submit(*args: Any, **kwargs: Any) -> Any:
        remote = await submit(*args, **kwargs)
        if args[0].prompt == "job a":
            answered.set()
            await release.wait()
        return remote

    transport.submit = held_submit  # type: ignore[method-assign]
    async with sv.AsyncSoraVideo(
        transport=transport,
        repository=MemoryRepository(),
        clock=clock,
        poll_max_interval=SAFETY_NET,
        max_concurrency=4,
    ) as client:
        b = await client.videos.create_video(request("job b"))
        with clock.waiting():
            while (await client.videos.get_job(b.id)).remote_id is None:
                await clock.sleep(1)
        a = await client.videos.create_video(request("job a"))
        with clock.waiting():
            await answered.wait()
            await clock.sleep(200)
        b_remote = (await client.videos.get_job(b.id)).remote_id
        assert b_remote is not None
        headers, body = _final(fake, kit, b_remote)
        event = await client.webhooks.handle(provider=kit.name, headers=headers, body=body)
        assert event.applied and event.job is not None and event.job.id == b.id
        a_now = await client.videos.get_job(a.id)
        assert a_now.status is sv.JobStatus.PROCESSING and a_now.remote_id is None
        release.set()
        done = await client.videos.wait_for_job(a.id, timeout=2 * SAFETY_NET)
        assert done.status is sv.JobStatus.COMPLETED and done.remote_id != b_remote
        await check_ledger_exactly_once(fake, client.repository)


@pytest.mark.parametrize("canceller", ["same", "other"])
async def test_a_delivery_whose_write_loses_to_a_cancel_is_not_applied(
    kit: Kit, canceller: str
) -> None:
    # The delivery has read the job (processing) and is about to write its end; the job is
    # cancelled meanwhile (by this client, or another on the same ledger). The delivery's
    # write then finds the job changed, and the job stays as the cancel left it: cancelled
    # with its video on record, or, where the provider said the video had already ended,
    # completed by the cancel with its result. (Before the fix the event said
    # applied=True: Poller.push compared the ledger after the write with the job before
    # it, so the cancel's change counted as the delivery's.)
    clock = VirtualClock()
    fake, transport = kit.make(clock)
    ledger = MemoryRepository()
    async with _client(transport, ledger, clock) as client:
        job = await client.videos.create_video(request_("a stoat"))
        remote_id = await _sent_and_ended_there(client, clock, job)
        headers, body = _final(fake, kit, remote_id)
        poller = (await client._context.engine())._poller
        result = poller.result
        reading, release = anyio.Event(), anyio.Event()

        async def held_result(*args: Any) -> Any:
            if not reading.is_set():  # the delivery's; a cancel's own read goes on
                reading.set()
                await release.wait()
            return await result(*args)

        poller.result = held_result  # type: ignore[method-assign]
        events: list[sv.WebhookEvent] = []

        async def deliver() -> None:
            events.append(
                await client.webhooks.handle(provider=kit.name, headers=headers, body=body)
            )

        other = sv.AsyncSoraVideo(  # a second process: the same provider and ledger
            transport=kit.transport_on(fake, clock),
            repository=ledger,
            clock=clock,
            poll_max_interval=900,
        )
        async with other, anyio.create_task_group() as tg:
            tg.start_soon(deliver)
            await reading.wait()
            cancelling = (client if canceller == "same" else other).videos
            if kit.name in REPORTS_ENDED:
                with pytest.raises(sv.JobStateError, match="the job is completed"):
                    await cancelling.cancel_job(job.id)
            else:
                cancelled = await cancelling.cancel_job(job.id)
                assert cancelled.status is sv.JobStatus.CANCELLED
            release.set()
        final = await client.videos.get_job(job.id)
        ended = sv.JobStatus.COMPLETED if kit.name in REPORTS_ENDED else sv.JobStatus.CANCELLED
        assert final.status is ended and final.remote_id == remote_id
        (event,) = events
        # Not applied: the cancel, not the delivery, ended the job.
        assert not event.applied, event
        await check_ledger_exactly_once(fake, client.repository)


async def test_one_delivery_handed_to_two_clients_at_once_on_one_sqlite_file_applies_once(
    kit: Kit, tmp_path: Path
) -> None:
    clock = VirtualClock()
    fake, transport = kit.make(clock)
    db = tmp_path / "ledger.db"
    async with sv.AsyncSoraVideo(
        transport=transport,
        repository=SQLiteRepository(db),
        clock=clock,
        poll_max_interval=SAFETY_NET,
    ) as first:
        job = await first.videos.create_video(request("an otter"))
        remote_id = await _sent_and_ended_there(first, clock, job)
        headers, body = _final(fake, kit, remote_id)
        async with sv.AsyncSoraVideo(
            transport=kit.transport_on(fake, clock),  # a second process, same provider
            repository=SQLiteRepository(db),
            clock=clock,
            poll_max_interval=SAFETY_NET,
        ) as second:
            outcomes: list[sv.WebhookEvent] = []

            async def deliver(client: sv.AsyncSoraVideo) -> None:
                outcomes.append(
                    await client.webhooks.handle(provider=kit.name, headers=headers, body=body)
                )

            async with anyio.create_task_group() as tg:
                tg.start_soon(deliver, first)
                tg.start_soon(deliver, second)
        assert sorted((e.applied, e.duplicate) for e in outcomes) == [
            (False, True),
            (True, False),
        ]
        assert (await first.videos.get_job(job.id)).status is sv.JobStatus.COMPLETED
        await check_ledger_exactly_once(fake, first.repository)
