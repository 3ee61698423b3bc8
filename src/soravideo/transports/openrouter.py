"""OpenRouter's video API (``https://openrouter.ai/api/v1/videos``) over httpx.

OpenRouter routes one protocol to many video models (Google Veo 3.1, OpenAI Sora 2 Pro,
Kling, Seedance, Wan, MiniMax Hailuo …) and reports what each job cost. Request and
response shapes follow the official ``openrouter`` Python package (version 1.3.84, a
Speakeasy-generated client, read on 2026-12-06: ``video_generation.py`` and
``components/videogeneration*.py``, ``components/videomodel.py``); this module does not
depend on it.

Mapping, in brief:

- requests: ``POST /videos`` with ``model``, ``prompt``, ``duration``, and ``size`` or
  ``resolution`` + ``aspect_ratio`` as the request names them; an image becomes
  ``frame_images: [{"type": "image_url", "image_url": {"url": …}, "frame_type":
  "first_frame"}]``; ``provider_options`` are added to the body as given. The answer is
  ``202 Accepted`` with ``{id, polling_url, status}``.
- statuses (``GET /videos/{id}``): ``pending`` and ``in_progress`` → processing (the word
  kept in ``provider_status``; there is no progress figure); ``completed`` → completed;
  ``failed`` → failed with the ``error`` text; ``cancelled`` → cancelled; ``expired`` →
  failed with code ``expired``; an unknown word → processing (logged once).
- results: ``GET /videos/{id}/content?index=0`` streams the MP4 with the API key;
  ``urls["video"]`` is the job's first ``unsigned_urls`` entry (it needs the key too). The
  signed ``urls`` OpenRouter also sends (downloadable by anyone until ``expires_at``) are
  dropped from ``RemoteJob.raw``: OpenRouter says to treat them like secrets.
- cost: ``usage.cost`` (USD) of a completed job is ``RemoteJob.cost_usd``, which the engine
  records as ``job.cost_usd`` beside the estimate.
- no cancel, no delete, no list, no idempotency key: see [`OpenRouterTransport`][soravideo.transports.OpenRouterTransport].

What could not be verified (no call to OpenRouter itself could be made; everything above
comes from the official client and OpenRouter's published documentation):

- the built-in model table (`OPENROUTER_MODELS`): durations, sizes and prices are a
  snapshot from OpenRouter's guides and third-party pages, not from the live listing;
  `OpenRouterTransport.refresh_models` replaces it with ``GET /videos/models``, the
  authoritative source (``pricing_skus`` included);
- which ``pricing_skus`` apply to a request: only ``per-video-second`` and
  ``per-video-second-<resolution>`` are read; audio or other SKUs are not priced;
- when a job ends ``cancelled`` or ``expired`` although the API has no cancel endpoint,
  and what ``expired`` means precisely;
- whether a failed job carries ``usage.cost`` or is billed (a figure it carries is
  recorded);
- what ``409`` and ``410`` on the content endpoint mean (not ready and expired, presumably);
- whether ``frame_images`` take inline ``data:`` URIs (OpenRouter's guides ask for a public
  ``https://`` URL; a ``data:`` URI string is passed through as given, files and bytes are
  refused);
- whether ``polling_url`` is absolute or relative (it is not followed: jobs are read at
  ``/videos/{id}``);
- whether ``GET /models?output_modalities=video`` lists the video models, as the issue
  says: the official client reads them from ``GET /videos/models``, which is what this
  module uses;
- rate limits and ``429`` semantics for ``/videos`` (a ``429`` is honoured as anywhere else);
- the webhook (``callback_url``) signature scheme, which neither the official client
  (``openrouter==1.3.84`` has ``callback_url`` on the create and nothing that verifies a
  delivery) nor the API reference describes: soravideo follows OpenRouter's cookbook
  ("Get Video Results with Webhooks"): ``X-OpenRouter-Signature: t=<unix>,v1=<hex
  HMAC-SHA256 of "{t},{raw body}">`` under the workspace signing secret as given (not
  base64-decoded), ``X-OpenRouter-Idempotency-Key`` per delivery, and terminal events only
  (``video.generation.completed``, ``failed``, ``cancelled``, ``expired``) whose ``data``
  is the job as ``GET /videos/{id}`` shows it. Whether a secret rotation sends two
  ``v1=`` values, and whether the timestamp is the sending time, are not documented.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import attrs
import httpx

from .._core.clock import Clock, utc_from_timestamp
from .._core.errors import FieldError, ProviderError, ValidationError, WebhookVerificationError
from .._core.models import CreateVideoRequest, JobError, JobStatus
from .._core.retry import OnRetry, RequestKind, RetryPolicy
from .._core.validation import RESOLUTIONS, option_overrides, sendable_options
from ._http import HttpContentStream, HttpTransport
from ._shared import (
    FieldProblems,
    checked_webhook_url,
    env_value,
    finite_non_negative,
    json_or_none,
    shape_size,
    shape_sizes,
    unix_time,
)
from ._webhooks import WebhookDelivery, verify_openrouter
from .base import Capabilities, ModelInfo, RemoteJob, remote_id_problem, remote_id_segment

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "MIN_POLL_INTERVAL",
    "OPENROUTER_MODELS",
    "OpenRouterModel",
    "OpenRouterTransport",
    "model_from_listing",
    "size_resolution",
]

log = logging.getLogger("soravideo.transports.openrouter")

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
"""The official client's one server (``sdkconfiguration.py``: ``SERVERS["production"]``)."""
DEFAULT_MODEL = "google/veo-3.1"
MIN_POLL_INTERVAL = 10.0
"""OpenRouter's API reference asks to poll every 10–30 seconds."""
_FIRST_FRAME = "first_frame"
# Body keys the request's own fields set: refused in provider_options (the price depends on
# model, duration and resolution; see option_overrides) and never taken from them.
_RESERVED_OPTIONS: Mapping[str, str] = {
    "model": "model",
    "prompt": "prompt",
    "duration": "duration",
    "resolution": "resolution (or size)",
    "aspect_ratio": "aspect_ratio (or size)",
    "size": "size (or resolution + aspect_ratio)",
}
_STATUSES: Mapping[str, JobStatus] = {
    "pending": JobStatus.PROCESSING,
    "in_progress": JobStatus.PROCESSING,
    "completed": JobStatus.COMPLETED,
    "failed": JobStatus.FAILED,
    "cancelled": JobStatus.CANCELLED,
    "expired": JobStatus.FAILED,
}
_PRICE_SKU = "per-video-second"


