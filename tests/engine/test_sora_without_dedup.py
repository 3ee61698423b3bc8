"""A `/v1/videos` server that does not deduplicate creates on `Idempotency-Key`.

The spec says nothing of the header and the official client sends none, so `SoraTransport`
does not count on it (`idempotent_creates=False`, its default): a create whose outcome is
unknown is never sent again. Its video is adopted from the list where exactly one matches,
the oldest where several alike jobs lost their answers, and otherwise the job fails
`ambiguous_submission`. FakeSora stands in for such a server with `idempotency_ttl=0` (it
forgets every key at once). Every test ends with the ledger checked against the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import soravideo as sv
from helpers import request
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeSora, check_ledger_exactly_once
from soravideo.transports import SoraTransport

pytestmark = pytest.mark.anyio

BASE_URL = "http://no-dedup.invalid/v1"


@pytest.fixture
async def setup(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[FakeSora, SoraTransport, sv.VirtualClock]]:
    monkeypatch.delenv("SORAVIDEO_IDEMPOTENT_CREATES", raising=False)
    clock = sv.VirtualClock()
    fake = FakeSora(clock=clock, generation_time=60, idempotency_ttl=0)
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE_URL) as http:
        transport = SoraTransport(
            base_url=BASE_URL, api_key="sk-no-dedup", http_client=http, clock=clock
        )
        assert not transport.capabilities.idempotent_creates  # the default
        yield fake, transport, clock


def _client(transport: SoraTransport, clock: sv.VirtualClock, **settings: Any) -> sv.AsyncSoraVideo:
    return sv.AsyncSoraVideo(
        transport=transport, repository=MemoryRepository(), clock=clock, **settings
    )


async def test_a_lost_answer_is_adopted_from_the_list_never_sent_again(
    setup: tuple[FakeSora, SoraTransport, sv.VirtualClock],
) -> None:
    fake, transport, clock = setup
    async with _client(transport, clock) as client:
        fake.inject(reset=True, phase="after", match="POST /videos")  # made, answer lost
        job = await client.videos.create_video(request("a fox in the snow"))
        done = await client.videos.wait_for_job(job.id, timeout=600)
        assert done.status is sv.JobStatus.COMPLETED
        assert fake.created_count() == 1
        await check_ledger_exactly_once(fake, client.repository)


async def test_alike_jobs_whose_answers_were_lost_each_adopt_one_video(
    setup: tuple[FakeSora, SoraTransport, sv.VirtualClock],
) -> None:
    # Two jobs of one request, both made, both answers lost: each sees two matching
    # videos. Sending again would make two more; leaving both unowned would hide two billed
    # videos. Each adopts one.
    fake, transport, clock = setup
    async with _client(transport, clock) as client:
        fake.inject(reset=True, phase="after", match="POST /videos", times=2)
        first = await client.videos.create_video(request("twins"))
        second = await client.videos.create_video(request("twins"))
        a = await client.videos.wait_for_job(first.id, timeout=600)
        b = await client.videos.wait_for_job(second.id, timeout=600)
        assert a.status is b.status is sv.JobStatus.COMPLETED
        assert a.remote_id != b.remote_id
        assert fake.created_count() == 2
        await check_ledger_exactly_once(fake, client.repository)


async def test_a_create_the_list_does_not_show_fails_the_job_never_sent_twice(
    setup: tuple[FakeSora, SoraTransport, sv.VirtualClock],
) -> None:
    # A 500 answer leaves the outcome unknown; nothing in the list matches (the server made
    # nothing here, but it could have made it later). Without deduplication the create is
    # never sent again: the job fails, retryable, and says what to check.
    fake, transport, clock = setup
    async with _client(transport, clock) as client:
        fake.inject(status=500, match="POST /videos")
        job = await client.videos.create_video(request("unknown outcome"))
        done = await client.videos.wait_for_job(job.id, timeout=600)
        assert done.status is sv.JobStatus.FAILED and done.error is not None
        assert done.error.code == "ambiguous_submission" and done.error.retryable
        assert fake.count(method="POST", path="/videos") == 1
        await check_ledger_exactly_once(fake, client.repository)


async def test_a_server_that_deduplicates_may_be_declared_so(
    setup: tuple[FakeSora, SoraTransport, sv.VirtualClock],
) -> None:
    # With idempotent_creates=True (a gateway known to deduplicate, FakeSora by default),
    # the same unknown outcome is sent again with the same key and the job completes.
    fake, _, clock = setup
    fake.idempotency_ttl = 86_400.0
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE_URL) as http:
        transport = SoraTransport(
            base_url=BASE_URL, http_client=http, clock=clock, idempotent_creates=True
        )
        async with _client(transport, clock) as client:
            fake.inject(status=500, match="POST /videos")
            job = await client.videos.create_video(request("sent again"))
            done = await client.videos.wait_for_job(job.id, timeout=600)
            assert done.status is sv.JobStatus.COMPLETED
            assert fake.created_count() == 1
            await check_ledger_exactly_once(fake, client.repository)


@pytest.mark.parametrize(
    ("value", "declared"), [("1", True), ("TRUE", True), ("on", True), ("0", False), ("", False)]
)
def test_the_command_line_declares_it_with_an_environment_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, declared: bool
) -> None:
    monkeypatch.setenv("SORAVIDEO_IDEMPOTENT_CREATES", value)
    assert SoraTransport(base_url=BASE_URL).capabilities.idempotent_creates is declared
    # An explicit argument wins over the environment.
    assert not SoraTransport(
        base_url=BASE_URL, idempotent_creates=False
    ).capabilities.idempotent_creates


def test_a_variable_that_is_neither_yes_nor_no_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SORAVIDEO_IDEMPOTENT_CREATES", "maybe")
    with pytest.raises(sv.ValidationError, match="SORAVIDEO_IDEMPOTENT_CREATES"):
        SoraTransport(base_url=BASE_URL)
