"""FakeOpenRouter against the official ``openrouter`` package (1.3.84): its models, its client.

The package is a dev dependency used only here: every payload FakeOpenRouter sends (and
every create body OpenRouterTransport sends) must parse with the package's own pydantic
models, with no key those models do not know; the official client, unchanged but for
``server_url`` and key, must complete jobs against the fake, in-process and served on
loopback; and the model table the transport and the fake share must use the package's
words for resolutions, aspect ratios and frame types.

The client has no cancel (OpenRouter has none): a job cancelled through soravideo ends
cancelled in the ledger while the fake, and the official client reading it, see it
complete and be billed.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pydantic
import pytest
import typing_extensions as te
from openrouter import OpenRouter, components, errors, operations, utils

import soravideo as sv
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeOpenRouter, ManualClock, check_ledger_exactly_once
from soravideo.transports import OpenRouterTransport
from soravideo.transports.openrouter import OPENROUTER_MODELS

BASE = "http://fake-openrouter.test/api/v1"
KEY = "sk-or-v1-fidelity-0123456789abcdef"
START = 1_800_000_000.0
NO_RETRY = utils.RetryConfig("none", utils.BackoffStrategy(1, 1, 1.0, 1), False)
TERMINAL = ("completed", "failed", "cancelled", "expired")


def aliases(model: type[pydantic.BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def models_in(annotation: Any) -> list[type[pydantic.BaseModel]]:
    """The pydantic models an annotation holds (through Optional, Nullable, List …)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    found: list[type[pydantic.BaseModel]] = []
    for arg in te.get_args(annotation):
        found.extend(models_in(arg))
    return found


def no_unknown_keys(model: type[pydantic.BaseModel], payload: dict[str, Any]) -> None:
    assert set(payload) <= aliases(model), (model.__name__, set(payload) - aliases(model))
    for name, field in model.model_fields.items():
        inner = models_in(field.annotation)
        value = payload.get(field.alias or name)
        for item in value if isinstance(value, list) else [value]:
            if inner and isinstance(item, dict):
                no_unknown_keys(inner[0], item)


def parse_exactly(model: type[pydantic.BaseModel], payload: dict[str, Any]) -> None:
    """Validate ``payload`` with ``model``; refuse keys it or a nested model does not know."""
    model.model_validate(payload)
    no_unknown_keys(model, payload)


@pytest.fixture
def fake() -> FakeOpenRouter:
    return FakeOpenRouter(
        api_key=KEY,
        clock=ManualClock(start=START),
        generation_time=60.0,
        max_concurrent=1,
        expires_after=3600.0,
        credit_limit=20.0,
    )


@pytest.fixture
async def http(fake: FakeOpenRouter) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE, headers={"Authorization": f"Bearer {KEY}"}
    ) as client:
        yield client


