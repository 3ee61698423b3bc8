"""FakeOpenRouter: a simulator of OpenRouter's video API, as the official client speaks it.

It serves what the official ``openrouter`` package (1.3.84) calls: ``POST
/api/v1/videos`` answering ``202 Accepted`` with ``{id, polling_url, status}`` (the client
accepts nothing else); ``GET /api/v1/videos/{id}`` with ``pending``, ``in_progress``,
``completed`` (``generation_id``, ``unsigned_urls``, ``usage: {cost, is_byok}``, and
``urls`` + ``expires_at`` for the stored copy when ``expires_after`` is set), ``failed``
(``error``), ``cancelled`` or ``expired``; ``GET /api/v1/videos/{id}/content?index=0``
streaming ``video/mp4``; ``GET /api/v1/videos/models`` (every key the client's model
requires); ``GET /api/v1/key`` (the current key, for a cheap authenticated check).
Errors are ``{"error": {"code": <int>, "message": …}}``, as the client's error types need.

There is no cancel, delete or list endpoint, as at OpenRouter: `FakeOpenRouter.cancel`
plays a job stopped on OpenRouter's side (the dashboard, the upstream provider), which is
how a job can read ``cancelled`` at all.

As in the other fakes, no background task runs: every answer is derived from the fake's
clock. With ``max_concurrent``, jobs beyond the limit stay ``pending`` and start, first come
first served, as slots free up (OpenRouter publishes no queue position, so none is shown).
What the live API does in the cases its documentation leaves open (see the notes of
`soravideo.transports.openrouter`) is a choice of this fake, said where it is made.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import string
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from .._core.clock import Clock, utc_from_timestamp
from ..transports.openrouter import OPENROUTER_MODELS, OpenRouterModel, size_resolution
from . import _media
from ._fakeserver import FakeRequest, FakeResponse, FakeServer, chunks
from ._slots import job_spans, peak_running, span_ends, waited_ids
from ._webhooks import FakeWebhookEvent

__all__ = ["FakeOpenRouter"]

_ALNUM = string.ascii_letters + string.digits
_UNPRICED_USD_PER_SECOND = 0.10
_DEFAULT_SECONDS = 5
_FRAME_TYPES = ("first_frame", "last_frame")
_REFERENCE_TYPES = {"image_url", "audio_url", "video_url"}
_SIGNED = "/_signed/"
_PIXELS = {"360p": 360, "480p": 480, "720p": 720, "768p": 768, "1080p": 1080, "1k": 1080}
_SHAPES = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:3": (4, 3), "3:4": (3, 4)}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pixels(size: str | None, resolution: str | None, aspect: str | None) -> tuple[int, int]:
    if size:
        try:
            width, height = (int(n) for n in size.lower().split("x"))
            return width, height
        except ValueError:
            pass
    short = _PIXELS.get((resolution or "720p").lower(), 720)
    a, b = _SHAPES.get(aspect or "16:9", (16, 9))
    long = round(short * max(a, b) / min(a, b) / 2) * 2
    return (long, short) if a >= b else (short, long)


@attrs.define(kw_only=True)
class _Job:
    """One job. Its status is derived from the clock; only a remote cancel mutates it."""

    id: str
    seq: int
    params: dict[str, Any]
    model: str
    created: float
    duration: float
    seconds: int
    width: int
    height: int
    fails: bool
    failure_at: float
    usd_per_second: float
    priced: bool
    generation_id: str
    cancelled_at: float | None = None
    deleted_at: float | None = None  # never set: OpenRouter deletes nothing
    # [W2-7] The create's callback_url, and the host it was sent to (for the URLs shown).
    callback: str | None = None
    base: str | None = None

    @property
    def runtime(self) -> float:
        """Seconds from start to its end (a failure comes part way)."""
        return self.duration * (self.failure_at if self.fails else 1.0)

    @property
    def cost(self) -> float:
        return round(self.seconds * self.usd_per_second, 6)


class _Refused(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class FakeOpenRouter(FakeServer):
    """A simulator of OpenRouter's video API, in-process or on a loopback port.

    In-process: ``httpx.AsyncClient(transport=fake.http_transport())`` with base URL
    ``http://fake-openrouter.test/api/v1`` and simulated time you move (``fake.advance(60)``);
    served: ``with fake.serve() as base_url:`` (``http://127.0.0.1:PORT/api/v1``) for any
    client, the official ``openrouter`` one included, on real time.

    Args:
        api_key: When set, requests must carry ``Authorization: Bearer KEY`` (else 401);
            the model listing answers without one too.
        clock: Its time (``None``: a ManualClock in-process, real time when served).
        generation_time: Seconds a job generates once it has a slot, or a function of the
            create body (``model``, ``prompt``, ``duration`` …) returning seconds.
        queue_time: Seconds a job stays ``pending`` after getting a slot.
        failure_prompts: Case-insensitive substrings of ``prompt`` whose jobs end
            ``failed`` with ``failure_message`` (and no cost).
        failure_message: The ``error`` of those jobs.
        failure_at: When they fail, as a fraction of the generation time.
        max_concurrent: The most jobs generating at once; later ones wait ``pending``.
        models: The video models it serves (default: the transport's
            `OPENROUTER_MODELS`); requests are
            checked against each model's durations, resolutions, aspect ratios, sizes and
            frame types (400 otherwise, as OpenRouter documents).
        accept_unknown_models: Take models it does not list (no checks; priced at
            ``unpriced_usd_per_second``) instead of answering 400.
        prices: USD per second by model, overriding the models' ``pricing_skus``.
        unpriced_usd_per_second: What a second costs on a model with no price.
        credit_limit: USD the account may spend; a create beyond it answers 402.
        expires_after: Seconds after completion that OpenRouter's stored copy lasts: when
            set, completed jobs carry signed ``urls`` (keyless, served by the fake) and
            ``expires_at``, and read ``expired`` afterwards (content then answers 410).
            ``None`` (the default): no stored copy, no expiry.
        content_bytes: Size of each MP4's media payload.
        seed: Seeds ids, request ids and rate-based faults.
        prefix: The path prefix (``/api/v1``).

    Jobs of ``failure_prompts`` and jobs cancelled with `cancel` cost nothing (what
    OpenRouter charges for those is not documented); a completed job costs its seconds ×
    its model's price per second at its resolution, reported as ``usage.cost``.

    Examples:
        ```python
        from soravideo.testing import FakeOpenRouter, check_ledger_exactly_once

        async with sv.AsyncSoraVideo.simulated(provider="openrouter", generation_time=120) as client:
            assert isinstance(client.fake, FakeOpenRouter)
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A diver", duration=8))
            job = await client.videos.wait_for_job(job.id)
            print(job.status, job.cost_usd)  # completed, the usage.cost the fake charged
            await check_ledger_exactly_once(client.fake, client.repository)
        ```
    """

    # No cancel endpoint: a job whose ledger entry is cancelled runs on here (see
    # soravideo.testing.check_exactly_once).
    can_cancel = False

    def __init__(
        self,
        *,
        api_key: str | None = None,
        clock: Clock | None = None,
        generation_time: float | Callable[[Mapping[str, Any]], float] = 5.0,
        queue_time: float = 0.0,
        failure_prompts: Sequence[str] = ("fail-moderation",),
        failure_message: str = "The request was blocked by the provider's content moderation.",
        failure_at: float = 0.0,
        max_concurrent: int | None = None,
        models: Mapping[str, OpenRouterModel] | None = None,
        accept_unknown_models: bool = False,
        prices: Mapping[str, float] | None = None,
        unpriced_usd_per_second: float = _UNPRICED_USD_PER_SECOND,
        credit_limit: float | None = None,
        expires_after: float | None = None,
        content_bytes: int = 64 * 1024,
        seed: int = 0,
        prefix: str = "/api/v1",
    ) -> None:
        super().__init__(clock=clock, seed=seed, prefix=prefix)
        self._check_limits(failure_at, max_concurrent)
        self._api_key = api_key
        self.generation_time = generation_time
        self.queue_time = queue_time
        self.failure_prompts = tuple(failure_prompts)
        self.failure_message = failure_message
        self.failure_at = failure_at
        self.max_concurrent = max_concurrent
        self.models: Mapping[str, OpenRouterModel] = dict(
            OPENROUTER_MODELS if models is None else models
        )
        self.accept_unknown_models = accept_unknown_models
        self.prices = dict(prices or {})
        self.unpriced_usd_per_second = unpriced_usd_per_second
        self.credit_limit = credit_limit
        self.expires_after = expires_after
        self.content_bytes = content_bytes
        self._jobs: dict[str, _Job] = {}
        self._tokens: dict[str, str] = {}
        r = self.router
        r.add("POST", "/videos", self._create, name="create")
        r.add("GET", "/videos/models", self._models, name="models")
        r.add("GET", "/videos/{job_id}", self._retrieve, name="retrieve")
        r.add("GET", "/videos/{job_id}/content", self._content, name="content")
        r.add("GET", "/key", self._key, name="key")
        r.add("GET", "/_signed/{job_id}/{file}", self._signed, name="signed")

    # -- the driver interface (FakeProvider) ----------------------------------------------

    _record_noun = "jobs"

    def _records(self) -> Iterable[_Job]:
        return self._jobs.values()

    webhook_scheme = "openrouter"
    webhook_needs_url = True

    def _webhook_events(
        self, now: float, known: Container[str] = frozenset()
    ) -> Iterator[FakeWebhookEvent]:
        """``video.generation.completed`` / ``failed`` / ``cancelled`` when a job created
        with a ``callback_url`` ends, its ``data`` the job as ``GET /videos/{id}`` shows it."""
        spans = self._spans()
        for job in self._jobs.values():
            if job.callback is None:
                continue
            span = spans[job.id]
            end = self._end(job, span)
            at = end
            if job.cancelled_at is not None and job.cancelled_at < end:
                at = job.cancelled_at
            if at > now:
                continue
            # Just after the end: a job that fails at once ends the moment it starts.
            probe = min(now, at + 0.001)
            status = self._status(job, probe, span)
            if status not in ("completed", "failed", "cancelled"):
                continue
            kind = f"video.generation.{status}"
            key = f"{job.id}:{kind}"
            if key in known:
                continue
            data = self._resource(job, probe, span, base=job.base)
            data.pop("urls", None)
            yield FakeWebhookEvent(
                key=key,
                at=at,
                remote_id=job.id,
                kind=kind,
                url=job.callback,
                payload={
                    "type": kind,
                    "created_at": utc_from_timestamp(at).isoformat(),
                    "data": data,
                },
            )

    def _end_times(self, now: float) -> list[float]:
        return span_ends(self._spans(), now)

    def reset_next_create(self) -> None:
        """Let the next create take effect, then reset its connection (an ambiguous create)."""
        self.inject(reset=True, phase="after", match="POST /videos", times=1)

    # -- what only OpenRouter's side can do ------------------------------------------------

    def cancel(self, job_id: str) -> None:
        """Stop a job on OpenRouter's side (no API call does this): it reads ``cancelled``.

        A job that has already ended is left as it is.

        Raises:
            KeyError: no job ever had this id.
        """
        now = self.now()
        with self._lock:
            job = self._jobs[job_id]
            if self._status(job, now, self._spans()[job.id]) in ("pending", "in_progress"):
                job.cancelled_at = now

    # -- counters and views for assertions ----------------------------------------------

    def status_request_count(self) -> int:
        """Return how many job reads (``GET /videos/{id}``) arrived."""
        return self.count(route="retrieve")

    def download_count(self, status: int | None = None) -> int:
        """Return how many content downloads arrived (with this answer status, if given)."""
        return self.count(route="content", status=status)

    def peak_concurrency(self) -> int:
        """Return the most jobs that generated at once, so far."""
        now = self.now()
        with self._lock:
            return peak_running(self._spans(), now)

    def queued_ids(self) -> list[str]:
        """Return the ids of jobs that waited ``pending`` for a slot (or wait still)."""
        with self._lock:
            return waited_ids(self._jobs.values(), self._spans())

    def job(self, job_id: str) -> dict[str, Any]:
        """Return a job as ``GET /videos/{id}`` would show it now, without logging a request.

        Signed URLs are not made by this view (they read ``"<unsigned>"``).

        Raises:
            KeyError: no job ever had this id.
        """
        with self._lock:
            job = self._jobs[job_id]
            return self._resource(job, self.now(), self._spans()[job.id], base=None)

    def create_params(self, job_id: str) -> dict[str, Any]:
        """Return the body the job was created with (``data:`` URIs summarised).

        Raises:
            KeyError: no job ever had this id.
        """
        with self._lock:
            return dict(self._jobs[job_id].params)

    def price_of(self, job_id: str) -> float:
        """Return what the job costs once completed (USD): its ``usage.cost`` then.

        Raises:
            KeyError: no job ever had this id.
        """
        with self._lock:
            return self._jobs[job_id].cost

    def estimate_of(self, job_id: str) -> float | None:
        """Return the price of what the job was created with, where its model has a price.

        ``None`` for a model priced only by ``unpriced_usd_per_second`` (a client cannot
        estimate it either).

        Raises:
            KeyError: no job ever had this id.
        """
        with self._lock:
            job = self._jobs[job_id]
            return job.cost if job.priced else None

    def charged(self, job_id: str) -> float | None:
        """Return the ``usage.cost`` the job reports now, or ``None`` while it reports none.

        Raises:
            KeyError: no job ever had this id.
        """
        usage = self.job(job_id).get("usage")
        return None if usage is None else float(usage["cost"])

    def spent(self) -> float:
        """Return the USD charged so far (every completed job's cost)."""
        now = self.now()
        with self._lock:
            spans = self._spans()
            return round(
                sum(
                    job.cost
                    for job in self._jobs.values()
                    if self._status(job, now, spans[job.id]) in ("completed", "expired")
                ),
                6,
            )

    # -- error shape and auth --------------------------------------------------------------

    def _error_body(
        self, status: int, message: str, code: str | None, param: str | None
    ) -> tuple[Any, Mapping[str, str]]:
        """Return an OpenRouter-shaped error: ``{"error": {"code": <status>, "message": …}}``.

        The code is the HTTP status as an integer (the official client refuses any other);
        a textual ``code`` goes to ``error.metadata``.
        """
        error: dict[str, Any] = {"code": status, "message": message}
        if code is not None:
            error["metadata"] = {"reason": code}
        return {"error": error}, {}

    def before_route(self, request: FakeRequest) -> FakeResponse | None:
        """Check the API key (not for the model listing nor signed downloads)."""
        if self._api_key is None or not request.in_prefix:
            return None
        if request.path == "/videos/models" or request.path.startswith(_SIGNED):
            return None
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self.error_response(401, "No auth credentials found")
        if not hmac.compare_digest(token.strip().encode(), self._api_key.encode()):
            return self.error_response(401, "User not found.")
        return None

    # -- scheduling ------------------------------------------------------------------------

    def _spans(self) -> dict[str, tuple[float, float] | None]:
        """Return each job's (start, stop) of generation, or ``None`` if it never starts."""
        jobs = sorted(self._jobs.values(), key=lambda j: j.seq)
        return job_spans(jobs, self.max_concurrent, delay=self.queue_time)

    def _status(self, job: _Job, now: float, span: tuple[float, float] | None) -> str:
        if span is None:
            return "cancelled" if now >= (job.cancelled_at or math.inf) else "pending"
        start, _ = span
        end = start + self.queue_time + job.runtime
        if job.cancelled_at is not None and job.cancelled_at <= now and job.cancelled_at < end:
            return "cancelled"
        if now < start + self.queue_time or now <= start:
            return "pending"
        if now < end:
            return "in_progress"
        if job.fails:
            return "failed"
        if self.expires_after is not None and now >= end + self.expires_after:
            return "expired"
        return "completed"

    def _end(self, job: _Job, span: tuple[float, float] | None) -> float:
        return math.inf if span is None else span[0] + self.queue_time + job.runtime

    # -- the job as the API shows it -----------------------------------------------------------

    def _sign(self, job: _Job, base: str) -> str:
        token = "".join(self._rng.choice(_ALNUM) for _ in range(32))
        self._tokens[token] = job.id
        return f"{base}{self.prefix}{_SIGNED}{job.id}/{token}.mp4"

    def _resource(
        self, job: _Job, now: float, span: tuple[float, float] | None, *, base: str | None
    ) -> dict[str, Any]:
        status = self._status(job, now, span)
        body: dict[str, Any] = {
            "id": job.id,
            "polling_url": f"{self.prefix}/videos/{job.id}",
            "status": status,
        }
        if status == "failed":
            body["error"] = self.failure_message
        if status in ("completed", "expired"):
            body["generation_id"] = job.generation_id
            body["usage"] = {"cost": job.cost, "is_byok": False}
        if status == "completed":
            root = base if base is not None else "http://fake-openrouter.invalid"
            body["unsigned_urls"] = [f"{root}{self.prefix}/videos/{job.id}/content?index=0"]
            if self.expires_after is not None:
                body["urls"] = [self._sign(job, base) if base is not None else "<unsigned>"]
                body["expires_at"] = math.floor(self._end(job, span) + self.expires_after)
        return body

    def _base(self, request: FakeRequest) -> str:
        return f"http://{request.header('host') or 'fake-openrouter.invalid'}"

    def _not_found(self, job_id: str) -> FakeResponse:
        return self.error_response(404, f"Video generation job {job_id} not found")

    # -- creating --------------------------------------------------------------------------

    def _price(
        self, model: str, spec: OpenRouterModel | None, resolution: str | None
    ) -> float | None:
        if model in self.prices:
            return self.prices[model]
        return spec.price_per_second(resolution) if spec is not None else None

    def _check(self, body: Mapping[str, Any]) -> tuple[OpenRouterModel | None, dict[str, Any]]:
        """Check a create body as OpenRouter documents it; return the model and a summary."""
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _Refused("model: Required")
        spec = self.models.get(model)
        if spec is None and not self.accept_unknown_models:
            raise _Refused(f"Model {model} does not exist or does not make videos")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise _Refused("prompt: Required")
        duration = body.get("duration")
        if duration is not None:
            if not _is_int(duration) or duration < 1:
                raise _Refused("duration: Expected a positive integer")
            if spec is not None and spec.durations and duration not in spec.durations:
                raise _Refused(
                    f"duration {duration} is not supported by {model}: {list(spec.durations)}"
                )
        for key, allowed in (
            ("resolution", spec.resolutions if spec else None),
            ("aspect_ratio", spec.aspect_ratios if spec else None),
            ("size", spec.sizes if spec else None),
        ):
            value = body.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise _Refused(f"{key}: Expected a string")
            if allowed and value not in allowed:
                raise _Refused(f"{key} {value} is not supported by {model}: {list(allowed)}")
        for key, kind in (("seed", "an integer"), ("generate_audio", "a boolean")):
            value = body.get(key)
            ok = _is_int(value) if key == "seed" else isinstance(value, bool)
            if value is not None and not ok:
                raise _Refused(f"{key}: Expected {kind}")
        callback = body.get("callback_url")
        if callback is not None and (
            not isinstance(callback, str) or not callback.startswith("https://")
        ):
            raise _Refused("callback_url: Must be an HTTPS URL")
        summary = dict(body)
        frames = body.get("frame_images")
        if frames is not None:
            summary["frame_images"] = self._check_frames(frames, spec)
        references = body.get("input_references")
        parts_ok = isinstance(references, list) and all(
            isinstance(r, dict) and r.get("type") in _REFERENCE_TYPES for r in references
        )
        if references is not None and not parts_ok:
            raise _Refused("input_references: Expected image_url, audio_url or video_url parts")
        return spec, summary

    def _check_frames(self, frames: Any, spec: OpenRouterModel | None) -> list[Any]:
        if not isinstance(frames, list) or not frames:
            raise _Refused("frame_images: Expected a non-empty array")
        summary = []
        for i, frame in enumerate(frames):
            if not isinstance(frame, dict) or frame.get("type") != "image_url":
                raise _Refused(f"frame_images.{i}.type: Expected 'image_url'")
            image = frame.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            problem = _url_problem(url)
            if problem is not None:
                raise _Refused(f"frame_images.{i}.image_url.url: {problem}")
            kind = frame.get("frame_type")
            if kind not in _FRAME_TYPES:
                raise _Refused(
                    f"frame_images.{i}.frame_type: Expected 'first_frame' | 'last_frame'"
                )
            if spec is not None and spec.frame_images is not None and kind not in spec.frame_images:
                raise _Refused(f"frame_images.{i}.frame_type: {spec.name} does not take a {kind}")
            summary.append({**frame, "image_url": {"url": _summarise(str(url))}})
        return summary

    def _create(self, request: FakeRequest) -> FakeResponse:
        if request.content_type != "application/json":
            return self.error_response(400, "The request body must be JSON")
        try:
            body = request.json()
        except ValueError:
            return self.error_response(400, "The request body is not valid JSON")
        if not isinstance(body, dict):
            return self.error_response(400, "The request body must be a JSON object")
        try:
            spec, params = self._check(body)
        except _Refused as refused:
            return self.error_response(refused.status, refused.message)
        now = self.now()
        model = str(body["model"])
        seconds = self._seconds(body.get("duration"), spec)
        resolution = body.get("resolution")
        if resolution is None and isinstance(body.get("size"), str):
            resolution = size_resolution(body["size"])
        width, height = _pixels(body.get("size"), resolution, body.get("aspect_ratio"))
        listed = self._price(model, spec, resolution)
        usd = self.unpriced_usd_per_second if listed is None else listed
        if self.credit_limit is not None:
            committed = sum(
                j.cost for j in self._jobs.values() if j.cancelled_at is None and not j.fails
            )
            if committed + seconds * usd > self.credit_limit + 1e-9:
                return self.error_response(
                    402, "Insufficient credits. Add more using https://openrouter.ai/credits"
                )
        generation = (
            self.generation_time(params) if callable(self.generation_time) else self.generation_time
        )
        job = _Job(
            id=f"gen-vid-{math.floor(now)}-{self._random_alnum(20)}",
            seq=len(self._jobs),
            params=params,
            model=model,
            created=now,
            duration=max(0.0, float(generation)),
            seconds=seconds,
            width=width,
            height=height,
            fails=self._fails(str(body["prompt"]).lower()),
            failure_at=self.failure_at,
            usd_per_second=usd,
            priced=listed is not None,
            generation_id=f"gen-{math.floor(now)}-{self._random_alnum(20)}",
        )
        callback = body.get("callback_url")
        if isinstance(callback, str):
            job.callback, job.base = callback, self._base(request)
        self._jobs[job.id] = job
        return FakeResponse.json(
            202,
            {"id": job.id, "polling_url": f"{self.prefix}/videos/{job.id}", "status": "pending"},
            tag="created",
        )

    @staticmethod
    def _seconds(asked: Any, spec: OpenRouterModel | None) -> int:
        """The video's length: as asked, else the model's default (a choice of this fake)."""
        if _is_int(asked):
            return int(asked)
        if spec is not None and spec.default_duration:
            return spec.default_duration
        if spec is not None and spec.durations:
            return spec.durations[0]
        return _DEFAULT_SECONDS

    def _random_alnum(self, length: int) -> str:
        return "".join(self._rng.choice(_ALNUM) for _ in range(length))

    # -- reading and downloading -----------------------------------------------------------

    def _retrieve(self, request: FakeRequest, job_id: str) -> FakeResponse:
        job = self._jobs.get(job_id)
        if job is None:
            return self._not_found(job_id)
        body = self._resource(job, self.now(), self._spans()[job.id], base=self._base(request))
        return FakeResponse.json(200, body, tag=body["status"])

    def _video(self, job: _Job) -> FakeResponse:
        data = _media.mp4(
            seconds=job.seconds,
            width=job.width,
            height=job.height,
            payload_size=self.content_bytes,
            key=f"{self.seed}:{job.id}",
        )
        return FakeResponse(
            status=200,
            headers={"content-type": "video/mp4", "content-length": str(len(data))},
            body=chunks(data),
        )

    def _content(self, request: FakeRequest, job_id: str) -> FakeResponse:
        job = self._jobs.get(job_id)
        if job is None:
            return self._not_found(job_id)
        index = request.query.get("index", "0")
        status = self._status(job, self.now(), self._spans()[job.id])
        if status == "expired":
            return self.error_response(410, "The video's outputs have expired")
        if status != "completed":
            return self.error_response(409, f"Video generation job {job_id} is {status}")
        if index != "0":
            return self.error_response(400, f"index {index} is out of range: the job has 1 output")
        return self._video(job)

    def _signed(self, request: FakeRequest, job_id: str, file: str) -> FakeResponse:
        owner = self._tokens.get(file.removesuffix(".mp4"))
        job = self._jobs.get(job_id)
        if owner != job_id or job is None or not file.endswith(".mp4"):
            return self.error_response(403, "Invalid signature")
        if self._status(job, self.now(), self._spans()[job.id]) != "completed":
            return self.error_response(403, "The signed URL has expired")
        return self._video(job)

    def _models(self, request: FakeRequest) -> FakeResponse:
        created = math.floor(self.now()) - 86_400
        return FakeResponse.json(
            200, {"data": [spec.listing(created=created) for spec in self.models.values()]}
        )

    def _key(self, request: FakeRequest) -> FakeResponse:
        spent = self.spent()
        limit = self.credit_limit
        return FakeResponse.json(
            200,
            {
                "data": {
                    "allowed_data_regions": ["global"],
                    "budgets": [],
                    "byok_usage": 0.0,
                    "byok_usage_daily": 0.0,
                    "byok_usage_monthly": 0.0,
                    "byok_usage_weekly": 0.0,
                    "creator_user_id": None,
                    "effective_budget": None,
                    "free_model_daily_requests": {"limit": 50, "remaining": 50, "used": 0},
                    "include_byok_in_limit": False,
                    "is_free_tier": False,
                    "is_management_key": False,
                    "is_provisioning_key": False,
                    "label": "sk-or-v1-fak...e",
                    "limit": limit,
                    "limit_remaining": None if limit is None else round(limit - spent, 6),
                    "limit_reset": None,
                    "organization_id": None,
                    "rate_limit": {"interval": "10s", "note": "deprecated", "requests": -1},
                    "usage": spent,
                    "usage_daily": spent,
                    "usage_monthly": spent,
                    "usage_weekly": spent,
                    "workspace_id": None,
                }
            },
        )


def _url_problem(url: Any) -> str | None:
    if not isinstance(url, str) or not url:
        return "Expected a URL"
    if url.startswith("data:"):
        head, sep, encoded = url.partition(",")
        if not sep or not head.startswith("data:image/") or not head.endswith(";base64"):
            return "Invalid data URI"
        try:
            base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return "Invalid data URI"
        return None
    if not url.startswith("https://"):
        return "Only public HTTPS URLs can be fetched"
    return None


def _summarise(url: str) -> Any:
    if url.startswith("data:"):
        return {"data_uri": url.partition(",")[0], "length": len(url)}
    return url
