"""soravideo's Sora transport and engine against an independent ``/v1/videos`` server.

The server (``e2e/spec_sora_server.py``) is written from the published spec only, not from
FakeSora: whatever the spec allows and FakeSora does not do (no deduplication on
``Idempotency-Key``, ``prompt`` not echoed, newest-first pages of two, nullable fields
null, unknown fields, a DELETE refused while a video generates) is tried here. Each scenario
ends with the exactly-once check written here too (not soravideo.testing's): every video
the server made is owned by exactly one job (or stands for one job failed
``ambiguous_submission``), no job is left unfinished, the server got one create per video.
A scenario marked ``xfail(strict=True)`` is a gap known and left, said in its reason.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

import soravideo as sv
from e2e.spec_sora_server import SpecSora, serve
from soravideo.repositories import MemoryRepository, SQLiteRepository
from soravideo.transports import SoraTransport

pytestmark = pytest.mark.anyio

KEY = "sk-spec"
GEN = 60.0  # simulated seconds a video takes
SIM = {"poll_min_interval": 1.0, "poll_max_interval": 10.0, "request_timeout": 30.0}


@pytest.fixture
def fake() -> None:
    """Not FakeSora: the e2e conftest's check (FakeSora-only) is skipped for this module."""
    return None


def _transport(
    server: SpecSora, clock: sv.Clock | None, base_url: str = "http://spec.invalid/v1"
) -> SoraTransport:
    http = httpx.AsyncClient(transport=server.mock_transport()) if clock is not None else None
    transport = SoraTransport(base_url=base_url, api_key=KEY, http_client=http, clock=clock)
    transport.retry_policy = attrs.evolve(transport.retry_policy, base=0.02, cap=0.2)
    return transport


def _client(
    server: SpecSora, clock: sv.VirtualClock, repository: Any = None, **settings: Any
) -> sv.AsyncSoraVideo:
    return sv.AsyncSoraVideo(
        transport=_transport(server, clock),
        repository=repository if repository is not None else MemoryRepository(),
        clock=clock,
        **{**SIM, **settings},
    )


async def _all_sent(client: sv.AsyncSoraVideo, jobs: list[sv.Job]) -> bool:
    for job in jobs:
        if (await client.videos.get_job(job.id)).remote_id is None:
            return False
    return True


async def _all_jobs(client: sv.AsyncSoraVideo) -> list[sv.Job]:
    return list((await client.videos.list_jobs(limit=1000)).items)


def check(server: SpecSora, jobs: list[sv.Job], *, settled: bool = True) -> None:
    """The exactly-once invariant between the independent server and the ledger."""
    owners: dict[str, list[str]] = {}
    for job in jobs:
        if job.remote_id:
            owners.setdefault(job.remote_id, []).append(job.id)
    problems = []
    # A job failed ambiguous_submission may stand for one video nobody can name: its create
    # may or may not have made one, and without deduplication it is never sent again.
    unnamed = sum(1 for j in jobs if j.error is not None and j.error.code == "ambiguous_submission")
    for video in server.created():
        if video.owned_elsewhere:
            continue
        held = owners.get(video.id, [])
        if not held and unnamed:
            unnamed -= 1
            continue
        if len(held) != 1:
            problems.append(f"{video.id} ({video.body['prompt']!r}) owned by {held}")
    for remote_id, held in owners.items():
        if remote_id not in server.videos:
            problems.append(f"jobs {held} hold {remote_id}, which the server never made")
    if settled:
        stuck = [(j.id, j.status.value) for j in jobs if not j.status.is_terminal]
        if stuck:
            problems.append(f"jobs not finished: {stuck}")
    posts = len([s for s in server.requests("POST") if s.status not in (400, 401, 429)])
    made = len([v for v in server.created() if not v.owned_elsewhere])
    if posts != made:
        problems.append(f"{posts} creates for {made} videos")
    assert not problems, "; ".join(problems)


