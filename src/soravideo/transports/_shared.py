"""Small pieces every transport needs alike: write them once here, never again in a transport.

The session and the transport base class (``HttpSession``, ``HttpTransport``,
``UrlResultTransport``) live in ``soravideo.transports._http``; this module holds the plain
functions beside them, which need no session:

- ``env_value(*names)``: the first of these environment variables that is set and not blank
  (an API key, a base URL), stripped; ``None`` when none is.
- ``json_or_none(response)``: a response's JSON body, or ``None`` when it is not JSON (the
  caller then raises ``HttpTransport._unexpected_answer``).
- ``unix_time(value)``: a provider's Unix timestamp (``created_at``, ``expires_at``) as an
  aware UTC datetime, or ``None`` for anything that is not a usable number.
- ``finite_non_negative(value)``: a number a provider reports (a cost, a price) when it is a
  finite, non-negative ``int`` or ``float`` (``bool`` excluded), else ``None``.
- ``FieldProblems(path)``: the list a ``validate`` returns, with ``add(field, message)`` and
  ``add_all(errors)`` putting the request's ``path`` (``videos[3].``) before each field.
- ``spans(values)``: ``"2–10"`` for a contiguous run of durations, ``"4, 6, 8"`` otherwise,
  for validation messages.
- Shapes of a catalogue's models: ``shape_size(resolution, aspect_ratio)`` (the pixel size
  ``resolve_size`` reads them as), ``shape_sizes(resolutions, aspect_ratios)`` (``"WxH"``
  of each pair, once each) and ``shape_of_size(size, resolutions, aspect_ratios)`` (the
  first pair of that size).
- ``BoundedCache``: an insertion-ordered ``str`` → ``str`` map that forgets its oldest entries
  past ``limit`` (10,000): remembered idempotency keys (``HttpTransport._create_once``) and
  output URLs (``UrlResultTransport``); ``BoundedMap`` the same for values of any type.
- Images sent inline (providers that take a ``data:`` URI for a file or bytes):
  ``IMAGE_TYPES`` (PNG, JPEG, WebP), ``sniff_image(content)`` (the type by the first bytes),
  ``image_file_type(path)`` (by name, else by content), ``is_url_reference(reference)``
  (a URL or ``data:`` URI, sent as given), ``data_uri_problem(reference)`` (why a ``data:``
  URI is malformed), ``read_image(reference)`` (the bytes and type of a file or bytes, or a
  [`ValidationError`][soravideo.ValidationError]) and ``data_uri(content, content_type)``.
"""

from __future__ import annotations

import base64
import collections
import json
import math
import mimetypes
import os
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeGuard, TypeVar

import anyio
import attrs
import httpx

from .._core.clock import utc_from_timestamp
from .._core.errors import FieldError, ValidationError
from .._core.models import CreateVideoRequest
from .._core.validation import resolve_size

__all__ = [
    "IMAGE_TYPES",
    "MAX_JSON_DEPTH",
    "BoundedCache",
    "BoundedMap",
    "FieldProblems",
    "checked_webhook_url",
    "data_uri",
    "data_uri_problem",
    "env_value",
    "finite_non_negative",
    "finite_number",
    "image_file_type",
    "is_url_reference",
    "json_or_none",
    "parse_json",
    "read_image",
    "shape_of_size",
    "shape_size",
    "shape_sizes",
    "sniff_image",
    "spans",
    "unix_time",
]

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
"""The image types the URL-result providers take inline."""


