"""The media files the fakes serve are structurally valid, and real decoders read them."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from soravideo._engine.content_check import ContentCheck
from soravideo.testing._media import (
    iter_mp4_boxes,
    jpeg,
    media_file,
    mp4,
    spritesheet,
    thumbnail,
    webp,
)

SHAPES = [(1280, 720), (720, 1280), (960, 960), (1792, 1024)]


def _frames_only(width: int, height: int) -> int:
    """The bytes of the shipped clip's ``mdat`` payload: its frames."""
    return len(
        list(iter_mp4_boxes(mp4(seconds=1, width=width, height=height, payload_size=0, key="")))[2][
            1
        ]
    )


def test_mp4_has_ftyp_moov_mdat_with_the_duration_and_size() -> None:
    data = mp4(seconds=8, width=1280, height=720, payload_size=5000, key="k")

    top = list(iter_mp4_boxes(data))
    assert [kind for kind, _ in top] == [b"ftyp", b"moov", b"mdat"]
    assert top[0][1][:4] == b"isom"
    assert len(top[2][1]) == _frames_only(1280, 720) + 5000
    assert top[2][1].startswith(list(iter_mp4_boxes(media_file("landscape.mp4")))[2][1])
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


@pytest.mark.parametrize(("width", "height"), SHAPES)
@pytest.mark.parametrize("seconds", [1, 4, 12])
def test_a_real_decoder_plays_the_video_for_its_duration(
    width: int, height: int, seconds: int
) -> None:
    av = pytest.importorskip("av")  # PyAV, from the dev extra
    data = mp4(seconds=seconds, width=width, height=height, payload_size=3000, key="k")

    with av.open(io.BytesIO(data)) as container:
        [stream] = container.streams.video
        assert stream.codec_context.name == "h264"
        assert float(container.duration / 1_000_000) == pytest.approx(seconds, abs=0.01)
        frames = list(container.decode(stream))
    assert len(frames) == 24
    assert (frames[0].width > frames[0].height) == (width > height)
    assert (frames[0].width == frames[0].height) == (width == height)
    luma = bytes(frames[12].planes[0])
    assert len(set(luma)) > 20  # a picture, not a flat colour


@pytest.mark.parametrize(("width", "height"), SHAPES)
@pytest.mark.parametrize(
    ("variant", "make", "kind"),
    [("thumbnail", thumbnail, "WEBP"), ("spritesheet", spritesheet, "JPEG")],
)
def test_a_real_decoder_reads_the_thumbnail_and_the_spritesheet(
    width: int, height: int, variant: str, make: object, kind: str
) -> None:
    image_module = pytest.importorskip("PIL.Image")  # Pillow, from the dev extra
    assert callable(make)
    data = make(width=width, height=height)

    with image_module.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == kind
        assert (image.width > image.height) == (width > height)
        assert len(set(image.convert("L").tobytes())) > 20  # a picture, not a flat colour
    assert len(data) < 8 * 1024


@pytest.mark.parametrize(("width", "height"), SHAPES)
@pytest.mark.parametrize("variant", ["video", "thumbnail", "spritesheet"])
def test_the_shipped_media_pass_the_download_checks(width: int, height: int, variant: str) -> None:
    data = {
        "video": lambda: mp4(seconds=4, width=width, height=height, payload_size=100, key="k"),
        "thumbnail": lambda: thumbnail(width=width, height=height),
        "spritesheet": lambda: spritesheet(width=width, height=height),
    }[variant]()
    for content_length in (len(data), None):  # None: the body's own structure must end it
        check = ContentCheck(
            variant=variant, content_type=None, content_length=content_length, max_bytes=1 << 20
        )
        check.start()
        for start in range(0, len(data), 1000):
            check.feed(data[start : start + 1000])
        check.finish()


@pytest.mark.parametrize("name", ["landscape", "portrait", "square"])
def test_the_shipped_files_are_a_few_kilobytes(name: str) -> None:
    for suffix in (".mp4", ".webp", ".jpg"):
        assert 500 < len(media_file(name + suffix)) < 8 * 1024
