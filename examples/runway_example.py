"""A batch of mixed Runway models: offline on FakeRunway, or for real with RUNWAYML_API_SECRET.

Run it as is and it needs no network and no key: FakeRunway plays Runway in-process, on
simulated time, with a concurrency limit (tasks queue THROTTLED), a prompt that fails
content moderation, and one expired download URL that soravideo refreshes.

Set ``RUNWAYML_API_SECRET`` and the same script generates real videos on
``api.dev.runwayml.com`` (that costs credits: about $1.80 for this batch at Runway's
published rates; the failing prompt is left out).

    python examples/runway_example.py
"""

from __future__ import annotations

import os
from pathlib import Path

import soravideo as sv
from soravideo.transports import RunwayTransport

OUT = Path("runway-videos")


def videos(failing_prompt: str | None) -> list[sv.CreateVideoRequest]:
    """Return the batch: three models, two shapes, and (offline) one moderated prompt."""
    batch = [
        sv.CreateVideoRequest(prompt="A red fox trots through fresh snow at dawn", duration=5),
        sv.CreateVideoRequest(
            prompt="Waves roll onto a black-sand beach, seen from above",
            model="veo3.1_fast",
            duration=4,
            provider_options={"audio": False},
        ),
        sv.CreateVideoRequest(
            prompt="A paper boat drifts down a rain-filled gutter",
            model="veo3.1",
            aspect_ratio="9:16",
            duration=4,
            provider_options={"audio": False},
        ),
    ]
    if failing_prompt is not None:
        batch.append(sv.CreateVideoRequest(prompt=f"A street scene that should {failing_prompt}"))
    return batch


def offline_client() -> tuple[sv.SoraVideo, str]:
    """Return a client on FakeRunway (simulated time, in-memory ledger) and its failing prompt."""
    import httpx

    from soravideo.repositories import MemoryRepository
    from soravideo.testing import FakeRunway, VirtualClock

    clock = VirtualClock()  # simulated time: jumps ahead whenever everything waits
    fake = FakeRunway(clock=clock, generation_time=90.0, max_concurrent=1)
    # The first download finds its signed URL refused, as an expired one is.
    fake.inject(status=403, match="GET /_cdn/*", times=1)
    transport = RunwayTransport(
        base_url="http://fake-runway.invalid",
        http_client=httpx.AsyncClient(transport=fake.http_transport()),
        clock=clock,
    )
    client = sv.SoraVideo(
        transport=transport, repository=MemoryRepository(), clock=clock, download_dir=OUT
    )
    print("Running on FakeRunway (offline, simulated time)")
    return client, fake.failure_prompts[0]


def main() -> None:
    """Create, process and report one batch."""
    if os.environ.get("RUNWAYML_API_SECRET"):
        print("Running on the Runway API")
        client = sv.SoraVideo(transport=RunwayTransport(), download_dir=OUT)
        failing: str | None = None
    else:
        client, failing = offline_client()
    with client:
        request = sv.BatchVideoRequest(videos=videos(failing), name="runway-example")
        usd = client.batches.estimate_cost(request)
        print(f"Estimated cost: ${usd:.2f}")
        created = client.batches.create_batch(request)
        batch = client.batches.process_batch(created.batch_id)
        report = client.batches.get_batch_status(created.batch_id)
    print(f"Batch {batch.id}: {batch.status}")
    for job in report.jobs:
        model = job.request.model or "gen4.5"
        if job.status is sv.JobStatus.COMPLETED and job.result is not None:
            print(f"  {model:<12} completed  {job.result.path}")
        elif job.error is not None:
            print(f"  {model:<12} {job.status}  {job.error.code}: {job.error.message}")
        else:
            print(f"  {model:<12} {job.status}")


if __name__ == "__main__":
    main()
