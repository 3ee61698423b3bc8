"""FakeFal on its own: the queue's answers, its knobs, its CDN, and its views for assertions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from soravideo.testing import ManualClock
from soravideo.testing._fake_fal import FakeFal

BASE = "http://fake-fal.test"
KEY = "fal-fake-test:0123456789abcdef"
AUTH = {"Authorization": f"Key {KEY}"}
KLING = "fal-ai/kling-video/v2.5-turbo/pro/text-to-video"
VEO = "fal-ai/veo3.1"
START = 1_800_000_000.0


@pytest.fixture
def fake() -> FakeFal:
    return FakeFal(
        api_key=KEY,
        clock=ManualClock(start=START),
        generation_time=60.0,
        queue_time=5.0,
        max_concurrent=2,
    )


@pytest.fixture
async def http(fake: FakeFal) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE, headers=AUTH
    ) as client:
        yield client


async def submit(http: httpx.AsyncClient, endpoint: str = KLING, **body: Any) -> dict[str, Any]:
    body.setdefault("prompt", "a fox")
    response = await http.post(f"/{endpoint}", json=body)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    return payload


async def status(http: httpx.AsyncClient, answer: dict[str, Any], logs: str = "0") -> Any:
    response = await http.get(answer["status_url"], params={"logs": logs})
    return response.status_code, response.json()


@pytest.mark.anyio
async def test_a_submit_answers_as_fal_does_and_urls_use_owner_and_alias_only(
    fake: FakeFal, http: httpx.AsyncClient
) -> None:
    answer = await submit(http)

    rid = answer["request_id"]
    root = f"{BASE}/fal-ai/kling-video/requests/{rid}"
    assert answer == {
        "status": "IN_QUEUE",
        "request_id": rid,
        "queue_position": 0,
        "response_url": root,
        "status_url": root + "/status",
        "cancel_url": root + "/cancel",
    }
    assert fake.created_ids() == [f"fal-ai:kling-video:{rid}"]
    assert fake.create_params(rid) == {"prompt": "a fox"}
    assert fake.endpoint_of(rid) == KLING
    log = fake.requests[-1]
    assert log.route == "submit" and log.tag == "created"
    assert "x-fal-request-id" in log.response_headers


@pytest.mark.anyio
async def test_statuses_follow_the_clock_with_queue_positions_and_logs(
    fake: FakeFal, http: httpx.AsyncClient
) -> None:
    answers = [await submit(http, prompt=f"take {n}") for n in range(4)]
    # Two slots: 0 and 1 start their runners (queue_time), 2 and 3 wait for a slot.
    assert [fake.queue_position(a["request_id"]) for a in answers] == [0, 0, 0, 1]
    assert answers[3]["queue_position"] == 1

    fake.advance(6)
    running = await status(http, answers[0], logs="1")
    waiting = await status(http, answers[3], logs="true")
    quiet = await status(http, answers[1])
    fake.advance(60)
    done = await status(http, answers[0])
    third = await status(http, answers[2])

    assert running[0] == 202 and running[1]["status"] == "IN_PROGRESS"
    assert running[1]["logs"][0]["level"] == "INFO"
    assert quiet[1]["logs"] is None
    assert waiting == (202, {**waiting[1], "status": "IN_QUEUE", "queue_position": 1})
    assert done[0] == 200 and done[1]["status"] == "COMPLETED"
    assert done[1]["metrics"] == {"inference_time": 60.0}
    assert "error" not in done[1]
    assert third[1] == {**third[1], "status": "IN_QUEUE", "queue_position": 0}
    assert fake.peak_concurrency() == 2
    assert fake.peak_waiting() == 2
    assert fake.waited_ids() == [fake.created_ids()[2], fake.created_ids()[3]]
    fake.advance_until_done()
    assert (await status(http, answers[3]))[1]["status"] == "COMPLETED"


@pytest.mark.anyio
async def test_a_result_is_the_video_then_expires_and_the_cdn_takes_no_key(
    fake: FakeFal, http: httpx.AsyncClient
) -> None:
    answer = await submit(http, VEO, duration="4s", resolution="1080p", aspect_ratio="9:16")
    early = await http.get(answer["response_url"])
    fake.advance_until_done()

    result = (await http.get(answer["response_url"])).json()
    again = (await http.get(answer["response_url"])).json()
    url = result["video"]["url"]
    async with httpx.AsyncClient(transport=fake.http_transport()) as cdn:
        video = await cdn.get(url)
        keyed = await cdn.get(url, headers=AUTH)
        fake.advance(3600)
        gone_result = await http.get(answer["response_url"])
        still = await cdn.get(url)
        assert fake.expire_objects() == 1
        expired = await cdn.get(url)

    assert (early.status_code, early.json()) == (400, {"detail": "Request is still in progress"})
    assert again == result
    assert url.startswith(f"{BASE}/_cdn/{answer['request_id']}/")
    assert result["video"]["file_size"] == len(video.content)
    assert video.headers["content-type"] == "video/mp4"
    assert keyed.status_code == 400
    assert gone_result.status_code == 404
    assert still.status_code == 200
    assert expired.status_code == 404
    assert fake.download_count(status=200) == 2


@pytest.mark.anyio
async def test_the_object_lifecycle_header_sets_how_long_a_video_is_kept(
    fake: FakeFal, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        f"/{KLING}",
        json={"prompt": "a fox"},
        headers={
            "X-Fal-Object-Lifecycle-Preference": json.dumps({"expiration_duration_seconds": 100}),
            "x-fal-no-retry": "1",
        },
    )
    bad = await http.post(
        f"/{KLING}", json={"prompt": "a"}, headers={"X-Fal-Object-Lifecycle-Preference": "7d"}
    )
    fake.advance_until_done()
    answer = response.json()
    url = (await http.get(answer["response_url"])).json()["video"]["url"]
    async with httpx.AsyncClient(transport=fake.http_transport()) as cdn:
        kept = await cdn.get(url)
        fake.advance(100)
        expired = await cdn.get(url)

    assert bad.status_code == 400
    assert fake.create_headers(answer["request_id"]) == {
        "x-fal-object-lifecycle-preference": '{"expiration_duration_seconds": 100}',
        "x-fal-no-retry": "1",
    }
    assert (kept.status_code, expired.status_code) == (200, 404)


@pytest.mark.anyio
async def test_cancel_removes_a_queued_request_and_stops_a_running_one(
    fake: FakeFal, http: httpx.AsyncClient
) -> None:
    # Two slots: the first two run, the third waits for one.
    running, done, queued = [await submit(http, prompt=f"take {n}") for n in range(3)]
    fake.advance(10)
    stop = await http.put(running["cancel_url"])
    remove = await http.put(queued["cancel_url"])
    fake.advance_until_done()
    finished = await http.put(done["cancel_url"])
    unknown = await http.put(f"{BASE}/fal-ai/kling-video/requests/nope/cancel")
    stopped = await http.get(running["response_url"])

    assert (stop.status_code, stop.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    assert remove.status_code == 202
    assert (finished.status_code, finished.json()) == (400, {"status": "ALREADY_COMPLETED"})
    assert (unknown.status_code, unknown.json()) == (404, {"status": "NOT_FOUND"})
    assert (await http.get(queued["status_url"])).status_code == 404
    assert (await status(http, running))[1]["status"] == "COMPLETED"
    assert stopped.status_code == 499
    assert stopped.json()["error_type"] == "client_cancelled"
    assert stopped.headers["x-fal-error-type"] == "client_cancelled"
    ids = fake.created_ids()
    assert fake.cancelled_ids() == [ids[0], ids[2]]
    assert fake.deleted_ids() == [ids[2]]
    assert fake.waited_ids() == [ids[2]]


@pytest.mark.anyio
async def test_a_cancel_a_model_ignores_lets_the_request_run_on(http: httpx.AsyncClient) -> None:
    fake = FakeFal(clock=ManualClock(start=START), honour_cancel=False)
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        answer = await submit(client)
        fake.advance(1)
        await client.put(answer["cancel_url"])
        fake.advance_until_done()
        result = await client.get(answer["response_url"])
    assert result.status_code == 200
    assert fake.cancelled_ids() == []


@pytest.mark.anyio
async def test_a_failing_prompt_and_invalid_input_complete_with_the_models_error(
    fake: FakeFal, http: httpx.AsyncClient
) -> None:
    fake.errors_on_status = True
    moderated = await submit(http, prompt=fake.failing_prompt)
    invalid = await submit(http, VEO, duration="5s", generate_audio="yes")
    fake.advance_until_done()

    failed = await http.get(moderated["response_url"])
    refused = await http.get(invalid["response_url"])
    failed_status = (await status(http, moderated))[1]

    assert failed.status_code == 422
    assert failed.headers["x-fal-retryable"] == "false"
    assert failed.json()["detail"][0]["type"] == "content_policy_violation"
    assert refused.status_code == 422
    assert [d["loc"] for d in refused.json()["detail"]] == [
        ["body", "duration"],
        ["body", "generate_audio"],
    ]
    assert failed_status["error_type"] == "content_policy_violation"
    assert failed_status["error"]
    assert fake.price_usd(invalid["request_id"]) is not None


@pytest.mark.parametrize(
    ("headers", "status_code"),
    [({}, 401), ({"Authorization": "Bearer " + KEY}, 401), ({"Authorization": "Key nope"}, 401)],
)
@pytest.mark.anyio
async def test_the_key_is_checked_everywhere_but_on_the_cdn(
    fake: FakeFal, headers: dict[str, str], status_code: int
) -> None:
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        created = await client.post(f"/{KLING}", json={"prompt": "a"}, headers=headers)
        read = await client.get("/fal-ai/kling-video/requests/x/status", headers=headers)
    assert (created.status_code, read.status_code) == (status_code, status_code)
    assert "detail" in created.json()
    assert fake.created_count() == 0


@pytest.mark.anyio
async def test_unknown_endpoints_and_bodies_that_are_not_objects_are_refused(
    http: httpx.AsyncClient, fake: FakeFal
) -> None:
    unknown = await http.post("/fal-ai/no-such/model", json={"prompt": "a"})
    listed = await http.post(f"/{KLING}", json=["a"])
    text = await http.post(f"/{KLING}", content=b"a", headers={"content-type": "text/plain"})
    fake.unknown_models = True
    accepted = await http.post("/fal-ai/no-such/model", json={"prompt": "a", "whatever": 1})

    assert unknown.status_code == 404
    assert (listed.status_code, text.status_code) == (422, 422)
    assert accepted.status_code == 200
    assert fake.price_usd(accepted.json()["request_id"]) is None


@pytest.mark.anyio
async def test_namespaced_apps_are_addressed_by_three_segments(http: httpx.AsyncClient) -> None:
    fake = FakeFal(clock=ManualClock(start=START), unknown_models=True, generation_time=1)
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        answer = await submit(client, "workflows/someone/my-flow/run")
        fake.advance_until_done()
        read = await client.get(answer["status_url"])
    assert answer["status_url"].endswith(
        f"/workflows/someone/my-flow/requests/{answer['request_id']}/status"
    )
    assert read.json()["status"] == "COMPLETED"
    assert fake.created_ids() == [f"workflows:someone:my-flow:{answer['request_id']}"]


def test_knobs_are_checked_and_the_key_never_shown() -> None:
    with pytest.raises(ValueError):
        FakeFal(failure_at=2.0)
    with pytest.raises(ValueError):
        FakeFal(max_concurrent=0)
    assert KEY not in repr(FakeFal(api_key=KEY))


@pytest.mark.anyio
async def test_a_reset_create_still_makes_the_request(
    fake: FakeFal, http: httpx.AsyncClient
) -> None:
    fake.reset_next_create()
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post(f"/{KLING}", json={"prompt": "a"})
    assert fake.created_count() == 1
    assert fake.request(fake.created_ids()[0])["status"] == "IN_QUEUE"


def test_served_on_loopback_it_answers_any_http_client() -> None:
    fake = FakeFal(generation_time=0.0)
    with fake.serve() as base_url, httpx.Client(base_url=base_url) as client:
        answer = client.post(f"/{KLING}", json={"prompt": "a fox"}).json()
        assert answer["status_url"].startswith(base_url)
        done = client.get(answer["status_url"]).json()
        video = client.get(client.get(answer["response_url"]).json()["video"]["url"])
    assert done["status"] == "COMPLETED"
    assert video.status_code == 200
    assert fake.status_request_count() == 1 and fake.result_request_count() == 1
