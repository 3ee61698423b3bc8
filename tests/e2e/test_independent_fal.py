"""soravideo's fal transport and engine against an independent fal queue server.

The server below is written from the official ``fal-client`` package (1.0.3) alone:
``client.py``'s ``AsyncClient.submit`` (``POST {queue}/{endpoint}`` answered with
``request_id``, ``response_url``, ``status_url``, ``cancel_url``), ``AppId.from_endpoint_id``
and ``AsyncRequestHandle.from_request_id`` (later calls under ``/{owner}/{alias}/requests/
{id}``), ``_BaseRequestHandle._parse_status`` (``IN_QUEUE`` + ``queue_position``,
``IN_PROGRESS`` + ``logs``, ``COMPLETED`` + ``logs``, ``metrics`` (legacy apps send none),
``error``, ``error_type``), ``AsyncRequestHandle.get`` / ``cancel`` (``GET`` the response
URL, ``PUT`` the cancel URL), ``_raise_for_status`` (an error's ``detail``, its
``error_type`` in the body or the ``x-fal-error-type`` header) and ``_is_ingress_error``
(a 502/503/504 carrying ``x-fal-request-id`` "is clearly returned from our server"). Cancel
answers as fal documents them: 202 ``CANCELLATION_REQUESTED``, 400 ``ALREADY_COMPLETED``,
404 ``NOT_FOUND``. It imports nothing of ``soravideo.testing``.

Each scenario drives soravideo through its public API only and ends with the same checks:
every request the server made is owned by exactly one job (a job failed
``ambiguous_submission`` may stand for one request nobody can name), no job is left
unfinished, nothing was created twice.

A scenario marked ``xfail(strict=True)`` is a gap known and left, said in its reason (run
with ``--runxfail`` to see the failure itself); a fix turns it into a pass, which the strict
marker then reports.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

import soravideo as sv
from e2e import independent_kit
from soravideo.repositories import MemoryRepository, SQLiteRepository
from soravideo.transports import FalTransport

API_KEY = "fal-probe-key-0123456789"
API = "http://queue.fal.invalid"
CDN = "http://cdn.fal.invalid/cdn"
START = 1_900_000_000.0
ENDPOINT = "fal-ai/kling-video/v2.5-turbo/pro/text-to-video"
APP = "fal-ai/kling-video"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"independent-fal-video" * 40
POLL = {"poll_min_interval": 2.0, "poll_max_interval": 15.0}


@pytest.fixture
def fake() -> None:
    """No soravideo fake here: the e2e conftest's exactly-once hook looks for one and skips."""
    return None


# --------------------------------------------------------------------------- the server


@attrs.define
class Plan:
    """How one request evolves, in seconds from its submission (the server's clock)."""

    queued: float = 10.0
    running: float = 40.0
    outcome: str = "video"  # "video", or "error": the model failed
    # "error" outcome: what the status and the result say.
    status_error: str | None = "Model failed"
    status_error_type: str | None = "runner_server_error"
    result_status: int = 422
    result_body: Any = attrs.field(
        factory=lambda: {"detail": [{"loc": ["body"], "msg": "bad", "type": "value_error"}]}
    )
    result_headers: dict[str, str] = attrs.field(factory=dict)
    logs_key: bool = True  # False: no logs key at all
    metrics_key: bool = True  # False: a legacy app's COMPLETED without metrics
    position_null: bool = False  # IN_QUEUE with queue_position null
    result_ttl: float = 3600.0  # the result readable this long after completion
    object_ttl: float = 7 * 86_400.0  # the video on the CDN this long
    cancel_queued: str = "gone"  # after a cancel while queued: "gone" (404) or "error"
    honours_cancel: bool = True  # False: a running request finishes anyway


@attrs.define
class Request:
    id: str
    app: str
    created: float
    body: dict[str, Any]
    plan: Plan
    forced_end: float | None = None
    cancel_at: float | None = None
    cancel_while: str | None = None
    gone_at: float | None = None


@attrs.define
class Fault:
    method: str
    path_contains: str
    status: int
    headers: dict[str, str] = attrs.field(factory=dict)
    body: Any = None
    act_first: bool = False
    times: int = 1
    skip: int = 0
    fired: int = 0


