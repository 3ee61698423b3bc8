"""The provider misbehaving, on a real socket: rate limits waited out, 5xx answers and
connection resets absorbed, an outage in the middle of a batch followed by recovery."""

from __future__ import annotations

import threading

import pytest

import soravideo as sv
from helpers import (
    ClientFactory,
    assert_created_once,
    assert_distinct_remote_ids,
    logged,
    request,
    requests,
)
from soravideo.testing import FakeSora


def test_rate_limit_with_retry_after_is_waited_out_and_the_job_completes(
    make_client: ClientFactory, fake: FakeSora
) -> None:
    fake.inject(status=429, retry_after=1, match="POST /videos", code="rate_limit_exceeded")
    with make_client() as client:
        job = client.videos.create_video(request())
        done = client.videos.wait_for_job(job.id, timeout=10)

    assert done.status is sv.JobStatus.COMPLETED and done.remote_id
    limited, accepted = logged(fake, "POST")
    assert (limited.status, limited.response_headers["retry-after"]) == (429, "1")
    assert (accepted.status, accepted.tag) == (200, "created")
    # Waited out: the next request of any kind came no sooner than Retry-After.
    after = [r for r in fake.requests if r.seq > limited.seq]
    assert after[0] is accepted
    assert accepted.time - limited.time >= 1.0 - 0.01  # wall clocks tick in steps
    # The retry is the same create, not a second video.
    assert accepted.headers["idempotency-key"] == limited.headers["idempotency-key"]
    assert done.attempts == 1
    assert_created_once(fake, 1)


FAULTS = {
    "503 on create": [{"status": 503, "match": "POST /videos"}],
    # The create happened but its answer was lost: reconciled, never sent as a second video.
    "reset after create": [{"reset": True, "phase": "after", "match": "POST /videos"}],
    "reset before create": [{"reset": True, "match": "POST /videos"}],
    "500 and reset on status reads": [
        {"status": 500, "match": "GET /videos/*"},
        {"reset": True, "match": "GET /videos/*"},
        {"status": 502, "match": "GET /videos/*"},
    ],
}


@pytest.mark.parametrize("faults", FAULTS.values(), ids=FAULTS.keys())
def test_server_errors_and_connection_resets_are_absorbed(
    make_client: ClientFactory, fake: FakeSora, faults: list[dict[str, object]]
) -> None:
    injected = [fake.inject(**fault) for fault in faults]  # type: ignore[arg-type]
    with make_client() as client:
        job = client.videos.create_video(request())
        done = client.videos.wait_for_job(job.id, timeout=10)

    assert [f.fired for f in injected] == [1] * len(injected), "a fault never fired"
    assert done.status is sv.JobStatus.COMPLETED, done.error
    assert done.error is None and done.remote_id
    assert fake.video(done.remote_id)["status"] == "completed"
    assert_created_once(fake, 1)


def test_provider_outage_during_a_batch_then_recovery(
    make_client: ClientFactory, fake: FakeSora
) -> None:
    client = make_client(max_concurrency=2)
    submitted = threading.Event()
    client.on("submitted", lambda event: submitted.set())
    with client:
        created = client.batches.create_batch(
            sv.BatchVideoRequest(videos=requests(5, prefix="outage"), concurrency=2)
        )
        # Start it in the background, and take the provider down once it is under way.
        outcome: list[sv.Batch] = []
        runner = threading.Thread(
            target=lambda: outcome.append(client.batches.process_batch(created.batch_id))
        )
        runner.start()
        assert submitted.wait(5), "the batch never started"
        outage = fake.inject(status=503, message="The service is temporarily down.", times=6)
        runner.join(timeout=30)
        assert not runner.is_alive(), "the batch did not finish after the outage"
        report = client.batches.get_batch_status(created.batch_id)

    assert outage.fired == 6
    failed = [r for r in fake.requests if r.status == 503]
    assert len(failed) == 6 and all(r.fault == "status" for r in failed)
    assert any(r.seq > failed[-1].seq and r.status == 200 for r in fake.requests)
    (batch,) = outcome
    assert batch.status is sv.BatchStatus.COMPLETED
    assert batch.progress == sv.BatchProgress(total=5, completed=5, percentage=100.0)
    assert [j.status for j in report.jobs] == [sv.JobStatus.COMPLETED] * 5
    assert_distinct_remote_ids(list(report.jobs))
    assert_created_once(fake, 5)
