"""Exactly once at the transport edges: refused connections, absurd ``Retry-After``s and the
client's ``request_timeout``, on both built-in transports.

Each scenario runs on SoraTransport + FakeSora and on RunwayTransport + FakeRunway: in-process
on a VirtualClock where simulated time says it all, served on loopback (real time, short
waits) where only a real socket shows the fault (a port with nothing listening, a create
that hangs).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import anyio
import attrs
import certifi
import httpx
import pytest
import respx

import soravideo as sv
from helpers import request
from soravideo._core.clock import VirtualClock
from soravideo._engine.runner import idempotency_key
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeRunway, FakeSora
from soravideo.testing._simulated import simulated_parts
from soravideo.testing._simulated_runway import simulated_runway_parts
from soravideo.transports import RunwayTransport, SoraTransport

GENERATION = 60.0
# Real time, served: short generations and tight polling keep each scenario well under a second.
SERVED_GENERATION = 0.1
FAST = {"poll_min_interval": 0.05, "poll_max_interval": 0.2}
CREATE = {"sora": "POST /videos", "runway": "POST /v1/text_to_video"}
CREATE_PATH = {"sora": "/videos", "runway": "/v1/text_to_video"}
PREFIX = {"sora": "/v1", "runway": ""}
HUGE = {
    "seconds": {"retry-after": "1000000000"},
    "milliseconds": {"retry-after-ms": "1000000000000"},
    "date": {"retry-after": "Thu, 01 Jan 2037 00:00:00 GMT"},
}

Fake = FakeSora | FakeRunway
Transport = SoraTransport | RunwayTransport


def simulated(kind: str) -> tuple[Fake, Transport, VirtualClock]:
    clock = VirtualClock()
    if kind == "sora":
        sora, sora_transport = simulated_parts(clock, generation_time=GENERATION)
        return sora, sora_transport, clock
    runway, runway_transport = simulated_runway_parts(clock, generation_time=GENERATION)
    return runway, runway_transport, clock


def served_fake(kind: str) -> Fake:
    if kind == "sora":
        return FakeSora(generation_time=SERVED_GENERATION)
    return FakeRunway(generation_time=SERVED_GENERATION)


def served_transport(kind: str, base_url: str, **kwargs: Any) -> Transport:
    transport: Transport
    if kind == "sora":
        kwargs.setdefault("idempotent_creates", True)  # FakeSora deduplicates creates
        transport = SoraTransport(base_url=base_url, api_key="sk-edge", **kwargs)
    else:
        transport = RunwayTransport(base_url=base_url, api_key="key-edge", **kwargs)
    # Backoff between request retries scaled down for real time.
    transport.retry_policy = attrs.evolve(transport.retry_policy, base=0.01, cap=0.05)
    return transport


def creates(fake: Fake, kind: str) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path == CREATE_PATH[kind]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(params=["sora", "runway"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which provider the scenario runs on."""
    return str(request.param)


# --- 1. a refused connection is a connection error, never an ambiguous create ---------------


@pytest.mark.anyio
async def test_a_create_refused_longer_than_the_request_retries_is_sent_again(kind: str) -> None:
    # More refusals than the transport's own retries: the runner must retry the job, and
    # must not mistake a create that never left for one whose outcome is unknown.
    fake, transport, clock = simulated(kind)
    fake.inject(refuse=True, match=CREATE[kind], times=transport.retry_policy.max_retries + 3)
    async with sv.AsyncSoraVideo(
        transport=transport, repository=MemoryRepository(), clock=clock, max_retries=5
    ) as client:
        job = await client.videos.create_video(request())
        done = await client.videos.wait_for_job(job.id, timeout=3600)
    assert (done.status, done.error) == (sv.JobStatus.COMPLETED, None)
    assert fake.created_count() == 1
    refused = [r for r in creates(fake, kind) if r.fault == "refuse"]
    assert len(refused) == transport.retry_policy.max_retries + 3
    assert len(creates(fake, kind)) == len(refused) + 1


