"""A create answered with the id of a video another job owns (the ledger refuses the
write; ``Submitter._owned_elsewhere``), each ending with the exactly-once check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import soravideo as sv
from helpers import request
from soravideo.testing import check_ledger_exactly_once

pytestmark = pytest.mark.anyio


async def test_a_create_answered_with_another_jobs_id_is_neither_lost_nor_sent_twice(
    ledger: Callable[[], Any],
) -> None:
    async with sv.AsyncSoraVideo.simulated(repository=ledger(), generation_time=60) as client:
        fake = client.fake
        assert fake is not None
        first = await client.videos.create_video(request("a heron"))
        first = await client.videos.wait_for_job(first.id)
        assert first.remote_id is not None
        # The next create makes a video, but the answer names the first job's video.
        lie = fake.hostile("fields", match="POST /videos", values={"id": first.remote_id})
        second = await client.videos.create_video(request("a crane"))
        second = await client.videos.wait_for_job(second.id)
        assert second.status is sv.JobStatus.COMPLETED, second
        assert second.remote_id != first.remote_id
        assert lie.fired == 1
        assert fake.created_count() == 2
        await check_ledger_exactly_once(fake, client.repository)


async def test_a_create_always_answered_with_another_jobs_id_fails_after_bounded_tries(
    ledger: Callable[[], Any],
) -> None:
    async with sv.AsyncSoraVideo.simulated(
        repository=ledger(), generation_time=60, max_retries=2
    ) as client:
        fake = client.fake
        assert fake is not None
        first = await client.videos.wait_for_job(
            (await client.videos.create_video(request("a heron"))).id
        )
        assert first.remote_id is not None
        # Every create answered with the first job's id (listing shows the real one).
        lie = fake.hostile(
            "fields", match="POST /videos", values={"id": first.remote_id}, times=None
        )
        second = await client.videos.create_video(request("a crane"))
        second = await client.videos.wait_for_job(second.id)
        # Either it adopted its real video through the list, or it failed; never twice sent.
        assert second.status in (sv.JobStatus.COMPLETED, sv.JobStatus.FAILED), second
        assert fake.created_count() == 2, fake.created_count()
        assert lie.fired >= 1
        await check_ledger_exactly_once(fake, client.repository)
