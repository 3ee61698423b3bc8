"""FakeSora: a faithful simulator of the ``/v1/videos`` protocol (the Sora API shape).

It follows ``shared/spec/openai-videos-openapi.yaml`` plus the documented later additions
(16 and 20 second clips, 1080p sizes for ``sora-2-pro``; with ``gateway_statuses`` the
``cancelled`` and ``expired`` statuses that OpenAI-compatible gateways add).

Jobs are not run by any background task: each request reads the fake's clock and derives
every job's state from it (``queued`` at creation, ``in_progress`` with progress from the
curve, then ``completed`` or ``failed`` at creation + generation time). So a ManualClock
makes a whole generation a matter of ``fake.advance(30)``, and real time works as is.
"""

from __future__ import annotations

import hmac
import json
import math
import re
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

import attrs

from .._core.clock import Clock
from . import _media
from ._fakeserver import FakeRequest, FakeResponse, FakeServer, chunks
from ._slots import peak_overlap
from ._webhooks import FakeWebhookEvent

__all__ = ["FakeSora"]

# What the spec enumerates, plus what OpenAI's guides added later.
_SECONDS = ("4", "8", "12", "16", "20")
_SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
_SIZES_1080P = ("1080x1920", "1920x1080")
_VARIANTS: dict[str, tuple[str, str]] = {
    "video": ("video/mp4", "mp4"),
    "thumbnail": ("image/webp", "webp"),
    "spritesheet": ("image/jpeg", "jpeg"),
}
_CREATE_FIELDS = frozenset({"prompt", "model", "seconds", "size", "input_reference"})
_MAX_PROMPT = 32_000
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    429: "rate_limit_error",
}


_ERRORS: dict[str, dict[str, str]] = {
    "failed": {
        "code": "moderation_blocked",
        "message": "Your request was blocked by our moderation system.",
    },
    "expired": {"code": "expired", "message": "The video's assets have expired."},
}
_ERRORS_JSON = {status: json.dumps(error) for status, error in _ERRORS.items()}


def _json_value(value: object) -> str:
    """``json.dumps(value)``, without its set-up for the strings a resource mostly holds."""
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    return "null" if value is None else json.dumps(value)


def _json_answer(
    text: str, *, headers: Mapping[str, str] | None = None, tag: str | None = None
) -> FakeResponse:
    """``FakeResponse.json`` (status 200) for a payload already encoded."""
    return FakeResponse(
        status=200,
        headers={"content-type": "application/json", **(headers or {})},
        body=text.encode(),
        tag=tag,
    )


