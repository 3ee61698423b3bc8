"""soravideo's Gemini transport and engine against an independent Gemini API server.

The server below is written from the official ``google-genai`` package (3.6.1) alone:
``_operations_converters.py`` (``_GenerateVideosOperation_from_mldev``: ``name``,
``metadata``, ``done``, ``error``, ``response.generateVideoResponse`` with
``generatedSamples[].video.{uri, encodedVideo, encoding}``, ``raiMediaFilteredCount`` and
``raiMediaFilteredReasons``), ``operations.py`` (``GET /{version}/{operation name}``),
``files.py`` and ``_transformers.t_file_name`` (``GET files/{id}:download?alt=media`` with
the key), and for Omni ``_gaos/types/interactions/interaction.py`` (``status`` among
``in_progress``, ``requires_action``, ``completed``, ``failed``, ``cancelled``,
``incomplete``, ``budget_exceeded``, ``queued``, ``idle``, ``requires_continuation``;
``steps[]`` of ``model_output`` with ``content[]`` video blocks; ``errors: [{code,
message}]``) and ``_gaos/interactions.py`` (``POST …/interactions/{id}/cancel`` returns
the Interaction, 200). As protobuf JSON does, an operation still running has no ``done``
key at all. It imports nothing of ``soravideo.testing``.

Each scenario drives soravideo through its public API only and ends with the same checks:
every operation or interaction the server made is owned by exactly one job (a job failed
``ambiguous_submission`` may stand for one nobody can name), no job is left unfinished,
nothing was created twice.

A scenario marked ``xfail(strict=True)`` is a finding (said in its reason); run with
``--runxfail`` to see the failure itself.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

import soravideo as sv
from e2e import independent_kit
from soravideo.repositories import MemoryRepository, SQLiteRepository
from soravideo.transports import GeminiTransport

API_KEY = "AIza-independent-probe-0123456789"
API = "http://gemini.independent.invalid"
START = 1_900_000_000.0
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"independent-gemini-video" * 40
VEO = "veo-3.1-generate-preview"
OMNI = "gemini-omni-1.2-flash"
POLL = {"poll_min_interval": 5.0, "poll_max_interval": 15.0}
_RPC = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@pytest.fixture
def fake() -> None:
    """No soravideo fake here: the e2e conftest's exactly-once hook looks for one and skips."""
    return None


# --------------------------------------------------------------------------- the server


@attrs.define
class Plan:
    """How one job evolves, in seconds from its creation (the server's clock)."""

    queued: float = 5.0  # interactions only
    running: float = 60.0
    # Veo: "video", "inline", "error", "filtered", "empty" (done, no response at all),
    # "no_samples" (done, generateVideoResponse {}); Omni: "video", "uri", "failed",
    # "no_video", "incomplete".
    outcome: str = "video"
    error_code: int = 13
    error_message: str = "Internal error while generating the video."
    metadata: bool = True


@attrs.define
class Job:
    key: str  # the operation's name or the interaction's id
    kind: str  # "veo" or "omni"
    created: float
    model: str
    body: dict[str, Any]
    plan: Plan
    file_id: str
    forced_end: float | None = None
    cancelled_at: float | None = None
    deleted_at: float | None = None


