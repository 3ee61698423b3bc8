"""What goes over the wire: camelCase JSON, the envelopes, and request bodies read into models.

No web framework here (``_app.py`` has it): these are plain functions and attrs classes,
tested on their own. The REST API is the only place soravideo speaks camelCase, so the
renaming lives here, in a copy of the one converter: every attrs field is renamed
(``batch_id`` → ``batchId``) while the keys of ``metadata`` and ``provider_options``, which
are the caller's own, are left as they were given.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from .._core.converter import converter as _library_converter
from .._core.errors import FieldError, ValidationError
from .._core.models import (
    BatchStatusReport,
    BatchVideoRequest,
    CancellationSummary,
    CreateVideoRequest,
    Job,
    JobStatus,
    VideoResult,
)
from .._core.validation import image_type

__all__ = [
    "HIDDEN_FIELDS",
    "BatchCancelledResponse",
    "BatchCreated",
    "BatchCreatedResponse",
    "BatchResponse",
    "ErrorBody",
    "ErrorResponse",
    "FieldProblem",
    "JobCancelled",
    "JobCancelledResponse",
    "JobCreated",
    "JobCreatedResponse",
    "JobListResponse",
    "JobResponse",
    "Pagination",
    "ResultResponse",
    "WebhookReceived",
    "WebhookReceivedResponse",
    "camel",
    "camel_path",
    "parse_rate_limit",
    "read_batch",
    "read_video",
    "to_json",
]

HIDDEN_FIELDS = frozenset({"download_dir", "request_sha256"})
"""Fields the API never shows: a folder on the server's disk, a ledger-internal hash."""

# The caller's own maps: their keys are data, never renamed.
_OPAQUE = frozenset({"metadata", "provider_options"})
_SEGMENT = re.compile(r"([^\[]*)(.*)")
_RATE = re.compile(r"\s*([1-9][0-9]{0,8})\s*/\s*(second|minute|hour|day)s?\s*", re.I)


def camel(name: str) -> str:
    """Return ``name`` in camelCase (``aspect_ratio`` → ``aspectRatio``)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def camel_path(path: str) -> str:
    """Return a field path as the API names it: ``videos[1].aspect_ratio`` →
    ``videos[1].aspectRatio``, leaving keys inside ``metadata`` and ``providerOptions`` alone."""
    out: list[str] = []
    opaque = False
    for segment in path.split("."):
        match = _SEGMENT.fullmatch(segment)
        if opaque or match is None:
            out.append(segment)
            continue
        name, rest = match.groups()
        out.append(camel(name) + rest)
        opaque = name in _OPAQUE
    return ".".join(out)


def parse_rate_limit(text: str) -> tuple[str, int]:
    """Return ``"100/minute"`` as Litestar's ``("minute", 100)``.

    Raises:
        ValidationError: ``text`` is not ``N/second``, ``N/minute``, ``N/hour`` or ``N/day``.
    """
    match = _RATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValidationError(
            [
                FieldError(
                    field="rate_limit",
                    message="must look like 100/minute (a count per second, minute, hour or day)",
                )
            ]
        )
    unit = match.group(2).lower()
    return unit, int(match.group(1))


# ---------------------------------------------------------------------------- responses


@attrs.frozen(kw_only=True)
class JobCreated:
    """A job was stored; the server's engine sends it as soon as there is room."""

    job_id: str
    status: JobStatus
    message: str


@attrs.frozen(kw_only=True)
class WebhookReceived:
    """What the server did with a provider's webhook delivery (acknowledged in every case)."""

    provider: str
    remote_id: str | None
    job_id: str | None
    applied: bool
    duplicate: bool


@attrs.frozen(kw_only=True)
class JobCancelled:
    """A job is cancelled."""

    job_id: str
    status: JobStatus


@attrs.frozen(kw_only=True)
class BatchCreated:
    """A batch and its jobs were stored, all of them at once."""

    batch_id: str
    job_ids: tuple[str, ...]
    total: int


@attrs.frozen(kw_only=True)
class Pagination:
    """Where a page of a listing is."""

    page: int
    limit: int
    total: int
    pages: int
    has_next: bool


@attrs.frozen(kw_only=True)
class FieldProblem:
    """One bad field of a request, by its path in the request (``videos[1].prompt``)."""

    field: str
    message: str


@attrs.frozen(kw_only=True)
class ErrorBody:
    """What went wrong: a stable ``code``, a message, and the bad fields of a 400."""

    code: str
    message: str
    fields: tuple[FieldProblem, ...] = ()


@attrs.frozen(kw_only=True)
class JobCreatedResponse:
    """``POST /api/v1/videos``."""

    data: JobCreated
    success: bool = True


@attrs.frozen(kw_only=True)
class WebhookReceivedResponse:
    """``POST /api/v1/webhooks/{provider}``."""

    data: WebhookReceived
    success: bool = True


@attrs.frozen(kw_only=True)
class BatchCreatedResponse:
    """``POST /api/v1/videos/batch``."""

    data: BatchCreated
    success: bool = True


@attrs.frozen(kw_only=True)
class JobResponse:
    """``GET /api/v1/videos/{jobId}``."""

    data: Job
    success: bool = True


