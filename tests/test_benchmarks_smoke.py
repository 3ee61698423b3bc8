"""The engine benchmark still runs: ``benchmarks/engine.py --quick`` prints its whole table.

Only the table's shape is checked; a benchmark's numbers are never asserted in tests.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_engine(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # The script imports its sibling ``_common`` as ``python benchmarks/engine.py`` would.
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("engine_benchmark", BENCHMARKS / "engine.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "engine_benchmark", module)
    spec.loader.exec_module(module)
    return module


def test_quick_run_prints_every_row(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = load_engine(monkeypatch)

    code = engine.main(["--quick"])

    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("|")]
    header, rule, *rows = lines
    assert header == "| scenario | measured | baseline (or bound) | ratio | target | ok |"
    assert set(rule) <= set("|-: ")
    scenarios = [row.split("|")[1].strip() for row in rows]
    expected = [
        *(
            prefix
            for t in (10, 60, 300)
            for prefix in (
                f"status requests / video, T={t} s (each video alone",
                f"median finish → known delay, T={t} s",
            )
        ),
        *(f"status requests / video, T={t} s, 1 video(s) at once" for t in (10, 60, 300)),
        "status requests / video with webhooks on, T=60 s",
        "median push → job known completed",
        "8 videos, server limit 4 unknown, max_concurrency 8",
        "8 videos, server limit 4 unknown, max_concurrency 16",
        "overhead per job, zero generation time, memory ledger",
        "overhead per job, zero generation time, SQLite ledger",
        "batch of 10 at concurrency 5",
        "batch of 20 at concurrency 5",
        "takeover after SIGKILL, lease 0.5 s",  # quick sizes: a quarter of the full times
    ]
    assert len(scenarios) == len(expected), scenarios
    for scenario, prefix in zip(scenarios, expected, strict=True):
        assert scenario.startswith(prefix), (scenario, prefix)
    for row in rows:
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        assert len(cells) == 6 and all(cells), row
        assert cells[5] in ("yes", "**NO**", "—"), row
    assert "Settings" in out
    # The exit code reports targets, which tiny sizes say nothing about: only its type counts.
    assert code in (0, 1)
