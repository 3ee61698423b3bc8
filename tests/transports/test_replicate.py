"""ReplicateTransport at the HTTP level (respx) and on FakeReplicate in-process: requests,
mapping, the list, errors, ids, downloads without the token, pacing, cost."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from soravideo import (
    AmbiguousSubmissionError,
    AuthenticationError,
    CreateVideoRequest,
    JobStatus,
    ProviderError,
    RateLimitError,
    ValidationError,
)
from soravideo._core.clock import ManualClock
from soravideo.testing import FakeReplicate
from soravideo.transports.base import Transport
from soravideo.transports.replicate import (
    REPLICATE_MODELS,
    ReplicateTransport,
    cancel_after_header,
)

BASE = "http://127.0.0.1:8770"
DELIVERY = "http://127.0.0.1:8771"
TOKEN = "r8_SECRET0123456789abcdef"
PID = "gm3qorzdhgbfurvjtvhg6dckhu"
VEO = "google/veo-3.1"
KLING = "kwaivgi/kling-v2.1"
VERSION = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
pytestmark = pytest.mark.anyio


def prediction(status: str = "starting", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": PID,
        "model": VEO,
        "version": "hidden",
        "input": {"prompt": "a cat", "duration": 8},
        "logs": "",
        "output": None,
        "error": None,
        "status": status,
        "data_removed": False,
        "created_at": "2026-12-06T10:00:00.000000Z",
        "started_at": None,
        "completed_at": None,
        "metrics": {},
        "urls": {
            "get": f"https://elsewhere.example/v1/predictions/{PID}",
            "cancel": f"https://elsewhere.example/v1/predictions/{PID}/cancel",
        },
    }
    if status == "succeeded":
        body["output"] = f"{DELIVERY}/xezq/abc/output.mp4"
        body["completed_at"] = "2026-12-06T10:01:00.000000Z"
    body.update(extra)
    return body


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REPLICATE_API_TOKEN", "REPLICATE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_800_000_000.0)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
async def rep(clock: ManualClock) -> AsyncIterator[ReplicateTransport]:
    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    transport = ReplicateTransport(
        base_url=BASE, api_key=TOKEN, clock=clock, sleep=sleep, max_retries=1
    )
    yield transport
    await transport.aclose()


@pytest.fixture
def fake() -> FakeReplicate:
    return FakeReplicate(api_token=TOKEN, generation_time=60.0, queue_time=5.0, page_size=2)


@pytest.fixture
async def on_fake(fake: FakeReplicate) -> AsyncIterator[ReplicateTransport]:
    async with httpx.AsyncClient(transport=fake.http_transport()) as client:
        transport = ReplicateTransport(
            base_url="http://fake-replicate.test",
            api_key=TOKEN,
            http_client=client,
            clock=fake.clock,
        )
        yield transport
        await transport.aclose()


# -- configuration ---------------------------------------------------------------------


def test_it_is_a_transport_that_lists_cancels_and_deletes_results_in_an_hour() -> None:
    transport = ReplicateTransport(api_key=TOKEN)
    caps = transport.capabilities
    assert isinstance(transport, Transport)
    assert (caps.can_list, caps.can_cancel, caps.can_remix) == (True, True, False)
    assert (caps.idempotent_creates, caps.results_expire_after) == (False, 3600.0)
    assert caps.result_kind == "url"
    assert caps.models[VEO].durations == (4, 6, 8)
    assert caps.models[VEO].sizes == ("1280x720", "720x1280", "1920x1080", "1080x1920")
    assert TOKEN not in repr(transport)


def test_the_environment_supplies_token_and_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    monkeypatch.setenv("REPLICATE_BASE_URL", "http://127.0.0.1:9/")
    transport = ReplicateTransport()
    assert transport.base_url == "http://127.0.0.1:9"
    assert "api_key=set" in repr(transport)


@pytest.mark.parametrize("bad", ["veo", "a/b/c", "google/veo-3:abc", "/veo"])
def test_a_default_model_replicate_cannot_address_is_refused_at_once(bad: str) -> None:
    with pytest.raises(ValueError, match="default_model"):
        ReplicateTransport(default_model=bad)


@pytest.mark.parametrize(
    ("seconds", "header"), [(60, "1m"), (300, "5m"), (90, "90s"), (0.5, "1s"), (3600, "60m")]
)
def test_cancel_after_is_whole_minutes_or_seconds(seconds: float, header: str) -> None:
    assert cancel_after_header(seconds) == header


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan")])
def test_a_bad_deadline_is_refused_when_the_transport_is_built(bad: float) -> None:
    with pytest.raises(ValueError, match="cancel_after"):
        ReplicateTransport(cancel_after=bad)


# -- the create ------------------------------------------------------------------------


async def test_a_create_posts_the_models_input_with_bearer_and_cancel_after(
    mock: respx.MockRouter, clock: ManualClock
) -> None:
    route = mock.post(f"{BASE}/v1/models/google/veo-3.1/predictions").respond(
        201, json=prediction()
    )
    async with ReplicateTransport(
        base_url=BASE, api_key=TOKEN, clock=clock, cancel_after=300
    ) as transport:
        remote = await transport.submit(
            CreateVideoRequest(
                prompt="a cat",
                model=VEO,
                duration=4,
                resolution="1080p",
                aspect_ratio="9:16",
                provider_options={"negative_prompt": "blur", "generate_audio": False},
            ),
            idempotency_key="k1",
        )
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["cancel-after"] == "5m"
    assert "idempotency-key" not in sent.headers
    assert json.loads(sent.content) == {
        "input": {
            "prompt": "a cat",
            "duration": 4,
            "resolution": "1080p",
            "aspect_ratio": "9:16",
            "negative_prompt": "blur",
            "generate_audio": False,
        }
    }
    assert (remote.remote_id, remote.status, remote.provider_status) == (
        PID,
        JobStatus.PROCESSING,
        "starting",
    )
    assert remote.created_at is not None and remote.created_at.year == 2026


async def test_no_deadline_no_cancel_after(mock: respx.MockRouter, rep: ReplicateTransport) -> None:
    route = mock.post(f"{BASE}/v1/models/google/veo-3.1/predictions").respond(
        201, json=prediction()
    )
    await rep.submit(CreateVideoRequest(prompt="a cat", model=VEO), idempotency_key="k")
    assert "cancel-after" not in route.calls.last.request.headers
    # The model's default duration is sent, so what is priced is what is made.
    assert json.loads(route.calls.last.request.content)["input"]["duration"] == 8


@pytest.mark.parametrize("model", [f"acme/video:{VERSION}", VERSION])
async def test_a_version_goes_to_the_predictions_endpoint(
    mock: respx.MockRouter, rep: ReplicateTransport, model: str
) -> None:
    route = mock.post(f"{BASE}/v1/predictions").respond(201, json=prediction(version=VERSION))
    await rep.submit(CreateVideoRequest(prompt="a cat", model=model), idempotency_key="k")
    assert json.loads(route.calls.last.request.content) == {
        "input": {"prompt": "a cat"},
        "version": VERSION,
    }


async def test_kling_takes_mode_and_start_image_as_a_data_uri(
    mock: respx.MockRouter, rep: ReplicateTransport
) -> None:
    route = mock.post(f"{BASE}/v1/models/kwaivgi/kling-v2.1/predictions").respond(
        201, json=prediction(model=KLING)
    )
    await rep.submit(
        CreateVideoRequest(prompt="a fox", model=KLING, resolution="1080p", input_reference=PNG),
        idempotency_key="k",
    )
    body = json.loads(route.calls.last.request.content)["input"]
    assert body["mode"] == "pro" and body["duration"] == 5
    assert body["start_image"].startswith("data:image/png;base64,")


async def test_minimax_takes_its_first_frame_and_no_duration(
    mock: respx.MockRouter, rep: ReplicateTransport
) -> None:
    route = mock.post(f"{BASE}/v1/models/minimax/video-01/predictions").respond(
        201, json=prediction(model="minimax/video-01")
    )
    await rep.submit(
        CreateVideoRequest(
            prompt="a fox",
            model="minimax/video-01",
            input_reference="https://img.example/a.png",
            provider_options={"prompt_optimizer": False},
        ),
        idempotency_key="k",
    )
    assert json.loads(route.calls.last.request.content)["input"] == {
        "prompt_optimizer": False,
        "prompt": "a fox",
        "first_frame_image": "https://img.example/a.png",
    }


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"model": VEO, "duration": 5}, "duration"),
        ({"model": VEO, "resolution": "480p"}, "resolution"),
        ({"model": VEO, "aspect_ratio": "1:1"}, "aspect_ratio"),
        ({"model": VEO, "size": "640x480"}, "size"),
        ({"model": KLING}, "input_reference"),
        ({"model": "minimax/video-01", "duration": 6}, "duration"),
        ({"model": "minimax/video-01", "aspect_ratio": "16:9"}, "aspect_ratio"),
        ({"model": "no-owner"}, "model"),
        ({"model": VEO, "provider_options": {"duration": 4}}, "provider_options.duration"),
        ({"model": VEO, "input_reference": "http://img.example/a.png"}, "input_reference"),
        ({"model": "kwaivgi/kling-v3-video", "prompt": "x" * 2501}, "prompt"),
    ],
)
def test_validate_names_what_the_model_cannot_do(fields: dict[str, Any], field: str) -> None:
    request = CreateVideoRequest(**{"prompt": "a fox", **fields})
    errors = ReplicateTransport(api_key=TOKEN).validate(request, "videos[1]")
    assert [e.field for e in errors] == [f"videos[1].{field}"]


def test_a_size_becomes_aspect_ratio_and_resolution() -> None:
    request = CreateVideoRequest(prompt="a fox", model=VEO, size="1080x1920")
    assert ReplicateTransport(api_key=TOKEN).validate(request) == []


def test_other_models_are_left_to_replicate() -> None:
    request = CreateVideoRequest(prompt="a fox", model="acme/new-video", duration=7)
    assert ReplicateTransport(api_key=TOKEN).validate(request) == []


async def test_a_shape_the_model_cannot_make_is_refused_before_sending(
    mock: respx.MockRouter, rep: ReplicateTransport
) -> None:
    with pytest.raises(ValidationError):
        await rep.submit(
            CreateVideoRequest(prompt="a fox", model=VEO, size="640x480"), idempotency_key="k"
        )
    assert not mock.calls


def test_prices_are_configuration() -> None:
    request = CreateVideoRequest(prompt="a fox", model=VEO, duration=6)
    assert ReplicateTransport(api_key=TOKEN).estimate_cost(request) is None
    priced = ReplicateTransport(api_key=TOKEN, prices={VEO: 0.4, "minimax/video-01": 0.1})
    assert priced.estimate_cost(request) == pytest.approx(2.4)
    assert priced.estimate_cost(CreateVideoRequest(prompt="a", model=VEO)) == pytest.approx(3.2)
    minimax = CreateVideoRequest(prompt="a", model="minimax/video-01")
    assert priced.estimate_cost(minimax) == pytest.approx(0.6)
    assert priced.capabilities.models[VEO].price_per_second_usd == 0.4


def test_the_catalogue_covers_the_models_the_issue_names() -> None:
    names = set(REPLICATE_MODELS)
    assert {"google/veo-3", "google/veo-3.1", "minimax/video-01"} <= names
    assert any(name.startswith("kwaivgi/kling") for name in names)


# -- statuses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "status", "code"),
    [
        ("starting", JobStatus.PROCESSING, None),
        ("processing", JobStatus.PROCESSING, None),
        ("canceled", JobStatus.CANCELLED, None),
        ("aborted", JobStatus.FAILED, "aborted"),
    ],
)
async def test_statuses_map_aborted_included_which_the_official_client_cannot_parse(
    mock: respx.MockRouter,
    rep: ReplicateTransport,
    word: str,
    status: JobStatus,
    code: str | None,
) -> None:
    mock.get(f"{BASE}/v1/predictions/{PID}").respond(200, json=prediction(word))
    remote = await rep.fetch(PID)
    assert (remote.status, remote.provider_status) == (status, word)
    assert (remote.error.code if remote.error else None) == code
    if word == "aborted":
        assert remote.error is not None and remote.error.retryable
        assert "not" in remote.error.message and "charged" in remote.error.message


async def test_a_succeeded_prediction_has_its_video_url_kept_an_hour(
    mock: respx.MockRouter, rep: ReplicateTransport
) -> None:
    mock.get(f"{BASE}/v1/predictions/{PID}").respond(200, json=prediction("succeeded"))
    remote = await rep.fetch(PID)
    assert remote.status is JobStatus.COMPLETED and remote.progress == 100
    assert remote.urls == {"video": f"{DELIVERY}/xezq/abc/output.mp4"}
    assert remote.expires_at is not None
    assert remote.expires_at.isoformat() == "2026-12-06T11:01:00+00:00"


@pytest.mark.parametrize(
    "output",
    [
        [f"{DELIVERY}/a/cover.png", f"{DELIVERY}/a/video.mp4"],
        {"video": f"{DELIVERY}/a/video.mp4", "frames": 120},
    ],
)
async def test_lists_and_objects_of_urls_are_searched_for_the_video(
    mock: respx.MockRouter, rep: ReplicateTransport, output: Any
) -> None:
    mock.get(f"{BASE}/v1/predictions/{PID}").respond(
        200, json=prediction("succeeded", output=output)
    )
    assert (await rep.fetch(PID)).urls == {"video": f"{DELIVERY}/a/video.mp4"}


async def test_a_failed_prediction_takes_its_code_from_the_message(
    mock: respx.MockRouter, rep: ReplicateTransport
) -> None:
    text = "The input or output was flagged as sensitive. (E005)"
    mock.get(f"{BASE}/v1/predictions/{PID}").respond(200, json=prediction("failed", error=text))
    remote = await rep.fetch(PID)
    assert remote.status is JobStatus.FAILED and remote.error is not None
    assert (remote.error.code, remote.error.message, remote.error.retryable) == (
        "E005",
        text,
        False,
    )


async def test_a_succeeded_prediction_whose_data_was_removed_cannot_be_downloaded(
    mock: respx.MockRouter, rep: ReplicateTransport
) -> None:
    mock.get(f"{BASE}/v1/predictions/{PID}").respond(
        200, json=prediction("succeeded", output=None, data_removed=True)
    )
    remote = await rep.fetch(PID)
    assert remote.status is JobStatus.FAILED and remote.error is not None
    assert remote.error.code == "result_expired"


async def test_an_unknown_status_is_processing_and_warned_once(
    mock: respx.MockRouter, rep: ReplicateTransport, caplog: pytest.LogCaptureFixture
) -> None:
    mock.get(f"{BASE}/v1/predictions/{PID}").respond(200, json=prediction("queued"))
    with caplog.at_level(logging.WARNING, "soravideo.transports.replicate"):
        first = await rep.fetch(PID)
        await rep.fetch(PID)
    assert first.status is JobStatus.PROCESSING
    assert len([r for r in caplog.records if "queued" in r.getMessage()]) == 1


# -- errors and ids ----------------------------------------------------------------------


async def test_problem_details_map_onto_the_tree_without_the_token(
    mock: respx.MockRouter, rep: ReplicateTransport
) -> None:
    mock.post(f"{BASE}/v1/models/google/veo-3.1/predictions").respond(
        422,
        json={
            "title": "Input validation failed",
            "status": 422,
            "detail": f"- input.seed: bad ({TOKEN})",
            "invalid_fields": [],
        },
    )
    mock.get(f"{BASE}/v1/predictions/{PID}").respond(
        401, json={"title": "Unauthenticated", "detail": "You did not pass a valid token"}
    )
    with pytest.raises(ProviderError) as caught:
        await rep.submit(CreateVideoRequest(prompt="a", model=VEO), idempotency_key="k")
    assert caught.value.status_code == 422 and caught.value.code == "invalid_input"
    assert "Input validation failed" in str(caught.value) and TOKEN not in str(caught.value)
    with pytest.raises(AuthenticationError):
        await rep.fetch(PID)


async def test_a_throttled_create_is_a_rate_limit_and_was_not_made(
    mock: respx.MockRouter, rep: ReplicateTransport
) -> None:
    route = mock.post(f"{BASE}/v1/models/google/veo-3.1/predictions").respond(
        429, json={"detail": "Request was throttled. Expected available in 1 second."}
    )
    with pytest.raises(RateLimitError):
        await rep.submit(CreateVideoRequest(prompt="a", model=VEO), idempotency_key="k")
    # Retried by the policy: a 429 proves the create was not made.
    assert route.call_count == 2


async def test_a_create_that_may_have_arrived_is_sent_once(
    mock: respx.MockRouter, rep: ReplicateTransport
) -> None:
    route = mock.post(f"{BASE}/v1/models/google/veo-3.1/predictions").mock(
        side_effect=httpx.RemoteProtocolError("reset")
    )
    with pytest.raises(AmbiguousSubmissionError):
        await rep.submit(CreateVideoRequest(prompt="a", model=VEO), idempotency_key="k")
    assert route.call_count == 1


async def test_a_create_that_never_reached_replicate_is_sent_again(
    mock: respx.MockRouter, rep: ReplicateTransport
) -> None:
    route = mock.post(f"{BASE}/v1/models/google/veo-3.1/predictions").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(201, json=prediction())]
    )
    remote = await rep.submit(CreateVideoRequest(prompt="a", model=VEO), idempotency_key="k")
    assert remote.remote_id == PID and route.call_count == 2


@pytest.mark.parametrize("bad", ["..", "a/b", "", "x y"])
async def test_a_create_answered_with_an_unusable_id_is_never_sent_again(
    mock: respx.MockRouter, rep: ReplicateTransport, bad: str
) -> None:
    route = mock.post(f"{BASE}/v1/models/google/veo-3.1/predictions").respond(
        201, json=prediction(id=bad)
    )
    with pytest.raises(ProviderError) as caught:
        await rep.submit(CreateVideoRequest(prompt="a", model=VEO), idempotency_key="k")
    assert caught.value.code == "invalid_remote_id" and route.call_count == 1


async def test_an_unusable_remote_id_is_refused_before_any_request(
    mock: respx.MockRouter, rep: ReplicateTransport
) -> None:
    with pytest.raises(ProviderError) as caught:
        await rep.fetch("../account")
    assert caught.value.code == "invalid_remote_id" and not mock.calls


# -- list, cancel, downloads -------------------------------------------------------------


async def test_list_pages_follow_the_cursor_on_the_configured_origin_only(
    mock: respx.MockRouter, rep: ReplicateTransport
) -> None:
    other = "gm3qorzdhgbfurvjtvhg6dckhv"
    pages = mock.get(f"{BASE}/v1/predictions").mock(
        side_effect=[
            httpx.Response(
                200,
                json={
                    "next": "https://evil.example/v1/predictions?cursor=p2",
                    "previous": None,
                    "results": [prediction()],
                },
            ),
            httpx.Response(
                200, json={"next": None, "previous": None, "results": [prediction(id=other)]}
            ),
        ]
    )
    recent = await rep.list_recent(limit=10)
    assert [r.remote_id for r in recent] == [PID, other]
    second = pages.calls[1].request
    assert (second.url.host, second.url.params["cursor"]) == ("127.0.0.1", "p2")
    assert second.headers["authorization"] == f"Bearer {TOKEN}"


async def test_a_cancel_posts_and_a_prediction_gone_or_done_is_fine(
    mock: respx.MockRouter, rep: ReplicateTransport
) -> None:
    route = mock.post(f"{BASE}/v1/predictions/{PID}/cancel").mock(
        side_effect=[
            httpx.Response(200, json=prediction("canceled")),
            httpx.Response(200, json=prediction("succeeded")),
            httpx.Response(200, json=prediction("failed")),
            httpx.Response(200, json=prediction("processing")),
            httpx.Response(200, text="not json"),
            httpx.Response(404, json={"detail": "Not found."}),
        ]
    )
    said = [await rep.cancel(PID) for _ in range(6)]
    # Ended before the cancel (nothing stopped): succeeded or failed; otherwise nothing said.
    assert said == [None, "ended", "ended", None, None, None]
    assert route.call_count == 6 and route.calls.last.request.content == b""
    assert rep.capabilities.cancel_reports_ended


async def test_downloads_carry_no_token_and_a_deleted_output_says_why(
    mock: respx.MockRouter, rep: ReplicateTransport
) -> None:
    mock.get(f"{BASE}/v1/predictions/{PID}").respond(200, json=prediction("succeeded"))
    video = mock.get(f"{DELIVERY}/xezq/abc/output.mp4").mock(
        side_effect=[
            httpx.Response(
                200, content=b"\x00\x00\x00\x18ftypmp42", headers={"content-type": "video/mp4"}
            ),
            httpx.Response(404, text="gone"),
        ]
    )
    async with rep.open_content(PID) as stream:
        data = b"".join([chunk async for chunk in stream.aiter_bytes()])
    assert data[4:8] == b"ftyp"
    assert "authorization" not in video.calls.last.request.headers
    with pytest.raises(ProviderError) as caught:
        async with rep.open_content(PID):
            pass
    assert caught.value.code == "result_expired" and "an hour" in str(caught.value)


async def test_only_the_video_variant_exists(rep: ReplicateTransport) -> None:
    with pytest.raises(ValidationError):
        rep.open_content(PID, "thumbnail")


async def test_ping_reads_the_account(mock: respx.MockRouter, rep: ReplicateTransport) -> None:
    route = mock.get(f"{BASE}/v1/account").respond(200, json={"username": "me"})
    await rep.ping()
    assert route.called


async def test_remix_is_unsupported(rep: ReplicateTransport) -> None:
    with pytest.raises(ProviderError) as caught:
        await rep.remix(PID, "again", idempotency_key="k")
    assert caught.value.code == "unsupported"


# -- on FakeReplicate ----------------------------------------------------------------------


async def test_fetch_many_uses_the_list_and_reads_only_what_it_did_not_show(
    fake: FakeReplicate, on_fake: ReplicateTransport
) -> None:
    jobs = [
        await on_fake.submit(
            CreateVideoRequest(prompt=f"take {n}", model=VEO), idempotency_key=f"{n}"
        )
        for n in range(7)
    ]
    fake.clear_requests()
    found = await on_fake.fetch_many([j.remote_id for j in jobs])
    assert set(found) == {j.remote_id for j in jobs}
    # Three pages of two (the newest six), then one read for the oldest.
    assert (fake.count(route="list"), fake.count(route="get")) == (3, 1)


async def test_fetch_many_seen_answers_for_the_watched_predictions_its_pages_show(
    fake: FakeReplicate, on_fake: ReplicateTransport
) -> None:
    jobs = [
        await on_fake.submit(
            CreateVideoRequest(prompt=f"take {n}", model=VEO), idempotency_key=f"{n}"
        )
        for n in range(7)
    ]
    ids = [j.remote_id for j in jobs]  # oldest first; the list shows them newest first
    fake.clear_requests()
    found = await on_fake.fetch_many_seen(
        [ids[6], ids[3]], watched={ids[5], ids[4], ids[0], "no-such-prediction"}
    )
    # Two pages of two (6 5, 4 3) hold both ids: the watched ones on them come after.
    assert list(found) == [ids[6], ids[3], ids[5], ids[4]]
    assert all(job.remote_id == rid for rid, job in found.items())
    assert (fake.count(route="list"), fake.count(route="get")) == (2, 0)


async def test_fetch_many_seen_leaves_out_a_watched_success_listed_without_its_output(
    mock: respx.MockRouter, rep: ReplicateTransport
) -> None:
    asked = prediction("processing", id="pred_asked")
    bare = prediction("succeeded", id="pred_bare", output=None)
    mock.get(f"{BASE}/v1/predictions").respond(
        json={"results": [asked, bare], "next": None, "previous": None}
    )
    found = await rep.fetch_many_seen(["pred_asked"], watched={"pred_bare"})
    # Its own poll reads it one by one (as fetch_many would for an id asked about).
    assert list(found) == ["pred_asked"]


async def test_describes_matches_the_model_and_every_input_sent(
    on_fake: ReplicateTransport,
) -> None:
    request = CreateVideoRequest(prompt="a fox", model=VEO, duration=4)
    await on_fake.submit(request, idempotency_key="k")
    (listed,) = await on_fake.list_recent()
    assert on_fake.describes(listed, request)
    assert not on_fake.describes(listed, CreateVideoRequest(prompt="a fox", model=VEO))
    assert not on_fake.describes(listed, CreateVideoRequest(prompt="a fox", model="google/veo-3"))
    assert not on_fake.describes(listed, CreateVideoRequest(prompt="an owl", model=VEO, duration=4))


async def test_a_deadline_that_passes_before_the_start_aborts_and_during_the_run_cancels(
    fake: FakeReplicate,
) -> None:
    fake.queue_time = 120.0
    async with httpx.AsyncClient(transport=fake.http_transport()) as client:
        transport = ReplicateTransport(
            base_url="http://fake-replicate.test",
            api_key=TOKEN,
            http_client=client,
            clock=fake.clock,
            cancel_after=30,
        )
        waiting = await transport.submit(
            CreateVideoRequest(prompt="a", model=VEO), idempotency_key="a"
        )
        fake.queue_time = 0.0
        running = await transport.submit(
            CreateVideoRequest(prompt="b", model=VEO), idempotency_key="b"
        )
        fake.advance_until_done()
        aborted, cancelled = (
            await transport.fetch(waiting.remote_id),
            await transport.fetch(running.remote_id),
        )
    assert (aborted.provider_status, aborted.status) == ("aborted", JobStatus.FAILED)
    assert (cancelled.provider_status, cancelled.status) == ("canceled", JobStatus.CANCELLED)
    assert fake.deadline_of(waiting.remote_id) == pytest.approx(fake.requests[0].time + 30)


async def test_creates_beyond_the_limit_wait_for_the_window_instead_of_a_429(
    fake: FakeReplicate,
) -> None:
    fake.creates_per_minute = 3
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        fake.advance(seconds)

    async with httpx.AsyncClient(transport=fake.http_transport()) as client:
        transport = ReplicateTransport(
            base_url="http://fake-replicate.test",
            api_key=TOKEN,
            http_client=client,
            clock=fake.clock,
            sleep=sleep,
            creates_per_minute=3,
        )
        for n in range(5):
            await transport.submit(
                CreateVideoRequest(prompt=f"{n}", model=VEO), idempotency_key=f"{n}"
            )
    assert slept == [60.0, 0.0] or slept == [60.0]
    assert fake.created_count() == 5 and fake.rate_limited_count() == 0
