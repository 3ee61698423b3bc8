"""soravideo's Replicate transport and engine against an independent Replicate server.

The server below is written from the official ``replicate`` package (1.0.7) alone:
``prediction.py`` (a prediction's ``id``, ``model``, ``version``, ``status`` in
``starting``/``processing``/``succeeded``/``failed``/``canceled``, ``input``, ``output``
(any JSON), ``logs``, ``error``, ``metrics``, ``created_at``/``started_at``/``completed_at``,
``urls``; ``GET /v1/predictions`` paged by a full ``next`` URL used as given;
``GET /v1/predictions/{id}``; ``POST /v1/predictions/{id}/cancel`` answering the
prediction), ``model.py`` (``POST /v1/models/{owner}/{name}/predictions``), ``pagination.py``
(``{previous, next, results}``) and ``client.py`` (``RetryTransport``: a ``POST`` is never
retried; ``Retry-After`` in seconds or a date). Replicate's documentation adds ``aborted``
(a ``Cancel-After`` deadline passed before the start) and ``data_removed`` (outputs deleted
an hour after the end). It imports nothing of ``soravideo.testing``.

Each scenario drives soravideo through its public API only and ends with the same checks:
every prediction this account's API made for the jobs is owned by exactly one job (a job
failed ``ambiguous_submission`` may stand for one nobody can name), no job is left
unfinished, nothing was created twice.

A scenario marked ``xfail(strict=True)`` is a gap known and left, said in its reason (run
with ``--runxfail`` to see the failure itself); a fix turns it into a pass, which the strict
marker then reports.
"""

from __future__ import annotations

import contextlib
import json
import random
import string
import threading
import time
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
from soravideo.transports import ReplicateTransport

TOKEN = "r8_probe0123456789abcdef"
API = "http://api.replicate.invalid"
CDN = "http://replicate.delivery.invalid/cdn"
START = 1_900_000_000.0
MODEL = "kwaivgi/kling-v2.5-turbo-pro"
VERSION = "a" * 64
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"independent-replicate-video" * 40
POLL = {"poll_min_interval": 2.0, "poll_max_interval": 15.0}
PAGE = 100


@pytest.fixture
def fake() -> None:
    return None


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _new_id(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase + "0123456789") for _ in range(26))


# --------------------------------------------------------------------------- the server


@attrs.define
class Plan:
    starting: float = 5.0
    processing: float = 40.0
    outcome: str = "succeeded"  # "failed", "canceled", "aborted"
    error: str | None = "Prediction failed (E6716)"
    output: str = "string"  # "string", "list", "dict", "null"
    output_ttl: float = 3600.0  # then data_removed, output null, files 404
    list_delay: float = 0.0  # seconds before the list shows it (eventual consistency)
    list_output: bool = True  # the list echoes output


@attrs.define
class Prediction:
    id: str
    model: str
    created: float
    input: dict[str, Any]
    plan: Plan
    source: str = "api"
    forced_end: float | None = None
    canceled_at: float | None = None
    gone: bool = False


@attrs.define
class Fault:
    method: str
    path: str
    status: int
    exact: bool = False
    headers: dict[str, str] = attrs.field(factory=dict)
    act_first: bool = False
    times: int = 1
    skip: int = 0
    fired: int = 0


