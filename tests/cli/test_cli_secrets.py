"""The command line prints no password of its ledger DSN or base URL, nor its API key.

On stderr and stdout, with and without ``--json``, in error lines and in ``--verbose`` logs.
"""

from __future__ import annotations

import io
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from soravideo.cli._main import EXIT_UNREACHABLE, EXIT_USAGE, main

SECRET = "dsn-SECRET-0123456789"
PASSWORD = "url-PASSWORD-9876543210"
KEY = "sk-cli-SECRET-key-0123456789"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SORAVIDEO_", "OPENAI_", "RUNWAYML_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SORAVIDEO_API_KEY", KEY)

    def command(*args: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(list(args), stdout=out, stderr=err)
        return code, out.getvalue() + err.getvalue()

    return command


@pytest.mark.parametrize("json_mode", [False, True])
def test_a_ledger_dsn_password_is_never_printed(run: Any, json_mode: bool) -> None:
    pytest.importorskip("psycopg")
    dsn = f"postgresql://admin:{SECRET}@127.0.0.1:{_closed_port()}/ledger?connect_timeout=5"
    flags = ["--json"] if json_mode else []
    code, printed = run(*flags, "--provider", "simulated", "--db", dsn, "list")
    assert code == EXIT_USAGE
    assert SECRET not in printed
    assert "postgresql://admin:***@127.0.0.1" in printed
    if json_mode:
        assert json.loads(printed.split("\nerror: ")[0])["error"]["type"] == "RepositoryError"


@pytest.mark.parametrize("json_mode", [False, True])
def test_a_base_url_password_is_never_printed(run: Any, json_mode: bool) -> None:
    base = f"http://user:{PASSWORD}@127.0.0.1:{_closed_port()}/v1"
    flags = ["--json"] if json_mode else []
    code, printed = run(
        *flags, "--verbose", "--provider", "sora", "--base-url", base, "--db", "ledger.db",
        "create", "a fox", "--wait",
    )  # fmt: skip
    assert code == EXIT_UNREACHABLE
    assert "cannot reach sora at http://user:***@127.0.0.1" in printed
    assert PASSWORD not in printed
    assert KEY not in printed


def test_a_mistyped_dsn_is_refused_not_made_a_file(run: Any, tmp_path: Path) -> None:
    dsn = f"postgress://admin:{SECRET}@db/ledger"
    code, printed = run("--provider", "simulated", "--db", dsn, "list")
    assert code == EXIT_USAGE
    assert "postgress://admin:***@db/ledger" in printed
    assert SECRET not in printed
    assert list(tmp_path.iterdir()) == []
