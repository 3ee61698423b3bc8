"""The command line's error paths and smaller commands, through ``main()`` in this process.

``python -m soravideo`` is a one-line wrapper around ``main()`` (test_cli.py runs it in
subprocesses); calling ``main()`` directly keeps these many small cases fast.
"""

from __future__ import annotations

import io
import json
import logging
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import soravideo as sv
from soravideo._cli import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, exit_code, main


class Run:
    """One finished command: exit code, stdout, stderr."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    def json(self) -> Any:
        return json.loads(self.out)

    def error_line(self) -> str:
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("error: "), lines[0]
        return lines[0]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith(("SORAVIDEO_", "OPENAI_", "RUNWAYML_")):
            monkeypatch.delenv(name)

    def run(*args: str, simulated: bool = True) -> Run:
        out, err = io.StringIO(), io.StringIO()
        prefix = ("--provider", "simulated", "--db", "ledger.db") if simulated else ()
        code = main([*prefix, *args], stdout=out, stderr=err)
        return Run(code, out.getvalue(), err.getvalue())

    return run


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (sv.ValidationError([sv.FieldError(field="prompt", message="empty")]), EXIT_USAGE),
        (sv.JobNotFoundError("job_x"), EXIT_USAGE),
        (sv.BatchNotFoundError("batch_x"), EXIT_USAGE),
        (sv.JobStateError("job_x", "completed", "no"), EXIT_USAGE),
        (sv.BudgetExceededError(2.0, 1.0), EXIT_USAGE),
        (sv.RepositoryError("disk"), EXIT_USAGE),
        (sv.JobTimeoutError("job_x", 5.0), EXIT_FAILED),
        (sv.ProviderConnectionError("refused"), EXIT_UNREACHABLE),
        (sv.ProviderTimeoutError("slow"), EXIT_UNREACHABLE),
        (sv.ProviderUnavailableError("down", status_code=503), EXIT_UNREACHABLE),
        (sv.AuthenticationError("bad key", status_code=401), EXIT_UNREACHABLE),
        (sv.PermissionDeniedError("no", status_code=403), EXIT_UNREACHABLE),
        (sv.RateLimitError("slow down", status_code=429), EXIT_UNREACHABLE),
        (sv.ProviderError("bad request", status_code=400), EXIT_USAGE),
        (PermissionError("read-only"), EXIT_USAGE),
        (RuntimeError("bug"), EXIT_FAILED),
    ],
)
def test_exit_codes(error: BaseException, code: int) -> None:
    assert exit_code(error) == code


def test_unknown_ids_and_finished_jobs_are_one_line_errors(cli: Any) -> None:
    assert cli("list").code == EXIT_USAGE  # no ledger yet: said, not created
    created = cli("--json", "create", "a cat")
    assert created.code == EXIT_OK, created.err
    job_id = created.json()["id"]

    unknown = cli("status", "job_does_not_exist")
    assert unknown.code == EXIT_USAGE
    assert "job_does_not_exist" in unknown.error_line() and "not found" in unknown.err

    assert cli("cancel", "batch_does_not_exist").code == EXIT_USAGE
    assert cli("cancel", job_id).code == EXIT_OK
    again = cli("cancel", job_id)
    assert again.code == EXIT_USAGE
    assert "cancelled" in again.error_line()
    not_done = cli("download", job_id)
    assert not_done.code == EXIT_USAGE
    assert "only a completed job" in not_done.error_line()


def test_list_filters_and_pages(cli: Any) -> None:
    for prompt in ("one", "two", "three"):
        assert cli("create", prompt).code == EXIT_OK
    first = cli("--json", "list", "--limit", "2")
    page = first.json()
    assert (page["total"], page["pages"], page["has_next"], len(page["items"])) == (3, 2, True, 2)
    second = cli("list", "--limit", "2", "--page", "2")
    assert second.code == EXIT_OK
    assert "one" in second.out and "page 2 of 2 (3 jobs)" in second.out
    assert "next: --page 2" in cli("list", "--limit", "2").out
    assert cli("--json", "list", "--status", "completed").json()["total"] == 0
    bad = cli("list", "--limit", "0")
    assert bad.code == EXIT_USAGE and "limit" in bad.error_line()


def test_resume_and_status_wait_see_stored_jobs_through(cli: Any) -> None:
    good = cli("--json", "create", "a lighthouse").json()["id"]
    bad = cli("--json", "create", "a scene that should fail-moderation").json()["id"]
    resumed = cli("--json", "resume")
    assert resumed.code == EXIT_FAILED  # one of them failed
    statuses = {job["id"]: job["status"] for job in resumed.json()["jobs"]}
    assert statuses == {good: "completed", bad: "failed"}
    assert "submitted" in resumed.err  # live progress lines

    nothing = cli("resume")
    assert nothing.code == EXIT_OK and "nothing to resume" in nothing.out
    assert cli("status", good, "--wait").code == EXIT_OK
    failed = cli("status", bad, "--wait")
    assert failed.code == EXIT_FAILED
    assert "moderation_blocked" in failed.error_line()


def test_wait_timeout_exits_1_and_says_how_to_go_on(cli: Any) -> None:
    # Simulated seconds: each simulated video takes 30 of them.
    result = cli("create", "a slow fox", "--timeout", "5")
    assert result.code == EXIT_FAILED
    assert "--wait" in result.err.strip().splitlines()[-1]
    cancelled = cli("--json", "create", "another", "--timeout", "5", "--cancel-on-timeout")
    assert cancelled.code == EXIT_FAILED
    listed = cli("--json", "list", "--status", "cancelled").json()
    assert [job["request"]["prompt"] for job in listed["items"]] == ["another"]


def test_batch_refusals(cli: Any, tmp_path: Path) -> None:
    manifest = tmp_path / "ads.jsonl"
    manifest.write_text('{"prompt": "a"}\n{"prompt": "b", "duration": 8}\n', encoding="utf-8")
    over = cli("batch", "ads.jsonl", "--budget", "0.10")
    assert over.code == EXIT_USAGE
    assert "exceeds the budget" in over.error_line()
    assert cli("batch", "missing.csv").code == EXIT_USAGE
    broken = tmp_path / "broken.csv"
    broken.write_text("prompt,duration\nfine,4\n,4\nalso fine,soon\n", encoding="utf-8")
    invalid = cli("--json", "batch", "broken.csv")
    assert invalid.code == EXIT_USAGE
    fields = [e["field"] for e in invalid.json()["error"]["fields"]]
    assert any("row 3" in f for f in fields) and any("row 4" in f for f in fields)
    too_many = tmp_path / "many.csv"
    too_many.write_text("prompt\n" + "".join(f"v{i}\n" for i in range(11)), encoding="utf-8")
    assert cli("batch", "many.csv").code == EXIT_USAGE
    allowed = cli("batch", "many.csv", "--max-batch-size", "11")
    assert allowed.code == EXIT_OK, allowed.err
    assert "completed — 11 of 11 completed" in allowed.out


def test_json_error_document_names_every_field(cli: Any) -> None:
    result = cli("--json", "create", "", "--duration", "0", "--aspect-ratio", "7:5")
    assert result.code == EXIT_USAGE
    error = result.json()["error"]
    assert error["type"] == "ValidationError" and error["exit_code"] == EXIT_USAGE
    assert {e["field"] for e in error["fields"]} == {"prompt", "duration", "aspect_ratio"}


def test_health_metrics_and_provider_choices(cli: Any) -> None:
    health = cli("--json", "health")
    assert health.code == EXIT_OK, health.err
    assert health.json()["ready"]["ready"] is True
    metrics = cli("metrics")
    assert metrics.code == EXIT_OK
    assert 'soravideo_jobs{status="pending"} 0' in metrics.out
    assert cli("--json", "metrics").json()["jobs"]["total"] == 0

    with_url = cli("--base-url", "http://127.0.0.1:1/v1", "list")
    assert with_url.code == EXIT_USAGE and "--base-url" in with_url.error_line()
    port = _closed_port()
    runway = cli(
        "--provider", "runway", "--base-url", f"http://127.0.0.1:{port}", "--db", "r.db", "health",
        simulated=False,
    )  # fmt: skip
    assert runway.code == EXIT_UNREACHABLE
    assert "provider" in runway.err


def test_usage_errors_are_one_line(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("create").code == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "prompt" in err[0]
    assert cli("create", "x", "--metadata", "novalue").code == EXIT_USAGE


def test_main_leaves_logging_as_it_found_it(cli: Any) -> None:
    logger = logging.getLogger("soravideo")
    before = (list(logger.handlers), logger.level, logger.propagate)
    cli("--verbose", "list")
    assert (list(logger.handlers), logger.level, logger.propagate) == before


def test_saving_videos_does_not_let_simulated_time_leap(cli: Any, tmp_path: Path) -> None:
    # Each simulated video takes 30 simulated seconds; saving one runs file work in threads,
    # which must not let the simulated clock jump past the others' progress meanwhile.
    (tmp_path / "five.csv").write_text("prompt\n" + "".join(f"v{i}\n" for i in range(5)))
    result = cli("--json", "batch", "five.csv", "--concurrency", "2", "--out-dir", "videos")
    assert result.code == EXIT_OK, result.err
    for job in result.json()["jobs"]:
        started = datetime.fromisoformat(job["started_at"])
        ended = datetime.fromisoformat(job["completed_at"])
        assert (ended - started).total_seconds() < 40, job["id"]
        assert Path(job["result"]["path"]).is_file()
