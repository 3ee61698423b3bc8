"""Provider-neutral validation: every bad field is named, in one raise, before anything is stored."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .errors import FieldError, ValidationError
from .models import Batch, BatchVideoRequest, CreateVideoRequest, Job, JobPriority

__all__ = [
    "ASPECT_RATIOS",
    "IMAGE_HEAD_BYTES",
    "MAX_CONCURRENCY",
    "MAX_DURATION",
    "MAX_ID_LENGTH",
    "MAX_KEY_LENGTH",
    "MAX_PAGE",
    "MAX_PAGE_LIMIT",
    "MAX_PROMPT_LENGTH",
    "MAX_USD",
    "RESOLUTIONS",
    "check_batch",
    "check_request",
    "check_storable",
    "concurrency_errors",
    "id_errors",
    "image_type",
    "option_overrides",
    "page_errors",
    "raise_if",
    "resolve_size",
    "sendable_options",
    "timeout_errors",
    "unsendable",
]

MAX_PROMPT_LENGTH = 32_000
# Bounds that keep every number the ledger stores or computes from (a page's offset, a
# batch's concurrency, a duration) inside a 64-bit integer, with room to spare: beyond them
# SQLite raises OverflowError and PostgreSQL "bigint out of range".
MAX_PAGE = 1_000_000_000
MAX_PAGE_LIMIT = 1000
MAX_DURATION = 3600
MAX_CONCURRENCY = 100_000
MAX_USD = 1_000_000_000.0
MAX_ID_LENGTH = 128
MAX_KEY_LENGTH = 256
# What new_id() makes (job_0189c3…, batch_…), with room for ids from elsewhere: letters,
# digits, "_", "-", ".", ":"; never a space, a control character or a separator.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
RESOLUTIONS: dict[str, int] = {
    "360p": 360,
    "480p": 480,
    "540p": 540,
    "720p": 720,
    "1080p": 1080,
    "1440p": 1440,
    "2160p": 2160,
    "4k": 2160,
}
ASPECT_RATIOS: tuple[str, ...] = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21", "4:5", "5:4")
_SIZE = re.compile(r"^([1-9][0-9]{1,4})x([1-9][0-9]{1,4})$")
# Code points no UTF-8 encoder or PostgreSQL text column takes: lone surrogates (JSON
# "\ud83d", or the "\udcff" Python makes of a byte a non-UTF-8 argument or file name holds)
# and NUL.
_UNENCODABLE = re.compile("[\x00\ud800-\udfff]")
_MAX_DEPTH = 64
_JSON_KINDS = "text, numbers, true/false, null, lists and objects with text keys"
_DEFAULT_RESOLUTION = "720p"
_DEFAULT_ASPECT = "16:9"


def raise_if(errors: Iterable[FieldError], *, message: str | None = None) -> None:
    """Raise [`ValidationError`][soravideo.ValidationError] naming every error, if there is any."""
    collected = list(errors)
    if collected:
        raise ValidationError(collected, message=message)


def _text_problem(text: str) -> str | None:
    found = _UNENCODABLE.search(text)
    if found is None:
        return None
    # The message names the code point, never the text: it must print where the text cannot.
    point = f"U+{ord(found[0]):04X}"
    if found[0] == "\x00":
        return f"contains a NUL character ({point}), which cannot be stored"
    return (
        f"contains a lone surrogate ({point}), which is not valid Unicode and cannot be sent "
        "(text decoded with the wrong encoding, or half of an emoji)"
    )


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def id_errors(value: Any, field: str, *, kind: str = "job") -> list[FieldError]:
    """Return the problem of a job or batch id given to the API (empty when it is one).

    An id is text of 1 to 128 characters: letters, digits, ``_``, ``-``, ``.`` and ``:``
    (what ``soravideo._api.videos.new_id`` makes: ``job_0189c3…``). Anything else
    cannot name a job or a batch, and is refused before the ledger is asked.

    Args:
        value: What the caller passed.
        field: The parameter's name (``job_id``, ``batch_id``).
        kind: ``"job"`` or ``"batch"``, for the message.
    """
    example = f"{kind}_0189c3…"
    if not isinstance(value, str):
        return [
            FieldError(
                field=field,
                message=f"must be a {kind} id (text such as {example}), not {type(value).__name__}",
            )
        ]
    if len(value) > MAX_ID_LENGTH:
        return [FieldError(field=field, message=f"is longer than {MAX_ID_LENGTH} characters")]
    if _ID.fullmatch(value) is None:
        return [
            FieldError(
                field=field,
                message=(
                    f"is not a {kind} id: use letters, digits, '_', '-', '.' and ':' "
                    f"(such as {example})"
                ),
            )
        ]
    return []


def page_errors(page: Any, limit: Any) -> list[FieldError]:
    """Return the problems of a listing's ``page`` (1 to 10⁹) and ``limit`` (1 to 1000)."""
    errors = []
    if not _is_whole(page) or not 1 <= page <= MAX_PAGE:
        errors.append(
            FieldError(field="page", message=f"must be a whole number from 1 to {MAX_PAGE:,}")
        )
    if not _is_whole(limit) or not 1 <= limit <= MAX_PAGE_LIMIT:
        errors.append(
            FieldError(field="limit", message=f"must be a whole number from 1 to {MAX_PAGE_LIMIT}")
        )
    return errors


