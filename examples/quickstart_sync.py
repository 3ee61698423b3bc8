"""Quickstart, sync: one video and a small batch, offline on the simulated provider.

Run it from the repository root: ``python examples/quickstart_sync.py``. Files go to
``demo-output/quickstart/``. For a real provider, replace ``SoraVideo.simulated()`` with
``SoraVideo()`` and set ``SORAVIDEO_BASE_URL`` and ``SORAVIDEO_API_KEY``.
"""

from __future__ import annotations

from pathlib import Path

import soravideo as sv

OUT = Path("demo-output/quickstart")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    # simulated(): FakeSora in-process, an in-memory ledger, and simulated time, so a
    # 30-second generation takes milliseconds.
    with sv.SoraVideo.simulated() as client:
        job = client.videos.create_video(
            sv.CreateVideoRequest(prompt="a red fox running through fresh snow", duration=8)
        )
        job = client.videos.wait_for_job(job.id, timeout=600)
        print(job)
        # overwrite=True: running the example again replaces its own fox.mp4 (without it,
        # an existing file is refused with a ValidationError naming it).
        path = client.videos.download_video(job.id, OUT / "fox.mp4", overwrite=True)
        print(f"saved {path} ({path.stat().st_size} bytes), estimated ${job.estimated_cost_usd}")

        prompts = ["a lighthouse at dawn", "rain on a tin roof", "a paper boat in a gutter"]
        created = client.batches.create_batch(
            sv.BatchVideoRequest(
                name="three shorts",
                videos=[sv.CreateVideoRequest(prompt=p, duration=4) for p in prompts],
                concurrency=2,
            )
        )
        batch = client.batches.process_batch(created.batch_id)
        print(batch)
        for job in client.batches.get_batch_status(batch.id).jobs:
            print(" ", job)


if __name__ == "__main__":
    main()
