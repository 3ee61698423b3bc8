"""soravideo's Runway transport and engine against an independent Runway server.

The server below is written from the official ``runwayml`` package (5.24.0) alone:
``types/task_retrieve_response.py`` (the six task shapes: ``PENDING`` and ``THROTTLED`` with
``estimatedCost`` and no ``progress``, ``RUNNING`` with ``progress``, ``SUCCEEDED`` with
``cost`` and ``output: List[str]``, ``FAILED`` with ``failure`` and an optional
``failureCode``, ``CANCELLED`` with ``cost``), ``types/text_to_video_create_response.py``
(``{id, estimatedCost}``), ``resources/tasks.py`` (``DELETE /v1/tasks/{id}`` cancels a
pending, throttled or running task and deletes any other; "aborted and deleted tasks will
not be able to be fetched again") and ``_client.py`` (``X-Runway-Version: 2024-11-06``). It
imports nothing of ``soravideo.testing`` (neither FakeRunway nor the shared fake server).

Each scenario drives soravideo through its public API only and ends with the same checks:
every task the server created is owned by exactly one job (a job failed
``ambiguous_submission`` may stand for one task nobody can name), no job is left unfinished,
nothing was created twice, and the status reads stay within what the poll settings allow.

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
from soravideo.transports import RunwayTransport

API_KEY = "key_probe_0123456789abcdef"
VERSION = "2024-11-06"
API = "http://api.runway.invalid"
CDN = "http://cdn.runway.invalid/cdn"
START = 1_900_000_000.0
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"independent-runway-video" * 40
# Poll settings of every in-process scenario (Runway's own 5 s floor applies on top).
POLL = {"poll_min_interval": 5.0, "poll_max_interval": 15.0}


@pytest.fixture
def fake() -> None:
    """No soravideo fake here: the e2e conftest's exactly-once hook looks for one and skips."""
    return None


# --------------------------------------------------------------------------- the server


@attrs.define
class Plan:
    """How one task evolves, in seconds from its creation (the server's clock)."""

    throttled: float = 0.0
    pending: float = 2.0
    running: float = 40.0
    outcome: str = "SUCCEEDED"  # or "FAILED"
    failure: str = "The generation failed."
    failure_code: str | None = None
    failure_code_key: bool = True  # False: no failureCode key at all (it is Optional)
    outputs: int = 1
    running_progress: bool = True  # False: RUNNING without progress (robustness)
    url_ttl: float = 86_400.0
    final_credits: int | None = None  # default: the estimate, rounded


@attrs.define
class Task:
    id: str
    created: float
    model: str
    duration: int
    body: dict[str, Any]
    plan: Plan
    estimate: float
    forced_end: float | None = None
    cancelled_at: float | None = None
    cancelled_while: str | None = None
    deleted_at: float | None = None

    @property
    def gone(self) -> bool:
        return self.cancelled_at is not None or self.deleted_at is not None