def env_value(*names: str) -> str | None:
    """Return the first of these environment variables that is set and not blank, stripped."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


MAX_JSON_DEPTH = 64
"""The deepest nesting of a JSON answer a transport takes (providers' are a few levels deep)."""


def _within_depth(value: Any, limit: int) -> bool:
    """Whether JSON-like data nests at most ``limit`` arrays and objects deep (no recursion).

    Walked a level at a time, looking at containers only: a parsed answer holds plain
    ``dict`` and ``list`` (other mappings and sequences are walked too, more slowly).
    """
    level = [value] if _is_container(value) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return False
        below: list[Any] = []
        for item in level:
            children = item.values() if type(item) is dict or isinstance(item, Mapping) else item
            # A type test in line for the usual leaves; anything else asks _is_container.
            below += [
                child
                for child in children
                if type(child) not in _LEAVES and (type(child) in _JSON or _is_container(child))
            ]
        level = below
    return True


_JSON = frozenset({dict, list})
_LEAVES = frozenset({str, int, float, bool, type(None)})


def _is_container(value: Any) -> bool:
    kind = type(value)
    if kind is dict or kind is list:
        return True
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return False
    return isinstance(value, (Mapping, list))


def checked_webhook_url(url: str | None) -> str | None:
    """Return a transport's ``webhook_url`` once it is an absolute ``http(s)`` URL with a
    host (``None`` or ``""``: no webhook).

    Checked when the transport is made, so that a typo is named before any create is sent
    (the provider would refuse the create, or push to nowhere).

    Raises:
        ValidationError: naming ``webhook_url``.
    """
    if url is None or url == "":
        return None
    parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(
            [
                FieldError(
                    field="webhook_url",
                    message="must be an absolute http:// or https:// URL that the provider "
                    "can reach (where it pushes each job's end)",
                )
            ]
        )
    return url


def parse_json(response: httpx.Response) -> Any:
    """Return an answer's JSON, or ``None`` when it holds none a transport can use.

    ``None`` for a body that is not JSON (or not UTF-8), for JSON nested deeper than
    ``MAX_JSON_DEPTH`` (deep enough to exhaust a recursive parser, or any recursive walk
    of it later) and for integers too long to parse: never an exception.

    Args:
        response: The answer, body read.

    Returns:
        The parsed JSON, or ``None``.
    """
    try:
        parsed = json.loads(response.content)
    except (ValueError, RecursionError):
        return None
    return parsed if _within_depth(parsed, MAX_JSON_DEPTH) else None


def finite_number(value: Any) -> float | None:
    """Return a JSON number as a finite float, or ``None`` for anything else.

    ``None`` for a bool, a string, an infinity or NaN, and an integer past float range
    (where ``float()`` and ``math.isnan`` raise ``OverflowError``).

    Args:
        value: A value from a provider's answer.

    Returns:
        The number, or ``None``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


json_or_none = parse_json
"""The former name of ``parse_json``."""


def unix_time(value: Any) -> datetime | None:
    """Return a Unix timestamp as an aware UTC datetime, or ``None`` when it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return utc_from_timestamp(float(value))
    except (OverflowError, OSError, ValueError):
        return None


def finite_non_negative(value: Any) -> float | None:
    """Return ``value`` as a float when it is a finite number ≥ 0 (not a bool), else ``None``."""
    number = finite_number(value)
    return number if number is not None and number >= 0 else None


def shape_size(resolution: str, aspect_ratio: str) -> tuple[int, int] | None:
    """Return the pixel size of a resolution and aspect ratio, as ``resolve_size`` reads them."""
    return resolve_size(
        CreateVideoRequest(prompt="-", resolution=resolution, aspect_ratio=aspect_ratio)
    )


def shape_sizes(resolutions: Iterable[str], aspect_ratios: Sequence[str]) -> tuple[str, ...]:
    """Return ``"WxH"`` for each resolution and aspect ratio that has a size, once each."""
    found = (shape_size(res, ratio) for res in resolutions for ratio in aspect_ratios)
    return tuple(dict.fromkeys(f"{size[0]}x{size[1]}" for size in found if size is not None))


def shape_of_size(
    size: tuple[int, int] | None, resolutions: Iterable[str], aspect_ratios: Sequence[str]
) -> tuple[str, str] | None:
    """Return the first ``(resolution, aspect_ratio)`` of this pixel size, else ``None``."""
    if size is None:
        return None
    for res in resolutions:
        for ratio in aspect_ratios:
            if shape_size(res, ratio) == size:
                return res, ratio
    return None


class FieldProblems(list[FieldError]):
    """The problems ``validate`` finds, each field named under the request's ``path``."""

    def __init__(self, path: str = "") -> None:
        super().__init__()
        self.prefix = f"{path}." if path else ""

    def add(self, field: str, message: str) -> None:
        """Add the problem of ``field`` (``"duration"`` becomes ``"videos[3].duration"``)."""
        self.append(FieldError(field=f"{self.prefix}{field}", message=message))

    def add_all(self, errors: Iterable[FieldError]) -> None:
        """Add problems found for the request alone, their fields put under ``path``."""
        self.extend(attrs.evolve(e, field=f"{self.prefix}{e.field}") for e in errors)


def spans(values: Sequence[int]) -> str:
    """Return ``2–10`` for a contiguous run, ``4, 6, 8`` otherwise."""
    ordered = sorted(values)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}–{ordered[-1]}"
    return ", ".join(str(v) for v in ordered)


_V = TypeVar("_V")


class BoundedMap(collections.OrderedDict[str, _V]):
    """A map by ``str`` that keeps the ``limit`` entries remembered last."""

    def __init__(self, limit: int = 10_000) -> None:
        super().__init__()
        self.limit = limit

    def remember(self, key: str, value: _V) -> None:
        """Store ``value`` under ``key`` as the newest entry; forget the oldest past the limit."""
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class BoundedCache(BoundedMap[str]):
    """A ``str`` → ``str`` map that keeps the ``limit`` entries remembered last."""


def sniff_image(content: bytes) -> str | None:
    """Return the type of a PNG, JPEG or WebP image by its first bytes, else ``None``."""
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_file_type(path: str) -> str | None:
    """Return an image file's type (one of ``IMAGE_TYPES``) by its name, else by its content.

    Raises:
        OSError: the file cannot be read.
    """
    guessed = mimetypes.guess_type(path)[0]
    if guessed in IMAGE_TYPES:
        return guessed
    with open(path, "rb") as handle:
        return sniff_image(handle.read(16))


def is_url_reference(reference: str | bytes) -> TypeGuard[str]:
    """Whether an ``input_reference`` is a URL or ``data:`` URI (sent as given), not a file."""
    return isinstance(reference, str) and ("://" in reference or reference.startswith("data:"))


def data_uri_problem(reference: str) -> str | None:
    """Return why a ``data:`` URI cannot be an image a provider reads, or ``None``."""
    head = reference[:64].lower()
    if not head.startswith("data:image/") or ";base64," not in reference[:128]:
        return "a data: URI must be base64 and start with data:image/<type>;base64,"
    return None


async def read_image(reference: str | bytes) -> tuple[bytes, str]:
    """Return the bytes and type of an image given as bytes or as a file's path.

    Raises:
        ValidationError: ``input_reference`` is not a PNG, JPEG or WebP image.
        OSError: the file cannot be read.
    """
    content = (
        reference if isinstance(reference, bytes) else await anyio.Path(reference).read_bytes()
    )
    content_type = sniff_image(content)
    if content_type is None and isinstance(reference, str):
        guessed = mimetypes.guess_type(reference)[0]
        content_type = guessed if guessed in IMAGE_TYPES else None
    if content_type is None:
        raise ValidationError(
            [FieldError(field="input_reference", message="not a PNG, JPEG or WebP image")]
        )
    return content, content_type


def data_uri(content: bytes, content_type: str) -> str:
    """Return ``data:<type>;base64,…`` for these bytes."""
    return f"data:{content_type};base64,{base64.b64encode(content).decode('ascii')}"
