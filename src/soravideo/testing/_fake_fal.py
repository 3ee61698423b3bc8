"""FakeFal: a faithful simulator of fal's queue API for video models, and of its CDN.

It speaks what the official ``fal-client`` package (1.0.3) speaks: ``POST /{endpoint id}``
with the model's input as the body, answering ``{request_id, status: "IN_QUEUE",
queue_position, response_url, status_url, cancel_url}``; ``GET
/{owner}/{alias}/requests/{id}/status`` answering ``IN_QUEUE`` (with ``queue_position``),
``IN_PROGRESS`` or ``COMPLETED`` (always with ``logs``; with ``metrics`` once completed),
202 until completion and 200 then; ``GET /{owner}/{alias}/requests/{id}`` answering the
model's result or its error; ``PUT …/cancel`` answering ``CANCELLATION_REQUESTED``,
``ALREADY_COMPLETED`` or ``NOT_FOUND``. Requests are addressed by the first two segments
of the endpoint id only, as fal does. Requests need ``Authorization: Key KEY`` (when the
fake has a key); every answer carries ``x-fal-request-id``.

Videos live on the fake's CDN (``/_cdn/{request}/{token}_output.mp4``): keyless, one URL
per video for as long as the video is kept (``X-Fal-Object-Lifecycle-Preference``, else
``object_ttl``); the result that names it is kept ``result_ttl`` after completion.

As in FakeSora, no background task runs: every answer is derived from the fake's clock.
With ``max_concurrent``, requests beyond the limit wait ``IN_QUEUE`` (fal queues them; it
never answers 429 for concurrency) with a ``queue_position`` that counts the requests
waiting ahead, and start, first come first served, as slots free up.
"""

from __future__ import annotations

import hmac
import json
import math
import uuid
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from .._core.clock import Clock, utc_from_timestamp
from ..transports.fal import (
    FAL_MODELS,
    FalModel,
    app_of,
    fal_remote_id,
    price_of_body,
)
from . import _media
from ._fakeserver import FakeRequest, FakeResponse, FakeServer, chunks, summarised
from ._slots import Slots, peak_overlap, peak_running, span_ends
from ._webhooks import FakeWebhookEvent

__all__ = ["FakeFal"]

_DEFAULT_HOST = "fake-fal.invalid"
_CDN_PREFIX = "/_cdn/"
_OBJECT_TTL = 7 * 24 * 3600.0
_LIFECYCLE = "x-fal-object-lifecycle-preference"
_TRUE = ("1", "true", "yes")


def _iso(seconds: float) -> str:
    stamp = utc_from_timestamp(seconds)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _pixels(body: Mapping[str, Any]) -> tuple[int, int]:
    short = {"480p": 480, "512P": 512, "720p": 720, "768P": 768, "1080p": 1080, "4k": 2160}.get(
        str(body.get("resolution") or "720p"), 720
    )
    ratio = str(body.get("aspect_ratio") or "16:9")
    try:
        a, b = (int(n) for n in ratio.split(":"))
    except ValueError:
        a, b = 16, 9
    long = math.floor(short * max(a, b) / min(a, b) / 2 + 0.5) * 2
    return (long, short) if a >= b else (short, long)


@attrs.define(kw_only=True)
class _Request:
    """One queue request. Its status is derived from the clock; only cancel mutates it."""

    id: str  # the remote id, as FalTransport records it (owner:alias:request_id)
    request_id: str
    app: str
    endpoint: str
    seq: int
    body: dict[str, Any]
    params: dict[str, Any]
    headers: dict[str, str]
    webhook: str | None
    created: float
    duration: float
    seconds: int | None
    fails: bool
    issues: list[dict[str, Any]]
    failure_at: float
    object_ttl: float
    token: str
    cancelled_at: float | None = None
    deleted_at: float | None = None
    origin: Any = None  # [W2-7] the create, for the result's URL a push shows

    @property
    def runtime(self) -> float:
        """Seconds from getting a runner to its end (a failure comes part way; invalid
        input fails at once)."""
        if self.issues:
            return 0.0
        return self.duration * (self.failure_at if self.fails else 1.0)


