"""Google's Gemini API (API-key mode) over httpx: Gemini Omni through Interactions, and Veo.

Wire facts follow the official ``google-genai`` client, version 3.6.1 (read on
2026-12-06; this module does not depend on it), and Google's published documentation; what
could not be verified is listed at the end of this docstring.

Mapping, in brief:

- base: ``https://generativelanguage.googleapis.com`` and API version ``v1``, as the client
  defaults to in API-key mode (``api_version="v1beta"`` for the older one); the key goes in
  ``x-goog-api-key`` on every request, from ``api_key=``, else ``GOOGLE_API_KEY``, else
  ``GEMINI_API_KEY`` (the client's order: ``GOOGLE_API_KEY`` wins when both are set).
- Gemini Omni (``gemini-omni-…``), the main path: ``POST /{v}/interactions`` with
  ``model``, ``input`` (the prompt; with an image, ``[{type: text}, {type: image, data |
  uri, mime_type}]``), ``background: true``, ``response_format: {type: "video",
  resolution, aspect_ratio, duration: "8s"}`` and ``response_modalities: ["video"]``;
  read with ``GET /{v}/interactions/{id}``; cancelled with ``POST
  /{v}/interactions/{id}/cancel``. The video is the last ``video`` block of the
  ``model_output`` steps: base64 ``data`` (decoded and checked as it is written, like any
  download) or a ``uri`` (``delivery: "uri"``, set with ``provider_options``).
- Veo (``veo-…``): ``POST /{v}/models/{model}:predictLongRunning`` with ``instances:
  [{prompt, image}]`` and ``parameters: {aspectRatio, durationSeconds, resolution,
  negativePrompt}``; the operation is read with ``GET /{v}/{operation name}`` until
  ``done``; the video at ``response.generateVideoResponse.generatedSamples[0].video.uri`` is
  downloaded as the client's ``files.download`` does: ``GET /{v}/files/{id}:download
  ?alt=media`` on the configured origin, with the key (a redirect elsewhere is followed
  without it). Google keeps generated Veo videos two days. Veo operations cannot be
  cancelled or listed in API-key mode.
- remote ids: an interaction's id as given; a Veo operation's name
  (``models/veo-3.1-generate-preview/operations/abc123``) with each ``/`` turned into ``:``
  (`gemini_remote_id`), so that it is one path segment, as every remote id must be.
- statuses: ``queued`` and ``in_progress`` → processing (the word in ``provider_status``);
  ``completed`` → completed when it holds a video, else failed (``no_output``);
  ``failed``, ``incomplete`` and ``budget_exceeded`` → failed; ``cancelled`` → cancelled;
  ``requires_action``, ``idle`` and ``requires_continuation`` → failed (a background video
  job never asks for those); an unknown word → processing (logged once). A Veo operation
  is processing until ``done``; then completed, or failed with its ``error`` or with
  ``content_filtered`` when Google's filters withheld the video.
- errors: Google's ``{"error": {code, message, status, details}}``; the code kept is the
  ``ErrorInfo`` reason (``API_KEY_INVALID`` …) or the status (``RESOURCE_EXHAUSTED`` …).
  ``429`` is a [`RateLimitError`][soravideo.RateLimitError]; a ``400 API_KEY_INVALID`` an
  [`AuthenticationError`][soravideo.AuthenticationError].
- cost: Google reports output tokens (``usage``, kept in ``RemoteJob.raw``), not dollars;
  `GeminiTransport.estimate_cost` prices seconds × the model's price per second at
  the resolution sent (`GEMINI_MODELS`, or ``prices=``).
- no idempotency key and no list (neither API has one): see `GeminiTransport`.

Unverified (no call to Google could be made; the fake implements these choices):

- the string form of ``response_format.duration`` (``"8s"`` is sent; the client types it
  as a string only), Omni's durations, and every Omni price (third-party figures);
- whether ``/v1`` serves Interactions and ``predictLongRunning`` as ``/v1beta`` does;
  whether Veo is still offered to API-key users at all (the 3.6.1 client refuses
  ``generate_videos`` outside Vertex, so this module sends Veo's create itself);
- the form of an Omni ``uri`` result and whether it needs the key (a Gemini Files URI is
  fetched on the configured origin with the key, as ``files.download`` does; any other
  ``https://`` URI without it);
- what cancelling a finished interaction answers (``400``/``409`` ``FAILED_PRECONDITION``
  is taken as "nothing to cancel"), and whether cancelled jobs are billed;
- Google's answer to a wrong key (``400 INVALID_ARGUMENT`` with reason
  ``API_KEY_INVALID``, as its other APIs answer) and to no key (``403``);
- the retention of interactions and of Veo files (two days, as the issue and Google's
  guide say; ``expires_at`` is counted from when soravideo first sees the video done).
"""

from __future__ import annotations

import base64
import binascii
import logging
import mimetypes
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal

import anyio
import attrs
import httpx

from .._core.clock import Clock, utc_from_timestamp
from .._core.errors import AuthenticationError, FieldError, ProviderError, ValidationError
from .._core.models import CreateVideoRequest, JobError, JobStatus
from .._core.retry import OnRetry, RequestKind, RetryPolicy
from .._core.validation import option_overrides, resolve_size, sendable_options
from ._gemini_catalogue import (
    GEMINI_MODELS,
    PRICES_READ_ON,
    GeminiModel,
    api_of,
    gemini_remote_id,
    is_operation,
    operation_name,
)
from ._http import HttpSession, HttpTransport, describe_error_body, parse_json
from ._shared import (
    IMAGE_TYPES,
    BoundedMap,
    env_value,
    json_or_none,
    shape_of_size,
    shape_size,
    shape_sizes,
    sniff_image,
)
from ._webhooks import WebhookDelivery, thin_delivery, verify_standard
from .base import (
    INVALID_REMOTE_ID,
    Capabilities,
    ContentStream,
    ModelInfo,
    RemoteJob,
    remote_id_segment,
)

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "GEMINI_MODELS",
    "PRICES_READ_ON",
    "VEO_RETENTION",
    "GeminiModel",
    "GeminiTransport",
    "gemini_remote_id",
    "operation_name",
]