@contextlib.contextmanager
def serving_later(fake: Fake, port: int) -> Iterator[Callable[[], None]]:
    """Yield a function that starts serving ``fake`` on ``port``; stop serving on exit."""
    with contextlib.ExitStack() as stack:
        yield lambda: stack.enter_context(fake.serve(port=port)) and None


@pytest.mark.anyio
async def test_a_port_with_nothing_listening_is_retried_until_the_provider_listens(
    kind: str,
) -> None:
    fake = served_fake(kind)
    port = free_port()
    failures: list[BaseException] = []
    with serving_later(fake, port) as start:

        def on_retry(_attempt: int, _delay: float, error: BaseException) -> None:
            failures.append(error)
            # The first failed attempt after the runner took the job back: listen now.
            if len(failures) == 2:
                start()

        transport = served_transport(
            kind, f"http://127.0.0.1:{port}{PREFIX[kind]}", max_retries=1, on_retry=on_retry
        )
        async with sv.AsyncSoraVideo(
            transport=transport, repository=MemoryRepository(), **FAST
        ) as client:
            accepted = anyio.Event()
            client.events.on("submitted", lambda _job: accepted.set())
            job = await client.videos.create_video(request())
            # Accepted is enough (Runway is polled no faster than every 5 s).
            with anyio.fail_after(10):
                await accepted.wait()
            job = await client.videos.get_job(job.id)
    assert job.status in (sv.JobStatus.PROCESSING, sv.JobStatus.COMPLETED)
    assert job.error is None
    assert all(type(e) is sv.ProviderConnectionError for e in failures)
    assert all(isinstance(e.__cause__, httpx.ConnectError) for e in failures)
    assert fake.created_count() == 1
    assert len(creates(fake, kind)) == 1


def make_transport(kind: str, **kwargs: Any) -> Transport:
    if kind == "sora":
        kwargs.setdefault("idempotent_creates", True)  # FakeSora deduplicates creates
        return SoraTransport(base_url="http://edge.test/v1", api_key="sk-edge", **kwargs)
    return RunwayTransport(base_url="http://edge.test", api_key="key-edge", **kwargs)


def create_answer(kind: str) -> httpx.Response:
    if kind == "sora":
        return httpx.Response(
            200, json={"id": "video_1", "object": "video", "status": "queued", "progress": 0}
        )
    return httpx.Response(200, json={"id": "task-1", "estimatedCost": {"credits": 60}})


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


NEVER_SENT = [
    httpx.ConnectError("[Errno 111] Connection refused"),
    httpx.ConnectError("[Errno -2] Name or service not known"),
    httpx.ConnectTimeout("timed out connecting"),
    httpx.PoolTimeout("no free connection in the pool"),
]
MAYBE_SENT = [
    httpx.ReadTimeout("no answer"),
    httpx.WriteTimeout("stuck sending"),
    httpx.WriteError("broken pipe mid-body"),
    httpx.ReadError("connection reset"),
    httpx.RemoteProtocolError("server disconnected without sending a response"),
]


@pytest.mark.anyio
@pytest.mark.parametrize("failure", NEVER_SENT, ids=lambda e: type(e).__name__)
async def test_a_create_that_never_reached_the_server_is_retried(
    kind: str, failure: Exception
) -> None:
    sleeps = Sleeps()
    with respx.mock(assert_all_called=False) as router:
        route = router.post(url__regex=r".*/(videos|text_to_video)$").mock(
            side_effect=[failure, create_answer(kind)]
        )
        async with make_transport(kind, sleep=sleeps) as transport:
            remote = await transport.submit(request(), idempotency_key="job-1")
    assert remote.remote_id in ("video_1", "task-1")
    assert route.call_count == 2
    assert len(sleeps.delays) == 1


class SleepsOnAClock(Sleeps):
    """A clock whose sleeps are recorded and take no time."""

    def time(self) -> float:
        return 1_800_000_000.0

    async def sleep(self, seconds: float) -> None:
        await self(seconds)


