"""Webhooks, provider by provider ([W2-7]): each fake pushes signed deliveries to
``client.webhooks.handle``, on one VirtualClock, and every test ends by checking the ledger
against the provider (every remote video owned by exactly one job, none stuck)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import attrs
import pytest

import soravideo as sv
from helpers import request
from soravideo._core.clock import VirtualClock
from soravideo.repositories import MemoryRepository
from soravideo.testing import check_ledger_exactly_once
from soravideo.testing._fakeserver import FakeServer
from soravideo.testing._webhooks import FakeWebhookEvent
from webhook_kit import FINAL_EVENT, KITS, Kit, status_reads

pytestmark = pytest.mark.anyio

# Polling is only the safety net: its first look comes long after the push.
SAFETY_NET = 900.0


@attrs.define
class Run:
    client: sv.AsyncSoraVideo
    fake: FakeServer
    kit: Kit
    clock: VirtualClock
    events: list[sv.WebhookEvent]
    errors: list[BaseException]
    inflight: int = 0

    async def handle(self, headers: dict[str, str], body: bytes) -> sv.WebhookEvent:
        return await self.client.webhooks.handle(provider=self.kit.name, headers=headers, body=body)

    async def settled(self) -> None:
        """Wait (simulated time) until every delivery being handled has returned."""
        for _ in range(1000):
            if self.inflight == 0:
                return
            await self.clock.sleep(0.01)
        raise AssertionError("a delivery is still being handled")

    async def ended(self) -> FakeWebhookEvent:
        """Create a job and let it end at the provider with no delivery sent; return the
        event its end would push."""
        job = await self.client.videos.create_video(request("a heron in the reeds"))
        while (await self.client.videos.get_job(job.id)).remote_id is None:
            await self.clock.sleep(1)
        await self.clock.sleep(200)
        (event,) = [
            e for e in self.fake.webhooks.events() if e.key.endswith(FINAL_EVENT[self.kit.name])
        ]
        return event


@asynccontextmanager
async def pushed(
    kit: Kit,
    *,
    pump: bool = True,
    knobs: dict[str, Any] | None = None,
    check: bool = True,
    **settings: Any,
) -> AsyncIterator[Run]:
    """A client on ``kit``'s fake, which sends its deliveries to ``client.webhooks.handle``
    as they fall due (unless ``pump=False``: the test hands them over itself)."""
    clock = VirtualClock()
    fake, transport = kit.make(clock)
    settings.setdefault("poll_max_interval", SAFETY_NET)
    client = sv.AsyncSoraVideo(
        transport=transport, repository=MemoryRepository(), clock=clock, **settings
    )
    run = Run(client=client, fake=fake, kit=kit, clock=clock, events=[], errors=[])

    async def receive(headers: dict[str, str], body: bytes) -> sv.WebhookEvent:
        run.inflight += 1
        try:
            event = await run.handle(headers, body)
        except Exception as exc:
            run.errors.append(exc)
            raise
        finally:
            run.inflight -= 1
        run.events.append(event)
        return event

    fake.webhooks.configure(receive, **(knobs or {}))
    async with client, anyio.create_task_group() as tg:
        if pump:
            tg.start_soon(fake.webhooks.run)
        yield run
        await run.settled()
        tg.cancel_scope.cancel()
    if check:
        await check_ledger_exactly_once(fake, client.repository)


@pytest.fixture(params=sorted(KITS))
def kit(request: pytest.FixtureRequest) -> Kit:
    return KITS[request.param]


def forged_id(remote_id: str) -> str:
    """Another id of the same shape (a video no job owns)."""
    part = remote_id.rsplit(":", 1)[-1]
    tail = "eeeeee" if part.endswith("ffffff") else "ffffff"
    return part[: -len(tail)] + tail


async def test_a_good_delivery_completes_the_job_without_polling(kit: Kit) -> None:
    async with pushed(kit) as run:
        job = await run.client.videos.create_video(request("a fox at dawn"))
        done = await run.client.videos.wait_for_job(job.id, timeout=SAFETY_NET / 2)
        await run.settled()
        assert done.status is sv.JobStatus.COMPLETED
        assert done.result is not None and done.result.remote_id == done.remote_id
        # A thin event (an id only) costs one status read; a full one none.
        assert status_reads(kit, run.fake) == (1 if kit.thin else 0)
        # Replicate pushes the start too (newer news: applied); the end is applied once.
        (event,) = [e for e in run.events if e.applied and e.job and e.job.status.is_terminal]
        assert event.job is not None and event.job.id == job.id
        assert (event.provider, event.remote_id, event.duplicate) == (
            kit.name,
            done.remote_id,
            False,
        )
        assert not run.errors


async def test_a_failed_generation_is_pushed_as_a_failure(kit: Kit) -> None:
    async with pushed(kit) as run:
        job = await run.client.videos.create_video(request(f"x {run.fake.failing_prompt}"))
        done = await run.client.videos.wait_for_job(job.id, timeout=SAFETY_NET / 2)
        await run.settled()
        assert done.status is sv.JobStatus.FAILED and done.error is not None
        assert status_reads(kit, run.fake) == (1 if kit.thin else 0)


async def test_a_bad_signature_is_refused_and_nothing_is_applied(kit: Kit) -> None:
    async with pushed(kit, pump=False) as run:
        event = await run.ended()
        headers, body = run.fake.webhooks.signed(event.payload, secret="whsec_" + "Zm9yZ2Vk" * 4)
        with pytest.raises(sv.WebhookVerificationError) as caught:
            await run.handle(headers, body)
        assert caught.value.reason == "signature" and caught.value.provider == kit.name
        # A body changed after signing fails too.
        headers, body = run.fake.webhooks.signed(event.payload)
        with pytest.raises(sv.WebhookVerificationError):
            await run.handle(headers, body.replace(b"}", b" }", 1))
        (job,) = (await run.client.videos.list_jobs()).items
        assert job.status is sv.JobStatus.PROCESSING
        # Nothing was recorded: the genuine delivery, under the same id, is applied.
        genuine = await run.handle(headers, body)
        assert genuine.applied and not genuine.duplicate
        assert genuine.job is not None and genuine.job.status is sv.JobStatus.COMPLETED


async def test_a_stale_or_early_timestamp_is_refused(kit: Kit) -> None:
    async with pushed(kit, pump=False) as run:
        event = await run.ended()
        now = run.clock.time()
        for stamp in (now - 301, now + 301):
            headers, body = run.fake.webhooks.signed(event.payload, timestamp=stamp)
            with pytest.raises(sv.WebhookVerificationError) as caught:
                await run.handle(headers, body)
            assert caught.value.reason == "timestamp"
        headers, body = run.fake.webhooks.signed(event.payload, timestamp=now - 299)
        assert (await run.handle(headers, body)).applied


async def test_a_duplicated_delivery_is_applied_once(kit: Kit) -> None:
    async with pushed(kit, knobs={"duplicate": 3}) as run:
        job = await run.client.videos.create_video(request("a lynx"))
        await run.client.videos.wait_for_job(job.id, timeout=SAFETY_NET / 2)
        await run.settled()
        finals = [e for e in run.events if e.job is not None and e.job.status.is_terminal]
        assert [e.duplicate for e in finals].count(False) == 1
        assert sum(e.applied for e in finals) == 1
        assert sum(e.duplicate for e in run.events) >= 2
        # The duplicates cost no status read.
        assert status_reads(kit, run.fake) == (1 if kit.thin else 0)


async def test_a_delivery_after_the_end_never_moves_the_job_back(kit: Kit) -> None:
    async with pushed(kit, pump=False) as run:
        event = await run.ended()
        headers, body = run.fake.webhooks.signed(event.payload)
        assert (await run.handle(headers, body)).applied
        reads = status_reads(kit, run.fake)
        # The same news again under a new delivery id (a provider's own resend).
        again = await run.handle(*run.fake.webhooks.signed(event.payload))
        # (fal names a delivery by its request: the same end is the same delivery.)
        assert not again.applied and again.duplicate is (kit.name == "fal")
        assert again.job is not None and again.job.status is sv.JobStatus.COMPLETED
        # A finished job costs no status read, even for a thin event.
        assert status_reads(kit, run.fake) == reads


async def test_a_delivery_for_an_unknown_video_is_acknowledged_not_applied(kit: Kit) -> None:
    async with pushed(kit, pump=False) as run:
        event = await run.ended()
        part = event.remote_id.rsplit(":", 1)[-1]
        text = json.dumps(event.payload).replace(part, forged_id(part))
        headers, body = run.fake.webhooks.signed(json.loads(text))
        first = await run.handle(headers, body)
        assert (first.job, first.applied, first.duplicate) == (None, False, False)
        assert first.remote_id is not None and forged_id(part) in first.remote_id
        # It was recorded: the provider's retry of it is a duplicate.
        assert (await run.handle(headers, body)).duplicate
        # And the real job, still unpushed, is found by polling.
        (job,) = (await run.client.videos.list_jobs()).items
        done = await run.client.videos.wait_for_job(job.id, timeout=2 * SAFETY_NET)
        assert done.status is sv.JobStatus.COMPLETED


async def test_a_lost_delivery_is_caught_by_polling_within_poll_max_interval(kit: Kit) -> None:
    async with pushed(kit, knobs={"drop": 2}) as run:
        job = await run.client.videos.create_video(request("a hare"))
        done = await run.client.videos.wait_for_job(job.id, timeout=2 * SAFETY_NET)
        assert done.status is sv.JobStatus.COMPLETED
        assert not any(e.applied for e in run.events)
        assert done.started_at is not None and done.completed_at is not None
        took = done.completed_at.timestamp() - done.started_at.timestamp()
        assert SAFETY_NET - 1 <= took <= SAFETY_NET + 1
        assert status_reads(kit, run.fake) >= 1


async def test_many_jobs_with_lossy_late_duplicated_reordered_pushes_end_exactly_once(
    kit: Kit,
) -> None:
    knobs = {"drop_rate": 0.3, "duplicate": 2, "reorder": True, "delay": 7.0}
    async with pushed(kit, knobs=knobs, max_concurrency=4) as run:
        prompts = [f"scene {n}" for n in range(7)] + [f"scene x {run.fake.failing_prompt}"]
        jobs = [await run.client.videos.create_video(request(p)) for p in prompts]
        for job in jobs:
            await run.client.videos.wait_for_job(job.id, timeout=4 * SAFETY_NET)
        await run.settled()
        statuses = [(await run.client.videos.get_job(job.id)).status for job in jobs]
        assert statuses.count(sv.JobStatus.COMPLETED) == 7
        assert statuses[-1] is sv.JobStatus.FAILED
        # Never more than one status read per video for the pushed ones, on average.
        assert status_reads(kit, run.fake) <= 2 * len(jobs)
        assert not run.errors