class IndependentReplicate:
    def __init__(self, now: Callable[[], float], *, plan: Callable[[], Plan] | None = None):
        self.now = now
        self.plan = plan or Plan
        self.cdn = CDN
        self.api = API
        self.predictions: dict[str, Prediction] = {}
        self.created: list[str] = []  # by the API key's creates (not web ones)
        self.log: list[tuple[float, str, str, int]] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.rng = random.Random(7)

    def fault(self, method: str, path: str, status: int, **kwargs: Any) -> Fault:
        fault = Fault(method, path, status, **kwargs)
        self.faults.append(fault)
        return fault

    def calls(self, method: str, contains: str = "") -> list[tuple[float, str, str, int]]:
        return [e for e in self.log if e[1] == method and contains in e[2]]

    def add_foreign(
        self,
        n: int,
        *,
        input: dict[str, Any] | None = None,
        source: str = "web",
        plan: Plan | None = None,
    ) -> list[str]:
        """Predictions made elsewhere (the website, another app) at the current time."""
        ids = []
        for _ in range(n):
            p = Prediction(
                _new_id(self.rng),
                MODEL,
                self.now(),
                dict(input or {"prompt": "x"}),
                plan or Plan(starting=0, processing=1),
                source=source,
            )
            self.predictions[p.id] = p
            ids.append(p.id)
        return ids

    # ---------------------------------------------------------------- state

    def end_time(self, p: Prediction) -> float:
        natural = p.created + p.plan.starting + p.plan.processing
        ends = [natural]
        if p.forced_end is not None:
            ends.append(p.forced_end)
        if p.canceled_at is not None:
            ends.append(p.canceled_at)
        return min(ends)

    def status(self, p: Prediction, now: float) -> str:
        if p.canceled_at is not None and now >= p.canceled_at:
            return "canceled"
        if p.forced_end is not None and now >= p.forced_end:
            return p.plan.outcome
        age = now - p.created
        if age < p.plan.starting:
            return "starting"
        if age < p.plan.starting + p.plan.processing:
            return "processing"
        return p.plan.outcome

    def resource(self, p: Prediction, now: float, *, listing: bool = False) -> dict[str, Any]:
        word = self.status(p, now)
        out: dict[str, Any] = {
            "id": p.id,
            "model": p.model,
            "version": VERSION,
            "input": p.input,
            "logs": "" if word == "starting" else "step 1\n",
            "output": None,
            "data_removed": False,
            "error": None,
            "status": word,
            "source": p.source,
            "created_at": _iso(p.created),
            "urls": {
                "get": f"https://api.replicate.com/v1/predictions/{p.id}",
                "cancel": f"https://api.replicate.com/v1/predictions/{p.id}/cancel",
                "stream": f"https://stream.replicate.com/v1/files/{p.id}",
            },
            "deployment": None,  # a field the client does not type
        }
        if word != "starting":
            out["started_at"] = _iso(p.created + p.plan.starting)
        if word in ("succeeded", "failed", "canceled", "aborted"):
            end = self.end_time(p)
            out["completed_at"] = _iso(end)
            out["metrics"] = {"predict_time": max(0.0, end - p.created - p.plan.starting)}
        if word == "failed":
            out["error"] = p.plan.error
        if word == "succeeded":
            if now > self.end_time(p) + p.plan.output_ttl:
                out["data_removed"] = True
            elif not (listing and not p.plan.list_output):
                url = f"{self.cdn}/{p.id}/output.mp4"
                out["output"] = {
                    "string": url,
                    "list": [f"{self.cdn}/{p.id}/poster.jpg", url],
                    "dict": {"video": url, "poster": f"{self.cdn}/{p.id}/poster.jpg"},
                    "null": None,
                }[p.plan.output]
        return out

    # ---------------------------------------------------------------- HTTP

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Any:
        with self.lock:
            now = self.now()
            status, out_headers, out = self._route(method, path, query, headers, body, now)
            self.log.append((now, method, path, status))
            return status, out_headers, out

    @staticmethod
    def _json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
        return (
            status,
            {"content-type": "application/json", **(headers or {})},
            (json.dumps(payload).encode()),
        )

    def _problem(self, status: int, detail: str, headers: Any = None) -> Any:
        return self._json(status, {"title": "Error", "detail": detail, "status": status}, headers)

    def _route(self, method, path, query, headers, body, now):
        h = {k.lower(): v for k, v in headers.items()}
        if path.startswith("/cdn/"):
            return self._download(path, h, now)
        for fault in self.faults:
            hit = path == fault.path if fault.exact else path.startswith(fault.path)
            if fault.fired < fault.times and method == fault.method and hit:
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.fired += 1
                if fault.act_first:
                    self._api(method, path, query, h, body, now)
                if fault.status == 0:
                    return 0, {}, b""
                return self._problem(fault.status, "injected", fault.headers)
        return self._api(method, path, query, h, body, now)

    def _api(self, method, path, query, h, body, now):
        if h.get("authorization") != f"Bearer {TOKEN}":
            return self._problem(401, "You did not pass a valid authentication token")
        if method == "POST" and path == f"/v1/models/{MODEL}/predictions":
            payload = json.loads(body)
            p = Prediction(_new_id(self.rng), MODEL, now, payload["input"], self.plan())
            self.predictions[p.id] = p
            self.created.append(p.id)
            return self._json(201, self.resource(p, now))
        if method == "GET" and path == "/v1/predictions":
            return self._list(query, now)
        if path.startswith("/v1/predictions/"):
            rest = path.removeprefix("/v1/predictions/").split("/")
            p = self.predictions.get(rest[0])
            if p is None or p.gone:
                return self._problem(404, "Not found.")
            if method == "GET" and len(rest) == 1:
                return self._json(200, self.resource(p, now))
            if method == "POST" and rest[1:] == ["cancel"]:
                if self.status(p, now) in ("starting", "processing"):
                    p.canceled_at = now
                return self._json(200, self.resource(p, now))
        return self._problem(404, "Not found.")

    def _list(self, query: Mapping[str, str], now: float):
        visible = [
            p
            for p in self.predictions.values()
            if not p.gone and now >= p.created + p.plan.list_delay
        ]
        visible.sort(
            key=lambda p: (p.created, self.created.index(p.id) if p.id in self.created else -1),
            reverse=True,
        )
        offset = int(query.get("cursor", "0") or 0)
        page = visible[offset : offset + PAGE]
        more = offset + PAGE < len(visible)
        return self._json(
            200,
            {
                # Full URLs on the public host, as the official client follows them.
                "next": f"https://api.replicate.com/v1/predictions?cursor={offset + PAGE}"
                if more
                else None,
                "previous": f"https://api.replicate.com/v1/predictions?cursor={max(0, offset - PAGE)}"
                if offset
                else None,
                "results": [self.resource(p, now, listing=True) for p in page],
            },
        )

    def _download(self, path, h, now):
        if "authorization" in h:
            return 400, {"content-type": "text/plain"}, b"no auth"
        parts = path.split("/")
        p = self.predictions.get(parts[2]) if len(parts) == 4 else None
        if (
            p is None
            or self.status(p, now) != "succeeded"
            or (now > self.end_time(p) + p.plan.output_ttl)
        ):
            return 404, {"content-type": "text/plain"}, b"Not Found"
        return 200, {"content-type": "video/mp4"}, VIDEO

    def mock_transport(self) -> httpx.MockTransport:
        return independent_kit.mock_transport(self.handle)

    def serve(self) -> contextlib.AbstractContextManager[str]:
        """Serve on a real loopback port (127.0.0.1); the base URL is what it yields."""
        return independent_kit.serve(self.handle)


