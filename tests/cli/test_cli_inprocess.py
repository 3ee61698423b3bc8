"""The command line's error paths and smaller commands, through ``main()`` in this process.

``python -m soravideo`` is a one-line wrapper around ``main()`` (test_cli.py runs it in
subprocesses); calling ``main()`` directly keeps these many small cases fast.
"""

from __future__ import annotations

import io
import json
import logging
import runpy
import socket
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import soravideo as sv
from soravideo.cli import main
from soravideo.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, exit_code
from soravideo.cli.parser import build_parser
from soravideo.cli.providers import TABLE, build_transport


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


def test_batch_run_again_carries_on_with_its_batch_unless_new(cli: Any, tmp_path: Path) -> None:
    # W2-1 item 5: the key comes from the manifest's bytes and the options given with it.
    manifest = tmp_path / "prompts.csv"
    manifest.write_text("prompt\na kite\na dune\n")

    def batch_id(*args: str) -> str:
        run = cli("--json", "batch", "prompts.csv", *args)
        assert run.code == EXIT_OK, run.err
        return str(run.json()["batch"]["id"])

    def jobs() -> int:
        return int(cli("--json", "list").json()["total"])

    first = batch_id()
    assert batch_id() == first and jobs() == 2
    assert "carrying on with batch" in cli("batch", "prompts.csv").err
    assert batch_id("--new") != first and jobs() == 4
    other = batch_id("--concurrency", "1")  # other options: another batch
    assert other != first and jobs() == 6
    assert batch_id("--concurrency", "1") == other and jobs() == 6
    manifest.write_text("prompt\na kite\na dune\na reef\n")  # another manifest
    assert batch_id() not in (first, other) and jobs() == 9


def test_resume_out_dir_downloads_what_had_nowhere_to_go(cli: Any, tmp_path: Path) -> None:
    ids = [cli("--json", "create", prompt).json()["id"] for prompt in ("a kite", "a dune")]
    resumed = cli("--json", "resume", "--out-dir", "videos")
    assert resumed.code == EXIT_OK, resumed.err
    paths = {job["id"]: job["result"]["path"] for job in resumed.json()["jobs"]}
    assert paths == {job_id: str(tmp_path / "videos" / f"{job_id}.mp4") for job_id in ids}
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == sorted(
        f"{job_id}.mp4" for job_id in ids
    )


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
    result = cli("--json", "create", "", "--size", "big", "--aspect-ratio", "7:5")
    assert result.code == EXIT_USAGE
    error = result.json()["error"]
    assert error["type"] == "ValidationError" and error["exit_code"] == EXIT_USAGE
    assert {e["field"] for e in error["fields"]} == {"prompt", "size", "aspect_ratio"}


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


def test_usage_errors_are_one_line(cli: Any) -> None:
    result = cli("create")
    assert result.code == EXIT_USAGE and "prompt" in result.error_line()
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


# -- whole commands, each call a fresh client on the same ledger file --------------------------


def test_demo_runs_offline_and_ends_with_a_partial_batch(cli: Any, tmp_path: Path) -> None:
    result = cli("demo", simulated=False)
    assert result.code == EXIT_OK, result.err
    out = result.out
    assert "partial — 5 of 6 completed, 1 failed, 0 cancelled (100% finished)" in out
    assert "moderation_blocked" in out
    assert "estimated cost: $" in out
    assert "status requests:" in out and "polling every second would have made" in out
    # The five singles, each in the summary table with its priority.
    for priority in ("low", "normal", "high", "urgent"):
        assert f"  {priority} " in out
    assert len(list((tmp_path / "demo-output" / "videos").glob("*.mp4"))) == 10
    assert (tmp_path / "demo-output" / "ledger.db").is_file()
    assert "Traceback" not in result.err


def test_simulated_create_wait_out_list_cancel_and_download(cli: Any, tmp_path: Path) -> None:
    made = cli("--json", "create", "a red fox", "--duration", "8", "--wait", "--out", "fox.mp4")
    assert made.code == EXIT_OK, made.err
    fox = made.json()
    assert fox["status"] == "completed" and fox["progress"] == 100
    assert (tmp_path / "fox.mp4").stat().st_size == fox["result"]["bytes"] > 0
    assert "completed" in made.err  # the live progress lines

    stored = cli("create", "a cat", "--priority", "high", "--json")
    assert stored.code == EXIT_OK, stored.err
    cat = stored.json()
    assert cat["status"] == "pending" and cat["priority"] == "high"

    cancelled = cli("cancel", cat["id"])
    assert cancelled.code == EXIT_OK, cancelled.err
    assert f"{cat['id']}  cancelled" in cancelled.out

    listed = cli("list", "--json")
    assert listed.code == EXIT_OK, listed.err
    page = listed.json()
    assert page["total"] == 2
    assert {job["id"]: job["status"] for job in page["items"]} == {
        fox["id"]: "completed",
        cat["id"]: "cancelled",
    }

    # The simulator that made the fox is gone; the saved file is copied instead.
    copied = cli("download", fox["id"], "--out", "copy.mp4")
    assert copied.code == EXIT_OK, copied.err
    assert (tmp_path / "copy.mp4").read_bytes() == (tmp_path / "fox.mp4").read_bytes()


