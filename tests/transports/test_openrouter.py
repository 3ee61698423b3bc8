"""OpenRouterTransport at the HTTP level (respx): requests, mapping, errors, content, cost."""

from __future__ import annotations

import json
import logging
import runpy
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import respx

from helpers import tls
from soravideo import (
    AmbiguousSubmissionError,
    AuthenticationError,
    CreateVideoRequest,
    JobStatus,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    ValidationError,
)
from soravideo._core.clock import ManualClock
from soravideo.transports import Transport
from soravideo.transports.base import remote_id_problem
from soravideo.transports.openrouter import (
    OPENROUTER_MODELS,
    OpenRouterModel,
    OpenRouterTransport,
)

BASE = "http://127.0.0.1:8768/api/v1"
CDN = "http://127.0.0.1:8769"
KEY = "sk-or-v1-SECRET0123456789abcdef"
JOB = "gen-vid-1800000000-AbCdEfGhIjKlMnOpQrSt"
START = 1_800_000_000.0
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "openrouter_example.py"
ENV_VARS = ("OPENROUTER_API_KEY", "OPENROUTER_HTTP_REFERER", "OPENROUTER_X_OPEN_ROUTER_TITLE")


def job(status: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": JOB, "polling_url": f"/api/v1/videos/{JOB}", "status": status}
    body.update(extra)
    return body


def accepted(job_id: str = JOB) -> httpx.Response:
    return httpx.Response(
        202, json={"id": job_id, "polling_url": f"/api/v1/videos/{job_id}", "status": "pending"}
    )


def completed(**extra: Any) -> dict[str, Any]:
    return job(
        "completed",
        generation_id="gen-1800000100-AAAA",
        unsigned_urls=[f"{BASE}/videos/{JOB}/content?index=0"],
        urls=["https://storage.example.com/v.mp4?signature=SIGNED"],
        expires_at=int(START) + 86_400,
        usage={"cost": 4.0, "is_byok": False},
        **extra,
    )


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
    with respx.mock(assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=tls()) as http_client:
        yield http_client


Maker = Callable[..., OpenRouterTransport]


@pytest.fixture
def make(client: httpx.AsyncClient, sleeps: Sleeps) -> Maker:
    def factory(**kwargs: Any) -> OpenRouterTransport:
        kwargs.setdefault("base_url", BASE)
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("sleep", sleeps)
        kwargs.setdefault("clock", ManualClock(start=START))
        return OpenRouterTransport(http_client=client, **kwargs)

    return factory


@pytest.fixture
def openrouter(make: Maker) -> OpenRouterTransport:
    return make()


@pytest.fixture
def offline() -> OpenRouterTransport:
    """A transport for checks that send nothing (validation, estimates)."""
    return OpenRouterTransport(base_url=BASE, api_key=KEY)


def body_of(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


# --- construction --------------------------------------------------------------------------


def test_it_is_a_transport_that_cannot_cancel_list_or_remix() -> None:
    transport = OpenRouterTransport()
    assert isinstance(transport, Transport)
    assert transport.name == "openrouter"
    assert transport.base_url == "https://openrouter.ai/api/v1"
    caps = transport.capabilities
    assert caps.default_model == "google/veo-3.1"
    assert (caps.can_cancel, caps.can_list, caps.can_remix) == (False, False, False)
    assert caps.idempotent_creates is False
    assert (caps.result_kind, caps.variants, caps.min_poll_interval) == ("bytes", ("video",), 10.0)
    veo = caps.models["google/veo-3.1"]
    assert (veo.durations, veo.default_duration, veo.default_size) == ((4, 6, 8), 8, "1280x720")
    assert veo.price_per_second_usd == pytest.approx(0.50)
    assert caps.models["google/veo-3.1-lite"].price_per_second_usd is None
    # A model whose listing has no sizes: they follow from its resolutions and shapes.
    assert "720x720" in (caps.models["alibaba/wan-2.6"].sizes or ())
    assert OpenRouterTransport(min_poll_interval=0.5).capabilities.min_poll_interval == 0.5


def test_the_environment_supplies_the_key_and_app_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "api_key=None" in repr(OpenRouterTransport())
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    transport = OpenRouterTransport(base_url="http://127.0.0.1:1/api/v1/")
    assert transport.base_url == "http://127.0.0.1:1/api/v1"
    assert "api_key=set" in repr(transport)
    assert KEY not in repr(transport)


@pytest.mark.anyio
async def test_every_request_carries_the_key_and_the_app_headers(
    router: respx.MockRouter, make: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_HTTP_REFERER", "https://app.example")
    transport = make(app_title="My app")
    route = router.get(f"{BASE}/key").respond(200, json={"data": {}})
    await transport.ping()
    headers = route.calls[0].request.headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["http-referer"] == "https://app.example"
    assert headers["x-openrouter-title"] == "My app"


@pytest.mark.anyio
async def test_ping_is_not_retried(
    router: respx.MockRouter, openrouter: OpenRouterTransport
) -> None:
    route = router.get(f"{BASE}/key").respond(503, json={"error": {"code": 503, "message": "x"}})
    with pytest.raises(ProviderUnavailableError):
        await openrouter.ping()
    assert route.call_count == 1


# --- requests ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_plain_request_gets_the_models_defaults(
    router: respx.MockRouter, openrouter: OpenRouterTransport
) -> None:
    route = router.post(f"{BASE}/videos").mock(return_value=accepted())

    remote = await openrouter.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k1")

    assert body_of(route) == {
        "model": "google/veo-3.1",
        "prompt": "a fox",
        "duration": 8,
        "resolution": "720p",
    }
    assert "idempotency-key" not in route.calls[0].request.headers
    assert remote.remote_id == JOB
    assert (remote.status, remote.provider_status) == (JobStatus.PROCESSING, "pending")
    assert remote.created_at == datetime.fromtimestamp(START, timezone.utc)
    assert remote.cost_usd is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"size": "720x1280"},
            {"model": "google/veo-3.1", "duration": 8, "size": "720x1280"},
        ),
        (
            {"resolution": "1080p", "aspect_ratio": "9:16", "duration": 4},
            {
                "model": "google/veo-3.1",
                "duration": 4,
                "resolution": "1080p",
                "aspect_ratio": "9:16",
            },
        ),
        (
            {"model": "kwaivgi/kling-v3.0-pro", "aspect_ratio": "1:1"},
            {"model": "kwaivgi/kling-v3.0-pro", "aspect_ratio": "1:1"},
        ),
        (
            {"model": "bytedance/seedance-2.0", "resolution": "4k"},
            {"model": "bytedance/seedance-2.0", "resolution": "4K"},
        ),
        (
            {"resolution": "1080P", "aspect_ratio": "16:9"},
            {
                "model": "google/veo-3.1",
                "duration": 8,
                "resolution": "1080p",
                "aspect_ratio": "16:9",
            },
        ),
        (
            {
                "input_reference": "https://assets.example.com/first.png",
                "provider_options": {
                    "seed": 7,
                    "generate_audio": False,
                    "callback_url": "https://hooks.example.com/or",
                    "provider": {"options": {"google-vertex": {"parameters": {"x": 1}}}},
                },
            },
            {
                "model": "google/veo-3.1",
                "duration": 8,
                "resolution": "720p",
                "frame_images": [
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://assets.example.com/first.png"},
                        "frame_type": "first_frame",
                    }
                ],
                "seed": 7,
                "generate_audio": False,
                "callback_url": "https://hooks.example.com/or",
                "provider": {"options": {"google-vertex": {"parameters": {"x": 1}}}},
            },
        ),
    ],
)
@pytest.mark.anyio
async def test_the_neutral_request_maps_onto_openrouters_fields(
    router: respx.MockRouter,
    openrouter: OpenRouterTransport,
    fields: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    route = router.post(f"{BASE}/videos").mock(return_value=accepted())
    request = CreateVideoRequest(prompt="a fox", **fields)
    assert openrouter.validate(request) == []

    await openrouter.submit(request, idempotency_key="k")

    assert body_of(route) == {"prompt": "a fox", **expected}


@pytest.mark.anyio
async def test_first_and_last_frames_go_through_provider_options(
    router: respx.MockRouter, openrouter: OpenRouterTransport
) -> None:
    frames = [
        {"type": "image_url", "image_url": {"url": f"https://x.example/{n}.png"}, "frame_type": n}
        for n in ("first_frame", "last_frame")
    ]
    route = router.post(f"{BASE}/videos").mock(return_value=accepted())
    request = CreateVideoRequest(prompt="a fox", provider_options={"frame_images": frames})
    assert openrouter.validate(request) == []
    await openrouter.submit(request, idempotency_key="k")
    assert body_of(route)["frame_images"] == frames


def test_validate_names_every_field_a_model_cannot_do(offline: OpenRouterTransport) -> None:
    request = CreateVideoRequest(
        prompt="a fox",
        model="google/veo-3.1",
        duration=5,
        resolution="480p",
        aspect_ratio="1:1",
        input_reference=b"\x89PNG\r\n\x1a\n",
        provider_options={"model": "x", "duration": 4, "size": "1x1", "frame_images": []},
    )
    fields = [e.field for e in offline.validate(request, "videos[1]")]
    assert sorted(fields) == sorted(
        [
            "videos[1].provider_options.model",
            "videos[1].provider_options.duration",
            "videos[1].provider_options.size",
            "videos[1].provider_options.frame_images",
            "videos[1].input_reference",
            "videos[1].duration",
            "videos[1].resolution",
            "videos[1].aspect_ratio",
        ]
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"size": "1024x1792"}, "size"),
        ({"model": "alibaba/wan-2.6", "size": "640x480"}, "size"),
        ({"input_reference": "frame.png"}, "input_reference"),
        ({"input_reference": "http://insecure.example/a.png"}, "input_reference"),
        ({"model": "alibaba/wan-2.6", "duration": 8}, "duration"),
        ({"provider_options": {"prompt": "other"}}, "provider_options.prompt"),
    ],
)
def test_validate_rejects_one_thing_at_a_time(
    offline: OpenRouterTransport, fields: dict[str, Any], field: str
) -> None:
    errors = offline.validate(CreateVideoRequest(prompt="a fox", **fields))
    assert [e.field for e in errors] == [field]


