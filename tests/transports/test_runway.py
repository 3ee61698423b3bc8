"""RunwayTransport at the HTTP level (respx): requests, mapping, errors, URLs, cost."""

from __future__ import annotations

import base64
import json
import logging
import runpy
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
    RateLimitError,
    ValidationError,
)
from soravideo._core.clock import ManualClock
from soravideo.transports import RunwayTransport, Transport
from soravideo.transports.runway import (
    MAX_DATA_URI_LENGTH,
    RUNWAY_MODELS,
    failure_is_retryable,
)

BASE = "http://127.0.0.1:8766"
CDN = "http://127.0.0.1:8767"
KEY = "key_test_SECRET_0123456789abcdef"
TASK = "0e7a1c5e-9a6c-4d5e-8f0e-2f7c1e9b8a11"
START = 1_800_000_000.0
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
ENV_VARS = ("RUNWAYML_API_SECRET", "RUNWAYML_BASE_URL")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "runway_example.py"


def task(status: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": TASK, "status": status, "createdAt": "2027-01-15T08:00:00.000Z"}
    if status in ("PENDING", "THROTTLED", "RUNNING"):
        body["estimatedCost"] = {"credits": 60}
    else:
        body["cost"] = {"credits": 60 if status == "SUCCEEDED" else 0}
    body.update(extra)
    return body


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


Maker = Callable[..., RunwayTransport]


@pytest.fixture
def make(client: httpx.AsyncClient, sleeps: Sleeps, clock: ManualClock) -> Maker:
    def factory(**kwargs: Any) -> RunwayTransport:
        kwargs.setdefault("base_url", BASE)
        kwargs.setdefault("api_key", KEY)
        kwargs.setdefault("sleep", sleeps)
        kwargs.setdefault("clock", clock)
        return RunwayTransport(http_client=client, **kwargs)

    return factory


@pytest.fixture
def runway(make: Maker) -> RunwayTransport:
    return make()


@pytest.fixture
def offline() -> RunwayTransport:
    """A transport for checks that send nothing (validation, estimates)."""
    return RunwayTransport(base_url=BASE, api_key=KEY)


def body_of(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def created(credits: float = 60.0) -> httpx.Response:
    return httpx.Response(200, json={"id": TASK, "estimatedCost": {"credits": credits}})


# --- construction ------------------------------------------------------------------------


def test_it_is_a_transport_with_runway_capabilities() -> None:
    transport = RunwayTransport()
    assert isinstance(transport, Transport)
    assert transport.name == "runway"
    assert transport.base_url == "https://api.dev.runwayml.com"
    caps = transport.capabilities
    assert caps.default_model == "gen4.5"
    assert {"gen4.5", "veo3.1", "veo3.1_fast", "gemini_omni_flash"} <= set(caps.models)
    assert (caps.can_cancel, caps.can_list, caps.can_remix) == (True, False, False)
    assert (caps.result_kind, caps.variants, caps.min_poll_interval) == ("url", ("video",), 5.0)
    assert caps.models["gen4.5"].durations == tuple(range(2, 11))
    assert caps.models["veo3.1"].durations == (4, 6, 8)
    assert "1920x1080" in (caps.models["veo3.1"].sizes or ())
    assert caps.models["gen4.5"].price_per_second_usd == pytest.approx(0.12)
    assert caps.models["gemini_omni_flash"].price_per_second_usd is None


def test_environment_supplies_key_and_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "api_key=None" in repr(RunwayTransport())
    monkeypatch.setenv("RUNWAYML_API_SECRET", KEY)
    monkeypatch.setenv("RUNWAYML_BASE_URL", "http://127.0.0.1:1/")
    transport = RunwayTransport()
    assert transport.base_url == "http://127.0.0.1:1"
    assert "api_key=set" in repr(transport)
    assert KEY not in repr(transport)
    assert RunwayTransport(base_url=BASE).base_url == BASE


@pytest.mark.anyio
async def test_every_api_request_carries_the_key_and_version(
    router: respx.MockRouter, runway: RunwayTransport
) -> None:
    route = router.get(f"{BASE}/v1/organization").respond(200, json={})
    await runway.ping()
    headers = route.calls[0].request.headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["x-runway-version"] == "2024-11-06"


# --- requests ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_text_request_gets_the_models_defaults(
    router: respx.MockRouter, runway: RunwayTransport
) -> None:
    route = router.post(f"{BASE}/v1/text_to_video").mock(return_value=created())

    remote = await runway.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k1")

    assert body_of(route) == {
        "model": "gen4.5",
        "promptText": "a fox",
        "ratio": "1280:720",
        "duration": 5,
    }
    assert "idempotency-key" not in route.calls[0].request.headers
    assert remote.remote_id == TASK
    assert remote.status is JobStatus.PROCESSING
    assert (remote.cost_credits, remote.cost_usd) == (60.0, 0.6)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"model": "veo3.1", "size": "720x1280"}, {"ratio": "720:1280", "duration": 8}),
        (
            {"model": "veo3.1_fast", "resolution": "1080p", "aspect_ratio": "9:16", "duration": 4},
            {"ratio": "1080:1920", "duration": 4},
        ),
        (
            {"model": "gemini_omni_flash", "aspect_ratio": "9:16"},
            {"ratio": "720:1280", "duration": 8},
        ),
        (
            # The size comes from the neutral fields (a "ratio" option is refused).
            {"model": "gen4.5", "aspect_ratio": "9:16", "provider_options": {"seed": 7}},
            {"ratio": "720:1280", "duration": 5, "seed": 7},
        ),
        (
            {
                "model": "gen4.5",
                "duration": 10,
                "provider_options": {"contentModeration": {"publicFigureThreshold": "low"}},
            },
            {
                "ratio": "1280:720",
                "duration": 10,
                "contentModeration": {"publicFigureThreshold": "low"},
            },
        ),
        ({"model": "some_new_model"}, {}),
        (
            {"model": "some_new_model", "size": "1920x1080", "duration": 3},
            {"ratio": "1920:1080", "duration": 3},
        ),
    ],
)
@pytest.mark.anyio
async def test_the_neutral_request_maps_onto_runways_fields(
    router: respx.MockRouter,
    runway: RunwayTransport,
    fields: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    route = router.post(f"{BASE}/v1/text_to_video").mock(return_value=created())
    request = CreateVideoRequest(prompt="a fox", **fields)
    assert runway.validate(request) == []

    await runway.submit(request, idempotency_key="k")

    assert body_of(route) == {"model": fields["model"], "promptText": "a fox", **expected}


@pytest.mark.anyio
async def test_an_aspect_ratio_alone_picks_the_models_size_of_that_shape(
    router: respx.MockRouter, runway: RunwayTransport
) -> None:
    route = router.post(f"{BASE}/v1/image_to_video").mock(return_value=created())
    request = CreateVideoRequest(prompt="a fox", aspect_ratio="1:1", input_reference=PNG)

    await runway.submit(request, idempotency_key="k")

    assert body_of(route)["ratio"] == "960:960"


@pytest.mark.anyio
async def test_bytes_and_files_become_data_uris_and_urls_pass_through(
    router: respx.MockRouter, runway: RunwayTransport, tmp_path: Path
) -> None:
    route = router.post(f"{BASE}/v1/image_to_video").mock(return_value=created())
    jpeg = tmp_path / "frame.jpg"
    jpeg.write_bytes(JPEG)
    references: list[str | bytes] = [PNG, str(jpeg), "https://assets.example.com/frame.webp"]

    for reference in references:
        request = CreateVideoRequest(prompt="a fox", model="veo3.1", input_reference=reference)
        assert runway.validate(request) == []
        await runway.submit(request, idempotency_key=f"k-{len(route.calls)}")

    images = [body_of(route, i)["promptImage"] for i in range(3)]
    assert images[0] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert images[1] == "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()
    assert images[2] == "https://assets.example.com/frame.webp"
    assert body_of(route, 0)["ratio"] == "1280:720"


@pytest.mark.anyio
async def test_provider_options_prompt_image_selects_image_to_video(
    router: respx.MockRouter, runway: RunwayTransport
) -> None:
    frames = [
        {"uri": "https://assets.example.com/a.png", "position": "first"},
        {"uri": "https://assets.example.com/b.png", "position": "last"},
    ]
    route = router.post(f"{BASE}/v1/image_to_video").mock(return_value=created())
    request = CreateVideoRequest(
        prompt="a fox", model="veo3.1", provider_options={"promptImage": frames}
    )
    assert runway.validate(request) == []

    await runway.submit(request, idempotency_key="k")

    assert body_of(route)["promptImage"] == frames


@pytest.mark.anyio
async def test_an_image_too_big_for_a_data_uri_is_a_clear_validation_error(
    router: respx.MockRouter, runway: RunwayTransport, tmp_path: Path
) -> None:
    big = PNG + b"\x00" * (MAX_DATA_URI_LENGTH * 3 // 4)
    path = tmp_path / "big.png"
    path.write_bytes(big)
    route = router.post(f"{BASE}/v1/image_to_video").mock(return_value=created())

    for reference in (big, str(path)):
        request = CreateVideoRequest(prompt="a fox", input_reference=reference)
        errors = runway.validate(request, "videos[1]")
        assert [e.field for e in errors] == ["videos[1].input_reference"]
        assert "5.0 MB" in errors[0].message and "https://" in errors[0].message
        with pytest.raises(ValidationError) as info:
            await runway.submit(request, idempotency_key=f"k{reference!r:.10}")
        assert info.value.fields == ("input_reference",)
    assert not route.called


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ("http://assets.example.com/a.png", "https://"),
        ("https://10.0.0.7/a.png", "IP address"),
        ("ftp://assets.example.com/a.png", "https://"),
        ("data:text/plain;base64,aGk=", "data:image/"),
        ("https://assets.example.com/" + "a" * 2100, "2048"),
        ("/no/such/frame.png", "file not found"),
        (b"GIF89a not supported", "PNG, JPEG or WebP"),
    ],
)
def test_references_runway_would_refuse_are_named(
    offline: RunwayTransport, reference: str | bytes, words: str
) -> None:
    errors = offline.validate(CreateVideoRequest(prompt="a fox", input_reference=reference))
    assert [e.field for e in errors] == ["input_reference"]
    assert words in errors[0].message


