"""FakeGemini: a simulator of Google's Gemini API video endpoints, as the official client speaks them.

It serves what ``google-genai`` 3.6.1 calls in API-key mode, under both ``/v1`` (the
client's default) and ``/v1beta`` (older clients and Google's REST docs):

- Interactions (Gemini Omni): ``POST /{v}/interactions`` (``background: true``, a video
  ``response_format``) answering an ``Interaction`` (``id``, ``object``, ``status``,
  ``model``, ``created``, ``updated``); ``GET /{v}/interactions/{id}`` (``queued``,
  ``in_progress``, ``completed`` with the video in a ``model_output`` step as base64
  ``data`` or, with ``delivery: "uri"``, a Files ``uri``; ``failed`` with ``errors``;
  ``cancelled``), ``usage`` once done; ``POST /{v}/interactions/{id}/cancel``;
  ``DELETE /{v}/interactions/{id}``.
- Veo: ``POST /{v}/models/{model}:predictLongRunning`` answering ``{name}``; ``GET
  /{v}/models/{model}/operations/{id}`` (``done``, ``response.generateVideoResponse``);
  ``GET /{v}/files/{id}:download?alt=media`` streaming the MP4 (for two days).
- ``GET /{v}/models`` (a cheap authenticated read).

Every request needs ``x-goog-api-key`` when ``api_key`` is set: none is ``403
PERMISSION_DENIED``, a wrong one ``400 INVALID_ARGUMENT`` with reason ``API_KEY_INVALID``.
Errors are Google's ``{"error": {"code", "message", "status"}}``.

As in the other fakes, no background task runs: every answer is derived from the fake's
clock. With ``max_concurrent``, jobs beyond the limit stay ``queued`` (Veo: not done) and
start, first come first served, as slots free up. What the live API does in the cases its
documentation leaves open (see `soravideo.transports.gemini`) is a choice of this
fake, said where it is made. Remote ids are soravideo's: an interaction's id, or a Veo
operation's name with ``/`` as ``:`` (``created_ids()`` lists them so).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import re
import string
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Literal

import attrs

from .._core.clock import Clock
from .._core.models import CreateVideoRequest
from .._core.validation import resolve_size
from ..transports._gemini_catalogue import GEMINI_MODELS, GeminiModel, gemini_remote_id
from . import _media
from ._fakeserver import FakeRequest, FakeResponse, FakeServer, chunks
from ._slots import job_spans, peak_running, span_ends
from ._webhooks import FakeWebhookEvent

__all__ = ["FakeGemini"]

_ALNUM = string.ascii_lowercase + string.digits
_VERSIONS = ("v1", "v1beta")
_DEFAULT_SECONDS = 8
_UNPRICED_USD_PER_SECOND = 0.10
_TOKENS_PER_SECOND = 5792  # 57,920 video tokens for a 10 s clip (a third-party capture)
_FILE_TTL = 2 * 24 * 3600.0
_MODALITIES = {"text", "image", "audio", "video", "document"}
_VEO_PARAMETERS = {
    "aspectRatio",
    "durationSeconds",
    "resolution",
    "negativePrompt",
    "personGeneration",
    "sampleCount",
    "enhancePrompt",
}
_PERSON = {"allow_all", "allow_adult", "dont_allow"}
_DURATION = re.compile(r"^([0-9]{1,3})s$")
_STATUS_WORDS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "Expected base64 data"
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "Invalid base64 data"
    return None


@attrs.define(kw_only=True)
class _Job:
    """One interaction or Veo operation; its status is derived from the clock."""

    id: str
    kind: Literal["interaction", "veo"]
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
    delivery: str = "inline"
    file_id: str = ""
    name: str = ""  # a Veo operation's name
    cancelled_at: float | None = None
    deleted_at: float | None = None

    @property
    def runtime(self) -> float:
        """Seconds from start to its end (a failure comes part way)."""
        return self.duration * (self.failure_at if self.fails else 1.0)

    @property
    def cost(self) -> float:
        return round(self.seconds * self.usd_per_second, 6)


class _Refused(Exception):
    def __init__(self, message: str, status: int = 400, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class FakeGemini(FakeServer):
    """A simulator of the Gemini API's video endpoints, in-process or on a loopback port.

    In-process: ``httpx.AsyncClient(transport=fake.http_transport())`` with base URL
    ``http://fake-gemini.test`` and simulated time you move (``fake.advance(60)``);
    served: ``with fake.serve() as base_url:`` (``http://127.0.0.1:PORT``) for any client,
    the official ``google-genai`` one included (``http_options={"base_url": base_url}``).

    Args:
        api_key: When set, requests must carry ``x-goog-api-key: KEY``.
        clock: Its time (``None``: a ManualClock in-process, real time when served).
        generation_time: Seconds a job generates once it has a slot, or a function of the
            create body returning seconds.
        queue_time: Seconds a job stays ``queued`` after getting a slot.
        failure_prompts: Case-insensitive substrings of the prompt whose jobs fail: an
            interaction ends ``failed`` (``errors``), a Veo operation ends ``done`` with
            its video withheld by the safety filters (``raiMediaFilteredCount``).
        failure_message: The message of those failures.
        failure_at: When they fail, as a fraction of the generation time.
        max_concurrent: The most jobs generating at once; later ones wait ``queued``.
        models: The models it serves (default: the transport's
            `GEMINI_MODELS`); requests are checked
            against each model's durations, resolutions and aspect ratios (400 otherwise).
        accept_unknown_models: Take models it does not list (no checks; priced at
            ``unpriced_usd_per_second``) instead of answering 404.
        prices: USD per second by model, overriding the models' own.
        unpriced_usd_per_second: What a second costs on a model with no price.
        file_ttl: Seconds a generated video stays downloadable from the Files API after
            it is done (Google keeps Veo videos two days).
        content_bytes: Size of each MP4's media payload.
        seed: Seeds ids, request ids and rate-based faults.

    Examples:
        ```python
        from soravideo.testing import FakeGemini, check_ledger_exactly_once

        async with sv.AsyncSoraVideo.simulated(provider="gemini") as client:
            assert isinstance(client.fake, FakeGemini)
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A koi pond in the rain"))
            job = await client.videos.wait_for_job(job.id)
            print(job.status, client.fake.count("POST"))  # completed 1
            await check_ledger_exactly_once(client.fake, client.repository)
        ```
    """

    # Omni interactions can be cancelled; Veo operations cannot (see can_cancel_video).
    can_cancel = True

    def __init__(
        self,
        *,
        api_key: str | None = None,
        clock: Clock | None = None,
        generation_time: float | Callable[[Mapping[str, Any]], float] = 5.0,
        queue_time: float = 0.0,
        failure_prompts: Sequence[str] = ("fail-moderation",),
        failure_message: str = "The request was blocked by Google's safety filters.",
        failure_at: float = 0.0,
        max_concurrent: int | None = None,
        models: Mapping[str, GeminiModel] | None = None,
        accept_unknown_models: bool = False,
        prices: Mapping[str, float] | None = None,
        unpriced_usd_per_second: float = _UNPRICED_USD_PER_SECOND,
        file_ttl: float = _FILE_TTL,
        content_bytes: int = 64 * 1024,
        seed: int = 0,
    ) -> None:
        super().__init__(clock=clock, seed=seed, prefix="")
        self._check_limits(failure_at, max_concurrent)
        self._api_key = api_key
        self.generation_time = generation_time
        self.queue_time = queue_time
        self.failure_prompts = tuple(failure_prompts)
        self.failure_message = failure_message
        self.failure_at = failure_at
        self.max_concurrent = max_concurrent
        self.models: Mapping[str, GeminiModel] = dict(GEMINI_MODELS if models is None else models)
        self.accept_unknown_models = accept_unknown_models
        self.prices = dict(prices or {})
        self.unpriced_usd_per_second = unpriced_usd_per_second
        self.file_ttl = file_ttl
        self.content_bytes = content_bytes
        self._jobs: dict[str, _Job] = {}
        self._files: dict[str, str] = {}
        r = self.router
        r.add("POST", "/{version}/interactions", self._create, name="create")
        r.add("GET", "/{version}/interactions/{job_id}", self._retrieve, name="retrieve")
        r.add("POST", "/{version}/interactions/{job_id}/cancel", self._cancel, name="cancel")
        r.add("DELETE", "/{version}/interactions/{job_id}", self._delete, name="delete")
        r.add("GET", "/{version}/models", self._list_models, name="models")
        r.add("POST", "/{version}/models/{model}:predictLongRunning", self._veo_create, name="veo")
        r.add(
            "GET",
            "/{version}/models/{model}/operations/{op}",
            self._operation,
            name="operation",
        )
        r.add("GET", "/{version}/files/{file}:download", self._download, name="download")

    # -- the driver interface (FakeProvider) ----------------------------------------------

    _record_noun = "jobs"

    def _records(self) -> Iterable[_Job]:
        return self._jobs.values()

    def _webhook_events(
        self, now: float, known: Container[str] = frozenset()
    ) -> Iterator[FakeWebhookEvent]:
        """Google's thin events, sent to the project's static webhook: an interaction's
        ``interaction.completed`` / ``interaction.failed`` (its id), a Veo operation's
        ``video.generated`` (its name); a job cancelled before its end sends none."""
        spans = self._spans()
        for job in self._jobs.values():
            span = spans[job.id]
            end = self._end(job, span)
            if end > now or (job.cancelled_at is not None and job.cancelled_at < end):
                continue
            if job.kind == "veo":
                kind, named = "video.generated", job.name
            else:
                kind = "interaction.failed" if job.fails else "interaction.completed"
                named = job.id
            key = f"{job.id}:{kind}"
            if key in known:
                continue
            yield FakeWebhookEvent(
                key=key,
                at=end,
                remote_id=job.id,
                kind=kind,
                url=None,
                payload={"type": kind, "create_time": _iso(end), "data": {"id": named}},
            )

    def _end_times(self, now: float) -> list[float]:
        return span_ends(self._spans(), now)

    def reset_next_create(self) -> None:
        """Let the next create take effect, then reset its connection (an ambiguous create)."""
        self.inject(
            reset=True,
            phase="after",
            times=1,
            match=lambda r: (
                r.method == "POST"
                and (r.path.endswith("/interactions") or r.path.endswith(":predictLongRunning"))
            ),
        )

    def can_cancel_video(self, video_id: str) -> bool:
        """Whether the job can be cancelled through the API (interactions; not Veo)."""
        with self._lock:
            return self._jobs[video_id].kind == "interaction"

    # -- counters and views for assertions ----------------------------------------------

    def status_request_count(self) -> int:
        """Return how many job reads (interactions and operations) arrived."""
        return self.count(route="retrieve") + self.count(route="operation")

    def download_count(self, status: int | None = None) -> int:
        """Return how many Files downloads arrived (with this answer status, if given)."""
        return self.count(route="download", status=status)

    def cancel_count(self) -> int:
        """Return how many cancel requests arrived."""
        return self.count(route="cancel")

    def peak_concurrency(self) -> int:
        """Return the most jobs that generated at once, so far."""
        now = self.now()
        with self._lock:
            return peak_running(self._spans(), now)

    def job(self, job_id: str, version: str = "v1") -> dict[str, Any]:
        """Return a job as ``GET`` shows it now (the interaction, or the operation).

        Raises:
            KeyError: no job ever had this id.
        """
        with self._lock:
            job = self._jobs[job_id]
            if job.kind == "veo":
                return self._operation_body(job, self.now(), version)
            return self._interaction_body(job, self.now(), version)

    def status_of(self, job_id: str) -> str:
        """Return a job's status word now (``queued`` … or, for Veo, ``running``/``done``/``filtered``).

        Raises:
            KeyError: no job ever had this id.
        """
        with self._lock:
            job = self._jobs[job_id]
            return self._status(job, self.now(), self._spans()[job.id])

    def video_bytes(self, job_id: str) -> bytes:
        """Return the MP4 the job makes (whatever its status).

        Raises:
            KeyError: no job ever had this id.
        """
        with self._lock:
            return self._mp4(self._jobs[job_id])

    def create_params(self, job_id: str) -> dict[str, Any]:
        """Return what the job was created with (``prompt`` and a summary of the body).

        Raises:
            KeyError: no job ever had this id.
        """
        with self._lock:
            return dict(self._jobs[job_id].params)

    def price_usd(self, job_id: str) -> float | None:
        """Return the price of what was sent for the job, where its model has a price.

        Raises:
            KeyError: no job ever had this id.
        """
        with self._lock:
            job = self._jobs[job_id]
            return job.cost if job.priced else None

    def spent(self) -> float:
        """Return the USD billed so far: every job that made its video (priced or not)."""
        now = self.now()
        with self._lock:
            spans = self._spans()
            return round(
                sum(
                    job.cost
                    for job in self._jobs.values()
                    if self._status(job, now, spans[job.id]) in ("completed", "done")
                ),
                6,
            )

    # -- error shape and auth --------------------------------------------------------------

    def _error_body(
        self, status: int, message: str, code: str | None, param: str | None
    ) -> tuple[Any, Mapping[str, str]]:
        """Return a Google error: ``{"error": {"code": <status>, "message", "status"}}``.

        ``code`` is the status word (``FAILED_PRECONDITION``), or an ``ErrorInfo`` reason
        (``API_KEY_INVALID``) when it is not a status word.
        """
        word = _STATUS_WORDS.get(status, "UNKNOWN")
        error: dict[str, Any] = {"code": status, "message": message, "status": word}
        if code is not None and code.isupper() and code not in _STATUS_WORDS.values():
            if code in ("FAILED_PRECONDITION", "OUT_OF_RANGE", "ALREADY_EXISTS"):
                error["status"] = code
            else:
                error["details"] = [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": code,
                        "domain": "googleapis.com",
                    }
                ]
        elif code is not None:
            error["status"] = code
        return {"error": error}, {}

    def before_route(self, request: FakeRequest) -> FakeResponse | None:
        """Check the API key (``x-goog-api-key``) and the API version of every request."""
        version = request.path.strip("/").split("/", 1)[0]
        if version not in _VERSIONS:
            return self.error_response(404, f"Invalid URL ({request.method} {request.path})")
        if self._api_key is None:
            return None
        key = (request.header("x-goog-api-key") or "").strip()
        if not key:
            return self.error_response(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to "
                "call this API.",
            )
        if not hmac.compare_digest(key.encode(), self._api_key.encode()):
            return self.error_response(
                400, "API key not valid. Please pass a valid API key.", code="API_KEY_INVALID"
            )
        return None

    # -- scheduling ------------------------------------------------------------------------

    def _spans(self) -> dict[str, tuple[float, float] | None]:
        """Return each job's (start, stop) of generation, or ``None`` if it never starts."""
        jobs = sorted(self._jobs.values(), key=lambda j: j.seq)
        return job_spans(jobs, self.max_concurrent, delay=self.queue_time)

    def _end(self, job: _Job, span: tuple[float, float] | None) -> float:
        return math.inf if span is None else span[0] + self.queue_time + job.runtime

    def _status(self, job: _Job, now: float, span: tuple[float, float] | None) -> str:
        """``queued``, ``in_progress``, ``completed``, ``failed``, ``cancelled``; for Veo
        ``running``, ``done`` or ``filtered``."""
        end = self._end(job, span)
        if job.cancelled_at is not None and job.cancelled_at <= now and job.cancelled_at < end:
            return "cancelled"
        if span is not None and now >= end:
            word = "failed" if job.fails else "completed"
        elif span is None or now < span[0] + self.queue_time or now <= span[0]:
            word = "queued"
        else:
            word = "in_progress"
        if job.kind == "veo":
            return {"failed": "filtered", "completed": "done"}.get(word, "running")
        return word

    # -- the job as the API shows it -----------------------------------------------------------

    def _mp4(self, job: _Job) -> bytes:
        return _media.mp4(
            seconds=job.seconds,
            width=job.width,
            height=job.height,
            payload_size=self.content_bytes,
            key=f"{self.seed}:{job.id}",
        )

    def _file_uri(self, job: _Job, version: str) -> str:
        # The official client keeps the [a-z0-9]+ after "files/" of an https:// URI and asks
        # the configured origin for it: this host is never fetched.
        return (
            f"https://generativelanguage.googleapis.com/{version}/files/{job.file_id}"
            ":download?alt=media"
        )

    def _interaction_body(self, job: _Job, now: float, version: str) -> dict[str, Any]:
        span = self._spans()[job.id]
        status = self._status(job, now, span)
        end = self._end(job, span)
        updated = min(now, end) if status in ("completed", "failed") else now
        body: dict[str, Any] = {
            "id": job.id,
            "object": "interaction",
            "status": status,
            "model": job.model,
            "created": _iso(job.created),
            "updated": _iso(updated if status != "cancelled" else job.cancelled_at or now),
        }
        if status == "completed":
            video: dict[str, Any] = {"type": "video", "mime_type": "video/mp4"}
            if job.delivery == "uri":
                video["uri"] = self._file_uri(job, version)
            else:
                video["data"] = base64.b64encode(self._mp4(job)).decode("ascii")
            tokens = job.seconds * _TOKENS_PER_SECOND
            body["steps"] = [
                {"type": "user_input", "content": [{"type": "text", "text": job.params["prompt"]}]},
                {"type": "model_output", "content": [video]},
            ]
            body["usage"] = {
                "total_input_tokens": 10,
                "total_output_tokens": tokens,
                "total_tokens": tokens + 10,
                "output_tokens_by_modality": [{"modality": "video", "tokens": tokens}],
            }
        elif status == "failed":
            body["errors"] = [{"code": "SAFETY", "message": self.failure_message}]
        return body

    def _operation_body(self, job: _Job, now: float, version: str) -> dict[str, Any]:
        status = self._status(job, now, self._spans()[job.id])
        body: dict[str, Any] = {"name": job.name}
        if status == "running":
            return body
        body["done"] = True
        generated: dict[str, Any] = {"raiMediaFilteredCount": 0, "raiMediaFilteredReasons": []}
        if status == "filtered":
            generated = {
                "raiMediaFilteredCount": 1,
                "raiMediaFilteredReasons": [self.failure_message],
            }
        else:
            generated["generatedSamples"] = [{"video": {"uri": self._file_uri(job, version)}}]
        body["response"] = {
            "@type": f"type.googleapis.com/google.ai.generativelanguage.{version}."
            "PredictLongRunningResponse",
            "generateVideoResponse": generated,
        }
        return body

    def _not_found(self, what: str) -> FakeResponse:
        return self.error_response(404, f"{what} was not found.")

    # -- creating --------------------------------------------------------------------------

    def _spec(self, model: Any, api: str) -> GeminiModel | None:
        if not isinstance(model, str) or not model:
            raise _Refused("model: Required")
        spec = self.models.get(model)
        if spec is None and not self.accept_unknown_models:
            raise _Refused(f"models/{model} is not found for this API version.", 404)
        if spec is not None and spec.api != api:
            where = "predictLongRunning" if spec.api == "veo" else "the Interactions API"
            raise _Refused(f"models/{model} is served through {where} only.")
        return spec

    @staticmethod
    def _check_shape(spec: GeminiModel | None, resolution: Any, ratio: Any, seconds: Any) -> None:
        if spec is None:
            return
        if resolution is not None and resolution not in spec.resolutions:
            raise _Refused(f"resolution {resolution!r} is not supported by {spec.name}.")
        if ratio is not None and ratio not in spec.aspect_ratios:
            raise _Refused(f"aspect ratio {ratio!r} is not supported by {spec.name}.")
        if seconds is not None and seconds not in spec.durations:
            raise _Refused(f"a duration of {seconds} s is not supported by {spec.name}.")
        shown = resolution or spec.default_resolution
        length = seconds if seconds is not None else spec.default_duration
        if shown in spec.long_only and length != max(spec.durations):
            raise _Refused(f"{shown} is supported with {max(spec.durations)} s videos only.")

    def _input(self, value: Any) -> tuple[str, list[dict[str, Any]]]:
        """Return the prompt text and a summary of the image blocks of an ``input``."""
        if isinstance(value, str):
            if not value.strip():
                raise _Refused("input: must not be empty")
            return value, []
        if not isinstance(value, list) or not value:
            raise _Refused("input: Expected a string or a list of content")
        blocks: list[Any] = []
        for item in value:
            if isinstance(item, dict) and item.get("type") == "user_input":
                content = item.get("content")
                blocks.extend(content if isinstance(content, list) else [])
            else:
                blocks.append(item)
        texts: list[str] = []
        images: list[dict[str, Any]] = []
        for i, block in enumerate(blocks):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif kind == "image":
                if "data" in block:
                    problem = _b64_problem(block["data"])
                    if problem is not None:
                        raise _Refused(f"input.content[{i}].data: {problem}")
                    images.append(
                        {"data_length": len(block["data"]), "mime_type": block.get("mime_type")}
                    )
                elif isinstance(block.get("uri"), str) and block["uri"].startswith("https://"):
                    images.append({"uri": block["uri"], "mime_type": block.get("mime_type")})
                else:
                    raise _Refused(f"input.content[{i}]: an image needs data or an https uri")
            else:
                raise _Refused(f"input.content[{i}]: unsupported content type {kind!r}")
        prompt = "\n".join(texts)
        if not prompt.strip():
            raise _Refused("input: a text prompt is required")
        return prompt, images

    def _body(self, request: FakeRequest) -> dict[str, Any]:
        if request.content_type != "application/json":
            raise _Refused("Invalid JSON payload received: the body must be JSON")
        try:
            body = request.json()
        except ValueError:
            raise _Refused("Invalid JSON payload received.") from None
        if not isinstance(body, dict):
            raise _Refused("Invalid JSON payload received: expected an object")
        return body

    def _add(
        self,
        *,
        kind: Literal["interaction", "veo"],
        body: Mapping[str, Any],
        params: dict[str, Any],
        model: str,
        spec: GeminiModel | None,
        seconds: int,
        resolution: str | None,
        ratio: str | None,
        delivery: str = "inline",
    ) -> _Job:
        now = self.now()
        listed = self.prices.get(model)
        if listed is None and spec is not None:
            listed = spec.price_per_second(resolution)
        usd = self.unpriced_usd_per_second if listed is None else listed
        size = resolve_size(
            CreateVideoRequest(
                prompt="-",
                resolution=resolution or (spec.default_resolution if spec else "720p"),
                aspect_ratio=ratio or "16:9",
            )
        ) or (1280, 720)
        generation = (
            self.generation_time(body) if callable(self.generation_time) else self.generation_time
        )
        token = "".join(self._rng.choice(_ALNUM) for _ in range(16))
        if kind == "veo":
            name = f"models/{model}/operations/{token}"
            job_id = gemini_remote_id(name)
        else:
            name = ""
            job_id = f"v1_{token}"
        job = _Job(
            id=job_id,
            kind=kind,
            seq=len(self._jobs),
            params=params,
            model=model,
            created=now,
            duration=max(0.0, float(generation)),
            seconds=seconds,
            width=size[0],
            height=size[1],
            fails=self._fails(str(params["prompt"]).lower()),
            failure_at=self.failure_at,
            usd_per_second=usd,
            priced=listed is not None,
            delivery=delivery,
            file_id="".join(self._rng.choice(_ALNUM) for _ in range(12)),
            name=name,
        )
        self._jobs[job.id] = job
        self._files[job.file_id] = job.id
        return job

    def _create(self, request: FakeRequest, version: str) -> FakeResponse:
        try:
            body = self._body(request)
            spec = self._spec(body.get("model"), "interactions")
            prompt, images = self._input(body.get("input"))
            if body.get("background") is not True:
                # A choice of this fake: a video is made in the background only.
                raise _Refused("background: video generation requires background=true")
            if body.get("stream"):
                raise _Refused("stream: not supported with background=true")
            modalities = body.get("response_modalities")
            if modalities is not None and (
                not isinstance(modalities, list) or any(m not in _MODALITIES for m in modalities)
            ):
                raise _Refused("response_modalities: Expected lower-case modalities")
            formats = body.get("response_format")
            if isinstance(formats, list):
                formats = next(
                    (f for f in formats if isinstance(f, dict) and f.get("type") == "video"), None
                )
            if not isinstance(formats, dict) or formats.get("type") != "video":
                raise _Refused("response_format: a video response format is required")
            duration = formats.get("duration")
            seconds: int | None = None
            if duration is not None:
                found = _DURATION.match(duration) if isinstance(duration, str) else None
                if found is None:
                    raise _Refused("response_format.duration: Expected a duration like '8s'")
                seconds = int(found.group(1))
            delivery = formats.get("delivery", "inline")
            if delivery not in ("inline", "uri"):
                raise _Refused("response_format.delivery: Expected 'inline' or 'uri'")
            resolution, ratio = formats.get("resolution"), formats.get("aspect_ratio")
            self._check_shape(spec, resolution, ratio, seconds)
        except _Refused as refused:
            return self.error_response(refused.status, refused.message, code=refused.code)
        model = str(body["model"])
        length = seconds or (spec.default_duration if spec else _DEFAULT_SECONDS)
        params = {
            "prompt": prompt,
            "model": model,
            "images": images,
            "response_format": dict(formats),
            "generation_config": body.get("generation_config"),
            "version": version,
        }
        job = self._add(
            kind="interaction",
            body=body,
            params=params,
            model=model,
            spec=spec,
            seconds=length,
            resolution=resolution,
            ratio=ratio,
            delivery=str(delivery),
        )
        answer = self._interaction_body(job, self.now(), version)
        return FakeResponse.json(200, answer, tag="created")

    def _veo_create(self, request: FakeRequest, version: str, model: str) -> FakeResponse:
        try:
            body = self._body(request)
            spec = self._spec(model, "veo")
            instances = body.get("instances")
            if not isinstance(instances, list) or len(instances) != 1:
                raise _Refused("instances: Expected exactly one instance")
            instance = instances[0]
            prompt = instance.get("prompt") if isinstance(instance, dict) else None
            if not isinstance(prompt, str) or not prompt.strip():
                raise _Refused("instances[0].prompt: Required")
            image = instance.get("image")
            images: list[dict[str, Any]] = []
            if image is not None:
                problem = (
                    _b64_problem(image.get("bytesBase64Encoded"))
                    if isinstance(image, dict)
                    else "Expected an image"
                )
                if problem is None and not str(image.get("mimeType", "")).startswith("image/"):
                    problem = "mimeType: Expected an image type"
                if problem is not None:
                    raise _Refused(f"instances[0].image: {problem}")
                images.append(
                    {
                        "data_length": len(image["bytesBase64Encoded"]),
                        "mime_type": image["mimeType"],
                    }
                )
            parameters = body.get("parameters", {})
            if not isinstance(parameters, dict):
                raise _Refused("parameters: Expected an object")
            unknown = sorted(set(parameters) - _VEO_PARAMETERS)
            if unknown:
                raise _Refused(f"Invalid JSON payload received. Unknown name {unknown[0]!r}")
            seconds = parameters.get("durationSeconds")
            if seconds is not None and not _is_int(seconds):
                raise _Refused("parameters.durationSeconds: Expected an integer")
            if parameters.get("sampleCount", 1) != 1:
                raise _Refused("parameters.sampleCount: this fake makes one video")
            person = parameters.get("personGeneration")
            if person is not None and person not in _PERSON:
                raise _Refused(
                    "parameters.personGeneration: Expected allow_all, allow_adult or dont_allow"
                )
            negative = parameters.get("negativePrompt")
            if negative is not None and not isinstance(negative, str):
                raise _Refused("parameters.negativePrompt: Expected a string")
            resolution, ratio = parameters.get("resolution"), parameters.get("aspectRatio")
            self._check_shape(spec, resolution, ratio, seconds)
        except _Refused as refused:
            return self.error_response(refused.status, refused.message, code=refused.code)
        length = seconds or (spec.default_duration if spec else _DEFAULT_SECONDS)
        params = {
            "prompt": prompt,
            "model": model,
            "images": images,
            "parameters": dict(parameters),
            "version": version,
        }
        job = self._add(
            kind="veo",
            body=body,
            params=params,
            model=model,
            spec=spec,
            seconds=length,
            resolution=resolution,
            ratio=ratio,
        )
        return FakeResponse.json(200, {"name": job.name}, tag="created")

    # -- reading, cancelling, downloading -----------------------------------------------------

    def _live(self, job_id: str, kind: str) -> _Job | None:
        job = self._jobs.get(job_id)
        if job is None or job.kind != kind or job.deleted_at is not None:
            return None
        return job

    def _retrieve(self, request: FakeRequest, version: str, job_id: str) -> FakeResponse:
        job = self._live(job_id, "interaction")
        if job is None:
            return self._not_found(f"Interaction {job_id}")
        body = self._interaction_body(job, self.now(), version)
        return FakeResponse.json(200, body, tag=body["status"])

    def _cancel(self, request: FakeRequest, version: str, job_id: str) -> FakeResponse:
        job = self._live(job_id, "interaction")
        if job is None:
            return self._not_found(f"Interaction {job_id}")
        now = self.now()
        status = self._status(job, now, self._spans()[job.id])
        if status in ("queued", "in_progress"):
            job.cancelled_at = now
        elif status != "cancelled":
            # A choice of this fake: a finished interaction cannot be cancelled.
            return self.error_response(
                400, f"Interaction {job_id} is {status}: it cannot be cancelled.",
                code="FAILED_PRECONDITION",
            )  # fmt: skip
        body = self._interaction_body(job, now, version)
        return FakeResponse.json(200, body, tag="cancelled")

    def _delete(self, request: FakeRequest, version: str, job_id: str) -> FakeResponse:
        job = self._live(job_id, "interaction")
        if job is None:
            return self._not_found(f"Interaction {job_id}")
        now = self.now()
        if self._status(job, now, self._spans()[job.id]) in ("queued", "in_progress"):
            job.cancelled_at = now
        job.deleted_at = now
        return FakeResponse.json(200, {}, tag="deleted")

    def _operation(self, request: FakeRequest, version: str, model: str, op: str) -> FakeResponse:
        name = f"models/{model}/operations/{op}"
        try:
            job = self._live(gemini_remote_id(name), "veo")
        except ValueError:
            job = None
        if job is None:
            return self._not_found(f"Operation {name}")
        body = self._operation_body(job, self.now(), version)
        return FakeResponse.json(200, body, tag="done" if body.get("done") else "running")

    def _download(self, request: FakeRequest, version: str, file: str) -> FakeResponse:
        if request.query.get("alt") != "media":
            return self.error_response(400, "alt=media is required to download a file")
        job_id = self._files.get(file)
        job = self._jobs.get(job_id) if job_id is not None else None
        if job is None:
            return self._not_found(f"File files/{file}")
        now = self.now()
        span = self._spans()[job.id]
        status = self._status(job, now, span)
        if status not in ("completed", "done") or now >= self._end(job, span) + self.file_ttl:
            return self._not_found(f"File files/{file}")
        data = self._mp4(job)
        return FakeResponse(
            status=200,
            headers={"content-type": "video/mp4", "content-length": str(len(data))},
            body=chunks(data),
        )

    def _list_models(self, request: FakeRequest, version: str) -> FakeResponse:
        models = [
            {
                "name": f"models/{spec.name}",
                "displayName": spec.name,
                "supportedGenerationMethods": (
                    ["predictLongRunning"] if spec.api == "veo" else ["createInteraction"]
                ),
            }
            for spec in self.models.values()
        ]
        size = request.query.get("pageSize")
        if size is not None and size.isdigit() and int(size) > 0:
            models = models[: int(size)]
        return FakeResponse.json(200, {"models": models})
