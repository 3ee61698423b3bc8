"""LeaseKeeper alone: renewals on the lease clock, a lost lease, a refused renewal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

import soravideo as sv
from engine_kit import OWNER, Kit
from soravideo._core.clock import now_utc
from soravideo._engine.leases import LeaseKeeper

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def keeping(kit: Kit, lease_clock: sv.ManualClock) -> AsyncIterator[LeaseKeeper]:
    keeper = LeaseKeeper(
        state=kit.state,
        repository=kit.repository,
        settings=kit.settings,
        owner=OWNER,
        lease_clock=lease_clock,
        pacer=kit.pacer,
        events=kit.events,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(keeper.run)
        await anyio.wait_all_tasks_blocked()
        yield keeper
        tg.cancel_scope.cancel()


async def test_held_leases_are_renewed_and_a_lost_one_is_let_go(kit: Kit) -> None:
    lease_clock = sv.ManualClock(start=kit.clock.time())
    kept = await kit.sent()
    lost = await kit.sent("a cat")
    kit.poller.track(kept)
    kit.poller.track(lost)
    waiter_of_lost = kit.events.changed(lost.id, ends_only=True)
    async with keeping(kit, lease_clock):
        # The lease of one job expired and another worker took it over.
        await kit.repository.release_lease([lost.id], OWNER)
        await kit.repository.claim_jobs(
            "other", limit=1, lease_seconds=60, now=now_utc(lease_clock), job_ids=[lost.id]
        )
        lease_clock.advance(kit.settings.lease_seconds / 3)
        await anyio.wait_all_tasks_blocked()
    assert kit.state.holds(kept.id)
    assert not kit.state.holds(lost.id)
    assert waiter_of_lost.is_set()  # its waiters look again, at once


async def test_a_refused_renewal_is_tried_again_sooner_and_keeps_the_jobs(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    lease_clock = sv.ManualClock(start=kit.clock.time())
    job = await kit.sent()
    kit.poller.track(job)
    renewals: list[str] = []
    renew = kit.repository.renew_lease

    async def locked_once(ids: Any, owner: str, **kwargs: Any) -> list[str]:
        renewals.append("refused" if not renewals else "renewed")
        if len(renewals) == 1:
            raise sv.RepositoryError("database is locked")
        return await renew(ids, owner, **kwargs)

    monkeypatch.setattr(kit.repository, "renew_lease", locked_once)
    async with keeping(kit, lease_clock):
        lease_clock.advance(kit.settings.lease_seconds / 3)
        await anyio.wait_all_tasks_blocked()
        assert renewals == ["refused"]
        lease_clock.advance(kit.pacer.backoff(1))  # not a whole interval
        await anyio.wait_all_tasks_blocked()
        assert renewals == ["refused", "renewed"]
    assert kit.state.holds(job.id)


async def test_an_idle_keeper_waits_without_the_clock(kit: Kit) -> None:
    lease_clock = sv.ManualClock(start=kit.clock.time())
    async with keeping(kit, lease_clock) as keeper:
        assert lease_clock.next_deadline() is None  # nobody sleeps on the lease clock
        job = await kit.pending()
        kit.state.enqueue(job)  # wakes it
        await anyio.wait_all_tasks_blocked()
        assert lease_clock.next_deadline() is not None
        assert await keeper.renew([job.id]) == [job.id]