def test_validate_names_every_field_a_model_cannot_do(offline: RunwayTransport) -> None:
    request = CreateVideoRequest(
        prompt="x" * 1001,
        model="gen4.5",
        duration=12,
        size="1920x1080",
        provider_options={"model": "veo3.1", "promptText": "other", "duration": 4},
    )

    errors = offline.validate(request, "videos[0]")

    assert sorted(e.field for e in errors) == [
        "videos[0].duration",
        "videos[0].prompt",
        "videos[0].provider_options.duration",
        "videos[0].provider_options.model",
        "videos[0].provider_options.promptText",
        "videos[0].size",
    ]
    message = {e.field: e.message for e in errors}
    assert "2–10" in message["videos[0].duration"]
    assert "1280x720, 720x1280" in message["videos[0].size"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"model": "veo3.1", "duration": 5}, "duration"),
        ({"model": "gen4_turbo"}, "input_reference"),
        ({"model": "gen4.5", "resolution": "1080p"}, "resolution"),
        ({"model": "gen4.5", "aspect_ratio": "21:9"}, "aspect_ratio"),
        ({"model": "gen4.5", "provider_options": {"ratio": "1920:1080"}}, "provider_options.ratio"),
        ({"model": "veo3.1", "provider_options": {"duration": 10}}, "provider_options.duration"),
        ({"size": "1280x720", "provider_options": {"ratio": "1280:720"}}, "provider_options.ratio"),
        (
            {
                "input_reference": PNG,
                "provider_options": {"promptImage": "https://a.example/x.png"},
            },
            "provider_options.promptImage",
        ),
    ],
)
def test_validate_rejects_one_thing_at_a_time(
    offline: RunwayTransport, fields: dict[str, Any], field: str
) -> None:
    errors = offline.validate(CreateVideoRequest(prompt="a fox", **fields))
    assert [e.field for e in errors] == [field]