def concurrency_errors(value: Any, field: str = "concurrency") -> list[FieldError]:
    """Return the problem of a concurrency (``None``, or a whole number from 1 to 100,000)."""
    if value is None or (_is_whole(value) and 1 <= value <= MAX_CONCURRENCY):
        return []
    return [
        FieldError(field=field, message=f"must be a whole number from 1 to {MAX_CONCURRENCY:,}")
    ]


def timeout_errors(value: Any, field: str = "timeout") -> list[FieldError]:
    """Return the problem of a timeout in seconds (``None``, or a finite number ≥ 0).

    NaN would never expire (every comparison with it is false) and infinity never does:
    ``None`` is how to wait without a deadline.
    """
    if value is None or (_is_number(value) and 0 <= value < math.inf):
        return []
    return [
        FieldError(
            field=field,
            message="must be a finite number of seconds ≥ 0 (None waits without a deadline)",
        )
    ]


# The image formats a file reference may hold: what the Sora protocol's guides list for
# input_reference (image/jpeg, image/png, image/webp) and all that Runway takes.
_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
IMAGE_HEAD_BYTES = 12


def image_type(head: bytes) -> str | None:
    """Return the MIME type of a JPEG, PNG or WebP image from its first bytes, else ``None``.

    Args:
        head: At least the first 12 bytes of the file (fewer: too short to be an image).
    """
    for magic, content_type in _IMAGE_MAGIC:
        if head.startswith(magic):
            return content_type
    if len(head) >= IMAGE_HEAD_BYTES and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _key_path(path: str, key: Any) -> str:
    if isinstance(key, str) and _UNENCODABLE.search(key) is None:
        return f"{path}.{key}" if path else key
    # !a shows a bad key as an escape (['\udcff']), so the field name itself prints.
    return f"{path}[{key!a}]"


