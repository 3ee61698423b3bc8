"""The Runway API (``api.dev.runwayml.com``) over httpx: Runway's own models and those it routes.

Runway is a live, first-party video API; besides its own ``gen4.5`` it serves Google's Veo
3.1 and Gemini Omni. Request and response shapes follow the official ``runwayml`` package
(version 5.24.0, read on 2026-11-27; this module does not depend on it).

Mapping, in brief:

- requests: ``POST /v1/text_to_video``, or ``POST /v1/image_to_video`` when there is an
  image (``promptImage``: an ``https://`` or ``runway://`` URL as given, a file or bytes as
  a ``data:`` URI under Runway's 5 MB limit); the neutral request becomes ``model``,
  ``promptText``, ``ratio`` (``"1280:720"`` from ``size`` or ``resolution`` +
  ``aspect_ratio``) and ``duration``; ``provider_options`` are added as given (camelCase).
- statuses: ``PENDING`` and ``THROTTLED`` (queued by Runway because the account is at its
  concurrency) → processing, the word kept in ``provider_status``; ``RUNNING`` (a progress
  fraction) → processing at 0–99 %; ``SUCCEEDED`` → completed with ``urls["video"]``;
  ``FAILED`` → failed with ``failureCode`` (moderation codes are not retryable);
  ``CANCELLED`` → cancelled.
- results are URLs on Runway's CDN that expire within 24–48 hours: ``open_content``
  downloads them without the API key and fetches the task again for fresh URLs when one
  answers 403, 404 or 410.
- cost: ``estimatedCost.credits`` while running and ``cost.credits`` once ended are
  ``RemoteJob.cost_credits``; ``cost_usd`` is credits × ``credit_usd``.
- Runway has no list endpoint and no idempotency keys; see
  [`RunwayTransport`][soravideo.transports.RunwayTransport].
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timezone
from typing import Any, Literal

import attrs
import httpx

from .._core.clock import Clock, utc_from_timestamp
from .._core.errors import FieldError, ProviderError, ValidationError
from .._core.models import CreateVideoRequest, JobError, JobStatus
from .._core.retry import OnRetry, RequestKind, RetryPolicy
from .._core.validation import option_overrides, resolve_size, sendable_options
from ._http import HttpContentStream, UrlResultTransport, describe_error_body
from ._shared import (
    FieldProblems,
    data_uri,
    data_uri_problem,
    env_value,
    finite_number,
    image_file_type,
    is_url_reference,
    read_image,
    sniff_image,
    spans,
)
from .base import Capabilities, ModelInfo, RemoteJob, remote_id_segment

__all__ = [
    "API_VERSION",
    "CREDIT_USD",
    "DEFAULT_BASE_URL",
    "MAX_DATA_URI_LENGTH",
    "RUNWAY_ENDPOINT_MODELS",
    "RUNWAY_MODELS",
    "RunwayModel",
    "RunwayTransport",
    "failure_is_retryable",
]

log = logging.getLogger("soravideo.transports.runway")

DEFAULT_BASE_URL = "https://api.dev.runwayml.com"
API_VERSION = "2024-11-06"
"""The ``X-Runway-Version`` this transport speaks."""
DEFAULT_MODEL = "gen4.5"
CREDIT_USD = 0.01
"""USD per Runway credit: "a minimum payment of $10 (at $0.01 per credit)" (Runway's API
setup guide, docs.dev.runwayml.com/guides/setup, read 2026-11-27)."""
MAX_DATA_URI_LENGTH = 5 * 1024 * 1024
"""Runway accepts a ``data:`` URI shorter than 5 MB (1024 × 1024 × 5 characters)."""
MAX_URL_LENGTH = 2048
OUTPUT_URL_TTL = 24 * 3600.0
"""Output URLs "expire within 24–48 hours": ``expires_at`` assumes the shorter bound."""
MIN_POLL_INTERVAL = 5.0
# Body keys the request's own fields set: refused in provider_options (the price depends on
# model and duration; see option_overrides) and never taken from them.
_RESERVED_OPTIONS: Mapping[str, str] = {
    "model": "model",
    "promptText": "prompt",
    "duration": "duration",
    "ratio": "size (or resolution + aspect_ratio)",
}
_LANDSCAPE = "1280:720"


@attrs.frozen(kw_only=True)
class RunwayModel:
    """What one Runway video model accepts, and what it costs.

    Args:
        name: The model's id (``"gen4.5"``).
        text_ratios: ``ratio`` values of ``POST /v1/text_to_video`` (empty: the model
            needs an image).
        image_ratios: ``ratio`` values of ``POST /v1/image_to_video`` (empty: text only).
        durations: Whole seconds it makes.
        default_duration: Seconds soravideo asks for when the request names none (always
            sent, so the cost estimate holds).
        default_ratio: The ratio soravideo asks for when the request names none.
        max_prompt: Most UTF-16 code units of ``promptText`` (``None``: no published limit).
        prompt_required_with_image: Whether ``promptText`` is required with an image too.
        ratio_required: Whether Runway requires ``ratio``.
        duration_required: Whether Runway requires ``duration``.
        credits_per_second: Credits per second of video (``None``: not published).
        credits_per_second_audio: Credits per second with audio, for models whose audio
            changes the price (audio is assumed on unless ``provider_options["audio"]`` is
            ``False``, so an estimate errs high).
    """

    name: str
    text_ratios: tuple[str, ...] = ()
    image_ratios: tuple[str, ...] = ()
    durations: tuple[int, ...]
    default_duration: int
    default_ratio: str = _LANDSCAPE
    max_prompt: int | None = 1000
    prompt_required_with_image: bool = False
    ratio_required: bool = True
    duration_required: bool = False
    credits_per_second: float | None = None
    credits_per_second_audio: float | None = None

    def ratios(self, *, with_image: bool) -> tuple[str, ...]:
        """Return the ratios of the endpoint used with (or without) an image."""
        return self.image_ratios if with_image else self.text_ratios

    def rate(self, *, audio: bool = True) -> float | None:
        """Return credits per second (with audio, where it changes the price, unless ``audio`` is false)."""
        if audio and self.credits_per_second_audio is not None:
            return self.credits_per_second_audio
        return self.credits_per_second


_VEO_RATIOS = ("1280:720", "720:1280", "1080:1920", "1920:1080")
_GEN4_IMAGE_RATIOS = ("1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672")
_OMNI_11_RATIOS = (
    "640:360",
    "360:640",
    "1280:720",
    "720:1280",
    "1920:1080",
    "1080:1920",
    "3840:2160",
    "2160:3840",
)

RUNWAY_MODELS: Mapping[str, RunwayModel] = {
    # Ratios, durations and required fields: the runwayml 5.24.0 package's
    # text_to_video_create_params and image_to_video_create_params (read 2026-11-27; a
    # test compares this table with them). Credits per second: Runway's API reference
    # (docs.dev.runwayml.com and Runway's published "rw-api-reference", read 2026-11-27):
    # gen4.5 12, gen4_turbo 5, veo3.1 20–40 and veo3.1_fast 10–15 (audio is what raises
    # them). Runway publishes no per-second price for Gemini Omni: pass
    # ``credits_per_second=`` to RunwayTransport to budget with your own figure.
    "gen4.5": RunwayModel(
        name="gen4.5",
        text_ratios=("1280:720", "720:1280"),
        image_ratios=_GEN4_IMAGE_RATIOS,
        durations=tuple(range(2, 11)),
        default_duration=5,
        prompt_required_with_image=True,
        duration_required=True,
        credits_per_second=12.0,
    ),
    "gen4_turbo": RunwayModel(
        name="gen4_turbo",
        image_ratios=_GEN4_IMAGE_RATIOS,
        durations=tuple(range(2, 11)),
        default_duration=5,
        credits_per_second=5.0,
    ),
    "veo3.1": RunwayModel(
        name="veo3.1",
        text_ratios=_VEO_RATIOS,
        image_ratios=_VEO_RATIOS,
        durations=(4, 6, 8),
        default_duration=8,
        credits_per_second=20.0,
        credits_per_second_audio=40.0,
    ),
    "veo3.1_fast": RunwayModel(
        name="veo3.1_fast",
        text_ratios=_VEO_RATIOS,
        image_ratios=_VEO_RATIOS,
        durations=(4, 6, 8),
        default_duration=8,
        credits_per_second=10.0,
        credits_per_second_audio=15.0,
    ),
    "gemini_omni_flash": RunwayModel(
        name="gemini_omni_flash",
        text_ratios=("1280:720", "720:1280"),
        image_ratios=("1280:720", "720:1280"),
        durations=tuple(range(3, 11)),
        default_duration=8,
        max_prompt=None,
        ratio_required=False,
    ),
    "gemini_omni_flash_1.1": RunwayModel(
        name="gemini_omni_flash_1.1",
        text_ratios=_OMNI_11_RATIOS,
        image_ratios=_OMNI_11_RATIOS,
        durations=tuple(range(3, 11)),
        default_duration=8,
        max_prompt=None,
        prompt_required_with_image=True,
        ratio_required=False,
    ),
}
"""The video models this transport checks and prices, by name (the others of
``RUNWAY_ENDPOINT_MODELS`` are sent as asked)."""

# The models both endpoints take, after ``gen4.5`` (``gen4_turbo`` takes an image only).
_RUNWAY_BOTH_ENDPOINTS = (
    "veo3.1",
    "veo3.1_fast",
    "klingO3_4k",
    "hailuo3",
    "kling3.0_4k",
    "happyhorse_1_0",
    "kling2.5_turbo_pro",
    "kling3.0_pro",
    "kling3.0_standard",
    "klingO3_pro",
    "klingO3_standard",
    "seedance2",
    "seedance2_fast",
    "seedance2_mini",
    "gemini_omni_flash",
    "grok_imagine_1_5",
    "wan3",
    "gemini_omni_flash_1.1",
    "wan3_prime",
    "h3_max",
    "seedance2_5",
    "grok_imagine_1_5_lite",
    "kling_4",
)

RUNWAY_ENDPOINT_MODELS: Mapping[str, tuple[str, ...]] = {
    # The ``model`` Literal of each request type of the runwayml 5.24.0 package
    # (text_to_video_create_params, image_to_video_create_params; a test compares).
    "text_to_video": ("gen4.5", *_RUNWAY_BOTH_ENDPOINTS),
    "image_to_video": ("gen4.5", "gen4_turbo", *_RUNWAY_BOTH_ENDPOINTS),
}
"""Runway's catalogue: every video model, by the endpoint that takes it.