@attrs.define
class Fault:
    """An answer put in place of the real one for requests matching ``method path``.

    ``act_first``: the request is carried out before the fault is answered (a create
    that made its task, then a 502 from the gateway: an ambiguous create).
    """

    method: str
    path_prefix: str
    status: int
    headers: dict[str, str] = attrs.field(factory=dict)
    act_first: bool = False
    times: int = 1
    skip: int = 0  # matching requests let through first
    until: float | None = None  # active only before this time (an outage's end)
    fired: int = 0


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class IndependentRunway:
    """Runway's public API as the official client types it; time from ``now``."""

    def __init__(
        self,
        now: Callable[[], float],
        *,
        plan: Callable[[dict[str, Any]], Plan] | None = None,
        cdn: str = CDN,
    ) -> None:
        self.now = now
        self.plan = plan or (lambda body: Plan())
        self.cdn = cdn
        self.tasks: dict[str, Task] = {}
        self.created: list[str] = []
        self.log: list[tuple[float, str, str, int]] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()

    # ---------------------------------------------------------------- helpers for tests

    def fault(self, method: str, path_prefix: str, status: int, **kwargs: Any) -> Fault:
        fault = Fault(method, path_prefix, status, **kwargs)
        self.faults.append(fault)
        return fault

    def reads(self, task_id: str | None = None) -> int:
        return sum(
            1
            for _, method, path, _ in self.log
            if method == "GET"
            and path.startswith("/v1/tasks/")
            and (task_id is None or path.endswith(task_id))
        )

    def deletes(self, task_id: str | None = None) -> list[tuple[float, int]]:
        return [
            (t, status)
            for t, method, path, status in self.log
            if method == "DELETE" and (task_id is None or path.endswith(task_id))
        ]

    def finish_now(self, task_id: str) -> None:
        """End the task at once (as the plan says it ends) without the clock moving."""
        self.tasks[task_id].forced_end = self.now()

    def delete_out_of_band(self, task_id: str) -> None:
        """The task is deleted elsewhere (the dashboard, another tool, retention)."""
        self.tasks[task_id].deleted_at = self.now()

    # ---------------------------------------------------------------- the task's state

    def _phase(self, task: Task, now: float) -> tuple[str, float]:
        p = task.plan
        age = now - task.created
        end = p.throttled + p.pending + p.running
        if task.forced_end is not None and now >= task.forced_end:
            return p.outcome, 1.0
        if age < p.throttled:
            return "THROTTLED", 0.0
        if age < p.throttled + p.pending:
            return "PENDING", 0.0
        if age < end:
            return "RUNNING", (age - p.throttled - p.pending) / p.running
        return p.outcome, 1.0

    def _end_time(self, task: Task) -> float:
        p = task.plan
        natural = task.created + p.throttled + p.pending + p.running
        return min(natural, task.forced_end) if task.forced_end is not None else natural

    def _resource(self, task: Task, now: float) -> dict[str, Any]:
        status, fraction = self._phase(task, now)
        body: dict[str, Any] = {
            "id": task.id,
            "status": status,
            "createdAt": _iso(task.created),
            # Fields the client types do not know (the API may add any).
            "organizationId": "org_probe",
            "meta": {"region": "us-east", "attempt": 1, "tags": ["a", None, 3.5]},
        }
        if status in ("PENDING", "THROTTLED", "RUNNING"):
            body["estimatedCost"] = {"credits": task.estimate}
            if status == "RUNNING" and task.plan.running_progress:
                body["progress"] = round(fraction, 4)
            return body
        final = task.plan.final_credits
        credits = round(task.estimate) if final is None else final
        if status == "SUCCEEDED":
            body["cost"] = {"credits": credits}
            # Signed at each read, as the docs say ("fetch the task again to get fresh URLs").
            expires = int(now + task.plan.url_ttl)
            body["output"] = [
                f"{self.cdn}/{task.id}/{n}.mp4?exp={expires}&sig={uuid.uuid4().hex}"
                for n in range(task.plan.outputs)
            ]
            body["outputMetadata"] = [{"width": 1280, "height": 720}] * task.plan.outputs
        else:  # FAILED
            body["cost"] = {"credits": 0}
            body["failure"] = task.plan.failure
            if task.plan.failure_code_key:
                body["failureCode"] = task.plan.failure_code
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
            {"content-type": "application/json", **(headers or {})},
            json.dumps(payload).encode(),
        )

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Any:
        return self._json(status, {"error": message}, headers)

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
        if path.startswith("/cdn/"):
            return self._download(path, query, lowered, now)
        for fault in self.faults:
            if (
                fault.fired < fault.times
                and method == fault.method
                and path.startswith(fault.path_prefix)
            ):
                if fault.until is not None and now >= fault.until:
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.fired += 1
                if fault.act_first:
                    self._route_api(method, path, lowered, body, now)
                return self._error(fault.status, "injected fault", fault.headers)
        return self._route_api(method, path, lowered, body, now)

    def _route_api(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, now: float
    ) -> tuple[int, dict[str, str], bytes]:
        if headers.get("authorization") != f"Bearer {API_KEY}":
            return self._error(401, "Invalid API key")
        if headers.get("x-runway-version") != VERSION:
            return self._error(400, "X-Runway-Version header is missing or invalid")
        if method == "POST" and path in ("/v1/text_to_video", "/v1/image_to_video"):
            return self._create(body, now)
        if path == "/v1/organization" and method == "GET":
            return self._json(200, {"creditBalance": 10_000, "tier": {}, "usage": {}})
        if path.startswith("/v1/tasks/"):
            task = self.tasks.get(path.removeprefix("/v1/tasks/"))
            if task is None or task.gone:
                return self._error(404, "Task not found")
            if method == "GET":
                return self._json(200, self._resource(task, now))
            if method == "DELETE":
                status, _ = self._phase(task, now)
                if status in ("PENDING", "THROTTLED", "RUNNING"):
                    task.cancelled_at, task.cancelled_while = now, status
                else:
                    task.deleted_at = now
                return 204, {}, b""
        return self._error(404, "Not found")

    def _create(self, raw: bytes, now: float) -> tuple[int, dict[str, str], bytes]:
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(400, "Invalid JSON")
        if not isinstance(body, dict) or "model" not in body or "promptText" not in body:
            return self._json(400, {"error": "Validation of body failed", "issues": []})
        duration = int(body.get("duration") or 5)
        task = Task(
            id=str(uuid.uuid4()),
            created=now,
            model=str(body["model"]),
            duration=duration,
            body=body,
            plan=self.plan(body),
            estimate=float(duration * 12),
        )
        self.tasks[task.id] = task
        self.created.append(task.id)
        return self._json(
            200, {"id": task.id, "estimatedCost": {"credits": task.estimate}, "extra": [1]}
        )

    def _download(
        self, path: str, query: Mapping[str, str], headers: Mapping[str, str], now: float
    ) -> tuple[int, dict[str, str], bytes]:
        if "authorization" in headers:
            return 400, {"content-type": "application/xml"}, b"<Error>two auths</Error>"
        parts = path.split("/")  # "", "cdn", task, "n.mp4"
        task = self.tasks.get(parts[2]) if len(parts) == 4 else None
        if task is None or task.deleted_at is not None:
            return 404, {"content-type": "application/xml"}, b"<Error>NoSuchKey</Error>"
        if float(query.get("exp", "0")) <= now:
            return 403, {"content-type": "application/xml"}, b"<Error>Request has expired</Error>"
        return 200, {"content-type": "video/mp4"}, VIDEO

    def mock_transport(self) -> httpx.MockTransport:
        return independent_kit.mock_transport(self.handle)

    def serve(self) -> contextlib.AbstractContextManager[str]:
        """Serve on a real loopback port (127.0.0.1); the base URL is what it yields."""
        return independent_kit.serve(self.handle)


