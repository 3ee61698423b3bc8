"""Fill the caches that the first test run on a machine would otherwise fill while it is timed.

Usage: python scripts/warm_caches.py

- Bytecode of ``src``, ``tests``, ``examples`` and ``benchmarks`` (``__pycache__``, ignored by
  git): otherwise the first pytest process and every child process it starts compile them.
- Hypothesis's Unicode tables (``.hypothesis/unicode_data``, ignored by git): the first
  text strategy in each pytest process builds them from ``unicodedata``, which under
  coverage takes seconds; on a fresh CI checkout every run would pay it, twice (one per
  pytest-xdist worker). Also its per-module constants (``.hypothesis/constants``).

Both are what a developer's machine has after its first run; ``scripts/check.py`` runs this
before the timed test run. Nothing here is needed for correctness: a failure only prints.
"""

from __future__ import annotations

import compileall
import importlib
import pkgutil
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


def main() -> int:
    started = time.perf_counter()
    compile_sources()
    try:
        count = fill_hypothesis_caches()
    except Exception as exc:  # a cache, never a reason to fail
        print(f"warm caches: Hypothesis caches not filled ({exc!r})")
        count = 0
    print(f"warm caches: bytecode, Hypothesis's tables and {count} modules' constants", end="")
    print(f" in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
