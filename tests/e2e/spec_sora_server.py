"""An independent ``/v1/videos`` server, written from the published spec alone.

``shared/spec/openai-videos-openapi.yaml`` and nothing else: it does not import or subclass
FakeSora or ``soravideo.testing._fakeserver``. It does what the spec allows and soravideo's
own fake may not: lists newest first in small pages (``has_more``, ``first_id``,
``last_id``, ``after``), nullable fields null, unknown fields added, ``queued`` then
``in_progress`` then ``completed`` / ``failed`` with an ``error`` object, errors as
``{"error": {message, type, param, code}}``, a 404 for a deleted video, ``variant`` on
content, ``Retry-After`` on 429. It knows nothing of ``Idempotency-Key`` (the spec names
no such header): every create it accepts makes a video.

The same core answers through ``httpx.MockTransport`` (in-process, simulated time) and as
an ASGI app served by uvicorn on 127.0.0.1 (real time).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import httpx

Clock = Callable[[], float]


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


MP4 = (
    _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")
    + _box(b"moov", b"\x00" * 24)
    + _box(b"mdat", b"spec-server video bytes" * 8)
)
WEBP = (
    b"RIFF" + struct.pack("<I", 4 + 8 + 6) + b"WEBP" + b"VP8L" + struct.pack("<I", 6) + b"\x00" * 6
)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16 + b"\xff\xd9"


@attrs.define
class Video:
    id: str
    created_at: float
    body: dict[str, Any]
    fail: bool = False
    deleted: bool = False
    owned_elsewhere: bool = False  # made by someone else in the project, not by soravideo


@attrs.define
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int


@attrs.define
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = attrs.Factory(dict)
    # Raise this instead of answering (a connection cut after the server acted).
    drop: bool = False


def _json(status: int, payload: Any, **headers: str) -> Reply:
    return Reply(
        status,
        json.dumps(payload).encode(),
        {
            "content-type": "application/json",
            "x-request-id": f"req_{time.monotonic_ns()}",
            **headers,
        },
    )


def error(
    status: int, message: str, kind: str, code: str | None, param: str | None = None
) -> Reply:
    """An error in the spec's ``ErrorResponse`` shape (all four fields present)."""
    return _json(
        status, {"error": {"message": message, "type": kind, "param": param, "code": code}}
    )