async def create(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body = {"model": "google/veo-3.1", "prompt": "a fox", "duration": 4, **body}
    response = await http.post("/videos", json=body)
    assert response.status_code == 202, response.text
    payload: dict[str, Any] = response.json()
    return payload


@pytest.mark.anyio
async def test_every_payload_parses_with_the_packages_own_models(
    fake: FakeOpenRouter, http: httpx.AsyncClient
) -> None:
    first = await create(http)
    parse_exactly(components.VideoGenerationResponse, first)
    second = await create(http, prompt="a blue fox")
    moderated = await create(http, prompt=f"a fox, {fake.failing_prompt}")
    stopped = await create(http, prompt="a green fox")
    seen: dict[str, dict[str, Any]] = {}

    async def read(job_id: str) -> None:
        payload = (await http.get(f"/videos/{job_id}")).json()
        seen[payload["status"]] = payload

    await read(second["id"])  # pending: one slot, the first has it
    fake.advance(30)
    await read(first["id"])  # in_progress
    fake.advance(30)
    await read(first["id"])  # completed, with a stored copy
    fake.advance(61)
    await read(moderated["id"])  # failed (at once, when it got its slot at 120 s)
    fake.cancel(stopped["id"])
    await read(stopped["id"])  # cancelled
    fake.advance(3600)
    await read(first["id"])  # expired
    assert set(seen) == {"pending", "in_progress", "completed", "failed", "cancelled", "expired"}
    for payload in seen.values():
        parse_exactly(components.VideoGenerationResponse, payload)
    assert {"usage", "urls", "expires_at", "unsigned_urls"} <= set(seen["completed"])

    listing = (await http.get("/videos/models")).json()
    parse_exactly(components.VideoModelsListResponse, listing)
    key = (await http.get("/key")).json()
    with warnings.catch_warnings():
        # The package warns about the deprecated fields of its own key model.
        warnings.simplefilter("ignore", DeprecationWarning)
        parse_exactly(operations.GetCurrentKeyResponse, key)

    refusals = {
        400: (await http.post("/videos", json={"model": "google/veo-3.1"})).json(),
        401: (await http.get("/key", headers={"Authorization": "Bearer nope"})).json(),
        402: await over_the_credit_limit(fake, http),
        404: (await http.get("/videos/gen-vid-0-unknown")).json(),
        409: (await http.get(f"/videos/{stopped['id']}/content")).json(),
        410: (await http.get(f"/videos/{first['id']}/content")).json(),
    }
    fake.inject(status=429, retry_after=1, code="rate_limited")
    refusals[429] = (await http.get("/key")).json()
    classes = {
        400: errors.BadRequestResponseErrorData,
        401: errors.UnauthorizedResponseErrorData,
        402: errors.PaymentRequiredResponseErrorData,
        404: errors.NotFoundResponseErrorData,
        409: errors.ConflictResponseErrorData,
        410: errors.GoneResponseErrorData,
        429: errors.TooManyRequestsResponseErrorData,
    }
    for status, payload in refusals.items():
        assert payload["error"]["code"] == status
        parse_exactly(classes[status], payload)


async def over_the_credit_limit(fake: FakeOpenRouter, http: httpx.AsyncClient) -> Any:
    fake.credit_limit = fake.spent() + 1.0
    response = await http.post("/videos", json={"model": "google/veo-3.1", "prompt": "x"})
    fake.credit_limit = None
    return response.json()


@pytest.mark.anyio
async def test_what_the_transport_sends_parses_as_the_packages_request(
    fake: FakeOpenRouter,
) -> None:
    async with httpx.AsyncClient(transport=fake.http_transport()) as client:
        transport = OpenRouterTransport(
            base_url=BASE, api_key=KEY, http_client=client, clock=fake.clock
        )
        for n, request in enumerate(
            (
                sv.CreateVideoRequest(prompt="a fox"),
                sv.CreateVideoRequest(prompt="a fox", size="720x1280", duration=6),
                sv.CreateVideoRequest(
                    prompt="a fox",
                    resolution="1080p",
                    aspect_ratio="9:16",
                    input_reference="https://assets.example.com/a.png",
                    provider_options={"seed": 3, "generate_audio": False},
                ),
            )
        ):
            await transport.submit(request, idempotency_key=f"key-{n}")
    bodies = [r.json() for r in fake.requests if r.method == "POST"]
    assert len(bodies) == 3
    for body in bodies:
        parse_exactly(components.VideoGenerationRequest, body)


@pytest.mark.anyio
async def test_the_official_client_works_against_the_fake_in_process(
    fake: FakeOpenRouter,
) -> None:
    async with (
        httpx.AsyncClient(transport=fake.http_transport(), follow_redirects=True) as http,
        OpenRouter(
            api_key=KEY, server_url=BASE, async_client=http, retry_config=NO_RETRY
        ) as client,
    ):
        videos = client.video_generation
        job = await videos.generate_async(
            model="google/veo-3.1",
            prompt="a fox",
            duration=8,
            aspect_ratio="16:9",
            resolution="720p",
        )
        assert (job.status, job.polling_url) == ("pending", f"/api/v1/videos/{job.id}")
        while (job := await videos.get_generation_async(job_id=job.id)).status not in TERMINAL:
            fake.advance(10)
        content = await videos.get_video_content_async(job_id=job.id)
        try:
            assert content.headers["content-type"] == "video/mp4"
            data = await content.aread()
        finally:
            await content.aclose()
        listing = await videos.list_videos_models_async()
        with pytest.raises(errors.NotFoundResponseError):
            await videos.get_generation_async(job_id="gen-vid-0-unknownunknownunkno")
        with pytest.raises(errors.BadRequestResponseError) as bad:
            await videos.generate_async(model="google/veo-3.1", prompt="a fox", duration=5)
        with warnings.catch_warnings():
            # The package warns about the deprecated fields of its own key model.
            warnings.simplefilter("ignore", DeprecationWarning)
            key = await client.api_keys.get_current_key_metadata_async()

    assert job.status == "completed"
    assert job.usage is not None and job.usage.cost == 4.0 and job.usage.is_byok is False
    assert job.unsigned_urls and job.urls and job.expires_at
    assert data[4:8] == b"ftyp"
    assert "google/veo-3.1" in [m.id for m in listing.data]
    assert bad.value.data.error.code == 400 and "duration 5" in bad.value.data.error.message
    assert (key.data.usage, key.data.limit_remaining) == (4.0, 16.0)
    created = [r for r in fake.requests if r.tag == "created"]
    assert [r.headers["authorization"] for r in created] == ["Bearer <redacted>"]


@pytest.mark.anyio
async def test_the_official_client_accepts_nothing_but_202_for_a_create(
    fake: FakeOpenRouter,
) -> None:
    fake.inject(status=200, match="POST /videos")  # an error-shaped 200 stands for "not 202"
    async with (
        httpx.AsyncClient(transport=fake.http_transport()) as http,
        OpenRouter(
            api_key=KEY, server_url=BASE, async_client=http, retry_config=NO_RETRY
        ) as client,
    ):
        with pytest.raises(errors.OpenRouterDefaultError, match="Unexpected response"):
            await client.video_generation.generate_async(model="google/veo-3.1", prompt="a fox")


@pytest.mark.anyio
async def test_the_official_client_re_sends_an_ambiguous_create_and_soravideo_does_not(
    fake: FakeOpenRouter,
) -> None:
    # A 500 after the job was made: the client's default policy retries every 5xx, POST
    # included, and makes (and bills) a second video; the first is lost to it.
    retry_at_once = utils.RetryConfig(
        "backoff", utils.BackoffStrategy(1, 1, 1.0, 1000, jitter_ms=0), True
    )
    fake.inject(status=500, phase="after", match="POST /videos", times=1)
    async with (
        httpx.AsyncClient(transport=fake.http_transport()) as http,
        OpenRouter(
            api_key=KEY, server_url=BASE, async_client=http, retry_config=retry_at_once
        ) as client,
    ):
        job = await client.video_generation.generate_async(
            model="google/veo-3.1", prompt="the client's", duration=4
        )
        transport = OpenRouterTransport(
            base_url=BASE, api_key=KEY, http_client=http, clock=fake.clock
        )
        fake.inject(status=500, phase="after", match="POST /videos", times=1)
        with pytest.raises(sv.AmbiguousSubmissionError):
            await transport.submit(
                sv.CreateVideoRequest(prompt="soravideo's", duration=4), idempotency_key="k"
            )
    client_jobs = [
        i for i in fake.created_ids() if fake.create_params(i)["prompt"] == "the client's"
    ]
    ours = [i for i in fake.created_ids() if fake.create_params(i)["prompt"] == "soravideo's"]
    assert len(client_jobs) == 2 and job.id == client_jobs[-1]
    assert len(ours) == 1


def wait_until_done(
    client: OpenRouter, job_id: str, fake: FakeOpenRouter
) -> components.VideoGenerationResponse:
    """Poll with the official client until the job ends, moving the fake's clock between polls."""
    for _ in range(1_000):
        job = client.video_generation.get_generation(job_id=job_id)
        if job.status in TERMINAL:
            return job
        fake.advance(0.05)
    return job


def test_the_official_sync_client_completes_jobs_on_loopback() -> None:
    fake = FakeOpenRouter(api_key=KEY, generation_time=0.2, clock=ManualClock())
    with (
        fake.serve() as base,
        OpenRouter(api_key=KEY, server_url=base, retry_config=NO_RETRY) as client,
    ):
        job = client.video_generation.generate(model="alibaba/wan-2.6", prompt="a fox", duration=5)
        done = wait_until_done(client, job.id, fake)
        content = client.video_generation.get_video_content(job_id=job.id)
        try:
            data = content.read()
        finally:
            content.close()
    assert done.status == "completed" and done.usage is not None
    assert done.usage.cost == pytest.approx(0.2)
    assert done.unsigned_urls == [f"{base}/videos/{job.id}/content?index=0"]
    assert data[4:8] == b"ftyp"
    assert [r.headers["user-agent"].split(" ")[0] for r in fake.requests][:1] == [
        "speakeasy-sdk/python"
    ]


async def until_ended(client: OpenRouter, job_id: str) -> components.VideoGenerationResponse:
    """Poll with the official async client (real time) until the job ends."""
    with anyio.fail_after(30):
        for _ in range(10_000):
            job = await client.video_generation.get_generation_async(job_id=job_id)
            if job.status in TERMINAL:
                return job
            await anyio.sleep(0.05)
    raise AssertionError(f"job {job_id} never ended")


@pytest.mark.anyio
async def test_the_official_async_client_completes_jobs_on_loopback() -> None:
    fake = FakeOpenRouter(api_key=KEY, generation_time=0.2)
    with fake.serve() as base:
        async with OpenRouter(api_key=KEY, server_url=base, retry_config=NO_RETRY) as client:
            videos = client.video_generation
            jobs = [
                await videos.generate_async(model="google/veo-3.1", prompt=p, duration=4)
                for p in ("a fox", f"a fox, {fake.failing_prompt}")
            ]
            ended = [await until_ended(client, job.id) for job in jobs]
    assert [j.status for j in ended] == ["completed", "failed"]
    assert ended[1].error == fake.failure_message and ended[1].usage is None


@pytest.mark.anyio
async def test_a_job_cancelled_through_soravideo_runs_on_at_the_fake() -> None:
    fake = FakeOpenRouter(api_key=KEY, generation_time=0.5)
    repository = MemoryRepository()
    with fake.serve() as base:
        transport = OpenRouterTransport(base_url=base, api_key=KEY, min_poll_interval=0.05)
        async with sv.AsyncSoraVideo(
            transport=transport,
            repository=repository,
            poll_min_interval=0.05,
            poll_max_interval=0.1,
        ) as soravideo:
            submitted = anyio.Event()
            soravideo.events.on("submitted", lambda _job: submitted.set())
            job = await soravideo.videos.create_video(
                sv.CreateVideoRequest(prompt="a fox", duration=4)
            )
            with anyio.fail_after(10):
                await submitted.wait()
            cancelled = await soravideo.videos.cancel_job(job.id)
            assert cancelled.status is sv.JobStatus.CANCELLED
            assert cancelled.remote_id is not None
        async with OpenRouter(api_key=KEY, server_url=base, retry_config=NO_RETRY) as client:
            seen = await until_ended(client, cancelled.remote_id)
        stored = await repository.get_job(job.id)
        await check_ledger_exactly_once(fake, repository)
    # The ledger says cancelled; OpenRouter (the fake) made the video and billed it.
    assert (stored.status, stored.cost_usd) == (sv.JobStatus.CANCELLED, None)
    assert seen.status == "completed" and seen.usage is not None and seen.usage.cost == 2.0
    assert fake.cancelled_ids() == []
    assert {(r.method, r.route) for r in fake.requests} <= {("POST", "create"), ("GET", "retrieve")}


def test_the_model_table_uses_the_packages_words() -> None:
    def literals(annotation: Any) -> set[str]:
        return {
            a for arg in te.get_args(annotation) for a in te.get_args(arg) if isinstance(a, str)
        }

    resolutions = literals(components.VideoGenerationRequestResolution)
    ratios = literals(components.VideoGenerationRequestAspectRatio)
    frames = literals(components.FrameType)
    for name, spec in OPENROUTER_MODELS.items():
        parse_exactly(components.VideoModel, spec.listing())
        assert set(spec.resolutions or ()) <= resolutions, name
        assert set(spec.aspect_ratios or ()) <= ratios, name
        assert set(spec.frame_images or ()) <= frames, name