log = logging.getLogger("soravideo.transports.gemini")

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1"
"""The official client's default in API-key mode since 3.x (2.x used ``v1beta``)."""
DEFAULT_MODEL = "gemini-omni-1.2-flash"
MIN_POLL_INTERVAL = 5.0
VEO_RETENTION = 2 * 24 * 3600.0
"""Seconds Google keeps a generated Veo video (two days)."""
_CACHE_SIZE = 10_000
_INLINE_STEP = 4 * 256 * 1024  # base64 characters decoded at a time (768 KiB of video)
_URLSAFE = str.maketrans("-_", "+/")
_SPACE = re.compile(r"\s")
_FILE_ID = re.compile(r"[a-z0-9]+")
_VERSION = re.compile(r"v[0-9][A-Za-z0-9]*")
_MEDIA_KEYS = frozenset({"data", "bytesBase64Encoded", "encodedVideo"})
_STATUSES: Mapping[str, JobStatus] = {
    "queued": JobStatus.PROCESSING,
    "in_progress": JobStatus.PROCESSING,
    "completed": JobStatus.COMPLETED,
    "failed": JobStatus.FAILED,
    "incomplete": JobStatus.FAILED,
    "budget_exceeded": JobStatus.FAILED,
    "cancelled": JobStatus.CANCELLED,
    "requires_action": JobStatus.FAILED,
    "idle": JobStatus.FAILED,
    "requires_continuation": JobStatus.FAILED,
}
# Google's transient RPC statuses: a job that failed with one of them may succeed if sent again.
_TRANSIENT = frozenset(
    {"UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"}
)
# google.rpc.Code, whole: an operation's error carries the number alone.
_RPC_STATUS = {
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}
# Body keys the request's own fields set (refused in provider_options).
_OMNI_RESERVED: Mapping[str, str] = {
    "model": "model",
    "input": "prompt (and input_reference)",
    "response_format": "resolution, aspect_ratio and duration (or size)",
    "response_modalities": "the transport (always video)",
}
_VEO_RESERVED: Mapping[str, str] = {
    "aspectRatio": "aspect_ratio (or size)",
    "durationSeconds": "duration",
    "resolution": "resolution (or size)",
    "negativePrompt": "provider_options['negative_prompt']",
    "prompt": "prompt",
    "image": "input_reference",
}


# ---------------------------------------------------------------------------- helpers


# Google's webhook events about a video job ([W2-7]); each carries the job's id only.
# google-genai 3.6.1 lists the first two and video.generated; a cancelled event is read too.
WEBHOOK_EVENTS = (
    "interaction.completed",
    "interaction.failed",
    "interaction.cancelled",
    "video.generated",
)


def _pushed_remote_id(found: str) -> str | None:
    """The remote id of an event's ``data.id``: an interaction's id as it is, a Veo
    operation's name (``models/…/operations/…``) as `gemini_remote_id` spells it."""
    if "/" not in found:
        return found
    try:
        return gemini_remote_id(found)
    except ValueError:
        return None


def _describe_error(body: Any) -> tuple[str | None, str | None]:
    """Return ``(message, code)`` from Google's error body.

    ``{"error": {"code": 429, "message": …, "status": "RESOURCE_EXHAUSTED", "details":
    [{"reason": "API_KEY_INVALID"}, …]}}``: the code is the first ``details`` reason, else
    the status, else ``code`` (the Interactions API's own shape has a string there).
    """
    inner = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(inner, Mapping):
        return describe_error_body(body)
    message = inner.get("message")
    code: Any = None
    details = inner.get("details")
    if isinstance(details, list):
        code = next(
            (d["reason"] for d in details if isinstance(d, Mapping) and d.get("reason")), None
        )
    code = code or inner.get("status") or inner.get("code")
    return (str(message) if message else None), (str(code) if code else None)


