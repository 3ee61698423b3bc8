"""Poller alone: when a job is asked about, and what each answer does to the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

import soravideo as sv
from engine_kit import Kit
from helpers import WithoutFetchSeen
from soravideo._engine import polling
from soravideo._engine.state import Tracked
from soravideo.repositories import JobUpdate, MemoryRepository, SupportsUpdateJobs
from soravideo.transports import SupportsFetchSeen, Transport
from soravideo.transports.base import RemoteJob

pytestmark = pytest.mark.anyio


async def test_a_claimed_job_is_checked_at_once_a_new_one_after_its_eta(kit: Kit) -> None:
    claimed = await kit.sent()
    kit.poller.track(claimed)
    assert kit.state.tracked[claimed.id].due == kit.clock.time()
    assert kit.state.wake_poll.event.is_set()
    fresh = await kit.sent("a cat")
    remote = await kit.transport.fetch(fresh.remote_id or "")
    kit.poller.track(fresh, remote)
    assert kit.state.tracked[fresh.id].due > kit.clock.time()
    assert kit.reconciler.seen(fresh.remote_id or "")


async def test_progress_is_recorded_then_the_end_with_its_result(kit: Kit) -> None:
    job = await kit.sent()
    kit.poller.track(job)
    tracked = kit.state.tracked[job.id]
    kit.clock.advance(30)  # half of the fake's 60 s generation
    await kit.poller.refresh([tracked])
    stored = await kit.repository.get_job(job.id)
    assert stored.status is sv.JobStatus.PROCESSING
    assert stored.progress == 50
    assert kit.seen == [("progress", job.id)]
    assert tracked.due > kit.clock.time()
    kit.clock.advance(30)
    await kit.poller.refresh([tracked])
    done = await kit.repository.get_job(job.id)
    assert done.status is sv.JobStatus.COMPLETED
    assert done.result is not None and done.result.remote_id == job.remote_id
    assert not kit.state.holds(job.id)
    assert kit.seen[-1] == ("completed", job.id)


async def test_a_provider_error_backs_off_and_keeps_the_job(kit: Kit) -> None:
    job = await kit.sent()
    kit.poller.track(job)
    tracked = kit.state.tracked[job.id]
    kit.fake.inject(status=503, match="GET /videos/*")
    await kit.poller.refresh([tracked])
    assert tracked.failures == 1
    assert tracked.due == kit.clock.time() + kit.pacer.backoff(1)
    assert kit.state.holds(job.id)


async def test_a_refused_ledger_write_keeps_the_job_to_check_again(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await kit.sent()
    kit.poller.track(job)
    tracked = kit.state.tracked[job.id]

    async def locked(*args: Any, **kwargs: Any) -> sv.Job:
        raise sv.RepositoryError("database is locked")

    monkeypatch.setattr(kit.repository, "update_job", locked)
    kit.clock.advance(60)
    await kit.poller.refresh([tracked])  # completed at the provider, not written
    assert kit.state.holds(job.id)
    assert tracked.failures == 1
    monkeypatch.undo()
    await kit.poller.refresh([tracked])
    assert (await kit.repository.get_job(job.id)).status is sv.JobStatus.COMPLETED


async def test_a_job_the_provider_no_longer_knows_is_failed_not_polled_forever(kit: Kit) -> None:
    job = await kit.sent()
    kit.poller.track(job)
    tracked = kit.state.tracked[job.id]
    kit.fake.inject(status=404, match="GET /videos/*", times=3)
    # Each 404 counts as a missing answer, apart from other failures (a hiccup never
    # brings the end nearer): the third fails the job.
    for seen in (1, 2):
        await kit.poller.refresh([tracked])
        assert kit.state.holds(job.id)
        assert tracked.missing == seen
    await kit.poller.refresh([tracked])
    failed = await kit.repository.get_job(job.id)
    assert failed.status is sv.JobStatus.FAILED
    assert failed.error is not None and failed.error.code == "remote_missing"
    assert not kit.state.holds(job.id)


# -- one refresh, one ledger call ([W2-4]) ----------------------------------------------


class Spy:
    """Every write the ledger receives, in order: ``("one", job id)`` for ``update_job``,
    ``("many", job ids)`` for ``update_jobs``."""

    def __init__(self, kit: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, Any]] = []
        repository = kit.repository
        update_job, update_jobs = repository.update_job, repository.update_jobs

        async def one(job: sv.Job, **kwargs: Any) -> sv.Job:
            self.calls.append(("one", job.id))
            return await update_job(job, **kwargs)

        async def many(updates: Sequence[JobUpdate]) -> list[Any]:
            self.calls.append(("many", [update.job.id for update in updates]))
            return await update_jobs(updates)

        monkeypatch.setattr(repository, "update_job", one)
        monkeypatch.setattr(repository, "update_jobs", many)


async def tracked_jobs(kit: Kit, count: int) -> list[Tracked]:
    jobs = [await kit.sent(f"a fox, take {i}") for i in range(count)]
    for job in jobs:
        kit.poller.track(job)
    return [kit.state.tracked[job.id] for job in jobs]


async def test_a_refresh_writes_every_answer_with_one_ledger_call(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = await tracked_jobs(kit, 3)
    ids = [t.job.id for t in due]
    spy = Spy(kit, monkeypatch)
    kit.clock.advance(30)
    await kit.poller.refresh(due)
    assert spy.calls == [("many", ids)]
    assert [j.progress for j in await kit.repository.get_jobs(ids)] == [50, 50, 50]
    assert kit.seen == [("progress", job_id) for job_id in ids]
    assert all(t.job.progress == 50 and t.due > kit.clock.time() for t in due)
    kit.clock.advance(30)
    await kit.poller.refresh(due)
    assert spy.calls[1:] == [("many", ids)]
    done = await kit.repository.get_jobs(ids)
    assert {job.status for job in done} == {sv.JobStatus.COMPLETED}
    assert all(job.result is not None and job.result.remote_id == job.remote_id for job in done)
    assert kit.seen[3:] == [("completed", job_id) for job_id in ids]
    assert not any(kit.state.holds(job_id) for job_id in ids)


async def test_a_ledger_refusing_a_refresh_keeps_every_job_to_check_again(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = await tracked_jobs(kit, 3)
    ids = [t.job.id for t in due]
    before = await kit.repository.get_jobs(ids)

    async def locked(updates: Sequence[JobUpdate]) -> list[Any]:
        raise sv.RepositoryError("database is locked")

    monkeypatch.setattr(kit.repository, "update_jobs", locked)
    kit.clock.advance(60)  # all three completed at the provider: not written
    await kit.poller.refresh(due)
    assert await kit.repository.get_jobs(ids) == before
    assert kit.seen == []
    for tracked in due:
        assert kit.state.holds(tracked.job.id)
        assert tracked.failures == 1
        assert tracked.due == kit.clock.time() + kit.pacer.backoff(1)
    monkeypatch.undo()
    await kit.poller.refresh(due)
    assert {job.status for job in await kit.repository.get_jobs(ids)} == {sv.JobStatus.COMPLETED}
    assert kit.seen == [("completed", job_id) for job_id in ids]
    assert kit.fake.created_count() == 3


async def test_a_job_changed_elsewhere_is_let_go_and_the_others_written(kit: Kit) -> None:
    due = await tracked_jobs(kit, 3)
    first, cancelled, last = (t.job for t in due)
    # Another process cancels the second one in the ledger.
    await kit.repository.update_job(
        attrs.evolve(cancelled, status=sv.JobStatus.CANCELLED),
        expected_status=sv.JobStatus.PROCESSING,
    )
    kit.clock.advance(30)
    await kit.poller.refresh(due)
    assert kit.stopped == [cancelled.remote_id]
    assert not kit.state.holds(cancelled.id)
    assert (await kit.repository.get_job(cancelled.id)).status is sv.JobStatus.CANCELLED
    assert [j.progress for j in await kit.repository.get_jobs([first.id, last.id])] == [50, 50]
    assert kit.seen == [("progress", first.id), ("progress", last.id)]
    kit.clock.advance(30)
    await kit.poller.refresh([kit.state.tracked[first.id], kit.state.tracked[last.id]])
    assert kit.seen[2:] == [("completed", first.id), ("completed", last.id)]


async def test_what_was_learnt_before_a_download_is_written_before_it_starts(
    kit: Kit, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit.poller.settings = attrs.evolve(kit.settings, download_dir=tmp_path)
    [ready] = await tracked_jobs(kit, 1)
    kit.clock.advance(30)
    early, late = [await kit.sent(f"a cat, take {i}") for i in range(2)]
    for job in (early, late):
        kit.poller.track(job)
    spy = Spy(kit, monkeypatch)
    open_content = kit.transport.open_content

    def opening(remote_id: str, variant: str = "video") -> Any:
        spy.calls.append(("download", remote_id))
        return open_content(remote_id, variant)

    monkeypatch.setattr(kit.transport, "open_content", opening)
    kit.clock.advance(30)  # ready done, early and late half way
    await kit.poller.refresh([kit.state.tracked[early.id], ready, kit.state.tracked[late.id]])
    assert spy.calls == [
        ("one", early.id),
        ("download", ready.job.remote_id),
        ("many", [ready.job.id, late.id]),
    ]
    done = await kit.repository.get_job(ready.job.id)
    assert done.result is not None and done.result.path is not None
    assert Path(done.result.path).parent == tmp_path
    assert kit.seen == [("progress", early.id), ("completed", ready.job.id), ("progress", late.id)]


class WithoutUpdateJobs:
    """A ledger plugin written before ``update_jobs``: the old methods only (the memory
    ledger's), one of whose writes can be made to fail."""

    def __init__(self, inner: MemoryRepository) -> None:
        self._inner = inner
        self.writes: list[str] = []
        self.refuse: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        if name == "update_jobs":
            raise AttributeError(name)
        return getattr(self._inner, name)

    async def update_job(self, job: sv.Job, **kwargs: Any) -> sv.Job:
        self.writes.append(job.id)
        if job.id in self.refuse:
            raise sv.RepositoryError("database is locked")
        return await self._inner.update_job(job, **kwargs)


async def test_a_ledger_without_update_jobs_is_written_one_job_at_a_time(kit: Kit) -> None:
    due = await tracked_jobs(kit, 3)
    ids = [t.job.id for t in due]
    plugin = WithoutUpdateJobs(kit.repository)
    assert not isinstance(plugin, SupportsUpdateJobs)
    kit.ledger.repository = plugin  # type: ignore[assignment]
    plugin.refuse = {ids[1]}
    kit.clock.advance(30)
    await kit.poller.refresh(due)
    assert plugin.writes == ids
    # The refused write alone is tried again; the others stand.
    assert [j.progress for j in await kit.repository.get_jobs(ids)] == [50, 0, 50]
    assert kit.seen == [("progress", ids[0]), ("progress", ids[2])]
    assert (due[0].failures, due[1].failures, due[2].failures) == (0, 1, 0)
    assert due[1].due == kit.clock.time() + kit.pacer.backoff(1)
    plugin.refuse = set()
    kit.clock.advance(30)
    await kit.poller.refresh(due)
    assert plugin.writes[3:] == ids
    assert {j.status for j in await kit.repository.get_jobs(ids)} == {sv.JobStatus.COMPLETED}
    assert kit.seen[2:] == [("completed", job_id) for job_id in ids]


async def test_progress_of_a_job_a_cancel_took_over_meanwhile_is_not_announced(kit: Kit) -> None:
    due = await tracked_jobs(kit, 2)
    first, second = (t.job.id for t in due)

    async def cancel_the_other(event: sv.JobEvent) -> None:
        # A callback of the first job's progress cancels the second job (written in the
        # same ledger call, its progress not yet announced): a cancel begins by this.
        if event.job.id == first:
            kit.state.cancelling.add(second)

    kit.events.on("progress", cancel_the_other)
    kit.clock.advance(30)
    await kit.poller.refresh(due)
    assert kit.seen == [("progress", first)]
    assert (await kit.repository.get_job(second)).progress == 50  # written all the same
    kit.state.cancelling.discard(second)


async def test_a_refresh_of_very_many_jobs_is_written_in_bounded_calls(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(polling, "_WRITTEN_TOGETHER", 2)
    due = await tracked_jobs(kit, 5)
    ids = [t.job.id for t in due]
    spy = Spy(kit, monkeypatch)
    kit.clock.advance(30)
    await kit.poller.refresh(due)
    assert spy.calls == [("many", ids[:2]), ("many", ids[2:4]), ("one", ids[4])]
    assert kit.seen == [("progress", job_id) for job_id in ids]


# -- what a list page shows of jobs not due ([W2-4]) -------------------------------------


@attrs.define
class Scene:
    """Five jobs on one list page at t=65 s: ``early`` done at the provider (sent at 0),
    the others at 75 % (sent at 20): two due, ``later`` and ``cancelling`` not."""

    early: Tracked
    due: list[Tracked]
    later: Tracked
    cancelling: Tracked


async def scene(kit: Kit) -> Scene:
    early = await kit.sent("a fox, early")
    kit.clock.advance(20)
    others = [await kit.sent(f"a fox, take {i}") for i in range(4)]
    for job in (early, *others):
        kit.poller.track(job)
    kit.clock.advance(45)
    tracked = [kit.state.tracked[job.id] for job in (early, *others)]
    now = kit.clock.time()
    for t in tracked:
        t.due = now + 0.3  # soon, not yet
    kit.state.cancelling.add(tracked[4].job.id)
    return Scene(early=tracked[0], due=tracked[1:3], later=tracked[3], cancelling=tracked[4])


async def test_a_refresh_applies_what_its_page_shows_of_the_jobs_not_due(kit: Kit) -> None:
    s = await scene(kit)
    cancelling_before = attrs.evolve(s.cancelling, observations=list(s.cancelling.observations))
    now = kit.clock.time()
    await kit.poller.refresh(s.due)
    # One page answered for all of them: nothing fetched one by one.
    assert (kit.fake.count(route="list"), kit.fake.count(route="retrieve")) == (1, 0)
    # Due: progress written and announced, as before.
    assert [t.job.progress for t in s.due] == [75, 75]
    # Not due, done at the provider: its end written now, with its result.
    done = await kit.repository.get_job(s.early.job.id)
    assert done.status is sv.JobStatus.COMPLETED
    assert done.result is not None and done.result.remote_id == s.early.job.remote_id
    assert not kit.state.holds(done.id)
    # Not due, in progress: what the page showed schedules its next poll (not soon), and
    # its progress waits for its own poll to be written.
    assert s.later.observations[-1] == (now, 75)
    assert s.later.due >= now + kit.settings.poll_min_interval
    assert (await kit.repository.get_job(s.later.job.id)).progress == 0
    # Being cancelled: untouched.
    assert s.cancelling == cancelling_before
    assert (await kit.repository.get_job(s.cancelling.job.id)).progress == 0
    assert kit.seen == [
        ("progress", s.due[0].job.id),
        ("progress", s.due[1].job.id),
        ("completed", s.early.job.id),
    ]
    kit.state.cancelling.discard(s.cancelling.job.id)


async def test_a_job_seen_on_a_page_keeps_a_poll_already_the_minimum_interval_away(
    kit: Kit,
) -> None:
    s = await scene(kit)
    now = kit.clock.time()
    s.later.due = now + 10
    await kit.poller.refresh(s.due)
    assert s.later.observations[-1] == (now, 75)
    assert s.later.due == now + 10
    kit.state.cancelling.discard(s.cancelling.job.id)


async def test_a_transport_without_fetch_many_seen_refreshes_the_due_jobs_only(kit: Kit) -> None:
    s = await scene(kit)
    plugin = WithoutFetchSeen(kit.transport)
    assert isinstance(plugin, Transport) and not isinstance(plugin, SupportsFetchSeen)
    kit.poller.transport = plugin  # type: ignore[assignment]
    untouched = {t.job.id: (t.due, list(t.observations)) for t in (s.early, s.later, s.cancelling)}
    await kit.poller.refresh(s.due)
    assert kit.seen == [("progress", t.job.id) for t in s.due]
    for t in (s.early, s.later, s.cancelling):
        assert (t.due, t.observations) == untouched[t.job.id]
        assert kit.state.holds(t.job.id)
    early = await kit.repository.get_job(s.early.job.id)
    assert (early.status, early.progress) == (sv.JobStatus.PROCESSING, 0)
    kit.state.cancelling.discard(s.cancelling.job.id)


async def test_a_page_read_before_a_webhooks_news_does_not_move_a_job_back(kit: Kit) -> None:
    s = await scene(kit)
    remote_id = s.later.job.remote_id or ""
    news = RemoteJob(remote_id=remote_id, status=sv.JobStatus.PROCESSING, progress=90)
    fetch_many_seen = kit.transport.fetch_many_seen

    async def pushed_meanwhile(remote_ids: Any, *, watched: Any) -> dict[str, RemoteJob]:
        # The page says 75 %; a webhook delivery says 90 % while the answer is on its way.
        answers = await fetch_many_seen(remote_ids, watched=watched)
        await kit.poller.push(s.later.job, news)
        return answers

    kit.transport.fetch_many_seen = pushed_meanwhile  # type: ignore[method-assign]
    await kit.poller.refresh(s.due)
    assert (await kit.repository.get_job(s.later.job.id)).progress == 90
    assert s.later.job.progress == 90
    assert [progress for _, progress in s.later.observations][-1] == 90
    assert 75 not in [progress for _, progress in s.later.observations]
    kit.state.cancelling.discard(s.cancelling.job.id)


async def test_a_job_seen_done_on_a_page_is_downloaded_once_with_its_end(
    kit: Kit, tmp_path: Path
) -> None:
    kit.poller.settings = attrs.evolve(kit.settings, download_dir=tmp_path)
    s = await scene(kit)
    await kit.poller.refresh(s.due)
    done = await kit.repository.get_job(s.early.job.id)
    assert done.status is sv.JobStatus.COMPLETED
    assert done.result is not None and done.result.path is not None
    assert Path(done.result.path).read_bytes() == kit.fake.content(s.early.job.remote_id or "")
    assert kit.fake.count(route="content") == 1
    kit.state.cancelling.discard(s.cancelling.job.id)


async def test_a_download_failing_every_attempt_waits_between_attempts_not_after_the_last(
    kit: Kit, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit.poller.settings = attrs.evolve(kit.settings, download_dir=tmp_path)
    job = await kit.sent()
    kit.clock.advance(60)  # done at the provider
    remote = await kit.transport.fetch(job.remote_id or "")
    content = f"GET /videos/{job.remote_id}/content"
    kit.fake.inject(status=503, match=content, times=polling._DOWNLOAD_ATTEMPTS)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        kit.clock.advance(seconds)

    monkeypatch.setattr(kit.clock, "sleep", sleep)
    result = await kit.poller.result(job, remote)
    assert result.remote_id == job.remote_id and result.path is None
    assert list(tmp_path.iterdir()) == []
    assert kit.fake.count("GET", f"/videos/{job.remote_id}/content") == 3
    # A backoff between attempts; none once the last one has failed (it used to sleep a
    # third backoff before giving up, holding the job's answer for nothing).
    assert waits == [kit.pacer.backoff(1), kit.pacer.backoff(2)]