def test_unknown_models_and_long_prompts_on_gemini_are_left_to_runway(
    offline: RunwayTransport,
) -> None:
    assert offline.validate(CreateVideoRequest(prompt="a fox", model="kling_4", duration=30)) == []
    assert offline.validate(CreateVideoRequest(prompt="y" * 5000, model="gemini_omni_flash")) == []


# --- mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "status", "progress", "word"),
    [
        (task("PENDING"), JobStatus.PROCESSING, 0, "PENDING"),
        (task("THROTTLED"), JobStatus.PROCESSING, 0, "THROTTLED"),
        (task("RUNNING", progress=0.427), JobStatus.PROCESSING, 42, "RUNNING"),
        (task("RUNNING", progress=1.0), JobStatus.PROCESSING, 99, "RUNNING"),
        (task("SUCCEEDED", output=[f"{CDN}/v.mp4"]), JobStatus.COMPLETED, 100, "SUCCEEDED"),
        (task("CANCELLED"), JobStatus.CANCELLED, 0, "CANCELLED"),
    ],
)
@pytest.mark.anyio
async def test_statuses_map_onto_the_neutral_ones_keeping_runways_word(
    router: respx.MockRouter,
    runway: RunwayTransport,
    payload: dict[str, Any],
    status: JobStatus,
    progress: int,
    word: str,
) -> None:
    router.get(f"{BASE}/v1/tasks/{TASK}").respond(200, json=payload)

    remote = await runway.fetch(TASK)

    assert (remote.status, remote.progress, remote.provider_status) == (status, progress, word)
    assert remote.created_at == datetime(2027, 1, 15, 8, tzinfo=timezone.utc)
    assert remote.error is None
    assert remote.cost_credits == (
        60.0 if word in ("PENDING", "THROTTLED", "RUNNING", "SUCCEEDED") else 0.0
    )
    assert remote.cost_usd == pytest.approx(remote.cost_credits * 0.01)


