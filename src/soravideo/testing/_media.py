"""The media the fakes serve: real, playable files, plus tiny image builders for tests.

The fakes' videos, thumbnails and spritesheets are small real files made once by
``scripts/make_media.py`` and shipped in ``soravideo/testing/media/``: for each shape
(landscape, portrait, square) an H.264 MP4 that browsers play (24 frames, 320 pixels on the
long side, ``ftyp``, ``moov``, ``mdat``), a WebP thumbnail of its middle frame and a JPEG
spritesheet of 5 x 5 tenth-size frames. ``mp4`` adapts the clip to each fake video: the
duration and size it asked for written in its headers (the 24 frames spread over the
duration; a player scales the picture to the size), and keyed filler after the frames, so
each video's bytes differ and repeat.

``webp`` and ``jpeg`` build flat-grey images of any size in code, for tests that need one.
"""

from __future__ import annotations

import functools
import random
import struct
from collections.abc import Iterator
from importlib import resources

__all__ = ["iter_mp4_boxes", "jpeg", "media_file", "mp4", "spritesheet", "thumbnail", "webp"]

_MOVIE_TIMESCALE = 1000  # mvhd's, as FFmpeg writes it: durations in milliseconds


def _shape(width: int, height: int) -> str:
    if width > height:
        return "landscape"
    return "portrait" if width < height else "square"


@functools.cache
def media_file(name: str) -> bytes:
    """Return one of the shipped media files (``landscape.mp4``, ``square.webp`` …)."""
    return (resources.files("soravideo.testing") / "media" / name).read_bytes()


def thumbnail(*, width: int, height: int) -> bytes:
    """Return the real WebP thumbnail of the shape (landscape, portrait, square) of this size."""
    return media_file(f"{_shape(width, height)}.webp")


def spritesheet(*, width: int, height: int) -> bytes:
    """Return the real JPEG spritesheet (5 x 5 tenth-size frames) of this size's shape."""
    return media_file(f"{_shape(width, height)}.jpg")


def _find(data: bytes | bytearray, path: tuple[bytes, ...], start: int = 0) -> int:
    """Return the offset of the payload of the box at ``path`` (e.g. ``moov``, ``mvhd``)."""
    end = len(data)
    for kind in path:
        while True:
            size, found = struct.unpack_from(">I4s", data, start)
            if size < 8 or start + size > end:
                raise ValueError(f"bad size {size} for box {found!r} at {start}")
            if found == kind:
                start, end = start + 8, start + size
                break
            start += size
            if start >= end:
                raise ValueError(f"no {kind!r} box")
    return start


def mp4(*, seconds: int, width: int, height: int, payload_size: int, key: str) -> bytes:
    """Return a playable MP4 of this length and size: the shipped clip of its shape, adapted.

    Args:
        seconds: The duration, written in ``mvhd``, ``tkhd``, the edit list and ``mdhd``
            (whose timescale and ``stts`` spread the clip's frames evenly over it).
        width / height: The presentation size written in ``tkhd``; the shape picks the clip.
        payload_size: Bytes of keyed filler after the frames in ``mdat`` (no sample points
            at them, so players skip them): how big the download is.
        key: Seeds the filler, so each video's bytes differ and repeat.

    Returns:
        The whole file.
    """
    data = bytearray(media_file(f"{_shape(width, height)}.mp4"))
    millis = seconds * _MOVIE_TIMESCALE
    mvhd = _find(data, (b"moov", b"mvhd"))
    struct.pack_into(">II", data, mvhd + 12, _MOVIE_TIMESCALE, millis)
    trak = (b"moov", b"trak")
    tkhd = _find(data, (*trak, b"tkhd"))
    struct.pack_into(">I", data, tkhd + 20, millis)
    struct.pack_into(">II", data, tkhd + 76, width << 16, height << 16)
    elst = _find(data, (*trak, b"edts", b"elst"))
    struct.pack_into(">I", data, elst + 8, millis)
    media = (*trak, b"mdia")
    stts = _find(data, (*media, b"minf", b"stbl", b"stts"))
    frames = struct.unpack_from(">I", data, stts + 8)[0]
    struct.pack_into(">I", data, stts + 12, seconds)  # each frame lasts seconds / frames
    mdhd = _find(data, (*media, b"mdhd"))
    struct.pack_into(">II", data, mdhd + 12, frames, frames * seconds)
    mdat = _find(data, (b"mdat",)) - 8
    filler = random.Random(key).randbytes(max(0, payload_size))
    struct.pack_into(">I", data, mdat, len(data) - mdat + len(filler))
    return bytes(data) + filler


