"""FakeSora speaks the spec: every response validates, and the official client works on it."""

from __future__ import annotations

import json
import typing
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import pytest
import typing_extensions as te

from soravideo.testing import FakeSora
from soravideo.testing._media import iter_mp4_boxes
from soravideo.transports.sora import SORA_MODELS
from testing.sora_openapi import OpenApi, multipart_form

BASE = "http://fake-sora.test/v1"
KEY = "sk-fidelity-0123456789"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
SORA_DEPRECATION = "ignore:The Sora API is scheduled to permanently shut down:DeprecationWarning"


def check_log(openapi: OpenApi, fake: FakeSora) -> int:
    """Check every response the fake sent against the spec; return how many were checked."""
    checked = 0
    for record in fake.requests:
        if record.status is None:
            continue  # a reset: nothing was sent
        if record.route is None:
            # A path the spec does not have: only the error shape applies.
            openapi.schema("ErrorResponse").validate(record.response_json())
        else:
            openapi.check_response(
                record.method,
                record.path,
                record.status,
                record.response_headers,
                record.response_body,
            )
        checked += 1
    return checked


def statuses_sent(fake: FakeSora) -> set[str]:
    found: set[str] = set()
    for record in fake.requests:
        if record.response_body is None or record.status != 200:
            continue
        payload = record.response_json()
        items = payload.get("data", [payload]) if isinstance(payload, dict) else []
        found.update(item["status"] for item in items if item.get("object") == "video")
    return found


@pytest.fixture
async def client_and_fake() -> AsyncIterator[tuple[httpx.AsyncClient, FakeSora]]:
    fake = FakeSora(api_key=KEY, generation_time=60.0, queue_time=2.0, poll_after_ms=1500)
    async with httpx.AsyncClient(
        transport=fake.http_transport(),
        base_url=BASE,
        headers={"Authorization": f"Bearer {KEY}"},
    ) as client:
        yield client, fake