# -- 1. the ordinary path, in-process on simulated time --------------------------------


async def test_spec_shaped_answers_and_small_pages_complete_every_job(tmp_path: Path) -> None:
    clock = sv.VirtualClock(only_while_waiting=True)
    server = SpecSora(clock.time, generation_time=GEN, page_size=2)
    server.fail_prompts = {"prompt 3"}
    async with _client(server, clock) as client:
        requests = [
            sv.CreateVideoRequest(prompt=f"prompt {n}", duration=8, size="1280x720")
            for n in range(7)
        ]
        jobs = await client.videos.create_videos(requests)
        done = [await client.videos.wait_for_job(job.id, timeout=3600) for job in jobs]
        statuses = {j.request.prompt: j.status for j in done}
        assert statuses.pop("prompt 3") is sv.JobStatus.FAILED
        assert set(statuses.values()) == {sv.JobStatus.COMPLETED}
        failed = next(j for j in done if j.status is sv.JobStatus.FAILED)
        assert failed.error is not None and failed.error.code == "moderation_blocked"
        completed = next(j for j in done if j.status is sv.JobStatus.COMPLETED)
        video = await client.videos.download_video(completed.id, tmp_path / "v.mp4")
        thumb = await client.videos.download_video(completed.id, tmp_path, variant="thumbnail")
        sprite = await client.videos.download_video(completed.id, tmp_path, variant="spritesheet")
        assert video.read_bytes()[4:8] == b"ftyp"
        assert thumb.suffix == ".webp" and sprite.suffix == ".jpg"
        # 8 s of sora-2 at $0.10 a second.
        assert [j.estimated_cost_usd for j in done] == pytest.approx([0.8] * 7)
        check(server, await _all_jobs(client))
    gets = len(server.requests("GET")) - 3  # the three downloads
    # Reported, not asserted as a threshold: status requests for 7 videos of 60 s.
    print(
        f"status/list requests for 7 videos: {gets}; pages asked: "
        f"{sum(1 for s in server.requests('GET') if s.path == '/v1/videos')}"
    )
    variants = [
        s.query.get("variant") for s in server.requests("GET") if s.path.endswith("/content")
    ]
    assert variants == ["video", "thumbnail", "spritesheet"]


# -- 2. a real loopback HTTP server (uvicorn), real time --------------------------------


async def test_loopback_uvicorn_server_create_cancel_download(tmp_path: Path) -> None:
    server = SpecSora(generation_time=0.4, page_size=2)
    with serve(server) as base_url:
        transport = SoraTransport(base_url=base_url, api_key=KEY)
        transport.retry_policy = attrs.evolve(transport.retry_policy, base=0.02, cap=0.2)
        client = sv.AsyncSoraVideo(
            transport=transport,
            repository=SQLiteRepository(tmp_path / "ledger.db"),
            poll_min_interval=0.05,
            poll_max_interval=0.2,
            request_timeout=5.0,
        )
        async with client:
            jobs = await client.videos.create_videos(
                [sv.CreateVideoRequest(prompt=f"loop {n}", duration=4) for n in range(4)]
            )
            # Wait until the last one has a remote id, then cancel it.
            with anyio.fail_after(10):
                while (await client.videos.get_job(jobs[-1].id)).remote_id is None:  # noqa: ASYNC110
                    await anyio.sleep(0.02)
            cancelled = await client.videos.cancel_job(jobs[-1].id)
            assert cancelled.status is sv.JobStatus.CANCELLED
            done = [await client.videos.wait_for_job(j.id, timeout=20) for j in jobs[:-1]]
            assert {j.status for j in done} == {sv.JobStatus.COMPLETED}
            path = await client.videos.download_video(done[0].id, tmp_path / "out.mp4")
            assert path.read_bytes()[4:8] == b"ftyp"
            check(server, await _all_jobs(client))
        assert server.videos[cancelled.remote_id or ""].deleted


# -- 3. an unanswered create on a server that knows no Idempotency-Key -------------------