def test_models_it_does_not_know_are_left_to_openrouter(offline: OpenRouterTransport) -> None:
    request = CreateVideoRequest(
        prompt="a fox", model="minimax/hailuo-2.3", duration=17, resolution="4k", size="3840x2160"
    )
    assert offline.validate(request) == []
    assert (
        offline.validate(
            CreateVideoRequest(prompt="a", input_reference="data:image/png;base64,AA==")
        )
        == []
    )


@pytest.mark.anyio
async def test_an_image_that_is_not_a_url_is_never_sent(
    router: respx.MockRouter, openrouter: OpenRouterTransport
) -> None:
    route = router.post(f"{BASE}/videos").mock(return_value=accepted())
    with pytest.raises(ValidationError) as info:
        await openrouter.submit(
            CreateVideoRequest(prompt="a fox", input_reference=b"\x89PNG"), idempotency_key="k"
        )
    assert info.value.fields == ("input_reference",)
    assert route.call_count == 0


# --- statuses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "status", "word", "code"),
    [
        (job("pending"), JobStatus.PROCESSING, "pending", None),
        (job("in_progress"), JobStatus.PROCESSING, "in_progress", None),
        (job("failed", error="The prompt was blocked."), JobStatus.FAILED, "failed", "failed"),
        (job("failed"), JobStatus.FAILED, "failed", "failed"),
        (job("cancelled"), JobStatus.CANCELLED, "cancelled", None),
        (job("expired"), JobStatus.FAILED, "expired", "expired"),
    ],
)
@pytest.mark.anyio
async def test_statuses_map_onto_the_neutral_ones_keeping_openrouters_word(
    router: respx.MockRouter,
    openrouter: OpenRouterTransport,
    payload: dict[str, Any],
    status: JobStatus,
    word: str,
    code: str | None,
) -> None:
    router.get(f"{BASE}/videos/{JOB}").respond(200, json=payload)

    remote = await openrouter.fetch(JOB)

    assert (remote.status, remote.provider_status, remote.progress) == (status, word, 0)
    assert (remote.error.code if remote.error else None) == code
    if remote.error is not None:
        assert remote.error.retryable is False
        assert remote.error.message
    if "error" in payload:
        assert remote.error is not None and remote.error.message == payload["error"]
    assert (remote.cost_usd, remote.urls) == (None, {})