@pytest.mark.anyio
async def test_both_transports_take_a_clock_and_wait_on_it_between_retries(kind: str) -> None:
    # The same constructor keywords for every transport: ``clock=`` as well as ``sleep=``.
    clock = SleepsOnAClock()
    with respx.mock(assert_all_called=False) as router:
        router.post(url__regex=r".*/(videos|text_to_video)$").mock(
            side_effect=[NEVER_SENT[0], create_answer(kind)]
        )
        async with make_transport(kind, clock=clock) as transport:
            await transport.submit(request(), idempotency_key="job-1")
    assert len(clock.delays) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("failure", NEVER_SENT, ids=lambda e: type(e).__name__)
async def test_a_create_never_sent_after_every_retry_is_a_connection_error(
    kind: str, failure: Exception
) -> None:
    with respx.mock(assert_all_called=False) as router:
        route = router.post(url__regex=r".*/(videos|text_to_video)$").mock(side_effect=failure)
        async with make_transport(kind, sleep=Sleeps(), max_retries=2) as transport:
            with pytest.raises(sv.ProviderConnectionError) as info:
                await transport.submit(request(), idempotency_key="job-1")
    assert not isinstance(info.value, sv.AmbiguousSubmissionError)
    assert info.value.__cause__ is failure
    assert route.call_count == 3


@pytest.mark.anyio
@pytest.mark.parametrize("failure", MAYBE_SENT, ids=lambda e: type(e).__name__)
async def test_a_create_that_may_have_arrived_is_ambiguous_and_sent_once(
    kind: str, failure: Exception
) -> None:
    sleeps = Sleeps()
    with respx.mock(assert_all_called=False) as router:
        route = router.post(url__regex=r".*/(videos|text_to_video)$").mock(
            side_effect=[failure, create_answer(kind)]
        )
        async with make_transport(kind, sleep=sleeps) as transport:
            with pytest.raises(sv.AmbiguousSubmissionError) as info:
                await transport.submit(request(), idempotency_key="job-1")
    assert info.value.__cause__ is failure
    assert route.call_count == 1
    assert sleeps.delays == []


# --- 2. an absurd Retry-After is capped by max_retry_after, with one warning -------------------


