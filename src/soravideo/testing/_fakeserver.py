"""Provider-agnostic machinery for fake provider APIs: routing, a request log, faults, serving.

A fake provider (``FakeSora``, later ``FakeRunway`` …) subclasses ``FakeServer``, adds
its routes and its error shape, and gets for free:

- a router over plain requests (method, path, query, headers, body bytes) to plain
  responses (status, headers, body bytes or an iterable of chunks);
- a request log (``fake.requests``) with ``FakeServer.count``;
- fault injection, scripted or by a seeded rate: error statuses with ``Retry-After``,
  connection resets (before or after the request takes effect), refused connections and
  slow responses;
- a hostile mode (``FakeServer.hostile``): answers a broken or malicious provider
  would send (wrong JSON types, dot ids, HTML bodies, endless or cut bodies, absurd
  headers, redirects to another origin), with the request log telling which requests
  strayed outside the provider's resources (``FakeServer.stray_requests``);
- two ways to serve: in-process as an httpx transport (``FakeServer.http_transport``,
  ``FakeServer.sync_http_transport``) and as a real HTTP server on a loopback port
  (``FakeServer.serve``, stdlib ``http.server`` in a background thread).

The exchange logic (faults, dispatch, logging) is written once, as a generator that yields
the delays to wait; each way of serving only decides how to wait and how to fail.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import math
import random
import re
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Container, Generator, Iterable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Protocol, TypeVar, cast, runtime_checkable

import attrs
import httpx

from .._core.clock import Clock, ManualClock, SystemClock
from . import _hostile
from ._hostile import HostileKind, StreamCounters
from ._webhooks import FakeWebhookEvent, WebhookSender

__all__ = [
    "Body",
    "FakeProvider",
    "FakeRequest",
    "FakeResponse",
    "FakeServer",
    "Fault",
    "FaultPlan",
    "Handler",
    "RecordedRequest",
    "Router",
]

logger = logging.getLogger("soravideo.testing")

Body = bytes | Iterable[bytes]
"""A response body: all bytes at once, or an iterable of chunks (streamed)."""

_CHUNK = 16 * 1024  # the size of the chunks a fake streams its videos in
_HANDLER_JOIN_TIMEOUT = 10.0  # seconds serve() waits at exit for connections to end
_SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "x-goog-api-key"})


def _redact(name: str, value: str) -> str:
    if name not in _SECRET_HEADERS:
        return value
    scheme, _, rest = value.partition(" ")
    # Keep the auth scheme so a test can still check Bearer against api-key styles.
    return f"{scheme} <redacted>" if rest else "<redacted>"


@attrs.frozen(kw_only=True)
class FakeRequest:
    """One request as a fake sees it.

    Args:
        method: Upper-case HTTP method.
        path: The path below the fake's prefix (``/videos/abc`` for ``/v1/videos/abc``),
            still percent-encoded; the whole path when it is outside the prefix.
        query: Query parameters (the last value wins when a name repeats).
        headers: Header values by lower-case name.
        body: The raw body.
        full_path: The path as received, prefix included.
        in_prefix: Whether the path is under the prefix (no route matches otherwise).
        scheme: ``"https"`` when it came over TLS (`FakeServer.serve` with an
            ``ssl_context``, or an in-process ``https://`` URL), else ``"http"``.
    """

    method: str
    path: str
    query: Mapping[str, str] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    full_path: str = ""
    in_prefix: bool = True
    scheme: str = "http"

    def header(self, name: str) -> str | None:
        """Return one header's value, or ``None``."""
        return self.headers.get(name.lower())

    @property
    def content_type(self) -> str:
        """Return the media type without parameters, lower-case (``""`` when absent)."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    def json(self) -> Any:
        """Parse the body as JSON.

        Raises:
            ValueError: the body is not JSON.
        """
        return json.loads(self.body)


@attrs.frozen(kw_only=True)
class FakeResponse:
    """What a route answers.

    Args:
        status: HTTP status code.
        headers: Response headers. Characters ``\x80``–``\xff`` in a value are sent as
            those raw bytes (latin-1), so a header can carry bytes that are not UTF-8.
        body: Bytes, or an iterable of chunks that is streamed (set ``Content-Length``
            yourself when you know it; served mode falls back to chunked encoding).
        tag: What the route did, for the request log (``"created"``, ``"replayed"`` …).
        framing: ``"auto"``: ``Content-Length`` (bytes, or as set) or chunked encoding.
            ``"close"``: neither; the body ends when the connection closes, so a client
            cannot tell a cut body from a whole one.
        abort: End the connection right after the body: no final chunk, and a
            ``Content-Length`` not met stays unmet (a client sees the body cut short;
            in-process, httpx raises ``RemoteProtocolError`` at its end, as over a socket).
    """

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: Body = b""
    tag: str | None = None
    framing: Literal["auto", "close"] = "auto"
    abort: bool = False

    @classmethod
    def json(
        cls,
        status: int,
        payload: Any,
        *,
        headers: Mapping[str, str] | None = None,
        tag: str | None = None,
    ) -> FakeResponse:
        """Build a JSON response."""
        return cls(
            status=status,
            headers={"content-type": "application/json", **(headers or {})},
            body=json.dumps(payload).encode(),
            tag=tag,
        )

    def with_headers(self, headers: Mapping[str, str]) -> FakeResponse:
        """Return a copy with these headers added (replacing same-named ones)."""
        lowered = {k.lower() for k in headers}
        kept = {k: v for k, v in self.headers.items() if k.lower() not in lowered}
        return attrs.evolve(self, headers={**kept, **headers})


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One entry of the request log.

    Args:
        seq: Position in the log, from 0.
        time: The fake's clock when the request arrived.
        method / path / query / body: As received (``path`` below the prefix).
        headers: As received, lower-case names, secrets redacted.
        route: The route's name, or ``None`` when no route matched.
        status: The status sent, or ``None`` when no response was sent (reset, refused,
            timed out).
        fault: The kind of injected fault that fired (``"status"``, ``"reset"``,
            ``"refuse"``, ``"delay"``, or ``"hostile:KIND"``), or ``None``.
        tag: What the route did (``"created"``, ``"replayed"`` …), if it said.
        response_headers: Headers sent.
        response_body: The body sent, when it was not streamed.
        full_path: The path as received, prefix included, still percent-encoded.
        params: The route's path parameters, decoded (``{"video_id": "video_1"}``).
    """

    seq: int
    time: float
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    route: str | None
    status: int | None
    fault: str | None = None
    tag: str | None = None
    response_headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    response_body: bytes | None = attrs.field(default=None, repr=False)
    full_path: str = ""
    params: Mapping[str, str] = attrs.field(factory=dict)

    def json(self) -> Any:
        """Parse the request body as JSON."""
        return json.loads(self.body)

    def response_json(self) -> Any:
        """Parse the response body as JSON.

        Raises:
            ValueError: the response was streamed, missing or not JSON.
        """
        if self.response_body is None:
            raise ValueError("no buffered response body")
        return json.loads(self.response_body)


@runtime_checkable
class FakeProvider(Protocol):
    """The neutral driver interface every fake provider offers to contract suites.

    A test that only knows a transport and "its fake" moves time and provokes failures
    through these members, whatever the provider.
    """

    @property
    def failing_prompt(self) -> str:
        """Return a prompt whose job the fake fails (moderation or the provider's equivalent)."""
        ...

    def advance(self, seconds: float) -> None:
        """Move the fake's simulated time forward."""
        ...

    def advance_until_done(self) -> None:
        """Move simulated time to when every job still generating has ended."""
        ...

    def created_count(self) -> int:
        """Return how many distinct remote jobs exist (idempotent repeats not counted)."""
        ...

    def reset_next_create(self) -> None:
        """Make the next create take effect and then lose its answer (a connection reset)."""
        ...


Matcher = str | Callable[[FakeRequest], bool] | None


def _matches(match: Matcher, request: FakeRequest) -> bool:
    if match is None:
        return True
    if callable(match):
        return bool(match(request))
    method, sep, pattern = match.strip().partition(" ")
    if not sep:
        # Only a path pattern: any method.
        return fnmatch.fnmatchcase(request.path, method)
    return method.upper() == request.method and fnmatch.fnmatchcase(request.path, pattern.strip())


@attrs.define(kw_only=True)
class Fault:
    """One injected fault.

    At most one fault fires per request: the first in the plan that matches, is not used
    up, and (when it has a ``rate``) wins its seeded draw.

    Args:
        status: Answer with this error status (the fake's own error shape).
        reset: Drop the connection without an answer (in-process: httpx raises
            ``RemoteProtocolError``; served: the socket is closed with a TCP reset).
        refuse: Fail as if the connection could not be made (in-process: httpx
            ``ConnectError``); the request certainly never took effect. Served mode can
            only approximate this with a reset before the request takes effect, which a
            client cannot tell from a reset after it (so a create is ambiguous there); to
            refuse real connections on loopback, serve on a port only after the client
            has tried it (``serve(port=...)``).
        delay: Seconds to wait before answering (in-process async: on the fake's clock;
            sync and served: real seconds). May be combined with ``status`` or ``reset``.
        phase: ``"before"``: the fault hits before the request takes effect. ``"after"``:
            the request takes effect (a job is created), then the fault replaces the
            answer: the ambiguous case a client cannot tell apart. ``None`` (the default)
            is ``"before"``, or the hostile kind's own phase.
        retry_after / retry_after_ms: Sent as ``Retry-After`` / ``retry-after-ms`` with
            a ``status``.
        message / code: The error's message and code, with a ``status``.
        match: Which requests: ``"POST /videos"``, ``"GET /videos/*"``, ``"/videos*"``
            (method optional, path glob below the prefix), a predicate, or ``None`` (all).
        times: How many times it fires; ``None`` is unlimited.
        rate: Probability of firing on each matching request (seeded), or ``None``.
        hostile: Answer as a broken or malicious provider would: one of
            ``soravideo.testing.HOSTILE_KINDS`` (see ``FakeServer.hostile``,
            which fills in ``options`` and the kind's phase).
        options: The hostile kind's options (``{"id": ".."}`` for ``"bad_id"`` …).
        streams: What the fault's streamed bodies did (``endless``), a
            [`StreamCounters`][soravideo.testing.StreamCounters]: bytes sent, streams
            still open, ``wait_closed``.
    """

    status: int | None = None
    reset: bool = False
    refuse: bool = False
    delay: float = 0.0
    phase: Literal["before", "after"] | None = None
    retry_after: float | None = None
    retry_after_ms: int | None = None
    message: str | None = None
    code: str | None = None
    match: Matcher = None
    times: int | None = 1
    rate: float | None = None
    fired: int = 0
    hostile: HostileKind | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)
    streams: StreamCounters = attrs.field(factory=StreamCounters, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        actions = (self.status is not None) + self.reset + self.refuse + (self.hostile is not None)
        if actions > 1:
            raise ValueError("a fault is one of status, reset, refuse or hostile")
        if actions == 0 and self.delay <= 0:
            raise ValueError("a fault needs a status, reset, refuse, hostile or a delay")
        if self.hostile is not None:
            self.options, self.phase = _hostile.resolve(self.hostile, self.options, self.phase)
        elif self.phase is None:
            self.phase = "before"
        if self.refuse and self.phase != "before":
            raise ValueError("a refused connection cannot happen after the request")
        if self.phase not in ("before", "after"):
            raise ValueError("phase is 'before' or 'after'")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate is a probability between 0 and 1")
        if self.delay < 0:
            raise ValueError("delay cannot be negative")

    @property
    def kind(self) -> str:
        """Return ``"status"``, ``"reset"``, ``"refuse"``, ``"hostile:KIND"`` or ``"delay"``."""
        if self.hostile is not None:
            return f"hostile:{self.hostile}"
        if self.status is not None:
            return "status"
        if self.reset:
            return "reset"
        if self.refuse:
            return "refuse"
        return "delay"

    @property
    def exhausted(self) -> bool:
        """Whether it has fired as many times as it may."""
        return self.times is not None and self.fired >= self.times


class FaultPlan:
    """The faults a fake will inject, in order. Thread-safe through its fake's lock."""

    def __init__(self, lock: threading.RLock, rng: random.Random) -> None:
        self._lock = lock
        self._rng = rng
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Append a fault to the plan and return it."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        """Return the faults that can still fire."""
        with self._lock:
            return [f for f in self._faults if not f.exhausted]

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)

    def __iter__(self) -> Iterator[Fault]:
        with self._lock:
            return iter(list(self._faults))

    def draw(self, request: FakeRequest) -> Fault | None:
        """Return the fault that fires for this request, if any, and count it."""
        with self._lock:
            for fault in self._faults:
                if fault.exhausted or not _matches(fault.match, request):
                    continue
                if fault.rate is not None and self._rng.random() >= fault.rate:
                    continue
                fault.fired += 1
                return fault
        return None


Handler = Callable[..., FakeResponse]
"""A route handler: called with the request and the path parameters as keywords."""


@attrs.frozen
class _Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Handler


class Router:
    """Routes by method and path template (``/videos/{video_id}/content``)."""

    def __init__(self) -> None:
        self._routes: list[_Route] = []

    def add(self, method: str, template: str, handler: Handler, *, name: str) -> None:
        """Add a route; ``{name}`` in the template matches one path segment, ``{name*}``
        one or more (``/{model*}`` matches ``/fal-ai/veo3.1/fast``)."""
        regex = re.sub(r"\\\{(\w+)\\\*\\\}", r"(?P<\1>[^/]+(?:/[^/]+)*)", re.escape(template))
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
        self._routes.append(_Route(method.upper(), re.compile(f"^{regex}$"), name, handler))

    def resolve(self, method: str, path: str) -> tuple[_Route, dict[str, str]] | bool:
        """Return the route and its path parameters; else whether the path exists (for 405)."""
        path_known = False
        for route in self._routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            path_known = True
            if route.method == method:
                return route, {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
        return path_known


def chunks(data: bytes) -> Iterator[bytes]:
    """Return a video's bytes in the chunks a fake streams them in (a ``Body``)."""
    for start in range(0, len(data), _CHUNK):
        yield data[start : start + _CHUNK]


def summarised(body: Mapping[str, Any]) -> dict[str, Any]:
    """Return a create's body with each ``data:`` URI summarised (its header and length)."""
    summary: dict[str, Any] = {}
    for key, value in body.items():
        if isinstance(value, str) and value.startswith("data:"):
            summary[key] = {"data_uri": value.partition(",")[0], "length": len(value)}
        else:
            summary[key] = value
    return summary


_T = TypeVar("_T")


def wired_transport(
    fake: FakeServer,
    transport_type: Callable[..., _T],
    *,
    base_url: str,
    api_key: str,
    clock: Clock,
) -> _T:
    """Return a transport of ``transport_type`` that reaches ``fake`` without sockets.

    The simulated clients' wiring: the transport talks to the fake in-process, on the
    fake's ``clock``, with the key the fake expects.
    """
    http_client = httpx.AsyncClient(transport=fake.http_transport())
    return transport_type(base_url=base_url, api_key=api_key, http_client=http_client, clock=clock)


@attrs.frozen
class _Outcome:
    response: FakeResponse | None = None
    drop: Literal["reset", "refuse", None] = None


class FakeServer:
    """Base class of the fake provider APIs. Subclasses add routes and an error shape.

    Args:
        clock: The fake's time. ``None`` picks one on first need: ``serve`` picks real
            time, anything else (``fake.clock``, a transport, a request) picks a
            [`ManualClock`][soravideo.ManualClock] that the test moves.
        seed: Seeds ids and rate-based faults, so runs repeat.
        prefix: The path prefix every route lives under (``/v1``).
    """

    request_id_header: str | None = "x-request-id"
    # [W2-7] How the provider signs webhook deliveries, and whether it sends them only for
    # jobs created with a URL (its create's webhook parameter) or to the project's webhook.
    webhook_scheme: Literal["standard", "fal", "openrouter"] = "standard"
    webhook_needs_url = False
    # Case-insensitive substrings of a prompt that make its generation fail (subclasses set it).
    failure_prompts: tuple[str, ...] = ()
    # What ``__repr__`` counts ``_records()`` as (``"videos"``); ``None``: the plain repr.
    _record_noun: str | None = None
    # The key the fake checks (``None``: none); ``__repr__`` says only whether there is one.
    _api_key: str | None = None

    def __init__(self, *, clock: Clock | None = None, seed: int = 0, prefix: str = "/v1") -> None:
        self._lock = threading.RLock()
        self._clock = clock
        # Separate streams, so ids do not shift when requests or faults are added.
        self._rng = random.Random(seed)
        self._request_rng = random.Random(f"{seed}:requests")
        self._fault_rng = random.Random(f"{seed}:faults")
        self.seed = seed
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.router = Router()
        self.faults = FaultPlan(self._lock, self._fault_rng)
        self._log: list[RecordedRequest] = []
        self._webhooks: WebhookSender | None = None

    def __repr__(self) -> str:
        if self._record_noun is None:
            return super().__repr__()
        with self._lock:
            count = sum(1 for _ in self._records())
        # Never show the key.
        auth = "on" if self._api_key else "off"
        return f"{type(self).__name__}({self._record_noun}={count}, auth={auth})"

    # -- webhooks ([W2-7]) -------------------------------------------------------------

    @property
    def webhooks(self) -> WebhookSender:
        """The fake's webhook deliveries: ``fake.webhooks.configure(target, drop=…,
        delay=…, duplicate=…, reorder=…)``, then ``await fake.webhooks.flush()`` (or
        ``run()``) sends them, signed as the provider signs them.

        Raises:
            TypeError: the provider sends no webhooks.
        """
        with self._lock:
            if self._webhooks is None:
                if type(self)._webhook_events is FakeServer._webhook_events:
                    raise TypeError(f"{type(self).__name__}'s provider sends no webhooks")
                self._webhooks = WebhookSender(self)
            return self._webhooks

    def _webhook_events(
        self, now: float, known: Container[str] = frozenset()
    ) -> Iterable[FakeWebhookEvent]:
        """The events the provider would have pushed by ``now`` (called with the lock held).

        Events whose key is in ``known`` (those the sender already has) are left out, their
        payload not built again: the sender asks on every tick of its loop.
        """
        raise NotImplementedError

    # -- failures by prompt ------------------------------------------------------------

    @property
    def failing_prompt(self) -> str:
        """Return a prompt that fails moderation.

        Raises:
            ValueError: ``failure_prompts`` is empty.
        """
        if not self.failure_prompts:
            raise ValueError(f"this {type(self).__name__} has no failure_prompts")
        return f"a scene that should {self.failure_prompts[0]}"

    @staticmethod
    def _check_limits(failure_at: float, max_concurrent: int | None) -> None:
        """Refuse a ``failure_at`` outside 0–1 and a ``max_concurrent`` below 1.

        Raises:
            ValueError: either is out of range.
        """
        if not 0.0 <= failure_at <= 1.0:
            raise ValueError("failure_at is a fraction between 0 and 1")
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")

    def _fails(self, prompt: str) -> bool:
        """Whether a (lower-cased) prompt contains one of ``failure_prompts``."""
        return any(p.lower() in prompt for p in self.failure_prompts)

    # -- the jobs a subclass holds, and what every fake counts of them ------------------

    def _records(self) -> Iterable[Any]:
        """Every job the fake holds (each with ``id``, ``cancelled_at``, ``deleted_at``).

        Called with the lock held.
        """
        raise NotImplementedError

    def _end_times(self, now: float) -> list[float]:
        """When each job not yet ended at ``now`` will end (called with the lock held)."""
        raise NotImplementedError

    def advance_until_done(self) -> None:
        """Move the clock to when every job not yet ended has ended.

        Examples:
            ```python
            import httpx
            from soravideo.testing import FakeSora

            fake = FakeSora(generation_time=300)
            async with httpx.AsyncClient(
                transport=fake.http_transport(), base_url="http://fakesora.invalid/v1"
            ) as http:
                for prompt in ("A tortoise", "A sloth"):
                    await http.post("/videos", json={"prompt": prompt})
                fake.advance_until_done()  # five simulated minutes, at once
                videos = (await http.get("/videos")).json()["data"]
                print([video["status"] for video in videos])  # ['completed', 'completed']
            ```
        """
        clock = self.manual_clock()
        with self._lock:
            ends = self._end_times(clock.time())
        if ends:
            clock.set_time(max(ends))

    def created_count(self) -> int:
        """Return how many distinct jobs were created (idempotent replays not counted).

        Examples:
            ```python
            client.fake.inject(reset=True, phase="after", match="POST /videos")  # created, answer lost
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A red kite"))
            job = await client.videos.wait_for_job(job.id)
            print(job.status, client.fake.created_count())  # completed 1: found again, not re-sent
            ```
        """
        with self._lock:
            return sum(1 for _ in self._records())

    def created_ids(self) -> list[str]:
        """Return the ids of every job created, oldest first (idempotent replays not counted)."""
        with self._lock:
            return [r.id for r in self._records()]

    def create_params(self, video_id: str) -> dict[str, Any]:
        """Return what a job was created with, as the fake read it. Subclasses override.

        Raises:
            KeyError: no job ever had this id.
        """
        raise NotImplementedError

    def cancelled_ids(self) -> list[str]:
        """Return the ids of jobs cancelled (by a delete) before they ended."""
        with self._lock:
            return [r.id for r in self._records() if r.cancelled_at is not None]

    def deleted_ids(self) -> list[str]:
        """Return the ids of jobs that are gone (deleted, or cancelled where that hides them)."""
        with self._lock:
            return [r.id for r in self._records() if r.deleted_at is not None]

    def delete_count(self) -> int:
        """Return how many delete requests arrived."""
        return self.count(route="delete")

    def rate_limited_count(self) -> int:
        """Return how many 429 answers were sent (injected or the fake's own)."""
        return self.count(status=429)

    # -- time ------------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        """Return the fake's clock (a ManualClock unless one was given or ``serve()`` chose)."""
        clock = self._clock
        if clock is not None:  # once chosen it never changes: no lock on every request
            return clock
        with self._lock:
            if self._clock is None:
                self._clock = ManualClock()
            return self._clock

    def now(self) -> float:
        """Return the fake's current time in Unix seconds."""
        return self.clock.time()

    def manual_clock(self) -> ManualClock:
        """Return the fake's clock as the ManualClock (or VirtualClock) it must be to be moved.

        Raises:
            TypeError: the fake runs on real time.
        """
        clock = self.clock
        if not isinstance(clock, ManualClock):
            raise TypeError(f"this fake runs on {clock!r}: its time cannot be advanced")
        return clock

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (it must be a ManualClock or VirtualClock).

        Raises:
            TypeError: the fake runs on real time.

        Examples:
            ```python
            import httpx
            from soravideo.testing import FakeSora

            fake = FakeSora(generation_time=60)  # on a ManualClock of its own
            async with httpx.AsyncClient(
                transport=fake.http_transport(), base_url="http://fakesora.invalid/v1"
            ) as http:
                video = (await http.post("/videos", json={"prompt": "A snail race"})).json()
                fake.advance(30)
                print((await http.get(f"/videos/{video['id']}")).json()["progress"])  # 50
            ```
        """
        self.manual_clock().advance(seconds)

    # -- the request log -------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Return a snapshot of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def count(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        status: int | None = None,
        route: str | None = None,
        tag: str | None = None,
    ) -> int:
        """Count logged requests that match every given criterion.

        Args:
            method: ``"POST"``; ``None`` for any.
            path: A path glob below the prefix (``"/videos"``, ``"/videos/*"``).
            status: The status sent.
            route: The route's name.
            tag: What the route did.

        Returns:
            The number of matching requests.

        Examples:
            ```python
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A sailing boat"))
            await client.videos.wait_for_job(job.id)
            print(client.fake.count("POST", "/videos"))  # 1
            print(client.fake.count("GET", "/videos/*"), client.fake.count(status=429))  # the polls, 0
            ```
        """
        with self._lock:
            return sum(
                1
                for r in self._log
                if (method is None or r.method == method.upper())
                and (path is None or fnmatch.fnmatchcase(r.path, path))
                and (status is None or r.status == status)
                and (route is None or r.route == route)
                and (tag is None or r.tag == tag)
            )

    def clear_requests(self) -> None:
        """Empty the request log."""
        with self._lock:
            self._log.clear()

    # -- faults ------------------------------------------------------------------------

    def inject(
        self,
        *,
        status: int | None = None,
        reset: bool = False,
        refuse: bool = False,
        delay: float = 0.0,
        phase: Literal["before", "after"] | None = None,
        retry_after: float | None = None,
        retry_after_ms: int | None = None,
        message: str | None = None,
        code: str | None = None,
        match: Matcher = None,
        times: int | None = None,
        rate: float | None = None,
    ) -> Fault:
        """Add a fault to the plan; see [`Fault`][soravideo.testing.Fault] for the arguments.

        ``times`` defaults to 1 for a scripted fault and to unlimited when ``rate`` is set.

        Returns:
            The fault (its ``fired`` counts how often it fired).

        Examples:
            ```python
            client.fake.inject(status=429, retry_after=5, match="POST /videos")  # throttled once
            client.fake.inject(status=500, match="GET /videos/*", times=2)  # two failed polls
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A windmill"))
            job = await client.videos.wait_for_job(job.id)
            print(job.status, client.fake.rate_limited_count(), client.fake.created_count())  # completed 1 1
            ```
        """
        if times is None and rate is None:
            times = 1
        return self.faults.add(
            Fault(
                status=status,
                reset=reset,
                refuse=refuse,
                delay=delay,
                phase=phase,
                retry_after=retry_after,
                retry_after_ms=retry_after_ms,
                message=message,
                code=code,
                match=match,
                times=times,
                rate=rate,
            )
        )

    def hostile(
        self,
        kind: HostileKind,
        *,
        match: Matcher = None,
        times: int | None = 1,
        rate: float | None = None,
        phase: Literal["before", "after"] | None = None,
        delay: float = 0.0,
        **options: Any,
    ) -> Fault:
        """Answer matching requests as a broken or malicious provider would.

        The kinds and their options (the table in ``soravideo.testing._hostile``,
        repeated in the testing guide):

        - JSON answers, after the request took effect: ``wrong_types`` (``fields=``),
          ``missing_fields`` (``keep=("id",)``), ``huge_numbers`` (``value=10**400``),
          ``nested_garbage`` (``depth=64``, ``fields=``), ``bad_id`` (``id=".."``; see
          ``soravideo.testing.HOSTILE_IDS``), ``fields`` (``values={...}``);
        - bodies: ``html_body`` and ``json_error_body`` (``status=200``), ``not_video``,
          ``truncated`` (``keep=``, ``content_length=True``), ``endless`` (``limit=``,
          ``chunk=``), ``huge_length`` (``length=10**15``);
        - ``redirect`` (``to=``, ``status=302``), ``retry_after`` (``value="1e12"``,
          ``status=429``, ``ms=``) and ``headers`` (``headers={...}``, ``status=``).

        Args:
            kind: What the answer becomes.
            match: Which requests, as for ``inject`` (``"GET /videos/*/content"``).
            times: How many times it fires; ``None`` is every matching request.
            rate: Probability of firing on each matching request (seeded), or ``None``.
            phase: ``"before"`` or ``"after"`` the request takes effect; ``None`` is the
                kind's own (``"before"`` for ``redirect`` and ``retry_after``, else
                ``"after"``). Kinds that change the fake's answer act only after.
            delay: Seconds to wait before answering, as for ``inject``.
            **options: The kind's options.

        Returns:
            The fault: ``fired`` counts its answers, ``streams`` what its streamed bodies
            did (an ``endless`` body's bytes, and whether the client hung up).

        Raises:
            ValueError: an unknown kind or option, a missing option, or a phase the kind
                cannot act in.

        Examples:
            ```python
            garbled = client.fake.hostile("wrong_types", match="GET /videos/*")  # one poll's answer
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A beehive"))
            job = await client.videos.wait_for_job(job.id)
            print(garbled.fired, job.status)  # 1 completed: a garbled poll is polled again
            ```
        """
        return self.faults.add(
            Fault(
                hostile=kind,
                options=options,
                phase=phase,
                delay=delay,
                match=match,
                times=times,
                rate=rate,
            )
        )

    def stray_requests(self) -> list[RecordedRequest]:
        """Return the requests that went outside the provider's resources.

        A stray request reached no route (a path outside the prefix, an unknown path, a
        wrong method) or named, in a path parameter ending in ``_id``, a job the fake never
        made: what a client sends when it puts a hostile id (``..``, ``a/b``) into a URL.
        A client that checks the ids it is given sends none.

        Returns:
            The stray requests, oldest first.
        """
        with self._lock:
            known = {r.id for r in self._records()}
            return [
                r
                for r in self._log
                if r.route is None
                or any(k.endswith("_id") and v not in known for k, v in r.params.items())
            ]

    def _rename_job(self, old: str, new: str) -> None:
        """Give a job another id (a hostile create's ``bad_id``); called with the lock held."""
        raise NotImplementedError

    def rename_job(self, old: str, new: str) -> bool:
        """Give a job the id ``new`` (requests for ``new`` then find it); ``False`` when
        ``old`` is unknown, ``new`` is taken, or the fake cannot rename."""
        with self._lock:
            known = {r.id for r in self._records()}
            if old not in known or new in known:
                return False
            try:
                self._rename_job(old, new)
            except NotImplementedError:
                return False
            return True

    def content(self, video_id: str, variant: str = "video") -> bytes:
        """Return the bytes the fake serves as a job's content. Subclasses override.

        Raises:
            KeyError: no job ever had this id.
        """
        raise NotImplementedError

    # -- hooks for subclasses ------------------------------------------------------

    def error_response(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FakeResponse:
        """Build an error in the provider's shape: the body and headers of ``_error_body``,
        which a fake of a provider overrides (or override this), after ``headers``.

        Args:
            status: The HTTP status.
            message: What went wrong, for people.
            code: The provider's error code, if any.
            param: The request field at fault, if any.
            headers: Headers to send (``retry-after`` …).
        """
        body, extra = self._error_body(status, message, code, param)
        return FakeResponse.json(status, body, headers={**(headers or {}), **extra})

    def _error_body(
        self, status: int, message: str, code: str | None, param: str | None
    ) -> tuple[Any, Mapping[str, str]]:
        """Return an error's JSON body, and any headers the provider adds to it."""
        return {"error": {"message": message, "code": code}}, {}

    def before_route(self, request: FakeRequest) -> FakeResponse | None:
        """Answer before routing (authentication …), or return ``None`` to route."""
        return None

    def new_request_id(self) -> str:
        """Return a new request id (seeded)."""
        with self._lock:
            return f"req_{self._request_rng.getrandbits(128):032x}"

    # -- the exchange, written once -------------------------------------------------------

    def _strip_prefix(self, path: str) -> str | None:
        if not self.prefix:
            return path or "/"
        if path == self.prefix or path.startswith(self.prefix + "/"):
            return path[len(self.prefix) :] or "/"
        return None

    def _fault_response(self, fault: Fault) -> FakeResponse:
        assert fault.status is not None
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["retry-after"] = str(max(0, math.ceil(fault.retry_after)))
        if fault.retry_after_ms is not None:
            headers["retry-after-ms"] = str(fault.retry_after_ms)
        message = fault.message or f"Injected fault: HTTP {fault.status}."
        return self.error_response(fault.status, message, code=fault.code, headers=headers)

    def _dispatch(
        self, request: FakeRequest, resolved: tuple[_Route, dict[str, str]] | bool
    ) -> FakeResponse:
        with self._lock:
            early = self.before_route(request)
            if early is not None:
                return early
            if isinstance(resolved, tuple):
                route, params = resolved
                return route.handler(request, **params)
        status = 405 if resolved else 404
        return self.error_response(status, f"Invalid URL ({request.method} {request.full_path})")

    def _exchange(self, request: FakeRequest) -> Generator[float, None, _Outcome]:
        """Run one request: yield each delay to wait, return what to send.

        A driver that stops early (``close()``, a client timeout) leaves the log with
        ``status=None``.
        """
        arrived = self.now()
        # Resolved once: the handler, the 404/405 and the log all need it.
        resolved = request.in_prefix and self.router.resolve(request.method, request.path)
        fault = self.faults.draw(request)
        handled: FakeResponse | None = None
        sent: FakeResponse | None = None
        try:
            if fault is not None and fault.phase == "before":
                if fault.delay:
                    yield fault.delay
                if fault.refuse:
                    return _Outcome(drop="refuse")
                if fault.reset:
                    return _Outcome(drop="reset")
            if fault is not None and fault.phase == "before" and fault.status is not None:
                response = self._fault_response(fault)
            elif fault is not None and fault.phase == "before" and fault.hostile is not None:
                response = _hostile.answer(self, fault, request, None)
            else:
                handled = response = self._dispatch(request, resolved)
            if fault is not None and fault.phase == "after":
                if fault.delay:
                    yield fault.delay
                if fault.reset:
                    return _Outcome(drop="reset")
                if fault.status is not None:
                    response = self._fault_response(fault)
                if fault.hostile is not None:
                    with self._lock:
                        response = _hostile.answer(self, fault, request, response)
            header = self.request_id_header
            if header is not None and not any(k.lower() == header for k in response.headers):
                # A hostile answer may have set its own (huge, not UTF-8 …). None here, so
                # adding it replaces nothing: what ``with_headers`` does, without its copies.
                response = attrs.evolve(
                    response, headers={**response.headers, header: self.new_request_id()}
                )
            sent = response
            return _Outcome(response=response)
        finally:
            # The tag says what the request did even when its answer was lost.
            self._record(request, arrived, sent, fault, handled.tag if handled else None, resolved)

    def _record(
        self,
        request: FakeRequest,
        arrived: float,
        response: FakeResponse | None,
        fault: Fault | None,
        tag: str | None,
        resolved: tuple[_Route, dict[str, str]] | bool,
    ) -> None:
        route, params = resolved if isinstance(resolved, tuple) else (None, {})
        with self._lock:
            self._log.append(
                RecordedRequest(
                    seq=len(self._log),
                    time=arrived,
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    headers={k: _redact(k, v) for k, v in request.headers.items()},
                    body=request.body,
                    route=route.name if route is not None else None,
                    status=response.status if response else None,
                    fault=fault.kind if fault else None,
                    tag=tag,
                    response_headers=dict(response.headers) if response else {},
                    response_body=(
                        response.body if response and isinstance(response.body, bytes) else None
                    ),
                    full_path=request.full_path,
                    params=params,
                )
            )

    def _make_request(
        self,
        method: str,
        raw_path: str,
        query: Iterable[tuple[str, str]],
        headers: Iterable[tuple[str, str]],
        body: bytes,
        scheme: str = "http",
    ) -> FakeRequest:
        inner = self._strip_prefix(raw_path)
        return FakeRequest(
            method=method.upper(),
            path=inner if inner is not None else raw_path,
            query=dict(query),
            headers={k.lower(): v for k, v in headers},
            body=body,
            full_path=raw_path,
            in_prefix=inner is not None,
            scheme=scheme,
        )

    # -- serving in-process -----------------------------------------------------------

    def http_transport(self) -> httpx.AsyncBaseTransport:
        """Return an httpx async transport that calls this fake directly (no sockets).

        Delays wait on the fake's clock; a delay longer than the request's read timeout
        waits the timeout, then raises ``httpx.ReadTimeout`` as a real client would.
        """
        _ = self.clock  # settle the clock choice: in-process means simulated time
        return _AsyncFakeTransport(self)

    def sync_http_transport(self) -> httpx.BaseTransport:
        """Return an httpx sync transport that calls this fake directly (delays are real sleeps)."""
        _ = self.clock
        return _SyncFakeTransport(self)

    # -- serving on loopback -------------------------------------------------------------

    @contextlib.contextmanager
    def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Iterator[str]:
        """Serve the fake on a loopback port in a background thread.

        When the fake was made without a clock and has not picked one yet, serving picks
        real time, so any HTTP client can use it as is.

        Args:
            host: The address to bind (keep it loopback).
            port: The port; 0 picks a free one.
            ssl_context: Serve HTTPS with this server context (a throwaway certificate,
                e.g. ``trustme``'s), for clients that insist on ``https://``; each
                connection's handshake runs in its own thread.

        Yields:
            The base URL, prefix included (``http://127.0.0.1:PORT/v1``; ``https://``
            with ``ssl_context``).

        Examples:
            ```python
            import httpx
            from soravideo.testing import FakeSora

            fake = FakeSora(generation_time=60)
            with fake.serve() as base_url:  # http://127.0.0.1:PORT/v1, on real time
                async with httpx.AsyncClient(base_url=base_url) as http:  # or any client, any process
                    answer = await http.post("/videos", json={"prompt": "A red fox"})
                    print(answer.status_code, answer.json()["status"])  # 200 queued
            print(fake.requests[0].method, fake.requests[0].path)  # POST /videos
            ```
        """
        with self._lock:
            if self._clock is None:
                self._clock = SystemClock()
        server = _ThreadingServer((host, port), _make_handler(self), ssl_context)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
            name=f"{type(self).__name__}-server",
        )
        thread.start()
        try:
            bound_host, bound_port = server.server_address[:2]
            scheme = "https" if ssl_context is not None else "http"
            yield f"{scheme}://{bound_host!s}:{bound_port}{self.prefix}"
        finally:
            server.stopping.set()
            server.shutdown()
            server.close_connections()
            server.server_close()
            thread.join()
            # Connections still answering (an endless body) end once their socket is shut.
            lingering = server.join_handlers(_HANDLER_JOIN_TIMEOUT)
            if lingering:
                logger.warning(
                    "fake server: %d connection(s) still open after shutdown", len(lingering)
                )


# -- in-process drivers -------------------------------------------------------------------


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout")
    if isinstance(timeout, Mapping):
        value = timeout.get("read")
        return float(value) if value is not None else None
    return None


def _fake_request(server: FakeServer, request: httpx.Request, body: bytes) -> FakeRequest:
    url = request.url
    raw_path, _, query = url.raw_path.partition(b"?")
    return server._make_request(
        request.method,
        raw_path.decode("ascii"),
        # What ``url.params`` holds (parse_qs, blank values kept), without building it.
        urllib.parse.parse_qsl(query.decode("ascii"), keep_blank_values=True) if query else (),
        request.headers.multi_items(),
        body,
        url.scheme,
    )


def _to_httpx(
    outcome: _Outcome, request: httpx.Request, stream: Callable[[_Framed], Any]
) -> httpx.Response:
    if outcome.drop == "refuse":
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
    if outcome.drop == "reset":
        raise httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    response = outcome.response
    assert response is not None
    headers = [
        (name.encode("latin-1"), _header_bytes(value)) for name, value in response.headers.items()
    ]
    body = response.body
    if isinstance(body, bytes) and not response.abort and response.framing == "auto":
        if body and not any(name.lower() == "content-length" for name in response.headers):
            # What httpx adds for ``content=`` when it is missing, where it adds it (last);
            # given here, httpx skips its slower case-insensitive look-up and insertion.
            headers.append((b"Content-Length", b"%d" % len(body)))
        return httpx.Response(response.status, headers=headers, content=body)
    chunks = [body] if isinstance(body, bytes) else body
    return httpx.Response(
        response.status, headers=headers, stream=stream(_Framed(response, chunks))
    )


def _header_bytes(value: str) -> bytes:
    """A header value as sent: latin-1 (so ``\xff`` is the byte 0xff), else UTF-8."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _announced_length(headers: Mapping[str, str]) -> int | None:
    for name, value in headers.items():
        if name.lower() == "content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class _Framed:
    """A streamed body as a socket would deliver it to httpx: an aborted body whose framing
    lets a client notice (an unmet ``Content-Length``, a chunked body without its last
    chunk) ends in ``RemoteProtocolError``; the chunks are closed when the reader stops."""

    def __init__(self, response: FakeResponse, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self._abort = response.abort and response.framing == "auto"
        self._announced = _announced_length(response.headers)

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        try:
            for chunk in self._chunks:
                received += len(chunk)
                yield chunk
        finally:
            self.close()
        if self._abort and (self._announced is None or received < self._announced):
            expected = "" if self._announced is None else f", expected {self._announced}"
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body: "
                f"received {received} bytes{expected}"
            )

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class _AsyncChunks(httpx.AsyncByteStream):
    def __init__(self, chunks: _Framed) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> Any:
        for chunk in self._chunks:
            yield chunk

    async def aclose(self) -> None:
        self._chunks.close()


class _SyncChunks(httpx.SyncByteStream):
    def __init__(self, chunks: _Framed) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks

    def close(self) -> None:
        self._chunks.close()


class _AsyncFakeTransport(httpx.AsyncBaseTransport):
    def __init__(self, server: FakeServer) -> None:
        self._server = server

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        fake_request = _fake_request(self._server, request, body)
        exchange = self._server._exchange(fake_request)
        timeout = _read_timeout(request)
        clock = self._server.clock
        try:
            delay = next(exchange)
            while True:
                if timeout is not None and delay > timeout:
                    await clock.sleep(timeout)
                    exchange.close()
                    raise httpx.ReadTimeout("The read operation timed out", request=request)
                await clock.sleep(delay)
                delay = exchange.send(None)
        except StopIteration as stop:
            outcome: _Outcome = stop.value
        return _to_httpx(outcome, request, _AsyncChunks)


class _SyncFakeTransport(httpx.BaseTransport):
    def __init__(self, server: FakeServer) -> None:
        self._server = server

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        fake_request = _fake_request(self._server, request, body)
        exchange = self._server._exchange(fake_request)
        timeout = _read_timeout(request)
        try:
            delay = next(exchange)
            while True:
                if timeout is not None and delay > timeout:
                    time.sleep(timeout)
                    exchange.close()
                    raise httpx.ReadTimeout("The read operation timed out", request=request)
                time.sleep(delay)
                delay = exchange.send(None)
        except StopIteration as stop:
            outcome: _Outcome = stop.value
        return _to_httpx(outcome, request, _SyncChunks)


# -- the loopback server ------------------------------------------------------------------


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    # Tests start and stop servers quickly; a lingering TIME_WAIT must not block the port.
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self.ssl_context = ssl_context
        self._handlers: set[threading.Thread] = set()
        self.stopping = threading.Event()  # set when serve() ends: delayed answers stop waiting
        super().__init__(address, handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.ssl_context is not None:
            # The handshake waits for the connection's own thread (finish_request).
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.do_handshake()
            except (OSError, ValueError):
                logger.debug("fake server: TLS handshake with %s failed", client_address)
                return
        super().finish_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._handlers.add(threading.current_thread())
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._handlers.discard(threading.current_thread())

    def join_handlers(self, timeout: float) -> list[threading.Thread]:
        """Wait for the threads serving connections to end; return those still running."""
        deadline = time.monotonic() + timeout
        with self._open_lock:
            threads = list(self._handlers)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t for t in threads if t.is_alive()]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End idle keep-alive connections so their threads finish."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is normal for a fault injector; never print.
        logger.debug("fake server: error while serving %s", client_address, exc_info=True)


def _make_handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "soravideo-fake"
        _headers_buffer: list[bytes]  # http.server's own, filled by send_response
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("fake server: " + format, *args)

        def _read_body(self) -> bytes:
            if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                parts: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(parts)
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""

        def _drop(self) -> None:
            # SO_LINGER with a zero timeout makes close() send a TCP RST: a real reset.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()

        def _serve(self) -> None:
            split = urllib.parse.urlsplit(self.path)
            body = self._read_body()
            request = server._make_request(
                self.command,
                split.path,
                urllib.parse.parse_qsl(split.query, keep_blank_values=True),
                self.headers.items(),
                body,
                "https" if isinstance(self.connection, ssl.SSLSocket) else "http",
            )
            exchange = server._exchange(request)
            stopping = cast(_ThreadingServer, self.server).stopping
            try:
                delay = next(exchange)
                while True:
                    if stopping.wait(delay):
                        # Serving stops: the answer is never sent (logged with status None).
                        exchange.close()
                        self.close_connection = True
                        return
                    delay = exchange.send(None)
            except StopIteration as stop:
                outcome: _Outcome = stop.value
            if outcome.drop is not None:
                self._drop()
                return
            response = outcome.response
            assert response is not None
            try:
                self._answer(response)
            except OSError:
                # The client hung up mid-answer (an endless body it stopped reading).
                self.close_connection = True
            finally:
                close = getattr(response.body, "close", None)
                if close is not None:
                    close()
            if response.abort or response.framing == "close":
                self.close_connection = True

        def _header(self, name: str, value: str) -> None:
            # Raw bytes, not send_header: a hostile value may hold bytes that are not UTF-8.
            self._headers_buffer.append(
                name.encode("latin-1") + b": " + _header_bytes(value) + b"\r\n"
            )

        def _answer(self, response: FakeResponse) -> None:
            self.send_response(response.status)
            names = {k.lower() for k in response.headers}
            for name, value in response.headers.items():
                self._header(name, value)
            body = response.body
            if response.framing == "close":
                self._header("connection", "close")
                self.end_headers()
                for chunk in [body] if isinstance(body, bytes) else body:
                    self.wfile.write(chunk)
            elif isinstance(body, bytes):
                if "content-length" not in names:
                    self._header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif "content-length" in names:
                self.end_headers()
                for chunk in body:
                    self.wfile.write(chunk)
            else:
                self._header("transfer-encoding", "chunked")
                self.end_headers()
                for chunk in body:
                    if chunk:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                if not response.abort:
                    self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

        def finish(self) -> None:
            # After a reset (or a client that hung up) flushing fails: close quietly.
            for stream in (self.wfile, self.rfile):
                with contextlib.suppress(OSError, ValueError):
                    stream.close()

    return _Handler
