"""[W2-4] Two processes on one SQLite file, each writing beside its connection thread (and
in it, whenever the other holds the lock): no job is ever taken by both, none is lost, and
the file and its count tables stay consistent."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from children import start_script
from soravideo import RepositoryError
from soravideo.repositories import SQLiteRepository
from soravideo.testing.repository_contract import make_job

RACER = Path(__file__).with_name("_sqlite_racer.py")
ROUNDS = 150


@pytest.mark.slow
def test_two_processes_never_take_one_job_and_lose_none(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    racers = [start_script(RACER, str(db), owner, str(ROUNDS)) for owner in ("left", "right")]
    taken: dict[str, list[str]] = {}
    for owner, racer in zip(("left", "right"), racers, strict=True):
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        lines = out.splitlines()
        assert lines[-1] == "done", err
        taken[owner] = [line.split()[1] for line in lines if line.startswith("took ")]
    left, right = set(taken["left"]), set(taken["right"])
    assert not left & right  # no job taken by both
    assert len(taken["left"]) == len(left) and len(taken["right"]) == len(right)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        statuses = dict(conn.execute("SELECT status, count(*) FROM jobs GROUP BY status"))
        totals = dict(conn.execute("SELECT status, n FROM job_totals WHERE n != 0"))
        completed = {
            row[0] for row in conn.execute("SELECT id FROM jobs WHERE status = 'completed'")
        }
        total = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
    conn.close()
    assert total == 2 * 3 * ROUNDS  # every job added is stored, once
    assert statuses == totals  # the trigger-kept counts match the rows
    assert completed == left | right  # each job taken was ended, by the one that took it
    # Every job is either ended or still pending for a claim; none is stuck half-way.
    assert set(statuses) <= {"completed", "pending"}


@pytest.mark.anyio
async def test_a_new_ledger_opens_while_another_process_holds_its_lock(tmp_path: Path) -> None:
    """Setting a new file's journal mode takes a lock SQLite does not wait for: two workers
    started at once on a new ledger made one of them fail ("database is locked"). The set-up
    is begun again until ``busy_timeout`` has passed."""
    path = tmp_path / "ledger.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process, setting the new file up
    other.execute("CREATE TABLE theirs (x)")
    repository = SQLiteRepository(path, busy_timeout=10)
    async with anyio.create_task_group() as tg:
        tg.start_soon(repository.open)
        await anyio.sleep(0.2)
        other.execute("COMMIT")
    other.close()
    job = make_job()
    await repository.add_jobs([job])
    assert await repository.get_job(job.id) == job
    await repository.aclose()


@pytest.mark.anyio
async def test_a_new_ledger_locked_past_the_busy_timeout_says_so(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE theirs (x)")
    repository = SQLiteRepository(path, busy_timeout=0.2)
    with pytest.raises(RepositoryError, match="database is locked") as raised:
        await repository.open()
    assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
    other.execute("COMMIT")
    other.close()
    await repository.open()  # once the lock is gone
    await repository.aclose()
