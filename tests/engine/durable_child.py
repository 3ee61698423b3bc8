"""A child process for the durability tests: drives jobs in a shared SQLite ledger.

Usage: python durable_child.py BASE_URL DB MODE [N | MANIFEST]
  create-and-wait N   create N jobs (or a batch of N with MODE batch), then wait for all
  script MANIFEST     the natural batch script: create the batch from the manifest under a
                      key, then process it (run again, it carries on with the same batch)
  resume              wait for every unfinished job in the ledger
  exit-after-answer N create N jobs; when the provider has answered the second create,
                      the process ends at once (os._exit, before the ledger write)
Prints "submitted <job id>" for each submission, so the parent can kill it mid-run.
"""

from __future__ import annotations

import os
import sys
import threading

import soravideo as sv
from soravideo.repositories import SQLiteRepository
from soravideo.transports.sora import SoraTransport

_print_lock = threading.Lock()


def say(*words: object) -> None:
    with _print_lock:
        sys.stdout.write(" ".join(str(word) for word in words) + "\n")
        sys.stdout.flush()


def main() -> None:
    base_url, db, mode = sys.argv[1:4]
    arg = sys.argv[4] if len(sys.argv) > 4 else "0"
    # FakeSora deduplicates creates: one killed on the wire may be sent again.
    transport = SoraTransport(base_url=base_url, api_key="sk-test", idempotent_creates=True)
    if mode == "exit-after-answer":
        submit = transport.submit
        answers = 0

        async def answered_then_exit(*args: object, **kwargs: object) -> object:
            nonlocal answers
            remote = await submit(*args, **kwargs)  # type: ignore[arg-type]
            answers += 1
            if answers == 2:
                say("answered", remote.remote_id)
                os._exit(17)  # the answer is never written to the ledger
            return remote

        transport.submit = answered_then_exit  # type: ignore[method-assign,assignment]
    client = sv.SoraVideo(
        transport=transport,
        repository=SQLiteRepository(db),
        poll_min_interval=0.05,
        poll_max_interval=0.5,
        # Short: a run started again after a SIGKILL waits out the dead process's leases.
        lease_seconds=0.5,
        max_concurrency=3,
        max_batch_size=100,
    )
    # Plain callbacks run in worker threads, several at once: one locked write per line, or
    # two announcements could interleave into one garbled line.
    client.on("submitted", lambda event: say("submitted", event.job.id))
    with client:
        if mode in ("create-and-wait", "exit-after-answer"):
            ids = [
                client.videos.create_video(sv.CreateVideoRequest(prompt=f"durable {i}")).id
                for i in range(int(arg))
            ]
            for job_id in ids:
                client.videos.wait_for_job(job_id)
        elif mode == "batch":
            videos = [sv.CreateVideoRequest(prompt=f"batch video {i}") for i in range(int(arg))]
            created = client.batches.create_batch(
                sv.BatchVideoRequest(videos=videos, concurrency=3)
            )
            say("batch", created.batch_id)
            client.batches.process_batch(created.batch_id)
        elif mode == "script":
            created = client.batches.create_batch_from_file(arg, key="boats", concurrency=2)
            say("batch", created.batch_id)
            client.batches.process_batch(created.batch_id)
        elif mode == "resume":
            for batch in client.batches.list_batches(limit=100).items:
                if not batch.status.is_terminal:
                    client.batches.process_batch(batch.id)
            for status in (sv.JobStatus.PENDING, sv.JobStatus.PROCESSING):
                for job in client.videos.list_jobs(status=status, limit=1000).items:
                    client.videos.wait_for_job(job.id)
        say("done")


if __name__ == "__main__":
    main()
