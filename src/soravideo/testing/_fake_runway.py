"""FakeRunway: a faithful simulator of the Runway API's video tasks and their output URLs.

It speaks what the official ``runwayml`` package (5.24.0) speaks: ``POST
/v1/text_to_video`` and ``/v1/image_to_video`` answering ``{id, estimatedCost}``; ``GET
/v1/tasks/{id}`` answering ``PENDING``, ``THROTTLED``, ``RUNNING`` (with a progress
fraction), ``SUCCEEDED`` (with output URLs), ``FAILED`` (with ``failure`` and
``failureCode``) or ``CANCELLED`` shapes; ``DELETE /v1/tasks/{id}``; ``GET
/v1/organization``. Requests need ``Authorization: Bearer KEY`` (when the fake has a key)
and ``X-Runway-Version``, like the real API.

Output URLs point at the fake itself (``/_cdn/{task}/{token}.mp4``): signed, keyless and expiring
(``url_ttl``, [`FakeRunway.expire_urls`][soravideo.testing.FakeRunway.expire_urls]), and each task
read signs fresh ones, so a client's refresh of an expired URL can be tested.

As in FakeSora, no background task runs: every answer is derived from the fake's clock.
With ``max_concurrent``, tasks beyond the limit wait ``THROTTLED`` (Runway queues them; it
does not answer 429) and start, first come first served, as slots free up.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import attrs
import httpx

from .._core.clock import Clock, utc_from_timestamp
from ..transports.runway import (
    API_VERSION,
    MAX_DATA_URI_LENGTH,
    MAX_URL_LENGTH,
    RUNWAY_ENDPOINT_MODELS,
    RUNWAY_MODELS,
    RunwayModel,
)
from . import _media
from ._fakeserver import FakeRequest, FakeResponse, FakeServer, chunks
from ._slots import job_spans, peak_overlap, span_ends, waited_ids

__all__ = ["FakeRunway"]

_ENDPOINTS = ("text_to_video", "image_to_video")
_DATA_IMAGE_TYPES = ("image/png", "image/jpeg", "image/jpg", "image/webp")
_UNPRICED_CREDITS_PER_SECOND = 10.0
_DEFAULT_CDN_HOST = "fake-runway.invalid"
_CDN_PREFIX = "/_cdn/"


def _linear(fraction: float) -> float:
    return fraction


def _iso(seconds: float) -> str:
    stamp = utc_from_timestamp(seconds)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pixels(ratio: str | None) -> tuple[int, int]:
    try:
        width, height = (int(n) for n in (ratio or "1280:720").split(":"))
    except ValueError:
        return 1280, 720
    return width, height


@attrs.define(kw_only=True)
class _Task:
    """One task. Its status is derived from the clock; only cancel and delete mutate it."""

    id: str
    seq: int
    endpoint: str
    params: dict[str, Any]
    model: str
    created: float
    duration: float
    seconds: int
    fails: bool
    failure_at: float
    credits: float
    cancelled_at: float | None = None
    deleted_at: float | None = None
    charged: bool = True

    @property
    def runtime(self) -> float:
        """Seconds from start to its end (failure comes part way)."""
        return self.duration * (self.failure_at if self.fails else 1.0)


class _Issues(Exception):
    def __init__(self, issues: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in issues))
        self.issues = issues


class FakeRunway(FakeServer):
    """A simulator of the Runway API's video tasks, in-process or on a loopback port.

    In-process: ``httpx.AsyncClient(transport=fake.http_transport(),
    base_url="http://fake-runway.test")`` with simulated time you move
    (``fake.advance(30)``); served: ``with fake.serve() as base_url:`` for any client (the
    official ``runwayml`` one included), on real time. The base URL has no path: the API
    lives under ``/v1`` as on ``api.dev.runwayml.com``.

    Args:
        api_key: When set, requests must carry ``Authorization: Bearer KEY`` (else 401).
        clock: Its time (``None``: a ManualClock in-process, real time when served).
        generation_time: Seconds a task generates once it has a slot, or a function of the
            create body (``model``, ``promptText``, ``duration`` …) returning seconds.
        queue_time: Seconds a task stays ``PENDING`` after getting a slot (a task is
            always ``PENDING`` or ``THROTTLED`` at the instant it is created).
        progress_curve: Maps the elapsed fraction of the generation (0–1) to the progress
            fraction shown (0–1); linear by default, capped at 0.99 while running.
        failure_prompts: Case-insensitive substrings of ``promptText`` that fail content
            moderation: the task ends ``FAILED`` with ``failure_code`` and is refunded.
        failure_code: The failure code of those tasks (a moderation code by default).
        failure_at: When they fail, as a fraction of the generation time.
        max_concurrent: The most tasks of one model generating at once (Runway's tiers
            limit each model separately); later tasks wait ``THROTTLED`` until a slot
            frees. Set it before creating tasks.
        url_ttl: Seconds an output URL stays valid after the task read that signed it.
        cdn_base_url: Where output URLs point (default: the host the request was sent to,
            over ``http``).
        cancelled_visible: Keep a task cancelled by ``DELETE`` readable as ``CANCELLED``;
            by default it is gone (404), as Runway's delete documentation says.
        credits_per_second: Credits per second by model (default: the published rates in
            ``RUNWAY_MODELS``, with audio; 10 for models with no published rate).
        credit_balance: The organization's credits before any task.
        content_bytes: Size of each MP4's media payload.
        seed: Seeds ids, tokens, request ids and rate-based faults.

    A task cancelled while ``PENDING`` or ``THROTTLED`` costs nothing; one cancelled while
    ``RUNNING`` is charged in full, as Runway documents. An output URL sent with an
    ``Authorization`` header is refused (400): a client must never send its key to the CDN.

    Examples:
        ```python
        from soravideo.testing import FakeRunway, check_ledger_exactly_once

        async with sv.AsyncSoraVideo.simulated(provider="runway", generation_time=60) as client:
            assert isinstance(client.fake, FakeRunway)  # on the client's simulated time
            throttle = client.fake.inject(status=429, match="POST /v1/text_to_video")  # one 429
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A kite over dunes"))
            job = await client.videos.wait_for_job(job.id)
            print(job.status, throttle.fired, client.fake.created_count())  # completed 1 1
            await check_ledger_exactly_once(client.fake, client.repository)
        ```
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        clock: Clock | None = None,
        generation_time: float | Callable[[Mapping[str, Any]], float] = 5.0,
        queue_time: float = 0.0,
        progress_curve: Callable[[float], float] | None = None,
        failure_prompts: Sequence[str] = ("fail-moderation",),
        failure_code: str = "SAFETY.INPUT.TEXT",
        failure_at: float = 0.0,
        max_concurrent: int | None = None,
        url_ttl: float = 86_400.0,
        cdn_base_url: str | None = None,
        cancelled_visible: bool = False,
        credits_per_second: Mapping[str, float] | None = None,
        credit_balance: int = 1_000_000,
        content_bytes: int = 64 * 1024,
        seed: int = 0,
    ) -> None:
        super().__init__(clock=clock, seed=seed, prefix="")
        self._check_limits(failure_at, max_concurrent)
        self._api_key = api_key
        self.generation_time = generation_time
        self.queue_time = queue_time
        self.progress_curve = progress_curve or _linear
        self.failure_prompts = tuple(failure_prompts)
        self.failure_code = failure_code
        self.failure_at = failure_at
        self.max_concurrent = max_concurrent
        self.url_ttl = url_ttl
        self.cdn_base_url = cdn_base_url.rstrip("/") if cdn_base_url else None
        self.cancelled_visible = cancelled_visible
        self.credits_per_second = dict(credits_per_second or {})
        self.credit_balance = credit_balance
        self.content_bytes = content_bytes
        self.models: Mapping[str, RunwayModel] = RUNWAY_MODELS
        self._tasks: dict[str, _Task] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        r = self.router
        for endpoint in _ENDPOINTS:
            r.add("POST", f"/v1/{endpoint}", self._creator(endpoint), name=endpoint)
        r.add("GET", "/v1/tasks/{task_id}", self._retrieve, name="task")
        r.add("DELETE", "/v1/tasks/{task_id}", self._delete, name="delete")
        r.add("GET", "/v1/organization", self._organization, name="organization")
        r.add("GET", "/_cdn/{task_id}/{file}", self._download, name="cdn")

    # -- the driver interface (FakeProvider) ----------------------------------------------

    _record_noun = "tasks"

    def _records(self) -> Iterable[_Task]:
        return self._tasks.values()

    def _end_times(self, now: float) -> list[float]:
        # Throttled tasks too: each ends when its slot frees and its generation is done.
        return span_ends(self._spans(), now)

    def reset_next_create(self) -> None:
        """Let the next create take effect, then reset its connection (an ambiguous create)."""
        self.inject(reset=True, phase="after", match="POST /v1/*_to_video", times=1)

    # -- counters and views for assertions ----------------------------------------------

    def status_request_count(self) -> int:
        """Return how many task reads (``GET /v1/tasks/{id}``) arrived."""
        return self.count(route="task")

    def download_count(self, status: int | None = None) -> int:
        """Return how many output-URL downloads arrived (with this answer status, if given)."""
        return self.count(route="cdn", status=status)

    def peak_concurrency(self, model: str | None = None) -> int:
        """Return the most tasks of one model (or of ``model``) that generated at once, so far."""
        now = self.now()
        with self._lock:
            spans = self._spans()
            events: dict[str, list[tuple[float, int]]] = {}
            for task in self._tasks.values():
                span = spans[task.id]
                if span is None or (model is not None and task.model != model):
                    continue
                start, stop = span
                if start > now:
                    continue
                group = events.setdefault(task.model, [])
                group.append((start, 1))
                if stop <= now:
                    group.append((stop, -1))
        return max((peak_overlap(group) for group in events.values()), default=0)

    def throttled_ids(self) -> list[str]:
        """Return the ids of tasks that waited ``THROTTLED`` for a slot (or wait still)."""
        with self._lock:
            return waited_ids(self._tasks.values(), self._spans())

    def task(self, task_id: str) -> dict[str, Any]:
        """Return a task as ``GET /v1/tasks/{id}`` would show it now, without logging a request.

        Output URLs are not signed by this view (they read ``"<unsigned>"``).

        Raises:
            KeyError: no task ever had this id.
        """
        with self._lock:
            task = self._tasks[task_id]
            return self._resource(task, self.now(), self._spans()[task.id], cdn_base=None)

    def create_params(self, task_id: str) -> dict[str, Any]:
        """Return the body the task was created with (``promptImage`` summarised).

        Raises:
            KeyError: no task ever had this id.
        """
        with self._lock:
            return dict(self._tasks[task_id].params)

    def content(self, video_id: str, variant: str = "video") -> bytes:
        """Return the MP4 the task's output URL serves (the same bytes on every download).

        Args:
            video_id: The task id.
            variant: Only ``"video"``.

        Raises:
            KeyError: no task ever had this id.
            ValueError: ``variant`` is not ``"video"``.
        """
        if variant != "video":
            raise ValueError("Runway tasks have only a 'video'")
        with self._lock:
            return self._mp4(self._tasks[video_id])

    def _rename_job(self, old: str, new: str) -> None:
        # Insertion order is creation order (the throttling queue reads it): rebuild.
        self._tasks = {(new if k == old else k): t for k, t in self._tasks.items()}
        self._tasks[new].id = new
        for token, (task_id, expires) in list(self._tokens.items()):
            if task_id == old:
                self._tokens[token] = (new, expires)

    def estimated_credits(self, task_id: str) -> float:
        """Return the credits the task was estimated at when created (its ``estimatedCost``).

        Raises:
            KeyError: no task ever had this id.
        """
        with self._lock:
            return self._tasks[task_id].credits

    def expire_urls(self) -> int:
        """Make every output URL signed so far expire now; return how many were valid."""
        now = self.now()
        with self._lock:
            valid = 0
            for token, (task_id, expires) in list(self._tokens.items()):
                if expires > now:
                    valid += 1
                    self._tokens[token] = (task_id, now)
            return valid

    # -- error shape, auth and version --------------------------------------------------

    def _error_body(
        self, status: int, message: str, code: str | None, param: str | None
    ) -> tuple[Any, Mapping[str, str]]:
        """Return a Runway-shaped error: ``{"error": "…"}``."""
        return {"error": message}, {}

    def before_route(self, request: FakeRequest) -> FakeResponse | None:
        """Check the API key and the ``X-Runway-Version`` header (not on output URLs)."""
        if request.path.startswith(_CDN_PREFIX):
            return None
        if self._api_key is not None:
            scheme, _, token = (request.header("authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return self.error_response(
                    401, "No API key was provided. Pass it as Authorization: Bearer <key>."
                )
            if not hmac.compare_digest(token.strip().encode(), self._api_key.encode()):
                return self.error_response(401, "The provided API key is not valid.")
        version = request.header("x-runway-version")
        if version is None:
            return self.error_response(
                400, "The X-Runway-Version header is required. Use X-Runway-Version: 2024-11-06."
            )
        if version != API_VERSION:
            return self.error_response(
                400, f"Unsupported API version {version!r}. Use X-Runway-Version: {API_VERSION}."
            )
        return None

    # -- scheduling --------------------------------------------------------------------

    def _spans(self) -> dict[str, tuple[float, float] | None]:
        """Return each task's (start, stop) of generation, or ``None`` if it never starts.

        Tasks take a model's slots first come, first served; a slot frees when its task
        stops (ends, or is cancelled). Cancelling a waiting task only changes the future.
        """
        tasks = sorted(self._tasks.values(), key=lambda t: t.seq)
        return job_spans(tasks, self.max_concurrent, pool=lambda task: task.model)

    def _status(self, task: _Task, now: float, span: tuple[float, float] | None) -> str:
        if span is None:
            return "CANCELLED" if now >= (task.cancelled_at or math.inf) else "THROTTLED"
        start, _ = span
        end = start + task.runtime
        if task.cancelled_at is not None and task.cancelled_at <= now and task.cancelled_at < end:
            return "CANCELLED"
        if now < start:
            return "THROTTLED"
        if now >= end:
            return "FAILED" if task.fails else "SUCCEEDED"
        if now <= start or now - start < self.queue_time:
            return "PENDING"
        return "RUNNING"

    def _progress(self, task: _Task, now: float, start: float) -> float:
        fraction = (now - start) / task.duration if task.duration > 0 else 1.0
        value = self.progress_curve(min(1.0, max(0.0, fraction)))
        return round(max(0.0, min(0.99, value)), 4)

    def _cost(self, task: _Task, status: str) -> int:
        if status == "SUCCEEDED" or (status == "CANCELLED" and task.charged):
            return round(task.credits)
        return 0

    def _sign(self, task: _Task, now: float, cdn_base: str) -> str:
        token = f"{self._rng.getrandbits(128):032x}"
        self._tokens[token] = (task.id, now + self.url_ttl)
        return f"{cdn_base}{_CDN_PREFIX}{quote(task.id, safe='')}/{token}.mp4"

    def _resource(
        self,
        task: _Task,
        now: float,
        span: tuple[float, float] | None,
        *,
        cdn_base: str | None,
    ) -> dict[str, Any]:
        status = self._status(task, now, span)
        body: dict[str, Any] = {"id": task.id, "createdAt": _iso(task.created), "status": status}
        if status in ("PENDING", "THROTTLED", "RUNNING"):
            body["estimatedCost"] = {"credits": task.credits}
            if status == "RUNNING" and span is not None:
                body["progress"] = self._progress(task, now, span[0])
            return body
        body["cost"] = {"credits": self._cost(task, status)}
        if status == "SUCCEEDED":
            body["output"] = [
                self._sign(task, now, cdn_base) if cdn_base is not None else "<unsigned>"
            ]
        elif status == "FAILED":
            body["failure"] = "The prompt was flagged by content moderation."
            body["failureCode"] = self.failure_code
        return body

    def _visible(self, task_id: str) -> _Task | None:
        task = self._tasks.get(task_id)
        return task if task is not None and task.deleted_at is None else None

    def _not_found(self) -> FakeResponse:
        return self.error_response(404, "Task not found.")

    def _cdn_base(self, request: FakeRequest) -> str:
        if self.cdn_base_url is not None:
            return self.cdn_base_url
        return f"http://{request.header('host') or _DEFAULT_CDN_HOST}"

    # -- creating -----------------------------------------------------------------------

    def _creator(self, endpoint: str) -> Callable[[FakeRequest], FakeResponse]:
        def create(request: FakeRequest) -> FakeResponse:
            return self._create(request, endpoint)

        return create

    def _check(self, endpoint: str, body: Mapping[str, Any]) -> tuple[RunwayModel, dict[str, Any]]:
        """Check a create body as the real API does; return the model and a loggable summary."""
        issues: list[tuple[str, str]] = []
        with_image = endpoint == "image_to_video"
        model = body.get("model")
        spec = self.models.get(model) if isinstance(model, str) else None
        listed = RUNWAY_ENDPOINT_MODELS.get(endpoint, ())
        if spec is None and isinstance(model, str) and model in listed:
            # A model of the catalogue this fake has no detail of: its duration and ratio
            # are taken as sent (Runway checks them).
            spec = RunwayModel(
                name=model,
                text_ratios=(),
                image_ratios=(),
                durations=(),
                default_duration=5,
                max_prompt=None,
                ratio_required=False,
            )
            return spec, self._summary(body, with_image, [])
        if spec is None or not spec.ratios(with_image=with_image):
            known = [
                *(m for m, s in self.models.items() if s.ratios(with_image=with_image)),
                *(m for m in listed if m not in self.models),
            ]
            raise _Issues([("model", f"Invalid model for {endpoint}; expected one of {known}")])
        text = body.get("promptText")
        prompt_required = not with_image or spec.prompt_required_with_image
        if text is None:
            if prompt_required:
                issues.append(("promptText", "Required"))
        elif not isinstance(text, str) or not text:
            issues.append(("promptText", "Expected a non-empty string"))
        elif spec.max_prompt is not None and len(text.encode("utf-16-le")) // 2 > spec.max_prompt:
            issues.append(("promptText", f"Must be at most {spec.max_prompt} characters"))
        ratio = body.get("ratio")
        allowed = spec.ratios(with_image=with_image)
        if ratio is None:
            if spec.ratio_required:
                issues.append(("ratio", "Required"))
        elif ratio not in allowed:
            issues.append(("ratio", f"Invalid enum value. Expected {' | '.join(allowed)}"))
        duration = body.get("duration")
        if duration is None:
            if spec.duration_required:
                issues.append(("duration", "Required"))
        elif not (duration == "auto" and spec.name == "gemini_omni_flash_1.1") and (
            not _is_int(duration) or duration not in spec.durations
        ):
            issues.append(("duration", f"Expected one of {list(spec.durations)}"))
        seed = body.get("seed")
        if seed is not None and not (_is_int(seed) and 0 <= seed <= 4_294_967_295):
            issues.append(("seed", "Expected an integer from 0 to 4294967295"))
        if "audio" in body and not isinstance(body["audio"], bool):
            issues.append(("audio", "Expected a boolean"))
        return spec, self._summary(body, with_image, issues)

    @staticmethod
    def _summary(
        body: Mapping[str, Any], with_image: bool, issues: list[tuple[str, str]]
    ) -> dict[str, Any]:
        """Check the body's image; return the loggable summary, or raise every issue."""
        summary = dict(body)
        if with_image:
            image = body.get("promptImage")
            if image is None:
                issues.append(("promptImage", "Required"))
            else:
                issues.extend(_image_issues(image))
                summary["promptImage"] = _summarise_image(image)
        elif "promptImage" in body:
            issues.append(("promptImage", "Not allowed for text_to_video"))
        if issues:
            raise _Issues(issues)
        return summary

    def _create(self, request: FakeRequest, endpoint: str) -> FakeResponse:
        if request.content_type != "application/json":
            return self.error_response(400, "The request body must be JSON.")
        try:
            body = request.json()
        except ValueError:
            return self.error_response(400, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return self.error_response(400, "The request body must be a JSON object.")
        try:
            spec, params = self._check(endpoint, body)
        except _Issues as error:
            return FakeResponse.json(
                400,
                {
                    "error": "Validation of body failed",
                    "issues": [{"path": [path], "message": msg} for path, msg in error.issues],
                },
            )
        now = self.now()
        asked = body.get("duration")
        seconds = asked if isinstance(asked, int) and _is_int(asked) else spec.default_duration
        generation = (
            self.generation_time(params) if callable(self.generation_time) else self.generation_time
        )
        rate = self.credits_per_second.get(spec.name)
        if rate is None:
            rate = spec.rate(audio=body.get("audio") is not False) or _UNPRICED_CREDITS_PER_SECOND
        prompt = str(body.get("promptText") or "").lower()
        task = _Task(
            id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            seq=len(self._tasks),
            endpoint=endpoint,
            params=params,
            model=spec.name,
            created=now,
            duration=max(0.0, float(generation)),
            seconds=seconds,
            fails=self._fails(prompt),
            failure_at=self.failure_at,
            credits=float(rate * seconds),
        )
        self._tasks[task.id] = task
        return FakeResponse.json(
            200, {"id": task.id, "estimatedCost": {"credits": task.credits}}, tag="created"
        )

    # -- reading, cancelling, downloading -------------------------------------------------

    def _retrieve(self, request: FakeRequest, task_id: str) -> FakeResponse:
        task = self._visible(task_id)
        if task is None:
            return self._not_found()
        body = self._resource(
            task, self.now(), self._spans()[task.id], cdn_base=self._cdn_base(request)
        )
        return FakeResponse.json(200, body, tag=body["status"].lower())

    def _delete(self, request: FakeRequest, task_id: str) -> FakeResponse:
        task = self._visible(task_id)
        if task is None:
            return self._not_found()
        now = self.now()
        status = self._status(task, now, self._spans()[task.id])
        tag = "deleted"
        if status in ("PENDING", "THROTTLED", "RUNNING"):
            task.cancelled_at = now
            task.charged = status == "RUNNING"
            tag = "cancelled"
        if tag == "deleted" or not self.cancelled_visible:
            task.deleted_at = now
        return FakeResponse(status=204, tag=tag)

    def _organization(self, request: FakeRequest) -> FakeResponse:
        now = self.now()
        spans = self._spans()
        spent = sum(self._cost(t, self._status(t, now, spans[t.id])) for t in self._tasks.values())
        daily: dict[str, int] = {}
        for task in self._tasks.values():
            daily[task.model] = daily.get(task.model, 0) + 1
        return FakeResponse.json(
            200,
            {
                "creditBalance": self.credit_balance - spent,
                "tier": {
                    "maxMonthlyCreditSpend": self.credit_balance,
                    "models": {
                        name: {
                            "maxConcurrentGenerations": self.max_concurrent,
                            "maxDailyGenerations": None,
                        }
                        for name in self.models
                    },
                },
                "usage": {"models": {m: {"dailyGenerations": n} for m, n in daily.items()}},
            },
        )

    def _cdn_error(self, status: int, code: str, message: str) -> FakeResponse:
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        return FakeResponse(
            status=status, headers={"content-type": "application/xml"}, body=body.encode()
        )

    def _mp4(self, task: _Task) -> bytes:
        width, height = _pixels(task.params.get("ratio"))
        return _media.mp4(
            seconds=task.seconds,
            width=width,
            height=height,
            payload_size=self.content_bytes,
            key=f"{self.seed}:{task.id}",
        )

    def _download(self, request: FakeRequest, task_id: str, file: str) -> FakeResponse:
        if request.header("authorization") is not None:
            return self._cdn_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed: the URL is signed, send no Authorization header",
            )
        signed = self._tokens.get(file.removesuffix(".mp4"))
        if not file.endswith(".mp4") or signed is None or signed[0] != task_id:
            return self._cdn_error(403, "AccessDenied", "Access denied")
        task = self._visible(task_id)
        if task is None:
            return self._cdn_error(404, "NoSuchKey", "The specified key does not exist.")
        if self.now() >= signed[1]:
            return self._cdn_error(403, "AccessDenied", "Request has expired")
        data = self._mp4(task)
        return FakeResponse(
            status=200,
            headers={"content-type": "video/mp4", "content-length": str(len(data))},
            body=chunks(data),
        )


def _uri_issue(uri: Any) -> str | None:
    if not isinstance(uri, str) or not uri:
        return "Expected a URL or data URI"
    if uri.startswith("runway://"):
        return None
    if uri.startswith("data:"):
        head, sep, encoded = uri.partition(",")
        if not sep or not head.endswith(";base64"):
            return "Invalid data URI."
        if head[len("data:") : -len(";base64")].lower() not in _DATA_IMAGE_TYPES:
            return "Unsupported asset type."
        if len(uri) >= MAX_DATA_URI_LENGTH:
            return "The data URI is too large: it must be under 5MB."
        try:
            base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return "Invalid data URI."
        return None
    if not uri.startswith("https://"):
        return "Only HTTPS URLs are allowed."
    if len(uri) > MAX_URL_LENGTH:
        return f"URLs must be at most {MAX_URL_LENGTH} characters."
    try:
        host = httpx.URL(uri).host
    except httpx.InvalidURL:
        return "Invalid URL"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None if host else "Invalid URL"
    return "URLs must be hosted on a domain."


def _image_issues(image: Any) -> list[tuple[str, str]]:
    if isinstance(image, str):
        issue = _uri_issue(image)
        return [("promptImage", issue)] if issue else []
    if not isinstance(image, list) or not image:
        return [("promptImage", "Expected a URL or an array of {uri, position}")]
    issues = []
    for i, item in enumerate(image):
        if not isinstance(item, dict):
            issues.append((f"promptImage.{i}", "Expected an object"))
            continue
        issue = _uri_issue(item.get("uri"))
        if issue:
            issues.append((f"promptImage.{i}.uri", issue))
        if item.get("position") not in ("first", "last"):
            issues.append((f"promptImage.{i}.position", "Expected 'first' | 'last'"))
    return issues


def _summarise_image(image: Any) -> Any:
    if isinstance(image, str) and image.startswith("data:"):
        return {"data_uri": image.partition(",")[0], "length": len(image)}
    if isinstance(image, list):
        return [
            {**item, "uri": _summarise_image(item.get("uri"))} if isinstance(item, dict) else item
            for item in image
        ]
    return image
