"""The exported repository contract, run on every built-in ledger backend.

To add a backend, write one async context manager that yields two opened, independent
handles on one fresh, empty store (the second is used to prove that concurrent claimers
never share a job), and register it in ``BACKENDS`` (plus any marks in ``BACKEND_MARKS``).
It may take any pytest fixture through ``request.getfixturevalue``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import attrs
import pytest

import soravideo as sv
from soravideo.repositories import (
    JobRepository,
    MemoryRepository,
    PostgresRepository,
    SQLiteRepository,
)
from soravideo.testing.repository_contract import RepositoryContract, make_batch, make_job

Handles = tuple[JobRepository, JobRepository]
Backend = Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[Handles]]


@asynccontextmanager
async def memory(request: pytest.FixtureRequest) -> AsyncIterator[Handles]:
    repository = MemoryRepository()
    yield repository, repository


@asynccontextmanager
async def sqlite(request: pytest.FixtureRequest) -> AsyncIterator[Handles]:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    first = SQLiteRepository(tmp_path / "ledger.db")
    second = SQLiteRepository(tmp_path / "ledger.db")
    try:
        await first.open()
        await second.open()
        yield first, second
    finally:
        await second.aclose()
        await first.aclose()


@asynccontextmanager
async def postgres(request: pytest.FixtureRequest) -> AsyncIterator[Handles]:
    # A fresh schema on the session's throwaway server (see tests/conftest.py); two pools.
    dsn: str = request.getfixturevalue("postgres_dsn")
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
