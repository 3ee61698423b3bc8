"""Import cost: ``import soravideo`` against ``import httpx``, above a bare interpreter.

Each measurement is a fresh interpreter that times one import statement in-process (the
interpreter's own start-up and ``site`` are the bare part, left out). The statements take
turns round by round, so that load from the rest of the machine falls on all of them alike;
the table shows medians and the ratios between them from the same run. Printed, never gated:
the exit status is 0 whatever the figures.

- ``import soravideo``: models, errors and the version; the client, its engine, the
  transports and the ledgers load on first use (PEP 562);
- ``import soravideo`` then ``soravideo.SoraVideo``: what a program that makes a client
  pays before its first call (the engine, httpx, tenacity, anyio …);
- ``python -X importtime -c 'import soravideo'`` shows where the time goes.

Run: ``python benchmarks/imports.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections.abc import Sequence

from _common import Row, markdown_table

STATEMENTS = {
    "import httpx": "import httpx",
    "import soravideo": "import soravideo",
    "import soravideo; soravideo.SoraVideo": "import soravideo; soravideo.SoraVideo",
    "import soravideo; soravideo.AsyncSoraVideo": "import soravideo; soravideo.AsyncSoraVideo",
}
PROBE = (
    "import time; _t = time.perf_counter()\n{statement}\nprint((time.perf_counter() - _t) * 1000)"
)


def import_ms(statement: str) -> float:
    """Milliseconds one fresh interpreter takes to run ``statement``."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(statement=statement)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def measure(rounds: int) -> dict[str, float]:
    """Median milliseconds of each statement over ``rounds`` interleaved rounds."""
    times: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    for _ in range(rounds):
        for name, statement in STATEMENTS.items():
            times[name].append(import_ms(statement))
    return {name: statistics.median(values) for name, values in times.items()}


def rows(medians: dict[str, float]) -> list[Row]:
    httpx_ms = medians["import httpx"]
    result = [Row("import httpx", f"{httpx_ms:.1f} ms", "", None, "— (baseline)", None)]
    for name, ms in medians.items():
        if name == "import httpx":
            continue
        gated = name == "import soravideo"
        result.append(
            Row(
                name,
                f"{ms:.1f} ms",
                f"{httpx_ms:.1f} ms (import httpx)",
                ms / httpx_ms,
                "≤ 1.5× httpx" if gated else "— (info)",
                ms <= 1.5 * httpx_ms if gated else None,
            )
        )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="fresh interpreters per statement")
    args = parser.parse_args(argv)
    print(markdown_table(rows(measure(args.rounds))))
    print(f"\nmedian of {args.rounds} fresh interpreters each · Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