# --------------------------------------------------------------------------- the client side


@attrs.define
class Rig:
    server: IndependentReplicate
    clock: sv.VirtualClock
    http_clients: list[httpx.AsyncClient] = attrs.field(factory=list)

    def client(self, repository: Any = None, **settings: Any) -> sv.AsyncSoraVideo:
        http_client = httpx.AsyncClient(transport=self.server.mock_transport())
        self.http_clients.append(http_client)
        transport = ReplicateTransport(
            base_url=API,
            api_key=TOKEN,
            http_client=http_client,
            clock=self.clock,
            default_model=MODEL,
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
    made = Rig(server=IndependentReplicate(clock.time), clock=clock)
    try:
        yield made
    finally:
        await made.aclose()


def check_settled(
    server: IndependentReplicate, jobs: list[sv.Job], *, creates: int | None = None
) -> None:
    """The scenario's end: exactly once, nothing unfinished, nothing created twice."""
    independent_kit.check_exactly_once(server.created, server.created, jobs, creates=creates)


REQUEST = sv.CreateVideoRequest(prompt="A red fox trots through fresh snow", duration=5)
CREATE = f"/v1/models/{MODEL}/predictions"


async def settle(client: sv.AsyncSoraVideo, job: sv.Job, seconds: float) -> sv.Job:
    with contextlib.suppress(sv.JobTimeoutError):
        return await client.videos.wait_for_job(job.id, timeout=seconds)
    return await client.videos.get_job(job.id)


# --------------------------------------------------------------------------- scenarios


@pytest.mark.anyio
@pytest.mark.parametrize("output", ["string", "list", "dict"])
async def test_starting_processing_succeeded(rig: Rig, tmp_path: Path, output: str) -> None:
    rig.server.plan = lambda: Plan(output=output)
    async with rig.client(download_dir=tmp_path / "v") as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    assert job.result is not None and job.result.path is not None
    assert Path(job.result.path).read_bytes() == VIDEO
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("outcome", "error", "status", "code"),
    [
        ("failed", "Prediction failed (E6716)", sv.JobStatus.FAILED, "E6716"),
        ("failed", None, sv.JobStatus.FAILED, "prediction_failed"),
        ("canceled", None, sv.JobStatus.CANCELLED, None),
        ("aborted", None, sv.JobStatus.FAILED, "aborted"),
    ],
)
async def test_unsuccessful_ends(
    rig: Rig, outcome: str, error: str | None, status: sv.JobStatus, code: str | None
) -> None:
    rig.server.plan = lambda: Plan(outcome=outcome, error=error)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert job.status is status
    assert (job.error.code if job.error else None) == code
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_succeeded_without_output(rig: Rig) -> None:
    rig.server.plan = lambda: Plan(output="null")
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert job.status is sv.JobStatus.FAILED and job.error is not None
    assert job.error.code == "no_output"
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize("retry_after", [None, "7", "0"])
async def test_429_on_create_and_reads(rig: Rig, retry_after: str | None) -> None:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    rig.server.fault("POST", CREATE, 429, headers=headers, times=2)
    rig.server.fault("GET", "/v1/predictions", 429, headers=headers, times=3)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 504, 0])