@attrs.define
class Fault:
    method: str
    path_prefix: str
    status: int
    headers: dict[str, str] = attrs.field(factory=dict)
    act_first: bool = False
    times: int = 1
    skip: int = 0
    fired: int = 0


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class IndependentGemini:
    """The Gemini API's Veo operations, Files downloads and Interactions; time from ``now``."""

    def __init__(self, now: Callable[[], float], *, plan: Callable[[str], Plan] | None = None):
        self.now = now
        self.plan = plan or (lambda kind: Plan())
        self.jobs: dict[str, Job] = {}
        self.created: list[str] = []
        self.log: list[tuple[float, str, str, int]] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        # What cancelling a finished interaction answers: "200" (the Interaction as it is,
        # as the client's return type allows) or "400" (FAILED_PRECONDITION).
        self.cancel_finished = "400"

    def fault(self, method: str, path_prefix: str, status: int, **kwargs: Any) -> Fault:
        fault = Fault(method, path_prefix, status, **kwargs)
        self.faults.append(fault)
        return fault

    def finish_now(self, key: str) -> None:
        self.jobs[key].forced_end = self.now()

    def requests(self, method: str, prefix: str = "") -> list[tuple[float, str, str, int]]:
        return [e for e in self.log if e[1] == method and e[2].startswith(prefix)]

    # ---------------------------------------------------------------- state

    def _phase(self, job: Job, now: float) -> str:
        if job.cancelled_at is not None:
            return "cancelled"
        if job.forced_end is not None and now >= job.forced_end:
            return "done"
        age = now - job.created
        if job.kind == "omni" and age < job.plan.queued:
            return "queued"
        if age < job.plan.queued + job.plan.running:
            return "running"
        return "done"

    def _operation(self, job: Job, now: float) -> dict[str, Any]:
        body: dict[str, Any] = {"name": job.key}
        if job.plan.metadata:
            body["metadata"] = {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1.PredictLongRunningMetadata",
                "createTime": _iso(job.created),
            }
        if self._phase(job, now) != "done":
            return body  # protobuf JSON: done=false is not written at all
        body["done"] = True
        outcome = job.plan.outcome
        response_type = (
            "type.googleapis.com/google.ai.generativelanguage.v1.PredictLongRunningResponse"
        )
        if outcome == "error":
            body["error"] = {"code": job.plan.error_code, "message": job.plan.error_message}
        elif outcome == "filtered":
            body["response"] = {
                "@type": response_type,
                "generateVideoResponse": {
                    "raiMediaFilteredCount": 1,
                    "raiMediaFilteredReasons": [
                        "We encountered an issue with the audio for your prompt."
                    ],
                },
            }
        elif outcome == "no_samples":
            body["response"] = {"@type": response_type, "generateVideoResponse": {}}
        elif outcome == "empty":
            pass
        elif outcome == "inline":
            body["response"] = {
                "@type": response_type,
                "generateVideoResponse": {
                    "generatedSamples": [
                        {
                            "video": {
                                "encodedVideo": base64.b64encode(VIDEO).decode(),
                                "encoding": "video/mp4",
                            }
                        }
                    ]
                },
            }
        else:
            uri = (
                "https://generativelanguage.googleapis.com/v1/files/"
                f"{job.file_id}:download?alt=media"
            )
            body["response"] = {
                "@type": response_type,
                "generateVideoResponse": {
                    "generatedSamples": [{"video": {"uri": uri}, "extra": {"x": 1}}],
                    "unknownField": [1, None],
                },
            }
        return body

    def _interaction(self, job: Job, now: float) -> dict[str, Any]:
        phase = self._phase(job, now)
        body: dict[str, Any] = {
            "id": job.key,
            "model": job.model,
            "created": _iso(job.created),
            "updated": _iso(now),
            "role": "model",
            "object": "interaction",
            "response_modalities": ["video"],
        }
        if phase in ("queued", "running"):
            body["status"] = "queued" if phase == "queued" else "in_progress"
            return body
        if phase == "cancelled":
            body["status"] = "cancelled"
            return body
        outcome = job.plan.outcome
        body["usage"] = {"total_output_tokens": 5000, "total_tokens": 5100}
        if outcome == "failed":
            body["status"] = "failed"
            body["errors"] = [{"code": "INTERNAL", "message": job.plan.error_message}]
        elif outcome == "incomplete":
            body["status"] = "incomplete"
        elif outcome == "no_video":
            body["status"] = "completed"
            body["steps"] = [
                {"type": "thought", "summary": []},
                {"type": "model_output", "content": [{"type": "text", "text": "I can't."}]},
            ]
        else:
            block: dict[str, Any] = {"type": "video", "mime_type": "video/mp4"}
            if outcome == "uri":
                block["uri"] = f"https://generativelanguage.googleapis.com/v1/files/{job.file_id}"
            else:
                block["data"] = base64.b64encode(VIDEO).decode()
            body["status"] = "completed"
            body["steps"] = [
                {"type": "thought", "summary": [{"type": "text", "text": "planning"}]},
                {"type": "model_output", "content": [{"type": "text", "text": "Here."}, block]},
            ]
        return body

    # ---------------------------------------------------------------- HTTP

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            now = self.now()
            status, out_headers, out = self._route(method, path, query, headers, body, now)
            self.log.append((now, method, path, status))
            return status, out_headers, out

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> Any:
        return (
            status,
            {"content-type": "application/json; charset=UTF-8", **(headers or {})},
            (json.dumps(payload).encode()),
        )

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Any:
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": _RPC.get(status, "UNKNOWN"),
        }
        if status == 429:
            error["details"] = [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
            ]
        return self._json(status, {"error": error}, headers)

    def _route(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        now: float,
    ) -> tuple[int, dict[str, str], bytes]:
        lowered = {k.lower(): v for k, v in headers.items()}
        for fault in self.faults:
            if (
                fault.fired < fault.times
                and method == fault.method
                and path.startswith(fault.path_prefix)
            ):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.fired += 1
                if fault.act_first:
                    self._route_api(method, path, query, lowered, body, now)
                return self._error(fault.status, "injected fault", fault.headers)
        return self._route_api(method, path, query, lowered, body, now)

    def _route_api(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        now: float,
    ) -> tuple[int, dict[str, str], bytes]:
        key = headers.get("x-goog-api-key")
        if key is None:
            return self._error(403, "Method doesn't allow unregistered callers")
        if key != API_KEY:
            return self._json(
                400,
                {
                    "error": {
                        "code": 400,
                        "message": "API key not valid. Please pass a valid API key.",
                        "status": "INVALID_ARGUMENT",
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                "reason": "API_KEY_INVALID",
                                "domain": "googleapis.com",
                            }
                        ],
                    }
                },
            )
        if not path.startswith("/v1/"):
            return self._error(404, "Not found")
        rest = path.removeprefix("/v1/")
        if method == "POST" and rest.startswith("models/") and rest.endswith(":predictLongRunning"):
            model = rest.removeprefix("models/").removesuffix(":predictLongRunning")
            return self._create_veo(model, body, now)
        if method == "POST" and rest == "interactions":
            return self._create_omni(body, now)
        if method == "GET" and rest.startswith("models/") and "/operations/" in rest:
            job = self.jobs.get(rest)
            if job is None or job.deleted_at is not None:
                return self._error(404, "Operation not found")
            return self._json(200, self._operation(job, now))
        if rest.startswith("interactions/"):
            parts = rest.split("/")
            job = self.jobs.get(parts[1])
            if job is None or job.deleted_at is not None:
                return self._error(404, "Interaction not found")
            if method == "GET" and len(parts) == 2:
                return self._json(200, self._interaction(job, now))
            if method == "POST" and parts[2:] == ["cancel"]:
                phase = self._phase(job, now)
                if phase in ("queued", "running"):
                    job.cancelled_at = now
                elif self.cancel_finished == "400":
                    return self._json(
                        400,
                        {
                            "error": {
                                "code": 400,
                                "message": "Interaction is not running.",
                                "status": "FAILED_PRECONDITION",
                            }
                        },
                    )
                return self._json(200, self._interaction(job, now))
        if method == "GET" and rest.startswith("files/") and rest.endswith(":download"):
            file_id = rest.removeprefix("files/").removesuffix(":download")
            if query.get("alt") != "media":
                return self._error(400, "alt=media required")
            owner = next((j for j in self.jobs.values() if j.file_id == file_id), None)
            if owner is None or self._phase(owner, now) != "done":
                return self._error(404, "File not found")
            return 200, {"content-type": "video/mp4"}, VIDEO
        return self._error(404, "Not found")

    def _create_veo(self, model: str, raw: bytes, now: float) -> Any:
        body = json.loads(raw)
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances or "prompt" not in instances[0]:
            return self._error(400, "instances[0].prompt is required")
        name = f"models/{model}/operations/{uuid.uuid4().hex[:12]}"
        job = Job(name, "veo", now, model, body, self.plan("veo"), uuid.uuid4().hex[:12])
        self.jobs[name] = job
        self.created.append(name)
        return self._json(200, {"name": name})

    def _create_omni(self, raw: bytes, now: float) -> Any:
        body = json.loads(raw)
        if body.get("background") is not True or "model" not in body or "input" not in body:
            return self._error(400, "background video interactions need model and input")
        ident = f"v1_{uuid.uuid4().hex}"
        job = Job(ident, "omni", now, body["model"], body, self.plan("omni"), uuid.uuid4().hex[:12])
        self.jobs[ident] = job
        self.created.append(ident)
        return self._json(200, self._interaction(job, now))

    def mock_transport(self) -> httpx.MockTransport:
        return independent_kit.mock_transport(self.handle)

    def serve(self) -> contextlib.AbstractContextManager[str]:
        """Serve on a real loopback port (127.0.0.1); the base URL is what it yields."""
        return independent_kit.serve(self.handle)