@pytest.mark.anyio
async def test_a_completed_job_gives_its_cost_its_content_url_and_expiry(
    router: respx.MockRouter, openrouter: OpenRouterTransport
) -> None:
    router.get(f"{BASE}/videos/{JOB}").respond(200, json=completed())

    remote = await openrouter.fetch(JOB)

    assert (remote.status, remote.progress, remote.provider_status) == (
        JobStatus.COMPLETED,
        100,
        "completed",
    )
    assert remote.cost_usd == 4.0
    assert remote.urls == {"video": f"{BASE}/videos/{JOB}/content?index=0"}
    assert remote.expires_at == datetime.fromtimestamp(START + 86_400, timezone.utc)
    # The signed URLs are as good as a secret: not kept.
    assert "urls" not in remote.raw
    assert "SIGNED" not in repr(remote) + json.dumps(dict(remote.raw))
    assert remote.raw["generation_id"] == "gen-1800000100-AAAA"


@pytest.mark.parametrize(
    "usage",
    [None, {"cost": None}, {"cost": "4"}, {"cost": True}, {"cost": -1}, {"is_byok": True}],
)
@pytest.mark.anyio
async def test_a_cost_that_is_not_a_number_is_no_cost(
    router: respx.MockRouter, openrouter: OpenRouterTransport, usage: Any
) -> None:
    payload = completed()
    payload["usage"] = usage
    router.get(f"{BASE}/videos/{JOB}").respond(200, json=payload)
    remote = await openrouter.fetch(JOB)
    assert (remote.status, remote.cost_usd) == (JobStatus.COMPLETED, None)


