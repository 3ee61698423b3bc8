"""What downloaded content must be before it is kept: its label, its first bytes, its length.

A ``ContentCheck`` watches one download as it streams. It refuses, by raising ``Rejected``:

- a content type that is not the variant's (``text/html``, ``application/json`` for a
  video); a missing one, or ``application/octet-stream``, is left to the bytes;
- first bytes that are not the container asked for: an ISO base media file (MP4, MOV:
  a ``ftyp`` box) for a video, WebP, PNG or JPEG for an image variant;
- a body longer than ``max_bytes``, checked on ``Content-Length`` before any byte is read,
  then on every chunk, so an endless body stops at the cap;
- a body shorter or longer than its ``Content-Length``; without one (chunked, or ended by
  closing the connection), a body that ends before the container says it does: an MP4's
  top-level boxes must add up to the whole body and include ``moov`` and ``mdat``, a
  WebP must be as long as its RIFF size says, a PNG must end with ``IEND`` and a JPEG
  with its end-of-image marker.

Variants it does not know (another provider's) are only checked for a textual content
type, the cap and their length.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["ContentCheck", "Rejected", "media_kind"]

Kind = Literal["video", "image"]

_KINDS: dict[str, Kind] = {"video": "video", "thumbnail": "image", "spritesheet": "image"}
_BINARY = ("application/octet-stream", "binary/octet-stream")
_ACCEPTED: dict[Kind, tuple[str, ...]] = {
    "video": ("video/", "application/mp4", *_BINARY),
    "image": ("image/", *_BINARY),
}
_TEXTUAL = ("text/", "application/json", "application/xml", "application/javascript")
_FORMATS: dict[Kind, frozenset[str]] = {
    "video": frozenset({"mp4"}),
    "image": frozenset({"webp", "png", "jpeg"}),
}
_EXPECTED: dict[Kind, str] = {"video": "an MP4/MOV video", "image": "a WebP, PNG or JPEG image"}
_HEAD = 12  # bytes needed to tell the formats apart
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk's type and CRC: the last 8 bytes of a PNG
_JPEG_END = b"\xff\xd9"


class Rejected(Exception):
    """The content failed a check. ``code`` is a [`DownloadError`][soravideo.DownloadError] code."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


def media_kind(variant: str) -> Kind | None:
    """Return what a variant holds (``"video"``, ``"image"``), or ``None`` when unknown."""
    return _KINDS.get(variant)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_textual(media: str) -> bool:
    return media.startswith(_TEXTUAL) or media.endswith(("+json", "+xml"))


def _identify(head: bytes) -> str | None:
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:8] == _PNG_SIGNATURE:
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    return None


class _BoxWalk:
    """Follows an ISO base media file's top-level box sizes across chunks."""

    def __init__(self) -> None:
        self._skip = 0
        self._header = bytearray()
        self._to_end = False  # a box of size 0 runs to the end of the file
        self.broken = False
        self.kinds: set[bytes] = set()

    def _size32(self) -> int:
        return int.from_bytes(self._header[:4], "big")

    def feed(self, chunk: bytes) -> None:
        i, n = 0, len(chunk)
        while i < n and not (self.broken or self._to_end):
            if self._skip:
                step = min(self._skip, n - i)
                self._skip -= step
                i += step
                continue
            want = 16 if len(self._header) >= 8 and self._size32() == 1 else 8
            take = min(want - len(self._header), n - i)
            self._header += chunk[i : i + take]
            i += take
            if len(self._header) < want:
                continue
            size = self._size32()
            if size == 1 and want == 8:
                continue  # a 64-bit size follows the type
            self.kinds.add(bytes(self._header[4:8]))
            if size == 1:
                size = int.from_bytes(self._header[8:16], "big")
            elif size == 0:
                self._to_end = True
                return
            if size < len(self._header):
                self.broken = True
                return
            self._skip = size - len(self._header)
            self._header.clear()

    @property
    def complete(self) -> bool:
        """Whether the bytes so far end exactly where a box ends, with the movie's metadata
        (``moov``) and media data (``mdat``) among them: a cut that falls between two
        boxes leaves one of them out."""
        ended = self._to_end or not (self.broken or self._skip or self._header)
        return ended and {b"moov", b"mdat"} <= self.kinds