# --------------------------------------------------------------------------- the client side


@attrs.define
class Rig:
    server: IndependentRunway
    clock: sv.VirtualClock
    http_clients: list[httpx.AsyncClient] = attrs.field(factory=list)

    def client(
        self, repository: Any = None, *, base_url: str = API, **settings: Any
    ) -> sv.AsyncSoraVideo:
        http_client = httpx.AsyncClient(transport=self.server.mock_transport())
        self.http_clients.append(http_client)
        transport = RunwayTransport(
            base_url=base_url, api_key=API_KEY, http_client=http_client, clock=self.clock
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
    made = Rig(server=IndependentRunway(clock.time), clock=clock)
    try:
        yield made
    finally:
        await made.aclose()


def check_settled(
    server: IndependentRunway, jobs: list[sv.Job], *, creates: int | None = None
) -> None:
    """The scenario's end: exactly once, nothing unfinished, nothing created twice."""
    independent_kit.check_exactly_once(server.created, server.tasks, jobs, creates=creates)


def read_bound(server: IndependentRunway, task_id: str, *, slack: int = 4) -> int:
    """The most status reads a task's life justifies: one per Runway's 5 s floor while it
    was unfinished, plus a few (the end, a download's fresh URL, retries)."""
    task = server.tasks[task_id]
    ended = task.cancelled_at or server._end_time(task)
    return int((ended - task.created) / 5.0) + 1 + slack


REQUEST = sv.CreateVideoRequest(prompt="A red fox trots through fresh snow", duration=5)


# --------------------------------------------------------------------------- scenarios


@pytest.mark.anyio
async def test_throttled_pending_running_several_outputs_extra_fields(
    rig: Rig, tmp_path: Path
) -> None:
    """THROTTLED for two minutes, PENDING (no progress), RUNNING without and with progress,
    SUCCEEDED with three output URLs, unknown fields everywhere, a final cost below the
    estimate: completed, the first URL downloaded, the final cost recorded."""
    plans = iter(
        [
            Plan(throttled=120, pending=10, running=60, outputs=3, final_credits=48),
            Plan(throttled=0, pending=5, running=30, running_progress=False, outputs=1),
        ]
    )
    rig.server.plan = lambda body: next(plans)
    async with rig.client(download_dir=tmp_path / "videos") as client:
        jobs = [await client.videos.create_video(REQUEST) for _ in range(2)]
        done = [await client.videos.wait_for_job(j.id, timeout=3600) for j in jobs]
    assert [j.status for j in done] == [sv.JobStatus.COMPLETED] * 2, [j.error for j in done]
    first = done[0]
    assert first.result is not None and first.result.path is not None
    assert Path(first.result.path).read_bytes() == VIDEO
    assert first.result.url is not None and f"/{first.remote_id}/0.mp4" in first.result.url
    assert first.cost_credits == 48
    check_settled(rig.server, done, creates=2)
    for job in done:
        assert job.remote_id is not None
        assert rig.server.reads(job.remote_id) <= read_bound(rig.server, job.remote_id)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("code", "key", "retryable"),
    [
        ("SAFETY.INPUT.TEXT", True, False),
        ("SAFETY.OUTPUT.VIDEO", True, False),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", True, False),
        ("INTERNAL.BAD_OUTPUT.CODE01", True, True),
        ("INPUT_PREPROCESSING.INTERNAL", True, True),
        ("ASSET.INVALID", True, False),
        (None, True, False),  # failureCode: null
        (None, False, False),  # no failureCode key (Optional in the client's type)
    ],
)
async def test_failed_with_failure_codes(
    rig: Rig, code: str | None, key: bool, retryable: bool
) -> None:
    rig.server.plan = lambda body: Plan(
        throttled=30, running=20, outcome="FAILED", failure_code=code, failure_code_key=key
    )
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=600)
    assert job.status is sv.JobStatus.FAILED
    assert job.error is not None
    assert job.error.code == (code or "failed")
    assert job.error.retryable is retryable
    assert job.error.message == "The generation failed."
    assert job.cost_credits == 0
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize("retry_after", [None, "7", "0"])
async def test_429_on_create_and_reads(rig: Rig, retry_after: str | None) -> None:
    """429 (with and without Retry-After) on the create and on reads: one task, completed."""
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    rig.server.fault("POST", "/v1/text_to_video", 429, headers=headers, times=2)
    rig.server.fault("GET", "/v1/tasks/", 429, headers=headers, times=3)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=900)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 504])
