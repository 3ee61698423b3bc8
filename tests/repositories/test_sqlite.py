"""SQLite-only behaviour: files, migrations, pragmas, query plans and error mapping.

Everything every backend must do is in the contract suite (tests/contracts).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soravideo import (
    ConflictError,
    Job,
    JobNotFoundError,
    JobPriority,
    JobStatus,
    RepositoryError,
)
from soravideo._core.converter import dumps
from soravideo.repositories import JobUpdate, MemoryRepository, SQLiteRepository
from soravideo.repositories._common import micros
from soravideo.repositories._queries import load_queries, migrations
from soravideo.testing.repository_contract import T0, make_batch, make_job

pytestmark = pytest.mark.anyio

LATEST = migrations(load_queries("sqlite.sql"))[-1][0]


def plan(db: Path, name: str, params: dict[str, object]) -> str:
    """Return SQLite's query plan for one named query, as one line of text."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {load_queries('sqlite.sql')[name]}", params)
        text = " | ".join(row[-1] for row in rows)
    conn.close()
    return text


async def test_the_constructor_touches_nothing(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "ledger.db"
    repository = SQLiteRepository(path)
    assert not path.parent.exists()
    await repository.aclose()  # closing an unopened repository is fine
    repository = SQLiteRepository(path)
    await repository.ping()  # the first call opens lazily, folders included
    assert path.exists()
    await repository.aclose()


async def test_jobs_batches_and_leases_survive_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    job = make_job(metadata={"k": "v"})
    batch = make_batch([job.id], batch_id="batch_1")
    member = make_job(batch_id="batch_1", age=1)
    async with SQLiteRepository(path) as repository:
        await repository.add_jobs([job])
        await repository.add_jobs([member], batch=batch)
        await repository.claim_jobs("w1", limit=2, lease_seconds=60, now=T0)
        done = attrs.evolve(member, status=JobStatus.COMPLETED)
        await repository.update_job(done, expected_status=JobStatus.PENDING, lease_owner="w1")

    async with SQLiteRepository(path) as reopened:
        assert await reopened.get_job(job.id) == job
        assert await reopened.get_job(member.id) == done
        assert (await reopened.get_batch("batch_1")).progress.completed == 1
        # The lease was written to the file too: nobody else gets the job before it ends.
        assert await reopened.claim_jobs("w2", limit=5, lease_seconds=60, now=T0) == []
        assert await reopened.renew_lease([job.id], "w1", lease_seconds=60, now=T0) == [job.id]
        assert await reopened.schema_version() == LATEST


async def test_migrations_run_once_and_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    for _ in range(2):
        async with SQLiteRepository(path) as repository:
            await repository.ping()
    with sqlite3.connect(path) as conn:
        versions = conn.execute("SELECT version FROM schema_version").fetchall()
        assert versions == [(v,) for v in range(1, LATEST + 1)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


def write_version_1_ledger(path: Path, jobs: list[Job]) -> None:
    """Write a ledger as soravideo wrote it before migration 2 (no owner rule, no keys)."""
    queries = load_queries("sqlite.sql")
    with sqlite3.connect(path) as conn:
        conn.executescript(queries["create_version_table"] + ";" + queries["migration_1"])
        conn.execute(queries["record_version"], {"version": 1})
        conn.executemany(
            "INSERT INTO jobs (id, status, priority_rank, created_us, updated_us, remote_id, data)"
            " VALUES (?, ?, 0, ?, ?, ?, ?)",
            [
                (job.id, job.status.value, i, i, job.remote_id, dumps(job))
                for i, job in enumerate(jobs)
            ],
        )
    conn.close()


async def test_migration_2_keeps_a_duplicated_remote_video_with_its_first_job(
    tmp_path: Path,
) -> None:
    # Before migration 2, reconciliation could give a second job another job's video.
    path = tmp_path / "ledger.db"
    first = make_job("job_a", status=JobStatus.COMPLETED, remote_id="video_1")
    adopted = make_job("job_b", status=JobStatus.COMPLETED, remote_id="video_1", age=1)
    elsewhere = make_job("job_c", status=JobStatus.PROCESSING, remote_id="video_1", age=2)
    elsewhere = attrs.evolve(elsewhere, provider="other")
    write_version_1_ledger(path, [first, adopted, elsewhere])

    async with SQLiteRepository(path) as repository:
        assert await repository.schema_version() == LATEST
        assert await repository.find_job_by_remote_id("fake", "video_1") == first
        assert await repository.find_job_by_remote_id("other", "video_1") == elsewhere
        # The later job's document is untouched: what was recorded is still readable.
        assert await repository.get_job(adopted.id) == adopted
        assert (await repository.count_jobs())[JobStatus.COMPLETED] == 2
        # From now on the ledger refuses a second owner.
        with pytest.raises(ConflictError, match="job_a"):
            await repository.add_jobs([make_job(remote_id="video_1", age=3)])
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT id, provider, remote_id FROM jobs ORDER BY seq").fetchall()
    conn.close()
    assert rows == [
        ("job_a", "fake", "video_1"),
        ("job_b", "fake", None),
        ("job_c", "other", "video_1"),
    ]


async def test_a_schema_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    async with SQLiteRepository(path):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (99)")
    conn.close()
    repository = SQLiteRepository(path)
    with pytest.raises(RepositoryError, match="newer"):
        await repository.open()
    await repository.aclose()


@pytest.mark.parametrize(
    "content",
    [b"this is not a database, just some text" * 200, b"SQLite format 3\x00" + b"\xff" * 4000],
)
async def test_a_corrupt_file_raises_repository_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(content)
    repository = SQLiteRepository(path)
    with pytest.raises(RepositoryError, match="ledger") as caught:
        await repository.get_job("job_1")
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    with pytest.raises(RepositoryError):
        await repository.ping()  # still unusable, and still says so
    await repository.aclose()
    assert path.read_bytes() == content  # nothing was "repaired" over the user's file


async def test_a_path_that_cannot_be_a_file_raises_repository_error(tmp_path: Path) -> None:
    repository = SQLiteRepository(tmp_path)  # a directory
    with pytest.raises(RepositoryError):
        await repository.open()
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    repository = SQLiteRepository(blocker / "ledger.db")
    with pytest.raises(RepositoryError):
        await repository.open()


async def test_a_locked_file_raises_repository_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    async with SQLiteRepository(path, busy_timeout=0.01) as repository:
        await repository.ping()
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(RepositoryError, match="locked") as caught:
                await repository.add_jobs([make_job()])
            assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
            # Reads still work while another process writes (WAL), opening included.
            assert (await repository.list_jobs()).total == 0
            async with SQLiteRepository(path, busy_timeout=0.01) as reader:
                assert (await reader.count_jobs())[JobStatus.PENDING] == 0
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        await repository.add_jobs([make_job()])


async def test_a_failed_write_leaves_no_transaction_behind(tmp_path: Path) -> None:
    async with SQLiteRepository(tmp_path / "ledger.db") as repository:
        job = make_job()
        await repository.add_jobs([job])
        with pytest.raises(ConflictError):
            await repository.add_jobs([make_job(), job])
        # Had the failed transaction stayed open, this second handle could not write.
        async with SQLiteRepository(tmp_path / "ledger.db", busy_timeout=0.01) as other:
            await other.add_jobs([make_job()])
        assert sum((await repository.count_jobs()).values()) == 2


async def test_a_closed_repository_refuses_work(tmp_path: Path) -> None:
    repository = SQLiteRepository(tmp_path / "ledger.db")
    await repository.open()
    await repository.aclose()
    with pytest.raises(RepositoryError, match="closed"):
        await repository.get_job("job_1")
    assert "closed" in repr(repository)


async def test_unknown_ids_map_to_not_found(tmp_path: Path) -> None:
    async with SQLiteRepository(tmp_path / "ledger.db") as repository:
        with pytest.raises(JobNotFoundError):
            await repository.update_job(make_job(), expected_status=JobStatus.PENDING)


async def test_the_indexes_serve_the_hot_queries(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    async with SQLiteRepository(db) as repository:
        await repository.ping()
    page = {"limit": 20, "offset": 40, "status": "pending", "batch_id": "b"}
    assert "COVERING INDEX jobs_status" in plan(db, "list_jobs_by_status", page)
    assert "COVERING INDEX jobs_newest" in plan(db, "list_jobs", page)
    assert "INDEX jobs_batch" in plan(db, "list_jobs_by_status_and_batch", page)
    # Counts read the trigger-kept totals: a key lookup, never a scan of the jobs.
    assert "jobs" not in plan(db, "count_jobs_by_status", page).replace("job_totals", "")
    assert "SEARCH batch_job_totals" in plan(db, "group_batch_jobs_by_status", page)
    claim = plan(db, "claim_candidates", {"now": 0, "limit": 10})
    # Unleased jobs in claim order from their own index; expired leases by their expiry.
    assert "SCAN c USING INDEX jobs_unleased" in claim
    assert "SEARCH c USING INDEX jobs_lease_expiry (lease_expires_us<?)" in claim
    # Old webhook deliveries are found by when they arrived, not by a scan of them all.
    prune = plan(db, "prune_webhook_deliveries", {"before_us": 0, "limit": 100})
    assert "USING COVERING INDEX webhook_deliveries_received (received_us<?)" in prune


def claim_steps(db: Path) -> int:
    """How many steps SQLite's virtual machine takes to find what a claim would take."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    with sqlite3.connect(db) as conn:
        conn.set_progress_handler(count, 1)
        rows = conn.execute(
            load_queries("sqlite.sql")["claim_candidates"], {"now": micros(T0), "limit": 10}
        ).fetchall()
    conn.close()
    assert len(rows) == 1  # the one new job
    return steps


async def test_a_claim_reads_no_more_with_hundreds_of_jobs_in_flight(tmp_path: Path) -> None:
    """[W2-4] The claim finds the one new job without walking the leased ones in flight."""
    steps = {}
    for in_flight in (10, 400):
        db = tmp_path / f"ledger-{in_flight}.db"
        async with SQLiteRepository(db) as repository:
            leased = [make_job(status=JobStatus.PROCESSING, age=i) for i in range(in_flight)]
            await repository.add_jobs(leased)
            taken = await repository.claim_jobs("me", limit=in_flight, lease_seconds=60, now=T0)
            assert len(taken) == in_flight
            await repository.add_jobs([make_job(age=in_flight)])
        steps[in_flight] = claim_steps(db)
    # The same work at either size (it was linear in the jobs in flight).
    assert steps[400] <= steps[10] * 1.2, steps


async def test_trigger_kept_totals_match_the_jobs(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    async with SQLiteRepository(db) as repository:
        first, second = make_batch(batch_id="batch_1"), make_batch(batch_id="batch_2")
        members = [make_job(batch_id="batch_1", age=i) for i in range(4)]
        await repository.add_jobs(members, batch=first)
        await repository.add_jobs([], batch=second)
        await repository.add_jobs([make_job(status=JobStatus.FAILED, age=9)])
        steps = [
            (attrs.evolve(members[0], status=JobStatus.PROCESSING), JobStatus.PENDING),
            (attrs.evolve(members[0], status=JobStatus.COMPLETED), JobStatus.PROCESSING),
            (attrs.evolve(members[1], batch_id="batch_2"), JobStatus.PENDING),
            (
                attrs.evolve(members[2], batch_id=None, status=JobStatus.CANCELLED),
                JobStatus.PENDING,
            ),
            (attrs.evolve(members[3], progress=50), JobStatus.PENDING),  # no status change
        ]
        for job, expected in steps:
            await repository.update_job(job, expected_status=expected)
    with sqlite3.connect(db) as conn:
        totals = dict(conn.execute("SELECT status, n FROM job_totals WHERE n > 0"))
        truth = dict(conn.execute("SELECT status, count(*) FROM jobs GROUP BY status"))
        batch_totals = set(
            conn.execute("SELECT batch_id, status, n FROM batch_job_totals WHERE n > 0")
        )
        batch_truth = set(
            conn.execute(
                "SELECT batch_id, status, count(*) FROM jobs WHERE batch_id IS NOT NULL "
                "GROUP BY batch_id, status"
            )
        )
    conn.close()
    assert totals == truth == {"completed": 1, "pending": 2, "cancelled": 1, "failed": 1}
    assert (
        batch_totals
        == batch_truth
        == {
            ("batch_1", "completed", 1),
            ("batch_1", "pending", 1),
            ("batch_2", "pending", 1),
        }
    )


async def test_a_cancelled_caller_waits_for_its_statement_to_end(tmp_path: Path) -> None:
    async with SQLiteRepository(tmp_path / "ledger.db") as repository:
        job = make_job()
        with anyio.CancelScope() as scope:
            scope.cancel()
            await repository.add_jobs([job])
        assert scope.cancelled_caught
        # The write was neither lost nor left running behind the caller's back.
        assert await repository.get_job(job.id) == job


async def test_update_jobs_failing_midway_writes_none_of_them(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    async with SQLiteRepository(path) as repository:
        jobs = [make_job(status=JobStatus.PROCESSING, age=i) for i in range(3)]
        await repository.add_jobs(jobs)
        # The ledger fails at the last statement (malformed JSON in a trigger: an error SQLite
        # raises while it runs the statement, as a full disk or an I/O error would).
        with sqlite3.connect(path) as side:
            side.execute(
                f"CREATE TRIGGER boom BEFORE UPDATE ON jobs WHEN NEW.id = '{jobs[2].id}' "
                "BEGIN SELECT json('{'); END"
            )
        side.close()
        updates = [
            JobUpdate(job=attrs.evolve(job, progress=40), expected_status=JobStatus.PROCESSING)
            for job in jobs
        ]
        with pytest.raises(RepositoryError, match="malformed JSON"):
            await repository.update_jobs(updates)
        assert await repository.get_jobs([job.id for job in jobs]) == jobs
        # No transaction (nor its write lock) was left behind.
        async with SQLiteRepository(path, busy_timeout=0.01) as other:
            outcomes = await other.update_jobs(updates[:2])
        assert outcomes == [update.job for update in updates[:2]]


class CountedReads(SQLiteRepository):
    """A SQLite ledger that records the ids each of its read statements carried."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.reads: list[list[str]] = []

    async def _read_jobs(self, ids: list[str]) -> list[Job | None]:
        self.reads.append(list(ids))
        return await super()._read_jobs(ids)


async def test_reads_arriving_while_one_runs_go_together_each_with_its_own_jobs(
    tmp_path: Path,
) -> None:
    async with CountedReads(tmp_path / "ledger.db") as repository:
        jobs = [make_job(age=i) for i in range(4)]
        await repository.add_jobs(jobs)
        a, b, c, d = (job.id for job in jobs)
        asked: dict[str, object] = {}

        async def get_job(name: str, job_id: str) -> None:
            try:
                asked[name] = await repository.get_job(job_id)
            except JobNotFoundError as exc:
                asked[name] = exc

        async def get_jobs(name: str, job_ids: list[str]) -> None:
            asked[name] = await repository.get_jobs(job_ids)

        async with anyio.create_task_group() as tg:
            # Started together: the first read runs alone; the others wait for it, then go
            # in one statement (the thread's answer reaches the loop after them).
            tg.start_soon(get_job, "first", a)
            tg.start_soon(get_job, "b", b)
            tg.start_soon(get_job, "missing", "job_none")
            tg.start_soon(get_jobs, "many", [d, "job_none", c, b])
            tg.start_soon(get_job, "b again", b)
    assert repository.reads == [[a], [b, "job_none", d, "job_none", c, b, b]]
    assert asked["first"] == jobs[0]
    assert asked["b"] == asked["b again"] == jobs[1]
    # Each caller has its own copy, even of a job another caller in its statement read.
    assert asked["b"] is not asked["b again"]
    assert isinstance(asked["missing"], JobNotFoundError)
    assert asked["many"] == [jobs[3], jobs[2], jobs[1]]


UNFINISHED_OR_NOT = [JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.COMPLETED]
STAYS = {
    "stored_status": JobStatus.PROCESSING,
    "stored_remote": "vid-a",
    "stored_lease": "me",
    "new_status": None,  # the status stays
    "new_remote": "same",
    "new_priority": None,
    "expected": None,  # the stored status
    "lease_owner": "me",
    "together": False,  # through update_job, not update_jobs
}
WRITES = st.fixed_dictionaries(
    {
        "stored_status": st.sampled_from(UNFINISHED_OR_NOT),
        "stored_remote": st.sampled_from([None, "vid-a"]),
        "stored_lease": st.sampled_from([None, "me", "other"]),
        "new_status": st.one_of(st.none(), st.sampled_from(UNFINISHED_OR_NOT)),
        "new_remote": st.one_of(st.just("same"), st.sampled_from([None, "vid-a", "vid-c"])),
        "new_priority": st.sampled_from([None, JobPriority.URGENT]),
        "expected": st.one_of(st.none(), st.sampled_from(UNFINISHED_OR_NOT)),
        "lease_owner": st.sampled_from([None, "me", "other"]),
        "together": st.booleans(),
    }
)
# The writes each statement must tell apart, whatever the examples drawn.
CASES = [
    STAYS,  # a progress: the data alone
    {**STAYS, "together": True},
    {**STAYS, "stored_remote": None},  # the remote id recorded: the full update
    {**STAYS, "new_remote": "vid-c"},  # another remote id
    {**STAYS, "new_remote": "vid-b"},  # one another job holds: refused
    {**STAYS, "new_remote": None},
    {**STAYS, "new_priority": JobPriority.URGENT},
    {**STAYS, "lease_owner": "other"},  # not our lease: refused
    {**STAYS, "stored_lease": None, "lease_owner": None},
    {**STAYS, "expected": JobStatus.PENDING},  # not the stored status: refused
    {**STAYS, "stored_status": JobStatus.COMPLETED, "lease_owner": None},  # a finished job
    {**STAYS, "new_status": JobStatus.COMPLETED},  # its end: the lease goes
    {**STAYS, "stored_status": JobStatus.COMPLETED, "new_status": JobStatus.PENDING},
    # The status changes (update_job_status), and with it what that statement leaves alone.
    {**STAYS, "new_status": JobStatus.COMPLETED, "together": True},
    {**STAYS, "stored_status": JobStatus.PENDING, "new_status": JobStatus.PROCESSING},
    {**STAYS, "new_status": JobStatus.COMPLETED, "new_remote": "vid-c"},
    {**STAYS, "new_status": JobStatus.COMPLETED, "new_remote": "vid-b"},  # refused
    {**STAYS, "new_status": JobStatus.COMPLETED, "new_priority": JobPriority.URGENT},
    {**STAYS, "new_status": JobStatus.COMPLETED, "lease_owner": "other"},  # refused
    {**STAYS, "new_status": JobStatus.COMPLETED, "stored_lease": None, "lease_owner": None},
    {**STAYS, "new_status": JobStatus.COMPLETED, "expected": JobStatus.PENDING},  # refused
    # The remote id changes, the status stays (update_job_remote), and what it leaves alone.
    {**STAYS, "stored_remote": None, "together": True},
    {**STAYS, "stored_remote": None, "new_priority": JobPriority.URGENT},
    {**STAYS, "stored_remote": None, "lease_owner": "other"},  # refused
    {**STAYS, "stored_remote": None, "new_remote": "vid-b"},  # refused
    {**STAYS, "stored_status": JobStatus.COMPLETED, "lease_owner": None, "new_remote": "vid-c"},
]


def test_a_write_is_what_the_memory_ledger_makes_of_it_and_the_columns_stay_true(
    tmp_path: Path, new_sqlite_ledger: Callable[[Path], Path]
) -> None:
    """[W2-4] A write that keeps the status sets the row's data alone (``update_job_data``),
    or with the remote id (``update_job_remote``); one that changes the status leaves the
    other indexed columns alone (``update_job_status``); each falls back to the full update
    when anything else would change: the outcome, the job stored and the row's indexed
    columns are exactly what the full compare-and-set gives (the memory ledger, the
    reference, decides the outcome and the job)."""
    db = new_sqlite_ledger(tmp_path / "ledger.db")
    sqlite, memory = SQLiteRepository(db), MemoryRepository()
    # Holds video vid-b (of every example) in both ledgers.
    holder = make_job(status=JobStatus.PROCESSING, remote_id="vid-b")
    anyio.run(sqlite.add_jobs, [holder])
    anyio.run(memory.add_jobs, [holder])

    @settings(max_examples=40, deadline=None)
    @given(case=WRITES)
    def check(case: dict[str, Any]) -> None:
        anyio.run(one_write_both_ways, sqlite, memory, db, case)

    try:
        for case in CASES:
            anyio.run(one_write_both_ways, sqlite, memory, db, case)
        check()
    finally:
        anyio.run(sqlite.aclose)


async def one_write_both_ways(
    sqlite: SQLiteRepository, memory: MemoryRepository, db: Path, case: dict[str, Any]
) -> None:
    # Remote ids of this example's own (a and c), but b: the holder's.
    own = uuid.uuid4().hex

    def video(name: str | None) -> str | None:
        return name if name in (None, "vid-b") else f"{name}-{own}"

    stored = make_job(status=case["stored_status"], remote_id=video(case["stored_remote"]))
    changes: dict[str, Any] = {"progress": 40}
    if case["new_status"] is not None:
        changes["status"] = case["new_status"]
    if case["new_remote"] != "same":
        changes["remote_id"] = video(case["new_remote"])
    if case["new_priority"] is not None:
        changes["priority"] = case["new_priority"]
    update = JobUpdate(
        job=attrs.evolve(stored, **changes),
        expected_status=case["expected"] or stored.status,
        lease_owner=case["lease_owner"],
    )
    outcomes = []
    for ledger in (sqlite, memory):
        await ledger.add_jobs([stored])
        if case["stored_lease"] is not None and not stored.is_terminal:
            await ledger.claim_jobs(
                case["stored_lease"], limit=1, lease_seconds=60, now=T0, job_ids=[stored.id]
            )
        try:
            if case["together"]:
                [outcome] = await ledger.update_jobs([update])
            else:
                outcome = await ledger.update_job(
                    update.job,
                    expected_status=update.expected_status,
                    lease_owner=update.lease_owner,
                )
        except (ConflictError, JobNotFoundError) as exc:
            outcome = exc
        outcomes.append((type(outcome), str(outcome), await ledger.get_job(stored.id)))
    assert outcomes[0] == outcomes[1]
    # The row's columns say what its data says; the lease is the claim's, or gone at the end.
    written = outcomes[0][2]
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT status, remote_id, priority_rank, provider, batch_id, created_us, "
            "lease_owner, lease_expires_us IS NOT NULL, updated_us FROM jobs WHERE id = ?",
            (stored.id,),
        ).fetchone()
    conn.close()
    lease = None if written.is_terminal or stored.is_terminal else case["stored_lease"]
    assert row == (
        written.status.value,
        written.remote_id,
        written.priority.rank,
        written.provider,
        written.batch_id,
        micros(written.created_at),
        lease,
        lease is not None,
        micros(written.updated_at),
    )


async def test_each_write_runs_its_narrowest_statement_and_one_create_its_insert_alone(
    tmp_path: Path,
) -> None:
    """[W2-4] A progress sets the data alone; a remote id recorded, the data and the remote
    id; a status change, what changes with a status (never the full update_job, which
    rewrites every index); a single job added is its INSERT alone, committed when
    ``add_jobs`` returns, and a second add of it is refused."""
    # Known by their first line (the statements come with their parameters filled in).
    first_lines: dict[str, list[str]] = {}
    for name, text in load_queries("sqlite.sql").items():
        first_lines.setdefault(text.splitlines()[0], []).append(name)
    ran: list[str] = []

    def traced(statement: str) -> None:
        name = "|".join(first_lines.get(statement.splitlines()[0], [statement]))
        # A trigger's statements are traced as the write that fired them: named once.
        if not ran or ran[-1] != name:
            ran.append(name)

    path = tmp_path / "ledger.db"
    job = make_job()
    async with SQLiteRepository(path) as repository:
        # On both connections: the connection thread's and the one short work uses beside it.
        await repository._call(lambda conn: conn.set_trace_callback(traced))
        await repository._call(lambda conn: conn.set_trace_callback(traced), short=True)
        await repository.add_jobs([job])
        assert ran == ["insert_job"]
        with sqlite3.connect(path) as other:  # another process sees it: committed
            assert other.execute("SELECT id FROM jobs").fetchall() == [(job.id,)]
        other.close()
        with pytest.raises(ConflictError, match=job.id):
            await repository.add_jobs([job])
        [claimed] = await repository.claim_jobs("me", limit=1, lease_seconds=60, now=T0)
        writes = [
            ({"status": JobStatus.PROCESSING}, ["update_job_status"]),
            ({"progress": 10}, ["update_job_data"]),
            ({"remote_id": "vid-1"}, ["update_job_data", "update_job_remote"]),
            ({"status": JobStatus.COMPLETED}, ["update_job_status"]),
        ]
        current = claimed
        for changes, statements in writes:
            ran.clear()
            new = attrs.evolve(current, **changes)
            await repository.update_job(new, expected_status=current.status, lease_owner="me")
            assert ran == statements, changes
            assert await repository.get_job(job.id) == new
            current = new