@pytest.mark.anyio
async def test_a_succeeded_task_gives_its_url_and_an_expiry_a_day_out(
    router: respx.MockRouter, runway: RunwayTransport
) -> None:
    router.get(f"{BASE}/v1/tasks/{TASK}").respond(
        200, json=task("SUCCEEDED", output=[f"{CDN}/v.mp4", f"{CDN}/extra.mp4"])
    )

    remote = await runway.fetch(TASK)

    assert remote.urls == {"video": f"{CDN}/v.mp4"}
    assert remote.expires_at == datetime.fromtimestamp(START, timezone.utc) + timedelta(days=1)


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("SAFETY.INPUT.TEXT", False),
        ("SAFETY.OUTPUT.VIDEO", False),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", False),
        ("INTERNAL.BAD_OUTPUT.CODE01", True),
        ("INPUT_PREPROCESSING.INTERNAL", True),
        ("ASSET.INVALID", False),
    ],
)
def test_moderation_failures_are_final_internal_ones_retryable(code: str, retryable: bool) -> None:
    assert failure_is_retryable(code) is retryable


@pytest.mark.anyio
async def test_a_failed_task_becomes_a_job_error(
    router: respx.MockRouter, runway: RunwayTransport
) -> None:
    route = router.get(f"{BASE}/v1/tasks/{TASK}")
    route.side_effect = [
        httpx.Response(
            200,
            json=task("FAILED", failure="Prompt rejected.", failureCode="SAFETY.INPUT.TEXT"),
        ),
        httpx.Response(200, json=task("FAILED", failure="Something broke.")),
        httpx.Response(200, json=task("SUCCEEDED", output=[])),
    ]

    moderated, plain, empty = [await runway.fetch(TASK) for _ in range(3)]

    assert moderated.status is JobStatus.FAILED
    assert moderated.error is not None
    assert (moderated.error.code, moderated.error.message) == (
        "SAFETY.INPUT.TEXT",
        "Prompt rejected.",
    )
    assert moderated.error.retryable is False
    assert plain.error is not None and plain.error.code == "failed"
    assert empty.status is JobStatus.FAILED
    assert empty.error is not None and empty.error.code == "no_output"


