"""``--provider fal``: FAL_KEY from the environment, ``--model`` picks the endpoint, FakeFal
served on loopback stands in for queue.fal.run."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import read_ledger
from soravideo.cli._main import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, main
from soravideo.testing import check_exactly_once
from soravideo.testing._fake_fal import FakeFal
from soravideo.transports.fal import FalTransport

KEY = "fal-cli:0123456789abcdef"
VEO = "fal-ai/veo3.1"


@pytest.fixture
def fake() -> FakeFal:
    return FakeFal(api_key=KEY, generation_time=0.05)


@pytest.fixture
def fal_url(fake: FakeFal) -> Iterator[str]:
    with fake.serve() as url:
        yield url


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("SORAVIDEO_DB", "FAL_KEY_ID", "FAL_KEY_SECRET", "FAL_QUEUE_RUN_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAL_KEY", KEY)
    # fal has no published minimum poll interval; keep real-time polls tight.
    monkeypatch.setenv("SORAVIDEO_POLL_MIN_INTERVAL", "0.05")
    monkeypatch.setenv("SORAVIDEO_POLL_MAX_INTERVAL", "0.2")
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_create_wait_out_on_fal_with_a_model(
    env: Path, fake: FakeFal, fal_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The transport's own 2 s poll floor would make this slow on real time.
    defaults = FalTransport.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "min_poll_interval", 0.0)
    code, out, err = run(
        "--provider", "fal", "--base-url", fal_url, "--db", "fal.db", "--json",
        "create", "a heron at dawn", "--model", VEO, "--duration", "4",
        "--resolution", "1080p", "--out", "heron.mp4",
    )  # fmt: skip

    assert code == EXIT_OK, err
    job: dict[str, Any] = json.loads(out)
    assert job["status"] == "completed"
    assert job["remote_id"].startswith("fal-ai:veo3.1:")
    assert job["estimated_cost_usd"] == pytest.approx(1.60)
    assert (env / "heron.mp4").stat().st_size > 0
    assert fake.create_params(job["remote_id"]) == {
        "prompt": "a heron at dawn",
        "duration": "4s",
        "resolution": "1080p",
    }
    assert KEY not in out + err
    check_exactly_once(fake, read_ledger(env / "fal.db"))


def test_a_field_the_model_cannot_do_is_a_usage_error_before_anything_is_sent(
    env: Path, fake: FakeFal, fal_url: str
) -> None:
    code, _, err = run(
        "--provider", "fal", "--base-url", fal_url, "--db", "fal.db",
        "create", "a fox", "--model", VEO, "--duration", "5",
    )  # fmt: skip
    assert code == EXIT_USAGE
    assert "duration" in err and "4, 6, 8" in err
    assert fake.requests == []


def test_fal_unreachable_and_a_refused_key_exit_3(
    env: Path, fake: FakeFal, fal_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = run(
        "--provider", "fal", "--base-url", f"http://127.0.0.1:{port}", "--db", "a.db", "health"
    )  # fmt: skip
    monkeypatch.setenv("FAL_KEY", "wrong-key")
    refused = run("--provider", "fal", "--base-url", fal_url, "--db", "b.db", "health")
    assert closed[0] == EXIT_UNREACHABLE
    assert refused[0] == EXIT_UNREACHABLE
    assert "wrong-key" not in refused[1] + refused[2]
    assert fake.created_count() == 0