def unsendable(value: Any, path: str, *, _depth: int = 0) -> list[FieldError]:
    """Return a problem for every part of ``value`` that JSON and UTF-8 cannot carry.

    What can be sent and stored: text without lone surrogates or NUL, ``None``, booleans,
    integers, finite floats, and lists, tuples and mappings with text keys of those, nested
    at most 64 deep. NaN and ±infinity, bytes, sets and other objects cannot.

    Args:
        value: A request field's value (``provider_options``, ``metadata``, a prompt …).
        path: Its field name; nested parts are named ``path.key`` and ``path[i]``.

    Returns:
        The problems, empty when ``value`` can be sent as it is.
    """
    if isinstance(value, str):
        problem = _text_problem(value)
        return [] if problem is None else [FieldError(field=path, message=problem)]
    if value is None or isinstance(value, (bool, int)):
        return []
    if isinstance(value, float):
        if math.isfinite(value):
            return []
        return [FieldError(field=path, message=f"must be a finite number, not {value!r}")]
    # ``type(value) is dict`` first: an ABC's isinstance costs seven times a type test.
    is_mapping = type(value) is dict or isinstance(value, Mapping)
    if (is_mapping or isinstance(value, (list, tuple))) and _depth >= _MAX_DEPTH:
        return [FieldError(field=path, message=f"is nested more than {_MAX_DEPTH} levels deep")]
    errors: list[FieldError] = []
    if is_mapping:
        for key, item in value.items():
            where = _key_path(path, key)
            if not isinstance(key, str):
                errors.append(FieldError(field=where, message="keys must be text"))
                continue
            problem = _text_problem(key)
            if problem is not None:
                errors.append(FieldError(field=where, message=f"key {problem}"))
                continue
            errors.extend(unsendable(item, where, _depth=_depth + 1))
        return errors
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            errors.extend(unsendable(item, f"{path}[{i}]", _depth=_depth + 1))
        return errors
    return [
        FieldError(
            field=path,
            message=f"a {type(value).__name__} cannot be sent as JSON; use {_JSON_KINDS}",
        )
    ]


def check_storable(jobs: Iterable[Job], batch: Batch | None = None) -> list[FieldError]:
    """Return what JSON and UTF-8 cannot carry in new jobs and their batch (``jobs[i].…``).

    The ledger's own line, for callers that add jobs without the services' validation:
    every backend refuses these before writing, so no ledger holds a job that cannot be sent.
    """
    errors: list[FieldError] = []
    for i, job in enumerate(jobs):
        errors.extend(_shapes(job.request, f"jobs[{i}].request"))
        for field in attrs.fields(CreateVideoRequest):
            value = getattr(job.request, field.name)
            if not isinstance(value, bytes):  # an image's bytes are stored as base64
                errors.extend(unsendable(value, f"jobs[{i}].request.{field.name}"))
        errors.extend(_labels(job.metadata, f"jobs[{i}].metadata"))
    if batch is not None:
        errors.extend(unsendable(batch.name, "batch.name"))
        errors.extend(_labels(batch.metadata, "batch.metadata"))
    return errors


def _shapes(request: CreateVideoRequest, path: str) -> list[FieldError]:
    # The fields whose converters leave a value of the wrong type as it was given.
    errors = []
    if not isinstance(request.priority, JobPriority):
        errors.append(FieldError(field=f"{path}.priority", message="must be a JobPriority"))
    if not isinstance(request.input_reference, (str, bytes, type(None))):
        errors.append(FieldError(field=f"{path}.input_reference", message="must be text or bytes"))
    if not _is_str_map(request.metadata):
        errors.append(FieldError(field=f"{path}.metadata", message="must map strings to strings"))
    if not isinstance(request.provider_options, Mapping):
        errors.append(FieldError(field=f"{path}.provider_options", message="must be a mapping"))
    return errors


def _labels(value: Any, path: str) -> list[FieldError]:
    # The model's converter leaves what is not a mapping as it was given.
    if not _is_str_map(value):
        return [FieldError(field=path, message="must map strings to strings")]
    return unsendable(value, path)


def option_overrides(
    options: Any, own_fields: Mapping[str, str], path: str = ""
) -> list[FieldError]:
    """Name each ``provider_options`` key that a request field of its own already sends.

    Such keys are refused rather than priced: the estimate, the budget and the ledger's
    ``estimated_cost_usd`` come from the request's fields, which are what is sent.

    Args:
        options: The request's ``provider_options``.
        own_fields: The provider's body key → the request field that sets it
            (``{"seconds": "duration"}``).
        path: Prefix for field names (``videos[3]``).

    Returns:
        One problem per such key, ``provider_options.<key>``.
    """
    p = f"{path}." if path else ""
    if not isinstance(options, Mapping):
        return []
    return [
        FieldError(
            field=f"{p}provider_options.{key}",
            message=(
                f"is set from the request's {field} (what the estimate and budget price); "
                f"set {field} instead"
            ),
        )
        for key, field in own_fields.items()
        if key in options
    ]