async def test_ambiguous_creates_of_two_like_requests_make_no_second_videos() -> None:
    """Two jobs with the same request (a batch's takes of one prompt) whose creates the
    server carried out and answered 500: the list shows two matching videos for each job,
    so reconciliation adopts neither and both creates are sent again. The spec has no
    Idempotency-Key, so an independent server makes two more videos (billed, unowned)."""
    clock = sv.VirtualClock(only_while_waiting=True)
    server = SpecSora(clock.time, generation_time=GEN, page_size=100)
    server.creates_then_500 = 2
    async with _client(server, clock) as client:
        same = sv.CreateVideoRequest(prompt="a lighthouse at dusk", duration=4)
        jobs = await client.videos.create_videos([same, same])
        done = [await client.videos.wait_for_job(j.id, timeout=3600) for j in jobs]
        print([(j.status.value, j.remote_id, j.error) for j in done])
        check(server, await _all_jobs(client))


async def test_ambiguous_create_on_a_server_that_does_not_echo_the_prompt() -> None:
    """VideoResource.prompt is nullable (and the spec's own create example leaves it out):
    a server that answers ``prompt: null`` gives nothing to match a dropped create answer
    with. The create is never sent again (the server does not deduplicate): the job fails
    ``ambiguous_submission``, retryable, and the server made one video, not two."""
    clock = sv.VirtualClock(only_while_waiting=True)
    server = SpecSora(clock.time, generation_time=GEN, page_size=100)
    server.echo_prompt = False
    server.creates_then_drop = 1
    async with _client(server, clock) as client:
        job = await client.videos.create_video(
            sv.CreateVideoRequest(prompt="a quiet harbour", duration=4)
        )
        done = await client.videos.wait_for_job(job.id, timeout=3600)
        assert done.status is sv.JobStatus.FAILED and done.error is not None
        assert done.error.code == "ambiguous_submission" and done.error.retryable
        assert len(server.created()) == 1
        check(server, await _all_jobs(client))


async def test_ambiguous_create_with_a_full_echo_is_adopted() -> None:
    """Control: one ambiguous create, the list echoes everything: adopted, no second video."""
    clock = sv.VirtualClock(only_while_waiting=True)
    server = SpecSora(clock.time, generation_time=GEN, page_size=2)
    server.creates_then_drop = 1
    async with _client(server, clock) as client:
        job = await client.videos.create_video(
            sv.CreateVideoRequest(prompt="a quiet harbour", duration=4)
        )
        done = await client.videos.wait_for_job(job.id, timeout=3600)
        assert done.status is sv.JobStatus.COMPLETED
        check(server, await _all_jobs(client))


async def test_ambiguous_create_on_a_busy_account_is_not_sent_twice() -> None:
    """Reconciliation reads the 100 newest videos only: when more than 100 others of the
    project were made since the create (another service on the same key), its video is not
    among them. The create is never sent again (the server does not deduplicate): the job
    fails ``ambiguous_submission``, and the server made its video once."""
    clock = sv.VirtualClock(only_while_waiting=True)
    server = SpecSora(clock.time, generation_time=GEN, page_size=100)
    server.creates_then_drop = 1
    server.others_after_drop = 120
    async with _client(server, clock) as client:
        job = await client.videos.create_video(
            sv.CreateVideoRequest(prompt="a quiet harbour", duration=4)
        )
        done = await client.videos.wait_for_job(job.id, timeout=3600)
        assert done.status is sv.JobStatus.FAILED and done.error is not None
        assert done.error.code == "ambiguous_submission"
        ours = [v for v in server.created() if v.body["prompt"] == "a quiet harbour"]
        assert len(ours) == 1
        check(server, await _all_jobs(client))


