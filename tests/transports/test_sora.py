from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from helpers import tls
from soravideo import (
    AmbiguousSubmissionError,
    AuthenticationError,
    CreateVideoRequest,
    JobStatus,
    NotFoundError,
    PermissionDeniedError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    ValidationError,
)
from soravideo._core.converter import dumps
from soravideo._core.retry import RetryPolicy
from soravideo.transports import Transport
from soravideo.transports.sora import SoraTransport

BASE = "http://127.0.0.1:8765/v1"
KEY = "sk-test-SECRET-0123456789abcdef"
ENV_VARS = ("SORAVIDEO_BASE_URL", "OPENAI_BASE_URL", "SORAVIDEO_API_KEY", "OPENAI_API_KEY")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def video(vid: str = "video_1", status: str = "queued", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": vid,
        "object": "video",
        "model": "sora-2",
        "status": status,
        "progress": 0,
        "created_at": 1_780_000_000,
        "completed_at": None,
        "expires_at": None,
        "prompt": "a red fox",
        "size": "720x1280",
        "seconds": "4",
        "remixed_from_video_id": None,
        "error": None,
    }
    body.update(extra)
    return body


def listing(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": items,
        "first_id": items[0].get("id") if items else None,
        "last_id": items[-1].get("id") if items else None,
        "has_more": has_more,
    }


def error_body(
    message: str, code: str | None = None, kind: str = "invalid_request_error"
) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=tls()) as http_client:
        yield http_client


Maker = Callable[..., SoraTransport]


@pytest.fixture
def make(client: httpx.AsyncClient, sleeps: Sleeps) -> Maker:
    """Build transports over the shared test client (``base_url`` is left to each test)."""

    def factory(**kwargs: Any) -> SoraTransport:
        kwargs.setdefault("sleep", sleeps)
        return SoraTransport(http_client=client, **kwargs)

    return factory


@pytest.fixture
async def sora(sleeps: Sleeps, client: httpx.AsyncClient) -> AsyncIterator[SoraTransport]:
    transport = SoraTransport(base_url=BASE, api_key=KEY, sleep=sleeps, http_client=client)
    yield transport
    await transport.aclose()