@attrs.frozen(kw_only=True)
class OpenRouterModel:
    """One video model as OpenRouter's ``GET /videos/models`` describes it.

    ``None`` means "not known: let OpenRouter decide" (the listing's ``null``).

    Args:
        name: The model's id (``"google/veo-3.1"``).
        durations: ``supported_durations``, whole seconds.
        resolutions: ``supported_resolutions`` (``"720p"``, ``"1080p"``, ``"4K"`` …).
        aspect_ratios: ``supported_aspect_ratios`` (``"16:9"`` …).
        sizes: ``supported_sizes`` (``"1280x720"`` …).
        frame_images: ``supported_frame_images`` (``"first_frame"``, ``"last_frame"``).
        generate_audio: Whether it can make audio (``generate_audio``).
        seed: Whether it takes a seed.
        pricing_skus: Prices as OpenRouter lists them: SKU name → USD as a string
            (``{"per-video-second": "0.50", "per-video-second-1080p": "0.75"}``).
        allowed_passthrough_parameters: What ``provider.options`` may carry for it.
        default_duration: Seconds soravideo asks for when a request names none (sent, so
            the estimate holds); not part of the listing.
        default_resolution: The resolution soravideo asks for when a request names no size;
            not part of the listing.
        display_name: The listing's ``name``.
    """

    name: str
    durations: tuple[int, ...] | None = None
    resolutions: tuple[str, ...] | None = None
    aspect_ratios: tuple[str, ...] | None = None
    sizes: tuple[str, ...] | None = None
    frame_images: tuple[str, ...] | None = None
    generate_audio: bool | None = None
    seed: bool | None = None
    pricing_skus: Mapping[str, str] = attrs.field(factory=dict)
    allowed_passthrough_parameters: tuple[str, ...] = ()
    default_duration: int | None = None
    default_resolution: str | None = None
    display_name: str | None = None

    def price_per_second(self, resolution: str | None = None) -> float | None:
        """Return USD per second: ``per-video-second-<resolution>``, else ``per-video-second``.

        Args:
            resolution: The resolution sent (``"1080p"``), if any.

        Returns:
            The price, or ``None`` when the model lists no per-second price.
        """
        skus = {key.lower(): value for key, value in self.pricing_skus.items()}
        if resolution:
            specific = _price(skus.get(f"{_PRICE_SKU}-{resolution.lower()}"))
            if specific is not None:
                return specific
        return _price(skus.get(_PRICE_SKU))

    def listing(self, *, created: int = 0) -> dict[str, Any]:
        """Return the model as ``GET /videos/models`` shows it (every required key).

        Args:
            created: The Unix time of its ``created`` key.
        """
        return {
            "id": self.name,
            "canonical_slug": self.name,
            "name": self.display_name or self.name,
            "created": created,
            "allowed_passthrough_parameters": list(self.allowed_passthrough_parameters),
            "creativity": None,
            "generate_audio": self.generate_audio,
            "seed": self.seed,
            "supported_aspect_ratios": _listed(self.aspect_ratios),
            "supported_durations": _listed(self.durations),
            "supported_frame_images": _listed(self.frame_images),
            "supported_resolutions": _listed(self.resolutions),
            "supported_sizes": _listed(self.sizes),
            "upscale_factor": None,
            "pricing_skus": dict(self.pricing_skus) or None,
        }