def sendable_options(options: Mapping[str, Any], own_fields: Mapping[str, str]) -> dict[str, Any]:
    """Return ``provider_options`` without the keys the request's own fields set.

    Validation refuses those keys; dropping them too when building a body keeps what is
    sent equal to what was priced for a job stored without that validation (by an older
    version, or added to the ledger directly).
    """
    return {key: value for key, value in options.items() if key not in own_fields}


def _parse_size(size: str) -> tuple[int, int] | None:
    match = _SIZE.match(size)
    return (int(match[1]), int(match[2])) if match else None


def resolve_size(request: CreateVideoRequest) -> tuple[int, int] | None:
    """Return ``(width, height)`` from ``size`` or ``resolution`` + ``aspect_ratio``.

    Returns ``None`` when the request names neither (the provider's default applies). A
    missing half of ``resolution`` / ``aspect_ratio`` defaults to 720p or 16:9.
    """
    if request.size is not None:
        return _parse_size(request.size)
    if request.resolution is None and request.aspect_ratio is None:
        return None
    resolution = request.resolution or _DEFAULT_RESOLUTION
    ratio = request.aspect_ratio or _DEFAULT_ASPECT
    if not isinstance(resolution, str) or not isinstance(ratio, str):
        return None  # not a request check_request lets through
    short = RESOLUTIONS.get(resolution.lower())
    if short is None or ratio not in ASPECT_RATIOS:
        return None
    a, b = (int(x) for x in ratio.split(":"))
    long = math.floor(short * max(a, b) / min(a, b) / 2 + 0.5) * 2
    return (long, short) if a >= b else (short, long)


