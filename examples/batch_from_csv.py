"""A batch from a CSV manifest: estimate, check the budget, process, download every video.

Run it from the repository root: ``python examples/batch_from_csv.py [MANIFEST]``
(default: ``examples/prompts.csv``, beside this file). A manifest has one video a row: a
``prompt`` plus any request field (``duration``, ``model``, ``size``, ``priority`` …) and
``metadata.KEY`` columns. JSONL (one JSON object a line) works the same way.
Files go to ``demo-output/batch/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import soravideo as sv

MANIFEST = Path(__file__).with_name("prompts.csv")
OUT = Path("demo-output/batch")


def main(manifest: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sv.SoraVideo.simulated() as client:
        # Every row is validated before anything is stored: a bad row raises a
        # ValidationError naming it ("row 3: duration: ..."), and nothing is half-created.
        # budget_usd refuses the whole batch if its estimate is above it.
        created = client.batches.create_batch_from_file(
            manifest, model="sora-2", concurrency=2, budget_usd=5.00
        )
        print(f"batch {created.batch_id}: {created.total} videos from {manifest.name}")

        batch = client.batches.process_batch(created.batch_id)
        report = client.batches.get_batch_status(batch.id)
        print(report)
        for job in report.jobs:
            if job.status is sv.JobStatus.COMPLETED:
                path = client.videos.download_video(job.id, OUT / f"{job.id}.mp4")
                print(f"  {job.metadata.get('scene', '-'):8} {path}")
            else:
                print(f"  {job}: {job.error}")
        spent = sum(job.estimated_cost_usd or 0 for job in report.jobs)
        print(f"estimated cost: ${spent:.2f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else MANIFEST)