def request_body(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


# --- construction -----------------------------------------------------------------------


def test_it_is_a_transport_with_sora_capabilities() -> None:
    transport = SoraTransport(base_url=BASE)
    assert isinstance(transport, Transport)
    assert transport.name == "sora"
    caps = transport.capabilities
    assert caps.default_model == "sora-2"
    assert {"sora-2", "sora-2-pro"} <= set(caps.models)
    assert caps.models["sora-2"].durations == (4, 8, 12, 16, 20)
    assert "1920x1080" in (caps.models["sora-2-pro"].sizes or ())
    assert "1920x1080" not in (caps.models["sora-2"].sizes or ())
    assert caps.models["sora-2"].price_per_second_usd == 0.10
    assert caps.models["sora-2-pro"].price_per_second_usd == 0.30
    assert (caps.can_cancel, caps.can_list, caps.can_remix) == (True, True, True)
    assert caps.result_kind == "bytes"
    assert caps.variants == ("video", "thumbnail", "spritesheet")
    # [W2-9] An unknown model is refused unless passed through on purpose.
    assert not caps.allows_unknown_models
    assert SoraTransport(allow_unknown_models=True).capabilities.allows_unknown_models


def test_bad_auth_style_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        SoraTransport(auth_style="basic")  # type: ignore[arg-type]
    assert info.value.fields == ("auth_style",)


def test_max_retries_shorthand_overrides_the_policy() -> None:
    transport = SoraTransport(retry_policy=RetryPolicy(max_retries=5, cap=2.0), max_retries=1)
    assert transport.retry_policy == RetryPolicy(max_retries=1, cap=2.0)


# --- environment fallbacks --------------------------------------------------------------


def test_defaults_without_environment() -> None:
    transport = SoraTransport()
    assert transport.base_url == "https://api.openai.com/v1"
    assert "api_key=None" in repr(transport)


def test_base_url_env_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/openai/v1/")
    assert SoraTransport().base_url == "http://127.0.0.1:1/openai/v1"
    monkeypatch.setenv("SORAVIDEO_BASE_URL", "http://127.0.0.1:2/v1")
    assert SoraTransport().base_url == "http://127.0.0.1:2/v1"
    assert SoraTransport(base_url="http://127.0.0.1:3/v1").base_url == "http://127.0.0.1:3/v1"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("env", "argument", "expected"),
    [
        ({"OPENAI_API_KEY": "sk-openai-key"}, None, "Bearer sk-openai-key"),
        (
            {"OPENAI_API_KEY": "sk-openai-key", "SORAVIDEO_API_KEY": "sk-sv-key"},
            None,
            "Bearer sk-sv-key",
        ),
        ({"SORAVIDEO_API_KEY": "sk-sv-key"}, "sk-arg-key", "Bearer sk-arg-key"),
        ({"SORAVIDEO_API_KEY": ""}, None, None),
        ({}, None, None),
    ],
)
async def test_api_key_env_order(
    make: Maker,
    monkeypatch: pytest.MonkeyPatch,
    router: respx.MockRouter,
    env: dict[str, str],
    argument: str | None,
    expected: str | None,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    route = router.get("/videos/video_1").respond(json=video())
    async with make(base_url=BASE, api_key=argument) as transport:
        await transport.fetch("video_1")
    assert route.calls.last.request.headers.get("authorization") == expected


@pytest.mark.anyio
async def test_base_url_from_env_is_used_for_requests(
    make: Maker, monkeypatch: pytest.MonkeyPatch, router: respx.MockRouter
) -> None:
    monkeypatch.setenv("SORAVIDEO_BASE_URL", BASE + "/")
    route = router.get("/videos/video_1").respond(json=video())
    async with make() as transport:
        await transport.fetch("video_1")
    assert str(route.calls.last.request.url) == f"{BASE}/videos/video_1"


@pytest.mark.anyio
async def test_azure_auth_style_and_api_version(
    make: Maker, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    get = router.get("/videos/video_1").respond(json=video())
    post = router.post("/videos").respond(json=video("video_2"))
    delete = router.delete("/videos/video_1").respond(
        json={"id": "video_1", "object": "video.deleted", "deleted": True}
    )
    content = router.get("/videos/video_1/content").respond(
        content=b"mp4", headers={"content-type": "video/mp4"}
    )
    async with make(
        base_url=BASE, api_key=KEY, auth_style="azure", api_version="preview", sleep=sleeps
    ) as transport:
        await transport.fetch("video_1")
        await transport.submit(CreateVideoRequest(prompt="fox"), idempotency_key="k1")
        await transport.cancel("video_1")
        async with transport.open_content("video_1") as stream:
            assert [c async for c in stream.aiter_bytes()] == [b"mp4"]
    for route in (get, post, delete, content):
        sent = route.calls.last.request
        assert sent.headers["api-key"] == KEY
        assert "authorization" not in sent.headers
        assert sent.url.params["api-version"] == "preview"
    assert content.calls.last.request.url.params["variant"] == "video"


@pytest.mark.anyio
async def test_bearer_auth_and_no_api_version_by_default(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    route = router.get("/videos/video_1").respond(json=video())
    await sora.fetch("video_1")
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert "api-key" not in sent.headers
    assert "api-version" not in sent.url.params


# --- status mapping ---------------------------------------------------------------------

STATUS_TABLE = [
    ("queued", {"progress": 0}, JobStatus.PROCESSING, 0, None),
    ("in_progress", {"progress": 42}, JobStatus.PROCESSING, 42, None),
    ("completed", {"progress": 100}, JobStatus.COMPLETED, 100, None),
    ("completed", {"progress": 90}, JobStatus.COMPLETED, 100, None),
    (
        "failed",
        {"error": {"code": "moderation_blocked", "message": "blocked by moderation"}},
        JobStatus.FAILED,
        0,
        ("moderation_blocked", "blocked by moderation", False),
    ),
    (
        "failed",
        {"error": {"code": "internal_error", "message": "oops"}},
        JobStatus.FAILED,
        0,
        ("internal_error", "oops", True),
    ),
    (
        "failed",
        {},
        JobStatus.FAILED,
        0,
        ("failed", "the provider reported the generation failed", False),
    ),
    ("cancelled", {"progress": 30}, JobStatus.CANCELLED, 30, None),
    ("expired", {"progress": 100}, JobStatus.FAILED, 100, ("expired", None, False)),
    ("IN_PROGRESS", {"progress": 250}, JobStatus.PROCESSING, 100, None),
    ("in_progress", {"progress": "half"}, JobStatus.PROCESSING, 0, None),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "extra", "mapped", "progress", "error"), STATUS_TABLE)
async def test_status_mapping(
    router: respx.MockRouter,
    sora: SoraTransport,
    status: str,
    extra: dict[str, Any],
    mapped: JobStatus,
    progress: int,
    error: tuple[str, str | None, bool] | None,
) -> None:
    router.get("/videos/video_1").respond(json=video(status=status, **extra))
    remote = await sora.fetch("video_1")
    assert remote.remote_id == "video_1"
    assert remote.status is mapped
    assert remote.provider_status == status.lower()
    assert remote.progress == progress
    if error is None:
        assert remote.error is None
    else:
        assert remote.error is not None
        assert remote.error.code == error[0]
        if error[1] is not None:
            assert remote.error.message == error[1]
        assert remote.error.retryable is error[2]


@pytest.mark.anyio
async def test_unknown_status_is_processing_and_warned_once(
    router: respx.MockRouter, sora: SoraTransport, caplog: pytest.LogCaptureFixture
) -> None:
    router.get("/videos/video_1").respond(json=video(status="paused", progress=10))
    caplog.set_level(logging.WARNING, logger="soravideo")
    first = await sora.fetch("video_1")
    second = await sora.fetch("video_1")
    assert first.status is second.status is JobStatus.PROCESSING
    assert first.provider_status == "paused"
    assert first.progress == 10
    warnings = [r for r in caplog.records if "paused" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.anyio
async def test_timestamps_raw_payload_and_poll_hint(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    payload = video(
        status="completed", progress=100, completed_at=1_780_000_100, expires_at=1_780_086_400
    )
    router.get("/videos/video_1").respond(json=payload, headers={"openai-poll-after-ms": "2500"})
    remote = await sora.fetch("video_1")
    assert remote.created_at == datetime(2026, 5, 28, 20, 26, 40, tzinfo=timezone.utc)
    assert remote.expires_at == datetime.fromtimestamp(1_780_086_400, tz=timezone.utc)
    assert remote.created_at is not None
    assert remote.created_at.tzinfo is not None
    assert remote.poll_after == 2.5
    assert dict(remote.raw) == payload


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("header", "expected"), [("garbage", None), ("-5", None), ("0", 0.0), ("nan", None)]
)
async def test_poll_hint_garbage(
    router: respx.MockRouter, sora: SoraTransport, header: str, expected: float | None
) -> None:
    router.get("/videos/video_1").respond(
        json=video(created_at="yesterday"), headers={"openai-poll-after-ms": header}
    )
    remote = await sora.fetch("video_1")
    assert remote.poll_after == expected
    assert remote.created_at is None


# --- error mapping ----------------------------------------------------------------------

ERROR_TABLE = [
    (400, ProviderError, "invalid_value"),
    (422, ProviderError, "unprocessable"),
    (404, ProviderError, "video_not_found"),
    (409, ProviderError, "conflict"),
    (401, AuthenticationError, "invalid_api_key"),
    (403, PermissionDeniedError, "forbidden"),
    (429, RateLimitError, "rate_limit_exceeded"),
    (500, ProviderUnavailableError, "server_error"),
    (502, ProviderUnavailableError, "bad_gateway"),
    (503, ProviderUnavailableError, "unavailable"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "cls", "code"), ERROR_TABLE)
async def test_error_mapping(
    make: Maker, router: respx.MockRouter, status: int, cls: type[ProviderError], code: str
) -> None:
    router.get("/videos/video_1").respond(
        status,
        json=error_body(f"went wrong {status}", code),
        headers={"x-request-id": "req_123", "retry-after": "7"},
    )
    async with make(base_url=BASE, api_key=KEY, max_retries=0) as transport:
        with pytest.raises(ProviderError) as info:
            await transport.fetch("video_1")
    error = info.value
    assert type(error) is cls
    assert not isinstance(error, NotFoundError)
    assert error.status_code == status
    assert error.request_id == "req_123"
    assert error.code == code
    assert error.provider == "sora"
    assert error.body == error_body(f"went wrong {status}", code)
    assert f"went wrong {status}" in str(error)
    assert "req_123" in str(error)
    assert isinstance(error.__cause__, httpx.HTTPStatusError)
    if status == 429:
        assert isinstance(error, RateLimitError)
        assert error.retry_after == 7.0


@pytest.mark.anyio
async def test_error_without_json_body(router: respx.MockRouter, sora: SoraTransport) -> None:
    router.get("/videos/video_1").respond(400, text="<html>bad gateway config</html>")
    with pytest.raises(ProviderError) as info:
        await sora.fetch("video_1")
    assert info.value.body == "<html>bad gateway config</html>"
    assert info.value.code is None
    assert info.value.status_code == 400


@pytest.mark.anyio
async def test_code_falls_back_to_error_type(router: respx.MockRouter, sora: SoraTransport) -> None:
    router.get("/videos/video_1").respond(
        400, json=error_body("bad", None, "invalid_request_error")
    )
    with pytest.raises(ProviderError) as info:
        await sora.fetch("video_1")
    assert info.value.code == "invalid_request_error"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("raised", "cls"),
    [
        (httpx.ConnectError("connection refused"), ProviderConnectionError),
        (httpx.ConnectTimeout("timed out"), ProviderTimeoutError),
        (httpx.ReadTimeout("timed out"), ProviderTimeoutError),
        (httpx.RemoteProtocolError("peer closed"), ProviderConnectionError),
        (httpx.ReadError("reset"), ProviderConnectionError),
    ],
)
async def test_connection_failures_on_reads_are_retried_then_mapped(
    make: Maker,
    router: respx.MockRouter,
    sleeps: Sleeps,
    raised: Exception,
    cls: type[ProviderError],
) -> None:
    route = router.get("/videos/video_1").mock(side_effect=raised)
    async with make(base_url=BASE, sleep=sleeps, max_retries=2) as transport:
        with pytest.raises(ProviderConnectionError) as info:
            await transport.fetch("video_1")
    assert type(info.value) is cls
    assert info.value.__cause__ is raised
    assert info.value.provider == "sora"
    assert route.call_count == 3
    assert len(sleeps.delays) == 2
    assert transport.stats.requests == 3
    assert transport.stats.errors == 3
    assert transport.stats.retries == 2


@pytest.mark.anyio
async def test_malformed_video_object_is_a_provider_error(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    router.get("/videos/video_1").respond(json={"object": "video"})
    with pytest.raises(ProviderError, match="not a video object"):
        await sora.fetch("video_1")


@pytest.mark.anyio
async def test_a_redirect_without_location_is_an_error(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    # One with a Location is followed (tests/transports/test_credentials.py).
    router.get("/videos/video_1").respond(302)
    with pytest.raises(ProviderError, match="unexpected status 302") as info:
        await sora.fetch("video_1")
    assert info.value.status_code == 302


# --- retry decisions through the transport ----------------------------------------------


@pytest.mark.anyio
async def test_read_retries_5xx_and_429_then_succeeds(
    router: respx.MockRouter, sora: SoraTransport, sleeps: Sleeps
) -> None:
    route = router.get("/videos/video_1").mock(
        side_effect=[
            httpx.Response(500, json=error_body("boom")),
            httpx.Response(429, json=error_body("slow"), headers={"retry-after-ms": "1500"}),
            httpx.Response(503, headers={"retry-after": "3"}),
            httpx.Response(200, json=video(status="in_progress", progress=5)),
        ]
    )
    remote = await sora.fetch("video_1")
    assert remote.progress == 5
    assert route.call_count == 4
    assert 0.25 <= sleeps.delays[0] <= 0.5
    assert sleeps.delays[1:] == [1.5, 3.0]
    assert (
        sora.stats.requests,
        sora.stats.errors,
        sora.stats.retries,
        sora.stats.rate_limited,
    ) == (4, 3, 3, 1)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_not_retried(
    router: respx.MockRouter, sora: SoraTransport, sleeps: Sleeps, status: int
) -> None:
    route = router.get("/videos/video_1").respond(status, json=error_body("no"))
    with pytest.raises(ProviderError):
        await sora.fetch("video_1")
    assert route.call_count == 1
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_long_retry_after_is_not_waited_out(
    router: respx.MockRouter, sora: SoraTransport, sleeps: Sleeps
) -> None:
    route = router.get("/videos/video_1").respond(
        429, json=error_body("later"), headers={"retry-after": "200"}
    )
    with pytest.raises(RateLimitError) as info:
        await sora.fetch("video_1")
    # Over the 120 s waited in place, under the 300 s cap: raised with the hint as sent.
    assert info.value.retry_after == 200.0
    assert route.call_count == 1
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_rate_limits_left_to_the_caller_are_raised_at_once(
    router: respx.MockRouter, sora: SoraTransport, sleeps: Sleeps
) -> None:
    sora.retry_policy = RetryPolicy(retry_rate_limits=False)
    route = router.post("/videos").respond(
        429, json=error_body("busy"), headers={"retry-after": "4"}
    )
    with pytest.raises(RateLimitError) as info:
        await sora.submit(CreateVideoRequest(prompt="fox"), idempotency_key="k")
    assert info.value.retry_after == 4.0
    assert route.call_count == 1
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_retries_run_out(make: Maker, router: respx.MockRouter, sleeps: Sleeps) -> None:
    route = router.get("/videos/video_1").respond(502)
    async with make(base_url=BASE, sleep=sleeps, max_retries=3) as transport:
        with pytest.raises(ProviderUnavailableError):
            await transport.fetch("video_1")
    assert route.call_count == 4
    assert len(sleeps.delays) == 3


@pytest.mark.anyio
async def test_on_retry_hook_sees_each_retry(
    make: Maker, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    seen: list[tuple[int, float, type[BaseException]]] = []
    router.get("/videos/video_1").mock(
        side_effect=[
            httpx.Response(503, headers={"retry-after": "1"}),
            httpx.Response(200, json=video()),
        ]
    )
    async with make(
        base_url=BASE, sleep=sleeps, on_retry=lambda a, d, e: seen.append((a, d, type(e)))
    ) as transport:
        await transport.fetch("video_1")
    assert seen == [(1, 1.0, ProviderUnavailableError)]


@pytest.mark.anyio
async def test_delete_is_retried_and_404_means_already_gone(
    router: respx.MockRouter, sora: SoraTransport, sleeps: Sleeps
) -> None:
    deleted = {"id": "video_1", "object": "video.deleted", "deleted": True}
    route = router.delete("/videos/video_1").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(504),
            httpx.Response(200, json=deleted),
        ]
    )
    await sora.cancel("video_1")
    assert route.call_count == 3
    gone = router.delete("/videos/video_2").respond(
        404, json=error_body("no such video", "video_not_found")
    )
    await sora.cancel("video_2")
    assert gone.call_count == 1


@pytest.mark.anyio
async def test_cancel_raises_other_errors(router: respx.MockRouter, sora: SoraTransport) -> None:
    router.delete("/videos/video_1").respond(
        400, json=error_body("cannot delete a running video", "invalid_state")
    )
    with pytest.raises(ProviderError) as info:
        await sora.cancel("video_1")
    assert info.value.code == "invalid_state"


@pytest.mark.anyio
async def test_ping_lists_one_and_never_retries(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    route = router.get("/videos").mock(
        side_effect=[
            httpx.Response(200, json=listing([], False)),
            httpx.Response(503),
            httpx.Response(401, json=error_body("bad key", "invalid_api_key")),
        ]
    )
    await sora.ping()
    assert route.calls.last.request.url.params["limit"] == "1"
    with pytest.raises(ProviderUnavailableError):
        await sora.ping()
    with pytest.raises(AuthenticationError):
        await sora.ping()
    assert route.call_count == 3


# --- create -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_json_create_body(router: respx.MockRouter, sora: SoraTransport) -> None:
    route = router.post("/videos").respond(json=video("video_9"))
    request = CreateVideoRequest(
        prompt="a red fox",
        model="sora-2-pro",
        duration=8,
        resolution="720p",
        aspect_ratio="16:9",
        provider_options={"prompt": "ignored", "quality": "high", "seed": 7},
    )
    remote = await sora.submit(request, idempotency_key="job-1")
    assert remote.remote_id == "video_9"
    assert remote.status is JobStatus.PROCESSING
    sent = route.calls.last.request
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["idempotency-key"] == "job-1"
    assert request_body(route) == {
        "prompt": "a red fox",
        "model": "sora-2-pro",
        "seconds": "8",
        "size": "1280x720",
        "quality": "high",
        "seed": 7,
    }


@pytest.mark.anyio
async def test_minimal_create_sends_the_default_model_only(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    route = router.post("/videos").respond(json=video())
    await sora.submit(CreateVideoRequest(prompt="fox"), idempotency_key="k")
    assert request_body(route) == {"prompt": "fox", "model": "sora-2"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "url", ["https://img.example/fox.png", "data:image/png;base64,iVBORw0KGgo="]
)
async def test_url_reference_goes_as_image_url_json(
    router: respx.MockRouter, sora: SoraTransport, url: str
) -> None:
    route = router.post("/videos").respond(json=video())
    await sora.submit(
        CreateVideoRequest(prompt="fox", input_reference=url, size="720x1280"), idempotency_key="k"
    )
    assert request_body(route) == {
        "prompt": "fox",
        "model": "sora-2",
        "size": "720x1280",
        "input_reference": {"image_url": url},
    }


def multipart_parts(request: httpx.Request) -> dict[str, tuple[dict[str, str], bytes]]:
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    parts: dict[str, tuple[dict[str, str], bytes]] = {}
    for chunk in request.content.split(b"--" + boundary)[1:-1]:
        head, _, body = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        name = headers["Content-Disposition"].split('name="')[1].split('"')[0]
        parts[name] = (headers, body)
    return parts


@pytest.mark.anyio
async def test_multipart_create_from_a_file(
    router: respx.MockRouter, sora: SoraTransport, tmp_path: Path
) -> None:
    image = tmp_path / "start.png"
    image.write_bytes(PNG)
    route = router.post("/videos").respond(json=video())
    request = CreateVideoRequest(
        prompt="fox",
        duration=12,
        size="1280x720",
        input_reference=image,
        provider_options={"loop": True, "tags": ["a"]},
    )
    await sora.submit(request, idempotency_key="job-7")
    sent = route.calls.last.request
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert sent.headers["idempotency-key"] == "job-7"
    parts = multipart_parts(sent)
    assert {name: body for name, (_, body) in parts.items() if name != "input_reference"} == {
        "prompt": b"fox",
        "model": b"sora-2",
        "seconds": b"12",
        "size": b"1280x720",
        "loop": b"true",
        "tags": b'["a"]',
    }
    headers, body = parts["input_reference"]
    assert body == PNG
    assert 'filename="start.png"' in headers["Content-Disposition"]
    assert headers["Content-Type"] == "image/png"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content", "content_type", "filename"),
    [
        (PNG, "image/png", "input_reference.png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 8, "image/jpeg", "input_reference.jpg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp", "input_reference.webp"),
        (b"something else", "application/octet-stream", "input_reference"),
    ],
)
async def test_multipart_create_from_bytes(
    router: respx.MockRouter, sora: SoraTransport, content: bytes, content_type: str, filename: str
) -> None:
    route = router.post("/videos").respond(json=video())
    await sora.submit(
        CreateVideoRequest(prompt="fox", input_reference=content), idempotency_key="k"
    )
    headers, body = multipart_parts(route.calls.last.request)["input_reference"]
    assert body == content
    assert headers["Content-Type"] == content_type
    assert f'filename="{filename}"' in headers["Content-Disposition"]


@pytest.mark.anyio
@pytest.mark.parametrize("duration", [4, 8, 12, 16, 20])
async def test_seconds_are_sent_as_a_string(
    router: respx.MockRouter, sora: SoraTransport, duration: int
) -> None:
    route = router.post("/videos").respond(json=video())
    await sora.submit(CreateVideoRequest(prompt="fox", duration=duration), idempotency_key="k")
    assert request_body(route)["seconds"] == str(duration)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "first",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow to connect"),
        httpx.PoolTimeout("no free connection"),
        httpx.Response(
            429, json=error_body("slow down", "rate_limit_exceeded"), headers={"retry-after": "2"}
        ),
        httpx.Response(503, json=error_body("overloaded")),
        httpx.Response(408),
        httpx.Response(
            409, json=error_body("a request with this key is in progress", "idempotency_conflict")
        ),
    ],
)
async def test_create_is_retried_only_when_it_certainly_did_not_happen(
    router: respx.MockRouter, sora: SoraTransport, sleeps: Sleeps, first: Exception | httpx.Response
) -> None:
    route = router.post("/videos").mock(
        side_effect=[first, httpx.Response(200, json=video("video_5"))]
    )
    remote = await sora.submit(CreateVideoRequest(prompt="fox"), idempotency_key="job-5")
    assert remote.remote_id == "video_5"
    assert route.call_count == 2
    assert len(sleeps.delays) == 1
    assert [call.request.headers["idempotency-key"] for call in route.calls] == ["job-5", "job-5"]
    if isinstance(first, httpx.Response) and first.status_code == 429:
        assert sleeps.delays == [2.0]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("no answer"),
        httpx.WriteTimeout("stuck sending"),
        httpx.WriteError("broken pipe"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.Response(500, json=error_body("internal")),
        httpx.Response(502),
        httpx.Response(504),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"object": "video"}),
    ],
)
async def test_create_that_may_have_happened_is_ambiguous_and_not_resent(
    router: respx.MockRouter,
    sora: SoraTransport,
    sleeps: Sleeps,
    failure: Exception | httpx.Response,
) -> None:
    route = router.post("/videos").mock(side_effect=[failure, httpx.Response(200, json=video())])
    with pytest.raises(AmbiguousSubmissionError) as info:
        await sora.submit(CreateVideoRequest(prompt="fox"), idempotency_key="job-6")
    assert route.call_count == 1
    assert sleeps.delays == []
    assert info.value.provider == "sora"
    assert "reconcile" in str(info.value)
    if isinstance(failure, httpx.Response):
        assert info.value.status_code == failure.status_code


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "cls"), [(400, ProviderError), (401, AuthenticationError), (422, ProviderError)]
)
async def test_create_refused_is_not_retried(
    router: respx.MockRouter, sora: SoraTransport, status: int, cls: type[ProviderError]
) -> None:
    route = router.post("/videos").respond(status, json=error_body("refused", "bad"))
    with pytest.raises(cls) as info:
        await sora.submit(CreateVideoRequest(prompt="fox"), idempotency_key="k")
    assert not isinstance(info.value, AmbiguousSubmissionError)
    assert route.call_count == 1