class IndependentFal:
    def __init__(self, now: Callable[[], float], *, plan: Callable[[], Plan] | None = None):
        self.now = now
        self.plan = plan or Plan
        self.cdn = CDN
        self.requests: dict[str, Request] = {}
        self.created: list[str] = []
        self.log: list[tuple[float, str, str, int]] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()

    def fault(self, method: str, path_contains: str, status: int, **kwargs: Any) -> Fault:
        fault = Fault(method, path_contains, status, **kwargs)
        self.faults.append(fault)
        return fault

    def calls(self, method: str, contains: str = "") -> list[tuple[float, str, str, int]]:
        return [e for e in self.log if e[1] == method and contains in e[2]]

    def posts(self) -> int:
        return len(self.calls("POST"))

    # ---------------------------------------------------------------- state

    def phase(self, req: Request, now: float) -> str:
        p = req.plan
        if req.forced_end is not None and now >= req.forced_end:
            return "COMPLETED"
        age = now - req.created
        if (
            req.cancel_at is not None
            and now >= req.cancel_at
            and (req.cancel_while == "IN_QUEUE" or p.honours_cancel)
        ):
            return "CANCELLED"
        if age < p.queued:
            return "IN_QUEUE"
        if age < p.queued + p.running:
            return "IN_PROGRESS"
        return "COMPLETED"

    def end_time(self, req: Request) -> float:
        natural = req.created + req.plan.queued + req.plan.running
        return natural if req.forced_end is None else min(natural, req.forced_end)

    def _status(self, req: Request, now: float) -> tuple[int, dict[str, Any]]:
        phase = self.phase(req, now)
        base = {
            "request_id": req.id,
            "response_url": f"{API}/{req.app}/requests/{req.id}",
            "status_url": f"{API}/{req.app}/requests/{req.id}/status",
            "cancel_url": f"{API}/{req.app}/requests/{req.id}/cancel",
        }
        p = req.plan
        if phase == "CANCELLED":
            if req.cancel_while == "IN_QUEUE" and p.cancel_queued == "gone":
                return 404, {"detail": "Request not found"}
            return 200, {
                **base,
                "status": "COMPLETED",
                "logs": [],
                "metrics": {},
                "error": "Request cancelled by client",
                "error_type": "client_cancelled",
            }
        if phase == "IN_QUEUE":
            ahead = None if p.position_null else max(0, int((p.queued - (now - req.created)) / 5))
            return 200, {**base, "status": "IN_QUEUE", "queue_position": ahead}
        out: dict[str, Any] = {**base, "status": phase}
        if p.logs_key:
            out["logs"] = None  # logs=0 asked: fal answers null
        if phase == "COMPLETED":
            if p.metrics_key:
                out["metrics"] = {"inference_time": p.running}
            if p.outcome == "error":
                if p.status_error is not None:
                    out["error"] = p.status_error
                if p.status_error_type is not None:
                    out["error_type"] = p.status_error_type
        return 200, out

    def _result(self, req: Request, now: float) -> tuple[int, dict[str, str], Any]:
        phase = self.phase(req, now)
        if phase == "CANCELLED":
            if req.cancel_while == "IN_QUEUE" and req.plan.cancel_queued == "gone":
                return 404, {}, {"detail": "Request not found"}
            return (
                400,
                {},
                {"detail": "Request cancelled by client", "error_type": "client_cancelled"},
            )
        if phase != "COMPLETED":
            return 400, {}, {"detail": "Request is still in progress"}
        if now > self.end_time(req) + req.plan.result_ttl:
            return 404, {}, {"detail": "Request not found"}
        if req.plan.outcome == "error":
            return req.plan.result_status, req.plan.result_headers, req.plan.result_body
        return (
            200,
            {},
            {
                "video": {
                    "url": f"{self.cdn}/{req.id}/output.mp4",
                    "content_type": "video/mp4",
                    "file_name": "output.mp4",
                    "file_size": len(VIDEO),
                },
                "seed": 42,
                "timings": {"inference": 12.5},
            },
        )

    # ---------------------------------------------------------------- HTTP

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Any:
        with self.lock:
            now = self.now()
            status, out_headers, out = self._route(method, path, headers, body, now)
            self.log.append((now, method, path, status))
            return status, out_headers, out

    @staticmethod
    def _json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
        return (
            status,
            {"content-type": "application/json", **(headers or {})},
            (json.dumps(payload).encode()),
        )

    def _route(self, method: str, path: str, headers: Mapping[str, str], body: bytes, now: float):
        h = {k.lower(): v for k, v in headers.items()}
        if path.startswith("/cdn/"):
            return self._download(path, h, now)
        for fault in self.faults:
            if fault.fired < fault.times and method == fault.method and fault.path_contains in path:
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.fired += 1
                if fault.act_first:
                    self._api(method, path, h, body, now)
                if fault.status == 0:
                    return 0, {}, b""
                return self._json(fault.status, fault.body or {"detail": "injected"}, fault.headers)
        return self._api(method, path, h, body, now)

    def _api(self, method: str, path: str, h: Mapping[str, str], body: bytes, now: float):
        if h.get("authorization") != f"Key {API_KEY}":
            return self._json(401, {"detail": "Invalid key"})
        parts = path.strip("/").split("/")
        if "requests" in parts:
            i = parts.index("requests")
            app, rid, rest = "/".join(parts[:i]), parts[i + 1], parts[i + 2 :]
            req = self.requests.get(rid)
            if req is None or req.app != app or req.gone_at is not None:
                return self._json(404, {"status": "NOT_FOUND", "detail": "Request not found"})
            if method == "GET" and rest == ["status"]:
                status, payload = self._status(req, now)
                return self._json(status, payload, {"x-fal-request-id": rid})
            if method == "GET" and rest == []:
                status, extra, payload = self._result(req, now)
                return self._json(status, payload, {"x-fal-request-id": rid, **extra})
            if method == "PUT" and rest == ["cancel"]:
                phase = self.phase(req, now)
                if phase in ("IN_QUEUE", "IN_PROGRESS"):
                    req.cancel_at, req.cancel_while = now, phase
                    return self._json(202, {"status": "CANCELLATION_REQUESTED"})
                if phase == "CANCELLED":
                    return self._json(202, {"status": "CANCELLATION_REQUESTED"})
                return self._json(400, {"status": "ALREADY_COMPLETED"})
            return self._json(405, {"detail": "Method not allowed"})
        if method == "POST":
            payload = json.loads(body or b"{}")
            rid = str(uuid.uuid4())
            app = "/".join(parts[:2])
            req = Request(rid, app, now, payload, self.plan())
            self.requests[rid] = req
            self.created.append(rid)
            return self._json(
                200,
                {
                    "request_id": rid,
                    "response_url": f"{API}/{app}/requests/{rid}",
                    "status_url": f"{API}/{app}/requests/{rid}/status",
                    "cancel_url": f"{API}/{app}/requests/{rid}/cancel",
                    "queue_position": len(self.requests) - 1,
                    "gateway_region": "us-east",  # a field the client does not know
                },
                {"x-fal-request-id": rid},
            )
        return self._json(404, {"detail": "Not found"})

    def _download(self, path: str, h: Mapping[str, str], now: float):
        if "authorization" in h:
            return 400, {"content-type": "text/plain"}, b"no auth on the CDN"
        parts = path.split("/")
        req = self.requests.get(parts[2]) if len(parts) == 4 else None
        if req is None or now > self.end_time(req) + req.plan.object_ttl:
            return 404, {"content-type": "text/plain"}, b"Not Found"
        return 200, {"content-type": "video/mp4"}, VIDEO

    def mock_transport(self) -> httpx.MockTransport:
        return independent_kit.mock_transport(lambda m, p, q, h, b: self.handle(m, p, h, b))

    def serve(self) -> contextlib.AbstractContextManager[str]:
        """Serve on a real loopback port (127.0.0.1); the base URL is what it yields."""
        return independent_kit.serve(lambda m, p, q, h, b: self.handle(m, p, h, b))


