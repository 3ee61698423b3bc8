"""FalTransport at the HTTP level (respx): requests, mapping, errors, ids, URLs, cost."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta, timezone
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
    ProviderError,
    ProviderUnavailableError,
    ValidationError,
)
from soravideo._core.clock import ManualClock
from soravideo.transports.base import Transport
from soravideo.transports.fal import (
    FAL_MODELS,
    FalTransport,
    app_of,
    fal_remote_id,
    price_of_body,
    split_remote_id,
)

BASE = "http://127.0.0.1:8768"
CDN = "http://127.0.0.1:8769"
KEY = "fal-key-id:SECRET-0123456789abcdef"
RID = "0e7a1c5e-9a6c-4d5e-8f0e-2f7c1e9b8a11"
KLING = "fal-ai/kling-video/v2.5-turbo/pro/text-to-video"
REMOTE = f"fal-ai:kling-video:{RID}"
REQUESTS = f"{BASE}/fal-ai/kling-video/requests/{RID}"
START = 1_800_000_000.0
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
ENV_VARS = ("FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET", "FAL_QUEUE_RUN_HOST")


def queued(app: str = "fal-ai/kling-video", position: int = 0, rid: str = RID) -> dict[str, Any]:
    root = f"https://queue.fal.run/{app}/requests/{rid}"
    return {
        "status": "IN_QUEUE",
        "request_id": rid,
        "queue_position": position,
        "response_url": root,
        "status_url": root + "/status",
        "cancel_url": root + "/cancel",
    }


def status(word: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"status": word, "request_id": RID}
    if word == "IN_QUEUE":
        body["queue_position"] = 3
    else:
        body["logs"] = None
    if word == "COMPLETED":
        body["metrics"] = {"inference_time": 41.5}
    body.update(extra)
    return body


def result(url: str = f"{CDN}/files/abc_output.mp4") -> dict[str, Any]:
    return {"video": {"url": url, "content_type": "video/mp4", "file_size": 11}}


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
def clock() -> ManualClock:
    return ManualClock(start=START)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=tls()) as http_client:
        yield http_client


Maker = Callable[..., FalTransport]


@pytest.fixture
def make(client: httpx.AsyncClient, sleeps: Sleeps, clock: ManualClock) -> Maker:
    def factory(**kwargs: Any) -> FalTransport:
        kwargs.setdefault("base_url", BASE)
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("sleep", sleeps)
        kwargs.setdefault("clock", clock)
        return FalTransport(http_client=client, **kwargs)

    return factory


@pytest.fixture
def fal(make: Maker) -> FalTransport:
    return make()


@pytest.fixture
def offline() -> FalTransport:
    """A transport for checks that send nothing (validation, estimates)."""
    return FalTransport(base_url=BASE, api_key=KEY)


def body_of(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def submitted(app: str = "fal-ai/kling-video", position: int = 0) -> httpx.Response:
    return httpx.Response(200, json=queued(app, position), headers={"x-fal-request-id": "x"})


# --- construction ------------------------------------------------------------------------


def test_it_is_a_transport_with_fal_capabilities() -> None:
    transport = FalTransport()
    assert isinstance(transport, Transport)
    assert transport.name == "fal"
    assert transport.base_url == "https://queue.fal.run"
    caps = transport.capabilities
    assert caps.default_model == KLING
    assert (caps.can_cancel, caps.can_list, caps.can_remix) == (True, False, False)
    assert caps.idempotent_creates is False
    assert (caps.result_kind, caps.variants, caps.min_poll_interval) == ("url", ("video",), 2.0)
    assert caps.models["fal-ai/veo3.1"].durations == (4, 6, 8)
    assert caps.models["fal-ai/veo3.1"].price_per_second_usd == pytest.approx(0.40)
    assert "1920x1080" in (caps.models["fal-ai/veo3.1"].sizes or ())
    assert caps.models[KLING].price_per_second_usd == pytest.approx(0.07)
    assert caps.models["fal-ai/veo3.1/fast"].price_per_second_usd is None
    assert caps.models["fal-ai/minimax/hailuo-2.3/pro/text-to-video"].durations is None
    assert caps.models["fal-ai/kling-video/v2.1/pro/image-to-video"].accepts_image


def test_environment_supplies_key_and_host(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "api_key=None" in repr(FalTransport())
    monkeypatch.setenv("FAL_KEY_ID", "kid")
    monkeypatch.setenv("FAL_KEY_SECRET", "ksecret")
    assert "api_key=set" in repr(FalTransport())
    monkeypatch.setenv("FAL_KEY", KEY)
    monkeypatch.setenv("FAL_QUEUE_RUN_HOST", "127.0.0.1:8443")
    transport = FalTransport()
    assert transport.base_url == "https://127.0.0.1:8443"
    assert KEY not in repr(transport)
    assert FalTransport(base_url=BASE + "/").base_url == BASE


@pytest.mark.anyio
async def test_the_key_id_and_secret_make_one_key(
    router: respx.MockRouter, monkeypatch: pytest.MonkeyPatch, client: httpx.AsyncClient
) -> None:
    monkeypatch.setenv("FAL_KEY_ID", "kid")
    monkeypatch.setenv("FAL_KEY_SECRET", "ksecret")
    route = router.get(url__startswith=f"{BASE}/fal-ai/kling-video/requests/").respond(404)
    await FalTransport(base_url=BASE, http_client=client).ping()
    assert route.calls[0].request.headers["authorization"] == "Key kid:ksecret"


def test_a_default_model_fal_cannot_address_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="not a fal endpoint id"):
        FalTransport(default_model="veo")


# --- addressing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "app"),
    [
        ("fal-ai/kling-video/v2.1/master/text-to-video", "fal-ai/kling-video"),
        ("fal-ai/veo3.1", "fal-ai/veo3.1"),
        ("bytedance/seedance-2.0/fast/text-to-video", "bytedance/seedance-2.0"),
        ("workflows/someone/my-flow/run", "workflows/someone/my-flow"),
        ("123-my-app", "123/my-app"),
    ],
)
def test_requests_are_addressed_by_owner_and_alias_as_fal_client_does(
    endpoint: str, app: str
) -> None:
    # fal_client.client.AppId.from_endpoint_id (1.0.3) gives the same apps.
    assert app_of(endpoint) == app
    assert split_remote_id(fal_remote_id(app, RID)) == (app, RID)


@pytest.mark.parametrize(
    "bad", ["..", "a/b", "with space", "", "x" * 300, "a:b", "line\nbreak", "\u202e"]
)
def test_a_request_id_that_is_not_one_path_segment_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        fal_remote_id("fal-ai/veo3.1", bad)


@pytest.mark.parametrize(
    "remote_id",
    ["fal-ai:kling-video:..", "fal-ai:..:abc", "fal-ai:kling-video:a b", "..", "a/../b"],
)
@pytest.mark.anyio
async def test_an_unusable_remote_id_is_refused_before_any_request(
    router: respx.MockRouter, fal: FalTransport, remote_id: str
) -> None:
    for call in (fal.fetch, fal.cancel):
        with pytest.raises(ProviderError) as info:
            await call(remote_id)
        assert info.value.code == "invalid_remote_id"
    assert not router.calls


@pytest.mark.anyio
async def test_a_bare_request_id_is_a_request_of_the_default_model(
    router: respx.MockRouter, fal: FalTransport
) -> None:
    route = router.get(f"{REQUESTS}/status").respond(202, json=status("IN_PROGRESS"))
    remote = await fal.fetch(RID)
    assert route.called
    assert remote.remote_id == RID


# --- requests ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_create_carries_the_key_no_retry_and_the_objects_lifetime(
    router: respx.MockRouter, fal: FalTransport
) -> None:
    route = router.post(f"{BASE}/{KLING}").mock(return_value=submitted(position=4))

    remote = await fal.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k1")

    request = route.calls[0].request
    assert request.headers["authorization"] == f"Key {KEY}"
    assert request.headers["x-fal-no-retry"] == "1"
    assert json.loads(request.headers["x-fal-object-lifecycle-preference"]) == {
        "expiration_duration_seconds": 604800
    }
    assert "idempotency-key" not in request.headers
    assert not request.url.query
    assert body_of(route) == {"prompt": "a fox", "duration": "5"}
    assert remote.remote_id == REMOTE
    assert remote.status is JobStatus.PROCESSING
    assert (remote.provider_status, remote.queue_position) == ("IN_QUEUE", 4)
    assert remote.created_at == datetime.fromtimestamp(START, timezone.utc)


@pytest.mark.anyio
async def test_server_retries_lifetime_and_webhook_are_settings(
    router: respx.MockRouter, make: Maker
) -> None:
    route = router.post(url__startswith=f"{BASE}/{KLING}").mock(return_value=submitted())
    fal = make(server_retries=True, object_ttl=None, webhook_url="https://me.example/h?a=1")

    await fal.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")

    request = route.calls[0].request
    assert "x-fal-no-retry" not in request.headers
    assert "x-fal-object-lifecycle-preference" not in request.headers
    assert request.url.params["fal_webhook"] == "https://me.example/h?a=1"


@pytest.mark.parametrize(
    ("fields", "endpoint", "expected"),
    [
        ({"model": "fal-ai/veo3.1"}, "fal-ai/veo3.1", {"duration": "8s"}),
        (
            {"model": "fal-ai/veo3.1", "size": "1080x1920", "duration": 4},
            "fal-ai/veo3.1",
            {"duration": "4s", "resolution": "1080p", "aspect_ratio": "9:16"},
        ),
        (
            {"model": "fal-ai/veo3.1", "resolution": "2160p", "provider_options": {"seed": 7}},
            "fal-ai/veo3.1",
            {"duration": "8s", "resolution": "4k", "seed": 7},
        ),
        (
            {"model": KLING, "aspect_ratio": "1:1", "duration": 10},
            KLING,
            {"duration": "10", "aspect_ratio": "1:1"},
        ),
        (
            {"model": "fal-ai/pika/v2.2/text-to-video", "resolution": "1080p"},
            "fal-ai/pika/v2.2/text-to-video",
            {"duration": 5, "resolution": "1080p"},
        ),
        (
            {
                "model": "bytedance/seedance-2.0/text-to-video",
                "duration": 12,
                "provider_options": {"generate_audio": False},
            },
            "bytedance/seedance-2.0/text-to-video",
            {"duration": "12", "generate_audio": False},
        ),
        (
            {"model": "fal-ai/minimax/hailuo-2.3/pro/text-to-video"},
            "fal-ai/minimax/hailuo-2.3/pro/text-to-video",
            {},
        ),
        (
            {"model": "fal-ai/some-new/model", "duration": 6, "aspect_ratio": "4:3"},
            "fal-ai/some-new/model",
            {"duration": "6", "aspect_ratio": "4:3"},
        ),
        (
            {"model": "fal-ai/some-new/model", "provider_options": {"duration": 6}},
            "fal-ai/some-new/model",
            {"duration": 6},
        ),
    ],
)
@pytest.mark.anyio
async def test_the_neutral_request_maps_onto_each_models_inputs(
    router: respx.MockRouter,
    fal: FalTransport,
    fields: dict[str, Any],
    endpoint: str,
    expected: dict[str, Any],
) -> None:
    route = router.post(f"{BASE}/{endpoint}").mock(return_value=submitted(app_of(endpoint)))
    request = CreateVideoRequest(prompt="a fox", **fields)
    assert fal.validate(request) == []

    remote = await fal.submit(request, idempotency_key="k")

    assert body_of(route) == {"prompt": "a fox", **expected}
    assert remote.remote_id == fal_remote_id(app_of(endpoint), RID)


@pytest.mark.anyio
async def test_an_image_picks_the_image_to_video_endpoint(
    router: respx.MockRouter, fal: FalTransport, tmp_path: Path
) -> None:
    route = router.post(f"{BASE}/fal-ai/kling-video/v2.5-turbo/pro/image-to-video").mock(
        return_value=submitted()
    )
    jpeg = tmp_path / "frame.jpg"
    jpeg.write_bytes(JPEG)
    references: list[str | bytes] = [PNG, str(jpeg), "https://assets.example.com/frame.webp"]

    for n, reference in enumerate(references):
        request = CreateVideoRequest(prompt="a fox", input_reference=reference)
        assert fal.validate(request) == []
        await fal.submit(request, idempotency_key=f"k-{n}")

    images = [body_of(route, i)["image_url"] for i in range(3)]
    assert images[0] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert images[1] == "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()
    assert images[2] == "https://assets.example.com/frame.webp"
    assert body_of(route, 0) == {"prompt": "a fox", "duration": "5", "image_url": images[0]}


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"model": "fal-ai/veo3.1", "duration": 5}, "duration", "4, 6, 8"),
        ({"model": KLING, "resolution": "1080p"}, "resolution", "takes no resolution"),
        ({"model": KLING, "aspect_ratio": "21:9"}, "aspect_ratio", "16:9, 9:16, 1:1"),
        (
            {"model": KLING, "aspect_ratio": "1:1", "input_reference": PNG},
            "aspect_ratio",
            "the image sets the shape",
        ),
        ({"model": "fal-ai/veo3.1", "size": "1000x1000"}, "size", "1280x720"),
        ({"model": KLING, "size": "1280x720"}, "size", "resolution and aspect_ratio"),
        (
            {"model": "fal-ai/kling-video/v2.1/pro/image-to-video"},
            "input_reference",
            "from an image only",
        ),
        (
            {"model": "fal-ai/minimax/hailuo-2.3/pro/text-to-video", "duration": 6},
            "duration",
            "one length",
        ),
        (
            {
                "model": "fal-ai/minimax/hailuo-02/standard/image-to-video",
                "resolution": "480p",
                "input_reference": PNG,
            },
            "resolution",
            "512P, 768P: set provider_options",
        ),
        ({"model": KLING, "provider_options": {"duration": "10"}}, "provider_options.duration", ""),
        ({"model": KLING, "provider_options": {"prompt": "x"}}, "provider_options.prompt", ""),
        (
            {"model": "fal-ai/veo3.1", "provider_options": {"resolution": "4k"}},
            "provider_options.resolution",
            "",
        ),
        (
            {
                "model": "fal-ai/veo3.1/image-to-video",
                "input_reference": PNG,
                "provider_options": {"image_url": "https://a.example/x.png"},
            },
            "provider_options.image_url",
            "",
        ),
        ({"model": "veo"}, "model", "not a fal endpoint id"),
        ({"input_reference": "http://assets.example.com/a.png"}, "input_reference", "https://"),
        ({"input_reference": "/no/such/frame.png"}, "input_reference", "file not found"),
        ({"input_reference": b"GIF89a"}, "input_reference", "PNG, JPEG or WebP"),
        ({"input_reference": "data:text/plain;base64,aGk="}, "input_reference", "data:image/"),
        ({"model": KLING, "duration": 5, "input_reference": "https://"}, "input_reference", "URL"),
    ],
)
def test_validate_names_what_the_model_cannot_do(
    offline: FalTransport, fields: dict[str, Any], field: str, words: str
) -> None:
    errors = offline.validate(CreateVideoRequest(prompt="a fox", **fields), "videos[1]")
    assert [e.field for e in errors] == [f"videos[1].{field}"]
    assert words in errors[0].message


def test_validate_checks_the_prompts_length_and_text_only_models(offline: FalTransport) -> None:
    long = CreateVideoRequest(prompt="x" * 2501, model=KLING)
    assert [e.field for e in offline.validate(long)] == ["prompt"]
    hailuo02 = "fal-ai/minimax/hailuo-02/standard/image-to-video"
    ok = CreateVideoRequest(
        prompt="a", model=hailuo02, input_reference=PNG, provider_options={"resolution": "512P"}
    )
    assert offline.validate(ok) == []


def test_unknown_endpoints_are_left_to_fal(offline: FalTransport) -> None:
    request = CreateVideoRequest(
        prompt="a fox", model="fal-ai/new/video", duration=30, resolution="1440p"
    )
    assert offline.validate(request) == []


@pytest.mark.anyio
async def test_a_shape_the_endpoint_cannot_make_is_refused_before_sending(
    router: respx.MockRouter, fal: FalTransport
) -> None:
    route = router.post(url__startswith=BASE)
    with pytest.raises(ValidationError) as info:
        await fal.submit(
            CreateVideoRequest(prompt="a", model=KLING, resolution="720p"), idempotency_key="k"
        )
    assert info.value.fields == ("resolution",)
    assert not route.called


# --- statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "word", "position"),
    [
        (status("IN_QUEUE"), "IN_QUEUE", 3),
        (status("IN_QUEUE", queue_position=None), "IN_QUEUE", None),
        (status("IN_PROGRESS"), "IN_PROGRESS", None),
    ],
)
@pytest.mark.anyio
async def test_queued_and_running_requests_are_processing(
    router: respx.MockRouter,
    fal: FalTransport,
    payload: dict[str, Any],
    word: str,
    position: int | None,
) -> None:
    route = router.get(f"{REQUESTS}/status").respond(202, json=payload)

    remote = await fal.fetch(REMOTE)

    assert route.calls[0].request.url.params["logs"] == "0"
    assert (remote.status, remote.progress) == (JobStatus.PROCESSING, 0)
    assert (remote.provider_status, remote.queue_position) == (word, position)
    assert remote.error is None and remote.urls == {}


@pytest.mark.anyio
async def test_a_completed_request_reads_its_result_once_for_the_video_url(
    router: respx.MockRouter, fal: FalTransport
) -> None:
    router.get(f"{REQUESTS}/status").respond(200, json=status("COMPLETED"))
    read = router.get(REQUESTS).respond(200, json=result())

    first = await fal.fetch(REMOTE)
    second = await fal.fetch(REMOTE)

    assert first.status is JobStatus.COMPLETED
    assert (first.progress, first.provider_status) == (100, "COMPLETED")
    assert first.urls == {"video": f"{CDN}/files/abc_output.mp4"}
    assert first.expires_at == datetime.fromtimestamp(START, timezone.utc) + timedelta(days=7)
    assert second.urls == first.urls
    assert read.call_count == 1
    assert read.calls[0].request.headers["authorization"] == f"Key {KEY}"


@pytest.mark.parametrize(
    ("answer", "code", "retryable"),
    [
        (
            httpx.Response(
                422,
                json={
                    "detail": [
                        {
                            "loc": ["body", "prompt"],
                            "msg": "violated our content policy",
                            "type": "content_policy_violation",
                        }
                    ]
                },
                headers={"x-fal-retryable": "false"},
            ),
            "content_policy_violation",
            False,
        ),
        (
            httpx.Response(
                503, json={"detail": "The runner crashed", "error_type": "runner_server_error"}
            ),
            "runner_server_error",
            True,
        ),
        (httpx.Response(400, json={"detail": "Something was wrong"}), "http_400", False),
        (
            httpx.Response(404, json={"detail": "Request not found"}),
            "result_expired",
            False,
        ),
        (httpx.Response(200, json={"images": []}), "no_output", True),
    ],
)
@pytest.mark.anyio
async def test_a_failed_request_is_completed_and_its_result_holds_the_error(
    router: respx.MockRouter,
    make: Maker,
    answer: httpx.Response,
    code: str,
    retryable: bool,
) -> None:
    fal = make(max_retries=0)
    router.get(f"{REQUESTS}/status").respond(200, json=status("COMPLETED"))
    router.get(REQUESTS).mock(return_value=answer)

    remote = await fal.fetch(REMOTE)

    assert remote.status is JobStatus.FAILED
    assert remote.error is not None
    assert (remote.error.code, remote.error.retryable) == (code, retryable)
    assert remote.error.message


@pytest.mark.anyio
async def test_an_error_on_the_status_itself_is_used_without_reading_the_result(
    router: respx.MockRouter, fal: FalTransport
) -> None:
    router.get(f"{REQUESTS}/status").respond(
        200,
        json=status("COMPLETED", error="Startup took too long", error_type="startup_timeout"),
    )
    read = router.get(REQUESTS)

    remote = await fal.fetch(REMOTE)

    assert remote.status is JobStatus.FAILED
    assert remote.error is not None
    assert (remote.error.code, remote.error.retryable) == ("startup_timeout", True)
    assert not read.called


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(499, json={"detail": "cancelled", "error_type": "client_cancelled"}),
        httpx.Response(400, json={"detail": "The request was cancelled by the user"}),
    ],
)
@pytest.mark.anyio
async def test_a_request_stopped_by_a_cancel_is_cancelled(
    router: respx.MockRouter, make: Maker, answer: httpx.Response
) -> None:
    fal = make(max_retries=0)
    router.get(f"{REQUESTS}/status").respond(200, json=status("COMPLETED"))
    router.get(REQUESTS).mock(return_value=answer)
    assert (await fal.fetch(REMOTE)).status is JobStatus.CANCELLED


@pytest.mark.anyio
async def test_a_result_that_cannot_be_reached_is_a_provider_error_not_a_failure(
    router: respx.MockRouter, make: Maker
) -> None:
    fal = make(max_retries=1)
    router.get(f"{REQUESTS}/status").respond(200, json=status("COMPLETED"))
    read = router.get(REQUESTS)
    read.side_effect = [
        httpx.Response(502, text="<html>502 Bad Gateway<hr><center>nginx</center></html>"),
        *[httpx.Response(503, json={"detail": "Service Unavailable"})] * 3,
        httpx.Response(200, json=result()),
    ]
    with pytest.raises(ProviderUnavailableError):
        await fal.fetch(REMOTE)  # a read: retried once, then raised (the engine backs off)
    with pytest.raises(ProviderUnavailableError):
        await fal.fetch(REMOTE)
    assert (await fal.fetch(REMOTE)).status is JobStatus.COMPLETED
    assert read.call_count == 5


@pytest.mark.anyio
async def test_an_unknown_status_is_processing_and_warned_once(
    router: respx.MockRouter, fal: FalTransport, caplog: pytest.LogCaptureFixture
) -> None:
    router.get(f"{REQUESTS}/status").respond(202, json=status("WARMING_UP"))
    with caplog.at_level(logging.WARNING, logger="soravideo.transports.fal"):
        first = await fal.fetch(REMOTE)
        await fal.fetch(REMOTE)
    assert (first.status, first.provider_status) == (JobStatus.PROCESSING, "WARMING_UP")
    assert len(caplog.records) == 1


@pytest.mark.anyio
async def test_a_status_that_is_not_an_object_is_an_error(
    router: respx.MockRouter, fal: FalTransport
) -> None:
    router.get(f"{REQUESTS}/status").respond(200, json=["COMPLETED"])
    with pytest.raises(ProviderError, match="not a JSON object"):
        await fal.fetch(REMOTE)


# --- errors and the create's fate -------------------------------------------------------------


@pytest.mark.anyio
async def test_errors_map_onto_the_tree_without_the_key(
    router: respx.MockRouter, make: Maker
) -> None:
    fal = make(max_retries=0)
    route = router.post(f"{BASE}/{KLING}")
    route.side_effect = [
        httpx.Response(401, json={"detail": f"Invalid key {KEY}"}),
        httpx.Response(
            422, json={"detail": [{"loc": ["body", "duration"], "msg": "bad", "type": "enum"}]}
        ),
        httpx.Response(500, json={"detail": "boom"}),
        httpx.Response(504, json={"detail": "gateway timeout"}),
    ]
    request = CreateVideoRequest(prompt="a fox")

    with pytest.raises(AuthenticationError) as auth:
        await fal.submit(request, idempotency_key="a")
    with pytest.raises(ProviderError) as bad:
        await fal.submit(request, idempotency_key="b")
    for key in ("c", "d"):
        with pytest.raises(AmbiguousSubmissionError):
            await fal.submit(request, idempotency_key=key)

    assert KEY not in str(auth.value) and KEY not in json.dumps(auth.value.body)
    assert "SECRET" not in str(auth.value)
    assert (bad.value.status_code, bad.value.code) == (422, "enum")
    assert "duration: bad" in bad.value.message
    assert route.call_count == 4


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
    ids=lambda e: type(e).__name__,
)
@pytest.mark.anyio
async def test_a_create_that_may_have_arrived_is_sent_once_unlike_fal_client(
    router: respx.MockRouter, fal: FalTransport, failure: Exception
) -> None:
    # fal-client 1.0.3 re-POSTs on exactly these (client.py _should_retry): a second video.
    route = router.post(f"{BASE}/{KLING}").mock(side_effect=failure)
    with pytest.raises(AmbiguousSubmissionError):
        await fal.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")
    assert route.call_count == 1


@pytest.mark.anyio
async def test_a_503_from_fal_itself_is_never_sent_again_but_an_ingress_page_is(
    router: respx.MockRouter, fal: FalTransport, sleeps: Sleeps
) -> None:
    # fal-client 1.0.3 (_is_ingress_error): a 5xx naming the request (x-fal-request-id)
    # "is clearly returned from our server", which may have queued it; a page of the ingress
    # in front of fal is not, and is safe to send again.
    route = router.post(f"{BASE}/{KLING}")
    route.side_effect = [
        httpx.Response(503, headers={"x-fal-request-id": "r-1"}, json={"detail": "busy"})
    ]
    with pytest.raises(AmbiguousSubmissionError):
        await fal.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")
    assert route.call_count == 1
    route.side_effect = [
        httpx.Response(503, text="<html>nginx</html>"),
        httpx.Response(200, json=queued()),
    ]
    remote = await fal.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k2")
    assert remote.remote_id and route.call_count == 3


@pytest.mark.anyio
async def test_a_create_that_never_reached_fal_is_sent_again(
    router: respx.MockRouter, fal: FalTransport, sleeps: Sleeps
) -> None:
    route = router.post(f"{BASE}/{KLING}")
    route.side_effect = [httpx.ConnectError("refused"), submitted()]
    remote = await fal.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")
    assert remote.remote_id == REMOTE
    assert route.call_count == 2 and len(sleeps.delays) == 1


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(200, text="<html>ok</html>"), AmbiguousSubmissionError),
        (httpx.Response(200, json={"status": "IN_QUEUE"}), AmbiguousSubmissionError),
        (httpx.Response(200, json=queued(rid="..")), ProviderError),
        (httpx.Response(200, json=queued(rid="a/b")), ProviderError),
    ],
)
@pytest.mark.anyio
async def test_a_create_answer_without_a_usable_id_is_never_sent_again(
    router: respx.MockRouter, fal: FalTransport, answer: httpx.Response, error: type[Exception]
) -> None:
    route = router.post(f"{BASE}/{KLING}").mock(return_value=answer)
    with pytest.raises(error) as info:
        await fal.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")
    if error is ProviderError:
        assert isinstance(info.value, ProviderError)
        assert info.value.code == "invalid_remote_id"
        assert "dashboard" in str(info.value)
    assert route.call_count == 1


@pytest.mark.anyio
async def test_the_urls_in_fals_answers_are_never_followed(
    router: respx.MockRouter, fal: FalTransport, caplog: pytest.LogCaptureFixture
) -> None:
    elsewhere = queued()
    elsewhere["status_url"] = f"https://attacker.example/steal/{RID}/status"
    router.post(f"{BASE}/{KLING}").respond(200, json=elsewhere)
    mine = router.get(f"{REQUESTS}/status").respond(202, json=status("IN_PROGRESS"))
    with caplog.at_level(logging.WARNING, logger="soravideo.transports.fal"):
        remote = await fal.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")
    await fal.fetch(remote.remote_id)
    assert mine.called
    assert all(call.request.url.host == "127.0.0.1" for call in router.calls)
    assert "status URL" in caplog.text


# --- cancel, fetch_many, list, remix, ping ---------------------------------------------------


@pytest.mark.anyio
async def test_cancel_puts_and_a_request_gone_or_done_is_fine(
    router: respx.MockRouter, fal: FalTransport, sleeps: Sleeps
) -> None:
    route = router.put(f"{REQUESTS}/cancel")
    route.side_effect = [
        httpx.Response(202, json={"status": "CANCELLATION_REQUESTED"}),
        httpx.Response(404, json={"status": "NOT_FOUND"}),
        httpx.Response(400, json={"status": "ALREADY_COMPLETED"}),
        httpx.Response(400, json={"detail": "something else"}),
        *[httpx.Response(503, json={"detail": "shedding load"})] * 4,
    ]
    assert await fal.cancel(REMOTE) is None  # stopping
    assert await fal.cancel(REMOTE) is None  # gone
    assert await fal.cancel(REMOTE) == "ended"  # completed before: nothing was stopped
    assert fal.capabilities.cancel_reports_ended
    with pytest.raises(ProviderError) as other:
        await fal.cancel(REMOTE)
    with pytest.raises(ProviderUnavailableError):
        await fal.cancel(REMOTE)
    assert other.value.status_code == 400
    assert len(sleeps.delays) == 3
    assert route.calls[0].request.content == b""


@pytest.mark.anyio
async def test_fetch_many_reads_one_by_one_and_leaves_unknown_ids_out(
    router: respx.MockRouter, fal: FalTransport
) -> None:
    ids = [f"req-{n}" for n in range(5)]
    for rid in ids:
        router.get(f"{BASE}/fal-ai/veo3.1/requests/{rid}/status").respond(
            202, json={**status("IN_PROGRESS"), "request_id": rid}
        )
    router.get(f"{BASE}/fal-ai/veo3.1/requests/gone/status").respond(
        404, json={"detail": "Request not found"}
    )
    remote_ids = [f"fal-ai:veo3.1:{rid}" for rid in ids]

    found = await fal.fetch_many([*remote_ids, "fal-ai:veo3.1:gone", remote_ids[0]])

    assert list(found) == remote_ids
    assert await fal.list_recent() == []
    assert await fal.fetch_many([]) == {}


@pytest.mark.anyio
async def test_the_same_idempotency_key_reads_the_request_instead_of_creating_another(
    router: respx.MockRouter, fal: FalTransport
) -> None:
    create = router.post(f"{BASE}/{KLING}").mock(return_value=submitted())
    read = router.get(f"{REQUESTS}/status").respond(202, json=status("IN_QUEUE"))
    request = CreateVideoRequest(prompt="a fox")

    first = await fal.submit(request, idempotency_key="same")
    second = await fal.submit(request, idempotency_key="same")
    await fal.submit(request, idempotency_key="other")

    assert first.remote_id == second.remote_id == REMOTE
    assert (create.call_count, read.call_count) == (2, 1)
    assert second.queue_position == 3


@pytest.mark.anyio
async def test_remix_is_unsupported(fal: FalTransport) -> None:
    with pytest.raises(ProviderError) as info:
        await fal.remix(REMOTE, "again", idempotency_key="k")
    assert info.value.code == "unsupported"


@pytest.mark.anyio
async def test_ping_reads_a_status_and_a_404_is_an_answer(
    router: respx.MockRouter, fal: FalTransport
) -> None:
    route = router.get(url__startswith=f"{BASE}/fal-ai/kling-video/requests/")
    route.side_effect = [
        httpx.Response(404, json={"detail": "Request not found"}),
        httpx.Response(401, json={"detail": "Invalid key"}),
    ]
    await fal.ping()
    with pytest.raises(AuthenticationError):
        await fal.ping()
    assert route.call_count == 2  # never retried


# --- downloads -----------------------------------------------------------------------------


async def read_all(fal: FalTransport, remote_id: str = REMOTE) -> tuple[bytes, Any]:
    async with fal.open_content(remote_id) as stream:
        data = b"".join([chunk async for chunk in stream.aiter_bytes()])
        return data, stream


@pytest.mark.anyio
async def test_downloads_go_to_the_cdn_without_the_key(
    router: respx.MockRouter, fal: FalTransport
) -> None:
    router.get(f"{REQUESTS}/status").respond(200, json=status("COMPLETED"))
    read = router.get(REQUESTS).respond(200, json=result())
    cdn = router.get(f"{CDN}/files/abc_output.mp4").respond(
        200, content=b"video-bytes", headers={"content-type": "video/mp4"}
    )

    data, stream = await read_all(fal)
    again, _ = await read_all(fal)

    assert data == again == b"video-bytes"
    assert (stream.content_type, stream.content_length) == ("video/mp4", 11)
    for call in cdn.calls:
        assert "authorization" not in call.request.headers
        assert not any(name.startswith("x-fal") for name in call.request.headers)
    assert read.call_count == 1


@pytest.mark.parametrize("stale", [403, 404, 410])
@pytest.mark.anyio
async def test_a_refused_video_url_reads_the_result_again_once(
    router: respx.MockRouter, fal: FalTransport, stale: int
) -> None:
    router.get(f"{REQUESTS}/status").respond(200, json=status("COMPLETED"))
    read = router.get(REQUESTS)
    read.side_effect = [
        httpx.Response(200, json=result(f"{CDN}/old.mp4")),
        httpx.Response(200, json=result(f"{CDN}/new.mp4")),
    ]
    old = router.get(f"{CDN}/old.mp4").respond(stale, json={"detail": "File not found"})
    new = router.get(f"{CDN}/new.mp4").respond(200, content=b"fresh")
    await fal.fetch(REMOTE)

    data, _ = await read_all(fal)

    assert data == b"fresh"
    assert (old.call_count, new.call_count, read.call_count) == (1, 1, 2)


@pytest.mark.anyio
async def test_there_is_nothing_to_download_before_completion(
    router: respx.MockRouter, fal: FalTransport
) -> None:
    router.get(f"{REQUESTS}/status").respond(202, json=status("IN_PROGRESS"))
    with pytest.raises(ProviderError) as info:
        await read_all(fal)
    assert info.value.code == "no_output"
    with pytest.raises(ValidationError):
        fal.open_content(REMOTE, "thumbnail")


# --- cost ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "usd"),
    [
        ({}, 0.35),  # Kling 2.5 Turbo Pro, 5 s by default, $0.07/s
        ({"model": KLING, "duration": 10}, 0.70),
        ({"model": KLING, "input_reference": PNG}, 0.35),  # its image-to-video endpoint
        ({"model": "fal-ai/veo3.1"}, 3.20),  # 8 s with audio at $0.40
        ({"model": "fal-ai/veo3.1", "provider_options": {"generate_audio": False}}, 1.60),
        ({"model": "fal-ai/veo3.1", "resolution": "4k", "duration": 4}, 2.40),
        ({"model": "fal-ai/kling-video/v2.1/master/text-to-video", "duration": 10}, 2.80),
        ({"model": "bytedance/seedance-2.0/fast/text-to-video", "duration": 10}, 2.419),
        ({"model": "bytedance/seedance-2.0/text-to-video", "resolution": "480p"}, None),
        ({"model": "fal-ai/minimax/hailuo-2.3/standard/text-to-video", "duration": 10}, 0.56),
        ({"model": "fal-ai/minimax/hailuo-2.3/pro/text-to-video"}, 0.49),
        ({"model": "fal-ai/pika/v2.2/text-to-video", "resolution": "1080p"}, 0.45),
        ({"model": "fal-ai/veo3.1/fast"}, None),
        ({"model": "fal-ai/new/model", "duration": 5}, None),
        ({"model": KLING, "resolution": "720p"}, None),  # cannot be sent
    ],
)
def test_estimates_price_what_is_sent(
    offline: FalTransport, fields: dict[str, Any], usd: float | None
) -> None:
    estimate = offline.estimate_cost(CreateVideoRequest(prompt="a fox", **fields))
    assert estimate == (None if usd is None else pytest.approx(usd))


def test_prices_can_be_given_for_unpriced_or_unknown_endpoints() -> None:
    fal = FalTransport(prices={"fal-ai/veo3.1/fast": 0.15, "fal-ai/new/model": 0.1})
    assert fal.estimate_cost(
        CreateVideoRequest(prompt="a", model="fal-ai/veo3.1/fast")
    ) == pytest.approx(1.2)
    assert fal.estimate_cost(
        CreateVideoRequest(prompt="a", model="fal-ai/new/model", duration=7)
    ) == pytest.approx(0.7)
    assert fal.capabilities.models["fal-ai/veo3.1/fast"].price_per_second_usd == pytest.approx(0.15)


def test_the_table_covers_the_models_the_issue_names() -> None:
    families = {spec.family.split()[0] for spec in FAL_MODELS.values()}
    assert {"Veo", "Kling", "Seedance", "MiniMax", "Pika"} <= families
    for name, spec in FAL_MODELS.items():
        if spec.image_endpoint is not None:
            image = FAL_MODELS[spec.image_endpoint]
            assert image.needs_image and app_of(image.name) == app_of(name), name
        assert price_of_body(spec, {}) is None or spec.priced, name
