"""Batches: stored whole, processed in parallel, surviving failures and cancellation, within budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import soravideo as sv
from helpers import assert_created_once, assert_exactly_once, request, requests
from soravideo.testing import check_exactly_once

pytestmark = pytest.mark.anyio


def batch(n: int, **fields: Any) -> sv.BatchVideoRequest:
    return sv.BatchVideoRequest(videos=requests(n), **fields)


@pytest.mark.parametrize("size", [1, 5, 10])
async def test_create_batch_stores_batch_and_jobs(client: sv.AsyncSoraVideo, size: int) -> None:
    created = await client.batches.create_batch(
        batch(size, name="ads", metadata={"campaign": "winter"}, concurrency=2)
    )
    assert created.total == size
    assert len(created.job_ids) == size
    report = await client.batches.get_batch_status(created.batch_id)
    assert report.batch.name == "ads"
    assert report.batch.metadata == {"campaign": "winter"}
    assert report.batch.status is sv.BatchStatus.PENDING
    assert [j.id for j in report.jobs] == list(created.job_ids)
    assert all(
        j.status is sv.JobStatus.PENDING and j.batch_id == created.batch_id for j in report.jobs
    )
    assert report.progress == sv.BatchProgress(total=size, pending=size)
    # Jobs of a new batch are not sent until the batch is processed, however long it waits
    # (ten simulated minutes, on the client's clock: no wall-clock sleep).
    await client.clock.sleep(600)
    assert client.fake is not None
    assert client.fake.created_count() == 0


@pytest.mark.parametrize("size", [0, 11])
async def test_empty_or_oversized_batches_store_nothing(
    client: sv.AsyncSoraVideo, size: int
) -> None:
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch(batch(size))
    assert "videos" in info.value.fields
    assert (await client.batches.list_batches()).total == 0
    assert (await client.videos.list_jobs()).total == 0


async def test_every_bad_item_is_named(client: sv.AsyncSoraVideo) -> None:
    videos = [request(), request("  "), request(duration=-1), request(model="sora-2", duration=7)]
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch(sv.BatchVideoRequest(videos=videos, concurrency=0))
    assert set(info.value.fields) == {
        "videos[1].prompt",
        "videos[2].duration",
        "videos[3].duration",  # a provider limit: sora-2 has no 7-second videos
        "concurrency",
    }
    assert (await client.videos.list_jobs()).total == 0


async def test_process_batch_runs_in_parallel_within_its_concurrency(
    client: sv.AsyncSoraVideo,
) -> None:
    created = await client.batches.create_batch(batch(8, concurrency=3))
    done = await client.batches.process_batch(created.batch_id)
    assert done.status is sv.BatchStatus.COMPLETED
    assert done.completed_at is not None
    assert done.progress == sv.BatchProgress(total=8, completed=8, percentage=100.0)
    assert client.fake is not None
    assert client.fake.peak_concurrency() == 3
    assert_created_once(client.fake, 8)
    await assert_exactly_once(client)


async def test_concurrency_argument_overrides_the_batch(client: sv.AsyncSoraVideo) -> None:
    created = await client.batches.create_batch(batch(6, concurrency=5))
    await client.batches.process_batch(created.batch_id, concurrency=2)
    assert client.fake is not None
    assert client.fake.peak_concurrency() == 2


async def test_partial_failure_keeps_going(client: sv.AsyncSoraVideo) -> None:
    assert client.fake is not None
    videos = [*requests(4), request(f"bad {client.fake.failing_prompt}")]
    created = await client.batches.create_batch(sv.BatchVideoRequest(videos=videos, concurrency=2))
    done = await client.batches.process_batch(created.batch_id)
    assert done.status is sv.BatchStatus.PARTIAL
    assert done.progress == sv.BatchProgress(total=5, completed=4, failed=1, percentage=100.0)
    report = await client.batches.get_batch_status(created.batch_id)
    failed = [j for j in report.jobs if j.status is sv.JobStatus.FAILED]
    assert len(failed) == 1
    assert failed[0].error is not None
    assert failed[0].error.code == "moderation_blocked"
    await assert_exactly_once(client)


async def test_all_failing_is_failed(client: sv.AsyncSoraVideo) -> None:
    assert client.fake is not None
    videos = [request(f"bad {i} {client.fake.failing_prompt}") for i in range(3)]
    created = await client.batches.create_batch(sv.BatchVideoRequest(videos=videos))
    done = await client.batches.process_batch(created.batch_id)
    assert done.status is sv.BatchStatus.FAILED
    assert done.progress.failed == 3
    await assert_exactly_once(client)


async def test_processing_a_finished_batch_again_changes_nothing(client: sv.AsyncSoraVideo) -> None:
    created = await client.batches.create_batch(batch(3))
    first = await client.batches.process_batch(created.batch_id)
    again = await client.batches.process_batch(created.batch_id)
    assert again.status is first.status is sv.BatchStatus.COMPLETED
    assert client.fake is not None
    assert_created_once(client.fake, 3)
    await assert_exactly_once(client)


async def test_progress_is_monotonic_while_running(client: sv.AsyncSoraVideo) -> None:
    created = await client.batches.create_batch(batch(6, concurrency=2))
    seen: list[float] = []

    async def watch() -> None:
        while True:
            report = await client.batches.get_batch_status(created.batch_id)
            seen.append(report.progress.percentage)
            assert report.progress.total == 6
            assert (
                sum(
                    (
                        report.progress.completed,
                        report.progress.failed,
                        report.progress.cancelled,
                        report.progress.pending,
                    )
                )
                == 6
            )
            if report.batch.status.is_terminal:
                return
            await client.clock.sleep(5)

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        await client.batches.process_batch(created.batch_id)
    assert seen == sorted(seen)
    assert seen[-1] == 100.0
    assert len(set(seen)) > 2  # progress was observed in between


async def test_cancel_batch_mid_run(client: sv.AsyncSoraVideo) -> None:
    created = await client.batches.create_batch(batch(6, concurrency=2))
    result: dict[str, sv.Batch] = {}

    async def process() -> None:
        result["batch"] = await client.batches.process_batch(created.batch_id)

    async with anyio.create_task_group() as tg:
        tg.start_soon(process)
        # Let the first two videos finish and the next two start.
        while (await client.batches.get_batch_status(created.batch_id)).progress.completed < 2:
            await client.clock.sleep(1)
        summary = await client.batches.cancel_batch(created.batch_id)
    # Creates that were on the wire answer, and their videos are stopped too.
    await client.clock.sleep(1)
    assert summary.total == 6
    assert summary.already_finished == 2
    assert summary.cancelled == 4
    assert result["batch"].status is sv.BatchStatus.CANCELLED
    report = await client.batches.get_batch_status(created.batch_id)
    assert report.batch.status is sv.BatchStatus.CANCELLED
    statuses = sorted(j.status.value for j in report.jobs)
    assert statuses == ["cancelled"] * 4 + ["completed"] * 2
    assert client.fake is not None
    # In-flight jobs were deleted at the provider; pending ones were never sent.
    in_flight = [j for j in report.jobs if j.status is sv.JobStatus.CANCELLED and j.remote_id]
    assert sorted(client.fake.deleted_ids()) == sorted(j.remote_id for j in in_flight)
    assert client.fake.created_count() == 2 + len(in_flight)
    await assert_exactly_once(client)


async def test_two_batches_share_the_global_concurrency_fairly(ledger: Any) -> None:
    async with sv.AsyncSoraVideo.simulated(repository=ledger(), max_concurrency=4) as client:
        a = await client.batches.create_batch(batch(8, name="a"))
        b = await client.batches.create_batch(batch(8, name="b"))
        done: dict[str, sv.Batch] = {}

        async def process(batch_id: str) -> None:
            done[batch_id] = await client.batches.process_batch(batch_id)

        async with anyio.create_task_group() as tg:
            tg.start_soon(process, a.batch_id)
            tg.start_soon(process, b.batch_id)
        assert {d.status for d in done.values()} == {sv.BatchStatus.COMPLETED}
        assert client.fake is not None
        assert client.fake.peak_concurrency() <= 4
        # Fair: both batches progress side by side and finish together, instead of one
        # taking every slot (that would finish "a" two generations before "b").
        ends = [d.completed_at for d in done.values()]
        assert ends[0] is not None
        assert ends[1] is not None
        assert abs((ends[0] - ends[1]).total_seconds()) <= 60
        await assert_exactly_once(client)


async def test_budget_refuses_before_storing(client: sv.AsyncSoraVideo) -> None:
    request_ = batch(5, budget_usd=1.0)  # 5 videos x 4 s x $0.10 = $2.00
    assert client.batches.estimate_cost(request_) == pytest.approx(2.0)
    with pytest.raises(sv.BudgetExceededError) as info:
        await client.batches.create_batch(request_)
    assert info.value.estimated_usd == pytest.approx(2.0)
    assert info.value.budget_usd == 1.0
    assert (await client.videos.list_jobs()).total == 0
    ok = await client.batches.create_batch(batch(5, budget_usd=2.0))
    jobs = (await client.batches.get_batch_status(ok.batch_id)).jobs
    assert [j.estimated_cost_usd for j in jobs] == [pytest.approx(0.4)] * 5


async def test_unknown_batch_ids_raise(client: sv.AsyncSoraVideo) -> None:
    for call in (
        client.batches.get_batch_status,
        client.batches.process_batch,
        client.batches.cancel_batch,
    ):
        with pytest.raises(sv.BatchNotFoundError):
            await call("batch_missing")


async def test_list_batches_pages(client: sv.AsyncSoraVideo) -> None:
    ids = [(await client.batches.create_batch(batch(1, name=f"b{i}"))).batch_id for i in range(3)]
    page = await client.batches.list_batches(page=1, limit=2)
    assert (page.total, page.pages, page.has_next) == (3, 2, True)
    assert [b.id for b in page.items] == ids[::-1][:2]
    with pytest.raises(sv.ValidationError):
        await client.batches.list_batches(page=0)


async def test_manifest_csv_and_jsonl(client: sv.AsyncSoraVideo, tmp_path: Path) -> None:
    csv_file = tmp_path / "prompts.csv"
    csv_file.write_text("prompt,duration,priority,metadata.team\na fox,8,high,ads\na cat,,low,\n")
    created = await client.batches.create_batch_from_file(csv_file, model="sora-2", concurrency=2)
    report = await client.batches.get_batch_status(created.batch_id)
    assert report.batch.name == "prompts"
    assert report.batch.concurrency == 2
    fox, cat = report.jobs
    assert (fox.request.duration, fox.priority, fox.metadata) == (
        8,
        sv.JobPriority.HIGH,
        {"team": "ads"},
    )
    assert (cat.request.duration, cat.priority, cat.request.model) == (
        None,
        sv.JobPriority.LOW,
        "sora-2",
    )

    jsonl = tmp_path / "prompts.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps(r) for r in [{"prompt": "one"}, {"prompt": "two", "size": "1280x720"}])
        + "\n"
    )
    created = await client.batches.create_batch_from_file(jsonl, name="js")
    done = await client.batches.process_batch(created.batch_id)
    assert done.status is sv.BatchStatus.COMPLETED


async def test_manifest_errors_name_rows(client: sv.AsyncSoraVideo, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt,duration,colour\nok,4,\n ,x,red\n")
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch_from_file(bad)
    assert set(info.value.fields) >= {"row 3: duration", "row 3: colour"}
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(11)))
    with pytest.raises(sv.ValidationError, match="max_batch_size"):
        await client.batches.create_batch_from_file(big)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "fine"}\n{not json\n')
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch_from_file(broken)
    assert info.value.fields == ("row 2",)
    assert (await client.batches.list_batches()).total == 0


def test_sync_batch_life_cycle(tmp_path: Path) -> None:
    with sv.SoraVideo.simulated(
        repository=sv.repositories.SQLiteRepository(tmp_path / "l.db")
    ) as client:
        assert client.fake is not None
        videos = [*requests(3), request(f"x {client.fake.failing_prompt}")]
        created = client.batches.create_batch(sv.BatchVideoRequest(videos=videos, concurrency=2))
        done = client.batches.process_batch(created.batch_id)
        assert done.status is sv.BatchStatus.PARTIAL
        assert client.batches.get_batch_status(created.batch_id).progress.percentage == 100.0
        assert client.batches.list_batches().total == 1
        summary = client.batches.cancel_batch(created.batch_id)
        assert (summary.cancelled, summary.already_finished) == (0, 4)
        check_exactly_once(client.fake, client.videos.list_jobs(limit=100).items)


class ClaimsAsTheBatchStarts(sv.repositories.MemoryRepository):
    """Runs ``during`` right after a batch is marked processing, before ``update_batch``
    returns: where another task's claim may come (a single video created meanwhile). With
    ``then_fail``, the start then fails: the write landed, the start did not (another
    process started the batch first, say)."""

    during: Any = None
    then_fail = False

    async def update_batch(self, batch: sv.Batch, *, expected_status: sv.BatchStatus) -> sv.Batch:
        updated = await super().update_batch(batch, expected_status=expected_status)
        if batch.status is sv.BatchStatus.PROCESSING and self.during is not None:
            during, self.during = self.during, None
            await during()
            if self.then_fail:
                raise sv.ConflictError(batch.id, message="started elsewhere meanwhile")
        return updated


async def test_a_claim_as_a_batch_starts_takes_no_more_of_it_than_its_concurrency() -> None:
    """A claim made once the ledger says "processing" may take the batch's jobs: the batch's
    limit must already be set (it was set after, and such a claim took all six at once)."""
    repository = ClaimsAsTheBatchStarts()
    async with sv.AsyncSoraVideo.simulated(repository=repository, max_concurrency=10) as client:
        assert client.fake is not None
        created = await client.batches.create_batch(
            sv.BatchVideoRequest(videos=requests(6), concurrency=2)
        )

        async def single_created() -> None:
            job = await client.videos.create_video(request("a single, meanwhile"))
            for _ in range(20):  # the engine claims it, and whatever else it may take
                await anyio.lowlevel.checkpoint()
            await client.videos.wait_for_job(job.id)

        repository.during = single_created
        batch = await client.batches.process_batch(created.batch_id)
        assert batch.status is sv.BatchStatus.COMPLETED
        # The single and two of the batch at most, never the whole batch at once.
        assert client.fake.peak_concurrency() <= 3
        await assert_exactly_once(client)


class FailsToStart(sv.repositories.MemoryRepository):
    """Marking a batch processing takes a moment (a trip to SQLite's thread, say), then
    fails (another process holds the lock past the busy timeout)."""

    async def update_batch(self, batch: sv.Batch, *, expected_status: sv.BatchStatus) -> sv.Batch:
        if batch.status is sv.BatchStatus.PROCESSING:
            for _ in range(20):
                await anyio.lowlevel.checkpoint()
            raise sv.RepositoryError("database is locked")
        return await super().update_batch(batch, expected_status=expected_status)


async def test_a_batch_that_fails_to_start_sends_none_of_its_jobs() -> None:
    repository = FailsToStart()
    async with sv.AsyncSoraVideo.simulated(repository=repository, max_concurrency=10) as client:
        assert client.fake is not None
        created = await client.batches.create_batch(
            sv.BatchVideoRequest(videos=requests(6), concurrency=2)
        )
        with pytest.raises(sv.RepositoryError, match="locked"):
            await client.batches.process_batch(created.batch_id)
        for _ in range(50):  # the engine's turn, had it queued any
            await anyio.lowlevel.checkpoint()
        batch = await repository.get_batch(created.batch_id)
        jobs = await repository.get_jobs(batch.job_ids)
        assert batch.status is sv.BatchStatus.PENDING
        assert [job.status for job in jobs] == [sv.JobStatus.PENDING] * 6
        assert client.fake.created_count() == 0
        await assert_exactly_once(client, settled=False)


async def test_jobs_held_while_a_batch_failed_to_start_are_sent_after_all() -> None:
    """The batch is processing in the ledger, so a claim during its start took its jobs
    (held, not sent). The start then failed: they are this engine's to send, at once, not
    when something else next wakes it."""
    repository = ClaimsAsTheBatchStarts()
    repository.then_fail = True
    async with sv.AsyncSoraVideo.simulated(repository=repository, max_concurrency=10) as client:
        assert client.fake is not None
        created = await client.batches.create_batch(
            sv.BatchVideoRequest(videos=requests(4), concurrency=2)
        )
        runner = await client._started()

        async def a_claim_meanwhile() -> None:
            runner.wake()
            for _ in range(20):
                await anyio.lowlevel.checkpoint()

        repository.during = a_claim_meanwhile
        with pytest.raises(sv.ConflictError):
            await client.batches.process_batch(created.batch_id)
        for job_id in created.job_ids:
            done = await client.videos.wait_for_job(job_id, timeout=600)
            assert done.status is sv.JobStatus.COMPLETED
        await assert_exactly_once(client)
