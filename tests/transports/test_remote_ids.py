"""Hostile remote ids ([W2-2] item 6): an id a provider answers with is checked before it is
used, and every id is one quoted path segment, so no id can make a request to another path.

A provider that answered ``..`` once made the library call ``GET /v1`` (dot segments are
resolved by the HTTP client); ``.`` made it call ``GET /v1/videos``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

import soravideo as sv
from helpers import tls
from soravideo import AmbiguousSubmissionError, CreateVideoRequest, ProviderError
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeSora, VirtualClock, check_exactly_once
from soravideo.transports import RunwayTransport, SoraTransport
from soravideo.transports.base import (
    INVALID_REMOTE_ID,
    MAX_REMOTE_ID_LENGTH,
    remote_id_problem,
    remote_id_segment,
)

pytestmark = pytest.mark.anyio

SORA = "http://127.0.0.1:8765/v1"
RUNWAY = "http://127.0.0.1:8766"
KEY = "sk-test-remote-ids"

# Every kind of id that must never reach a URL path.
BAD_IDS = [
    ".",
    "..",
    "a/b",
    "../v1",
    "a\\b",
    "..\\..",
    "a b",
    " video_1",
    "video_1\n",
    "video\t1",
    "video\x00",
    "video\x7f",
    "video\u202e",  # right-to-left override: a format character
    "video\u200b",  # zero-width space
    "x" * (MAX_REMOTE_ID_LENGTH + 1),
]
GOOD_IDS = [
    "video_68d7512d07848190",
    "3f2c9a1e-7b1d-4c55-9a0e-2b8f7c1d9e10",
    "...",
    "a.b",
    "a?b#c%d",
    "%2e%2e",
    "vidéo",
    "x" * MAX_REMOTE_ID_LENGTH,
]


@pytest.mark.parametrize("remote_id", BAD_IDS)
def test_bad_ids_are_named(remote_id: str) -> None:
    assert remote_id_problem(remote_id) is not None
    with pytest.raises(ProviderError) as info:
        remote_id_segment(remote_id, provider="sora")
    assert info.value.code == INVALID_REMOTE_ID
    assert not isinstance(info.value, AmbiguousSubmissionError)
    str(info.value).encode("ascii")  # shown escaped: no control character is printed


@pytest.mark.parametrize("remote_id", GOOD_IDS)
def test_good_ids_become_one_quoted_segment(remote_id: str) -> None:
    assert remote_id_problem(remote_id) is None
    segment = remote_id_segment(remote_id, provider="sora")
    assert "/" not in segment and "?" not in segment and "#" not in segment
    assert segment not in (".", "..")


@pytest.mark.parametrize("value", [None, 7, b"video_1", ""])
def test_an_id_that_is_not_text_is_refused(value: Any) -> None:
    assert remote_id_problem(value) is not None


# --- Sora: ids in create, fetch and list answers, and ids given to every call ------------


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=tls()) as client:
        yield client


async def _no_sleep(_seconds: float) -> None:
    return None


def sora_transport(http: httpx.AsyncClient) -> SoraTransport:
    return SoraTransport(base_url=SORA, api_key=KEY, http_client=http, sleep=_no_sleep)


def runway_transport(http: httpx.AsyncClient) -> RunwayTransport:
    return RunwayTransport(base_url=RUNWAY, api_key=KEY, http_client=http, sleep=_no_sleep)


def video(vid: Any, status: str = "queued") -> dict[str, Any]:
    return {
        "id": vid,
        "object": "video",
        "model": "sora-2",
        "status": status,
        "progress": 0,
        "created_at": 1_780_000_000,
        "prompt": "a red fox",
        "size": "720x1280",
        "seconds": "4",
        "error": None,
    }


def paths(router: respx.MockRouter) -> list[str]:
    return [f"{call.request.method} {call.request.url.path}" for call in router.calls]


@pytest.mark.parametrize("remote_id", BAD_IDS)
async def test_a_sora_create_answered_with_a_bad_id_is_a_provider_error_not_ambiguous(
    router: respx.MockRouter, http: httpx.AsyncClient, remote_id: str
) -> None:
    router.post(f"{SORA}/videos").respond(json=video(remote_id))
    sora = sora_transport(http)
    with pytest.raises(ProviderError) as info:
        await sora.submit(CreateVideoRequest(prompt="a red fox"), idempotency_key="k-1")
    error = info.value
    assert error.code == INVALID_REMOTE_ID and error.status_code == 200
    # Not "the create may not have happened": re-sending would only make another video.
    assert not isinstance(error, AmbiguousSubmissionError)
    assert "dashboard" in error.message
    assert paths(router) == ["POST /v1/videos"]


@pytest.mark.parametrize("remote_id", [".", "..", "a/b", "x\x00"])
async def test_a_sora_remix_answered_with_a_bad_id_is_refused_too(
    router: respx.MockRouter, http: httpx.AsyncClient, remote_id: str
) -> None:
    router.post(f"{SORA}/videos/video_1/remix").respond(json=video(remote_id))
    with pytest.raises(ProviderError) as info:
        await sora_transport(http).remix("video_1", "snow", idempotency_key="k-2")
    assert info.value.code == INVALID_REMOTE_ID
    assert paths(router) == ["POST /v1/videos/video_1/remix"]


@pytest.mark.parametrize("remote_id", [".", "..", "a/b", "x y"])
async def test_a_sora_fetch_answered_with_a_bad_id_is_refused(
    router: respx.MockRouter, http: httpx.AsyncClient, remote_id: str
) -> None:
    router.get(f"{SORA}/videos/video_1").respond(json=video(remote_id, status="completed"))
    with pytest.raises(ProviderError) as info:
        await sora_transport(http).fetch("video_1")
    assert info.value.code == INVALID_REMOTE_ID
    assert paths(router) == ["GET /v1/videos/video_1"]


async def test_listed_videos_with_bad_ids_are_skipped(
    router: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    items = [video("video_2"), video(".."), video("a/b"), video("."), video("video_1")]
    router.get(f"{SORA}/videos").respond(
        json={"object": "list", "data": items, "last_id": "..", "has_more": False}
    )
    sora = sora_transport(http)
    listed = await sora.list_recent(limit=10)
    assert [job.remote_id for job in listed] == ["video_2", "video_1"]
    found = await sora.fetch_many(["video_1", "video_2"])
    assert set(found) == {"video_1", "video_2"}
    assert set(paths(router)) == {"GET /v1/videos"}


async def test_a_bad_last_id_is_never_sent_as_the_next_page_cursor(
    router: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        seen.append(after)
        if after is None:
            return httpx.Response(
                200,
                json={"data": [video("video_9")], "last_id": "../x", "has_more": True},
            )
        return httpx.Response(200, json={"data": [], "has_more": False})

    router.get(f"{SORA}/videos").mock(side_effect=answer)
    await sora_transport(http).list_recent(limit=500)
    assert seen == [None, "video_9"]


@pytest.mark.parametrize("remote_id", [".", "..", "a/b", "../..", "a\\b", "x\x00", ""])
async def test_every_sora_call_refuses_a_bad_id_before_sending(
    router: respx.MockRouter, http: httpx.AsyncClient, remote_id: str
) -> None:
    sora = sora_transport(http)
    calls = [
        sora.fetch(remote_id),
        sora.cancel(remote_id),
        sora.remix(remote_id, "snow", idempotency_key="k-3"),
    ]
    for call in calls:
        with pytest.raises(ProviderError) as info:
            await call
        assert info.value.code == INVALID_REMOTE_ID
    with pytest.raises(ProviderError):
        async with sora.open_content(remote_id):
            pass  # pragma: no cover - never opened
    # fetch_many leaves an id no request can address out, as one the provider does not know.
    sora._list_unsupported = True
    assert await sora.fetch_many([remote_id]) == {}
    assert router.calls.call_count == 0


# --- Runway ---------------------------------------------------------------------------


@pytest.mark.parametrize("remote_id", [".", "..", "a/b", "a\\b", "a b", "x\x00"])
async def test_a_runway_create_answered_with_a_bad_id_is_a_provider_error(
    router: respx.MockRouter, http: httpx.AsyncClient, remote_id: str
) -> None:
    router.post(f"{RUNWAY}/v1/text_to_video").respond(json={"id": remote_id})
    runway = runway_transport(http)
    with pytest.raises(ProviderError) as info:
        await runway.submit(CreateVideoRequest(prompt="a red fox"), idempotency_key="k-4")
    assert info.value.code == INVALID_REMOTE_ID
    assert not isinstance(info.value, AmbiguousSubmissionError)
    assert paths(router) == ["POST /v1/text_to_video"]


async def test_a_runway_fetch_answered_with_a_bad_id_is_refused(
    router: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    router.get(f"{RUNWAY}/v1/tasks/task_1").respond(
        json={"id": "..", "status": "SUCCEEDED", "output": ["https://cdn.example/v.mp4"]}
    )
    with pytest.raises(ProviderError) as info:
        await runway_transport(http).fetch("task_1")
    assert info.value.code == INVALID_REMOTE_ID
    assert paths(router) == ["GET /v1/tasks/task_1"]


@pytest.mark.parametrize("remote_id", [".", "..", "a/b", "..\\x", "x\n"])
async def test_every_runway_call_refuses_a_bad_id_before_sending(
    router: respx.MockRouter, http: httpx.AsyncClient, remote_id: str
) -> None:
    runway = runway_transport(http)
    for call in (runway.fetch(remote_id), runway.cancel(remote_id)):
        with pytest.raises(ProviderError) as info:
            await call
        assert info.value.code == INVALID_REMOTE_ID
    with pytest.raises(ProviderError):
        async with runway.open_content(remote_id):
            pass  # pragma: no cover - never opened
    assert await runway.fetch_many([remote_id]) == {}
    assert router.calls.call_count == 0


# --- the engine: a create answered with a bad id fails its job, once, and is never re-sent -


class _Rewrite(httpx.AsyncBaseTransport):
    """A gateway in front of FakeSora that replaces the id in some of its answers."""

    def __init__(self, inner: httpx.AsyncBaseTransport, bad_id: str, *, on: str) -> None:
        self.inner = inner
        self.bad_id = bad_id
        self.on = on  # "create" or "fetch"
        self.seen: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.raw_path.decode()}")
        response = await self.inner.handle_async_request(request)
        creating = request.method == "POST" and request.url.path == "/v1/videos"
        fetching = request.method == "GET" and request.url.path.startswith("/v1/videos/")
        if (self.on == "create" and creating) or (self.on == "fetch" and fetching):
            body = json.loads(await response.aread())
            body["id"] = self.bad_id
            return httpx.Response(response.status_code, json=body)
        return response


def _client(fake: FakeSora, clock: VirtualClock, gateway: _Rewrite) -> sv.AsyncSoraVideo:
    http = httpx.AsyncClient(transport=gateway, base_url=SORA)
    transport = SoraTransport(base_url=SORA, api_key=KEY, http_client=http, sleep=clock.sleep)
    return sv.AsyncSoraVideo(transport=transport, repository=MemoryRepository(), clock=clock)


@pytest.mark.parametrize("bad_id", [".", "..", "a/../b", "video 1", "video\x00"])
async def test_a_create_answered_with_a_bad_id_fails_the_job_once_and_is_not_resent(
    bad_id: str,
) -> None:
    clock = VirtualClock()
    fake = FakeSora(clock=clock, generation_time=30)
    gateway = _Rewrite(fake.http_transport(), bad_id, on="create")
    async with _client(fake, clock, gateway) as client:
        job = await client.videos.create_video(CreateVideoRequest(prompt="a red fox", duration=4))
        job = await client.videos.wait_for_job(job.id, timeout=600)
        assert job.status is sv.JobStatus.FAILED
        assert job.error is not None and job.error.code == INVALID_REMOTE_ID
        assert not job.error.retryable
        assert job.remote_id is None
        assert "dashboard" in job.error.message
        # Resuming does not send it again: the job has ended, and says why.
        await client.resume()
        jobs = list((await client.videos.list_jobs()).items)
    # One create, and no request to any other path (GET /v1, GET /v1/videos …).
    assert gateway.seen == ["POST /v1/videos"]
    assert fake.created_count() == 1
    # The ledger accounts for the video the provider made: a failed job names it.
    check_exactly_once(fake, jobs)


async def test_a_status_answer_with_a_bad_id_never_leads_to_another_path() -> None:
    clock = VirtualClock()
    fake = FakeSora(clock=clock, generation_time=30)
    gateway = _Rewrite(fake.http_transport(), "..", on="fetch")
    async with _client(fake, clock, gateway) as client:
        job = await client.videos.create_video(CreateVideoRequest(prompt="a red fox", duration=4))
        with pytest.raises(sv.JobTimeoutError):
            await client.videos.wait_for_job(job.id, timeout=300)
        job = await client.videos.get_job(job.id)
        # Not lost: still in flight, under the id its create was answered with.
        assert job.status is sv.JobStatus.PROCESSING and job.remote_id is not None
        job = await client.videos.cancel_job(job.id)
        assert job.status is sv.JobStatus.CANCELLED
        jobs = list((await client.videos.list_jobs()).items)
    remote = jobs[0].remote_id
    allowed = {"POST /v1/videos", f"GET /v1/videos/{remote}", f"DELETE /v1/videos/{remote}"}
    assert set(gateway.seen) <= allowed, gateway.seen
    check_exactly_once(fake, jobs)
