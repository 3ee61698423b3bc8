"""``--provider gemini``: the command line on FakeGemini served on loopback, with
``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``, through ``main()`` in this process."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import read_ledger
from soravideo.cli import main
from soravideo.cli.errors import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from soravideo.testing import FakeGemini, check_exactly_once
from soravideo.transports.gemini import GeminiTransport

KEY = "AIza-cli-SECRET-0123456789abcdef"


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def fake() -> FakeGemini:
    return FakeGemini(api_key=KEY, generation_time=0.1)


@pytest.fixture
def base_url(fake: FakeGemini) -> Iterator[str]:
    with fake.serve() as url:
        yield url


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_url: str) -> Any:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SORAVIDEO_", "OPENAI_", "GOOGLE_", "GEMINI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    # Real time: poll the loopback fake every 50 ms, not every 5 s.
    defaults = GeminiTransport.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "min_poll_interval", 0.05)
    monkeypatch.setenv("SORAVIDEO_POLL_MIN_INTERVAL", "0.05")
    monkeypatch.setenv("SORAVIDEO_POLL_MAX_INTERVAL", "0.2")

    def run(*args: str, url: str = base_url) -> Run:
        out, err = io.StringIO(), io.StringIO()
        prefix = ("--provider", "gemini", "--base-url", url, "--db", "ledger.db")
        code = main([*prefix, *args], stdout=out, stderr=err)
        return Run(code, out.getvalue(), err.getvalue())

    return run


@pytest.mark.parametrize("model", ["gemini-omni-1.1-flash", "veo-3.1-fast-generate-preview"])
def test_create_wait_and_download(cli: Any, fake: FakeGemini, tmp_path: Path, model: str) -> None:
    created = cli(
        "--json", "create", "a red fox", "--model", model, "--duration", "4",
        "--wait", "--timeout", "30", "--out", "fox.mp4",
    )  # fmt: skip
    assert created.code == EXIT_OK, created.err
    job = created.json()
    assert (job["status"], job["provider"]) == ("completed", "gemini")
    assert job["estimated_cost_usd"] == (0.4 if model.startswith("gemini") else 0.6)
    assert (tmp_path / "fox.mp4").read_bytes() == fake.video_bytes(job["remote_id"])
    assert KEY not in created.out + created.err
    check_exactly_once(fake, read_ledger(tmp_path / "ledger.db"))


def test_a_request_the_model_cannot_make_is_refused_before_anything_is_sent(
    cli: Any, fake: FakeGemini
) -> None:
    refused = cli(
        "--json", "create", "a fox", "--model", "veo-3.1-generate-preview", "--duration", "5"
    )
    assert refused.code == EXIT_USAGE
    assert "duration" in refused.err and "4, 6, 8" in refused.err
    assert fake.requests == []


def test_health_checks_the_key_and_google_api_key_wins(
    cli: Any, fake: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy = cli("health")
    assert healthy.code == EXIT_OK, healthy.err
    assert [r.path for r in fake.requests] == ["/v1/models"]

    monkeypatch.setenv("GOOGLE_API_KEY", "AIza-wrong-google-key")
    refused = cli("health")
    assert refused.code == EXIT_UNREACHABLE
    assert "AIza-wrong-google-key" not in refused.out + refused.err


def test_an_unreachable_gemini_is_exit_3(cli: Any) -> None:
    gone = cli("health", url="http://127.0.0.1:9")
    assert gone.code == EXIT_UNREACHABLE
    assert KEY not in gone.err
