"""A custom provider plugin: a Transport for a made-up "Acme Motion" HTTP API, run end to end.

A transport is any object with the members of ``soravideo.transports.Transport``. It maps
the neutral ``CreateVideoRequest`` onto its provider's API, the provider's statuses onto
``JobStatus``, and the provider's errors onto soravideo's error tree, and it says what the
provider can do (``Capabilities``). The engine does everything else: queueing,
concurrency, rate limits, polling, retries, the ledger, downloads.

The Acme Motion API (invented for this example)::

    POST /v1/clips              {"text", "seconds"} + Idempotency-Key -> {"clip_id", "state", "percent"}
    GET  /v1/clips/{id}         -> {"clip_id", "state", "percent", "error": {"code", "message"} | null}
                                   state: queued | rendering | done | error | cancelled
    GET  /v1/clips/{id}/file    -> the MP4
    POST /v1/clips/{id}/cancel
    GET  /v1/health

``AcmeFake`` below plays that API in-process (an ``httpx.MockTransport``) on simulated
time, so this runs offline in a fraction of a second; ``tests/examples/
test_plugin_contracts.py`` runs soravideo's transport contract suite on the pair.

Run it from the repository root: ``python examples/custom_transport.py``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

import soravideo as sv
from soravideo.repositories import MemoryRepository
from soravideo.transports import Capabilities, ContentStream, ModelInfo, RemoteJob, Transport

OUT = Path("demo-output/custom-transport")


# --8<-- [start:transport]
_STATES = {
    "queued": sv.JobStatus.PROCESSING,  # queued at the provider is in flight for us
    "rendering": sv.JobStatus.PROCESSING,
    "done": sv.JobStatus.COMPLETED,
    "error": sv.JobStatus.FAILED,
    "cancelled": sv.JobStatus.CANCELLED,
}
_ERRORS: dict[int, type[sv.ProviderError]] = {
    401: sv.AuthenticationError,
    403: sv.PermissionDeniedError,
    429: sv.RateLimitError,
}


class AcmeTransport:
    """Speak the Acme Motion API."""

    name = "acme"

    def __init__(
        self,
        *,
        base_url: str = "https://api.acme-motion.invalid/v1",
        api_key: str | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = http_client or httpx.AsyncClient(base_url=base_url, headers=headers)
        self._capabilities = Capabilities(
            models={
                "motion-1": ModelInfo(
                    name="motion-1", durations=(4, 8), default_duration=4, price_per_second_usd=0.05
                )
            },
            default_model="motion-1",
            can_cancel=True,
            can_list=False,  # so ambiguous creates are settled by the idempotency key
            allows_unknown_models=False,
        )

    def __repr__(self) -> str:
        return "AcmeTransport()"  # never show the key

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def validate(self, request: sv.CreateVideoRequest, path: str = "") -> list[sv.FieldError]:
        prefix = f"{path}." if path else ""
        model = self._capabilities.models.get(request.model or self._capabilities.default_model)
        if model is None:
            return [sv.FieldError(field=f"{prefix}model", message="Acme has only motion-1")]
        if request.duration is not None and request.duration not in (model.durations or ()):
            return [sv.FieldError(field=f"{prefix}duration", message="must be 4 or 8 seconds")]
        return []

    def estimate_cost(self, request: sv.CreateVideoRequest) -> float | None:
        model = self._capabilities.models.get(request.model or self._capabilities.default_model)
        if model is None or model.price_per_second_usd is None:
            return None
        return model.price_per_second_usd * (request.duration or model.default_duration or 0)

    async def _send(self, method: str, url: str, *, creating: bool = False, **kw: Any) -> Any:
        """Make one request; map httpx's exceptions and error statuses to soravideo's tree."""
        try:
            response = await self._http.request(method, url, **kw)
        except httpx.ConnectError as exc:  # never reached the provider: safe to retry
            raise sv.ProviderConnectionError(str(exc), provider=self.name) from exc
        except httpx.TransportError as exc:
            if creating:  # it may have been created: the engine reconciles, never re-sends
                raise sv.AmbiguousSubmissionError(str(exc), provider=self.name) from exc
            raise sv.ProviderConnectionError(str(exc), provider=self.name) from exc
        if response.is_success:
            return response.json()
        error = (response.json() if response.content else {}).get("error") or {}
        kind = _ERRORS.get(response.status_code)
        if kind is None:
            kind = sv.ProviderUnavailableError if response.status_code >= 500 else sv.ProviderError
        extra: dict[str, Any] = {}
        if kind is sv.RateLimitError and "retry-after" in response.headers:
            extra["retry_after"] = float(response.headers["retry-after"])
        raise kind(
            error.get("message", response.reason_phrase),
            status_code=response.status_code,
            code=error.get("code"),
            provider=self.name,
            **extra,
        )

    def _remote(self, data: dict[str, Any]) -> RemoteJob:
        error = data.get("error")
        return RemoteJob(
            remote_id=data["clip_id"],
            status=_STATES[data["state"]],
            progress=int(data.get("percent", 0)),
            provider_status=data["state"],
            error=sv.JobError(code=error["code"], message=error["message"]) if error else None,
        )

    async def submit(self, request: sv.CreateVideoRequest, *, idempotency_key: str) -> RemoteJob:
        body = {"text": request.prompt, "seconds": request.duration or 4}
        data = await self._send(
            "POST",
            "/clips",
            json=body,
            headers={"Idempotency-Key": idempotency_key},
            creating=True,
        )
        return self._remote(data)

    async def fetch(self, remote_id: str) -> RemoteJob:
        return self._remote(await self._send("GET", f"/clips/{remote_id}"))

    async def fetch_many(self, remote_ids: Sequence[str]) -> dict[str, RemoteJob]:
        found: dict[str, RemoteJob] = {}
        for remote_id in remote_ids:  # no list endpoint: one request each
            try:
                found[remote_id] = await self.fetch(remote_id)
            except sv.ProviderError as exc:
                if exc.status_code != 404:
                    raise
        return found

    async def list_recent(self, *, limit: int = 100) -> list[RemoteJob]:
        return []  # Acme cannot list

    async def cancel(self, remote_id: str) -> None:
        try:
            await self._send("POST", f"/clips/{remote_id}/cancel")
        except sv.ProviderError as exc:
            if exc.status_code != 404:  # already gone is not an error
                raise

    @asynccontextmanager
    async def open_content(
        self, remote_id: str, variant: str = "video"
    ) -> AsyncIterator[ContentStream]:
        async with self._http.stream("GET", f"/clips/{remote_id}/file") as response:
            if not response.is_success:
                await response.aread()
                raise sv.ProviderError(
                    "no content", status_code=response.status_code, provider=self.name
                )
            yield _Stream(response)

    async def remix(self, remote_id: str, prompt: str, *, idempotency_key: str) -> RemoteJob:
        raise sv.ValidationError([sv.FieldError(field="job_id", message="Acme cannot remix")])

    async def ping(self) -> None:
        await self._send("GET", "/health")

    async def aclose(self) -> None:
        await self._http.aclose()


class _Stream:
    """An open download (the ``ContentStream`` shape)."""

    def __init__(self, response: httpx.Response) -> None:
        self.content_type = response.headers.get("content-type")
        length = response.headers.get("content-length")
        self.content_length = int(length) if length is not None else None
        self._response = response

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        return self._response.aiter_bytes()


# --8<-- [end:transport]


class AcmeFake:
    """The Acme Motion API in-process, on a clock the test (or the engine) moves.

    A clip is queued for one second, then renders for ``generation_time`` seconds; a
    prompt containing "forbidden" fails. It offers the driver members of
    ``soravideo.testing.FakeProvider``, so the transport contract suite can use it.
    """

    failing_prompt = "something forbidden"

    def __init__(self, clock: sv.ManualClock, *, generation_time: float = 20.0) -> None:
        self.clock = clock
        self.generation_time = generation_time
        self.clips: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, str] = {}
        self._lose_next_answer = False

    def http_client(self, base_url: str = "https://acme.test/v1") -> httpx.AsyncClient:
        """Return an httpx client whose requests this fake answers."""
        return httpx.AsyncClient(transport=httpx.MockTransport(self._handle), base_url=base_url)

    # The FakeProvider driver members.
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def advance_until_done(self) -> None:
        ends = [clip["ends"] for clip in self.clips.values()]
        self.clock.set_time(max([self.clock.time(), *ends]))

    def created_count(self) -> int:
        return len(self.clips)

    def reset_next_create(self) -> None:
        self._lose_next_answer = True

    # The API.
    def _view(self, clip: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.time()
        state, percent, error = "queued", 0, None
        if clip["cancelled"]:
            state = "cancelled"
        elif now >= clip["ends"]:
            failed = "forbidden" in clip["text"]
            state, percent = ("error", 0) if failed else ("done", 100)
            error = {"code": "content_policy", "message": "refused"} if failed else None
        elif now >= clip["starts"]:
            state = "rendering"
            percent = int(100 * (now - clip["starts"]) / (clip["ends"] - clip["starts"]))
        return {"clip_id": clip["id"], "state": state, "percent": percent, "error": error}

    def _handle(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.removeprefix("/v1/").split("/")
        if request.method == "POST" and parts == ["clips"]:
            key = request.headers.get("idempotency-key", "")
            if key not in self._keys:  # the same key never makes a second clip
                now = self.clock.time()
                clip_id = f"clip_{uuid.uuid4().hex[:12]}"
                self._keys[key] = clip_id
                body = json.loads(request.content)
                self.clips[clip_id] = {
                    "id": clip_id,
                    "text": body["text"],
                    "starts": now + 1.0,
                    "ends": now + 1.0 + self.generation_time,
                    "cancelled": False,
                }
            if self._lose_next_answer:
                self._lose_next_answer = False
                raise httpx.ReadError("connection reset by peer", request=request)
            return httpx.Response(201, json=self._view(self.clips[self._keys[key]]))
        if parts == ["health"]:
            return httpx.Response(200, json={"ok": True})
        clip = self.clips.get(parts[1]) if len(parts) > 1 and parts[0] == "clips" else None
        if clip is None:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no clip"}})
        view = self._view(clip)
        if request.method == "GET" and len(parts) == 2:
            return httpx.Response(200, json=view)
        if request.method == "POST" and parts[2:] == ["cancel"]:
            clip["cancelled"] = view["state"] in ("queued", "rendering")
            return httpx.Response(200, json=self._view(clip))
        if request.method == "GET" and parts[2:] == ["file"] and view["state"] == "done":
            return httpx.Response(
                200,
                content=b"\x00\x00\x00\x18ftypmp42" + bytes(4096),
                headers={"content-type": "video/mp4"},
            )
        return httpx.Response(409, json={"error": {"code": "not_ready", "message": view["state"]}})


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    # --8<-- [start:use]
    clock = sv.VirtualClock()  # simulated time: leaps ahead whenever every task waits
    fake = AcmeFake(clock)
    transport = AcmeTransport(http_client=fake.http_client())
    assert isinstance(transport, Transport)  # the protocol's shape

    with sv.SoraVideo(transport=transport, repository=MemoryRepository(), clock=clock) as client:
        videos = [
            sv.CreateVideoRequest(prompt=p, duration=8) for p in ("a comet", "a forbidden act")
        ]
        created = client.batches.create_batch(sv.BatchVideoRequest(videos=videos))
        batch = client.batches.process_batch(created.batch_id)
        print(batch)
        for job in client.batches.get_batch_status(batch.id).jobs:
            print(f"  {job}  ${job.estimated_cost_usd:.2f}")
            if job.status is sv.JobStatus.COMPLETED:
                print("  ->", client.videos.download_video(job.id, OUT))
    # --8<-- [end:use]
    print(f"Acme made {fake.created_count()} clips")


if __name__ == "__main__":
    main()
