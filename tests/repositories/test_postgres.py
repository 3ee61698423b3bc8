"""PostgreSQL-only behaviour: migrations, concurrent claims, lease loss, error mapping.

The shared contract suite (tests/contracts) covers everything every backend must do; these
tests cover what only a server shared by many connections can get wrong.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import anyio
import attrs
import psycopg
import pytest

from soravideo import ConflictError, RepositoryError
from soravideo._core.converter import dumps
from soravideo._core.models import Batch, CreateVideoRequest, Job, JobPriority, JobStatus
from soravideo.repositories import JobUpdate
from soravideo.repositories._queries import load_queries
from soravideo.repositories.postgres import PostgresRepository

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def make_jobs(n: int, *, prefix: str = "job") -> list[Job]:
    return [
        Job(
            id=f"{prefix}-{i:04d}",
            status=JobStatus.PENDING,
            request=CreateVideoRequest(prompt=f"video {i}"),
            provider="fake",
            priority=JobPriority.HIGH if i % 7 == 0 else JobPriority.NORMAL,
            created_at=T0 + timedelta(seconds=i),
            updated_at=T0 + timedelta(seconds=i),
        )
        for i in range(n)
    ]


async def schema_rows(dsn: str) -> list[tuple[int]]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute("SELECT version FROM soravideo_schema_version ORDER BY 1")
        return await cur.fetchall()


async def test_open_migrates_once_and_reopening_is_idempotent(postgres_dsn: str) -> None:
    async with PostgresRepository(postgres_dsn) as repo:
        await repo.open()
        version = await repo.schema_version()
        await repo.add_jobs(make_jobs(3))
    async with PostgresRepository(postgres_dsn) as repo:
        assert await repo.schema_version() == version >= 1
        assert len((await repo.list_jobs()).items) == 3
    assert await schema_rows(postgres_dsn) == [(v,) for v in range(1, version + 1)]


async def test_repositories_opening_at_once_migrate_exactly_once(postgres_dsn: str) -> None:
    repos = [PostgresRepository(postgres_dsn, max_size=2) for _ in range(6)]
    try:
        async with anyio.create_task_group() as tg:
            for repo in repos:
                tg.start_soon(repo.open)
        versions = {await repo.schema_version() for repo in repos}
    finally:
        for repo in repos:
            await repo.aclose()
    assert len(versions) == 1
    assert await schema_rows(postgres_dsn) == [(v,) for v in range(1, versions.pop() + 1)]


async def test_migration_2_keeps_a_duplicated_remote_video_with_its_first_job(
    postgres_dsn: str,
) -> None:
    # Before migration 2, reconciliation could give a second job another job's video.
    first, adopted, elsewhere = (
        attrs.evolve(job, status=JobStatus.COMPLETED, remote_id="video_1")
        for job in make_jobs(3, prefix="old")
    )
    elsewhere = attrs.evolve(elsewhere, provider="other")
    queries = load_queries("postgres.sql")
    async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as conn:
        await conn.execute(queries["create_version_table"])
        await conn.execute(queries["migration_1"])
        await conn.execute(queries["record_version"], {"version": 1})
        for job in (adopted, first, elsewhere):  # row order must not matter: age does
            await conn.execute(
                "INSERT INTO soravideo_jobs (id, status, priority_rank, created_at, updated_at,"
                " data) VALUES (%s, %s, 0, %s, %s, %s)",
                (job.id, job.status.value, job.created_at, job.updated_at, dumps(job)),
            )
    async with PostgresRepository(postgres_dsn) as repo:
        assert await repo.schema_version() >= 2
        assert await repo.find_job_by_remote_id("fake", "video_1") == first
        assert await repo.find_job_by_remote_id("other", "video_1") == elsewhere
        assert await repo.get_job(adopted.id) == adopted  # the document is untouched
        with pytest.raises(ConflictError, match=first.id):
            await repo.add_jobs([attrs.evolve(make_jobs(1, prefix="new")[0], remote_id="video_1")])


async def stored_counts(dsn: str) -> tuple[dict[str, int], dict[str, int], dict[tuple, int]]:
    """Return (counts from the jobs, counts from the totals, batch counts from both, compared)."""
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute("SELECT status, count(*) FROM soravideo_jobs GROUP BY status")
        counted = {status: n for status, n in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT status, sum(n) FROM soravideo_job_totals GROUP BY status HAVING sum(n) <> 0"
        )
        totals = {status: int(n) for status, n in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT batch_id, status, count(*) FROM soravideo_jobs WHERE batch_id IS NOT NULL"
            " GROUP BY batch_id, status"
            " EXCEPT SELECT batch_id, status, sum(n) FROM soravideo_batch_job_totals"
            " GROUP BY batch_id, status HAVING sum(n) <> 0"
        )
        batch_mismatches = {(b, s): n for b, s, n in await cur.fetchall()}
    return counted, totals, batch_mismatches


async def test_migration_3_counts_the_jobs_already_stored(postgres_dsn: str) -> None:
    batch = Batch(id="batch-old", job_ids=(), created_at=T0, updated_at=T0)
    jobs = [
        attrs.evolve(
            job,
            status=[JobStatus.PENDING, JobStatus.COMPLETED, JobStatus.FAILED][i % 3],
            batch_id=batch.id if i % 2 else None,
        )
        for i, job in enumerate(make_jobs(12, prefix="old"))
    ]
    queries = load_queries("postgres.sql")
    async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as conn:
        await conn.execute(queries["create_version_table"])
        for version in (1, 2):
            await conn.execute(queries[f"migration_{version}"])
            await conn.execute(queries["record_version"], {"version": version})
        await conn.execute(
            "INSERT INTO soravideo_batches (id, status, created_at, updated_at, data)"
            " VALUES (%s, 'pending', %s, %s, '{}')",
            (batch.id, T0, T0),
        )
        for job in jobs:
            await conn.execute(
                "INSERT INTO soravideo_jobs (id, status, priority_rank, batch_id, created_at,"
                " updated_at, data) VALUES (%s, %s, 0, %s, %s, %s, %s)",
                (
                    job.id,
                    job.status.value,
                    job.batch_id,
                    job.created_at,
                    job.updated_at,
                    dumps(job),
                ),
            )
    async with PostgresRepository(postgres_dsn) as repo:
        assert await repo.schema_version() >= 3
        counts = await repo.count_jobs()
        assert counts[JobStatus.PENDING] == counts[JobStatus.COMPLETED] == 4
        in_batch = await repo.count_jobs(batch_id=batch.id)
        assert sum(in_batch.values()) == 6
        page = await repo.list_jobs(status=JobStatus.FAILED, batch_id=batch.id)
        assert page.total == len(page.items) == 2
        await repo.add_jobs(make_jobs(2, prefix="new"))
        assert (await repo.list_jobs(status=JobStatus.PENDING)).total == 6
    counted, totals, batch_mismatches = await stored_counts(postgres_dsn)
    assert totals == counted
    assert batch_mismatches == {}


async def test_counter_rows_stay_exact_under_concurrent_writers(postgres_dsn: str) -> None:
    # Four pools (so several backends, so several counter slots) move jobs through every
    # status at once, into and out of batches; the totals must still equal a count.
    batches = [Batch(id=f"batch-{b}", job_ids=(), created_at=T0, updated_at=T0) for b in range(2)]
    jobs = make_jobs(160)
    repos = [PostgresRepository(postgres_dsn, max_size=3) for _ in range(4)]
    try:
        for repo in repos:
            await repo.open()
        for batch in batches:
            await repos[0].add_jobs([], batch=batch)
        await repos[0].add_jobs(jobs)

        async def worker(n: int) -> None:
            repo = repos[n % len(repos)]
            owner = f"worker-{n}"
            while claimed := await repo.claim_jobs(owner, limit=3, lease_seconds=600, now=T0):
                for job in claimed:
                    batch_id = batches[hash(job.id) % 2].id if int(job.id[-1]) % 2 else None
                    running = attrs.evolve(job, status=JobStatus.PROCESSING, batch_id=batch_id)
                    await repo.update_job(running, expected_status=job.status, lease_owner=owner)
                    end = JobStatus.COMPLETED if int(job.id[-2]) % 3 else JobStatus.FAILED
                    await repo.update_job(
                        attrs.evolve(running, status=end),
                        expected_status=JobStatus.PROCESSING,
                        lease_owner=owner,
                    )

        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(worker, n)
        counts = await repos[1].count_jobs()
        assert counts[JobStatus.COMPLETED] + counts[JobStatus.FAILED] == len(jobs)
        progress = [await repos[2].count_jobs(batch_id=batch.id) for batch in batches]
        assert sum(sum(p.values()) for p in progress) == len(jobs) // 2
    finally:
        for repo in repos:
            await repo.aclose()
    counted, totals, batch_mismatches = await stored_counts(postgres_dsn)
    assert totals == counted
    assert batch_mismatches == {}


async def test_a_schema_newer_than_the_code_is_refused(postgres_dsn: str) -> None:
    async with PostgresRepository(postgres_dsn):
        pass
    async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as conn:
        await conn.execute("INSERT INTO soravideo_schema_version (version) VALUES (999)")
    with pytest.raises(RepositoryError, match="newer"):
        await PostgresRepository(postgres_dsn).open()


async def test_concurrent_claimers_never_get_the_same_job(postgres_dsn: str) -> None:
    jobs = make_jobs(300)
    claimed: list[str] = []
    async with PostgresRepository(postgres_dsn, max_size=8) as repo:
        await repo.add_jobs(jobs)

        async def claimer(owner: str) -> None:
            while batch := await repo.claim_jobs(owner, limit=7, lease_seconds=600, now=T0):
                claimed.extend(job.id for job in batch)

        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(claimer, f"worker-{n}")
    duplicates = [job_id for job_id, n in Counter(claimed).items() if n > 1]
    assert duplicates == []
    assert sorted(claimed) == sorted(job.id for job in jobs)


async def test_separate_pools_claim_disjoint_jobs_in_priority_order(postgres_dsn: str) -> None:
    jobs = make_jobs(40)
    async with PostgresRepository(postgres_dsn) as a, PostgresRepository(postgres_dsn) as b:
        await a.add_jobs(jobs)
        first = await a.claim_jobs("a", limit=10, lease_seconds=60, now=T0)
        second = await b.claim_jobs("b", limit=10, lease_seconds=60, now=T0)
    expected = sorted(jobs, key=lambda j: (-j.priority.rank, j.created_at))
    assert [j.id for j in first + second] == [j.id for j in expected[:20]]


async def test_a_lost_lease_turns_every_write_into_a_conflict(postgres_dsn: str) -> None:
    async with PostgresRepository(postgres_dsn) as repo:
        await repo.add_jobs(make_jobs(1))
        (job,) = await repo.claim_jobs("a", limit=1, lease_seconds=30, now=T0)
        running = attrs.evolve(job, status=JobStatus.PROCESSING, remote_id="video_1")
        await repo.update_job(running, expected_status=JobStatus.PENDING, lease_owner="a")

        with pytest.raises(ConflictError, match="lease"):
            await repo.update_job(running, expected_status=JobStatus.PROCESSING, lease_owner="b")
        # Before expiry nobody else may take it; after expiry "b" takes it over.
        assert await repo.claim_jobs("b", limit=1, lease_seconds=30, now=T0) == []
        later = T0 + timedelta(seconds=31)
        (taken,) = await repo.claim_jobs("b", limit=1, lease_seconds=30, now=later)
        assert taken == running

        done = attrs.evolve(running, status=JobStatus.COMPLETED)
        with pytest.raises(ConflictError):
            await repo.update_job(done, expected_status=JobStatus.PROCESSING, lease_owner="a")
        assert await repo.renew_lease([job.id], "a", lease_seconds=30, now=later) == []
        assert await repo.renew_lease([job.id], "b", lease_seconds=30, now=later) == [job.id]
        await repo.update_job(done, expected_status=JobStatus.PROCESSING, lease_owner="b")
        assert (await repo.get_job(job.id)).status is JobStatus.COMPLETED


async def test_a_dropped_connection_is_a_repository_error_and_the_pool_recovers(
    postgres_dsn: str,
) -> None:
    app = f"soravideo-victim-{uuid.uuid4().hex[:8]}"  # the server may be shared
    async with PostgresRepository(
        postgres_dsn, min_size=1, max_size=1, connect_kwargs={"application_name": app}
    ) as repo:
        await repo.ping()
        async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                [app],
            )
        with pytest.raises(RepositoryError) as caught:
            await repo.ping()
        assert isinstance(caught.value.__cause__, psycopg.Error)
        await repo.ping()


async def test_an_unreachable_server_fails_open_with_the_reason(postgres_dsn: str) -> None:
    bad = psycopg.conninfo.make_conninfo(postgres_dsn, dbname="no_such_database")
    repo = PostgresRepository(bad)
    with pytest.raises(RepositoryError, match="no_such_database") as caught:
        await repo.open()
    assert isinstance(caught.value.__cause__, psycopg.Error)
    with pytest.raises(RepositoryError, match="not open"):
        await repo.ping()


async def test_a_closed_repository_refuses_work(postgres_dsn: str) -> None:
    repo = PostgresRepository(postgres_dsn)
    await repo.open()
    await repo.aclose()
    await repo.aclose()
    with pytest.raises(RepositoryError, match="closed"):
        await repo.get_jobs(["x"])
    with pytest.raises(RepositoryError, match="closed"):
        await repo.open()


def test_the_repr_never_shows_the_dsn() -> None:
    repo = PostgresRepository("postgresql://user:s3cret@db.example/ledger")
    assert "s3cret" not in repr(repo)
    assert "example" not in repr(repo)


def test_importing_soravideo_never_imports_psycopg() -> None:
    code = (
        "import sys, soravideo, soravideo.repositories, soravideo.testing\n"
        "assert not {'psycopg', 'psycopg_pool'} & set(sys.modules), sorted(sys.modules)\n"
        "assert soravideo.repositories.PostgresRepository.__name__ == 'PostgresRepository'\n"
        "assert 'psycopg' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ImportError, match=r"soravideo\[postgres\]"):
        PostgresRepository("postgresql://localhost/ledger")


async def test_update_jobs_failing_midway_writes_none_of_them(postgres_dsn: str) -> None:
    async with PostgresRepository(postgres_dsn) as repo:
        jobs = make_jobs(3, prefix="job-midway")
        await repo.add_jobs(jobs)
        async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as admin:
            # The server fails at the last statement, as on a full disk.
            await admin.execute(
                "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
            )
            await admin.execute(
                "CREATE TRIGGER boom BEFORE UPDATE ON soravideo_jobs FOR EACH ROW "
                f"WHEN (NEW.id = '{jobs[2].id}') EXECUTE FUNCTION boom()"
            )
        updates = [
            JobUpdate(job=attrs.evolve(job, progress=40), expected_status=JobStatus.PENDING)
            for job in jobs
        ]
        with pytest.raises(RepositoryError, match="disk full"):
            await repo.update_jobs(updates)
        assert await repo.get_jobs([job.id for job in jobs]) == jobs
        assert await repo.update_jobs(updates[:2]) == [update.job for update in updates[:2]]


async def test_update_jobs_refused_by_a_unique_index_needs_no_second_connection(
    postgres_dsn: str,
) -> None:
    # A remote id taken ends the transaction; each update is then tried alone, on a
    # connection of its own: the first one must have gone back to the pool by then.
    async with PostgresRepository(postgres_dsn, min_size=1, max_size=1, timeout=5) as repo:
        owner, first, second = make_jobs(3, prefix="job-unique")
        await repo.add_jobs([attrs.evolve(owner, remote_id="video_1"), first, second])
        outcomes = await repo.update_jobs(
            [
                JobUpdate(job=attrs.evolve(first, progress=1), expected_status=JobStatus.PENDING),
                JobUpdate(
                    job=attrs.evolve(second, remote_id="video_1"), expected_status=JobStatus.PENDING
                ),
            ]
        )
    assert outcomes[0] == attrs.evolve(first, progress=1)
    assert isinstance(outcomes[1], ConflictError)
    assert owner.id in str(outcomes[1])
