"""``--provider replicate``: REPLICATE_API_TOKEN from the environment, ``--model owner/name``,
FakeReplicate served on loopback stands in for api.replicate.com."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import read_ledger
from soravideo.cli import main
from soravideo.cli.errors import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from soravideo.testing import FakeReplicate, check_exactly_once
from soravideo.transports.replicate import ReplicateTransport

TOKEN = "r8_cli_0123456789abcdef"
VEO = "google/veo-3.1"


@pytest.fixture
def fake() -> FakeReplicate:
    return FakeReplicate(api_token=TOKEN, generation_time=0.05)


@pytest.fixture
def replicate_url(fake: FakeReplicate) -> Iterator[str]:
    with fake.serve() as url:
        yield url


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("SORAVIDEO_DB", "REPLICATE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    monkeypatch.setenv("SORAVIDEO_POLL_MIN_INTERVAL", "0.05")
    monkeypatch.setenv("SORAVIDEO_POLL_MAX_INTERVAL", "0.2")
    defaults = ReplicateTransport.__init__.__kwdefaults__
    assert defaults is not None
    # The transport's own 2 s poll floor would make this slow on real time.
    monkeypatch.setitem(defaults, "min_poll_interval", 0.0)
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_create_wait_out_on_replicate_with_a_model(
    env: Path, fake: FakeReplicate, replicate_url: str
) -> None:
    code, out, err = run(
        "--provider", "replicate", "--base-url", replicate_url, "--db", "rep.db", "--json",
        "create", "a heron at dawn", "--model", VEO, "--duration", "4",
        "--resolution", "1080p", "--out", "heron.mp4",
    )  # fmt: skip

    assert code == EXIT_OK, err
    job: dict[str, Any] = json.loads(out)
    assert job["status"] == "completed"
    assert (env / "heron.mp4").read_bytes() == fake.video_bytes(job["remote_id"])
    assert fake.create_params(job["remote_id"]) == {
        "prompt": "a heron at dawn",
        "duration": 4,
        "resolution": "1080p",
    }
    assert fake.download_count(status=200) == 1
    assert TOKEN not in out + err
    check_exactly_once(fake, read_ledger(env / "rep.db"))


def test_a_field_the_model_cannot_do_is_a_usage_error_before_anything_is_sent(
    env: Path, fake: FakeReplicate, replicate_url: str
) -> None:
    code, _, err = run(
        "--provider", "replicate", "--base-url", replicate_url, "--db", "rep.db",
        "create", "a fox", "--model", VEO, "--duration", "5",
    )  # fmt: skip
    assert code == EXIT_USAGE
    assert "duration" in err and "4, 6, 8" in err
    assert fake.requests == []


def test_replicate_unreachable_and_a_refused_token_exit_3(
    env: Path, fake: FakeReplicate, replicate_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = run(
        "--provider", "replicate", "--base-url", f"http://127.0.0.1:{port}", "--db", "a.db",
        "health",
    )  # fmt: skip
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_wrong_token")
    refused = run("--provider", "replicate", "--base-url", replicate_url, "--db", "b.db", "health")
    assert closed[0] == EXIT_UNREACHABLE
    assert refused[0] == EXIT_UNREACHABLE
    assert "r8_wrong_token" not in refused[1] + refused[2]
    assert fake.created_count() == 0


def test_webhook_url_is_sent_with_every_create(
    env: Path, fake: FakeReplicate, replicate_url: str
) -> None:
    hook = "https://hooks.example/api/v1/webhooks/replicate"
    code, out, err = run(
        "--provider", "replicate", "--base-url", replicate_url, "--db", "rep.db", "--json",
        "--webhook-url", hook, "create", "a heron at dawn", "--model", VEO, "--wait",
    )  # fmt: skip

    assert code == EXIT_OK, err
    assert json.loads(out)["status"] == "completed"  # polling, the safety net, saw its end
    creates = [r for r in fake.requests if r.route == "create"]
    assert [r.json()["webhook"] for r in creates] == [hook]
    check_exactly_once(fake, read_ledger(env / "rep.db"))


@pytest.mark.parametrize(
    ("provider", "url", "named"),
    [
        ("replicate", "hooks.example/replicate", "webhook_url"),
        ("sora", "https://hooks.example/x", "--webhook-url does not apply to --provider sora"),
        ("simulated", "https://hooks.example/x", "--webhook-url does not apply"),
    ],
)
def test_a_webhook_url_that_cannot_be_used_is_a_usage_error_before_anything_is_stored(
    env: Path, monkeypatch: pytest.MonkeyPatch, provider: str, url: str, named: str
) -> None:
    monkeypatch.setenv("SORAVIDEO_API_KEY", "sk-cli-0123456789")
    code, _, err = run(
        "--provider", provider, "--db", "rep.db", "--webhook-url", url,
        "create", "a heron at dawn",
    )  # fmt: skip

    assert code == EXIT_USAGE
    assert named in err
    assert not (env / "rep.db").exists()