The models in ``RUNWAY_MODELS`` are checked (duration,
size, prompt) and priced; the others are sent as asked, Runway checking the rest. A model in
neither list is refused unless the transport is built with ``allow_unknown_models=True``.
"""

_STATUSES: Mapping[str, JobStatus] = {
    "PENDING": JobStatus.PROCESSING,
    "THROTTLED": JobStatus.PROCESSING,
    "RUNNING": JobStatus.PROCESSING,
    "SUCCEEDED": JobStatus.COMPLETED,
    "FAILED": JobStatus.FAILED,
    "CANCELLED": JobStatus.CANCELLED,
}


def failure_is_retryable(code: str) -> bool:
    """Return whether a task that failed with ``code`` may succeed when sent again.

    Per Runway's task-failure guide: ``SAFETY.*`` and ``INPUT_PREPROCESSING.SAFETY.*``
    (moderation) must not be retried; ``INTERNAL.*`` (``INTERNAL.BAD_OUTPUT.*`` …) and
    ``INPUT_PREPROCESSING.INTERNAL`` may be; anything else is treated as final.
    """
    parts = code.upper().split(".")
    if "SAFETY" in parts:
        return False
    return parts[0] == "INTERNAL" or parts[-1] == "INTERNAL"


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _data_uri_length(size: int, content_type: str) -> int:
    return len(f"data:{content_type};base64,") + 4 * math.ceil(size / 3)


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _too_big(size: int, length: int) -> str:
    return (
        f"the image is {_megabytes(size)}; as a data: URI it would be {_megabytes(length)}, "
        f"over Runway's {_megabytes(MAX_DATA_URI_LENGTH)} limit for inline images: host it "
        "and pass an https:// URL instead"
    )


def _url_problem(reference: str) -> str | None:
    """Return why Runway would refuse ``reference`` as an image URL, or ``None``."""
    if reference.startswith("runway://"):
        return None
    if reference.startswith("data:"):
        problem = data_uri_problem(reference)
        if problem is not None:
            return problem
        if len(reference) >= MAX_DATA_URI_LENGTH:
            return (
                f"the data: URI is {_megabytes(len(reference))}, over Runway's "
                f"{_megabytes(MAX_DATA_URI_LENGTH)} limit: pass an https:// URL instead"
            )
        return None
    if not reference.startswith("https://"):
        return "Runway fetches images over https:// only (or takes a file, bytes or a data: URI)"
    if len(reference) > MAX_URL_LENGTH:
        return f"the URL is longer than Runway's {MAX_URL_LENGTH} characters"
    try:
        host = httpx.URL(reference).host
    except httpx.InvalidURL:
        return "not a valid URL"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None if host else "not a valid URL"
    return "Runway refuses image URLs on an IP address: use a domain name"


def _reference_problem(reference: str | bytes) -> str | None:
    """Return why ``reference`` cannot become Runway's ``promptImage``, or ``None``."""
    if isinstance(reference, bytes):
        content_type = sniff_image(reference)
        if content_type is None:
            return "not a PNG, JPEG or WebP image (Runway takes those)"
        length = _data_uri_length(len(reference), content_type)
        return _too_big(len(reference), length) if length >= MAX_DATA_URI_LENGTH else None
    if is_url_reference(reference):
        return _url_problem(reference)
    if not os.path.isfile(reference):
        return "file not found"
    try:
        size = os.path.getsize(reference)
        content_type = image_file_type(reference)
    except OSError as exc:
        return f"cannot read the file ({exc.strerror or exc})"
    if content_type is None:
        return "not a PNG, JPEG or WebP image (Runway takes those)"
    length = _data_uri_length(size, content_type)
    return _too_big(size, length) if length >= MAX_DATA_URI_LENGTH else None


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _credits(payload: Mapping[str, Any]) -> float | None:
    for key in ("cost", "estimatedCost"):
        block = payload.get(key)
        if isinstance(block, Mapping):
            value = finite_number(block.get("credits"))
            if value is not None and value >= 0:
                return value
    return None