@pytest.mark.anyio
async def test_create_exhausting_503_is_unavailable_not_ambiguous(
    make: Maker, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = router.post("/videos").respond(503)
    async with make(base_url=BASE, sleep=sleeps, max_retries=2) as transport:
        with pytest.raises(ProviderUnavailableError) as info:
            await transport.submit(CreateVideoRequest(prompt="fox"), idempotency_key="k")
    assert not isinstance(info.value, AmbiguousSubmissionError)
    assert route.call_count == 3


@pytest.mark.anyio
async def test_remix_posts_prompt_with_idempotency_key(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    route = router.post("/videos/video_1/remix").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(200, json=video("video_2", remixed_from_video_id="video_1")),
        ]
    )
    remote = await sora.remix("video_1", "make it snow", idempotency_key="remix-1")
    assert remote.remote_id == "video_2"
    assert [c.request.headers["idempotency-key"] for c in route.calls] == ["remix-1", "remix-1"]
    assert request_body(route) == {"prompt": "make it snow"}


@pytest.mark.anyio
async def test_remix_timeout_is_ambiguous(router: respx.MockRouter, sora: SoraTransport) -> None:
    router.post("/videos/video_1/remix").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(AmbiguousSubmissionError):
        await sora.remix("video_1", "snow", idempotency_key="k")


