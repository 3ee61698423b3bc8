"""An application that takes video requests over HTTP and serves the finished videos.

The REST API of ``soravideo.server`` (``POST /api/v1/videos``, ``GET /api/v1/videos/{id}``
…, behind an API key) with two routes of the application's own beside it: ``/gallery``,
an HTML page of every finished video, and ``/files/{job_id}.mp4``, the video itself. The
engine runs inside the application as a worker, so a job created over HTTP is generated,
downloaded to ``demo-output/app`` and shown in the gallery with nothing else running.

Needs the server extra (``pip install 'soravideo[server]'``). Two ways to run it:

    python examples/video_app.py           # offline: serves on a free port, sends itself
                                           # three requests, fetches the videos, stops
    python examples/video_app.py --serve   # serves on http://127.0.0.1:8000 until Ctrl-C

Offline it runs on the simulated provider; with a provider's key, build the client with
that provider's transport instead (see the README) and keep everything else.
"""

from __future__ import annotations

import argparse
import functools
import html
import os
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import anyio
import httpx
import uvicorn
from litestar import MediaType, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import PathParameter
from litestar.response import File

import soravideo as sv
from soravideo.repositories import SQLiteRepository
from soravideo.server import create_app

OUTPUT = Path("demo-output/app")
API_KEY = os.environ.get("VIDEO_APP_API_KEY", "demo-key-change-me")


# --8<-- [start:build]
def build(client: sv.AsyncSoraVideo) -> Any:
    """The REST API over ``client``, plus the gallery and the video files."""
    app = create_app(client, api_keys=[API_KEY], rate_limit="600/minute")

    @get("/files/{name:str}", media_type="video/mp4")
    async def video_file(name: Annotated[str, PathParameter()]) -> File:
        job_id = name.removesuffix(".mp4")
        try:
            job = await client.videos.get_job(job_id)
        except sv.JobNotFoundError:
            raise NotFoundException(f"no job {job_id}") from None
        if job.result is None or job.result.path is None:
            raise NotFoundException(f"job {job_id} has no video yet ({job.status.value})")
        return File(job.result.path, content_disposition_type="inline")

    @get("/gallery", media_type=MediaType.HTML)
    async def gallery() -> Response[str]:
        page = await client.videos.list_jobs(status=sv.JobStatus.COMPLETED, limit=50)
        cards = "".join(
            f'<figure><video src="/files/{job.id}.mp4" controls muted width="320"></video>'
            f"<figcaption>{html.escape(job.request.prompt)}</figcaption></figure>"
            for job in page.items
        )
        body = f"<h1>{page.total} finished videos</h1>{cards or '<p>none yet</p>'}"
        return Response(f"<!doctype html><title>videos</title>{body}", media_type=MediaType.HTML)

    app.register(video_file)
    app.register(gallery)
    return app


# --8<-- [end:build]


async def try_it(client: sv.AsyncSoraVideo) -> None:
    """Serve on a free port, send three requests over HTTP, fetch each video, then stop."""
    server = uvicorn.Server(uvicorn.Config(build(client), log_level="warning"))
    listener = socket.create_server(("127.0.0.1", 0))  # a free port, listening already
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    async with anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(server.serve, sockets=[listener]))
        async with httpx.AsyncClient(base_url=base, headers={"x-api-key": API_KEY}) as http:
            ids = []
            for prompt in ("a red fox in the snow", "a heron at dawn", "a lighthouse in fog"):
                created = await http.post("/api/v1/videos", json={"prompt": prompt})
                created.raise_for_status()
                ids.append(created.json()["data"]["jobId"])
            print(f"created {len(ids)} jobs over HTTP")
            for job_id in ids:
                with anyio.fail_after(120):
                    while True:
                        job = (await http.get(f"/api/v1/videos/{job_id}")).json()["data"]
                        if job["status"] in ("completed", "failed", "cancelled"):
                            break
                        await anyio.sleep(0.05)
                video = await http.get(f"/files/{job_id}.mp4")
                print(f"{job_id}: {job['status']}, {len(video.content):,} bytes of video")
            page = await http.get("/gallery")
            print(f"gallery: {page.text.count('<video')} videos")
        server.should_exit = True


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="serve until Ctrl-C")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    repository = SQLiteRepository(OUTPUT / "ledger.db")
    async with sv.AsyncSoraVideo.simulated(
        repository=repository, download_dir=OUTPUT, generation_time=20
    ) as client:
        if args.serve:
            config = uvicorn.Config(build(client), host="127.0.0.1", port=args.port)
            print(f"serving on http://127.0.0.1:{args.port}/gallery (API key {API_KEY!r})")
            await uvicorn.Server(config).serve()
        else:
            await try_it(client)
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, sys.argv[1:]))
