"""Claimer alone: how much it takes, where claimed jobs go, and a refused claim."""

from __future__ import annotations

from typing import Any

import pytest

import soravideo as sv
from engine_kit import OWNER, Kit
from soravideo._core.clock import now_utc
from soravideo._engine.claims import Claimer

pytestmark = pytest.mark.anyio


def claimer(kit: Kit) -> Claimer:
    return Claimer(
        state=kit.state,
        repository=kit.repository,
        settings=kit.settings,
        owner=OWNER,
        clock=kit.clock,
        lease_clock=kit.clock,
        pacer=kit.pacer,
        poller=kit.poller,
    )


async def released(kit: Kit, job: sv.Job) -> sv.Job:
    """Give a kit job's lease back, so the claimer under test can take it."""
    await kit.repository.release_lease([job.id], OWNER)
    return job


async def test_pending_jobs_are_queued_sent_ones_tracked_within_the_room(kit: Kit) -> None:
    sent = await released(kit, await kit.sent())
    pending = [await released(kit, await kit.pending(f"video {i}")) for i in range(4)]
    claims = claimer(kit)
    assert claims.room() == 4  # max_concurrency
    await claims.claim()
    assert sent.id in kit.state.tracked
    assert len(kit.state.queue) == 3
    assert claims.room() == 0
    assert kit.state.claim_needed  # it took all the room: there may be more
    assert sum(kit.state.holds(job.id) for job in pending) == 3


async def test_a_refused_claim_waits_for_its_backoff_then_claims(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await released(kit, await kit.pending())
    calls: list[dict[str, Any]] = []

    async def locked(owner: str, **kwargs: Any) -> list[sv.Job]:
        calls.append(kwargs)
        raise sv.RepositoryError("database is locked")

    monkeypatch.setattr(kit.repository, "claim_jobs", locked)
    claims = claimer(kit)
    await claims.claim()
    assert claims.retry_at == kit.clock.time() + kit.pacer.backoff(1)
    assert kit.state.claim_needed
    await claims.claim()  # before the backoff ends: the ledger is not asked
    assert len(calls) == 1
    monkeypatch.undo()
    kit.clock.advance(kit.pacer.backoff(1))
    await claims.claim()
    assert claims.retry_at is None
    assert job.id in kit.state.queue


async def test_batches_processed_here_share_the_room(kit: Kit) -> None:
    client = sv.AsyncSoraVideo(transport=kit.transport, repository=kit.repository, clock=kit.clock)
    requests = [sv.CreateVideoRequest(prompt=f"video {i}") for i in range(4)]
    a = await client.batches.create_batch(sv.BatchVideoRequest(videos=requests))
    b = await client.batches.create_batch(sv.BatchVideoRequest(videos=requests))
    kit.state.batch_limits.update({a.batch_id: 0, b.batch_id: 1})
    await claimer(kit).claim()
    # Each batch gets its share of the room (half of 4 for a, its own limit of 1 for b);
    # the claim for the rest takes no job of a batch that is not started (both here).
    assert kit.state.load(a.batch_id) == 2
    assert kit.state.load(b.batch_id) == 1
    assert len(kit.state.queue) == 3


async def test_release_all_gives_every_lease_back(kit: Kit) -> None:
    await released(kit, await kit.sent())
    await released(kit, await kit.pending("a cat"))
    claims = claimer(kit)
    await claims.claim()
    assert len(kit.state.held_ids()) == 2
    await claims.release_all()
    assert kit.state.held_ids() == []
    taken = await kit.repository.claim_jobs(
        "other", limit=5, lease_seconds=60, now=now_utc(kit.clock)
    )
    assert len(taken) == 2
