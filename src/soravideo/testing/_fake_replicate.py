"""FakeReplicate: a faithful simulator of Replicate's predictions API, and of its file delivery.

It speaks what the official ``replicate`` package (1.0.7) speaks: ``POST
/v1/models/{owner}/{name}/predictions`` and ``POST /v1/predictions`` (with ``version``)
answering 201 with the prediction; ``GET /v1/predictions/{id}``; ``GET /v1/predictions``
(newest first, ``{"next", "previous", "results"}``, with ``next`` a full URL on the fake's
own origin and an opaque ``cursor``); ``POST /v1/predictions/{id}/cancel`` answering the
prediction (200); ``GET /v1/account``. Every prediction carries ``id``, ``model``,
``version`` (``"hidden"`` for an official model), ``status`` and the other keys the client
reads; errors are problem details (``{"title", "detail", "status"}``). Requests need
``Authorization: Bearer TOKEN`` (when the fake has a token).

Statuses follow the clock: ``starting`` for ``queue_time``, ``processing`` for
``generation_time``, then ``succeeded`` (``output``: the video's URL), or ``failed``
(a failure prompt). A cancel ends it ``canceled``. A create's ``Cancel-After`` sets a
``deadline``: passed before the prediction starts, it ends ``aborted`` (never started, not
charged); passed while it runs, ``canceled``. Outputs are served under ``/_delivery/``
(no token: a request with ``Authorization`` is refused) and deleted ``output_ttl`` after
the prediction ends (then ``data_removed`` is true, ``input`` and ``output`` are gone and
the URL answers 404). More than ``creates_per_minute`` creates in a minute are throttled
(429). No background task runs: every answer is derived from the fake's clock.
"""

from __future__ import annotations

import hmac
import math
import re
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from .._core.clock import Clock, utc_from_timestamp
from ..transports._replicate_models import (
    REPLICATE_MODELS,
    ReplicateModel,
    price_of_input,
)
from . import _media
from ._fakeserver import FakeRequest, FakeResponse, FakeServer, chunks, summarised
from ._webhooks import FakeWebhookEvent

__all__ = ["FakeReplicate"]

_DELIVERY = "/_delivery/"
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_VERSION = re.compile(r"^[0-9a-f]{64}$")
_FLAGGED = (
    "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
)


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    stamp = utc_from_timestamp(seconds)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def parse_cancel_after(value: str) -> float | None:
    """Return the seconds a ``Cancel-After`` value stands for (``90s``, ``5m``, ``1h30m``,
    or bare seconds), or ``None`` when it is not one."""
    text = value.strip().lower()
    if text.isdigit():
        return float(text)
    match = _DURATION.match(text)
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


@attrs.define(kw_only=True)
class _Prediction:
    """One prediction. Its status is derived from the clock; only cancel mutates it."""

    id: str
    seq: int
    model: str
    version: str
    input: dict[str, Any]
    created: float
    queue: float
    duration: float
    fails: bool
    deadline: float | None
    token: str
    cancel_requested_at: float | None = None
    removed_at: float | None = None
    # [W2-7] The create's webhook, the events it asked for, and the create itself (for the
    # URLs a pushed prediction shows).
    webhook: str | None = None
    webhook_events: tuple[str, ...] = ()
    origin: Any = None
    deleted_at: float | None = None

    @property
    def start(self) -> float:
        return self.created + self.queue

    @property
    def cancelled_at(self) -> float | None:
        """When a cancel (the client's, or the deadline) stopped it before it ended."""
        stop = self.stop
        natural = self.start + self.duration
        return stop if stop < natural else None

    @property
    def stop(self) -> float:
        """When it ends, whatever the outcome."""
        natural = self.start + self.duration
        ends = [natural]
        if self.cancel_requested_at is not None:
            ends.append(self.cancel_requested_at)
        if self.deadline is not None:
            ends.append(self.deadline)
        return min(ends)

    def status(self, now: float) -> str:
        if now < self.stop:
            return "starting" if now < self.start else "processing"
        natural = self.start + self.duration
        if self.stop >= natural:
            return "failed" if self.fails else "succeeded"
        deadline = self.deadline
        requested = self.cancel_requested_at
        if (
            deadline is not None
            and self.stop == deadline < self.start
            and (requested is None or requested > deadline)
        ):
            return "aborted"
        return "canceled"