class FakeFal(FakeServer):
    """A simulator of fal's queue API and CDN, in-process or on a loopback port.

    In-process: ``httpx.AsyncClient(transport=fake.http_transport())`` and
    ``FalTransport(base_url="http://fake-fal.test", http_client=...)`` with simulated time
    you move (``fake.advance(30)``); served: ``with fake.serve() as base_url:`` for any
    client, on real time, over TLS with ``serve(ssl_context=...)`` for the official
    ``fal-client`` (which only speaks ``https://``).

    Args:
        api_key: When set, queue requests must carry ``Authorization: Key KEY`` (else 401).
        clock: Its time (``None``: a ManualClock in-process, real time when served).
        generation_time: Seconds a request runs once it has a runner, or a function of
            the endpoint id and the body returning seconds.
        queue_time: Seconds a request stays ``IN_QUEUE`` (position 0) after getting a
            slot: the runner's start.
        failure_prompts: Case-insensitive substrings of ``prompt`` that fail the model's
            content checks: the request ends ``COMPLETED`` and its result is
            ``failure_status`` with a ``failure_type`` error.
        failure_status: The HTTP status of those results (422, as fal's models answer).
        failure_type: Their error type (``content_policy_violation``).
        failure_at: When they fail, as a fraction of the generation time.
        max_concurrent: The most requests running at once for the account (fal's
            concurrency limit); later ones wait ``IN_QUEUE`` with a ``queue_position``,
            first come first served. Set it before creating requests.
        honour_cancel: Whether a request cancelled while running stops (it then ends
            ``COMPLETED`` with a ``client_cancelled`` error); a queued one is always
            removed.
        errors_on_status: Also put ``error`` and ``error_type`` on a failed request's
            ``COMPLETED`` status (the official client reads them there; whether fal sends
            them is not documented), not only in its result.
        object_ttl: Seconds a video stays on the CDN when the create sent no
            ``X-Fal-Object-Lifecycle-Preference``.
        result_ttl: Seconds a completed request's result stays readable (then 404).
        cdn_base_url: Where video URLs point (default: the host the request was sent to).
        models: The endpoints it serves (default `FAL_MODELS`);
            their inputs are checked as fal's models check them.
        unknown_models: Serve any other endpoint id too, with no input checks.
        content_bytes: Size of each MP4's media payload.
        seed: Seeds ids, tokens, request ids and rate-based faults.

    A video URL fetched with an ``Authorization`` header is refused (400): a client must
    never send its key to the CDN.

    Examples:
        ```python
        from soravideo.testing import FakeFal, check_ledger_exactly_once

        async with sv.AsyncSoraVideo.simulated(provider="fal") as client:
            assert isinstance(client.fake, FakeFal)
            refused = sv.CreateVideoRequest(prompt=f"{client.fake.failing_prompt}: a storm")
            job = await client.videos.wait_for_job((await client.videos.create_video(refused)).id)
            print(job.status, job.error.code)  # failed, fal's content-policy refusal
            await check_ledger_exactly_once(client.fake, client.repository)
        ```
    """

    request_id_header = "x-fal-request-id"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        clock: Clock | None = None,
        generation_time: float | Callable[[str, Mapping[str, Any]], float] = 5.0,
        queue_time: float = 0.0,
        failure_prompts: Sequence[str] = ("fail-moderation",),
        failure_status: int = 422,
        failure_type: str = "content_policy_violation",
        failure_at: float = 0.0,
        max_concurrent: int | None = None,
        honour_cancel: bool = True,
        errors_on_status: bool = False,
        object_ttl: float = _OBJECT_TTL,
        result_ttl: float = 3600.0,
        cdn_base_url: str | None = None,
        models: Mapping[str, FalModel] | None = None,
        unknown_models: bool = False,
        content_bytes: int = 64 * 1024,
        seed: int = 0,
    ) -> None:
        super().__init__(clock=clock, seed=seed, prefix="")
        self._check_limits(failure_at, max_concurrent)
        self._api_key = api_key
        self.generation_time = generation_time
        self.queue_time = queue_time
        self.failure_prompts = tuple(failure_prompts)
        self.failure_status = failure_status
        self.failure_type = failure_type
        self.failure_at = failure_at
        self.max_concurrent = max_concurrent
        self.honour_cancel = honour_cancel
        self.errors_on_status = errors_on_status
        self.object_ttl = object_ttl
        self.result_ttl = result_ttl
        self.cdn_base_url = cdn_base_url.rstrip("/") if cdn_base_url else None
        self.models: Mapping[str, FalModel] = models if models is not None else FAL_MODELS
        self.unknown_models = unknown_models
        self.content_bytes = content_bytes
        self._requests: dict[str, _Request] = {}
        self._by_request_id: dict[tuple[str, str], _Request] = {}
        r = self.router
        for namespace in ("", "/{namespace}"):
            base = namespace + "/{owner}/{alias}/requests/{request_id}"
            r.add("GET", base + "/status", self._status_route, name="status")
            r.add("GET", base, self._result_route, name="result")
            r.add("PUT", base + "/cancel", self._cancel_route, name="cancel")
        r.add("GET", "/_cdn/{request_id}/{file}", self._download, name="cdn")
        r.add("GET", self.jwks_path, self._jwks, name="jwks")
        r.add("POST", "/{endpoint*}", self._submit, name="submit")

    # -- the driver interface (FakeProvider) ----------------------------------------------

    _record_noun = "requests"

    def _records(self) -> Iterable[_Request]:
        return self._requests.values()

    webhook_scheme = "fal"
    webhook_needs_url = True
    jwks_path = "/.well-known/jwks.json"
    """Where the fake publishes its webhook signing key (a ``FalTransport``'s
    ``webhook_jwks_url`` is the fake's base URL plus this)."""

    def _webhook_events(
        self, now: float, known: Container[str] = frozenset()
    ) -> Iterator[FakeWebhookEvent]:
        """A request's end, POSTed to its ``fal_webhook``: ``OK`` with the result as
        ``payload``, or ``ERROR`` with the error's detail (a cancelled one sends none)."""
        spans = self._spans()  # once: each request's end depends on every one before it
        for found in self._requests.values():
            span = spans[found.id]
            if found.webhook is None or span is None or span[1] > now:
                continue
            outcome = self._outcome(found, spans)
            if outcome == "cancelled":
                continue
            status = "OK" if outcome == "ok" else "ERROR"
            key = f"{found.id}:{status}"
            if key in known:
                continue
            payload: dict[str, Any] = {
                "request_id": found.request_id,
                "gateway_request_id": found.request_id,
                "status": status,
            }
            if outcome == "ok":
                payload["payload"] = {
                    "video": {
                        "url": self._video_url(found, found.origin),
                        "content_type": "video/mp4",
                        "file_name": "output.mp4",
                    }
                }
            else:
                detail = found.issues or [
                    {"loc": ["body", "prompt"], "msg": "content policy", "type": self.failure_type}
                ]
                payload["error"] = (
                    f"Invalid status code: {422 if found.issues else self.failure_status}"
                )
                payload["payload"] = {"detail": detail}
            yield FakeWebhookEvent(
                key=key,
                at=span[1],
                remote_id=found.id,
                kind=status,
                url=found.webhook,
                payload=payload,
            )

    def _jwks(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse.json(200, self.webhooks.jwks(), tag="jwks")

    def _end_times(self, now: float) -> list[float]:
        return span_ends(self._spans(), now)

    def reset_next_create(self) -> None:
        """Let the next create take effect, then reset its connection (an ambiguous create)."""
        self.inject(reset=True, phase="after", match="POST /*", times=1)

    # -- counters and views for assertions ----------------------------------------------

    def status_request_count(self) -> int:
        """Return how many status reads arrived."""
        return self.count(route="status")

    def result_request_count(self) -> int:
        """Return how many result reads arrived."""
        return self.count(route="result")

    def download_count(self, status: int | None = None) -> int:
        """Return how many CDN downloads arrived (with this answer status, if given)."""
        return self.count(route="cdn", status=status)

    def create_params(self, video_id: str) -> dict[str, Any]:
        """Return the body a request was created with (``data:`` URIs summarised).

        Args:
            video_id: The remote id (``owner:alias:request_id``) or the bare request id.

        Raises:
            KeyError: no request ever had this id.
        """
        with self._lock:
            return dict(self._find(video_id).params)

    def create_headers(self, video_id: str) -> dict[str, str]:
        """Return the ``x-fal-*`` headers the create of a request carried (lower-case).

        Raises:
            KeyError: no request ever had this id.
        """
        with self._lock:
            return dict(self._find(video_id).headers)

    def endpoint_of(self, video_id: str) -> str:
        """Return the endpoint id a request was submitted to.

        Raises:
            KeyError: no request ever had this id.
        """
        with self._lock:
            return self._find(video_id).endpoint

    def price_usd(self, video_id: str) -> float | None:
        """Return the price of what was sent for a request, per fal's published table.

        ``None`` when the table has no price for its endpoint and inputs. A request
        cancelled before it ran, or that failed its input checks, costs nothing.

        Raises:
            KeyError: no request ever had this id.
        """
        with self._lock:
            request = self._find(video_id)
            return price_of_body(self.models.get(request.endpoint), request.body)

    def queue_position(self, video_id: str) -> int | None:
        """Return the request's ``queue_position`` now (``None`` once it is running).

        Raises:
            KeyError: no request ever had this id.
        """
        with self._lock:
            request = self._find(video_id)
            spans = self._spans()
            return self._position(request, self.now(), spans)

    def peak_concurrency(self) -> int:
        """Return the most requests that ran at once, so far."""
        now = self.now()
        with self._lock:
            return peak_running(self._spans(), now)

    def peak_waiting(self) -> int:
        """Return the most requests that waited ``IN_QUEUE`` for a slot at once, so far."""
        now = self.now()
        with self._lock:
            spans = self._spans()
            events: list[tuple[float, int]] = []
            for request in self._requests.values():
                span = spans[request.id]
                start = span[0] if span is not None else (request.cancelled_at or math.inf)
                start = min(start, now)
                if start > request.created:
                    events += [(request.created, 1), (start, -1)]
        return peak_overlap(events)

    def waited_ids(self) -> list[str]:
        """Return the ids of requests that waited for a slot (or wait still)."""
        with self._lock:
            spans = self._spans()
            waited = []
            for request in self._requests.values():
                span = spans[request.id]
                if span is None or span[0] > request.created:
                    waited.append(request.id)
            return waited

    def expire_objects(self) -> int:
        """Make every video on the CDN expire now; return how many were still kept."""
        now = self.now()
        with self._lock:
            kept = 0
            for request in self._requests.values():
                end = self._end(request)
                if end is not None and end + request.object_ttl > now:
                    kept += 1
                    request.object_ttl = max(0.0, now - end)
            return kept

    def request(self, video_id: str) -> dict[str, Any]:
        """Return a request's status as ``GET …/status`` would show it now (no log entry).

        Raises:
            KeyError: no request ever had this id.
        """
        with self._lock:
            request = self._find(video_id)
            return self._status_body(request, self.now(), self._spans(), "", logs=False)

    # -- error shape and auth -------------------------------------------------------------

    def _error_body(
        self, status: int, message: str, code: str | None, param: str | None
    ) -> tuple[Any, Mapping[str, str]]:
        """Return a fal-shaped request error: ``{"detail": "…", "error_type": "…"}``."""
        if code is None:
            return {"detail": message}, {}
        return {"detail": message, "error_type": code}, {"x-fal-error-type": code}

    def before_route(self, request: FakeRequest) -> FakeResponse | None:
        """Check the key (``Authorization: Key …``) on everything but the CDN."""
        if request.path.startswith(_CDN_PREFIX) or self._api_key is None:
            return None
        if request.path == self.jwks_path:  # public, as fal's own
            return None
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "key" or not token.strip():
            return self.error_response(
                401, "No key was provided. Pass it as Authorization: Key <key>."
            )
        if not hmac.compare_digest(token.strip().encode(), self._api_key.encode()):
            return self.error_response(401, "The provided key is not valid.")
        return None

    # -- scheduling --------------------------------------------------------------------

    def _find(self, video_id: str) -> _Request:
        found = self._requests.get(video_id)
        if found is not None:
            return found
        for request in self._requests.values():
            if request.request_id == video_id:
                return request
        raise KeyError(video_id)

    def _spans(self) -> dict[str, tuple[float, float] | None]:
        """Return each request's (start, stop) on a runner, or ``None`` if it never starts.

        Requests take the account's slots first come, first served; a slot frees when its
        request stops (ends, or is cancelled while running). A queued request cancelled
        is removed before it starts.
        """
        spans: dict[str, tuple[float, float] | None] = {}
        slots = Slots(self.max_concurrent)
        for request in sorted(self._requests.values(), key=lambda r: r.seq):
            start = slots.start(request.created)
            removed = request.cancelled_at is not None and request.cancelled_at < (
                start + self.queue_time
            )
            if removed:
                spans[request.id] = None
                if request.cancelled_at is not None and request.cancelled_at >= start:
                    # It held its slot while its runner started, until the cancel.
                    slots.hold_until(request.cancelled_at)
                continue
            stop = start + self.queue_time + request.runtime
            if request.cancelled_at is not None and self.honour_cancel:
                stop = min(stop, request.cancelled_at)
            spans[request.id] = (start, stop)
            slots.hold_until(stop)
        return spans

    def _end(self, request: _Request) -> float | None:
        span = self._spans()[request.id]
        return None if span is None else span[1]

    def _word(self, request: _Request, now: float, span: tuple[float, float] | None) -> str:
        if span is None:
            return "IN_QUEUE"
        start, stop = span
        if now >= stop:
            return "COMPLETED"
        if now < start + self.queue_time:
            return "IN_QUEUE"
        return "IN_PROGRESS"

    def _position(
        self, request: _Request, now: float, spans: Mapping[str, tuple[float, float] | None]
    ) -> int | None:
        span = spans[request.id]
        if span is not None and now >= span[0] + self.queue_time:
            return None
        ahead = 0
        for other in self._requests.values():
            if other.seq >= request.seq or other.deleted_at is not None:
                continue
            other_span = spans[other.id]
            if other_span is not None and other_span[0] <= now:
                continue
            ahead += 1
        return ahead

    def _outcome(
        self, request: _Request, spans: Mapping[str, tuple[float, float] | None] | None = None
    ) -> str:
        """``"ok"``, ``"failed"`` (model error), ``"invalid"`` or ``"cancelled"`` (``spans``:
        ``_spans()`` when the caller has it already)."""
        if request.issues:
            return "invalid"
        span = (self._spans() if spans is None else spans)[request.id]
        if (
            span is not None
            and request.cancelled_at is not None
            and self.honour_cancel
            and request.cancelled_at < span[0] + self.queue_time + request.runtime
        ):
            return "cancelled"
        return "failed" if request.fails else "ok"

    # -- answers ------------------------------------------------------------------------

    def _base(self, request: FakeRequest) -> str:
        return f"{request.scheme}://{request.header('host') or _DEFAULT_HOST}"

    def _urls(self, request: _Request, base: str) -> dict[str, str]:
        root = f"{base}/{request.app}/requests/{request.request_id}"
        return {
            "response_url": root,
            "status_url": root + "/status",
            "cancel_url": root + "/cancel",
        }

    def _logs(self, request: _Request, now: float, word: str) -> list[dict[str, Any]]:
        if word == "IN_QUEUE":
            return []
        return [
            {
                "message": f"Generating video for {request.endpoint}",
                "level": "INFO",
                "source": "USER",
                "timestamp": _iso(request.created),
            }
        ]

    def _error_of(self, request: _Request) -> tuple[str, str] | None:
        outcome = self._outcome(request)
        if outcome == "failed":
            return "The content could not be processed because it violated our content policy.", (
                self.failure_type
            )
        if outcome == "invalid":
            return "The input is not valid for this model.", str(
                request.issues[0].get("type") or "validation_error"
            )
        if outcome == "cancelled":
            return "The request was cancelled by the client.", "client_cancelled"
        return None

    def _status_body(
        self,
        request: _Request,
        now: float,
        spans: Mapping[str, tuple[float, float] | None],
        base: str,
        *,
        logs: bool,
    ) -> dict[str, Any]:
        word = self._word(request, now, spans[request.id])
        body: dict[str, Any] = {"status": word, "request_id": request.request_id}
        body.update(self._urls(request, base))
        if word == "IN_QUEUE":
            body["queue_position"] = self._position(request, now, spans)
            return body
        body["logs"] = self._logs(request, now, word) if logs else None
        if word == "COMPLETED":
            span = spans[request.id]
            assert span is not None
            body["metrics"] = {"inference_time": round(span[1] - span[0] - self.queue_time, 3)}
            error = self._error_of(request) if self.errors_on_status else None
            if error is not None:
                body["error"], body["error_type"] = error
        return body

    def _visible(self, app: str, request_id: str) -> _Request | None:
        request = self._by_request_id.get((app, request_id))
        return request if request is not None and request.deleted_at is None else None

    def _not_found(self) -> FakeResponse:
        return self.error_response(404, "Request not found")

    # -- creating -----------------------------------------------------------------------

    def _check(self, spec: FalModel, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Check a create body as fal's model apps do; return pydantic-style issues."""
        issues: list[dict[str, Any]] = []

        def issue(field: str, kind: str, message: str) -> None:
            issues.append(
                {
                    "loc": ["body", field],
                    "msg": message,
                    "type": kind,
                    "input": body.get(field),
                }
            )

        prompt = body.get("prompt")
        if prompt is None:
            issue("prompt", "missing", "Field required")
        elif not isinstance(prompt, str) or not prompt:
            issue("prompt", "string_type", "Input should be a non-empty string")
        elif spec.max_prompt is not None and len(prompt) > spec.max_prompt:
            issue(
                "prompt",
                "string_too_long",
                f"String should have at most {spec.max_prompt} characters",
            )
        if "duration" in body:
            allowed = [spec.render_duration(d) for d in spec.durations]
            if not allowed:
                issue("duration", "extra_forbidden", "This model makes videos of one length")
            elif body["duration"] not in allowed or isinstance(body["duration"], bool):
                issue("duration", "literal_error", f"Input should be one of {allowed}")
        if "aspect_ratio" in body and body["aspect_ratio"] not in (*spec.aspect_ratios, "auto"):
            issue(
                "aspect_ratio",
                "literal_error",
                f"Input should be one of {list(spec.aspect_ratios)}",
            )
        if "resolution" in body:
            allowed_res = (*spec.resolutions, *spec.extra_resolutions)
            if body["resolution"] not in allowed_res:
                issue("resolution", "literal_error", f"Input should be one of {list(allowed_res)}")
        if "generate_audio" in body and not isinstance(body["generate_audio"], bool):
            issue("generate_audio", "bool_type", "Input should be a valid boolean")
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            issue("seed", "int_type", "Input should be a valid integer")
        if spec.image_field is not None:
            image = body.get(spec.image_field)
            if image is None:
                issue(spec.image_field, "missing", "Field required")
            elif not isinstance(image, str) or not image.startswith(("https://", "data:image/")):
                issue(spec.image_field, "url_parsing", "Input should be a URL or a data URI")
        return issues

    def _submit(self, request: FakeRequest, endpoint: str) -> FakeResponse:
        spec = self.models.get(endpoint)
        if spec is None and not self.unknown_models:
            return self.error_response(404, f"Application '{endpoint}' not found")
        try:
            app = app_of(endpoint)
        except ValueError:
            return self.error_response(404, f"Application '{endpoint}' not found")
        if request.content_type != "application/json":
            return self.error_response(422, "The request body must be JSON.")
        try:
            body = request.json()
        except ValueError:
            return self.error_response(422, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return self.error_response(422, "The request body must be a JSON object.")
        issues = self._check(spec, body) if spec is not None else []
        now = self.now()
        headers = {k: v for k, v in request.headers.items() if k.startswith("x-fal-")}
        ttl = self.object_ttl
        preference = request.header(_LIFECYCLE)
        if preference is not None:
            try:
                ttl = float(json.loads(preference)["expiration_duration_seconds"])
            except (ValueError, KeyError, TypeError):
                return self.error_response(
                    400, f"Invalid {_LIFECYCLE} header: expected expiration_duration_seconds"
                )
        seconds_value = body.get("duration")
        seconds: int | None = None
        if isinstance(seconds_value, int) and not isinstance(seconds_value, bool):
            seconds = seconds_value
        elif isinstance(seconds_value, str) and seconds_value.removesuffix("s").isdigit():
            seconds = int(seconds_value.removesuffix("s"))
        elif spec is not None:
            seconds = spec.default_duration
        generation = (
            self.generation_time(endpoint, body)
            if callable(self.generation_time)
            else self.generation_time
        )
        request_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        record = _Request(
            id=fal_remote_id(app, request_id),
            request_id=request_id,
            app=app,
            endpoint=endpoint,
            seq=len(self._requests),
            body=body,
            params=summarised(body),
            headers=headers,
            webhook=request.query.get("fal_webhook"),
            origin=request,
            created=now,
            duration=max(0.0, float(generation)),
            seconds=seconds,
            fails=self._fails(str(body.get("prompt") or "").lower()),
            issues=issues,
            failure_at=self.failure_at,
            object_ttl=ttl,
            token=f"{self._rng.getrandbits(64):016x}",
        )
        self._requests[record.id] = record
        self._by_request_id[(app, request_id)] = record
        spans = self._spans()
        answer: dict[str, Any] = {
            "status": "IN_QUEUE",
            "request_id": request_id,
            **self._urls(record, self._base(request)),
            "queue_position": self._position(record, now, spans) or 0,
        }
        return FakeResponse.json(200, answer, tag="created")

    # -- reading, cancelling, downloading -------------------------------------------------

    def _status_route(
        self, request: FakeRequest, owner: str, alias: str, request_id: str, namespace: str = ""
    ) -> FakeResponse:
        app = "/".join(p for p in (namespace, owner, alias) if p)
        found = self._visible(app, request_id)
        if found is None:
            return self._not_found()
        logs = (request.query.get("logs") or "").lower() in _TRUE
        body = self._status_body(found, self.now(), self._spans(), self._base(request), logs=logs)
        status = 200 if body["status"] == "COMPLETED" else 202
        return FakeResponse.json(status, body, tag=body["status"].lower())

    def _result_route(
        self, request: FakeRequest, owner: str, alias: str, request_id: str, namespace: str = ""
    ) -> FakeResponse:
        app = "/".join(p for p in (namespace, owner, alias) if p)
        found = self._visible(app, request_id)
        if found is None:
            return self._not_found()
        now = self.now()
        end = self._end(found)
        if end is None or now < end:
            return self.error_response(400, "Request is still in progress")
        if now >= end + self.result_ttl:
            return self._not_found()
        outcome = self._outcome(found)
        if outcome == "cancelled":
            return self.error_response(
                499, "The request was cancelled by the client.", code="client_cancelled"
            )
        if outcome in ("failed", "invalid"):
            detail = (
                found.issues
                if outcome == "invalid"
                else [
                    {
                        "loc": ["body", "prompt"],
                        "msg": "The content could not be processed because it violated "
                        "our content policy.",
                        "type": self.failure_type,
                        "url": f"https://docs.fal.ai/errors#{self.failure_type}",
                        "input": found.body.get("prompt"),
                    }
                ]
            )
            status = 422 if outcome == "invalid" else self.failure_status
            return FakeResponse.json(
                status, {"detail": detail}, headers={"x-fal-retryable": "false"}, tag=outcome
            )
        width, height = _pixels(found.body)
        size = len(self._video(found, width, height))
        result: dict[str, Any] = {
            "video": {
                "url": self._video_url(found, request),
                "content_type": "video/mp4",
                "file_name": "output.mp4",
                "file_size": size,
            }
        }
        if found.app.startswith("bytedance") or "/bytedance/" in found.endpoint:
            result["seed"] = found.seq
        return FakeResponse.json(200, result, tag="result")

    def _cancel_route(
        self, request: FakeRequest, owner: str, alias: str, request_id: str, namespace: str = ""
    ) -> FakeResponse:
        app = "/".join(p for p in (namespace, owner, alias) if p)
        found = self._visible(app, request_id)
        if found is None:
            return FakeResponse.json(404, {"status": "NOT_FOUND"}, tag="not_found")
        now = self.now()
        spans = self._spans()
        word = self._word(found, now, spans[found.id])
        if word == "COMPLETED":
            return FakeResponse.json(400, {"status": "ALREADY_COMPLETED"}, tag="completed")
        if found.cancelled_at is None:
            if word == "IN_QUEUE":
                found.cancelled_at = now
                found.deleted_at = now  # removed from the queue: never runs
            elif self.honour_cancel:
                found.cancelled_at = now
        return FakeResponse.json(202, {"status": "CANCELLATION_REQUESTED"}, tag="cancelled")

    def _video_url(self, found: _Request, request: FakeRequest) -> str:
        base = self.cdn_base_url or self._base(request)
        return f"{base}{_CDN_PREFIX}{found.request_id}/{found.token}_output.mp4"

    def _video(self, found: _Request, width: int, height: int) -> bytes:
        return _media.mp4(
            seconds=found.seconds or 6,
            width=width,
            height=height,
            payload_size=self.content_bytes,
            key=f"{self.seed}:{found.id}",
        )

    def _cdn_error(self, status: int, message: str) -> FakeResponse:
        return FakeResponse.json(status, {"detail": message})

    def _download(self, request: FakeRequest, request_id: str, file: str) -> FakeResponse:
        if request.header("authorization") is not None:
            return self._cdn_error(400, "The CDN takes no Authorization header")
        found = next((r for r in self._requests.values() if r.request_id == request_id), None)
        if found is None or file != f"{found.token}_output.mp4" or self._outcome(found) != "ok":
            return self._cdn_error(404, "File not found")
        end = self._end(found)
        now = self.now()
        if end is None or now < end or now >= end + found.object_ttl:
            return self._cdn_error(404, "File not found")
        width, height = _pixels(found.body)
        data = self._video(found, width, height)
        return FakeResponse(
            status=200,
            headers={"content-type": "video/mp4", "content-length": str(len(data))},
            body=chunks(data),
        )
