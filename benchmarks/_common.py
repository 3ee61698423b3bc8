"""What the benchmark scripts share: a result row and the one markdown table they print.

``benchmarks/ledger.py`` prints milliseconds in fixed columns; the engine's rows mix units
(requests, seconds, microseconds), so a row here carries its cells already formatted.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["HEADERS", "Row", "markdown_table", "median"]

HEADERS = ("scenario", "measured", "baseline (or bound)", "ratio", "target", "ok")


@dataclass(frozen=True)
class Row:
    """One line of a yardstick table.

    ``ok`` is ``None`` for a row that only informs (no target applies to it).
    """

    scenario: str
    measured: str
    baseline: str
    ratio: float | None
    target: str
    ok: bool | None


def _ok(value: bool | None) -> str:
    if value is None:
        return "—"
    return "yes" if value else "**NO**"


def markdown_table(rows: Iterable[Row], headers: Sequence[str] = HEADERS) -> str:
    """Return the rows as one GitHub-flavoured markdown table."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}×"
        cells = (row.scenario, row.measured, row.baseline, ratio, row.target, _ok(row.ok))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def median(values: Iterable[float]) -> float:
    """Return the median (``nan`` for no values, so a table still prints)."""
    data = list(values)
    return statistics.median(data) if data else float("nan")
