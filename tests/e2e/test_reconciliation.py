"""Reconciling an unanswered create never adopts a video another job owns ([W2-1] item 2).

Two clients share one SQLite ledger and one served FakeSora. Job A completes; job B, with the
same prompt, sends a create whose outcome is unknown (a 500: nothing is created; or a reset
after the fake created it). B must never be reconciled onto A's video: it adopts its own, or
re-sends its create with the same ``Idempotency-Key``, and ends with a video of its own.
"""

from __future__ import annotations

import pytest

import soravideo as sv
from helpers import ClientFactory, assert_created_once, assert_distinct_remote_ids, request
from soravideo.testing import FakeSora

UNKNOWN_OUTCOMES = {
    # Nothing was created: B's only candidate is A's video, which it must leave alone.
    "500 on create": {"status": 500, "match": "POST /videos"},
    # B's video was created but the answer was lost: B adopts its own, never A's.
    "reset after create": {"reset": True, "phase": "after", "match": "POST /videos"},
}


@pytest.mark.parametrize("fault", UNKNOWN_OUTCOMES.values(), ids=UNKNOWN_OUTCOMES.keys())
def test_a_create_with_no_answer_never_adopts_another_jobs_video(
    make_client: ClientFactory, fake: FakeSora, fault: dict[str, object]
) -> None:
    with make_client() as first, make_client() as second:
        a = first.videos.create_video(request("a red fox"))
        a = first.videos.wait_for_job(a.id, timeout=10)
        assert a.status is sv.JobStatus.COMPLETED

        injected = fake.inject(**fault)  # type: ignore[arg-type]
        b = second.videos.create_video(request("a red fox"))
        b = second.videos.wait_for_job(b.id, timeout=10)

    assert injected.fired == 1, "the fault never fired"
    assert b.status is sv.JobStatus.COMPLETED, b.error
    assert b.remote_id != a.remote_id, "job B reports job A's video as its own"
    assert_distinct_remote_ids([a, b])
    assert_created_once(fake, 2)  # one video per completed job
    keys = {r.headers.get("idempotency-key") for r in fake.requests if r.method == "POST"}
    assert len(keys) == 2, "B's create was re-sent with another key"
