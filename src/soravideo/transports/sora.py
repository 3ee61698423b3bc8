"""The ``/v1/videos`` protocol (OpenAI Sora, Azure OpenAI, OpenAI-compatible gateways) over httpx.

The protocol is ``shared/spec/openai-videos-openapi.yaml``. OpenAI shut its own Sora API down on
2026-09-24 and Azure OpenAI retired Sora on 2026-10-15; gateways and
[`soravideo.testing.FakeSora`][soravideo.testing.FakeSora] still serve the protocol, which is what
this speaks.

Mapping, in brief:

- statuses: ``queued`` / ``in_progress`` → processing; ``completed``; ``failed`` (with the
  provider's error code and message); gateway ``cancelled`` → cancelled; ``expired`` →
  failed with code ``expired``; an unknown status → processing, its word kept in
  ``provider_status`` (logged once).
- errors: see ``soravideo.transports._http.error_from_response``. A ``404`` for a remote
  id is a plain [`ProviderError`][soravideo.ProviderError] with ``status_code == 404``:
  the *remote* job is gone, which is not the ledger's
  [`NotFoundError`][soravideo.NotFoundError] (that one means "no such job id in
  soravideo"). [`SoraTransport.cancel`][soravideo.transports.SoraTransport.cancel] treats it
  as done and [`SoraTransport.fetch_many`][soravideo.transports.SoraTransport.fetch_many]
  leaves such ids out.
"""

from __future__ import annotations

import json
import logging
import math
import mimetypes
import os
from collections.abc import Awaitable, Callable, Collection, Container, Mapping, Sequence, Set
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal

import anyio
import attrs
import httpx

from .._core.clock import Clock
from .._core.errors import (
    FieldError,
    ProviderError,
    ValidationError,
)
from .._core.models import CreateVideoRequest, JobError, JobStatus
from .._core.retry import OnRetry, RequestKind, RetryPolicy
from .._core.validation import option_overrides, resolve_size, sendable_options
from ._http import HttpContentStream, HttpTransport
from ._shared import env_value, finite_number, json_or_none, unix_time
from ._webhooks import WebhookDelivery, thin_delivery, verify_standard
from .base import Capabilities, ModelInfo, RemoteJob, remote_id_problem, remote_id_segment

__all__ = ["DEFAULT_BASE_URL", "SORA_MODELS", "SoraTransport"]

log = logging.getLogger("soravideo.transports.sora")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "sora-2"
POLL_AFTER_HEADER = "openai-poll-after-ms"
# OpenAI's webhook events about a video ([W2-7]); each carries the video's id only.
VIDEO_EVENTS = ("video.completed", "video.failed")
_LIST_LIMIT = 100
_VARIANTS = ("video", "thumbnail", "spritesheet")
# Sizes and durations from the spec, plus those the later guides added (16/20 s; 1080p for pro).
_DURATIONS = (4, 8, 12, 16, 20)
_SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
_PRO_SIZES = (*_SIZES, "1080x1920", "1920x1080")
# Body keys the request's own fields set: refused in provider_options (the price depends on
# seconds and model; see option_overrides) and never taken from them.
_OWN_FIELDS: Mapping[str, str] = {
    "prompt": "prompt",
    "model": "model",
    "seconds": "duration",
    "size": "size (or resolution + aspect_ratio)",
    "input_reference": "input_reference",
}

# Prices in USD per second of video as OpenAI published them for 720p (pricing page,
# October 2025; recorded in shared/PROVIDERS.md on 2026-11-27). Pass ``prices=`` to
# SoraTransport for a gateway's own rates.
_SORA_2 = ModelInfo(
    name="sora-2",
    durations=_DURATIONS,
    sizes=_SIZES,
    default_duration=4,
    default_size="720x1280",
    price_per_second_usd=0.10,
)
_SORA_2_PRO = ModelInfo(
    name="sora-2-pro",
    durations=_DURATIONS,
    sizes=_PRO_SIZES,
    default_duration=4,
    default_size="720x1280",
    price_per_second_usd=0.30,
)

