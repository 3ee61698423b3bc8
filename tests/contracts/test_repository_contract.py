"""The exported repository contract, run on every built-in ledger backend.

To add a backend, write one async context manager that yields two opened, independent
handles on one fresh, empty store (the second is used to prove that concurrent claimers
never share a job), and register it in ``BACKENDS`` (plus any marks in ``BACKEND_MARKS``).
It may take any pytest fixture through ``request.getfixturevalue``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

import soravideo as sv
from soravideo.repositories import (
    JobRepository,
    MemoryRepository,
    PostgresRepository,
    SQLiteRepository,
)
from soravideo.repositories._common import DELIVERY_RETENTION, PRUNE_BATCH
from soravideo.testing.repository_contract import T0, RepositoryContract, make_batch, make_job

Handles = tuple[JobRepository, JobRepository]
Backend = Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[Handles]]


@asynccontextmanager
async def memory(request: pytest.FixtureRequest) -> AsyncIterator[Handles]:
    repository = MemoryRepository()
    yield repository, repository


@asynccontextmanager
async def sqlite(request: pytest.FixtureRequest) -> AsyncIterator[Handles]:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    new_ledger: Callable[[Path], Path] = request.getfixturevalue("new_sqlite_ledger")
    path = new_ledger(tmp_path / "ledger.db")
    first = SQLiteRepository(path)
    second = SQLiteRepository(path)
    try:
        await first.open()
        await second.open()
        yield first, second
    finally:
        await second.aclose()
        await first.aclose()


@pytest.fixture(scope="session")
def postgres_contract_schema(
    postgres_server: str, postgres_admin: Any
) -> Iterator[tuple[str, str]]:
    """This process's schema for the contract and a DSN on it; migrated by its first test."""
    from psycopg import conninfo, sql

    schema = f"soravideo_contract_{uuid.uuid4().hex[:12]}"
    postgres_admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    params = conninfo.conninfo_to_dict(postgres_server)
    options = f"{params.get('options') or ''} -c search_path={schema}".strip()
    try:
        yield schema, conninfo.make_conninfo(postgres_server, options=options)
    finally:
        postgres_admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def postgres_contract_dsn(postgres_contract_schema: tuple[str, str], postgres_admin: Any) -> str:
    """A DSN on the contract's schema, emptied: every row gone but its schema version.

    That is what a fresh migration holds. Making and migrating a schema for each test (as
    ``postgres_dsn`` does) cost more than most tests (DDL on the server); migrating a new
    schema has its own tests (tests/repositories/test_postgres.py).
    """
    from psycopg import sql

    schema, dsn = postgres_contract_schema
    tables = postgres_admin.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s"
        " AND tablename <> 'soravideo_schema_version'",
        (schema,),
    ).fetchall()
    if tables:
        names = sql.SQL(", ").join(sql.Identifier(schema, name) for (name,) in tables)
        postgres_admin.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(names))
    return dsn


@asynccontextmanager
async def postgres(request: pytest.FixtureRequest) -> AsyncIterator[Handles]:
    # The contract's schema on the session's throwaway server (tests/conftest.py), emptied;
    # two pools.
    dsn: str = request.getfixturevalue("postgres_contract_dsn")
    first, second = PostgresRepository(dsn), PostgresRepository(dsn)
    try:
        await first.open()
        await second.open()
        yield first, second
    finally:
        await second.aclose()
        await first.aclose()


BACKENDS: dict[str, Backend] = {"memory": memory, "sqlite": sqlite, "postgres": postgres}
BACKEND_MARKS: dict[str, list[pytest.MarkDecorator]] = {"postgres": [pytest.mark.postgres]}


@pytest.fixture(params=[pytest.param(name, marks=BACKEND_MARKS.get(name, [])) for name in BACKENDS])
async def handles(request: pytest.FixtureRequest) -> AsyncIterator[Handles]:
    async with BACKENDS[request.param](request) as pair:
        yield pair


class TestRepositoryContract(RepositoryContract):
    @pytest.fixture
    def repository(self, handles: Handles) -> JobRepository:
        return handles[0]

    @pytest.fixture
    def second_repository(self, handles: Handles) -> JobRepository:
        return handles[1]

    @pytest.mark.anyio
    async def test_new_jobs_that_cannot_be_sent_are_refused_whole(
        self, repository: JobRepository
    ) -> None:
        # The services validate first; the ledger keeps its own line for direct callers,
        # so no backend (PostgreSQL refuses lone surrogates at the driver) holds such a job.
        good = make_job()
        bad = make_job()
        bad = attrs.evolve(
            bad,
            request=attrs.evolve(
                bad.request, prompt="a fox \udcff", provider_options={"x": [float("nan")]}
            ),
        )
        batch = attrs.evolve(make_batch([good.id, bad.id]), name="ads \ud83d")
        with pytest.raises(sv.ValidationError) as info:
            await repository.add_jobs(
                [attrs.evolve(good, batch_id=batch.id), attrs.evolve(bad, batch_id=batch.id)],
                batch=batch,
            )
        assert set(info.value.fields) == {
            "jobs[1].request.prompt",
            "jobs[1].request.provider_options.x[0]",
            "batch.name",
        }
        assert (await repository.list_jobs()).total == 0
        assert (await repository.list_batches()).total == 0

    # -- webhook deliveries past the retention (the built-in ledgers' own rule) -------------

    @pytest.mark.anyio
    async def test_deliveries_past_the_retention_are_forgotten(
        self, repository: JobRepository, second_repository: JobRepository
    ) -> None:
        async def record(delivery_id: str, at: datetime) -> bool:
            return await repository.record_webhook_delivery(
                "replicate", delivery_id, remote_id=None, received_at=at
            )

        assert await record("msg_old", T0)
        assert await record("msg_recent", T0 + DELIVERY_RETENTION - timedelta(seconds=1))
        later = T0 + DELIVERY_RETENTION + timedelta(seconds=1)
        assert await record("msg_new", later)  # forgets msg_old, 30 days and 1 s before it

        # Seen again, through the other handle: msg_old is new once more, the others are not.
        again = [
            await second_repository.record_webhook_delivery(
                "replicate", delivery_id, remote_id=None, received_at=later
            )
            for delivery_id in ("msg_recent", "msg_new", "msg_old")
        ]
        assert again == [False, False, True]

    @pytest.mark.anyio
    async def test_a_record_forgets_at_most_a_hundred_old_deliveries(
        self, repository: JobRepository
    ) -> None:
        # A ledger that piled up deliveries drains over the next records; none waits long.
        for i in range(PRUNE_BATCH + 1):
            assert await repository.record_webhook_delivery(
                "fal", f"old_{i}", remote_id=None, received_at=T0 + timedelta(seconds=i)
            )
        later = T0 + DELIVERY_RETENTION + timedelta(days=1)
        assert await repository.record_webhook_delivery(
            "fal", "new", remote_id=None, received_at=later
        )
        # The youngest old one is still known (a duplicate); the oldest was forgotten.
        last = f"old_{PRUNE_BATCH}"
        assert not await repository.record_webhook_delivery(
            "fal", last, remote_id=None, received_at=later
        )
        assert await repository.record_webhook_delivery(
            "fal", "old_0", remote_id=None, received_at=later
        )
