"""FakeOpenRouter's behaviour: job life cycle and cost, pending queueing, remote cancels,
content and signed URLs that expire, auth, request validation, credits, faults, serving;
and the exactly-once check on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

import soravideo as sv
from soravideo.testing import FakeOpenRouter, ManualClock, check_exactly_once
from soravideo.testing._media import iter_mp4_boxes
from soravideo.transports.openrouter import OpenRouterModel

BASE = "http://fake-openrouter.test/api/v1"
KEY = "sk-or-v1-fake-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {KEY}"}
START = 1_800_000_000.0
VEO = {"model": "google/veo-3.1", "prompt": "a red fox", "duration": 8, "resolution": "720p"}
FIRST = {"type": "image_url", "image_url": {"url": "https://x.example/a.png"}}
NOW = datetime(2027, 1, 15, tzinfo=timezone.utc)


def make(**knobs: Any) -> FakeOpenRouter:
    knobs.setdefault("generation_time", 60.0)
    return FakeOpenRouter(api_key=KEY, clock=ManualClock(start=START), **knobs)


@pytest.fixture
def fake() -> FakeOpenRouter:
    return make()


@pytest.fixture
async def client(fake: FakeOpenRouter) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE, headers=HEADERS
    ) as client:
        yield client


async def create(client: httpx.AsyncClient, **body: Any) -> str:
    response = await client.post("/videos", json={**VEO, **body})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


async def show(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    response = await client.get(f"/videos/{job_id}")
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    return payload


# -- life cycle ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_job_goes_pending_in_progress_completed_with_its_cost(
    fake: FakeOpenRouter, client: httpx.AsyncClient
) -> None:
    created = await client.post("/videos", json=VEO)
    job_id = created.json()["id"]
    seen = [await show(client, job_id)]
    for step in (30, 29, 1):
        fake.advance(step)
        seen.append(await show(client, job_id))

    assert created.status_code == 202
    assert created.json() == {
        "id": job_id,
        "polling_url": f"/api/v1/videos/{job_id}",
        "status": "pending",
    }
    assert job_id.startswith(f"gen-vid-{int(START)}-") and len(job_id.rsplit("-", 1)[1]) == 20
    assert [s["status"] for s in seen] == ["pending", "in_progress", "in_progress", "completed"]
    assert seen[1] == {
        "id": job_id,
        "polling_url": f"/api/v1/videos/{job_id}",
        "status": "in_progress",
    }
    done = seen[-1]
    assert done["usage"] == {"cost": 4.0, "is_byok": False}  # 8 s at $0.50
    assert done["unsigned_urls"] == [f"{BASE}/videos/{job_id}/content?index=0"]
    assert done["generation_id"].startswith("gen-")
    assert "urls" not in done and "expires_at" not in done
    assert fake.charged(job_id) == fake.price_of(job_id) == fake.estimate_of(job_id) == 4.0
    assert fake.spent() == 4.0
    assert [r.tag for r in fake.requests] == [
        "created",
        "pending",
        "in_progress",
        "in_progress",
        "completed",
    ]


@pytest.mark.anyio
async def test_queue_time_and_a_concurrency_limit_keep_jobs_pending() -> None:
    fake = make(max_concurrent=1, queue_time=10.0)
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE, headers=HEADERS
    ) as client:
        first = await create(client)
        second = await create(client, prompt="a blue fox")
        fake.advance(20)
        states = [(await show(client, j))["status"] for j in (first, second)]
        fake.advance(55)  # the first ended at 70; the second has its slot, in its queue time
        later = [(await show(client, j))["status"] for j in (first, second)]
        fake.advance_until_done()
        final = [(await show(client, j))["status"] for j in (first, second)]
    assert states == ["in_progress", "pending"]
    assert later == ["completed", "pending"]
    assert final == ["completed", "completed"]
    assert fake.queued_ids() == [second]
    assert fake.peak_concurrency() == 1


@pytest.mark.anyio
async def test_a_moderated_prompt_fails_with_an_error_and_costs_nothing() -> None:
    fake = make(failure_at=0.5)
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE, headers=HEADERS
    ) as client:
        job_id = await create(client, prompt=f"a fox, {fake.failing_prompt}")
        fake.advance(29)
        running = await show(client, job_id)
        fake.advance(1)
        failed = await show(client, job_id)
    assert running["status"] == "in_progress"
    assert failed == {
        "id": job_id,
        "polling_url": f"/api/v1/videos/{job_id}",
        "status": "failed",
        "error": fake.failure_message,
    }
    assert fake.charged(job_id) is None and fake.spent() == 0.0


@pytest.mark.anyio
async def test_a_job_stopped_on_openrouters_side_reads_cancelled(
    fake: FakeOpenRouter, client: httpx.AsyncClient
) -> None:
    stopped = await create(client)
    finished = await create(client, prompt="a blue fox", duration=4)
    fake.advance(60)
    fake.cancel(stopped)  # it completed at 60 s: too late to stop it
    fake.advance(1)
    assert (await show(client, stopped))["status"] == "completed"

    third = await create(client, prompt="a green fox")
    fake.advance(10)
    fake.cancel(third)
    fake.cancel(finished)  # already completed: left as it is
    fake.advance_until_done()

    assert (await show(client, third))["status"] == "cancelled"
    assert (await show(client, finished))["status"] == "completed"
    assert fake.cancelled_ids() == [third]
    assert fake.deleted_ids() == []
    assert fake.charged(third) is None
    assert fake.spent() == 4.0 + 2.0
    assert fake.count(method="DELETE") == 0
    with pytest.raises(KeyError):
        fake.cancel("gen-vid-0-unknown")


# -- content --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_content_is_an_mp4_once_completed_and_not_before(
    fake: FakeOpenRouter, client: httpx.AsyncClient
) -> None:
    job_id = await create(client, size="1080x1920", duration=6, resolution=None)
    early = await client.get(f"/videos/{job_id}/content", params={"index": 0})
    fake.advance_until_done()
    video = await client.get(f"/videos/{job_id}/content", params={"index": 0})
    other = await client.get(f"/videos/{job_id}/content", params={"index": 1})
    unknown = await client.get("/videos/gen-vid-0-nope/content")

    assert early.status_code == 409 and early.json()["error"]["code"] == 409
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert int(video.headers["content-length"]) == len(video.content)
    boxes = [box for box, _ in iter_mp4_boxes(video.content)]
    assert boxes[0] == b"ftyp"
    assert other.status_code == 400
    assert unknown.status_code == 404
    assert fake.create_params(job_id)["size"] == "1080x1920"
    assert fake.price_of(job_id) == pytest.approx(6 * 0.75)  # the 1080p SKU
    assert fake.download_count(status=200) == 1


@pytest.mark.anyio
async def test_a_stored_copy_has_signed_urls_until_it_expires() -> None:
    fake = make(expires_after=3600.0)
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as anonymous:
        client = httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE, headers=HEADERS)
        async with client:
            job_id = await create(client)
            fake.advance(60)
            done = await show(client, job_id)
            signed = await anonymous.get(done["urls"][0])
            forged = await anonymous.get(f"{BASE}/_signed/{job_id}/forged.mp4")
            fake.advance(3600)
            expired = await show(client, job_id)
            stale = await anonymous.get(done["urls"][0])
            content = await client.get(f"/videos/{job_id}/content")
    assert done["expires_at"] == int(START) + 60 + 3600
    assert done["urls"][0].startswith(f"{BASE}/_signed/{job_id}/")
    assert signed.status_code == 200 and signed.content[4:8] == b"ftyp"
    assert forged.status_code == 403
    assert expired["status"] == "expired"
    assert expired["usage"] == {"cost": 4.0, "is_byok": False}
    assert "unsigned_urls" not in expired and "urls" not in expired
    assert stale.status_code == 403
    assert content.status_code == 410
    assert fake.spent() == 4.0


# -- auth, models, key -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_key_is_checked_but_the_model_listing_is_open(fake: FakeOpenRouter) -> None:
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as anonymous:
        missing = await anonymous.post("/videos", json=VEO)
        wrong = await anonymous.get("/key", headers={"Authorization": "Bearer sk-or-wrong"})
        listing = await anonymous.get("/videos/models")
    assert missing.status_code == wrong.status_code == 401
    assert missing.json() == {"error": {"code": 401, "message": "No auth credentials found"}}
    assert listing.status_code == 200
    veo = next(m for m in listing.json()["data"] if m["id"] == "google/veo-3.1")
    assert veo["supported_durations"] == [4, 6, 8]
    assert veo["pricing_skus"] == {"per-video-second": "0.50", "per-video-second-1080p": "0.75"}
    assert "Authorization" not in [r.headers.get("authorization") for r in fake.requests]
    assert KEY not in repr(fake) and all(KEY not in str(r.headers) for r in fake.requests)


@pytest.mark.anyio
async def test_the_key_shows_usage_and_the_credit_limit() -> None:
    fake = make(credit_limit=10.0)
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE, headers=HEADERS
    ) as client:
        await create(client)  # $4
        await create(client, prompt="b")  # $8 committed
        refused = await client.post("/videos", json={**VEO, "prompt": "c"})
        fake.advance_until_done()
        key = (await client.get("/key")).json()["data"]
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == 402
    assert "Insufficient credits" in refused.json()["error"]["message"]
    assert (key["usage"], key["limit"], key["limit_remaining"]) == (8.0, 10.0, 2.0)
    assert fake.created_count() == 2


# -- what a create may hold -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"model": None}, "model"),
        ({"model": "acme/unknown-video"}, "does not exist"),
        ({"prompt": ""}, "prompt"),
        ({"duration": 5}, "duration 5"),
        ({"duration": "8"}, "duration"),
        ({"resolution": "4K"}, "resolution 4K"),
        ({"aspect_ratio": "1:1"}, "aspect_ratio 1:1"),
        ({"size": "640x480"}, "size 640x480"),
        ({"seed": "7"}, "seed"),
        ({"generate_audio": "yes"}, "generate_audio"),
        ({"callback_url": "http://hooks.example/x"}, "callback_url"),
        ({"frame_images": []}, "frame_images"),
        ({"frame_images": [{**FIRST}]}, "frame_type"),
        ({"frame_images": [{**FIRST, "frame_type": "middle"}]}, "frame_type"),
        (
            {
                "frame_images": [
                    {**FIRST, "image_url": {"url": "http://x/a.png"}, "frame_type": "first_frame"}
                ]
            },
            "HTTPS",
        ),
        (
            {
                "frame_images": [
                    {
                        **FIRST,
                        "image_url": {"url": "data:image/png;base64,%%"},
                        "frame_type": "first_frame",
                    }
                ]
            },
            "data URI",
        ),
        ({"input_references": [{"type": "text"}]}, "input_references"),
    ],
)
@pytest.mark.anyio
async def test_bad_creates_are_refused_naming_the_field(
    fake: FakeOpenRouter, client: httpx.AsyncClient, body: dict[str, Any], words: str
) -> None:
    response = await client.post("/videos", json={**VEO, **body})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == 400 and words in error["message"]
    assert fake.created_count() == 0


@pytest.mark.anyio
async def test_not_json_is_refused(client: httpx.AsyncClient) -> None:
    assert (await client.post("/videos", content=b"model=x")).status_code == 400
    assert (await client.post("/videos", json=[VEO])).status_code == 400
    bad = await client.post("/videos", content=b"{", headers={"content-type": "application/json"})
    assert bad.status_code == 400


@pytest.mark.anyio
async def test_frames_a_model_takes_and_data_uris_are_accepted_and_summarised(
    fake: FakeOpenRouter, client: httpx.AsyncClient
) -> None:
    uri = "data:image/png;base64,iVBORw0KGgo="
    frames = [
        {**FIRST, "frame_type": "first_frame"},
        {"type": "image_url", "image_url": {"url": uri}, "frame_type": "last_frame"},
    ]
    job_id = await create(client, frame_images=frames)
    refused = await client.post(
        "/videos",
        json={**VEO, "model": "alibaba/wan-2.6", "duration": 5, "frame_images": frames},
    )
    params = fake.create_params(job_id)
    assert params["frame_images"][1]["image_url"]["url"] == {
        "data_uri": "data:image/png;base64",
        "length": len(uri),
    }
    assert refused.status_code == 400 and "last_frame" in refused.json()["error"]["message"]


@pytest.mark.anyio
async def test_unknown_models_and_own_prices_when_asked_for() -> None:
    models = {"acme/v1": OpenRouterModel(name="acme/v1", durations=(5,))}
    fake = make(
        models=models,
        accept_unknown_models=True,
        prices={"acme/v1": 0.2},
        unpriced_usd_per_second=0.05,
    )
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE, headers=HEADERS
    ) as client:
        priced = await create(client, model="acme/v1", duration=5, resolution=None)
        other = await create(client, model="zeta/v9", duration=3, resolution="4K")
        default = await create(client, model="zeta/v9", duration=None, resolution=None)
        fake.advance_until_done()
    assert fake.charged(priced) == pytest.approx(1.0)
    assert fake.charged(other) == pytest.approx(0.15)
    assert fake.estimate_of(other) is None  # no price a client could have known
    assert fake.job(default)["usage"]["cost"] == pytest.approx(0.25)  # 5 s by default


@pytest.mark.anyio
async def test_injected_faults_use_openrouters_error_shape(
    fake: FakeOpenRouter, client: httpx.AsyncClient
) -> None:
    fake.inject(status=503, match="POST /videos", retry_after=2, code="overloaded")
    refused = await client.post("/videos", json=VEO)
    fake.reset_next_create()
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/videos", json=VEO)

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "2"
    assert refused.json() == {
        "error": {
            "code": 503,
            "message": "Injected fault: HTTP 503.",
            "metadata": {"reason": "overloaded"},
        }
    }
    assert fake.created_count() == 1  # the reset came after the job was made


def test_serve_on_loopback_uses_real_time_under_api_v1() -> None:
    fake = FakeOpenRouter(api_key=KEY, generation_time=0.0)
    with fake.serve() as base_url, httpx.Client(base_url=base_url, headers=HEADERS) as client:
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/v1")
        job_id = client.post("/videos", json=VEO).json()["id"]
        job = client.get(f"/videos/{job_id}").json()
        video = client.get(job["unsigned_urls"][0])
    assert job["status"] == "completed"
    assert job["unsigned_urls"][0].startswith(f"{base_url}/videos/{job_id}/content")
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"


def test_knobs_are_checked() -> None:
    with pytest.raises(ValueError, match="failure_at"):
        FakeOpenRouter(failure_at=2.0)
    with pytest.raises(ValueError, match="max_concurrent"):
        FakeOpenRouter(max_concurrent=0)
    with pytest.raises(ValueError, match="failure_prompts"):
        _ = FakeOpenRouter(failure_prompts=()).failing_prompt
    assert FakeOpenRouter.can_cancel is False


# -- the exactly-once check on FakeOpenRouter ---------------------------------------------------


def ledger_job(
    prompt: str,
    remote_id: str | None,
    status: sv.JobStatus = sv.JobStatus.COMPLETED,
    **fields: Any,
) -> sv.Job:
    fields.setdefault("estimated_cost_usd", 4.0)
    return sv.Job(
        id=f"job_{prompt.replace(' ', '_')}",
        status=status,
        request=sv.CreateVideoRequest(prompt=prompt, duration=8),
        provider="openrouter",
        remote_id=remote_id,
        created_at=NOW,
        updated_at=NOW,
        **fields,
    )


def violations(fake: FakeOpenRouter, jobs: list[sv.Job]) -> list[str]:
    try:
        check_exactly_once(fake, jobs)
    except AssertionError as error:
        return str(error).splitlines()[1:]
    return []


@pytest.mark.anyio
async def test_the_exactly_once_check_knows_openrouter(
    fake: FakeOpenRouter, client: httpx.AsyncClient
) -> None:
    done = await create(client, prompt="done")
    dropped = await create(client, prompt="dropped")
    fake.advance_until_done()
    good = [
        ledger_job("done", done, cost_usd=4.0),
        # Cancelled in soravideo: OpenRouter has no cancel, so its video ran on. Not a
        # violation (it is the documented behaviour), and its cost was never read.
        ledger_job("dropped", dropped, sv.JobStatus.CANCELLED),
    ]
    assert violations(fake, good) == []

    wrong = [
        ledger_job("done", done, cost_usd=3.0),
        ledger_job("dropped", dropped, sv.JobStatus.CANCELLED, estimated_cost_usd=2.0),
    ]
    assert [line.split(":")[0].strip() for line in violations(fake, wrong)] == ["- cost", "- cost"]
    missing = violations(fake, [ledger_job("done", done), good[1]])
    assert len(missing) == 1 and "records $None charged" in missing[0]
