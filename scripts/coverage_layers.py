"""Check coverage per layer: read coverage.json (pytest-cov, --cov-branch), print a table, fail
below a floor.

Usage: python scripts/coverage_layers.py [coverage.json]

The layers are the package's folders (``_core/``, ``transports/``, ``repositories/``,
``_engine/``, ``_api/``, ``cli/``, ``testing/``: the layers of the import contract in
pyproject.toml, see CONTRIBUTING.md's module map), plus the package root's own files
(``__init__.py``, ``__main__.py``). A file belongs to the folder it is in; a folder with no
floor here is an error, so a new package has to be given one.

Each layer's figure is coverage.py's own measure over the layer's files: covered lines plus
covered branches, over statements plus branches.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "soravideo/"
OVERALL_FLOOR = 90.0
ROOT_LAYER = "(package root)"

# Floor % by folder below src/soravideo, lowest layer of the import contract first.
FLOORS: dict[str, float] = {
    "_core": 80.0,
    "transports": 80.0,
    "repositories": 85.0,
    "_engine": 80.0,
    "_api": 80.0,
    # The REST API (the server extra): tested in-process through httpx's ASGI transport.
    "server": 80.0,
    # The command line: also tested in subprocesses, which this run does not measure.
    "cli": 75.0,
    # Shipped to users (FakeSora, FakeRunway, contract suites), so held to the same floor.
    "testing": 80.0,
    # __init__ and __main__ (run as ``python -m soravideo`` in subprocesses).
    ROOT_LAYER: 75.0,
}


def _relative(path: str) -> str | None:
    """Return the path below the package (``transports/sora.py``), or None if outside it."""
    normalized = path.replace("\\", "/")
    index = normalized.rfind(PACKAGE)
    return normalized[index + len(PACKAGE) :] if index >= 0 else None


def layer_of(relative: str) -> str:
    """Return the layer of a file below the package: its folder, or the package root."""
    folder, _, rest = relative.partition("/")
    return folder if rest else ROOT_LAYER


def _percent(covered: int, total: int) -> float:
    return 100.0 * covered / total if total else 100.0


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else ROOT / "coverage.json"
    try:
        data = json.loads(source.read_text())
    except (OSError, ValueError) as exc:
        print(f"coverage layers: cannot read {source}: {exc}")
        return 1
    covered = dict.fromkeys(FLOORS, 0)
    total = dict.fromkeys(FLOORS, 0)
    files: dict[str, list[tuple[float, str]]] = {name: [] for name in FLOORS}
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
        name = layer_of(relative)
        if name not in FLOORS:
            unplaced.append(relative)
            continue
        covered[name] += hit
        total[name] += size
        files[name].append((_percent(hit, size), relative))
    if all_total == 0:
        print(f"coverage layers: {source} measured no file of the package")
        return 1

    failed: list[str] = []
    print(f"\n{'layer':<38} {'files':>5} {'lines+branches':>15} {'covered':>8} {'floor':>6}")
    for name, floor in FLOORS.items():
        percent = _percent(covered[name], total[name])
        ok = percent >= floor
        if not ok:
            failed.append(name)
        mark = "ok" if ok else "FAIL"
        print(
            f"{name:<38} {len(files[name]):>5} {total[name]:>15} {percent:>7.1f}% "
            f"{floor:>5.0f}% {mark}"
        )
    overall = _percent(all_covered, all_total)
    overall_ok = overall >= OVERALL_FLOOR
    if not overall_ok:
        failed.append("overall")
    mark = "ok" if overall_ok else "FAIL"
    print(
        f"{'overall (src/soravideo)':<38} {sum(len(f) for f in files.values()):>5} "
        f"{all_total:>15} {overall:>7.1f}% {OVERALL_FLOOR:>5.0f}% {mark}"
    )
    for name in FLOORS:
        if name in failed:
            lowest = ", ".join(f"{rel} {pct:.0f}%" for pct, rel in sorted(files[name])[:5])
            print(f"  {name}: lowest files: {lowest}")
    if unplaced:
        folders = sorted({rel.partition("/")[0] for rel in unplaced})
        print(f"folders with no floor (add them to FLOORS in {Path(__file__).name}): {folders}")
        return 1
    if failed:
        print(f"coverage below the floor: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
