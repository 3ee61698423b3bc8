"""Small but structurally valid media files, built in code: MP4, WebP and JPEG.

The fakes serve these as video content, thumbnails and spritesheets, so clients can check
magic numbers, box structure and dimensions without any real encoder. Pixels are a flat
grey: the point is the container, not the picture.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator

__all__ = ["iter_mp4_boxes", "jpeg", "mp4", "webp"]

_MP4_TIMESCALE = 1000
_IDENTITY_MATRIX = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, bytes([version]) + flags.to_bytes(3, "big"), *payload)


def mp4(*, seconds: int, width: int, height: int, payload_size: int, key: str) -> bytes:
    """Build an MP4 file: ``ftyp``, ``moov`` (one video track of this size and length), ``mdat``.

    Args:
        seconds: Duration written in ``mvhd``, ``tkhd`` and ``mdhd``.
        width / height: Track dimensions written in ``tkhd``.
        payload_size: Bytes of ``mdat`` payload (deterministic noise).
        key: Seeds the payload, so each video's bytes differ and repeat.

    Returns:
        The whole file.
    """
    duration = seconds * _MP4_TIMESCALE
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isom", b"iso2", b"avc1", b"mp41")
    mvhd = _full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, _MP4_TIMESCALE, duration),
        struct.pack(">IH", 0x00010000, 0x0100),
        bytes(10),
        _IDENTITY_MATRIX,
        bytes(24),
        struct.pack(">I", 2),
    )
    tkhd = _full_box(
        b"tkhd",
        0,
        3,  # enabled, in movie
        struct.pack(">IIIII", 0, 0, 1, 0, duration),
        bytes(8),
        struct.pack(">hhhH", 0, 0, 0, 0),
        _IDENTITY_MATRIX,
        struct.pack(">II", width << 16, height << 16),
    )
    language = ((ord("u") - 0x60) << 10) | ((ord("n") - 0x60) << 5) | (ord("d") - 0x60)
    mdhd = _full_box(
        b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, _MP4_TIMESCALE, duration, language, 0)
    )
    hdlr = _full_box(b"hdlr", 0, 0, struct.pack(">I", 0), b"vide", bytes(12), b"VideoHandler\x00")
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        _full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    minf = _box(b"minf", _full_box(b"vmhd", 0, 1, bytes(8)), dinf, stbl)
    moov = _box(b"moov", mvhd, _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf)))
    mdat = _box(b"mdat", random.Random(key).randbytes(max(0, payload_size)))
    return ftyp + moov + mdat


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