# --------------------------------------------------------------------------- the client side


@attrs.define
class Rig:
    server: IndependentFal
    clock: sv.VirtualClock
    http_clients: list[httpx.AsyncClient] = attrs.field(factory=list)

    def client(self, repository: Any = None, **settings: Any) -> sv.AsyncSoraVideo:
        http_client = httpx.AsyncClient(transport=self.server.mock_transport())
        self.http_clients.append(http_client)
        transport = FalTransport(
            base_url=API,
            api_key=API_KEY,
            http_client=http_client,
            clock=self.clock,
            default_model=ENDPOINT,
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
    made = Rig(server=IndependentFal(clock.time), clock=clock)
    try:
        yield made
    finally:
        await made.aclose()


def _request_of(remote_id: str) -> str:
    return remote_id.rsplit(":", 1)[-1]  # soravideo's "app:request" id, as fal names it


def check_settled(
    server: IndependentFal, jobs: list[sv.Job], *, creates: int | None = None
) -> None:
    """The scenario's end: exactly once, nothing unfinished, nothing created twice."""
    independent_kit.check_exactly_once(
        server.created, server.requests, jobs, creates=creates, key=_request_of
    )


def rid_of(job: sv.Job) -> str:
    assert job.remote_id is not None
    return job.remote_id.rsplit(":", 1)[-1]


REQUEST = sv.CreateVideoRequest(prompt="A red fox trots through fresh snow", duration=5)


async def settle(client: sv.AsyncSoraVideo, job: sv.Job, seconds: float) -> sv.Job:
    with contextlib.suppress(sv.JobTimeoutError):
        return await client.videos.wait_for_job(job.id, timeout=seconds)
    return await client.videos.get_job(job.id)


# --------------------------------------------------------------------------- scenarios


@pytest.mark.anyio
@pytest.mark.parametrize(
    "plan",
    [
        Plan(),
        Plan(logs_key=False, metrics_key=False, position_null=True),
        Plan(queued=0, running=1),
        Plan(queued=900, running=300),
    ],
    ids=["plain", "sparse-fields", "instant", "long-queue"],
)
async def test_queue_progress_completed_downloaded(rig: Rig, tmp_path: Path, plan: Plan) -> None:
    rig.server.plan = lambda: attrs.evolve(plan)
    async with rig.client(download_dir=tmp_path / "v") as client:
        job = await client.videos.create_video(REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=3600)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    assert job.result is not None and job.result.path is not None
    assert Path(job.result.path).read_bytes() == VIDEO
    check_settled(rig.server, [job], creates=1)
    assert len(rig.server.calls("GET", "/status")) <= (plan.queued + plan.running) / 2 + 6


@pytest.mark.anyio
async def test_completed_with_error_on_status(rig: Rig) -> None:
    rig.server.plan = lambda: Plan(
        outcome="error", status_error="Model crashed", status_error_type="runner_server_error"
    )
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert job.status is sv.JobStatus.FAILED and job.error is not None
    assert job.error.code == "runner_server_error"
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_completed_without_error_fields_result_422_detail_list(rig: Rig) -> None:
    """A model's validation error: status COMPLETED (no error key), result 422 detail list."""
    rig.server.plan = lambda: Plan(outcome="error", status_error=None, status_error_type=None)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert job.status is sv.JobStatus.FAILED and job.error is not None
    assert job.error.code == "value_error"
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_result_500_with_error_type_header_only(rig: Rig) -> None:
    rig.server.plan = lambda: Plan(
        outcome="error",
        status_error=None,
        status_error_type=None,
        result_status=500,
        result_body={"detail": "Runner failed"},
        result_headers={"x-fal-error-type": "runner_server_error"},
        result_ttl=86_400,
    )
    async with rig.client() as client:
        # Fifteen minutes: time enough for the first read of the result to fail the job.
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert job.status is sv.JobStatus.FAILED, job.status
    assert job.error is not None and job.error.code == "runner_server_error", job.error
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize("retry_after", [None, "7", "0"])
async def test_429_on_create_and_reads(rig: Rig, retry_after: str | None) -> None:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    rig.server.fault("POST", "/fal-ai/", 429, headers=headers, times=2)
    rig.server.fault("GET", "/status", 429, headers=headers, times=3)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 504])