def warnings_about_retry_after(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING
        and r.name.startswith("soravideo")
        and "max_retry_after" in r.getMessage()
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("headers", list(HUGE.values()), ids=list(HUGE))
async def test_an_absurd_retry_after_is_capped_once_warned(
    kind: str, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="soravideo")
    sleeps = Sleeps()
    with respx.mock(assert_all_called=False) as router:
        router.get(url__regex=r".*/(videos|tasks)/x$").respond(
            429, headers=headers, json={"error": "slow down"}
        )
        async with make_transport(kind, sleep=sleeps) as transport:
            for _ in range(3):
                with pytest.raises(sv.RateLimitError) as info:
                    await transport.fetch("x")
                assert info.value.retry_after == 300.0
    # Longer than a request waits in place: raised for the caller to schedule, not slept.
    assert sleeps.delays == []
    assert len(warnings_about_retry_after(caplog)) == 1


@pytest.mark.anyio
async def test_the_clients_max_retry_after_reaches_its_transport(kind: str) -> None:
    sleeps = Sleeps()
    with respx.mock(assert_all_called=False) as router:
        router.get(url__regex=r".*/(videos|tasks)/x$").mock(
            side_effect=[
                httpx.Response(429, headers=HUGE["seconds"], json={"error": "slow down"}),
                httpx.Response(429, headers={"retry-after": "5"}, json={"error": "slow down"}),
            ]
            * 2
        )
        transport = make_transport(kind, sleep=sleeps, max_retries=1)
        async with sv.AsyncSoraVideo(
            transport=transport, repository=MemoryRepository(), max_retry_after=4
        ):
            with pytest.raises(sv.RateLimitError) as info:
                await transport.fetch("x")
    # Capped to 4 s, so short enough to wait in place; then the second answer's 5 s is too.
    assert sleeps.delays == [4.0]
    assert info.value.retry_after == 4.0


@pytest.mark.anyio
async def test_one_absurd_retry_after_pauses_the_engine_no_longer_than_max_retry_after(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="soravideo")
    fake, transport, clock = simulated(kind)
    fake.inject(status=429, retry_after=1_000_000_000, match=CREATE[kind], times=2)
    async with sv.AsyncSoraVideo(
        transport=transport, repository=MemoryRepository(), clock=clock, max_retry_after=30
    ) as client:
        first = await client.videos.create_video(request("first"))
        second = await client.videos.create_video(request("second"))
        done = [await client.videos.wait_for_job(j.id, timeout=7200) for j in (first, second)]
    assert [j.status for j in done] == [sv.JobStatus.COMPLETED] * 2
    assert fake.created_count() == 2
    # Two pauses of at most 30 s each, then one generation: nowhere near a day.
    ended = max(j.completed_at for j in done if j.completed_at is not None)
    assert ended - first.created_at < timedelta(seconds=2 * 30 + GENERATION + 30)
    assert len(warnings_about_retry_after(caplog)) == 1


@pytest.mark.anyio
async def test_the_engines_pause_is_capped_even_for_a_transport_that_does_not_cap(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="soravideo")
    _fake, transport, clock = simulated("sora")
    async with sv.AsyncSoraVideo(
        transport=transport, repository=MemoryRepository(), clock=clock, max_retry_after=30
    ) as client:
        runner = await client._started()
        now = clock.time()
        runner._pause(1e9)
        runner._pause(1e12)
        assert runner.stats().paused_until == pytest.approx(now + 30)
    assert len(warnings_about_retry_after(caplog)) == 1


# --- 3. the client's request_timeout bounds every request of its transport ------------------


@contextlib.asynccontextmanager
async def served_client(kind: str, fake: Fake, **settings: Any) -> AsyncIterator[sv.AsyncSoraVideo]:
    with fake.serve() as url:
        transport = served_transport(kind, url, max_retries=0)
        async with sv.AsyncSoraVideo(
            transport=transport, repository=MemoryRepository(), **{**FAST, **settings}
        ) as client:
            yield client


@pytest.mark.anyio
async def test_a_hanging_create_is_abandoned_after_request_timeout_as_ambiguous(
    kind: str,
) -> None:
    fake = served_fake(kind)
    # Far longer than the test may take: the fake logs a request when it answers, so an
    # empty log when the call returns shows the client gave up before the fake answered.
    fake.inject(delay=30, match=CREATE[kind])
    async with served_client(kind, fake, request_timeout=0.3) as client:
        with anyio.fail_after(10):
            with pytest.raises(sv.AmbiguousSubmissionError) as info:
                await client.transport.submit(request(), idempotency_key="job-hang")
        assert creates(fake, kind) == []
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert client.transport.stats.requests == 1


@pytest.mark.anyio
async def test_a_job_whose_create_hangs_is_reconciled_never_sent_blind(kind: str) -> None:
    fake = served_fake(kind)
    fake.inject(delay=30, match=CREATE[kind])
    async with served_client(kind, fake, request_timeout=0.3) as client:
        job = await client.videos.create_video(request())
        done = await client.videos.wait_for_job(job.id, timeout=10)
        # The first create is still held by the fake (unlogged): only what followed it shows.
        answered = creates(fake, kind)
    if kind == "sora":
        # Listed first (nothing found yet), then sent again with the job's own key: the
        # provider answers a repeated key with the original video, so never a second one.
        assert done.status is sv.JobStatus.COMPLETED
        assert [r.headers["idempotency-key"] for r in answered] == [idempotency_key(job.id)]
        listed = [r for r in fake.requests if r.method == "GET" and r.path == "/videos"]
        assert listed and listed[0].seq < answered[0].seq
        assert fake.created_count() == 1
    else:
        # Runway can neither list nor deduplicate: failing is the only safe answer.
        assert done.status is sv.JobStatus.FAILED
        assert done.error is not None and done.error.code == "ambiguous_submission"
        assert answered == []
        assert client.transport.stats.requests == 1


@pytest.mark.anyio
async def test_a_hanging_read_times_out_after_request_timeout(kind: str) -> None:
    fake = served_fake(kind)
    async with served_client(kind, fake, request_timeout=0.3) as client:
        remote = await client.transport.submit(request(), idempotency_key="job-read")
        fake.inject(delay=30, match="GET *")
        with anyio.fail_after(5):
            with pytest.raises(sv.ProviderTimeoutError) as info:
                await client.transport.fetch(remote.remote_id)
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


@pytest.mark.anyio
async def test_request_timeout_applies_to_every_request_of_an_injected_client(
    kind: str,
) -> None:
    seen: list[Any] = []
    with respx.mock(assert_all_called=False) as router:

        def record(req: httpx.Request) -> httpx.Response:
            seen.append((req.method, req.url.path, req.extensions.get("timeout")))
            if req.method == "DELETE":
                return httpx.Response(200, json={"id": "x", "deleted": True})
            if req.method == "POST":
                return create_answer(kind)
            if kind == "sora" and req.url.path.endswith("/videos"):
                return httpx.Response(200, json={"object": "list", "data": [], "has_more": False})
            if req.url.path.endswith("/content") or "/_cdn/" in req.url.path:
                return httpx.Response(200, content=b"video")
            asked = req.url.path.rsplit("/", 1)[-1]  # a read is answered about its own job
            if kind == "sora":
                return httpx.Response(
                    200,
                    json={"id": asked, "object": "video", "status": "completed", "progress": 100},
                )
            return httpx.Response(
                200,
                json={
                    "id": asked,
                    "status": "SUCCEEDED",
                    "output": ["http://edge.test/_cdn/x/video.mp4"],
                },
            )

        router.route().mock(side_effect=record)
        injected = httpx.AsyncClient(timeout=99.0)
        transport = make_transport(kind, http_client=injected)
        async with (
            injected,
            sv.AsyncSoraVideo(
                transport=transport, repository=MemoryRepository(), request_timeout=1.5
            ),
        ):
            await transport.submit(request(), idempotency_key="job-t")
            await transport.fetch("x")
            await transport.fetch_many(["x", "y"])
            await transport.cancel("x")
            async with transport.open_content("x") as stream:
                async for _ in stream.aiter_bytes():
                    pass
    expected = {"connect": 1.5, "read": 1.5, "write": 1.5, "pool": 1.5}
    assert len(seen) >= 5
    assert [s for s in seen if s[2] != expected] == []


@pytest.mark.anyio
async def test_a_transports_own_timeout_wins_over_the_clients(kind: str) -> None:
    seen: list[Any] = []
    with respx.mock(assert_all_called=False) as router:

        def record(req: httpx.Request) -> httpx.Response:
            seen.append(req.extensions.get("timeout"))
            return create_answer(kind)

        router.route().mock(side_effect=record)
        transport = make_transport(kind, timeout=7.0)
        async with sv.AsyncSoraVideo(
            transport=transport, repository=MemoryRepository(), request_timeout=1.5
        ):
            await transport.submit(request(), idempotency_key="job-t")
    assert seen == [{"connect": 7.0, "read": 7.0, "write": 7.0, "pool": 7.0}]


# --- 4. the clients a transport makes itself share one TLS context ----------------------------


@pytest.mark.anyio
async def test_the_clients_transports_make_share_one_tls_context_per_certificate_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Making a TLS context loads the CA bundle: milliseconds of CPU, for every client.
    made: list[ssl.SSLContext] = []
    create = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(create(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(ssl, "create_default_context", counted)
    # A certificate setting of its own: its context is made for it, once.
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    transports = [make_transport(kind) for kind in ("sora", "runway", "sora")]
    try:
        clients = {id(t._session.client) for t in transports}
    finally:
        for transport in transports:
            await transport.aclose()
    assert len(clients) == 3
    assert len(made) == 1