# --------------------------------------------------------------------------- the client side


@attrs.define
class Rig:
    server: IndependentGemini
    clock: sv.VirtualClock
    http_clients: list[httpx.AsyncClient] = attrs.field(factory=list)

    def client(self, repository: Any = None, **settings: Any) -> sv.AsyncSoraVideo:
        http_client = httpx.AsyncClient(transport=self.server.mock_transport())
        self.http_clients.append(http_client)
        transport = GeminiTransport(
            base_url=API, api_key=API_KEY, http_client=http_client, clock=self.clock
        )
        return sv.AsyncSoraVideo(
            transport=transport,
            repository=repository if repository is not None else MemoryRepository(),
            clock=self.clock,
            **{**POLL, **settings},
        )

    async def aclose(self) -> None:
        for http_client in self.http_clients:
            await http_client.aclose()


@pytest.fixture
async def rig() -> Any:
    clock = sv.VirtualClock(start=START, only_while_waiting=True)
    made = Rig(server=IndependentGemini(clock.time), clock=clock)
    try:
        yield made
    finally:
        await made.aclose()


def _server_key(remote_id: str) -> str:
    return remote_id.replace(":", "/") if ":operations:" in remote_id else remote_id


def check_settled(
    server: IndependentGemini, jobs: list[sv.Job], *, creates: int | None = None
) -> None:
    """The scenario's end: exactly once, nothing unfinished, nothing created twice."""
    independent_kit.check_exactly_once(
        server.created, server.jobs, jobs, creates=creates, key=_server_key
    )


