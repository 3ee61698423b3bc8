"""fal's queue API (``queue.fal.run``) over httpx: Veo 3.1, Kling, Seedance, MiniMax and Pika.

fal serves many providers' video models behind one queue protocol. Wire facts follow the
official ``fal-client`` package (version 1.0.3, read on 2026-12-06; this module does not
depend on it) and fal's documentation; the facts this module could not verify are listed
at the end of this docstring.

Mapping, in brief:

- requests: ``POST {queue}/{model id}`` with the model's own input object as the body
  (``prompt``, ``duration`` as the model spells it: ``"8s"`` on Veo, ``"5"`` on Kling,
  Seedance and MiniMax, ``5`` on Pika; ``aspect_ratio``; ``resolution``); an image picks
  the model's image-to-video endpoint and goes in ``image_url`` (an ``https://`` URL as
  given, a file or bytes as a ``data:`` URI); ``provider_options`` are added as given
  (``generate_audio``, ``seed``, ``negative_prompt`` …). Every create carries
  ``x-fal-no-retry: 1`` (fal does not re-run it on its side) and
  ``X-Fal-Object-Lifecycle-Preference`` (how long fal keeps the video on its CDN).
- remote ids: fal addresses a request by the first two segments of the model id and the
  request id (``/{owner}/{alias}/requests/{id}``), so the remote id is
  ``{owner}:{alias}:{request id}`` (`fal_remote_id`): enough to read, cancel and
  download a job from any process, after any crash. The URLs in fal's answers are never
  followed: they are rebuilt on the configured origin, so the key goes nowhere else.
- statuses: ``IN_QUEUE`` (with ``queue_position``, the requests ahead of it) and
  ``IN_PROGRESS`` → processing, the word kept in ``provider_status`` and the position in
  ``RemoteJob.queue_position``; ``COMPLETED`` → the result is read once
  (``GET …/requests/{id}``): a video URL → completed; an error answer (or an ``error`` on
  the status) → failed with fal's ``error_type`` as the code, or cancelled when the error
  says the request was cancelled.
- results are URLs on fal's CDN that anyone holding them can read: `open_content`
  downloads them without the key, and reads the result again for a fresh URL when one
  answers 403, 404 or 410. fal keeps a result readable for about an hour after it
  completes (the video itself for ``object_ttl``), so a job's URL is read at once.
- cost: fal reports none; `FalTransport.estimate_cost` prices the body that is sent
  (model, duration, resolution, audio) from `FAL_MODELS`.
- fal has no list endpoint and no idempotency keys, so a create whose answer is lost
  cannot be found again: see [`FalTransport`][soravideo.transports.FalTransport].

Unverified (no live call was made; the fake implements the choices below):

- the HTTP status of cancel answers (202 ``CANCELLATION_REQUESTED``, 400
  ``ALREADY_COMPLETED``, 404 ``NOT_FOUND``, as fal-compatible clones document) and when
  fal answers ``OK``;
- what a cancelled request shows afterwards (gone: 404; or ``COMPLETED`` with an error,
  taken here as cancelled when its type or detail says so), and the ``error`` /
  ``error_type`` values fal puts on a failed request's status;
- what ``GET …/requests/{id}`` answers before completion, and fal's 401/403 body shape;
- whether `FalTransport.ping` (a status read of a request that does not exist)
  checks the key before answering 404 (fal serves public models without a key);
- ``queue_position`` beyond "requests ahead of this one" (0 = next): whether it counts
  other accounts' requests;
- the largest ``data:`` URI fal accepts, and whether every model accepts one;
- the prices marked ``None`` in `FAL_MODELS` (Veo 3.1 Fast, Seedance 1 Pro,
  Seedance 2.0 at 480p, Hailuo 02 at 512P), and that a model's image-to-video endpoint
  costs what its text-to-video endpoint costs (read for Kling and Veo only) and a 10 s
  Pika video twice a 5 s one.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal
from urllib.parse import quote

import attrs
import httpx

from .._core.clock import Clock, utc_from_timestamp
from .._core.errors import FieldError, ProviderError, ValidationError, WebhookVerificationError
from .._core.models import CreateVideoRequest, JobError, JobStatus
from .._core.retry import OnRetry, RequestKind, RetryPolicy
from .._core.validation import ASPECT_RATIOS, option_overrides, resolve_size, sendable_options
from ._fal_catalogue import (
    FAL_MODELS,
    PRICES_READ_ON,
    FalModel,
    app_of,
    fal_remote_id,
    price_of_body,
    split_remote_id,
)
from ._http import HttpContentStream, UrlResultTransport, describe_error_body
from ._shared import (
    FieldProblems,
    checked_webhook_url,
    data_uri,
    data_uri_problem,
    env_value,
    image_file_type,
    is_url_reference,
    json_or_none,
    read_image,
    shape_of_size,
    shape_sizes,
    sniff_image,
    spans,
)
from ._webhooks import WebhookDelivery, ed25519_keys, verify_fal
from .base import Capabilities, ModelInfo, RemoteJob

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "FAL_MODELS",
    "PRICES_READ_ON",
    "FalModel",
    "FalTransport",
    "app_of",
    "fal_remote_id",
    "price_of_body",
    "split_remote_id",
]

log = logging.getLogger("soravideo.transports.fal")

DEFAULT_BASE_URL = "https://queue.fal.run"
DEFAULT_MODEL = "fal-ai/kling-video/v2.5-turbo/pro/text-to-video"
OBJECT_TTL = 7 * 24 * 3600.0
"""Seconds fal is asked to keep each video on its CDN (its documented default is at least
7 days; ``X-Fal-Object-Lifecycle-Preference`` makes it explicit)."""
MIN_POLL_INTERVAL = 2.0
FAL_JWKS_URL = "https://rest.fal.ai/.well-known/jwks.json"
"""Where fal publishes its webhook signing keys (``webhook_jwks_url``'s default)."""
JWKS_TTL = 3600.0
JWKS_MIN_REFRESH = 60.0
# Words fal uses for a request that was cancelled, in error types and details.
_CANCELLED_WORDS = ("client_cancelled", "cancelled", "canceled")
# Error types that are fal's own trouble (worth sending the job again).
_TRANSIENT_TYPES = frozenset(
    {
        "request_timeout",
        "startup_timeout",
        "runner_scheduling_failure",
        "runner_connection_timeout",
        "runner_disconnected",
        "runner_connection_refused",
        "runner_connection_error",
        "runner_incomplete_response",
        "runner_server_error",
        "internal_error",
    }
)
_STATUSES: Mapping[str, JobStatus] = {
    "IN_QUEUE": JobStatus.PROCESSING,
    "IN_PROGRESS": JobStatus.PROCESSING,
    "COMPLETED": JobStatus.COMPLETED,
}


# ---------------------------------------------------------------------------- images


def _reference_problem(reference: str | bytes) -> str | None:
    """Return why ``reference`` cannot become fal's ``image_url``, or ``None``."""
    if isinstance(reference, bytes):
        return None if sniff_image(reference) else "not a PNG, JPEG or WebP image"
    if reference.startswith("data:"):
        return data_uri_problem(reference)
    if "://" in reference:
        if not reference.startswith("https://"):
            return "fal fetches images over https:// (or takes a file, bytes or a data: URI)"
        try:
            host = httpx.URL(reference).host
        except httpx.InvalidURL:
            return "not a valid URL"
        return None if host else "not a valid URL"
    if not os.path.isfile(reference):
        return "file not found"
    try:
        content_type = image_file_type(reference)
    except OSError as exc:
        return f"cannot read the file ({exc.strerror or exc})"
    return None if content_type else "not a PNG, JPEG or WebP image"


# ---------------------------------------------------------------------------- errors


def _from_fal_itself(response: httpx.Response) -> bool:
    """Whether a 5xx answer to a create may have come after fal took the request: unless it
    is a page of the nginx ingress in front of fal that names no request. The official
    client retries exactly those (``fal_client.client._is_ingress_error``: no
    ``x-fal-request-id``, and ``nginx`` in the body); fal has neither idempotency keys nor a
    list, so sending any other again could make a second video."""
    if response.headers.get("x-fal-request-id"):
        return True
    return b"nginx" not in response.content


def _describe_error(body: Any) -> tuple[str | None, str | None]:
    """Return ``(message, code)`` from a fal error body.

    Understands ``{"detail": "…", "error_type": "…"}`` (request errors) and
    ``{"detail": [{"loc", "msg", "type"}, …]}`` (model errors, e.g. validation or content
    policy); anything else as the common shapes.
    """
    if isinstance(body, Mapping):
        detail = body.get("detail")
        code = body.get("error_type")
        if isinstance(detail, list):
            parts = []
            for item in detail[:10]:
                if not isinstance(item, Mapping):
                    continue
                loc = item.get("loc")
                where = (
                    ".".join(str(p) for p in loc if p != "body") if isinstance(loc, list) else ""
                )
                text = str(item.get("msg") or "invalid")
                parts.append(f"{where}: {text}" if where else text)
                if code is None and item.get("type"):
                    code = item.get("type")
            return ("; ".join(parts) or None), (str(code) if code else None)
        if isinstance(detail, str) and detail:
            return detail, (str(code) if code else None)
    return describe_error_body(body)


def _cancelled(code: str | None, message: str | None) -> bool:
    text = f"{code or ''} {message or ''}".lower()
    return any(word in text for word in _CANCELLED_WORDS)


class FalTransport(UrlResultTransport):
    """Speak fal's queue API: submit, status, result, cancel; URL results on fal's CDN.

    The constructor does no I/O. Reads and cancels are retried per ``retry_policy``; a
    create only when it certainly did not happen (a refused connection, or an answer that
    says it was not carried out); otherwise it raises
    [`AmbiguousSubmissionError`][soravideo.AmbiguousSubmissionError] and is never sent again. fal's own client
    re-sends a create after a timeout or a dropped connection (a second billed video);
    this transport does not, and asks fal not to retry on its side either
    (``x-fal-no-retry``).

    fal honours no idempotency key and cannot list requests, so an ambiguous create cannot
    be reconciled by asking fal: the engine fails such a job with
    ``ambiguous_submission`` (check fal's dashboard before creating it again) instead of
    risking a second video. Within one transport, a repeated `submit` with the same
    ``idempotency_key`` returns the request the first one made. With ``webhook_url``, fal
    also POSTs every finished request (its request id included) to your endpoint, the one
    place a lost create's id can still be learned.

    Args:
        base_url: The queue root. Default: ``https://`` + ``FAL_QUEUE_RUN_HOST`` (as
            ``fal-client`` reads it), else ``https://queue.fal.run``.
        api_key: The key, sent as ``Authorization: Key …``. Default: ``FAL_KEY``, else
            ``FAL_KEY_ID:FAL_KEY_SECRET``.
        http_client: An ``httpx.AsyncClient`` to use (e.g. over ``FakeFal``'s transport);
            it is not closed by `aclose`.
        timeout: Per-request timeout in seconds. When ``None``: a client's
            ``request_timeout`` once the transport is given to one, else 60 s.
        retry_policy: How requests are retried.
        max_retries: Shorthand overriding ``retry_policy.max_retries``.
        clock: Time for ``expires_at`` and retry waits (simulated time in tests).
        sleep: Waits between retries (default: ``clock.sleep``, else ``anyio.sleep``).
        on_retry: Called as ``on_retry(attempt, delay, error)`` before each retry.
        default_model: The endpoint used when a request names none.
        prices: USD per second by endpoint id, overriding or adding to
            `FAL_MODELS` (your own figures, or an endpoint it does not price).
        object_ttl: Seconds fal is asked to keep each video on its CDN
            (``X-Fal-Object-Lifecycle-Preference``); ``None`` sends no preference.
        server_retries: Let fal retry a failed request on its side (by default
            ``x-fal-no-retry: 1`` is sent with every create).
        webhook_url: Sent as ``fal_webhook`` with every create: fal POSTs each finished
            request there (its result included), and the engine then polls only every
            ``poll_max_interval`` as a safety net ([`soravideo.webhooks`][soravideo.webhooks]).
            An absolute ``http(s)`` URL, else a
            [`ValidationError`][soravideo.ValidationError] naming ``webhook_url``.
        webhook_jwks_url: Where fal publishes the ED25519 public keys its deliveries are
            signed with (a JWKS document; read without the key, kept an hour, read again
            when a signature matches none of them).
        min_poll_interval: The shortest wait between two status reads of one request (fal
            publishes none; its own client polls every 0.1 s).
        allow_unknown_models: Send a model the catalogue does not list as it is (the
            default: this provider's models are open-ended; ``False`` refuses them
            with a [`ValidationError`][soravideo.ValidationError] naming ``model``).

    Examples:
        ```python
        from soravideo.transports import FalTransport

        transport = FalTransport(api_key="fal-key", default_model="fal-ai/veo3.1/fast")  # default: FAL_KEY
        request = sv.CreateVideoRequest(prompt="A lantern festival at night", duration=8)
        print(transport.capabilities.default_model, transport.validate(request))  # fal-ai/veo3.1/fast []
        async with sv.AsyncSoraVideo(transport=transport) as client:
            ...
        ```
    """

    key_variables = ("FAL_KEY", "FAL_KEY_ID + FAL_KEY_SECRET")
    _keyed_root = DEFAULT_BASE_URL

    name = "fal"
    _log = log
    _unknown_status_message = "fal: unknown request status %r; treating the request as processing"
    _label = "fal"
    _job_word = "request"
    _output_word = "video"
    _refresh_words = "reading the result again"

    # No list endpoint: refreshes are single reads, kept few at once.
    fetch_concurrency = 4

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
        object_ttl: float | None = OBJECT_TTL,
        server_retries: bool = False,
        webhook_url: str | None = None,
        webhook_jwks_url: str = FAL_JWKS_URL,
        min_poll_interval: float = MIN_POLL_INTERVAL,
        allow_unknown_models: bool = True,
    ) -> None:
        host = env_value("FAL_QUEUE_RUN_HOST")
        default = f"https://{host}" if host else DEFAULT_BASE_URL
        self._base_url = (base_url or default).rstrip("/")
        app_of(default_model)  # a default that cannot be addressed fails here
        self.default_model = default_model
        self.object_ttl = object_ttl
        self.server_retries = server_retries
        self.webhook_url = checked_webhook_url(webhook_url)
        self.webhook_jwks_url = webhook_jwks_url
        self._jwks: tuple[float, list[bytes]] | None = None
        # The apps this transport sent requests to: a delivery names its request only.
        self._apps: dict[str, None] = {}
        key = (api_key or "").strip() or env_value("FAL_KEY")
        if key is None:
            key_id, secret = env_value("FAL_KEY_ID"), env_value("FAL_KEY_SECRET")
            key = f"{key_id}:{secret}" if key_id and secret else None
        self._setup_http(
            key=key,
            headers={"Authorization": f"Key {key}"} if key is not None else {},
            describe=_describe_error,
            acted_on=_from_fal_itself,
            code_header="x-fal-error-type",  # where the body names none (fal-client reads it)
            http_client=http_client,
            timeout=timeout,
            retry_policy=retry_policy,
            max_retries=max_retries,
            clock=clock,
            sleep=sleep,
            on_retry=on_retry,
        )
        self._specs = FAL_MODELS
        self._prices = dict(prices or {})
        self._capabilities = Capabilities(
            models={name: self._model_info(spec) for name, spec in self._specs.items()},
            default_model=default_model,
            result_kind="url",
            min_poll_interval=min_poll_interval,
            allows_unknown_models=allow_unknown_models,
            idempotent_creates=False,
            # Its cancel says when a request had already ended and never destroys a
            # finished video: the engine asks it before writing a cancel.
            cancel_reports_ended=True,
        )

    @property
    def capabilities(self) -> Capabilities:
        """What fal can do: its models, cancel, URL results, a 2 s minimum poll interval."""
        return self._capabilities

    def _model_info(self, spec: FalModel) -> ModelInfo:
        ratios = [ratio for ratio in spec.aspect_ratios if ratio in ASPECT_RATIOS]
        body: dict[str, Any] = {}
        if spec.default_duration is not None:
            body["duration"] = spec.default_duration
        price = price_of_body(spec, body, per_second=self._prices.get(spec.name))
        seconds = spec.default_duration
        return ModelInfo(
            name=spec.name,
            durations=spec.durations or None,
            sizes=shape_sizes(spec.resolutions, ratios) or None,
            default_duration=seconds,
            price_per_second_usd=(
                None if price is None or not seconds else round(price / seconds, 6)
            ),
            accepts_image=spec.needs_image or spec.image_endpoint is not None,
        )

    # ------------------------------------------------------------------ addressing

    def _request_url(self, app: str, request_id: str, suffix: str = "") -> str:
        path = "/".join(quote(part, safe="") for part in app.split("/"))
        return f"{self._base_url}/{path}/requests/{quote(request_id, safe='')}{suffix}"

    def _address(self, remote_id: str) -> tuple[str, str]:
        """Return ``(app, request_id)``; an id with no app is a request of the default model.

        Raises:
            ProviderError: ``code="invalid_remote_id"``, before any request is made.
        """
        try:
            if ":" not in remote_id:
                fal_remote_id(app_of(self.default_model), remote_id)
                return app_of(self.default_model), remote_id
            return split_remote_id(remote_id)
        except (ValueError, TypeError) as exc:
            raise ProviderError(
                f"fal: remote id {ascii(remote_id)[:80]} is not owner:alias:request_id "
                f"({exc}); it is never used in a request",
                provider=self.name,
                code="invalid_remote_id",
            ) from None

    # ------------------------------------------------------------------ the request

    def _endpoint(self, request: CreateVideoRequest) -> tuple[str, FalModel | None]:
        """Return the endpoint the request goes to (an image picks image-to-video)."""
        model = self._model(request)
        spec = self._specs.get(model)
        if spec is not None and request.input_reference is not None and spec.image_endpoint:
            image_spec = self._specs.get(spec.image_endpoint)
            return spec.image_endpoint, image_spec
        return model, spec

    @staticmethod
    def _reserved(request: CreateVideoRequest, spec: FalModel | None) -> dict[str, str]:
        """Body keys the request's own fields set (refused in ``provider_options``)."""
        reserved = {"prompt": "prompt"}
        if spec is None:
            if request.duration is not None:
                reserved["duration"] = "duration"
            if request.aspect_ratio is not None or request.size is not None:
                reserved["aspect_ratio"] = "aspect_ratio (or size)"
            if request.resolution is not None or request.size is not None:
                reserved["resolution"] = "resolution (or size)"
            if request.input_reference is not None:
                reserved["image_url"] = "input_reference"
            return reserved
        if spec.durations or spec.default_duration is not None:
            reserved["duration"] = "duration"
        if spec.aspect_ratios:
            reserved["aspect_ratio"] = "aspect_ratio (or size)"
        if spec.resolutions:
            reserved["resolution"] = "resolution (or size)"
        if spec.image_field is not None:
            reserved[spec.image_field] = "input_reference"
        return reserved

    def _shape(
        self, request: CreateVideoRequest, spec: FalModel | None
    ) -> tuple[dict[str, str], list[FieldError]]:
        """Return the ``aspect_ratio`` / ``resolution`` to send, and what is wrong."""
        out: dict[str, str] = {}
        errors: list[FieldError] = []
        resolution = request.resolution.lower() if request.resolution else None
        if resolution == "2160p":
            resolution = "4k"
        ratio = request.aspect_ratio
        if request.size is not None:
            if spec is None or not spec.aspect_ratios or not spec.resolutions:
                name = spec.name if spec is not None else self._model(request)
                errors.append(
                    FieldError(
                        field="size",
                        message=f"{name} takes no pixel size: give resolution and aspect_ratio",
                    )
                )
                return out, errors
            ratios = [ratio for ratio in spec.aspect_ratios if ratio in ASPECT_RATIOS]
            found = shape_of_size(resolve_size(request), spec.resolutions, ratios)
            if found is not None:
                return {"resolution": found[0], "aspect_ratio": found[1]}, errors
            shown = ", ".join(self._model_info(spec).sizes or ())
            errors.append(
                FieldError(
                    field="size", message=f"{spec.name} cannot make {request.size}; sizes: {shown}"
                )
            )
            return out, errors
        if spec is None:
            if resolution is not None:
                out["resolution"] = resolution
            if ratio is not None:
                out["aspect_ratio"] = ratio
            return out, errors
        if resolution is not None:
            if resolution in spec.resolutions:
                out["resolution"] = resolution
            elif spec.extra_resolutions:
                shown = ", ".join(spec.extra_resolutions)
                errors.append(
                    FieldError(
                        field="resolution",
                        message=f"{spec.name} takes {shown}: set provider_options['resolution']",
                    )
                )
            elif not spec.resolutions:
                errors.append(
                    FieldError(field="resolution", message=f"{spec.name} takes no resolution")
                )
            else:
                errors.append(
                    FieldError(
                        field="resolution",
                        message=f"{spec.name} makes {', '.join(spec.resolutions)}, not {resolution}",
                    )
                )
        if ratio is not None:
            if ratio in spec.aspect_ratios:
                out["aspect_ratio"] = ratio
            else:
                why = (
                    "takes no aspect ratio (the image sets the shape)"
                    if spec.needs_image and not spec.aspect_ratios
                    else f"makes {', '.join(spec.aspect_ratios)}, not {ratio}"
                    if spec.aspect_ratios
                    else "takes no aspect ratio"
                )
                errors.append(FieldError(field="aspect_ratio", message=f"{spec.name} {why}"))
        return out, errors

    def validate(self, request: CreateVideoRequest, path: str = "") -> list[FieldError]:
        """Return every problem fal would have with ``request``, naming each field.

        For the endpoints in `FAL_MODELS`: the duration, the shape (``size``, or
        ``resolution`` and ``aspect_ratio``), whether the model takes an image (and needs
        one), and the prompt's length. For every endpoint: the endpoint id, the image (a
        PNG, JPEG or WebP file or bytes, a ``data:image/…`` URI, or an ``https://`` URL),
        and ``provider_options`` that set what the request's own fields set.

        Args:
            request: The request to check (already checked provider-neutrally).
            path: Prefix for field names (``videos[3]``).

        Returns:
            The problems, empty when there are none.
        """
        errors = FieldProblems(path)
        bad = errors.add

        model = self._model(request)
        try:
            app_of(model)
        except ValueError as exc:
            bad("model", str(exc))
        _, spec = self._endpoint(request)
        errors.extend(
            option_overrides(request.provider_options, self._reserved(request, spec), path)
        )
        reference = request.input_reference
        if reference is not None:
            problem = _reference_problem(reference)
            if problem is not None:
                bad("input_reference", problem)
        _, problems = self._shape(request, spec)
        errors.add_all(problems)
        if spec is None:
            return errors
        if reference is None and spec.needs_image:
            bad("input_reference", f"{spec.name} makes videos from an image only: give one")
        elif reference is not None and not spec.needs_image:
            bad("input_reference", f"{spec.name} makes videos from text only")
        duration = request.duration
        if duration is not None and not isinstance(duration, bool):
            if not spec.durations:
                bad("duration", f"{spec.name} makes videos of one length: give no duration")
            elif duration not in spec.durations:
                bad(
                    "duration",
                    f"{spec.name} makes {spans(spec.durations)} second videos, not {duration}",
                )
        if spec.max_prompt is not None and len(request.prompt) > spec.max_prompt:
            bad(
                "prompt",
                f"{spec.name} takes at most {spec.max_prompt} characters, "
                f"not {len(request.prompt)}",
            )
        return errors

    def _plain_body(
        self, request: CreateVideoRequest
    ) -> tuple[str, FalModel | None, dict[str, Any]]:
        """Return the endpoint, its spec and the body without the image.

        Raises:
            ValidationError: The shape cannot be sent to this endpoint.
        """
        endpoint, spec = self._endpoint(request)
        body = sendable_options(request.provider_options, self._reserved(request, spec))
        body["prompt"] = request.prompt
        shape, problems = self._shape(request, spec)
        if problems:
            raise ValidationError(problems)
        body.update(shape)
        seconds = request.duration
        if seconds is None and spec is not None and spec.durations:
            seconds = spec.default_duration
        if seconds is not None:
            if spec is None:
                body["duration"] = str(seconds)
            elif spec.durations:
                body["duration"] = spec.render_duration(seconds)
        return endpoint, spec, body

    async def _image(self, reference: str | bytes) -> str:
        if is_url_reference(reference):
            return reference
        return data_uri(*await read_image(reference))

    # ------------------------------------------------------------------ cost

    def estimate_cost(self, request: CreateVideoRequest) -> float | None:
        """Return the price in USD of the body `submit` would send, or ``None``.

        The endpoint (an image picks image-to-video), the duration (the model's default
        when the request names none, which is then sent), the resolution and
        ``generate_audio`` (``provider_options``, else the model's default) decide it.

        Args:
            request: What would be generated.

        Returns:
            The estimate in USD, or ``None`` for an endpoint with no known price.
        """
        try:
            endpoint, spec, body = self._plain_body(request)
        except ValidationError:
            return None
        return price_of_body(spec, body, per_second=self._prices.get(endpoint))

    # ------------------------------------------------------------------ mapping

    def _queued(self, remote_id: str, payload: Mapping[str, Any], word: str) -> RemoteJob:
        position = payload.get("queue_position")
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            position = None
        return RemoteJob(
            remote_id=remote_id,
            status=JobStatus.PROCESSING,
            provider_status=word,
            queue_position=position if word == "IN_QUEUE" else None,
            raw=payload,
        )

    def _failed(
        self,
        remote_id: str,
        payload: Mapping[str, Any],
        *,
        code: str | None,
        message: str | None,
        retryable: bool,
    ) -> RemoteJob:
        if _cancelled(code, message):
            return RemoteJob(
                remote_id=remote_id,
                status=JobStatus.CANCELLED,
                provider_status="COMPLETED",
                raw=payload,
            )
        return RemoteJob(
            remote_id=remote_id,
            status=JobStatus.FAILED,
            provider_status="COMPLETED",
            error=JobError(
                code=code or "failed",
                message=message or "fal reported the request failed",
                retryable=retryable,
            ),
            raw=payload,
        )

    async def _completed(self, remote_id: str, payload: Mapping[str, Any]) -> RemoteJob:
        """Map a ``COMPLETED`` request: read its result once for the video URL or error."""
        error, error_type = payload.get("error"), payload.get("error_type")
        if error or error_type:
            kind = str(error_type) if error_type else None
            return self._failed(
                remote_id,
                payload,
                code=kind,
                message=str(error) if error else None,
                retryable=kind in _TRANSIENT_TYPES,
            )
        url = self._outputs.get(remote_id)
        if url is None:
            app, request_id = self._address(remote_id)
            try:
                response = await self._session.request(
                    "GET", self._request_url(app, request_id), kind=RequestKind.READ
                )
            except ProviderError as exc:
                outcome = self._stored_error(exc)
                if outcome is None:
                    raise
                if exc.status_code in (404, 410):
                    return self._failed(
                        remote_id,
                        payload,
                        code="result_expired",
                        message=(
                            "fal no longer holds this request's result (it keeps one about "
                            "an hour after completion): the video was made but its URL "
                            "cannot be read"
                        ),
                        retryable=False,
                    )
                code, message, retryable = outcome
                return self._failed(
                    remote_id, payload, code=code, message=message, retryable=retryable
                )
            result = json_or_none(response)
            video = result.get("video") if isinstance(result, Mapping) else None
            found = video.get("url") if isinstance(video, Mapping) else None
            if not isinstance(found, str) or not found.startswith(("https://", "http://")):
                return self._failed(
                    remote_id,
                    payload,
                    code="no_output",
                    message="fal reported the request completed but its result has no video URL",
                    retryable=True,
                )
            url = found
            self._outputs.remember(remote_id, url)
        ttl = self.object_ttl if self.object_ttl is not None else OBJECT_TTL
        return RemoteJob(
            remote_id=remote_id,
            status=JobStatus.COMPLETED,
            progress=100,
            provider_status="COMPLETED",
            urls={"video": url},
            expires_at=utc_from_timestamp(self._now() + ttl),
            raw=payload,
        )

    @staticmethod
    def _stored_error(exc: ProviderError) -> tuple[str | None, str | None, bool] | None:
        """Return ``(code, message, retryable)`` when ``exc`` is the request's own outcome.

        fal answers a failed request's result with the error the model returned: a fal
        body (``detail``); a 5xx outcome also names its ``error_type`` (a runner's
        failure). Any other answer (a gateway's page, a bare 5xx) is trouble reaching the
        outcome, not the outcome, and ``None`` is returned: a completed video is never
        failed for a hiccup of the read.
        """
        status = exc.status_code
        body = exc.body
        if status in (404, 410):
            return None, None, False
        if status is None or not isinstance(body, Mapping) or "detail" not in body:
            return None
        message, code = _describe_error(body)
        code = code or exc.code  # the body's, else x-fal-error-type's
        if status >= 500 and not code:
            return None
        retryable = (code in _TRANSIENT_TYPES) if code else False
        return code or f"http_{status}", message, retryable

    def _status_payload(self, remote_id: str, received: Any) -> Mapping[str, Any]:
        if not isinstance(received, Mapping):
            raise ProviderError(
                f"fal: the status of {remote_id} is not a JSON object",
                provider=self.name,
            )
        payload: Mapping[str, Any] = self._session.scrub(dict(received))
        return payload

    # ------------------------------------------------------------------ requests

    async def submit(self, request: CreateVideoRequest, *, idempotency_key: str) -> RemoteJob:
        """Create a request: ``POST {queue}/{endpoint id}`` with the model's input as the body.

        A path or bytes ``input_reference`` is sent as a ``data:`` URI; a URL as given. An
        image picks the model's image-to-video endpoint. Unless the request names it, the
        model's default ``duration`` is sent. ``provider_options`` are added to the body
        unchanged, except the keys the request's own fields set (``validate`` refuses
        those).

        Args:
            request: What to generate.
            idempotency_key: Remembered by this transport: a repeat returns the same
                request. fal itself honours no key, so none is sent.

        Returns:
            The new request (processing; ``queue_position`` as fal answered it).

        Raises:
            AmbiguousSubmissionError: The create may have happened; it is not re-sent.
            ValidationError: The request cannot be sent (its shape, or an unreadable image).
            ProviderError: fal refused it (or a subclass: auth, rate limit …), or answered
                with an id that cannot be used (``code="invalid_remote_id"``).
        """

        async def create() -> RemoteJob:
            endpoint, spec, body = self._plain_body(request)
            if request.input_reference is not None:
                body[(spec.image_field if spec else None) or "image_url"] = await self._image(
                    request.input_reference
                )
            headers = {} if self.server_retries else {"x-fal-no-retry": "1"}
            if self.object_ttl is not None:
                headers["X-Fal-Object-Lifecycle-Preference"] = json.dumps(
                    {"expiration_duration_seconds": math.ceil(self.object_ttl)}
                )
            params = {"fal_webhook": self.webhook_url} if self.webhook_url else None
            path = "/".join(quote(part, safe="") for part in endpoint.strip("/").split("/"))
            response = await self._session.request(
                "POST",
                f"{self._base_url}/{path}",
                kind=RequestKind.CREATE,
                json_body=body,
                headers=headers,
                params=params,
            )
            payload = json_or_none(response)
            request_id = payload.get("request_id") if isinstance(payload, Mapping) else None
            if not isinstance(request_id, str):
                self._unexpected_answer(response, payload, "a queued request", creating=True)
            app = app_of(endpoint)
            self._apps[app] = None
            try:
                remote_id = fal_remote_id(app, request_id)
            except ValueError as exc:
                raise ProviderError(
                    f"fal: the create answer: {exc}; fal may have made a video under it that "
                    "soravideo cannot address: check fal's dashboard before creating this video "
                    "again",
                    status_code=response.status_code,
                    provider=self.name,
                    code="invalid_remote_id",
                ) from None
            assert isinstance(payload, Mapping)
            status_url = payload.get("status_url")
            expected = self._request_url(app, request_id, "/status")
            if (
                isinstance(status_url, str)
                and httpx.URL(status_url).path != httpx.URL(expected).path
            ):
                log.warning(
                    "fal: the create answer's status URL is not where requests of %s live; "
                    "reading the request at %s",
                    app,
                    httpx.URL(expected).path,
                )
            remote = self._queued(remote_id, self._session.scrub(dict(payload)), "IN_QUEUE")
            return attrs.evolve(remote, created_at=utc_from_timestamp(self._now()))

        return await self._create_once(idempotency_key, create)

    @property
    def webhook_pushes(self) -> bool:
        """Whether each create asks fal to push the request's end (a ``webhook_url``)."""
        return bool(self.webhook_url)

    async def _webhook_keys(self, *, fresh: bool = False) -> list[bytes]:
        now = self._now()
        if self._jwks is not None and not fresh and now - self._jwks[0] < JWKS_TTL:
            return self._jwks[1]
        if self._jwks is not None and fresh and now - self._jwks[0] < JWKS_MIN_REFRESH:
            return self._jwks[1]
        try:
            async with self._session.stream(
                "GET", self.webhook_jwks_url, authorized=False
            ) as stream:
                chunks = [chunk async for chunk in stream.aiter_bytes()]
            keys = ed25519_keys(json.loads(b"".join(chunks)))
        except (ProviderError, ValueError) as exc:
            if self._jwks is not None:
                return self._jwks[1]
            raise WebhookVerificationError(
                f"fal: its public keys could not be read from {self.webhook_jwks_url} ({exc})",
                provider=self.name,
                reason="keys",
            ) from None
        self._jwks = (now, keys)
        return keys

    def _candidate_ids(self, request_id: str) -> tuple[str, ...]:
        apps = [app_of(self.default_model), *self._apps]
        apps += [app_of(endpoint) for endpoint in self._specs]
        found: dict[str, None] = {}
        for app in apps:
            try:
                found[fal_remote_id(app, request_id)] = None
            except ValueError:
                continue
        return tuple(found)

    async def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: float
    ) -> WebhookDelivery:
        """Verify a delivery (fal's ED25519 signature) and read the outcome it carries.

        fal names the request only, not its endpoint: the delivery lists the remote ids
        the request has under the default model's app, the apps this transport sent
        to and those of the catalogue (a request to another endpoint, received by another
        process, is acknowledged and left to polling).

        Args:
            headers: The request's headers.
            body: The raw body, exactly as received.
            now: The client's time (Unix seconds).

        Returns:
            The delivery: the request id (a request ends, and is delivered, once), the
            request's end (completed with its video URL, or failed).

        Raises:
            WebhookVerificationError: A bad or missing signature, a stale timestamp, a body
                that is not fal's, or fal's keys unreadable.
        """
        keys = await self._webhook_keys()
        try:
            request_id, payload = verify_fal(keys, headers, body, now=now)
        except WebhookVerificationError as exc:
            if exc.reason != "signature":
                raise
            # A key fal rotated in since they were read: read them again (at most a minute).
            keys = await self._webhook_keys(fresh=True)
            request_id, payload = verify_fal(keys, headers, body, now=now)
        if payload.get("request_id") not in (None, request_id):
            raise WebhookVerificationError(
                "fal: the delivery's body is about another request than its signed headers",
                provider=self.name,
                reason="body",
            )
        candidates = self._candidate_ids(request_id)
        word = str(payload.get("status") or "").upper()
        first = candidates[0] if candidates else request_id
        remote: RemoteJob | None = None
        result = payload.get("payload")
        if word == "OK":
            video = result.get("video") if isinstance(result, Mapping) else None
            url = video.get("url") if isinstance(video, Mapping) else None
            if isinstance(url, str) and url.startswith(("https://", "http://")):
                ttl = self.object_ttl if self.object_ttl is not None else OBJECT_TTL
                remote = RemoteJob(
                    remote_id=first,
                    status=JobStatus.COMPLETED,
                    progress=100,
                    provider_status="COMPLETED",
                    urls={"video": url},
                    expires_at=utc_from_timestamp(self._now() + ttl),
                    raw=self._session.scrub(dict(payload)),
                )
        elif word == "ERROR":
            error = payload.get("error")
            detail = result.get("detail") if isinstance(result, Mapping) else None
            kind = None
            if isinstance(detail, list) and detail and isinstance(detail[0], Mapping):
                kind = detail[0].get("type")
            remote = self._failed(
                first,
                self._session.scrub(dict(payload)),
                code=str(kind) if kind else None,
                message=str(error) if error else None,
                retryable=str(kind) in _TRANSIENT_TYPES,
            )
        return WebhookDelivery(
            provider=self.name,
            delivery_id=request_id,
            event=word,
            remote_ids=candidates,
            remote=remote,
        )

    async def fetch(self, remote_id: str) -> RemoteJob:
        """Return the request as fal shows it now: ``GET …/requests/{id}/status``.

        A ``COMPLETED`` request's result (``GET …/requests/{id}``) is read the first time
        it is seen, for its video URL or its error.

        Args:
            remote_id: The remote id (``owner:alias:request_id``).

        Returns:
            The mapped request.

        Raises:
            ProviderError: With ``status_code == 404`` when fal no longer knows the request
                (a cancelled one); a subclass for auth, rate limit, outage and connection
                failures; ``code="invalid_remote_id"`` for an id that is not fal's;
                ``code="remote_id_mismatch"`` when the answer is about another job.
        """
        app, request_id = self._address(remote_id)
        response = await self._session.request(
            "GET",
            self._request_url(app, request_id, "/status"),
            kind=RequestKind.READ,
            params={"logs": "0"},
        )
        payload = self._status_payload(remote_id, json_or_none(response))
        word, status = self._status_of(payload, _STATUSES, upper=True)
        answered = payload.get("request_id")
        if isinstance(answered, str):
            self._check_same_id(response, request_id, answered)
        if status is JobStatus.COMPLETED:
            return await self._completed(remote_id, payload)
        return self._queued(remote_id, payload, word)

    async def cancel(self, remote_id: str) -> Literal["ended"] | None:
        """Cancel a request: ``PUT …/requests/{id}/cancel``.

        fal removes a queued request and signals a running one to stop. A request fal no
        longer knows (404) or one already completed (400 ``ALREADY_COMPLETED``: there is
        nothing left to stop) is not an error.

        Args:
            remote_id: The remote id.

        Returns:
            ``"ended"`` when fal answers ``ALREADY_COMPLETED`` (the request had ended, with
            its video or an error); ``None`` otherwise.

        Raises:
            ProviderError: fal refused otherwise.
        """
        app, request_id = self._address(remote_id)
        try:
            await self._request_unless_gone(
                "PUT", self._request_url(app, request_id, "/cancel"), kind=RequestKind.DELETE
            )
        except ProviderError as exc:
            body = exc.body if isinstance(exc.body, Mapping) else {}
            if exc.status_code == 400 and body.get("status") == "ALREADY_COMPLETED":
                log.info("fal: request %s had already completed; nothing to cancel", remote_id)
                return "ended"
            raise
        return None

    def open_content(
        self, remote_id: str, variant: str = "video"
    ) -> AbstractAsyncContextManager[HttpContentStream]:
        """Open a streamed download of a completed request's video from fal's CDN.

        The URL last seen for the request is used (or the request is read for one). The
        download carries no key: anyone holding the URL can read it. When it answers 403,
        404 or 410, the result is read again for a fresh URL, once.

        Args:
            remote_id: The remote id.
            variant: Only ``"video"``.

        Returns:
            An async context manager yielding the stream.

        Raises:
            ValidationError: ``variant`` is not ``"video"``.
        """
        self._check_variant(variant)
        return self._open_output(remote_id)

    async def ping(self) -> None:
        """Make one cheap request with the key, without retrying.

        fal has no account endpoint on the queue: this reads the status of a request that
        does not exist under the default model's app. A 404 means fal answered (and, where
        fal checks the key first, accepted it).

        Raises:
            ProviderError: fal is unreachable or refuses the key.
        """
        app = app_of(self.default_model)
        await self._request_unless_gone(
            "GET",
            self._request_url(app, "00000000-0000-0000-0000-000000000000", "/status"),
            kind=RequestKind.READ,
            retry=False,
        )