SORA_MODELS: Mapping[str, ModelInfo] = {
    # The names of the official client's ``openai.types.VideoModel`` (openai 3.63; a test
    # compares): the dated snapshots are their model's, sizes, durations and price alike.
    "sora-2": _SORA_2,
    "sora-2-pro": _SORA_2_PRO,
    "sora-2-2025-10-06": attrs.evolve(_SORA_2, name="sora-2-2025-10-06"),
    "sora-2-2025-12-08": attrs.evolve(_SORA_2, name="sora-2-2025-12-08"),
    "sora-2-pro-2025-10-06": attrs.evolve(_SORA_2_PRO, name="sora-2-pro-2025-10-06"),
}
"""The models OpenAI documented for ``/v1/videos``, with their durations, sizes and prices."""

_STATUSES: Mapping[str, JobStatus] = {
    "queued": JobStatus.PROCESSING,
    "in_progress": JobStatus.PROCESSING,
    "completed": JobStatus.COMPLETED,
    "failed": JobStatus.FAILED,
    "cancelled": JobStatus.CANCELLED,
    "canceled": JobStatus.CANCELLED,
    "expired": JobStatus.FAILED,
}
# Failure codes that say the provider broke, not the request: trying again may succeed.
_RETRYABLE_FAILURES = frozenset(
    {"internal_error", "server_error", "timeout", "service_unavailable"}
)
_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"GIF8", "image/gif", ".gif"),
)


def _shutdown_note(base_url: str) -> str:
    try:
        host = httpx.URL(base_url).host.lower()
    except (httpx.InvalidURL, TypeError):
        return ""
    if host == "api.openai.com":
        return (
            "OpenAI shut the Sora API (/v1/videos) down on 2026-09-24: this endpoint no "
            "longer serves videos. Point base_url at an OpenAI-compatible gateway that "
            "serves /v1/videos, or use soravideo.testing.FakeSora"
        )
    if host.endswith(".openai.azure.com"):
        return (
            "Azure OpenAI retired Sora on 2026-10-15: this endpoint no longer serves "
            "videos. Point base_url at an OpenAI-compatible gateway that serves /v1/videos"
        )
    return ""


def _poll_after(headers: httpx.Headers, cap: float) -> float | None:
    """The ``openai-poll-after-ms`` hint in seconds, at most ``cap``; ``None`` when absent or
    absurd (not a number, infinite, NaN or negative)."""
    raw = headers.get(POLL_AFTER_HEADER)
    if raw is None:
        return None
    try:
        value = float(raw.strip()) / 1000.0
    except ValueError:
        return None
    return min(value, cap) if math.isfinite(value) and value >= 0 else None


def _progress(value: Any) -> int:
    number = finite_number(value)
    return 0 if number is None else int(min(100.0, max(0.0, number)))


def _is_url(reference: str) -> bool:
    return reference.startswith(("https://", "data:"))


def _sniff(content: bytes) -> tuple[str, str]:
    for signature, content_type, suffix in _IMAGE_SIGNATURES:
        if content.startswith(signature):
            return content_type, suffix
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return "application/octet-stream", ""


def _form_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)


IDEMPOTENT_CREATES_VARIABLE = "SORAVIDEO_IDEMPOTENT_CREATES"
_YES = frozenset({"1", "true", "yes", "on"})
_NO = frozenset({"0", "false", "no", "off"})


def _env_flag(name: str) -> bool:
    """A yes-or-no environment variable: unset or blank is no."""
    value = (env_value(name) or "0").lower()
    if value not in _YES | _NO:
        raise ValidationError(
            [FieldError(field=name, message="must be one of 1, true, yes, on, 0, false, no, off")]
        )
    return value in _YES