@attrs.frozen(kw_only=True)
class ResultResponse:
    """``GET /api/v1/videos/{jobId}/result``."""

    data: VideoResult
    success: bool = True


@attrs.frozen(kw_only=True)
class JobCancelledResponse:
    """``DELETE /api/v1/videos/{jobId}``."""

    data: JobCancelled
    success: bool = True


@attrs.frozen(kw_only=True)
class JobListResponse:
    """``GET /api/v1/videos``: one page of jobs, newest first."""

    data: tuple[Job, ...]
    pagination: Pagination
    success: bool = True


@attrs.frozen(kw_only=True)
class BatchResponse:
    """``GET /api/v1/batches/{batchId}``: the batch, its jobs and its progress."""

    data: BatchStatusReport
    success: bool = True


@attrs.frozen(kw_only=True)
class BatchCancelledResponse:
    """``POST /api/v1/batches/{batchId}/cancel``."""

    data: CancellationSummary
    success: bool = True


@attrs.frozen(kw_only=True)
class ErrorResponse:
    """Every error: ``{"success": false, "error": {"code", "message", "fields"}}``."""

    error: ErrorBody
    success: bool = False


def _reference_out(value: str | bytes | None) -> str | None:
    # An image given as bytes (by a program sharing the ledger) shows as the data: URI
    # the API itself accepts.
    if isinstance(value, bytes):
        kind = image_type(value[:16]) or "application/octet-stream"
        return f"data:{kind};base64,{base64.b64encode(value).decode('ascii')}"
    return value


def _camel_converter() -> cattrs.Converter:
    conv = _library_converter.copy()

    def unstructure_attrs(cls: type[Any]) -> Any:
        renames: dict[str, Any] = {
            a.name: override(omit=True)
            if a.name in HIDDEN_FIELDS
            else override(rename=camel(a.name))
            for a in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(cls, conv, **renames)

    conv.register_unstructure_hook_factory(attrs.has, unstructure_attrs)
    conv.register_unstructure_hook_func(lambda t: t == (str | bytes | None), _reference_out)
    return conv


_CAMEL = _camel_converter()


def to_json(value: Any) -> Any:
    """Return a model (or envelope) as camelCase JSON-ready data."""
    return _CAMEL.unstructure(value)


# ---------------------------------------------------------------------------- requests

_VIDEO_FIELDS = {camel(a.name): a.name for a in attrs.fields(CreateVideoRequest)}
_BATCH_FIELDS = {camel(a.name): a.name for a in attrs.fields(BatchVideoRequest)}


def _fields(
    body: Any, known: Mapping[str, str], path: str, errors: list[FieldError]
) -> dict[str, Any] | None:
    """Return a JSON object's known fields by their model names; name the unknown ones."""
    if not isinstance(body, Mapping):
        errors.append(FieldError(field=path or "body", message="must be a JSON object"))
        return None
    prefix = f"{path}." if path else ""
    values: dict[str, Any] = {}
    for key, value in body.items():
        name = known.get(key)
        if name is None:
            hint = f"; did you mean {camel(key)!r}?" if camel(key) in known else ""
            errors.append(FieldError(field=f"{prefix}{key}", message=f"unknown field{hint}"))
        elif value is not None:
            values[name] = value
    return values


def read_video(body: Any, path: str, errors: list[FieldError]) -> CreateVideoRequest | None:
    """Read one video's JSON into a request, adding every problem the wire shows to ``errors``.

    The library's own validation (``client.videos.validate``) comes after, on what was
    read: this only checks what the library cannot know, such as unknown fields and an
    image reference that is neither an ``https://`` URL nor a ``data:`` URI (the server
    reads no file of its own disk). A bad value is named and left out.
    """
    values = _fields(body, _VIDEO_FIELDS, path, errors)
    if values is None:
        return None
    prefix = f"{path}." if path else ""
    if "prompt" not in values:
        errors.append(FieldError(field=f"{prefix}prompt", message="required"))
        values["prompt"] = "-"
    reference = values.get("input_reference")
    if reference is not None and not (
        isinstance(reference, str) and reference.startswith(("https://", "data:image/"))
    ):
        errors.append(
            FieldError(
                field=f"{prefix}inputReference",
                message="must be an https:// URL or a data:image/...;base64, URI "
                "(the server reads no files)",
            )
        )
        del values["input_reference"]
    return CreateVideoRequest(**values)


def read_batch(body: Any, errors: list[FieldError]) -> BatchVideoRequest | None:
    """Read a batch's JSON into a request, adding every problem the wire shows to ``errors``.

    A video that is not a JSON object is named, and stands in the request as a harmless
    placeholder, so that the library names the others' fields by their own index.
    """
    values = _fields(body, _BATCH_FIELDS, "", errors)
    if values is None:
        return None
    videos = values.get("videos")
    if not isinstance(videos, list):
        errors.append(FieldError(field="videos", message="required: a list of videos"))
        values["videos"] = []
    else:
        read = [read_video(video, f"videos[{i}]", errors) for i, video in enumerate(videos)]
        values["videos"] = [r if r is not None else CreateVideoRequest(prompt="-") for r in read]
    return BatchVideoRequest(**values)
