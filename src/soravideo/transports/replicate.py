"""Replicate's predictions API over httpx: Veo 3 / 3.1, Kling and MiniMax, and any other model.

Wire facts follow the official ``replicate`` package (version 1.0.7, read on 2026-12-06;
this module does not depend on it) and Replicate's documentation; what could not be
verified is listed at the end of this docstring.

Mapping, in brief:

- requests: ``POST /v1/models/{owner}/{name}/predictions`` with ``{"input": {...}}`` (an
  official model, its latest version), or ``POST /v1/predictions`` with ``{"version",
  "input"}`` when the model names a version (``owner/name:VERSION`` or a bare 64-hex id).
  The input is the model's own: ``prompt``, ``duration`` (whole seconds), ``aspect_ratio``,
  ``resolution`` (``mode`` on Kling: 720p is ``standard``, 1080p ``pro``) and the image in
  the model's own field (``image`` on Veo, ``start_image`` on Kling,
  ``first_frame_image`` on MiniMax), as an ``https://`` URL or a ``data:`` URI;
  ``provider_options`` are added as given (``negative_prompt``, ``generate_audio``,
  ``seed`` …). ``Cancel-After`` is sent when the transport has a ``cancel_after``: the
  deadline after which Replicate stops the prediction itself.
- statuses: ``starting`` and ``processing`` → processing (the word kept in
  ``provider_status``); ``succeeded`` → completed, with the output's video URL;
  ``failed`` → failed (``error`` is the message; a ``(E…)`` code in it is the code);
  ``canceled`` → cancelled; ``aborted`` (the deadline passed before the prediction
  started; nothing is charged) → failed with ``code="aborted"``, retryable. The official
  client cannot parse ``aborted``; this module parses the JSON itself and takes any
  unknown word as processing.
- outputs are URLs on ``replicate.delivery`` that Replicate deletes one hour after the
  prediction ends (``expires_at``): `ReplicateTransport.open_content` downloads them
  without the token (the official client sends it there), and the capability
  ``results_expire_after`` makes the engine say so when no ``download_dir`` saves each
  video as it completes.
- the list (``GET /v1/predictions``, newest first, cursor pages) refreshes many jobs at
  once and finds the prediction of a create whose answer was lost
  (`ReplicateTransport.describes`). Replicate honours no idempotency key, so such a
  create is never sent again: the engine adopts the one listed prediction it describes,
  or fails the job (``ambiguous_submission``).
- the cursor URLs and ``urls`` in Replicate's answers are never followed as given: every
  request is rebuilt on the configured origin, so the token goes nowhere else.
- 600 creates a minute: a create beyond ``creates_per_minute`` in the last 60 s waits.
- cost: Replicate reports none; `ReplicateTransport.estimate_cost` prices the input
  sent from ``prices`` (USD per second of video), which you supply.

Unverified (no live call was made; the fake implements the choices below):

- the ``Cancel-After`` grammar beyond ``1m``: this module sends whole minutes (``5m``) or
  whole seconds (``90s``);
- whether the list echoes ``input`` and ``output`` for every prediction (a succeeded one
  listed without an output URL is read on its own);
- the HTTP status of a cancel of a finished prediction (200 with it unchanged is assumed)
  and of a create (201);
- whether a 429 carries ``Retry-After``;
- the prices of every model, and MiniMax video-01's fixed length (6 s).
"""

from __future__ import annotations

import collections
import logging
import math
import mimetypes
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

import anyio
import attrs
import httpx

from .._core.clock import Clock, utc_from_timestamp
from .._core.errors import (
    FieldError,
    ProviderError,
    RateLimitError,
    ValidationError,
    WebhookVerificationError,
)
from .._core.models import CreateVideoRequest, JobError, JobStatus
from .._core.retry import OnRetry, RequestKind, RetryPolicy
from .._core.validation import option_overrides, resolve_size, sendable_options
from ._http import HttpContentStream, HttpTransport, describe_error_body
from ._replicate_models import (
    REPLICATE_MODELS,
    ReplicateModel,
    model_problem,
    price_of_input,
    split_model,
)
from ._shared import (
    IMAGE_TYPES,
    BoundedCache,
    checked_webhook_url,
    data_uri,
    data_uri_problem,
    env_value,
    is_url_reference,
    parse_json,
    read_image,
    shape_of_size,
    shape_sizes,
    sniff_image,
)
from ._webhooks import WebhookDelivery, verify_standard
from .base import Capabilities, ModelInfo, RemoteJob, remote_id_problem, remote_id_segment

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "OUTPUT_TTL",
    "REPLICATE_MODELS",
    "ReplicateModel",
    "ReplicateTransport",
    "cancel_after_header",
]

log = logging.getLogger("soravideo.transports.replicate")

