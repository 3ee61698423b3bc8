"""Make the small real media the fakes serve: a playable H.264 MP4, a WebP thumbnail and a
JPEG spritesheet for each shape (landscape, portrait, square).

Usage: pip install av pillow && python scripts/make_media.py

Run once; the files are committed under ``src/soravideo/testing/media/`` as package data,
so neither PyAV nor Pillow is needed to use the fakes. The picture is drawn with Pillow (a
sky, a moving sun, a caption) and encoded by PyAV's bundled FFmpeg with libx264: constrained
baseline, yuv420p, no B-frames, ``faststart`` (``moov`` before ``mdat``), which every browser
plays. The MP4 is then laid out as ``ftyp``, ``moov``, ``mdat`` exactly (a ``free`` box
FFmpeg leaves between them is dropped and the chunk offsets moved), the shape
``soravideo.testing._media.mp4`` adapts to each fake video (duration, size, keyed filler).
"""

from __future__ import annotations

import io
import math
import struct
import tempfile
from pathlib import Path

import av
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "soravideo" / "testing" / "media"
SHAPES = {"landscape": (320, 180), "portrait": (180, 320), "square": (240, 240)}
FRAMES = 24
FPS = 12
GRID = 5  # the spritesheet: GRID x GRID tenth-size frames, like Sora's


def frame(index: int, width: int, height: int) -> Image.Image:
    """Draw frame ``index``: a dusk sky, a sun crossing it, a hill and a caption."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / height
        draw.line(
            [(0, y), (width, y)], fill=(int(40 + 180 * t), int(60 + 90 * t), int(160 - 60 * t))
        )
    t = index / (FRAMES - 1)
    r = min(width, height) // 8
    cx = int(r + t * (width - 2 * r))
    cy = int(height * 0.55 - math.sin(t * math.pi) * height * 0.3)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 200, 60))
    draw.polygon(
        [(0, height), (0, int(height * 0.75)), (width, int(height * 0.85)), (width, height)],
        fill=(30, 90, 50),
    )
    draw.text((6, 6), "soravideo · simulated", fill=(255, 255, 255))
    return image


def encode(width: int, height: int) -> bytes:
    # faststart rewrites the file once written, so it needs a real file, not a buffer.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.mp4"
        write(path, width, height)
        return path.read_bytes()


def write(path: Path, width: int, height: int) -> None:
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {
            "crf": "32",
            "preset": "veryslow",
            "profile": "baseline",
            "bf": "0",
            "g": str(FRAMES),
        }
        for i in range(FRAMES):
            for packet in stream.encode(av.VideoFrame.from_image(frame(i, width, height))):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """Return ``(type, offset, size)`` of each box between ``start`` and ``end``."""
    end = len(data) if end is None else end
    found, pos = [], start
    while pos < end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        assert size >= 8, f"box {kind!r}: size {size}"
        found.append((kind, pos, size))
        pos += size
    return found


def tidy(data: bytes) -> bytes:
    """Return the MP4 as ``ftyp``, ``moov``, ``mdat``: drop a ``free`` box, move ``stco``."""
    top = boxes(data)
    kept = [b for b in top if b[0] != b"free"]
    assert [b[0] for b in kept] == [b"ftyp", b"moov", b"mdat"], [b[0] for b in top]
    removed = sum(size for kind, offset, size in top if kind == b"free" and offset < kept[2][1])
    out = bytearray(b"".join(data[offset : offset + size] for _, offset, size in kept))
    if removed:
        stco = out.index(b"stco") - 4
        count = struct.unpack_from(">I", out, stco + 12)[0]
        for i in range(count):
            at = stco + 16 + 4 * i
            struct.pack_into(">I", out, at, struct.unpack_from(">I", out, at)[0] - removed)
    return bytes(out)


def check(data: bytes) -> None:
    """Fail unless the layout is the one ``_media.mp4`` patches, and the file decodes."""
    assert data.count(b"stts") == 1
    assert struct.unpack_from(">I", data, data.index(b"stts") + 8)[0] == 1  # one frame rate
    assert b"ctts" not in data  # no B-frames: decode order is display order
    assert b"co64" not in data
    for kind in (b"mvhd", b"tkhd", b"mdhd"):
        assert data[data.index(kind) + 4] == 0, f"{kind!r} is not version 0"
    with av.open(io.BytesIO(data)) as container:
        assert sum(1 for _ in container.decode(video=0)) == FRAMES


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for shape, (width, height) in SHAPES.items():
        video = tidy(encode(width, height))
        check(video)
        (OUT / f"{shape}.mp4").write_bytes(video)
        thumb = io.BytesIO()
        frame(FRAMES // 2, width, height).save(thumb, "WEBP", quality=70, method=6)
        (OUT / f"{shape}.webp").write_bytes(thumb.getvalue())
        tile_w, tile_h = width // 10, height // 10
        sheet = Image.new("RGB", (GRID * tile_w, GRID * tile_h))
        for i in range(GRID * GRID):
            tile = frame(round(i * (FRAMES - 1) / (GRID * GRID - 1)), width, height)
            sheet.paste(tile.resize((tile_w, tile_h)), ((i % GRID) * tile_w, (i // GRID) * tile_h))
        jpeg = io.BytesIO()
        sheet.save(jpeg, "JPEG", quality=80)
        (OUT / f"{shape}.jpg").write_bytes(jpeg.getvalue())
    for path in sorted(OUT.iterdir()):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
