"""The ledger contract: one pytest test class every ledger must pass.

The rules of [`JobRepository`][soravideo.repositories.JobRepository], as tests. They need
pytest, hypothesis and anyio's pytest plugin (installed with anyio). To check your own
backend, subclass
[`RepositoryContract`][soravideo.testing.repository_contract.RepositoryContract] in a test
file and provide a ``repository`` fixture that yields an **opened, empty** repository (and
closes it afterwards)::

    # tests/test_my_repository.py
    import pytest
    from soravideo.testing.repository_contract import RepositoryContract

    from my_package import MyRepository


    @pytest.fixture
    def anyio_backend():
        return "asyncio"


    class TestMyRepository(RepositoryContract):
        @pytest.fixture
        async def repository(self, tmp_path):
            repo = MyRepository(tmp_path / "ledger")
            await repo.open()
            yield repo
            await repo.aclose()

        # Optional: a second, independent handle on the same store (another connection,
        # another pool). Claims made through both at once must never share a job. The
        # default is the same object twice.
        @pytest.fixture
        async def second_repository(self, tmp_path, repository):
            other = MyRepository(tmp_path / "ledger")
            await other.open()
            yield other
            await other.aclose()

The class name of your subclass must start with ``Test`` so that pytest collects it; this
module's own name does not, so importing it never collects the suite twice. Every test
uses fixed, explicit times (``now=``), never the wall clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .._core.converter import dumps
from .._core.errors import (
    BatchNotFoundError,
    ConflictError,
    JobNotFoundError,
    ValidationError,
)
from .._core.models import (
    Batch,
    BatchProgress,
    BatchStatus,
    CreateVideoRequest,
    Job,
    JobPriority,
    JobStatus,
    VideoResult,
)
from ..repositories.base import (
    JobRepository,
    JobUpdate,
    SupportsAddClaimed,
    SupportsUpdateJobs,
)
from . import strategies as sst

__all__ = ["T0", "RepositoryContract", "make_batch", "make_job"]

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
"""The fixed "now" the suite's jobs are created around."""

_TERMINAL = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED]
_LEASE = 30.0


def make_job(
    job_id: str | None = None,
    *,
    status: JobStatus = JobStatus.PENDING,
    priority: JobPriority = JobPriority.NORMAL,
    age: float = 0.0,
    batch_id: str | None = None,
    **fields: Any,
) -> Job:
    """Build a small job created ``age`` seconds after ``T0`` (a random id by default)."""
    created = T0 + timedelta(seconds=age)
    return Job(
        id=job_id or f"job_{uuid.uuid4().hex}",
        status=status,
        request=CreateVideoRequest(prompt="a red fox in the snow", priority=priority),
        provider="fake",
        priority=priority,
        batch_id=batch_id,
        created_at=created,
        updated_at=created,
        **fields,
    )


def make_batch(
    job_ids: Sequence[str] = (),
    *,
    batch_id: str | None = None,
    status: BatchStatus = BatchStatus.PROCESSING,
    age: float = 0.0,
    key: str | None = None,
) -> Batch:
    """Build a batch created ``age`` seconds after ``T0`` (a random id by default)."""
    created = T0 + timedelta(seconds=age)
    return Batch(
        id=batch_id or f"batch_{uuid.uuid4().hex}",
        name="contract",
        job_ids=tuple(job_ids),
        status=status,
        created_at=created,
        updated_at=created,
        key=key,
    )


async def _add_batch(
    repository: JobRepository,
    count: int,
    *,
    status: BatchStatus = BatchStatus.PROCESSING,
    age: float = 0.0,
) -> tuple[Batch, list[Job]]:
    batch_id = f"batch_{uuid.uuid4().hex}"
    jobs = [make_job(batch_id=batch_id, age=age + i) for i in range(count)]
    batch = make_batch([job.id for job in jobs], batch_id=batch_id, status=status, age=age)
    await repository.add_jobs(jobs, batch=batch)
    return batch, jobs


def _ids(jobs: Sequence[Job]) -> list[str]:
    return [job.id for job in jobs]


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _claiming(repository: JobRepository) -> SupportsAddClaimed:
    """The ledger's ``add_job_claimed``; the test is skipped on a ledger without it (optional)."""
    if not isinstance(repository, SupportsAddClaimed):
        pytest.skip("no add_job_claimed (optional): a job created is added, then claimed")
    return repository


def _batching(repository: JobRepository) -> SupportsUpdateJobs:
    """The ledger's ``update_jobs``; the test is skipped on a ledger without it (optional)."""
    if not isinstance(repository, SupportsUpdateJobs):
        pytest.skip("no update_jobs (optional): the engine writes one job at a time here")
    return repository


# One update_jobs step of the comparison with update_job: which job (3: one never stored),
# its new status, the status expected, the lease owner claimed, which remote id it gets.
_STEPS = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.sampled_from(JobStatus),
        st.sampled_from([JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.COMPLETED]),
        st.sampled_from([None, None, "w1", "w2"]),
        st.sampled_from([None, 0, 1, 2]),
    ),
    min_size=1,
    max_size=8,
)
_START = st.lists(
    st.tuples(
        st.sampled_from([JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.COMPLETED]),
        st.sampled_from([None, "w1", "w2"]),
    ),
    min_size=3,
    max_size=3,
)