@pytest.mark.anyio
async def test_a_failed_job_with_a_cost_keeps_it(
    router: respx.MockRouter, openrouter: OpenRouterTransport
) -> None:
    router.get(f"{BASE}/videos/{JOB}").respond(
        200, json=job("failed", error="boom", usage={"cost": 0.0})
    )
    remote = await openrouter.fetch(JOB)
    assert (remote.status, remote.cost_usd) == (JobStatus.FAILED, 0.0)


@pytest.mark.anyio
async def test_an_unknown_status_is_processing_and_warned_once(
    router: respx.MockRouter, openrouter: OpenRouterTransport, caplog: pytest.LogCaptureFixture
) -> None:
    router.get(f"{BASE}/videos/{JOB}").respond(200, json=job("queued"))
    with caplog.at_level(logging.WARNING, logger="soravideo.transports.openrouter"):
        first = await openrouter.fetch(JOB)
        await openrouter.fetch(JOB)
    assert (first.status, first.provider_status) == (JobStatus.PROCESSING, "queued")
    assert len(caplog.records) == 1


# --- creates: what may be sent again, and what never is ----------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202])
@pytest.mark.anyio
async def test_any_success_with_a_job_is_the_job(
    router: respx.MockRouter, openrouter: OpenRouterTransport, status: int
) -> None:
    router.post(f"{BASE}/videos").respond(status, json=job("pending"))
    remote = await openrouter.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")
    assert remote.remote_id == JOB


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(202, json={"polling_url": "/api/v1/videos/x", "status": "pending"}),
        httpx.Response(202, text="<html>accepted</html>"),
        httpx.Response(500, json={"error": {"code": 500, "message": "Internal Server Error"}}),
        httpx.Response(502, text="Bad gateway"),
        httpx.ReadTimeout("no answer"),
        httpx.RemoteProtocolError("server disconnected without sending a response"),
    ],
    ids=["no-id", "html", "500", "502", "read-timeout", "reset"],
)
@pytest.mark.anyio
async def test_a_create_that_may_have_happened_is_ambiguous_and_sent_once(
    router: respx.MockRouter,
    openrouter: OpenRouterTransport,
    sleeps: Sleeps,
    answer: httpx.Response | Exception,
) -> None:
    route = router.post(f"{BASE}/videos").mock(side_effect=[answer, accepted()])
    with pytest.raises(AmbiguousSubmissionError):
        await openrouter.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")
    assert route.call_count == 1
    assert sleeps.delays == []


