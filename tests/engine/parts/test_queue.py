"""JobQueue alone: the order jobs are sent in, retries, batch caps. No I/O, no clock."""

from __future__ import annotations

import soravideo as sv
from soravideo._engine.queue import JobQueue
from soravideo.testing.repository_contract import make_job

NOW = 1_000.0


def never(job: sv.Job) -> bool:
    return False


def nothing_running(batch_id: str) -> int:
    return 0


def pop(queue: JobQueue, now: float = NOW, **kwargs: object) -> sv.Job | None:
    options: dict[str, object] = {"blocked": never, "running": nothing_running, "caps": {}}
    options.update(kwargs)
    return queue.pop_next(now, **options)  # type: ignore[arg-type]


def test_highest_priority_first_then_the_oldest() -> None:
    queue = JobQueue()
    old = make_job("old", age=0)
    new = make_job("new", age=10)
    urgent = make_job("urgent", age=20, priority=sv.JobPriority.HIGH)
    for job in (new, urgent, old):
        queue.push(job)
    assert [pop(queue).id for _ in range(3)] == ["urgent", "old", "new"]  # type: ignore[union-attr]
    assert pop(queue) is None
    assert len(queue) == 0


def test_a_job_waiting_for_its_retry_is_not_sent_before_then() -> None:
    queue = JobQueue()
    queue.push(make_job("later"), at=NOW + 5)
    assert pop(queue) is None
    assert "later" in queue
    assert queue.next_retry(NOW) == NOW + 5
    job = pop(queue, now=NOW + 5)
    assert job is not None and job.id == "later"
    assert queue.next_retry(NOW) is None


def test_retry_times_outlive_a_clear_but_not_a_removal() -> None:
    # A waiting call stops the engine (its queue is handed back) and starts it again: the
    # job claimed again still waits for its retry.
    queue = JobQueue()
    job = make_job("backing-off")
    queue.push(job, at=NOW + 30)
    assert queue.clear() == ["backing-off"]
    assert len(queue) == 0
    queue.push(job)
    assert pop(queue) is None
    assert queue.remove("backing-off")
    assert not queue.remove("backing-off")
    queue.push(job)
    assert pop(queue) is job


def test_the_batch_with_fewer_jobs_in_flight_goes_first_and_a_full_batch_waits() -> None:
    queue = JobQueue()
    queue.push(make_job("a1", age=0, batch_id="a"))
    queue.push(make_job("b1", age=5, batch_id="b"))
    running = {"a": 2, "b": 0}
    job = pop(queue, running=running.__getitem__)
    assert job is not None and job.id == "b1"  # younger, but its batch runs nothing
    # Batch "a" is at its own limit of 2: nothing goes.
    assert pop(queue, running=running.__getitem__, caps={"a": 2}) is None
    job = pop(queue, running=running.__getitem__, caps={"a": 3})
    assert job is not None and job.id == "a1"


def test_a_blocked_job_stays_queued() -> None:
    queue = JobQueue()
    queue.push(make_job("cancelling"))
    queue.push(make_job("other", age=1))
    job = pop(queue, blocked=lambda j: j.id == "cancelling")
    assert job is not None and job.id == "other"
    assert list(queue) == ["cancelling"]
    assert [j.id for j in queue.jobs()] == ["cancelling"]
