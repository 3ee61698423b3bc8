"""A stopping worker gives every lease back, whatever the engine is doing at that moment.

The engine keeps running in the background after ``run_worker`` returns (a context-managed
or sync client), so a claim it makes then, or one still on the wire, must not take back the
leases the worker has just given up, and a claim cut short by ``close`` must not leave any.
The ledger holds each claim on the wire until the test lets it go; nothing waits on time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import anyio
import pytest

import soravideo as sv
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeSora
from soravideo.testing._simulated import simulated_parts

pytestmark = pytest.mark.anyio


class HeldClaims(MemoryRepository):
    """A ledger whose next claim, once armed, waits on the wire for the test to let it go.

    ``where="before"``: the claim reaches the ledger only when let go (it was sent just
    before something else happened). ``where="after"``: the ledger has made the claim, but
    its answer arrives only when let go (a slow network or a busy machine).
    """

    def __init__(self) -> None:
        super().__init__()
        self.where: str | None = None
        self.on_the_wire = anyio.Event()
        self.go = anyio.Event()

    def hold_next_claim(self, where: str) -> None:
        self.where = where

    async def claim_jobs(self, owner: str, **kwargs: Any) -> list[sv.Job]:
        where, self.where = self.where, None
        if where == "before":
            self.on_the_wire.set()
            await self.go.wait()
        claimed = await super().claim_jobs(owner, **kwargs)
        if where == "after":
            self.on_the_wire.set()
            await self.go.wait()
        return claimed


async def _free_to_claim(repository: MemoryRepository) -> list[str]:
    now = datetime.now(timezone.utc)
    jobs = await repository.claim_jobs("another", limit=10, lease_seconds=60, now=now)
    return sorted(job.id for job in jobs)


async def _store(repository: MemoryRepository, prompts: Sequence[str]) -> list[str]:
    # A client that is never entered and never waits runs no engine: it only stores.
    client = sv.AsyncSoraVideo.simulated(repository=repository)
    try:
        return [
            (await client.videos.create_video(sv.CreateVideoRequest(prompt=prompt))).id
            for prompt in prompts
        ]
    finally:
        await client.aclose()


def _worker_client(repository: MemoryRepository) -> tuple[sv.AsyncSoraVideo, FakeSora]:
    # Time that nobody moves: the videos stay in progress and nothing is polled to its end.
    clock = sv.ManualClock()
    fake, transport = simulated_parts(clock, generation_time=600)  # type: ignore[arg-type]
    client = sv.AsyncSoraVideo(
        transport=transport, repository=repository, clock=clock, worker_id="worker"
    )
    return client, fake


class Worker:
    """``client.run_worker()`` in a task of its own, stopped the way SIGTERM stops it."""

    def __init__(self, client: sv.AsyncSoraVideo, tg: anyio.abc.TaskGroup, jobs: int) -> None:
        self.scope = anyio.CancelScope()
        self.stopped = anyio.Event()
        self.submitted: list[str] = []
        self.all_sent = anyio.Event()  # set once it has sent ``jobs`` videos
        self.expected = jobs
        client.on("submitted", self._seen)
        tg.start_soon(self._run, client)

    def _seen(self, event: Any) -> None:
        self.submitted.append(event.job.id)
        if len(self.submitted) >= self.expected:
            self.all_sent.set()

    async def _run(self, client: sv.AsyncSoraVideo) -> None:
        with self.scope:
            await client.run_worker()
        self.stopped.set()


async def test_the_engine_claims_nothing_after_a_worker_stops() -> None:
    repository = HeldClaims()
    ids = sorted(await _store(repository, ["a fox", "a cat"]))
    client, fake = _worker_client(repository)
    async with client, anyio.create_task_group() as tg:
        worker = Worker(client, tg, jobs=2)
        await worker.all_sent.wait()
        worker.scope.cancel()
        await worker.stopped.wait()
        # Anything that wakes the engine afterwards (here a cancel; in a real worker, the
        # tick on which it looked for new work) must not make it claim the jobs again.
        await client.videos.cancel_job(ids[0])
        await anyio.wait_all_tasks_blocked()
        assert await _free_to_claim(repository) == ids[1:]
        tg.cancel_scope.cancel()
    assert fake.created_count() == 2


async def test_a_claim_on_the_wire_when_a_worker_stops_takes_no_lease_back() -> None:
    repository = HeldClaims()
    ids = await _store(repository, ["a fox", "a cat"])
    client, fake = _worker_client(repository)
    async with client, anyio.create_task_group() as tg:
        worker = Worker(client, tg, jobs=2)
        await worker.all_sent.wait()
        # A new job wakes the worker, whose claim reaches the ledger only after the stop.
        repository.hold_next_claim("before")
        ids.append((await client.videos.create_video(sv.CreateVideoRequest(prompt="a dog"))).id)
        await repository.on_the_wire.wait()
        worker.scope.cancel()
        await anyio.wait_all_tasks_blocked()
        repository.go.set()
        await worker.stopped.wait()
        await anyio.wait_all_tasks_blocked()
        # Every lease is back, the new job's too, and the new job was never sent.
        assert await _free_to_claim(repository) == sorted(ids)
        tg.cancel_scope.cancel()
    assert fake.created_count() == 2


async def test_a_claim_cut_short_by_close_leaves_no_lease() -> None:
    repository = HeldClaims()
    (stored,) = await _store(repository, ["a fox"])
    client, fake = _worker_client(repository)

    async def let_go() -> None:
        await anyio.wait_all_tasks_blocked()
        repository.go.set()

    async with anyio.create_task_group() as tg, client:
        # The ledger leases both jobs to this client, whose answer is still on the wire
        # when the client closes.
        repository.hold_next_claim("after")
        new = await client.videos.create_video(sv.CreateVideoRequest(prompt="a dog"))
        await repository.on_the_wire.wait()
        tg.start_soon(let_go)
        await client.aclose()
    assert await _free_to_claim(repository) == sorted([stored, new.id])
    assert fake.created_count() == 0