def _listed(values: tuple[Any, ...] | None) -> list[Any] | None:
    return None if values is None else list(values)


def _price(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        price = float(value)
    except (ValueError, OverflowError):
        return None
    return price if math.isfinite(price) and price >= 0 else None


_VEO_SIZES = ("1280x720", "720x1280", "1920x1080", "1080x1920")

OPENROUTER_MODELS: Mapping[str, OpenRouterModel] = {
    # A snapshot, not the live listing (refresh_models() reads that). Durations, sizes and
    # frame support: OpenRouter's video cookbook (veo-3.1-lite's listing excerpt: 4, 6, 8 s;
    # 720p and 1080p; 16:9 and 9:16; first and last frames) and Google's Veo 3.1 guide.
    # Prices: veo-3.1's from the example listing in OpenRouter's video-generation guide
    # ($0.50 a second, $0.75 at 1080p); the others from third-party pages (sora-2-pro $0.30,
    # wan-2.6 $0.04). None of them is verified against OpenRouter's live prices.
    "google/veo-3.1": OpenRouterModel(
        name="google/veo-3.1",
        display_name="Google: Veo 3.1",
        durations=(4, 6, 8),
        resolutions=("720p", "1080p"),
        aspect_ratios=("16:9", "9:16"),
        sizes=_VEO_SIZES,
        frame_images=("first_frame", "last_frame"),
        generate_audio=True,
        pricing_skus={"per-video-second": "0.50", "per-video-second-1080p": "0.75"},
        default_duration=8,
        default_resolution="720p",
    ),
    "google/veo-3.1-lite": OpenRouterModel(
        name="google/veo-3.1-lite",
        display_name="Google: Veo 3.1 Lite",
        durations=(4, 6, 8),
        resolutions=("720p", "1080p"),
        aspect_ratios=("16:9", "9:16"),
        sizes=_VEO_SIZES,
        frame_images=("first_frame", "last_frame"),
        generate_audio=True,
        default_duration=8,
        default_resolution="720p",
    ),
    "openai/sora-2-pro": OpenRouterModel(
        name="openai/sora-2-pro",
        display_name="OpenAI: Sora 2 Pro",
        durations=(4, 8, 12),
        resolutions=("720p", "1080p"),
        aspect_ratios=("16:9", "9:16"),
        sizes=_VEO_SIZES,
        frame_images=("first_frame",),
        generate_audio=True,
        pricing_skus={"per-video-second": "0.30"},
        default_duration=4,
        default_resolution="720p",
    ),
    "alibaba/wan-2.6": OpenRouterModel(
        name="alibaba/wan-2.6",
        display_name="Alibaba: Wan 2.6",
        durations=(5, 10),
        resolutions=("720p", "1080p"),
        aspect_ratios=("16:9", "9:16", "1:1"),
        frame_images=("first_frame",),
        seed=True,
        pricing_skus={"per-video-second": "0.04"},
        default_duration=5,
        default_resolution="720p",
    ),
}
"""Video models known before `OpenRouterTransport.refresh_models` (a snapshot; see the
module notes). Other names are passed to OpenRouter as they are."""


def _strings(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(str(v) for v in value if isinstance(v, (str, int)) and not isinstance(v, bool))


def _ints(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(v for v in value if isinstance(v, int) and not isinstance(v, bool))


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def model_from_listing(
    item: Mapping[str, Any], known: OpenRouterModel | None = None
) -> OpenRouterModel:
    """Build an `OpenRouterModel` from one entry of ``GET /videos/models``.

    Args:
        item: The entry.
        known: What soravideo already knew of it, for the defaults the listing lacks.

    Returns:
        The model.
    """
    skus = item.get("pricing_skus")
    durations = _ints(item.get("supported_durations"))
    resolutions = _strings(item.get("supported_resolutions"))
    default_duration = known.default_duration if known is not None else None
    if durations and default_duration not in durations:
        default_duration = None
    default_resolution = known.default_resolution if known is not None else None
    if resolutions and default_resolution not in resolutions:
        default_resolution = None
    return OpenRouterModel(
        name=str(item["id"]),
        display_name=str(item["name"]) if isinstance(item.get("name"), str) else None,
        durations=durations,
        resolutions=resolutions,
        aspect_ratios=_strings(item.get("supported_aspect_ratios")),
        sizes=_strings(item.get("supported_sizes")),
        frame_images=_strings(item.get("supported_frame_images")),
        generate_audio=_flag(item.get("generate_audio")),
        seed=_flag(item.get("seed")),
        pricing_skus=(
            {str(k): str(v) for k, v in skus.items() if isinstance(v, (str, int, float))}
            if isinstance(skus, Mapping)
            else {}
        ),
        allowed_passthrough_parameters=_strings(item.get("allowed_passthrough_parameters")) or (),
        default_duration=default_duration,
        default_resolution=default_resolution,
    )


def size_resolution(size: str) -> str | None:
    """Return the resolution a ``WIDTHxHEIGHT`` size stands for (its short side), if known."""
    try:
        width, height = (int(n) for n in size.lower().split("x"))
    except ValueError:
        return None
    short = min(width, height)
    found = next((name for name, pixels in RESOLUTIONS.items() if pixels == short), None)
    return None if found is None else _resolution_word(found)


def _resolution_word(resolution: str) -> str:
    """Return a resolution as OpenRouter spells it: ``"720p"`` in lower case, ``"4K"``."""
    word = resolution.strip().lower()
    return "4K" if word in ("4k", "2160p") else word


class OpenRouterTransport(HttpTransport):
    """Speak OpenRouter's video API: create, poll, download; no cancel, no list.

    The constructor does no I/O. Reads are retried per ``retry_policy``; a create only when
    it certainly did not happen (a connection never made, or a ``408``/``409``/``429``/
    ``503`` answer): anything after its bytes may have arrived (a timeout, a reset, a
    ``500``/``502``/``504``, an unreadable answer) is an
    [`AmbiguousSubmissionError`][soravideo.AmbiguousSubmissionError] and is never sent again. The official
    client does re-send such a create (its default policy retries every 5xx and timeout,
    POST included), which can make and bill a second video; soravideo does not.

    OpenRouter has no idempotency key and no endpoint that lists jobs, so an ambiguous
    create cannot be reconciled: the engine fails the job with ``ambiguous_submission``
    (retryable) rather than risk a second video; check the OpenRouter activity page before
    creating it again. Within one transport, a repeated `submit` with the same
    ``idempotency_key`` reads the job the first one made instead of creating another.

    There is no cancel endpoint either (``capabilities.can_cancel`` is ``False``):
    cancelling a job in soravideo reads it first (one status request), records a video
    already finished as ``completed``, and otherwise stops tracking it, while OpenRouter
    generates (and bills) the video all the same. `cancel` raises.

    Args:
        base_url: The API root; requests go to ``{base_url}/videos``. Default:
            ``https://openrouter.ai/api/v1``.
        api_key: The API key, sent as ``Authorization: Bearer …``. Default:
            ``OPENROUTER_API_KEY``.
        http_referer: Sent as ``HTTP-Referer`` (your app's URL, for OpenRouter's app
            attribution). Default: ``OPENROUTER_HTTP_REFERER``, as the official client.
        app_title: Sent as ``X-OpenRouter-Title``. Default:
            ``OPENROUTER_X_OPEN_ROUTER_TITLE``, as the official client.
        http_client: An ``httpx.AsyncClient`` to use (e.g. over ``FakeOpenRouter``'s
            transport); it is not closed by `aclose`.
        timeout: Per-request timeout in seconds. When ``None``: a client's
            ``request_timeout`` once the transport is given to one, else 60 s (an injected
            client's own timeout).
        retry_policy: How requests are retried.
        max_retries: Shorthand overriding ``retry_policy.max_retries``.
        clock: Time for retry waits and ``created_at`` (simulated time in tests).
        sleep: Waits between retries (default: ``clock.sleep``, else ``anyio.sleep``).
        on_retry: Called as ``on_retry(attempt, delay, error)`` before each retry.
        prices: USD per second by model name, overriding the table's and the listing's
            ``pricing_skus`` (a flat rate at every resolution).
        models: The model table to start from (default `OPENROUTER_MODELS`).
        default_model: The model used when a request names none.
        min_poll_interval: The least time between two reads of a job (seconds).
        allow_unknown_models: Send a model the catalogue does not list as it is (a
            gateway's own model); by default it is refused with the list, a
            [`ValidationError`][soravideo.ValidationError] naming ``model``.
        webhook_url: Sent as ``callback_url`` with every create (OpenRouter requires
            ``https://``): OpenRouter POSTs the job there when it ends, and the engine
            then polls only every ``poll_max_interval`` as a safety net
            ([`soravideo.webhooks`][soravideo.webhooks]). An absolute ``http(s)`` URL, else
            a [`ValidationError`][soravideo.ValidationError] naming ``webhook_url``.
        webhook_secret: The workspace's webhook signing secret deliveries are verified
            with. Default: ``OPENROUTER_WEBHOOK_SECRET``.

    Examples:
        ```python
        from soravideo.transports import OpenRouterTransport

        transport = OpenRouterTransport(
            api_key="sk-or-...",  # default: OPENROUTER_API_KEY
            app_title="Trailer maker",
            default_model="google/veo-3.1",
        )
        request = sv.CreateVideoRequest(prompt="A diver among jellyfish", duration=8)
        print(transport.capabilities.can_cancel, transport.estimate_cost(request))  # False 4.0
        async with sv.AsyncSoraVideo(transport=transport) as client:
            ...
        ```
    """

    key_variables = ("OPENROUTER_API_KEY",)
    _keyed_root = DEFAULT_BASE_URL

    name = "openrouter"
    _log = log
    _unknown_status_message = "openrouter: unknown job status %r; treating the job as processing"
    _label = "OpenRouter"
    _no_remix = (
        "soravideo does not remix on OpenRouter (use "
        "provider_options={'previous_job_id': ...} with the same model)"
    )

    # No list endpoint: refreshes are single reads, kept few at once.
    fetch_concurrency = 4

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        http_referer: str | None = None,
        app_title: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout | None = None,
        retry_policy: RetryPolicy | None = None,
        max_retries: int | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        on_retry: OnRetry | None = None,
        prices: Mapping[str, float] | None = None,
        models: Mapping[str, OpenRouterModel] | None = None,
        default_model: str = DEFAULT_MODEL,
        min_poll_interval: float = MIN_POLL_INTERVAL,
        allow_unknown_models: bool = False,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.webhook_url = checked_webhook_url(webhook_url)
        self._webhook_secret = webhook_secret or env_value("OPENROUTER_WEBHOOK_SECRET")
        self.default_model = default_model
        self.min_poll_interval = min_poll_interval
        key = (api_key or "").strip() or env_value("OPENROUTER_API_KEY")
        headers: dict[str, str] = {}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        referer = http_referer or env_value("OPENROUTER_HTTP_REFERER")
        if referer:
            headers["HTTP-Referer"] = referer
        title = app_title or env_value("OPENROUTER_X_OPEN_ROUTER_TITLE")
        if title:
            headers["X-OpenRouter-Title"] = title
        self._setup_http(
            key=key,
            headers=headers,
            http_client=http_client,
            timeout=timeout,
            retry_policy=retry_policy,
            max_retries=max_retries,
            clock=clock,
            sleep=sleep,
            on_retry=on_retry,
        )
        self._prices = dict(prices or {})
        self.allow_unknown_models = allow_unknown_models
        self._specs: Mapping[str, OpenRouterModel] = dict(
            OPENROUTER_MODELS if models is None else models
        )
        self._capabilities = self._build_capabilities()

    @property
    def models(self) -> Mapping[str, OpenRouterModel]:
        """The video models this transport knows (the table, or the last listing read)."""
        return self._specs

    @property
    def capabilities(self) -> Capabilities:
        """What OpenRouter can do: its models and bytes results; no cancel, list or remix."""
        return self._capabilities

    def _build_capabilities(self) -> Capabilities:
        return Capabilities(
            models={name: self._model_info(spec) for name, spec in self._specs.items()},
            default_model=self.default_model,
            can_cancel=False,
            result_kind="bytes",
            min_poll_interval=self.min_poll_interval,
            allows_unknown_models=self.allow_unknown_models,
            idempotent_creates=False,
        )

    def _model_info(self, spec: OpenRouterModel) -> ModelInfo:
        sizes = spec.sizes
        if sizes is None and spec.resolutions and spec.aspect_ratios:
            sizes = shape_sizes(spec.resolutions, spec.aspect_ratios) or None
        default_size = None
        if spec.default_resolution is not None and spec.aspect_ratios:
            resolved = shape_size(spec.default_resolution, spec.aspect_ratios[0])
            default_size = f"{resolved[0]}x{resolved[1]}" if resolved else None
        return ModelInfo(
            name=spec.name,
            durations=spec.durations,
            sizes=sizes,
            default_duration=spec.default_duration,
            default_size=default_size,
            price_per_second_usd=self._rate(spec.name, spec.default_resolution),
            accepts_image=spec.frame_images is None or _FIRST_FRAME in spec.frame_images,
        )

    def _url(self, *parts: str) -> str:
        return self._base_url + "/" + "/".join(parts)

    # ------------------------------------------------------------------ models

    async def refresh_models(self) -> Mapping[str, OpenRouterModel]:
        """Read ``GET /videos/models`` and adopt it as the model table (and its prices).

        The listing is authoritative: it replaces `OPENROUTER_MODELS` (soravideo's
        own defaults of duration and resolution are kept where the listing allows them),
        and prices come from each model's ``pricing_skus`` unless ``prices=`` overrides
        them. Models it does not list are passed to OpenRouter as they are.

        Returns:
            The new table, by model id.

        Raises:
            ProviderError: OpenRouter refused, or answered something that is not a listing.
        """
        response = await self._session.request(
            "GET", self._url("videos", "models"), kind=RequestKind.READ
        )
        payload = json_or_none(response)
        data = payload.get("data") if isinstance(payload, Mapping) else None
        if not isinstance(data, list):
            self._unexpected_answer(response, payload, "a list of video models", creating=False)
        table: dict[str, OpenRouterModel] = {}
        for item in data:
            if isinstance(item, Mapping) and isinstance(item.get("id"), str) and item["id"]:
                table[item["id"]] = model_from_listing(item, self._specs.get(item["id"]))
        self._specs = table
        self._capabilities = self._build_capabilities()
        return table

    # ------------------------------------------------------------------ validation

    def validate(self, request: CreateVideoRequest, path: str = "") -> list[FieldError]:
        """Return every problem OpenRouter would have with ``request``, naming each field.

        For a model in the table (or the last listing): the duration, the resolution, the
        aspect ratio or size, and whether it takes a first-frame image. For every model: the
        image (an ``https://`` URL or a ``data:`` URI; files and bytes cannot be sent, see
        the module notes), and ``provider_options`` keys that the request's own fields set.

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
        reference = request.input_reference
        if reference is not None:
            if "frame_images" in options:
                bad(
                    "provider_options.frame_images",
                    "give input_reference or frame_images, not both",
                )
            if isinstance(reference, bytes) or not reference.startswith(("https://", "data:")):
                bad(
                    "input_reference",
                    "OpenRouter fetches frame images from a public https:// URL: host the "
                    "image and pass its URL (a data: URI is passed through as given, "
                    "though OpenRouter does not document it)",
                )
        spec = self._specs.get(self._model(request))
        if spec is None:
            return errors
        name = spec.name
        if reference is not None and _FIRST_FRAME not in (spec.frame_images or (_FIRST_FRAME,)):
            bad("input_reference", f"{name} takes no first-frame image")
        duration = request.duration
        is_int = isinstance(duration, int) and not isinstance(duration, bool)
        if is_int and spec.durations and duration not in spec.durations:
            shown = ", ".join(str(d) for d in spec.durations)
            bad("duration", f"{name} makes {shown} second videos, not {duration}")
        if request.size is not None:
            if spec.sizes is not None and request.size not in spec.sizes:
                bad("size", f"{name} makes {', '.join(spec.sizes)}, not {request.size}")
            elif spec.sizes is None and spec.resolutions:
                implied = size_resolution(request.size)
                if implied is None or implied.lower() not in {r.lower() for r in spec.resolutions}:
                    bad(
                        "size",
                        f"{name} makes {', '.join(spec.resolutions)} videos; "
                        f"{request.size} is none of them",
                    )
        if request.resolution is not None and spec.resolutions:
            word = _resolution_word(request.resolution)
            if word.lower() not in {r.lower() for r in spec.resolutions}:
                bad(
                    "resolution",
                    f"{name} makes {', '.join(spec.resolutions)}, not {request.resolution}",
                )
        if spec.aspect_ratios and request.aspect_ratio not in (None, *spec.aspect_ratios):
            bad(
                "aspect_ratio",
                f"{name} makes {', '.join(spec.aspect_ratios)}, not {request.aspect_ratio}",
            )
        return errors

    # ------------------------------------------------------------------ cost

    def _rate(self, model: str, resolution: str | None) -> float | None:
        if model in self._prices:
            return self._prices[model]
        spec = self._specs.get(model)
        return None if spec is None else spec.price_per_second(resolution)

    def _priced_resolution(self, request: CreateVideoRequest) -> str | None:
        """The resolution the request is sent at (and priced at), if known."""
        if request.size is not None:
            return size_resolution(request.size)
        if request.resolution is not None:
            return _resolution_word(request.resolution)
        spec = self._specs.get(self._model(request))
        return spec.default_resolution if spec is not None else None

    def estimate_cost(self, request: CreateVideoRequest) -> float | None:
        """Return the price in USD: seconds × the model's price per second at its resolution.

        Args:
            request: What would be generated (no duration means the model's default).

        Returns:
            The estimate, or ``None`` when the model or its duration has no known figure.
        """
        model = self._model(request)
        spec = self._specs.get(model)
        seconds = request.duration or (spec.default_duration if spec is not None else None)
        rate = self._rate(model, self._priced_resolution(request))
        if not seconds or rate is None:
            return None
        return round(seconds * rate, 6)

    # ------------------------------------------------------------------ mapping

    def _remote(self, received: Mapping[str, Any]) -> RemoteJob:
        # Signed download URLs are as good as a secret (OpenRouter's words): never kept.
        payload: dict[str, Any] = self._session.scrub(
            {k: v for k, v in received.items() if k != "urls"}
        )
        remote_id = str(payload["id"])
        word, status = self._status_of(payload, _STATUSES)
        error: JobError | None = None
        if word == "failed":
            message = payload.get("error")
            error = JobError(
                code="failed",
                message=str(message) if message else "OpenRouter reported the video failed",
                retryable=False,
            )
        elif word == "expired":
            error = JobError(
                code="expired",
                message="OpenRouter reports the job expired: its outputs are no longer available",
                retryable=False,
            )
        urls: dict[str, str] = {}
        unsigned = payload.get("unsigned_urls")
        first = unsigned[0] if isinstance(unsigned, list) and unsigned else None
        if status is JobStatus.COMPLETED and isinstance(first, str) and first:
            urls["video"] = first
        return RemoteJob(
            remote_id=remote_id,
            status=status,
            progress=100 if status is JobStatus.COMPLETED else 0,
            provider_status=word,
            error=error,
            expires_at=unix_time(payload.get("expires_at")),
            cost_usd=_cost(payload.get("usage")),
            urls=urls,
            raw=payload,
        )

    def _parse(
        self, response: httpx.Response, *, creating: bool = False, asked: str | None = None
    ) -> RemoteJob:
        payload = self._job_payload(response, "a video job", creating=creating, asked=asked)
        remote = self._remote(payload)
        if creating:
            return attrs.evolve(
                remote,
                status=JobStatus.PROCESSING,
                created_at=utc_from_timestamp(self._now()),
            )
        return remote

    # ------------------------------------------------------------------ requests

    def _body(self, request: CreateVideoRequest) -> dict[str, Any]:
        model = self._model(request)
        spec = self._specs.get(model)
        body = sendable_options(request.provider_options, _RESERVED_OPTIONS)
        body["model"] = model
        body["prompt"] = request.prompt
        if self.webhook_url:
            body.setdefault("callback_url", self.webhook_url)
        if request.duration is not None:
            body["duration"] = request.duration
        elif spec is not None and spec.default_duration is not None:
            body["duration"] = spec.default_duration
        if request.size is not None:
            body["size"] = request.size
        else:
            if request.resolution is not None:
                body["resolution"] = _resolution_word(request.resolution)
            elif spec is not None and spec.default_resolution is not None:
                body["resolution"] = spec.default_resolution
            if request.aspect_ratio is not None:
                body["aspect_ratio"] = request.aspect_ratio
        reference = request.input_reference
        if reference is not None:
            if not isinstance(reference, str) or not reference.startswith(("https://", "data:")):
                raise ValidationError(
                    [
                        FieldError(
                            field="input_reference",
                            message="OpenRouter takes frame images as https:// URLs",
                        )
                    ]
                )
            body["frame_images"] = [
                {"type": "image_url", "image_url": {"url": reference}, "frame_type": _FIRST_FRAME}
            ]
        return body

    @property
    def webhook_pushes(self) -> bool:
        """Whether each create asks OpenRouter to push the job's end (a ``webhook_url``)."""
        return bool(self.webhook_url)

    async def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: float
    ) -> WebhookDelivery:
        """Verify a callback (``X-OpenRouter-Signature``) and read the job it carries.

        Args:
            headers: The request's headers.
            body: The raw body, exactly as received.
            now: The client's time (Unix seconds).

        Returns:
            The delivery: its idempotency key (else the event and job id), the job's state.

        Raises:
            WebhookVerificationError: A bad or missing signature, a stale timestamp, a body
                that is not a video event, or no ``webhook_secret``.
        """
        key, event = verify_openrouter(self._webhook_secret, headers, body, now=now)
        kind = str(event.get("type") or "")
        data = event.get("data")
        if not isinstance(data, Mapping) or remote_id_problem(data.get("id")) is not None:
            raise WebhookVerificationError(
                "openrouter: the delivery's body is not a video event (no data.id)",
                provider=self.name,
                reason="body",
            )
        remote = self._remote(data)
        return WebhookDelivery(
            provider=self.name,
            delivery_id=key or f"{kind}:{remote.remote_id}",
            event=kind,
            remote_ids=(remote.remote_id,),
            remote=remote,
        )

    async def submit(self, request: CreateVideoRequest, *, idempotency_key: str) -> RemoteJob:
        """Create a video: ``POST /videos`` (OpenRouter answers ``202 Accepted``).

        Unless the request names them, ``duration`` and ``resolution`` are the model's
        defaults (so the estimate holds). ``provider_options`` are added to the body as
        given (``seed``, ``generate_audio``, ``callback_url``, ``provider`` …), except the
        keys the request's own fields set (``validate`` refuses those).

        Args:
            request: What to generate.
            idempotency_key: Remembered by this transport: a repeat reads the same job.
                OpenRouter honours no key, so none is sent.

        Returns:
            The new job (processing).

        Raises:
            AmbiguousSubmissionError: The create may have happened; it is not re-sent.
            ValidationError: The image cannot be sent (not a URL).
            ProviderError: OpenRouter refused it (or a subclass: auth, rate limit …); a
                ``402`` means the account has no credits left.
        """

        async def create() -> RemoteJob:
            body = self._body(request)
            response = await self._session.request(
                "POST", self._url("videos"), kind=RequestKind.CREATE, json_body=body
            )
            return self._parse(response, creating=True)

        return await self._create_once(idempotency_key, create)

    async def fetch(self, remote_id: str) -> RemoteJob:
        """Return the job as OpenRouter shows it now: ``GET /videos/{id}``.

        Args:
            remote_id: The job id (``gen-vid-…``).

        Returns:
            The mapped job (a completed one carries ``cost_usd`` from ``usage.cost``).

        Raises:
            ValidationError: ``remote_id`` cannot be put in a URL path.
            ProviderError: With ``status_code == 404`` when OpenRouter does not know the
                job; a subclass for auth, rate limit, outage and connection failures;
                ``code="remote_id_mismatch"`` when the answer is about another job.
        """
        response = await self._session.request(
            "GET",
            self._url("videos", remote_id_segment(remote_id, provider=self.name)),
            kind=RequestKind.READ,
        )
        return self._parse(response, asked=remote_id)

    async def cancel(self, remote_id: str) -> None:
        """Refuse: OpenRouter has no cancel or delete endpoint (``can_cancel`` is false).

        The engine never calls this; it only stops tracking a job cancelled in soravideo.

        Raises:
            ProviderError: Always, with ``code="unsupported"``.
        """
        raise ProviderError(
            f"openrouter: there is no cancel endpoint; job {remote_id} goes on at OpenRouter "
            "(and is billed)",
            provider=self.name,
            code="unsupported",
        )

    def open_content(
        self, remote_id: str, variant: str = "video"
    ) -> AbstractAsyncContextManager[HttpContentStream]:
        """Open a streamed download of a completed job's video.

        ``GET /videos/{id}/content?index=0`` with the API key; a redirect to another
        origin is followed without it.

        Args:
            remote_id: The job id.
            variant: Only ``"video"`` (the first output).

        Returns:
            An async context manager yielding the stream (``content_type``,
            ``content_length``, ``aiter_bytes()``).

        Raises:
            ValidationError: ``variant`` is not ``"video"``, or ``remote_id`` cannot be put
                in a URL path.
        """
        self._check_variant(variant)
        return self._session.stream(
            "GET",
            self._url("videos", remote_id_segment(remote_id, provider=self.name), "content"),
            params={"index": 0},
        )

    async def ping(self) -> None:
        """Make one cheap authenticated request (``GET /key``), without retrying.

        Raises:
            ProviderError: OpenRouter is unreachable or refuses the key.
        """
        await self._session.request("GET", self._url("key"), kind=RequestKind.READ, retry=False)


def _cost(usage: Any) -> float | None:
    return finite_non_negative(usage.get("cost")) if isinstance(usage, Mapping) else None