async def drive_every_endpoint(client: httpx.AsyncClient, fake: FakeSora) -> None:
    """Walk every endpoint through success and error answers, on simulated time."""
    plain = (await client.post("/videos", json={"prompt": "a red fox in the snow"})).json()
    pro = await client.post(
        "/videos",
        json={
            "prompt": "a pro fox",
            "model": "sora-2-pro",
            "seconds": "16",
            "size": "1920x1080",
            "input_reference": {"image_url": "https://example.com/fox.png"},
        },
        headers={"Idempotency-Key": "key-pro"},
    )
    replay = await client.post(
        "/videos", json={"prompt": "a pro fox"}, headers={"Idempotency-Key": "key-pro"}
    )
    assert replay.json()["id"] == pro.json()["id"]
    upload = await client.post(
        "/videos",
        data={"prompt": "from a picture", "seconds": "8", "size": "1280x720"},
        files={"input_reference": ("fox.png", PNG, "image/png")},
    )
    assert upload.status_code == 200
    failing = (await client.post("/videos", json={"prompt": fake.failing_prompt})).json()

    bad_bodies: list[dict[str, Any]] = [
        {},
        {"prompt": ""},
        {"prompt": "x", "seconds": 8},
        {"prompt": "x", "seconds": "5"},
        {"prompt": "x", "size": "1920x1080"},  # 1080p is sora-2-pro only
        {"prompt": "x", "duration": 8},
        {"prompt": "x", "input_reference": {"image_url": "https://a", "file_id": "file-1"}},
    ]
    for body in bad_bodies:
        assert (await client.post("/videos", json=body)).status_code == 400, body
    not_json = await client.post(
        "/videos", content=b"{", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400

    await client.get(f"/videos/{plain['id']}")  # queued
    fake.advance(10)
    retrieved = await client.get(f"/videos/{plain['id']}")  # in progress
    assert retrieved.headers["openai-poll-after-ms"] == "1500"
    assert (await client.get(f"/videos/{plain['id']}/content")).status_code == 400

    first_page = (await client.get("/videos", params={"limit": 2, "order": "asc"})).json()
    await client.get("/videos", params={"limit": 2, "order": "asc", "after": first_page["last_id"]})
    await client.get("/videos")
    await client.get("/videos", params={"limit": 0})
    assert (await client.get("/videos", params={"limit": 101})).status_code == 400
    assert (await client.get("/videos", params={"order": "sideways"})).status_code == 400

    doomed = (await client.post("/videos", json={"prompt": "cancel me"})).json()
    assert (await client.delete(f"/videos/{doomed['id']}")).status_code == 200

    fake.advance_until_done()
    await client.get(f"/videos/{plain['id']}")  # completed
    await client.get(f"/videos/{failing['id']}")  # failed
    for variant, media in (
        ("video", "video/mp4"),
        ("thumbnail", "image/webp"),
        ("spritesheet", "image/jpeg"),
    ):
        response = await client.get(f"/videos/{plain['id']}/content", params={"variant": variant})
        assert response.headers["content-type"] == media
        assert int(response.headers["content-length"]) == len(response.content) > 0
    assert (
        await client.get(f"/videos/{plain['id']}/content", params={"variant": "gif"})
    ).status_code == 400
    assert (await client.get(f"/videos/{failing['id']}/content")).status_code == 400

    remix = await client.post(f"/videos/{plain['id']}/remix", json={"prompt": "at night"})
    assert remix.json()["remixed_from_video_id"] == plain["id"]
    assert (
        await client.post(f"/videos/{failing['id']}/remix", json={"prompt": "again"})
    ).status_code == 400
    assert (await client.post("/videos/video_nope/remix", json={"prompt": "x"})).status_code == 404

    assert (await client.delete(f"/videos/{plain['id']}")).status_code == 200
    for method, path in (
        ("GET", f"/videos/{plain['id']}"),
        ("DELETE", f"/videos/{plain['id']}"),
        ("GET", f"/videos/{plain['id']}/content"),
    ):
        assert (await client.request(method, path)).status_code == 404
    assert (
        await client.get("/videos/x", headers={"Authorization": "Bearer sk-wrong"})
    ).status_code == 401
    assert (await client.request("PUT", "/videos")).status_code == 405
    assert (await client.get("/images")).status_code == 404

    fake.inject(status=500, match="GET /videos/*")
    fake.inject(status=429, retry_after=3, match="GET /videos")
    assert (await client.get(f"/videos/{failing['id']}")).status_code == 500
    assert (await client.get("/videos")).status_code == 429


def test_the_spec_is_openapi_3_1_and_the_additions_are_not_in_it(
    openapi: OpenApi, strict_openapi: OpenApi
) -> None:
    assert strict_openapi.spec["openapi"] == "3.1.0"  # hence OAS31Validator
    published = strict_openapi.spec["components"]["schemas"]
    extended = openapi.spec["components"]["schemas"]
    assert "16" not in published["VideoSeconds"]["enum"]
    assert {"16", "20"} <= set(extended["VideoSeconds"]["enum"])
    assert "cancelled" not in published["VideoStatus"]["enum"]
    assert {"cancelled", "expired"} <= set(extended["VideoStatus"]["enum"])


def test_the_validator_is_not_vacuous(openapi: OpenApi) -> None:
    good = {
        "id": "video_1",
        "object": "video",
        "model": "sora-2",
        "status": "queued",
        "progress": 0,
        "created_at": 1,
        "completed_at": None,
        "expires_at": None,
        "prompt": "x",
        "size": "720x1280",
        "seconds": "4",
        "remixed_from_video_id": None,
        "error": None,
    }
    openapi.schema("VideoResource").validate(good)
    for broken in (
        {k: v for k, v in good.items() if k != "error"},
        {**good, "status": "thinking"},
        {**good, "progress": "0"},
        {**good, "size": "640x480"},
        {**good, "created_at": "2026-01-01T00:00:00Z"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            openapi.schema("VideoResource").validate(broken)


@pytest.mark.anyio
async def test_every_response_fakesora_sends_validates_against_the_spec(
    openapi: OpenApi, client_and_fake: tuple[httpx.AsyncClient, FakeSora]
) -> None:
    client, fake = client_and_fake

    await drive_every_endpoint(client, fake)

    assert check_log(openapi, fake) == len(fake.requests) > 40
    routes = {r.route for r in fake.requests}
    assert {"create", "list", "retrieve", "delete", "content", "remix"} <= routes
    assert {"queued", "in_progress", "completed", "failed"} <= statuses_sent(fake)
    assert {r.status for r in fake.requests} >= {200, 400, 401, 404, 405, 429, 500}


@pytest.mark.anyio
async def test_a_concurrency_429_validates_with_its_retry_after(openapi: OpenApi) -> None:
    fake = FakeSora(max_concurrent=1, generation_time=42.5)
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        await client.post("/videos", json={"prompt": "one"})
        refused = await client.post("/videos", json={"prompt": "two"})

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "43"
    assert check_log(openapi, fake) == 2


@pytest.mark.anyio
async def test_gateway_statuses_validate_only_with_the_documented_additions(
    openapi: OpenApi, strict_openapi: OpenApi
) -> None:
    fake = FakeSora(gateway_statuses=True, generation_time=30.0, expires_after=60.0)
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        cancelled = (await client.post("/videos", json={"prompt": "stop"})).json()
        expiring = (await client.post("/videos", json={"prompt": "wait", "seconds": "20"})).json()
        await client.delete(f"/videos/{cancelled['id']}")
        fake.advance(30 + 60)
        shown = [(await client.get(f"/videos/{v['id']}")).json() for v in (cancelled, expiring)]

    assert [v["status"] for v in shown] == ["cancelled", "expired"]
    assert shown[1]["error"]["code"] == "expired"
    assert check_log(openapi, fake) == 5
    for video in shown:
        with pytest.raises(jsonschema.ValidationError):
            strict_openapi.schema("VideoResource").validate(video)


def test_soras_catalogue_is_the_official_clients() -> None:
    # Here, beside the other test of the official client: a worker imports it once (seconds
    # under coverage), not once for this check and again for that test.
    from openai.types.video_model import VideoModel

    literal = next(a for a in typing.get_args(VideoModel) if typing.get_origin(a) is te.Literal)
    assert set(SORA_MODELS) == set(typing.get_args(literal))


@pytest.mark.filterwarnings(SORA_DEPRECATION)
def test_the_official_openai_client_runs_unchanged_against_the_served_fake(
    openapi: OpenApi,
) -> None:
    # Imported here: the official client takes half a second to import, paid by every
    # pytest-xdist worker at collection if imported at the top.
    import openai

    # Real time: openai's create_and_poll sleeps for real. The fake asks it to poll every
    # 20 ms and finishes in 0.2 s, so the whole test stays well under a second.
    fake = FakeSora(api_key=KEY, generation_time=0.2, poll_after_ms=20)
    with fake.serve() as base_url, httpx.Client() as http:
        client = openai.OpenAI(api_key=KEY, base_url=base_url, http_client=http, max_retries=0)

        video = client.videos.create_and_poll(
            prompt="A calico cat playing a piano on stage", seconds="8", size="1280x720"
        )
        again = client.videos.retrieve(video.id)
        mp4 = client.videos.download_content(video.id).read()
        thumbnail = client.videos.download_content(video.id, variant="thumbnail").read()
        remix = client.videos.remix(video.id, prompt="The cat takes a bow")
        listed = client.videos.list(limit=10, order="desc")
        deleted = client.videos.delete(remix.id)
        with pytest.raises(openai.NotFoundError):
            client.videos.retrieve(remix.id)
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(
                api_key="sk-wrong", base_url=base_url, http_client=http, max_retries=0
            ).videos.list()

    assert base_url.startswith("http://127.0.0.1:")
    assert base_url.endswith("/v1")
    assert video.status == "completed"
    assert video.progress == 100
    assert (video.seconds, video.size, video.model) == ("8", "1280x720", "sora-2")
    assert again.id == video.id
    assert again.completed_at is not None
    assert [v.id for v in listed.data] == [remix.id, video.id]
    assert [kind for kind, _ in iter_mp4_boxes(mp4)] == [b"ftyp", b"moov", b"mdat"]
    assert thumbnail[:4] == b"RIFF"
    assert thumbnail[8:12] == b"WEBP"
    assert remix.remixed_from_video_id == video.id
    assert (deleted.id, deleted.deleted, deleted.object) == (remix.id, True, "video.deleted")
    assert fake.created_count() == 2
    assert fake.count("GET", "/videos/*", route="retrieve") >= 2  # it polled
    # Every answer fits the spec, and so does what the official client sent.
    assert check_log(openapi, fake) == len(fake.requests)
    create = next(r for r in fake.requests if r.route == "create")
    form = multipart_form(create.body, create.headers["content-type"])
    openapi.check_request_body("POST", "/videos", "multipart/form-data", form)
    assert form["seconds"] == "8"


def test_the_served_fake_answers_any_http_client_with_json() -> None:
    fake = FakeSora()
    with fake.serve() as base_url, httpx.Client(base_url=base_url) as http:
        created = http.post("/videos", json={"prompt": "plain http"})
        listed = http.get("/videos")

    assert created.status_code == 200
    assert json.loads(listed.content)["data"][0]["id"] == created.json()["id"]
