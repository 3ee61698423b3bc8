"""The fakes' webhook signatures against the providers' official clients ([W2-7]), and
deliveries sent over HTTP to the URL a job was created with.

Where an official client verifies deliveries (``replicate``'s ``Webhooks.validate``,
``openai``'s ``webhooks.unwrap``), a fake's delivery must pass it: so the scheme the fakes
sign with, and the transports verify, is the provider's. The others (fal, OpenRouter, the
Gemini API) ship no verifier; their schemes follow their documentation (see the webhooks
guide).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import pytest

import soravideo as sv
from helpers import request
from soravideo._core.clock import ManualClock
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeReplicate, FakeSora, check_ledger_exactly_once
from webhook_kit import KITS, status_reads

pytestmark = pytest.mark.anyio


async def test_replicates_client_validates_the_fakes_deliveries() -> None:
    from replicate.webhook import InvalidSignatureError, Webhooks, WebhookSigningSecret

    fake = FakeReplicate()
    payload = {"id": "ufawqhfynnddngldkgtslldrkq", "status": "succeeded", "output": []}
    # replicate checks the timestamp against the wall clock: sign at the wall clock's now.
    headers, body = fake.webhooks.signed(payload, timestamp=time.time())
    secret = WebhookSigningSecret(key=fake.webhooks.secret)
    Webhooks.validate(headers=headers, body=body.decode(), secret=secret, tolerance=300)
    with pytest.raises(InvalidSignatureError):
        Webhooks.validate(
            headers=headers, body=body.decode().replace("succeeded", "failed"), secret=secret
        )


async def test_openais_client_unwraps_the_fake_soras_video_events() -> None:
    import openai

    fake = FakeSora()
    payload = {
        "id": "evt_685343a1381c819085d44c354e1b330e",
        "type": "video.completed",
        "created_at": int(time.time()),
        "object": "event",
        "data": {"id": "video_68d1a3a95c3c8190aa2a5d79aa3d6d7b"},
    }
    headers, body = fake.webhooks.signed(payload, timestamp=time.time())
    client = openai.AsyncOpenAI(api_key="sk-unused", webhook_secret=fake.webhooks.secret)
    try:
        event = client.webhooks.unwrap(body, headers)
        assert event.type == "video.completed"
        assert event.data.id == payload["data"]["id"]
        forged = fake.webhooks.sign(body, secret="whsec_" + "Zm9yZ2Vk" * 4)
        with pytest.raises(openai.InvalidWebhookSignatureError):
            client.webhooks.unwrap(body, forged)
    finally:
        await client.close()


class _Inbox(BaseHTTPRequestHandler):
    """Collects POSTed deliveries: the raw body and headers, as a web framework hands them."""

    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def inbox() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Inbox", (_Inbox,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/replicate", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_deliveries_are_posted_to_the_url_each_job_was_created_with(
    inbox: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = inbox
    # A ManualClock: the real socket below must not let simulated time run on meanwhile.
    clock = ManualClock()
    kit = KITS["replicate"]
    fake, transport = kit.make(clock, webhook_url=url)
    async with sv.AsyncSoraVideo(
        transport=transport, repository=MemoryRepository(), clock=clock, poll_max_interval=900
    ) as client:
        job = await client.videos.create_video(request("a kestrel"))
        while (await client.videos.get_job(job.id)).remote_id is None:
            await anyio.wait_all_tasks_blocked()
        clock.advance(200)
        # No target configured: each job's own URL (its create's ``webhook``) is used.
        sent = await fake.webhooks.flush()
        assert [d.answer for d in sent] == [204, 204]
        assert [json.loads(body)["status"] for _, body in received] == ["processing", "succeeded"]
        for headers, body in received:
            await client.webhooks.handle(provider="replicate", headers=headers, body=body)
        done = await client.videos.get_job(job.id)
        assert done.status is sv.JobStatus.COMPLETED
        assert status_reads(kit, fake) == 0
        await check_ledger_exactly_once(fake, client.repository)