def test_batch_from_a_csv_with_json_output(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "prompts.csv").write_text(
        "prompt,duration,priority\n"
        "a dog on a skateboard,4,high\n"
        "a scene that should fail-moderation,8,\n"
        "a bird over the sea,,low\n",
        encoding="utf-8",
    )
    result = cli("--json", "batch", "prompts.csv", "--concurrency", "2", "--out-dir", "videos")
    assert result.code == EXIT_FAILED, result.err  # partial is not completed
    report = result.json()
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
    assert "submitted" in result.err  # live progress lines


def test_validation_error_exits_2_naming_every_field(cli: Any) -> None:
    result = cli("create", " ", "--model", " ", "--size", "big", "--resolution", "9000p")
    assert result.code == EXIT_USAGE
    line = result.error_line()
    for field in ("prompt", "model", "size", "resolution"):
        assert field in line
    assert "Traceback" not in result.err
    assert result.out == ""


@pytest.mark.parametrize(
    "args",
    [
        # What Python makes of a non-UTF-8 argument (the byte 0xff): a lone surrogate.
        ("create", "a fox \udcff"),
        ("create", "a fox", "--model", "sora-\udcff"),
        ("--json", "create", "a fox \udcff"),
    ],
)
def test_undecodable_arguments_are_a_validation_error_and_store_nothing(
    cli: Any, args: tuple[str, ...]
) -> None:
    result = cli(*args)
    assert result.code == EXIT_USAGE
    line = result.error_line()
    assert "lone surrogate" in line
    assert "prompt" in line or "model" in line
    if "--json" in args:
        assert result.json()["error"]["fields"][0]["field"] in ("prompt", "model")
    else:
        assert result.out == ""
    # Refused before the ledger was even opened.
    assert not Path("ledger.db").exists()


def test_unreachable_provider_exits_3_and_stores_nothing(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-cli-test-secret-0123456789"
    monkeypatch.setenv("SORAVIDEO_API_KEY", secret)
    port = _closed_port()  # closed now: connections are refused
    result = cli(
        "--provider", "sora", "--base-url", f"http://127.0.0.1:{port}/v1", "--db", "ledger.db",
        "create", "a fox", "--wait",
        simulated=False,
    )  # fmt: skip
    assert result.code == EXIT_UNREACHABLE
    line = result.error_line()
    assert "cannot reach" in line and f"127.0.0.1:{port}" in line
    assert secret not in result.out + result.err
    assert not (tmp_path / "ledger.db").exists()


def test_python_dash_m_soravideo_runs_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same module test_cli.py starts as ``python -m soravideo``, run here so it is measured.
    monkeypatch.setattr("sys.argv", ["soravideo", "--help"])
    monkeypatch.delitem(sys.modules, "soravideo.__main__", raising=False)  # else runpy warns
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("soravideo", run_name="__main__", alter_sys=True)
    assert exited.value.code == EXIT_OK
    assert "exit codes:" in capsys.readouterr().out


def test_an_unknown_model_is_sent_only_with_allow_unknown_model(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SORAVIDEO_API_KEY", "sk-cli-test-unknown-model-0123")
    port = _closed_port()
    real = ("--provider", "sora", "--base-url", f"http://127.0.0.1:{port}/v1", "--db", "l.db")
    refused = cli(*real, "create", "a fox", "--model", "sora-3", simulated=False)
    assert refused.code == EXIT_USAGE
    line = refused.error_line()
    assert "unknown model 'sora-3'" in line and "sora-2" in line
    # Command-line advice, not Python's.
    assert "add --allow-unknown-model" in line and "allow_unknown_models=True" not in line
    assert not (tmp_path / "l.db").exists()
    # With the flag the model passes validation and goes to the provider (here: unreachable).
    sent = cli(
        *real, "--allow-unknown-model", "create", "a fox", "--model", "sora-3", "--wait",
        simulated=False,
    )  # fmt: skip
    assert sent.code == EXIT_UNREACHABLE, sent.err
    assert not (tmp_path / "l.db").exists()


def test_allow_unknown_model_builds_every_transport_that_way() -> None:
    for provider in (p.name for p in TABLE if p.transport is not None):
        args = build_parser().parse_args(["--provider", provider, "list"])
        assert not args.allow_unknown_model
        allowed = build_parser().parse_args(
            ["--provider", provider, "--allow-unknown-model", "list"]
        )
        transport = build_transport(allowed)
        assert transport.capabilities.allows_unknown_models, provider


def test_allow_unknown_model_is_refused_with_the_simulator(cli: Any) -> None:
    result = cli("--allow-unknown-model", "create", "a fox", "--model", "sora-3")
    assert result.code == EXIT_USAGE
    assert "needs a real provider" in result.error_line()
