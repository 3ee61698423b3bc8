"""Fill the caches that the first test run on a machine would otherwise fill while it is timed.

Usage: python scripts/warm_caches.py

- Bytecode of ``src``, ``tests``, ``examples`` and ``benchmarks`` (``__pycache__``, ignored by
  git): otherwise the first pytest process and every child process it starts compile them.
- Hypothesis's Unicode tables (``.hypothesis/unicode_data``, ignored by git): the first
  text strategy in each pytest process builds them from ``unicodedata``, which under
  coverage takes seconds; on a fresh CI checkout every run would pay it, twice (one per
  pytest-xdist worker). Also its per-module constants (``.hypothesis/constants``).
- pytest's own bytecode of the modules whose asserts it rewrites (the test modules and
  conftests, and the modules of plugins such as schemathesis and hypothesis: a
  ``*-pytest-*.pyc`` beside the plain one): otherwise every pytest-xdist worker rewrites
  them all while it collects, about ten seconds of CPU each. Filled by collecting the suite
  once (``pytest --collect-only``), only when a test module's cache is missing or stale.

All of it is what a developer's machine has after its first run; ``scripts/check.py`` runs
this before the timed test run. Nothing here is needed for correctness: a failure only prints.
"""

from __future__ import annotations

import compileall
import importlib
import importlib.util
import os
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def compile_sources() -> None:
    for folder in ("src", "tests", "examples", "benchmarks", "scripts"):
        if (ROOT / folder).is_dir():
            compileall.compile_dir(ROOT / folder, quiet=1)


def fill_hypothesis_caches() -> int:
    """Have Hypothesis build its Unicode tables and the constants of every soravideo module."""
    try:
        # Private, so guarded: a Hypothesis without them simply gets no warm cache.
        from hypothesis.internal.charmap import charmap, intervals_from_codec
        from hypothesis.internal.constants_ast import constants_from_module
    except ImportError:
        return 0
    import soravideo

    charmap()
    intervals_from_codec("utf-8")  # soravideo.testing.strategies.texts() draws from it

    modules = [soravideo]
    for info in pkgutil.walk_packages(soravideo.__path__, "soravideo."):
        try:
            modules.append(importlib.import_module(info.name))
        except ImportError:  # an optional extra that is not installed
            continue
    for module in modules:
        constants_from_module(module)
    return len(modules)


def _rewrite_caches_stale() -> bool:
    """Whether a test module or conftest lacks an up-to-date assertion-rewritten pyc."""
    try:
        # Private, so guarded: without it the suite simply rewrites as it collects.
        from _pytest.assertion.rewrite import PYC_TAIL
    except ImportError:
        return False
    for source in sorted((ROOT / "tests").rglob("*.py")):
        if not (source.name.startswith("test_") or source.name == "conftest.py"):
            continue
        # pytest's pycs are checked-hash ones (PEP 552): bytes 8-16 are the source's hash.
        pyc = source.parent / "__pycache__" / (source.name[:-3] + PYC_TAIL)
        try:
            with pyc.open("rb") as cached:
                stored = cached.read(16)[8:]
        except OSError:
            return True
        if stored != importlib.util.source_hash(source.read_bytes())[:8]:
            return True
    return False


def fill_rewrite_caches() -> bool:
    """Collect the suite once if pytest's rewritten bytecode is missing; whether it ran."""
    if not _rewrite_caches_stale():
        return False
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    collect = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(collect, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"warm caches: collecting the suite failed (exit {done.returncode})")
    return True


def main() -> int:
    started = time.perf_counter()
    compile_sources()
    try:
        collected = fill_rewrite_caches()
    except Exception as exc:  # a cache, never a reason to fail
        print(f"warm caches: pytest's rewritten bytecode not filled ({exc!r})")
        collected = False
    try:
        count = fill_hypothesis_caches()
    except Exception as exc:  # a cache, never a reason to fail
        print(f"warm caches: Hypothesis caches not filled ({exc!r})")
        count = 0
    rewritten = ", pytest's rewritten modules" if collected else ""
    print(f"warm caches: bytecode{rewritten}, Hypothesis's tables and {count} modules'", end="")
    print(" constants", end="")
    print(f" in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