VEO_REQUEST = sv.CreateVideoRequest(prompt="A lighthouse at dusk", model=VEO, duration=8)
OMNI_REQUEST = sv.CreateVideoRequest(prompt="A red fox in snow", duration=6)


# --------------------------------------------------------------------------- Veo


@pytest.mark.anyio
@pytest.mark.parametrize("metadata", [True, False])
@pytest.mark.parametrize("outcome", ["video", "inline"])
async def test_veo_done_with_a_video(
    rig: Rig, tmp_path: Path, metadata: bool, outcome: str
) -> None:
    """Running (no ``done`` key, with or without metadata), then done with a Files URI
    (downloaded with the key on the configured origin) or inline ``encodedVideo``; extra
    fields everywhere."""
    rig.server.plan = lambda kind: Plan(running=90, outcome=outcome, metadata=metadata)
    async with rig.client(download_dir=tmp_path / "videos") as client:
        job = await client.videos.create_video(VEO_REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=900)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    assert job.result is not None and job.result.path is not None
    assert Path(job.result.path).read_bytes() == VIDEO
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("rpc", "code", "retryable"),
    [
        (13, "INTERNAL", True),
        (3, "INVALID_ARGUMENT", False),
        (14, "UNAVAILABLE", True),
        (8, "RESOURCE_EXHAUSTED", True),
    ],
)
async def test_veo_done_with_an_error(rig: Rig, rpc: int, code: str, retryable: bool) -> None:
    """``done`` with a ``google.rpc.Status`` error (an int code, no status word)."""
    rig.server.plan = lambda kind: Plan(running=30, outcome="error", error_code=rpc)
    async with rig.client() as client:
        job = await client.videos.create_video(VEO_REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=600)
    assert job.status is sv.JobStatus.FAILED
    assert job.error is not None
    assert (job.error.code, job.error.retryable) == (code, retryable)
    assert job.error.message == "Internal error while generating the video."
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_veo_done_with_aborted_is_named_and_retryable(rig: Rig) -> None:
    rig.server.plan = lambda kind: Plan(running=30, outcome="error", error_code=10)
    async with rig.client() as client:
        job = await client.videos.create_video(VEO_REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=600)
    check_settled(rig.server, [job], creates=1)
    assert job.error is not None
    assert (job.error.code, job.error.retryable) == ("ABORTED", True)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("outcome", "code"),
    [("filtered", "content_filtered"), ("no_samples", "no_output"), ("empty", "no_output")],
)
async def test_veo_done_without_a_video(rig: Rig, tmp_path: Path, outcome: str, code: str) -> None:
    """Done with the video withheld (raiMediaFilteredCount/Reasons), with an empty
    generateVideoResponse, or with no response at all: failed, never downloaded."""
    rig.server.plan = lambda kind: Plan(running=30, outcome=outcome)
    async with rig.client(download_dir=tmp_path / "videos") as client:
        job = await client.videos.create_video(VEO_REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=600)
    assert job.status is sv.JobStatus.FAILED
    assert job.error is not None and job.error.code == code
    if outcome == "filtered":
        assert "audio" in job.error.message
        assert job.error.retryable is False
    assert rig.server.requests("GET", "/v1/files/") == []
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_veo_operation_that_disappears(rig: Rig) -> None:
    """The operation is gone (404) while it runs: failed remote_missing, not re-created."""
    rig.server.plan = lambda kind: Plan(running=600)
    async with rig.client() as client:
        job = await client.videos.create_video(VEO_REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
        remote_id = (await client.videos.get_job(job.id)).remote_id
        assert remote_id is not None
        rig.server.jobs[_server_key(remote_id)].deleted_at = rig.clock.time()
        job = await client.videos.wait_for_job(job.id, timeout=900)
    assert job.status is sv.JobStatus.FAILED
    assert job.error is not None and job.error.code == "remote_missing"
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize("retry_after", [None, "7", "0"])
@pytest.mark.parametrize("request_", [VEO_REQUEST, OMNI_REQUEST], ids=["veo", "omni"])
async def test_429_on_create_and_reads(
    rig: Rig, retry_after: str | None, request_: sv.CreateVideoRequest
) -> None:
    """RESOURCE_EXHAUSTED (RetryInfo in the body, Retry-After or not) on the create and on
    reads: one job at the server, completed."""
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    rig.server.fault("POST", "/v1/", 429, headers=headers, times=2)
    rig.server.fault("GET", "/v1/", 429, headers=headers, times=3)
    async with rig.client() as client:
        job = await client.videos.create_video(request_)
        job = await client.videos.wait_for_job(job.id, timeout=900)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 504, 0])
