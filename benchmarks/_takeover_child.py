"""A child process for the takeover row of ``benchmarks/engine.py``: one worker's life.

Usage: python _takeover_child.py BASE_URL DB MODE N LEASE_SECONDS POLL_INTERVAL
  start    create N videos and wait for them (the parent SIGKILLs it mid-run)
  resume   wait for every unfinished job in the ledger (takes over the dead one's jobs)
Prints "submitted <job id>" for each submission, "created N" once the N videos are in the
ledger (start), and "done" at the end.
"""

from __future__ import annotations

import sys
import threading

import soravideo as sv
from soravideo.repositories import SQLiteRepository
from soravideo.transports import SoraTransport

API_KEY = "sk-benchmark-takeover"
CONCURRENCY = 4
_print_lock = threading.Lock()


def say(*words: object) -> None:
    with _print_lock:
        sys.stdout.write(" ".join(str(word) for word in words) + "\n")
        sys.stdout.flush()


def main() -> None:
    base_url, db, mode, n, lease, poll = sys.argv[1:7]
    client = sv.SoraVideo(
        transport=SoraTransport(base_url=base_url, api_key=API_KEY),
        repository=SQLiteRepository(db),
        lease_seconds=float(lease),
        poll_min_interval=float(poll),
        poll_max_interval=10 * float(poll),
        max_concurrency=CONCURRENCY,
    )
    client.on("submitted", lambda event: say("submitted", event.job.id))
    with client:
        if mode == "start":
            ids = [
                client.videos.create_video(sv.CreateVideoRequest(prompt=f"takeover {i}")).id
                for i in range(int(n))
            ]
            say("created", len(ids))  # the parent kills it only once all are in the ledger
            for job_id in ids:
                client.videos.wait_for_job(job_id)
        else:
            # Until none is left: a job listed neither as processing nor as pending (claimed
            # by this engine between the two listings) is found in the next round.
            while unfinished := [
                job.id
                for status in (sv.JobStatus.PROCESSING, sv.JobStatus.PENDING)
                for job in client.videos.list_jobs(status=status, limit=1000).items
            ]:
                for job_id in unfinished:
                    client.videos.wait_for_job(job_id)
        say("done")


if __name__ == "__main__":
    main()
