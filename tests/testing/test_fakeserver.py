"""The provider-agnostic fake machinery: routing, the request log, faults, and both ways of serving."""

from __future__ import annotations

import ssl
import threading
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
import trustme

from helpers import tls
from soravideo._core.clock import SystemClock
from soravideo.testing import FakeProvider, FakeSora, Fault, ManualClock
from soravideo.testing._fakeserver import FakeRequest, FakeResponse, FakeServer, Router

BASE = "http://fake.test/v1"
PROMPT = {"prompt": "a red fox"}


@pytest.fixture
def fake() -> FakeSora:
    return FakeSora(clock=ManualClock(start=1_800_000_000.0))


@pytest.fixture
async def client(fake: FakeSora) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        yield client


# -- routing ---------------------------------------------------------------------------


def test_the_router_matches_templates_and_tells_404_from_405() -> None:
    router = Router()

    def show(request: FakeRequest, item_id: str) -> FakeResponse:
        return FakeResponse(status=200, body=item_id.encode())

    router.add("GET", "/items/{item_id}", show, name="show")

    found = router.resolve("GET", "/items/a%20b")
    assert isinstance(found, tuple)
    assert found[0].name == "show"
    assert found[1] == {"item_id": "a b"}
    assert router.resolve("DELETE", "/items/x") is True  # the path exists: 405
    assert router.resolve("GET", "/items/x/y") is False  # no such path: 404


@pytest.mark.anyio
async def test_paths_outside_the_prefix_and_wrong_methods_get_errors(
    client: httpx.AsyncClient,
) -> None:
    outside = await client.get("http://fake.test/videos")
    wrong = await client.patch("/videos")

    assert outside.status_code == 404
    assert outside.json()["error"]["message"] == "Invalid URL (GET /videos)"
    assert wrong.status_code == 405


# -- the request log ------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_log_records_every_request_and_count_filters_it(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    created = (await client.post("/videos", json=PROMPT)).json()
    await client.get(f"/videos/{created['id']}")
    await client.get("/videos/missing")
    fake.advance(2)
    await client.get("/videos", params={"limit": "5"})

    log = fake.requests
    assert [r.seq for r in log] == [0, 1, 2, 3]
    assert [r.route for r in log] == ["create", "retrieve", "retrieve", "list"]
    assert [r.status for r in log] == [200, 200, 404, 200]
    assert log[0].json() == PROMPT
    assert log[0].tag == "created"
    assert log[3].query == {"limit": "5"}
    assert log[3].time == log[0].time + 2
    assert fake.count() == 4
    assert fake.count("GET") == 3
    assert fake.count("GET", "/videos/*") == 2
    assert fake.count(status=404) == 1
    assert fake.count(route="retrieve", status=200) == 1
    ids = {r.response_headers["x-request-id"] for r in log}
    assert len(ids) == 4
    fake.clear_requests()
    assert fake.requests == []


@pytest.mark.anyio
async def test_the_log_never_holds_the_api_key() -> None:
    key = "sk-do-not-log-me-0123456789"
    fake = FakeSora(api_key=key)
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        await client.get("/videos", headers={"Authorization": f"Bearer {key}"})
        await client.get("/videos", headers={"api-key": key})
        await client.get("/videos", headers={"Authorization": "Bearer sk-wrong-key-987654"})

    dumped = repr(fake) + repr(fake.requests) + str([dict(r.headers) for r in fake.requests])
    assert key not in dumped
    assert "sk-wrong-key-987654" not in dumped
    assert fake.requests[0].headers["authorization"] == "Bearer <redacted>"
    assert fake.requests[1].headers["api-key"] == "<redacted>"
    assert [r.status for r in fake.requests] == [200, 200, 401]


# -- faults ----------------------------------------------------------------------------


def test_a_fault_is_one_coherent_thing() -> None:
    with pytest.raises(ValueError, match="one of"):
        Fault(status=500, reset=True)
    with pytest.raises(ValueError, match="needs"):
        Fault()
    with pytest.raises(ValueError, match="refused"):
        Fault(refuse=True, phase="after")
    with pytest.raises(ValueError, match="probability"):
        Fault(status=500, rate=1.5)
    assert Fault(delay=1).kind == "delay"


