"""GeminiTransport at the HTTP level (respx): requests, mapping, errors, content, remote ids."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
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
    DownloadError,
    JobStatus,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ValidationError,
)
from soravideo._core.clock import ManualClock
from soravideo._engine.downloads import download_content
from soravideo.testing._media import mp4
from soravideo.transports import Transport
from soravideo.transports.base import remote_id_problem
from soravideo.transports.gemini import (
    GEMINI_MODELS,
    VEO_RETENTION,
    GeminiTransport,
    gemini_remote_id,
    operation_name,
)

ORIGIN = "http://127.0.0.1:8770"
BASE = f"{ORIGIN}/v1"
KEY = "AIzaSECRET0123456789abcdef"
START = 1_800_000_000.0
ID = "v1_abc123"
OP = "models/veo-3.1-generate-preview/operations/op123"
OP_ID = "models:veo-3.1-generate-preview:operations:op123"
VIDEO = mp4(seconds=4, width=320, height=180, payload_size=4096, key="t")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)
ENV = ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_GENAI_API_VERSION")


def interaction(status: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": ID, "object": "interaction", "status": status}
    body.update(extra)
    return body


def with_video(**block: Any) -> dict[str, Any]:
    video = {"type": "video", "mime_type": "video/mp4", **block}
    return interaction(
        "completed",
        steps=[
            {"type": "user_input", "content": [{"type": "text", "text": "a fox"}]},
            {"type": "model_output", "content": [{"type": "text", "text": "ok"}, video]},
        ],
        usage={"total_tokens": 100, "output_tokens_by_modality": [{"modality": "video"}]},
    )


def inline() -> dict[str, Any]:
    return with_video(data=base64.b64encode(VIDEO).decode())


def operation(**extra: Any) -> dict[str, Any]:
    return {"name": OP, **extra}


def done_operation(
    uri: str = "https://generativelanguage.googleapis.com/v1/files/abc123xyz:download?alt=media",
) -> dict[str, Any]:
    return operation(
        done=True,
        response={"generateVideoResponse": {"generatedSamples": [{"video": {"uri": uri}}]}},
    )


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
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


Maker = Callable[..., GeminiTransport]


@pytest.fixture
def make(client: httpx.AsyncClient, sleeps: Sleeps) -> Maker:
    def factory(**kwargs: Any) -> GeminiTransport:
        kwargs.setdefault("base_url", ORIGIN)
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("sleep", sleeps)
        kwargs.setdefault("clock", ManualClock(start=START))
        return GeminiTransport(http_client=client, **kwargs)

    return factory


@pytest.fixture
def gemini(make: Maker) -> GeminiTransport:
    return make()


def body_of(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


# --- construction ----------------------------------------------------------------------------


def test_it_is_a_transport_that_cancels_but_cannot_list_or_remix() -> None:
    transport = GeminiTransport()
    assert isinstance(transport, Transport)
    caps = transport.capabilities
    assert (caps.can_cancel, caps.can_list, caps.can_remix) == (True, False, False)
    assert (caps.idempotent_creates, caps.result_kind) == (False, "bytes")
    assert caps.default_model == "gemini-omni-1.2-flash"
    assert set(caps.models) == set(GEMINI_MODELS)
    veo = caps.models["veo-3.1-generate-preview"]
    assert (veo.durations, veo.price_per_second_usd, veo.default_size) == (
        (4, 6, 8),
        0.4,
        "1280x720",
    )
    assert transport.base_url == "https://generativelanguage.googleapis.com"
    assert transport.api_version == "v1"


@pytest.mark.anyio
async def test_google_api_key_wins_over_gemini_api_key_as_in_the_official_client(
    monkeypatch: pytest.MonkeyPatch, router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-gemini")
    monkeypatch.setenv("GOOGLE_API_KEY", "AIza-google")
    monkeypatch.setenv("GOOGLE_GENAI_API_VERSION", "beta")
    route = router.get(f"{ORIGIN}/v1beta/models").mock(return_value=httpx.Response(200, json={}))
    transport = GeminiTransport(base_url=ORIGIN, http_client=client)
    await transport.ping()
    request = route.calls[0].request
    assert request.headers["x-goog-api-key"] == "AIza-google"
    assert "authorization" not in request.headers
    assert request.url.params["pageSize"] == "1"
    assert "AIza" not in repr(transport)

    monkeypatch.delenv("GOOGLE_API_KEY")
    assert GeminiTransport(base_url=ORIGIN)._session._headers["x-goog-api-key"] == "AIza-gemini"


def test_an_api_version_that_is_not_one_segment_is_refused() -> None:
    with pytest.raises(ValueError, match="api_version"):
        GeminiTransport(api_version="v1/../x")


@pytest.mark.anyio
async def test_ping_is_not_retried(
    router: respx.MockRouter, gemini: GeminiTransport, sleeps: Sleeps
) -> None:
    route = router.get(f"{BASE}/models").mock(return_value=httpx.Response(503, json={}))
    with pytest.raises(ProviderError):
        await gemini.ping()
    assert route.call_count == 1 and sleeps.delays == []


# --- Omni requests ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_omni_request_becomes_an_interaction_with_the_models_defaults(
    router: respx.MockRouter, gemini: GeminiTransport
) -> None:
    route = router.post(f"{BASE}/interactions").mock(
        return_value=httpx.Response(200, json=interaction("in_progress"))
    )
    remote = await gemini.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")
    assert body_of(route) == {
        "model": "gemini-omni-1.2-flash",
        "input": "a fox",
        "background": True,
        "response_format": {"type": "video", "resolution": "720p", "duration": "8s"},
        "response_modalities": ["video"],
    }
    assert route.calls[0].request.headers["x-goog-api-key"] == KEY
    assert (remote.remote_id, remote.status, remote.progress) == (ID, JobStatus.PROCESSING, 0)
    assert remote.created_at is not None and remote.created_at.timestamp() == START


@pytest.mark.anyio
async def test_shape_duration_image_and_options_map_onto_the_interaction(
    router: respx.MockRouter, gemini: GeminiTransport, tmp_path: Path
) -> None:
    route = router.post(f"{BASE}/interactions").mock(
        return_value=httpx.Response(200, json=interaction("queued"))
    )
    image = tmp_path / "frame.png"
    image.write_bytes(PNG)
    request = CreateVideoRequest(
        prompt="a fox",
        model="gemini-omni-1.1-flash",
        duration=5,
        size="1080x1920",
        input_reference=str(image),
        provider_options={"delivery": "uri", "labels": {"team": "ads"}},
    )
    assert gemini.validate(request) == []
    await gemini.submit(request, idempotency_key="k")
    body = body_of(route)
    assert body["response_format"] == {
        "type": "video",
        "resolution": "1080p",
        "aspect_ratio": "9:16",
        "duration": "5s",
        "delivery": "uri",
    }
    assert body["input"] == [
        {"type": "text", "text": "a fox"},
        {"type": "image", "data": base64.b64encode(PNG).decode(), "mime_type": "image/png"},
    ]
    assert body["labels"] == {"team": "ads"}

    url = "https://example.com/frame.jpg"
    await gemini.submit(CreateVideoRequest(prompt="b", input_reference=url), idempotency_key="u")
    assert body_of(route)["input"][1] == {"type": "image", "uri": url, "mime_type": "image/jpeg"}


def test_validate_names_every_field_a_model_cannot_do() -> None:
    gemini = GeminiTransport()
    request = CreateVideoRequest(
        prompt="a fox",
        model="gemini-omni-1.1-flash",
        duration=12,
        resolution="480p",
        aspect_ratio="1:1",
        input_reference="http://example.com/a.png",
        provider_options={
            "negative_prompt": "rain",
            "response_format": {},
            "stream": True,
            "delivery": "email",
        },
    )
    fields = {e.field: e.message for e in gemini.validate(request, "videos[2]")}
    assert set(fields) == {
        "videos[2].duration",
        "videos[2].resolution",
        "videos[2].aspect_ratio",
        "videos[2].input_reference",
        "videos[2].provider_options.negative_prompt",
        "videos[2].provider_options.response_format",
        "videos[2].provider_options.stream",
        "videos[2].provider_options.delivery",
    }
    assert "3–10" in fields["videos[2].duration"]
    assert "no negative prompt" in fields["videos[2].provider_options.negative_prompt"]


def test_veo_takes_4_6_8_seconds_and_1080p_only_at_8() -> None:
    gemini = GeminiTransport()
    veo = "veo-3.1-generate-preview"
    ok = CreateVideoRequest(prompt="a", model=veo, resolution="1080p")
    assert gemini.validate(ok) == []
    short = CreateVideoRequest(prompt="a", model=veo, duration=4, resolution="4k")
    assert [e.field for e in gemini.validate(short)] == ["duration"]
    url = CreateVideoRequest(
        prompt="a",
        model=veo,
        input_reference="https://example.com/a.png",
        provider_options={"sampleCount": 2, "durationSeconds": 8},
    )
    fields = {e.field for e in gemini.validate(url)}
    assert fields == {
        "input_reference",
        "provider_options.sampleCount",
        "provider_options.durationSeconds",
    }


def test_models_it_does_not_know_are_left_to_google() -> None:
    gemini = GeminiTransport()
    request = CreateVideoRequest(prompt="a", model="gemini-omni-9-flash", duration=30)
    assert gemini.validate(request) == []
    assert gemini.estimate_cost(request) is None


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (CreateVideoRequest(prompt="a"), 0.8),
        (CreateVideoRequest(prompt="a", duration=10, resolution="4k"), 3.0),
        (CreateVideoRequest(prompt="a", model="veo-3.1-generate-preview"), 3.2),
        (CreateVideoRequest(prompt="a", model="veo-3.1-generate-preview", resolution="4k"), 4.8),
        (CreateVideoRequest(prompt="a", model="veo-3.1-fast-generate-preview", duration=4), 0.6),
        (CreateVideoRequest(prompt="a", model="veo-3.1-lite-generate-preview"), None),
    ],
)
def test_estimates_are_seconds_times_the_price_at_the_resolution_sent(
    request_: CreateVideoRequest, expected: float | None
) -> None:
    assert GeminiTransport().estimate_cost(request_) == expected


def test_prices_can_be_overridden() -> None:
    gemini = GeminiTransport(prices={"gemini-omni-1.2-flash": 0.05})
    assert gemini.estimate_cost(CreateVideoRequest(prompt="a", duration=4)) == 0.2


# --- Veo requests ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_veo_request_is_a_long_running_prediction_addressed_by_its_operation(
    router: respx.MockRouter, gemini: GeminiTransport
) -> None:
    create = router.post(f"{BASE}/models/veo-3.1-generate-preview:predictLongRunning").mock(
        return_value=httpx.Response(200, json=operation())
    )
    poll = router.get(f"{BASE}/{OP}").mock(return_value=httpx.Response(200, json=operation()))
    request = CreateVideoRequest(
        prompt="a dog",
        model="veo-3.1-generate-preview",
        aspect_ratio="9:16",
        input_reference=PNG,
        provider_options={"negative_prompt": "rain", "personGeneration": "allow_adult"},
    )
    remote = await gemini.submit(request, idempotency_key="k")
    assert body_of(create) == {
        "instances": [
            {
                "prompt": "a dog",
                "image": {"bytesBase64Encoded": base64.b64encode(PNG).decode(), "mimeType": "image/png"},
            }
        ],
        "parameters": {
            "personGeneration": "allow_adult",
            "aspectRatio": "9:16",
            "resolution": "720p",
            "durationSeconds": 8,
            "negativePrompt": "rain",
        },
    }  # fmt: skip
    assert remote.remote_id == OP_ID and remote_id_problem(OP_ID) is None
    running = await gemini.fetch(OP_ID)
    assert (running.status, running.provider_status) == (JobStatus.PROCESSING, "running")
    assert poll.call_count == 1


def test_operation_names_map_onto_remote_ids_and_back() -> None:
    assert gemini_remote_id(OP) == OP_ID
    assert operation_name(OP_ID) == OP
    assert gemini_remote_id("operations/x1") == "operations:x1"
    for bad in ("models/a/b", "models/../operations/x", "models/a b/operations/x", "x"):
        with pytest.raises(ValueError):
            gemini_remote_id(bad)


@pytest.mark.anyio
async def test_a_veo_operation_ends_done_failed_or_filtered(
    router: respx.MockRouter, gemini: GeminiTransport
) -> None:
    route = router.get(f"{BASE}/{OP}")
    route.mock(return_value=httpx.Response(200, json=done_operation()))
    done = await gemini.fetch(OP_ID)
    assert (done.status, done.progress, done.provider_status) == (JobStatus.COMPLETED, 100, "done")
    assert done.urls["video"].startswith("https://generativelanguage")
    assert done.expires_at is not None and done.expires_at.timestamp() == START + VEO_RETENTION

    error = {"code": 13, "message": "internal error"}
    route.mock(return_value=httpx.Response(200, json=operation(done=True, error=error)))
    failed = await gemini.fetch(OP_ID)
    assert failed.status is JobStatus.FAILED and failed.error is not None
    assert (failed.error.code, failed.error.retryable) == ("INTERNAL", True)

    filtered = {"generateVideoResponse": {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": ["unsafe"]}}  # fmt: skip
    route.mock(return_value=httpx.Response(200, json=operation(done=True, response=filtered)))
    withheld = await gemini.fetch(OP_ID)
    assert withheld.error is not None
    assert (withheld.error.code, withheld.error.message) == ("content_filtered", "unsafe")


@pytest.mark.anyio
async def test_an_operation_name_that_cannot_be_addressed_fails_the_create_once(
    router: respx.MockRouter, gemini: GeminiTransport, sleeps: Sleeps
) -> None:
    route = router.post(f"{BASE}/models/veo-3.1-generate-preview:predictLongRunning").mock(
        return_value=httpx.Response(200, json={"name": "models/../operations/x"})
    )
    request = CreateVideoRequest(prompt="a", model="veo-3.1-generate-preview")
    with pytest.raises(ProviderError) as info:
        await gemini.submit(request, idempotency_key="k")
    assert info.value.code == "invalid_remote_id"
    assert "dashboard" in info.value.message
    assert route.call_count == 1 and sleeps.delays == []


@pytest.mark.anyio
async def test_a_running_veo_operation_cannot_be_cancelled_and_is_only_read(
    router: respx.MockRouter, gemini: GeminiTransport
) -> None:
    read = router.get(f"{BASE}/{OP}").mock(return_value=httpx.Response(200, json=operation()))
    with pytest.raises(ProviderError) as info:
        await gemini.cancel(OP_ID)
    assert info.value.code == "unsupported"
    assert read.call_count == 1 and len(router.calls) == 1


@pytest.mark.anyio
async def test_a_veo_operation_already_done_is_reported_ended(
    router: respx.MockRouter, gemini: GeminiTransport
) -> None:
    router.get(f"{BASE}/{OP}").mock(return_value=httpx.Response(200, json=done_operation()))
    assert await gemini.cancel(OP_ID) == "ended"
    assert len(router.calls) == 1


# --- statuses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("queued", JobStatus.PROCESSING),
        ("in_progress", JobStatus.PROCESSING),
        ("cancelled", JobStatus.CANCELLED),
        ("failed", JobStatus.FAILED),
        ("incomplete", JobStatus.FAILED),
        ("budget_exceeded", JobStatus.FAILED),
        ("requires_action", JobStatus.FAILED),
    ],
)
@pytest.mark.anyio
async def test_statuses_map_onto_the_neutral_ones_keeping_googles_word(
    router: respx.MockRouter, gemini: GeminiTransport, word: str, status: JobStatus
) -> None:
    router.get(f"{BASE}/interactions/{ID}").mock(
        return_value=httpx.Response(200, json=interaction(word))
    )
    remote = await gemini.fetch(ID)
    assert (remote.status, remote.provider_status) == (status, word)
    assert (remote.error is not None) == (status is JobStatus.FAILED)


@pytest.mark.anyio
async def test_a_failed_interaction_carries_googles_error(
    router: respx.MockRouter, gemini: GeminiTransport
) -> None:
    route = router.get(f"{BASE}/interactions/{ID}")
    route.mock(
        return_value=httpx.Response(
            200, json=interaction("failed", errors=[{"code": "SAFETY", "message": "blocked"}])
        )
    )
    error = (await gemini.fetch(ID)).error
    assert error is not None and (error.code, error.message, error.retryable) == (
        "SAFETY",
        "blocked",
        False,
    )
    step = {"type": "model_output", "error": {"code": 14, "message": "try later"}}
    route.mock(return_value=httpx.Response(200, json=interaction("failed", steps=[step])))
    error = (await gemini.fetch(ID)).error
    assert error is not None and (error.code, error.retryable) == ("UNAVAILABLE", True)


@pytest.mark.anyio
async def test_a_completed_interaction_without_a_video_is_failed(
    router: respx.MockRouter, gemini: GeminiTransport
) -> None:
    router.get(f"{BASE}/interactions/{ID}").mock(
        return_value=httpx.Response(200, json=interaction("completed", steps=[]))
    )
    remote = await gemini.fetch(ID)
    assert remote.status is JobStatus.FAILED and remote.error is not None
    assert (remote.error.code, remote.error.retryable) == ("no_output", True)


@pytest.mark.anyio
async def test_an_unknown_status_is_processing_and_warned_once(
    router: respx.MockRouter, gemini: GeminiTransport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="soravideo")
    router.get(f"{BASE}/interactions/{ID}").mock(
        return_value=httpx.Response(200, json=interaction("pondering"))
    )
    for _ in range(2):
        assert (await gemini.fetch(ID)).status is JobStatus.PROCESSING
    assert sum("pondering" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.anyio
async def test_a_completed_video_is_not_kept_in_raw(
    router: respx.MockRouter, gemini: GeminiTransport
) -> None:
    router.get(f"{BASE}/interactions/{ID}").mock(return_value=httpx.Response(200, json=inline()))
    remote = await gemini.fetch(ID)
    assert remote.status is JobStatus.COMPLETED and remote.urls == {}
    block = remote.raw["steps"][1]["content"][1]
    assert block["data"].endswith("base64 characters, not kept>")
    assert remote.raw["usage"]["total_tokens"] == 100


# --- creates and errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, json={"error": {"code": 500, "status": "INTERNAL"}}),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("reset"),
        httpx.Response(200, text="<html>"),
    ],
    ids=["500", "timeout", "reset", "not-json"],
)
@pytest.mark.anyio
async def test_a_create_that_may_have_happened_is_ambiguous_and_sent_once(
    router: respx.MockRouter, gemini: GeminiTransport, sleeps: Sleeps, answer: Any
) -> None:
    route = router.post(f"{BASE}/interactions").mock(
        side_effect=[answer, httpx.Response(200, json=interaction("queued"))]
    )
    with pytest.raises(AmbiguousSubmissionError):
        await gemini.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")
    assert route.call_count == 1 and sleeps.delays == []


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(429, json={"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}),
        httpx.Response(503, json={"error": {"code": 503, "status": "UNAVAILABLE"}}),
        httpx.ConnectError("[Errno 111] Connection refused"),
    ],
    ids=["429", "503", "refused"],
)
@pytest.mark.anyio
async def test_a_create_that_certainly_did_not_happen_is_sent_again(
    router: respx.MockRouter, gemini: GeminiTransport, answer: Any
) -> None:
    route = router.post(f"{BASE}/interactions").mock(
        side_effect=[answer, httpx.Response(200, json=interaction("queued"))]
    )
    remote = await gemini.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")
    assert remote.remote_id == ID and route.call_count == 2


@pytest.mark.parametrize("bad", ["..", "a/b", "a b"])
@pytest.mark.anyio
async def test_a_create_answered_with_an_unusable_id_fails_and_is_sent_once(
    router: respx.MockRouter, gemini: GeminiTransport, bad: str
) -> None:
    route = router.post(f"{BASE}/interactions").mock(
        return_value=httpx.Response(200, json={"id": bad, "status": "queued"})
    )
    with pytest.raises(ProviderError) as info:
        await gemini.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k")
    assert info.value.code == "invalid_remote_id" and route.call_count == 1


@pytest.mark.anyio
async def test_the_same_idempotency_key_reads_the_job_instead_of_creating_another(
    router: respx.MockRouter, gemini: GeminiTransport
) -> None:
    create = router.post(f"{BASE}/interactions").mock(
        return_value=httpx.Response(200, json=interaction("queued"))
    )
    read = router.get(f"{BASE}/interactions/{ID}").mock(
        return_value=httpx.Response(200, json=interaction("in_progress"))
    )
    first = await gemini.submit(CreateVideoRequest(prompt="a"), idempotency_key="same")
    again = await gemini.submit(CreateVideoRequest(prompt="a"), idempotency_key="same")
    assert first.remote_id == again.remote_id == ID
    assert (create.call_count, read.call_count) == (1, 1)


@pytest.mark.anyio
async def test_errors_map_onto_the_tree_without_the_key(
    router: respx.MockRouter, make: Maker
) -> None:
    gemini = make(max_retries=0)
    route = router.get(f"{BASE}/interactions/{ID}")
    invalid = {
        "error": {
            "code": 400,
            "message": f"API key not valid: {KEY}",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        }
    }  # fmt: skip
    cases: list[tuple[httpx.Response, type[ProviderError], str]] = [
        (httpx.Response(400, json=invalid), AuthenticationError, "API_KEY_INVALID"),
        (
            httpx.Response(403, json={"error": {"code": 403, "message": "no", "status": "PERMISSION_DENIED"}}),
            PermissionDeniedError,
            "PERMISSION_DENIED",
        ),
        (
            httpx.Response(
                429,
                headers={"retry-after": "7"},
                json={"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}},
            ),
            RateLimitError,
            "RESOURCE_EXHAUSTED",
        ),
        (
            httpx.Response(404, json={"error": {"code": 404, "message": "gone", "status": "NOT_FOUND"}}),
            ProviderError,
            "NOT_FOUND",
        ),
    ]  # fmt: skip
    for answer, kind, code in cases:
        route.mock(return_value=answer)
        with pytest.raises(kind) as info:
            await gemini.fetch(ID)
        assert type(info.value) is kind and info.value.code == code
        assert KEY not in str(info.value) and KEY not in json.dumps(info.value.body)
        if isinstance(info.value, RateLimitError):
            assert info.value.retry_after == 7


def test_remote_ids_that_cannot_be_a_path_segment_are_refused() -> None:
    gemini = GeminiTransport()

    async def fetch(remote_id: str) -> None:
        await gemini.fetch(remote_id)

    import anyio

    for bad in ("..", "a/b", "models:..:operations:x"):
        with pytest.raises(ProviderError) as info:
            anyio.run(fetch, bad)
        assert info.value.code == "invalid_remote_id"


# --- cancel ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancel_posts_an_empty_body_and_tolerates_a_finished_or_gone_interaction(
    router: respx.MockRouter, gemini: GeminiTransport
) -> None:
    route = router.post(f"{BASE}/interactions/{ID}/cancel")
    route.mock(return_value=httpx.Response(200, json=interaction("cancelled")))
    assert await gemini.cancel(ID) is None
    assert route.calls[0].request.content == b""
    finished = {"error": {"code": 400, "message": "done", "status": "FAILED_PRECONDITION"}}
    for answer, said in (
        (httpx.Response(400, json=finished), "ended"),
        (httpx.Response(404, json={}), None),
    ):
        route.mock(return_value=answer)
        assert await gemini.cancel(ID) == said
    assert gemini.capabilities.cancel_reports_ended
    route.mock(return_value=httpx.Response(400, json={"error": {"status": "INVALID_ARGUMENT"}}))
    with pytest.raises(ProviderError):
        await gemini.cancel(ID)


@pytest.mark.anyio
async def test_remix_is_unsupported(gemini: GeminiTransport) -> None:
    with pytest.raises(ProviderError) as info:
        await gemini.remix(ID, "again", idempotency_key="k")
    assert info.value.code == "unsupported"
    assert await gemini.list_recent() == []


# --- content ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_inline_video_is_decoded_checked_and_written(
    router: respx.MockRouter, gemini: GeminiTransport, tmp_path: Path
) -> None:
    router.get(f"{BASE}/interactions/{ID}").mock(return_value=httpx.Response(200, json=inline()))
    saved = await download_content(gemini, ID, tmp_path / "out.mp4")
    assert (tmp_path / "out.mp4").read_bytes() == VIDEO
    assert (saved.bytes, saved.content_type) == (len(VIDEO), "video/mp4")


@pytest.mark.parametrize(
    ("data", "mime", "code"),
    [
        (base64.b64encode(b"<html>not a video</html>").decode(), "application/octet-stream", "not_media"),
        (base64.b64encode(VIDEO).decode(), "text/html", "content_type"),
    ],
)  # fmt: skip
@pytest.mark.anyio
async def test_an_inline_video_that_is_not_one_is_never_kept(
    router: respx.MockRouter,
    gemini: GeminiTransport,
    tmp_path: Path,
    data: str,
    mime: str,
    code: str,
) -> None:
    router.get(f"{BASE}/interactions/{ID}").mock(
        return_value=httpx.Response(200, json=with_video(data=data, mime_type=mime))
    )
    with pytest.raises(DownloadError) as info:
        await download_content(gemini, ID, tmp_path / "out.mp4")
    assert info.value.code == code
    assert list(tmp_path.iterdir()) == []


@pytest.mark.anyio
async def test_inline_data_that_is_not_base64_is_a_provider_error(
    router: respx.MockRouter, gemini: GeminiTransport, tmp_path: Path
) -> None:
    router.get(f"{BASE}/interactions/{ID}").mock(
        return_value=httpx.Response(200, json=with_video(data="!!!!" * 10))
    )
    with pytest.raises(ProviderError) as info:
        await download_content(gemini, ID, tmp_path / "out.mp4")
    assert info.value.code == "invalid_content"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.anyio
async def test_a_files_uri_is_fetched_on_the_configured_origin_with_the_key(
    router: respx.MockRouter, gemini: GeminiTransport, tmp_path: Path
) -> None:
    router.get(f"{BASE}/{OP}").mock(return_value=httpx.Response(200, json=done_operation()))
    files = router.get(f"{BASE}/files/abc123xyz:download").mock(
        return_value=httpx.Response(
            302, headers={"location": "https://storage.example.com/v?sig=1"}
        )
    )
    cdn = router.get("https://storage.example.com/v").mock(
        return_value=httpx.Response(200, content=VIDEO, headers={"content-type": "video/mp4"})
    )
    await download_content(gemini, OP_ID, tmp_path / "veo.mp4")
    assert (tmp_path / "veo.mp4").read_bytes() == VIDEO
    assert files.calls[0].request.headers["x-goog-api-key"] == KEY
    assert files.calls[0].request.url.params["alt"] == "media"
    assert "x-goog-api-key" not in cdn.calls[0].request.headers


@pytest.mark.anyio
async def test_another_https_uri_is_fetched_without_the_key(
    router: respx.MockRouter, gemini: GeminiTransport, tmp_path: Path
) -> None:
    uri = "https://cdn.example.com/video.mp4"
    router.get(f"{BASE}/interactions/{ID}").mock(
        return_value=httpx.Response(200, json=with_video(uri=uri))
    )
    cdn = router.get(uri).mock(return_value=httpx.Response(200, content=VIDEO))
    remote = await gemini.fetch(ID)
    assert remote.urls == {"video": uri}
    await download_content(gemini, ID, tmp_path / "out.mp4")
    assert "x-goog-api-key" not in cdn.calls[0].request.headers


@pytest.mark.anyio
async def test_a_video_not_ready_or_of_another_variant_cannot_be_opened(
    router: respx.MockRouter, gemini: GeminiTransport
) -> None:
    router.get(f"{BASE}/interactions/{ID}").mock(
        return_value=httpx.Response(200, json=interaction("in_progress"))
    )
    with pytest.raises(ProviderError) as info:
        async with gemini.open_content(ID):
            pass
    assert info.value.code == "no_output"
    with pytest.raises(ValidationError):
        gemini.open_content(ID, "thumbnail")