# -- 4. DELETE of a video still generating -----------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="known gap: the cancel is written first on the Sora protocol (its DELETE deletes "
    "even a finished video), and a DELETE the server refuses while the video generates "
    "leaves the job cancelled while the video completes, billed; the log says so",
)
async def test_cancel_refused_by_the_server_is_not_recorded_as_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The spec's DELETE "permanently delete[s] a completed or failed video"; a server may
    refuse one still generating (400). soravideo writes ``cancelled`` first and only logs the
    refusal: the video goes on, completes and is billed, and the ledger says cancelled
    with no result (the video can never be downloaded through soravideo)."""
    clock = sv.VirtualClock(only_while_waiting=True)
    server = SpecSora(clock.time, generation_time=GEN, page_size=2)
    server.delete_only_finished = True
    async with _client(server, clock) as client:
        job = await client.videos.create_video(
            sv.CreateVideoRequest(prompt="a slow sunrise", duration=12)
        )
        with clock.waiting():
            while (await client.videos.get_job(job.id)).provider_status != "in_progress":
                await clock.sleep(1)
        with caplog.at_level(logging.WARNING, logger="soravideo"):
            try:
                after = await client.videos.cancel_job(job.id)
            except sv.SoraVideoError as exc:  # an honest refusal would be fine
                after = await client.videos.get_job(job.id)
                print("cancel raised", exc)
        with clock.waiting():
            await clock.sleep(2 * GEN)
        video = server.videos[after.remote_id or next(iter(server.videos))]
        billed = server.view(video)["status"] == "completed" and not video.deleted
        final = await client.videos.get_job(job.id)
        print(
            final.status,
            final.result,
            final.estimated_cost_usd,
            [r.message for r in caplog.records],
        )
        assert not (billed and final.status is sv.JobStatus.CANCELLED), (
            "the server refused the DELETE; its video completed and is billed, "
            "but the ledger says cancelled with no result"
        )


# -- 5. 429 with Retry-After on creates and reads ---------------------------------------


async def test_retry_after_on_create_and_status_is_honoured() -> None:
    clock = sv.VirtualClock(only_while_waiting=True)
    server = SpecSora(clock.time, generation_time=GEN, page_size=2)
    server.retry_after = "30"
    server.rate_limit = {"POST": 1}
    times: list[tuple[str, float, int]] = []
    original = server.handle

    def handle(method: str, path: str, *rest: Any) -> Any:
        reply = original(method, path, *rest)
        times.append((method, clock.time(), reply.status))
        return reply

    server.handle = handle  # type: ignore[method-assign]
    async with _client(server, clock, max_retry_after=60) as client:
        jobs = await client.videos.create_videos(
            [sv.CreateVideoRequest(prompt=f"r{n}") for n in range(3)]
        )
        with clock.waiting():
            await clock.sleep(20)
        server.rate_limit["GET"] = 2
        done = [await client.videos.wait_for_job(j.id, timeout=3600) for j in jobs]
        assert {j.status for j in done} == {sv.JobStatus.COMPLETED}
        check(server, await _all_jobs(client))
    limited = [(m, t) for m, t, s in times if s == 429]
    for method, at in limited:
        later = [t for m, t, s in times if m == method and t > at - 1e-9 and s != 429]
        assert not later or min(later) >= at + 30 - 1e-6, (method, at, later[:3])


# -- 6. close mid-flight, resume with a new client ----------------------------------------


async def test_close_mid_flight_then_resume_on_a_new_client(tmp_path: Path) -> None:
    clock = sv.VirtualClock(only_while_waiting=True)
    server = SpecSora(clock.time, generation_time=GEN, page_size=2)
    ledger = tmp_path / "ledger.db"
    first = _client(server, clock, SQLiteRepository(ledger), max_concurrency=10)
    async with first:
        jobs = await first.videos.create_videos(
            [sv.CreateVideoRequest(prompt=f"p{n}") for n in range(5)]
        )
        with clock.waiting():
            while not await _all_sent(first, jobs):
                await clock.sleep(0.5)
            await clock.sleep(15)
        before = await _all_jobs(first)
        assert {j.status for j in before} == {sv.JobStatus.PROCESSING}
    second = _client(server, clock, SQLiteRepository(ledger))
    async with second:
        summary = await second.resume()
        assert summary.jobs == 5
        final = await _all_jobs(second)
        assert {j.status for j in final} == {sv.JobStatus.COMPLETED}
        check(server, final)


# -- 7. a video deleted at the server while it is polled -----------------------------------


async def test_a_video_deleted_elsewhere_ends_its_job() -> None:
    clock = sv.VirtualClock(only_while_waiting=True)
    server = SpecSora(clock.time, generation_time=GEN, page_size=2)
    async with _client(server, clock) as client:
        jobs = await client.videos.create_videos(
            [sv.CreateVideoRequest(prompt=f"d{n}") for n in range(3)]
        )
        with clock.waiting():
            while not await _all_sent(client, jobs):
                await clock.sleep(0.5)
        gone = (await client.videos.get_job(jobs[0].id)).remote_id or ""
        server.videos[gone].deleted = True  # expired or deleted in the dashboard: 404 from now
        done = [await client.videos.wait_for_job(j.id, timeout=3600) for j in jobs]
        assert done[0].status is sv.JobStatus.FAILED
        assert done[0].error is not None and done[0].error.code == "remote_missing"
        assert {j.status for j in done[1:]} == {sv.JobStatus.COMPLETED}
        check(server, await _all_jobs(client))


# -- 8. many in flight: paging cost ---------------------------------------------------------


async def test_many_in_flight_over_two_item_pages() -> None:
    clock = sv.VirtualClock(only_while_waiting=True)
    server = SpecSora(clock.time, generation_time=GEN, page_size=2)
    async with _client(server, clock, max_concurrency=20) as client:
        jobs = await client.videos.create_videos(
            [sv.CreateVideoRequest(prompt=f"m{n}") for n in range(20)]
        )
        done = [await client.videos.wait_for_job(j.id, timeout=3600) for j in jobs]
        assert {j.status for j in done} == {sv.JobStatus.COMPLETED}
        check(server, await _all_jobs(client))
    pages = [s for s in server.requests("GET") if s.path == "/v1/videos"]
    singles = [s for s in server.requests("GET") if s.path != "/v1/videos"]
    print(f"20 videos of 60 s: {len(pages)} list pages, {len(singles)} single reads")
    assert all(s.status == 200 for s in server.seen if s.method == "GET")


# -- 9. a list cursor gone between two pages ------------------------------------------------


async def test_one_404_on_a_cursor_page_does_not_end_list_polling_for_good() -> None:
    """A 404 on ``GET /videos?after=ID`` (the cursor video was deleted or expired between
    two pages) is taken as "this gateway has no list endpoint", remembered for the
    transport's life: every later refresh reads each video on its own."""
    clock = sv.VirtualClock(only_while_waiting=True)
    server = SpecSora(clock.time, generation_time=GEN, page_size=2)
    async with _client(server, clock, max_concurrency=10) as client:
        jobs = await client.videos.create_videos(
            [sv.CreateVideoRequest(prompt=f"c{n}") for n in range(8)]
        )
        with clock.waiting():
            while not await _all_sent(client, jobs):
                await clock.sleep(0.5)
        server.cursor_gone_once = True
        done = [await client.videos.wait_for_job(j.id, timeout=3600) for j in jobs]
        assert {j.status for j in done} == {sv.JobStatus.COMPLETED}
        check(server, await _all_jobs(client))
    gone = next(i for i, s in enumerate(server.seen) if s.status == 404)
    later = server.seen[gone + 1 :]
    pages = [s for s in later if s.method == "GET" and s.path == "/v1/videos"]
    singles = [s for s in later if s.method == "GET" and s.path != "/v1/videos"]
    print(f"after the cursor 404: {len(pages)} list pages, {len(singles)} single reads")
    assert pages, "list polling never used again after one 404 on a cursor page"
