"""``client.webhooks.handle`` beyond one provider's deliveries ([W2-7]): out-of-order pushes,
refusals that name the problem, de-duplication across processes sharing a ledger, the
sync twin, and the stretched polling of pushed jobs."""

from __future__ import annotations

import itertools
from pathlib import Path

import anyio
import httpx
import pytest

import soravideo as sv
from helpers import request
from soravideo._core.clock import ManualClock, VirtualClock
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeReplicate, FakeRunway, check_ledger_exactly_once
from soravideo.transports import RunwayTransport
from webhook_kit import KITS, status_reads

pytestmark = pytest.mark.anyio

REPLICATE = KITS["replicate"]


async def test_replicate_pushes_out_of_order_never_move_a_job_back() -> None:
    clock = VirtualClock()
    fake, transport = REPLICATE.make(clock)
    assert isinstance(fake, FakeReplicate)
    seen: list[sv.WebhookEvent] = []
    async with sv.AsyncSoraVideo(
        transport=transport, repository=MemoryRepository(), clock=clock, poll_max_interval=900
    ) as client:

        async def receive(headers: dict[str, str], body: bytes) -> None:
            seen.append(
                await client.webhooks.handle(provider="replicate", headers=headers, body=body)
            )

        # Both deliveries fall due together (late), and go newest first: completed, then start.
        fake.webhooks.configure(receive, delay=120, reorder=True)
        job = await client.videos.create_video(request("a wren"))
        await clock.sleep(200)
        sent = await fake.webhooks.flush()
        assert [d.event.kind for d in sent] == ["completed", "start"]
        completed, start = seen
        assert completed.applied and completed.job is not None
        assert completed.job.status is sv.JobStatus.COMPLETED
        assert not start.applied and not start.duplicate
        assert start.job is not None and start.job.status is sv.JobStatus.COMPLETED
        assert (await client.videos.get_job(job.id)).status is sv.JobStatus.COMPLETED
        assert status_reads(REPLICATE, fake) == 0
        await check_ledger_exactly_once(fake, client.repository)


async def test_refusals_name_the_problem_and_record_nothing(tmp_path: Path) -> None:
    clock = VirtualClock()
    fake, transport = REPLICATE.make(clock, webhook_secret=None)
    async with sv.AsyncSoraVideo(
        transport=transport, repository=MemoryRepository(), clock=clock
    ) as client:
        headers, body = fake.webhooks.signed({"id": "abc", "status": "processing"})
        with pytest.raises(sv.WebhookVerificationError) as caught:
            await client.webhooks.handle(provider="replicate", headers=headers, body=body)
        assert caught.value.reason == "not_configured"
        with pytest.raises(sv.ValidationError) as wrong:
            await client.webhooks.handle(provider="fal", headers=headers, body=body)
        assert "replicate" in str(wrong.value)
        with pytest.raises(sv.WebhookVerificationError) as text:
            await client.webhooks.handle(
                provider="replicate",
                headers=headers,
                body=body.decode(),  # type: ignore[arg-type]
            )
        assert text.value.reason == "body"
    secret_client = REPLICATE.make(VirtualClock())[1]
    async with sv.AsyncSoraVideo(transport=secret_client, repository=MemoryRepository()) as other:
        headers.pop("webhook-signature")
        with pytest.raises(sv.WebhookVerificationError) as missing:
            await other.webhooks.handle(provider="replicate", headers=headers, body=body)
        assert missing.value.reason == "headers"


async def test_runway_sends_no_webhooks() -> None:
    fake = FakeRunway()
    transport = RunwayTransport(
        base_url="http://fake-runway.test",
        api_key="key_runway",
        http_client=httpx.AsyncClient(transport=fake.http_transport()),
    )
    async with sv.AsyncSoraVideo(transport=transport, repository=MemoryRepository()) as client:
        with pytest.raises(sv.ValidationError) as caught:
            await client.webhooks.handle(provider="runway", headers={}, body=b"{}")
    assert "sends no webhooks" in str(caught.value)
    with pytest.raises(TypeError):
        _ = fake.webhooks


async def test_a_delivery_is_applied_once_by_two_clients_sharing_a_ledger() -> None:
    # Two clients on one ledger (the contract suite checks the same on SQLite and
    # PostgreSQL handles): the delivery handed to both is applied by one only.
    clock = VirtualClock()
    fake, first_transport = REPLICATE.make(clock)
    ledger = MemoryRepository()
    async with sv.AsyncSoraVideo(
        transport=first_transport, repository=ledger, clock=clock, poll_max_interval=900
    ) as first:
        job = await first.videos.create_video(request("an otter"))
        while (await first.videos.get_job(job.id)).remote_id is None:
            await clock.sleep(1)
        await clock.sleep(200)
        (final,) = [e for e in fake.webhooks.events() if e.kind == "completed"]
        headers, body = fake.webhooks.signed(final.payload)
        second = sv.AsyncSoraVideo(
            transport=REPLICATE.make(clock)[1], repository=ledger, clock=clock
        )
        outcomes = [
            await client.webhooks.handle(provider="replicate", headers=headers, body=body)
            for client in (second, first)
        ]
        assert [(e.applied, e.duplicate) for e in outcomes] == [(True, False), (False, True)]
        assert (await first.videos.get_job(job.id)).status is sv.JobStatus.COMPLETED
        await check_ledger_exactly_once(fake, ledger)


def test_the_sync_client_handles_a_delivery() -> None:
    clock = ManualClock()
    fake, transport = REPLICATE.make(clock)
    with sv.SoraVideo(
        transport=transport, repository=MemoryRepository(), clock=clock, poll_max_interval=900
    ) as client:
        job = client.videos.create_video(request("a vole"))
        while client.videos.get_job(job.id).remote_id is None:
            anyio.run(anyio.sleep, 0.01)
        clock.advance(200)
        (final,) = [e for e in fake.webhooks.events() if e.kind == "completed"]
        headers, body = fake.webhooks.signed(final.payload)
        event = client.webhooks.handle(provider="replicate", headers=headers, body=body)
        assert event.applied and event.job is not None
        assert client.videos.get_job(job.id).status is sv.JobStatus.COMPLETED
        assert status_reads(REPLICATE, fake) == 0


async def test_pushed_jobs_are_polled_every_poll_max_interval_only() -> None:
    clock = VirtualClock()
    # Generations longer than the safety net: polling goes on meanwhile, at its pace only.
    fake, transport = REPLICATE.make(clock)
    assert isinstance(fake, FakeReplicate)
    fake.generation_time = 1000
    async with sv.AsyncSoraVideo(
        transport=transport, repository=MemoryRepository(), clock=clock, poll_max_interval=300
    ) as client:
        job = await client.videos.create_video(request("a slow tide"))
        done = await client.videos.wait_for_job(job.id, timeout=5000)
        await check_ledger_exactly_once(fake, client.repository)
    assert done.status is sv.JobStatus.COMPLETED
    gets = [r.time for r in fake.requests if r.route == "get"]
    assert len(gets) == 4  # at 300, 600, 900 and 1200 s: the end (1003 s) seen at 1200
    assert all(b - a == pytest.approx(300, abs=1) for a, b in itertools.pairwise(gets))