@pytest.mark.parametrize("act_first", [True, False])
async def test_5xx_on_create_is_ambiguous(rig: Rig, status: int, act_first: bool) -> None:
    rig.server.fault("POST", "/fal-ai/", status, act_first=act_first)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert job.status is sv.JobStatus.FAILED and job.error is not None
    assert job.error.code == "ambiguous_submission"
    assert rig.server.posts() == 1
    check_settled(rig.server, [job], creates=1 if act_first else 0)


@pytest.mark.anyio
async def test_503_from_fal_itself_after_the_request_was_made(rig: Rig) -> None:
    # From fal's own server (it names the request): fal may have queued it, and with no
    # keys and no list it is never sent again (the official client's _is_ingress_error).
    rig.server.fault("POST", "/fal-ai/", 503, act_first=True, headers={"x-fal-request-id": "r-1"})
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert job.error is not None and job.error.code == "ambiguous_submission", job.error
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_503_ingress_page_before_anything_was_made_is_resent(rig: Rig) -> None:
    rig.server.fault("POST", "/fal-ai/", 503, body={"detail": "<html>nginx</html>"})
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_read_timeout_on_create(rig: Rig) -> None:
    rig.server.fault("POST", "/fal-ai/", 0, act_first=True)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert job.error is not None and job.error.code == "ambiguous_submission"
    assert rig.server.posts() == 1
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_on_status_and_result_reads(rig: Rig, status: int) -> None:
    rig.server.fault("GET", "/status", status, times=6)
    rig.server.fault("GET", "/requests/", status, times=12, skip=8)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 3600)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize("after", ["gone", "error"])