@pytest.mark.anyio
async def test_an_unknown_status_is_processing_and_warned_once(
    router: respx.MockRouter, runway: RunwayTransport, caplog: pytest.LogCaptureFixture
) -> None:
    router.get(f"{BASE}/v1/tasks/{TASK}").respond(200, json=task("ASSEMBLING"))
    with caplog.at_level(logging.WARNING, logger="soravideo.transports.runway"):
        first = await runway.fetch(TASK)
        await runway.fetch(TASK)
    assert (first.status, first.provider_status) == (JobStatus.PROCESSING, "ASSEMBLING")
    assert len(caplog.records) == 1


# --- errors ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_errors_map_onto_the_tree_without_the_key(
    router: respx.MockRouter, runway: RunwayTransport
) -> None:
    route = router.post(f"{BASE}/v1/text_to_video")
    route.side_effect = [
        httpx.Response(401, json={"error": f"The API key {KEY} is not valid."}),
        httpx.Response(
            400,
            json={
                "error": "Validation of body failed",
                "issues": [{"path": ["ratio"], "message": "Invalid enum value"}],
            },
        ),
        httpx.Response(500, json={"error": "boom"}),
    ]
    request = CreateVideoRequest(prompt="a fox")

    with pytest.raises(AuthenticationError) as auth:
        await runway.submit(request, idempotency_key="a")
    with pytest.raises(ProviderError) as bad:
        await runway.submit(request, idempotency_key="b")
    with pytest.raises(AmbiguousSubmissionError):
        await runway.submit(request, idempotency_key="c")

    assert KEY not in str(auth.value) and KEY not in json.dumps(auth.value.body)
    assert bad.value.status_code == 400
    assert "ratio: Invalid enum value" in bad.value.message


@pytest.mark.anyio
async def test_a_429_is_a_rate_limit_error_after_retries(
    router: respx.MockRouter, make: Maker, sleeps: Sleeps
) -> None:
    runway = make(max_retries=1)
    route = router.get(f"{BASE}/v1/tasks/{TASK}").respond(
        429, json={"error": "Too many requests"}, headers={"retry-after": "7"}
    )
    with pytest.raises(RateLimitError) as info:
        await runway.fetch(TASK)
    assert info.value.retry_after == 7.0
    assert route.call_count == 2
    assert sleeps.delays == [7.0]


# --- cancel, fetch_many, list, remix -------------------------------------------------------


@pytest.mark.anyio
async def test_cancel_deletes_and_a_task_already_gone_is_fine(
    router: respx.MockRouter, runway: RunwayTransport, sleeps: Sleeps
) -> None:
    router.get(f"{BASE}/v1/tasks/{TASK}").respond(200, json=task("RUNNING", progress=0.2))
    route = router.delete(f"{BASE}/v1/tasks/{TASK}")
    route.side_effect = [
        httpx.Response(204),
        httpx.Response(404, json={"error": "Task not found."}),
        httpx.Response(503, json={"error": "shedding load"}),
        httpx.Response(503, json={"error": "shedding load"}),
        httpx.Response(503, json={"error": "shedding load"}),
        httpx.Response(503, json={"error": "shedding load"}),
    ]
    assert await runway.cancel(TASK) is None
    assert await runway.cancel(TASK) is None
    with pytest.raises(ProviderUnavailableError):
        await runway.cancel(TASK)
    assert len(sleeps.delays) == 3


@pytest.mark.anyio
@pytest.mark.parametrize("word", ["SUCCEEDED", "FAILED", "CANCELLED"])
async def test_cancel_of_a_task_already_ended_keeps_it_and_says_ended(
    router: respx.MockRouter, runway: RunwayTransport, word: str
) -> None:
    # DELETE would delete it, its video with it, unrefunded (tasks.delete): it is read
    # first, and left as it is.
    router.get(f"{BASE}/v1/tasks/{TASK}").respond(200, json=task(word))
    delete = router.delete(f"{BASE}/v1/tasks/{TASK}").respond(204)
    assert runway.capabilities.cancel_reports_ended
    assert await runway.cancel(TASK) == "ended"
    assert not delete.called