@pytest.mark.parametrize("act_first", [True, False])
@pytest.mark.parametrize("request_", [VEO_REQUEST, OMNI_REQUEST], ids=["veo", "omni"])
async def test_lost_create_answer_is_ambiguous_and_never_resent(
    rig: Rig, status: int, act_first: bool, request_: sv.CreateVideoRequest
) -> None:
    """500/502/504 or no answer at all (0: a read timeout), the job made or not: failed
    ambiguous_submission, one POST."""
    rig.server.fault("POST", "/v1/", status, act_first=act_first)
    async with rig.client() as client:
        job = await client.videos.create_video(request_)
        job = await client.videos.wait_for_job(job.id, timeout=900)
    assert job.status is sv.JobStatus.FAILED
    assert job.error is not None and job.error.code == "ambiguous_submission"
    assert len(rig.server.requests("POST")) == 1
    check_settled(rig.server, [job], creates=1 if act_first else 0)


@pytest.mark.anyio
@pytest.mark.xfail(
    strict=True,
    reason="known gap, as on Runway: a 503 to a create is taken as 'not done' and sent "
    "again (retry._CREATE_STATUS_RETRIED); Google's API has no idempotency key and no list, "
    "so a front end's 503 after the operation was made gives two videos, one unowned",
)
async def test_503_after_the_operation_was_made_is_not_sent_again(rig: Rig) -> None:
    rig.server.fault("POST", "/v1/models/", 503, act_first=True)
    async with rig.client() as client:
        job = await client.videos.create_video(VEO_REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=900)
    check_settled(rig.server, [job])
    assert len(rig.server.created) == 1, f"{len(rig.server.created)} operations for one job"


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("request_", [VEO_REQUEST, OMNI_REQUEST], ids=["veo", "omni"])
async def test_5xx_on_reads(rig: Rig, status: int, request_: sv.CreateVideoRequest) -> None:
    rig.server.fault("GET", "/v1/", status, times=6)
    async with rig.client() as client:
        job = await client.videos.create_video(request_)
        job = await client.videos.wait_for_job(job.id, timeout=900)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_veo_cancel_while_running(rig: Rig) -> None:
    """No cancel for Veo in API-key mode: the operation is read, found running, the job is
    cancelled in the ledger; nothing but GETs goes to the server; nothing more is read."""
    rig.server.plan = lambda kind: Plan(running=300)
    async with rig.client() as client:
        job = await client.videos.create_video(VEO_REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
        job = await client.videos.cancel_job(job.id)
        cancelled_at = rig.clock.time()
        with anyio.move_on_after(1):
            with rig.clock.waiting():
                await rig.clock.sleep(600)
        job = await client.videos.get_job(job.id)
    assert job.status is sv.JobStatus.CANCELLED
    assert [e for e in rig.server.log if e[1] not in ("GET", "POST")] == []
    assert len(rig.server.requests("POST")) == 1
    late = [e for e in rig.server.requests("GET") if e[0] > cancelled_at]
    assert late == [], late
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_veo_cancel_of_an_operation_done_unseen(rig: Rig, tmp_path: Path) -> None:
    rig.server.plan = lambda kind: Plan(running=600)
    async with rig.client(download_dir=tmp_path / "v") as client:
        job = await client.videos.create_video(VEO_REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
        remote_id = (await client.videos.get_job(job.id)).remote_id
        assert remote_id is not None
        rig.server.finish_now(_server_key(remote_id))
        with pytest.raises(sv.JobStateError):
            await client.videos.cancel_job(job.id)
        job = await client.videos.get_job(job.id)
    assert job.status is sv.JobStatus.COMPLETED
    assert job.result is not None and job.result.path is not None
    check_settled(rig.server, [job], creates=1)


# --------------------------------------------------------------------------- Omni


@pytest.mark.anyio
@pytest.mark.parametrize("outcome", ["video", "uri"])
async def test_omni_queued_in_progress_completed(rig: Rig, tmp_path: Path, outcome: str) -> None:
    rig.server.plan = lambda kind: Plan(queued=20, running=60, outcome=outcome)
    request = (
        attrs.evolve(OMNI_REQUEST, provider_options={"delivery": "uri"})
        if outcome == "uri"
        else OMNI_REQUEST
    )
    async with rig.client(download_dir=tmp_path / "videos") as client:
        job = await client.videos.create_video(request)
        job = await client.videos.wait_for_job(job.id, timeout=900)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    assert job.result is not None and job.result.path is not None
    assert Path(job.result.path).read_bytes() == VIDEO
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("outcome", "code", "retryable"),
    [
        ("failed", "INTERNAL", True),
        ("incomplete", "incomplete", True),
        ("no_video", "no_output", True),
    ],
)
async def test_omni_ends_without_a_video(
    rig: Rig, outcome: str, code: str, retryable: bool
) -> None:
    rig.server.plan = lambda kind: Plan(running=30, outcome=outcome)
    async with rig.client() as client:
        job = await client.videos.create_video(OMNI_REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=600)
    assert job.status is sv.JobStatus.FAILED
    assert job.error is not None
    assert (job.error.code, job.error.retryable) == (code, retryable)
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_omni_cancel_while_running(rig: Rig) -> None:
    """The cancel answers 200 with the interaction now ``cancelled``."""
    rig.server.plan = lambda kind: Plan(running=300)
    async with rig.client() as client:
        job = await client.videos.create_video(OMNI_REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
        job = await client.videos.cancel_job(job.id)
    assert job.status is sv.JobStatus.CANCELLED
    assert job.remote_id is not None
    assert rig.server.jobs[job.remote_id].cancelled_at is not None
    assert len(rig.server.requests("POST", "/v1/interactions/")) == 1
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_omni_cancel_of_one_finished_unseen_refused_400(rig: Rig, tmp_path: Path) -> None:
    rig.server.plan = lambda kind: Plan(running=600)
    rig.server.cancel_finished = "400"
    async with rig.client(download_dir=tmp_path / "v") as client:
        job = await client.videos.create_video(OMNI_REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
        remote_id = (await client.videos.get_job(job.id)).remote_id
        assert remote_id is not None
        rig.server.finish_now(remote_id)
        with pytest.raises(sv.JobStateError):
            await client.videos.cancel_job(job.id)
        job = await client.videos.get_job(job.id)
    assert job.status is sv.JobStatus.COMPLETED
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_omni_cancel_of_one_finished_unseen_answered_200(rig: Rig, tmp_path: Path) -> None:
    rig.server.plan = lambda kind: Plan(running=600)
    rig.server.cancel_finished = "200"
    async with rig.client(download_dir=tmp_path / "v") as client:
        job = await client.videos.create_video(OMNI_REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
        remote_id = (await client.videos.get_job(job.id)).remote_id
        assert remote_id is not None
        rig.server.finish_now(remote_id)
        with contextlib.suppress(sv.JobStateError):
            await client.videos.cancel_job(job.id)
        job = await client.videos.get_job(job.id)
    check_settled(rig.server, [job], creates=1)
    assert job.status is sv.JobStatus.COMPLETED, "the finished video was recorded cancelled"


# --------------------------------------------------------------------------- resume


@pytest.mark.anyio
async def test_close_mid_flight_then_resume(rig: Rig, tmp_path: Path) -> None:
    """Veo and Omni jobs on a SQLite ledger; the client closes mid-flight; an hour later a
    new client resumes: read by their ids, never created again, downloaded."""
    ledger = tmp_path / "ledger.db"
    rig.server.plan = lambda kind: Plan(queued=30, running=120, metadata=False)
    async with rig.client(SQLiteRepository(ledger)) as client:
        ids = [
            (await client.videos.create_video(r)).id
            for r in (VEO_REQUEST, OMNI_REQUEST, VEO_REQUEST)
        ]
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(ids[0], timeout=60)
    rig.clock.advance(3600)
    async with rig.client(SQLiteRepository(ledger), download_dir=tmp_path / "v") as client:
        summary = await client.resume()
        jobs = [await client.videos.wait_for_job(i, timeout=600) for i in ids]
    assert summary.jobs == 3
    assert [j.status for j in jobs] == [sv.JobStatus.COMPLETED] * 3, [j.error for j in jobs]
    assert all(j.result and j.result.path for j in jobs)
    assert len(rig.server.requests("POST")) == 3
    check_settled(rig.server, jobs, creates=3)


# --------------------------------------------------------------------------- loopback


def test_loopback_server_real_time(tmp_path: Path) -> None:
    """On a real 127.0.0.1 server, real time: a Veo job, an Omni job, a 502-after-create
    (ambiguous), 429s and a 503 on reads, an Omni cancel; exactly once at the end."""
    server = IndependentGemini(time.time)
    with server.serve() as url:
        server.plan = lambda kind: (
            Plan(queued=2, running=8) if len(server.created) >= 3 else Plan(queued=0.1, running=0.4)
        )

        async def main() -> list[sv.Job]:
            transport = GeminiTransport(base_url=url, api_key=API_KEY, min_poll_interval=0.0)
            transport.retry_policy = attrs.evolve(transport.retry_policy, base=0.02, cap=0.1)
            async with sv.AsyncSoraVideo(
                transport=transport,
                repository=SQLiteRepository(tmp_path / "ledger.db"),
                poll_min_interval=0.05,
                poll_max_interval=0.25,
                request_timeout=5.0,
                download_dir=tmp_path / "videos",
            ) as client:
                veo = await client.videos.create_video(VEO_REQUEST)
                omni = await client.videos.create_video(OMNI_REQUEST)
                server.fault("GET", "/v1/", 429, headers={"retry-after": "0"}, times=2)
                server.fault("GET", "/v1/", 503, times=1)
                done = [await client.videos.wait_for_job(j.id, timeout=20) for j in (veo, omni)]
                server.fault("POST", "/v1/models/", 502, act_first=True)
                lost = await client.videos.create_video(VEO_REQUEST)
                lost = await client.videos.wait_for_job(lost.id, timeout=20)
                sent = anyio.Event()

                async def on_submitted(event: sv.JobEvent) -> None:
                    sent.set()

                client.on("submitted", on_submitted)
                third = await client.videos.create_video(OMNI_REQUEST)
                with anyio.fail_after(20):
                    await sent.wait()
                cancelled = await client.videos.cancel_job(third.id)
                return [*done, lost, cancelled]

        jobs = anyio.run(main)
    assert [j.status for j in jobs] == [
        sv.JobStatus.COMPLETED,
        sv.JobStatus.COMPLETED,
        sv.JobStatus.FAILED,
        sv.JobStatus.CANCELLED,
    ], [j.error for j in jobs]
    assert jobs[2].error is not None and jobs[2].error.code == "ambiguous_submission"
    for job in jobs[:2]:
        assert job.result is not None and job.result.path is not None
        assert Path(job.result.path).read_bytes() == VIDEO
    check_settled(server, jobs, creates=4)
    assert jobs[3].remote_id is not None and server.jobs[jobs[3].remote_id].cancelled_at