@pytest.mark.parametrize("act_first", [True, False])
async def test_5xx_on_create_is_ambiguous_and_never_resent(
    rig: Rig, status: int, act_first: bool
) -> None:
    """A 500/502/504 to a create (the task made or not): failed ambiguous_submission, never
    sent again (no idempotency key, no list endpoint)."""
    rig.server.fault("POST", "/v1/text_to_video", status, act_first=act_first)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=900)
    assert job.status is sv.JobStatus.FAILED
    assert job.error is not None and job.error.code == "ambiguous_submission"
    posts = [e for e in rig.server.log if e[1] == "POST"]
    assert len(posts) == 1, posts
    check_settled(rig.server, [job], creates=1 if act_first else 0)


@pytest.mark.anyio
async def test_read_timeout_after_the_task_was_made(rig: Rig) -> None:
    """The create's answer never comes (a read timeout) after the task was made."""
    rig.server.fault("POST", "/v1/text_to_video", 0, act_first=True)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=900)
    assert job.error is not None and job.error.code == "ambiguous_submission"
    assert len([e for e in rig.server.log if e[1] == "POST"]) == 1
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_503_before_the_task_was_made_is_sent_again(rig: Rig) -> None:
    """A 503 that made nothing: sent again, one task, completed."""
    rig.server.fault("POST", "/v1/text_to_video", 503, act_first=False)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=900)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.xfail(
    strict=True,
    reason="known gap: a 503 to a create is taken as 'not done, try again' and sent again "
    "(retry._CREATE_STATUS_RETRIED); nothing in Runway's API promises it, and Runway has "
    "neither idempotency keys nor a list: a gateway's 503 after the task was made gives two",
)
async def test_503_after_the_task_was_made_is_not_sent_again(rig: Rig) -> None:
    rig.server.fault("POST", "/v1/text_to_video", 503, act_first=True)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=900)
    check_settled(rig.server, [job])
    assert len(rig.server.created) == 1, f"{len(rig.server.created)} tasks for one job"


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_on_reads(rig: Rig, status: int) -> None:
    """Reads failing (more times than one request's retries): completed, one task."""
    rig.server.fault("GET", "/v1/tasks/", status, times=6)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=900)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize("phase", ["THROTTLED", "RUNNING"])