async def test_ambiguous_create_that_made_it_is_adopted(rig: Rig, status: int) -> None:
    rig.server.fault("POST", CREATE, status, act_first=True)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert len(rig.server.calls("POST", CREATE)) == 1
    assert job.status is sv.JobStatus.COMPLETED, job.error
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 504, 0])
async def test_ambiguous_create_that_made_nothing(rig: Rig, status: int) -> None:
    rig.server.fault("POST", CREATE, status, act_first=False)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert len(rig.server.calls("POST", CREATE)) == 1
    assert job.status is sv.JobStatus.FAILED and job.error is not None
    assert job.error.code == "ambiguous_submission"
    check_settled(rig.server, [job], creates=0)


@pytest.mark.anyio
async def test_ambiguous_create_listed_late(rig: Rig) -> None:
    """The list shows a new prediction only a minute later: never created twice."""
    rig.server.plan = lambda: Plan(list_delay=60)
    rig.server.fault("POST", CREATE, 502, act_first=True)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert len(rig.server.calls("POST", CREATE)) == 1
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_two_identical_jobs_one_ambiguous(rig: Rig) -> None:
    rig.server.plan = lambda: Plan(starting=30, processing=60)
    rig.server.fault("POST", CREATE, 502, act_first=True, skip=1)
    async with rig.client() as client:
        a = await client.videos.create_video(REQUEST)
        b = await client.videos.create_video(REQUEST)
        a, b = await settle(client, a, 900), await settle(client, b, 900)
    assert len(rig.server.calls("POST", CREATE)) == 2
    assert {a.status, b.status} == {sv.JobStatus.COMPLETED}, (a.error, b.error)
    check_settled(rig.server, [a, b], creates=2)


@pytest.mark.anyio
async def test_ambiguous_create_does_not_adopt_an_older_identical_prediction(rig: Rig) -> None:
    """The same input was run from the website a minute earlier; this create made nothing.
    That older prediction is someone else's: never adopted."""
    foreign = rig.server.add_foreign(
        1,
        input={"prompt": REQUEST.prompt, "duration": 5},
        source="web",
        plan=Plan(starting=0, processing=600),
    )
    rig.clock.advance(60)
    rig.server.fault("POST", CREATE, 502, act_first=False)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert job.remote_id != foreign[0]
    assert job.status is sv.JobStatus.FAILED
    check_settled(rig.server, [job], creates=0)


@pytest.mark.anyio
@pytest.mark.parametrize("foreign", [150, 450])
@pytest.mark.parametrize("list_output", [True, False])
async def test_pagination_with_many_newer_predictions(
    rig: Rig, foreign: int, list_output: bool
) -> None:
    """Predictions from elsewhere push ours past the first pages of the list; the list's
    next URLs name the public host. Completed, read only on the configured origin."""
    rig.server.plan = lambda: Plan(starting=5, processing=120, list_output=list_output)
    async with rig.client() as client:
        jobs = [await client.videos.create_video(REQUEST) for _ in range(3)]
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(jobs[0].id, timeout=20)
        rig.server.add_foreign(foreign, plan=Plan(starting=0, processing=1))
        jobs = [await settle(client, j, 1800) for j in jobs]
    assert [j.status for j in jobs] == [sv.JobStatus.COMPLETED] * 3, [j.error for j in jobs]
    check_settled(rig.server, jobs, creates=3)


