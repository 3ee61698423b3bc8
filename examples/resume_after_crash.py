"""Resume after a crash: kill a worker mid-batch, start again, nothing lost, nothing sent twice.

1. A stand-in provider (FakeSora) is served on a loopback port, so that it outlives the
   worker process, as a real provider would. Each video takes half a second.
2. A worker process creates a batch of four videos in a SQLite ledger and processes it.
   Every transition is written to the ledger before the next provider call, and a video's
   remote id the moment the provider returns it.
3. Once two videos are generating, the worker is killed with SIGKILL: no clean-up at all.
4. A new client opens the same ledger and calls ``resume()``, which sees every unfinished
   batch and job through: the two in-flight videos are polled by their remote id (never
   created again), the two pending ones are sent, and the batch completes. The provider
   made exactly four videos. (Running ``worker`` itself again would do the same: its batch
   has a key, so ``create_batch`` gives back the batch of the first run.)

Run it from the repository root: ``python examples/resume_after_crash.py`` (a few seconds:
the dead worker's leases have to expire first). The ledger is ``demo-output/resume/ledger.db``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import soravideo as sv
from soravideo.repositories import SQLiteRepository
from soravideo.testing import FakeSora
from soravideo.transports import SoraTransport

OUT = Path("demo-output/resume")


def connect(base_url: str, ledger: Path) -> sv.SoraVideo:
    """Return a client on the served provider and the SQLite ledger."""
    return sv.SoraVideo(
        transport=SoraTransport(base_url=base_url, api_key="sk-example"),
        repository=SQLiteRepository(ledger),
        poll_min_interval=0.1,
        poll_max_interval=0.5,
        # A dead worker's jobs go to others once its leases expire; short for the demo.
        lease_seconds=1.0,
    )


# --8<-- [start:crash]
def worker(base_url: str, ledger: Path) -> None:
    """Create a batch and process it, announcing each submission (then get killed)."""
    client = connect(base_url, ledger)
    announce = threading.Lock()  # callbacks run in worker threads, maybe several at once

    def submitted(event: sv.JobEvent) -> None:
        with announce:
            print("submitted", event.job.id, flush=True)

    client.on("submitted", submitted)
    with client:
        videos = [sv.CreateVideoRequest(prompt=f"a crane taking off, take {i}") for i in range(4)]
        request = sv.BatchVideoRequest(videos=videos, concurrency=2)
        # Run again, this very code carries on with the same batch: the key names it.
        created = client.batches.create_batch(request, key="cranes-take-off")
        client.batches.process_batch(created.batch_id)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    ledger = OUT / "ledger.db"
    for stale in OUT.glob("ledger.db*"):
        stale.unlink()
    fake = FakeSora(generation_time=0.5)
    with fake.serve() as base_url:
        with subprocess.Popen(
            [sys.executable, __file__, "--worker", base_url, str(ledger)],
            stdout=subprocess.PIPE,
            text=True,
        ) as child:
            assert child.stdout is not None
            submitted = 0
            for line in child.stdout:
                submitted += line.startswith("submitted")
                if submitted == 2:
                    break
            child.kill()  # SIGKILL: no clean-up, leases left behind
        print(f"worker killed with {submitted} videos generating")

        with connect(base_url, ledger) as client:
            [batch] = client.batches.list_batches().items
            print("the ledger after the crash:")
            for job in client.batches.get_batch_status(batch.id).jobs:
                print(f"  {job}  remote id {job.remote_id}")
            summary = client.resume()  # every unfinished batch and job, seen through
            print(f"resumed: {summary}")
            batch = client.batches.get_batch_status(batch.id).batch
            print(f"the batch: {batch}")
    print(f"the provider made {fake.created_count()} videos for 4 jobs")
    assert batch.status is sv.BatchStatus.COMPLETED
    assert fake.created_count() == 4


# --8<-- [end:crash]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
