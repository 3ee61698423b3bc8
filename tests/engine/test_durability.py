"""Crashes and shared ledgers: real processes, a real SQLite file, FakeSora on a loopback port.

The SIGKILL-during-a-batch scenario runs with the end-to-end scenarios
(tests/e2e/test_durability.py); both use the shared helpers in tests/helpers.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import soravideo as sv
from helpers import (
    DURABLE_CHILD_API_KEY,
    assert_created_once,
    assert_distinct_remote_ids,
    finish_child,
    logged,
    read_ledger,
    sigkill_then_resume,
    start_child,
    wait_for_lines,
)
from soravideo.testing import FakeSora, check_exactly_once

pytestmark = pytest.mark.slow


@pytest.fixture
def served() -> Iterator[tuple[FakeSora, str]]:
    # Real time: the children are separate processes. Generation is short.
    fake = FakeSora(api_key=DURABLE_CHILD_API_KEY, generation_time=0.3)
    with fake.serve() as base_url:
        yield fake, base_url


def test_sigkill_mid_run_then_restart_finishes_with_no_duplicate(
    served: tuple[FakeSora, str], tmp_path: Path
) -> None:
    fake, base_url = served
    sigkill_then_resume(fake, base_url, tmp_path / "ledger.db", "create-and-wait", 8)


def test_two_processes_sharing_one_ledger_never_double_submit(
    served: tuple[FakeSora, str], tmp_path: Path
) -> None:
    fake, base_url = served
    db = tmp_path / "ledger.db"
    first = start_child(base_url, db, "create-and-wait", "12")
    wait_for_lines(first, "submitted", 1)
    second = start_child(base_url, db, "resume")
    finish_child(first)
    finish_child(second)
    jobs = read_ledger(db)
    assert [j.status for j in jobs] == [sv.JobStatus.COMPLETED] * 12
    assert_created_once(fake, 12)
    check_exactly_once(fake, jobs)


def test_the_same_batch_script_run_again_after_sigkill_makes_each_video_once(
    served: tuple[FakeSora, str], tmp_path: Path
) -> None:
    # W2-1 item 5: create_batch_from_file(path, key=...) then process_batch, killed after
    # two submissions and run again as it is: the same batch carries on.
    fake, base_url = served
    db, manifest = tmp_path / "ledger.db", tmp_path / "prompts.csv"
    manifest.write_text("prompt\n" + "".join(f"a paper boat take {i}\n" for i in range(4)))
    first = start_child(base_url, db, "script", str(manifest))
    wait_for_lines(first, "submitted", 2)
    first.kill()  # SIGKILL: no cleanup, leases left behind
    first.communicate(timeout=10)
    jobs = read_ledger(db)
    assert len(jobs) == 4
    assert any(not j.is_terminal for j in jobs), "the child finished before it was killed"

    second = start_child(base_url, db, "script", str(manifest))
    finish_child(second)
    jobs = read_ledger(db)
    assert [j.status for j in jobs] == [sv.JobStatus.COMPLETED] * 4
    assert_distinct_remote_ids(jobs)
    assert_created_once(fake, 4)
    check_exactly_once(fake, jobs)


def test_a_process_ended_between_the_providers_answer_and_the_ledger_write_is_adopted(
    served: tuple[FakeSora, str], tmp_path: Path
) -> None:
    # The provider answered the second create, then the process died (os._exit) before
    # the ledger recorded the answer: the job is processing with no remote id. A new
    # process on the same file must find that video (reconcile), never create it again.
    fake, base_url = served
    db = tmp_path / "ledger.db"
    first = start_child(base_url, db, "exit-after-answer", "3")
    (orphan,) = wait_for_lines(first, "answered", 1)
    first.communicate(timeout=10)
    assert first.returncode == 17
    jobs = read_ledger(db)
    assert orphan not in {j.remote_id for j in jobs}
    check_exactly_once(fake, jobs, settled=False)
    sent = len(logged(fake, "POST"))
    second = start_child(base_url, db, "resume")
    finish_child(second)
    jobs = read_ledger(db)
    assert [j.status for j in jobs] == [sv.JobStatus.COMPLETED] * 3
    assert orphan in {j.remote_id for j in jobs}
    # Nothing was created again: every create the resume sent was one the first never did.
    assert len(logged(fake, "POST")) == 3 >= sent
    assert_created_once(fake, 3)
    check_exactly_once(fake, jobs)
