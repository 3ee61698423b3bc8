"""The rules the ledgers share (``repositories/_common.py``), where the contract suite cannot
reach them."""

from __future__ import annotations

import attrs

from soravideo import ConflictError, JobNotFoundError, JobStatus
from soravideo.repositories import JobUpdate
from soravideo.repositories._common import update_outcomes
from soravideo.testing.repository_contract import make_job


def test_update_outcomes_follow_the_states_the_updates_before_leave() -> None:
    job = make_job()
    sent = attrs.evolve(job, status=JobStatus.COMPLETED)
    updates = [
        JobUpdate(job=sent, expected_status=JobStatus.PENDING, lease_owner="w1"),
        JobUpdate(job=sent, expected_status=JobStatus.PENDING),
        JobUpdate(job=make_job(), expected_status=JobStatus.PENDING),
        # Every check passes, yet the statement wrote nothing: the row moved under it.
        JobUpdate(job=sent, expected_status=JobStatus.COMPLETED),
    ]
    states = {job.id: (JobStatus.PENDING, "w1")}
    written, refused, gone, raced = update_outcomes(updates, states, [True, False, False, False])
    assert written == sent
    assert isinstance(refused, ConflictError)
    assert (refused.expected, refused.actual) == ("pending", "completed")
    assert isinstance(gone, JobNotFoundError)
    assert isinstance(raced, ConflictError)
    assert "concurrently" in str(raced)