DEFAULT_BASE_URL = "https://api.replicate.com"
DEFAULT_MODEL = "kwaivgi/kling-v2.5-turbo-pro"
OUTPUT_TTL = 3600.0
"""Seconds Replicate keeps an API prediction's output files after it ends."""
MIN_POLL_INTERVAL = 2.0
CREATES_PER_MINUTE = 600.0
MAX_LIST_PAGES = 3
_CACHE_SIZE = 10_000
_GONE = frozenset({404, 410})
_ERROR_CODE = re.compile(r"\((E\d{3,5})\)")
_RUNNING = frozenset({"starting", "processing"})
# The events a create asks Replicate to push ([W2-7]): its start and its end.
WEBHOOK_EVENTS = ("start", "completed")


def cancel_after_header(seconds: float) -> str:
    """Return a ``Cancel-After`` value: whole minutes (``5m``) when exact, else seconds.

    Raises:
        ValueError: ``seconds`` is not a positive, finite number.
    """
    if isinstance(seconds, bool) or not 0 < seconds < math.inf:
        raise ValueError("cancel_after must be a positive, finite number of seconds")
    whole = math.ceil(seconds)
    return f"{whole // 60}m" if whole % 60 == 0 else f"{whole}s"


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _describe_error(body: Any) -> tuple[str | None, str | None]:
    """Return ``(message, code)`` from Replicate's problem details (RFC 7807).

    ``{"title", "detail", "status", "invalid_fields"?}``; a throttled create's
    ``{"detail": "Request was throttled …"}``; anything else as the common shapes.
    """
    if isinstance(body, Mapping) and ("detail" in body or "title" in body):
        title, detail = body.get("title"), body.get("detail")
        parts = [str(p) for p in (title, detail) if isinstance(p, str) and p]
        code = "invalid_input" if body.get("invalid_fields") is not None else None
        return (": ".join(parts) or None), code
    return describe_error_body(body)


def _urls_in(output: Any) -> list[str]:
    """Every http(s) URL in a prediction's output (a string, a list or an object)."""
    if isinstance(output, str):
        return [output] if output.startswith(("https://", "http://")) else []
    if isinstance(output, list):
        return [url for item in output for url in _urls_in(item)]
    if isinstance(output, Mapping):
        return [url for item in output.values() for url in _urls_in(item)]
    return []


def _video_url(output: Any) -> str | None:
    urls = _urls_in(output)
    videos = [u for u in urls if httpx.URL(u).path.lower().endswith((".mp4", ".mov", ".webm"))]
    found = videos or urls
    return found[0] if found else None


