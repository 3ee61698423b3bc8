"""Run every gate the README's test command promises, and say which ones failed.

Gates, in order (each runs even when an earlier one failed):

1. ``ruff check`` and ``ruff format --check`` on src, tests, benchmarks, examples, scripts;
   ``lint-imports``: the import contract of pyproject.toml (the layers of CONTRIBUTING.md's
   module map, and nothing but the simulated entry point importing ``soravideo.testing``);
2. ``mypy --strict src``, then ``scripts/warm_caches.py`` (bytecode and Hypothesis's
   Unicode tables: what any machine has after its first run, filled before the suite is
   timed);
3. the whole test suite once, with branch coverage of the package (``.coverage``) and
   the ten slowest tests, spread over ``WORKERS_PER_CORE`` pytest-xdist workers a core
   (at most ``MAX_WORKERS``; ``SORAVIDEO_TEST_WORKERS=1`` runs it in one process, in file
   order);
4. the coverage report (``coverage.json``), then coverage per layer against its floor
   (``scripts/coverage_layers.py``);
5. the end-to-end scenarios (``tests/e2e``) a second time, in a random order with a new
   seed each run (pytest-randomly; the seed is printed so a failure can be replayed with
   ``pytest tests/e2e -p randomly --randomly-seed=SEED``).

The gates may write bytecode caches (``__pycache__``, ignored by git) even where
``PYTHONDONTWRITEBYTECODE`` is set: without them every child process the tests start
compiles the package and pytest rewrites every test module again, which cost a fifth of the
suite's time. A pytest run that collects no test (exit 5) fails. Nothing is retried: a test
that fails once fails the gate. Extra arguments go to the main pytest run
(``python scripts/check.py -k sqlite``). The main test run's time is printed beside
``SUITE_BUDGET`` (``SORAVIDEO_SUITE_BUDGET`` changes the figure shown, ``0`` hides it), with
its ``SLOWEST`` slowest tests, and never gated on: a correct tree must not fail because the
machine was busy.

Hangs fail instead of holding CI: a test still running after pyproject's ``timeout`` fails
with every thread's stack (pytest-timeout), and a gate still running after ``HANG_AFTER``
seconds, or one that leaves a process behind after it exits, is killed and fails with the
processes still running printed. Output is passed through line by line as it comes.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
LINT_IMPORTS = Path(PY).with_name("lint-imports")  # import-linter's command, beside python
LINT_PATHS = ["src", "tests", "benchmarks", "examples", "scripts"]
COVERAGE_JSON = ROOT / "coverage.json"
E2E = "tests/e2e"
SUITE_BUDGET = 30.0  # seconds the main test run aims at on a 2-core machine (shown, not gated)
SLOWEST = 10  # the slowest tests of the main run, repeated in the summary
# The suite waits about half of its time: loopback servers in real time, child processes
# starting, killed and restarted, PostgreSQL working in its own processes. With one worker a
# core, the cores idled that half (CPU 80 s in 75 s of wall on 2 cores, without coverage);
# two a core fill it (the same suite in 58 s; with coverage 97 → 77 s), and more gain
# nothing once the cores are busy.
WORKERS_PER_CORE = 2
MAX_WORKERS = 8  # each xdist worker imports and collects the whole suite (about 2.5 s CPU)
# A hang detector, not a time limit: a gate still running after this many seconds (about
# thirty times what the slowest gate takes) is stuck, so it is killed with its children and
# fails, instead of holding CI until its own limit. Single tests have pytest-timeout's
# `timeout` (pyproject.toml), which prints every thread's stack first.
HANG_AFTER = float(os.environ.get("SORAVIDEO_GATE_HANG_AFTER") or 1800)


def workers() -> int:
    """How many pytest-xdist workers the main run uses: ``WORKERS_PER_CORE`` a core, capped."""
    wanted = os.environ.get("SORAVIDEO_TEST_WORKERS")
    if wanted:
        return max(1, int(wanted))
    return max(1, min(MAX_WORKERS, WORKERS_PER_CORE * (os.cpu_count() or 1)))


def _pass_through(stream: IO[str], slowest: list[str] | None) -> None:
    """Copy a gate's output line by line, collecting pytest's ``--durations`` table."""
    in_table = False
    for line in stream:
        sys.stdout.write(line)
        sys.stdout.flush()  # CI reads a pipe: show progress as it comes, not in 8 KiB blocks
        if slowest is None:
            continue
        if "slowest" in line and "durations" in line and line.startswith("="):
            in_table = True
        elif in_table and (line.startswith("=") or not line.strip()):
            in_table = False
        elif in_table:
            slowest.append(line.rstrip())


def _group_alive(pgid: int) -> bool:
    """Whether any process of the process group ``pgid`` is still running."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _print_processes(since: float) -> None:
    """Print the processes that began in the last ``since`` seconds (kernel threads aside)."""
    listing = subprocess.run(
        ["ps", "-eo", "pid,ppid,pgid,etimes,args"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    for line in listing[1:]:
        fields = line.split(None, 4)
        if len(fields) == 5 and int(fields[3]) <= since + 1 and not fields[4].startswith("["):
            print(f"  {line.strip()}")
    sys.stdout.flush()


def run(title: str, args: list[str], slowest: list[str] | None = None) -> tuple[int, float]:
    """Run one gate; return its exit code and how long it took.

    The gate's output is passed through line by line; with ``slowest``, the lines of
    pytest's ``--durations`` table are also collected there, for the summary. A gate that
    hangs (still running after ``HANG_AFTER`` seconds) or leaves a process behind (one that
    holds its output or stays in its process group after it exits) is killed and fails,
    with the processes still running printed: a leaked child would otherwise hold CI's
    output open until CI's own limit.
    """
    print(f"\n=== {title}: {' '.join(args)}", flush=True)
    started = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    problem = ""
    # Not `with Popen`: its exit closes the output, which waits for the reader thread,
    # which a leaked process holding the output would block forever.
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,  # its own process group, so a hang is killed with its children
    )
    assert process.stdout is not None
    reader = threading.Thread(target=_pass_through, args=(process.stdout, slowest), daemon=True)
    reader.start()
    try:
        process.wait(timeout=HANG_AFTER)
    except subprocess.TimeoutExpired:
        problem = f"still running after {HANG_AFTER:.0f} s (a hang)"
    if not problem and _group_alive(process.pid):
        time.sleep(2)  # a child on its way out
        if _group_alive(process.pid):
            problem = "exited, but left processes running in its process group"
    reader.join(timeout=0 if problem else 10)
    if not problem and reader.is_alive():
        problem = "exited, but a process it started (in a session of its own) holds its output"
    if problem:
        print(f"\n=== {title}: {problem}: a failure. Processes it may have started:")
        _print_processes(since=time.perf_counter() - started)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    if not reader.is_alive():
        process.stdout.close()
    code = 1 if problem and process.returncode == 0 else process.returncode
    elapsed = time.perf_counter() - started
    if code == 5 and args[1:3] == ["-m", "pytest"]:
        print(f"=== {title}: pytest collected no tests, which is a failure here", flush=True)
    print(f"=== {title}: exit {code} in {elapsed:.1f} s", flush=True)
    return code, elapsed


def main() -> int:
    started = time.perf_counter()
    paths = [p for p in LINT_PATHS if (ROOT / p).exists()]
    seed = random.SystemRandom().randrange(1, 2**31)
    COVERAGE_JSON.unlink(missing_ok=True)
    n = workers()
    spread = ["-n", str(n), "--dist", "worksteal"] if n > 1 else []
    suite_gate = f"pytest ({n} worker{'s' if n > 1 else ''})"
    gates: list[tuple[str, list[str]]] = [
        ("ruff check", [PY, "-m", "ruff", "check", *paths]),
        ("ruff format", [PY, "-m", "ruff", "format", "--check", *paths]),
        ("import contract", [str(LINT_IMPORTS), "--no-cache"]),
        ("mypy --strict", [PY, "-m", "mypy", "--strict", "src"]),
        ("warm caches", [PY, "scripts/warm_caches.py"]),
        (
            suite_gate,
            [
                PY,
                "-m",
                "pytest",
                "-q",
                f"--durations={SLOWEST}",
                "-p",
                "no:randomly",
                "--cov=soravideo",
                "--cov-branch",
                "--cov-report=",  # written by the next gate, outside the suite's time
                *spread,
                *sys.argv[1:],
            ],
        ),
        ("coverage report", [PY, "-m", "coverage", "json", "-q", "-o", str(COVERAGE_JSON)]),
        ("coverage per layer", [PY, "scripts/coverage_layers.py", str(COVERAGE_JSON)]),
        (
            f"e2e in random order (seed {seed})",
            [
                PY,
                "-m",
                "pytest",
                "-q",
                E2E,
                "-p",
                "randomly",
                "-p",
                "no:cacheprovider",
                f"--randomly-seed={seed}",
            ],
        ),
    ]
    failures: list[str] = []
    times: dict[str, float] = {}
    slowest: list[str] = []
    for title, args in gates:
        code, elapsed = run(title, args, slowest if title == suite_gate else None)
        times[title] = elapsed
        if code != 0:
            failures.append(title)

    suite = times[suite_gate]
    total = time.perf_counter() - started
    print("\n=== times", flush=True)
    print(f"  test suite (pytest, with coverage): {suite:.1f} s", flush=True)
    print(f"  e2e again in random order:          {times[gates[-1][0]]:.1f} s", flush=True)
    print(f"  all gates:                          {total:.1f} s", flush=True)
    limit = float(os.environ.get("SORAVIDEO_SUITE_BUDGET") or SUITE_BUDGET)
    if limit > 0:
        verdict = (
            "over: not a failure, but look at the slowest tests" if suite > limit else "within"
        )
        print(f"  suite aim:                          {limit:.0f} s ({verdict})", flush=True)
    if slowest:
        print(f"\n=== the {len(slowest)} slowest tests of the suite (setup, call or teardown)")
        for line in slowest:
            print(f"  {line}", flush=True)
    if failures:
        print(f"\nFAILED gates: {', '.join(failures)}", flush=True)
        return 1
    print(f"\nall {len(gates)} gates passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