class SpecSora:
    """The server's state and behaviour. Knobs are plain attributes a test sets.

    Args:
        clock: Seconds (the client's simulated clock in-process; ``time.time`` served).
        generation_time: Seconds a video takes; ``queued`` for its first fifth.
        page_size: The most a list page holds, whatever ``limit`` asks (the spec allows
            fewer than asked).
    """

    def __init__(
        self, clock: Clock = time.time, *, generation_time: float = 10.0, page_size: int = 2
    ):
        self.clock = clock
        self.generation_time = generation_time
        self.page_size = page_size
        self.videos: dict[str, Video] = {}
        self.seen: list[Seen] = []
        self._next = 0
        self._lock = threading.Lock()
        # Knobs ------------------------------------------------------------------------
        self.echo_prompt = True  # ``prompt`` is nullable in VideoResource
        self.fail_prompts: set[str] = set()  # these end ``failed`` with an error object
        # Creates to make and then answer with a 500 (spec error body), or drop, by count.
        self.creates_then_500 = 0
        self.creates_then_drop = 0
        # 429s (Retry-After) for the next N requests of a method ("POST", "GET").
        self.rate_limit: dict[str, int] = {}
        self.retry_after = "2"
        # Refuse DELETE of a video that has not ended (the spec: "Permanently delete a
        # completed or failed video").
        self.delete_only_finished = False
        # Answer the next list request that has an ``after`` cursor with a 404, as a server
        # does whose cursor video was deleted (or expired) between two pages.
        self.cursor_gone_once = False
        # Videos others in the same project create right after a dropped create (a busy
        # account): they list before it, newest first.
        self.others_after_drop = 0

    # -- views -------------------------------------------------------------------------

    def _status(self, video: Video) -> tuple[str, int]:
        elapsed = self.clock() - video.created_at
        if elapsed >= self.generation_time:
            return ("failed" if video.fail else "completed"), 100
        if elapsed < self.generation_time / 5:
            return "queued", 0
        return "in_progress", int(100 * elapsed / self.generation_time)

    def view(self, video: Video) -> dict[str, Any]:
        status, progress = self._status(video)
        body: dict[str, Any] = dict(video.body)
        body["status"] = status
        body["progress"] = progress
        ended = video.created_at + self.generation_time
        body["completed_at"] = int(ended) if status in ("completed", "failed") else None
        body["expires_at"] = int(ended) + 3600 if status == "completed" else None
        body["error"] = (
            {"code": "moderation_blocked", "message": "the prompt was refused"}
            if status == "failed"
            else None
        )
        # Fields the spec does not know (a newer API, a gateway): to be ignored.
        body["quality"] = "standard"
        body["usage"] = {"render_units": 3}
        return body

    def created(self) -> list[Video]:
        return list(self.videos.values())

    def requests(self, method: str, prefix: str = "/v1/videos") -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.startswith(prefix)]

    # -- the API -----------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Reply:
        with self._lock:
            reply = self._handle(method, path, query, headers, body)
            self.seen.append(Seen(method, path, query, headers, reply.status))
            return reply

    def _handle(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Reply:
        if headers.get("authorization") != "Bearer sk-spec":
            return error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        left = self.rate_limit.get(method, 0)
        if left > 0:
            self.rate_limit[method] = left - 1
            reply = error(429, "Rate limit reached.", "requests", "rate_limit_exceeded")
            reply.headers["retry-after"] = self.retry_after
            return reply
        parts = [p for p in path.split("/") if p]
        if parts[:2] != ["v1", "videos"]:
            return error(404, "Unknown route.", "invalid_request_error", None)
        rest = parts[2:]
        if method == "POST" and not rest:
            return self._create(json.loads(body or b"{}"))
        if method == "GET" and not rest:
            return self._list(query)
        if not rest:
            return error(405, "Method not allowed.", "invalid_request_error", None)
        video = self.videos.get(rest[0])
        if video is None or video.deleted:
            return error(
                404,
                f"Video with id '{rest[0]}' not found.",
                "invalid_request_error",
                None,
                "video_id",
            )
        if method == "GET" and len(rest) == 1:
            return _json(200, self.view(video))
        if method == "DELETE" and len(rest) == 1:
            status, _ = self._status(video)
            if self.delete_only_finished and status not in ("completed", "failed"):
                return error(
                    400,
                    "Only completed or failed videos can be deleted.",
                    "invalid_request_error",
                    "invalid_video_state",
                )
            video.deleted = True
            return _json(200, {"id": video.id, "object": "video.deleted", "deleted": True})
        if method == "GET" and rest[1:] == ["content"]:
            status, _ = self._status(video)
            if status != "completed":
                return error(400, "Video is not ready.", "invalid_request_error", "video_not_ready")
            variant = query.get("variant", "video")
            content = {
                "video": (MP4, "video/mp4"),
                "thumbnail": (WEBP, "image/webp"),
                "spritesheet": (JPEG, "image/jpeg"),
            }
            if variant not in content:
                return error(400, "Invalid variant.", "invalid_request_error", None, "variant")
            data, kind = content[variant]
            return Reply(200, data, {"content-type": kind})
        return error(404, "Unknown route.", "invalid_request_error", None)

    def _create(self, fields: dict[str, Any]) -> Reply:
        prompt = fields.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return error(400, "prompt is required", "invalid_request_error", None, "prompt")
        self._next += 1
        video_id = f"video_{self._next:04d}"
        now = self.clock()
        body = {
            "id": video_id,
            "object": "video",
            "model": fields.get("model", "sora-2"),
            "created_at": int(now),
            "prompt": prompt if self.echo_prompt else None,
            "size": fields.get("size", "720x1280"),
            "seconds": str(fields.get("seconds", "4")),
            "remixed_from_video_id": None,
        }
        video = Video(video_id, now, body, fail=prompt in self.fail_prompts)
        self.videos[video_id] = video
        if self.creates_then_500 > 0:
            self.creates_then_500 -= 1
            return error(
                500, "The server had an error while processing your request.", "server_error", None
            )
        if self.creates_then_drop > 0:
            self.creates_then_drop -= 1
            for n in range(self.others_after_drop):
                self._next += 1
                other = f"video_{self._next:04d}"
                self.videos[other] = Video(
                    other, now, {**body, "id": other, "prompt": f"other {n}"}
                )
                self.videos[other].owned_elsewhere = True
            return Reply(0, drop=True)
        return _json(200, self.view(video))

    def _list(self, query: dict[str, str]) -> Reply:
        order = query.get("order", "desc")
        videos = [v for v in self.videos.values() if not v.deleted]
        videos.sort(key=lambda v: (v.created_at, v.id), reverse=order != "asc")
        after = query.get("after")
        if after and self.cursor_gone_once:
            self.cursor_gone_once = False
            return error(
                404, f"No video found with id '{after}'.", "invalid_request_error", None, "after"
            )
        if after:
            ids = [v.id for v in videos]
            if after not in ids:
                return error(
                    400, f"Invalid 'after': {after}", "invalid_request_error", None, "after"
                )
            videos = videos[ids.index(after) + 1 :]
        limit = min(int(query.get("limit", "20")), 100, self.page_size)
        page = videos[:limit]
        data = [self.view(v) for v in page]
        return _json(
            200,
            {
                "object": "list",
                "data": data,
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
                "has_more": len(videos) > len(page),
            },
        )

    # -- adapters ----------------------------------------------------------------------

    def mock_transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            query = dict(urllib.parse.parse_qsl(request.url.query.decode()))
            headers = {k.lower(): v for k, v in request.headers.items()}
            reply = self.handle(request.method, request.url.path, query, headers, request.content)
            if reply.drop:
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response.", request=request
                )
            return httpx.Response(reply.status, content=reply.body, headers=reply.headers)

        return httpx.MockTransport(handler)

    async def asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = dict(urllib.parse.parse_qsl(scope["query_string"].decode()))
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        reply = self.handle(scope["method"], scope["path"], query, headers, body)
        if reply.drop:
            raise RuntimeError("dropped on purpose")  # uvicorn closes the connection
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(k.encode(), v.encode()) for k, v in reply.headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": reply.body})


@contextmanager
def serve(server: SpecSora) -> Iterator[str]:
    """Serve ``server`` with uvicorn on 127.0.0.1 in a thread; yield its ``/v1`` base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        server.asgi,
        lifespan="off",
        interface="asgi3",
        log_level="warning",
        ws="none",
        access_log=False,
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not runner.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        runner.should_exit = True
        thread.join(10)
        sock.close()
