"""``POST /api/v1/webhooks/{provider}``: a provider's delivery reaches
``client.webhooks.handle`` through the REST API, with no API key and no rate limit."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

import soravideo as sv
from server_kit import KEY
from soravideo.repositories import MemoryRepository
from soravideo.server import create_app
from soravideo.testing import check_ledger_exactly_once
from webhook_kit import KITS, status_reads

pytestmark = pytest.mark.anyio


async def test_a_delivery_posted_to_the_server_completes_the_job_without_polling() -> None:
    kit = KITS["replicate"]
    clock = sv.VirtualClock()
    fake, transport = kit.make(clock)
    client = sv.AsyncSoraVideo(
        transport=transport, repository=MemoryRepository(), clock=clock, poll_max_interval=900
    )
    # rate_limit 1/minute: deliveries are never counted against it.
    app = create_app(client, api_keys=[KEY], rate_limit="1/minute", worker=False)
    answers: list[httpx.Response] = []
    transport_asgi = httpx.ASGITransport(app=app)
    async with (
        client,
        httpx.AsyncClient(transport=transport_asgi, base_url="http://server") as http,
        anyio.create_task_group() as tg,
    ):

        async def to_server(headers: dict[str, str], body: bytes) -> Any:
            # No x-api-key: a provider sends its signature only.
            answer = await http.post("/api/v1/webhooks/replicate", content=body, headers=headers)
            answers.append(answer)
            return answer.json()

        fake.webhooks.configure(to_server)
        tg.start_soon(fake.webhooks.run)
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="a heron"))
        done = await client.videos.wait_for_job(job.id, timeout=450)
        assert done.status is sv.JobStatus.COMPLETED
        assert status_reads(kit, fake) == 0  # the push, not polling, told us
        assert answers and all(a.status_code == 200 for a in answers)
        last = answers[-1].json()
        assert last["success"] is True
        assert last["data"]["jobId"] == job.id and last["data"]["remoteId"] == done.remote_id
        assert set(last["data"]) == {"provider", "remoteId", "jobId", "applied", "duplicate"}

        # The same delivery again: acknowledged as a duplicate, nothing applied.
        (event,) = [e for e in fake.webhooks.events() if e.key.endswith(":completed")]
        headers, body = fake.webhooks.signed(event.payload)
        again = await http.post("/api/v1/webhooks/replicate", content=body, headers=headers)
        assert again.status_code == 200
        assert again.json()["data"]["applied"] is False

        # A forged signature: 401 in the API's envelope, nothing applied.
        headers, body = fake.webhooks.signed(event.payload, secret="whsec_" + "Zm9yZ2Vk" * 4)
        forged = await http.post("/api/v1/webhooks/replicate", content=body, headers=headers)
        assert forged.status_code == 401
        assert forged.json()["success"] is False
        assert forged.json()["error"]["code"] == "invalid_signature"

        # Not this server's provider: a 400 naming the field.
        other = await http.post("/api/v1/webhooks/runway", content=body, headers=headers)
        assert other.status_code == 400
        assert other.json()["error"]["fields"][0]["field"] == "provider"

        # The route is in the OpenAPI document, with no API key required.
        document = (await http.get("/openapi.json")).json()
        operation = document["paths"]["/api/v1/webhooks/{provider}"]["post"]
        assert not operation.get("security")
        tg.cancel_scope.cancel()
    await check_ledger_exactly_once(fake, client.repository)