def _without_media(value: Any) -> Any:
    """Return ``value`` with every inline media string replaced by a note of its length."""
    if isinstance(value, Mapping):
        return {
            key: (
                f"<{len(item)} base64 characters, not kept>"
                if key in _MEDIA_KEYS and isinstance(item, str)
                else _without_media(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_without_media(item) for item in value]
    return value


def _reference_problem(reference: str | bytes, *, veo: bool) -> str | None:
    """Return why ``reference`` cannot be sent as the start image, or ``None``."""
    if isinstance(reference, bytes):
        return None if sniff_image(reference) else "not a PNG, JPEG or WebP image"
    if reference.startswith("data:"):
        head = reference[:128].lower()
        if not head.startswith("data:image/") or ";base64," not in head:
            return "a data: URI must be base64 and start with data:image/<type>;base64,"
        return None
    if "://" in reference:
        if veo:
            return (
                "Veo takes images inline only in API-key mode: pass a file, bytes or a "
                "data: URI, not a URL"
            )
        if not reference.startswith("https://"):
            return "Gemini fetches images over https:// (or takes a file, bytes or a data: URI)"
        return None
    if not os.path.isfile(reference):
        return "file not found"
    try:
        with open(reference, "rb") as handle:
            first = handle.read(16)
    except OSError as exc:
        return f"cannot read the file ({exc.strerror or exc})"
    return None if sniff_image(first) else "not a PNG, JPEG or WebP image"


def _seconds(word: str) -> str:
    return f"{word}s"


def _rpc_code(error: Mapping[str, Any]) -> str:
    status = error.get("status")
    if isinstance(status, str) and status:
        return status
    code = error.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        return _RPC_STATUS.get(code, f"rpc_{code}")
    return str(code) if code else "failed"


def _decoded_length(data: str) -> int | None:
    if len(data) % 4:
        return None
    return len(data) // 4 * 3 - (len(data) - len(data.rstrip("=")))


@attrs.define(kw_only=True)
class InlineVideo:
    """A video the API sent inline (base64 in a JSON answer), as a `ContentStream`.

    It is decoded as it is read, a piece at a time, and written by the same checked,
    atomic download as any other: the MP4 is verified before a file appears. Its
    ``content_length`` is the decoded size of the data (the JSON answer that held it was
    read whole, so nothing was cut on the way).
    """

    content_type: str | None
    content_length: int | None
    _data: str = attrs.field(repr=False, alias="data")
    _provider: str = attrs.field(default="gemini", alias="provider")

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Yield the decoded video in pieces.

        Raises:
            ProviderError: ``code="invalid_content"``: the text is not base64.
        """
        data = self._data
        for start in range(0, len(data), _INLINE_STEP):
            piece = data[start : start + _INLINE_STEP].translate(_URLSAFE)
            try:
                yield base64.b64decode(piece, validate=True)
            except (binascii.Error, ValueError):
                raise ProviderError(
                    f"{self._provider}: the inline video is not valid base64",
                    provider=self._provider,
                    code="invalid_content",
                ) from None
            await anyio.lowlevel.checkpoint()


class _GeminiSession(HttpSession):
    """Google answers a wrong key with ``400 INVALID_ARGUMENT`` (reason
    ``API_KEY_INVALID``): that is an [`AuthenticationError`][soravideo.AuthenticationError] here.

    An answer may hold a whole video inline (base64 in the JSON): answers are read up to
    1 GiB, not the 16 MiB of other providers.
    """

    max_answer_bytes = 1 << 30

    def map_response(self, response: httpx.Response, kind: RequestKind) -> ProviderError:
        error = super().map_response(response, kind)
        if type(error) is ProviderError and error.code == "API_KEY_INVALID":
            return AuthenticationError(
                error.message,
                status_code=error.status_code,
                request_id=error.request_id,
                body=error.body,
                provider=error.provider,
                code=error.code,
            )
        return error


# ---------------------------------------------------------------------------- the transport


class GeminiTransport(HttpTransport):
    """Speak Google's Gemini API: Omni videos through Interactions, Veo through operations.

    The constructor does no I/O. Reads and cancels are retried per ``retry_policy``; a
    create only when it certainly did not happen (a connection never made, or a
    ``408``/``409``/``429``/``503`` answer): anything after its bytes may have arrived (a
    timeout, a reset, a ``500``/``502``/``504``, an unreadable answer) is an
    [`AmbiguousSubmissionError`][soravideo.AmbiguousSubmissionError] and is never sent again. The official
    client does re-send such a create (its Interactions client retries every 5xx and
    timeout, ``POST`` included, five times), which can make and bill a second video;
    soravideo does not.

    Neither API takes an idempotency key, and neither can list jobs (``labels`` are not
    searchable either), so a create whose answer was lost cannot be found again: the
    engine fails such a job with ``ambiguous_submission`` (check Google AI Studio's usage
    before creating it again) rather than risk a second video. Within one transport, a
    repeated `submit` with the same ``idempotency_key`` reads the job the first one
    made instead of creating another.

    Interactions can be cancelled (``capabilities.can_cancel``); Veo operations cannot in
    API-key mode: `cancel` raises for them, and the engine only stops tracking the
    job (Google makes and bills the video all the same).

    Args:
        base_url: The API's origin. Default: ``GOOGLE_GEMINI_BASE_URL`` (as the client
            reads it), else ``https://generativelanguage.googleapis.com``.
        api_key: Sent as ``x-goog-api-key``. Default: ``GOOGLE_API_KEY``, else
            ``GEMINI_API_KEY``.
        api_version: ``"v1"`` (default) or ``"v1beta"``; ``GOOGLE_GENAI_API_VERSION`` is
            read as the client reads it (``beta`` means ``v1beta``).
        http_client: An ``httpx.AsyncClient`` to use (e.g. over ``FakeGemini``'s
            transport); it is not closed by `aclose`.
        timeout: Per-request timeout in seconds. When ``None``: a client's
            ``request_timeout`` once the transport is given to one, else 60 s.
        retry_policy: How requests are retried.
        max_retries: Shorthand overriding ``retry_policy.max_retries``.
        clock: Time for ``expires_at`` and retry waits (simulated time in tests).
        sleep: Waits between retries (default: ``clock.sleep``, else ``anyio.sleep``).
        on_retry: Called as ``on_retry(attempt, delay, error)`` before each retry.
        default_model: The model used when a request names none.
        prices: USD per second by model, overriding `GEMINI_MODELS` (a flat rate at
            every resolution).
        min_poll_interval: The least time between two reads of a job (seconds).
        allow_unknown_models: Send a model the catalogue does not list as it is (a
            gateway's own model); by default it is refused with the list, a
            [`ValidationError`][soravideo.ValidationError] naming ``model``.
        webhook_secret: The signing secret (``whsec_…``, ``new_signing_secret`` when the
            webhook was made) of the project's static webhook (Google's WebhookService),
            subscribed to ``interaction.completed``, ``interaction.failed`` and
            ``video.generated`` (an ``interaction.cancelled`` event is read too, should
            one come; google-genai 3.6.1 does not list it). No URL is sent per request
            (Google signs per-request ``webhook_config`` deliveries with RS256 tokens, which
            soravideo does not verify). With a secret, the engine polls only every
            ``poll_max_interval`` as a safety net ([`soravideo.webhooks`][soravideo.webhooks]).

    Examples:
        ```python
        from soravideo.transports import GeminiTransport

        transport = GeminiTransport(api_key="AIza...")  # default: GOOGLE_API_KEY or GEMINI_API_KEY
        request = sv.CreateVideoRequest(prompt="A koi pond in the rain", size="1920x1080", duration=6)
        print(transport.validate(request), transport.estimate_cost(request))  # [] 0.9
        async with sv.AsyncSoraVideo(transport=transport) as client:
            ...
        ```
    """

    key_variables = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
    _keyed_root = DEFAULT_BASE_URL

    name = "gemini"
    _repr_fields = ("api_version",)
    _log = log
    _unknown_status_message = "gemini: unknown interaction status %r; treating it as processing"
    _label = "Gemini"
    _session_type = _GeminiSession
    _no_remix = (
        "soravideo does not remix on the Gemini API (an Omni interaction can "
        "continue another with provider_options={'previous_interaction_id': ...})"
    )

    # No list endpoint: refreshes are single reads, kept few at once.
    fetch_concurrency = 4

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_version: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        retry_policy: RetryPolicy | None = None,
        max_retries: int | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        on_retry: OnRetry | None = None,
        default_model: str = DEFAULT_MODEL,
        prices: Mapping[str, float] | None = None,
        min_poll_interval: float = MIN_POLL_INTERVAL,
        allow_unknown_models: bool = False,
        webhook_secret: str | None = None,
    ) -> None:
        self._webhook_secret = webhook_secret
        self._base_url = (
            base_url or env_value("GOOGLE_GEMINI_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        version = api_version or env_value("GOOGLE_GENAI_API_VERSION") or DEFAULT_API_VERSION
        self.api_version = "v1beta" if version == "beta" else version
        if not _VERSION.fullmatch(self.api_version):
            raise ValueError(f"api_version {self.api_version!r} is not one path segment")
        self.default_model = default_model
        self.min_poll_interval = min_poll_interval
        key = (api_key or "").strip() or env_value("GOOGLE_API_KEY", "GEMINI_API_KEY")
        self._setup_http(
            key=key,
            headers={"x-goog-api-key": key} if key is not None else {},
            describe=_describe_error,
            http_client=http_client,
            timeout=timeout,
            retry_policy=retry_policy,
            max_retries=max_retries,
            clock=clock,
            sleep=sleep,
            on_retry=on_retry,
        )
        self._specs = GEMINI_MODELS
        self._prices = dict(prices or {})
        self._capabilities = Capabilities(
            models={name: self._model_info(spec) for name, spec in self._specs.items()},
            default_model=default_model,
            result_kind="bytes",
            min_poll_interval=min_poll_interval,
            allows_unknown_models=allow_unknown_models,
            idempotent_creates=False,
            # Its cancel says when an interaction had already ended and never destroys a
            # finished video: the engine asks it before writing a cancel.
            cancel_reports_ended=True,
        )
        self._done_at: BoundedMap[float] = BoundedMap(_CACHE_SIZE)

    @property
    def capabilities(self) -> Capabilities:
        """What the Gemini API can do: cancel (interactions only), bytes results, no list."""
        return self._capabilities

    def _model_info(self, spec: GeminiModel) -> ModelInfo:
        default = shape_size(spec.default_resolution, spec.aspect_ratios[0])
        return ModelInfo(
            name=spec.name,
            durations=spec.durations,
            sizes=shape_sizes(spec.resolutions, spec.aspect_ratios) or None,
            default_duration=spec.default_duration,
            default_size=f"{default[0]}x{default[1]}" if default else None,
            price_per_second_usd=self._rate(spec.name, spec.default_resolution),
            accepts_image=spec.accepts_image,
        )

    # ------------------------------------------------------------------ addressing

    def _url(self, *parts: str) -> str:
        return "/".join((self._base_url, self.api_version, *parts))

    def _operation_url(self, remote_id: str) -> str:
        try:
            name = operation_name(remote_id)
        except ValueError as exc:
            raise ProviderError(
                f"gemini: remote id {ascii(remote_id)[:80]} is not an operation's ({exc}); "
                "it is never used in a request",
                provider=self.name,
                code=INVALID_REMOTE_ID,
            ) from None
        return self._url(*name.split("/"))

    def _interaction_url(self, remote_id: str, *suffix: str) -> str:
        return self._url("interactions", remote_id_segment(remote_id, provider=self.name), *suffix)

    # ------------------------------------------------------------------ the request

    def _shape(
        self, request: CreateVideoRequest, spec: GeminiModel | None
    ) -> tuple[dict[str, str], list[FieldError]]:
        """Return the ``resolution`` / ``aspect_ratio`` to send, and what is wrong."""
        errors: list[FieldError] = []
        name = spec.name if spec is not None else self._model(request)
        resolution = request.resolution.lower() if isinstance(request.resolution, str) else None
        if resolution == "2160p":
            resolution = "4k"
        ratio = request.aspect_ratio
        if request.size is not None:
            found = (
                shape_of_size(resolve_size(request), spec.resolutions, spec.aspect_ratios)
                if spec is not None
                else shape_of_size(resolve_size(request), ("720p", "1080p"), ("16:9", "9:16"))
            )
            if found is not None:
                return {"resolution": found[0], "aspect_ratio": found[1]}, errors
            errors.append(FieldError(field="size", message=f"{name} cannot make {request.size}"))
            return {}, errors
        out: dict[str, str] = {}
        if resolution is not None:
            if spec is not None and resolution not in spec.resolutions:
                errors.append(
                    FieldError(
                        field="resolution",
                        message=f"{name} makes {', '.join(spec.resolutions)}, not {resolution}",
                    )
                )
            else:
                out["resolution"] = resolution
        elif spec is not None:
            out["resolution"] = spec.default_resolution
        if ratio is not None:
            if spec is not None and ratio not in spec.aspect_ratios:
                errors.append(
                    FieldError(
                        field="aspect_ratio",
                        message=f"{name} makes {', '.join(spec.aspect_ratios)}, not {ratio}",
                    )
                )
            else:
                out["aspect_ratio"] = ratio
        return out, errors

    def _duration(self, request: CreateVideoRequest, spec: GeminiModel | None) -> int | None:
        if request.duration is not None:
            return request.duration
        return spec.default_duration if spec is not None else None

    def validate(self, request: CreateVideoRequest, path: str = "") -> list[FieldError]:
        """Return every problem the Gemini API would have with ``request``, naming each field.

        For a model in `GEMINI_MODELS`: the duration, the shape (``size``, or
        ``resolution`` and ``aspect_ratio``), ``1080p``/``4k`` only at Veo's 8 s. For every
        model: the image (a PNG, JPEG or WebP file or bytes, a ``data:image/…`` URI, or for
        Omni an ``https://`` URL), ``negative_prompt`` (Veo only: Omni has no such field),
        and ``provider_options`` that set what the request's own fields set.

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

        model = self._model(request)
        spec = self._specs.get(model)
        veo = api_of(model) == "veo"
        options = request.provider_options
        errors.extend(option_overrides(options, _VEO_RESERVED if veo else _OMNI_RESERVED, path))
        if "negative_prompt" in options:
            if not veo:
                bad(
                    "provider_options.negative_prompt",
                    f"{model} has no negative prompt: say what to avoid in the prompt",
                )
            elif not isinstance(options["negative_prompt"], str):
                bad("provider_options.negative_prompt", "must be text")
        if veo and "sampleCount" in options:
            bad("provider_options.sampleCount", "soravideo makes one video a job")
        if not veo and options.get("background", True) is not True:
            bad("provider_options.background", "video jobs run in the background")
        if not veo and "stream" in options:
            bad("provider_options.stream", "soravideo polls: a video job is not streamed")
        delivery = options.get("delivery")
        if delivery is not None and (veo or delivery not in ("inline", "uri")):
            bad("provider_options.delivery", "is 'inline' or 'uri', for Omni models only")
        reference = request.input_reference
        if reference is not None:
            problem = _reference_problem(reference, veo=veo)
            if problem is not None:
                bad("input_reference", problem)
            elif spec is not None and not spec.accepts_image:
                bad("input_reference", f"{model} takes no image")
        shape, problems = self._shape(request, spec)
        errors.extend(attrs.evolve(e, field=f"{prefix}{e.field}") for e in problems)
        if spec is None:
            return errors
        duration = request.duration
        if duration is not None and duration not in spec.durations:
            shown = (
                f"{spec.durations[0]}–{spec.durations[-1]}"
                if len(spec.durations) > 3
                else ", ".join(str(d) for d in spec.durations)
            )
            bad("duration", f"{model} makes {shown} second videos, not {duration}")
        seconds = self._duration(request, spec)
        sent = shape.get("resolution")
        if sent in spec.long_only and seconds != max(spec.durations):
            bad(
                "duration",
                f"{model} makes {sent} videos of {max(spec.durations)} seconds only, not {seconds}",
            )
        return errors

    async def _image(self, reference: str | bytes) -> tuple[str | None, str, bool]:
        """Return ``(mime_type, data or uri, is_uri)`` for the start image.

        Raises:
            ValidationError: Not an image that can be sent.
        """
        if isinstance(reference, str) and reference.startswith("data:"):
            head, _, data = reference.partition(",")
            return head[5:].split(";", 1)[0].lower(), data, False
        if isinstance(reference, str) and "://" in reference:
            guessed = mimetypes.guess_type(httpx.URL(reference).path)[0]
            return (guessed if guessed in IMAGE_TYPES else None), reference, True
        content = (
            reference if isinstance(reference, bytes) else await anyio.Path(reference).read_bytes()
        )
        content_type = sniff_image(content)
        if content_type is None:
            raise ValidationError(
                [FieldError(field="input_reference", message="not a PNG, JPEG or WebP image")]
            )
        return content_type, base64.b64encode(content).decode("ascii"), False

    def _checked(
        self, request: CreateVideoRequest
    ) -> tuple[str, GeminiModel | None, dict[str, str], int | None]:
        model = self._model(request)
        spec = self._specs.get(model)
        shape, problems = self._shape(request, spec)
        if problems:
            raise ValidationError(problems)
        return model, spec, shape, self._duration(request, spec)

    async def _omni_body(self, request: CreateVideoRequest) -> tuple[str, dict[str, Any]]:
        model, _, shape, seconds = self._checked(request)
        options = sendable_options(request.provider_options, _OMNI_RESERVED)
        options.pop("negative_prompt", None)
        delivery = options.pop("delivery", None)
        response_format: dict[str, Any] = {"type": "video", **shape}
        if seconds is not None:
            response_format["duration"] = _seconds(str(seconds))
        if delivery is not None:
            response_format["delivery"] = delivery
        prompt_input: Any = request.prompt
        if request.input_reference is not None:
            mime, value, is_uri = await self._image(request.input_reference)
            image: dict[str, Any] = {"type": "image", "uri" if is_uri else "data": value}
            if mime is not None:
                image["mime_type"] = mime
            prompt_input = [{"type": "text", "text": request.prompt}, image]
        body = {
            **options,
            "model": model,
            "input": prompt_input,
            "background": True,
            "response_format": response_format,
            "response_modalities": ["video"],
        }
        return self._url("interactions"), body

    async def _veo_body(self, request: CreateVideoRequest) -> tuple[str, dict[str, Any]]:
        model, _, shape, seconds = self._checked(request)
        options = sendable_options(request.provider_options, _VEO_RESERVED)
        negative = options.pop("negative_prompt", None)
        options.pop("sampleCount", None)
        instance: dict[str, Any] = {"prompt": request.prompt}
        if request.input_reference is not None:
            mime, value, is_uri = await self._image(request.input_reference)
            if is_uri:
                raise ValidationError(
                    [FieldError(field="input_reference", message="Veo takes no image URL")]
                )
            instance["image"] = {"bytesBase64Encoded": value, "mimeType": mime}
        parameters: dict[str, Any] = dict(options)
        if "aspect_ratio" in shape:
            parameters["aspectRatio"] = shape["aspect_ratio"]
        if "resolution" in shape:
            parameters["resolution"] = shape["resolution"]
        if seconds is not None:
            parameters["durationSeconds"] = seconds
        if negative is not None:
            parameters["negativePrompt"] = negative
        segment = remote_id_segment(model, provider=self.name)
        return self._url("models", f"{segment}:predictLongRunning"), {
            "instances": [instance],
            "parameters": parameters,
        }

    # ------------------------------------------------------------------ cost

    def _rate(self, model: str, resolution: str | None) -> float | None:
        if model in self._prices:
            return self._prices[model]
        spec = self._specs.get(model)
        return None if spec is None else spec.price_per_second(resolution)

    def estimate_cost(self, request: CreateVideoRequest) -> float | None:
        """Return the price in USD: the seconds sent × the model's price at the resolution sent.

        Args:
            request: What would be generated (no duration or resolution means the model's
                default, which is then sent).

        Returns:
            The estimate, or ``None`` for a model with no known price.
        """
        try:
            model, _, shape, seconds = self._checked(request)
        except ValidationError:
            return None
        rate = self._rate(model, shape.get("resolution"))
        if not seconds or rate is None:
            return None
        return round(seconds * rate, 6)

    # ------------------------------------------------------------------ mapping

    @staticmethod
    def _video_block(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The last video block of the interaction's ``model_output`` steps, if any."""
        found: Mapping[str, Any] | None = None
        steps = payload.get("steps")
        for step in steps if isinstance(steps, list) else ():
            if not isinstance(step, Mapping) or step.get("type") != "model_output":
                continue
            content = step.get("content")
            for block in content if isinstance(content, list) else ():
                if (
                    isinstance(block, Mapping)
                    and block.get("type") == "video"
                    and (isinstance(block.get("data"), str) or isinstance(block.get("uri"), str))
                ):
                    found = block
        if found is None and isinstance(payload.get("output_video"), Mapping):
            found = payload["output_video"]
        return found

    @staticmethod
    def _interaction_error(payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
        errors = payload.get("errors")
        if isinstance(errors, list):
            for error in errors:
                if isinstance(error, Mapping):
                    code = error.get("code")
                    message = error.get("message")
                    return (str(code) if code else None), (str(message) if message else None)
        steps = payload.get("steps")
        for step in steps if isinstance(steps, list) else ():
            error = step.get("error") if isinstance(step, Mapping) else None
            if isinstance(error, Mapping):
                message = error.get("message")
                return _rpc_code(error), (str(message) if message else None)
        return None, None

    def _interaction(self, remote_id: str, payload: Mapping[str, Any]) -> RemoteJob:
        raw = self._session.scrub(_without_media(payload))
        word = str(payload.get("status") or "").strip().lower()
        status = _STATUSES.get(word)
        if status is None:
            self._warn_status(word)
            status = JobStatus.PROCESSING
        urls: dict[str, str] = {}
        error: JobError | None = None
        if status is JobStatus.COMPLETED:
            block = self._video_block(payload)
            if block is None:
                status = JobStatus.FAILED
                error = JobError(
                    code="no_output",
                    message="Gemini reported the interaction completed but it holds no video",
                    retryable=True,
                )
            elif isinstance(block.get("uri"), str) and block["uri"].startswith("https://"):
                urls["video"] = block["uri"]
        elif status is JobStatus.FAILED:
            code, message = self._interaction_error(payload)
            transient = word == "incomplete" or (code or "") in _TRANSIENT
            error = JobError(
                code=code or word or "failed",
                message=message or f"Gemini reported the interaction {word or 'failed'}",
                retryable=transient,
            )
        return RemoteJob(
            remote_id=remote_id,
            status=status,
            progress=100 if status is JobStatus.COMPLETED else 0,
            provider_status=word,
            error=error,
            urls=urls,
            raw=raw,
        )

    @staticmethod
    def _samples(payload: Mapping[str, Any]) -> tuple[list[Any], Mapping[str, Any]]:
        response = payload.get("response")
        generated = response.get("generateVideoResponse") if isinstance(response, Mapping) else None
        if not isinstance(generated, Mapping):
            return [], {}
        samples = generated.get("generatedSamples")
        return (samples if isinstance(samples, list) else []), generated

    def _operation(self, remote_id: str, payload: Mapping[str, Any]) -> RemoteJob:
        raw = self._session.scrub(_without_media(payload))
        if payload.get("done") is not True:
            return RemoteJob(
                remote_id=remote_id, status=JobStatus.PROCESSING, provider_status="running", raw=raw
            )
        error = payload.get("error")
        if isinstance(error, Mapping):
            code = _rpc_code(error)
            message = error.get("message")
            return RemoteJob(
                remote_id=remote_id,
                status=JobStatus.FAILED,
                provider_status="failed",
                error=JobError(
                    code=code,
                    message=str(message) if message else "Veo reported the operation failed",
                    retryable=code in _TRANSIENT,
                ),
                raw=raw,
            )
        samples, generated = self._samples(payload)
        video = samples[0].get("video") if samples and isinstance(samples[0], Mapping) else None
        if not isinstance(video, Mapping) or not (
            isinstance(video.get("uri"), str) or isinstance(video.get("encodedVideo"), str)
        ):
            filtered = generated.get("raiMediaFilteredCount")
            reasons = generated.get("raiMediaFilteredReasons")
            if isinstance(filtered, int) and filtered > 0:
                shown = "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else ""
                return RemoteJob(
                    remote_id=remote_id,
                    status=JobStatus.FAILED,
                    provider_status="filtered",
                    error=JobError(
                        code="content_filtered",
                        message=shown or "Google's safety filters withheld the video",
                        retryable=False,
                    ),
                    raw=raw,
                )
            return RemoteJob(
                remote_id=remote_id,
                status=JobStatus.FAILED,
                provider_status="done",
                error=JobError(
                    code="no_output",
                    message="Veo reported the operation done but it holds no video",
                    retryable=True,
                ),
                raw=raw,
            )
        done_at = self._done_at.get(remote_id)
        if done_at is None:
            done_at = self._now()
            self._done_at.remember(remote_id, done_at)
        uri = video.get("uri")
        return RemoteJob(
            remote_id=remote_id,
            status=JobStatus.COMPLETED,
            progress=100,
            provider_status="done",
            urls={"video": uri} if isinstance(uri, str) and uri.startswith("https://") else {},
            expires_at=utc_from_timestamp(done_at + VEO_RETENTION),
            raw=raw,
        )

    # ------------------------------------------------------------------ requests

    async def submit(self, request: CreateVideoRequest, *, idempotency_key: str) -> RemoteJob:
        """Create a video: ``POST /interactions`` (Omni) or ``:predictLongRunning`` (Veo).

        A path or bytes ``input_reference`` is sent inline (base64); for Omni an
        ``https://`` URL goes as the image block's ``uri``. Unless the request names them,
        the model's default duration and resolution are sent (so the estimate holds).
        ``provider_options`` are added to the body (Omni: ``generation_config``,
        ``labels``, ``system_instruction`` …, and ``delivery`` into ``response_format``)
        or to Veo's ``parameters`` (``personGeneration``, ``enhancePrompt`` …;
        ``negative_prompt`` becomes ``negativePrompt``).

        Args:
            request: What to generate.
            idempotency_key: Remembered by this transport: a repeat reads the same job.
                Google honours no key, so none is sent.

        Returns:
            The new job (processing).

        Raises:
            AmbiguousSubmissionError: The create may have happened; it is not re-sent.
            ValidationError: The request cannot be sent (its shape, or an unreadable image).
            ProviderError: Google refused it (or a subclass: auth, rate limit …), or
                answered with an id that cannot be used (``code="invalid_remote_id"``).
        """
        return await self._create_once(idempotency_key, lambda: self._create(request))

    async def _create(self, request: CreateVideoRequest) -> RemoteJob:
        veo = api_of(self._model(request)) == "veo"
        url, body = await (self._veo_body(request) if veo else self._omni_body(request))
        response = await self._session.request("POST", url, kind=RequestKind.CREATE, json_body=body)
        payload = parse_json(response)
        if veo:
            name = payload.get("name") if isinstance(payload, Mapping) else None
            if not isinstance(name, str) or not name:
                self._unexpected_answer(response, payload, "an operation", creating=True)
            try:
                remote_id = gemini_remote_id(name)
            except ValueError as exc:
                raise ProviderError(
                    f"gemini: {response.request.method} {response.url.path}: the operation "
                    f"{ascii(self._session.scrub(name))[:80]} cannot be addressed ({exc}); the "
                    "provider may have made a video under it that soravideo cannot address: "
                    "check the provider's dashboard before creating this video again",
                    status_code=response.status_code,
                    request_id=self._session.request_id(response),
                    provider=self.name,
                    code=INVALID_REMOTE_ID,
                ) from None
            remote = self._operation(remote_id, payload)
        else:
            found = payload.get("id") if isinstance(payload, Mapping) else None
            if not isinstance(payload, Mapping) or not isinstance(found, str) or not found:
                self._unexpected_answer(response, payload, "an interaction", creating=True)
            remote_id = self._check_id(response, found, creating=True)
            remote = self._interaction(remote_id, payload)
        return attrs.evolve(
            remote,
            status=JobStatus.PROCESSING,
            progress=0,
            error=None,
            urls={},
            expires_at=None,
            created_at=utc_from_timestamp(self._now()),
        )

    @property
    def webhook_pushes(self) -> bool:
        """Whether the project pushes each job's end (a ``webhook_secret`` is set)."""
        return bool(self._webhook_secret)

    async def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: float
    ) -> WebhookDelivery:
        """Verify a delivery (Standard Webhooks) and read the job it names.

        Google's events are thin (the interaction's id, or the Veo operation's name): the
        engine reads the job's status once. Batch events name no video.

        Args:
            headers: The request's headers.
            body: The raw body, exactly as received.
            now: The client's time (Unix seconds).

        Returns:
            The delivery: its ``webhook-id``, the job's remote id (no state).

        Raises:
            WebhookVerificationError: A bad or missing signature, a stale timestamp, a body
                that is not an event, or no ``webhook_secret``.
        """
        delivery_id, event = verify_standard(
            self.name, self._webhook_secret, headers, body, now=now
        )
        return thin_delivery(
            self.name, delivery_id, event, WEBHOOK_EVENTS, remote_id=_pushed_remote_id
        )

    async def _read(self, remote_id: str) -> tuple[httpx.Response, Mapping[str, Any]]:
        url = (
            self._operation_url(remote_id)
            if is_operation(remote_id)
            else self._interaction_url(remote_id)
        )
        response = await self._session.request("GET", url, kind=RequestKind.READ)
        payload = parse_json(response)
        if not isinstance(payload, Mapping):
            what = "an operation" if is_operation(remote_id) else "an interaction"
            self._unexpected_answer(response, payload, what, creating=False)
        return response, payload

    async def fetch(self, remote_id: str) -> RemoteJob:
        """Return the job as Google shows it now: ``GET /interactions/{id}`` or the operation.

        Args:
            remote_id: An interaction id, or a Veo operation's remote id
                (``models:…:operations:…``).

        Returns:
            The mapped job (inline video data is not kept in ``raw``).

        Raises:
            ProviderError: With ``status_code == 404`` when Google does not know the job; a
                subclass for auth, rate limit, outage and connection failures;
                ``code="invalid_remote_id"`` for an id no request may use;
                ``code="remote_id_mismatch"`` when the answer is about another job.
        """
        response, payload = await self._read(remote_id)
        if is_operation(remote_id):
            name = payload.get("name")
            if isinstance(name, str):
                self._check_same_id(response, operation_name(remote_id), name)
            return self._operation(remote_id, payload)
        found = payload.get("id")
        if isinstance(found, str) and found:
            self._check_id(response, found, creating=False)
            self._check_same_id(response, remote_id, found)
        return self._interaction(remote_id, payload)

    async def cancel(self, remote_id: str) -> Literal["ended"] | None:
        """Cancel an interaction: ``POST /interactions/{id}/cancel`` (an empty body).

        One Google no longer knows (404), or one already finished (``400``/``409``
        ``FAILED_PRECONDITION``, or a ``200`` whose interaction is still ``completed``,
        ``failed``, ``incomplete`` or ``budget_exceeded``: nothing was stopped), is not an
        error.

        Args:
            remote_id: The interaction id.

        A Veo operation cannot be cancelled in API-key mode: it is read instead (one
        ``GET``), so that one already done is told apart from one that goes on.

        Returns:
            ``"ended"`` for an interaction already finished (``FAILED_PRECONDITION``), or
            a Veo operation already done; ``None`` otherwise.

        Raises:
            ProviderError: Google refused otherwise; ``code="unsupported"`` for a Veo
                operation still running, which goes on (and is billed).
        """
        if is_operation(remote_id):
            if (await self.fetch(remote_id)).status.is_terminal:
                log.info("gemini: operation %s had already ended; nothing to cancel", remote_id)
                return "ended"
            raise ProviderError(
                f"gemini: Veo operations cannot be cancelled with an API key; {remote_id} "
                "goes on at Google (and is billed)",
                provider=self.name,
                code="unsupported",
            )
        try:
            answer = await self._session.request(
                "POST", self._interaction_url(remote_id, "cancel"), kind=RequestKind.DELETE
            )
        except ProviderError as exc:
            if exc.status_code == 404:
                return None
            if exc.status_code in (400, 409) and exc.code == "FAILED_PRECONDITION":
                log.info("gemini: interaction %s had already ended; nothing to cancel", remote_id)
                return "ended"
            raise
        # The answer is the interaction (the official client's ``cancel``): one that had
        # already ended keeps its status, and the cancel stopped nothing.
        body = json_or_none(answer)
        word = body.get("status") if isinstance(body, dict) else None
        ended = _STATUSES.get(word) if isinstance(word, str) else None
        if ended is not None and ended.is_terminal and ended is not JobStatus.CANCELLED:
            log.info(
                "gemini: interaction %s had already ended (%s); nothing cancelled", remote_id, word
            )
            return "ended"
        return None

    def _files_download(self, uri: str) -> str | None:
        """The download URL the official client builds for a Files API URI, if it is one."""
        if not uri.startswith("https://") or "files/" not in uri:
            return None
        found = _FILE_ID.match(uri.split("files/", 1)[1])
        return None if found is None else self._url(f"files/{found.group(0)}:download")

    def open_content(
        self, remote_id: str, variant: str = "video"
    ) -> AbstractAsyncContextManager[ContentStream]:
        """Open a streamed download of a finished job's video.

        The job is read once more: an inline video (base64 ``data``, or Veo's
        ``encodedVideo``) is decoded as it is written; a Gemini Files URI is fetched as the
        official client's ``files.download`` fetches it (``GET /{v}/files/{id}:download
        ?alt=media`` on the configured origin, with the key; a redirect to another origin is
        followed without it); any other ``https://`` URI is fetched without the key.

        Args:
            remote_id: The remote id.
            variant: Only ``"video"``.

        Returns:
            An async context manager yielding the stream.

        Raises:
            ValidationError: ``variant`` is not ``"video"``.
        """
        self._check_variant(variant)
        return self._open_content(remote_id)

    @asynccontextmanager
    async def _open_content(self, remote_id: str) -> AsyncIterator[ContentStream]:
        _, payload = await self._read(remote_id)
        block: Mapping[str, Any] | None
        if is_operation(remote_id):
            samples, _ = self._samples(payload)
            video = samples[0].get("video") if samples and isinstance(samples[0], Mapping) else None
            block = (
                {"data": video.get("encodedVideo"), "uri": video.get("uri"),
                 "mime_type": video.get("encoding") or "video/mp4"}
                if isinstance(video, Mapping) and payload.get("done") is True
                else None
            )  # fmt: skip
        else:
            word = str(payload.get("status") or "").lower()
            block = self._video_block(payload) if word == "completed" else None
        if block is None:
            raise ProviderError(
                f"gemini: job {remote_id} has no video to download (not completed)",
                provider=self.name,
                code="no_output",
                status_code=409,
            )
        mime = block.get("mime_type")
        content_type = str(mime) if isinstance(mime, str) and mime else None
        data = block.get("data")
        if isinstance(data, str) and data:
            if _SPACE.search(data):
                data = "".join(data.split())
            yield InlineVideo(
                content_type=content_type,
                content_length=_decoded_length(data),
                data=data,
                provider=self.name,
            )
            return
        uri = block.get("uri")
        if not isinstance(uri, str) or not uri.startswith("https://"):
            raise ProviderError(
                f"gemini: job {remote_id}'s video has neither data nor an https:// URI",
                provider=self.name,
                code="no_output",
            )
        files = self._files_download(uri)
        if files is not None:
            stream = self._session.stream("GET", files, params={"alt": "media"})
        else:
            stream = self._session.stream("GET", uri, authorized=False)
        async with stream as opened:
            yield opened

    async def ping(self) -> None:
        """Make one cheap authenticated request (``GET /{v}/models?pageSize=1``), once.

        Raises:
            ProviderError: Google is unreachable or refuses the key.
        """
        await self._session.request(
            "GET", self._url("models"), kind=RequestKind.READ, params={"pageSize": 1}, retry=False
        )
