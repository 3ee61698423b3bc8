"""Every request SoraTransport sends validates against the spec (seen through FakeSora's log)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soravideo import CreateVideoRequest
from soravideo.testing import FakeSora, RecordedRequest
from soravideo.transports.sora import SORA_MODELS, SoraTransport
from testing.sora_openapi import OpenApi, multipart_form

BASE = "http://fake-sora.test/v1"
KEY = "sk-requests-spec-0123456789"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def check_request(openapi: OpenApi, record: RecordedRequest) -> None:
    """Assert that one logged request is an operation of the spec with a valid body and query."""
    operation = openapi.operation(record.method, record.path)  # KeyError: not in the spec
    assert operation["operationId"]
    openapi.check_query(record.method, record.path, record.query)
    assert record.headers.get("authorization") == "Bearer <redacted>"
    if record.method != "POST":
        assert not record.body
        return
    assert record.headers.get("idempotency-key"), "every create carries an Idempotency-Key"
    media = record.headers["content-type"].split(";")[0].strip()
    body = (
        multipart_form(record.body, record.headers["content-type"])
        if media == "multipart/form-data"
        else json.loads(record.body)
    )
    openapi.check_request_body(record.method, record.path, media, body)


@pytest.fixture
def fake() -> FakeSora:
    return FakeSora(api_key=KEY, generation_time=30.0)


@pytest.fixture
async def transport(fake: FakeSora) -> AsyncIterator[SoraTransport]:
    async with (
        httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client,
        SoraTransport(base_url=BASE, api_key=KEY, http_client=client) as transport,
    ):
        yield transport


@pytest.mark.anyio
async def test_every_request_of_every_method_validates(
    openapi: OpenApi, fake: FakeSora, transport: SoraTransport
) -> None:
    plain = await transport.submit(CreateVideoRequest(prompt="a red fox"), idempotency_key="k1")
    await transport.submit(
        CreateVideoRequest(prompt="wide", model="sora-2-pro", duration=20, size="1920x1080"),
        idempotency_key="k2",
    )
    await transport.submit(
        CreateVideoRequest(prompt="from a url", input_reference="https://example.com/fox.png"),
        idempotency_key="k3",
    )
    uploaded = await transport.submit(
        CreateVideoRequest(prompt="from bytes", duration=8, resolution="720p", input_reference=PNG),
        idempotency_key="k4",
    )
    await transport.fetch(plain.remote_id)
    await transport.fetch_many([plain.remote_id, uploaded.remote_id])
    await transport.list_recent(limit=3)
    await transport.ping()
    fake.advance_until_done()
    for variant in ("video", "thumbnail", "spritesheet"):
        async with transport.open_content(plain.remote_id, variant) as stream:
            async for _ in stream.aiter_bytes():
                pass
    await transport.remix(plain.remote_id, "the same fox, at night", idempotency_key="k5")
    await transport.cancel(uploaded.remote_id)

    records = fake.requests
    for record in records:
        check_request(openapi, record)
    assert all(r.status == 200 for r in records), [(r.route, r.status) for r in records]
    assert {r.route for r in records} == {
        "create",
        "retrieve",
        "list",
        "content",
        "remix",
        "delete",
    }
    media = {r.headers["content-type"].split(";")[0] for r in records if r.method == "POST"}
    assert media == {"application/json", "multipart/form-data"}
    upload = fake.create_params(uploaded.remote_id)
    assert upload["input_reference"]["content_type"] == "image/png"
    assert (upload["seconds"], upload["size"]) == ("8", "1280x720")


@st.composite
def sora_requests(draw: st.DrawFn) -> CreateVideoRequest:
    model = draw(st.sampled_from(sorted(SORA_MODELS)))
    info = SORA_MODELS[model]
    assert info.durations is not None
    assert info.sizes is not None
    return CreateVideoRequest(
        prompt=draw(st.text(min_size=1, max_size=300).filter(str.strip)),
        # No model means the default model, sora-2.
        model=None if model == "sora-2" and draw(st.booleans()) else model,
        duration=draw(st.none() | st.sampled_from(info.durations)),
        size=draw(st.none() | st.sampled_from(info.sizes)),
        input_reference=draw(st.none() | st.just(PNG) | st.just("https://example.com/start.png")),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=sora_requests())
def test_any_valid_request_is_sent_as_the_spec_says(
    openapi: OpenApi, request: CreateVideoRequest
) -> None:
    async def send() -> list[RecordedRequest]:
        fake = FakeSora(api_key=KEY)
        async with (
            httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client,
            SoraTransport(base_url=BASE, api_key=KEY, http_client=client) as transport,
        ):
            assert transport.validate(request) == []
            await transport.submit(request, idempotency_key="key")
        return fake.requests

    records = anyio.run(send)

    assert len(records) == 1
    check_request(openapi, records[0])
    assert records[0].status == 200