@pytest.mark.parametrize("bad", ["..", "a b"])
@pytest.mark.anyio
async def test_a_create_answered_with_an_unusable_id_fails_and_is_sent_once(
    router: respx.MockRouter, openrouter: OpenRouterTransport, sleeps: Sleeps, bad: str
) -> None:
    answer = httpx.Response(202, json={"id": bad, "polling_url": "/x", "status": "pending"})
    route = router.post(f"{BASE}/videos").mock(side_effect=[answer, accepted()])
    with pytest.raises(ProviderError) as info:
        await openrouter.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")
    assert info.value.code == "invalid_remote_id"
    assert route.call_count == 1
    assert sleeps.delays == []


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503, json={"error": {"code": 503, "message": "overloaded"}}),
        httpx.Response(429, json={"error": {"code": 429, "message": "slow down"}}),
        httpx.ConnectError("[Errno 111] Connection refused"),
    ],
    ids=["503", "429", "refused"],
)
@pytest.mark.anyio
async def test_a_create_that_certainly_did_not_happen_is_sent_again(
    router: respx.MockRouter, openrouter: OpenRouterTransport, answer: Any
) -> None:
    route = router.post(f"{BASE}/videos").mock(side_effect=[answer, accepted()])
    remote = await openrouter.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")
    assert remote.remote_id == JOB
    assert route.call_count == 2


@pytest.mark.anyio
async def test_the_same_idempotency_key_reads_the_job_instead_of_creating_another(
    router: respx.MockRouter, openrouter: OpenRouterTransport
) -> None:
    create = router.post(f"{BASE}/videos").mock(return_value=accepted())
    read = router.get(f"{BASE}/videos/{JOB}").respond(200, json=job("in_progress"))
    request = CreateVideoRequest(prompt="a fox")

    first = await openrouter.submit(request, idempotency_key="same")
    second = await openrouter.submit(request, idempotency_key="same")
    await openrouter.submit(request, idempotency_key="other")

    assert first.remote_id == second.remote_id == JOB
    assert second.provider_status == "in_progress"
    assert (create.call_count, read.call_count) == (2, 1)


# --- errors ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_errors_map_onto_the_tree_without_the_key(
    router: respx.MockRouter, openrouter: OpenRouterTransport
) -> None:
    route = router.post(f"{BASE}/videos")
    route.side_effect = [
        httpx.Response(401, json={"error": {"code": 401, "message": f"Bad key {KEY}"}}),
        httpx.Response(400, json={"error": {"code": 400, "message": "duration must be 4, 6 or 8"}}),
        httpx.Response(402, json={"error": {"code": 402, "message": "Insufficient credits"}}),
    ]
    request = CreateVideoRequest(prompt="a fox")

    with pytest.raises(AuthenticationError) as auth:
        await openrouter.submit(request, idempotency_key="a")
    with pytest.raises(ProviderError) as bad:
        await openrouter.submit(request, idempotency_key="b")
    with pytest.raises(ProviderError) as broke:
        await openrouter.submit(request, idempotency_key="c")

    assert KEY not in str(auth.value) and KEY not in json.dumps(auth.value.body)
    assert (bad.value.status_code, bad.value.code) == (400, "400")
    assert "duration must be 4, 6 or 8" in bad.value.message
    assert (broke.value.status_code, type(broke.value)) == (402, ProviderError)
    assert "Insufficient credits" in broke.value.message