async def test_cancel_an_unfinished_task(rig: Rig, phase: str) -> None:
    """DELETE aborts it; afterwards the task is gone (404). One DELETE, no read after it."""
    rig.server.plan = lambda body: Plan(throttled=60, pending=0, running=120)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        wait = 20 if phase == "THROTTLED" else 90
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=wait)
        job = await client.videos.cancel_job(job.id)
        with anyio.move_on_after(1):
            with rig.clock.waiting():
                await rig.clock.sleep(300)  # the engine goes on; nothing more for this job
        job = await client.videos.get_job(job.id)
    assert job.status is sv.JobStatus.CANCELLED
    assert job.remote_id is not None
    task = rig.server.tasks[job.remote_id]
    assert task.cancelled_while == phase
    deletes = rig.server.deletes(job.remote_id)
    assert [s for _, s in deletes] == [204]
    late = [e for e in rig.server.log if e[1] == "GET" and e[0] > deletes[0][0]]
    assert late == [], "status reads of a cancelled (deleted) task"
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_cancel_on_timeout_of_a_task_that_finished_unseen(rig: Rig) -> None:
    rig.server.plan = lambda body: Plan(throttled=0, pending=0, running=600)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=60)
        assert job.id and (await client.videos.get_job(job.id)).remote_id
        remote_id = (await client.videos.get_job(job.id)).remote_id
        assert remote_id is not None
        reads_before = rig.server.reads(remote_id)
        rig.server.finish_now(remote_id)  # it ends now; soravideo has not read it since
        try:
            job = await client.videos.wait_for_job(job.id, timeout=0.01, cancel_on_timeout=True)
        except sv.JobTimeoutError:
            job = await client.videos.get_job(job.id)
    # Precondition of the scenario: soravideo did not read the task between its end and
    # the DELETE (else it would have seen SUCCEEDED and this is not the case probed).
    deleted = rig.server.deletes(remote_id)
    assert rig.server.reads(remote_id) == reads_before or not deleted
    task = rig.server.tasks[remote_id]
    assert task.deleted_at is None, "the finished, paid-for video was deleted by the cancel"
    assert job.status is sv.JobStatus.COMPLETED, job.status


@pytest.mark.anyio
async def test_cancel_job_of_a_task_that_finished_unseen(rig: Rig) -> None:
    rig.server.plan = lambda body: Plan(throttled=0, pending=0, running=600)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=60)
        remote_id = (await client.videos.get_job(job.id)).remote_id
        assert remote_id is not None
        rig.server.finish_now(remote_id)
        try:
            job = await client.videos.cancel_job(job.id)
        except sv.JobStateError:
            job = await client.videos.get_job(job.id)
    task = rig.server.tasks[remote_id]
    assert task.deleted_at is None, "the finished, paid-for video was deleted by the cancel"
    assert job.status is sv.JobStatus.COMPLETED, job.status


