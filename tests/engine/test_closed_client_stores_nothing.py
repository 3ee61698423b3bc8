"""A call that would store new jobs on a closed client is refused, and nothing is stored:
a job stored then would wait in the ledger with no engine to send it, while its caller
believed it under way. Reading, cancelling and closing again still work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import soravideo as sv
from helpers import request
from soravideo.testing import check_ledger_exactly_once

pytestmark = pytest.mark.anyio

NewJobs = Callable[[sv.AsyncSoraVideo, sv.Job], Awaitable[Any]]

NEW_JOBS: dict[str, NewJobs] = {
    "create_video": lambda c, _: c.videos.create_video(request("a late heron")),
    "create_videos": lambda c, _: c.videos.create_videos([request("a"), request("b")]),
    "create_batch": lambda c, _: c.batches.create_batch(
        sv.BatchVideoRequest(videos=[request("a late batch")])
    ),
    "create_batch with a key": lambda c, _: c.batches.create_batch(
        sv.BatchVideoRequest(videos=[request("a late batch")]), key="late"
    ),
    "remix_video": lambda c, done: c.videos.remix_video(done.id, "make it red"),
}


@pytest.mark.parametrize("call", NEW_JOBS.values(), ids=NEW_JOBS.keys())
@pytest.mark.parametrize("entered", [True, False], ids=["async with", "aclose"])
async def test_a_closed_client_refuses_new_jobs_and_stores_nothing(
    call: NewJobs, entered: bool
) -> None:
    client = sv.AsyncSoraVideo.simulated()
    if entered:
        async with client:
            done = await client.videos.wait_for_job(
                (await client.videos.create_video(request("a heron"))).id
            )
    else:
        done = await client.videos.wait_for_job(
            (await client.videos.create_video(request("a heron"))).id
        )
        await client.aclose()

    with pytest.raises(RuntimeError, match="this client is closed"):
        await call(client, done)

    page = await client.repository.list_jobs()
    assert [job.id for job in page.items] == [done.id]
    assert (await client.repository.list_batches()).items == ()
    await client.aclose()  # still idempotent
    assert client.fake is not None
    await check_ledger_exactly_once(client.fake, client.repository)


async def test_bad_input_on_a_closed_client_is_still_named_field_by_field() -> None:
    client = sv.AsyncSoraVideo.simulated()
    await client.aclose()
    with pytest.raises(sv.ValidationError) as raised:
        await client.videos.create_video(sv.CreateVideoRequest(prompt=""))
    assert [e.field for e in raised.value.errors] == ["prompt"]


def test_the_sync_client_refuses_new_jobs_once_closed() -> None:
    client = sv.SoraVideo.simulated()
    job = client.videos.create_video(request("a heron"))
    client.close()
    with pytest.raises(RuntimeError, match="this client is closed"):
        client.videos.create_video(request("a late heron"))
    with pytest.raises(RuntimeError, match="this client is closed"):
        client.videos.create_videos([request("a late heron")])
    assert job.status is sv.JobStatus.PENDING


RUNS_JOBS: dict[str, Callable[[sv.AsyncSoraVideo, str], Awaitable[Any]]] = {
    "process_batch": lambda c, batch_id: c.batches.process_batch(batch_id),
    "resume": lambda c, _: c.resume(),
    "run_worker": lambda c, _: c.run_worker(),
}


@pytest.mark.parametrize("call", RUNS_JOBS.values(), ids=RUNS_JOBS.keys())
async def test_a_closed_client_runs_no_job_and_writes_nothing(
    call: Callable[[sv.AsyncSoraVideo, str], Awaitable[Any]],
) -> None:
    # A batch stored, then the client closed before it ran: nothing runs it any more.
    client = sv.AsyncSoraVideo.simulated()
    created = await client.batches.create_batch(sv.BatchVideoRequest(videos=[request("a heron")]))
    await client.aclose()
    with pytest.raises(RuntimeError, match="this client is closed"):
        await call(client, created.batch_id)
    batch = await client.repository.get_batch(created.batch_id)
    assert batch.status is sv.BatchStatus.PENDING
    [job] = (await client.repository.list_jobs()).items
    assert job.status is sv.JobStatus.PENDING
    assert client.fake is not None
    assert client.fake.created_count() == 0
    await check_ledger_exactly_once(client.fake, client.repository, settled=False)