async def test_cancel_while_queued(rig: Rig, after: str) -> None:
    rig.server.plan = lambda: Plan(queued=300, running=60, cancel_queued=after)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
        job = await client.videos.cancel_job(job.id)
        with anyio.move_on_after(1):
            with rig.clock.waiting():
                await rig.clock.sleep(600)
        job = await client.videos.get_job(job.id)
    assert job.status is sv.JobStatus.CANCELLED
    assert rig.server.requests[rid_of(job)].cancel_while == "IN_QUEUE"
    assert [c[3] for c in rig.server.calls("PUT")] == [202]
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_cancel_racing_completion_already_completed(rig: Rig) -> None:
    """The request finished, unseen; the cancel answers 400 ALREADY_COMPLETED: the job
    completes with its video (it was made and paid for)."""
    rig.server.plan = lambda: Plan(queued=0, running=600)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=60)
        job = await client.videos.get_job(job.id)
        rig.server.requests[rid_of(job)].forced_end = rig.clock.time()
        try:
            job = await client.videos.cancel_job(job.id)
        except sv.JobStateError:
            job = await client.videos.get_job(job.id)
        job = await settle(client, job, 120)
    assert [c[3] for c in rig.server.calls("PUT")] in ([], [400])
    assert job.status is sv.JobStatus.COMPLETED, job.status
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_cancel_on_timeout_of_a_request_that_finished_unseen(rig: Rig) -> None:
    rig.server.plan = lambda: Plan(queued=0, running=600)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=60)
        job = await client.videos.get_job(job.id)
        rig.server.requests[rid_of(job)].forced_end = rig.clock.time()
        try:
            job = await client.videos.wait_for_job(job.id, timeout=0.01, cancel_on_timeout=True)
        except sv.JobTimeoutError:
            job = await client.videos.get_job(job.id)
    assert job.status is sv.JobStatus.COMPLETED, job.status
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_cancel_requested_while_running_but_the_runner_finishes(rig: Rig) -> None:
    """fal's cancel of a running request is only a request (202): this runner ignores it
    and the video is made. The job is cancelled (what the user asked) and owns it."""
    rig.server.plan = lambda: Plan(queued=0, running=120, honours_cancel=False)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
        job = await client.videos.cancel_job(job.id)
        with anyio.move_on_after(1):
            with rig.clock.waiting():
                await rig.clock.sleep(600)
        job = await client.videos.get_job(job.id)
    assert job.status in (sv.JobStatus.CANCELLED, sv.JobStatus.COMPLETED)
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_a_request_that_disappears(rig: Rig) -> None:
    rig.server.plan = lambda: Plan(queued=0, running=300)
    async with rig.client() as client:
        a = await client.videos.create_video(REQUEST)
        b = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(a.id, timeout=30)
        a = await client.videos.get_job(a.id)
        rig.server.requests[rid_of(a)].gone_at = rig.clock.time()
        b = await settle(client, b, 1800)
        a = await settle(client, a, 1800)
    assert b.status is sv.JobStatus.COMPLETED, b.error
    assert a.status is sv.JobStatus.FAILED and a.error is not None
    assert a.error.code == "remote_missing"
    check_settled(rig.server, [a, b], creates=2)


