"""The REST API in-process (httpx's ASGI transport): routes, envelopes, status codes, API
keys, the rate limit, bad input, monitoring. The served subprocess: test_serve.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import soravideo as sv
from server_kit import KEY, OTHER_KEY, Serve
from soravideo.repositories import SQLiteRepository
from soravideo.server import create_app

pytestmark = pytest.mark.anyio

UNAUTHORIZED = {
    "success": False,
    "error": {
        "code": "unauthorized",
        "message": "a valid x-api-key header is required",
        "fields": [],
    },
}


def fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == "invalid_request"
    return [problem["field"] for problem in body["error"]["fields"]]


async def total(http: httpx.AsyncClient) -> int:
    listed = await http.get("/api/v1/videos")
    assert listed.status_code == 200
    count: int = listed.json()["pagination"]["total"]
    return count


async def test_create_batch_poll_result_and_list_with_the_engine_running(
    client: sv.AsyncSoraVideo, serve: Serve
) -> None:
    async with serve(worker=True) as http:
        made = await http.post(
            "/api/v1/videos",
            json={
                "prompt": "a red fox",
                "duration": 4,
                "aspectRatio": "16:9",
                "metadata": {"k_1": "v"},
            },
        )
        assert made.status_code == 201
        created = made.json()
        assert created["success"] is True
        assert created["data"]["status"] == "pending" and created["data"]["message"]
        job_id = created["data"]["jobId"]

        batch = await http.post(
            "/api/v1/videos/batch",
            json={"videos": [{"prompt": "a boat"}, {"prompt": "a kite"}], "name": "two"},
        )
        assert batch.status_code == 201
        data = batch.json()["data"]
        assert data["total"] == 2 and len(data["jobIds"]) == 2
        batch_id = data["batchId"]

        await client.videos.wait_for_job(job_id)
        await client.batches.process_batch(batch_id)

        job = (await http.get(f"/api/v1/videos/{job_id}")).json()
        assert job["success"] is True
        shown = job["data"]
        assert shown["status"] == "completed" and shown["progress"] == 100
        assert shown["request"]["aspectRatio"] == "16:9"
        assert shown["metadata"] == shown["request"]["metadata"] == {"k_1": "v"}
        assert "downloadDir" not in shown and "download_dir" not in shown
        assert {"remoteId", "createdAt", "completedAt", "estimatedCostUsd"} <= set(shown)

        result = await http.get(f"/api/v1/videos/{job_id}/result")
        assert result.status_code == 200
        assert result.json()["data"]["remoteId"] == shown["remoteId"]

        report = (await http.get(f"/api/v1/batches/{batch_id}")).json()["data"]
        assert report["batch"]["status"] == "completed"
        assert report["progress"]["completed"] == 2 and report["progress"]["percentage"] == 100
        assert sorted(j["id"] for j in report["jobs"]) == sorted(data["jobIds"])

        first = await http.get("/api/v1/videos", params={"limit": 2})
        assert first.status_code == 200
        page = first.json()
        assert page["success"] is True and len(page["data"]) == 2
        assert page["pagination"] == {
            "page": 1,
            "limit": 2,
            "total": 3,
            "pages": 2,
            "hasNext": True,
        }
        second = (await http.get("/api/v1/videos", params={"limit": 2, "page": 2})).json()
        assert second["pagination"]["hasNext"] is False
        ids = [j["id"] for j in page["data"] + second["data"]]
        assert sorted(ids) == sorted([job_id, *data["jobIds"]])
        only = (await http.get("/api/v1/videos", params={"batchId": batch_id})).json()
        assert only["pagination"]["total"] == 2
        done = (await http.get("/api/v1/videos", params={"status": "completed"})).json()
        assert done["pagination"]["total"] == 3
    assert client.fake is not None and client.fake.created_count() == 3


async def test_cancel_a_job_and_a_batch_and_no_result_before_completion(serve: Serve) -> None:
    async with serve() as http:  # no engine: jobs stay pending
        job_id = (await http.post("/api/v1/videos", json={"prompt": "a fox"})).json()["data"][
            "jobId"
        ]
        early = await http.get(f"/api/v1/videos/{job_id}/result")
        assert early.status_code == 400
        assert early.json()["error"]["code"] == "invalid_state"

        cancelled = await http.delete(f"/api/v1/videos/{job_id}")
        assert cancelled.status_code == 200
        assert cancelled.json() == {
            "success": True,
            "data": {"jobId": job_id, "status": "cancelled"},
        }
        again = await http.delete(f"/api/v1/videos/{job_id}")
        assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_state"

        created = await http.post("/api/v1/videos/batch", json={"videos": [{"prompt": "a"}] * 3})
        batch_id = created.json()["data"]["batchId"]
        summary = await http.post(f"/api/v1/batches/{batch_id}/cancel")
        assert summary.status_code == 200
        assert summary.json()["data"] == {
            "batchId": batch_id,
            "cancelled": 3,
            "alreadyFinished": 0,
            "total": 3,
        }
        report = (await http.get(f"/api/v1/batches/{batch_id}")).json()["data"]
        assert report["batch"]["status"] == "cancelled"
        assert {j["status"] for j in report["jobs"]} == {"cancelled"}


async def test_unknown_jobs_and_batches_are_404(serve: Serve) -> None:
    async with serve() as http:
        for method, path in [
            ("GET", "/api/v1/videos/job_doesnotexist"),
            ("GET", "/api/v1/videos/job_doesnotexist/result"),
            ("DELETE", "/api/v1/videos/job_doesnotexist"),
            ("GET", "/api/v1/batches/batch_doesnotexist"),
            ("POST", "/api/v1/batches/batch_doesnotexist/cancel"),
            ("GET", "/api/v1/no/such/route"),
        ]:
            response = await http.request(method, path)
            assert response.status_code == 404, (method, path)
            body = response.json()
            assert body["success"] is False and body["error"]["code"] == "not_found"
        wrong = await http.put("/api/v1/videos")
        assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


async def test_every_api_route_needs_a_key_and_gets_the_same_401_without(serve: Serve) -> None:
    async with serve() as http:
        job_id = (await http.post("/api/v1/videos", json={"prompt": "a fox"})).json()["data"][
            "jobId"
        ]
        routes = [
            ("POST", "/api/v1/videos", {"prompt": "a cat"}),
            ("POST", "/api/v1/videos/batch", {"videos": [{"prompt": "a cat"}]}),
            ("GET", f"/api/v1/videos/{job_id}", None),
            ("GET", f"/api/v1/videos/{job_id}/result", None),
            ("DELETE", f"/api/v1/videos/{job_id}", None),
            ("GET", "/api/v1/videos", None),
            ("GET", "/api/v1/batches/batch_x", None),
            ("POST", "/api/v1/batches/batch_x/cancel", None),
        ]
        for headers in ({"x-api-key": ""}, {"x-api-key": "wrong"}, {"x-api-key": KEY + "x"}):
            for method, path, body in routes:
                response = await http.request(method, path, json=body, headers=headers)
                assert response.status_code == 401, (method, path)
                assert response.json() == UNAUTHORIZED
                assert KEY not in response.text
        missing = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
        async with missing:
            assert (await missing.get("/api/v1/videos")).json() == UNAUTHORIZED
            for path in ("/health", "/ready", "/metrics", "/openapi.json", "/docs"):
                assert (await missing.get(path)).status_code == 200, path
        # The second key works too; nothing the refused requests asked for was done.
        other = await http.get(f"/api/v1/videos/{job_id}", headers={"x-api-key": OTHER_KEY})
        assert other.status_code == 200 and other.json()["data"]["status"] == "pending"
        assert await total(http) == 1


async def test_over_the_rate_limit_a_key_gets_429_with_retry_after(serve: Serve) -> None:
    async with serve(rate_limit="3/minute") as http:
        for _ in range(3):
            assert (await http.get("/api/v1/videos")).status_code == 200
        refused = await http.post("/api/v1/videos", json={"prompt": "a fox"})
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Per key: the other key has its own allowance; monitoring has none.
        other = await http.get("/api/v1/videos", headers={"x-api-key": OTHER_KEY})
        assert other.status_code == 200 and other.json()["pagination"]["total"] == 0
        for _ in range(5):
            assert (await http.get("/health")).status_code == 200


async def test_bad_input_is_a_400_naming_every_field_and_nothing_is_stored(
    client: sv.AsyncSoraVideo, serve: Serve
) -> None:
    async with serve() as http:
        one = await http.post(
            "/api/v1/videos",
            json={
                "prompt": "",
                "duration": -4,
                "aspectRatio": "7:3",
                "aspect_ratio": "16:9",
                "colour": "red",
                "priority": "soon",
                "metadata": {"a": 1},
            },
        )
        assert sorted(fields(one)) == sorted(
            ["prompt", "duration", "aspectRatio", "aspect_ratio", "colour", "priority", "metadata"]
        )
        hint = next(p for p in one.json()["error"]["fields"] if p["field"] == "aspect_ratio")
        assert "aspectRatio" in hint["message"]
        assert fields(await http.post("/api/v1/videos", json={"duration": 4})) == ["prompt"]
        assert fields(await http.post("/api/v1/videos", json=["a fox"])) == ["body"]
        assert fields(await http.post("/api/v1/videos", content=b"{not json")) == ["body"]
        assert fields(await http.post("/api/v1/videos", json={"prompt": 7})) == ["prompt"]
        # The server reads no file of its own disk on a caller's behalf.
        for reference in ("/etc/passwd", "file:///etc/passwd", "../secret.png", 3):
            bad = await http.post(
                "/api/v1/videos", json={"prompt": "a", "inputReference": reference}
            )
            assert fields(bad) == ["inputReference"]

        batch = await http.post(
            "/api/v1/videos/batch",
            json={
                "videos": [
                    {"prompt": "fine"},
                    {"duration": 8},
                    "a cat",
                    {"prompt": "x", "size": "big"},
                ],
                "concurrency": 0,
                "budgetUsd": -1,
            },
        )
        assert sorted(fields(batch)) == sorted(
            ["videos[1].prompt", "videos[2]", "videos[3].size", "concurrency", "budgetUsd"]
        )
        assert fields(await http.post("/api/v1/videos/batch", json={"videos": []})) == ["videos"]
        assert fields(await http.post("/api/v1/videos/batch", json={})) == ["videos"]

        for params, field in [
            ({"page": 0}, "page"),
            ({"limit": 1001}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"status": "done"}, "status"),
            ({"batchId": "no spaces allowed"}, "batchId"),
        ]:
            assert fields(await http.get("/api/v1/videos", params=params)) == [field], params
        assert await total(http) == 0
    assert client.fake is not None and client.fake.created_count() == 0


async def test_metrics_as_json_and_as_prometheus_text(serve: Serve) -> None:
    async with serve() as http:
        await http.post("/api/v1/videos", json={"prompt": "a fox"})
        as_json = await http.get("/metrics")
        assert as_json.status_code == 200
        assert as_json.headers["content-type"].startswith("application/json")
        assert as_json.json()["jobs"]["pending"] == 1
        scraped = await http.get(
            "/metrics", headers={"accept": "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"}
        )
        assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
        families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
        pending = [s for s in families["soravideo_jobs"].samples if s.labels["status"] == "pending"]
        assert pending[0].value == 1
        health = (await http.get("/health")).json()
        assert health["status"] == "ok" and health["version"] == sv.__version__
        ready = await http.get("/ready")
        assert ready.status_code == 200 and ready.json()["ready"] is True


async def test_ready_is_503_when_the_ledger_cannot_be_opened(tmp_path: Any) -> None:
    folder = tmp_path / "a-folder-not-a-file"
    folder.mkdir()
    broken = sv.AsyncSoraVideo.simulated(repository=SQLiteRepository(folder))
    app = create_app(broken, api_keys=[KEY], worker=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http:
            ready = await http.get("/ready")
            assert ready.status_code == 503
            checks = {c["name"]: c["status"] for c in ready.json()["checks"]}
            assert checks == {"repository": "unhealthy", "provider": "healthy"}
            assert (await http.get("/health")).status_code == 200
            listed = await http.get("/api/v1/videos", headers={"x-api-key": KEY})
            assert listed.status_code == 503
            assert listed.json()["error"]["code"] == "ledger_unavailable"
    finally:
        await broken.aclose()


async def test_an_unexpected_error_is_a_500_envelope_without_details(
    client: sv.AsyncSoraVideo, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(job_id: str) -> sv.Job:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(client.videos, "get_job", boom)
    async with serve() as http:
        response = await http.get("/api/v1/videos/job_abc")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret internals" not in response.text


async def test_create_app_refuses_no_keys_and_an_unreadable_rate_limit(
    client: sv.AsyncSoraVideo,
) -> None:
    for keys in ([], [""], "", None):
        with pytest.raises(sv.ValidationError) as raised:
            create_app(client, api_keys=keys)  # type: ignore[arg-type]
        assert raised.value.fields == ("api_keys",)
    for limit in ("100", "0/minute", "10/fortnight", "ten/minute"):
        with pytest.raises(sv.ValidationError) as raised:
            create_app(client, api_keys=[KEY], rate_limit=limit)
        assert raised.value.fields == ("rate_limit",)
    assert create_app(client, api_keys=KEY, rate_limit=" 5 / Hours ") is not None
