"""Every numeric option of every command is checked by argparse ([W2-2] item 9): a negative,
NaN, infinite, fractional or out-of-range number exits 2 before anything is stored.

``create x --timeout -5`` once stored the job, then exited 1; ``--timeout nan`` was taken.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from soravideo.cli._main import EXIT_OK, EXIT_USAGE, main

# command (with its positional arguments) → its numeric options and values each refuses
FLOATS = ["-5", "-0.001", "nan", "NaN", "inf", "-inf", "1e999", "five", ""]
WHOLES = ["-1", "0", "1.5", "1e3", "nan", "inf", "ten", "", "9" * 30]
OPTIONS: list[tuple[tuple[str, ...], str, list[str]]] = [
    (("create", "a fox"), "--timeout", FLOATS),
    (("create", "a fox"), "--duration", [*WHOLES, "3601"]),
    (("status", "job_1"), "--timeout", FLOATS),
    (("list",), "--page", [*WHOLES, "1000000001"]),
    (("list",), "--limit", [*WHOLES, "1001"]),
    (("batch", "m.csv"), "--concurrency", [*WHOLES, "100001"]),
    (("batch", "m.csv"), "--budget", [*FLOATS, "1000000001"]),
    (("batch", "m.csv"), "--max-batch-size", WHOLES),
    (("batch", "m.csv"), "--duration", WHOLES),
    (("worker",), "--concurrency", WHOLES),
]
CASES = [(command, option, value) for command, option, values in OPTIONS for value in values]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SORAVIDEO_", "OPENAI_", "RUNWAYML_")):
            monkeypatch.delenv(name)
    (tmp_path / "m.csv").write_text("prompt\na fox\n")
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--provider", "simulated", "--db", "ledger.db", *args], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("command", "option", "value"), CASES)
def test_a_bad_number_exits_2_before_anything_is_stored(
    here: Path, command: tuple[str, ...], option: str, value: str
) -> None:
    code, out, err = run(*command, f"{option}={value}")
    assert code == EXIT_USAGE
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: argument {option}"), err
    assert out == ""
    assert not (here / "ledger.db").exists()  # not even opened


def test_create_with_a_negative_timeout_stores_nothing(here: Path) -> None:
    # The case: it once stored the job, then exited 1 on the expired deadline.
    code, _, _ = run("create", "a fox", "--timeout", "-5")
    assert code == EXIT_USAGE
    assert not (here / "ledger.db").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("create", "a fox", "--duration", "4"),
        ("create", "a fox", "--duration", " 8 "),
        ("list", "--page", "1", "--limit", "1000"),
    ],
)
def test_good_numbers_are_taken(here: Path, args: tuple[str, ...]) -> None:
    if args[0] == "list":
        assert run("create", "a fox")[0] == EXIT_OK
    code, _, err = run(*args)
    assert code == EXIT_OK, err
