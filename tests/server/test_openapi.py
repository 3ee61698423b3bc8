"""The served OpenAPI document: it validates, it names every route of DESIGN.md §6, real
answers match its schemas, and schemathesis, generating requests from it, finds no 5xx."""

from __future__ import annotations

import functools
from typing import Any

import anyio
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from schemathesis.checks import not_a_server_error

import soravideo as sv
from server_kit import KEY
from soravideo.server import create_app
from soravideo.testing import check_ledger_exactly_once

ROUTES = {
    "/api/v1/videos": {"get", "post"},
    "/api/v1/videos/batch": {"post"},
    "/api/v1/videos/{jobId}": {"get", "delete"},
    "/api/v1/videos/{jobId}/result": {"get"},
    "/api/v1/batches/{batchId}": {"get"},
    "/api/v1/batches/{batchId}/cancel": {"post"},
    "/health": {"get"},
    "/ready": {"get"},
    "/metrics": {"get"},
}
URI = "urn:soravideo:test:server-openapi"


def _document(app: Any) -> dict[str, Any]:
    async def fetch() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/openapi.json")
            assert response.status_code == 200
            document: dict[str, Any] = response.json()
            return document

    return anyio.run(fetch)


def _response_validator(document: dict[str, Any], path: str, method: str, status: int) -> Any:
    registry: Registry[Any] = Registry().with_resource(
        URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    pointer = "/".join(p.replace("~", "~0").replace("/", "~1") for p in [path, method])
    ref = f"{URI}#/paths/{pointer}/responses/{status}/content/application~1json/schema"
    return OAS31Validator({"$ref": ref}, registry=registry)


def test_the_document_validates_and_real_answers_match_it() -> None:
    client = sv.AsyncSoraVideo.simulated()
    app = create_app(client, api_keys=[KEY], worker=False)
    document = _document(app)
    assert document["openapi"].startswith("3.1")
    paths = {path: set(item) for path, item in document["paths"].items()}
    assert {p: paths.get(p) for p in ROUTES} == ROUTES
    for name, schema in document["components"]["schemas"].items():
        OAS31Validator.check_schema(schema)
        assert all("_" not in key for key in schema.get("properties", {})), name
    assert document["components"]["securitySchemes"]["apiKey"]["name"] == "x-api-key"

    async def answers() -> list[tuple[str, str, int, Any]]:
        seen = []
        transport = httpx.ASGITransport(app=app)
        async with (
            app.lifespan(),
            httpx.AsyncClient(
                transport=transport, base_url="http://testserver", headers={"x-api-key": KEY}
            ) as http,
        ):
            made = await http.post("/api/v1/videos", json={"prompt": "a fox", "size": "1280x720"})
            seen.append(("/api/v1/videos", "post", made))
            job_id = made.json()["data"]["jobId"]
            batch = await http.post("/api/v1/videos/batch", json={"videos": [{"prompt": "a"}]})
            seen.append(("/api/v1/videos/batch", "post", batch))
            batch_id = batch.json()["data"]["batchId"]
            for path, template in [
                (f"/api/v1/videos/{job_id}", "/api/v1/videos/{jobId}"),
                ("/api/v1/videos", "/api/v1/videos"),
                (f"/api/v1/batches/{batch_id}", "/api/v1/batches/{batchId}"),
                (f"/api/v1/videos/{job_id}/result", "/api/v1/videos/{jobId}/result"),
                ("/api/v1/videos/job_missing", "/api/v1/videos/{jobId}"),
            ]:
                seen.append((template, "get", await http.get(path)))
            seen.append(("/api/v1/videos", "get", await http.get("/api/v1/videos?page=0")))
            seen.append(
                ("/api/v1/videos/{jobId}", "delete", await http.delete(f"/api/v1/videos/{job_id}"))
            )
            seen.append(
                (
                    "/api/v1/batches/{batchId}/cancel",
                    "post",
                    await http.post(f"/api/v1/batches/{batch_id}/cancel"),
                )
            )
        return [(path, method, r.status_code, r.json()) for path, method, r in seen]

    try:
        for path, method, status, body in anyio.run(answers):
            validator = _response_validator(document, path, method, status)
            errors = [e.message for e in validator.iter_errors(body)]
            assert not errors, (path, method, status, errors)
    finally:
        anyio.run(client.aclose)


@functools.cache
def _served() -> tuple[sv.AsyncSoraVideo, Any]:
    """The simulated client and the app schemathesis sends its requests to (one per process)."""
    client = sv.AsyncSoraVideo.simulated()
    return client, create_app(client, api_keys=[KEY], rate_limit="100000/minute", worker=False)


@pytest.fixture(scope="module")
def api_schema() -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", _served()[1])


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's lazy schema reads the test's ``node._nodeid`` (to name each
    # operation's subtest), which pytest 9 nodes no longer have.
    request.node._nodeid = request.node.nodeid


# The schema is read when the test runs, not at collection: every pytest-xdist worker
# collects this module, and building the app, reading its document and preparing a test
# per operation cost each of them about 1.5 s of CPU. Each operation is still a subtest of
# its own, drawn with the same settings (the same cases, derandomized).
schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_schemathesis_finds_no_server_error(case: Any) -> None:
    case.call_and_validate(headers={"x-api-key": KEY}, checks=[not_a_server_error])


def test_what_schemathesis_sent_left_the_ledger_consistent() -> None:
    # Nothing ran the engine on what schemathesis stored: nothing was sent either.
    client = _served()[0]

    async def check() -> None:
        assert client.fake is not None
        await check_ledger_exactly_once(client.fake, client.repository, settled=False)
        assert client.fake.created_count() == 0

    anyio.run(check)
