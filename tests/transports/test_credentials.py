"""Credentials go only to the configured origin, and no error shows them.

The library follows redirects itself, whatever ``httpx.AsyncClient`` it is given, and drops
every credential on a hop to another origin; a password in the base URL becomes Basic auth
for that origin and is never printed; no exception reachable from a soravideo error (cause,
context, its request, its response's request) holds a key in clear.
"""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from helpers import tls
from soravideo import CreateVideoRequest, ProviderError
from soravideo._core.retry import RetryPolicy
from soravideo.transports.runway import RunwayTransport
from soravideo.transports.sora import SoraTransport

pytestmark = pytest.mark.anyio

HOST = "http://127.0.0.1:8765"
BASE = f"{HOST}/v1"
OTHER = "http://127.0.0.2:9000"
KEY = "sk-azure-SECRET-0123456789abcdef"
PASSWORD = "url-PASSWORD-9876543210"
ENV_VARS = ("SORAVIDEO_BASE_URL", "OPENAI_BASE_URL", "SORAVIDEO_API_KEY", "OPENAI_API_KEY")


def video(vid: str = "video_1", status: str = "queued") -> dict[str, Any]:
    return {"id": vid, "object": "video", "model": "sora-2", "status": status, "progress": 0}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV_VARS, "RUNWAYML_BASE_URL", "RUNWAYML_API_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def following() -> AsyncIterator[httpx.AsyncClient]:
    """A user's client that follows redirects on its own (httpx strips only Authorization)."""
    async with httpx.AsyncClient(follow_redirects=True, verify=tls()) as client:
        yield client


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


async def no_sleep(seconds: float) -> None:
    return None


def azure(client: httpx.AsyncClient, base_url: str = BASE) -> SoraTransport:
    return SoraTransport(
        base_url=base_url, api_key=KEY, auth_style="azure", http_client=client, sleep=no_sleep
    )


def sent_credentials(request: httpx.Request) -> dict[str, str]:
    names = ("authorization", "api-key", "x-api-key", "x-goog-api-key", "cookie")
    return {name: request.headers[name] for name in names if name in request.headers}


# --- redirects --------------------------------------------------------------------------


async def test_a_user_client_following_redirects_sends_the_azure_key_only_to_its_origin(
    following: httpx.AsyncClient, mock: respx.MockRouter
) -> None:
    mock.get(f"{BASE}/videos/video_1/content").respond(
        302, headers={"location": f"{OTHER}/blob/1?sig=abc"}
    )
    mock.get(f"{BASE}/videos/video_1").respond(307, headers={"location": f"{OTHER}/api/1"})
    blob = mock.get(f"{OTHER}/blob/1").respond(
        content=b"mp4", headers={"content-type": "video/mp4"}
    )
    api = mock.get(f"{OTHER}/api/1").respond(json=video())
    async with azure(following) as transport:
        async with transport.open_content("video_1") as stream:
            assert b"".join([c async for c in stream.aiter_bytes()]) == b"mp4"
        assert (await transport.fetch("video_1")).remote_id == "video_1"
    assert sent_credentials(blob.calls.last.request) == {}
    assert sent_credentials(api.calls.last.request) == {}
    assert blob.calls.last.request.url.params["sig"] == "abc"


async def test_same_origin_redirects_are_followed_with_the_key(
    following: httpx.AsyncClient, mock: respx.MockRouter
) -> None:
    mock.get(f"{BASE}/videos/video_1").respond(301, headers={"location": "/v1/videos/video_2"})
    # The same video at another address: its answer is still about video_1.
    moved = mock.get(f"{BASE}/videos/video_2").respond(json=video("video_1"))
    mock.post(f"{BASE}/videos").respond(307, headers={"location": "/v1/videos-new"})
    created = mock.post(f"{BASE}/videos-new").respond(json=video("video_3"))
    async with azure(following) as transport:
        assert (await transport.fetch("video_1")).remote_id == "video_1"
        remote = await transport.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")
    assert remote.remote_id == "video_3"
    assert moved.calls.last.request.headers["api-key"] == KEY
    # A 307 keeps the method, the body and the Idempotency-Key.
    sent = created.calls.last.request
    assert (sent.method, sent.headers["api-key"], sent.headers["idempotency-key"]) == (
        "POST",
        KEY,
        "k",
    )
    assert b"a fox" in sent.content