@pytest.mark.anyio
async def test_ids_are_escaped_in_paths(router: respx.MockRouter, sora: SoraTransport) -> None:
    route = router.get(url__regex=r".*/videos/a%3Fb%23c%25d%3A\.\.\.$").respond(
        json=video("a?b#c%d:...")
    )
    remote = await sora.fetch("a?b#c%d:...")
    assert remote.remote_id == "a?b#c%d:..."
    assert route.call_count == 1


# --- list and fetch_many ----------------------------------------------------------------


@pytest.mark.anyio
async def test_fetch_many_pages_through_the_list(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    page1 = [video(f"video_{i}", status="in_progress", progress=i) for i in range(100, 0, -1)]
    page2 = [
        video("video_0", status="completed", progress=100),
        video("video_old", status="completed"),
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        if after is None:
            return httpx.Response(200, json=listing(page1, True))
        assert after == "video_1"
        return httpx.Response(200, json=listing(page2, False))

    listed = router.get("/videos").mock(side_effect=answer)
    one = router.get("/videos/video_x").respond(json=video("video_x", status="failed"))
    gone = router.get("/videos/video_gone").respond(
        404, json=error_body("not found", "video_not_found")
    )
    found = await sora.fetch_many(["video_50", "video_0", "video_x", "video_gone", "video_50"])
    assert list(found) == ["video_50", "video_0", "video_x"]
    assert found["video_50"].progress == 50
    assert found["video_0"].status is JobStatus.COMPLETED
    assert found["video_x"].status is JobStatus.FAILED
    assert listed.call_count == 2
    params = listed.calls[0].request.url.params
    assert (params["limit"], params["order"]) == ("100", "desc")
    assert (one.call_count, gone.call_count) == (1, 1)


@pytest.mark.anyio
async def test_fetch_many_stops_listing_once_all_are_found(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    listed = router.get("/videos").respond(json=listing([video("video_2"), video("video_1")], True))
    found = await sora.fetch_many(["video_1"])
    assert set(found) == {"video_1"}
    assert listed.call_count == 1


@pytest.mark.anyio
async def test_fetch_many_bounds_the_pages_it_reads(
    make: Maker, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    counter = iter(range(1000))

    def endless(request: httpx.Request) -> httpx.Response:
        n = next(counter)
        return httpx.Response(200, json=listing([video(f"other_{n}")], True))

    listed = router.get("/videos").mock(side_effect=endless)
    single = router.get("/videos/video_1").respond(json=video("video_1"))
    async with make(base_url=BASE, sleep=sleeps, max_list_pages=3) as transport:
        found = await transport.fetch_many(["video_1"])
    assert set(found) == {"video_1"}
    assert listed.call_count == 3
    assert single.call_count == 1


@pytest.mark.anyio
async def test_fetch_many_reads_as_many_pages_as_keep_paying_for_themselves(
    make: Maker, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    # [W2-4] A thousand videos in flight fill ten pages: listing them all costs ten
    # requests, where stopping at max_list_pages would fetch the rest one by one.
    ids = [f"video_{n:04d}" for n in range(1000)]
    pages = [ids[start : start + 100] for start in range(0, 1000, 100)]

    def paged(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        index = 0 if after is None else next(i for i, p in enumerate(pages) if p[-1] == after) + 1
        items = [video(vid) for vid in pages[index]]
        return httpx.Response(200, json=listing(items, index + 1 < len(pages)))

    listed = router.get("/videos").mock(side_effect=paged)
    single = router.get(url__regex=r"/videos/video_\d+$").mock(
        side_effect=lambda request: httpx.Response(
            200, json=video(request.url.path.rsplit("/", 1)[-1])
        )
    )
    async with make(base_url=BASE, sleep=sleeps, max_list_pages=3) as transport:
        found = await transport.fetch_many(ids)
    assert set(found) == set(ids)
    assert listed.call_count == 10
    assert single.call_count == 0


def paged_list(ids: list[str], size: int = 100, **fields: Any) -> Any:
    """A list endpoint over ``ids`` (newest first), ``size`` a page."""
    pages = [ids[start : start + size] for start in range(0, len(ids), size)]

    def answer(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        index = 0 if after is None else next(i for i, p in enumerate(pages) if p[-1] == after) + 1
        items = [video(vid, **fields) for vid in pages[index]]
        return httpx.Response(200, json=listing(items, index + 1 < len(pages)))

    return answer


@pytest.mark.anyio
async def test_fetch_many_reads_on_past_a_page_that_finds_one_id_among_paying_pages(
    make: Maker, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    # [W2-4] Ids spread over the list at a few a page: now and then one page finds one
    # or none. The last pages together still pay, so the list is read to the end, where
    # stopping at that page fetched every id after it one by one.
    ids = [f"video_{n:04d}" for n in range(1000)]
    wanted = [vid for n, vid in enumerate(ids) if n % 25 == 0 and not 300 <= n < 400]
    listed = router.get("/videos").mock(side_effect=paged_list(ids))
    single = router.get(url__regex=r"/videos/video_\d+$").respond(json=video())
    async with make(base_url=BASE, sleep=sleeps, max_list_pages=3) as transport:
        found = await transport.fetch_many(wanted)
    assert set(found) == set(wanted)
    assert (listed.call_count, single.call_count) == (10, 0)


@pytest.mark.anyio
async def test_fetch_many_stops_once_the_last_pages_no_longer_pay(
    make: Maker, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    # Four ids a page on the first three pages, then one a page: after three pages that
    # find three ids together, the rest are fetched one by one.
    ids = [f"video_{n:04d}" for n in range(1000)]
    wanted = [vid for n, vid in enumerate(ids) if (n < 300 and n % 25 == 0) or n % 100 == 50]
    listed = router.get("/videos").mock(side_effect=paged_list(ids))
    single = router.get(url__regex=r"/videos/video_\d+$").mock(
        side_effect=lambda request: httpx.Response(
            200, json=video(request.url.path.rsplit("/", 1)[-1])
        )
    )
    async with make(base_url=BASE, sleep=sleeps, max_list_pages=3) as transport:
        found = await transport.fetch_many(wanted)
    assert set(found) == set(wanted)
    assert listed.call_count == 6
    assert single.call_count == 4  # video_0650 … video_0950


@pytest.mark.anyio
async def test_fetch_many_seen_reads_the_same_pages_and_answers_for_watched_videos(
    make: Maker, router: respx.MockRouter, sleeps: Sleeps
) -> None:
    ids = [f"video_{n:04d}" for n in range(300)]
    listed = router.get("/videos").mock(
        side_effect=paged_list(ids, status="in_progress", progress=40)
    )
    single = router.get(url__regex=r"/videos/video_\d+$").respond(json=video())
    watched = {"video_0007", "video_0150", "video_0299", "video_gone"}
    async with make(base_url=BASE, sleep=sleeps) as transport:
        found = await transport.fetch_many_seen(["video_0120", "video_0003"], watched=watched)
        # The same requests as fetch_many: pages up to the last id asked about.
        assert listed.call_count == 2
        assert await transport.fetch_many(["video_0120", "video_0003"]) == {
            rid: found[rid] for rid in ("video_0120", "video_0003")
        }
        assert await transport.fetch_many_seen([], watched=watched) == {}
    # Asked first, in the order asked; then the watched videos the two pages showed (not
    # video_0299, on the third page, nor video_gone: no request is made for them).
    assert list(found) == ["video_0120", "video_0003", "video_0007", "video_0150"]
    assert {job.progress for job in found.values()} == {40}
    assert all(job.remote_id == rid for rid, job in found.items())
    assert (listed.call_count, single.call_count) == (4, 0)


@pytest.mark.anyio
async def test_fetch_many_seen_skips_a_listed_video_whose_id_is_unusable(
    router: respx.MockRouter, sora: SoraTransport, caplog: pytest.LogCaptureFixture
) -> None:
    bad = "video 1"  # a space: no request could address it
    router.get("/videos").respond(
        json=listing([video("video_2"), video(bad), video("video_3")], False)
    )
    found = await sora.fetch_many_seen(["video_2", "video_3"], watched={bad})
    assert list(found) == ["video_2", "video_3"]
    assert "skipped a listed video" in caplog.text


@pytest.mark.anyio
async def test_fetch_many_without_a_list_endpoint_falls_back_and_remembers(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    listed = router.get("/videos").respond(404, json=error_body("no such route"))
    for vid in ("video_1", "video_2"):
        router.get(f"/videos/{vid}").respond(json=video(vid))
    assert set(await sora.fetch_many(["video_1", "video_2"])) == {"video_1", "video_2"}
    assert set(await sora.fetch_many(["video_1"])) == {"video_1"}
    assert listed.call_count == 1


@pytest.mark.anyio
async def test_fetch_many_propagates_real_failures(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    router.get("/videos").respond(401, json=error_body("bad key", "invalid_api_key"))
    with pytest.raises(AuthenticationError):
        await sora.fetch_many(["video_1"])
    router.get("/videos").respond(json=listing([], False))
    router.get("/videos/video_1").respond(403, json=error_body("nope"))
    with pytest.raises(PermissionDeniedError):
        await sora.fetch_many(["video_1"])


@pytest.mark.anyio
async def test_fetch_many_of_nothing_sends_nothing(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    assert await sora.fetch_many([]) == {}
    assert sora.stats.requests == 0


@pytest.mark.anyio
async def test_list_recent_pages_up_to_the_limit(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params["limit"])
        start = 0 if "after" not in request.url.params else 100
        items = [video(f"video_{start + i}") for i in range(limit)]
        return httpx.Response(
            200, json=listing(items, True), headers={"openai-poll-after-ms": "1000"}
        )

    listed = router.get("/videos").mock(side_effect=answer)
    recent = await sora.list_recent(limit=150)
    assert [r.remote_id for r in recent] == [f"video_{i}" for i in range(150)]
    assert [c.request.url.params["limit"] for c in listed.calls] == ["100", "50"]
    assert listed.calls[1].request.url.params["after"] == "video_99"
    assert recent[0].poll_after == 1.0


@pytest.mark.anyio
async def test_list_recent_stops_when_the_list_ends(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    listed = router.get("/videos").respond(json=listing([video("video_1"), {"bad": "item"}], False))
    recent = await sora.list_recent()
    assert [r.remote_id for r in recent] == ["video_1"]
    assert listed.call_count == 1


@pytest.mark.anyio
async def test_malformed_list_is_a_provider_error(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    router.get("/videos").respond(json={"object": "list"})
    with pytest.raises(ProviderError, match="not a list"):
        await sora.list_recent()


# --- content ----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("variant", "content_type"),
    [("video", "video/mp4"), ("thumbnail", "image/webp"), ("spritesheet", "image/jpeg")],
)
async def test_open_content_streams(
    router: respx.MockRouter, sora: SoraTransport, variant: str, content_type: str
) -> None:
    payload = bytes(range(256)) * 1000
    route = router.get("/videos/video_1/content").respond(
        content=payload, headers={"content-type": content_type, "content-length": str(len(payload))}
    )
    async with sora.open_content("video_1", variant) as stream:
        assert stream.content_type == content_type
        assert stream.content_length == len(payload)
        received = b"".join([chunk async for chunk in stream.aiter_bytes()])
    assert received == payload
    assert route.calls.last.request.url.params["variant"] == variant


@pytest.mark.anyio
async def test_open_content_errors_and_retries(
    router: respx.MockRouter, sora: SoraTransport, sleeps: Sleeps
) -> None:
    route = router.get("/videos/video_1/content").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(200, content=b"ok", headers={"content-type": "video/mp4"}),
        ]
    )
    async with sora.open_content("video_1") as stream:
        assert b"".join([c async for c in stream.aiter_bytes()]) == b"ok"
    assert route.call_count == 2
    router.get("/videos/video_2/content").respond(
        404, json=error_body("not ready", "video_not_ready")
    )
    with pytest.raises(ProviderError) as info:
        async with sora.open_content("video_2"):
            pass
    assert (info.value.status_code, info.value.code) == (404, "video_not_ready")


@pytest.mark.anyio
async def test_open_content_follows_redirects_without_leaking_the_key(sora: SoraTransport) -> None:
    with respx.mock() as mock:
        mock.get(f"{BASE}/videos/video_1/content").respond(
            302, headers={"location": "http://127.0.0.2:9000/blob/1?sig=abc"}
        )
        mock.get(f"{BASE}/videos/video_2/content").respond(307, headers={"location": "/v1/blobs/2"})
        cdn = mock.get("http://127.0.0.2:9000/blob/1").respond(
            content=b"cdn", headers={"content-type": "video/mp4"}
        )
        same = mock.get(f"{BASE}/blobs/2").respond(
            content=b"same", headers={"content-type": "video/mp4"}
        )
        async with sora.open_content("video_1") as stream:
            assert b"".join([c async for c in stream.aiter_bytes()]) == b"cdn"
        async with sora.open_content("video_2") as stream:
            assert b"".join([c async for c in stream.aiter_bytes()]) == b"same"
    assert "authorization" not in cdn.calls.last.request.headers
    assert cdn.calls.last.request.url.params["sig"] == "abc"
    assert same.calls.last.request.headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.anyio
async def test_compressed_content_has_no_length(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    import gzip

    router.get("/videos/video_1/content").respond(
        content=gzip.compress(b"x" * 100),
        headers={"content-encoding": "gzip", "content-type": "video/mp4"},
    )
    async with sora.open_content("video_1") as stream:
        assert stream.content_length is None
        assert b"".join([c async for c in stream.aiter_bytes()]) == b"x" * 100


class BrokenStream(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"first chunk"
        raise httpx.ReadError("connection reset mid-download")


@pytest.mark.anyio
async def test_a_download_that_breaks_midway_is_a_connection_error(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    router.get("/videos/video_1/content").mock(
        return_value=httpx.Response(
            200, headers={"content-type": "video/mp4"}, stream=BrokenStream()
        )
    )
    received: list[bytes] = []

    async def download() -> None:
        async with sora.open_content("video_1") as stream:
            async for chunk in stream.aiter_bytes():
                received.append(chunk)

    with pytest.raises(ProviderConnectionError) as info:
        await download()
    assert received == [b"first chunk"]
    assert isinstance(info.value.__cause__, httpx.ReadError)
    assert not isinstance(info.value, AmbiguousSubmissionError)


def test_open_content_rejects_unknown_variants() -> None:
    with pytest.raises(ValidationError) as info:
        SoraTransport(base_url=BASE).open_content("video_1", "poster")
    assert info.value.fields == ("variant",)


# --- validation and cost ----------------------------------------------------------------

VALIDATE_TABLE: list[tuple[dict[str, Any], list[str]]] = [
    ({}, []),
    ({"duration": 8, "size": "1792x1024"}, []),
    ({"duration": 20}, []),
    ({"duration": 5}, ["duration"]),
    ({"size": "1920x1080"}, ["size"]),
    ({"model": "sora-2-pro", "size": "1920x1080"}, []),
    ({"resolution": "1080p", "aspect_ratio": "9:16"}, ["resolution"]),
    ({"model": "sora-2-pro", "resolution": "1080p", "aspect_ratio": "9:16"}, []),
    ({"resolution": "720p", "aspect_ratio": "1:1"}, ["resolution"]),
    ({"resolution": "480p"}, ["resolution"]),
    ({"model": "veo-3.1", "duration": 7, "size": "640x480"}, []),
    ({"input_reference": "https://img.example/a.png"}, []),
    ({"input_reference": "http://img.example/a.png"}, ["input_reference"]),
    ({"input_reference": "/no/such/file.png"}, ["input_reference"]),
    ({"input_reference": b"\x89PNG"}, []),
    (
        {"duration": 3, "size": "10x10", "input_reference": "missing.png"},
        ["duration", "size", "input_reference"],
    ),
]


@pytest.mark.parametrize(("fields", "bad"), VALIDATE_TABLE)
def test_validate(fields: dict[str, Any], bad: list[str]) -> None:
    transport = SoraTransport(base_url=BASE)
    errors = transport.validate(CreateVideoRequest(prompt="fox", **fields), "videos[2]")
    assert [e.field for e in errors] == [f"videos[2].{name}" for name in bad]
    assert all(e.message for e in errors)


def test_validate_accepts_an_existing_file(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(PNG)
    assert (
        SoraTransport(base_url=BASE).validate(
            CreateVideoRequest(prompt="fox", input_reference=image)
        )
        == []
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"duration": 8}, 0.8),
        ({}, 0.4),
        ({"model": "sora-2-pro", "duration": 12}, 3.6),
        ({"model": "veo-3.1", "duration": 8}, None),
    ],
)
def test_estimate_cost(fields: dict[str, Any], expected: float | None) -> None:
    assert (
        SoraTransport(base_url=BASE).estimate_cost(CreateVideoRequest(prompt="fox", **fields))
        == expected
    )


def test_price_overrides() -> None:
    transport = SoraTransport(base_url=BASE, prices={"sora-2": 0.05, "veo-3.1": 0.4})
    assert transport.estimate_cost(CreateVideoRequest(prompt="fox", duration=8)) == 0.4
    assert (
        transport.estimate_cost(CreateVideoRequest(prompt="fox", model="veo-3.1", duration=5))
        == 2.0
    )
    assert transport.capabilities.models["sora-2"].durations == (4, 8, 12, 16, 20)


# --- shut-down hosts --------------------------------------------------------------------


@pytest.mark.anyio
async def test_openai_host_errors_say_the_api_was_shut_down(make: Maker, sleeps: Sleeps) -> None:
    with respx.mock(base_url="https://api.openai.com/v1") as mock:
        mock.get("/videos/video_1").respond(
            404, json=error_body("Invalid URL (GET /v1/videos/video_1)")
        )
        mock.post("/videos").mock(side_effect=httpx.ConnectError("refused"))
        async with make(api_key=KEY, sleep=sleeps, max_retries=0) as transport:
            with pytest.raises(ProviderError, match=r"shut the Sora API .* down on 2026-09-24"):
                await transport.fetch("video_1")
            with pytest.raises(ProviderConnectionError, match="2026-09-24"):
                await transport.submit(CreateVideoRequest(prompt="fox"), idempotency_key="k")


@pytest.mark.anyio
async def test_azure_host_errors_say_sora_was_retired(make: Maker, sleeps: Sleeps) -> None:
    base = "https://myres.openai.azure.com/openai/v1"
    with respx.mock(base_url=base) as mock:
        mock.get("/videos/video_1").respond(410, json=error_body("gone"))
        async with make(base_url=base, api_key=KEY, auth_style="azure", sleep=sleeps) as transport:
            with pytest.raises(ProviderError, match="retired Sora on 2026-10-15"):
                await transport.fetch("video_1")


@pytest.mark.anyio
async def test_other_hosts_get_no_shutdown_note(
    router: respx.MockRouter, sora: SoraTransport
) -> None:
    router.get("/videos/video_1").respond(400, json=error_body("bad"))
    with pytest.raises(ProviderError) as info:
        await sora.fetch("video_1")
    assert "2026" not in str(info.value)


# --- secrets ----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("auth_style", ["bearer", "azure"])
async def test_the_api_key_never_leaks(
    make: Maker,
    router: respx.MockRouter,
    sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture,
    auth_style: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = f"Incorrect API key provided: {KEY}"
    router.get("/videos/video_1").mock(
        side_effect=[
            httpx.Response(503, json=error_body(echo)),
            httpx.Response(
                200,
                json=video(
                    prompt=f"my key is {KEY}", status="failed", error={"code": "x", "message": KEY}
                ),
            ),
        ]
    )
    router.get("/videos/video_2").respond(401, text=echo, headers={"x-request-id": KEY})
    router.post("/videos").mock(side_effect=httpx.ReadTimeout(f"timeout talking with {KEY}"))
    router.get("/videos").respond(json=listing([video(prompt=KEY)], False))
    failures: list[BaseException] = []
    transport = make(base_url=BASE, api_key=KEY, auth_style=auth_style, sleep=sleeps)  # type: ignore[arg-type]
    async with transport:
        remote = await transport.fetch("video_1")
        for call in (
            transport.fetch("video_2"),
            transport.submit(CreateVideoRequest(prompt="fox"), idempotency_key="k"),
        ):
            try:
                await call
            except ProviderError as exc:
                failures.append(exc)
        recent = await transport.list_recent()
    assert len(failures) == 2
    exposed = [
        repr(transport),
        repr(transport.stats),
        repr(remote),
        dumps(remote.error),
        caplog.text,
    ]
    exposed += [json.dumps(dict(remote.raw)), json.dumps([dict(r.raw) for r in recent])]
    for exc in failures:
        assert isinstance(exc, ProviderError)
        exposed += [str(exc), repr(exc), exc.message, json.dumps(exc.body), str(exc.request_id)]
    for text in exposed:
        assert KEY not in text
    assert "***" in str(failures[0])
    assert "***" in str(failures[1])
    assert remote.raw["prompt"] == "my key is ***"


# --- lifecycle --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_aclose_closes_only_an_owned_client(router: respx.MockRouter) -> None:
    router.get("/videos/video_1").respond(json=video())
    owned = SoraTransport(base_url=BASE)
    await owned.fetch("video_1")
    await owned.aclose()
    await owned.aclose()
    with pytest.raises(ProviderError, match="closed"):
        await owned.fetch("video_1")

    async with httpx.AsyncClient(verify=tls()) as client:
        injected = SoraTransport(base_url=BASE, http_client=client)
        await injected.fetch("video_1")
        await injected.aclose()
        assert not client.is_closed
        assert (await client.get(f"{BASE}/videos/video_1")).status_code == 200


@pytest.mark.anyio
async def test_injected_client_through_its_own_transport() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=video(status="completed"))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        transport = SoraTransport(base_url="http://127.0.0.1/v1", http_client=client)
        remote = await transport.fetch("video_1")
    assert remote.status is JobStatus.COMPLETED
    assert seen[0].headers["user-agent"].startswith("soravideo")
    assert "authorization" not in seen[0].headers


@pytest.mark.anyio
@pytest.mark.parametrize("status", [303, 302])
@pytest.mark.parametrize("then", [429, 503])
async def test_a_create_answered_with_a_redirect_is_never_sent_again(
    router: respx.MockRouter, sora: SoraTransport, sleeps: Sleeps, status: int, then: int
) -> None:
    # The POST was taken (a redirect to a GET): a 429 or 503 on the GET says nothing of
    # whether the create made a video, so it is ambiguous, never retried as unsent.
    create = router.post("/videos").respond(status, headers={"location": f"{BASE}/videos/v1"})
    router.get("/videos/v1").respond(then, json=error_body("busy"))
    with pytest.raises(AmbiguousSubmissionError, match="answered with a redirect"):
        await sora.submit(CreateVideoRequest(prompt="fox"), idempotency_key="k")
    assert create.call_count == 1
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_a_create_redirected_with_307_is_still_unsent_when_refused(
    router: respx.MockRouter, sora: SoraTransport, sleeps: Sleeps
) -> None:
    # 307: the server asks for the same POST elsewhere, having taken nothing. A 429 there
    # certainly made nothing: retried as usual.
    first = router.post("/videos").mock(
        side_effect=[
            httpx.Response(307, headers={"location": f"{BASE}/videos2"}),
            httpx.Response(307, headers={"location": f"{BASE}/videos2"}),
        ]
    )
    second = router.post("/videos2").mock(
        side_effect=[
            httpx.Response(429, json=error_body("busy"), headers={"retry-after": "1"}),
            httpx.Response(200, json=video("video_9")),
        ]
    )
    remote = await sora.submit(CreateVideoRequest(prompt="fox"), idempotency_key="k")
    assert remote.remote_id == "video_9"
    assert (first.call_count, second.call_count, sleeps.delays) == (2, 2, [1.0])