@pytest.mark.anyio
async def test_ambiguous_create_behind_many_newer_predictions(rig: Rig) -> None:
    """An ambiguous create, then 250 web predictions before the list is read: ours is on
    page 3. Adopted, or failed ambiguous; never sent again."""
    rig.server.fault("POST", CREATE, 502, act_first=True)
    rig.server.fault("GET", "/v1/predictions", 503, exact=True, times=3)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        rig.server.add_foreign(250)
        job = await settle(client, job, 900)
    assert len(rig.server.calls("POST", CREATE)) == 1
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_a_prediction_that_disappears(rig: Rig) -> None:
    rig.server.plan = lambda: Plan(starting=0, processing=300)
    async with rig.client() as client:
        a = await client.videos.create_video(REQUEST)
        b = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(a.id, timeout=30)
        a = await client.videos.get_job(a.id)
        assert a.remote_id is not None
        rig.server.predictions[a.remote_id].gone = True
        b = await settle(client, b, 1800)
        a = await settle(client, a, 1800)
    assert b.status is sv.JobStatus.COMPLETED, b.error
    assert a.status is sv.JobStatus.FAILED and a.error is not None
    assert a.error.code == "remote_missing"
    check_settled(rig.server, [a, b], creates=2)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_on_reads(rig: Rig, status: int) -> None:
    rig.server.fault("GET", "/v1/predictions", status, times=8)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 1800)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_cancel_while_processing(rig: Rig) -> None:
    rig.server.plan = lambda: Plan(starting=5, processing=300)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
        job = await client.videos.cancel_job(job.id)
        job = await client.videos.get_job(job.id)
    assert job.status is sv.JobStatus.CANCELLED
    assert job.remote_id is not None and rig.server.predictions[job.remote_id].canceled_at
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_cancel_racing_completion(rig: Rig) -> None:
    """It succeeded, unseen; the cancel answers it succeeded: completed, with its video."""
    rig.server.plan = lambda: Plan(starting=0, processing=600)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=60)
        job = await client.videos.get_job(job.id)
        assert job.remote_id is not None
        rig.server.predictions[job.remote_id].forced_end = rig.clock.time()
        try:
            job = await client.videos.cancel_job(job.id)
        except sv.JobStateError:
            job = await client.videos.get_job(job.id)
        job = await settle(client, job, 120)
    assert job.status is sv.JobStatus.COMPLETED, job.status
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_canceled_on_the_website(rig: Rig) -> None:
    rig.server.plan = lambda: Plan(starting=0, processing=600)
    async with rig.client() as client:
        job = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
        job = await client.videos.get_job(job.id)
        assert job.remote_id is not None
        rig.server.predictions[job.remote_id].canceled_at = rig.clock.time()
        job = await settle(client, job, 600)
    assert job.status is sv.JobStatus.CANCELLED
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_output_expires_download_fails_cleanly(rig: Rig, tmp_path: Path) -> None:
    rig.server.plan = lambda: Plan(starting=0, processing=30)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 600)
        assert job.status is sv.JobStatus.COMPLETED
        got = await client.videos.download_video(job.id, tmp_path / "one.mp4")
        assert Path(got).read_bytes() == VIDEO
        rig.clock.advance(2 * 3600)
        with pytest.raises(sv.SoraVideoError):
            await client.videos.download_video(job.id, tmp_path / "two.mp4")
        job = await client.videos.get_job(job.id)
    assert job.status is sv.JobStatus.COMPLETED
    assert not (tmp_path / "two.mp4").exists()
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_resume_after_the_output_was_removed(rig: Rig, tmp_path: Path) -> None:
    """Closed while processing; resumed three hours later (data_removed): not processing
    forever, not created again."""
    ledger = tmp_path / "ledger.db"
    rig.server.plan = lambda: Plan(starting=0, processing=120)
    async with rig.client(SQLiteRepository(ledger)) as client:
        job = await client.videos.create_video(REQUEST)
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=30)
    rig.clock.advance(3 * 3600)
    async with rig.client(SQLiteRepository(ledger)) as client:
        await client.resume()
        job = await settle(client, job, 600)
    assert job.status is sv.JobStatus.FAILED and job.error is not None
    assert job.error.code == "result_expired"
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
async def test_close_mid_flight_then_resume(rig: Rig, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    rig.server.plan = lambda: Plan(starting=60, processing=120)
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
async def test_create_answered_already_succeeded(rig: Rig, tmp_path: Path) -> None:
    """A create answered with a finished prediction (as with Prefer: wait): completed."""
    rig.server.plan = lambda: Plan(starting=0, processing=0)
    async with rig.client(download_dir=tmp_path / "v") as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 600)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    check_settled(rig.server, [job], creates=1)