async def test_a_session_own_client_follows_redirects_too(mock: respx.MockRouter) -> None:
    mock.get(f"{BASE}/videos/video_1").respond(302, headers={"location": f"{OTHER}/v/1"})
    elsewhere = mock.get(f"{OTHER}/v/1").respond(json=video())
    async with SoraTransport(base_url=BASE, api_key=KEY, sleep=no_sleep) as transport:
        await transport.fetch("video_1")
    assert sent_credentials(elsewhere.calls.last.request) == {}


async def test_a_hop_elsewhere_drops_the_user_client_credentials_too(
    mock: respx.MockRouter,
) -> None:
    mock.get(f"{BASE}/videos/video_1/content").respond(302, headers={"location": f"{OTHER}/blob/1"})
    home = mock.get(f"{BASE}/videos/video_2").respond(json=video("video_2"))
    blob = mock.get(f"{OTHER}/blob/1").respond(content=b"mp4")
    async with (
        httpx.AsyncClient(
            headers={"x-goog-api-key": "goog-SECRET-1234", "Cookie": "session=c00kie"},
            auth=("someone", "auth-SECRET-1234"),
            follow_redirects=True,
            verify=tls(),
        ) as client,
        SoraTransport(base_url=BASE, http_client=client, sleep=no_sleep) as transport,
    ):
        async with transport.open_content("video_1") as stream:
            assert b"".join([c async for c in stream.aiter_bytes()]) == b"mp4"
        await transport.fetch("video_2")
    assert sent_credentials(blob.calls.last.request) == {}
    # The user's own credentials still reach the configured origin.
    assert set(sent_credentials(home.calls.last.request)) == {
        "authorization",
        "x-goog-api-key",
        "cookie",
    }


async def test_runway_result_url_redirected_elsewhere_gets_no_credentials(
    following: httpx.AsyncClient, mock: respx.MockRouter
) -> None:
    runway = "http://127.0.0.1:8766"
    mock.get(f"{runway}/v1/tasks/t1").respond(
        json={
            "id": "t1",
            "status": "SUCCEEDED",
            "createdAt": "2027-01-15T08:00:00.000Z",
            "cost": {"credits": 60},
            "output": [f"{OTHER}/out/1.mp4"],
        }
    )
    mock.get(f"{OTHER}/out/1.mp4").respond(302, headers={"location": "http://127.0.0.3/x.mp4"})
    final = mock.get("http://127.0.0.3/x.mp4").respond(content=b"mp4")
    transport = RunwayTransport(base_url=runway, api_key=KEY, http_client=following, sleep=no_sleep)
    async with transport:
        await transport.fetch("t1")
        async with transport.open_content("t1") as stream:
            assert b"".join([c async for c in stream.aiter_bytes()]) == b"mp4"
    request = final.calls.last.request
    assert sent_credentials(request) == {}
    assert not any(name.lower().startswith("x-runway") for name in request.headers)


async def test_too_many_redirects_is_a_provider_error(mock: respx.MockRouter) -> None:
    mock.get(f"{BASE}/videos/video_1").respond(302, headers={"location": "/v1/videos/video_1"})
    async with SoraTransport(base_url=BASE, sleep=no_sleep) as transport:
        with pytest.raises(ProviderError, match="too many redirects"):
            await transport.fetch("video_1")


# --- no key in any error ----------------------------------------------------------------


def reachable(error: BaseException) -> list[BaseException]:
    """Every exception chained to ``error``, itself included."""
    found: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        pending += [current.__cause__, current.__context__]
    return found


def exposed(error: BaseException) -> str:
    """What a debugging user could print from ``error`` and what it is chained to."""
    texts = ["".join(traceback.format_exception(error))]
    for exc in reachable(error):
        texts += [str(exc), repr(exc), repr(vars(exc)), repr(exc.args)]
        request = getattr(exc, "_request", None)
        response = getattr(exc, "response", None)
        for req in (request, getattr(response, "_request", None)):
            if isinstance(req, httpx.Request):
                texts += [repr(req), str(req.url), repr(req.headers), repr(dict(req.headers))]
    return "\n".join(texts)


@pytest.mark.parametrize("status", [401, 500, 404])
async def test_an_error_answer_keeps_no_key_in_clear(
    following: httpx.AsyncClient, mock: respx.MockRouter, status: int
) -> None:
    mock.get(f"{BASE}/videos/video_1").respond(status, json={"error": {"message": "no"}})
    async with azure(following) as transport:
        transport.retry_policy = RetryPolicy(max_retries=0)
        with pytest.raises(ProviderError) as info:
            await transport.fetch("video_1")
    cause = info.value.__cause__
    assert isinstance(cause, httpx.HTTPStatusError)
    assert cause.request.headers["api-key"] == "[secure]"
    assert cause.response.request.headers["api-key"] == "[secure]"
    assert KEY not in exposed(info.value)