@pytest.mark.anyio
async def test_one_deleted_task_does_not_hold_up_the_others(rig: Rig) -> None:
    rig.server.plan = lambda body: Plan(throttled=0, pending=0, running=120)
    async with rig.client() as client:
        a = await client.videos.create_video(REQUEST)
        b = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(a.id, timeout=30)
        a = await client.videos.get_job(a.id)
        assert a.remote_id is not None
        rig.server.delete_out_of_band(a.remote_id)  # e.g. from Runway's dashboard
        try:
            b = await client.videos.wait_for_job(b.id, timeout=1800)
        except sv.JobTimeoutError:
            b = await client.videos.get_job(b.id)
        with contextlib.suppress(sv.JobTimeoutError):
            await client.videos.wait_for_job(a.id, timeout=600)
        a = await client.videos.get_job(a.id)
    assert b.status is sv.JobStatus.COMPLETED, (b.status, rig.server.reads(b.remote_id))
    assert a.status is sv.JobStatus.FAILED and a.error is not None
    assert a.error.code == "remote_missing"
    check_settled(rig.server, [a, b], creates=2)


@pytest.mark.anyio
async def test_a_deleted_task_alone_fails_remote_missing(rig: Rig) -> None:
    """The same out-of-band delete with one job: it fails remote_missing after a few reads."""
    rig.server.plan = lambda body: Plan(throttled=0, pending=0, running=120)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
        remote_id = (await client.videos.get_job(job.id)).remote_id
        assert remote_id is not None
        rig.server.delete_out_of_band(remote_id)
        job = await client.videos.wait_for_job(job.id, timeout=600)
    assert job.status is sv.JobStatus.FAILED and job.error is not None
    assert job.error.code == "remote_missing"
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_expired_urls_then_deleted_task(rig: Rig, tmp_path: Path) -> None:
    """Completed without a download directory; a day later the URL has expired (403): the
    download reads the task again for a fresh one. Once the task is deleted (404), the
    download fails with a soravideo error, and the job stays completed."""
    rig.server.plan = lambda body: Plan(throttled=0, pending=0, running=30, url_ttl=3600)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=600)
        assert job.status is sv.JobStatus.COMPLETED
        assert job.remote_id is not None
        rig.clock.advance(2 * 3600)
        reads = rig.server.reads(job.remote_id)
        got = await client.videos.download_video(job.id, tmp_path / "one.mp4")
        assert Path(got).read_bytes() == VIDEO
        assert rig.server.reads(job.remote_id) == reads + 1
        rig.clock.advance(2 * 3600)
        rig.server.delete_out_of_band(job.remote_id)
        with pytest.raises(sv.SoraVideoError):
            await client.videos.download_video(job.id, tmp_path / "two.mp4")
        job = await client.videos.get_job(job.id)
    assert job.status is sv.JobStatus.COMPLETED
    assert not (tmp_path / "two.mp4").exists()
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_close_mid_flight_then_resume(rig: Rig, tmp_path: Path) -> None:
    """Three jobs on a SQLite ledger; the client closes while they are THROTTLED and
    RUNNING; an hour later a new client resumes: polled by id, never created again."""
    ledger = tmp_path / "ledger.db"
    rig.server.plan = lambda body: Plan(throttled=40, pending=5, running=120, outputs=2)
    async with rig.client(SQLiteRepository(ledger)) as client:
        ids = [(await client.videos.create_video(REQUEST)).id for _ in range(3)]
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(ids[0], timeout=60)
    rig.clock.advance(3600)
    async with rig.client(SQLiteRepository(ledger), download_dir=tmp_path / "v") as client:
        summary = await client.resume()
        jobs = [await client.videos.get_job(i) for i in ids]
    assert summary.jobs == 3
    assert [j.status for j in jobs] == [sv.JobStatus.COMPLETED] * 3, [j.error for j in jobs]
    assert all(j.result and j.result.path for j in jobs)
    check_settled(rig.server, jobs, creates=3)
    for job in jobs:
        assert job.remote_id is not None
        assert rig.server.reads(job.remote_id) <= read_bound(rig.server, job.remote_id) + 2


