"""A worker process for the scale tests: drives jobs from a shared PostgreSQL ledger.

Usage: python worker_child.py BASE_URL DSN WORKER_ID CONCURRENCY MODE [BATCH_ID]
  worker          ``client.run_worker()`` until SIGTERM
  process-batch   ``client.batches.process_batch(BATCH_ID)``, then exit

Prints one line per event, so the parent can follow (and kill) it:
  ready                                  before the engine starts
  submitted <job id> <remote id>         a create the provider accepted
  completed <job id>                     a job this process saw finish
  batch <status> <percentage>            process-batch: the batch at the end
  stopped                                run_worker returned (after SIGTERM)
"""

from __future__ import annotations

import sys
import threading

import soravideo as sv
from soravideo.repositories.postgres import PostgresRepository
from soravideo.transports.sora import SoraTransport

_print_lock = threading.Lock()


def say(*words: object) -> None:
    line = " ".join(str(word) for word in words) + "\n"
    with _print_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def main() -> None:
    base_url, dsn, worker_id, concurrency, mode = sys.argv[1:6]
    client = sv.SoraVideo(
        # FakeSora deduplicates creates: one killed on the wire may be sent again.
        transport=SoraTransport(base_url=base_url, api_key="sk-test", idempotent_creates=True),
        repository=PostgresRepository(dsn),
        worker_id=worker_id,
        lease_seconds=1.0,
        poll_min_interval=0.05,
        poll_max_interval=0.5,
        max_concurrency=int(concurrency),
        # Each worker has its own token bucket; the default 10 per second would make the
        # provider's request budget, not the ledger, what these tests measure.
        requests_per_second=500.0,
    )
    client.on("submitted", lambda event: say("submitted", event.job.id, event.job.remote_id))
    client.on("completed", lambda event: say("completed", event.job.id))
    with client:
        say("ready")
        if mode == "worker":
            client.run_worker()
            say("stopped")
        elif mode == "process-batch":
            batch = client.batches.process_batch(sys.argv[6])
            say("batch", batch.status.value, batch.progress.percentage)
        else:
            raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
