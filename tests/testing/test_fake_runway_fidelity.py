"""FakeRunway against the official ``runwayml`` package: its types, its client, its model table.

The package is a dev dependency used only here: every payload FakeRunway sends must parse
with the package's own pydantic models, with no key those models do not know; the
official client must work against the fake unchanged; and the model table the transport
and the fake share must agree with the package's request types.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pydantic
import pytest
import runwayml
import typing_extensions as te
from runwayml.types import (
    image_to_video_create_params,
    task_retrieve_response,
    text_to_video_create_params,
)
from runwayml.types.image_to_video_create_response import ImageToVideoCreateResponse
from runwayml.types.organization_retrieve_response import OrganizationRetrieveResponse
from runwayml.types.text_to_video_create_response import TextToVideoCreateResponse

from soravideo.testing import FakeRunway, ManualClock
from soravideo.transports.runway import RUNWAY_MODELS

BASE = "http://fake-runway.test"
KEY = "key_fidelity_0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {KEY}", "X-Runway-Version": "2024-11-06"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
TASK = pydantic.TypeAdapter(task_retrieve_response.TaskRetrieveResponse)


def aliases(model: type[pydantic.BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def parse_exactly(model: type[pydantic.BaseModel], payload: dict[str, Any]) -> None:
    """Validate ``payload`` with ``model`` and every nested model; refuse unknown keys."""
    assert set(payload) <= aliases(model), set(payload) - aliases(model)
    model.model_validate(payload)
    for name, field in model.model_fields.items():
        value = payload.get(field.alias or name)
        inner = field.annotation
        if (
            isinstance(value, dict)
            and isinstance(inner, type)
            and issubclass(inner, pydantic.BaseModel)
        ):
            parse_exactly(inner, value)


@pytest.fixture
def fake() -> FakeRunway:
    return FakeRunway(
        api_key=KEY,
        clock=ManualClock(start=1_800_000_000.0),
        generation_time=60.0,
        queue_time=5.0,
        max_concurrent=1,
    )


@pytest.fixture
async def http(fake: FakeRunway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=fake.http_transport(), base_url=BASE, headers=HEADERS
    ) as client:
        yield client


async def create(http: httpx.AsyncClient, endpoint: str, **body: Any) -> dict[str, Any]:
    response = await http.post(f"/v1/{endpoint}", json=body)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    return payload


@pytest.mark.anyio
async def test_every_payload_parses_with_the_packages_own_models(
    fake: FakeRunway, http: httpx.AsyncClient
) -> None:
    text = {"model": "gen4.5", "promptText": "a fox", "ratio": "1280:720", "duration": 5}
    first = await create(http, "text_to_video", **text)
    second = await create(http, "text_to_video", **text)
    # Another model, so it has a slot of its own and fails at once.
    moderated = await create(
        http,
        "text_to_video",
        **{**text, "model": "veo3.1_fast", "duration": 4, "promptText": fake.failing_prompt},
    )
    image = await create(
        http,
        "image_to_video",
        model="veo3.1",
        promptImage="data:image/png;base64," + base64.b64encode(PNG).decode(),
        ratio="720:1280",
    )
    parse_exactly(TextToVideoCreateResponse, first)
    parse_exactly(ImageToVideoCreateResponse, image)

    seen: dict[str, dict[str, Any]] = {}

    async def read(task_id: str) -> None:
        payload = (await http.get(f"/v1/tasks/{task_id}")).json()
        seen[payload["status"]] = payload

    await read(first["id"])  # PENDING: its slot is free, queue_time not over
    await read(second["id"])  # THROTTLED: gen4.5 has one slot
    fake.advance(20)
    await read(first["id"])  # RUNNING
    fake.advance(60)
    await read(first["id"])  # SUCCEEDED
    await read(moderated["id"])  # FAILED
    await http.delete(f"/v1/tasks/{image['id']}")  # cancelled while running
    fake.cancelled_visible = True
    await http.delete(f"/v1/tasks/{second['id']}")
    await read(second["id"])  # CANCELLED

    classes = {
        "PENDING": task_retrieve_response.Pending,
        "THROTTLED": task_retrieve_response.Throttled,
        "RUNNING": task_retrieve_response.Running,
        "SUCCEEDED": task_retrieve_response.Succeeded,
        "FAILED": task_retrieve_response.Failed,
        "CANCELLED": task_retrieve_response.Cancelled,
    }
    assert set(seen) == set(classes)
    for status, payload in seen.items():
        assert isinstance(TASK.validate_python(payload), classes[status])
        parse_exactly(classes[status], payload)

    organization = (await http.get("/v1/organization")).json()
    parse_exactly(OrganizationRetrieveResponse, organization)
    parsed = OrganizationRetrieveResponse.model_validate(organization)
    assert parsed.tier.models["gen4.5"].max_concurrent_generations == 1
    # The success (60) and the two tasks cancelled while running (veo3.1 8 s with audio: 320;
    # gen4.5 5 s: 60) are charged; the moderated task is refunded.
    assert parsed.credit_balance == 1_000_000 - 60 - 320 - 60


@pytest.mark.anyio
async def test_the_official_client_works_against_the_fake(fake: FakeRunway) -> None:
    async with httpx.AsyncClient(transport=fake.http_transport()) as http_client:
        client = runwayml.AsyncRunwayML(
            api_key=KEY, base_url=BASE, http_client=http_client, max_retries=0
        )
        task = await client.text_to_video.create(
            model="veo3.1_fast", prompt_text="a fox", ratio="1920:1080", duration=4
        )
        framed = await client.image_to_video.create(
            model="gen4.5",
            prompt_image="https://assets.example.com/frame.png",
            prompt_text="a fox",
            ratio="960:960",
            duration=3,
        )
        fake.advance_until_done()
        done = await client.tasks.retrieve(task.id)
        await client.tasks.delete(framed.id)
        with pytest.raises(runwayml.NotFoundError):
            await client.tasks.retrieve(framed.id)
        with pytest.raises(runwayml.BadRequestError):
            await client.text_to_video.create(
                model="veo3.1", prompt_text="a fox", ratio="960:960", duration=4
            )
        organization = await client.organization.retrieve()

    assert isinstance(done, task_retrieve_response.Succeeded)
    assert done.output and done.output[0].startswith(f"{BASE}/_cdn/{task.id}/")
    assert fake.create_params(framed.id)["ratio"] == "960:960"
    assert organization.usage.models["veo3.1_fast"].daily_generations == 1
    created = [r for r in fake.requests if r.tag == "created"]
    assert all(r.headers["x-runway-version"] == "2024-11-06" for r in created)


def _request_types(module: Any) -> dict[str, Any]:
    union = next(v for k, v in vars(module).items() if k.endswith("CreateParams"))
    found = {}
    for params in te.get_args(union):
        hints = te.get_type_hints(params, include_extras=True)
        found[te.get_args(_unwrap(hints["model"]))[0]] = hints
    return found


def _unwrap(hint: Any) -> Any:
    while te.get_origin(hint) in (te.Required, te.NotRequired, te.Annotated):
        hint = te.get_args(hint)[0]
    return hint


@pytest.mark.parametrize(
    ("module", "with_image"),
    [(text_to_video_create_params, False), (image_to_video_create_params, True)],
)
def test_the_model_table_agrees_with_the_packages_request_types(
    module: Any, with_image: bool
) -> None:
    types = _request_types(module)
    for name, spec in RUNWAY_MODELS.items():
        ratios = spec.ratios(with_image=with_image)
        if not ratios:
            assert name not in types, f"{name} is offered by {module.__name__}"
            continue
        hints = types[name]
        assert set(te.get_args(_unwrap(hints["ratio"]))) == set(ratios), name
        assert (te.get_origin(hints["ratio"]) is te.Required) == spec.ratio_required, name
        assert (te.get_origin(hints["duration"]) is te.Required) == spec.duration_required, name
        prompt_required = te.get_origin(hints["prompt_text"]) is te.Required
        assert prompt_required == (not with_image or spec.prompt_required_with_image), name
        durations = [d for d in te.get_args(_unwrap(hints["duration"])) if isinstance(d, int)]
        if durations:
            assert tuple(durations) == spec.durations, name
        else:
            # A plain int (or "auto" | int): the range lives in the package's docstrings.
            duration = _unwrap(hints["duration"])
            assert int in (duration, *te.get_args(duration)), name
        if with_image:
            assert te.get_origin(hints["prompt_image"]) is te.Required, name
