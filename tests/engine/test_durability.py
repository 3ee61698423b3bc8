"""Crashes and shared ledgers: real processes, a real SQLite file, FakeSora on a loopback port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import soravideo as sv
from helpers import assert_created_once
from soravideo.repositories import SQLiteRepository
from soravideo.testing._fake_sora import FakeSora

CHILD = Path(__file__).with_name("durable_child.py")
pytestmark = pytest.mark.slow


@pytest.fixture
def served() -> Iterator[tuple[FakeSora, str]]:
    # Real time: the children are separate processes. Generation is short.
    fake = FakeSora(api_key="sk-test", generation_time=0.6)
    with fake.serve() as base_url:
        yield fake, base_url


def _start(base_url: str, db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), base_url, str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_lines(proc: subprocess.Popen[str], prefix: str, count: int) -> list[str]:
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


def _finish(proc: subprocess.Popen[str]) -> None:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.strip().endswith("done"), out + err


def _ledger(db: Path) -> list[sv.Job]:
    # The repository itself, not a client: a client would start claiming the jobs.
    async def read() -> list[sv.Job]:
        async with SQLiteRepository(db) as repository:
            return list((await repository.list_jobs(limit=1000)).items)

    return anyio.run(read)


@pytest.mark.parametrize("mode", ["create-and-wait", "batch"])
def test_sigkill_mid_run_then_restart_finishes_with_no_duplicate(
    served: tuple[FakeSora, str], tmp_path: Path, mode: str
) -> None:
    fake, base_url = served
    db = tmp_path / "ledger.db"
    first = _start(base_url, db, mode, "8")
    _wait_for_lines(first, "submitted", 3)
    first.kill()  # SIGKILL: no cleanup, leases left behind
    first.communicate(timeout=10)
    jobs = _ledger(db)
    stored = len(jobs)
    assert stored >= 3
    if mode == "batch":
        assert stored == 8  # a batch is stored whole
    assert any(not j.is_terminal for j in jobs)

    second = _start(base_url, db, "resume")
    _finish(second)
    jobs = _ledger(db)
    assert [j.status for j in jobs] == [sv.JobStatus.COMPLETED] * stored
    assert all(j.remote_id for j in jobs)
    assert len({j.remote_id for j in jobs}) == stored
    assert_created_once(fake, stored)


def test_two_processes_sharing_one_ledger_never_double_submit(
    served: tuple[FakeSora, str], tmp_path: Path
) -> None:
    fake, base_url = served
    db = tmp_path / "ledger.db"
    first = _start(base_url, db, "create-and-wait", "12")
    _wait_for_lines(first, "submitted", 1)
    second = _start(base_url, db, "resume")
    _finish(first)
    _finish(second)
    jobs = _ledger(db)
    assert [j.status for j in jobs] == [sv.JobStatus.COMPLETED] * 12
    assert_created_once(fake, 12)
