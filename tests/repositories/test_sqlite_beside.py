"""[W2-4] Short work runs on the caller's thread, on a second connection beside the
connection thread: what it may run, when it gives way to the thread, and that nothing is
written twice, lost or reordered on the way."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from soravideo import JobStatus
from soravideo.repositories import SQLiteRepository
from soravideo.repositories import sqlite as sqlite_module
from soravideo.repositories._queries import load_queries
from soravideo.testing.repository_contract import T0, make_job

pytestmark = pytest.mark.anyio


def where(log: list[str]) -> Callable[[sqlite3.Connection], None]:
    """Work that notes which thread ran it: "here" (the caller's) or "thread"."""
    caller = threading.get_ident()

    def work(conn: sqlite3.Connection) -> None:
        log.append("here" if threading.get_ident() == caller else "thread")

    return work


async def test_short_work_runs_here_and_other_work_in_the_connection_thread(
    tmp_path: Path,
) -> None:
    log: list[str] = []
    async with SQLiteRepository(tmp_path / "ledger.db") as repository:
        await repository._call(where(log), short=True)
        await repository._call(where(log))
        await repository._call(where(log), short=True)
    assert log == ["here", "thread", "here"]


async def test_a_memory_ledger_runs_everything_in_its_thread(tmp_path: Path) -> None:
    # A second connection to ":memory:" would be another database.
    log: list[str] = []
    async with SQLiteRepository(":memory:") as repository:
        await repository._call(where(log), short=True)
        job = make_job()
        await repository.add_jobs([job])
        assert await repository.get_job(job.id) == job
    assert log == ["thread"]


class Traced(SQLiteRepository):
    """Notes where each update ran."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, busy_timeout=10)
        self.ran: list[str] = []
        self.loop_thread = threading.get_ident()

    async def _call(self, work: Any, *, short: bool = False) -> Any:
        def noted(conn: sqlite3.Connection) -> Any:
            here = threading.get_ident() == self.loop_thread
            self.ran.append("here" if here else "thread")
            return work(conn)

        return await super()._call(noted, short=short)


async def test_a_write_that_meets_another_process_s_lock_waits_for_it_in_the_thread(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.db"
    async with Traced(path) as repository:
        job = make_job()
        await repository.add_jobs([job])
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        updated = attrs.evolve(job, progress=40)
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                functools.partial(repository.update_job, updated, expected_status=JobStatus.PENDING)
            )
            await anyio.sleep(0.2)
            assert repository.ran[-2:] == ["here", "thread"]  # waiting there, not failed
            other.execute("COMMIT")
        other.close()
        assert await repository.get_job(job.id) == updated


async def test_a_create_that_meets_a_lock_is_stored_once(tmp_path: Path) -> None:
    """The INSERT beside the thread meets the lock: nothing was written, so the thread
    running it again stores the job once, not twice (nor refuses it as stored)."""
    path = tmp_path / "ledger.db"
    async with Traced(path) as repository:
        await repository.open()
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        job = make_job()
        async with anyio.create_task_group() as tg:
            tg.start_soon(repository.add_jobs, [job])
            await anyio.sleep(0.1)
            other.execute("COMMIT")
        other.close()
        # Tried here, met the lock, then run by the thread.
        assert repository.ran[-2:] == ["here", "thread"]
        assert await repository.get_job(job.id) == job
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (1,)
    conn.close()


async def test_work_given_up_before_it_ended_is_never_overtaken(tmp_path: Path) -> None:
    """A caller cancelled by asyncio itself (no shield stops that) stops waiting while its
    work still waits in the thread; its next work must not run before it, here."""
    path = tmp_path / "ledger.db"
    release = threading.Event()
    async with SQLiteRepository(path) as repository:
        await repository._call(lambda conn: conn.execute("CREATE TABLE seen (v TEXT)"))

        def first(conn: sqlite3.Connection) -> None:
            release.wait(10)
            conn.execute("INSERT INTO seen VALUES ('first')")

        task = asyncio.get_running_loop().create_task(repository._call(first))
        await anyio.sleep(0.05)
        task.cancel()  # asyncio's own cancellation
        with contextlib.suppress(asyncio.CancelledError):
            await task
        log: list[str] = []
        caller = threading.get_ident()

        def second(conn: sqlite3.Connection) -> None:
            log.append("here" if threading.get_ident() == caller else "thread")
            conn.execute("INSERT INTO seen VALUES ('second')")

        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(repository._call, second, short=True))
            await anyio.sleep(0.05)
            assert log == []  # queued behind the first, not run here
            release.set()
        assert log == ["thread"]
        rows = await repository._call(lambda conn: conn.execute("SELECT v FROM seen").fetchall())
        assert rows == [("first",), ("second",)]
        # Once the thread has ended it, short work runs here again.
        await repository._call(where(log), short=True)
        assert log == ["thread", "here"]


async def test_writes_here_have_the_wal_checkpointed_by_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "_CHECKPOINT_EVERY", 3)
    checkpoints: list[bool] = []
    loop_thread = threading.get_ident()
    checkpoint = sqlite_module._checkpoint

    def recorded(conn: sqlite3.Connection) -> None:
        checkpoints.append(threading.get_ident() != loop_thread)
        checkpoint(conn)

    monkeypatch.setattr(sqlite_module, "_checkpoint", recorded)
    path = tmp_path / "ledger.db"
    async with SQLiteRepository(path) as repository:
        jobs = [make_job(age=i) for i in range(7)]
        for job in jobs:
            await repository.add_jobs([job])  # a write each
        await repository.get_jobs([job.id for job in jobs])  # a read: not counted
        await repository.ping()  # in the thread: after every checkpoint asked for
        assert checkpoints == [True, True]  # after the third and the sixth write
        assert len(await repository.get_jobs([job.id for job in jobs])) == 7


async def test_closing_closes_both_connections_and_checkpoints_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    async with SQLiteRepository(path) as repository:
        job = make_job()
        await repository.add_jobs([job])
        [claimed] = await repository.claim_jobs("me", limit=1, lease_seconds=60, now=T0)
        await repository.update_job(
            attrs.evolve(claimed, status=JobStatus.PROCESSING),
            expected_status=JobStatus.PENDING,
            lease_owner="me",
        )
        assert Path(f"{path}-wal").exists()
    # The last connection to close checkpoints the WAL and removes it: the thread's closed
    # last, so the one beside it was closed too.
    assert not Path(f"{path}-wal").exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT status FROM jobs").fetchall() == [("processing",)]
    conn.close()


async def test_the_wal_starts_over_while_work_beside_the_thread_writes(tmp_path: Path) -> None:
    """Checkpointed while written to, a WAL is never all copied back, so it never starts
    over: it grew by every write (350 MB in a run of 5,000 jobs). Between two checkpoints
    (``_CHECKPOINT_EVERY`` writes, a few pages each) it stays a few MB."""
    path = tmp_path / "ledger.db"
    wal = Path(f"{path}-wal")
    largest = 0
    async with SQLiteRepository(path) as repository:
        for i in range(1500):
            job = make_job(age=i)
            await repository.add_jobs([job])
            await repository.update_job(
                attrs.evolve(job, progress=50), expected_status=JobStatus.PENDING
            )
            largest = max(largest, wal.stat().st_size)
        assert len(await repository.get_jobs([job.id])) == 1
    assert largest < 16 * 1024 * 1024


async def test_a_relative_path_names_one_file_after_the_working_directory_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    monkeypatch.chdir(tmp_path / "first")
    async with SQLiteRepository("ledger.db") as repository:  # opened here
        monkeypatch.chdir(tmp_path / "second")
        job = make_job()
        await repository.add_jobs([job])  # short: the second connection, opened now
        assert await repository.get_job(job.id) == job
    assert (tmp_path / "first" / "ledger.db").is_file()
    assert not (tmp_path / "second" / "ledger.db").exists()


async def test_a_lease_that_meets_a_lock_after_its_insert_leaves_the_job_to_a_claim(
    tmp_path: Path,
) -> None:
    """The INSERT is committed beside the thread, then another process takes the write lock
    before the lease: the lease fails alone. The create must not go to the thread again
    (its INSERT would be refused as already stored, for a job that is stored and will run:
    a user retrying that create pays twice), nor fail."""
    path = tmp_path / "ledger.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    lease_first_line = load_queries("sqlite.sql")["lease_new_job"].splitlines()[0]
    seen: list[str] = []

    def lock_before_the_lease(statement: str) -> None:
        seen.append(statement.splitlines()[0])
        if statement.startswith(lease_first_line):
            other.execute("BEGIN IMMEDIATE")

    async with Traced(path) as repository:
        await repository._call(
            lambda conn: conn.set_trace_callback(lock_before_the_lease), short=True
        )
        job = make_job()
        got = await repository.add_job_claimed(job, owner="me", lease_seconds=30, now=T0)
        other.execute("COMMIT")
        assert lease_first_line in seen  # the lock came where it should
        assert got is None  # left to a claim
        assert repository.ran[-1] == "here"  # not run again in the thread
        [claimed] = await repository.claim_jobs("me", limit=5, lease_seconds=30, now=T0)
        assert claimed == job
    other.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (1,)
    conn.close()


async def test_the_second_connection_never_checkpoints_nor_syncs_a_commit(tmp_path: Path) -> None:
    # A checkpoint (or a commit's sync) there would hold the event loop for a disk flush.
    async with SQLiteRepository(tmp_path / "ledger.db") as repository:

        def settings(conn: sqlite3.Connection) -> tuple[int, int, int, int]:
            read = [
                conn.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("wal_autocheckpoint", "synchronous", "busy_timeout", "foreign_keys")
            ]
            return (read[0], read[1], read[2], read[3])

        assert await repository._call(settings, short=True) == (0, 1, 0, 1)
        assert await repository._call(settings) == (1000, 1, 5000, 1)


async def test_a_call_given_up_before_it_began_leaves_the_second_connection_usable(
    tmp_path: Path,
) -> None:
    release = threading.Event()
    log: list[str] = []
    async with SQLiteRepository(tmp_path / "ledger.db") as repository:
        busy = asyncio.get_running_loop().create_task(
            repository._call(lambda conn: release.wait(10))
        )
        await anyio.sleep(0.05)
        never = asyncio.get_running_loop().create_task(repository._call(where(log)))
        await anyio.sleep(0.05)
        never.cancel()  # queued behind the first: never run
        with contextlib.suppress(asyncio.CancelledError):
            await never
        release.set()
        await busy
        await repository.ping()  # in the thread, after both
        await repository._call(where(log), short=True)
    assert log == ["here"]


async def test_a_reader_left_on_an_old_snapshot_holds_the_checkpoint_briefly(
    tmp_path: Path,
) -> None:
    """The FULL checkpoint holds the write lock while it waits for readers on older
    snapshots (a database browser, a backup): it waits briefly (its own busy timeout), not
    the repository's, and is done at a later checkpoint."""
    path = tmp_path / "ledger.db"
    ran: list[str] = []
    async with SQLiteRepository(path, busy_timeout=5) as repository:
        await repository.add_jobs([make_job()])
        await repository._call(lambda conn: conn.set_trace_callback(ran.append))
        reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM jobs").fetchone()  # a snapshot, kept
        await repository.add_jobs([make_job(age=1)])  # newer than the reader's snapshot
        await repository._call(sqlite_module._checkpoint)  # in the thread: returns
        waits = await repository._call(lambda conn: conn.execute("PRAGMA busy_timeout").fetchone())
        assert waits == (5000,)  # the thread's own timeout, back
        reader.execute("ROLLBACK")
        reader.close()
        assert (await repository.list_jobs()).total == 2
    checkpoint = ran.index("PRAGMA wal_checkpoint(FULL)")
    assert ran[checkpoint - 1] == f"PRAGMA busy_timeout = {sqlite_module._CHECKPOINT_WAIT_MS}"
    assert ran[checkpoint + 1] == "PRAGMA busy_timeout = 5000"
