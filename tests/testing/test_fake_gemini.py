"""FakeGemini on its own: auth, versions, request checks, timing, cancel, files, faults."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from soravideo.testing import FakeGemini, FakeProvider
from soravideo.transports.gemini import gemini_remote_id

KEY = "AIza-fake-test-key"
URL = "http://fake-gemini.test"
OMNI = {
    "model": "gemini-omni-1.1-flash",
    "input": "a fox",
    "background": True,
    "response_format": {"type": "video", "duration": "8s"},
}
VEO = {"instances": [{"prompt": "a dog"}], "parameters": {"durationSeconds": 8}}
VEO_PATH = "/v1/models/veo-3.1-generate-preview:predictLongRunning"


@pytest.fixture
def fake() -> FakeGemini:
    return FakeGemini(api_key=KEY, generation_time=30.0)


@pytest.fixture
def http(fake: FakeGemini) -> Iterator[httpx.Client]:
    with httpx.Client(
        transport=fake.sync_http_transport(), base_url=URL, headers={"x-goog-api-key": KEY}
    ) as client:
        yield client


def create(http: httpx.Client, **changes: Any) -> dict[str, Any]:
    answer = http.post("/v1/interactions", json={**OMNI, **changes})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_it_is_a_fake_provider_that_hides_its_key(fake: FakeGemini) -> None:
    assert isinstance(fake, FakeProvider)
    assert KEY not in repr(fake)


def test_no_key_is_403_and_a_wrong_one_400_api_key_invalid(fake: FakeGemini) -> None:
    with httpx.Client(transport=fake.sync_http_transport(), base_url=URL) as client:
        none = client.get("/v1/models")
        wrong = client.get("/v1/models", headers={"x-goog-api-key": "AIza-wrong"})
    assert none.status_code == 403
    assert none.json()["error"]["status"] == "PERMISSION_DENIED"
    assert wrong.status_code == 400
    error = wrong.json()["error"]
    assert (error["status"], error["details"][0]["reason"]) == (
        "INVALID_ARGUMENT",
        "API_KEY_INVALID",
    )
    assert all(r.headers.get("x-goog-api-key", "<redacted>") == "<redacted>" for r in fake.requests)


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_both_api_versions_are_served_and_no_other(
    fake: FakeGemini, http: httpx.Client, version: str
) -> None:
    made = http.post(f"/{version}/interactions", json=OMNI).json()
    assert http.get(f"/{version}/interactions/{made['id']}").json()["status"] == "queued"
    assert http.get(f"/v2/interactions/{made['id']}").status_code == 404
    assert fake.create_params(made["id"])["version"] == version


def test_an_interaction_queues_runs_and_completes_with_its_video_inline(
    fake: FakeGemini, http: httpx.Client
) -> None:
    made = create(http)
    assert (made["object"], made["status"], made["model"]) == (
        "interaction",
        "queued",
        OMNI["model"],
    )
    fake.advance(10)
    assert http.get(f"/v1/interactions/{made['id']}").json()["status"] == "in_progress"
    fake.advance(30)
    done = http.get(f"/v1/interactions/{made['id']}").json()
    video = done["steps"][-1]["content"][0]
    assert base64.b64decode(video["data"]) == fake.video_bytes(made["id"])
    assert done["usage"]["output_tokens_by_modality"][0]["tokens"] == 8 * 5792
    assert fake.price_usd(made["id"]) == pytest.approx(0.8)
    assert fake.spent() == pytest.approx(0.8)


def test_a_uri_delivery_is_a_files_uri_served_for_the_files_ttl(
    fake: FakeGemini, http: httpx.Client
) -> None:
    made = create(http, response_format={"type": "video", "delivery": "uri"})
    assert http.get("/v1/files/nothing:download", params={"alt": "media"}).status_code == 404
    fake.advance(31)
    uri = http.get(f"/v1/interactions/{made['id']}").json()["steps"][-1]["content"][0]["uri"]
    assert uri.startswith("https://generativelanguage.googleapis.com/v1/files/")
    path = "/v1/files/" + uri.split("files/")[1].split("?")[0]
    assert http.get(path).status_code == 400  # alt=media is required
    assert http.get(path, params={"alt": "media"}).content == fake.video_bytes(made["id"])
    fake.advance(fake.file_ttl)
    assert http.get(path, params={"alt": "media"}).status_code == 404


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"model": "gemini-omni-9"}, "not found"),
        ({"model": "veo-3.1-generate-preview"}, "predictLongRunning"),
        ({"background": False}, "background"),
        ({"input": ""}, "input"),
        ({"input": [{"type": "image", "uri": "http://x/a.png"}]}, "https"),
        ({"response_modalities": ["VIDEO"]}, "lower-case"),
        ({"response_format": {"type": "text"}}, "video response format"),
        ({"response_format": {"type": "video", "duration": 8}}, "'8s'"),
        ({"response_format": {"type": "video", "duration": "20s"}}, "duration"),
        ({"response_format": {"type": "video", "aspect_ratio": "1:1"}}, "aspect ratio"),
        ({"response_format": {"type": "video", "resolution": "480p"}}, "resolution"),
    ],
)
def test_interactions_it_cannot_make_are_refused(
    fake: FakeGemini, http: httpx.Client, changes: dict[str, Any], words: str
) -> None:
    answer = http.post("/v1/interactions", json={**OMNI, **changes})
    assert answer.status_code in (400, 404)
    assert words in answer.json()["error"]["message"]
    assert fake.created_count() == 0


def test_cancel_stops_a_running_interaction_and_refuses_a_finished_one(
    fake: FakeGemini, http: httpx.Client
) -> None:
    running, finished = create(http), create(http)
    fake.advance(31)
    early = create(http)
    answer = http.post(f"/v1/interactions/{early['id']}/cancel")
    assert answer.json()["status"] == "cancelled"
    assert http.post(f"/v1/interactions/{early['id']}/cancel").status_code == 200
    refused = http.post(f"/v1/interactions/{finished['id']}/cancel")
    assert refused.status_code == 400
    assert refused.json()["error"]["status"] == "FAILED_PRECONDITION"
    assert fake.cancelled_ids() == [early["id"]]
    assert fake.can_cancel_video(early["id"]) and running["id"] in fake.created_ids()
    assert http.delete(f"/v1/interactions/{running['id']}").json() == {}
    assert http.get(f"/v1/interactions/{running['id']}").status_code == 404
    assert fake.deleted_ids() == [running["id"]]


def test_a_failing_prompt_fails_an_interaction_and_filters_a_veo_video(
    fake: FakeGemini, http: httpx.Client
) -> None:
    made = create(http, input=f"a cat, {fake.failing_prompt}")
    name = http.post(VEO_PATH, json={"instances": [{"prompt": fake.failing_prompt}]}).json()["name"]
    fake.advance_until_done()
    failed = http.get(f"/v1/interactions/{made['id']}").json()
    assert failed["status"] == "failed"
    assert failed["errors"] == [{"code": "SAFETY", "message": fake.failure_message}]
    op = http.get(f"/v1/{name}").json()
    generated = op["response"]["generateVideoResponse"]
    assert (op["done"], generated["raiMediaFilteredCount"]) == (True, 1)
    assert "generatedSamples" not in generated
    assert fake.spent() == 0


def test_a_veo_operation_runs_until_done_and_cannot_be_cancelled(
    fake: FakeGemini, http: httpx.Client
) -> None:
    name = http.post(VEO_PATH, json=VEO).json()["name"]
    remote_id = gemini_remote_id(name)
    assert fake.created_ids() == [remote_id] and not fake.can_cancel_video(remote_id)
    assert http.get(f"/v1/{name}").json() == {"name": name}
    fake.advance(30)
    sample = http.get(f"/v1beta/{name}").json()["response"]["generateVideoResponse"]
    assert sample["generatedSamples"][0]["video"]["uri"].startswith("https://")
    assert fake.status_of(remote_id) == "done"
    assert fake.price_usd(remote_id) == pytest.approx(3.2)
    assert http.get(f"/v1/{name}/cancel").status_code == 404


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"instances": []}, "exactly one"),
        ({"instances": [{"prompt": " "}]}, "prompt"),
        ({"instances": [{"prompt": "a", "image": {"bytesBase64Encoded": "!!"}}]}, "base64"),
        ({**VEO, "parameters": {"seed": 1}}, "Unknown name"),
        ({**VEO, "parameters": {"durationSeconds": 5}}, "duration"),
        ({**VEO, "parameters": {"durationSeconds": 4, "resolution": "1080p"}}, "8 s"),
        ({**VEO, "parameters": {"sampleCount": 2}}, "one video"),
        ({**VEO, "parameters": {"personGeneration": "everyone"}}, "personGeneration"),
    ],
)
def test_veo_requests_it_cannot_make_are_refused(
    fake: FakeGemini, http: httpx.Client, body: dict[str, Any], words: str
) -> None:
    answer = http.post(VEO_PATH, json=body)
    assert answer.status_code == 400
    assert words in answer.json()["error"]["message"]
    assert fake.created_count() == 0


def test_max_concurrent_queues_jobs_first_come_first_served() -> None:
    fake = FakeGemini(generation_time=10.0, max_concurrent=1)
    with httpx.Client(transport=fake.sync_http_transport(), base_url=URL) as http:
        first, second = create(http), create(http)
        fake.advance(5)
        assert [fake.status_of(j["id"]) for j in (first, second)] == ["in_progress", "queued"]
        fake.advance(10)
        assert [fake.status_of(j["id"]) for j in (first, second)] == ["completed", "in_progress"]
    assert fake.peak_concurrency() == 1


def test_unknown_models_can_be_accepted_and_priced_flat() -> None:
    fake = FakeGemini(accept_unknown_models=True, unpriced_usd_per_second=0.2)
    with httpx.Client(transport=fake.sync_http_transport(), base_url=URL) as http:
        made = create(http, model="gemini-omni-9", response_format={"type": "video"})
    assert fake.price_usd(made["id"]) is None
    assert fake.job(made["id"])["model"] == "gemini-omni-9"


def test_a_reset_create_still_makes_its_job(fake: FakeGemini, http: httpx.Client) -> None:
    fake.reset_next_create()
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(VEO_PATH, json=VEO)
    assert fake.created_count() == 1


def test_injected_429s_are_googles_resource_exhausted(fake: FakeGemini, http: httpx.Client) -> None:
    fake.inject(status=429, retry_after=3, match="POST /v1/interactions")
    answer = http.post("/v1/interactions", json=OMNI)
    assert answer.status_code == 429 and answer.headers["retry-after"] == "3"
    assert answer.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert fake.rate_limited_count() == 1 and fake.created_count() == 0


def test_the_models_listing_pages(http: httpx.Client) -> None:
    listed = http.get("/v1/models", params={"pageSize": 2}).json()["models"]
    assert [m["name"] for m in listed] == [
        "models/gemini-omni-1.2-flash",
        "models/gemini-omni-1.1-flash",
    ]


def test_bad_knobs_are_refused() -> None:
    with pytest.raises(ValueError):
        FakeGemini(failure_at=2.0)
    with pytest.raises(ValueError):
        FakeGemini(max_concurrent=0)
