"""Provider-neutral validation: every bad field is named, in one raise, before anything is stored."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ._errors import FieldError, ValidationError
from ._models import BatchVideoRequest, CreateVideoRequest, JobPriority

__all__ = [
    "ASPECT_RATIOS",
    "MAX_PROMPT_LENGTH",
    "RESOLUTIONS",
    "check_batch",
    "check_request",
    "raise_if",
    "resolve_size",
]

MAX_PROMPT_LENGTH = 32_000
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
_DEFAULT_RESOLUTION = "720p"
_DEFAULT_ASPECT = "16:9"


def raise_if(errors: Iterable[FieldError], *, message: str | None = None) -> None:
    """Raise :class:`ValidationError` naming every error, if there is any."""
    collected = list(errors)
    if collected:
        raise ValidationError(collected, message=message)


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
    short = RESOLUTIONS.get((request.resolution or _DEFAULT_RESOLUTION).lower())
    ratio = request.aspect_ratio or _DEFAULT_ASPECT
    if short is None or ratio not in ASPECT_RATIOS:
        return None
    a, b = (int(x) for x in ratio.split(":"))
    long = math.floor(short * max(a, b) / min(a, b) / 2 + 0.5) * 2
    return (long, short) if a >= b else (short, long)


def _is_str_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
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

    prompt = request.prompt
    if not isinstance(prompt, str):
        bad("prompt", "must be a string")
    elif not prompt.strip():
        bad("prompt", "must not be empty")
    elif len(prompt) > MAX_PROMPT_LENGTH:
        bad("prompt", f"must be at most {MAX_PROMPT_LENGTH} characters (got {len(prompt)})")
    if request.model is not None and (
        not isinstance(request.model, str) or not request.model.strip()
    ):
        bad("model", "must be a non-empty string")
    duration = request.duration
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, int):
            bad("duration", "must be a whole number of seconds")
        elif duration <= 0:
            bad("duration", "must be positive")
    if request.resolution is not None and (
        not isinstance(request.resolution, str) or request.resolution.lower() not in RESOLUTIONS
    ):
        bad("resolution", f"unknown resolution; use one of {', '.join(RESOLUTIONS)}")
    if request.aspect_ratio is not None and request.aspect_ratio not in ASPECT_RATIOS:
        bad("aspect_ratio", f"unknown aspect ratio; use one of {', '.join(ASPECT_RATIOS)}")
    if request.size is not None:
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
    if ref is not None:
        if isinstance(ref, bytes):
            if not ref:
                bad("input_reference", "must not be empty")
        elif not isinstance(ref, str) or not ref.strip():
            bad("input_reference", "must be a file path, bytes or an https:// URL")
    if not isinstance(request.priority, JobPriority):
        bad("priority", "must be a JobPriority")
    if not _is_str_map(request.metadata):
        bad("metadata", "must map strings to strings")
    if not isinstance(request.provider_options, Mapping):
        bad("provider_options", "must be a mapping")
    return errors


def check_batch(request: Any, *, max_batch_size: int) -> list[FieldError]:
    """Return every problem of a batch and of each of its videos (``videos[i].field``)."""
    if not isinstance(request, BatchVideoRequest):
        return [FieldError(field="request", message="must be a BatchVideoRequest")]
    errors: list[FieldError] = []
    count = len(request.videos)
    if count == 0:
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
    for i, video in enumerate(request.videos):
        errors.extend(check_request(video, f"videos[{i}]"))
    if request.name is not None and not isinstance(request.name, str):
        errors.append(FieldError(field="name", message="must be a string"))
    conc = request.concurrency
    if conc is not None and (isinstance(conc, bool) or not isinstance(conc, int) or conc < 1):
        errors.append(FieldError(field="concurrency", message="must be a positive whole number"))
    if not _is_str_map(request.metadata):
        errors.append(FieldError(field="metadata", message="must map strings to strings"))
    budget = request.budget_usd
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget < 0
    ):
        errors.append(FieldError(field="budget_usd", message="must be a non-negative number"))
    return errors