def _progress(word: str, value: Any) -> int:
    if word == "SUCCEEDED":
        return 100
    number = finite_number(value)
    if word != "RUNNING" or number is None:
        return 0
    # 100 is kept for "done": a task still running at 1.0 reads 99.
    return int(min(99.0, max(0.0, number * 100.0)))


def _describe_error(body: Any) -> tuple[str | None, str | None]:
    """Return ``(message, code)`` from a Runway error body (``{"error": "…", "issues": […]}``)."""
    message, code = describe_error_body(body)
    issues = body.get("issues") if isinstance(body, Mapping) else None
    if isinstance(issues, list) and issues:
        details = []
        for issue in issues[:10]:
            if not isinstance(issue, Mapping):
                continue
            path = issue.get("path")
            where = ".".join(str(p) for p in path) if isinstance(path, list) else ""
            text = str(issue.get("message") or "invalid")
            details.append(f"{where}: {text}" if where else text)
        if details:
            message = f"{message or 'invalid request'} ({'; '.join(details)})"
    return message, code


class RunwayTransport(UrlResultTransport):
    """Speak the Runway API: text-to-video and image-to-video tasks, cancel, URL results.

    The constructor does no I/O. Reads and deletes are retried per ``retry_policy``; a create only
    when it certainly did not happen (otherwise
    [`AmbiguousSubmissionError`][soravideo.AmbiguousSubmissionError]). Runway honours no idempotency
    key and has no list endpoint, so an ambiguous create cannot be reconciled by listing; within one
    transport, a repeated [`submit`][soravideo.transports.RunwayTransport.submit] with the same
    ``idempotency_key`` returns the task the first one made instead of creating another.

    Args:
        base_url: The API root. Default: ``RUNWAYML_BASE_URL``, else
            ``https://api.dev.runwayml.com``.
        api_key: The API secret. Default: ``RUNWAYML_API_SECRET``.
        api_version: Sent as ``X-Runway-Version``.
        http_client: An ``httpx.AsyncClient`` to use (e.g. over ``FakeRunway``'s transport);
            it is not closed by [`aclose`][soravideo.transports.RunwayTransport.aclose].
        timeout: Per-request timeout in seconds. When ``None``: a client's
            ``request_timeout`` once the transport is given to one, else 60 s (an injected
            client's own timeout).
        retry_policy: How requests are retried.
        max_retries: Shorthand overriding ``retry_policy.max_retries``.
        clock: Time for ``expires_at`` estimates and retry waits (simulated time in tests).
        sleep: Waits between retries (default: ``clock.sleep``, else ``anyio.sleep``).
        on_retry: Called as ``on_retry(attempt, delay, error)`` before each retry.
        credit_usd: USD per credit, for ``cost_usd`` and
            [`estimate_cost`][soravideo.transports.RunwayTransport.estimate_cost] (default
            ``CREDIT_USD``, Runway's published $0.01).
        credits_per_second: Credits per second by model name, overriding or adding to
            ``RUNWAY_MODELS`` (e.g. your negotiated rates, or a Gemini Omni figure).
        default_model: The model used when a request names none.
        output_ttl: Seconds an output URL is assumed to stay valid (``expires_at``).
        allow_unknown_models: Send a model the catalogue does not list as it is (a
            gateway's own model); by default it is refused with the list, a
            [`ValidationError`][soravideo.ValidationError] naming ``model``.

    Examples:
        ```python
        from soravideo.transports import RunwayTransport

        transport = RunwayTransport(api_key="key_...")  # default: RUNWAYML_API_SECRET
        request = sv.CreateVideoRequest(prompt="A kite over the dunes", model="gen4.5", duration=5)
        print(transport.capabilities.result_kind, transport.estimate_cost(request))  # url 0.6
        async with sv.AsyncSoraVideo(transport=transport) as client:
            ...  # the same calls as on Sora: create_video, wait_for_job, download_video
        ```
    """

    key_variables = ("RUNWAYML_API_SECRET",)
    _keyed_root = DEFAULT_BASE_URL

    name = "runway"
    _repr_fields = ("api_version",)
    _log = log
    _unknown_status_message = "runway: unknown task status %r; treating the task as processing"
    _label = "Runway"
    _job_word = "task"
    _output_word = "output"

    # No list endpoint: refreshes are single reads, kept few at once (rate limits).
    fetch_concurrency = 4

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_version: str = API_VERSION,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        retry_policy: RetryPolicy | None = None,
        max_retries: int | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        on_retry: OnRetry | None = None,
        credit_usd: float = CREDIT_USD,
        credits_per_second: Mapping[str, float] | None = None,
        default_model: str = DEFAULT_MODEL,
        output_ttl: float = OUTPUT_URL_TTL,
        allow_unknown_models: bool = False,
    ) -> None:
        self._base_url = (base_url or env_value("RUNWAYML_BASE_URL") or DEFAULT_BASE_URL).rstrip(
            "/"
        )
        self.api_version = api_version
        self.credit_usd = credit_usd
        self.default_model = default_model
        self.output_ttl = output_ttl
        key = (api_key or "").strip() or env_value("RUNWAYML_API_SECRET")
        headers = {"X-Runway-Version": api_version}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        self._setup_http(
            key=key,
            headers=headers,
            describe=_describe_error,
            http_client=http_client,
            timeout=timeout,
            retry_policy=retry_policy,
            max_retries=max_retries,
            clock=clock,
            sleep=sleep,
            on_retry=on_retry,
        )
        self._specs = RUNWAY_MODELS
        self._rate_overrides = dict(credits_per_second or {})
        self._capabilities = Capabilities(
            models={
                name: self._model_info(spec)
                if spec is not None
                else ModelInfo(
                    name=name, accepts_image=name in RUNWAY_ENDPOINT_MODELS["image_to_video"]
                )
                for name, spec in (
                    (name, self._specs.get(name))
                    for endpoint in RUNWAY_ENDPOINT_MODELS.values()
                    for name in endpoint
                )
            },
            default_model=default_model,
            result_kind="url",
            min_poll_interval=MIN_POLL_INTERVAL,
            allows_unknown_models=allow_unknown_models,
            idempotent_creates=False,
            # Its cancel reads the task first and leaves one already ended as it is
            # ("ended"): the engine asks it before writing a cancel.
            cancel_reports_ended=True,
        )

    def _rate(self, model: str, *, audio: bool = True) -> float | None:
        if model in self._rate_overrides:
            return self._rate_overrides[model]
        spec = self._specs.get(model)
        return None if spec is None else spec.rate(audio=audio)

    def _model_info(self, spec: RunwayModel) -> ModelInfo:
        ratios = dict.fromkeys((*spec.text_ratios, *spec.image_ratios))
        rate = self._rate(spec.name)
        return ModelInfo(
            name=spec.name,
            durations=spec.durations,
            sizes=tuple(r.replace(":", "x") for r in ratios),
            default_duration=spec.default_duration,
            default_size=spec.default_ratio.replace(":", "x"),
            price_per_second_usd=None if rate is None else round(rate * self.credit_usd, 6),
            accepts_image=bool(spec.image_ratios),
        )

    @property
    def capabilities(self) -> Capabilities:
        """What Runway can do: its models, cancel, URL results, a 5 s minimum poll interval."""
        return self._capabilities

    def _url(self, *parts: str) -> str:
        # Each part is a task id or a fixed word ("tasks"): checked (no dot segment,
        # separator or control character) and quoted, so it stays one segment.
        segments = (remote_id_segment(part, provider=self.name) for part in parts)
        return self._base_url + "/v1/" + "/".join(segments)

    # ------------------------------------------------------------------ validation

    @staticmethod
    def _with_image(request: CreateVideoRequest) -> bool:
        return request.input_reference is not None or "promptImage" in request.provider_options

    @staticmethod
    def _requested_ratio(request: CreateVideoRequest) -> tuple[str, str] | None:
        """Return ``(field, "W:H")`` for the size the request asks for, if it asks."""
        if request.size is None and request.resolution is None and request.aspect_ratio is None:
            return None
        resolved = resolve_size(request)
        if resolved is None:
            return None
        if request.size is not None:
            field = "size"
        else:
            field = "resolution" if request.resolution is not None else "aspect_ratio"
        return field, f"{resolved[0]}:{resolved[1]}"

    def _ratio(
        self, request: CreateVideoRequest, spec: RunwayModel | None
    ) -> tuple[str | None, FieldError | None]:
        """Return the ``ratio`` to send (``None``: send none), or why there is none."""
        requested = self._requested_ratio(request)
        if requested is None:
            return (spec.default_ratio if spec is not None else None), None
        field, ratio = requested
        if spec is None:
            return ratio, None
        with_image = self._with_image(request)
        allowed = spec.ratios(with_image=with_image)
        if ratio in allowed:
            return ratio, None
        if field == "aspect_ratio":
            # Only a shape was asked for: take the model's size of that shape.
            width, height = (int(n) for n in ratio.split(":"))
            close = [
                r
                for r in allowed
                if abs(int(r.split(":")[0]) / int(r.split(":")[1]) - width / height)
                <= 0.02 * width / height
            ]
            if close:
                return close[0], None
        mode = "image_to_video" if with_image else "text_to_video"
        shown = ", ".join(r.replace(":", "x") for r in allowed)
        return None, FieldError(
            field=field,
            message=(
                f"{spec.name} cannot make {ratio.replace(':', 'x')} with {mode}; sizes: {shown}"
            ),
        )

    def validate(self, request: CreateVideoRequest, path: str = "") -> list[FieldError]:
        """Return every problem Runway would have with ``request``, naming each field.

        For the models in ``RUNWAY_MODELS``: the duration, the size (``size``, or
        ``resolution`` + ``aspect_ratio``; an aspect ratio alone picks the model's size of
        that shape), whether the model takes text alone or an image, and the prompt's
        length. For every model: the image (a PNG, JPEG or WebP file or bytes that fit in
        a 5 MB data URI, or an ``https://`` URL on a domain name), and
        ``provider_options`` that set what the request's own fields set (``model``,
        ``promptText``, ``duration``, ``ratio``: the estimate prices the request's fields).

        Args:
            request: The request to check (already checked provider-neutrally).
            path: Prefix for field names (``videos[3]``).

        Returns:
            The problems, empty when there are none.
        """
        errors = FieldProblems(path)
        bad = errors.add

        options = request.provider_options
        errors.extend(option_overrides(options, _RESERVED_OPTIONS, path))
        if request.input_reference is not None and "promptImage" in options:
            bad("provider_options.promptImage", "give input_reference or promptImage, not both")
        reference = request.input_reference
        if reference is not None:
            problem = _reference_problem(reference)
            if problem is not None:
                bad("input_reference", problem)
        model = self._model(request)
        spec = self._specs.get(model)
        with_image = self._with_image(request)
        if spec is None:
            endpoints = RUNWAY_ENDPOINT_MODELS
            text, image = endpoints["text_to_video"], endpoints["image_to_video"]
            if with_image and model in text and model not in image:
                bad("input_reference", f"{model} makes videos from text only")
            elif not with_image and model in image and model not in text:
                bad("input_reference", f"{model} makes videos from an image only: give one")
            return errors
        if with_image and not spec.image_ratios:
            bad("input_reference", f"{spec.name} makes videos from text only")
        elif not with_image and not spec.text_ratios:
            bad("input_reference", f"{spec.name} makes videos from an image only: give one")
        duration = request.duration
        is_int = isinstance(duration, int) and not isinstance(duration, bool)
        if is_int and duration not in spec.durations:
            bad(
                "duration",
                f"{spec.name} makes {spans(spec.durations)} second videos, not {duration}",
            )
        _, ratio_error = self._ratio(request, spec)
        if ratio_error is not None:
            errors.add_all([ratio_error])
        if spec.max_prompt is not None and _utf16_length(request.prompt) > spec.max_prompt:
            bad(
                "prompt",
                f"{spec.name} takes at most {spec.max_prompt} characters "
                f"(UTF-16 code units), not {_utf16_length(request.prompt)}",
            )
        return errors

    # ------------------------------------------------------------------ cost

    def estimate_credits(self, request: CreateVideoRequest) -> float | None:
        """Return the credits ``request`` should cost, or ``None`` for an unpriced model.

        Args:
            request: What would be generated (no duration means the model's default).

        Returns:
            Seconds × credits per second (with audio unless ``provider_options["audio"]``
            is ``False``), or ``None``.
        """
        model = self._model(request)
        rate = self._rate(model, audio=request.provider_options.get("audio") is not False)
        spec = self._specs.get(model)
        seconds = request.duration or (spec.default_duration if spec is not None else None)
        if not seconds or rate is None:
            return None
        return float(seconds * rate)

    def estimate_cost(self, request: CreateVideoRequest) -> float | None:
        """Return the price in USD:
        [`estimate_credits`][soravideo.transports.RunwayTransport.estimate_credits] ×
        ``credit_usd``, or ``None``.

        Args:
            request: What would be generated.

        Returns:
            The estimate in USD, or ``None`` when the model has no known price.
        """
        credits = self.estimate_credits(request)
        return self._usd(credits)

    def _usd(self, credits: float | None) -> float | None:
        return None if credits is None else round(credits * self.credit_usd, 6)

    # ------------------------------------------------------------------ mapping

    def _remote(self, received: Mapping[str, Any]) -> RemoteJob:
        # Scrubbed first: the payload ends up in the ledger and in logs.
        payload: Mapping[str, Any] = self._session.scrub(dict(received))
        remote_id = str(payload["id"])
        word, status = self._status_of(payload, _STATUSES, upper=True)
        error: JobError | None = None
        urls: dict[str, str] = {}
        if status is JobStatus.COMPLETED:
            output = payload.get("output")
            first = output[0] if isinstance(output, list) and output else None
            if isinstance(first, str) and first:
                urls["video"] = first
                self._outputs.remember(remote_id, first)
            else:
                status = JobStatus.FAILED
                error = JobError(
                    code="no_output",
                    message="Runway reported the task succeeded but sent no output URL",
                    retryable=True,
                )
        elif status is JobStatus.FAILED:
            code = str(payload.get("failureCode") or "failed")
            error = JobError(
                code=code,
                message=str(payload.get("failure") or "Runway reported the task failed"),
                retryable=failure_is_retryable(code),
            )
        credits = _credits(payload)
        return RemoteJob(
            remote_id=remote_id,
            status=status,
            progress=_progress(word, payload.get("progress")),
            provider_status=word,
            error=error,
            expires_at=utc_from_timestamp(self._now() + self.output_ttl) if urls else None,
            cost_credits=credits,
            cost_usd=self._usd(credits),
            urls=urls,
            created_at=_timestamp(payload.get("createdAt")),
            raw=payload,
        )

    def _parse(
        self, response: httpx.Response, *, creating: bool = False, asked: str | None = None
    ) -> RemoteJob:
        # The id is checked before _remote, which remembers the answer's output URL under it.
        payload = self._job_payload(response, "a task", creating=creating, asked=asked)
        if not creating:
            return self._remote(payload)
        credits = _credits(payload)
        return RemoteJob(
            remote_id=payload["id"],
            status=JobStatus.PROCESSING,
            cost_credits=credits,
            cost_usd=self._usd(credits),
            created_at=utc_from_timestamp(self._now()),
            raw=self._session.scrub(dict(payload)),
        )

    # ------------------------------------------------------------------ requests

    async def _prompt_image(self, reference: str | bytes) -> str:
        if is_url_reference(reference):
            return reference
        content, content_type = await read_image(reference)
        uri = data_uri(content, content_type)
        if len(uri) >= MAX_DATA_URI_LENGTH:
            raise ValidationError(
                [FieldError(field="input_reference", message=_too_big(len(content), len(uri)))]
            )
        return uri

    async def _body(self, request: CreateVideoRequest) -> tuple[str, dict[str, Any]]:
        model = self._model(request)
        spec = self._specs.get(model)
        body = sendable_options(request.provider_options, _RESERVED_OPTIONS)
        body["model"] = model
        body["promptText"] = request.prompt
        ratio, problem = self._ratio(request, spec)
        if problem is not None:
            raise ValidationError([problem])
        if ratio is not None:
            body["ratio"] = ratio
        if request.duration is not None:
            body["duration"] = request.duration
        elif spec is not None:
            body["duration"] = spec.default_duration
        if request.input_reference is not None:
            body["promptImage"] = await self._prompt_image(request.input_reference)
        endpoint = "image_to_video" if "promptImage" in body else "text_to_video"
        return endpoint, body

    async def submit(self, request: CreateVideoRequest, *, idempotency_key: str) -> RemoteJob:
        """Create a task: ``POST /v1/text_to_video``, or ``/v1/image_to_video`` with an image.

        A path or bytes ``input_reference`` is sent as a ``data:`` URI; a URL as given.
        Unless the request names them, ``ratio`` and ``duration`` are the model's
        defaults. ``provider_options`` are added to the body unchanged, except the keys the
        request's own fields set (``validate`` refuses those).

        Args:
            request: What to generate.
            idempotency_key: Remembered by this transport: a repeat returns the same task.
                Runway itself honours no key, so it is not sent.

        Returns:
            The new task (processing; ``cost_credits`` from ``estimatedCost``).

        Raises:
            AmbiguousSubmissionError: The create may have happened; reconcile it.
            ValidationError: The image cannot be sent (unreadable, or too big inline).
            ProviderError: Runway refused it (or a subclass: auth, rate limit …).
        """

        async def create() -> RemoteJob:
            endpoint, body = await self._body(request)
            response = await self._session.request(
                "POST", self._url(endpoint), kind=RequestKind.CREATE, json_body=body
            )
            return self._parse(response, creating=True)

        return await self._create_once(idempotency_key, create)

    async def fetch(self, remote_id: str) -> RemoteJob:
        """Return the task as Runway shows it now: ``GET /v1/tasks/{id}``.

        Args:
            remote_id: The task id.

        Returns:
            The mapped task (a succeeded one carries fresh output URLs).

        Raises:
            ProviderError: With ``status_code == 404`` when Runway no longer has the task
                (deleted or cancelled); a subclass for auth, rate limit, outage and
                connection failures;
                ``code="remote_id_mismatch"`` when the answer is about another job.
        """
        response = await self._session.request(
            "GET", self._url("tasks", remote_id), kind=RequestKind.READ
        )
        return self._parse(response, asked=remote_id)

    async def cancel(self, remote_id: str) -> Literal["ended"] | None:
        """Cancel a pending, throttled or running task; leave one already ended as it is.

        ``DELETE /v1/tasks/{id}`` cancels a task that is still to run or running, but
        deletes one that has ended, and its video with it, without refunding it (the
        official client's ``tasks.delete``). So the task is read first (``GET``): one that
        had ``SUCCEEDED``, ``FAILED`` or been ``CANCELLED`` is answered ``"ended"`` and
        kept; only then is ``DELETE`` sent. A task gone (404) is fine, and a read that
        fails otherwise leads to the ``DELETE`` all the same. A task that ends between the
        read and the ``DELETE`` (one request's time) is deleted.

        Args:
            remote_id: The task id.

        Returns:
            ``"ended"`` for a task that had already ended; ``None`` otherwise.

        Raises:
            ProviderError: Runway refused the ``DELETE`` (other than 404).
        """
        try:
            if (await self.fetch(remote_id)).status.is_terminal:
                log.info("runway: task %s had already ended; kept, not deleted", remote_id)
                return "ended"
        except ProviderError as exc:
            if exc.status_code == 404:
                return None
            log.warning("runway: reading task %s before its cancel failed: %s", remote_id, exc)
        self._outputs.pop(remote_id, None)
        await self._request_unless_gone(
            "DELETE", self._url("tasks", remote_id), kind=RequestKind.DELETE
        )
        return None

    def open_content(
        self, remote_id: str, variant: str = "video"
    ) -> AbstractAsyncContextManager[HttpContentStream]:
        """Open a streamed download of a succeeded task's video from its output URL.

        The URL last seen for the task is used (or the task is fetched for one). The
        request carries no API key: the URL is signed. When it answers 403, 404 or 410
        (expired), the task is fetched again for a fresh URL, once.

        Args:
            remote_id: The task id.
            variant: Only ``"video"``.

        Returns:
            An async context manager yielding the stream (``content_type``,
            ``content_length``, ``aiter_bytes()``).

        Raises:
            ValidationError: ``variant`` is not ``"video"``.
        """
        self._check_variant(variant)
        return self._open_output(remote_id)

    async def ping(self) -> None:
        """Make one cheap authenticated request (``GET /v1/organization``), without retrying.

        Raises:
            ProviderError: Runway is unreachable or refuses the key.
        """
        await self._session.request(
            "GET", self._url("organization"), kind=RequestKind.READ, retry=False
        )