@pytest.mark.anyio
async def test_cancel_of_a_task_gone_or_unreadable(
    router: respx.MockRouter, runway: RunwayTransport, sleeps: Sleeps
) -> None:
    read = router.get(f"{BASE}/v1/tasks/{TASK}")
    delete = router.delete(f"{BASE}/v1/tasks/{TASK}").respond(204)
    read.respond(404, json={"error": "Task not found."})
    assert await runway.cancel(TASK) is None  # gone: nothing to delete
    assert not delete.called
    read.respond(400, json={"error": "bad request"})
    assert await runway.cancel(TASK) is None  # unreadable: deleted all the same
    assert delete.call_count == 1


@pytest.mark.anyio
async def test_fetch_many_reads_one_by_one_and_leaves_unknown_ids_out(
    router: respx.MockRouter, runway: RunwayTransport
) -> None:
    ids = [f"task-{n}" for n in range(5)]
    for task_id in ids:
        router.get(f"{BASE}/v1/tasks/{task_id}").respond(
            200, json={**task("RUNNING", progress=0.5), "id": task_id}
        )
    router.get(f"{BASE}/v1/tasks/gone").respond(404, json={"error": "Task not found."})

    found = await runway.fetch_many([*ids, "gone", ids[0]])

    assert list(found) == ids
    assert all(found[i].progress == 50 for i in ids)
    assert await runway.list_recent() == []
    assert await runway.fetch_many([]) == {}


@pytest.mark.anyio
async def test_fetch_many_raises_other_failures(router: respx.MockRouter, make: Maker) -> None:
    runway = make(max_retries=0)
    router.get(f"{BASE}/v1/tasks/bad").respond(
        401, json={"error": "The provided API key is not valid."}
    )
    with pytest.raises(AuthenticationError):
        await runway.fetch_many(["bad"])


@pytest.mark.anyio
async def test_the_same_idempotency_key_reads_the_task_instead_of_creating_another(
    router: respx.MockRouter, runway: RunwayTransport
) -> None:
    create = router.post(f"{BASE}/v1/text_to_video").mock(return_value=created())
    read = router.get(f"{BASE}/v1/tasks/{TASK}").respond(200, json=task("RUNNING", progress=0.1))
    request = CreateVideoRequest(prompt="a fox")

    first = await runway.submit(request, idempotency_key="same")
    second = await runway.submit(request, idempotency_key="same")
    third = await runway.submit(request, idempotency_key="other")

    assert first.remote_id == second.remote_id == third.remote_id == TASK
    assert (create.call_count, read.call_count) == (2, 1)
    assert second.progress == 10


@pytest.mark.anyio
async def test_remix_is_unsupported(runway: RunwayTransport) -> None:
    with pytest.raises(ProviderError) as info:
        await runway.remix(TASK, "again", idempotency_key="k")
    assert info.value.code == "unsupported"


# --- downloads -----------------------------------------------------------------------------


async def read_all(runway: RunwayTransport, remote_id: str = TASK) -> tuple[bytes, Any]:
    async with runway.open_content(remote_id) as stream:
        data = b"".join([chunk async for chunk in stream.aiter_bytes()])
        return data, stream


@pytest.mark.anyio
async def test_downloads_go_to_the_output_url_without_the_key(
    router: respx.MockRouter, runway: RunwayTransport
) -> None:
    read = router.get(f"{BASE}/v1/tasks/{TASK}").respond(
        200, json=task("SUCCEEDED", output=[f"{CDN}/v.mp4?sig=1"])
    )
    cdn = router.get(f"{CDN}/v.mp4").respond(
        200, content=b"video-bytes", headers={"content-type": "video/mp4"}
    )

    data, stream = await read_all(runway)
    await runway.fetch(TASK)
    again, _ = await read_all(runway)

    assert data == again == b"video-bytes"
    assert (stream.content_type, stream.content_length) == ("video/mp4", 11)
    for call in cdn.calls:
        assert "authorization" not in call.request.headers
        assert "x-runway-version" not in call.request.headers
    # The first download had to read the task; the second used the URL that fetch() saw.
    assert read.call_count == 2


