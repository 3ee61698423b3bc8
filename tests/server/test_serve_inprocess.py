"""``soravideo serve`` through ``main()`` in this process: its refusals, the keys it never
prints, and one whole run stopped by SIGTERM (the subprocess runs: test_serve.py)."""

from __future__ import annotations

import io
import os
import signal
import threading
from pathlib import Path

import httpx
import pytest

from helpers import read_ledger
from server_kit import KEY
from soravideo.cli import main
from soravideo.cli.commands.service import server_keys

SIM = ["--provider", "simulated"]


def run(tmp_path: Path, *args: str, stderr: io.StringIO | None = None) -> tuple[int, str]:
    err = stderr or io.StringIO()
    code = main(
        [*SIM, "--db", str(tmp_path / "ledger.db"), *args], stdout=io.StringIO(), stderr=err
    )
    return code, err.getvalue()


def test_serve_refuses_to_start_without_a_key_or_with_an_unreadable_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SORAVIDEO_SERVER_API_KEYS", raising=False)
    code, err = run(tmp_path, "serve")
    assert code == 2 and "SORAVIDEO_SERVER_API_KEYS" in err
    code, err = run(tmp_path, "serve", "--api-key", KEY, "--rate-limit", "lots")
    assert code == 2 and "rate_limit" in err and KEY not in err
    code, err = run(tmp_path, "serve", "--api-key", KEY, "--port", "70000")
    assert code == 2
    assert not (tmp_path / "ledger.db").exists()  # refused before the ledger was opened


def test_keys_come_from_the_option_else_the_variable_comma_separated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SORAVIDEO_SERVER_API_KEYS", " a, b ,,a ")
    assert server_keys(None) == ("a", "b")
    assert server_keys(["c", "d,e"]) == ("c", "d", "e")
    monkeypatch.setenv("SORAVIDEO_SERVER_API_KEYS", "")
    assert server_keys(None) == ()


class _Started(io.StringIO):
    """stderr that, once the server listens, creates a video over HTTP, then sends SIGTERM."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[httpx.Response] = []

    def write(self, text: str) -> int:
        if text.startswith("serving on "):
            address = text.split()[2]
            threading.Thread(target=self._use, args=(address,), daemon=True).start()
        return super().write(text)

    def _use(self, address: str) -> None:
        try:
            with httpx.Client(base_url=address, headers={"x-api-key": KEY}, timeout=30) as http:
                self.answers.append(http.post("/api/v1/videos", json={"prompt": "a red fox"}))
                self.answers.append(http.get("/health"))
        finally:
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_serve_answers_then_stops_on_sigterm_and_never_prints_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SORAVIDEO_SERVER_API_KEYS", f"{KEY},second-key")
    err = _Started()
    code, said = run(tmp_path, "--verbose", "serve", "--port", "0", stderr=err)
    assert code == 0, said
    assert [r.status_code for r in err.answers] == [201, 200]
    assert "serving on http://127.0.0.1:" in said and "server stopped" in said
    assert KEY not in said and "second-key" not in said
    jobs = read_ledger(tmp_path / "ledger.db")
    # The simulator lives in the server: what it started, it saw through before stopping
    # (or left pending, for the next server to send).
    assert [job.request.prompt for job in jobs] == ["a red fox"]
    assert jobs[0].status.value in ("pending", "completed")