class FakeReplicate(FakeServer):
    """A simulator of Replicate's predictions API, in-process or on a loopback port.

    In-process: ``httpx.AsyncClient(transport=fake.http_transport())`` and
    ``ReplicateTransport(base_url="http://fake-replicate.test", http_client=...)`` with
    simulated time you move (``fake.advance(30)``); served: ``with fake.serve() as
    base_url:`` for any client (the official ``replicate.Client(base_url=...)`` too), on
    real time.

    Args:
        api_token: When set, requests must carry ``Authorization: Bearer TOKEN`` (else 401).
        clock: Its time (``None``: a ManualClock in-process, real time when served).
        generation_time: Seconds a prediction is ``processing``, or a function of the
            model and the input returning seconds.
        queue_time: Seconds a prediction is ``starting`` before it runs.
        failure_prompts: Case-insensitive substrings of ``prompt`` that end the
            prediction ``failed`` (flagged as sensitive, ``E005``).
        output_ttl: Seconds outputs (and input) are kept after a prediction ends.
        page_size: Predictions per list page (Replicate: 100).
        creates_per_minute: Creates allowed in any 60 s (more answer 429); ``None``: no limit.
        models: The models it serves and checks (default
            `REPLICATE_MODELS`).
        unknown_models: Serve any other ``owner/name`` too, with no input checks (their
            output is a list of URLs, as many models answer).
        versions: Version id → ``owner/name``, for ``POST /v1/predictions``.
        prices: USD per second of video by model, for `price_usd`.
        delivery_base_url: Where output URLs point (default: the host the request was
            sent to).
        content_bytes: Size of each MP4's media payload.
        seed: Seeds ids, tokens, request ids and rate-based faults.

    Examples:
        ```python
        from soravideo.testing import FakeReplicate, check_ledger_exactly_once

        async with sv.AsyncSoraVideo.simulated(provider="replicate") as client:
            assert isinstance(client.fake, FakeReplicate)
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A paper plane"))
            job = await client.videos.wait_for_job(job.id)
            path = await client.videos.download_video(job.id, "videos/")  # within the output's hour
            print(job.status, path.stat().st_size > 0)  # completed True
            await check_ledger_exactly_once(client.fake, client.repository)
        ```
    """

    request_id_header = None
    webhook_needs_url = True

    def __init__(
        self,
        *,
        api_token: str | None = None,
        clock: Clock | None = None,
        generation_time: float | Callable[[str, Mapping[str, Any]], float] = 5.0,
        queue_time: float = 0.0,
        failure_prompts: Sequence[str] = ("fail-moderation",),
        output_ttl: float = 3600.0,
        page_size: int = 100,
        creates_per_minute: int | None = 600,
        models: Mapping[str, ReplicateModel] | None = None,
        unknown_models: bool = False,
        versions: Mapping[str, str] | None = None,
        prices: Mapping[str, float] | None = None,
        delivery_base_url: str | None = None,
        content_bytes: int = 64 * 1024,
        seed: int = 0,
    ) -> None:
        super().__init__(clock=clock, seed=seed, prefix="")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._api_key = api_token
        self.generation_time = generation_time
        self.queue_time = queue_time
        self.failure_prompts = tuple(failure_prompts)
        self.output_ttl = output_ttl
        self.page_size = page_size
        self.creates_per_minute = creates_per_minute
        self.models: Mapping[str, ReplicateModel] = (
            models if models is not None else REPLICATE_MODELS
        )
        self.unknown_models = unknown_models
        self.versions = dict(versions or {})
        self.prices = dict(prices or {})
        self.delivery_base_url = delivery_base_url.rstrip("/") if delivery_base_url else None
        self.content_bytes = content_bytes
        self._predictions: dict[str, _Prediction] = {}
        self._create_times: list[float] = []
        r = self.router
        r.add("POST", "/v1/models/{owner}/{name}/predictions", self._create_model, name="create")
        r.add("POST", "/v1/predictions", self._create_version, name="create")
        r.add("GET", "/v1/predictions", self._list, name="list")
        r.add("GET", "/v1/predictions/{prediction_id}", self._get, name="get")
        r.add("POST", "/v1/predictions/{prediction_id}/cancel", self._cancel, name="cancel")
        r.add("GET", "/v1/account", self._account, name="account")
        r.add("GET", "/_delivery/{prediction_id}/{token}/{file}", self._download, name="delivery")

    # -- the driver interface (FakeProvider) ----------------------------------------------

    _record_noun = "predictions"

    def _records(self) -> Iterable[_Prediction]:
        return self._predictions.values()

    def _end_times(self, now: float) -> list[float]:
        return [p.stop for p in self._predictions.values() if p.stop > now]

    def reset_next_create(self) -> None:
        """Let the next create take effect, then reset its connection (an ambiguous create)."""
        self.inject(reset=True, phase="after", match=_is_create, times=1)

    def cancelled_ids(self) -> list[str]:
        """Return the ids of predictions stopped before they ended (a cancel or a deadline)."""
        now = self.now()
        with self._lock:
            return [
                p.id
                for p in self._predictions.values()
                if p.cancelled_at is not None and p.cancelled_at <= now
            ]

    # -- views for assertions ---------------------------------------------------------

    def create_params(self, video_id: str) -> dict[str, Any]:
        """Return the ``input`` a prediction was created with (``data:`` URIs summarised).

        Raises:
            KeyError: no prediction ever had this id.
        """
        with self._lock:
            return summarised(self._predictions[video_id].input)

    def model_of(self, video_id: str) -> str:
        """Return the ``owner/name`` a prediction ran.

        Raises:
            KeyError: no prediction ever had this id.
        """
        with self._lock:
            return self._predictions[video_id].model

    def deadline_of(self, video_id: str) -> float | None:
        """Return a prediction's deadline (Unix seconds, from ``Cancel-After``), if any.

        Raises:
            KeyError: no prediction ever had this id.
        """
        with self._lock:
            return self._predictions[video_id].deadline

    def status_of(self, video_id: str) -> str:
        """Return a prediction's status now (no log entry).

        Raises:
            KeyError: no prediction ever had this id.
        """
        with self._lock:
            return self._predictions[video_id].status(self.now())

    def price_usd(self, video_id: str) -> float | None:
        """Return the price of what was sent for a prediction, from ``prices``.

        Raises:
            KeyError: no prediction ever had this id.
        """
        with self._lock:
            found = self._predictions[video_id]
            return price_of_input(
                self.models.get(found.model), found.input, per_second=self.prices.get(found.model)
            )

    def video_bytes(self, video_id: str) -> bytes:
        """Return the MP4 a prediction makes (whether or not it is still served).

        Raises:
            KeyError: no prediction ever had this id.
        """
        with self._lock:
            return self._video(self._predictions[video_id])

    def download_count(self, status: int | None = None) -> int:
        """Return how many output downloads arrived (with this answer status, if given)."""
        return self.count(route="delivery", status=status)

    def expire_outputs(self) -> int:
        """Delete every output kept now, as an hour after completion would; return how many."""
        now = self.now()
        with self._lock:
            gone = 0
            for found in self._predictions.values():
                if found.status(now) == "succeeded" and not self._removed(found, now):
                    found.removed_at = now
                    gone += 1
            return gone

    def _removed(self, found: _Prediction, now: float) -> bool:
        """Whether a prediction's input and output were deleted by ``now``."""
        if now < found.stop:
            return False
        return now >= found.stop + self.output_ttl or (
            found.removed_at is not None and now >= found.removed_at
        )

    # -- errors and auth -------------------------------------------------------------

    def _error_body(
        self, status: int, message: str, code: str | None, param: str | None
    ) -> tuple[Any, Mapping[str, str]]:
        """Return a problem-details error: ``{"title", "detail", "status"}``."""
        titles = {401: "Unauthenticated", 404: "Not found", 422: "Input validation failed"}
        payload: dict[str, Any] = {
            "type": "https://replicate.com/docs/reference/http#errors",
            "title": code or titles.get(status, "Error"),
            "status": status,
            "detail": message,
        }
        return payload, {"content-type": "application/problem+json"}

    def before_route(self, request: FakeRequest) -> FakeResponse | None:
        """Check the token (``Authorization: Bearer …``) on everything but the outputs."""
        if request.path.startswith(_DELIVERY) or self._api_key is None:
            return None
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self._api_key.encode()
        ):
            return self.error_response(
                401, "You did not pass a valid authentication token", code="Unauthenticated"
            )
        return None

    # -- answers ----------------------------------------------------------------------

    def _base(self, request: FakeRequest) -> str:
        return f"{request.scheme}://{request.header('host') or 'fake-replicate.invalid'}"

    def _webhook_events(
        self, now: float, known: Container[str] = frozenset()
    ) -> Iterator[FakeWebhookEvent]:
        """A prediction's ``start`` (when it starts processing) and ``completed`` (its end),
        each with the prediction as its body, as the create's filter asked."""
        for found in self._predictions.values():
            if found.webhook is None or found.origin is None:
                continue
            wanted = found.webhook_events or ("start", "output", "logs", "completed")
            moments = [("start", found.start), ("completed", found.stop)]
            for kind, at in moments:
                if kind not in wanted or at > now or (kind == "start" and at >= found.stop):
                    continue
                key = f"{found.id}:{kind}"
                if key in known:
                    continue
                yield FakeWebhookEvent(
                    key=key,
                    at=at,
                    remote_id=found.id,
                    kind=kind,
                    url=found.webhook,
                    payload=self._body(found, found.origin, now=at),
                )

    def _body(
        self, found: _Prediction, request: FakeRequest, *, now: float | None = None
    ) -> dict[str, Any]:
        now = self.now() if now is None else now
        status = found.status(now)
        base = self._base(request)
        ended = status not in ("starting", "processing")
        removed = self._removed(found, now)
        body: dict[str, Any] = {
            "id": found.id,
            "model": found.model,
            "version": found.version,
            "input": {} if removed else found.input,
            "logs": "" if status == "starting" else f"Generating video with {found.model}\n",
            "output": None,
            "error": None,
            "status": status,
            "data_removed": removed,
            "source": "api",
            "created_at": _iso(found.created),
            "started_at": _iso(found.start) if now >= found.start and status != "aborted" else None,
            "completed_at": _iso(found.stop) if ended else None,
            "metrics": {},
            "urls": {
                "get": f"{base}/v1/predictions/{found.id}",
                "cancel": f"{base}/v1/predictions/{found.id}/cancel",
                "web": f"https://replicate.com/p/{found.id}",
            },
        }
        if found.deadline is not None:
            body["deadline"] = _iso(found.deadline)
        if ended and status != "aborted":
            ran = max(0.0, found.stop - found.start)
            body["metrics"] = {
                "predict_time": round(ran, 3),
                "total_time": round(found.stop - found.created, 3),
            }
        if status == "failed":
            body["error"] = _FLAGGED
        if status == "succeeded" and not removed:
            url = self._video_url(found, request)
            body["output"] = url if found.model in self.models else [url]
        return body

    def _video_url(self, found: _Prediction, request: FakeRequest) -> str:
        base = self.delivery_base_url or self._base(request)
        return f"{base}{_DELIVERY}{found.id}/{found.token}/output.mp4"

    def _video(self, found: _Prediction) -> bytes:
        spec = self.models.get(found.model)
        seconds = found.input.get("duration")
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            seconds = (spec.default_duration or spec.fixed_seconds) if spec else None
        portrait = found.input.get("aspect_ratio") == "9:16"
        width, height = (720, 1280) if portrait else (1280, 720)
        return _media.mp4(
            seconds=seconds or 5,
            width=width,
            height=height,
            payload_size=self.content_bytes,
            key=f"{self.seed}:{found.id}",
        )

    # -- creating -----------------------------------------------------------------------

    def _check(self, spec: ReplicateModel, body: Mapping[str, Any]) -> list[str]:
        """Check an ``input`` as the model's schema would; return ``input.field: …`` lines."""
        issues: list[str] = []
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            issues.append("input.prompt: prompt is required")
        elif spec.max_prompt is not None and len(prompt) > spec.max_prompt:
            issues.append(f"input.prompt: String length must be <= {spec.max_prompt}")
        if "duration" in body:
            seconds = body["duration"]
            if not spec.durations:
                issues.append("input: Additional property duration is not allowed")
            elif isinstance(seconds, bool) or seconds not in spec.durations:
                allowed = ", ".join(str(d) for d in spec.durations)
                issues.append(f"input.duration: duration must be one of the following: {allowed}")
        if "aspect_ratio" in body and body["aspect_ratio"] not in spec.aspect_ratios:
            issues.append(
                "input.aspect_ratio: aspect_ratio must be one of the following: "
                + ", ".join(spec.aspect_ratios)
            )
        field = spec.resolution_field
        if field in body and spec.neutral_resolution(body[field]) is None:
            allowed = ", ".join(spec.resolution_value(r) for r in spec.resolutions)
            issues.append(f"input.{field}: {field} must be one of the following: {allowed}")
        image = body.get(spec.image_field)
        if spec.needs_image and image is None:
            issues.append(f"input.{spec.image_field}: {spec.image_field} is required")
        if image is not None and (
            not isinstance(image, str) or not image.startswith(("https://", "http://", "data:"))
        ):
            issues.append(f"input.{spec.image_field}: Does not match format 'uri'")
        return issues

    def _throttled(self, now: float) -> FakeResponse | None:
        if self.creates_per_minute is None:
            return None
        self._create_times = [t for t in self._create_times if t > now - 60.0]
        if len(self._create_times) < self.creates_per_minute:
            self._create_times.append(now)
            return None
        wait = max(1, math.ceil(self._create_times[0] + 60.0 - now))
        return FakeResponse.json(
            429,
            {"detail": f"Request was throttled. Expected available in {wait} second."},
            tag="throttled",
        )

    def _new_id(self) -> str:
        bits = self._rng.getrandbits(130)
        return "".join(_ALPHABET[(bits >> (5 * i)) & 31] for i in range(26))

    def _create(self, request: FakeRequest, model: str, version: str) -> FakeResponse:
        spec = self.models.get(model)
        if spec is None and not self.unknown_models:
            return self.error_response(404, f"The requested model {model} was not found.")
        try:
            payload = request.json()
        except ValueError:
            return self.error_response(400, "The request body is not valid JSON.")
        if not isinstance(payload, dict) or not isinstance(payload.get("input", {}), dict):
            return self.error_response(422, "- input: Invalid type. Expected: object")
        body: dict[str, Any] = dict(payload.get("input") or {})
        issues = self._check(spec, body) if spec is not None else []
        if issues:
            return FakeResponse.json(
                422,
                {
                    "title": "Input validation failed",
                    "status": 422,
                    "detail": "\n".join(f"- {i}" for i in issues),
                    "invalid_fields": [
                        {"type": "invalid", "field": i.partition(":")[0], "description": i}
                        for i in issues
                    ],
                },
                tag="invalid",
            )
        deadline_text = request.header("cancel-after")
        now = self.now()
        deadline: float | None = None
        if deadline_text is not None:
            seconds = parse_cancel_after(deadline_text)
            if seconds is None:
                return self.error_response(
                    400, f"Invalid Cancel-After header: {deadline_text!r} is not a duration"
                )
            deadline = now + seconds
        throttled = self._throttled(now)
        if throttled is not None:
            return throttled
        generation = (
            self.generation_time(model, body)
            if callable(self.generation_time)
            else self.generation_time
        )
        found = _Prediction(
            id=self._new_id(),
            seq=len(self._predictions),
            model=model,
            version=version,
            input=body,
            created=now,
            queue=max(0.0, self.queue_time),
            duration=max(0.0, float(generation)),
            fails=self._fails(str(body.get("prompt") or "").lower()),
            deadline=deadline,
            token=f"{self._rng.getrandbits(64):016x}",
        )
        hook = payload.get("webhook")
        if isinstance(hook, str) and hook:
            found.webhook = hook
            events = payload.get("webhook_events_filter")
            if isinstance(events, list):
                found.webhook_events = tuple(str(e) for e in events)
            found.origin = request
        self._predictions[found.id] = found
        return FakeResponse.json(201, self._body(found, request), tag="created")

    def _create_model(self, request: FakeRequest, owner: str, name: str) -> FakeResponse:
        return self._create(request, f"{owner}/{name}", "hidden")

    def _create_version(self, request: FakeRequest) -> FakeResponse:
        try:
            payload = request.json()
        except ValueError:
            return self.error_response(400, "The request body is not valid JSON.")
        version = payload.get("version") if isinstance(payload, dict) else None
        if not isinstance(version, str):
            return self.error_response(422, "- version: version is required")
        name, sep, tail = version.partition(":")
        if sep:
            version = tail
        model = self.versions.get(version) if _VERSION.match(version) else None
        if sep and model is not None and model != name:
            model = None
        if model is None and not _VERSION.match(version) and "/" in version:
            return self._create(request, version, "hidden")
        if model is None:
            return self.error_response(422, "Invalid version or not permitted", code="Invalid")
        return self._create(request, model, version)

    # -- reading, listing, cancelling, downloading ------------------------------------------

    def _visible(self, prediction_id: str) -> _Prediction | None:
        return self._predictions.get(prediction_id)

    def _get(self, request: FakeRequest, prediction_id: str) -> FakeResponse:
        found = self._visible(prediction_id)
        if found is None:
            return self.error_response(404, "Not found.")
        body = self._body(found, request)
        return FakeResponse.json(200, body, tag=body["status"])

    def _list(self, request: FakeRequest) -> FakeResponse:
        newest = sorted(self._predictions.values(), key=lambda p: p.seq, reverse=True)
        cursor = request.query.get("cursor")
        if cursor:
            try:
                below = int(cursor, 36)
            except ValueError:
                return self.error_response(400, "Invalid cursor")
            newest = [p for p in newest if p.seq < below]
        page = newest[: self.page_size]
        more = len(newest) > len(page)
        following = (
            f"{self._base(request)}/v1/predictions?cursor={_base36(page[-1].seq)}"
            if more and page
            else None
        )
        payload = {
            "next": following,
            "previous": None,
            "results": [self._body(p, request) for p in page],
        }
        return FakeResponse.json(200, payload, tag="page")

    def _cancel(self, request: FakeRequest, prediction_id: str) -> FakeResponse:
        found = self._visible(prediction_id)
        if found is None:
            return self.error_response(404, "Not found.")
        now = self.now()
        if found.status(now) in ("starting", "processing") and found.cancel_requested_at is None:
            found.cancel_requested_at = now
        body = self._body(found, request)
        return FakeResponse.json(200, body, tag="cancelled")

    def _account(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse.json(
            200, {"type": "user", "username": "soravideo", "name": "soravideo", "github_url": None}
        )

    def _download(
        self, request: FakeRequest, prediction_id: str, token: str, file: str
    ) -> FakeResponse:
        if request.header("authorization") is not None:
            return self.error_response(400, "Output files take no Authorization header")
        found = self._predictions.get(prediction_id)
        now = self.now()
        if (
            found is None
            or (token, file) != (found.token, "output.mp4")
            or found.status(now) != "succeeded"
            or self._removed(found, now)
        ):
            return self.error_response(404, "Not found.")
        data = self._video(found)
        return FakeResponse(
            status=200,
            headers={"content-type": "video/mp4", "content-length": str(len(data))},
            body=chunks(data),
        )


def _is_create(request: FakeRequest) -> bool:
    return request.method == "POST" and (
        request.path == "/v1/predictions"
        or (request.path.startswith("/v1/models/") and request.path.endswith("/predictions"))
    )


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text