def iter_mp4_boxes(
    data: bytes, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(type, payload)`` for each box between ``start`` and ``end``.

    Raises:
        ValueError: a box header is truncated or a size runs past the end.
    """
    end = len(data) if end is None else end
    pos = start
    while pos < end:
        if end - pos < 8:
            raise ValueError(f"truncated box header at {pos}")
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size < 8 or pos + size > end:
            raise ValueError(f"bad size {size} for box {kind!r} at {pos}")
        yield kind, data[pos + 8 : pos + size]
        pos += size


class _LsbBits:
    """A bit writer, least significant bit first (the VP8L order)."""

    def __init__(self) -> None:
        self._value = 0
        self._count = 0

    def write(self, value: int, bits: int) -> None:
        self._value |= (value & ((1 << bits) - 1)) << self._count
        self._count += bits

    def to_bytes(self) -> bytes:
        return self._value.to_bytes((self._count + 7) // 8, "little")


def webp(*, width: int, height: int, grey: int = 128) -> bytes:
    """Build a lossless WebP (VP8L) of one flat colour.

    Each of the five prefix codes is a "simple" code with one symbol, so every pixel costs
    zero bits and any size up to 16384 x 16384 stays a few dozen bytes.
    """
    if not (1 <= width <= 16384 and 1 <= height <= 16384):
        raise ValueError("WebP dimensions are 1 to 16384")
    bits = _LsbBits()
    bits.write(0x2F, 8)  # VP8L signature
    bits.write(width - 1, 14)
    bits.write(height - 1, 14)
    bits.write(0, 1)  # alpha unused
    bits.write(0, 3)  # version
    bits.write(0, 1)  # no transform
    bits.write(0, 1)  # no colour cache
    bits.write(0, 1)  # no meta prefix codes
    for symbol in (grey, grey, grey, 255, 0):  # green, red, blue, alpha, distance
        bits.write(1, 1)  # simple code
        bits.write(0, 1)  # one symbol
        if symbol < 2:
            bits.write(0, 1)
            bits.write(symbol, 1)
        else:
            bits.write(1, 1)
            bits.write(symbol, 8)
    stream = bits.to_bytes()
    chunk = (
        b"VP8L" + struct.pack("<I", len(stream)) + stream + (b"\x00" if len(stream) % 2 else b"")
    )
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", 0xFF00 | marker, 2 + len(payload)) + payload


def jpeg(*, width: int, height: int) -> bytes:
    """Build a baseline greyscale JPEG of flat mid-grey.

    Every 8x8 block has a zero DC difference and no AC coefficients; with one-symbol
    Huffman tables that is two bits per block.
    """
    if not (1 <= width <= 65535 and 1 <= height <= 65535):
        raise ValueError("JPEG dimensions are 1 to 65535")
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    bit_count = 2 * blocks
    byte_count = (bit_count + 7) // 8
    # The code bits are all zeros; the last byte is padded with ones, as the standard asks.
    entropy = bytearray(byte_count)
    if bit_count % 8:
        entropy[-1] = (1 << (8 - bit_count % 8)) - 1
    stuffed = bytes(entropy).replace(b"\xff", b"\xff\x00")
    one_symbol = bytes([1] + [0] * 15) + b"\x00"
    return b"".join(
        [
            b"\xff\xd8",
            _segment(0xE0, b"JFIF\x00\x01\x01\x00" + struct.pack(">HH", 1, 1) + b"\x00\x00"),
            _segment(0xDB, b"\x00" + bytes([1] * 64)),
            _segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"),
            _segment(0xC4, b"\x00" + one_symbol),  # DC table 0: category 0 only
            _segment(0xC4, b"\x10" + one_symbol),  # AC table 0: end-of-block only
            _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
            stuffed,
            b"\xff\xd9",
        ]
    )
