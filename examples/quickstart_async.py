"""Quickstart, async: the same API with ``await``, several videos waited on at once.

Run it from the repository root: ``python examples/quickstart_async.py``. Files go to
``demo-output/quickstart-async/``.
"""

from __future__ import annotations

from pathlib import Path

import anyio

import soravideo as sv

OUT = Path("demo-output/quickstart-async")
PROMPTS = ["a red fox in fresh snow", "a heron on one leg", "city lights from a train"]


async def make_video(client: sv.AsyncSoraVideo, prompt: str) -> None:
    job = await client.videos.create_video(sv.CreateVideoRequest(prompt=prompt, duration=4))
    job = await client.videos.wait_for_job(job.id, timeout=600)
    if job.status is sv.JobStatus.COMPLETED:
        path = await client.videos.download_video(job.id, OUT)  # a folder: <job id>.mp4
        print(f"{job}\n  -> {path}")
    else:
        print(f"{job}: {job.error}")


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    # `async with` keeps the engine running in the background for the whole block.
    async with sv.AsyncSoraVideo.simulated() as client:
        client.on("completed", lambda event: print("event: completed", event.job.id))
        async with anyio.create_task_group() as tg:
            for prompt in PROMPTS:
                tg.start_soon(make_video, client, prompt)
        page = await client.videos.list_jobs(status=sv.JobStatus.COMPLETED)
        print(f"{page.total} videos completed")


if __name__ == "__main__":
    anyio.run(main)