def _reference_problem(reference: str | bytes) -> str | None:
    """Return why ``reference`` cannot be sent as an image input, or ``None``."""
    if isinstance(reference, bytes):
        return None if sniff_image(reference) else "not a PNG, JPEG or WebP image"
    if reference.startswith("data:"):
        return data_uri_problem(reference)
    if "://" in reference:
        if not reference.startswith("https://"):
            return "Replicate fetches images over https:// (or takes a file, bytes or a data: URI)"
        try:
            return None if httpx.URL(reference).host else "not a valid URL"
        except httpx.InvalidURL:
            return "not a valid URL"
    if not os.path.isfile(reference):
        return "file not found"
    try:
        with open(reference, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        return f"cannot read the file ({exc.strerror or exc})"
    guessed = mimetypes.guess_type(reference)[0]
    return None if sniff_image(head) or guessed in IMAGE_TYPES else "not a PNG, JPEG or WebP image"


class ReplicateTransport(HttpTransport):
    """Speak Replicate's predictions API: create, get, list, cancel; URL outputs.

    The constructor does no I/O. Reads, lists and cancels are retried per
    ``retry_policy``; a create only when it certainly did not happen (a refused
    connection, a 429); otherwise it raises [`AmbiguousSubmissionError`][soravideo.AmbiguousSubmissionError]
    and is never sent again (the official client never re-sends one either). Replicate
    honours no idempotency key: within one transport, a repeated `submit` with the
    same ``idempotency_key`` returns the prediction the first one made, and across
    processes the engine reconciles through the list (`describes`).

    Args:
        base_url: The API root. Default: ``REPLICATE_BASE_URL`` (as the official client
            reads it), else ``https://api.replicate.com``.
        api_key: The API token, sent as ``Authorization: Bearer …``. Default:
            ``REPLICATE_API_TOKEN``.
        http_client: An ``httpx.AsyncClient`` to use (e.g. over ``FakeReplicate``'s
            transport); it is not closed by `aclose`.
        timeout: Per-request timeout in seconds. When ``None``: a client's
            ``request_timeout`` once the transport is given to one, else 60 s.
        retry_policy: How requests are retried.
        max_retries: Shorthand overriding ``retry_policy.max_retries``.
        clock: Time for ``expires_at``, create pacing and retry waits.
        sleep: Waits between retries and creates (default: ``clock.sleep``, else
            ``anyio.sleep``).
        on_retry: Called as ``on_retry(attempt, delay, error)`` before each retry.
        default_model: The model used when a request names none.
        prices: USD per second of video by model (``owner/name``), for estimates and
            budgets; Replicate's own prices are not built in.
        cancel_after: Seconds after its creation when Replicate stops each prediction
            (``Cancel-After``): one that has not started by then ends ``aborted`` (not
            charged), one still running ``canceled``. ``None`` sends no deadline.
        creates_per_minute: Creates sent at most in any 60 s (Replicate allows 600); one
            beyond waits for its turn. ``None`` does not pace them.
        output_ttl: Seconds Replicate keeps outputs after a prediction ends.
        max_list_pages: Pages of the list read per refresh before the jobs still missing
            are read one by one.
        min_poll_interval: The shortest wait between two reads of one prediction.
        allow_unknown_models: Send a model the catalogue does not list as it is (the
            default: this provider's models are open-ended; ``False`` refuses them
            with a [`ValidationError`][soravideo.ValidationError] naming ``model``).
        webhook_url: Sent as ``webhook`` with every create (with ``webhook_events_filter``
            ``["start", "completed"]``): Replicate POSTs the prediction there when it
            starts and when it ends, and the engine then polls only every
            ``poll_max_interval`` as a safety net ([`soravideo.webhooks`][soravideo.webhooks]).
            An absolute ``http(s)`` URL, else a
            [`ValidationError`][soravideo.ValidationError] naming ``webhook_url``.
        webhook_secret: The signing secret (``whsec_…``, from ``GET
            /v1/webhooks/default/secret``) deliveries are verified with. Default:
            ``REPLICATE_WEBHOOK_SECRET``.

    Examples:
        ```python
        from soravideo.transports import ReplicateTransport

        transport = ReplicateTransport(
            api_key="r8_...",  # default: REPLICATE_API_TOKEN
            default_model="google/veo-3.1-fast",
            cancel_after=900,  # Replicate cancels a prediction still running after 15 minutes
        )
        request = sv.CreateVideoRequest(prompt="A paper plane over a city")
        print(transport.capabilities.default_model, transport.validate(request))
        async with sv.AsyncSoraVideo(transport=transport) as client:
            ...
        ```
    """

    key_variables = ("REPLICATE_API_TOKEN",)
    _keyed_root = DEFAULT_BASE_URL

    name = "replicate"
    _log = log
    _unknown_status_message = "replicate: unknown prediction status %r; treating it as processing"
    _label = "replicate"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        retry_policy: RetryPolicy | None = None,
        max_retries: int | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        on_retry: OnRetry | None = None,
        default_model: str = DEFAULT_MODEL,
        prices: Mapping[str, float] | None = None,
        cancel_after: float | None = None,
        creates_per_minute: float | None = CREATES_PER_MINUTE,
        output_ttl: float = OUTPUT_TTL,
        max_list_pages: int = MAX_LIST_PAGES,
        min_poll_interval: float = MIN_POLL_INTERVAL,
        allow_unknown_models: bool = True,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        self._base_url = (base_url or env_value("REPLICATE_BASE_URL") or DEFAULT_BASE_URL).rstrip(
            "/"
        )
        self.webhook_url = checked_webhook_url(webhook_url)
        self._webhook_secret = webhook_secret or env_value("REPLICATE_WEBHOOK_SECRET")
        problem = model_problem(default_model)
        if problem is not None:
            raise ValueError(f"default_model {default_model!r} {problem}")
        if cancel_after is not None:
            cancel_after_header(cancel_after)  # a bad deadline fails here, not on a create
        if creates_per_minute is not None and not 0 < creates_per_minute < math.inf:
            raise ValueError("creates_per_minute must be a positive number or None")
        self.default_model = default_model
        self.cancel_after = cancel_after
        self.creates_per_minute = creates_per_minute
        self.output_ttl = output_ttl
        self.max_list_pages = max_list_pages
        self._sleep = sleep or (clock.sleep if clock is not None else anyio.sleep)
        key = (api_key or "").strip() or env_value("REPLICATE_API_TOKEN")
        self._setup_http(
            key=key,
            headers={"Authorization": f"Bearer {key}"} if key is not None else {},
            describe=_describe_error,
            http_client=http_client,
            timeout=timeout,
            retry_policy=retry_policy,
            max_retries=max_retries,
            clock=clock,
            sleep=self._sleep,
            on_retry=on_retry,
        )
        self._specs = REPLICATE_MODELS
        self._prices = dict(prices or {})
        self._capabilities = Capabilities(
            models={name: self._model_info(spec) for name, spec in self._specs.items()},
            default_model=default_model,
            can_list=True,
            result_kind="url",
            min_poll_interval=min_poll_interval,
            allows_unknown_models=allow_unknown_models,
            idempotent_creates=False,
            # Its cancel says when a prediction had already ended and never destroys a
            # finished video: the engine asks it before writing a cancel.
            cancel_reports_ended=True,
            results_expire_after=output_ttl,
        )
        self._create_times: collections.deque[float] = collections.deque()
        self._outputs = BoundedCache(_CACHE_SIZE)

    @property
    def capabilities(self) -> Capabilities:
        """What Replicate can do: its mapped models, list, cancel, URL outputs kept an hour."""
        return self._capabilities

    def _model_info(self, spec: ReplicateModel) -> ModelInfo:
        seconds = spec.default_duration or spec.fixed_seconds
        price = self._prices.get(spec.name, spec.price_per_second_usd)
        return ModelInfo(
            name=spec.name,
            durations=spec.durations or None,
            sizes=shape_sizes(spec.resolutions, spec.aspect_ratios) or None,
            default_duration=seconds,
            price_per_second_usd=price,
            accepts_image=True,
        )

    # ------------------------------------------------------------------ the input

    def _spec(self, request: CreateVideoRequest) -> ReplicateModel | None:
        name, _ = split_model(self._model(request))
        return self._specs.get(name) if name is not None else None

    @staticmethod
    def _reserved(request: CreateVideoRequest, spec: ReplicateModel | None) -> dict[str, str]:
        """Input keys the request's own fields set (refused in ``provider_options``)."""
        reserved = {"prompt": "prompt"}
        if spec is None:
            if request.duration is not None:
                reserved["duration"] = "duration"
            if request.aspect_ratio is not None or request.size is not None:
                reserved["aspect_ratio"] = "aspect_ratio (or size)"
            if request.resolution is not None or request.size is not None:
                reserved["resolution"] = "resolution (or size)"
            if request.input_reference is not None:
                reserved["image"] = "input_reference"
            return reserved
        if spec.durations:
            reserved["duration"] = "duration"
        if spec.aspect_ratios:
            reserved["aspect_ratio"] = "aspect_ratio (or size)"
        if spec.resolutions:
            reserved[spec.resolution_field] = "resolution (or size)"
        reserved[spec.image_field] = "input_reference"
        return reserved

    def _shape(
        self, request: CreateVideoRequest, spec: ReplicateModel | None
    ) -> tuple[dict[str, str], list[FieldError]]:
        """Return the shape inputs to send (``aspect_ratio``, the resolution's field)."""
        out: dict[str, str] = {}
        errors: list[FieldError] = []
        name = spec.name if spec is not None else self._model(request)
        resolution = request.resolution.lower() if request.resolution else None
        ratio = request.aspect_ratio
        if request.size is not None:
            found = (
                shape_of_size(resolve_size(request), spec.resolutions, spec.aspect_ratios)
                if spec is not None
                else None
            )
            if found is not None and spec is not None:
                out["aspect_ratio"] = found[1]
                out[spec.resolution_field] = spec.resolution_value(found[0])
                return out, errors
            sizes = ", ".join(self._model_info(spec).sizes or ()) if spec is not None else ""
            message = (
                f"{name} cannot make {request.size}; sizes: {sizes}"
                if sizes
                else f"{name} takes no pixel size: give resolution and aspect_ratio"
            )
            errors.append(FieldError(field="size", message=message))
            return out, errors
        if spec is None:
            if resolution is not None:
                out["resolution"] = resolution
            if ratio is not None:
                out["aspect_ratio"] = ratio
            return out, errors
        if resolution is not None:
            if resolution in spec.resolutions:
                out[spec.resolution_field] = spec.resolution_value(resolution)
            else:
                listed = ", ".join(spec.resolutions)
                message = f"makes {listed}, not {resolution}" if listed else "takes no resolution"
                errors.append(FieldError(field="resolution", message=f"{name} {message}"))
        if ratio is not None:
            if ratio in spec.aspect_ratios:
                out["aspect_ratio"] = ratio
            else:
                why = (
                    f"makes {', '.join(spec.aspect_ratios)}, not {ratio}"
                    if spec.aspect_ratios
                    else "takes no aspect ratio (the image sets the shape)"
                )
                errors.append(FieldError(field="aspect_ratio", message=f"{name} {why}"))
        return out, errors

    def validate(self, request: CreateVideoRequest, path: str = "") -> list[FieldError]:
        """Return every problem Replicate would have with ``request``, naming each field.

        For the models in `REPLICATE_MODELS`: the duration, the shape (``size``, or
        ``resolution`` and ``aspect_ratio``), whether the model needs an image, and the
        prompt's length. For every model: its name, the image (a PNG, JPEG or WebP file
        or bytes, a ``data:image/…`` URI, or an ``https://`` URL), and
        ``provider_options`` that set what the request's own fields set.

        Args:
            request: The request to check (already checked provider-neutrally).
            path: Prefix for field names (``videos[3]``).

        Returns:
            The problems, empty when there are none.
        """
        prefix = f"{path}." if path else ""
        errors: list[FieldError] = []

        def bad(field: str, message: str) -> None:
            errors.append(FieldError(field=f"{prefix}{field}", message=message))

        problem = model_problem(self._model(request))
        if problem is not None:
            bad("model", f"{self._model(request)!r} {problem}")
            return errors
        spec = self._spec(request)
        errors.extend(
            option_overrides(request.provider_options, self._reserved(request, spec), path)
        )
        reference = request.input_reference
        if reference is not None:
            why = _reference_problem(reference)
            if why is not None:
                bad("input_reference", why)
        _, problems = self._shape(request, spec)
        errors.extend(attrs.evolve(e, field=f"{prefix}{e.field}") for e in problems)
        if spec is None:
            return errors
        if reference is None and spec.needs_image:
            bad("input_reference", f"{spec.name} makes videos from an image only: give one")
        duration = request.duration
        if duration is not None and not isinstance(duration, bool):
            if not spec.durations:
                bad("duration", f"{spec.name} makes videos of one length: give no duration")
            elif duration not in spec.durations:
                shown = ", ".join(str(d) for d in spec.durations)
                bad("duration", f"{spec.name} makes {shown} second videos, not {duration}")
        if spec.max_prompt is not None and len(request.prompt) > spec.max_prompt:
            bad(
                "prompt",
                f"{spec.name} takes at most {spec.max_prompt} characters, "
                f"not {len(request.prompt)}",
            )
        return errors

    def _plain_input(
        self, request: CreateVideoRequest
    ) -> tuple[ReplicateModel | None, dict[str, Any]]:
        """Return the model's spec and the ``input`` to send, without the image.

        Raises:
            ValidationError: The shape cannot be sent to this model.
        """
        spec = self._spec(request)
        body = sendable_options(request.provider_options, self._reserved(request, spec))
        body["prompt"] = request.prompt
        shape, problems = self._shape(request, spec)
        if problems:
            raise ValidationError(problems)
        body.update(shape)
        seconds = request.duration
        if seconds is None and spec is not None and spec.durations:
            seconds = spec.default_duration
        if seconds is not None and (spec is None or spec.durations):
            body["duration"] = seconds
        return spec, body

    def _image_field(self, spec: ReplicateModel | None) -> str:
        return spec.image_field if spec is not None else "image"

    async def _image(self, reference: str | bytes) -> str:
        if is_url_reference(reference):
            return reference
        return data_uri(*await read_image(reference))

    def estimate_cost(self, request: CreateVideoRequest) -> float | None:
        """Return the price in USD of the input `submit` would send, or ``None``.

        Priced from ``prices`` (USD per second of video by model): the duration sent
        (the model's default when the request names none, which is then sent).

        Args:
            request: What would be generated.

        Returns:
            The estimate, or ``None`` for a model with no price configured.
        """
        try:
            spec, body = self._plain_input(request)
        except ValidationError:
            return None
        name, _ = split_model(self._model(request))
        return price_of_input(spec, body, per_second=self._prices.get(name or ""))

    # ------------------------------------------------------------------ mapping

    def _url(self, *parts: str) -> str:
        return "/".join([self._base_url, "v1", *parts])

    def _prediction_url(self, remote_id: str, suffix: str = "") -> str:
        return self._url("predictions", remote_id_segment(remote_id, provider=self.name)) + suffix

    def _remote(self, payload: Mapping[str, Any]) -> RemoteJob:
        """Map one prediction (its id already checked) onto a `RemoteJob`."""
        remote_id = str(payload["id"])
        word = str(payload.get("status") or "")
        common: dict[str, Any] = {
            "remote_id": remote_id,
            "provider_status": word,
            "created_at": _timestamp(payload.get("created_at")),
            "raw": payload,
        }
        if word in _RUNNING:
            return RemoteJob(status=JobStatus.PROCESSING, **common)
        if word == "succeeded":
            url = _video_url(payload.get("output"))
            if url is None:
                removed = bool(payload.get("data_removed"))
                return RemoteJob(
                    status=JobStatus.FAILED,
                    error=JobError(
                        code="result_expired" if removed else "no_output",
                        message=(
                            "Replicate deleted this prediction's output (it keeps outputs an "
                            "hour): the video was made but cannot be downloaded"
                            if removed
                            else "Replicate reported the prediction succeeded without a URL"
                        ),
                        retryable=not removed,
                    ),
                    **common,
                )
            self._outputs.remember(remote_id, url)
            ended = _timestamp(payload.get("completed_at"))
            start = ended.timestamp() if ended is not None else self._now()
            return RemoteJob(
                status=JobStatus.COMPLETED,
                progress=100,
                urls={"video": url},
                expires_at=utc_from_timestamp(start + self.output_ttl),
                **common,
            )
        if word == "failed":
            text = str(payload.get("error") or "Replicate reported the prediction failed")
            found = _ERROR_CODE.search(text)
            return RemoteJob(
                status=JobStatus.FAILED,
                error=JobError(
                    code=found[1] if found else "prediction_failed", message=text, retryable=False
                ),
                **common,
            )
        if word == "canceled":
            return RemoteJob(status=JobStatus.CANCELLED, **common)
        if word == "aborted":
            return RemoteJob(
                status=JobStatus.FAILED,
                error=JobError(
                    code="aborted",
                    message=(
                        "Replicate aborted the prediction: its Cancel-After deadline passed "
                        "before it started (nothing was charged)"
                    ),
                    retryable=True,
                ),
                **common,
            )
        self._warn_status(word)
        return RemoteJob(status=JobStatus.PROCESSING, **common)

    def _parse(
        self, response: httpx.Response, *, creating: bool = False, asked: str | None = None
    ) -> RemoteJob:
        payload = parse_json(response)
        if isinstance(payload, Mapping) and "id" in payload:
            self._check_id(response, payload["id"], creating=creating)
            if asked is not None:
                self._check_same_id(response, asked, payload["id"])
            return self._remote(self._session.scrub(dict(payload)))
        self._unexpected_answer(response, payload, "a prediction", creating=creating)

    # ------------------------------------------------------------------ requests

    async def _pace(self) -> None:
        """Hold a create back while ``creates_per_minute`` were sent in the last 60 s.

        A sliding window, as Replicate counts: bursts pass, a sustained rate above the
        limit waits instead of drawing 429 answers.
        """
        if self.creates_per_minute is None:
            return
        limit = max(1, math.floor(self.creates_per_minute))
        now = self._now()
        sent = self._create_times
        while sent and sent[0] <= now - 60.0:
            sent.popleft()
        if len(sent) >= limit:
            wait = sent[-limit] + 60.0 - now
            sent.append(now + wait)
            if wait > 0:
                await self._sleep(wait)
            return
        sent.append(now)

    async def submit(self, request: CreateVideoRequest, *, idempotency_key: str) -> RemoteJob:
        """Create a prediction: ``POST /v1/models/{owner}/{name}/predictions`` (or
        ``POST /v1/predictions`` with a version).

        A path or bytes ``input_reference`` is sent as a ``data:`` URI (Replicate advises
        at most 256 KB that way; give a URL for larger images), a URL as given. Unless
        the request names it, the model's default ``duration`` is sent.
        ``provider_options`` are added to ``input`` unchanged, except the keys the
        request's own fields set (``validate`` refuses those).

        Args:
            request: What to generate.
            idempotency_key: Remembered by this transport: a repeat returns the same
                prediction. Replicate honours no key, so none is sent.

        Returns:
            The new prediction (processing, ``starting``).

        Raises:
            AmbiguousSubmissionError: The create may have happened; it is not re-sent.
            ValidationError: The request cannot be sent (its shape, or an unreadable image).
            ProviderError: Replicate refused it (or a subclass: auth, rate limit …), or
                answered with an id that cannot be used (``code="invalid_remote_id"``).
        """
        return await self._create_once(idempotency_key, lambda: self._create(request))

    async def _create(self, request: CreateVideoRequest) -> RemoteJob:
        spec, body = self._plain_input(request)
        if request.input_reference is not None:
            body[self._image_field(spec)] = await self._image(request.input_reference)
        name, version = split_model(self._model(request))
        payload: dict[str, Any] = {"input": body}
        if self.webhook_url:
            payload["webhook"] = self.webhook_url
            payload["webhook_events_filter"] = list(WEBHOOK_EVENTS)
        if version is not None:
            payload["version"] = version
            url = self._url("predictions")
        else:
            assert name is not None
            owner, model = name.split("/", 1)
            url = self._url("models", quote(owner, safe=""), quote(model, safe=""), "predictions")
        headers = {}
        if self.cancel_after is not None:
            headers["Cancel-After"] = cancel_after_header(self.cancel_after)
        await self._pace()
        response = await self._session.request(
            "POST", url, kind=RequestKind.CREATE, json_body=payload, headers=headers
        )
        return self._parse(response, creating=True)

    @property
    def webhook_pushes(self) -> bool:
        """Whether each create asks Replicate to push its prediction (a ``webhook_url``)."""
        return bool(self.webhook_url)

    async def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: float
    ) -> WebhookDelivery:
        """Verify a delivery (Standard Webhooks) and read the prediction it carries.

        Args:
            headers: The request's headers.
            body: The raw body, exactly as received.
            now: The client's time (Unix seconds).

        Returns:
            The delivery: its ``webhook-id``, the prediction's id and state.

        Raises:
            WebhookVerificationError: A bad or missing signature, a stale timestamp, a
                body that is not a prediction, or no ``webhook_secret``.
        """
        delivery_id, payload = verify_standard(
            self.name, self._webhook_secret, headers, body, now=now
        )
        found = payload.get("id")
        if remote_id_problem(found) is not None:
            raise WebhookVerificationError(
                "replicate: the delivery's body is not a prediction (no usable id)",
                provider=self.name,
                reason="body",
            )
        remote = self._remote(self._session.scrub(dict(payload)))
        return WebhookDelivery(
            provider=self.name,
            delivery_id=delivery_id,
            event=str(payload.get("status") or ""),
            remote_ids=(remote.remote_id,),
            remote=remote,
        )

    def describes(self, remote: RemoteJob, request: CreateVideoRequest) -> bool:
        """Whether a listed prediction is what ``submit(request)`` would have made.

        Reconciling a create whose answer was lost adopts a listed prediction only when
        it was made through the API (``source``, where Replicate says it: not ``"web"``),
        its model (or version) is the request's and its ``input`` holds every value
        `submit` would send (the image aside: Replicate may store it elsewhere).
        """
        echo = remote.raw
        source = echo.get("source")
        if source is not None and source != "api":
            return False  # run from the website: never what a create of ours made
        name, version = split_model(self._model(request))
        if name is not None and echo.get("model") != name:
            return False
        if version is not None and echo.get("version") != version:
            return False
        sent = echo.get("input")
        if not isinstance(sent, Mapping):
            return False
        try:
            _, body = self._plain_input(request)
        except ValidationError:
            return False
        return all(sent.get(key) == value for key, value in body.items())

    async def fetch(self, remote_id: str) -> RemoteJob:
        """Return the prediction as Replicate shows it now: ``GET /v1/predictions/{id}``.

        Args:
            remote_id: The prediction's id.

        Returns:
            The mapped prediction.

        Raises:
            ProviderError: With ``status_code == 404`` when Replicate does not know it; a
                subclass for auth, rate limit, outage and connection failures;
                ``code="invalid_remote_id"`` for an id no request may use.
        """
        response = await self._session.request(
            "GET", self._prediction_url(remote_id), kind=RequestKind.READ
        )
        return self._parse(response, asked=remote_id)

    async def _list_page(
        self, cursor: str | None, *, retry: bool = True
    ) -> tuple[list[RemoteJob], str | None]:
        """Read one page of ``GET /v1/predictions``; return its predictions and next cursor.

        The page's ``next`` URL is not followed as given: its query goes to the
        configured origin, so the token never leaves it.
        """
        url = httpx.URL(self._url("predictions"))
        if cursor is not None:
            url = url.copy_with(query=httpx.URL(cursor).query)
        response = await self._session.request("GET", url, kind=RequestKind.READ, retry=retry)
        payload = parse_json(response)
        results = payload.get("results") if isinstance(payload, Mapping) else None
        if not isinstance(results, list):
            raise ProviderError(
                f"replicate: GET {response.url.path}: the answer is not a page of predictions",
                status_code=response.status_code,
                request_id=self._session.request_id(response),
                body=self._session.scrub(response.text[:2000]),
                provider=self.name,
            )
        jobs = []
        for item in results:
            if not isinstance(item, Mapping):
                continue
            problem = remote_id_problem(item.get("id"))
            if problem is not None:
                log.warning("replicate: skipped a listed prediction whose id %s", problem)
                continue
            jobs.append(self._remote(self._session.scrub(dict(item))))
        following = payload.get("next") if isinstance(payload, Mapping) else None
        return jobs, following if isinstance(following, str) and following else None

    async def list_recent(self, *, limit: int = 100) -> list[RemoteJob]:
        """Return the newest predictions, newest first (``GET /v1/predictions``, paged).

        Args:
            limit: How many at most.

        Returns:
            Up to ``limit`` predictions, web ones included.
        """
        found: list[RemoteJob] = []
        cursor: str | None = None
        while len(found) < limit:
            jobs, cursor = await self._list_page(cursor)
            found.extend(jobs)
            if cursor is None or not jobs:
                break
        return found[:limit]

    async def fetch_many(self, remote_ids: Sequence[str]) -> dict[str, RemoteJob]:
        """Refresh many predictions: list pages first, then read the rest one by one.

        Reads up to ``max_list_pages`` pages of the list (100 predictions each, newest
        first) until every id is found; ids still missing, and succeeded predictions
        listed without an output URL, are read individually.

        Args:
            remote_ids: Prediction ids (duplicates are fine).

        Returns:
            The predictions by id; ids Replicate does not know (404) are left out.

        Raises:
            ProviderError: Any other failure of a list or read.
        """
        return await self._refresh(remote_ids, ())

    async def fetch_many_seen(
        self, remote_ids: Sequence[str], *, watched: Collection[str]
    ) -> dict[str, RemoteJob]:
        """Refresh many predictions as
        [`fetch_many`][soravideo.transports.ReplicateTransport.fetch_many] does, and return
        also what its list pages said of the ``watched`` predictions.

        The same requests as ``fetch_many(remote_ids)``: a watched prediction is only read
        from the pages those requests return, never on its own, and one the list shows
        succeeded without its output is left out (its own poll reads it)
        ([`SupportsFetchSeen`][soravideo.transports.SupportsFetchSeen]).

        Args:
            remote_ids: Prediction ids asked about (duplicates are fine).
            watched: Ids of other predictions whose answers are wanted when a page shows
                them.

        Returns:
            The predictions by id: each of ``remote_ids`` Replicate knows, then each
            watched prediction a page showed.

        Raises:
            ProviderError: Any failure of a list or read but a 404 of a read.
        """
        return await self._refresh(remote_ids, watched)

    async def _refresh(
        self, remote_ids: Sequence[str], watched: Collection[str]
    ) -> dict[str, RemoteJob]:
        wanted = list(dict.fromkeys(remote_ids))
        found: dict[str, RemoteJob] = {}
        seen: dict[str, RemoteJob] = {}
        if not wanted:
            return found
        targets = set(wanted)
        cursor: str | None = None
        for _ in range(self.max_list_pages):
            try:
                jobs, cursor = await self._list_page(cursor)
            except ProviderError as exc:
                if isinstance(exc, RateLimitError):
                    raise  # the engine pauses every request: reading one by one would not help
                # The list is down (its retries spent), not necessarily the reads: what is
                # not found yet is read one by one below.
                log.warning("replicate: a list page failed (%s); reading one by one", exc)
                break
            for job in jobs:
                usable = (
                    job.status is not JobStatus.FAILED
                    or job.error is None
                    or (job.error.code not in ("no_output", "result_expired"))
                )
                if not usable:
                    continue
                if job.remote_id in targets:
                    found[job.remote_id] = job
                elif job.remote_id in watched:
                    seen[job.remote_id] = job
            if len(found) == len(targets) or cursor is None or not jobs:
                break
        missing = [rid for rid in wanted if rid not in found]
        if missing:
            found.update(await self._fetch_each(missing))
        answers = {rid: found[rid] for rid in wanted if rid in found}
        answers.update((rid, job) for rid, job in seen.items() if rid not in answers)
        return answers

    async def cancel(self, remote_id: str) -> Literal["ended"] | None:
        """Cancel a prediction: ``POST /v1/predictions/{id}/cancel``.

        One Replicate no longer knows (404), or one already finished (Replicate answers
        it unchanged), is not an error.

        Args:
            remote_id: The prediction's id.

        Returns:
            ``"ended"`` when the answer shows the prediction had already ``succeeded`` or
            ``failed``; ``None`` otherwise.

        Raises:
            ProviderError: Replicate refused otherwise.
        """
        try:
            response = await self._session.request(
                "POST", self._prediction_url(remote_id, "/cancel"), kind=RequestKind.DELETE
            )
        except ProviderError as exc:
            if exc.status_code == 404:
                return None
            raise
        payload = parse_json(response)
        word = payload.get("status") if isinstance(payload, Mapping) else None
        if word in ("succeeded", "failed"):
            log.info("replicate: prediction %s had already %s; nothing to cancel", remote_id, word)
            return "ended"
        return None

    def open_content(
        self, remote_id: str, variant: str = "video"
    ) -> AbstractAsyncContextManager[HttpContentStream]:
        """Open a streamed download of a succeeded prediction's video.

        The output URL last seen for it is used (or the prediction is read for one). The
        download carries no token: output files are readable by whoever holds the URL.

        Args:
            remote_id: The prediction's id.
            variant: Only ``"video"``.

        Returns:
            An async context manager yielding the stream.

        Raises:
            ValidationError: ``variant`` is not ``"video"``.
        """
        self._check_variant(variant)
        return self._open_content(remote_id)

    @asynccontextmanager
    async def _open_content(self, remote_id: str) -> AsyncIterator[HttpContentStream]:
        url = self._outputs.get(remote_id)
        if url is None:
            remote = await self.fetch(remote_id)
            url = remote.urls.get("video")
            if url is None:
                raise ProviderError(
                    f"replicate: prediction {remote_id} has no video to download "
                    f"(status {remote.provider_status or 'unknown'})",
                    provider=self.name,
                    code=remote.error.code if remote.error else "no_output",
                )
        try:
            async with self._session.stream("GET", url, authorized=False) as stream:
                yield stream
        except ProviderError as exc:
            if exc.status_code not in _GONE:
                raise
            raise ProviderError(
                f"replicate: the output of prediction {remote_id} is gone (Replicate deletes "
                "outputs an hour after a prediction ends; set download_dir to save each video "
                "as it completes)",
                status_code=exc.status_code,
                provider=self.name,
                code="result_expired",
            ) from exc

    async def ping(self) -> None:
        """Make one cheap authenticated request (``GET /v1/account``), without retrying.

        Raises:
            ProviderError: Replicate is unreachable or refuses the token.
        """
        await self._session.request("GET", self._url("account"), kind=RequestKind.READ, retry=False)
