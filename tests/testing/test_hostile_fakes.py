"""The fakes' hostile mode: each kind answers as documented, in-process and on a socket,
and a stream the client abandons ends the fake's side of it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from helpers import tls
from soravideo.testing import (
    HOSTILE_IDS,
    HOSTILE_KINDS,
    FakeResponse,
    FakeRunway,
    FakeSora,
    Fault,
    ForeignServer,
    ManualClock,
)
from soravideo.transports.runway import API_VERSION

BASE = "http://fake.test/v1"
PROMPT = {"prompt": "a red fox"}


@pytest.fixture
def fake() -> FakeSora:
    return FakeSora(clock=ManualClock(start=1_800_000_000.0), generation_time=0.0)


@pytest.fixture
async def client(fake: FakeSora) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        yield client


@pytest.fixture
def served() -> Iterator[tuple[FakeSora, httpx.Client]]:
    fake = FakeSora(generation_time=0.0)
    with fake.serve() as base_url, httpx.Client(base_url=base_url, verify=tls()) as client:
        yield fake, client


async def _video(fake: FakeSora, client: httpx.AsyncClient) -> str:
    created = await client.post("/videos", json=PROMPT)
    assert created.status_code == 200
    return str(fake.created_ids()[-1])


# -- the API ------------------------------------------------------------------------------


def test_every_kind_is_listed_and_bad_options_are_refused(fake: FakeSora) -> None:
    assert "endless" in HOSTILE_KINDS and "redirect" in HOSTILE_KINDS
    assert ".." in HOSTILE_IDS and any("\r\n" in i for i in HOSTILE_IDS)
    with pytest.raises(ValueError, match="unknown hostile kind"):
        fake.hostile("nonsense")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="takes no option colour"):
        fake.hostile("bad_id", colour="red")
    with pytest.raises(ValueError, match="needs to"):
        fake.hostile("redirect")
    with pytest.raises(ValueError, match="acts after the request"):
        fake.hostile("truncated", phase="before")
    with pytest.raises(ValueError, match="one of status, reset, refuse or hostile"):
        Fault(status=500, hostile="html_body")
    assert len(fake.faults) == 0


def test_a_hostile_fault_fills_in_its_defaults_and_names_itself(fake: FakeSora) -> None:
    fault = fake.hostile("redirect", to="http://elsewhere.test/")

    assert (fault.phase, fault.times, fault.kind) == ("before", 1, "hostile:redirect")
    assert fault.options == {"to": "http://elsewhere.test/", "status": 302}
    assert fake.hostile("bad_id").options == {"id": ".."}
    assert fake.hostile("bad_id").phase == "after"
    assert Fault(hostile="headers", options={"headers": {}}).phase == "after"


# -- JSON answers -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_wrong_types_change_every_field_or_the_chosen_ones(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    video = await _video(fake, client)
    fake.hostile("wrong_types", match="GET /videos/*")
    fake.hostile("wrong_types", fields=["status", "nowhere"], match="GET /videos/*")

    everything = (await client.get(f"/videos/{video}")).json()
    status_only = (await client.get(f"/videos/{video}")).json()

    assert everything["id"] == [video]
    assert everything["status"] == 42 and everything["progress"] == "a lot"
    assert everything["error"] is True  # null became true
    assert status_only["status"] == 42 and status_only["id"] == video
    assert "nowhere" not in status_only
    assert [r.fault for r in fake.requests[-2:]] == ["hostile:wrong_types"] * 2


@pytest.mark.anyio
async def test_missing_fields_huge_numbers_and_chosen_values(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    video = await _video(fake, client)
    fake.hostile("missing_fields", match="GET /videos/*")
    fake.hostile("missing_fields", keep=(), match="GET /videos/*")
    fake.hostile("huge_numbers", match="GET /videos/*")
    fake.hostile("fields", values={"status": "teleported", "size": None}, match="GET /videos/*")

    assert (await client.get(f"/videos/{video}")).json() == {"id": video}
    assert (await client.get(f"/videos/{video}")).json() == {}
    huge = (await client.get(f"/videos/{video}")).json()
    assert huge["created_at"] == 10**400 and huge["progress"] == 10**400
    chosen = (await client.get(f"/videos/{video}")).json()
    assert (chosen["status"], chosen["size"], chosen["id"]) == ("teleported", None, video)


@pytest.mark.anyio
async def test_garbage_nests_as_deep_as_asked(fake: FakeSora, client: httpx.AsyncClient) -> None:
    video = await _video(fake, client)
    fake.hostile("nested_garbage", depth=3, fields=["status"], match="GET /videos/*")
    fake.hostile("nested_garbage", depth=100_000, match="GET /videos/*")

    shallow = (await client.get(f"/videos/{video}")).json()
    deep = await client.get(f"/videos/{video}")

    assert shallow["status"] == [{"g": [{"g": [{"g": "\x00\ud800"}]}]}]
    assert shallow["id"] == video
    with pytest.raises(RecursionError):
        json.loads(deep.content)


@pytest.mark.anyio
async def test_huge_numbers_reach_lists_and_floats_become_infinite(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    await _video(fake, client)
    fake.hostile("huge_numbers", match="GET /videos")
    fake.hostile("fields", values={"progress": 0.5}, match="GET /videos")

    listed = (await client.get("/videos")).json()
    chosen = (await client.get("/videos")).json()
    runway = FakeRunway(clock=ManualClock(start=1_800_000_000.0), generation_time=10.0)
    runway.hostile("huge_numbers", match="GET /v1/tasks/*")
    async with httpx.AsyncClient(
        transport=runway.http_transport(),
        base_url="http://runway.test",
        headers={"x-runway-version": API_VERSION},
    ) as runway_client:
        task = await _task(runway, runway_client)
        runway.advance(5)
        running = (await runway_client.get(f"/v1/tasks/{task}")).json()

    assert listed["object"] == "list"  # the envelope is kept: only resources change
    assert listed["data"][0]["created_at"] == 10**400
    assert chosen["data"][0]["progress"] == 0.5
    assert running["progress"] == float("inf")  # 1e999 on the wire
    assert running["estimatedCost"]["credits"] == float("inf")


@pytest.mark.anyio
async def test_bad_ids_reach_creates_and_lists(fake: FakeSora, client: httpx.AsyncClient) -> None:
    fake.hostile("bad_id", match="POST /videos")
    created = await client.post("/videos", json=PROMPT)
    fake.hostile("bad_id", id="a/b", match="GET /videos")
    listed = (await client.get("/videos")).json()

    assert created.json()["id"] == ".."
    assert fake.created_ids() == [".."]  # the provider named it so: it is its id now
    assert (await client.get("/videos/%2E%2E")).json()["id"] == ".."
    assert [item["id"] for item in listed["data"]] == ["a/b"]  # a read only says so
    assert listed["first_id"] == listed["last_id"] == "a/b"
    assert fake.created_ids() == [".."]
    assert not fake.rename_job("nothing", "x") and not fake.rename_job("..", "..")


@pytest.mark.anyio
async def test_json_changes_leave_other_answers_alone(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    video = await _video(fake, client)
    fake.hostile("wrong_types", match="GET /videos/*/content")

    content = await client.get(f"/videos/{video}/content")

    assert content.content == fake.content(video)


# -- bodies -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_error_pages_and_noise_come_with_a_200(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    video = await _video(fake, client)
    fake.hostile("html_body", match="GET /videos/*/content")
    fake.hostile("json_error_body", match="GET /videos/*/content")
    fake.hostile("not_video", match="GET /videos/*/content")

    html = await client.get(f"/videos/{video}/content")
    error = await client.get(f"/videos/{video}/content")
    noise = await client.get(f"/videos/{video}/content")

    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert b"Bad Gateway" in html.content
    assert error.status_code == 200 and error.json()["error"]["code"] == "internal_error"
    assert noise.headers["content-type"] == "video/mp4"
    assert len(noise.content) == len(fake.content(video))
    assert noise.content[4:8] != b"ftyp" and noise.content != fake.content(video)


@pytest.mark.anyio
async def test_an_html_body_before_a_create_makes_nothing(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    fake.hostile("html_body", phase="before", status=502, match="POST /videos")

    answer = await client.post("/videos", json=PROMPT)

    assert answer.status_code == 502 and fake.created_count() == 0


@pytest.mark.anyio
async def test_a_cut_body_is_noticed_only_when_its_framing_tells(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    video = await _video(fake, client)
    whole = fake.content(video)
    fake.hostile("truncated", match="GET /videos/*/content")
    fake.hostile("truncated", keep=100, content_length=False, match="GET /videos/*/content")
    fake.hostile("huge_length", match="GET /videos/*/content")

    with pytest.raises(httpx.RemoteProtocolError, match=f"expected {len(whole)}"):
        await client.get(f"/videos/{video}/content")
    short = await client.get(f"/videos/{video}/content")
    with pytest.raises(httpx.RemoteProtocolError, match="expected 1000000000000000"):
        await client.get(f"/videos/{video}/content")

    assert short.content == whole[:100] and "content-length" not in short.headers


def test_a_cut_body_on_a_socket(served: tuple[FakeSora, httpx.Client]) -> None:
    fake, client = served
    client.post("/videos", json=PROMPT)
    video = fake.created_ids()[0]
    whole = fake.content(video)
    fake.hostile("truncated", match="GET /videos/*/content")
    fake.hostile("truncated", content_length=False, match="GET /videos/*/content")
    fake.hostile("huge_length", length=2**62, match="GET /videos/*/content")

    with pytest.raises(httpx.RemoteProtocolError):
        client.get(f"/videos/{video}/content")
    short = client.get(f"/videos/{video}/content")
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(f"/videos/{video}/content")
    after = client.get(f"/videos/{video}/content")  # a new connection, a whole answer

    assert short.content == whole[: len(whole) // 2]
    assert after.content == whole


@pytest.mark.anyio
async def test_an_endless_body_in_process_stops_when_the_reader_does(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    video = await _video(fake, client)
    endless = fake.hostile("endless", match="GET /videos/*/content")

    read = 0
    async with client.stream("GET", f"/videos/{video}/content") as answer:
        assert "content-length" not in answer.headers
        async for chunk in answer.aiter_bytes():
            read += len(chunk)
            if read > 1_000_000:
                break

    assert endless.streams.wait_closed(timeout=10)
    assert endless.streams.open == 0 and endless.streams.opened == 1
    assert read <= endless.streams.sent_bytes < 2_000_000


@pytest.mark.anyio
async def test_an_endless_body_with_a_limit_is_cut_there(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    video = await _video(fake, client)
    whole = fake.content(video)
    fault = fake.hostile("endless", limit=300_000, chunk=1000, match="GET /videos/*/content")

    with pytest.raises(httpx.RemoteProtocolError):
        await client.get(f"/videos/{video}/content")

    assert fault.streams.sent_bytes == 300_000 and fault.streams.open == 0
    fake.hostile("endless", limit=10, match="GET /videos/*/content")
    assert await _read_cut(client, f"/videos/{video}/content") == whole[:10]
    fake.hostile("endless", limit=len(whole) + 5, match="GET /videos/*/content")
    # The real video first, then zeros.
    assert await _read_cut(client, f"/videos/{video}/content") == whole + bytes(5)


async def _read_cut(client: httpx.AsyncClient, path: str) -> bytes:
    """Read a body that must end cut short; return what arrived."""
    received = b""
    async with client.stream("GET", path) as answer:
        try:
            async for chunk in answer.aiter_bytes():
                received += chunk
        except httpx.RemoteProtocolError:
            return received
    raise AssertionError("the body was not cut short")


def test_an_endless_body_on_a_socket_ends_when_the_client_hangs_up(
    served: tuple[FakeSora, httpx.Client],
) -> None:
    fake, client = served
    client.post("/videos", json=PROMPT)
    video = fake.created_ids()[0]
    endless = fake.hostile("endless", match="GET /videos/*/content")

    read = 0
    with client.stream("GET", f"/videos/{video}/content") as answer:
        assert answer.headers["transfer-encoding"] == "chunked"
        for chunk in answer.iter_bytes():
            read += len(chunk)
            if read > 2_000_000:
                break

    assert endless.streams.wait_closed(timeout=30), "the fake is still sending"
    assert endless.streams.sent_bytes >= read
    # The fake still answers on a new connection.
    assert client.get(f"/videos/{video}").status_code == 200


def test_serving_ends_while_an_endless_body_is_still_sent() -> None:
    fake = FakeSora(generation_time=0.0)
    endless = fake.hostile("endless", match="GET /videos/*/content")
    with fake.serve() as base_url:
        client = httpx.Client(base_url=base_url)
        client.post("/videos", json=PROMPT)
        video = fake.created_ids()[0]
        answer = client.send(client.build_request("GET", f"/videos/{video}/content"), stream=True)
        next(answer.iter_bytes())  # reading nothing more: the fake blocks on a full socket
    # serve() shut the socket down: the fake's thread stopped sending.
    assert endless.streams.open == 0
    answer.close()
    client.close()


# -- redirects and headers -----------------------------------------------------------------


def test_a_redirect_to_a_foreign_origin_is_recorded_there_unredacted(
    served: tuple[FakeSora, httpx.Client],
) -> None:
    fake, client = served
    client.post("/videos", json=PROMPT)
    video = fake.created_ids()[0]
    foreign = ForeignServer(
        answer=lambda request: FakeResponse(status=200, body=request.full_path.encode())
    )
    with foreign.serve() as foreign_url:
        fake.hostile("redirect", to=f"{foreign_url}/collect?x=1", match="GET /videos/*/content")
        moved = client.get(f"/videos/{video}/content", headers={"api-key": "sk-leaked"})
        followed = httpx.get(moved.headers["location"], headers={"api-key": "sk-leaked"})

    assert moved.status_code == 302
    assert followed.text == "/collect"
    assert foreign.seen("sk-leaked") == ["header api-key"]
    assert foreign.received[0].headers["api-key"] == "sk-leaked"  # as received
    assert foreign.seen("nothing-like-it") == []
    assert foreign.created_count() == 0 and foreign.stray_requests() == foreign.requests
    with pytest.raises(ValueError):
        foreign.seen("")
    assert "received=1" in repr(foreign)


def test_foreign_servers_see_secrets_in_paths_queries_and_bodies() -> None:
    foreign = ForeignServer()
    with httpx.Client(transport=foreign.sync_http_transport(), base_url="http://x.test") as c:
        c.post("/sk-1/p", params={"key": "sk-1"}, content=b"body sk-1")

    assert foreign.seen("sk-1") == ["path", "query", "body"]


@pytest.mark.anyio
async def test_absurd_retry_after_and_headers(fake: FakeSora, client: httpx.AsyncClient) -> None:
    video = await _video(fake, client)
    fake.hostile("retry_after", value="nan", ms="-1", match="GET /videos/*")
    fake.hostile(
        "headers",
        headers={"x-request-id": "\xff\xfe", "openai-poll-after-ms": "1e308", "x-big": "A" * 1000},
        match="GET /videos/*",
    )

    limited = await client.get(f"/videos/{video}")
    odd = await client.get(f"/videos/{video}")

    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert (limited.headers["retry-after"], limited.headers["retry-after-ms"]) == ("nan", "-1")
    assert dict(odd.headers.raw)[b"x-request-id"] == b"\xff\xfe"  # not UTF-8 on the wire
    assert odd.headers["openai-poll-after-ms"] == "1e308" and len(odd.headers["x-big"]) == 1000


def test_headers_reach_a_socket_as_raw_bytes(served: tuple[FakeSora, httpx.Client]) -> None:
    fake, client = served
    fake.hostile("headers", headers={"x-request-id": "\xff", "x-wide": "\u2603"}, match="GET /*")
    fake.hostile("headers", headers={"x-request-id": "A" * 2**20}, match="GET /*")

    odd = client.get("/videos")
    with pytest.raises(httpx.RemoteProtocolError):  # past httpx's header size limit
        client.get("/videos")

    assert dict(odd.headers.raw)[b"x-request-id"] == b"\xff"
    assert dict(odd.headers.raw)[b"x-wide"] == "\u2603".encode()


# -- stray requests -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_stray_requests_are_those_outside_the_resources(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    video = await _video(fake, client)
    await client.get(f"/videos/{video}")
    await client.get("/videos")
    await client.get("http://fake.test/v1")
    await client.get("/videos/a%2Fb/content")
    await client.get("/videos/content")

    stray = fake.stray_requests()

    assert [(r.full_path, r.params) for r in stray] == [
        ("/v1", {}),
        ("/v1/videos/a%2Fb/content", {"video_id": "a/b"}),
        ("/v1/videos/content", {"video_id": "content"}),
    ]


# -- FakeRunway -----------------------------------------------------------------------------


@pytest.fixture
def runway() -> FakeRunway:
    return FakeRunway(clock=ManualClock(start=1_800_000_000.0), generation_time=0.0)


async def _task(runway: FakeRunway, client: httpx.AsyncClient) -> str:
    body = {"model": "gen4.5", "promptText": "a red fox", "ratio": "1280:720", "duration": 5}
    created = await client.post("/v1/text_to_video", json=body)
    assert created.status_code == 200, created.text
    return str(created.json()["id"])


@pytest.mark.anyio
async def test_runway_tasks_and_downloads_turn_hostile(runway: FakeRunway) -> None:
    headers = {"x-runway-version": API_VERSION}
    transport = runway.http_transport()
    async with httpx.AsyncClient(
        transport=transport, base_url="http://runway.test", headers=headers
    ) as client:
        task = await _task(runway, client)
        runway.advance(1)
        runway.hostile("bad_id", id="../organization", match="GET /v1/tasks/*")
        runway.hostile("fields", values={"output": ["file:///etc/passwd"]}, match="GET /v1/tasks/*")
        runway.hostile("endless", limit=200_000, match="GET /_cdn/*")

        renamed = (await client.get(f"/v1/tasks/{task}")).json()
        pointed = (await client.get(f"/v1/tasks/{task}")).json()
        url = (await client.get(f"/v1/tasks/{task}")).json()["output"][0]
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(url, headers={"x-runway-version": ""})

    assert renamed["id"] == "../organization" and renamed["status"] == "SUCCEEDED"
    assert pointed["output"] == ["file:///etc/passwd"]
    assert runway.content(task)[4:8] == b"ftyp"
    with pytest.raises(ValueError):
        runway.content(task, "thumbnail")
    assert runway.stray_requests() == []


def test_runway_served_answers_an_html_page_for_its_cdn() -> None:
    runway = FakeRunway(generation_time=0.0)
    runway.hostile("html_body", match="GET /_cdn/*", times=None)
    with runway.serve() as base_url:
        client = httpx.Client(base_url=base_url, headers={"x-runway-version": API_VERSION})
        body: dict[str, Any] = {
            "model": "gen4.5",
            "promptText": "a fox",
            "ratio": "1280:720",
            "duration": 5,
        }
        task = client.post("/v1/text_to_video", json=body).json()["id"]
        url = client.get(f"/v1/tasks/{task}").json()["output"][0]
        page = httpx.get(url)
        client.close()

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
