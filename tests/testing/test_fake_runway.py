"""FakeRunway's behaviour: task life cycle, THROTTLED queueing, cancel and refunds, signed
output URLs that expire, auth and version checks, request validation, faults, serving."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from soravideo.testing import FakeRunway, ManualClock
from soravideo.testing._media import iter_mp4_boxes

BASE = "http://fake-runway.test"
KEY = "key_fake_runway_0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {KEY}", "X-Runway-Version": "2024-11-06"}
START = 1_800_000_000.0
TEXT = {"model": "gen4.5", "promptText": "a red fox", "ratio": "1280:720", "duration": 5}
PNG_URI = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


def make(**knobs: Any) -> FakeRunway:
    knobs.setdefault("generation_time", 60.0)
    return FakeRunway(api_key=KEY, clock=ManualClock(start=START), **knobs)


@pytest.fixture
def fake() -> FakeRunway:
    return make()


@pytest.fixture
async def client(fake: FakeRunway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE, headers=HEADERS
    ) as client:
        yield client


async def create(client: httpx.AsyncClient, endpoint: str = "text_to_video", **body: Any) -> str:
    response = await client.post(f"/v1/{endpoint}", json={**TEXT, **body})
    assert response.status_code == 200, response.text
    task_id: str = response.json()["id"]
    return task_id


async def show(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/tasks/{task_id}")
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    return payload


# -- life cycle ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_task_goes_pending_running_succeeded_on_the_clock(
    fake: FakeRunway, client: httpx.AsyncClient
) -> None:
    task_id = await create(client)
    seen = [await show(client, task_id)]
    for step in (15, 44, 1):
        fake.advance(step)
        seen.append(await show(client, task_id))

    assert [s["status"] for s in seen] == ["PENDING", "RUNNING", "RUNNING", "SUCCEEDED"]
    assert [s.get("progress") for s in seen[1:3]] == [0.25, 0.9833]
    assert seen[0] == {
        "id": task_id,
        "createdAt": "2027-01-15T08:00:00.000Z",
        "status": "PENDING",
        "estimatedCost": {"credits": 60.0},
    }
    assert seen[-1]["cost"] == {"credits": 60}
    assert seen[-1]["output"][0].startswith(f"{BASE}/_cdn/{task_id}/")


@pytest.mark.anyio
async def test_queue_time_and_a_progress_curve() -> None:
    fake = make(queue_time=10.0, progress_curve=lambda f: f * f)
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE, headers=HEADERS
    ) as client:
        task_id = await create(client)
        fake.advance(9)
        assert (await show(client, task_id))["status"] == "PENDING"
        fake.advance(21)
        running = await show(client, task_id)
    assert (running["status"], running["progress"]) == ("RUNNING", 0.25)


@pytest.mark.anyio
async def test_tasks_over_the_limit_wait_throttled_per_model() -> None:
    fake = make(max_concurrent=1)
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE, headers=HEADERS
    ) as client:
        first = await create(client)
        second = await create(client, promptText="another fox")
        veo = await create(client, model="veo3.1", duration=4)
        fake.advance(30)
        states = [(await show(client, t))["status"] for t in (first, second, veo)]
        fake.advance(31)
        later = [(await show(client, t))["status"] for t in (first, second)]
        fake.advance_until_done()
        done = (await show(client, second))["status"]

    assert states == ["RUNNING", "THROTTLED", "RUNNING"]
    assert later == ["SUCCEEDED", "RUNNING"]
    assert done == "SUCCEEDED"
    assert fake.throttled_ids() == [second]
    assert fake.peak_concurrency() == 1
    assert fake.peak_concurrency("veo3.1") == 1
    assert fake.rate_limited_count() == 0
    assert fake.count(route="task", tag="throttled") == 1


@pytest.mark.anyio
async def test_cancelling_frees_the_slot_and_refunds_only_what_never_ran() -> None:
    fake = make(max_concurrent=1, cancelled_visible=True)
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE, headers=HEADERS
    ) as client:
        running = await create(client)
        waiting = await create(client, promptText="second")
        third = await create(client, promptText="third")
        fake.advance(10)
        assert (await client.delete(f"/v1/tasks/{waiting}")).status_code == 204
        assert (await client.delete(f"/v1/tasks/{running}")).status_code == 204
        after = await show(client, third)
        cancelled = [await show(client, t) for t in (running, waiting)]

    assert after["status"] == "PENDING"  # the freed slot went to the next in line at once
    assert [c["status"] for c in cancelled] == ["CANCELLED", "CANCELLED"]
    assert [c["cost"]["credits"] for c in cancelled] == [60, 0]
    assert fake.cancelled_ids() == [running, waiting]
    assert fake.deleted_ids() == []


@pytest.mark.anyio
async def test_delete_makes_tasks_gone_by_default() -> None:
    fake = make(generation_time=lambda body: 30.0 if body["promptText"] == "quick" else 60.0)
    async with (
        httpx.AsyncClient(
            transport=fake.http_transport(), base_url=BASE, headers=HEADERS
        ) as client,
        httpx.AsyncClient(transport=fake.http_transport()) as cdn,
    ):
        running = await create(client)
        finished = await create(client, promptText="quick")
        fake.advance(30)
        url = (await show(client, finished))["output"][0]
        fake.clear_requests()

        answers = [
            (await client.delete(f"/v1/tasks/{t}")).status_code
            for t in (running, finished, running)
        ]
        reads = [(await client.get(f"/v1/tasks/{t}")).status_code for t in (running, finished)]
        download = await cdn.get(url)

    assert answers == [204, 204, 404]
    assert reads == [404, 404]
    assert download.status_code == 404
    assert [r.tag for r in fake.requests if r.route == "delete"] == ["cancelled", "deleted", None]
    assert fake.cancelled_ids() == [running]
    assert sorted(fake.deleted_ids()) == sorted([running, finished])
    assert fake.delete_count() == 3


@pytest.mark.anyio
async def test_a_moderated_prompt_fails_with_a_safety_code_and_is_refunded() -> None:
    fake = make(failure_at=0.5, failure_code="SAFETY.OUTPUT.VIDEO")
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE, headers=HEADERS
    ) as client:
        task_id = await create(client, promptText=f"A cat, {fake.failing_prompt.upper()}")
        fake.advance(29)
        early = await show(client, task_id)
        fake.advance(1)
        failed = await show(client, task_id)
    assert early["status"] == "RUNNING"
    assert failed["status"] == "FAILED"
    assert failed["failureCode"] == "SAFETY.OUTPUT.VIDEO"
    assert failed["failure"]
    assert failed["cost"] == {"credits": 0}


# -- output URLs ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_output_urls_serve_the_video_until_they_expire() -> None:
    fake = make(url_ttl=600.0)
    async with (
        httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE, headers=HEADERS) as api,
        httpx.AsyncClient(transport=fake.http_transport()) as cdn,
    ):
        task_id = await create(api, ratio="720:1280", duration=8)
        fake.advance(60)
        url = (await show(api, task_id))["output"][0]
        ok = await cdn.get(url)
        keyed = await cdn.get(url, headers={"Authorization": f"Bearer {KEY}"})
        forged = await cdn.get(url.replace(url[-10:-4], "000000"))
        fake.advance(600)
        expired = await cdn.get(url)
        fresh_url = (await show(api, task_id))["output"][0]
        fresh = await cdn.get(fresh_url)

    assert ok.status_code == 200
    assert ok.headers["content-type"] == "video/mp4"
    assert int(ok.headers["content-length"]) == len(ok.content)
    boxes = [kind for kind, _ in iter_mp4_boxes(ok.content)]
    assert boxes[:2] == [b"ftyp", b"moov"]
    assert fresh.content == ok.content
    assert fresh_url != url
    assert (keyed.status_code, forged.status_code, expired.status_code) == (400, 403, 403)
    assert b"expired" in expired.content
    assert fake.download_count() == 5
    assert fake.download_count(status=403) == 2


@pytest.mark.anyio
async def test_expire_urls_invalidates_every_signed_url_now(
    fake: FakeRunway, client: httpx.AsyncClient
) -> None:
    ids = [await create(client, promptText=f"fox {n}") for n in range(2)]
    fake.advance(60)
    urls = [(await show(client, t))["output"][0] for t in ids]

    assert fake.expire_urls() == 2
    assert fake.expire_urls() == 0
    async with httpx.AsyncClient(transport=fake.http_transport()) as cdn:
        codes = [(await cdn.get(u)).status_code for u in urls]
    assert codes == [403, 403]


@pytest.mark.anyio
async def test_cdn_base_url_points_output_elsewhere() -> None:
    fake = make(cdn_base_url="https://cdn.fake-runway.test/")
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE, headers=HEADERS
    ) as client:
        task_id = await create(client)
        fake.advance(60)
        url = (await show(client, task_id))["output"][0]
    assert url.startswith(f"https://cdn.fake-runway.test/_cdn/{task_id}/")
    assert fake.task(task_id)["output"] == ["<unsigned>"]


# -- auth, version, validation --------------------------------------------------------------


@pytest.mark.anyio
async def test_key_and_version_are_checked_like_the_real_api(fake: FakeRunway) -> None:
    cases = [
        ({"X-Runway-Version": "2024-11-06"}, 401),
        ({"Authorization": "Bearer key_wrong", "X-Runway-Version": "2024-11-06"}, 401),
        ({"Authorization": f"Bearer {KEY}"}, 400),
        ({"Authorization": f"Bearer {KEY}", "X-Runway-Version": "2023-01-01"}, 400),
        (HEADERS, 200),
    ]
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        for headers, expected in cases:
            response = await client.post("/v1/text_to_video", json=TEXT, headers=headers)
            assert response.status_code == expected, (headers, response.text)
            assert response.status_code == 200 or response.json()["error"]
    logged = fake.requests[1].headers["authorization"]
    assert logged == "Bearer <redacted>"
    assert fake.created_count() == 1


@pytest.mark.parametrize(
    ("endpoint", "body", "paths"),
    [
        ("text_to_video", {"model": "sora-2"}, [["model"]]),
        ("text_to_video", {"model": "gen4_turbo"}, [["model"]]),
        ("text_to_video", {"duration": None, "ratio": "960:960"}, [["ratio"], ["duration"]]),
        (
            "text_to_video",
            {"promptText": "x" * 1001, "duration": 11},
            [["promptText"], ["duration"]],
        ),
        ("text_to_video", {"promptText": None}, [["promptText"]]),
        ("text_to_video", {"seed": -1, "audio": "yes"}, [["seed"], ["audio"]]),
        ("text_to_video", {"promptImage": PNG_URI}, [["promptImage"]]),
        ("image_to_video", {}, [["promptImage"]]),
        ("image_to_video", {"promptImage": "http://example.com/a.png"}, [["promptImage"]]),
        ("image_to_video", {"promptImage": "https://10.1.2.3/a.png"}, [["promptImage"]]),
        ("image_to_video", {"promptImage": "data:text/plain;base64,aGk="}, [["promptImage"]]),
        ("image_to_video", {"promptImage": "data:image/png;base64,not base64!"}, [["promptImage"]]),
        (
            "image_to_video",
            {"promptImage": "data:image/png;base64," + "A" * (5 * 1024 * 1024)},
            [["promptImage"]],
        ),
        (
            "image_to_video",
            {
                "model": "veo3.1",
                "duration": 4,
                "promptImage": [{"uri": PNG_URI, "position": "middle"}],
            },
            [["promptImage.0.position"]],
        ),
    ],
)
@pytest.mark.anyio
async def test_bad_creates_are_refused_naming_each_field(
    fake: FakeRunway,
    client: httpx.AsyncClient,
    endpoint: str,
    body: dict[str, Any],
    paths: list[list[str]],
) -> None:
    payload = {k: v for k, v in {**TEXT, **body}.items() if v is not None}
    response = await client.post(f"/v1/{endpoint}", json=payload)
    assert response.status_code == 400
    assert [issue["path"] for issue in response.json()["issues"]] == paths
    assert fake.created_count() == 0


@pytest.mark.anyio
async def test_image_tasks_accept_urls_data_uris_and_keyframes(
    fake: FakeRunway, client: httpx.AsyncClient
) -> None:
    frames = [
        {"uri": "https://assets.example.com/first.png", "position": "first"},
        {"uri": PNG_URI, "position": "last"},
    ]
    keyed = await create(
        client, "image_to_video", model="veo3.1", duration=6, ratio="1080:1920", promptImage=frames
    )
    inline = await create(client, "image_to_video", promptImage=PNG_URI, ratio="1584:672")
    omni = await create(
        client,
        "text_to_video",
        model="gemini_omni_flash_1.1",
        ratio="3840:2160",
        duration="auto",
        promptText="y" * 3000,
    )

    assert fake.create_params(keyed)["promptImage"][1]["uri"] == {
        "data_uri": "data:image/png;base64",
        "length": len(PNG_URI),
    }
    assert fake.create_params(inline)["ratio"] == "1584:672"
    assert fake.task(omni)["status"] == "PENDING"
    assert fake.count(route="image_to_video", tag="created") == 2


# -- faults, organization, serving ---------------------------------------------------------------


@pytest.mark.anyio
async def test_injected_faults_come_from_the_shared_machinery(
    fake: FakeRunway, client: httpx.AsyncClient
) -> None:
    fake.inject(status=503, match="POST /v1/text_to_video", retry_after=2)
    refused = await client.post("/v1/text_to_video", json=TEXT)
    fake.reset_next_create()
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/v1/text_to_video", json=TEXT)

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "2"
    assert refused.json() == {"error": "Injected fault: HTTP 503."}
    assert fake.created_count() == 1  # the reset came after the task was made
    assert [r.fault for r in fake.requests] == ["status", "reset"]


@pytest.mark.anyio
async def test_the_organization_shows_limits_usage_and_balance() -> None:
    fake = make(max_concurrent=3, credit_balance=5000)
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE, headers=HEADERS
    ) as client:
        await create(client)
        await create(client, model="veo3.1_fast", duration=4, audio=False)
        fake.advance_until_done()
        org = (await client.get("/v1/organization")).json()
    assert org["creditBalance"] == 5000 - 60 - 40
    assert org["tier"]["models"]["gen4.5"]["maxConcurrentGenerations"] == 3
    assert org["usage"]["models"] == {
        "gen4.5": {"dailyGenerations": 1},
        "veo3.1_fast": {"dailyGenerations": 1},
    }


def test_serve_on_loopback_uses_real_time_and_serves_downloads() -> None:
    fake = FakeRunway(api_key=KEY, generation_time=0.0)
    with fake.serve() as base_url, httpx.Client(base_url=base_url, headers=HEADERS) as client:
        assert base_url.startswith("http://127.0.0.1:")
        task_id = client.post("/v1/text_to_video", json=TEXT).json()["id"]
        task = client.get(f"/v1/tasks/{task_id}").json()
        url = task["output"][0]
        video = httpx.get(url)
    assert task["status"] == "SUCCEEDED"
    assert url.startswith(f"{base_url}/_cdn/{task_id}/")
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"


def test_knobs_are_checked() -> None:
    with pytest.raises(ValueError, match="failure_at"):
        FakeRunway(failure_at=2.0)
    with pytest.raises(ValueError, match="max_concurrent"):
        FakeRunway(max_concurrent=0)
    with pytest.raises(ValueError, match="failure_prompts"):
        _ = FakeRunway(failure_prompts=()).failing_prompt
    assert KEY not in repr(FakeRunway(api_key=KEY))