@pytest.mark.parametrize("stale", [403, 404, 410])
@pytest.mark.anyio
async def test_a_stale_output_url_is_refreshed_once(
    router: respx.MockRouter, runway: RunwayTransport, stale: int
) -> None:
    read = router.get(f"{BASE}/v1/tasks/{TASK}")
    read.side_effect = [
        httpx.Response(200, json=task("SUCCEEDED", output=[f"{CDN}/old.mp4"])),
        httpx.Response(200, json=task("SUCCEEDED", output=[f"{CDN}/new.mp4"])),
    ]
    old = router.get(f"{CDN}/old.mp4").respond(stale, text="<Error>AccessDenied</Error>")
    new = router.get(f"{CDN}/new.mp4").respond(200, content=b"fresh")
    await runway.fetch(TASK)

    data, _ = await read_all(runway)

    assert data == b"fresh"
    assert (old.call_count, new.call_count, read.call_count) == (1, 1, 2)


@pytest.mark.anyio
async def test_a_url_still_refused_after_a_refresh_raises(
    router: respx.MockRouter, runway: RunwayTransport
) -> None:
    router.get(f"{BASE}/v1/tasks/{TASK}").respond(
        200, json=task("SUCCEEDED", output=[f"{CDN}/v.mp4"])
    )
    cdn = router.get(f"{CDN}/v.mp4").respond(403, text="<Error>AccessDenied</Error>")
    with pytest.raises(ProviderError) as info:
        await read_all(runway)
    assert info.value.status_code == 403
    assert cdn.call_count == 2


@pytest.mark.anyio
async def test_there_is_nothing_to_download_before_success(
    router: respx.MockRouter, runway: RunwayTransport
) -> None:
    router.get(f"{BASE}/v1/tasks/{TASK}").respond(200, json=task("RUNNING", progress=0.3))
    with pytest.raises(ProviderError) as info:
        await read_all(runway)
    assert info.value.code == "no_output"
    with pytest.raises(ValidationError):
        runway.open_content(TASK, "thumbnail")


# --- cost ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "credits"),
    [
        ({}, 60.0),  # gen4.5, 5 s by default, 12 credits/s
        ({"model": "gen4.5", "duration": 10}, 120.0),
        ({"model": "veo3.1"}, 320.0),  # 8 s with audio at 40
        ({"model": "veo3.1", "provider_options": {"audio": False}}, 160.0),
        ({"model": "veo3.1_fast", "duration": 4}, 60.0),
        ({"model": "gen4_turbo", "duration": 10}, 50.0),
        ({"model": "gemini_omni_flash"}, None),
        ({"model": "kling_4", "duration": 5}, None),
    ],
)
def test_estimates_come_from_the_credit_table(
    offline: RunwayTransport, fields: dict[str, Any], credits: float | None
) -> None:
    request = CreateVideoRequest(prompt="a fox", **fields)
    assert offline.estimate_credits(request) == credits
    expected = None if credits is None else pytest.approx(credits * 0.01)
    assert offline.estimate_cost(request) == expected


def test_rates_and_the_credit_price_can_be_overridden() -> None:
    runway = RunwayTransport(
        credit_usd=0.008, credits_per_second={"gemini_omni_flash": 9, "kling_4": 20}
    )
    assert runway.estimate_cost(CreateVideoRequest(prompt="a", model="gemini_omni_flash")) == (
        pytest.approx(8 * 9 * 0.008)
    )
    assert runway.estimate_cost(
        CreateVideoRequest(prompt="a", model="kling_4", duration=5)
    ) == pytest.approx(0.8)
    assert runway.estimate_cost(CreateVideoRequest(prompt="a")) == pytest.approx(60 * 0.008)
    assert runway.capabilities.models["gemini_omni_flash"].price_per_second_usd == pytest.approx(
        0.072
    )


def test_the_model_table_covers_what_the_issue_names() -> None:
    for name in ("gen4.5", "veo3.1", "veo3.1_fast", "gemini_omni_flash"):
        spec = RUNWAY_MODELS[name]
        assert spec.text_ratios and spec.image_ratios, name


# --- the example -----------------------------------------------------------------------------


def test_the_example_runs_offline_on_fake_runway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "FakeRunway" in out
    assert "completed" in out and "SAFETY.INPUT.TEXT" in out
    assert list((tmp_path / "runway-videos").glob("*.mp4"))