class RepositoryContract:
    """The rules of [`JobRepository`][soravideo.repositories.JobRepository], as tests.

    Subclass it (as ``TestSomething``) and provide the ``repository`` fixture; see the
    module's docstring. Every test starts from an empty ledger.

    Examples:
        ```python
        # tests/test_my_ledger.py: pytest runs every test of the contract on this class.
        from collections.abc import AsyncIterator
        from pathlib import Path

        import pytest
        from soravideo.repositories import SQLiteRepository
        from soravideo.testing import RepositoryContract


        class TestSQLiteLedger(RepositoryContract):
            @pytest.fixture
            async def repository(self, tmp_path: Path) -> AsyncIterator[SQLiteRepository]:
                ledger = SQLiteRepository(tmp_path / "jobs.db")  # or your own JobRepository
                await ledger.open()  # opened and empty
                yield ledger
                await ledger.aclose()
        ```
    """

    pytestmark = pytest.mark.anyio

    @pytest.fixture
    def second_repository(self, repository: JobRepository) -> JobRepository:
        """Another handle on the same store; override to give a truly separate one."""
        return repository

    # -- round trips -------------------------------------------------------------------------

    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        batch=sst.batches(complete=True, job_ids=st.just([])),
        jobs=st.lists(sst.jobs(complete=True), min_size=1, max_size=3),
    )
    async def test_jobs_and_batch_round_trip_with_every_field_set(
        self, repository: JobRepository, batch: Batch, jobs: list[Job]
    ) -> None:
        # Fresh ids (and keys, and remote ids, unique in a ledger too): hypothesis replays
        # examples against the same (growing) ledger.
        batch = attrs.evolve(batch, id=sst.fresh_id("batch"), key=sst.fresh_id("key"))
        jobs = [
            attrs.evolve(job, id=sst.fresh_id(), batch_id=batch.id, remote_id=sst.fresh_id("video"))
            for job in jobs
        ]
        batch = attrs.evolve(batch, job_ids=_ids(jobs))
        await repository.add_jobs(jobs, batch=batch)

        for job in jobs:
            assert await repository.get_job(job.id) == job
        assert await repository.get_jobs(_ids(jobs)) == jobs
        stored = await repository.get_batch(batch.id)
        counts = {status: sum(j.status is status for j in jobs) for status in JobStatus}
        assert stored == attrs.evolve(batch, progress=BatchProgress.from_counts(counts))

    async def test_get_unknown_job_raises(self, repository: JobRepository) -> None:
        with pytest.raises(JobNotFoundError) as caught:
            await repository.get_job("job_missing")
        assert caught.value.job_id == "job_missing"

    async def test_get_unknown_batch_raises(self, repository: JobRepository) -> None:
        with pytest.raises(BatchNotFoundError) as caught:
            await repository.get_batch("batch_missing")
        assert caught.value.batch_id == "batch_missing"

    async def test_get_jobs_keeps_the_order_given_and_skips_unknown_ids(
        self, repository: JobRepository
    ) -> None:
        jobs = [make_job(age=i) for i in range(3)]
        await repository.add_jobs(jobs)
        wanted = [jobs[2].id, "job_missing", jobs[0].id]
        assert _ids(await repository.get_jobs(wanted)) == [jobs[2].id, jobs[0].id]
        assert await repository.get_jobs([]) == []

    async def test_returned_jobs_are_not_shared_with_the_ledger(
        self, repository: JobRepository
    ) -> None:
        job = make_job(metadata={"k": "v"})
        await repository.add_jobs([job])
        job.metadata["k"] = "changed after add"
        first = await repository.get_job(job.id)
        first.metadata["k"] = "changed after get"
        first.request.provider_options["x"] = 1
        again = await repository.get_job(job.id)
        assert again.metadata == {"k": "v"}
        assert again.request.provider_options == {}

    async def test_an_updated_job_is_not_shared_with_the_ledger_either(
        self, repository: JobRepository
    ) -> None:
        options = {"style": {"palette": ["red"]}}
        request = CreateVideoRequest(
            prompt="a red fox", metadata={"a": "b"}, provider_options=options
        )
        job = attrs.evolve(make_job(metadata={"k": "v"}), request=request)
        await repository.add_jobs([job])
        written = attrs.evolve(await repository.get_job(job.id), progress=40)
        await repository.update_job(written, expected_status=JobStatus.PENDING)
        written.metadata["k"] = "changed after update"
        written.request.metadata["a"] = "changed after update"
        written.request.provider_options["style"]["palette"].append("blue")
        read = await repository.get_job(job.id)
        read.request.provider_options["style"]["palette"].append("green")
        again = await repository.get_job(job.id)
        assert again.progress == 40
        assert again.metadata == {"k": "v"}
        assert again.request.metadata == {"a": "b"}
        assert again.request.provider_options == {"style": {"palette": ["red"]}}

    # -- adding: all or nothing --------------------------------------------------------------

    async def test_adding_an_existing_job_id_conflicts_and_stores_nothing(
        self, repository: JobRepository
    ) -> None:
        old = make_job()
        await repository.add_jobs([old])
        new = make_job()
        with pytest.raises(ConflictError):
            await repository.add_jobs([new, make_job(old.id, age=5)])
        with pytest.raises(JobNotFoundError):
            await repository.get_job(new.id)
        assert await repository.get_job(old.id) == old

    async def test_a_duplicate_id_inside_one_batch_stores_nothing_at_all(
        self, repository: JobRepository
    ) -> None:
        batch_id = f"batch_{uuid.uuid4().hex}"
        first = make_job(batch_id=batch_id)
        twin = make_job(first.id, batch_id=batch_id, age=1)
        other = make_job(batch_id=batch_id, age=2)
        batch = make_batch([first.id, other.id, twin.id], batch_id=batch_id)
        with pytest.raises(ConflictError) as caught:
            await repository.add_jobs([first, other, twin], batch=batch)
        assert caught.value.job_id == first.id
        with pytest.raises(BatchNotFoundError):
            await repository.get_batch(batch_id)
        assert await repository.get_jobs([first.id, other.id]) == []
        assert sum((await repository.count_jobs()).values()) == 0

    async def test_an_existing_batch_id_conflicts_and_stores_nothing(
        self, repository: JobRepository
    ) -> None:
        batch, _ = await _add_batch(repository, 1)
        newcomer = make_job(batch_id=batch.id)
        with pytest.raises(ConflictError):
            await repository.add_jobs(
                [newcomer], batch=make_batch([newcomer.id], batch_id=batch.id)
            )
        with pytest.raises(JobNotFoundError):
            await repository.get_job(newcomer.id)
        assert (await repository.get_batch(batch.id)).progress.total == 1

    async def test_a_job_naming_an_unknown_batch_is_refused(
        self, repository: JobRepository
    ) -> None:
        fine, orphan = make_job(), make_job(batch_id="batch_missing")
        with pytest.raises(BatchNotFoundError):
            await repository.add_jobs([fine, orphan])
        assert await repository.get_jobs([fine.id, orphan.id]) == []
        await repository.add_jobs([fine])
        with pytest.raises(BatchNotFoundError):
            await repository.update_job(
                attrs.evolve(fine, batch_id="batch_missing"), expected_status=JobStatus.PENDING
            )
        assert await repository.get_job(fine.id) == fine

    async def test_jobs_may_join_a_batch_stored_earlier(self, repository: JobRepository) -> None:
        batch, _ = await _add_batch(repository, 1)
        late = make_job(batch_id=batch.id, age=10)
        await repository.add_jobs([late])
        assert (await repository.get_batch(batch.id)).progress.total == 2

    async def test_adding_nothing_is_allowed(self, repository: JobRepository) -> None:
        await repository.add_jobs([])
        batch = make_batch()
        await repository.add_jobs([], batch=batch)
        assert (await repository.get_batch(batch.id)).progress == BatchProgress()

    # -- batch keys: one batch per key --------------------------------------------------------

    async def test_a_batch_is_found_by_its_key_with_its_progress(
        self, repository: JobRepository
    ) -> None:
        key = sst.fresh_id("key")
        job = make_job()
        batch = make_batch([job.id], key=key)
        await repository.add_jobs([attrs.evolve(job, batch_id=batch.id)], batch=batch)
        await repository.add_jobs([], batch=make_batch())  # a batch without a key

        found = await repository.get_batch_by_key(key)
        assert found == await repository.get_batch(batch.id)
        assert found is not None
        assert found.key == key
        assert found.progress.total == 1
        assert await repository.get_batch_by_key("key_missing") is None

    async def test_a_taken_batch_key_conflicts_and_stores_nothing(
        self, repository: JobRepository
    ) -> None:
        key = sst.fresh_id("key")
        first = make_batch(key=key)
        await repository.add_jobs([], batch=first)
        second = make_batch(key=key, age=1)
        newcomer = make_job(batch_id=second.id)
        with pytest.raises(ConflictError, match=key):
            await repository.add_jobs([newcomer], batch=second)
        with pytest.raises(BatchNotFoundError):
            await repository.get_batch(second.id)
        assert await repository.get_jobs([newcomer.id]) == []
        assert (await repository.get_batch_by_key(key)) == await repository.get_batch(first.id)

    async def test_batches_racing_for_one_key_store_one(
        self, repository: JobRepository, second_repository: JobRepository
    ) -> None:
        key = sst.fresh_id("key")
        outcomes: list[str] = []

        async def add(handle: JobRepository) -> None:
            batch = make_batch(key=key)
            jobs = [make_job(batch_id=batch.id, age=i) for i in range(3)]
            try:
                await handle.add_jobs(jobs, batch=attrs.evolve(batch, job_ids=_ids(jobs)))
            except ConflictError:
                outcomes.append("conflict")
            else:
                outcomes.append(batch.id)

        async with anyio.create_task_group() as tg:
            for handle in [repository, second_repository] * 2:
                tg.start_soon(add, handle)
        winners = [outcome for outcome in outcomes if outcome != "conflict"]
        assert len(winners) == 1
        assert outcomes.count("conflict") == 3
        stored = await repository.get_batch_by_key(key)
        assert stored is not None
        assert stored.id == winners[0]
        assert sum((await repository.count_jobs()).values()) == 3

    async def test_update_batch_cannot_take_another_batchs_key(
        self, repository: JobRepository
    ) -> None:
        key = sst.fresh_id("key")
        await repository.add_jobs([], batch=make_batch(key=key))
        other = make_batch()
        await repository.add_jobs([], batch=other)
        with pytest.raises(ConflictError, match=key):
            await repository.update_batch(
                attrs.evolve(other, key=key), expected_status=other.status
            )
        assert (await repository.get_batch(other.id)).key is None

    # -- one owner per remote video ---------------------------------------------------------

    async def test_a_job_is_found_by_its_provider_and_remote_id(
        self, repository: JobRepository
    ) -> None:
        job = make_job(remote_id="video_1")
        await repository.add_jobs([job, make_job()])
        assert await repository.find_job_by_remote_id("fake", "video_1") == job
        assert await repository.find_job_by_remote_id("other", "video_1") is None
        assert await repository.find_job_by_remote_id("fake", "video_missing") is None

        later = make_job(age=1)
        await repository.add_jobs([later])
        submitted = attrs.evolve(later, status=JobStatus.PROCESSING, remote_id="video_2")
        await repository.update_job(submitted, expected_status=JobStatus.PENDING)
        assert await repository.find_job_by_remote_id("fake", "video_2") == submitted

    async def test_a_remote_id_another_job_owns_is_refused_on_update(
        self, repository: JobRepository
    ) -> None:
        owner = make_job(status=JobStatus.COMPLETED, remote_id="video_1")
        other = make_job(status=JobStatus.PROCESSING, age=1)
        await repository.add_jobs([owner, other])
        adopted = attrs.evolve(other, status=JobStatus.COMPLETED, remote_id="video_1")
        with pytest.raises(ConflictError, match="video_1") as caught:
            await repository.update_job(adopted, expected_status=JobStatus.PROCESSING)
        assert owner.id in str(caught.value)
        assert await repository.get_job(other.id) == other
        assert await repository.find_job_by_remote_id("fake", "video_1") == owner
        # The owner may be rewritten with its own remote id; another provider's id is apart.
        await repository.update_job(
            attrs.evolve(owner, progress=100), expected_status=JobStatus.COMPLETED
        )
        elsewhere = attrs.evolve(other, provider="other", remote_id="video_1")
        await repository.update_job(elsewhere, expected_status=JobStatus.PROCESSING)
        assert await repository.find_job_by_remote_id("other", "video_1") == elsewhere

    async def test_a_remote_id_given_up_may_be_taken(self, repository: JobRepository) -> None:
        first = make_job(status=JobStatus.PROCESSING, remote_id="video_1")
        second = make_job(status=JobStatus.PROCESSING, age=1)
        await repository.add_jobs([first, second])
        await repository.update_job(
            attrs.evolve(first, remote_id="video_2"), expected_status=JobStatus.PROCESSING
        )
        taken = attrs.evolve(second, remote_id="video_1")
        await repository.update_job(taken, expected_status=JobStatus.PROCESSING)
        assert await repository.find_job_by_remote_id("fake", "video_1") == taken

    async def test_a_remote_id_another_job_owns_is_refused_on_add(
        self, repository: JobRepository
    ) -> None:
        owner = make_job(remote_id="video_1", status=JobStatus.PROCESSING)
        await repository.add_jobs([owner])
        fine, copy = make_job(age=1), make_job(remote_id="video_1", age=2)
        batch = make_batch([fine.id, copy.id])
        members = [attrs.evolve(job, batch_id=batch.id) for job in (fine, copy)]
        with pytest.raises(ConflictError, match="video_1") as caught:
            await repository.add_jobs(members, batch=batch)
        assert owner.id in str(caught.value)
        assert await repository.get_jobs([fine.id, copy.id]) == []
        with pytest.raises(BatchNotFoundError):
            await repository.get_batch(batch.id)
        assert await repository.find_job_by_remote_id("fake", "video_1") == owner

    async def test_two_new_jobs_with_one_remote_id_store_nothing(
        self, repository: JobRepository
    ) -> None:
        first, twin = make_job(remote_id="video_1"), make_job(remote_id="video_1", age=1)
        with pytest.raises(ConflictError, match="video_1"):
            await repository.add_jobs([first, twin])
        assert await repository.get_jobs([first.id, twin.id]) == []
        assert await repository.find_job_by_remote_id("fake", "video_1") is None

    # -- compare-and-set ---------------------------------------------------------------------

    async def test_update_replaces_the_job_when_the_status_matches(
        self, repository: JobRepository
    ) -> None:
        job = make_job()
        await repository.add_jobs([job])
        sent = attrs.evolve(
            job, status=JobStatus.PROCESSING, remote_id="video_1", attempts=1, updated_at=_at(5)
        )
        assert await repository.update_job(sent, expected_status=JobStatus.PENDING) == sent
        assert await repository.get_job(job.id) == sent

    async def test_update_with_another_expected_status_conflicts(
        self, repository: JobRepository
    ) -> None:
        job = make_job(status=JobStatus.PROCESSING)
        await repository.add_jobs([job])
        with pytest.raises(ConflictError) as caught:
            await repository.update_job(
                attrs.evolve(job, status=JobStatus.COMPLETED), expected_status=JobStatus.PENDING
            )
        assert caught.value.job_id == job.id
        assert caught.value.expected == "pending"
        assert caught.value.actual == "processing"
        assert await repository.get_job(job.id) == job

    async def test_update_of_an_unknown_job_raises_not_found(
        self, repository: JobRepository
    ) -> None:
        with pytest.raises(JobNotFoundError):
            await repository.update_job(make_job(), expected_status=JobStatus.PENDING)

    async def test_update_checks_the_lease_owner_when_given(
        self, repository: JobRepository
    ) -> None:
        job = make_job()
        await repository.add_jobs([job])
        await repository.claim_jobs("w1", limit=1, lease_seconds=_LEASE, now=T0)
        sent = attrs.evolve(job, status=JobStatus.PROCESSING)
        with pytest.raises(ConflictError):
            await repository.update_job(sent, expected_status=JobStatus.PENDING, lease_owner="w2")
        assert (await repository.get_job(job.id)).status is JobStatus.PENDING
        await repository.update_job(sent, expected_status=JobStatus.PENDING, lease_owner="w1")
        assert (await repository.get_job(job.id)).status is JobStatus.PROCESSING
        # The lease survives a non-terminal update: nobody else may claim the job.
        assert await repository.claim_jobs("w2", limit=1, lease_seconds=_LEASE, now=_at(1)) == []

    async def test_update_with_a_lease_owner_conflicts_when_nobody_holds_the_job(
        self, repository: JobRepository
    ) -> None:
        job = make_job()
        await repository.add_jobs([job])
        with pytest.raises(ConflictError):
            await repository.update_job(
                attrs.evolve(job, progress=5), expected_status=JobStatus.PENDING, lease_owner="w1"
            )

    @pytest.mark.parametrize("final", _TERMINAL)
    async def test_a_terminal_status_is_final(
        self, repository: JobRepository, final: JobStatus
    ) -> None:
        job = make_job(status=final, completed_at=_at(9))
        await repository.add_jobs([job])
        for status in JobStatus:
            if status is final:
                continue
            with pytest.raises(ConflictError):
                await repository.update_job(attrs.evolve(job, status=status), expected_status=final)
        assert await repository.get_job(job.id) == job
        # A terminal job may still be rewritten, e.g. to record where its video went.
        noted = attrs.evolve(
            job, result=VideoResult(remote_id="video_9", path="/tmp/v.mp4"), updated_at=_at(10)
        )
        assert await repository.update_job(noted, expected_status=final) == noted
        assert await repository.get_job(job.id) == noted

    async def test_a_job_that_ends_gives_up_its_lease(self, repository: JobRepository) -> None:
        job = make_job()
        await repository.add_jobs([job])
        await repository.claim_jobs("w1", limit=1, lease_seconds=_LEASE, now=T0)
        done = attrs.evolve(job, status=JobStatus.COMPLETED, completed_at=_at(2))
        await repository.update_job(done, expected_status=JobStatus.PENDING, lease_owner="w1")
        assert await repository.renew_lease([job.id], "w1", lease_seconds=_LEASE, now=_at(3)) == []
        assert await repository.claim_jobs("w2", limit=1, lease_seconds=_LEASE, now=_at(99)) == []

    # -- many compare-and-sets at once (update_jobs, optional) -------------------------------

    async def test_update_jobs_writes_each_job_and_says_what_refused_the_others(
        self, repository: JobRepository
    ) -> None:
        batching = _batching(repository)
        fine = make_job(status=JobStatus.PROCESSING, remote_id="video_1")
        moved = make_job(status=JobStatus.PROCESSING, age=1)
        done = make_job(status=JobStatus.COMPLETED, age=2, completed_at=_at(3))
        await repository.add_jobs([fine, moved, done])
        ghost = make_job(age=3)
        updates = [
            JobUpdate(
                job=attrs.evolve(fine, progress=50, updated_at=_at(5)),
                expected_status=JobStatus.PROCESSING,
            ),
            # Expects pending, finds processing.
            JobUpdate(
                job=attrs.evolve(moved, status=JobStatus.COMPLETED),
                expected_status=JobStatus.PENDING,
            ),
            JobUpdate(job=ghost, expected_status=JobStatus.PENDING),  # never stored
            JobUpdate(  # a terminal status is final
                job=attrs.evolve(done, status=JobStatus.PROCESSING),
                expected_status=JobStatus.COMPLETED,
            ),
            JobUpdate(  # after a refused update of the same job: written
                job=attrs.evolve(moved, progress=10), expected_status=JobStatus.PROCESSING
            ),
        ]
        outcomes = await batching.update_jobs(updates)
        assert len(outcomes) == len(updates)
        assert outcomes[0] == updates[0].job
        refused = outcomes[1]
        assert isinstance(refused, ConflictError)
        assert (refused.job_id, refused.expected, refused.actual) == (
            moved.id,
            "pending",
            "processing",
        )
        assert isinstance(outcomes[2], JobNotFoundError)
        assert outcomes[2].job_id == ghost.id
        assert isinstance(outcomes[3], ConflictError)
        assert outcomes[3].job_id == done.id
        assert outcomes[4] == updates[4].job
        assert await repository.get_jobs([fine.id, moved.id, done.id]) == [
            updates[0].job,
            updates[4].job,
            done,
        ]
        assert await repository.get_jobs([ghost.id]) == []
        assert await batching.update_jobs([]) == []

    async def test_update_jobs_sees_the_updates_before_it(self, repository: JobRepository) -> None:
        batching = _batching(repository)
        job = make_job()
        await repository.add_jobs([job])
        sent = attrs.evolve(job, status=JobStatus.PROCESSING, attempts=1)
        done = attrs.evolve(sent, status=JobStatus.COMPLETED, progress=100, completed_at=_at(2))
        outcomes = await batching.update_jobs(
            [
                JobUpdate(job=sent, expected_status=JobStatus.PENDING),
                JobUpdate(job=sent, expected_status=JobStatus.PENDING),  # not pending any more
                JobUpdate(job=done, expected_status=JobStatus.PROCESSING),
                JobUpdate(job=sent, expected_status=JobStatus.COMPLETED),  # final
            ]
        )
        assert outcomes[0] == sent
        assert isinstance(outcomes[1], ConflictError)
        assert (outcomes[1].expected, outcomes[1].actual) == ("pending", "processing")
        assert outcomes[2] == done
        assert isinstance(outcomes[3], ConflictError)
        assert (outcomes[3].expected, outcomes[3].actual) == ("completed", "completed")
        assert await repository.get_job(job.id) == done

    async def test_update_jobs_checks_each_lease_owner(self, repository: JobRepository) -> None:
        batching = _batching(repository)
        mine, theirs, loose, ending = (make_job(age=i) for i in range(4))
        await repository.add_jobs([mine, theirs, loose, ending])
        for job, owner in ((mine, "w1"), (theirs, "w2"), (ending, "w1")):
            await repository.claim_jobs(
                owner, limit=1, lease_seconds=_LEASE, now=T0, job_ids=[job.id]
            )
        sent = {job.id: attrs.evolve(job, status=JobStatus.PROCESSING) for job in (mine, theirs)}
        outcomes = await batching.update_jobs(
            [
                JobUpdate(job=sent[mine.id], expected_status=JobStatus.PENDING, lease_owner="w1"),
                JobUpdate(job=sent[theirs.id], expected_status=JobStatus.PENDING, lease_owner="w1"),
                JobUpdate(  # nobody holds it: no lease owner matches
                    job=attrs.evolve(loose, progress=5),
                    expected_status=JobStatus.PENDING,
                    lease_owner="w1",
                ),
                JobUpdate(  # no owner given: not checked
                    job=attrs.evolve(theirs, progress=5), expected_status=JobStatus.PENDING
                ),
                JobUpdate(  # it ends, and gives its lease up
                    job=attrs.evolve(ending, status=JobStatus.FAILED, completed_at=_at(1)),
                    expected_status=JobStatus.PENDING,
                    lease_owner="w1",
                ),
            ]
        )
        assert outcomes[0] == sent[mine.id]
        assert isinstance(outcomes[1], ConflictError)
        assert "w2" in str(outcomes[1])
        assert isinstance(outcomes[2], ConflictError)
        assert outcomes[3] == attrs.evolve(theirs, progress=5)
        assert isinstance(outcomes[4], Job)
        assert (await repository.get_job(theirs.id)).progress == 5
        assert (await repository.get_job(loose.id)) == loose
        # The leases outlive the writes that keep a job unfinished; an ended job's is gone.
        held = [mine.id, ending.id]
        assert await repository.renew_lease(held, "w1", lease_seconds=_LEASE, now=_at(1)) == [
            mine.id
        ]
        assert await repository.renew_lease([theirs.id], "w2", lease_seconds=5, now=_at(1)) == [
            theirs.id
        ]

    @pytest.mark.parametrize("final", _TERMINAL)
    async def test_update_jobs_keeps_a_terminal_status_final(
        self, repository: JobRepository, final: JobStatus
    ) -> None:
        batching = _batching(repository)
        job = make_job(status=final, completed_at=_at(9))
        await repository.add_jobs([job])
        noted = attrs.evolve(job, result=VideoResult(remote_id="video_9"), updated_at=_at(10))
        changes = [
            JobUpdate(job=attrs.evolve(job, status=status), expected_status=final)
            for status in JobStatus
            if status is not final
        ]
        outcomes = await batching.update_jobs(
            [*changes, JobUpdate(job=noted, expected_status=final)]
        )
        assert all(isinstance(outcome, ConflictError) for outcome in outcomes[:-1])
        assert outcomes[-1] == noted
        assert await repository.get_job(job.id) == noted

    async def test_update_jobs_keeps_one_owner_per_remote_video(
        self, repository: JobRepository
    ) -> None:
        batching = _batching(repository)
        owner = make_job(status=JobStatus.PROCESSING, remote_id="video_1")
        first, second, third = (make_job(status=JobStatus.PROCESSING, age=i + 1) for i in range(3))
        await repository.add_jobs([owner, first, second, third])

        def giving(job: Job, remote_id: str) -> JobUpdate:
            return JobUpdate(
                job=attrs.evolve(job, remote_id=remote_id), expected_status=JobStatus.PROCESSING
            )

        outcomes = await batching.update_jobs(
            [
                giving(first, "video_1"),  # the ledger's owner has it
                giving(first, "video_2"),
                giving(second, "video_2"),  # an update before it in the batch gave it away
                giving(owner, "video_3"),  # the owner gives video_1 up...
                giving(third, "video_1"),  # ...so it may be taken now
            ]
        )
        taken_by_owner, _, taken_by_first, _, _ = outcomes
        assert isinstance(taken_by_owner, ConflictError)
        assert "video_1" in str(taken_by_owner)
        assert owner.id in str(taken_by_owner)
        assert isinstance(taken_by_first, ConflictError)
        assert "video_2" in str(taken_by_first)
        assert first.id in str(taken_by_first)
        assert [isinstance(outcome, Job) for outcome in outcomes] == [
            False,
            True,
            False,
            True,
            True,
        ]
        found = {
            remote_id: await repository.find_job_by_remote_id("fake", remote_id)
            for remote_id in ("video_1", "video_2", "video_3")
        }
        assert {remote_id: job and job.id for remote_id, job in found.items()} == {
            "video_1": third.id,
            "video_2": first.id,
            "video_3": owner.id,
        }
        assert await repository.get_job(second.id) == second

    async def test_update_jobs_refuses_an_unknown_batch_for_that_job_alone(
        self, repository: JobRepository
    ) -> None:
        batching = _batching(repository)
        orphan, fine = make_job(), make_job(age=1)
        await repository.add_jobs([orphan, fine])
        outcomes = await batching.update_jobs(
            [
                JobUpdate(
                    job=attrs.evolve(orphan, batch_id="batch_missing"),
                    expected_status=JobStatus.PENDING,
                ),
                JobUpdate(job=attrs.evolve(fine, progress=3), expected_status=JobStatus.PENDING),
            ]
        )
        assert isinstance(outcomes[0], BatchNotFoundError)
        assert outcomes[1] == attrs.evolve(fine, progress=3)
        assert await repository.get_job(orphan.id) == orphan

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(start=_START, steps=_STEPS)
    async def test_update_jobs_has_the_outcomes_of_update_job_one_at_a_time(
        self,
        repository: JobRepository,
        start: list[tuple[JobStatus, str | None]],
        steps: list[tuple[int, JobStatus, JobStatus, str | None, int | None]],
    ) -> None:
        batching = _batching(repository)
        # The same jobs twice, under two fresh tags: one set updated a job at a time with
        # update_job, the other with one update_jobs; their outcomes and ledgers must agree.
        one, many = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]

        async def stored(tag: str) -> list[Job]:
            jobs = [
                make_job(
                    f"job_{tag}_{i}",
                    status=status,
                    age=i,
                    remote_id=f"video_{tag}_{i}" if i < 2 else None,
                )
                for i, (status, _) in enumerate(start)
            ]
            await repository.add_jobs(jobs)
            for job, (status, owner) in zip(jobs, start, strict=True):
                if owner is not None and not status.is_terminal:
                    await repository.claim_jobs(
                        owner, limit=1, lease_seconds=_LEASE, now=T0, job_ids=[job.id]
                    )
            return [*jobs, make_job(f"job_{tag}_3", age=3)]

        def updates(tag: str, jobs: list[Job]) -> list[JobUpdate]:
            return [
                JobUpdate(
                    job=attrs.evolve(
                        jobs[which],
                        status=status,
                        progress=n,
                        remote_id=None if remote is None else f"video_{tag}_{remote}",
                    ),
                    expected_status=expected,
                    lease_owner=owner,
                )
                for n, (which, status, expected, owner, remote) in enumerate(steps)
            ]

        alone: list[Any] = []
        for update in updates(one, await stored(one)):
            try:
                alone.append(
                    await repository.update_job(
                        update.job,
                        expected_status=update.expected_status,
                        lease_owner=update.lease_owner,
                    )
                )
            except (ConflictError, JobNotFoundError, BatchNotFoundError) as exc:
                alone.append(exc)
        together = await batching.update_jobs(updates(many, await stored(many)))

        def seen(outcome: Any, tag: str) -> Any:
            if isinstance(outcome, Job):
                return dumps(outcome).replace(tag, "TAG")
            return (type(outcome), str(outcome).replace(tag, "TAG"))

        assert [seen(o, many) for o in together] == [seen(o, one) for o in alone]
        ledgers = [
            [
                seen(job, tag)
                for job in await repository.get_jobs([f"job_{tag}_{i}" for i in range(4)])
            ]
            for tag in (one, many)
        ]
        assert ledgers[0] == ledgers[1]

    async def test_racing_update_jobs_write_each_job_once(
        self, repository: JobRepository, second_repository: JobRepository
    ) -> None:
        _batching(repository)
        jobs = [make_job(age=i) for i in range(12)]
        await repository.add_jobs(jobs)
        written: dict[str, list[JobStatus]] = {job.id: [] for job in jobs}

        async def move(handle: JobRepository, status: JobStatus, order: list[Job]) -> None:
            outcomes = await _batching(handle).update_jobs(
                [
                    JobUpdate(
                        job=attrs.evolve(job, status=status), expected_status=JobStatus.PENDING
                    )
                    for job in order
                ]
            )
            for job, outcome in zip(order, outcomes, strict=True):
                if isinstance(outcome, Job):
                    written[job.id].append(status)
                else:
                    assert isinstance(outcome, ConflictError)

        async with anyio.create_task_group() as tg:
            tg.start_soon(move, repository, JobStatus.PROCESSING, jobs)
            tg.start_soon(move, second_repository, JobStatus.CANCELLED, jobs[::-1])
        assert all(len(statuses) == 1 for statuses in written.values()), written
        stored = await repository.get_jobs(_ids(jobs))
        assert [job.status for job in stored] == [written[job.id][0] for job in jobs]

    # -- claims and leases -------------------------------------------------------------------

    async def test_claims_go_by_priority_then_age(self, repository: JobRepository) -> None:
        low_old = make_job(priority=JobPriority.LOW, age=0)
        normal_new = make_job(priority=JobPriority.NORMAL, age=30)
        normal_old = make_job(priority=JobPriority.NORMAL, age=10)
        urgent_new = make_job(priority=JobPriority.URGENT, age=40)
        high = make_job(priority=JobPriority.HIGH, age=20)
        await repository.add_jobs([low_old, normal_new, normal_old, urgent_new, high])
        first = await repository.claim_jobs("w1", limit=2, lease_seconds=_LEASE, now=_at(50))
        assert _ids(first) == [urgent_new.id, high.id]
        rest = await repository.claim_jobs("w1", limit=10, lease_seconds=_LEASE, now=_at(50))
        assert _ids(rest) == [normal_old.id, normal_new.id, low_old.id]

    async def test_claims_break_ties_in_age_by_id(self, repository: JobRepository) -> None:
        jobs = [make_job(f"job_{c}") for c in "cab"]
        await repository.add_jobs(jobs)
        claimed = await repository.claim_jobs("w1", limit=3, lease_seconds=_LEASE, now=T0)
        assert _ids(claimed) == ["job_a", "job_b", "job_c"]

    async def test_claimed_jobs_come_back_as_stored(self, repository: JobRepository) -> None:
        job = make_job(metadata={"team": "ads"}, remote_id="video_7", status=JobStatus.PROCESSING)
        await repository.add_jobs([job])
        assert await repository.claim_jobs("w1", limit=1, lease_seconds=_LEASE, now=T0) == [job]

    async def test_finished_jobs_are_never_claimed(self, repository: JobRepository) -> None:
        await repository.add_jobs([make_job(status=status) for status in _TERMINAL])
        assert await repository.claim_jobs("w1", limit=9, lease_seconds=_LEASE, now=T0) == []

    async def test_in_flight_jobs_without_a_lease_are_claimed_to_be_resumed(
        self, repository: JobRepository
    ) -> None:
        job = make_job(status=JobStatus.PROCESSING, remote_id="video_1")
        await repository.add_jobs([job])
        assert _ids(await repository.claim_jobs("w1", limit=1, lease_seconds=1, now=T0)) == [job.id]

    async def test_a_lease_keeps_a_job_from_every_claimer_until_it_expires(
        self, repository: JobRepository
    ) -> None:
        job = make_job()
        await repository.add_jobs([job])
        assert _ids(await repository.claim_jobs("w1", limit=5, lease_seconds=_LEASE, now=T0)) == [
            job.id
        ]
        before_expiry = _at(_LEASE - 1)
        assert await repository.claim_jobs("w2", limit=5, lease_seconds=5, now=before_expiry) == []
        assert await repository.claim_jobs("w1", limit=5, lease_seconds=5, now=before_expiry) == []
        after_expiry = _at(_LEASE + 1)
        taken = await repository.claim_jobs("w2", limit=5, lease_seconds=5, now=after_expiry)
        assert _ids(taken) == [job.id]
        # The first owner lost it: its lease can neither be renewed nor used to write.
        assert await repository.renew_lease([job.id], "w1", lease_seconds=5, now=after_expiry) == []
        with pytest.raises(ConflictError):
            await repository.update_job(
                attrs.evolve(job, status=JobStatus.PROCESSING),
                expected_status=JobStatus.PENDING,
                lease_owner="w1",
            )

    async def test_claims_respect_limit_batch_and_job_ids(self, repository: JobRepository) -> None:
        batch, members = await _add_batch(repository, 3, age=0)
        loose = [make_job(age=10 + i) for i in range(3)]
        await repository.add_jobs(loose)
        assert await repository.claim_jobs("w", limit=0, lease_seconds=_LEASE, now=T0) == []
        assert (
            await repository.claim_jobs("w", limit=5, lease_seconds=_LEASE, now=T0, job_ids=[])
            == []
        )
        in_batch = await repository.claim_jobs(
            "w", limit=2, lease_seconds=_LEASE, now=_at(20), batch_id=batch.id
        )
        assert _ids(in_batch) == _ids(members[:2])
        again = await repository.claim_jobs(
            "w", limit=5, lease_seconds=_LEASE, now=_at(20), batch_id=batch.id
        )
        assert _ids(again) == [members[2].id]
        chosen = await repository.claim_jobs(
            "w",
            limit=5,
            lease_seconds=_LEASE,
            now=_at(20),
            job_ids=[loose[2].id, members[0].id, loose[0].id, "job_missing"],
        )
        # members[0] is already leased; the rest come in claim order.
        assert _ids(chosen) == [loose[0].id, loose[2].id]
        remaining = await repository.claim_jobs("w", limit=9, lease_seconds=_LEASE, now=_at(20))
        assert _ids(remaining) == [loose[1].id]

    async def test_claims_hold_back_the_pending_jobs_of_a_pending_batch(
        self, repository: JobRepository
    ) -> None:
        batch, members = await _add_batch(repository, 2, status=BatchStatus.PENDING)
        in_flight = make_job(status=JobStatus.PROCESSING, batch_id=batch.id, age=5)
        loose = make_job(age=10)
        await repository.add_jobs([in_flight, loose])
        claimed = await repository.claim_jobs("w", limit=9, lease_seconds=_LEASE, now=_at(20))
        assert _ids(claimed) == [in_flight.id, loose.id]
        # Naming the batch (or the jobs) claims them even while the batch is pending.
        by_id = await repository.claim_jobs(
            "w", limit=9, lease_seconds=_LEASE, now=_at(20), job_ids=[members[1].id]
        )
        assert _ids(by_id) == [members[1].id]
        await repository.update_batch(
            attrs.evolve(batch, status=BatchStatus.PROCESSING), expected_status=BatchStatus.PENDING
        )
        released = await repository.claim_jobs("w", limit=9, lease_seconds=_LEASE, now=_at(20))
        assert _ids(released) == [members[0].id]

    async def test_two_claimers_never_get_the_same_job(
        self, repository: JobRepository, second_repository: JobRepository
    ) -> None:
        jobs = [make_job(priority=list(JobPriority)[i % 4], age=i) for i in range(40)]
        await repository.add_jobs(jobs)
        claims: list[list[str]] = []

        async def claimer(handle: JobRepository, owner: str) -> None:
            while batch := await handle.claim_jobs(owner, limit=3, lease_seconds=_LEASE, now=T0):
                claims.append(_ids(batch))

        async with anyio.create_task_group() as tg:
            for n in range(3):
                tg.start_soon(claimer, repository, f"a{n}")
                tg.start_soon(claimer, second_repository, f"b{n}")
        claimed = [job_id for batch in claims for job_id in batch]
        assert sorted(claimed) == sorted(_ids(jobs))

    async def test_renewing_extends_only_the_owners_leases(self, repository: JobRepository) -> None:
        mine, theirs = make_job(age=0), make_job(age=1)
        await repository.add_jobs([mine, theirs])
        await repository.claim_jobs("w1", limit=1, lease_seconds=10, now=T0)
        await repository.claim_jobs("w2", limit=1, lease_seconds=10, now=T0)
        renewed = await repository.renew_lease(
            [theirs.id, mine.id, "job_missing"], "w1", lease_seconds=10, now=_at(8)
        )
        assert renewed == [mine.id]
        # w2's lease ended at T0+10; w1's now ends at T0+18.
        assert _ids(await repository.claim_jobs("w3", limit=9, lease_seconds=60, now=_at(12))) == [
            theirs.id
        ]
        assert await repository.claim_jobs("w3", limit=9, lease_seconds=5, now=_at(17)) == []
        assert _ids(await repository.claim_jobs("w3", limit=9, lease_seconds=5, now=_at(19))) == [
            mine.id
        ]

    async def test_releasing_frees_only_the_owners_leases(self, repository: JobRepository) -> None:
        mine, theirs = make_job(age=0), make_job(age=1)
        await repository.add_jobs([mine, theirs])
        await repository.claim_jobs("w1", limit=1, lease_seconds=_LEASE, now=T0)
        await repository.claim_jobs("w2", limit=1, lease_seconds=_LEASE, now=T0)
        await repository.release_lease([mine.id, theirs.id], "w1")
        await repository.release_lease([], "w1")
        assert _ids(await repository.claim_jobs("w3", limit=9, lease_seconds=5, now=_at(1))) == [
            mine.id
        ]

    @pytest.mark.parametrize("lease_seconds", [0, -1.5])
    async def test_a_lease_must_last(self, repository: JobRepository, lease_seconds: float) -> None:
        await repository.add_jobs([make_job()])
        with pytest.raises(ValidationError) as caught:
            await repository.claim_jobs("w", limit=1, lease_seconds=lease_seconds, now=T0)
        assert caught.value.fields == ("lease_seconds",)

    # -- a job added already leased (add_job_claimed, optional) -----------------------------

    async def test_a_job_added_claimed_alone_is_leased_to_its_creator(
        self, repository: JobRepository
    ) -> None:
        claiming = _claiming(repository)
        job = make_job(age=50)
        leased = await claiming.add_job_claimed(job, owner="me", lease_seconds=_LEASE, now=_at(100))
        assert leased == job
        assert leased is not job  # a copy of its own, as a claim returns
        assert await repository.get_job(job.id) == job
        assert (
            await repository.claim_jobs("other", limit=9, lease_seconds=_LEASE, now=_at(100)) == []
        )
        assert await repository.renew_lease([job.id], "me", lease_seconds=_LEASE, now=_at(100)) == [
            job.id
        ]
        # Once its lease expires it is claimable again, as any claimed job.
        later = _at(100 + _LEASE + 1)
        again = await repository.claim_jobs("other", limit=9, lease_seconds=_LEASE, now=later)
        assert _ids(again) == [job.id]

    @pytest.mark.parametrize("waiting", ["unleased", "lease expired", "processing, unleased"])
    async def test_a_job_waiting_for_a_claim_keeps_its_turn(
        self, repository: JobRepository, waiting: str
    ) -> None:
        claiming = _claiming(repository)
        if waiting == "processing, unleased":  # a create whose worker is gone: taken over
            older = make_job(age=1, status=JobStatus.PROCESSING, remote_id="video_older")
        else:
            older = make_job(age=1)
        await repository.add_jobs([older])
        if waiting == "lease expired":
            await repository.claim_jobs("dead", limit=1, lease_seconds=_LEASE, now=T0)
        new = make_job(age=50)
        assert (
            await claiming.add_job_claimed(new, owner="me", lease_seconds=_LEASE, now=_at(100))
            is None
        )
        assert await repository.get_job(new.id) == new
        taken = await repository.claim_jobs("me", limit=9, lease_seconds=_LEASE, now=_at(100))
        assert _ids(taken) == [older.id, new.id]

    async def test_held_and_leased_jobs_do_not_stop_a_job_added_claimed(
        self, repository: JobRepository
    ) -> None:
        claiming = _claiming(repository)
        batch = make_batch(status=BatchStatus.PENDING)  # its pending jobs are held
        held = make_job(age=1, batch_id=batch.id)
        await repository.add_jobs([held], batch=attrs.evolve(batch, job_ids=(held.id,)))
        await repository.add_jobs([make_job(age=2)])
        await repository.claim_jobs("someone", limit=1, lease_seconds=_LEASE, now=_at(100))
        new = make_job(age=50)
        leased = await claiming.add_job_claimed(new, owner="me", lease_seconds=_LEASE, now=_at(100))
        assert leased == new

    async def test_a_job_added_claimed_is_refused_as_add_jobs_refuses_it(
        self, repository: JobRepository
    ) -> None:
        claiming = _claiming(repository)
        job = make_job(age=5)
        await repository.add_jobs([job])
        with pytest.raises(ConflictError):
            await claiming.add_job_claimed(job, owner="me", lease_seconds=_LEASE, now=_at(100))
        unsendable = make_job(age=6, metadata={"x": "\ud800"})
        with pytest.raises(ValidationError):
            await claiming.add_job_claimed(
                unsendable, owner="me", lease_seconds=_LEASE, now=_at(100)
            )
        with pytest.raises(ValidationError):
            await claiming.add_job_claimed(make_job(age=7), owner="me", lease_seconds=0, now=T0)
        assert _ids((await repository.list_jobs()).items) == [job.id]
        taken = await repository.claim_jobs("other", limit=9, lease_seconds=_LEASE, now=_at(100))
        assert _ids(taken) == [job.id]

    async def test_a_job_of_a_batch_added_claimed_is_only_added(
        self, repository: JobRepository
    ) -> None:
        claiming = _claiming(repository)
        batch = make_batch()
        await repository.add_jobs([], batch=batch)
        job = make_job(age=5, batch_id=batch.id)
        assert (
            await claiming.add_job_claimed(job, owner="me", lease_seconds=_LEASE, now=_at(100))
            is None
        )
        assert await repository.get_job(job.id) == job

    # -- listings and counts -----------------------------------------------------------------

    async def test_an_empty_ledger_lists_an_empty_page(self, repository: JobRepository) -> None:
        page = await repository.list_jobs()
        assert (page.items, page.page, page.limit, page.total, page.pages, page.has_next) == (
            (),
            1,
            20,
            0,
            0,
            False,
        )
        assert (await repository.list_batches()).items == ()

    async def test_jobs_are_listed_newest_first_with_ties_by_id(
        self, repository: JobRepository
    ) -> None:
        old, new = make_job(age=0), make_job(age=60)
        twins = [make_job(f"job_tie_{c}", age=30) for c in "bca"]
        await repository.add_jobs([old, *twins, new])
        expected = [new.id, "job_tie_c", "job_tie_b", "job_tie_a", old.id]
        assert _ids((await repository.list_jobs()).items) == expected
        pages = [await repository.list_jobs(page=n, limit=2) for n in (1, 2, 3)]
        assert [job_id for p in pages for job_id in _ids(p.items)] == expected
        by_status = [
            await repository.list_jobs(status=JobStatus.PENDING, page=n, limit=2) for n in (1, 2, 3)
        ]
        assert [job_id for p in by_status for job_id in _ids(p.items)] == expected

    async def test_pages_cover_every_job_once(self, repository: JobRepository) -> None:
        jobs = [make_job(age=i) for i in range(5)]
        await repository.add_jobs(jobs)
        newest_first = _ids(jobs)[::-1]

        first = await repository.list_jobs(page=1, limit=2)
        assert _ids(first.items) == newest_first[:2]
        assert (first.total, first.pages, first.has_next) == (5, 3, True)
        last = await repository.list_jobs(page=3, limit=2)
        assert _ids(last.items) == newest_first[4:]
        assert (last.total, last.pages, last.has_next) == (5, 3, False)
        singles = [await repository.list_jobs(page=n, limit=1) for n in range(1, 6)]
        assert [_ids(p.items)[0] for p in singles] == newest_first
        assert singles[-1].has_next is False
        past = await repository.list_jobs(page=4, limit=2)
        assert (past.items, past.page, past.total, past.pages, past.has_next) == (
            (),
            4,
            5,
            3,
            False,
        )
        whole = await repository.list_jobs(limit=5)
        assert (_ids(whole.items), whole.pages, whole.has_next) == (newest_first, 1, False)

    async def test_listings_filter_by_status_and_batch(self, repository: JobRepository) -> None:
        batch, members = await _add_batch(repository, 3, age=0)
        done = attrs.evolve(members[1], status=JobStatus.COMPLETED)
        await repository.update_job(done, expected_status=JobStatus.PENDING)
        loose_done = make_job(status=JobStatus.COMPLETED, age=10)
        loose = make_job(age=11)
        await repository.add_jobs([loose_done, loose])

        by_status = await repository.list_jobs(status=JobStatus.COMPLETED)
        assert _ids(by_status.items) == [loose_done.id, done.id]
        by_batch = await repository.list_jobs(batch_id=batch.id)
        assert _ids(by_batch.items) == _ids(members)[::-1]
        both = await repository.list_jobs(status=JobStatus.PENDING, batch_id=batch.id, limit=1)
        assert (_ids(both.items), both.total, both.has_next) == ([members[2].id], 2, True)
        nothing = await repository.list_jobs(status=JobStatus.FAILED, batch_id=batch.id)
        assert (nothing.items, nothing.total) == ((), 0)
        assert (await repository.list_jobs(batch_id="batch_missing")).total == 0

    @pytest.mark.parametrize(
        ("page", "limit", "fields"),
        [
            (0, 20, ("page",)),
            (-1, 20, ("page",)),
            (1, 0, ("limit",)),
            (1, 1001, ("limit",)),
            (0, 0, ("page", "limit")),
        ],
    )
    async def test_listings_refuse_bad_pages(
        self, repository: JobRepository, page: int, limit: int, fields: tuple[str, ...]
    ) -> None:
        with pytest.raises(ValidationError) as caught:
            await repository.list_jobs(page=page, limit=limit)
        assert caught.value.fields == fields
        with pytest.raises(ValidationError) as caught:
            await repository.list_batches(page=page, limit=limit)
        assert caught.value.fields == fields

    async def test_the_largest_page_is_allowed(self, repository: JobRepository) -> None:
        await repository.add_jobs([make_job()])
        assert (await repository.list_jobs(limit=1000)).total == 1

    async def test_counts_name_every_status(self, repository: JobRepository) -> None:
        assert await repository.count_jobs() == dict.fromkeys(JobStatus, 0)
        batch, _ = await _add_batch(repository, 2)
        await repository.add_jobs(
            [make_job(status=JobStatus.FAILED), make_job(status=JobStatus.FAILED, age=1)]
        )
        expected = dict.fromkeys(JobStatus, 0)
        assert await repository.count_jobs() == {
            **expected,
            JobStatus.PENDING: 2,
            JobStatus.FAILED: 2,
        }
        assert await repository.count_jobs(batch_id=batch.id) == {**expected, JobStatus.PENDING: 2}
        assert await repository.count_jobs(batch_id="batch_missing") == expected

    # -- batches -----------------------------------------------------------------------------

    async def test_batch_progress_is_derived_from_its_jobs(self, repository: JobRepository) -> None:
        batch, members = await _add_batch(repository, 3)
        assert (await repository.get_batch(batch.id)).progress == BatchProgress(
            total=3, pending=3, percentage=0.0
        )
        for job, status in zip(members, [JobStatus.PROCESSING, JobStatus.COMPLETED], strict=False):
            await repository.update_job(
                attrs.evolve(job, status=status), expected_status=JobStatus.PENDING
            )
        assert (await repository.get_batch(batch.id)).progress == BatchProgress(
            total=3, completed=1, pending=2, percentage=33.33
        )

    async def test_update_batch_is_a_compare_and_set(self, repository: JobRepository) -> None:
        batch, members = await _add_batch(repository, 2, status=BatchStatus.PENDING)
        await repository.update_job(
            attrs.evolve(members[0], status=JobStatus.CANCELLED), expected_status=JobStatus.PENDING
        )
        running = attrs.evolve(
            batch, status=BatchStatus.PROCESSING, metadata={"run": "1"}, updated_at=_at(3)
        )
        stored = await repository.update_batch(running, expected_status=BatchStatus.PENDING)
        assert stored == attrs.evolve(
            running, progress=BatchProgress(total=2, cancelled=1, pending=1, percentage=50.0)
        )
        assert await repository.get_batch(batch.id) == stored
        with pytest.raises(ConflictError) as caught:
            await repository.update_batch(
                attrs.evolve(batch, status=BatchStatus.CANCELLED),
                expected_status=BatchStatus.PENDING,
            )
        assert (caught.value.expected, caught.value.actual) == ("pending", "processing")
        assert await repository.get_batch(batch.id) == stored
        with pytest.raises(BatchNotFoundError):
            await repository.update_batch(make_batch(), expected_status=BatchStatus.PROCESSING)

    async def test_batches_are_listed_newest_first_with_progress(
        self, repository: JobRepository
    ) -> None:
        created = [await _add_batch(repository, n + 1, age=n * 10) for n in range(3)]
        newest_first = [batch.id for batch, _ in reversed(created)]
        page = await repository.list_batches()
        assert [batch.id for batch in page.items] == newest_first
        assert [batch.progress.total for batch in page.items] == [3, 2, 1]
        second = await repository.list_batches(page=2, limit=2)
        assert ([b.id for b in second.items], second.total, second.pages, second.has_next) == (
            newest_first[2:],
            3,
            2,
            False,
        )
        assert (await repository.list_batches(page=3, limit=2)).items == ()

    # -- webhook deliveries ([W2-7]) ---------------------------------------------------------

    async def test_a_webhook_delivery_is_recorded_once_per_provider(
        self, repository: JobRepository, second_repository: JobRepository
    ) -> None:
        first = await repository.record_webhook_delivery(
            "replicate", "msg_1", remote_id="video_1", received_at=_at(0)
        )
        # Again, through another handle on the same store (another process): a duplicate.
        again = await second_repository.record_webhook_delivery(
            "replicate", "msg_1", remote_id="video_1", received_at=_at(5)
        )
        other_provider = await repository.record_webhook_delivery(
            "fal", "msg_1", remote_id=None, received_at=_at(5)
        )
        assert (first, again, other_provider) == (True, False, True)

    async def test_a_forgotten_webhook_delivery_can_be_recorded_again(
        self, repository: JobRepository
    ) -> None:
        assert await repository.record_webhook_delivery(
            "gemini", "msg_2", remote_id="video_2", received_at=_at(0)
        )
        await repository.forget_webhook_delivery("gemini", "msg_2")
        await repository.forget_webhook_delivery("gemini", "never_seen")  # ignored
        assert await repository.record_webhook_delivery(
            "gemini", "msg_2", remote_id="video_2", received_at=_at(1)
        )

    async def test_racing_records_of_one_delivery_let_one_through(
        self, repository: JobRepository, second_repository: JobRepository
    ) -> None:
        outcomes: list[bool] = []

        async def record(handle: JobRepository) -> None:
            outcomes.append(
                await handle.record_webhook_delivery(
                    "openrouter", "key_3", remote_id="video_3", received_at=_at(0)
                )
            )

        async with anyio.create_task_group() as tg:
            for handle in (repository, second_repository, repository, second_repository):
                tg.start_soon(record, handle)
        assert sorted(outcomes) == [False, False, False, True]

    # -- life cycle --------------------------------------------------------------------------

    async def test_it_is_a_job_repository(self, repository: JobRepository) -> None:
        assert isinstance(repository, JobRepository)

    async def test_ping_succeeds_on_a_working_ledger(self, repository: JobRepository) -> None:
        await repository.ping()

    async def test_open_and_aclose_are_idempotent(self, repository: JobRepository) -> None:
        await repository.open()
        await repository.open()
        await repository.aclose()
        await repository.aclose()