@pytest.mark.anyio
async def test_result_expired_when_read_late(rig: Rig, tmp_path: Path) -> None:
    """Closed while running; resumed two hours later: fal no longer holds the result (404
    after its hour). The job is not left processing, and is not created again."""
    ledger = tmp_path / "ledger.db"
    rig.server.plan = lambda: Plan(queued=0, running=120, result_ttl=3600)
    async with rig.client(SQLiteRepository(ledger)) as client:
        job = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
    rig.clock.advance(2 * 3600)
    async with rig.client(SQLiteRepository(ledger)) as client:
        await client.resume()
        job = await settle(client, job, 600)
    assert job.status is sv.JobStatus.FAILED and job.error is not None
    assert job.error.code == "result_expired"
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_cdn_object_gone_download_fails_cleanly(rig: Rig, tmp_path: Path) -> None:
    rig.server.plan = lambda: Plan(queued=0, running=30, object_ttl=7200)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 600)
        assert job.status is sv.JobStatus.COMPLETED
        got = await client.videos.download_video(job.id, tmp_path / "one.mp4")
        assert Path(got).read_bytes() == VIDEO
        rig.clock.advance(3 * 3600)
        with pytest.raises(sv.SoraVideoError):
            await client.videos.download_video(job.id, tmp_path / "two.mp4")
        job = await client.videos.get_job(job.id)
    assert job.status is sv.JobStatus.COMPLETED
    assert not (tmp_path / "two.mp4").exists()
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_close_mid_flight_then_resume(rig: Rig, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    rig.server.plan = lambda: Plan(queued=60, running=120)
    async with rig.client(SQLiteRepository(ledger)) as client:
        ids = [(await client.videos.create_video(REQUEST)).id for _ in range(3)]
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(ids[0], timeout=40)
    rig.clock.advance(600)
    async with rig.client(SQLiteRepository(ledger), download_dir=tmp_path / "v") as client:
        summary = await client.resume()
        jobs = [await settle(client, await client.videos.get_job(i), 900) for i in ids]
    assert summary.jobs == 3
    assert [j.status for j in jobs] == [sv.JobStatus.COMPLETED] * 3, [j.error for j in jobs]
    assert all(j.result and j.result.path for j in jobs)
    check_settled(rig.server, jobs, creates=3)


@pytest.mark.anyio
async def test_status_answers_another_request_id(rig: Rig) -> None:
    """A status answer about another request (a gateway mix-up): never adopted."""
    rig.server.plan = lambda: Plan(queued=0, running=60)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=10)
        job = await client.videos.get_job(job.id)
        req = rig.server.requests[rid_of(job)]
        other = Request("other-" + req.id, req.app, req.created, {}, Plan(queued=0, running=1))
        rig.server.requests[other.id] = other
        rig.server.fault(
            "GET",
            "/status",
            200,
            times=2,
            body={
                "status": "COMPLETED",
                "request_id": other.id,
                "logs": None,
                "metrics": {},
            },
        )
        job = await settle(client, job, 900)
    assert job.status is sv.JobStatus.COMPLETED
    check_settled(rig.server, [job], creates=1)


# --------------------------------------------------------------------------- loopback


def test_loopback_server_real_time(tmp_path: Path) -> None:
    server = IndependentFal(time.time)
    with server.serve() as url:
        server.cdn = url + "/cdn"
        server.plan = lambda: (
            Plan(queued=5, running=5) if len(server.created) >= 2 else Plan(queued=0.2, running=0.4)
        )
        server.fault("POST", "/fal-ai/", 502, act_first=True, skip=1)

        async def main() -> list[sv.Job]:
            transport = FalTransport(
                base_url=url, api_key=API_KEY, default_model=ENDPOINT, min_poll_interval=0.0
            )
            transport.retry_policy = attrs.evolve(transport.retry_policy, base=0.02, cap=0.1)
            async with sv.AsyncSoraVideo(
                transport=transport,
                repository=SQLiteRepository(tmp_path / "ledger.db"),
                poll_min_interval=0.05,
                poll_max_interval=0.25,
                request_timeout=5.0,
                download_dir=tmp_path / "videos",
            ) as client:
                first = await client.videos.create_video(REQUEST)
                second = await client.videos.create_video(REQUEST)
                server.fault("GET", "/status", 429, headers={"retry-after": "0"}, times=2)
                server.fault("GET", "/status", 503, times=1)
                done = [await client.videos.wait_for_job(j.id, timeout=20) for j in (first, second)]
                sent = anyio.Event()

                async def on_submitted(event: sv.JobEvent) -> None:
                    sent.set()

                client.on("submitted", on_submitted)
                third = await client.videos.create_video(REQUEST)
                with anyio.fail_after(20):
                    await sent.wait()
                cancelled = await client.videos.cancel_job(third.id)
                return [*done, cancelled]

        jobs = anyio.run(main)
    made, lost = sorted(jobs[:2], key=lambda j: j.status is not sv.JobStatus.COMPLETED)
    assert (made.status, lost.status, jobs[2].status) == (
        sv.JobStatus.COMPLETED,
        sv.JobStatus.FAILED,
        sv.JobStatus.CANCELLED,
    ), [j.error for j in jobs]
    assert lost.error is not None and lost.error.code == "ambiguous_submission"
    assert made.result is not None and made.result.path is not None
    assert Path(made.result.path).read_bytes() == VIDEO
    check_settled(server, jobs, creates=3)
