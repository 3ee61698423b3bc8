"""``--provider openrouter``: the command line on FakeOpenRouter served on loopback, with
``OPENROUTER_API_KEY``, through ``main()`` in this process."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import read_ledger
from soravideo.cli._main import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, main
from soravideo.testing import FakeOpenRouter, check_exactly_once
from soravideo.transports.openrouter import OpenRouterTransport

KEY = "sk-or-v1-cli-SECRET-0123456789abcdef"


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def fake() -> FakeOpenRouter:
    return FakeOpenRouter(api_key=KEY, generation_time=0.1)


@pytest.fixture
def base_url(fake: FakeOpenRouter) -> Iterator[str]:
    with fake.serve() as url:
        yield url


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_url: str) -> Any:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SORAVIDEO_", "OPENAI_", "RUNWAYML_", "OPENROUTER_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    # Real time: poll the loopback fake every 50 ms, not every 10 s as OpenRouter asks.
    defaults = OpenRouterTransport.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "min_poll_interval", 0.05)
    monkeypatch.setenv("SORAVIDEO_POLL_MIN_INTERVAL", "0.05")
    monkeypatch.setenv("SORAVIDEO_POLL_MAX_INTERVAL", "0.2")

    def run(*args: str, url: str = base_url) -> Run:
        out, err = io.StringIO(), io.StringIO()
        prefix = ("--provider", "openrouter", "--base-url", url, "--db", "ledger.db")
        code = main([*prefix, *args], stdout=out, stderr=err)
        return Run(code, out.getvalue(), err.getvalue())

    return run


def test_create_wait_download_and_show_the_charge(
    cli: Any, fake: FakeOpenRouter, tmp_path: Path
) -> None:
    created = cli(
        "--json", "create", "a red fox", "--model", "alibaba/wan-2.6", "--duration", "10",
        "--wait", "--timeout", "30", "--out", "fox.mp4",
    )  # fmt: skip
    assert created.code == EXIT_OK, created.err
    job = created.json()
    assert (job["status"], job["provider"]) == ("completed", "openrouter")
    assert (job["estimated_cost_usd"], job["cost_usd"]) == (0.4, 0.4)
    assert (tmp_path / "fox.mp4").read_bytes()[4:8] == b"ftyp"

    shown = cli("status", job["id"])
    assert shown.code == EXIT_OK, shown.err
    assert "$0.40 (estimated), $0.40 (the provider's figure)" in shown.out
    for run in (created, shown):
        assert KEY not in run.out + run.err
    check_exactly_once(fake, read_ledger(tmp_path / "ledger.db"))


def test_a_request_the_model_cannot_make_is_refused_before_anything_is_sent(
    cli: Any, fake: FakeOpenRouter
) -> None:
    refused = cli("--json", "create", "a fox", "--duration", "5")
    assert refused.code == EXIT_USAGE
    assert "duration" in refused.err and "4, 6, 8" in refused.err
    assert fake.requests == []


def test_health_checks_the_key(
    cli: Any, fake: FakeOpenRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy = cli("health")
    assert healthy.code == EXIT_OK, healthy.err
    assert [r.path for r in fake.requests] == ["/key"]

    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-wrong")
    refused = cli("health")
    assert refused.code == EXIT_UNREACHABLE
    assert "sk-or-v1-wrong" not in refused.out + refused.err


def test_an_unreachable_openrouter_is_exit_3(cli: Any) -> None:
    gone = cli("health", url="http://127.0.0.1:9/api/v1")
    assert gone.code == EXIT_UNREACHABLE
    assert "provider" in gone.err and KEY not in gone.err
