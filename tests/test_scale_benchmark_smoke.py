"""The scale benchmark still runs: ``benchmarks/scale.py --quick`` prints its whole table.

Only the table's shape is checked; a benchmark's numbers are never asserted in tests.
"""

from __future__ import annotations

import gc
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_scale(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # The script imports its sibling ``_common`` as ``python benchmarks/scale.py`` would.
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("scale_benchmark", BENCHMARKS / "scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "scale_benchmark", module)
    spec.loader.exec_module(module)
    return module


def test_quick_run_prints_every_row(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scale = load_scale(monkeypatch)
    thresholds = gc.get_threshold()

    code = scale.main(["--quick"])

    assert gc.get_threshold() == thresholds  # the collector row restores the process's

    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("|")]
    header, rule, *rows = lines
    assert header == "| scenario | measured | baseline (or bound) | ratio | target | ok |"
    assert set(rule) <= set("|-: ")
    scenarios = [row.split("|")[1].strip() for row in rows]
    small, large = scale.QUICK.in_flight
    listing = scale.QUICK.listing

    def cpu_rows(ledger: str) -> list[str]:
        return [
            f"CPU per job, {small} in flight, each with its own wait_for_job, {ledger}",
            f"CPU per job, {large} in flight, each with its own wait_for_job, {ledger}",
            "of which the garbage collector's full (generation 2) passes at "
            f"{small} / {large} in flight, {ledger}",
            f"CPU per job growth {small} → {large} in flight, {ledger}",
        ]

    expected = [
        *cpu_rows("memory ledger"),
        *cpu_rows("SQLite ledger"),
        f"CPU per job at {small} / {large} in flight, memory ledger, the application's "
        "collector threshold raised (gc.set_threshold(100_000)",
        f"memory per job in flight, {large} in flight",
        f"memory per job, {large} in flight, the fake included",
        f"create_videos CPU per job, {large} in one call",
        f"status requests per video, {listing} in flight, Sora protocol",
        f"status requests per video at {small} / {large} in flight, Sora protocol",
    ]
    assert len(scenarios) == len(expected), scenarios
    for scenario, prefix in zip(scenarios, expected, strict=True):
        assert scenario.startswith(prefix), (scenario, prefix)
    for row in rows:
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        assert len(cells) == 6 and all(cells), row
        assert cells[5] in ("yes", "**NO**", "—"), row
    # The exit code reports targets, which tiny sizes say nothing about: only its type counts.
    assert code in (0, 1)


def test_one_ledger_at_given_sizes_prints_its_cpu_rows_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scale = load_scale(monkeypatch)

    code = scale.main(["--sizes", "2", "3", "--ledger", "sqlite", "--cpu-only"])

    out = capsys.readouterr().out
    scenarios = [
        line.split("|")[1].strip() for line in out.splitlines()[2:] if line.startswith("|")
    ]
    assert scenarios == [
        "CPU per job, 2 in flight, each with its own wait_for_job, SQLite ledger",
        "CPU per job, 3 in flight, each with its own wait_for_job, SQLite ledger",
        "of which the garbage collector's full (generation 2) passes at 2 / 3 in flight, "
        "SQLite ledger",
        "CPU per job growth 2 → 3 in flight, SQLite ledger",
    ]
    assert code in (0, 1)
