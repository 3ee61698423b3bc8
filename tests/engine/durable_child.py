"""A child process for the durability tests: drives jobs in a shared SQLite ledger.

Usage: python durable_child.py BASE_URL DB MODE [N]
  create-and-wait N   create N jobs (or a batch of N with MODE batch), then wait for all
  resume              wait for every unfinished job in the ledger
Prints "submitted <job id>" for each submission, so the parent can kill it mid-run.
"""

from __future__ import annotations

import sys

import soravideo as sv
from soravideo.repositories import SQLiteRepository
from soravideo.transports.sora import SoraTransport


def main() -> None:
    base_url, db, mode = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    client = sv.SoraVideo(
        transport=SoraTransport(base_url=base_url, api_key="sk-test"),
        repository=SQLiteRepository(db),
        poll_min_interval=0.05,
        poll_max_interval=0.5,
        lease_seconds=1.0,
        max_concurrency=3,
        max_batch_size=100,
    )
    client.on("submitted", lambda event: print("submitted", event.job.id, flush=True))
    with client:
        if mode == "create-and-wait":
            ids = [
                client.videos.create_video(sv.CreateVideoRequest(prompt=f"durable {i}")).id
                for i in range(n)
            ]
            for job_id in ids:
                client.videos.wait_for_job(job_id)
        elif mode == "batch":
            videos = [sv.CreateVideoRequest(prompt=f"batch video {i}") for i in range(n)]
            created = client.batches.create_batch(
                sv.BatchVideoRequest(videos=videos, concurrency=3)
            )
            print("batch", created.batch_id, flush=True)
            client.batches.process_batch(created.batch_id)
        elif mode == "resume":
            for batch in client.batches.list_batches(limit=100).items:
                if not batch.status.is_terminal:
                    client.batches.process_batch(batch.id)
            for status in (sv.JobStatus.PENDING, sv.JobStatus.PROCESSING):
                for job in client.videos.list_jobs(status=status, limit=1000).items:
                    client.videos.wait_for_job(job.id)
        print("done", flush=True)


if __name__ == "__main__":
    main()