def _is_str_map(value: Any) -> bool:
    return (type(value) is dict or isinstance(value, Mapping)) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def check_request(request: Any, path: str = "") -> list[FieldError]:
    """Return every provider-neutral problem of one request (empty when it is valid)."""
    p = f"{path}." if path else ""
    if not isinstance(request, CreateVideoRequest):
        return [FieldError(field=path or "request", message="must be a CreateVideoRequest")]
    errors: list[FieldError] = []

    def bad(name: str, message: str) -> None:
        errors.append(FieldError(field=f"{p}{name}", message=message))

    # Text that cannot be encoded is named once, and its field's other checks are skipped.
    unencodable = set()
    for name in ("prompt", "model", "resolution", "aspect_ratio", "size", "input_reference"):
        value = getattr(request, name)
        problem = _text_problem(value) if isinstance(value, str) else None
        if problem is not None:
            unencodable.add(name)
            bad(name, problem)
    prompt = request.prompt
    if not isinstance(prompt, str):
        bad("prompt", "must be a string")
    elif not prompt.strip():
        bad("prompt", "must not be empty")
    elif len(prompt) > MAX_PROMPT_LENGTH and "prompt" not in unencodable:
        bad("prompt", f"must be at most {MAX_PROMPT_LENGTH} characters (got {len(prompt)})")
    if (
        request.model is not None
        and "model" not in unencodable
        and (not isinstance(request.model, str) or not request.model.strip())
    ):
        bad("model", "must be a non-empty string")
    duration = request.duration
    if duration is not None:
        if not _is_whole(duration):
            bad("duration", "must be a whole number of seconds")
        elif duration <= 0:
            bad("duration", "must be positive")
        elif duration > MAX_DURATION:
            bad("duration", f"must be at most {MAX_DURATION} seconds (got {duration})")
    if (
        request.resolution is not None
        and "resolution" not in unencodable
        and (
            not isinstance(request.resolution, str) or request.resolution.lower() not in RESOLUTIONS
        )
    ):
        bad("resolution", f"unknown resolution; use one of {', '.join(RESOLUTIONS)}")
    if (
        request.aspect_ratio is not None
        and "aspect_ratio" not in unencodable
        and (not isinstance(request.aspect_ratio, str) or request.aspect_ratio not in ASPECT_RATIOS)
    ):
        bad("aspect_ratio", f"unknown aspect ratio; use one of {', '.join(ASPECT_RATIOS)}")
    if request.size is not None and "size" not in unencodable:
        parsed = _parse_size(request.size) if isinstance(request.size, str) else None
        if parsed is None:
            bad("size", "must look like WIDTHxHEIGHT, e.g. 1280x720")
        elif request.resolution is not None or request.aspect_ratio is not None:
            implied = resolve_size(
                CreateVideoRequest(
                    prompt="-", resolution=request.resolution, aspect_ratio=request.aspect_ratio
                )
            )
            if implied is not None and implied != parsed:
                bad(
                    "size",
                    f"conflicts with resolution/aspect_ratio ({implied[0]}x{implied[1]}); "
                    "give size or resolution + aspect_ratio",
                )
    ref = request.input_reference
    if ref is not None and "input_reference" not in unencodable:
        if isinstance(ref, bytes):
            if not ref:
                bad("input_reference", "must not be empty")
        elif not isinstance(ref, str) or not ref.strip():
            bad("input_reference", "must be a file path, bytes or an https:// URL")
    if not isinstance(request.priority, JobPriority):
        allowed = ", ".join(p.value for p in JobPriority)
        bad("priority", f"must be a JobPriority or one of {allowed}")
    if not _is_str_map(request.metadata):
        bad("metadata", "must map strings to strings")
    else:
        errors.extend(unsendable(request.metadata, f"{p}metadata"))
    if not isinstance(request.provider_options, Mapping):
        bad("provider_options", "must be a mapping of text keys to JSON values")
    else:
        errors.extend(unsendable(request.provider_options, f"{p}provider_options"))
    return errors


def check_batch(request: Any, *, max_batch_size: int) -> list[FieldError]:
    """Return every problem of a batch and of each of its videos (``videos[i].field``)."""
    if not isinstance(request, BatchVideoRequest):
        return [FieldError(field="request", message="must be a BatchVideoRequest")]
    errors: list[FieldError] = []
    videos = request.videos
    count = len(videos) if isinstance(videos, tuple) else 0
    if not isinstance(videos, tuple):
        # The converter leaves what is not a list of requests as it was given.
        errors.append(
            FieldError(field="videos", message="must be a list of CreateVideoRequest objects")
        )
        videos = ()
    elif count == 0:
        errors.append(FieldError(field="videos", message="must contain at least one video"))
    elif count > max_batch_size:
        errors.append(
            FieldError(
                field="videos",
                message=(
                    f"has {count} videos, more than max_batch_size={max_batch_size}; "
                    "raise it with Settings(max_batch_size=...) or split the batch"
                ),
            )
        )
    for i, video in enumerate(videos):
        errors.extend(check_request(video, f"videos[{i}]"))
    if request.name is not None and not isinstance(request.name, str):
        errors.append(FieldError(field="name", message="must be a string"))
    elif request.name is not None:
        errors.extend(unsendable(request.name, "name"))
    errors.extend(concurrency_errors(request.concurrency))
    if not _is_str_map(request.metadata):
        errors.append(FieldError(field="metadata", message="must map strings to strings"))
    else:
        errors.extend(unsendable(request.metadata, "metadata"))
    budget = request.budget_usd
    # NaN would compare as "within budget" with any estimate: refused, as is infinity (and
    # a number no ledger column holds).
    if budget is not None and (not _is_number(budget) or not 0 <= budget <= MAX_USD):
        errors.append(
            FieldError(
                field="budget_usd", message=f"must be a number from 0 to {MAX_USD:,.0f} (USD)"
            )
        )
    return errors