@pytest.mark.anyio
async def test_a_scripted_fault_fires_its_times_then_stops(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    fault = fake.inject(
        status=429, retry_after=2, retry_after_ms=1500, times=3, match="GET /videos"
    )

    answers = [await client.get("/videos") for _ in range(4)]
    other = await client.post("/videos", json=PROMPT)

    assert [a.status_code for a in answers] == [429, 429, 429, 200]
    assert answers[0].headers["retry-after"] == "2"
    assert answers[0].headers["retry-after-ms"] == "1500"
    assert answers[0].json()["error"]["type"] == "rate_limit_error"
    assert other.status_code == 200
    assert fault.fired == 3
    assert fault.exhausted
    assert fake.faults.pending() == []
    assert [r.fault for r in fake.requests] == ["status"] * 3 + [None, None]
    assert fake.rate_limited_count() == 3


@pytest.mark.anyio
async def test_faults_match_by_method_and_glob_or_by_predicate(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    fake.inject(status=503, match="/videos/*/content", times=None)
    fake.inject(status=502, match=lambda r: r.method == "DELETE")

    content = await client.get("/videos/v1/content")
    retrieve = await client.get("/videos/v1")
    delete = await client.delete("/videos/v1")

    assert (content.status_code, retrieve.status_code, delete.status_code) == (503, 404, 502)
    assert content.json()["error"]["type"] == "server_error"


@pytest.mark.anyio
async def test_a_default_inject_fires_once() -> None:
    fake = FakeSora()
    fake.inject(status=500)
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        codes = [(await client.get("/videos")).status_code for _ in range(2)]

    assert codes == [500, 200]


async def _rate_pattern(seed: int) -> list[int]:
    fake = FakeSora(seed=seed)
    fault = fake.inject(status=500, rate=0.3)
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        codes = [(await client.get("/videos")).status_code for _ in range(100)]
    assert fault.times is None  # a rate fault is unlimited unless told
    return codes


@pytest.mark.anyio
async def test_rate_faults_are_seeded() -> None:
    first = await _rate_pattern(7)
    again = await _rate_pattern(7)
    other = await _rate_pattern(8)

    assert first == again
    assert first != other
    assert 10 < first.count(500) < 50


@pytest.mark.anyio
async def test_a_reset_before_the_request_takes_effect_creates_nothing(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    fake.inject(reset=True, match="POST /videos")

    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/videos", json=PROMPT)

    assert fake.created_count() == 0
    record = fake.requests[0]
    assert (record.status, record.fault, record.tag) == (None, "reset", None)


@pytest.mark.anyio
async def test_a_reset_after_the_request_takes_effect_is_the_ambiguous_case(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    fake.reset_next_create()

    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/videos", json=PROMPT)
    listed = (await client.get("/videos")).json()

    assert fake.created_count() == 1
    assert fake.requests[0].tag == "created"
    assert len(listed["data"]) == 1


@pytest.mark.anyio
async def test_an_error_status_after_the_request_takes_effect_still_creates(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    fake.inject(status=502, phase="after", match="POST /videos")

    answer = await client.post("/videos", json=PROMPT)

    assert answer.status_code == 502
    assert fake.created_count() == 1
    assert fake.requests[0].tag == "created"


@pytest.mark.anyio
async def test_a_refused_connection_never_reaches_the_fake(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    fake.inject(refuse=True)

    with pytest.raises(httpx.ConnectError):
        await client.post("/videos", json=PROMPT)

    assert fake.created_count() == 0
    assert fake.requests[0].fault == "refuse"


@pytest.mark.anyio
async def test_a_slow_response_waits_on_the_fakes_clock(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    fake.inject(delay=3, match="GET /videos")  # shorter than httpx's 5 s read timeout
    answers: list[int] = []

    async def call() -> None:
        answers.append((await client.get("/videos")).status_code)

    async with anyio.create_task_group() as group:
        group.start_soon(call)
        await anyio.wait_all_tasks_blocked()
        fake.advance(2)
        await anyio.wait_all_tasks_blocked()
        assert answers == []
        fake.advance(1)

    assert answers == [200]
    assert fake.requests[0].fault == "delay"


@pytest.mark.anyio
async def test_a_response_slower_than_the_read_timeout_times_out_after_taking_effect(
    fake: FakeSora,
) -> None:
    fake.inject(delay=120, phase="after", match="POST /videos")
    errors: list[BaseException] = []

    async def call(client: httpx.AsyncClient) -> None:
        try:
            await client.post("/videos", json=PROMPT)
        except httpx.ReadTimeout as exc:
            errors.append(exc)

    async with (
        httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE, timeout=10) as client,
        anyio.create_task_group() as group,
    ):
        group.start_soon(call, client)
        await anyio.wait_all_tasks_blocked()
        fake.advance(10)

    assert len(errors) == 1
    assert fake.created_count() == 1  # it happened: the client cannot know
    assert fake.requests[0].status is None


def test_the_sync_transport_serves_and_fails_like_the_async_one() -> None:
    fake = FakeSora()
    fake.inject(reset=True, match="GET /videos")
    with httpx.Client(transport=fake.sync_http_transport(), base_url=BASE) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/videos")
        created = client.post("/videos", json=PROMPT).json()
        with client.stream("GET", f"/videos/{created['id']}") as streamed:
            streamed.read()

    assert created["status"] == "queued"
    assert streamed.json()["id"] == created["id"]


# -- clocks ------------------------------------------------------------------------------


def test_in_process_use_picks_a_manual_clock_and_serving_picks_real_time() -> None:
    in_process = FakeSora()
    in_process.http_transport()
    served = FakeSora()
    given = ManualClock(start=5.0)
    with served.serve():
        pass
    with FakeSora(clock=given).serve():
        pass

    assert isinstance(in_process.clock, ManualClock)
    assert isinstance(served.clock, SystemClock)
    assert FakeSora(clock=given).clock is given
    with pytest.raises(TypeError, match="cannot be advanced"):
        served.advance(1)
    with pytest.raises(TypeError, match="cannot be advanced"):
        served.advance_until_done()


def test_fakesora_is_a_fake_provider() -> None:
    assert isinstance(FakeSora(), FakeProvider)


# -- the loopback server -----------------------------------------------------------------


def test_the_served_fake_resets_connections_for_real() -> None:
    fake = FakeSora()
    fake.inject(reset=True, phase="after", match="POST /videos")
    with fake.serve() as base_url, httpx.Client(base_url=base_url, verify=tls()) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post("/videos", json=PROMPT)
        after = client.get("/videos")

    assert after.status_code == 200
    assert len(after.json()["data"]) == 1
    assert fake.created_count() == 1


def test_a_served_answer_still_delayed_ends_when_serving_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Delayed far past the test: leaving serve() ends the wait, so the request is logged
    # unanswered (status None) and no connection outlives the server.
    fake = FakeSora()
    fake.inject(delay=3600, phase="after", match="POST /videos")
    with (
        fake.serve() as base_url,
        httpx.Client(base_url=base_url, timeout=0.2, verify=tls()) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post("/videos", json=PROMPT)

    [logged] = fake.requests
    assert (logged.method, logged.path, logged.status, logged.fault) == (
        "POST",
        "/videos",
        None,
        "delay",
    )
    assert fake.created_count() == 1  # the delay came after the create took effect
    assert not [r for r in caplog.records if "still open" in r.getMessage()]


def test_the_served_fake_handles_concurrent_clients_consistently() -> None:
    fake = FakeSora()
    ids: list[str] = []
    lock = threading.Lock()
    with fake.serve() as base_url:

        def worker() -> None:
            with httpx.Client(base_url=base_url, verify=tls()) as client:
                for _ in range(5):
                    video = client.post("/videos", json=PROMPT).json()
                    with lock:
                        ids.append(video["id"])

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(set(ids)) == 30
    assert fake.created_count() == 30
    assert fake.count("POST", "/videos", status=200) == 30


def test_the_served_fake_reads_chunked_bodies_and_streams_content() -> None:
    fake = FakeSora(generation_time=0.0, content_bytes=100_000)

    def body() -> object:
        yield b'{"prompt": '
        yield b'"chunked"}'

    with fake.serve() as base_url, httpx.Client(base_url=base_url, verify=tls()) as client:
        created = client.post(
            "/videos", content=body(), headers={"content-type": "application/json"}
        )
        assert created.request.headers["transfer-encoding"] == "chunked"
        with client.stream("GET", f"/videos/{created.json()['id']}/content") as download:
            data = download.read()
        outside = client.get(base_url.removesuffix("/v1") + "/videos")

    assert created.json()["prompt"] == "chunked"
    assert int(download.headers["content-length"]) == len(data) > 100_000
    assert data[4:8] == b"ftyp"
    assert outside.status_code == 404


def test_a_bare_fake_server_answers_404_in_its_generic_shape() -> None:
    server = FakeServer(prefix="")
    with httpx.Client(transport=server.sync_http_transport(), base_url="http://x") as client:
        answer = client.get("/anything")

    assert answer.status_code == 404
    assert answer.json() == {"error": {"message": "Invalid URL (GET /anything)", "code": None}}
    assert answer.headers["x-request-id"].startswith("req_")


# -- paths of any depth, the scheme, TLS --------------------------------------------------


def test_a_star_template_matches_one_or_more_segments() -> None:
    router = Router()

    def take(request: FakeRequest, model: str) -> FakeResponse:
        return FakeResponse(status=200, body=model.encode())

    router.add("GET", "/{owner}/{alias}/requests/{request_id}", take, name="result")
    router.add("POST", "/{model*}", take, name="submit")

    deep = router.resolve("POST", "/fal-ai/veo3.1/fast/image-to-video")
    one = router.resolve("POST", "/app")
    result = router.resolve("GET", "/fal-ai/veo3.1/requests/r1")
    assert isinstance(deep, tuple) and deep[1] == {"model": "fal-ai/veo3.1/fast/image-to-video"}
    assert isinstance(one, tuple) and one[1] == {"model": "app"}
    assert isinstance(result, tuple) and result[0].name == "result"
    assert router.resolve("POST", "/") is False
    assert router.resolve("POST", "/a//b") is False


class _Echo(FakeServer):
    """Answers every request with the scheme it came over."""

    def __init__(self) -> None:
        super().__init__(prefix="")
        self.router.add("GET", "/{path*}", self._echo, name="echo")

    def _echo(self, request: FakeRequest, path: str) -> FakeResponse:
        return FakeResponse.json(200, {"scheme": request.scheme, "path": path})


@pytest.mark.anyio
async def test_an_in_process_request_knows_its_scheme() -> None:
    echo = _Echo()
    async with httpx.AsyncClient(transport=echo.http_transport()) as client:
        plain = await client.get("http://fake.test/a/b")
        secure = await client.get("https://fake.test/a")
    assert plain.json() == {"scheme": "http", "path": "a/b"}
    assert secure.json()["scheme"] == "https"


class _Answer(FakeServer):
    """Answers with the query it read and the headers and body it is told to send."""

    def __init__(self, headers: dict[str, str], body: bytes) -> None:
        super().__init__(prefix="")
        self.request_id_header = None
        self.router.add("GET", "/{path*}", self._answer, name="answer")
        self._headers, self._body = headers, body
        self.queries: list[object] = []

    def _answer(self, request: FakeRequest, path: str) -> FakeResponse:
        self.queries.append(request.query)
        return FakeResponse(status=200, headers=self._headers, body=self._body)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"content-type": "application/json"}, b'{"a": 1}'),
        ({"content-type": "text/plain"}, b""),
        ({"Content-Length": "3", "x-a": "b"}, b"abc"),
        ({"content-length": "not a number"}, b"abc"),
        ({"x-bytes": "caf\xe9"}, b"abc"),
    ],
)
@pytest.mark.parametrize(
    "query", ["", "?", "?a=1&b=&a=2", "?x=%C3%A9%20y&flag", "?%zz=1;2&c=%FF", "?a=1+2&a"]
)
def test_the_in_process_transport_reads_and_answers_as_httpx_would(
    headers: dict[str, str], body: bytes, query: str
) -> None:
    """The request as ``url.params`` parses it; the answer's headers as ``content=`` makes them."""
    fake = _Answer(headers, body)
    url = f"http://fake.test/p{query}"
    with httpx.Client(transport=fake.sync_http_transport()) as client:
        answer = client.get(url)
    expected = httpx.Response(
        200,
        headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        content=body,
    )
    assert fake.queries == [dict(httpx.URL(url).params.multi_items())]
    assert answer.headers.raw == expected.headers.raw
    assert answer.headers.encoding == expected.headers.encoding
    assert answer.content == body


def test_the_fake_serves_https_with_a_given_context(
    tls_server_context: ssl.SSLContext, tls_ca: trustme.CA
) -> None:
    echo = _Echo()
    with echo.serve(ssl_context=tls_server_context) as base_url:
        assert base_url.startswith("https://127.0.0.1:")
        client_context = ssl.create_default_context()
        tls_ca.configure_trust(client_context)
        with httpx.Client(base_url=base_url, verify=client_context) as client:
            answers = [client.get("/x").json() for _ in range(2)]
        with httpx.Client(base_url=base_url) as untrusting, pytest.raises(httpx.ConnectError):
            untrusting.get("/x")  # the throwaway CA is trusted by no one else
    assert answers == [{"scheme": "https", "path": "x"}] * 2
    assert echo.count(route="echo") == 2
