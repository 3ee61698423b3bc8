"""Check coverage per layer: read coverage.json (pytest-cov, --cov-branch), print a table, fail
below a floor.

Usage: python scripts/coverage_layers.py [coverage.json]

Each layer's figure is coverage.py's own measure over the layer's files: covered lines plus
covered branches, over statements plus branches. Every file under src/soravideo belongs to
exactly one layer; a file no layer claims is an error, so a new module has to be placed.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "soravideo/"
OVERALL_FLOOR = 90.0

# (layer, floor %, file patterns relative to src/soravideo). First match wins.
LAYERS: list[tuple[str, float, tuple[str, ...]]] = [
    (
        "services (engine, facades)",
        80.0,
        (
            "_services.py",
            "_batches.py",
            "_resume.py",
            "_client.py",
            "_sync.py",
            "_runner.py",
            "_health.py",
            "_events.py",
            "_progress.py",
            "_simulated.py",
            "_simulated_runway.py",
            "_simulated_openrouter.py",
        ),
    ),
    ("repositories", 85.0, ("repositories/*",)),
    (
        "transports and utilities",
        80.0,
        (
            "transports/*",
            "_retry.py",
            "_policy.py",
            "_clock.py",
            "_converter.py",
            "_validation.py",
            "_download.py",
            "_content_check.py",
            "_manifest.py",
            "_redact.py",
            "_models.py",
            "_errors.py",
            "_settings.py",
            "_display.py",
            "__init__.py",
        ),
    ),
    # Shipped to users (FakeSora, FakeRunway, contract suites), so held to the same floor.
    ("testing (shipped fakes, contracts)", 80.0, ("testing/*",)),
    # The command line: also tested in subprocesses, which this run does not measure.
    ("cli and demo", 75.0, ("_cli.py", "_demo.py", "__main__.py")),
]


def _relative(path: str) -> str | None:
    """Return the path below the package (``transports/sora.py``), or None if outside it."""
    normalized = path.replace("\\", "/")
    index = normalized.rfind(PACKAGE)
    return normalized[index + len(PACKAGE) :] if index >= 0 else None


def _layer(relative: str) -> int | None:
    for i, (_, _, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(relative, pattern) for pattern in patterns):
            return i
    return None


def _percent(covered: int, total: int) -> float:
    return 100.0 * covered / total if total else 100.0


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else ROOT / "coverage.json"
    try:
        data = json.loads(source.read_text())
    except (OSError, ValueError) as exc:
        print(f"coverage layers: cannot read {source}: {exc}")
        return 1
    covered = [0] * len(LAYERS)
    total = [0] * len(LAYERS)
    files: list[list[tuple[float, str]]] = [[] for _ in LAYERS]
    unplaced: list[str] = []
    all_covered = all_total = 0
    for path, info in sorted(data.get("files", {}).items()):
        relative = _relative(path)
        if relative is None:
            continue
        summary = info["summary"]
        hit = summary["covered_lines"] + summary.get("covered_branches", 0)
        size = summary["num_statements"] + summary.get("num_branches", 0)
        all_covered += hit
        all_total += size
        index = _layer(relative)
        if index is None:
            unplaced.append(relative)
            continue
        covered[index] += hit
        total[index] += size
        files[index].append((_percent(hit, size), relative))
    if all_total == 0:
        print(f"coverage layers: {source} measured no file of the package")
        return 1

    failed: list[str] = []
    print(f"\n{'layer':<38} {'files':>5} {'lines+branches':>15} {'covered':>8} {'floor':>6}")
    for i, (name, floor, _) in enumerate(LAYERS):
        percent = _percent(covered[i], total[i])
        ok = percent >= floor
        if not ok:
            failed.append(name)
        mark = "ok" if ok else "FAIL"
        print(
            f"{name:<38} {len(files[i]):>5} {total[i]:>15} {percent:>7.1f}% {floor:>5.0f}% {mark}"
        )
    overall = _percent(all_covered, all_total)
    overall_ok = overall >= OVERALL_FLOOR
    if not overall_ok:
        failed.append("overall")
    mark = "ok" if overall_ok else "FAIL"
    print(
        f"{'overall (src/soravideo)':<38} {sum(len(f) for f in files):>5} {all_total:>15} "
        f"{overall:>7.1f}% {OVERALL_FLOOR:>5.0f}% {mark}"
    )
    for i, (name, _, _) in enumerate(LAYERS):
        if name in failed:
            lowest = ", ".join(f"{rel} {pct:.0f}%" for pct, rel in sorted(files[i])[:5])
            print(f"  {name}: lowest files: {lowest}")
    if unplaced:
        print(f"files in no layer (add them to LAYERS in {Path(__file__).name}): {unplaced}")
        return 1
    if failed:
        print(f"coverage below the floor: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