async def test_a_failed_connection_keeps_no_key_in_clear(
    following: httpx.AsyncClient, mock: respx.MockRouter
) -> None:
    mock.get(f"{BASE}/videos/video_1").mock(
        side_effect=httpx.ConnectError(f"refused (sent api-key: {KEY})")
    )
    mock.post(f"{BASE}/videos").mock(side_effect=httpx.ReadTimeout("slow"))
    async with azure(following) as transport:
        transport.retry_policy = RetryPolicy(max_retries=0)
        for call in (
            lambda: transport.fetch("video_1"),
            lambda: transport.submit(CreateVideoRequest(prompt="fox"), idempotency_key="k"),
        ):
            with pytest.raises(ProviderError) as info:
                await call()
            cause = info.value.__cause__
            assert isinstance(cause, httpx.HTTPError)
            assert cause.request.headers["api-key"] == "[secure]"
            assert KEY not in exposed(info.value)


async def test_a_download_broken_midway_keeps_no_key_in_clear(
    following: httpx.AsyncClient, mock: respx.MockRouter
) -> None:
    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"mp4"
            raise httpx.ReadError(f"connection reset (api-key {KEY})")

    mock.get(f"{BASE}/videos/video_1/content").mock(
        side_effect=lambda request: httpx.Response(
            200, headers={"content-type": "video/mp4"}, stream=Broken()
        )
    )

    async def download(transport: SoraTransport) -> None:
        async with transport.open_content("video_1") as stream:
            async for _ in stream.aiter_bytes():
                pass

    async with azure(following) as transport:
        with pytest.raises(ProviderError) as info:
            await download(transport)
    assert KEY not in exposed(info.value)


# --- a password in the base URL ---------------------------------------------------------


@pytest.mark.parametrize("transport_class", [SoraTransport, RunwayTransport])
def test_a_base_url_password_is_never_in_a_repr(transport_class: Any) -> None:
    transport = transport_class(base_url=f"http://user:{PASSWORD}@127.0.0.1:1/v1", api_key=KEY)
    for text in (repr(transport), str(transport.base_url), repr(transport._session)):
        assert PASSWORD not in text
        assert KEY not in text
    assert transport.base_url == "http://user:***@127.0.0.1:1/v1"


async def test_a_base_url_password_becomes_basic_auth_for_that_origin_only(
    mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    base = f"http://user:{PASSWORD}@127.0.0.1:8765/v1"
    home = mock.get(f"{BASE}/videos/video_1").respond(json=video())
    mock.get(f"{BASE}/videos/video_1/content").respond(302, headers={"location": f"{OTHER}/blob/1"})
    blob = mock.get(f"{OTHER}/blob/1").respond(content=b"mp4")
    mock.get(f"{BASE}/videos/video_2").respond(500, json={"error": {"message": "down"}})
    mock.get(f"{BASE}/videos/video_3").mock(side_effect=httpx.ConnectError("refused"))
    failures: list[ProviderError] = []
    async with SoraTransport(base_url=base, sleep=no_sleep, max_retries=1) as transport:
        await transport.fetch("video_1")
        async with transport.open_content("video_1") as stream:
            assert b"".join([c async for c in stream.aiter_bytes()]) == b"mp4"
        for remote_id in ("video_2", "video_3"):
            try:
                await transport.fetch(remote_id)
            except ProviderError as exc:
                failures.append(exc)
    sent = home.calls.last.request
    basic = base64.b64encode(f"user:{PASSWORD}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {basic}"
    assert sent.url.userinfo == b""
    assert sent_credentials(blob.calls.last.request) == {}
    assert len(failures) == 2
    shown = caplog.text + "".join(exposed(exc) for exc in failures)
    assert PASSWORD not in shown
    assert basic not in shown


async def test_the_api_key_wins_over_a_base_url_password(mock: respx.MockRouter) -> None:
    route = mock.get(f"{BASE}/videos/video_1").respond(json=video())
    base = f"http://user:{PASSWORD}@127.0.0.1:8765/v1"
    async with SoraTransport(base_url=base, api_key=KEY, sleep=no_sleep) as transport:
        await transport.fetch("video_1")
    assert route.calls.last.request.headers["authorization"] == f"Bearer {KEY}"