@pytest.mark.anyio
async def test_resume_with_one_task_deleted_meanwhile(rig: Rig, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    rig.server.plan = lambda body: Plan(throttled=40, pending=5, running=120)
    async with rig.client(SQLiteRepository(ledger)) as client:
        ids = [(await client.videos.create_video(REQUEST)).id for _ in range(3)]
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(ids[0], timeout=60)
        first = await client.videos.get_job(ids[0])
    assert first.remote_id is not None
    rig.clock.advance(3600)
    rig.server.delete_out_of_band(first.remote_id)
    async with rig.client(SQLiteRepository(ledger)) as client:
        with contextlib.suppress(sv.JobTimeoutError):
            with anyio.fail_after(30):  # real seconds: the simulated wait is bounded below
                for job_id in ids:
                    with contextlib.suppress(sv.JobTimeoutError):
                        await client.videos.wait_for_job(job_id, timeout=1800)
        jobs = [await client.videos.get_job(i) for i in ids]
    assert [j.status for j in jobs[1:]] == [sv.JobStatus.COMPLETED] * 2, [
        (j.status, j.progress) for j in jobs
    ]
    check_settled(rig.server, jobs, creates=3)


@pytest.mark.anyio
async def test_a_long_outage_of_reads_does_not_kill_the_engine(rig: Rig) -> None:
    rig.server.plan = lambda body: Plan(throttled=0, pending=0, running=60)
    # An hour of failed reads (about 240): the 1,025th, which overflowed the backoff before
    # it was capped, is pinned in tests/engine/parts/test_pacer.py, at no cost of time.
    rig.server.fault("GET", "/v1/tasks/", 503, times=10**9, until=START + 3600)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=3 * 3600)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_long_throttle_is_polled_within_the_interval(rig: Rig) -> None:
    """Thirty minutes THROTTLED: no more reads than poll_max_interval allows, no fewer than
    the end needs; completed."""
    rig.server.plan = lambda body: Plan(throttled=1800, pending=0, running=60)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        job = await client.videos.wait_for_job(job.id, timeout=7200)
    assert job.status is sv.JobStatus.COMPLETED
    assert job.remote_id is not None
    reads = rig.server.reads(job.remote_id)
    assert reads <= 1860 / 5 + 4
    assert reads >= 1860 / 15 - 2
    check_settled(rig.server, [job], creates=1)


# --------------------------------------------------------------------------- loopback


def test_loopback_server_real_time(tmp_path: Path) -> None:
    """On a real 127.0.0.1 server, real time: a plain job, a 502-after-create (ambiguous),
    429s and a 503 on reads, a cancel; exactly once at the end."""
    server = IndependentRunway(time.time)
    with server.serve() as url:
        server.cdn = url + "/cdn"
        # The third task is still running when it is cancelled.
        server.plan = lambda body: (
            Plan(throttled=5, pending=0, running=5)
            if len(server.created) >= 2
            else Plan(throttled=0.3, pending=0.1, running=0.4, outputs=2)
        )
        # The second create: made, then answered 502.
        server.fault("POST", "/v1/text_to_video", 502, act_first=True, skip=1)

        async def main() -> list[sv.Job]:
            transport = RunwayTransport(base_url=url, api_key=API_KEY)
            # Runway asks for 5 s between polls; this server generates in a second.
            transport._capabilities = attrs.evolve(transport.capabilities, min_poll_interval=0.0)
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
                server.fault("GET", "/v1/tasks/", 429, headers={"retry-after": "0"}, times=2)
                server.fault("GET", "/v1/tasks/", 503, times=1)
                done = [await client.videos.wait_for_job(j.id, timeout=20) for j in (first, second)]
                # Created only now: sent beside the second, its create could have drawn the
                # 502 meant for the second one.
                sent = anyio.Event()

                async def on_submitted(event: sv.JobEvent) -> None:
                    sent.set()  # the first two have ended: only the third is sent now

                client.on("submitted", on_submitted)
                third = await client.videos.create_video(REQUEST)
                with anyio.fail_after(20):
                    await sent.wait()
                assert (await client.videos.get_job(third.id)).remote_id is not None
                cancelled = await client.videos.cancel_job(third.id)
                return [*done, cancelled]

        jobs = anyio.run(main)
    # The first two creates go out together: whichever reaches the server second draws the
    # 502 (made, then answered 502), so either may be the ambiguous one.
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
    assert jobs[2].remote_id is not None and server.tasks[jobs[2].remote_id].cancelled_at
