"""Found by a review: alike image requests never swap videos when their answers are lost; a
404 after hiccups does not fail a job early; an outage of reads costs one failed read a
round, not one a job."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import soravideo as sv
from engine_kit import Kit
from soravideo._core.clock import now_utc
from soravideo._engine.state import Tracked

pytestmark = pytest.mark.anyio

PNG_A = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PNG_B = b"\x89PNG\r\n\x1a\n" + b"\x01" * 96


async def unanswered(kit: Kit, prompt: str, **fields: Any) -> sv.Job:
    job = await kit.pending(prompt, **fields)
    job = await kit.ledger.write(
        job,
        sv.JobStatus.PENDING,
        status=sv.JobStatus.PROCESSING,
        started_at=now_utc(kit.clock),
        attempts=1,
    )
    kit.clock.advance(1)
    return job


async def test_oldest_adoption_never_takes_a_video_made_from_another_image(
    kit: Kit,
) -> None:
    # Two image-to-video jobs sharing a prompt (a batch "animate this photo"), both answers
    # lost. SoraTransport.describes cannot see the image, so both videos match both jobs;
    # "adopt the oldest" gives B the video made from A's image.
    kit.transport._capabilities = attrs.evolve(kit.transport.capabilities, idempotent_creates=False)
    a = await unanswered(kit, "animate this photo", input_reference=PNG_A)
    b = await unanswered(kit, "animate this photo", input_reference=PNG_B)
    made_a = await kit.transport.submit(a.request, idempotency_key="a")
    kit.clock.advance(1)
    made_b = await kit.transport.submit(b.request, idempotency_key="b")
    assert (
        kit.fake.create_params(made_a.remote_id)["input_reference"]
        != kit.fake.create_params(made_b.remote_id)["input_reference"]
    )
    adopted = await kit.reconciler.reconcile(b)  # B's reconcile happens to run first
    # Record both as they truly are, so the kit's end check holds whatever happened.
    await kit.ledger.write(a, sv.JobStatus.PROCESSING, remote_id=made_a.remote_id)
    await kit.ledger.write(b, sv.JobStatus.PROCESSING, remote_id=made_b.remote_id)
    assert adopted is None or adopted.remote_id == made_b.remote_id, (
        f"job B (image B) would adopt {adopted.remote_id}, made from image A"
    )


class NoList:
    """The kit's transport as a provider that cannot list (Runway, Gemini, OpenRouter)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.capabilities = attrs.evolve(inner.capabilities, can_list=False)

    def __getattr__(self, name: str) -> Any:
        if name in ("fetch_many_seen", "fetch_many"):
            raise AttributeError(name)
        return getattr(self._inner, name)


async def two_tracked(kit: Kit) -> tuple[Tracked, Tracked]:
    kit.poller.transport = NoList(kit.transport)  # type: ignore[assignment]
    x = await kit.sent("x")
    y = await kit.sent("y")
    kit.poller.track(x)
    kit.poller.track(y)
    return kit.state.tracked[x.id], kit.state.tracked[y.id]


async def test_one_404_after_two_hiccups_does_not_fail_a_job_read_one_by_one(
    kit: Kit,
) -> None:
    # _missing says: failed "on the third" answer that the provider no longer knows it.
    # Read one by one with another job, X's failures counter is shared with 5xx reads.
    tx, ty = await two_tracked(kit)
    x_path = f"GET /videos/{tx.job.remote_id}"
    kit.fake.inject(status=503, match=x_path, times=2)
    await kit.poller.refresh([tx, ty])
    await kit.poller.refresh([tx, ty])
    assert tx.failures == 2
    kit.fake.inject(status=404, match=x_path, times=1)  # one 404 blip
    await kit.poller.refresh([tx, ty])
    stored = await kit.repository.get_job(tx.job.id)
    assert stored.status is sv.JobStatus.PROCESSING, (
        f"failed {stored.error and stored.error.code} after a single 404"
    )


async def test_a_read_outage_costs_one_failed_read_per_round_not_one_per_job(
    kit: Kit,
) -> None:
    # Before 80e49ae a failed read ended the round; now each due job is read (each with
    # the transport's full retry policy, serially, holding the poll loop) during an outage
    # or with a revoked key (401: every job asked every round).
    kit.poller.transport = NoList(kit.transport)  # type: ignore[assignment]
    jobs = [await kit.sent(f"job {i}") for i in range(5)]
    for job in jobs:
        kit.poller.track(job)
    tracked = [kit.state.tracked[job.id] for job in jobs]
    before = kit.fake.count(method="GET")
    kit.fake.inject(status=503, match="GET /videos/*", times=None, rate=1.0)
    await kit.poller.refresh(tracked)
    reads = kit.fake.count(method="GET") - before
    assert reads <= 2, f"{reads} status reads in one round of an outage"