def _allowed(model: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the accepted seconds and sizes for a model (gateway models get the union)."""
    if model.startswith("sora-2-pro"):
        return _SECONDS, _SIZES + _SIZES_1080P
    if model.startswith("sora-2"):
        return _SECONDS, _SIZES
    return _SECONDS, _SIZES + _SIZES_1080P


def _linear(fraction: float) -> float:
    return 100.0 * fraction


class _BadRequest(Exception):
    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


@attrs.frozen
class _Part:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None


_PARAM = re.compile(r';\s*([\w*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')


def _header_params(value: str) -> dict[str, str]:
    return {m[1].lower(): (m[2] if m[2] is not None else m[3]) for m in _PARAM.finditer(value)}


def _parse_multipart(body: bytes, content_type: str) -> list[_Part]:
    boundary = _header_params(content_type).get("boundary")
    if not boundary:
        raise _BadRequest("Invalid multipart/form-data: no boundary.")
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 2 or not chunks[-1].startswith(b"--"):
        raise _BadRequest("Invalid multipart/form-data: missing closing boundary.")
    parts: list[_Part] = []
    for chunk in chunks[1:-1]:
        chunk = chunk.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise _BadRequest("Invalid multipart/form-data: a part has no headers.")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        params = _header_params(headers.get("content-disposition", ""))
        if "name" not in params:
            raise _BadRequest("Invalid multipart/form-data: a part has no name.")
        parts.append(
            _Part(params["name"], data, params.get("filename"), headers.get("content-type"))
        )
    return parts


@attrs.define(kw_only=True)
class _Video:
    """One job. Its status is derived from the clock; only cancel and delete mutate it."""

    id: str
    seq: int
    params: dict[str, Any]
    created: float
    duration: float
    fails: bool
    failure_at: float
    idempotency_key: str | None = None
    cancelled_at: float | None = None
    deleted_at: float | None = None
    # When it completes (or fails). Read several times for every video of every list page,
    # so worked out once from the four fields above, which nothing changes after creation.
    end: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.end = self.created + self.duration * (self.failure_at if self.fails else 1.0)

    @property
    def model(self) -> str:
        return str(self.params["model"])

    @property
    def stopped(self) -> float:
        """When it stopped generating: its end, or its cancellation if sooner."""
        return self.end if self.cancelled_at is None else min(self.end, self.cancelled_at)

    def active(self, now: float) -> bool:
        return self.created <= now < self.stopped


class FakeSora(FakeServer):
    """A simulator of the ``/v1/videos`` protocol, in-process or on a loopback port.

    Use it in-process (``httpx.AsyncClient(transport=fake.http_transport(),
    base_url="http://fake/v1")``) with simulated time you move (``fake.advance(30)``), or
    serve it (``with fake.serve() as base_url:``) to any HTTP client, on real time.

    Args:
        api_key: When set, requests must carry ``Authorization: Bearer KEY`` or
            ``api-key: KEY`` (Azure style); anything else answers 401.
        clock: Its time. ``None``: a ManualClock in-process, real time when served (the
            first use decides; see ``FakeServer``).
        generation_time: Seconds from create to completion, or a function of the create
            parameters (``model``, ``prompt``, ``seconds``, ``size`` …) returning seconds.
        queue_time: Seconds a job stays ``queued`` before ``in_progress`` (a job is always
            ``queued`` at the instant it is created).
        progress_curve: Maps the elapsed fraction of the generation (0–1) to a progress
            percentage (0–100); linear by default. Shown as 0 while queued and capped at
            99 until completion.
        failure_prompts: Case-insensitive substrings that fail moderation: such a job
            ends ``failed`` with error code ``moderation_blocked``.
        failure_at: When a moderated job fails, as a fraction of its generation time.
        max_concurrent: The most jobs generating at once; creates beyond it answer 429
            with ``Retry-After`` (until the earliest job ends), as the real service did.
        retry_after: A fixed ``Retry-After`` for those 429s, instead of the computed one.
        poll_after_ms: Send ``openai-poll-after-ms`` with this value when a retrieved job
            is still queued or in progress.
        expires_after: Seconds after completion that content stays downloadable.
        idempotency_ttl: How long an ``Idempotency-Key`` is remembered (24 h).
        content_bytes: Size of the MP4's media payload (the file is a little larger).
        gateway_statuses: Behave like OpenAI-compatible gateways: deleting a generating
            job leaves it visible as ``cancelled`` (instead of gone), and a completed job
            past ``expires_at`` reads ``expired``.
        seed: Seeds ids, request ids, content bytes and rate-based faults.
        prefix: The path prefix (``/v1``).

    Deleting a job that is still generating cancels it (the protocol has no cancel
    endpoint): the fake records it in ``cancelled_ids`` and frees its concurrency
    slot. An ``Idempotency-Key`` seen within ``idempotency_ttl`` on the same endpoint
    returns the original job as it is now, never a second job; both requests are logged
    and the repeat is tagged ``"replayed"``.

    Examples:
        ```python
        import httpx
        from soravideo.testing import FakeSora

        # Your own HTTP code against the /v1/videos protocol, in-process, on the fake's ManualClock.
        fake = FakeSora(generation_time=60, failure_prompts=["forbidden"])
        async with httpx.AsyncClient(
            transport=fake.http_transport(), base_url="http://fakesora.invalid/v1"
        ) as http:
            video = (await http.post("/videos", json={"prompt": "A snail race", "seconds": "8"})).json()
            fake.advance_until_done()
            video = (await http.get(f"/videos/{video['id']}")).json()
            print(video["status"], fake.created_count())  # completed 1
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
        failure_at: float = 0.5,
        max_concurrent: int | None = None,
        retry_after: float | None = None,
        poll_after_ms: int | None = None,
        expires_after: float = 3600.0,
        idempotency_ttl: float = 86_400.0,
        content_bytes: int = 64 * 1024,
        gateway_statuses: bool = False,
        seed: int = 0,
        prefix: str = "/v1",
    ) -> None:
        super().__init__(clock=clock, seed=seed, prefix=prefix)
        self._check_limits(failure_at, max_concurrent)
        self._api_key = api_key
        self.generation_time = generation_time
        self.queue_time = queue_time
        self.progress_curve = progress_curve or _linear
        self.failure_prompts = tuple(failure_prompts)
        self.failure_at = failure_at
        self.max_concurrent = max_concurrent
        self.retry_after = retry_after
        self.poll_after_ms = poll_after_ms
        self.expires_after = expires_after
        self.idempotency_ttl = idempotency_ttl
        self.content_bytes = content_bytes
        self.gateway_statuses = gateway_statuses
        self._videos: dict[str, _Video] = {}
        # Every video in the order of its ``seq`` (creation), so that a list page costs its
        # own length, not a sort of every video ever made ([W2-4]); ``_created_in_order``
        # stays true while creation times never go back (a clock set back makes
        # ``_list`` sort instead).
        self._by_seq: list[_Video] = []
        self._created_in_order = True
        self._keys: dict[tuple[str, str], tuple[str, float]] = {}
        r = self.router
        r.add("POST", "/videos", self._create, name="create")
        r.add("GET", "/videos", self._list, name="list")
        r.add("GET", "/videos/{video_id}", self._retrieve, name="retrieve")
        r.add("DELETE", "/videos/{video_id}", self._delete, name="delete")
        r.add("GET", "/videos/{video_id}/content", self._content, name="content")
        r.add("POST", "/videos/{video_id}/remix", self._remix, name="remix")

    # -- the driver interface (FakeProvider) ----------------------------------------------

    _record_noun = "videos"

    def _records(self) -> Iterable[_Video]:
        return self._videos.values()

    def _webhook_events(
        self, now: float, known: Container[str] = frozenset()
    ) -> Iterator[FakeWebhookEvent]:
        """OpenAI's ``video.completed`` / ``video.failed`` events (thin: the video's id),
        sent to the project's webhook; a video cancelled before its end sends none."""
        for video in self._videos.values():
            if video.end > now or (
                video.cancelled_at is not None and video.cancelled_at < video.end
            ):
                continue
            kind = "video.failed" if video.fails else "video.completed"
            key = f"{video.id}:{kind}"
            if key in known:
                continue
            yield FakeWebhookEvent(
                key=key,
                at=video.end,
                remote_id=video.id,
                kind=kind,
                url=None,
                payload={
                    "id": f"evt_{video.id.removeprefix('video_')[:32]}",
                    "object": "event",
                    "created_at": math.floor(video.end),
                    "type": kind,
                    "data": {"id": video.id},
                },
            )

    def _end_times(self, now: float) -> list[float]:
        return [v.stopped for v in self._videos.values() if v.stopped > now]

    def reset_next_create(self) -> None:
        """Let the next create take effect, then reset its connection (an ambiguous create)."""
        self.inject(reset=True, phase="after", match="POST /videos", times=1)

    # -- counters for assertions ------------------------------------------------------------

    def duplicate_count(self) -> int:
        """Return how many creates or remixes were answered from an ``Idempotency-Key``."""
        return self.count(tag="replayed")

    def status_request_count(self) -> int:
        """Return how many status requests arrived (retrieves of one job plus list calls)."""
        return self.count(route="retrieve") + self.count(route="list")

    def peak_concurrency(self) -> int:
        """Return the most jobs that were generating at the same moment, so far."""
        now = self.now()
        with self._lock:
            events: list[tuple[float, int]] = []
            for video in self._videos.values():
                events.append((video.created, 1))
                if video.stopped <= now:
                    events.append((video.stopped, -1))
        return peak_overlap(events)

    def video(self, video_id: str) -> dict[str, Any]:
        """Return a job as the API would show it now (deleted ones too), without logging a request.

        Raises:
            KeyError: no job ever had this id.
        """
        with self._lock:
            return self._resource(self._videos[video_id], self.now())

    def content(self, video_id: str, variant: str = "video") -> bytes:
        """Return the bytes ``GET /videos/{id}/content?variant=…`` serves for a video.

        Args:
            video_id: The video's id.
            variant: ``"video"`` (MP4), ``"thumbnail"`` (WebP) or ``"spritesheet"`` (JPEG).

        Raises:
            KeyError: no video ever had this id, or no such variant.
        """
        if variant not in _VARIANTS:
            raise KeyError(variant)
        with self._lock:
            return self._render(self._videos[video_id], variant)

    def _rename_job(self, old: str, new: str) -> None:
        video = self._videos.pop(old)
        video.id = new
        self._videos[new] = video
        for key, (video_id, at) in list(self._keys.items()):
            if video_id == old:
                self._keys[key] = (new, at)

    def create_params(self, video_id: str) -> dict[str, Any]:
        """Return what the job was created with (``input_reference`` summarised).

        Raises:
            KeyError: no job ever had this id.
        """
        with self._lock:
            return dict(self._videos[video_id].params)

    # -- error shape and auth -------------------------------------------------------

    def _error_body(
        self, status: int, message: str, code: str | None, param: str | None
    ) -> tuple[Any, Mapping[str, str]]:
        """Return an OpenAI-shaped error: ``{error: {message, type, param, code}}``."""
        kind = _ERROR_TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
        body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
        return body, {}

    def before_route(self, request: FakeRequest) -> FakeResponse | None:
        """Check the API key, when the fake has one."""
        if self._api_key is None:
            return None
        authorization = request.header("authorization")
        given = request.header("api-key")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            given = token.strip() if scheme.lower() == "bearer" else None
        if given is None:
            return self.error_response(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if not hmac.compare_digest(given.encode(), self._api_key.encode()):
            # The real service echoes a masked key; the fake echoes nothing, never a secret.
            return self.error_response(401, "Incorrect API key provided.", code="invalid_api_key")
        return None

    # -- state ------------------------------------------------------------------------

    def _new_video_id(self) -> str:
        return f"video_{self._rng.getrandbits(192):048x}"

    def _status(self, video: _Video, now: float) -> str:
        if video.cancelled_at is not None and video.cancelled_at < video.end:
            return "cancelled"
        if now >= video.end:
            if video.fails:
                return "failed"
            if self.gateway_statuses and now >= video.end + self.expires_after:
                return "expired"
            return "completed"
        if now <= video.created or now - video.created < self.queue_time:
            return "queued"
        return "in_progress"

    def _progress(self, video: _Video, now: float) -> int:
        at = min(now, video.stopped)
        if not video.fails and at >= video.end:
            return 100
        fraction = (at - video.created) / video.duration if video.duration > 0 else 1.0
        value = self.progress_curve(min(1.0, max(0.0, fraction)))
        return max(0, min(99, math.floor(value)))

    def _state(self, video: _Video, now: float) -> tuple[str, int, int | None, int | None]:
        """Return what the clock changes in a video's resource: its status, progress,
        ``completed_at`` and ``expires_at``."""
        status = self._status(video, now)
        progress = 0 if status == "queued" else self._progress(video, now)
        if status in ("queued", "in_progress", "cancelled"):
            return status, progress, None, None
        completed_at = math.floor(video.end)
        if status == "failed":
            return status, progress, completed_at, None
        return status, progress, completed_at, math.floor(video.end + self.expires_after)

    def _resource(self, video: _Video, now: float) -> dict[str, Any]:
        status, progress, completed_at, expires_at = self._state(video, now)
        params = video.params
        return {
            "id": video.id,
            "object": "video",
            "model": video.model,
            "status": status,
            "progress": progress,
            "created_at": math.floor(video.created),
            "completed_at": completed_at,
            "expires_at": expires_at,
            "prompt": params["prompt"],
            "size": params["size"],
            "seconds": params["seconds"],
            "remixed_from_video_id": params.get("remixed_from_video_id"),
            "error": dict(_ERRORS[status]) if status in _ERRORS else None,
        }

    def _resource_json(self, video: _Video, state: tuple[str, int, int | None, int | None]) -> str:
        """Return ``json.dumps(self._resource(video, now))`` for ``state = self._state(video,
        now)``, written out: json.dumps of a video cost more than finding its state.

        A test holds the two to the same bytes in every state.
        """
        status, progress, completed_at, expires_at = state
        params = video.params
        return (
            f'{{"id": {_json_value(video.id)}, "object": "video", '
            f'"model": {_json_value(video.model)}, "status": {_json_value(status)}, '
            f'"progress": {progress}, "created_at": {math.floor(video.created)}, '
            f'"completed_at": {"null" if completed_at is None else completed_at}, '
            f'"expires_at": {"null" if expires_at is None else expires_at}, '
            f'"prompt": {_json_value(params["prompt"])}, "size": {_json_value(params["size"])}, '
            f'"seconds": {_json_value(params["seconds"])}, '
            f'"remixed_from_video_id": {_json_value(params.get("remixed_from_video_id"))}, '
            f'"error": {_ERRORS_JSON.get(status, "null")}}}'
        )

    def _answer(self, video: _Video, now: float, *, tag: str | None = None) -> FakeResponse:
        """Answer with a video's resource as it is ``now``."""
        return _json_answer(self._resource_json(video, self._state(video, now)), tag=tag)

    def _visible(self, video_id: str) -> _Video | None:
        video = self._videos.get(video_id)
        return video if video is not None and video.deleted_at is None else None

    def _not_found(self, video_id: str) -> FakeResponse:
        return self.error_response(
            404, f"Video with id '{video_id}' not found.", param="video_id", code="video_not_found"
        )

    def _bad(self, error: _BadRequest) -> FakeResponse:
        return self.error_response(400, error.message, param=error.param, code=error.code)

    # -- creating ---------------------------------------------------------------------

    def _replay(self, request: FakeRequest, scope: str) -> FakeResponse | None:
        key = request.header("idempotency-key")
        if not key:
            return None
        seen = self._keys.get((scope, key))
        now = self.now()
        if seen is None or now - seen[1] >= self.idempotency_ttl:
            return None
        return self._answer(self._videos[seen[0]], now, tag="replayed")

    def _over_limit(self, now: float) -> FakeResponse | None:
        if self.max_concurrent is None:
            return None
        running = [v.stopped for v in self._videos.values() if v.active(now)]
        if len(running) < self.max_concurrent:
            return None
        wait = self.retry_after if self.retry_after is not None else min(running) - now
        return self.error_response(
            429,
            f"Too many concurrent video generations: the limit is {self.max_concurrent}. "
            "Retry after a running job completes.",
            code="rate_limit_exceeded",
            headers={"retry-after": str(max(1, math.ceil(wait)))},
        )

    def _start(self, request: FakeRequest, scope: str, params: dict[str, Any]) -> FakeResponse:
        now = self.now()
        limited = self._over_limit(now)
        if limited is not None:
            return limited
        duration = (
            self.generation_time(params) if callable(self.generation_time) else self.generation_time
        )
        prompt = str(params["prompt"]).lower()
        video = _Video(
            id=self._new_video_id(),
            seq=len(self._videos),
            params=params,
            created=now,
            duration=max(0.0, float(duration)),
            fails=self._fails(prompt),
            failure_at=self.failure_at,
            idempotency_key=request.header("idempotency-key"),
        )
        if self._by_seq and now < self._by_seq[-1].created:
            self._created_in_order = False
        self._videos[video.id] = video
        self._by_seq.append(video)
        if video.idempotency_key:
            self._keys[(scope, video.idempotency_key)] = (video.id, now)
        return self._answer(video, now, tag="created")

    def _form(self, request: FakeRequest) -> dict[str, Any]:
        """Read a JSON or multipart body into a dict (files summarised)."""
        if request.content_type == "application/json":
            try:
                body = request.json()
            except ValueError:
                raise _BadRequest(
                    "We could not parse the JSON body of your request. (HINT: This likely means "
                    "you aren't using your HTTP library correctly.)"
                ) from None
            if not isinstance(body, dict):
                raise _BadRequest("The request body must be a JSON object.")
            return body
        if request.content_type == "multipart/form-data":
            form: dict[str, Any] = {}
            for part in _parse_multipart(request.body, request.header("content-type") or ""):
                nested = re.fullmatch(r"(\w+)\[(\w+)\]", part.name)
                if nested:
                    form.setdefault(nested[1], {})
                    if isinstance(form[nested[1]], dict):
                        form[nested[1]][nested[2]] = part.data.decode("utf-8", "replace")
                elif part.filename is not None:
                    form[part.name] = {
                        "filename": part.filename,
                        "content_type": part.content_type,
                        "bytes": len(part.data),
                    }
                else:
                    form[part.name] = part.data.decode("utf-8", "replace")
            return form
        raise _BadRequest("Unsupported content type: send application/json or multipart/form-data.")

    def _check_prompt(self, form: Mapping[str, Any]) -> str:
        prompt = form.get("prompt")
        if prompt is None:
            raise _BadRequest(
                "Missing required parameter: 'prompt'.",
                param="prompt",
                code="missing_required_parameter",
            )
        if not isinstance(prompt, str):
            raise _BadRequest(
                "Invalid type for 'prompt': expected a string.", param="prompt", code="invalid_type"
            )
        if not 1 <= len(prompt) <= _MAX_PROMPT:
            raise _BadRequest(
                f"Invalid 'prompt': string length must be between 1 and {_MAX_PROMPT}.",
                param="prompt",
                code="invalid_value",
            )
        return prompt

    def _check_create(self, form: Mapping[str, Any]) -> dict[str, Any]:
        for name in form:
            if name not in _CREATE_FIELDS:
                raise _BadRequest(
                    f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter"
                )
        prompt = self._check_prompt(form)
        model = form.get("model", "sora-2")
        if not isinstance(model, str) or not model:
            raise _BadRequest(
                "Invalid type for 'model': expected a string.", param="model", code="invalid_type"
            )
        seconds_allowed, sizes_allowed = _allowed(model)
        seconds = form.get("seconds", "4")
        if not isinstance(seconds, str):
            raise _BadRequest(
                f"Invalid type for 'seconds': expected one of {', '.join(seconds_allowed)} "
                f"as a string, but got {type(seconds).__name__}.",
                param="seconds",
                code="invalid_type",
            )
        if seconds not in seconds_allowed:
            raise _BadRequest(
                f"Invalid value: '{seconds}'. Supported values are: "
                + ", ".join(f"'{s}'" for s in seconds_allowed)
                + ".",
                param="seconds",
                code="invalid_value",
            )
        size = form.get("size", "720x1280")
        if not isinstance(size, str) or size not in sizes_allowed:
            raise _BadRequest(
                f"Invalid value: '{size}'. Supported sizes for {model} are: "
                + ", ".join(f"'{s}'" for s in sizes_allowed)
                + ".",
                param="size",
                code="invalid_value",
            )
        reference = form.get("input_reference")
        if reference is not None:
            is_file = isinstance(reference, dict) and "filename" in reference
            refs = (
                [k for k in ("image_url", "file_id") if isinstance(reference.get(k), str)]
                if isinstance(reference, dict)
                else []
            )
            if not is_file and (len(refs) != 1 or set(reference) - {"image_url", "file_id"}):
                raise _BadRequest(
                    "Invalid 'input_reference': upload a file, or provide exactly one of "
                    "'image_url' or 'file_id'.",
                    param="input_reference",
                    code="invalid_value",
                )
        return {
            "model": model,
            "prompt": prompt,
            "seconds": seconds,
            "size": size,
            "input_reference": reference,
            "remixed_from_video_id": None,
        }

    def _create(self, request: FakeRequest) -> FakeResponse:
        replay = self._replay(request, "create")
        if replay is not None:
            return replay
        try:
            params = self._check_create(self._form(request))
        except _BadRequest as error:
            return self._bad(error)
        return self._start(request, "create", params)

    def _remix(self, request: FakeRequest, video_id: str) -> FakeResponse:
        replay = self._replay(request, f"remix:{video_id}")
        if replay is not None:
            return replay
        source = self._visible(video_id)
        if source is None:
            return self._not_found(video_id)
        try:
            form = self._form(request)
            for name in form:
                if name != "prompt":
                    raise _BadRequest(
                        f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter"
                    )
            prompt = self._check_prompt(form)
        except _BadRequest as error:
            return self._bad(error)
        if self._status(source, self.now()) != "completed":
            return self.error_response(
                400,
                f"Video '{video_id}' is not completed: only completed videos can be remixed.",
                param="video_id",
                code="invalid_video_state",
            )
        params = {
            **source.params,
            "prompt": prompt,
            "input_reference": None,
            "remixed_from_video_id": source.id,
        }
        return self._start(request, f"remix:{video_id}", params)

    # -- reading --------------------------------------------------------------------

    def _retrieve(self, request: FakeRequest, video_id: str) -> FakeResponse:
        video = self._visible(video_id)
        if video is None:
            return self._not_found(video_id)
        state = self._state(video, self.now())
        headers = {}
        if self.poll_after_ms is not None and state[0] in ("queued", "in_progress"):
            headers["openai-poll-after-ms"] = str(self.poll_after_ms)
        return _json_answer(self._resource_json(video, state), headers=headers)

    def _list(self, request: FakeRequest) -> FakeResponse:
        query = request.query
        try:
            limit = int(query.get("limit", "20"))
        except ValueError:
            return self.error_response(
                400, "Invalid 'limit': expected an integer.", param="limit", code="invalid_type"
            )
        if not 0 <= limit <= 100:
            return self.error_response(
                400,
                f"Invalid 'limit': {limit}. It must be between 0 and 100.",
                param="limit",
                code="invalid_value",
            )
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            return self.error_response(
                400,
                f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
                param="order",
                code="invalid_value",
            )
        after = query.get("after")
        cursor = None
        if after:
            cursor = self._videos.get(after)
            if cursor is None:
                return self.error_response(
                    400, f"Invalid 'after': no video with id '{after}'.", param="after"
                )
        # The visible videos after the cursor (positioned by the cursor's place, so a
        # cursor deleted meanwhile still works), one more than the page to tell has_more.
        page: list[_Video] = []
        for video in self._walk(order, cursor):
            if video.deleted_at is None:
                page.append(video)
                if len(page) > limit:
                    break
        has_more = len(page) > limit
        del page[limit:]
        now = self.now()
        data = ", ".join([self._resource_json(v, self._state(v, now)) for v in page])
        # json.dumps of {object, data, first_id, last_id, has_more}, the data encoded above.
        return _json_answer(
            f'{{"object": "list", "data": [{data}], '
            f'"first_id": {_json_value(page[0].id if page else None)}, '
            f'"last_id": {_json_value(page[-1].id if page else None)}, '
            f'"has_more": {"true" if has_more else "false"}}}'
        )

    def _walk(self, order: str, cursor: _Video | None) -> Iterator[_Video]:
        """Every video in list order (``created_at`` then creation, ``asc`` or ``desc``),
        starting after ``cursor``."""
        if self._created_in_order:
            ordered: list[_Video] = self._by_seq  # already in (created, seq) order
            at = cursor.seq if cursor is not None else None
        else:
            ordered = sorted(self._by_seq, key=lambda v: (v.created, v.seq))
            at = (
                next(i for i, v in enumerate(ordered) if v is cursor)
                if cursor is not None
                else None
            )
        if order == "asc":
            start = 0 if at is None else at + 1
            return (ordered[i] for i in range(start, len(ordered)))
        stop = len(ordered) if at is None else at
        return (ordered[i] for i in range(stop - 1, -1, -1))

    def _delete(self, request: FakeRequest, video_id: str) -> FakeResponse:
        video = self._visible(video_id)
        if video is None:
            return self._not_found(video_id)
        now = self.now()
        tag = "deleted"
        if video.active(now):
            video.cancelled_at = now
            tag = "cancelled"
        if not (self.gateway_statuses and tag == "cancelled"):
            video.deleted_at = now
        return FakeResponse.json(
            200, {"id": video.id, "object": "video.deleted", "deleted": True}, tag=tag
        )

    def _content(self, request: FakeRequest, video_id: str) -> FakeResponse:
        video = self._visible(video_id)
        if video is None:
            return self._not_found(video_id)
        variant = request.query.get("variant", "video")
        if variant not in _VARIANTS:
            return self.error_response(
                400,
                f"Invalid value: '{variant}'. Supported values are: 'video', 'thumbnail' and "
                "'spritesheet'.",
                param="variant",
                code="invalid_value",
            )
        now = self.now()
        status = self._status(video, now)
        if status in ("queued", "in_progress"):
            return self.error_response(
                400,
                f"Video '{video_id}' is not ready yet (status {status}); use GET "
                f"/v1/videos/{video_id} to check its status.",
                param="video_id",
                code="video_not_ready",
            )
        if status != "completed" and status != "expired":
            return self.error_response(
                400,
                f"Video '{video_id}' has no content: it {status}.",
                param="video_id",
                code="video_not_available",
            )
        if now >= video.end + self.expires_after:
            return self.error_response(
                404,
                f"The content of video '{video_id}' has expired.",
                param="video_id",
                code="video_expired",
            )
        content_type, _ = _VARIANTS[variant]
        data = self._render(video, variant)
        return FakeResponse(
            status=200,
            headers={"content-type": content_type, "content-length": str(len(data))},
            body=chunks(data),
        )

    def _render(self, video: _Video, variant: str) -> bytes:
        width, height = (int(n) for n in str(video.params["size"]).split("x"))
        if variant == "video":
            return _media.mp4(
                seconds=int(video.params["seconds"]),
                width=width,
                height=height,
                payload_size=self.content_bytes,
                key=f"{self.seed}:{video.id}",
            )
        if variant == "thumbnail":
            return _media.thumbnail(width=width, height=height)
        # A 5 x 5 grid of tenth-size frames, like the real spritesheets.
        return _media.spritesheet(width=width, height=height)
