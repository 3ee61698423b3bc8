"""The ``soravideo`` command line through its real entry points, in subprocesses.

Each subprocess costs an interpreter start, so here are the entry points themselves
(``python -m soravideo`` and the console script, making and listing a video on one ledger
file) and a worker stopped by a real SIGTERM. Every other command
(``python -m soravideo`` is a one-line wrapper around ``main()``) runs in
test_cli_inprocess.py, each call a fresh client on the same ledger file, as separate
processes would be.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest

import soravideo as sv
from helpers import read_ledger
from soravideo.repositories import SQLiteRepository
from soravideo.testing import FakeSora
from soravideo.transports import SoraTransport

pytestmark = pytest.mark.slow

COMMANDS = (
    "create",
    "status",
    "list",
    "cancel",
    "download",
    "batch",
    "resume",
    "health",
    "metrics",
    "demo",
    "worker",
)
SECRET = "sk-cli-test-secret-0123456789"
# Generous: only reached when something hangs, never waited for when things work.
DEADLINE = 60.0


def _env(**extra: str) -> dict[str, str]:
    """The parent's environment without any provider or ledger configuration."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SORAVIDEO_", "OPENAI_", "RUNWAYML_"))
    }
    env.update(extra)
    return env


def soravideo(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "soravideo", *args],
        cwd=cwd,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def test_help_lists_every_command_and_the_exit_codes(tmp_path: Path) -> None:
    result = soravideo("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert f"\n    {command} " in result.stdout, command
    assert "exit codes:" in result.stdout
    for code in ("0 ", "1 ", "2 ", "3 "):
        assert f"\n  {code}" in result.stdout


def test_a_non_utf8_prompt_argument_is_refused_not_stored(tmp_path: Path) -> None:
    # The real argv path: the operating system hands Python the byte 0xff, which is not
    # UTF-8; Python keeps it as the lone surrogate U+DCFF.
    sim = [b"--provider", b"simulated", b"--db", b"ledger.db"]
    made = subprocess.run(
        [sys.executable.encode(), b"-m", b"soravideo", *sim, b"create", b"a fox \xff"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        timeout=DEADLINE,
    )
    assert made.returncode == 2, made.stderr
    err = made.stderr.decode("utf-8")
    assert err.startswith("error: ") and "prompt" in err and "lone surrogate" in err
    assert not (tmp_path / "ledger.db").exists()  # refused before the ledger was opened


def test_create_wait_and_list_through_both_entry_points(tmp_path: Path) -> None:
    # ``python -m soravideo`` makes a video; the ``soravideo`` console script, a separate
    # process on the same ledger file, lists it. (Every other command: test_cli_inprocess.py.)
    sim = ("--provider", "simulated", "--db", "ledger.db", "--json")
    made = soravideo(*sim, "create", "a red fox", "--wait", "--out", "fox.mp4", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    fox = json.loads(made.stdout)
    assert fox["status"] == "completed"
    assert (tmp_path / "fox.mp4").stat().st_size == fox["result"]["bytes"] > 0

    script = Path(sys.executable).with_name("soravideo")
    listed = subprocess.run(
        [str(script), *sim, "list"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert listed.returncode == 0, listed.stderr
    assert [job["id"] for job in json.loads(listed.stdout)["items"]] == [fox["id"]]


def _lines(stream: Any) -> queue.Queue[str | None]:
    """Read a pipe line by line on a thread, so the test can give up instead of hanging."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue[str | None], *wanted: tuple[str, str]) -> list[tuple[str, str]]:
    """Read the worker's JSON event lines until every (job id, event) in ``wanted`` came."""
    seen: list[tuple[str, str]] = []
    while not set(wanted) <= set(seen):
        line = lines.get(timeout=DEADLINE)
        assert line is not None, f"the worker ended early; it reported {seen}"
        event = json.loads(line)
        seen.append((event["job"]["id"], event["event"]))
    return seen


async def _store(base_url: str, db: Path, prompt: str) -> str:
    """Store a pending job in the ledger without running any engine; return its id."""
    client = sv.AsyncSoraVideo(
        transport=SoraTransport(base_url=base_url), repository=SQLiteRepository(db)
    )
    try:
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt=prompt))
    finally:
        await client.aclose()
    return job.id


def _slow_for_slow_prompts(params: Mapping[str, Any]) -> float:
    return 600.0 if "slow" in str(params["prompt"]) else 0.3


def test_worker_runs_jobs_created_by_another_process_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    # Real time: the worker is another process. One video is quick, one takes ten minutes.
    fake = FakeSora(generation_time=_slow_for_slow_prompts)
    db = tmp_path / "ledger.db"
    with fake.serve() as base_url:
        common = ("--db", str(db), "--base-url", base_url, "--json")
        env = _env(SORAVIDEO_POLL_MIN_INTERVAL="0.05")
        with subprocess.Popen(
            [sys.executable, "-m", "soravideo", *common, "worker"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as worker:
            try:
                lines = _lines(worker.stdout)
                quick = soravideo(*common, "create", "a quick fox", cwd=tmp_path, env=env)
                assert quick.returncode == 0, quick.stderr
                quick_id = json.loads(quick.stdout)["id"]
                # A third process (this one) adds a job too: any process may feed the worker.
                slow_id = anyio.run(_store, base_url, db, "a slow sunset")
                seen = _wait_for(lines, (quick_id, "completed"), (slow_id, "submitted"))
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=DEADLINE)
                assert worker.stderr is not None
                err = worker.stderr.read()
            finally:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
    assert worker.returncode == 0, err
    assert "Traceback" not in err and "SIGTERM" in err
    quick_events = [kind for job, kind in seen if job == quick_id]
    assert quick_events[0] == "submitted" and quick_events[-1] == "completed"
    assert fake.created_count() == 2

    async def ledger() -> tuple[sv.Job, sv.Job, list[str]]:
        async with SQLiteRepository(db) as repository:
            done = await repository.get_job(quick_id)
            running = await repository.get_job(slow_id)
            # The worker gave its lease back: another worker may take the job over at once.
            now = datetime.now(timezone.utc)
            free = await repository.claim_jobs("another", limit=10, lease_seconds=60, now=now)
            return done, running, [j.id for j in free]

    done, running, claimable = anyio.run(ledger)
    assert done.status is sv.JobStatus.COMPLETED
    assert running.status is sv.JobStatus.PROCESSING and running.remote_id is not None
    assert claimable == [slow_id]


@pytest.mark.parametrize("again", ["resume", "batch"])
def test_batch_killed_midway_then_run_again_makes_and_saves_every_video_once(
    tmp_path: Path, again: str
) -> None:
    # W2-1 item 13: `batch --out-dir out` killed at 3 of 10, then `resume` (with no
    # --out-dir): every video completes and lands in out, where the batch meant it to.
    # Item 5: the same `batch` command run again carries on with its batch (no new jobs).
    (tmp_path / "prompts.csv").write_text(
        "prompt\n" + "".join(f"a paper boat take {i}\n" for i in range(10))
    )
    # Ten videos two at a time: at the third download at least three rounds of generation
    # are left. The run started again waits out the killed one's leases.
    fake = FakeSora(generation_time=0.3)
    db = tmp_path / "ledger.db"
    # FakeSora deduplicates creates: a create killed on the wire is sent again on resume.
    env = _env(
        SORAVIDEO_POLL_MIN_INTERVAL="0.05",
        SORAVIDEO_LEASE_SECONDS="0.5",
        SORAVIDEO_IDEMPOTENT_CREATES="1",
    )
    with fake.serve() as base_url:
        common = ("--db", str(db), "--base-url", base_url)
        batch = ("batch", "prompts.csv", "--out-dir", "out", "--concurrency", "2")
        with subprocess.Popen(
            [sys.executable, "-m", "soravideo", *common, *batch],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ) as first:
            try:
                lines = _lines(first.stderr)
                downloaded, seen = 0, []
                while downloaded < 3:
                    line = lines.get(timeout=DEADLINE)
                    assert line is not None, f"the batch ended before it was killed: {seen}"
                    seen.append(line)
                    downloaded += "downloaded" in line
            finally:
                first.kill()  # SIGKILL: no clean-up, leases left behind
                first.wait()
        assert 3 <= len(list((tmp_path / "out").iterdir())) < 10
        resumed = soravideo(
            *common, *(batch if again == "batch" else ["resume"]), cwd=tmp_path, env=env
        )
    assert resumed.returncode == 0, resumed.stderr
    jobs = read_ledger(db)
    assert [job.status for job in jobs] == [sv.JobStatus.COMPLETED] * 10
    names = [p.name for p in (tmp_path / "out").iterdir()]
    # A download cut by SIGKILL leaves its hidden partial file (at most one per download
    # running then): never taken for a video, and never the name of one.
    partial = [n for n in names if n.startswith(".") and n.endswith(".part")]
    assert len(partial) <= 2, partial
    assert sorted(n for n in names if n not in partial) == sorted(f"{job.id}.mp4" for job in jobs)
    assert fake.created_count() == 10
