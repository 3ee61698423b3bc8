"""Cost comes from what is sent: ``provider_options`` cannot override a priced field (the
request has its own field for each), so a budget cannot be bypassed and the estimate in the
ledger is the price of the video the provider makes."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

import soravideo as sv
from helpers import assert_no_requests, logged, request, requests
from soravideo._core.clock import VirtualClock
from soravideo.repositories import MemoryRepository
from soravideo.testing._simulated_runway import simulated_runway_parts
from soravideo.transports.sora import SORA_MODELS

pytestmark = pytest.mark.anyio


def runway_client() -> sv.AsyncSoraVideo:
    clock = VirtualClock()
    fake, transport = simulated_runway_parts(clock, generation_time=30)
    client = sv.AsyncSoraVideo(
        transport=transport, repository=MemoryRepository(), clock=clock, max_concurrency=4
    )
    client.fake = fake  # type: ignore[assignment]
    return client


async def test_sora_seconds_in_provider_options_cannot_bypass_a_budget(
    client: sv.AsyncSoraVideo,
) -> None:
    # The estimate said 2 x 4 s x $0.10 = $0.80 under a $1 budget; 20 s would cost $4.
    videos = requests(2, provider_options={"seconds": "20"})
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch(sv.BatchVideoRequest(videos=videos, budget_usd=1))
    assert info.value.fields == (
        "videos[0].provider_options.seconds",
        "videos[1].provider_options.seconds",
    )
    assert "duration" in info.value.errors[0].message
    assert (await client.batches.list_batches()).total == 0
    assert (await client.videos.list_jobs()).total == 0
    assert client.fake is not None
    assert_no_requests(client.fake)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"seconds": "20"}, "provider_options.seconds"),
        ({"seconds": 12}, "provider_options.seconds"),
        ({"size": "1792x1024"}, "provider_options.size"),
        ({"model": "sora-2-pro"}, "provider_options.model"),
        ({"prompt": "something else"}, "provider_options.prompt"),
        (
            {"input_reference": {"image_url": "https://a.example/x.png"}},
            "provider_options.input_reference",
        ),
    ],
)
async def test_sora_options_that_override_the_requests_own_fields_are_refused(
    client: sv.AsyncSoraVideo, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(sv.ValidationError) as info:
        await client.videos.create_video(request(provider_options=options))
    assert info.value.fields == (field,)
    assert "instead" in info.value.errors[0].message
    assert (await client.videos.list_jobs()).total == 0


async def test_sora_estimates_are_the_price_of_the_seconds_sent(client: sv.AsyncSoraVideo) -> None:
    videos = [
        request("a", duration=8),
        request("b", model="sora-2-pro", duration=12),
        request("c", size="1280x720"),  # the model's default: 4 s
    ]
    created = await client.batches.create_batch(sv.BatchVideoRequest(videos=videos, budget_usd=5))
    pending = {
        j.request.prompt: j for j in (await client.batches.get_batch_status(created.batch_id)).jobs
    }
    done = await client.batches.process_batch(created.batch_id)
    assert done.status is sv.BatchStatus.COMPLETED
    assert client.fake is not None
    for sent in logged(client.fake, "POST"):
        body = json.loads(sent.body)
        seconds = int(body.get("seconds", "4"))
        price = SORA_MODELS[body["model"]].price_per_second_usd
        assert price is not None
        assert pending[body["prompt"]].estimated_cost_usd == pytest.approx(seconds * price)


async def test_a_stored_override_from_before_the_rule_is_not_sent(
    client: sv.AsyncSoraVideo,
) -> None:
    # A job stored by an older version (or added to the ledger directly), priced at 4 s:
    # its "seconds" option is not sent, so the provider makes what was priced.
    now = datetime.now(timezone.utc)
    job = sv.Job(
        id="job_old",
        status=sv.JobStatus.PENDING,
        request=request(provider_options={"seconds": "20"}),
        provider="sora",
        estimated_cost_usd=0.4,
        created_at=now,
        updated_at=now,
    )
    await client._started()
    await client.repository.add_jobs([job])
    done = await client.videos.wait_for_job(job.id)
    assert done.status is sv.JobStatus.COMPLETED
    assert client.fake is not None
    (sent,) = logged(client.fake, "POST")
    body = json.loads(sent.body)
    assert body.get("seconds", "4") == "4"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"duration": 10}, "provider_options.duration"),
        ({"duration": 10.0}, "provider_options.duration"),
        ({"ratio": "720:1280"}, "provider_options.ratio"),
        ({"model": "veo3.1"}, "provider_options.model"),
        ({"promptText": "other"}, "provider_options.promptText"),
    ],
)
async def test_runway_options_that_override_priced_fields_are_refused_under_a_budget(
    options: dict[str, Any], field: str
) -> None:
    async with runway_client() as client:
        videos = requests(2, model="gen4.5", provider_options=options)
        with pytest.raises(sv.ValidationError) as info:
            await client.batches.create_batch(sv.BatchVideoRequest(videos=videos, budget_usd=2))
        assert info.value.fields == (f"videos[0].{field}", f"videos[1].{field}")
        assert "instead" in info.value.errors[0].message
        assert (await client.videos.list_jobs()).total == 0
        assert client.fake is not None
        assert_no_requests(client.fake)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {"model": "gen4.5"},
        {"model": "gen4.5", "duration": 10, "provider_options": {"seed": 7}},
        {"model": "veo3.1"},
        {"model": "veo3.1", "duration": 4, "provider_options": {"audio": False}},
        {"model": "veo3.1_fast", "provider_options": {"audio": True}},
    ],
)
async def test_runway_estimates_in_the_ledger_are_what_the_fake_charges(
    fields: dict[str, Any],
) -> None:
    async with runway_client() as client:
        job = await client.videos.create_video(request(**fields))
        estimate = job.estimated_cost_usd
        assert estimate is not None
        done = await client.videos.wait_for_job(job.id)
        assert done.status is sv.JobStatus.COMPLETED
        assert done.cost_credits is not None
        assert estimate == pytest.approx(done.cost_credits * 0.01)