@pytest.mark.anyio
async def test_a_429_is_a_rate_limit_error_after_retries(
    router: respx.MockRouter, make: Maker, sleeps: Sleeps
) -> None:
    transport = make(max_retries=1)
    route = router.get(f"{BASE}/videos/{JOB}").respond(
        429, json={"error": {"code": 429, "message": "Rate limited"}}, headers={"retry-after": "7"}
    )
    with pytest.raises(RateLimitError) as info:
        await transport.fetch(JOB)
    assert info.value.retry_after == 7.0
    assert route.call_count == 2
    assert sleeps.delays == [7.0]


# --- cancel, remix, fetch_many, list, ids ---------------------------------------------------


@pytest.mark.anyio
async def test_cancel_and_remix_are_unsupported_and_send_nothing(
    router: respx.MockRouter, openrouter: OpenRouterTransport
) -> None:
    anything = router.route().respond(200)
    with pytest.raises(ProviderError) as cancel:
        await openrouter.cancel(JOB)
    with pytest.raises(ProviderError) as remix:
        await openrouter.remix(JOB, "again", idempotency_key="k")
    assert (cancel.value.code, remix.value.code) == ("unsupported", "unsupported")
    assert "billed" in cancel.value.message
    assert anything.call_count == 0


@pytest.mark.anyio
async def test_fetch_many_reads_one_by_one_and_leaves_unknown_ids_out(
    router: respx.MockRouter, openrouter: OpenRouterTransport
) -> None:
    ids = [f"gen-vid-{n}" for n in range(5)]
    for job_id in ids:
        router.get(f"{BASE}/videos/{job_id}").respond(
            200, json={**job("in_progress"), "id": job_id}
        )
    router.get(f"{BASE}/videos/gone").respond(
        404, json={"error": {"code": 404, "message": "Not found"}}
    )

    found = await openrouter.fetch_many([*ids, "gone", ids[0]])

    assert list(found) == ids
    assert await openrouter.list_recent() == []
    assert await openrouter.fetch_many([]) == {}


@pytest.mark.parametrize("bad", ["", ".", "..", "a b", "x\ny", "a/b", "z" * 513])
def test_remote_ids_that_cannot_be_a_path_segment_are_refused(
    offline: OpenRouterTransport, bad: str
) -> None:
    assert remote_id_problem(bad) is not None
    with pytest.raises(ProviderError) as info:
        offline.open_content(bad)
    assert info.value.code == "invalid_remote_id"


@pytest.mark.anyio
async def test_remote_ids_are_percent_encoded(
    router: respx.MockRouter, openrouter: OpenRouterTransport
) -> None:
    route = router.get(url__regex=r".*/videos/a%3Fb%23c$").respond(
        200, json={**job("pending"), "id": "a?b#c"}
    )
    remote = await openrouter.fetch("a?b#c")
    assert remote.remote_id == "a?b#c"
    assert route.call_count == 1
    with pytest.raises(ProviderError) as info:
        await openrouter.fetch("..")
    assert info.value.code == "invalid_remote_id"


# --- downloads -----------------------------------------------------------------------------


async def read_all(transport: OpenRouterTransport, remote_id: str = JOB) -> tuple[bytes, Any]:
    async with transport.open_content(remote_id) as stream:
        data = b"".join([chunk async for chunk in stream.aiter_bytes()])
        return data, stream


