"""Reconciler alone: which video an unanswered create made, if any can be proven."""

from __future__ import annotations

import attrs
import pytest

import soravideo as sv
from engine_kit import Kit
from soravideo._core.clock import now_utc

pytestmark = pytest.mark.anyio


async def unanswered(kit: Kit, prompt: str = "a red fox in the snow") -> sv.Job:
    """A job whose create was sent but whose answer was lost (processing, no remote id)."""
    job = await kit.pending(prompt)
    job = await kit.ledger.write(
        job,
        sv.JobStatus.PENDING,
        status=sv.JobStatus.PROCESSING,
        started_at=now_utc(kit.clock),
        attempts=1,
    )
    kit.clock.advance(1)
    return job


async def test_the_one_matching_video_made_after_the_first_attempt_is_adopted(kit: Kit) -> None:
    job = await unanswered(kit)
    made = await kit.transport.submit(job.request, idempotency_key="lost-answer")
    found = await kit.reconciler.reconcile(job)
    assert found is not None and found.remote_id == made.remote_id
    await kit.ledger.write(job, sv.JobStatus.PROCESSING, remote_id=made.remote_id)


async def test_a_video_recorded_or_remembered_for_another_job_is_never_adopted(kit: Kit) -> None:
    owner = await kit.sent()  # same prompt, recorded in the ledger
    job = await unanswered(kit)
    assert await kit.reconciler.reconcile(job) is None
    # One this engine recorded (its ledger write still on the way) is skipped too.
    other = await kit.transport.submit(job.request, idempotency_key="recorded-here")
    kit.reconciler.remember(other.remote_id)
    assert kit.reconciler.seen(other.remote_id)
    assert await kit.reconciler.reconcile(job) is None
    await kit.ledger.write(job, sv.JobStatus.PROCESSING, remote_id=other.remote_id)
    assert owner.remote_id != other.remote_id


async def test_two_matching_videos_are_not_proof_of_either(kit: Kit) -> None:
    job = await unanswered(kit)
    neighbour = await kit.pending()  # same prompt; its create answered after ours was lost
    first = await kit.transport.submit(job.request, idempotency_key="one")
    second = await kit.transport.submit(job.request, idempotency_key="two")
    assert await kit.reconciler.reconcile(job) is None
    await kit.ledger.write(job, sv.JobStatus.PROCESSING, remote_id=first.remote_id)
    await kit.ledger.write(
        neighbour, sv.JobStatus.PENDING, status=sv.JobStatus.PROCESSING, remote_id=second.remote_id
    )


async def test_without_deduplication_the_oldest_of_two_matching_videos_is_adopted(
    kit: Kit,
) -> None:
    # No safe re-send: rather than leave both videos unowned, the oldest is adopted, and
    # the next alike job (its answer lost too) adopts the other once the first is recorded.
    kit.transport._capabilities = attrs.evolve(kit.transport.capabilities, idempotent_creates=False)
    job = await unanswered(kit)
    neighbour = await unanswered(kit)
    first = await kit.transport.submit(job.request, idempotency_key="one")
    kit.clock.advance(1)
    second = await kit.transport.submit(job.request, idempotency_key="two")
    # A cancel stops what it finds: it never takes one of several, which may be the
    # neighbour's video whose answer is still on its way.
    assert await kit.reconciler.reconcile(job, oldest_of_several=False) is None
    adopted = await kit.reconciler.reconcile(job)
    assert adopted is not None and adopted.remote_id == first.remote_id
    await kit.ledger.write(job, sv.JobStatus.PROCESSING, remote_id=first.remote_id)
    other = await kit.reconciler.reconcile(neighbour)
    assert other is not None and other.remote_id == second.remote_id


async def test_without_deduplication_two_matching_videos_of_an_image_request_prove_nothing(
    kit: Kit,
) -> None:
    # The list shows no image: two jobs of one prompt and two images each match both
    # videos, and the oldest could be the other image's.
    kit.transport._capabilities = attrs.evolve(kit.transport.capabilities, idempotent_creates=False)
    png = b"\x89PNG\r\n\x1a\n"
    first = await unanswered_with(kit, input_reference=png + b"\x00" * 64)
    second = await unanswered_with(kit, input_reference=png + b"\x01" * 96)
    made_first = await kit.transport.submit(first.request, idempotency_key="one")
    kit.clock.advance(1)
    made_second = await kit.transport.submit(second.request, idempotency_key="two")
    assert await kit.reconciler.reconcile(second) is None
    await kit.ledger.write(first, sv.JobStatus.PROCESSING, remote_id=made_first.remote_id)
    await kit.ledger.write(second, sv.JobStatus.PROCESSING, remote_id=made_second.remote_id)


async def unanswered_with(kit: Kit, **fields: object) -> sv.Job:
    """``unanswered``, with request fields of its own."""
    job = await kit.pending("animate this photo", **fields)
    job = await kit.ledger.write(
        job,
        sv.JobStatus.PENDING,
        status=sv.JobStatus.PROCESSING,
        started_at=now_utc(kit.clock),
        attempts=1,
    )
    kit.clock.advance(1)
    return job


async def test_a_job_never_started_is_not_reconciled_and_the_provider_is_not_asked(
    kit: Kit,
) -> None:
    job = await kit.pending()
    assert job.started_at is None
    before = len(kit.fake.requests)
    assert await kit.reconciler.reconcile(job) is None
    assert len(kit.fake.requests) == before
