"""The checks a download passes before it is kept, on the bytes alone, however they are chunked."""

from __future__ import annotations

import itertools
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soravideo._engine.content_check import ContentCheck, Rejected
from soravideo.testing._media import jpeg, mp4, webp

CAP = 10**9


def png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = (b"\x00" + b"\x80" * width) * height
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def box(kind: bytes, payload: bytes, *, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I", 1) + kind + struct.pack(">Q", 16 + len(payload)) + payload
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def run(
    data: bytes,
    cuts: list[int],
    *,
    variant: str = "video",
    content_type: str | None = None,
    content_length: int | None = None,
    max_bytes: int = CAP,
) -> ContentCheck:
    """Feed ``data`` split at ``cuts`` (positions, any order) and finish."""
    check = ContentCheck(
        variant=variant,
        content_type=content_type,
        content_length=content_length,
        max_bytes=max_bytes,
    )
    check.start()
    bounds = sorted({0, len(data), *(c for c in cuts if 0 < c < len(data))})
    for start, end in itertools.pairwise(bounds):
        check.feed(data[start:end])
    check.finish()
    return check


def rejected(data: bytes, cuts: list[int], **kwargs: object) -> str:
    with pytest.raises(Rejected) as info:
        run(data, cuts, **kwargs)  # type: ignore[arg-type]
    return info.value.code


MEDIA = {
    "video": [
        mp4(seconds=4, width=720, height=1280, payload_size=3000, key="a"),
        mp4(seconds=8, width=1280, height=720, payload_size=0, key="b"),
        box(b"ftyp", b"isom\x00\x00\x02\x00isom")
        + box(b"moov", b"\x00" * 40)
        + box(b"mdat", b"\x01" * 300, large=True),
        box(b"ftyp", b"qt  \x00\x00\x00\x00qt  ")
        + box(b"mdat", b"\x02" * 100)
        + box(b"moov", b"\x00" * 12),
    ],
    "thumbnail": [webp(width=4, height=4), webp(width=300, height=20), png(), png(7, 3)],
    "spritesheet": [jpeg(width=16, height=16), jpeg(width=90, height=30)],
}
CASES = [
    pytest.param(variant, data, id=f"{variant}-{i}")
    for variant, items in MEDIA.items()
    for i, data in enumerate(items)
]
cuts = st.lists(st.integers(min_value=0, max_value=5000), max_size=12)


@pytest.mark.parametrize(("variant", "data"), CASES)
@settings(max_examples=30, deadline=None)
@given(cuts=cuts)
def test_whole_media_passes_however_it_is_chunked(
    variant: str, data: bytes, cuts: list[int]
) -> None:
    assert run(data, cuts, variant=variant).size == len(data)
    assert run(data, cuts, variant=variant, content_length=len(data)).size == len(data)


@pytest.mark.parametrize(("variant", "data"), CASES)
@settings(max_examples=40, deadline=None)
@given(cuts=cuts, keep=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_any_truncation_without_content_length_is_refused(
    variant: str, data: bytes, cuts: list[int], keep: float
) -> None:
    short = data[: int(len(data) * keep)]
    assert rejected(short, cuts, variant=variant) in ("incomplete_download", "not_media")
    code = rejected(short, cuts, variant=variant, content_length=len(data))
    assert code in ("incomplete_download", "not_media")


@given(cuts=cuts, cap=st.integers(min_value=1, max_value=20_000))
def test_the_cap_holds_with_or_without_content_length(cuts: list[int], cap: int) -> None:
    data = MEDIA["video"][0]
    if cap >= len(data):
        run(data, cuts, max_bytes=cap)
        run(data, cuts, max_bytes=cap, content_length=len(data))
    else:
        assert rejected(data, cuts, max_bytes=cap) == "too_large"
        assert rejected(data, cuts, max_bytes=cap, content_length=len(data)) == "too_large"


def test_too_large_a_content_length_is_refused_before_reading() -> None:
    check = ContentCheck(
        variant="video", content_type="video/mp4", content_length=10**15, max_bytes=CAP
    )
    with pytest.raises(Rejected) as info:
        check.start()
    assert info.value.code == "too_large"
    assert "max_download_bytes" in info.value.reason


@pytest.mark.parametrize(
    ("variant", "content_type", "ok"),
    [
        ("video", "video/mp4", True),
        ("video", "VIDEO/QuickTime; charset=binary", True),
        ("video", "application/octet-stream", True),
        ("video", "binary/octet-stream", True),
        ("video", "application/mp4", True),
        ("video", None, True),
        ("video", "", True),
        ("video", "text/html; charset=utf-8", False),
        ("video", "application/json", False),
        ("video", "application/problem+json", False),
        ("video", "image/webp", False),
        ("thumbnail", "image/webp", True),
        ("thumbnail", "image/png", True),
        ("spritesheet", "image/jpeg", True),
        ("thumbnail", "video/mp4", False),
        ("spritesheet", "text/plain", False),
        ("another", "application/x-whatever", True),
        ("another", "text/html", False),
        ("another", "application/vnd.api+json", False),
        ("another", "application/xml", False),
    ],
)
def test_content_types(variant: str, content_type: str | None, ok: bool) -> None:
    check = ContentCheck(
        variant=variant, content_type=content_type, content_length=None, max_bytes=CAP
    )
    if ok:
        check.start()
    else:
        with pytest.raises(Rejected) as info:
            check.start()
        assert info.value.code == "content_type"


@pytest.mark.parametrize(
    ("variant", "data"),
    [
        ("video", b"<!DOCTYPE html><html>502</html>"),
        ("video", b'{"error": "nope"}'),
        ("video", webp(width=2, height=2)),
        ("video", b""),
        ("video", b"abc"),
        ("thumbnail", MEDIA["video"][0]),
        ("thumbnail", b"GIF89a" + b"\x00" * 20),
        ("spritesheet", b"\x00" * 100),
    ],
)
def test_what_is_not_the_media_asked_for(variant: str, data: bytes) -> None:
    assert rejected(data, [1, 5], variant=variant) == "not_media"


def test_an_unknown_variant_is_checked_for_length_only() -> None:
    assert run(b"anything at all", [3], variant="another").format is None
    assert rejected(b"abc", [], variant="another", content_length=10) == "incomplete_download"


def test_a_body_longer_than_its_content_length_stops_there() -> None:
    data = MEDIA["video"][0]
    assert rejected(data + data, [len(data)], content_length=len(data)) == "length_mismatch"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            box(b"ftyp", b"isom") + box(b"moov", b"") + box(b"mdat", b"xy")[:-1], id="cut"
        ),
        pytest.param(box(b"ftyp", b"isom") + box(b"moov", b""), id="no-mdat"),
        pytest.param(box(b"ftyp", b"isom") + box(b"mdat", b"xy"), id="no-moov"),
        pytest.param(box(b"ftyp", b"isom") + b"\x00\x00\x00\x04free", id="bad-size"),
        pytest.param(
            box(b"ftyp", b"isom") + box(b"moov", b"") + b"\x00\x00\x00\x01mdat", id="half-large"
        ),
    ],
)
def test_an_mp4_whose_boxes_do_not_add_up_is_incomplete(data: bytes) -> None:
    assert rejected(data, [9, 13]) == "incomplete_download"


def test_an_mp4_whose_last_box_runs_to_the_end_is_whole() -> None:
    data = box(b"ftyp", b"isom") + box(b"moov", b"") + b"\x00\x00\x00\x00mdat" + b"\x05" * 50
    assert run(data, [20, 21]).size == len(data)


@pytest.mark.parametrize(("variant", "data"), CASES)
def test_every_prefix_is_refused(variant: str, data: bytes) -> None:
    for length in range(len(data)):
        assert rejected(data[:length], [], variant=variant) in ("incomplete_download", "not_media")
