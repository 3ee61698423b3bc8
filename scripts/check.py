"""Run every gate the README's test command promises: lint, format, types, tests.

Exit non-zero when any gate fails, or when the test run collected no test.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
LINT_PATHS = ["src", "tests", "benchmarks", "examples", "scripts"]


def run(title: str, args: list[str]) -> int:
    print(f"\n=== {title}: {' '.join(args)}", flush=True)
    started = time.perf_counter()
    code = subprocess.call(args, cwd=ROOT)
    print(f"=== {title}: exit {code} in {time.perf_counter() - started:.1f} s", flush=True)
    return code


def main() -> int:
    paths = [p for p in LINT_PATHS if (ROOT / p).exists()]
    failures: list[str] = []
    gates = [
        ("ruff check", [PY, "-m", "ruff", "check", *paths]),
        ("ruff format", [PY, "-m", "ruff", "format", "--check", *paths]),
        ("mypy --strict", [PY, "-m", "mypy", "--strict", "src"]),
        (
            "pytest",
            [PY, "-m", "pytest", "-q", "--durations=10", "-p", "no:randomly", *sys.argv[1:]],
        ),
    ]
    for title, args in gates:
        code = run(title, args)
        if code == 5 and title == "pytest":
            print("pytest collected no tests: that is a failure here", flush=True)
        if code != 0:
            failures.append(title)
    if failures:
        print(f"\nFAILED gates: {', '.join(failures)}", flush=True)
        return 1
    print("\nall gates passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