# --------------------------------------------------------------------------- loopback


def test_loopback_server_real_time(tmp_path: Path) -> None:
    server = IndependentReplicate(time.time)
    with server.serve() as url:
        server.cdn = url + "/cdn"
        server.plan = lambda: (
            Plan(starting=5, processing=5)
            if len(server.created) >= 2
            else Plan(starting=0.2, processing=0.4)
        )
        server.fault("POST", CREATE, 502, act_first=True, skip=1)

        async def main() -> list[sv.Job]:
            transport = ReplicateTransport(
                base_url=url, api_key=TOKEN, default_model=MODEL, min_poll_interval=0.0
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
                server.fault("GET", "/v1/predictions", 429, headers={"retry-after": "0"}, times=2)
                server.fault("GET", "/v1/predictions", 503, times=1)
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
    # The ambiguous create made its prediction and the list shows it: both adopted.
    assert [j.status for j in jobs] == [
        sv.JobStatus.COMPLETED,
        sv.JobStatus.COMPLETED,
        sv.JobStatus.CANCELLED,
    ], [j.error for j in jobs]
    assert len(server.calls("POST", CREATE)) == 3
    check_settled(server, jobs, creates=3)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "retry_after", ["Wed, 21 Oct 2015 07:28:00 GMT", "2030-01-01T00:00:00+00:00", "1.5"]
)
async def test_429_with_other_retry_after_forms(rig: Rig, retry_after: str) -> None:
    """Retry-After as an HTTP date (RFC 9110), an ISO date (the official client parses
    one) or a fraction: a wait soravideo can use or ignore, never a crash."""
    rig.server.fault("POST", CREATE, 429, headers={"retry-after": retry_after}, times=1)
    rig.server.fault("GET", "/v1/predictions", 429, headers={"retry-after": retry_after}, times=2)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert job.status is sv.JobStatus.COMPLETED, job.error
    check_settled(rig.server, [job], creates=1)


@pytest.mark.anyio
@pytest.mark.parametrize("count", [1, 3])
async def test_list_endpoint_down_while_reads_work(rig: Rig, count: int) -> None:
    """GET /v1/predictions answers 500 throughout; GET /v1/predictions/{id} works. Each
    job completes from its own reads, not held up by the list."""
    rig.server.plan = lambda: Plan(starting=5, processing=60)
    rig.server.fault("GET", "/v1/predictions", 500, exact=True, times=10**9)
    async with rig.client() as client:
        jobs = [await client.videos.create_video(REQUEST) for _ in range(count)]
        jobs = [await settle(client, j, 1200) for j in jobs]
    assert [j.status for j in jobs] == [sv.JobStatus.COMPLETED] * count, [
        (j.status, j.error) for j in jobs
    ]
    check_settled(rig.server, jobs, creates=count)


@pytest.mark.anyio
async def test_ambiguous_create_with_server_clock_ahead(rig: Rig) -> None:
    """Replicate's clock runs two minutes ahead of ours; an identical prediction from the
    website a minute before our (lost, made-nothing) create looks newer than our job.
    It is not ours."""
    foreign = rig.server.add_foreign(
        1,
        input={"prompt": REQUEST.prompt, "duration": 5},
        source="web",
        plan=Plan(starting=0, processing=600),
    )
    rig.clock.advance(60)
    skewed = rig.server.now
    rig.server.now = lambda: skewed() + 120
    for p in rig.server.predictions.values():
        p.created += 120
    rig.server.fault("POST", CREATE, 502, act_first=False)
    async with rig.client() as client:
        job = await settle(client, await client.videos.create_video(REQUEST), 900)
    assert job.remote_id != foreign[0], "adopted a prediction made on the website"
    check_settled(rig.server, [job], creates=0)