@pytest.mark.anyio
async def test_content_is_streamed_from_the_api_with_the_key(
    router: respx.MockRouter, openrouter: OpenRouterTransport
) -> None:
    route = router.get(f"{BASE}/videos/{JOB}/content", params={"index": "0"}).respond(
        200, content=b"video-bytes", headers={"content-type": "video/mp4"}
    )
    data, stream = await read_all(openrouter)
    assert data == b"video-bytes"
    assert (stream.content_type, stream.content_length) == ("video/mp4", 11)
    assert route.calls[0].request.headers["authorization"] == f"Bearer {KEY}"
    with pytest.raises(ValidationError):
        openrouter.open_content(JOB, "thumbnail")


@pytest.mark.anyio
async def test_content_redirected_to_a_cdn_is_fetched_there_without_the_key(
    router: respx.MockRouter, openrouter: OpenRouterTransport
) -> None:
    router.get(f"{BASE}/videos/{JOB}/content").respond(
        302, headers={"location": f"{CDN}/v.mp4?sig=abc"}
    )
    cdn = router.get(f"{CDN}/v.mp4").respond(200, content=b"from-cdn")
    data, _ = await read_all(openrouter)
    assert data == b"from-cdn"
    assert "authorization" not in cdn.calls[0].request.headers


@pytest.mark.parametrize("status", [404, 409, 410])
@pytest.mark.anyio
async def test_content_that_is_not_there_is_a_provider_error(
    router: respx.MockRouter, openrouter: OpenRouterTransport, status: int
) -> None:
    router.get(f"{BASE}/videos/{JOB}/content").respond(
        status, json={"error": {"code": status, "message": "Video not available"}}
    )
    with pytest.raises(ProviderError) as info:
        await read_all(openrouter)
    assert info.value.status_code == status


# --- cost and models --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "usd"),
    [
        ({}, 4.0),  # veo-3.1, 8 s at 720p, $0.50/s
        ({"duration": 4}, 2.0),
        ({"resolution": "1080p"}, 6.0),  # the 1080p SKU, $0.75/s
        ({"size": "1080x1920", "duration": 6}, 4.5),
        ({"model": "openai/sora-2-pro", "duration": 12}, 3.6),
        ({"model": "alibaba/wan-2.6"}, 0.2),
        ({"model": "google/veo-3.1-lite"}, None),  # no published price
        ({"model": "minimax/hailuo-2.3", "duration": 6}, None),
        ({"model": "minimax/hailuo-2.3"}, None),
    ],
)
def test_estimates_come_from_the_price_table(
    offline: OpenRouterTransport, fields: dict[str, Any], usd: float | None
) -> None:
    estimate = offline.estimate_cost(CreateVideoRequest(prompt="a fox", **fields))
    assert estimate == (None if usd is None else pytest.approx(usd))


def test_prices_can_be_overridden() -> None:
    transport = OpenRouterTransport(prices={"google/veo-3.1": 0.4, "minimax/hailuo-2.3": 0.1})
    assert transport.estimate_cost(
        CreateVideoRequest(prompt="a", resolution="1080p")
    ) == pytest.approx(3.2)
    assert transport.estimate_cost(
        CreateVideoRequest(prompt="a", model="minimax/hailuo-2.3", duration=6)
    ) == pytest.approx(0.6)
    assert transport.capabilities.models["google/veo-3.1"].price_per_second_usd == 0.4


def test_pricing_skus_are_read_as_openrouter_lists_them() -> None:
    spec = OpenRouterModel(
        name="m", pricing_skus={"Per-Video-Second": "0.10", "per-video-second-4K": "1.5"}
    )
    assert spec.price_per_second() == pytest.approx(0.10)
    assert spec.price_per_second("4k") == pytest.approx(1.5)
    assert spec.price_per_second("720p") == pytest.approx(0.10)
    assert (
        OpenRouterModel(name="m", pricing_skus={"per-video-second": "n/a"}).price_per_second()
        is None
    )
    assert OpenRouterModel(name="m").price_per_second() is None


