"""A batch on OpenRouter's video API: offline on FakeOpenRouter, or for real with
OPENROUTER_API_KEY.

Run it as is and it needs no network and no key: FakeOpenRouter plays OpenRouter
in-process, on simulated time, with a prompt that fails content moderation. Each completed
job records what OpenRouter charged (``usage.cost``) beside soravideo's estimate.

Set ``OPENROUTER_API_KEY`` and the same script generates real videos through
``openrouter.ai`` (that costs money: about $2.20 for this batch at the prices of
soravideo's table; the failing prompt is left out). It reads the live model listing first,
so the estimate uses OpenRouter's own prices.

    python examples/openrouter_example.py
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio

import soravideo as sv
from soravideo.transports import OpenRouterTransport
from soravideo.transports.openrouter import OpenRouterModel

OUT = Path("openrouter-videos")


def videos(failing_prompt: str | None) -> list[sv.CreateVideoRequest]:
    """Return the batch: two models, two shapes, and (offline) one moderated prompt."""
    batch = [
        # --8<-- [start:requests]
        sv.CreateVideoRequest(
            prompt="A red fox trots through fresh snow at dawn",
            model="google/veo-3.1",
            duration=4,
            resolution="720p",
            aspect_ratio="16:9",
        ),
        sv.CreateVideoRequest(
            prompt="Waves roll onto a black-sand beach, seen from above",
            model="alibaba/wan-2.6",
            duration=5,
            aspect_ratio="9:16",
            provider_options={"seed": 42},
        ),
        # --8<-- [end:requests]
    ]
    if failing_prompt is not None:
        batch.append(
            sv.CreateVideoRequest(
                prompt=f"A street scene that should {failing_prompt}", model="alibaba/wan-2.6"
            )
        )
    return batch


# --8<-- [start:live]
async def live_models() -> dict[str, OpenRouterModel]:
    """Read OpenRouter's video models and their prices (one GET /api/v1/videos/models)."""
    async with OpenRouterTransport() as transport:  # the key: OPENROUTER_API_KEY
        return dict(await transport.refresh_models())


def live_client() -> sv.SoraVideo:
    """Return a client on the OpenRouter API, with its live models and prices."""
    transport = OpenRouterTransport(models=anyio.run(live_models))
    return sv.SoraVideo(transport=transport, download_dir=OUT)


# --8<-- [end:live]


def offline_client() -> tuple[sv.SoraVideo, str]:
    """Return a client on FakeOpenRouter (simulated time, in-memory ledger) and its failing prompt."""
    import httpx

    from soravideo.repositories import MemoryRepository
    from soravideo.testing import FakeOpenRouter, VirtualClock

    clock = VirtualClock()  # simulated time: jumps ahead whenever everything waits
    fake = FakeOpenRouter(clock=clock, generation_time=120.0, max_concurrent=2)
    transport = OpenRouterTransport(
        base_url="http://fake-openrouter.invalid/api/v1",
        http_client=httpx.AsyncClient(transport=fake.http_transport()),
        clock=clock,
    )
    client = sv.SoraVideo(
        transport=transport, repository=MemoryRepository(), clock=clock, download_dir=OUT
    )
    print("Running on FakeOpenRouter (offline, simulated time)")
    return client, fake.failure_prompts[0]


def money(usd: float | None) -> str:
    """Return ``$0.40``, or ``-`` when there is no figure."""
    return "-" if usd is None else f"${usd:.2f}"


def main() -> None:
    """Create, process and report one batch."""
    if os.environ.get("OPENROUTER_API_KEY"):
        print("Running on the OpenRouter API")
        client = live_client()
        failing: str | None = None
    else:
        client, failing = offline_client()
    with client:
        request = sv.BatchVideoRequest(videos=videos(failing), name="openrouter-example")
        usd = client.batches.estimate_cost(request)
        print(f"Estimated cost: ${usd:.2f}")
        created = client.batches.create_batch(request)
        batch = client.batches.process_batch(created.batch_id)
        report = client.batches.get_batch_status(created.batch_id)
    print(f"Batch {batch.id}: {batch.status}")
    for job in report.jobs:
        model = job.request.model or "google/veo-3.1"
        if job.status is sv.JobStatus.COMPLETED and job.result is not None:
            print(
                f"  {model:<16} completed  {job.result.path}  "
                f"estimated {money(job.estimated_cost_usd)}, charged {money(job.cost_usd)}"
            )
        elif job.error is not None:
            print(f"  {model:<16} {job.status}  {job.error.code}: {job.error.message}")
        else:
            print(f"  {model:<16} {job.status}")


if __name__ == "__main__":
    main()
