"""Webhooks end to end ([W2-7]): FakeReplicate on loopback POSTs its signed deliveries over
real HTTP to a receiver on loopback that hands each raw request to the sync client's
``webhooks.handle``; real time, a generation well under a second."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import anyio.from_thread

import soravideo as sv
from helpers import request
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeReplicate, check_ledger_exactly_once
from soravideo.transports import ReplicateTransport


def receiver(client: sv.SoraVideo, seen: list[Any]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            provider = self.path.rstrip("/").rsplit("/", 1)[-1]
            try:
                event = client.webhooks.handle(
                    provider=provider, headers=dict(self.headers.items()), body=body
                )
            except sv.WebhookVerificationError as exc:
                seen.append(exc)
                self.send_response(401)
            else:
                seen.append(event)
                self.send_response(204)
            self.end_headers()

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def test_a_push_over_loopback_completes_the_job_without_polling() -> None:
    fake = FakeReplicate(generation_time=0.3, queue_time=0.05)
    repository = MemoryRepository()
    seen: list[Any] = []
    with fake.serve() as base_url:
        transport = ReplicateTransport(base_url=base_url, api_key="r8_loopback")
        client = sv.SoraVideo(transport=transport, repository=repository, poll_max_interval=60)
        server = receiver(client, seen)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
        thread.start()
        host, port = server.server_address[:2]
        transport.webhook_url = f"http://{host!s}:{port}/webhooks/replicate"
        transport._webhook_secret = fake.webhooks.secret
        try:
            with client, anyio.from_thread.start_blocking_portal() as portal:
                pump = portal.start_task_soon(lambda: fake.webhooks.run(tick=0.02))
                job = client.videos.create_video(request("a kite over the dunes"))
                done = client.videos.wait_for_job(job.id, timeout=30)
                pump.cancel()
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
        assert done.status is sv.JobStatus.COMPLETED
        assert fake.count(route="get") == 0
        assert any(isinstance(e, sv.WebhookEvent) and e.applied for e in seen)
        assert not [e for e in seen if isinstance(e, Exception)]
        anyio.run(check_ledger_exactly_once, fake, repository)