class ContentCheck:
    """Check one download while it streams: ``start``, ``feed`` each chunk, ``finish``.

    Args:
        variant: The variant asked for (``"video"``, ``"thumbnail"`` …).
        content_type: The answer's ``Content-Type``, if any.
        content_length: The answer's ``Content-Length`` (``None`` when absent or when the
            body is compressed on the wire).
        max_bytes: The most bytes the body may have.
    """

    def __init__(
        self,
        *,
        variant: str,
        content_type: str | None,
        content_length: int | None,
        max_bytes: int,
    ) -> None:
        self.kind = media_kind(variant)
        self.content_type = content_type
        self.content_length = content_length
        self.max_bytes = max_bytes
        self.size = 0
        self.format: str | None = None
        self._head = b""
        self._tail = b""
        self._boxes = _BoxWalk()

    def start(self) -> None:
        """Check the headers, before any byte of the body is read.

        Raises:
            Rejected: ``too_large`` or ``content_type``.
        """
        if self.content_length is not None and self.content_length > self.max_bytes:
            raise Rejected(
                "too_large",
                f"its Content-Length is {self.content_length} bytes, more than "
                f"max_download_bytes ({self.max_bytes})",
            )
        media = _media_type(self.content_type)
        if not media:
            return
        if self.kind is None:
            if _is_textual(media):
                raise Rejected("content_type", f"the answer is {media}, not media")
        elif not media.startswith(_ACCEPTED[self.kind]):
            raise Rejected("content_type", f"the answer is {media}, not {_EXPECTED[self.kind]}")

    def feed(self, chunk: bytes) -> None:
        """Check the next chunk, before it is written.

        Raises:
            Rejected: ``too_large``, ``length_mismatch`` or ``not_media``.
        """
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise Rejected(
                "too_large",
                f"the body ran past max_download_bytes ({self.max_bytes}); stopped there",
            )
        if self.content_length is not None and self.size > self.content_length:
            raise Rejected(
                "length_mismatch",
                f"the body ran past its Content-Length of {self.content_length} bytes",
            )
        if len(self._head) < _HEAD:
            self._head += chunk[: _HEAD - len(self._head)]
            if len(self._head) == _HEAD:
                self._identify()
        self._boxes.feed(chunk)
        self._tail = (self._tail + chunk[-_HEAD:])[-_HEAD:]

    def _identify(self) -> None:
        self.format = _identify(self._head)
        if self.kind is not None and self.format not in _FORMATS[self.kind]:
            found = f"{self.format.upper()} data" if self.format else "something else"
            raise Rejected(
                "not_media",
                f"its first bytes are {found}, not {_EXPECTED[self.kind]}",
            )

    def finish(self) -> None:
        """Check the body as a whole, once it ended.

        Raises:
            Rejected: ``not_media`` or ``incomplete_download``.
        """
        if self.size == 0 and self.kind is not None:
            raise Rejected("not_media", f"the body is empty, not {_EXPECTED[self.kind]}")
        if len(self._head) < _HEAD:
            self._identify()
        if self.content_length is not None:
            if self.size < self.content_length:
                raise Rejected(
                    "incomplete_download",
                    f"the body was cut short: {self.size} of {self.content_length} bytes",
                )
            return
        if not self._whole():
            raise Rejected(
                "incomplete_download",
                f"the body (no Content-Length) ended after {self.size} bytes, before the "
                f"end of its {(self.format or '').upper()} data: it was cut short",
            )

    def _whole(self) -> bool:
        """Whether the container's own structure says the body is all there."""
        if self.format == "mp4":
            return self._boxes.complete
        if self.format == "webp":
            return self.size == 8 + int.from_bytes(self._head[4:8], "little")
        if self.format == "png":
            return self._tail.endswith(_PNG_END)
        if self.format == "jpeg":
            return self._tail.endswith(_JPEG_END)
        return True
