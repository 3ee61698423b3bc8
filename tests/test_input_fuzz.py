"""A search over the whole input surface ([W2-2] "tests that search"): request fields, batch
fields, manifest bytes (CSV and JSONL), list parameters, ids and CLI arguments, each drawn
from valid values, wrong types, NaN, infinities, huge numbers, undecodable text, paths out of
the manifest's folder and plain garbage.

Every call ends in success or in a ``ValidationError`` (``.errors`` naming something) with
nothing stored and nothing sent; a few named outcomes are allowed where they are the right
answer (an unknown but well-formed id is not found; a batch over its budget is refused). Any
other exception, or a refusal that left a job behind, is a bug.

Examples are few and derandomized (the same every run), as in the other property tests.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import soravideo as sv
from soravideo._core.validation import image_type
from soravideo.cli import main
from soravideo.cli.errors import EXIT_OK, EXIT_USAGE
from soravideo.repositories import SQLiteRepository

FUZZ = settings(
    derandomize=True,
    database=None,
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

# -- values: what a caller, a JSON file or a shell can hand over -------------------------


class _Thing:
    def __repr__(self) -> str:
        return "<thing>"


_AWKWARD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "..",
        ".",
        "/etc/passwd",
        "../x.png",
        "nan",
        "-5",
        "1e999",
        "a\udcff",  # what Python makes of a non-UTF-8 byte
        "\ud83d",  # half an emoji
        "x\x00y",
        "job 1",
        "x" * 300,
    ]
)
_TEXT = st.text(max_size=12) | _AWKWARD_TEXT
_NUMBERS = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and ±infinity included
    | st.sampled_from([0, -1, 2**62, 2**63, 10**400, 1.5, -0.0])
)
_SCALARS = (
    st.none()
    | st.booleans()
    | _NUMBERS
    | _TEXT
    | st.binary(max_size=6)
    | st.builds(_Thing)
    | st.sampled_from(list(sv.JobPriority))
)
VALUES: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children)
        | st.frozensets(st.integers(0, 3), max_size=2)
        | st.dictionaries(st.text(max_size=4) | st.integers(0, 3), children, max_size=3)
    ),
    max_leaves=5,
)


def mostly(valid: st.SearchStrategy[Any], odd: st.SearchStrategy[Any] = VALUES) -> Any:
    """Draw from ``valid`` four times in five, else from ``odd``: both outcomes get tried."""
    return st.integers(0, 4).flatmap(lambda n: valid if n else odd)


_PROMPTS = st.text(min_size=1, max_size=30).filter(str.strip)
_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "model": mostly(st.sampled_from(["sora-2", "sora-2-pro"])),
    "duration": mostly(st.sampled_from([4, 8, 12])),
    "resolution": mostly(st.just("720p")),
    "aspect_ratio": mostly(st.sampled_from(["16:9", "9:16"])),
    "size": mostly(st.sampled_from(["1280x720", "720x1280"])),
    "input_reference": mostly(st.sampled_from([PNG, "https://cdn.example/fox.png"])),
    "priority": mostly(st.sampled_from([*sv.JobPriority, "low", "HIGH"])),
    "metadata": mostly(st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2)),
    "provider_options": mostly(
        st.dictionaries(st.text(max_size=4), st.integers(0, 9), max_size=2),
        st.dictionaries(st.text(max_size=4), VALUES, max_size=2) | VALUES,
    ),
}
REQUEST_FIELDS = st.fixed_dictionaries({"prompt": mostly(_PROMPTS)}, optional=_FIELDS)
REQUESTS = REQUEST_FIELDS.map(lambda fields: sv.CreateVideoRequest(**fields))
BATCHES = st.fixed_dictionaries(
    {"videos": mostly(st.lists(mostly(REQUESTS), min_size=1, max_size=3))},
    optional={
        "name": mostly(st.text(max_size=8)),
        "concurrency": mostly(st.integers(1, 4)),
        "metadata": mostly(st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2)),
        "budget_usd": mostly(st.floats(0, 100)),
    },
).map(lambda fields: sv.BatchVideoRequest(**fields))
KEYS = mostly(st.none() | st.text(min_size=1, max_size=10))


# -- the harness: a fresh simulated client per example, and what "nothing" means ---------


def run(scenario: Callable[[sv.AsyncSoraVideo], Awaitable[Any]], **kwargs: Any) -> Any:
    """Run ``scenario`` on a fresh simulated client; return what it returned or raised."""

    async def main_() -> Any:
        async with sv.AsyncSoraVideo.simulated(**kwargs) as client:
            try:
                outcome: Any = await scenario(client)
            except sv.SoraVideoError as exc:
                outcome = exc
            if isinstance(outcome, (sv.ValidationError, sv.BudgetExceededError, sv.NotFoundError)):
                # Refused: nothing in the ledger, nothing sent.
                assert (await client.videos.list_jobs(limit=1)).total == 0, outcome
                assert (await client.batches.list_batches(limit=1)).total == 0, outcome
                assert client.fake is not None
                assert client.fake.requests == [], outcome
            return outcome

    return anyio.run(main_)


def refused(outcome: Any) -> bool:
    event(type(outcome).__name__)  # --hypothesis-show-statistics shows how each call ended
    if isinstance(outcome, sv.ValidationError):
        assert outcome.errors, "a ValidationError must name what is wrong"
        str(outcome).encode("utf-8")  # printable, whatever the input held
        return True
    return False


@given(fields=REQUEST_FIELDS)
@FUZZ
def test_create_video_accepts_or_names_every_bad_field(fields: dict[str, Any]) -> None:
    async def scenario(client: sv.AsyncSoraVideo) -> Any:
        return await client.videos.create_video(sv.CreateVideoRequest(**fields))

    outcome = run(scenario)
    assert refused(outcome) or isinstance(outcome, sv.Job), outcome


@given(request=BATCHES, key=KEYS)
@FUZZ
def test_create_batch_accepts_or_refuses_whole(request: sv.BatchVideoRequest, key: Any) -> None:
    async def scenario(client: sv.AsyncSoraVideo) -> Any:
        return await client.batches.create_batch(request, key=key)

    outcome = run(scenario)
    assert refused(outcome) or isinstance(outcome, (sv.BudgetExceededError, sv.BatchResult)), (
        outcome
    )


_ID_CALLS: list[Callable[[sv.AsyncSoraVideo, Any, Any], Awaitable[Any]]] = [
    lambda c, value, other: c.videos.get_job(value),
    lambda c, value, other: c.videos.get_video_result(value),
    lambda c, value, other: c.videos.cancel_job(value),
    lambda c, value, other: c.videos.wait_for_job(value, timeout=other),
    lambda c, value, other: c.videos.download_video(value, other),
    lambda c, value, other: c.videos.remix_video(value, other),
    lambda c, value, other: c.batches.get_batch_status(value),
    lambda c, value, other: c.batches.process_batch(value, concurrency=other),
    lambda c, value, other: c.batches.cancel_batch(value),
]
_IDS = st.sampled_from(["job_0189c3a1", "batch_0189c3a1", "a.b:c-d"]) | VALUES


@given(call=st.sampled_from(_ID_CALLS), value=_IDS, other=VALUES | st.just("out.mp4"))
@FUZZ
def test_ids_are_checked_before_the_ledger_is_asked(call: Any, value: Any, other: Any) -> None:
    outcome = run(lambda client: call(client, value, other))
    # A well-formed id that names nothing is not found; everything else is refused.
    assert refused(outcome) or isinstance(outcome, sv.NotFoundError), outcome


@pytest.fixture(scope="module")
def ledger_file() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder) / "ledger.db"


_PAGES = st.integers(1, 3) | st.sampled_from([10**9, 10**9 + 1, 2**62, 2**63, -1]) | VALUES
_STATUSES = st.none() | st.sampled_from([*sv.JobStatus, "completed", "done"]) | VALUES


@given(page=_PAGES, limit=_PAGES, status=_STATUSES, batch_id=st.none() | _IDS)
@FUZZ
def test_list_parameters_on_sqlite_page_or_are_refused(
    ledger_file: Path, page: Any, limit: Any, status: Any, batch_id: Any
) -> None:
    async def scenario(client: sv.AsyncSoraVideo) -> Any:
        try:
            jobs = await client.videos.list_jobs(
                status=status, batch_id=batch_id, page=page, limit=limit
            )
        except sv.ValidationError as exc:
            jobs = exc
        try:
            batches = await client.batches.list_batches(page=page, limit=limit)
        except sv.ValidationError as exc:
            batches = exc
        return jobs, batches

    for outcome in run(scenario, repository=SQLiteRepository(ledger_file)):
        assert refused(outcome) or isinstance(outcome, sv.Page), outcome


# -- manifests: bytes in CSV and JSONL, and the files they name ---------------------------


@pytest.fixture(scope="module")
def manifest_folder() -> Iterator[Path]:
    """A folder with an image, a text file, and (outside it) an image and a link to it."""
    with tempfile.TemporaryDirectory() as top:
        root = Path(top)
        folder = root / "ads"
        folder.mkdir()
        (folder / "fox.png").write_bytes(PNG)
        (folder / "notes.txt").write_text("password=hunter2")
        (root / "outside.png").write_bytes(PNG)
        # Without symbolic links, the name is just a missing file.
        with contextlib.suppress(OSError):
            (folder / "link.png").symlink_to(root / "outside.png")
        yield folder


_REFERENCES = st.sampled_from(
    [
        "fox.png",
        "./fox.png",
        "notes.txt",
        "../outside.png",
        "link.png",
        "/etc/passwd",
        "missing.png",
        "https://cdn.example/fox.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "~/fox.png",
    ]
)
_VALID_CELLS: dict[str, st.SearchStrategy[Any]] = {
    "prompt": _PROMPTS,
    "duration": st.sampled_from([4, 8, 12]),
    "model": st.just("sora-2"),
    "size": st.sampled_from(["1280x720", "720x1280"]),
    "priority": st.sampled_from(["low", "urgent"]),
    "input_reference": mostly(
        st.sampled_from(["fox.png", "./fox.png", "https://cdn.example/fox.png"]), _REFERENCES
    ),
    "metadata": st.just({"campaign": "ads"}),
    "metadata.team": st.text(max_size=5),
    "provider_options": st.just({}),
}
_ODD_CELLS = (
    _REFERENCES
    | _TEXT
    | st.integers(-(2**70), 2**70)
    | st.floats()  # NaN and Infinity, as Python's json writes them
    | st.none()
    | st.booleans()
    | st.lists(st.integers(0, 3), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.text(max_size=3) | st.integers(0, 3), max_size=2)
)
_COLUMNS = st.sampled_from([*_VALID_CELLS, "colour", " prompt "])


@st.composite
def manifest_rows(draw: st.DrawFn) -> tuple[list[str], list[dict[str, Any]]]:
    """Draw a header (usually with a prompt) and rows whose cells are mostly valid."""
    columns = draw(st.lists(_COLUMNS, max_size=4, unique=True))
    if draw(st.integers(0, 4)):
        columns = ["prompt", *(c for c in columns if c != "prompt")]
    rows = []
    for _ in range(draw(st.integers(1, 3))):
        row = {}
        for column in columns:
            valid = _VALID_CELLS.get(column, _ODD_CELLS)
            if draw(st.integers(0, 5)):
                row[column] = draw(mostly(valid, _ODD_CELLS))
        rows.append(row)
    return columns, rows


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@st.composite
def csv_bytes(draw: st.DrawFn) -> bytes:
    if not draw(st.integers(0, 5)):
        return draw(st.binary(max_size=120))
    columns, rows = draw(manifest_rows())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        cells = [_cell(row[c]) if c in row else "" for c in columns]
        if not draw(st.integers(0, 9)):
            cells.append("an extra cell")
        writer.writerow(cells)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1"]))
    # Lone surrogates become bytes no UTF-8 reader takes (surrogatepass): a refusal.
    errors = "replace" if encoding == "latin-1" else "surrogatepass"
    return out.getvalue().encode(encoding, errors)


@st.composite
def jsonl_bytes(draw: st.DrawFn) -> bytes:
    if not draw(st.integers(0, 5)):
        return draw(st.binary(max_size=120))
    _, rows = draw(manifest_rows())
    lines = [json.dumps(row) for row in rows]  # NaN and Infinity as Python writes them
    if not draw(st.integers(0, 9)):
        lines.append(draw(st.text(max_size=20)))  # not JSON, or not an object
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def _confined(reference: Any, folder: Path) -> bool:
    """Whether an accepted reference is a URL, bytes, or an image inside ``folder``."""
    if not isinstance(reference, str) or "://" in reference or reference.startswith("data:"):
        return True
    real = os.path.realpath(reference)
    inside = real.startswith(os.path.realpath(folder) + os.sep)
    with open(real, "rb") as file:
        return inside and image_type(file.read(12)) is not None


@given(kind=st.sampled_from(["csv", "jsonl"]), data=st.data())
@FUZZ
def test_manifests_of_any_bytes_make_a_batch_or_name_the_rows(
    manifest_folder: Path, kind: str, data: st.DataObject
) -> None:
    content = data.draw(csv_bytes() if kind == "csv" else jsonl_bytes())
    manifest = manifest_folder / f"m.{kind}"
    manifest.write_bytes(content)

    async def scenario(client: sv.AsyncSoraVideo) -> Any:
        created = await client.batches.create_batch_from_file(manifest)
        report = await client.batches.get_batch_status(created.batch_id)
        return [job.request.input_reference for job in report.jobs]

    outcome = run(scenario)
    if not refused(outcome):
        assert isinstance(outcome, list), outcome
        assert all(_confined(ref, manifest_folder) for ref in outcome), outcome


# -- the command line -------------------------------------------------------------------

_ARGS = (
    st.sampled_from(
        ["-5", "0", "1", "4", "8", "nan", "inf", "-inf", "1e999", "1.5", "9" * 25, "", "abc"]
    )
    | _AWKWARD_TEXT
    | st.integers(-(2**40), 2**40).map(str)
    | st.floats().map(str)
)
_OPTIONS = {
    "create": ["--duration", "--model", "--size", "--priority", "--metadata", "--aspect-ratio"],
    "list": ["--page", "--limit", "--status", "--batch"],
    "status": [],
    "cancel": [],
    "batch": ["--concurrency", "--budget", "--max-batch-size", "--duration", "--base-dir"],
}


@st.composite
def argvs(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(_OPTIONS)))
    argv = [command]
    if command == "create":
        argv.append(draw(_PROMPTS | _ARGS))
    elif command in ("status", "cancel"):
        argv.append(draw(st.sampled_from(["job_0189c3a1", "batch_0189c3a1"]) | _ARGS))
    elif command == "batch":
        argv.append(draw(st.sampled_from(["m.csv", "missing.csv", "bad.csv"])))
    for option in draw(st.lists(st.sampled_from(_OPTIONS[command] or ["--json"]), max_size=3)):
        argv.append(option if option == "--json" else f"{option}={draw(_ARGS)}")
    return argv


def _jobs_in(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    with sqlite3.connect(ledger) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])


@pytest.fixture(scope="module")
def cli_folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as top:
        folder = Path(top)
        (folder / "m.csv").write_text("prompt,duration\na kite,4\n")
        (folder / "bad.csv").write_text("prompt,input_reference\na kite,/etc/passwd\n")
        yield folder


@given(argv=argvs())
@FUZZ
def test_cli_arguments_succeed_or_exit_2_storing_nothing(
    cli_folder: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.chdir(cli_folder)
    for name in list(os.environ):
        if name.startswith("SORAVIDEO_"):
            monkeypatch.delenv(name)
    ledger = cli_folder / "ledger.db"
    before = _jobs_in(ledger)
    out, err = io.StringIO(), io.StringIO()
    code = main(["--provider", "simulated", "--db", str(ledger), *argv], stdout=out, stderr=err)
    event(f"exit {code}")
    assert "Traceback" not in err.getvalue() and "unexpected" not in err.getvalue(), err.getvalue()
    assert code in (EXIT_OK, EXIT_USAGE), (code, err.getvalue())
    if code == EXIT_USAGE:
        assert _jobs_in(ledger) == before, err.getvalue()
    assert not math.isnan(before)
