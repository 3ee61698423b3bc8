"""Downloads are verified before they are kept, and land where they were asked to.

Every hostile answer here replaces only FakeSora's content answer (the rest of the
provider is the fake, in-process); a few come from a real socket on 127.0.0.1. Each
failure must raise, and leave no file and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import struct
import threading
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import soravideo as sv
from helpers import request
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeSora, check_exactly_once, check_ledger_exactly_once
from soravideo.testing._media import jpeg, mp4, webp
from soravideo.transports.sora import SoraTransport

pytestmark = pytest.mark.anyio

BASE = "http://fakesora.invalid/v1"
MP4 = mp4(seconds=4, width=720, height=1280, payload_size=20_000, key="hostile")
HTML = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"

Answer = Callable[[httpx.Request], Awaitable[httpx.Response]]


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


class Chunks(httpx.AsyncByteStream):
    """A body sent in pieces; optionally one that never ends, or that stalls after its pieces."""

    def __init__(self, *chunks: bytes, forever: bytes = b"", stall: anyio.Event | None = None):
        self.chunks = chunks
        self.forever = forever
        self.stall = stall
        self.sent = 0
        self.iterated = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.iterated = True
        for chunk in self.chunks:
            self.sent += len(chunk)
            yield chunk
        if self.stall is not None:
            self.stall.set()
            await anyio.sleep_forever()
        while self.forever:
            self.sent += len(self.forever)
            yield self.forever


def answer(
    status: int = 200,
    *,
    content: bytes | None = None,
    stream: httpx.AsyncByteStream | None = None,
    **headers: str,
) -> Answer:
    async def respond(request: httpx.Request) -> httpx.Response:
        wire = {k.replace("_", "-"): v for k, v in headers.items()}
        if content is not None:
            return httpx.Response(status, headers=wire, content=content)
        return httpx.Response(status, headers=wire, stream=stream)

    return respond


class HostileContent(httpx.AsyncBaseTransport):
    """FakeSora in-process, except for its content answers once ``answer`` is set."""

    def __init__(self, fake: FakeSora) -> None:
        self.inner = fake.http_transport()
        self.answer: Answer | None = None
        self.content_requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/content"):
            self.content_requests += 1
            if self.answer is not None:
                return await self.answer(request)
        return await self.inner.handle_async_request(request)


class Provider:
    def __init__(self, **settings: Any) -> None:
        clock = sv.VirtualClock()
        self.fake = FakeSora(clock=clock, generation_time=30)
        self.hostile = HostileContent(self.fake)
        self.http = httpx.AsyncClient(transport=self.hostile, base_url=BASE)
        transport = SoraTransport(
            base_url=BASE, api_key="sk-test-0123456789", http_client=self.http, sleep=clock.sleep
        )
        self.client = sv.AsyncSoraVideo(
            transport=transport, repository=MemoryRepository(), clock=clock, **settings
        )

    async def completed(self) -> sv.Job:
        job = await self.client.videos.create_video(request())
        done = await self.client.videos.wait_for_job(job.id, timeout=600)
        assert done.status is sv.JobStatus.COMPLETED
        return done

    async def close(self) -> None:
        await check_ledger_exactly_once(self.fake, self.client.repository)
        await self.client.aclose()
        await self.http.aclose()


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    p = Provider()
    yield p
    await p.close()


def everything_in(directory: Path) -> list[str]:
    """Every file below ``directory``, hidden ones (temporary files) included."""
    if not directory.exists():
        return []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


# -- what the provider sends ------------------------------------------------------------------


HOSTILE: dict[str, tuple[Answer, str]] = {
    "an HTML error page with 200": (
        answer(content=HTML, content_type="text/html; charset=utf-8"),
        "content_type",
    ),
    "a JSON error body with 200": (
        answer(
            content=b'{"error": {"message": "quota exceeded", "code": "quota"}}',
            content_type="application/json",
        ),
        "content_type",
    ),
    "an HTML page labelled video/mp4": (
        answer(content=HTML, content_type="video/mp4"),
        "not_media",
    ),
    "an HTML page with no content type": (answer(content=HTML), "not_media"),
    "zeros labelled video/mp4": (
        answer(content=bytes(4096), content_type="video/mp4"),
        "not_media",
    ),
    "an image for the video": (
        answer(content=webp(width=8, height=8), content_type="video/mp4"),
        "not_media",
    ),
    "an empty body": (answer(content=b"", content_type="video/mp4"), "not_media"),
    "a body cut short without Content-Length": (
        answer(stream=Chunks(MP4[:100], MP4[100 : len(MP4) // 2]), content_type="video/mp4"),
        "incomplete_download",
    ),
    "a body shorter than its Content-Length": (
        answer(
            stream=Chunks(MP4[: len(MP4) // 2]),
            content_type="video/mp4",
            content_length=str(len(MP4)),
        ),
        "incomplete_download",
    ),
    "a body longer than its Content-Length": (
        answer(stream=Chunks(MP4, MP4), content_type="video/mp4", content_length=str(len(MP4))),
        "length_mismatch",
    ),
    "Content-Length: 10**15": (
        answer(stream=Chunks(MP4), content_type="video/mp4", content_length=str(10**15)),
        "too_large",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_bad_answer_raises_a_download_error_and_leaves_no_file(
    provider: Provider, tmp_path: Path, case: str
) -> None:
    hostile, code = HOSTILE[case]
    job = await provider.completed()
    provider.hostile.answer = hostile
    with pytest.raises(sv.DownloadError) as info:
        await provider.client.videos.download_video(job.id, tmp_path / "fox.mp4")
    error = info.value
    assert isinstance(error, sv.ProviderError)
    assert error.code == code, error
    assert error.path == str(tmp_path / "fox.mp4")
    assert error.provider == "sora"
    assert everything_in(tmp_path) == []
    # The ledger does not claim a file either.
    result = (await provider.client.videos.get_job(job.id)).result
    assert result is not None and result.path is None


async def test_a_huge_content_length_is_refused_before_any_byte_is_read(
    provider: Provider, tmp_path: Path
) -> None:
    job = await provider.completed()
    body = Chunks(MP4)
    provider.hostile.answer = answer(
        stream=body, content_type="video/mp4", content_length=str(10**15)
    )
    with pytest.raises(sv.DownloadError, match="max_download_bytes") as info:
        await provider.client.videos.download_video(job.id, tmp_path / "fox.mp4")
    assert info.value.code == "too_large"
    assert not body.iterated
    assert everything_in(tmp_path) == []


async def test_an_endless_body_stops_at_max_download_bytes(tmp_path: Path) -> None:
    cap = 256 * 1024
    p = Provider(max_download_bytes=cap)
    try:
        job = await p.completed()
        body = Chunks(MP4[:64], forever=b"\x00" * 8192)
        p.hostile.answer = answer(stream=body, content_type="video/mp4")
        with pytest.raises(sv.DownloadError) as info:
            await p.client.videos.download_video(job.id, tmp_path / "fox.mp4")
        assert info.value.code == "too_large"
        assert cap < body.sent <= cap + 2 * 8192
        assert everything_in(tmp_path) == []
    finally:
        await p.close()


async def test_a_video_of_exactly_the_cap_is_kept(tmp_path: Path) -> None:
    p = Provider(max_download_bytes=len(MP4))
    try:
        job = await p.completed()
        p.hostile.answer = answer(stream=Chunks(MP4), content_type="video/mp4")
        path = await p.client.videos.download_video(job.id, tmp_path / "fox.mp4")
        assert path.read_bytes() == MP4
    finally:
        await p.close()


GOOD: dict[str, tuple[str, Answer, bytes]] = {
    "an MP4 without Content-Length": (
        "video",
        answer(stream=Chunks(MP4[:5], MP4[5:9], MP4[9:]), content_type="video/mp4"),
        MP4,
    ),
    "an MP4 as application/octet-stream": (
        "video",
        answer(content=MP4, content_type="application/octet-stream"),
        MP4,
    ),
    "an MP4 with no content type": ("video", answer(content=MP4), MP4),
    "a QuickTime MOV": (
        "video",
        answer(content=MP4[:8] + b"qt  " + MP4[12:], content_type="video/quicktime"),
        MP4[:8] + b"qt  " + MP4[12:],
    ),
    "a WebP thumbnail": (
        "thumbnail",
        answer(stream=Chunks(webp(width=4, height=4)), content_type="image/webp"),
        webp(width=4, height=4),
    ),
    "a PNG thumbnail": ("thumbnail", answer(content=png(), content_type="image/png"), png()),
    "a JPEG spritesheet without Content-Length": (
        "spritesheet",
        answer(stream=Chunks(jpeg(width=16, height=16)), content_type="image/jpeg"),
        jpeg(width=16, height=16),
    ),
}


@pytest.mark.parametrize("case", list(GOOD))
async def test_sound_media_is_kept(provider: Provider, tmp_path: Path, case: str) -> None:
    variant, good, data = GOOD[case]
    job = await provider.completed()
    provider.hostile.answer = good
    path = await provider.client.videos.download_video(job.id, tmp_path / "out", variant=variant)
    assert path.read_bytes() == data
    assert everything_in(tmp_path) == ["out"]


@pytest.mark.parametrize("variant", ["thumbnail", "spritesheet"])
async def test_a_video_is_not_an_image(provider: Provider, tmp_path: Path, variant: str) -> None:
    job = await provider.completed()
    provider.hostile.answer = answer(content=MP4, content_type="image/webp")
    with pytest.raises(sv.DownloadError) as info:
        await provider.client.videos.download_video(job.id, tmp_path, variant=variant)
    assert info.value.code == "not_media"
    assert everything_in(tmp_path) == []


@pytest.mark.parametrize(
    "truncated",
    [
        pytest.param(webp(width=4, height=4)[:-3], id="webp"),
        pytest.param(png()[:-6], id="png"),
        pytest.param(jpeg(width=16, height=16)[:-1], id="jpeg"),
    ],
)
async def test_an_image_cut_short_without_content_length_is_an_error(
    provider: Provider, tmp_path: Path, truncated: bytes
) -> None:
    job = await provider.completed()
    provider.hostile.answer = answer(stream=Chunks(truncated))
    with pytest.raises(sv.DownloadError) as info:
        await provider.client.videos.download_video(job.id, tmp_path, variant="thumbnail")
    assert info.value.code == "incomplete_download"
    assert everything_in(tmp_path) == []


async def test_a_cancelled_download_leaves_no_file(provider: Provider, tmp_path: Path) -> None:
    job = await provider.completed()
    stalled = anyio.Event()
    provider.hostile.answer = answer(
        stream=Chunks(MP4[:1000], stall=stalled), content_type="video/mp4"
    )
    async with anyio.create_task_group() as tg:

        async def download() -> None:
            await provider.client.videos.download_video(job.id, tmp_path / "fox.mp4")

        tg.start_soon(download)
        await stalled.wait()
        assert [name for name in everything_in(tmp_path) if name.endswith(".part")]
        tg.cancel_scope.cancel()
    assert everything_in(tmp_path) == []


# -- a real socket on 127.0.0.1 ---------------------------------------------------------------


@contextlib.contextmanager
def raw_server(send: Callable[[socket.socket], None]) -> Iterator[str]:
    """Serve every connection with ``send`` (raw bytes, after reading the request head)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    threads: list[threading.Thread] = []

    def one(conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            with contextlib.suppress(OSError):
                send(conn)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            if stop.is_set():
                conn.close()
                return
            thread = threading.Thread(target=one, args=(conn,), daemon=True)
            thread.start()
            threads.append(thread)

    stop = threading.Event()
    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{port}/video.mp4"
    finally:
        stop.set()
        socket.create_connection(("127.0.0.1", port)).close()  # wakes accept()
        acceptor.join()
        listener.close()
        for thread in threads:
            thread.join()


def endless(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\nconnection: close\r\n\r\n")
    conn.sendall(MP4[:64])
    block = b"\x00" * 65536
    while True:
        conn.sendall(block)


def cut_short(length: bool) -> Callable[[socket.socket], None]:
    def send(conn: socket.socket) -> None:
        head = "HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\nconnection: close\r\n"
        if length:
            head += f"content-length: {len(MP4)}\r\n"
        conn.sendall(head.encode() + b"\r\n" + MP4[: len(MP4) // 2])

    return send


def from_loopback(url: str, real: httpx.AsyncHTTPTransport) -> Answer:
    async def respond(request: httpx.Request) -> httpx.Response:
        return await real.handle_async_request(httpx.Request("GET", url))

    return respond


@pytest.mark.parametrize(
    ("send", "error", "code"),
    [
        pytest.param(endless, sv.DownloadError, "too_large", id="endless"),
        pytest.param(cut_short(False), sv.DownloadError, "incomplete_download", id="short"),
        pytest.param(cut_short(True), sv.ProviderConnectionError, None, id="short-with-length"),
    ],
)
async def test_a_loopback_server_cannot_make_a_bad_file(
    tmp_path: Path,
    send: Callable[[socket.socket], None],
    error: type[sv.ProviderError],
    code: str | None,
) -> None:
    p = Provider(max_download_bytes=1024 * 1024, max_retries=0)
    real = httpx.AsyncHTTPTransport()
    try:
        job = await p.completed()
        with raw_server(send) as url:
            p.hostile.answer = from_loopback(url, real)
            with pytest.raises(error) as info:
                await p.client.videos.download_video(job.id, tmp_path / "fox.mp4")
        assert code is None or info.value.code == code
        assert everything_in(tmp_path) == []
    finally:
        await real.aclose()
        await p.close()


# -- where the file goes ----------------------------------------------------------------------


async def test_a_directory_gets_the_job_id_inside_it(provider: Provider, tmp_path: Path) -> None:
    job = await provider.completed()
    path = await provider.client.videos.download_video(job.id, tmp_path)
    assert path == tmp_path / f"{job.id}.mp4"
    assert path.read_bytes()[4:8] == b"ftyp"
    thumb = await provider.client.videos.download_video(job.id, tmp_path, variant="thumbnail")
    sprite = await provider.client.videos.download_video(job.id, tmp_path, variant="spritesheet")
    assert (thumb.name, sprite.name) == (f"{job.id}.webp", f"{job.id}.jpg")
    assert everything_in(tmp_path) == sorted(p.name for p in (path, thumb, sprite))


async def test_a_file_named_for_another_format_is_saved_as_asked_with_a_warning(
    provider: Provider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job = await provider.completed()
    with caplog.at_level(logging.WARNING, logger="soravideo"):
        thumb = await provider.client.videos.download_video(
            job.id, tmp_path / "thumb.jpg", variant="thumbnail"
        )
        plain = await provider.client.videos.download_video(
            job.id, tmp_path / "thumb", variant="thumbnail"
        )
        right = await provider.client.videos.download_video(
            job.id, tmp_path / "thumb.WebP", variant="thumbnail"
        )
    assert thumb == tmp_path / "thumb.jpg"
    assert thumb.read_bytes()[8:12] == b"WEBP" == plain.read_bytes()[8:12]
    warned = [r.getMessage() for r in caplog.records if "saved as asked" in r.getMessage()]
    # Only the name that says another format: thumb.jpg, not thumb or thumb.WebP.
    assert warned == [
        f"sora: the thumbnail of {job.remote_id} is WEBP data, saved as asked under thumb.jpg"
    ]
    assert right.exists()


@pytest.mark.parametrize("separator", sorted({"/", os.sep}))
async def test_a_path_ending_in_a_separator_is_a_directory_made_if_missing(
    provider: Provider, tmp_path: Path, separator: str
) -> None:
    job = await provider.completed()
    dest = f"{tmp_path / 'new' / 'videos'}{separator}"
    path = await provider.client.videos.download_video(job.id, dest)
    assert path == tmp_path / "new" / "videos" / f"{job.id}.mp4"
    assert everything_in(tmp_path) == [f"new/videos/{job.id}.mp4"]
    stored = (await provider.client.videos.get_job(job.id)).result
    assert stored is not None and stored.path == str(path)


async def test_missing_parent_directories_of_a_file_are_made(
    provider: Provider, tmp_path: Path
) -> None:
    job = await provider.completed()
    path = await provider.client.videos.download_video(job.id, tmp_path / "a" / "b" / "fox.mp4")
    assert everything_in(tmp_path) == ["a/b/fox.mp4"]
    assert path.read_bytes()[4:8] == b"ftyp"


async def test_an_existing_file_is_kept_and_nothing_is_fetched(
    provider: Provider, tmp_path: Path
) -> None:
    job = await provider.completed()
    mine = tmp_path / "fox.mp4"
    mine.write_bytes(b"my own video")
    named = tmp_path / f"{job.id}.mp4"
    named.write_bytes(b"another of mine")
    for dest, target in ((mine, mine), (tmp_path, named), (f"{tmp_path}{os.sep}", named)):
        with pytest.raises(sv.ValidationError) as info:
            await provider.client.videos.download_video(job.id, dest)
        assert info.value.fields == ("dest",)
        assert str(target) in str(info.value)
        assert "overwrite=True" in str(info.value)
    assert provider.hostile.content_requests == 0
    assert mine.read_bytes() == b"my own video"
    assert named.read_bytes() == b"another of mine"
    assert everything_in(tmp_path) == sorted(["fox.mp4", named.name])


async def test_overwrite_replaces_an_existing_file(provider: Provider, tmp_path: Path) -> None:
    job = await provider.completed()
    mine = tmp_path / "fox.mp4"
    mine.write_bytes(b"my own video")
    path = await provider.client.videos.download_video(job.id, mine, overwrite=True)
    assert path == mine and mine.read_bytes()[4:8] == b"ftyp"
    assert everything_in(tmp_path) == ["fox.mp4"]


async def test_a_failed_overwrite_keeps_the_old_file(provider: Provider, tmp_path: Path) -> None:
    job = await provider.completed()
    mine = tmp_path / "fox.mp4"
    mine.write_bytes(b"my own video")
    provider.hostile.answer = answer(content=HTML, content_type="text/html")
    with pytest.raises(sv.DownloadError):
        await provider.client.videos.download_video(job.id, mine, overwrite=True)
    assert mine.read_bytes() == b"my own video"
    assert everything_in(tmp_path) == ["fox.mp4"]


def test_the_sync_twin_takes_overwrite(tmp_path: Path) -> None:
    with sv.SoraVideo.simulated() as client:
        job = client.videos.wait_for_job(client.videos.create_video(request()).id)
        first = client.videos.download_video(job.id, tmp_path / "fox.mp4")
        with pytest.raises(sv.ValidationError):
            client.videos.download_video(job.id, tmp_path / "fox.mp4")
        again = client.videos.download_video(job.id, tmp_path / "fox.mp4", overwrite=True)
        assert again == first
        assert client.fake is not None
        assert client.fake.count("GET", f"/videos/{job.remote_id}/content") == 2
        check_exactly_once(client.fake, client.videos.list_jobs().items)


# -- automatic downloads (download_dir) -------------------------------------------------------


async def test_auto_download_of_a_bad_answer_keeps_the_job_completed_without_a_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "videos"
    p = Provider(download_dir=out)
    p.hostile.answer = answer(
        stream=Chunks(MP4), content_type="video/mp4", content_length=str(10**15)
    )
    try:
        with caplog.at_level(logging.WARNING, logger="soravideo"):
            job = await p.completed()
        assert job.result is not None and job.result.path is None
        assert everything_in(tmp_path) == []
        # Too large is not retried: the next attempt would be as large.
        assert p.hostile.content_requests == 1
        assert "max_download_bytes" in caplog.text
    finally:
        await p.close()


async def test_auto_download_never_clobbers_another_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "videos"
    out.mkdir()
    p = Provider(download_dir=out)
    try:
        job = await p.client.videos.create_video(request())
        theirs = out / f"{job.id}.mp4"
        theirs.write_bytes(b"somebody else's file")
        with caplog.at_level(logging.WARNING, logger="soravideo"):
            done = await p.client.videos.wait_for_job(job.id, timeout=600)
        assert done.status is sv.JobStatus.COMPLETED
        assert done.result is not None and done.result.path is None
        assert theirs.read_bytes() == b"somebody else's file"
        assert everything_in(out) == [theirs.name]
        assert str(theirs) in caplog.text
        assert p.hostile.content_requests == 1  # not retried either
    finally:
        await p.close()


async def test_auto_download_of_the_same_video_again_is_idempotent(tmp_path: Path) -> None:
    out = tmp_path / "videos"
    p = Provider(download_dir=out)
    try:
        job = await p.client.videos.create_video(request())
        # The file a crashed worker saved before it could record it: the very same video.
        done = await p.client.videos.wait_for_job(job.id, timeout=600)
        assert done.result is not None and done.result.path == str(out / f"{job.id}.mp4")
        saved = Path(done.result.path).read_bytes()
        from soravideo._engine.downloads import download_content

        again = await download_content(
            p.client.transport,
            done.result.remote_id,
            out,
            name=f"{job.id}.mp4",
            existing="same",
        )
        assert again.path == Path(done.result.path)
        assert again.sha256 == hashlib.sha256(saved).hexdigest() == done.result.sha256
        assert everything_in(out) == [f"{job.id}.mp4"]
    finally:
        await p.close()


# -- settings ---------------------------------------------------------------------------------


def test_max_download_bytes_defaults_to_4_gib_and_must_be_a_positive_whole_number() -> None:
    assert sv.Settings().max_download_bytes == 4 * 1024**3
    assert sv.Settings.from_env({"SORAVIDEO_MAX_DOWNLOAD_BYTES": "1000"}).max_download_bytes == 1000
    for bad in (0, -1, 1.5, "big", True):
        with pytest.raises(sv.ValidationError) as info:
            sv.Settings(max_download_bytes=bad)  # type: ignore[arg-type]
        assert info.value.fields == ("max_download_bytes",)


# -- putting the checked file in place --------------------------------------------------------


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "no-hard-links"])
def test_publish_never_clobbers_without_replace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool
) -> None:
    from soravideo._engine.downloads import publish

    if not links:

        def no_link(src: object, dst: object) -> None:
            raise PermissionError("this file system has no hard links")

        monkeypatch.setattr(os, "link", no_link)
    digest = hashlib.sha256(b"new").hexdigest()

    def partial() -> Path:
        path = tmp_path / ".x.part"
        path.write_bytes(b"new")
        return path

    free = tmp_path / "free.mp4"
    publish(partial(), free, "refuse", digest)
    assert free.read_bytes() == b"new"

    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"old")
    for existing in ("refuse", "same"):
        with pytest.raises(sv.ValidationError) as info:
            publish(partial(), taken, existing, digest)  # type: ignore[arg-type]
        assert str(taken) in str(info.value)
        assert taken.read_bytes() == b"old"

    same = tmp_path / "same.mp4"
    same.write_bytes(b"new")
    publish(partial(), same, "same", digest)
    assert same.read_bytes() == b"new"

    dangling = tmp_path / "link.mp4"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(sv.ValidationError):
        publish(partial(), dangling, "refuse", digest)
    publish(partial(), dangling, "replace", digest)
    assert not dangling.is_symlink() and dangling.read_bytes() == b"new"
    assert not (tmp_path / "nowhere").exists()


async def test_a_file_made_at_the_target_while_downloading_is_not_clobbered(
    provider: Provider, tmp_path: Path
) -> None:
    job = await provider.completed()
    target = tmp_path / "fox.mp4"

    async def racing(request: httpx.Request) -> httpx.Response:
        response = await provider.hostile.inner.handle_async_request(request)
        target.write_bytes(b"made meanwhile")
        return response

    provider.hostile.answer = racing
    with pytest.raises(sv.ValidationError) as info:
        await provider.client.videos.download_video(job.id, target)
    assert str(target) in str(info.value)
    assert target.read_bytes() == b"made meanwhile"
    assert everything_in(tmp_path) == ["fox.mp4"]


@pytest.mark.anyio
@pytest.mark.parametrize("entered", [False, True])
async def test_a_download_retried_on_a_simulated_client_lets_simulated_time_move(
    tmp_path: Path, entered: bool
) -> None:
    # Its retries sleep on the client's clock; on a client not entered (no engine in the
    # background) nothing moved simulated time and the download waited forever.
    client = sv.AsyncSoraVideo.simulated()
    try:
        if entered:
            await client.__aenter__()
        job = await client.videos.create_video(request())
        job = await client.videos.wait_for_job(job.id)
        assert client.fake is not None
        client.fake.inject(status=503, match="GET /videos/*/content", times=2)
        with anyio.fail_after(30):  # real seconds: a hang fails here, not at the suite's end
            path = await client.videos.download_video(job.id, tmp_path)
        assert path.read_bytes()[4:8] == b"ftyp"
        check_exactly_once(client.fake, [job])
    finally:
        await client.aclose()
