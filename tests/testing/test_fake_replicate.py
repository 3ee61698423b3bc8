"""FakeReplicate on its own (in-process, a clock the test moves): answers, statuses, the list,
deadlines, output expiry, throttling, auth and the request log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from soravideo.testing import FakeReplicate
from soravideo.testing._fake_replicate import parse_cancel_after

TOKEN = "r8_fake_0123456789abcdef"
URL = "http://fake-replicate.test"
VEO = "google/veo-3.1"
REQUIRED = {"id", "model", "version", "status", "input", "output", "error", "logs", "metrics"}


@pytest.fixture
def fake() -> FakeReplicate:
    return FakeReplicate(api_token=TOKEN, generation_time=60.0, queue_time=5.0, page_size=2)


@pytest.fixture
def http(fake: FakeReplicate) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(transport=fake.sync_http_transport(), base_url=URL, headers=headers) as c:
        yield c


def plain_get(fake: FakeReplicate, url: str) -> httpx.Response:
    with httpx.Client(transport=fake.sync_http_transport()) as anonymous:
        return anonymous.get(url)


def create(http: httpx.Client, model: str = VEO, **body: Any) -> dict[str, Any]:
    response = http.post(
        f"/v1/models/{model}/predictions", json={"input": {"prompt": "a cat", **body}}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_a_prediction_moves_from_starting_to_succeeded_with_every_key_the_client_needs(
    fake: FakeReplicate, http: httpx.Client
) -> None:
    made = create(http, duration=4)
    assert set(made) >= REQUIRED and (made["status"], made["version"]) == ("starting", "hidden")
    seen = []
    for step in (3, 10, 60):
        fake.advance(step)
        seen.append(http.get(f"/v1/predictions/{made['id']}").json()["status"])
    done = http.get(f"/v1/predictions/{made['id']}").json()
    assert seen == ["starting", "processing", "succeeded"]
    assert done["output"].startswith(f"{URL}/_delivery/{made['id']}/")
    assert done["completed_at"].endswith("Z") and done["metrics"]["predict_time"] == 60.0
    video = http.get(done["output"], headers={"Authorization": ""})
    assert video.status_code == 400  # outputs take no Authorization header at all
    plain = plain_get(fake, done["output"])
    assert plain.content == fake.video_bytes(made["id"]) and plain.content[4:8] == b"ftyp"


def test_a_failure_prompt_fails_with_e005(fake: FakeReplicate, http: httpx.Client) -> None:
    made = create(http, prompt=fake.failing_prompt)
    fake.advance_until_done()
    done = http.get(f"/v1/predictions/{made['id']}").json()
    assert done["status"] == "failed" and "(E005)" in done["error"] and done["output"] is None


def test_outputs_and_input_are_removed_after_output_ttl(
    fake: FakeReplicate, http: httpx.Client
) -> None:
    made = create(http)
    fake.advance_until_done()
    url = http.get(f"/v1/predictions/{made['id']}").json()["output"]
    fake.advance(3600)
    gone = http.get(f"/v1/predictions/{made['id']}").json()
    assert (gone["status"], gone["data_removed"], gone["output"], gone["input"]) == (
        "succeeded",
        True,
        None,
        {},
    )
    assert plain_get(fake, url).status_code == 404


def test_expire_outputs_removes_what_is_kept_now(fake: FakeReplicate, http: httpx.Client) -> None:
    made, running = create(http), None
    fake.advance_until_done()
    running = create(http)
    assert fake.expire_outputs() == 1
    assert http.get(f"/v1/predictions/{made['id']}").json()["data_removed"] is True
    fake.advance_until_done()
    assert http.get(f"/v1/predictions/{running['id']}").json()["output"] is not None


def test_the_list_is_newest_first_in_cursor_pages_on_the_fakes_own_origin(
    fake: FakeReplicate, http: httpx.Client
) -> None:
    ids = [create(http, prompt=f"take {n}")["id"] for n in range(5)]
    seen, url, pages = [], "/v1/predictions", 0
    while url:
        page = http.get(url).json()
        seen += [p["id"] for p in page["results"]]
        url, pages = page["next"], pages + 1
        assert url is None or url.startswith(f"{URL}/v1/predictions?cursor=")
    assert seen == ids[::-1] and pages == 3
    assert http.get("/v1/predictions?cursor=!!").status_code == 400


@pytest.mark.parametrize(
    ("value", "seconds"), [("1m", 60), ("90s", 90), ("1h30m", 5400), ("45", 45), ("soon", None)]
)
def test_cancel_after_values(value: str, seconds: float | None) -> None:
    assert parse_cancel_after(value) == seconds


def test_a_deadline_aborts_before_the_start_and_cancels_a_run(
    fake: FakeReplicate, http: httpx.Client
) -> None:
    fake.queue_time = 100.0
    waiting = http.post(
        f"/v1/models/{VEO}/predictions",
        json={"input": {"prompt": "a"}},
        headers={"Cancel-After": "1m"},
    ).json()
    fake.queue_time = 0.0
    running = http.post(
        f"/v1/models/{VEO}/predictions",
        json={"input": {"prompt": "b"}},
        headers={"Cancel-After": "30s"},
    ).json()
    assert waiting["deadline"].endswith("Z")
    fake.advance_until_done()
    assert fake.status_of(waiting["id"]) == "aborted"
    assert fake.status_of(running["id"]) == "canceled"
    assert sorted(fake.cancelled_ids()) == sorted([waiting["id"], running["id"]])
    bad = http.post(
        f"/v1/models/{VEO}/predictions",
        json={"input": {"prompt": "c"}},
        headers={"Cancel-After": "soon"},
    )
    assert bad.status_code == 400 and fake.created_count() == 2


def test_a_cancel_answers_the_prediction_and_a_finished_one_is_unchanged(
    fake: FakeReplicate, http: httpx.Client
) -> None:
    made, done = create(http), create(http, prompt="b")
    assert http.post(f"/v1/predictions/{made['id']}/cancel").json()["status"] == "canceled"
    fake.advance_until_done()
    assert http.post(f"/v1/predictions/{done['id']}/cancel").json()["status"] == "succeeded"
    assert http.post("/v1/predictions/nosuch/cancel").status_code == 404
    assert fake.cancelled_ids() == [made["id"]]


def test_inputs_are_checked_as_the_models_schema_would(
    fake: FakeReplicate, http: httpx.Client
) -> None:
    bad = http.post(
        f"/v1/models/{VEO}/predictions",
        json={"input": {"prompt": "a", "duration": 5, "resolution": "4k"}},
    )
    body = bad.json()
    assert bad.status_code == 422 and body["title"] == "Input validation failed"
    assert "input.duration" in body["detail"] and "input.resolution" in body["detail"]
    kling = http.post("/v1/models/kwaivgi/kling-v2.1/predictions", json={"input": {"prompt": "a"}})
    assert kling.status_code == 422 and "start_image" in kling.json()["detail"]
    assert http.post("/v1/models/acme/nothing/predictions", json={"input": {}}).status_code == 404
    assert fake.created_count() == 0


def test_unknown_models_answer_a_list_of_urls_when_allowed(
    fake: FakeReplicate, http: httpx.Client
) -> None:
    fake.unknown_models = True
    made = create(http, model="acme/new-video", frames=12)
    fake.advance_until_done()
    output = http.get(f"/v1/predictions/{made['id']}").json()["output"]
    assert isinstance(output, list) and output[0].endswith("/output.mp4")


def test_too_many_creates_in_a_minute_are_throttled(
    fake: FakeReplicate, http: httpx.Client
) -> None:
    fake.creates_per_minute = 2
    create(http)
    create(http)
    throttled = http.post(f"/v1/models/{VEO}/predictions", json={"input": {"prompt": "x"}})
    assert throttled.status_code == 429 and "throttled" in throttled.json()["detail"]
    fake.advance(61)
    create(http)
    assert fake.created_count() == 3 and fake.rate_limited_count() == 1


def test_a_token_is_required_and_never_logged(fake: FakeReplicate) -> None:
    with httpx.Client(transport=fake.sync_http_transport(), base_url=URL) as anonymous:
        refused = anonymous.get("/v1/account")
        wrong = anonymous.get("/v1/account", headers={"Authorization": "Bearer r8_wrong"})
        right = anonymous.get("/v1/account", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (refused.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert refused.json()["title"] == "Unauthenticated"
    assert all(TOKEN not in str(r.headers) for r in fake.requests)
    assert TOKEN not in repr(fake)


def test_a_reset_create_is_made_and_its_answer_lost(
    fake: FakeReplicate, http: httpx.Client
) -> None:
    fake.reset_next_create()
    with pytest.raises(httpx.RemoteProtocolError):
        create(http)
    assert fake.created_count() == 1 and fake.requests[0].tag == "created"


def test_prices_are_the_fakes_configuration(fake: FakeReplicate, http: httpx.Client) -> None:
    made = create(http, duration=6)
    assert fake.price_usd(made["id"]) is None
    fake.prices[VEO] = 0.5
    assert fake.price_usd(made["id"]) == pytest.approx(3.0)