class SoraTransport(HttpTransport):
    """Speak the ``/v1/videos`` protocol: OpenAI-compatible gateways, Azure, or FakeSora.

    The constructor does no I/O. Every create carries an ``Idempotency-Key``; reads and
    deletes are retried per ``retry_policy``; a create only when it certainly did not
    happen (otherwise [`AmbiguousSubmissionError`][soravideo.AmbiguousSubmissionError]:
    the engine then looks for its video in the list, and sends it again only where the
    server deduplicates, ``idempotent_creates``).

    Args:
        base_url: The API root including its version prefix; requests go to
            ``{base_url}/videos``. Default: ``SORAVIDEO_BASE_URL``, else
            ``OPENAI_BASE_URL``, else ``https://api.openai.com/v1``.
        api_key: The key. Default: ``SORAVIDEO_API_KEY``, else ``OPENAI_API_KEY``; may be
            absent for a keyless gateway or FakeSora.
        auth_style: ``"bearer"`` (``Authorization: Bearer KEY``) or ``"azure"``
            (``api-key: KEY``).
        api_version: Sent as the ``api-version`` query parameter (Azure) when given.
        http_client: An ``httpx.AsyncClient`` to use (e.g. over ``FakeSora``'s transport);
            it is not closed by [`aclose`][soravideo.transports.SoraTransport.aclose].
        timeout: Per-request timeout in seconds. When ``None``: a client's
            ``request_timeout`` once the transport is given to one, else 60 s (an injected
            client's own timeout).
        retry_policy: How requests are retried.
        max_retries: Shorthand overriding ``retry_policy.max_retries``.
        clock: Time for ``Retry-After`` dates and retry waits (simulated time in tests),
            as for [`RunwayTransport`][soravideo.transports.RunwayTransport].
        sleep: Waits between retries (default: ``clock.sleep``, else ``anyio.sleep``).
        on_retry: Called as ``on_retry(attempt, delay, error)`` before each retry.
        prices: USD per second by model name, overriding or adding to the published ones.
        max_list_pages: How many list pages
            [`fetch_many`][soravideo.transports.SoraTransport.fetch_many] reads before it
            asks whether they pay for themselves: past that, it reads on only while the last
            ``max_list_pages`` pages found two of its ids a page or more, and fetches the
            remaining ids one by one.
        allow_unknown_models: Send a model the catalogue does not list as it is (a
            gateway's own model); by default it is refused with the list, a
            [`ValidationError`][soravideo.ValidationError] naming ``model``. A model
            priced with ``prices=`` is listed.
        webhook_secret: The signing secret (``whsec_…``) of the project's webhook
            endpoint, which receives OpenAI's ``video.completed`` and ``video.failed``
            events (Standard Webhooks; a gateway's own events may differ). No URL is sent
            per request: the endpoint is the project's setting. With a secret, the engine
            polls only every ``poll_max_interval`` as a safety net
            ([`soravideo.webhooks`][soravideo.webhooks]). Default: ``OPENAI_WEBHOOK_SECRET``
            (as the official client reads it).
        idempotent_creates: Whether the server answers a create sent again with the same
            ``Idempotency-Key`` with the video the first one made (FakeSora does). The
            ``/v1/videos`` spec says nothing of the header, and the official client sends
            none, so by default a create whose outcome is unknown, and whose video the list
            does not show, is never sent again: its job fails ``ambiguous_submission``
            (retryable) rather than risk a second, billed video.
            Set it only for a gateway known to deduplicate. Default:
            ``SORAVIDEO_IDEMPOTENT_CREATES`` (``1``, ``true``, ``yes`` or ``on``; the
            command line reads it so), else ``False``.

    Raises:
        ValidationError: ``auth_style`` is neither ``"bearer"`` nor ``"azure"``, or
            ``SORAVIDEO_IDEMPOTENT_CREATES`` is set to anything but a yes or a no.

    Examples:
        ```python
        from soravideo.transports import SoraTransport

        # Azure OpenAI: its resource URL, an api-key header; OPENAI_API_KEY otherwise.
        transport = SoraTransport(
            base_url="https://my-resource.openai.azure.com/openai/v1",
            api_key="azure-key",
            auth_style="azure",
        )
        request = sv.CreateVideoRequest(prompt="A red fox in fresh snow", model="sora-2", duration=8)
        print(transport.validate(request), transport.estimate_cost(request))  # [] 0.8
        async with sv.AsyncSoraVideo(transport=transport) as client:
            ...  # client.videos.create_video(request), as with the default transport
        ```
    """

    key_variables = ("SORAVIDEO_API_KEY", "OPENAI_API_KEY")
    _keyed_root = DEFAULT_BASE_URL

    name = "sora"
    _repr_fields = ("auth_style", "api_version")
    _log = log
    _unknown_status_message = "sora: unknown video status %r; treating the job as still processing"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        auth_style: Literal["bearer", "azure"] = "bearer",
        api_version: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        retry_policy: RetryPolicy | None = None,
        max_retries: int | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        on_retry: OnRetry | None = None,
        prices: Mapping[str, float] | None = None,
        max_list_pages: int = 5,
        allow_unknown_models: bool = False,
        webhook_secret: str | None = None,
        idempotent_creates: bool | None = None,
    ) -> None:
        self._webhook_secret = webhook_secret or env_value("OPENAI_WEBHOOK_SECRET")
        if auth_style not in ("bearer", "azure"):
            raise ValidationError(
                [FieldError(field="auth_style", message="must be 'bearer' or 'azure'")]
            )
        resolved_url = (
            base_url or env_value("SORAVIDEO_BASE_URL", "OPENAI_BASE_URL") or DEFAULT_BASE_URL
        )
        self._base_url = resolved_url.rstrip("/")
        # Parsed once: every create and list page goes there ([W2-4]).
        self._videos_url = httpx.URL(f"{self._base_url}/videos")
        self.auth_style = auth_style
        self.api_version = api_version
        self.max_list_pages = max(1, max_list_pages)
        key = (api_key or "").strip() or env_value("SORAVIDEO_API_KEY", "OPENAI_API_KEY")
        headers: dict[str, str] = {}
        if key is not None:
            if auth_style == "azure":
                headers["api-key"] = key
            else:
                headers["Authorization"] = f"Bearer {key}"
        self._setup_http(
            key=key,
            headers=headers,
            params={"api-version": api_version} if api_version else None,
            note=_shutdown_note(self._base_url),
            http_client=http_client,
            timeout=timeout,
            retry_policy=retry_policy,
            max_retries=max_retries,
            clock=clock,
            sleep=sleep,
            on_retry=on_retry,
        )
        models = dict(SORA_MODELS)
        for model, price in (prices or {}).items():
            info = models.get(model, ModelInfo(name=model))
            models[model] = attrs.evolve(info, price_per_second_usd=price)
        self._capabilities = Capabilities(
            models=models,
            default_model=DEFAULT_MODEL,
            can_cancel=True,
            can_list=True,
            can_remix=True,
            result_kind="bytes",
            variants=_VARIANTS,
            allows_unknown_models=allow_unknown_models,
            idempotent_creates=(
                _env_flag(IDEMPOTENT_CREATES_VARIABLE)
                if idempotent_creates is None
                else idempotent_creates
            ),
        )
        self._list_unsupported = False

    @property
    def capabilities(self) -> Capabilities:
        """What ``/v1/videos`` can do: Sora's models, cancel (delete), list, remix, bytes."""
        return self._capabilities

    def _url(self, *parts: str) -> str | httpx.URL:
        # Each part is a remote id or a fixed word ("remix", "content"): checked (no dot
        # segment, separator or control character) and quoted, so it stays one segment.
        if not parts:
            return self._videos_url
        tail = "".join(f"/{remote_id_segment(part, provider=self.name)}" for part in parts)
        return f"{self._base_url}/videos{tail}"

    def _model(self, request: CreateVideoRequest) -> str:
        return request.model or DEFAULT_MODEL

    @staticmethod
    def _size(request: CreateVideoRequest) -> str | None:
        resolved = resolve_size(request)
        return f"{resolved[0]}x{resolved[1]}" if resolved else None

    def validate(self, request: CreateVideoRequest, path: str = "") -> list[FieldError]:
        """Return every problem ``/v1/videos`` would have with ``request``.

        Durations and sizes are checked only for the models this transport knows (a
        gateway's other models are left to the gateway). An ``input_reference`` must be
        raw bytes, an existing file, or an ``https://`` / ``data:`` URL. ``provider_options``
        may not set ``prompt``, ``model``, ``seconds``, ``size`` or ``input_reference``:
        the request's own fields do, and the estimate prices those.

        Args:
            request: The request to check (already checked provider-neutrally).
            path: Prefix for field names (``videos[3]``).

        Returns:
            The problems, empty when there are none.
        """
        prefix = f"{path}." if path else ""
        errors = option_overrides(request.provider_options, _OWN_FIELDS, path)
        info = self._capabilities.models.get(self._model(request))
        if info is not None:
            duration = request.duration
            if (
                info.durations
                and isinstance(duration, int)
                and not isinstance(duration, bool)
                and duration not in info.durations
            ):
                allowed = ", ".join(str(d) for d in info.durations)
                errors.append(
                    FieldError(
                        field=f"{prefix}duration",
                        message=f"{info.name} makes {allowed} second videos, not {duration}",
                    )
                )
            size = self._size(request)
            if info.sizes and size is not None and size not in info.sizes:
                field = "size" if request.size is not None else "resolution"
                errors.append(
                    FieldError(
                        field=f"{prefix}{field}",
                        message=(f"{info.name} cannot make {size}; sizes: {', '.join(info.sizes)}"),
                    )
                )
        reference = request.input_reference
        if isinstance(reference, str) and reference.strip():
            if "://" in reference and not _is_url(reference):
                errors.append(
                    FieldError(
                        field=f"{prefix}input_reference",
                        message="a URL must be https:// (or a data: URL)",
                    )
                )
            elif not _is_url(reference) and not os.path.isfile(reference):
                errors.append(
                    FieldError(field=f"{prefix}input_reference", message="file not found")
                )
        return errors

    def estimate_cost(self, request: CreateVideoRequest) -> float | None:
        """Return the price in USD from the price table, or ``None`` for an unpriced model.

        Args:
            request: What would be generated (no duration means the model's default).

        Returns:
            Seconds × USD per second, or ``None``.
        """
        info = self._capabilities.models.get(self._model(request))
        if info is None or info.price_per_second_usd is None:
            return None
        seconds = request.duration or info.default_duration or 4
        return round(seconds * info.price_per_second_usd, 6)

    def _remote(
        self,
        received: Mapping[str, Any],
        poll_after: float | None,
        *,
        scrubbed: bool = False,
        source: bytes | None = None,
    ) -> RemoteJob:
        # Scrubbed first: the payload ends up in the ledger (raw, error message) and logs.
        # ``source``: the body it was read from (one scan of it when it holds no secret).
        payload: Mapping[str, Any] = (
            received if scrubbed else self._session.scrub(dict(received), source=source)
        )
        word, status = self._status_of(payload, _STATUSES)
        error: JobError | None = None
        raw_error = payload.get("error")
        code = message = None
        # Usually None: tested first, as an ABC's isinstance costs seven times more.
        if raw_error is not None and isinstance(raw_error, Mapping):
            code = raw_error.get("code") or None
            message = raw_error.get("message") or None
        if word == "expired":
            error = JobError(
                code="expired",
                message=str(message or "the video expired at the provider before it was fetched"),
            )
        elif status is JobStatus.FAILED:
            code = str(code or "failed")
            error = JobError(
                code=code,
                message=str(message or "the provider reported the generation failed"),
                retryable=code in _RETRYABLE_FAILURES,
            )
        progress = 100 if status is JobStatus.COMPLETED else _progress(payload.get("progress"))
        return RemoteJob(
            remote_id=str(payload["id"]),
            status=status,
            progress=progress,
            provider_status=word,
            error=error,
            expires_at=unix_time(payload.get("expires_at")),
            poll_after=poll_after,
            created_at=unix_time(payload.get("created_at")),
            raw=payload,
        )

    def _hint(self, response: httpx.Response) -> float | None:
        # Capped as a Retry-After is: a hint of 1e308 ms must not stall the job.
        return _poll_after(response.headers, self.retry_policy.retry_after_cap)

    def _parse(
        self, response: httpx.Response, *, creating: bool = False, asked: str | None = None
    ) -> RemoteJob:
        payload = self._job_payload(response, "a video object", creating=creating, asked=asked)
        return self._remote(payload, self._hint(response), source=response.content)

    async def _create(
        self,
        url: str | httpx.URL,
        idempotency_key: str,
        *,
        json_body: Any = None,
        data: Any = None,
        files: Any = None,
    ) -> RemoteJob:
        response = await self._session.request(
            "POST",
            url,
            kind=RequestKind.CREATE,
            headers={"Idempotency-Key": idempotency_key},
            json_body=json_body,
            data=data,
            files=files,
        )
        return self._parse(response, creating=True)

    async def _reference_file(self, reference: str | bytes) -> tuple[str, bytes, str]:
        if isinstance(reference, bytes):
            content_type, suffix = _sniff(reference)
            return f"input_reference{suffix}", reference, content_type
        content = await anyio.Path(reference).read_bytes()
        guessed = mimetypes.guess_type(reference)[0]
        content_type = guessed or _sniff(content)[0]
        return os.path.basename(reference) or "input_reference", content, content_type

    async def submit(self, request: CreateVideoRequest, *, idempotency_key: str) -> RemoteJob:
        """Create the video: ``POST /videos`` (JSON, or multipart with an image file).

        ``seconds`` goes as a string; ``size`` as ``WIDTHxHEIGHT`` (from ``size``, or
        ``resolution`` + ``aspect_ratio``); ``provider_options`` are added to the body,
        except the keys the request's own fields set (``validate`` refuses those). An ``https://`` or ``data:`` reference
        goes as ``{"image_url": ...}`` in JSON; a path or bytes as a multipart file.

        Args:
            request: What to generate.
            idempotency_key: Sent as ``Idempotency-Key`` on every attempt.

        Returns:
            The new remote job.

        Raises:
            AmbiguousSubmissionError: The create may have happened; reconcile it.
            ProviderError: The provider refused it (or a subclass: auth, rate limit …).
        """
        fields = sendable_options(request.provider_options, _OWN_FIELDS)
        fields["prompt"] = request.prompt
        fields["model"] = self._model(request)
        if request.duration is not None:
            fields["seconds"] = str(request.duration)
        size = self._size(request)
        if size is not None:
            fields["size"] = size
        reference = request.input_reference
        if reference is None:
            return await self._create(self._url(), idempotency_key, json_body=fields)
        if isinstance(reference, str) and _is_url(reference):
            fields["input_reference"] = {"image_url": reference}
            return await self._create(self._url(), idempotency_key, json_body=fields)
        upload = await self._reference_file(reference)
        form = {key: _form_value(value) for key, value in fields.items()}
        return await self._create(
            self._url(), idempotency_key, data=form, files={"input_reference": upload}
        )

    def describes(self, remote: RemoteJob, request: CreateVideoRequest) -> bool:
        """Whether a listed video is what ``submit(request)`` would have made.

        Reconciling an unanswered create adopts a listed video only when it matches: the
        prompt, the model, and the seconds and size the request set (the video object
        echoes each), so a job never adopts a same-prompt video of another length or size.
        """
        echo = remote.raw
        sent: dict[str, Any] = {"prompt": request.prompt, "model": self._model(request)}
        if request.duration is not None:
            sent["seconds"] = str(request.duration)
        size = self._size(request)
        if size is not None:
            sent["size"] = size
        return all(str(echo.get(key)) == value for key, value in sent.items())

    @property
    def webhook_pushes(self) -> bool:
        """Whether the project pushes each video's end (a ``webhook_secret`` is set)."""
        return bool(self._webhook_secret)

    async def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: float
    ) -> WebhookDelivery:
        """Verify a delivery (Standard Webhooks) and read the video it names.

        ``video.completed`` and ``video.failed`` carry the video's id only: the engine
        reads its status once. Any other event (a batch's, a response's) names no video.

        Args:
            headers: The request's headers.
            body: The raw body, exactly as received.
            now: The client's time (Unix seconds).

        Returns:
            The delivery: its ``webhook-id``, the video's id (thin: no state).

        Raises:
            WebhookVerificationError: A bad or missing signature, a stale timestamp, a body
                that is not an event, or no ``webhook_secret``.
        """
        delivery_id, event = verify_standard(
            self.name, self._webhook_secret, headers, body, now=now
        )
        return thin_delivery(self.name, delivery_id, event, VIDEO_EVENTS)

    async def remix(self, remote_id: str, prompt: str, *, idempotency_key: str) -> RemoteJob:
        """Create a new video from a finished one: ``POST /videos/{id}/remix``.

        Args:
            remote_id: The finished video's id.
            prompt: What to change.
            idempotency_key: Sent as ``Idempotency-Key`` on every attempt.

        Returns:
            The new remote job (its own id).

        Raises:
            AmbiguousSubmissionError: The remix may have been created; reconcile it.
            ProviderError: The provider refused it.
        """
        return await self._create(
            self._url(remote_id, "remix"), idempotency_key, json_body={"prompt": prompt}
        )

    async def fetch(self, remote_id: str) -> RemoteJob:
        """Return the provider's current view of one video: ``GET /videos/{id}``.

        Args:
            remote_id: The provider's id.

        Returns:
            The mapped remote job (``poll_after`` from ``openai-poll-after-ms``).

        Raises:
            ProviderError: With ``status_code == 404`` when the provider no longer knows
                the id; a subclass for auth, rate limit, outage and connection failures;
                ``code="remote_id_mismatch"`` when the answer is about another video.
        """
        response = await self._session.request("GET", self._url(remote_id), kind=RequestKind.READ)
        return self._parse(response, asked=remote_id)

    async def _list_page(
        self,
        *,
        limit: int,
        after: str | None,
        retry: bool = True,
        wanted: Set[str] | None = None,
        watched: Container[str] = (),
    ) -> tuple[list[RemoteJob], bool, str | None]:
        # With ``wanted``, only those videos (and the ``watched`` ones) are read into jobs: a
        # refresh pages through every video of the account, and most are not the ones it
        # looks for.
        params: dict[str, Any] = {"limit": limit, "order": "desc"}
        if after:
            params["after"] = after
        response = await self._session.request(
            "GET", self._url(), kind=RequestKind.READ, params=params, retry=retry
        )
        payload = json_or_none(response)
        if not isinstance(payload, Mapping) or not isinstance(payload.get("data"), list):
            self._unexpected_answer(response, payload, "a list of videos", creating=False)
        kept: list[Mapping[str, Any]] = []
        last_listed: str | None = None
        for item in payload["data"]:
            # A type test first: an ABC's isinstance costs seven times more, for every entry.
            if not (type(item) is dict or isinstance(item, Mapping)) or not isinstance(
                item.get("id"), str
            ):
                continue
            if wanted is not None and item["id"] not in wanted and item["id"] not in watched:
                # The ids looked for passed the remote-id rule when they were stored.
                if remote_id_problem(item["id"]) is None:
                    last_listed = item["id"]
                continue
            problem = remote_id_problem(item["id"])
            if problem is not None:
                # Not ours to adopt or refresh: no request can address it.
                log.warning(
                    "sora: GET %s: skipped a listed video whose id %s",
                    response.url.path,
                    problem,
                )
                continue
            kept.append(dict(item))
            last_listed = item["id"]
        # Scrubbed in one look for the page, not one a video: one scan of the body's bytes
        # where they prove that no secret is there.
        hint = self._hint(response)  # one header for the page: read once, not once a video
        scrubbed = self._session.scrub(kept, source=response.content)
        jobs = [self._remote(item, hint, scrubbed=True) for item in scrubbed]
        last_id = payload.get("last_id")
        if remote_id_problem(last_id) is not None:
            last_id = last_listed
        return jobs, bool(payload.get("has_more")), last_id

    async def list_recent(self, *, limit: int = 100) -> list[RemoteJob]:
        """Return the newest videos, newest first (``GET /videos?order=desc``, paged).

        Args:
            limit: How many at most.

        Returns:
            Up to ``limit`` remote jobs.
        """
        found: list[RemoteJob] = []
        after: str | None = None
        while len(found) < limit:
            jobs, has_more, after = await self._list_page(
                limit=min(_LIST_LIMIT, limit - len(found)), after=after
            )
            found.extend(jobs)
            if not has_more or not jobs or after is None:
                break
        return found[:limit]

    async def fetch_many(self, remote_ids: Sequence[str]) -> dict[str, RemoteJob]:
        """Refresh many videos: list pages first, then fetch the rest one by one.

        Pages through ``GET /videos?limit=100&order=desc&after=…`` until every id is found,
        the list ends, or ``max_list_pages`` pages were read; past those, it reads on only
        while the last ``max_list_pages`` pages found two of the ids a page or more (a page
        then costs less than fetching them one by one), so a thousand videos in flight take
        ten pages. Ids still missing are fetched individually. A gateway without a list
        endpoint (404/405/501) is remembered and only fetched individually from then on.

        Args:
            remote_ids: The provider's ids (duplicates are fine).

        Returns:
            The jobs by id; ids the provider does not know (404) are left out.

        Raises:
            ProviderError: Any other failure of a list or fetch request.
        """
        return await self._refresh(remote_ids, ())

    async def fetch_many_seen(
        self, remote_ids: Sequence[str], *, watched: Collection[str]
    ) -> dict[str, RemoteJob]:
        """Refresh many videos as [`fetch_many`][soravideo.transports.SoraTransport.fetch_many]
        does, and return also what its list pages said of the ``watched`` videos.

        The same requests as ``fetch_many(remote_ids)``: a watched video is only read from
        the pages those requests return, never fetched on its own
        ([`SupportsFetchSeen`][soravideo.transports.SupportsFetchSeen]).

        Args:
            remote_ids: The provider's ids asked about (duplicates are fine).
            watched: Ids of other videos whose answers are wanted when a page shows them.

        Returns:
            The jobs by id: each of ``remote_ids`` the provider knows, then each watched
            video a page showed.

        Raises:
            ProviderError: Any failure of a list or fetch request but a 404 of a fetch.
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
        after: str | None = None
        gains: list[int] = []  # how many of the ids each page read found
        while not self._list_unsupported:
            try:
                jobs, has_more, after = await self._list_page(
                    limit=_LIST_LIMIT, after=after, wanted=targets, watched=watched
                )
            except ProviderError as exc:
                if exc.status_code not in (404, 405, 501):
                    raise
                if after is not None:
                    # A later page: its cursor video may have been deleted or expired since
                    # the page before. The list works; this walk ends here, the rest is
                    # fetched one by one, and the next refresh lists again.
                    log.info("sora: a list page after %s answered %s", after, exc.status_code)
                    break
                log.info(
                    "sora: the list endpoint answered %s; fetching one by one", exc.status_code
                )
                self._list_unsupported = True
                break
            before = len(found)
            for job in jobs:
                if job.remote_id in targets:
                    found[job.remote_id] = job
                else:
                    seen[job.remote_id] = job
            gains.append(len(found) - before)
            if len(found) == len(targets) or not has_more or after is None:
                break
            # [W2-4] Past max_list_pages, only while the pages pay for themselves: the last
            # max_list_pages of them found two ids a page or more (so there are at most
            # half as many pages as ids found, and a few more). A window, not the last page
            # alone: with ids spread over the list at a few a page, one page in twenty or
            # so finds one or none, and stopping there fetched the rest one by one.
            window = self.max_list_pages
            if len(gains) >= window and sum(gains[-window:]) < 2 * window:
                break
        missing = [rid for rid in wanted if rid not in found]
        if missing:
            found.update(await self._fetch_each(missing))
        answers = {rid: found[rid] for rid in wanted if rid in found}
        answers.update((rid, job) for rid, job in seen.items() if rid not in answers)
        return answers

    async def cancel(self, remote_id: str) -> None:
        """Cancel a video by deleting it (``DELETE /videos/{id}``); one already gone is fine.

        Args:
            remote_id: The provider's id.

        Raises:
            ProviderError: The provider refused (other than 404).
        """
        await self._request_unless_gone("DELETE", self._url(remote_id), kind=RequestKind.DELETE)

    def open_content(
        self, remote_id: str, variant: str = "video"
    ) -> AbstractAsyncContextManager[HttpContentStream]:
        """Open a streamed download: ``GET /videos/{id}/content?variant=…``.

        Args:
            remote_id: The finished video's id.
            variant: ``"video"`` (``video/mp4``), ``"thumbnail"`` or ``"spritesheet"``.

        Returns:
            An async context manager yielding the stream (``content_type``,
            ``content_length``, ``aiter_bytes()``).

        Raises:
            ValidationError: ``variant`` is not one of the three.
        """
        self._check_variant(variant)
        return self._session.stream(
            "GET", self._url(remote_id, "content"), params={"variant": variant}
        )

    async def ping(self) -> None:
        """Make one cheap authenticated request (``GET /videos?limit=1``), without retrying.

        Raises:
            ProviderError: The provider is unreachable or refuses the key.
        """
        await self._list_page(limit=1, after=None, retry=False)
