"""Small shared helpers for the test suite: request factories, fake-server assertions, and the
crash-and-restart scenario (real processes on a shared SQLite ledger)."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import soravideo as sv
from children import Child, start_script
from soravideo.repositories import SQLiteRepository
from soravideo.testing import (
    FakeSora,
    RecordedRequest,
    check_exactly_once,
    check_ledger_exactly_once,
)

DURABLE_CHILD = Path(__file__).parent / "engine" / "durable_child.py"
DURABLE_CHILD_API_KEY = "sk-test"  # the key durable_child.py sends

# The types of the client factories tests/e2e/conftest.py provides.
ClientFactory = Callable[..., sv.SoraVideo]
AsyncClientFactory = Callable[..., sv.AsyncSoraVideo]


@functools.cache
def tls() -> ssl.SSLContext:
    """The one client TLS context of the tests' own httpx clients (``verify=tls()``).

    ``httpx.Client()`` and ``httpx.AsyncClient()`` build a context of their own each time,
    loading the CA bundle: about 50 ms of CPU per client, the most of many a unit test's
    time. Their settings are all alike, so one context, built on first use, serves them all.
    """
    return ssl.create_default_context()


def request(prompt: str = "a red fox in the snow", **fields: Any) -> sv.CreateVideoRequest:
    """Return a valid request; any field may be overridden."""
    return sv.CreateVideoRequest(prompt=prompt, **fields)


def requests(n: int, prefix: str = "video", **fields: Any) -> list[sv.CreateVideoRequest]:
    """Return ``n`` valid requests with distinct prompts."""
    return [request(f"{prefix} {i}", **fields) for i in range(n)]


# -- fake-server assertions ---------------------------------------------------------------


def assert_created_once(fake: FakeSora, expected: int) -> None:
    """Assert the fake created exactly ``expected`` videos, none of them twice."""
    assert fake.created_count() == expected, f"created {fake.created_count()}, expected {expected}"


def logged(fake: FakeSora, method: str, path: str = "/videos") -> list[RecordedRequest]:
    """Return the logged requests with this method whose path matches ``path`` exactly."""
    return [r for r in fake.requests if r.method == method and r.path == path]


def assert_no_requests(fake: FakeSora) -> None:
    """Assert nothing reached the fake (a request refused before it was sent)."""
    seen = [f"{r.method} {r.path}" for r in fake.requests]
    assert not seen, f"expected no provider request, got {seen}"


def assert_distinct_remote_ids(jobs: list[sv.Job]) -> None:
    """Assert every job has a remote id and no two jobs share one (no double submission)."""
    ids = [j.remote_id for j in jobs]
    assert all(ids), f"jobs without a remote id: {[j.id for j in jobs if not j.remote_id]}"
    assert len(set(ids)) == len(ids), f"remote ids shared between jobs: {ids}"


async def assert_exactly_once(client: sv.AsyncSoraVideo, *, settled: bool = True) -> None:
    """Assert the exactly-once invariant between a simulated client's fake and its ledger."""
    assert client.fake is not None
    await check_ledger_exactly_once(client.fake, client.repository, settled=settled)


# -- crash and restart: tests/engine/durable_child.py in real processes -------------------


def start_child(base_url: str, db: Path, *args: str) -> Child:
    """Start ``durable_child.py BASE_URL DB ARGS…`` (see its docstring for the modes), in a
    real process forked from a preloaded parent (``tests/children.py``)."""
    return start_script(DURABLE_CHILD, base_url, str(db), *args)


def wait_for_lines(proc: Child, prefix: str, count: int) -> list[str]:
    """Read the child's output until ``count`` lines start with ``prefix``; return their ids."""
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        if line.startswith(prefix):
            seen.append(line.split()[1])
            if len(seen) >= count:
                return seen
    raise AssertionError(
        f"child ended before {count} {prefix!r} lines: {proc.stderr.read() if proc.stderr else ''}"
    )


def finish_child(proc: Child) -> None:
    """Wait for the child to end, and assert it ended well."""
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.strip().endswith("done"), out + err


def read_ledger(db: Path) -> list[sv.Job]:
    """Return every job in a SQLite ledger, read through the repository (not a client, which
    would start claiming the jobs)."""

    async def read() -> list[sv.Job]:
        async with SQLiteRepository(db) as repository:
            jobs: list[sv.Job] = []
            page = 1
            while True:
                found = await repository.list_jobs(page=page, limit=1000)
                jobs.extend(found.items)
                if not found.has_next:
                    return jobs
                page += 1

    return anyio.run(read)


def sigkill_then_resume(fake: FakeSora, base_url: str, db: Path, mode: str, n: int) -> None:
    """Run ``n`` videos in a child (``mode``: ``create-and-wait`` or ``batch``), SIGKILL it
    after three submissions, restart it with ``resume``, and assert that every job completed
    and that the fake created each video exactly once."""
    first = start_child(base_url, db, mode, str(n))
    wait_for_lines(first, "submitted", 3)
    first.kill()  # SIGKILL: no cleanup, leases left behind
    first.communicate(timeout=10)
    jobs = read_ledger(db)
    stored = len(jobs)
    assert stored >= 3
    if mode == "batch":
        assert stored == n  # a batch is stored whole
    assert any(not j.is_terminal for j in jobs), "the child finished before it was killed"
    # Killed mid-run: jobs in flight, but nothing lost or owned twice.
    check_exactly_once(fake, jobs, settled=False)

    second = start_child(base_url, db, "resume")
    finish_child(second)
    jobs = read_ledger(db)
    assert [j.status for j in jobs] == [sv.JobStatus.COMPLETED] * stored
    assert_distinct_remote_ids(jobs)
    assert_created_once(fake, stored)
    check_exactly_once(fake, jobs)


class WithoutFetchSeen:
    """A transport as a plugin without the optional ``fetch_many_seen`` (a ``SoraTransport``
    otherwise): the engine then refreshes the due jobs only."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "fetch_many_seen":
            raise AttributeError(name)
        return getattr(self._inner, name)


async def until(what: str, done: Callable[[], Awaitable[bool]]) -> None:
    """Wait (real time: a real server, a ledger of its own, moves on its own) until
    ``done``; a bound on tries only turns a hang into a failure."""
    for _ in range(2_000):
        if await done():
            return
        await anyio.sleep(0.01)
    pytest.fail(f"never happened: {what}")
