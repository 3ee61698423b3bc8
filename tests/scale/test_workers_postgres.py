"""Many workers on one PostgreSQL ledger: real processes, one FakeSora on a loopback port.

Each test has its own schema (``postgres_dsn``). The workers are ``worker_child.py``
processes (forked from a preloaded parent: ``tests/children.py``) that print one line per
event; the test follows those lines (never the wall
clock) and checks the ledger and the fake's counters at the end.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest

import soravideo as sv
from children import Child, start_script
from helpers import assert_created_once, requests
from soravideo.repositories.postgres import PostgresRepository
from soravideo.testing import check_exactly_once
from soravideo.testing._fake_sora import FakeSora
from soravideo.transports.sora import SoraTransport

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CHILD = Path(__file__).with_name("worker_child.py")
# Only a bound for a broken run: the tests wait for lines, never for time.
DEADLINE = 60.0
API_KEY = "sk-test"


class Fleet:
    """Worker processes and the lines they print, read on threads into one queue."""

    def __init__(self, base_url: str, dsn: str, logs: Path) -> None:
        self.base_url = base_url
        self.dsn = dsn
        self.logs = logs
        self.procs: dict[str, Child] = {}
        self.readers: dict[str, threading.Thread] = {}
        self.lines: queue.Queue[tuple[str, list[str] | None]] = queue.Queue()
        self.seen: dict[str, list[list[str]]] = {}

    def start(self, name: str, concurrency: int, mode: str = "worker", *extra: str) -> None:
        args = [self.base_url, self.dsn, name, str(concurrency), mode, *extra]
        with (self.logs / f"{name}.err").open("w") as err:
            proc = start_script(CHILD, *args, stderr=err)
        self.procs[name] = proc
        self.seen[name] = []
        reader = threading.Thread(target=self._pump, args=(name, proc), daemon=True)
        reader.start()
        self.readers[name] = reader

    def _pump(self, name: str, proc: Child) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put((name, line.split()))
        self.lines.put((name, None))

    def stderr(self, name: str) -> str:
        return (self.logs / f"{name}.err").read_text()

    def _take(self, block: bool) -> bool:
        """Move one line into ``seen``; return False when none came (non-blocking)."""
        try:
            name, words = self.lines.get(block=block, timeout=DEADLINE if block else None)
        except queue.Empty:
            if block:
                raise AssertionError(f"no worker said anything for {DEADLINE} s") from None
            return False
        if words is None:
            proc = self.procs[name]
            if proc.poll() is None or proc.returncode not in (0, -signal.SIGKILL):
                proc.wait(timeout=DEADLINE)
                assert proc.returncode in (0, -signal.SIGKILL), self.stderr(name)
        elif words:
            self.seen[name].append(words)
        return True

    def wait_for(self, done: Callable[[Fleet], bool], what: str) -> None:
        """Read lines until ``done(self)``; fail if every worker ended first."""
        while not done(self):
            if all(p.poll() is not None for p in self.procs.values()) and self.lines.empty():
                errors = {name: self.stderr(name)[-2000:] for name in self.procs}
                raise AssertionError(f"the workers ended before {what}: {errors}")
            self._take(block=True)

    def drain(self) -> None:
        while self._take(block=False):
            pass

    def said(self, kind: str, name: str | None = None) -> list[list[str]]:
        names = [name] if name is not None else list(self.seen)
        return [words[1:] for n in names for words in self.seen[n] if words[0] == kind]

    def ids(self, kind: str, name: str | None = None) -> list[str]:
        return [words[0] for words in self.said(kind, name)]

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.kill()  # SIGKILL: no cleanup, leases left behind
        proc.wait(timeout=DEADLINE)
        self.readers[name].join(timeout=DEADLINE)
        self.drain()

    def terminate(self, *names: str) -> None:
        """SIGTERM the workers at once; each must stop cleanly with exit status 0."""
        for name in names:
            self.procs[name].send_signal(signal.SIGTERM)
        for name in names:
            proc = self.procs[name]
            proc.wait(timeout=DEADLINE)
            self.readers[name].join(timeout=DEADLINE)
            assert proc.returncode == 0, self.stderr(name)
            assert "Traceback" not in self.stderr(name), self.stderr(name)
        self.drain()
        for name in names:
            assert self.seen[name][-1] == ["stopped"], self.seen[name][-3:]

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


@pytest.fixture
def fleet_for(
    postgres_dsn: str, tmp_path: Path
) -> Iterator[Callable[[FakeSora], tuple[FakeSora, Fleet]]]:
    """Serve a FakeSora on loopback and return a Fleet of workers aimed at it."""
    stack: list[tuple[Any, Fleet]] = []

    def make(fake: FakeSora) -> tuple[FakeSora, Fleet]:
        serving = fake.serve()
        base_url = serving.__enter__()
        fleet = Fleet(base_url, postgres_dsn, tmp_path)
        stack.append((serving, fleet))
        return fake, fleet

    yield make
    for serving, fleet in stack:
        try:
            fleet.close()
        finally:
            serving.__exit__(None, None, None)


# -- ledger access from the test: the repository or plain SQL, never a running engine -------


async def _create_jobs(base_url: str, dsn: str, prompts: list[str]) -> list[str]:
    # A client that is never entered and never waits runs no engine: it only stores.
    client = sv.AsyncSoraVideo(
        transport=SoraTransport(base_url=base_url, api_key=API_KEY),
        repository=PostgresRepository(dsn),
    )
    try:
        return [
            (await client.videos.create_video(sv.CreateVideoRequest(prompt=prompt))).id
            for prompt in prompts
        ]
    finally:
        await client.aclose()


async def _create_batch(base_url: str, dsn: str, n: int) -> sv.BatchResult:
    client = sv.AsyncSoraVideo(
        transport=SoraTransport(base_url=base_url, api_key=API_KEY),
        repository=PostgresRepository(dsn),
        max_batch_size=n,
    )
    try:
        return await client.batches.create_batch(
            sv.BatchVideoRequest(videos=requests(n, prefix="batch video"))
        )
    finally:
        await client.aclose()


def _jobs(dsn: str) -> dict[str, sv.Job]:
    async def read() -> dict[str, sv.Job]:
        async with PostgresRepository(dsn) as repository:
            page = await repository.list_jobs(limit=1000)
            return {job.id: job for job in page.items}

    return anyio.run(read)


def _leases(dsn: str) -> dict[str, str | None]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT id, lease_owner FROM soravideo_jobs").fetchall()
    return {job_id: owner for job_id, owner in rows}


def _claim_now(dsn: str, owner: str) -> list[str]:
    async def claim() -> list[str]:
        async with PostgresRepository(dsn) as repository:
            now = datetime.now(timezone.utc)
            jobs = await repository.claim_jobs(owner, limit=1000, lease_seconds=60, now=now)
            return sorted(job.id for job in jobs)

    return anyio.run(claim)


def _assert_all_completed_once(
    fake: FakeSora, jobs: Mapping[str, sv.Job], fleet: Fleet, expected: int
) -> None:
    assert len(jobs) == expected
    assert Counter(job.status for job in jobs.values()) == {sv.JobStatus.COMPLETED: expected}
    remote_ids = [job.remote_id for job in jobs.values()]
    assert None not in remote_ids
    assert len(set(remote_ids)) == expected  # every job has its own video
    assert_created_once(fake, expected)
    # Each job was finished by exactly one worker (the others' writes would have failed).
    completed = fleet.ids("completed")
    assert sorted(completed) == sorted(jobs)
    # A worker that announced a submission recorded that very video in the ledger.
    for job_id, remote_id in fleet.said("submitted"):
        assert jobs[job_id].remote_id == remote_id


# -- the scenarios -----------------------------------------------------------------------------


def test_four_workers_run_200_jobs_each_created_once(
    fleet_for: Callable[[FakeSora], tuple[FakeSora, Fleet]],
) -> None:
    fake, fleet = fleet_for(FakeSora(api_key=API_KEY, generation_time=0.2))
    ids = anyio.run(
        _create_jobs, fleet.base_url, fleet.dsn, [f"a fox number {i}" for i in range(200)]
    )
    assert fake.created_count() == 0  # stored only: no process has sent anything yet
    workers = [f"worker-{n}" for n in range(4)]
    for name in workers:
        fleet.start(name, concurrency=16)
    fleet.wait_for(lambda f: len(f.ids("completed")) >= len(ids), "200 completions")
    fleet.terminate(*workers)  # idle workers stop cleanly too

    jobs = _jobs(fleet.dsn)
    assert sorted(jobs) == sorted(ids)
    _assert_all_completed_once(fake, jobs, fleet, 200)
    # A worker stalled past its 1 s lease on a busy machine may have its job taken over
    # mid-create: the survivor re-sends with the same Idempotency-Key and the fake answers
    # with the original video (fake.duplicate_count() counts those). What must hold on any
    # machine is checked above and here: each video created once, owned by one job.
    check_exactly_once(fake, list(jobs.values()))
    assert set(_leases(fleet.dsn).values()) == {None}
    # The work was shared: more than one process sent videos.
    senders = Counter(name for name in workers for _ in fleet.said("submitted", name))
    assert len(senders) >= 2, senders


def test_a_killed_workers_jobs_are_taken_over_after_its_lease_expires(
    fleet_for: Callable[[FakeSora], tuple[FakeSora, Fleet]],
) -> None:
    fake, fleet = fleet_for(FakeSora(api_key=API_KEY, generation_time=0.4))
    ids = anyio.run(
        _create_jobs, fleet.base_url, fleet.dsn, [f"a heron number {i}" for i in range(16)]
    )
    fleet.start("victim", concurrency=8)
    fleet.start("survivor", concurrency=8)
    fleet.wait_for(lambda f: len(f.ids("submitted", "victim")) >= 4, "the victim sent 4")
    fleet.kill("victim")
    orphaned = set(fleet.ids("submitted", "victim"))
    assert not orphaned & set(fleet.ids("completed", "victim"))  # none had finished
    leases = _leases(fleet.dsn)
    # The dead worker's leases are still in the ledger: nobody may take them yet.
    assert any(leases[job_id] == "victim" for job_id in orphaned), leases

    fleet.wait_for(lambda f: len(f.ids("completed")) >= len(ids), "every job completed")
    fleet.terminate("survivor")

    jobs = _jobs(fleet.dsn)
    _assert_all_completed_once(fake, jobs, fleet, len(ids))
    # The survivor finished the victim's videos by polling them, never re-creating them.
    assert orphaned <= set(fleet.ids("completed", "survivor"))
    assert not orphaned & set(fleet.ids("submitted", "survivor"))
    assert set(_leases(fleet.dsn).values()) == {None}


def test_a_batch_run_by_several_processes_ends_with_correct_progress(
    fleet_for: Callable[[FakeSora], tuple[FakeSora, Fleet]],
) -> None:
    fake, fleet = fleet_for(FakeSora(api_key=API_KEY, generation_time=0.3))
    created = anyio.run(_create_batch, fleet.base_url, fleet.dsn, 18)
    # Workers wait while the batch is pending; process_batch starts it and takes part.
    fleet.start("worker-a", concurrency=4)
    fleet.start("worker-b", concurrency=4)
    fleet.start("batcher", 3, "process-batch", created.batch_id)
    fleet.wait_for(lambda f: bool(f.said("batch", "batcher")), "process_batch returned")
    assert fleet.said("batch", "batcher") == [["completed", "100.0"]]
    fleet.terminate("worker-a", "worker-b")

    jobs = _jobs(fleet.dsn)
    _assert_all_completed_once(fake, jobs, fleet, 18)
    finishers = {name for name in fleet.procs if fleet.ids("completed", name)}
    assert finishers == {"worker-a", "worker-b", "batcher"}

    async def report() -> sv.BatchStatusReport:
        client = sv.AsyncSoraVideo(
            transport=SoraTransport(base_url=fleet.base_url, api_key=API_KEY),
            repository=PostgresRepository(fleet.dsn),
        )
        try:
            return await client.batches.get_batch_status(created.batch_id)
        finally:
            await client.aclose()

    status = anyio.run(report)
    assert status.batch.status is sv.BatchStatus.COMPLETED
    assert status.progress.completed == status.progress.total == 18
    assert status.progress.percentage == 100
    assert status.batch.progress.percentage == 100


def _slow_for_slow_prompts(params: Mapping[str, Any]) -> float:
    return 600.0 if "slow" in str(params["prompt"]) else 0.2


def test_sigterm_stops_a_worker_promptly_and_gives_its_leases_back(
    fleet_for: Callable[[FakeSora], tuple[FakeSora, Fleet]],
) -> None:
    fake, fleet = fleet_for(FakeSora(api_key=API_KEY, generation_time=_slow_for_slow_prompts))
    prompts = [f"a slow sunset {i}" for i in range(3)] + [f"a quick fox {i}" for i in range(2)]
    ids = anyio.run(_create_jobs, fleet.base_url, fleet.dsn, prompts)
    fleet.start("worker", concurrency=8)
    fleet.wait_for(
        lambda f: len(f.ids("submitted")) >= 5 and len(f.ids("completed")) >= 2,
        "5 submissions and the quick videos",
    )
    fleet.terminate("worker")

    jobs = _jobs(fleet.dsn)
    slow = sorted(job_id for job_id in ids if "slow" in jobs[job_id].request.prompt)
    assert all(jobs[job_id].status is sv.JobStatus.PROCESSING for job_id in slow)
    assert all(jobs[job_id].remote_id for job_id in slow)
    # No lease is left: another worker may take the running videos over at once.
    assert set(_leases(fleet.dsn).values()) == {None}
    assert _claim_now(fleet.dsn, "next-worker") == slow
    assert fake.created_count() == 5
