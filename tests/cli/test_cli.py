"""The ``soravideo`` command line, through its real entry point in subprocesses.

Each subprocess costs an interpreter start, so every test here runs as few as it can and
checks several things at once; the error paths that need no process of their own are in
test_cli_inprocess.py.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
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


def assert_one_error_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_help_lists_every_command_and_the_exit_codes(tmp_path: Path) -> None:
    result = soravideo("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert f"\n    {command} " in result.stdout, command
    assert "exit codes:" in result.stdout
    for code in ("0 ", "1 ", "2 ", "3 "):
        assert f"\n  {code}" in result.stdout


def test_demo_runs_offline_and_ends_with_a_partial_batch(tmp_path: Path) -> None:
    result = soravideo("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "partial — 5 of 6 completed, 1 failed, 0 cancelled (100% finished)" in out
    assert "moderation_blocked" in out
    assert "estimated cost: $" in out
    assert "status requests:" in out and "polling every second would have made" in out
    # The five singles, each in the summary table with its priority.
    for priority in ("low", "normal", "high", "urgent"):
        assert f"  {priority} " in out
    assert len(list((tmp_path / "demo-output" / "videos").glob("*.mp4"))) == 10
    assert (tmp_path / "demo-output" / "ledger.db").is_file()
    assert "Traceback" not in result.stderr


def test_simulated_create_wait_out_list_cancel_and_download(tmp_path: Path) -> None:
    sim = ("--provider", "simulated", "--db", "ledger.db")

    made = soravideo(
        *sim, "--json", "create", "a red fox", "--duration", "8", "--wait", "--out", "fox.mp4",
        cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    fox = json.loads(made.stdout)
    assert fox["status"] == "completed" and fox["progress"] == 100
    assert (tmp_path / "fox.mp4").stat().st_size == fox["result"]["bytes"] > 0
    assert "completed" in made.stderr  # the live progress lines

    stored = soravideo(*sim, "create", "a cat", "--priority", "high", "--json", cwd=tmp_path)
    assert stored.returncode == 0, stored.stderr
    cat = json.loads(stored.stdout)
    assert cat["status"] == "pending" and cat["priority"] == "high"

    cancelled = soravideo(*sim, "cancel", cat["id"], cwd=tmp_path)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"{cat['id']}  cancelled" in cancelled.stdout

    listed = soravideo(*sim, "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)
    assert page["total"] == 2
    assert {job["id"]: job["status"] for job in page["items"]} == {
        fox["id"]: "completed",
        cat["id"]: "cancelled",
    }

    # The simulator that made the fox is gone; the saved file is copied instead.
    copied = soravideo(*sim, "download", fox["id"], "--out", "copy.mp4", cwd=tmp_path)
    assert copied.returncode == 0, copied.stderr
    assert (tmp_path / "copy.mp4").read_bytes() == (tmp_path / "fox.mp4").read_bytes()


def test_batch_from_a_csv_with_json_output(tmp_path: Path) -> None:
    manifest = tmp_path / "prompts.csv"
    manifest.write_text(
        "prompt,duration,priority\n"
        "a dog on a skateboard,4,high\n"
        "a scene that should fail-moderation,8,\n"
        "a bird over the sea,,low\n",
        encoding="utf-8",
    )
    result = soravideo(
        "--provider", "simulated", "--db", "ledger.db", "--json",
        "batch", "prompts.csv", "--concurrency", "2", "--out-dir", "videos",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # partial is not completed
    report = json.loads(result.stdout)
    assert report["batch"]["status"] == "partial"
    assert report["batch"]["name"] == "prompts"
    progress = report["progress"]
    assert (progress["total"], progress["completed"], progress["failed"]) == (3, 2, 1)
    assert progress["percentage"] == 100.0
    by_prompt = {job["request"]["prompt"]: job for job in report["jobs"]}
    failed = by_prompt["a scene that should fail-moderation"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "moderation_blocked"
    for prompt in ("a dog on a skateboard", "a bird over the sea"):
        path = Path(by_prompt[prompt]["result"]["path"])
        assert path.parent == tmp_path / "videos" and path.is_file()
    assert by_prompt["a dog on a skateboard"]["priority"] == "high"
    assert "submitted" in result.stderr  # live progress lines


def test_validation_error_exits_2_naming_every_field(tmp_path: Path) -> None:
    result = soravideo(
        "--provider", "simulated", "--db", "ledger.db",
        "create", " ", "--duration", "-3", "--size", "big", "--resolution", "9000p",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert_one_error_line(result, "prompt", "duration", "size", "resolution")
    assert result.stdout == ""


def test_unreachable_provider_exits_3_and_stores_nothing(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Closed now: connections are refused.
    result = soravideo(
        "--provider", "sora", "--base-url", f"http://127.0.0.1:{port}/v1", "--db", "ledger.db",
        "create", "a fox", "--wait",
        cwd=tmp_path,
        env=_env(SORAVIDEO_API_KEY=SECRET),
    )  # fmt: skip
    assert result.returncode == 3
    assert_one_error_line(result, "cannot reach", f"127.0.0.1:{port}")
    assert SECRET not in result.stdout + result.stderr
    assert not (tmp_path / "ledger.db").exists()


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