LISTING = {
    "data": [
        {
            **OPENROUTER_MODELS["google/veo-3.1"].listing(created=1_780_000_000),
            "supported_durations": [4, 8],
            "pricing_skus": {"per-video-second": "0.40"},
        },
        {
            "id": "kwaivgi/kling-v3.0-pro",
            "canonical_slug": "kwaivgi/kling-v3.0-pro",
            "name": "Kling 3.0 Pro",
            "created": 1_780_000_000,
            "allowed_passthrough_parameters": [],
            "creativity": None,
            "generate_audio": False,
            "seed": None,
            "supported_aspect_ratios": ["16:9", "9:16", "1:1"],
            "supported_durations": [5, 10],
            "supported_frame_images": None,
            "supported_resolutions": None,
            "supported_sizes": None,
            "upscale_factor": None,
            "pricing_skus": {"per-video-second": "0.112"},
        },
        {"name": "an entry with no id is skipped"},
    ]
}


@pytest.mark.anyio
async def test_refresh_models_adopts_the_listing_and_its_prices(
    router: respx.MockRouter, openrouter: OpenRouterTransport
) -> None:
    route = router.get(f"{BASE}/videos/models").respond(200, json=LISTING)

    table = await openrouter.refresh_models()

    assert set(table) == {"google/veo-3.1", "kwaivgi/kling-v3.0-pro"}
    assert route.calls[0].request.headers["authorization"] == f"Bearer {KEY}"
    caps = openrouter.capabilities
    assert caps.models["google/veo-3.1"].durations == (4, 8)
    assert caps.models["google/veo-3.1"].default_duration == 8  # soravideo's default, kept
    assert caps.models["kwaivgi/kling-v3.0-pro"].price_per_second_usd == pytest.approx(0.112)
    assert openrouter.estimate_cost(CreateVideoRequest(prompt="a")) == pytest.approx(3.2)
    kling = CreateVideoRequest(prompt="a", model="kwaivgi/kling-v3.0-pro", duration=10)
    assert openrouter.estimate_cost(kling) == pytest.approx(1.12)
    assert [e.field for e in openrouter.validate(attrs.evolve(kling, duration=6))] == ["duration"]
    # No longer listed: left to OpenRouter.
    assert (
        openrouter.validate(CreateVideoRequest(prompt="a", model="alibaba/wan-2.6", duration=99))
        == []
    )


@pytest.mark.anyio
async def test_a_listing_that_is_not_one_is_a_provider_error(
    router: respx.MockRouter, openrouter: OpenRouterTransport
) -> None:
    router.get(f"{BASE}/videos/models").respond(200, json={"models": []})
    with pytest.raises(ProviderError) as info:
        await openrouter.refresh_models()
    assert not isinstance(info.value, AmbiguousSubmissionError)
    assert "google/veo-3.1" in openrouter.models


# --- the example -----------------------------------------------------------------------------


def test_the_example_runs_offline_on_fake_openrouter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "FakeOpenRouter" in out
    assert "Estimated cost: $2.40" in out
    assert out.count("completed") == 2 and "estimated $2.00, charged $2.00" in out
    assert "failed: The request was blocked" in out
    assert len(list((tmp_path / "openrouter-videos").glob("*.mp4"))) == 2


# --- secrets ---------------------------------------------------------------------------------


def test_a_base_url_password_is_never_in_a_repr() -> None:
    transport = OpenRouterTransport(base_url="http://user:PASSWORD@127.0.0.1:1/api/v1")
    assert "PASSWORD" not in repr(transport) + transport.base_url


@pytest.mark.anyio
async def test_a_failed_connection_keeps_no_key_in_clear(
    router: respx.MockRouter, make: Maker
) -> None:
    transport = make(max_retries=0)
    router.get(f"{BASE}/videos/{JOB}").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ProviderError) as info:
        await transport.fetch(JOB)
    chain: list[BaseException] = []
    error: BaseException | None = info.value
    while error is not None:
        chain.append(error)
        error = error.__cause__
    shown = " ".join(f"{e!r} {e}" for e in chain)
    cause = info.value.__cause__
    assert isinstance(cause, httpx.ConnectError)
    shown += str(cause.request.headers)
    assert KEY not in shown
    assert cause.request.headers["authorization"] == "[secure]"
