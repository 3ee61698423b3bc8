"""A cancel, from a second client, that finds a video already finished at the provider,
while a worker on the same PostgreSQL ledger holds the job and polls it.

Where the provider's cancel says the job had already ended (fal, Gemini, Replicate), the
cancelling client asks it first and records the job as it ended there (completed, with its
result), although the job's lease is the worker's; the cancel raises ``JobStateError``. The
worker's next poll finds the job completed and lets it go: one video, one result. Engine
time is a ``ManualClock``; the ledger is a real server, so the test waits for the ledger's
state (not for time) between steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

import soravideo as sv
from helpers import request, until
from soravideo._core.events import EventBus
from soravideo._engine.runner import JobRunner
from soravideo.repositories.postgres import PostgresRepository
from soravideo.testing import check_ledger_exactly_once
from soravideo.testing._simulated import simulated_provider_parts

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

GENERATION = 60.0
SAFETY_NET = 900.0  # the worker's first poll comes long after the video ended there
STEP = 10.0


@pytest.mark.parametrize("provider", ["fal", "gemini", "replicate"])
async def test_a_second_clients_cancel_records_a_video_finished_unseen_under_a_workers_lease(
    postgres_dsn: str, provider: str
) -> None:
    clock = sv.ManualClock()
    start = clock.time()
    fake, transport = simulated_provider_parts(provider, clock, generation_time=GENERATION)  # type: ignore[arg-type]
    assert transport.capabilities.cancel_reports_ended
    seen: list[tuple[str, str, str]] = []

    def recorder(who: str) -> Callable[[sv.JobEvent], Awaitable[None]]:
        async def record(event: sv.JobEvent) -> None:
            seen.append((who, event.kind, event.job.status.value))

        return record

    worker_events = EventBus()
    worker_events.on("*", recorder("worker"))
    async with (
        PostgresRepository(postgres_dsn) as ledger_w,
        PostgresRepository(postgres_dsn) as ledger_c,
    ):
        worker = JobRunner(
            repository=ledger_w,
            transport=transport,
            settings=sv.Settings(poll_min_interval=SAFETY_NET, poll_max_interval=SAFETY_NET),
            clock=clock,
            events=worker_events,
            owner="worker",
        )
        worker.worker_mode = True
        # Another process's client: it creates the job, then cancels it (never entered, it
        # runs no engine of its own: the worker sends and polls the job).
        client = sv.AsyncSoraVideo(
            transport=transport,
            repository=ledger_c,
            clock=clock,
            poll_min_interval=SAFETY_NET,
            poll_max_interval=SAFETY_NET,
        )
        client.on("*", recorder("client"))
        job = await client.videos.create_video(request("finished unseen"))
        async with worker.driving():
            worker.wake()

            async def sent() -> bool:
                return (await ledger_c.get_job(job.id)).remote_id is not None

            await until("the worker sends the create", sent)
            assert worker.holds(job.id)
            video = (await ledger_c.get_job(job.id)).remote_id
            assert video is not None

            async def ended_there() -> bool:
                if (await transport.fetch(video)).status.is_terminal:
                    return True
                clock.advance(STEP)
                return False

            await until("the video ends at the provider", ended_there)
            assert clock.time() - start < SAFETY_NET / 2  # well before the worker's first poll
            before = await ledger_c.get_job(job.id)
            assert before.status is sv.JobStatus.PROCESSING  # unseen by the worker
            assert worker.holds(job.id)

            with pytest.raises(sv.JobStateError, match="the job is completed") as raised:
                await client.videos.cancel_job(job.id)
            assert raised.value.status == "completed"
            done = await ledger_c.get_job(job.id)
            assert done.status is sv.JobStatus.COMPLETED, done.error
            assert done.remote_id == video and done.result is not None
            assert video not in fake.cancelled_ids()  # nothing was stopped

            # The worker's next poll finds the job ended and lets it go.
            async def let_go() -> bool:
                if not worker.holds(job.id):
                    return True
                clock.advance(STEP)
                return False

            await until("the worker lets the job go", let_go)
            worker.worker_mode = False
        after = await ledger_w.get_job(job.id)
        assert after.status is sv.JobStatus.COMPLETED
        assert after.result == done.result and after.updated_at == done.updated_at
        assert fake.created_count() == 1
        assert video not in fake.cancelled_ids()
        assert [e for e in seen if e[1] == "cancelled"] == []
        assert len([e for e in seen if e[1] == "completed"]) == 1, seen
        await check_ledger_exactly_once(fake, ledger_w)
