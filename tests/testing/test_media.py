"""The media files the fakes serve are structurally valid, and real decoders read the images."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from soravideo.testing._media import iter_mp4_boxes, jpeg, mp4, webp


def test_mp4_has_ftyp_moov_mdat_with_the_duration_and_size() -> None:
    data = mp4(seconds=8, width=1280, height=720, payload_size=5000, key="k")

    top = list(iter_mp4_boxes(data))
    assert [kind for kind, _ in top] == [b"ftyp", b"moov", b"mdat"]
    assert top[0][1][:4] == b"isom"
    assert len(top[2][1]) == 5000
    moov = dict(iter_mp4_boxes(top[1][1]))
    _, _, timescale, duration = struct.unpack_from(">IIII", moov[b"mvhd"], 4)
    assert duration == 8 * timescale
    trak = dict(iter_mp4_boxes(moov[b"trak"]))
    width, height = struct.unpack_from(">II", trak[b"tkhd"], len(trak[b"tkhd"]) - 8)
    assert (width >> 16, height >> 16) == (1280, 720)
    mdia = dict(iter_mp4_boxes(trak[b"mdia"]))
    assert mdia[b"hdlr"][8:12] == b"vide"
    assert set(dict(iter_mp4_boxes(mdia[b"minf"]))) == {b"vmhd", b"dinf", b"stbl"}


def test_mp4_payload_is_keyed() -> None:
    def payload(key: str) -> bytes:
        return mp4(seconds=4, width=16, height=16, payload_size=64, key=key)

    assert payload("a") == payload("a")
    assert payload("a") != payload("b")


def test_box_reader_rejects_truncated_data() -> None:
    data = mp4(seconds=4, width=16, height=16, payload_size=10, key="k")

    with pytest.raises(ValueError, match="bad size"):
        list(iter_mp4_boxes(data[:-1]))
    with pytest.raises(ValueError, match="truncated"):
        list(iter_mp4_boxes(data + b"\x00\x00"))


@pytest.mark.parametrize(("width", "height"), [(1, 1), (1280, 720), (1080, 1920), (16384, 3)])
def test_webp_is_a_riff_vp8l_image_of_the_asked_size(width: int, height: int) -> None:
    data = webp(width=width, height=height)

    assert data[:4] == b"RIFF"
    assert data[8:16] == b"WEBPVP8L"
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    assert len(data) % 2 == 0
    assert data[20] == 0x2F
    bits = int.from_bytes(data[21:25], "little")
    assert ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1) == (width, height)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (8, 8), (640, 360), (17, 9)])
def test_jpeg_is_a_baseline_image_of_the_asked_size(width: int, height: int) -> None:
    data = jpeg(width=width, height=height)

    assert data[:2] == b"\xff\xd8"
    assert data[-2:] == b"\xff\xd9"
    sof = data.index(b"\xff\xc0")
    precision, h, w, components = struct.unpack_from(">BHHB", data, sof + 4)
    assert (precision, w, h, components) == (8, width, height, 1)
    scan = data.index(b"\xff\xda")
    entropy = data[scan + 10 : -2]
    assert len(entropy) == (2 * ((width + 7) // 8) * ((height + 7) // 8) + 7) // 8


@pytest.mark.parametrize("maker", [webp, jpeg])
def test_images_refuse_impossible_sizes(maker: object) -> None:
    assert callable(maker)
    with pytest.raises(ValueError, match="dimensions"):
        maker(width=0, height=10)


@pytest.mark.parametrize(
    ("tool", "suffix", "make"),
    [
        ("dwebp", ".webp", lambda: webp(width=64, height=36)),
        ("djpeg", ".jpg", lambda: jpeg(width=64, height=36)),
    ],
)
def test_a_real_decoder_reads_the_image(
    tmp_path: Path, tool: str, suffix: str, make: object
) -> None:
    # libwebp's dwebp and libjpeg's djpeg, where installed (Debian: webp, libjpeg-turbo-progs).
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    assert callable(make)
    source = tmp_path / f"image{suffix}"
    source.write_bytes(make())
    target = tmp_path / "image.pgm"
    args = (
        [path, str(source), "-pgm", "-o", str(target)]
        if tool == "dwebp"
        else [path, "-pnm", "-outfile", str(target), str(source)]
    )

    subprocess.run(args, check=True, capture_output=True, timeout=10)

    header = target.read_bytes().split(b"\n", 3)
    assert header[0] == b"P5"
    assert header[1].split()[0] == b"64"
