"""``soravideo serve`` in a real process on a loopback port, against FakeSora served by the
test: the main path and a graceful SIGTERM; a SIGKILL, then a restart on the same ledger
that finishes every job. Real time: generations well under a second."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import read_ledger
from server_kit import KEY
from soravideo.testing import FakeSora, check_exactly_once

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name == "nt", reason="POSIX signals"),
]

DEADLINE = 60.0  # only reached when something hangs


def _generation_time(params: Mapping[str, Any]) -> float:
    return 600.0 if "slow" in str(params["prompt"]) else 0.3


@contextmanager
def served(db: Path, base_url: str) -> Iterator[tuple[subprocess.Popen[str], httpx.Client]]:
    """Run ``soravideo serve`` on a free port; yield the process and a client sending KEY."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SORAVIDEO_", "OPENAI_"))}
    env.update(
        SORAVIDEO_SERVER_API_KEYS=f"{KEY},another-key",
        SORAVIDEO_POLL_MIN_INTERVAL="0.05",
        SORAVIDEO_POLL_MAX_INTERVAL="0.2",
        SORAVIDEO_LEASE_SECONDS="1",
    )
    command = ["--db", str(db), "--base-url", base_url, "serve", "--port", "0"]
    with subprocess.Popen(
        [sys.executable, "-m", "soravideo", *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            lines: queue.Queue[str | None] = queue.Queue()
            assert process.stderr is not None
            threading.Thread(target=_pump, args=(process.stderr, lines), daemon=True).start()
            address = _address(lines)
            with httpx.Client(base_url=address, headers={"x-api-key": KEY}, timeout=10) as http:
                http.lines = lines  # type: ignore[attr-defined]
                yield process, http
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _pump(stream: Any, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _address(lines: queue.Queue[str | None]) -> str:
    seen = []
    while True:
        line = lines.get(timeout=DEADLINE)
        assert line is not None, f"serve ended before listening: {seen}"
        seen.append(line)
        if line.startswith("serving on "):
            return line.split()[2]


def _until(check: Callable[[], Any]) -> Any:
    """Poll (real time) until ``check()`` is truthy; return it."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("gave up waiting")


def _status(http: httpx.Client, job_id: str) -> str:
    status: str = http.get(f"/api/v1/videos/{job_id}").json()["data"]["status"]
    return status


def test_create_batch_poll_result_cancel_list_then_sigterm_stops_it(tmp_path: Path) -> None:
    fake = FakeSora(generation_time=_generation_time)
    db = tmp_path / "ledger.db"
    with fake.serve() as base_url, served(db, base_url) as (process, http):
        made = http.post("/api/v1/videos", json={"prompt": "a red fox", "duration": 4})
        assert made.status_code == 201
        job_id = made.json()["data"]["jobId"]
        batch = http.post(
            "/api/v1/videos/batch", json={"videos": [{"prompt": "a"}, {"prompt": "b"}]}
        )
        assert batch.status_code == 201
        batch_id = batch.json()["data"]["batchId"]
        slow_id = http.post("/api/v1/videos", json={"prompt": "a slow sunset"}).json()["data"][
            "jobId"
        ]

        _until(lambda: _status(http, job_id) == "completed")
        result = http.get(f"/api/v1/videos/{job_id}/result")
        assert result.status_code == 200 and result.json()["data"]["remoteId"]
        assert http.get(f"/api/v1/videos/{slow_id}/result").status_code == 400
        cancelled = http.delete(f"/api/v1/videos/{slow_id}")
        assert cancelled.json() == {
            "success": True,
            "data": {"jobId": slow_id, "status": "cancelled"},
        }
        report = _until(
            lambda: (
                (r := http.get(f"/api/v1/batches/{batch_id}").json()["data"])["batch"]["status"]
                == "completed"
                and r
            )
        )
        assert report["progress"]["completed"] == 2
        listed = http.get("/api/v1/videos", params={"limit": 3}).json()
        assert listed["pagination"] == {
            "page": 1,
            "limit": 3,
            "total": 4,
            "pages": 2,
            "hasNext": True,
        }
        assert http.get("/api/v1/videos", headers={"x-api-key": "nope"}).status_code == 401
        assert http.get("/ready").status_code == 200

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=DEADLINE) == 0
        rest = []
        while (line := http.lines.get(timeout=DEADLINE)) is not None:  # type: ignore[attr-defined]
            rest.append(line)
    said = "".join(rest)
    assert "SIGTERM" in said and "server stopped" in said and "Traceback" not in said
    assert KEY not in said
    assert fake.cancelled_ids() and fake.created_count() == 4
    check_exactly_once(fake, read_ledger(db))


def test_a_server_killed_midway_is_restarted_and_every_job_finishes(tmp_path: Path) -> None:
    fake = FakeSora(generation_time=1.0)
    db = tmp_path / "ledger.db"
    with fake.serve() as base_url:
        with served(db, base_url) as (process, http):
            videos = [{"prompt": f"a paper boat, take {i}"} for i in range(4)]
            batch_id = http.post("/api/v1/videos/batch", json={"videos": videos}).json()["data"][
                "batchId"
            ]
            single = http.post("/api/v1/videos", json={"prompt": "a kite"}).json()["data"]["jobId"]

            def all_sent() -> bool:
                jobs = http.get("/api/v1/videos").json()["data"]
                return len(jobs) == 5 and all(job["remoteId"] for job in jobs)

            _until(all_sent)
            process.kill()  # SIGKILL: leases and batches left behind, videos generating
            process.wait()
        # Left in flight at the provider, with a lease nobody will give back.
        assert "processing" in {job.status.value for job in read_ledger(db)}

        with served(db, base_url) as (process, http):
            report = _until(
                lambda: (
                    (r := http.get(f"/api/v1/batches/{batch_id}").json()["data"])["batch"]["status"]
                    == "completed"
                    and r
                )
            )
            assert {job["status"] for job in report["jobs"]} == {"completed"}
            _until(lambda: _status(http, single) == "completed")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=DEADLINE) == 0
    assert fake.created_count() == 5  # nothing sent twice
    check_exactly_once(fake, read_ledger(db))
