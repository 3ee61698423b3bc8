"""The ``soravideo`` command line (``python -m soravideo``): argparse over the async client.

Each command opens one client on the ledger, does its work and closes it. Commands that
only read or change the ledger (``status``, ``list``, ``cancel``, ``download``) never start
the engine; commands that see jobs through (``create --wait``, ``status --wait``,
``batch``, ``resume``, ``worker``) run it, and it then advances every unfinished job of
the ledger, not only their own.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import logging
import math
import os
import re
import secrets
import shutil
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import anyio
import anyio.abc
import anyio.to_thread
import attrs

from ._client import DEFAULT_DB, AsyncSoraVideo
from ._clock import VirtualClock
from ._converter import unstructure
from ._download import file_name, publish, refuse_existing, resolve_destination
from ._errors import (
    AuthenticationError,
    BudgetExceededError,
    JobStateError,
    JobTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RepositoryError,
    SoraVideoError,
    ValidationError,
)
from ._events import JobEvent
from ._models import (
    BatchStatus,
    BatchStatusReport,
    CreateVideoRequest,
    Job,
    JobPriority,
    JobStatus,
    Page,
)
from ._redact import redact, redact_text, redact_url, secrets_in
from ._resume import find_unfinished
from ._settings import Settings
from ._simulated import simulated_parts
from ._validation import (
    MAX_CONCURRENCY,
    MAX_DURATION,
    MAX_PAGE,
    MAX_PAGE_LIMIT,
    MAX_USD,
    raise_if,
)
from .repositories.base import JobRepository
from .transports.base import Transport

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "EventPrinter",
    "build_parser",
    "exit_code",
    "main",
    "simulated_client",
]

_SEPARATORS = tuple(sep for sep in (os.sep, os.altsep) if sep)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130

PROVIDERS = ("sora", "runway", "fal", "openrouter", "replicate", "simulated")
# Simulated seconds each video takes on --provider simulated (AsyncSoraVideo.simulated's).
SIMULATED_GENERATION_TIME = 30.0
_PAGE_SIZE = 1000
_PROMPT_WIDTH = 40

DESCRIPTION = """\
Run AI video generation as durable jobs from the terminal.

Every job is recorded in a ledger (SQLite: --db, $SORAVIDEO_DB or ./soravideo.db) that
survives crashes, so a later command resumes where an earlier one stopped and never
submits a video twice."""

EPILOG = """\
how jobs move:
  `create` stores a job as pending; nothing is sent yet. Commands that see jobs through
  (create --wait, status --wait, batch, resume, worker) run the engine, which sends and
  polls every unfinished job of the ledger while they run. A job still generating when
  such a command ends keeps going at the provider; the next one picks it up.

the simulated provider (--provider simulated):
  FakeSora runs inside each command, on simulated time, so a 30-second video takes a
  few milliseconds. The ledger still persists, but the simulator does not: a command
  that runs the engine on it sees every job it started through to the end before it
  exits. Download videos in the same command (create --wait --out, batch --out-dir);
  a later `download` copies the file if it was saved (SORAVIDEO_DOWNLOAD_DIR).

exit codes:
  0    success (with --wait: the job completed; batch, resume: every video completed)
  1    a job failed or was cancelled, a wait reached --timeout, or a batch ended
       partial, failed or cancelled
  2    usage or validation error: bad arguments or request fields (each one named),
       an unknown job or batch id, an operation the job's state does not allow,
       a budget exceeded, an unusable ledger, a file that cannot be read or
       written, a request the provider rejected (4xx)
  3    provider unreachable: connection refused or timed out, 5xx, rate limited,
       or the API key refused (401/403)
  130  interrupted (Ctrl-C); `worker` exits 0 on SIGTERM or Ctrl-C

environment:
  SORAVIDEO_API_KEY / OPENAI_API_KEY, SORAVIDEO_BASE_URL / OPENAI_BASE_URL (provider;
  RUNWAYML_API_SECRET for runway, OPENROUTER_API_KEY for openrouter),
  SORAVIDEO_DB (ledger), SORAVIDEO_<SETTING> for any setting, e.g.
  SORAVIDEO_MAX_CONCURRENCY=8, SORAVIDEO_DOWNLOAD_DIR=videos.
  --provider runway: RUNWAYML_API_SECRET; --provider fal: FAL_KEY (--model picks the
  endpoint, e.g. fal-ai/veo3.1); --provider replicate: REPLICATE_API_TOKEN (--model
  owner/name, e.g. google/veo-3.1; outputs are deleted after an hour: use --out-dir).
  The API key is never printed.

examples:
  soravideo --provider simulated create "a red fox in snow" --duration 8 --wait --out fox.mp4
  soravideo --provider simulated batch prompts.csv --concurrency 3 --out-dir videos
  soravideo list --status failed
  soravideo demo"""

logger = logging.getLogger("soravideo")


class UsageError(SoraVideoError):
    """A mistake in the command line that argparse cannot see (exit code 2)."""


# ---------------------------------------------------------------------------- formatting


def money(value: float | None) -> str:
    """Return ``$0.40`` for a price, ``-`` for none."""
    return "-" if value is None else f"${value:,.2f}"


def file_size(size: int | None) -> str:
    """Return a byte count as ``64.5 KiB``, ``-`` for none."""
    if size is None:
        return "-"
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def clip(text: str, width: int = _PROMPT_WIDTH) -> str:
    """Return ``text`` on one line, cut to ``width`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def shown(path: str | os.PathLike[str]) -> str:
    """Return a path relative to the working directory when it is inside it."""
    absolute = Path(path).absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, right: str = "") -> list[str]:
    """Return a plain text table; columns whose header is in ``right`` are right-aligned."""
    grid = [list(headers), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in grid) for i in range(len(headers))]
    lines = []
    for row in grid:
        cells = [
            cell.rjust(width) if header in right.split(",") else cell.ljust(width)
            for cell, width, header in zip(row, widths, headers, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def job_error_text(job: Job) -> str:
    """Return ``code: message`` of a job's error (or its status when it has none)."""
    if job.error is None:
        return job.status.value
    return f"{job.error.code}: {job.error.message}"


def job_lines(job: Job) -> list[str]:
    """Return a human description of one job."""
    lines = [
        f"{job.id}  {job.status.value}  {job.progress}%",
        f"  prompt:     {clip(job.request.prompt, 72)}",
        f"  priority:   {job.priority.value}   attempts: {job.attempts}   provider: {job.provider}",
        f"  cost:       {money(job.estimated_cost_usd)} (estimated)"
        + ("" if job.cost_usd is None else f", {money(job.cost_usd)} (the provider's figure)"),
        f"  created:    {job.created_at:%Y-%m-%d %H:%M:%S} UTC",
    ]
    if job.batch_id:
        lines.append(f"  batch:      {job.batch_id}")
    if job.remote_id:
        lines.append(f"  remote id:  {job.remote_id}")
    if job.completed_at is not None:
        lines.append(f"  ended:      {job.completed_at:%Y-%m-%d %H:%M:%S} UTC")
    if job.error is not None:
        lines.append(f"  error:      {job_error_text(job)}")
    if job.result is not None and job.result.path:
        lines.append(f"  file:       {shown(job.result.path)} ({file_size(job.result.bytes)})")
    elif job.result is not None and job.result.url:
        lines.append(f"  url:        {job.result.url}")
    return lines


def batch_summary(report: BatchStatusReport) -> list[str]:
    """Return the lines that sum up a finished (or running) batch: counts, failures, cost."""
    batch, p = report.batch, report.progress
    name = f' "{batch.name}"' if batch.name else ""
    lines = [
        f"batch {batch.id}{name}: {batch.status.value} — {p.completed} of {p.total} completed, "
        f"{p.failed} failed, {p.cancelled} cancelled ({p.percentage:g}% finished)"
    ]
    for job in report.jobs:
        if job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            lines.append(
                f'  {job.status.value}: {job.id} "{clip(job.request.prompt)}" — {job_error_text(job)}'
            )
    costs = [j.estimated_cost_usd for j in report.jobs if j.estimated_cost_usd is not None]
    done = [
        j.estimated_cost_usd
        for j in report.jobs
        if j.status is JobStatus.COMPLETED and j.estimated_cost_usd is not None
    ]
    if costs:
        lines.append(
            f"  estimated cost: {money(sum(costs))} in all, "
            f"{money(sum(done))} for the {len(done)} completed video(s)"
        )
    return lines


class EventPrinter:
    """Print one line per job event: submitted, progress milestones, and how it ended.

    Register :meth:`on_event` (``client.on("*", printer.on_event)``): a coroutine
    function, so it runs on the event loop and keeps step with simulated time.

    Args:
        write: Where each line goes.
        clock: The time lines are stamped with (seconds since the printer was made).
        step: Print progress when it crosses a multiple of this many percent.
        name: How a job is named in a line (its id by default).
        json_lines: Write each event as one JSON object instead.
    """

    def __init__(
        self,
        write: Callable[[str], None],
        clock: Callable[[], float],
        *,
        step: int = 25,
        name: Callable[[Job], str] | None = None,
        json_lines: bool = False,
    ) -> None:
        self._write = write
        self._clock = clock
        self._start = clock()
        self._step = step
        self._name = name or (lambda job: job.id)
        self._json = json_lines
        self._shown: dict[str, int] = {}

    async def on_event(self, event: JobEvent) -> None:
        """Print the line for one event (if it is worth one)."""
        job = event.job
        if self._json:
            self._write(json.dumps({"event": event.kind, "job": unstructure(job)}, default=str))
            return
        if event.kind == "progress":
            bucket = job.progress // self._step
            if bucket <= self._shown.get(job.id, 0):
                return
            self._shown[job.id] = bucket
            what = f"{job.progress}%"
        elif event.kind == "submitted":
            what = "submitted"
        elif event.kind == "completed":
            what = f"completed  {money(job.estimated_cost_usd)}"
            if job.result is not None and job.result.bytes is not None:
                what += f"  {file_size(job.result.bytes)} downloaded"
        elif event.kind == "failed":
            what = f"failed — {job_error_text(job)}"
        elif event.kind == "cancelled":
            what = "cancelled"
        else:
            return
        elapsed = self._clock() - self._start
        self._write(f"[{elapsed:7.1f}s] {self._name(job)}  {what}")


# ---------------------------------------------------------------------------- parser

# Every number an option takes is parsed and bounded here, so a bad one is argparse's
# usage error (exit 2) before anything is stored or sent: never a job stored and then a
# failure, and never NaN or infinity let through as a deadline or a budget.
_MAX_BATCH_SIZE_OPTION = 1_000_000


def _whole(low: int, high: int) -> Callable[[str], int]:
    """Return an argparse ``type`` that takes a whole number from ``low`` to ``high``."""

    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!a}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low:,} to {high:,}, not {value:,}")
        return value

    return whole


def _number(high: float | None, *, what: str) -> Callable[[str], float]:
    """Return an argparse ``type`` that takes a finite number from 0 (to ``high``)."""
    limit = "" if high is None else f" up to {high:,.0f}"

    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!a}") from None
        # NaN fails every comparison; infinity is not finite.
        if not (math.isfinite(value) and 0 <= value <= (high or math.inf)):
            raise argparse.ArgumentTypeError(
                f"must be a finite number of {what} from 0{limit}, not {text!a}"
            )
        return value

    return number


_seconds = _number(None, what="seconds")
_usd = _number(MAX_USD, what="USD")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        # One line, not argparse's usage block: the user asks for --help when they want it.
        self.exit(EXIT_USAGE, f"error: {message} (see '{self.prog} --help')\n")


def _add_globals(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    def default(value: Any) -> Any:
        # Subcommands accept the global options too, without overriding the top level's.
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--provider",
        choices=PROVIDERS,
        default=default("sora"),
        help="the provider: sora (any /v1/videos gateway; default), runway, fal (its queue; "
        "pick the endpoint with --model), openrouter, replicate (--model owner/name), or "
        "simulated (offline FakeSora)",
    )
    group.add_argument(
        "--db",
        metavar="PATH",
        default=default(None),
        help="the ledger: a SQLite file or a postgresql:// DSN "
        f"(default: $SORAVIDEO_DB or ./{DEFAULT_DB})",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        default=default(None),
        help="the provider's API root, e.g. https://gateway.example/v1 "
        "(default: $SORAVIDEO_BASE_URL or $OPENAI_BASE_URL)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print one JSON document (worker: one JSON object per event line)",
    )
    group.add_argument(
        "--verbose", "-v", action="store_true", default=default(False), help="log what happens"
    )


def _add_request_options(parser: argparse.ArgumentParser, *, defaults_for: str) -> None:
    group = parser.add_argument_group(f"video options ({defaults_for})")
    group.add_argument(
        "--duration", type=_whole(1, MAX_DURATION), metavar="SECONDS", help="length in seconds"
    )
    group.add_argument("--model", help="the provider's model (default: the provider's own)")
    group.add_argument("--size", metavar="WxH", help="e.g. 1280x720 (or resolution + ratio)")
    group.add_argument("--resolution", help="480p, 720p, 1080p …")
    group.add_argument("--aspect-ratio", metavar="RATIO", help="16:9, 9:16, 1:1 …")
    group.add_argument(
        "--priority", choices=[p.value for p in JobPriority], help="sooner or later than others"
    )
    group.add_argument("--input-reference", metavar="IMAGE", help="an image to start from")


def _add_wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="give up waiting after this long (implies --wait; exit 1, the job goes on)",
    )
    parser.add_argument(
        "--cancel-on-timeout",
        action="store_true",
        help="with --timeout: also cancel the job at the provider so it stops costing",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the ``soravideo`` argument parser."""
    parser = _Parser(
        prog="soravideo",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_globals(parser, suppress=False)
    common = _Parser(add_help=False)
    _add_globals(common, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    sub.required = True

    def command(name: str, summary: str, details: str = "") -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=summary,
            description=f"{summary[0].upper()}{summary[1:]}.\n\n{details}".strip(),
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = command(
        "create",
        "create one video job",
        "Without --wait the job is stored pending and sent by the next command that runs\n"
        "the engine (status --wait, resume, a running worker). With --wait, see it\n"
        "through here: exit 0 when it completed, 1 when it failed or was cancelled.",
    )
    p.add_argument("prompt", help="what the video shows")
    _add_request_options(p, defaults_for="default: the provider's")
    p.add_argument("--metadata", action="append", metavar="KEY=VALUE", help="a label (repeatable)")
    p.add_argument("--wait", action="store_true", help="wait until the job has ended")
    p.add_argument(
        "--out",
        metavar="PATH",
        help="download the video here (implies --wait); a directory (or PATH/) gets JOB_ID.mp4",
    )
    p.add_argument("--force", action="store_true", help="replace a file already at --out")
    _add_wait_options(p)

    p = command(
        "status",
        "show one job as the ledger has it",
        "With --wait, run the engine until the job has ended (exit 0 completed, 1 not).",
    )
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument("--wait", action="store_true", help="wait until the job has ended")
    _add_wait_options(p)

    p = command("list", "list jobs, newest first")
    p.add_argument("--status", choices=[s.value for s in JobStatus], help="only jobs in this state")
    p.add_argument("--batch", metavar="BATCH_ID", help="only the jobs of this batch")
    p.add_argument(
        "--page", type=_whole(1, MAX_PAGE), default=1, help="page number, from 1 (default 1)"
    )
    p.add_argument(
        "--limit",
        type=_whole(1, MAX_PAGE_LIMIT),
        default=20,
        help=f"jobs per page, 1–{MAX_PAGE_LIMIT} (default 20)",
    )

    p = command(
        "cancel",
        "cancel a job, or every unfinished job of a batch",
        "A pending job is never sent; one in flight is cancelled at the provider.\n"
        "A batch id (batch_…) cancels the whole batch.",
    )
    p.add_argument("job_id", metavar="JOB_ID", help="a job id, or a batch id")

    p = command("download", "download a completed job's video")
    p.add_argument("job_id", metavar="JOB_ID")
    p.add_argument(
        "--out",
        metavar="PATH",
        help="a file, or a directory (made if PATH ends with /) for JOB_ID.mp4 (default: .)",
    )
    p.add_argument(
        "--variant", default="video", help="video (default), thumbnail or spritesheet (Sora)"
    )
    p.add_argument("--force", action="store_true", help="replace a file already at PATH")

    p = command(
        "batch",
        "create a batch from a JSONL or CSV manifest and process it",
        "One video a row: a prompt plus any request field (duration, model, size,\n"
        "priority, metadata.KEY …). Prints a line per job event, then a summary.\n"
        "The same command run again (after a crash, Ctrl-C) carries on with the batch it\n"
        "made, sending nothing twice: the batch's key is a hash of the manifest's bytes\n"
        "and the options given here (--new: a new batch each time).\n"
        "Exit 0 when every video completed, 1 when the batch ended partial or failed.",
    )
    p.add_argument("file", metavar="FILE", help="a .jsonl/.ndjson or .csv manifest")
    p.add_argument(
        "--concurrency",
        type=_whole(1, MAX_CONCURRENCY),
        metavar="N",
        help="videos of this batch generating at once",
    )
    p.add_argument(
        "--budget", type=_usd, metavar="USD", help="refuse the batch if its estimate is above"
    )
    p.add_argument("--out-dir", metavar="DIR", help="download each video here as it completes")
    p.add_argument(
        "--max-batch-size",
        type=_whole(1, _MAX_BATCH_SIZE_OPTION),
        metavar="N",
        help="allow batches this large (default 10)",
    )
    p.add_argument(
        "--base-dir",
        metavar="DIR",
        help="the folder the manifest's image files must be in (default: the manifest's)",
    )
    p.add_argument("--name", help="the batch's name (default: the file's name)")
    p.add_argument(
        "--new",
        action="store_true",
        help="make a new batch even if this manifest ran before with these options",
    )
    _add_request_options(p, defaults_for="defaults for rows that leave them out")

    p = command(
        "resume",
        "see every unfinished batch and job of the ledger through",
        "Processes each pending or processing batch and waits for every other unfinished\n"
        "job: what a crashed or interrupted command left behind. A job created to be\n"
        "downloaded (batch --out-dir, SORAVIDEO_DOWNLOAD_DIR) is saved where it was meant\n"
        "to be. Exit 0 when all completed.",
    )
    p.add_argument(
        "--out-dir",
        metavar="DIR",
        help="also download here each resumed video that has no directory of its own",
    )
    command(
        "health",
        "check the ledger and the provider with one round trip each",
        "Exit 0 when both answer, 3 when the provider does not, 2 when only the ledger\ndoes not.",
    )
    command("metrics", "print metrics (Prometheus text; --json for a document)")
    p = command(
        "demo",
        "run the offline demo",
        "Always on the simulated provider, with a fresh SQLite ledger in DIR.",
    )
    p.add_argument("--output", metavar="DIR", default="demo-output", help="default: demo-output")
    p = command(
        "worker",
        "claim and run jobs from the shared ledger until SIGTERM or Ctrl-C",
        "Any number of workers may share one ledger; leases ensure each job is sent once.\n"
        "On SIGTERM or Ctrl-C it finishes the step in hand, gives its leases back and\n"
        "exits 0.",
    )
    p.add_argument(
        "--concurrency",
        type=_whole(1, MAX_CONCURRENCY),
        metavar="N",
        help="videos generating at once in this worker",
    )
    return parser


# ---------------------------------------------------------------------------- plumbing


@attrs.define
class _Context:
    args: argparse.Namespace
    stdout: TextIO
    stderr: TextIO
    # Secrets the command was given (API keys, the DSN's and base URL's passwords): never
    # printed, whatever the line (see _known_secrets).
    hidden: tuple[str, ...] = ()

    @property
    def json(self) -> bool:
        return bool(self.args.json)

    @property
    def simulated(self) -> bool:
        return bool(self.args.provider == "simulated")

    def hide(self, text: str) -> str:
        """``text`` with every secret the command was given replaced by ``***``."""
        return str(redact(text, self.hidden))

    def line(self, text: str = "") -> None:
        """Human output (not in --json mode)."""
        if not self.json:
            print(self.hide(text), file=self.stdout, flush=True)

    def note(self, text: str) -> None:
        """Progress and hints: stderr, so stdout stays the command's result."""
        print(self.hide(text), file=self.stderr, flush=True)

    def document(self, data: Any) -> None:
        """The command's one JSON document (only in --json mode)."""
        if self.json:
            text = json.dumps(unstructure(data), indent=2, ensure_ascii=False, default=str)
            print(self.hide(text), file=self.stdout, flush=True)


_KEY_VARIABLES = (
    "SORAVIDEO_API_KEY",
    "OPENAI_API_KEY",
    "RUNWAYML_API_SECRET",
    "FAL_KEY",
    "FAL_KEY_SECRET",
    "OPENROUTER_API_KEY",
    "REPLICATE_API_TOKEN",
)
_URL_VARIABLES = (
    "SORAVIDEO_BASE_URL",
    "OPENAI_BASE_URL",
    "RUNWAYML_BASE_URL",
    "REPLICATE_BASE_URL",
)


def _known_secrets(args: argparse.Namespace) -> tuple[str, ...]:
    """The secrets a command may be given: API keys, and the passwords of its URLs."""
    found = [os.environ.get(name, "").strip() for name in _KEY_VARIABLES]
    urls = [_db(args), getattr(args, "base_url", None)]
    for url in [*urls, *(os.environ.get(name) for name in _URL_VARIABLES)]:
        if url:
            found += secrets_in(url)
    return tuple(dict.fromkeys(s for s in found if s))


def _db(args: argparse.Namespace) -> str:
    return str(getattr(args, "db", None) or os.environ.get("SORAVIDEO_DB") or DEFAULT_DB)


def _shown_db(args: argparse.Namespace) -> str:
    """The ledger, fit to print (a DSN's password reads ``***``)."""
    return redact_url(_db(args))


_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def _repository(args: argparse.Namespace, *, must_exist: bool) -> JobRepository:
    target = _db(args)
    if target.startswith(("postgres://", "postgresql://")):
        try:
            from .repositories.postgres import PostgresRepository

            return PostgresRepository(target)
        except ImportError as exc:
            raise UsageError(
                "a PostgreSQL ledger needs the postgres extra: pip install 'soravideo[postgres]'"
            ) from exc
    from .repositories.sqlite import SQLiteRepository

    if _URL_SCHEME.match(target):
        # A mistyped DSN would become a SQLite file (and folders) named after it, password
        # and all.
        raise UsageError(
            f"--db {redact_url(target)}: neither a SQLite file nor a postgresql:// DSN"
        )
    if must_exist and target != ":memory:" and not Path(target).expanduser().exists():
        raise UsageError(f"no ledger at {redact_url(target)} (pass --db, or set SORAVIDEO_DB)")
    return SQLiteRepository(target)


def _transport(args: argparse.Namespace) -> Transport:
    if args.provider == "runway":
        from .transports.runway import RunwayTransport

        return RunwayTransport(base_url=args.base_url)
    if args.provider == "fal":
        from .transports.fal import FalTransport

        return FalTransport(base_url=args.base_url)
    if args.provider == "replicate":
        from .transports.replicate import ReplicateTransport

        return ReplicateTransport(base_url=args.base_url)
    if args.provider == "openrouter":
        from .transports.openrouter import OpenRouterTransport

        return OpenRouterTransport(base_url=args.base_url)
    from .transports.sora import SoraTransport

    return SoraTransport(base_url=args.base_url)


def _client(ctx: _Context, *, must_exist: bool = False, **overrides: Any) -> AsyncSoraVideo:
    args = ctx.args
    settings = Settings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    if ctx.simulated and args.base_url:
        raise UsageError("--base-url does not apply to --provider simulated")
    if ctx.simulated:
        repository = _repository(args, must_exist=must_exist)
        return simulated_client(repository, seed=secrets.randbits(64), settings=settings)
    transport = _transport(args)
    return AsyncSoraVideo(
        transport=transport, repository=_repository(args, must_exist=must_exist), settings=settings
    )


def simulated_client(repository: JobRepository, *, seed: int, **kwargs: Any) -> AsyncSoraVideo:
    """Return ``AsyncSoraVideo.simulated(repository=...)`` whose FakeSora has its own seed.

    Each command runs its own simulator on a shared ledger: with the default seed, each
    would hand out the very video ids an earlier one did, and a job left behind by one
    command would read a stranger's video in the next.
    """
    clock = VirtualClock()
    fake, transport = simulated_parts(clock, generation_time=SIMULATED_GENERATION_TIME, seed=seed)
    client = AsyncSoraVideo(transport=transport, repository=repository, clock=clock, **kwargs)
    client.fake = fake
    return client


def _provider_label(args: argparse.Namespace, transport: Transport | None) -> str:
    url = getattr(transport, "base_url", None) if transport is not None else None
    return f"{args.provider} at {url}" if url else str(args.provider)


async def _preflight(client: AsyncSoraVideo) -> None:
    """Fail fast (exit 3) when the provider cannot be reached, before anything is stored.

    Only unreachable-or-refused answers count: a provider that merely lacks the cheap
    listing call used for the check gets to answer the real request.
    """
    try:
        await client.transport.ping()
    except ProviderError as exc:
        if exit_code(exc) == EXIT_UNREACHABLE:
            raise
        logger.debug("provider check answered %s; going on", exc)


async def _all_jobs(client: AsyncSoraVideo, status: JobStatus) -> list[Job]:
    jobs: list[Job] = []
    page = 1
    while True:
        got = await client.videos.list_jobs(status=status, page=page, limit=_PAGE_SIZE)
        jobs.extend(got.items)
        if not got.has_next:
            return jobs
        page += 1


async def _wait_all(client: AsyncSoraVideo, job_ids: Iterable[str]) -> list[Job]:
    results: dict[str, Job] = {}

    async def one(job_id: str) -> None:
        results[job_id] = await client.videos.wait_for_job(job_id)

    ids = list(dict.fromkeys(job_ids))
    async with anyio.create_task_group() as tg:
        for job_id in ids:
            tg.start_soon(one, job_id)
    return [results[job_id] for job_id in ids]


async def _settle_simulated(ctx: _Context, client: AsyncSoraVideo) -> None:
    """On the simulated provider, see every job in flight through before the simulator goes.

    A job left processing would point at a simulator that dies with this command, and
    the next command's simulator would never know it.
    """
    if not ctx.simulated:
        return
    while True:
        in_flight = await _all_jobs(client, JobStatus.PROCESSING)
        if not in_flight:
            return
        await _wait_all(client, (job.id for job in in_flight))


def _watch(ctx: _Context, client: AsyncSoraVideo, *, to_stdout: bool = False) -> None:
    """Print job events: on stderr beside a command's result, or as the worker's output."""

    def write(text: str) -> None:
        print(ctx.hide(text), file=ctx.stdout if to_stdout else ctx.stderr, flush=True)

    printer = EventPrinter(write, client.clock.time, json_lines=to_stdout and ctx.json)
    client.on("*", printer.on_event)


def _request(args: argparse.Namespace, prompt: str) -> CreateVideoRequest:
    return CreateVideoRequest(prompt=prompt, **_request_fields(args))


def _request_fields(args: argparse.Namespace) -> dict[str, Any]:
    fields = {
        "duration": args.duration,
        "model": args.model,
        "size": args.size,
        "resolution": args.resolution,
        "aspect_ratio": args.aspect_ratio,
        "priority": args.priority,
        "input_reference": args.input_reference,
    }
    metadata: dict[str, str] = {}
    for item in getattr(args, "metadata", None) or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--metadata expects KEY=VALUE, got {item!r}")
        metadata[key] = value
    if metadata:
        fields["metadata"] = metadata
    return {k: v for k, v in fields.items() if v is not None}


def _ended(ctx: _Context, job: Job) -> int:
    """Report how a waited-for job ended and return the exit code."""
    ctx.document(job)
    for text in job_lines(job):
        ctx.line(text)
    if job.status is JobStatus.COMPLETED:
        return EXIT_OK
    ctx.note(f"error: job {job.id} {job.status.value}: {job_error_text(job)}")
    return EXIT_FAILED


async def _see_through(
    ctx: _Context, client: AsyncSoraVideo, job_id: str, out: str | None = None
) -> int:
    args = ctx.args
    job = await client.videos.wait_for_job(
        job_id, args.timeout, cancel_on_timeout=args.cancel_on_timeout
    )
    if job.status is JobStatus.COMPLETED and out is not None:
        await client.videos.download_video(
            job.id, _destination(out), overwrite=getattr(args, "force", False)
        )
        job = await client.videos.get_job(job.id)
    await _settle_simulated(ctx, client)
    return _ended(ctx, job)


# ---------------------------------------------------------------------------- commands


async def _cmd_create(ctx: _Context) -> int:
    args = ctx.args
    request = _request(args, args.prompt)
    wait = args.wait or args.out is not None or args.timeout is not None
    client = _client(ctx)
    try:
        if not wait:
            job = await client.videos.create_video(request)
            ctx.document(job)
            ctx.line(
                f"{job.id}  {job.status.value}  ({job.priority.value} priority, "
                f"estimated {money(job.estimated_cost_usd)})"
            )
            ctx.note(
                f"stored; it is sent when a command runs the engine: "
                f"`soravideo status {job.id} --wait`, `soravideo resume` or a running worker"
            )
            return EXIT_OK
        # Checked before the provider is: a bad request is the first thing to hear about.
        raise_if(client.videos.validate(request))
        if args.out is not None and not args.force:
            # A file in the way is found now, not once the video was paid for.
            await anyio.to_thread.run_sync(_refuse_file_at, args.out)
        # Then the provider, before anything is stored: a job it cannot get is not created.
        await _preflight(client)
        _watch(ctx, client)
        async with client:
            job = await client.videos.create_video(request)
            ctx.note(f"created {job.id}")
            return await _see_through(ctx, client, job.id, args.out)
    finally:
        await client.aclose()


async def _cmd_status(ctx: _Context) -> int:
    args = ctx.args
    wait = args.wait or args.timeout is not None
    client = _client(ctx, must_exist=True)
    try:
        job = await client.videos.get_job(args.job_id)
        if not wait:
            ctx.document(job)
            for text in job_lines(job):
                ctx.line(text)
            return EXIT_OK
        if job.is_terminal:
            return _ended(ctx, job)
        await _preflight(client)
        _watch(ctx, client)
        async with client:
            return await _see_through(ctx, client, job.id)
    finally:
        await client.aclose()


async def _cmd_list(ctx: _Context) -> int:
    args = ctx.args
    client = _client(ctx, must_exist=True)
    try:
        page: Page[Job] = await client.videos.list_jobs(
            status=args.status, batch_id=args.batch, page=args.page, limit=args.limit
        )
    finally:
        await client.aclose()
    ctx.document(page)
    rows = [
        (
            job.id,
            job.status.value,
            job.priority.value,
            f"{job.progress}%",
            money(job.estimated_cost_usd),
            f"{job.created_at:%Y-%m-%d %H:%M:%S}",
            clip(job.request.prompt),
        )
        for job in page.items
    ]
    if rows:
        headers = ("ID", "STATUS", "PRIORITY", "PROGRESS", "COST", "CREATED (UTC)", "PROMPT")
        for text in table(headers, rows, right="PROGRESS,COST"):
            ctx.line(text)
    more = f"; next: --page {page.page + 1}" if page.has_next else ""
    ctx.line(f"page {page.page} of {max(page.pages, 1)} ({page.total} jobs){more}")
    return EXIT_OK


async def _cmd_cancel(ctx: _Context) -> int:
    target = ctx.args.job_id
    client = _client(ctx, must_exist=True)
    try:
        if target.startswith("batch_"):
            summary = await client.batches.cancel_batch(target)
            ctx.document(summary)
            ctx.line(
                f"batch {target} cancelled: {summary.cancelled} job(s) cancelled, "
                f"{summary.already_finished} had already ended, of {summary.total}"
            )
            return EXIT_OK
        job = await client.videos.cancel_job(target)
        ctx.document(job)
        ctx.line(f"{job.id}  {job.status.value}")
        return EXIT_OK
    finally:
        await client.aclose()


def _copy_saved(job: Job, variant: str, dest: str, *, force: bool) -> Path | None:
    """Copy the file a completed job's video was already downloaded to (atomically).

    ``dest`` follows ``download_video``'s rules: a directory (or a path ending in a
    separator, made if missing) gets ``JOB_ID.<ext>``; an existing file is replaced only
    with ``force``.

    Returns:
        The copy's path; ``None`` when there is no intact local file to copy.

    Raises:
        UsageError: a file is at the target and ``force`` is false.
    """
    result = job.result
    if variant != "video" or result is None or not result.path:
        return None
    saved = Path(result.path)
    if not saved.is_file() or (result.bytes is not None and saved.stat().st_size != result.bytes):
        return None
    target = resolve_destination(dest, f"{job.id}{saved.suffix}")
    if target.resolve() == saved.resolve():
        return target
    if not force:
        _refuse_existing(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        shutil.copyfile(saved, partial)
        publish(partial, target, "replace" if force else "refuse")
    except ValidationError as exc:  # a file appeared there meanwhile
        raise UsageError(f"{target} already exists; use --force to replace it") from exc
    finally:
        partial.unlink(missing_ok=True)
    return target


def _refuse_existing(target: Path) -> None:
    """Raise a :class:`UsageError` naming ``target`` if a file is there (``--force`` replaces it)."""
    try:
        refuse_existing(target, how="use --force")
    except ValidationError as exc:
        raise UsageError(exc.errors[0].message) from None


def _absolute(path: str) -> Path:
    # Absolute, so the paths the ledger records hold from any working directory.
    return Path(path).expanduser().absolute()


def _destination(path: str) -> str:
    """Return a download destination made absolute, keeping a trailing separator: it says
    the path is a directory (made if missing), not a file."""
    absolute = str(_absolute(path))
    return absolute + os.sep if path.endswith(_SEPARATORS) else absolute


def _refuse_file_at(out: str) -> None:
    """Raise a :class:`UsageError` when ``--out`` names a file that already exists.

    A directory destination cannot be in the way: the file inside is named by a job id
    not made yet.
    """
    dest = _destination(out)
    if not (dest.endswith(_SEPARATORS) or Path(dest).is_dir()):
        _refuse_existing(Path(dest))


async def _cmd_download(ctx: _Context) -> int:
    args = ctx.args
    client = _client(ctx, must_exist=True)
    try:
        job = await client.videos.get_job(args.job_id)
        if job.status is not JobStatus.COMPLETED:
            raise JobStateError(job.id, job.status.value, "only a completed job can be downloaded")
        dest = _destination(args.out or ".")
        # A video saved on completion (download_dir) is copied: no provider round trip,
        # and it works after the provider's copy expired (or the simulator is gone).
        target = await anyio.to_thread.run_sync(
            functools.partial(_copy_saved, job, args.variant, dest, force=args.force)
        )
        if target is None:
            if not args.force:
                name = file_name(job.id, args.variant)
                await anyio.to_thread.run_sync(_refuse_existing, resolve_destination(dest, name))
            try:
                target = await client.videos.download_video(
                    job.id, dest, args.variant, overwrite=args.force
                )
            except ProviderError as exc:
                if exc.status_code != 404:
                    raise
                raise UsageError(_gone(ctx, job)) from exc
    finally:
        await client.aclose()
    size = (await anyio.Path(target).stat()).st_size
    ctx.document({"job_id": job.id, "variant": args.variant, "path": str(target), "bytes": size})
    ctx.line(f"{shown(target)} ({file_size(size)})")
    return EXIT_OK


def _gone(ctx: _Context, job: Job) -> str:
    if ctx.simulated:
        return (
            f"job {job.id}: the simulated provider keeps videos only while the command that "
            "made them runs; download in that command (create --wait --out, batch --out-dir) "
            "or set SORAVIDEO_DOWNLOAD_DIR"
        )
    expires = job.result.expires_at if job.result is not None else None
    when = f" (it expired at {expires:%Y-%m-%d %H:%M} UTC)" if expires else ""
    return f"job {job.id}: the provider no longer has this video{when}"


def _manifest_key(manifest: Path, options: dict[str, Any]) -> str:
    """Return the batch key of a manifest run with these options: its bytes and the options,
    hashed, so the same command run again carries on with the batch it made."""
    digest = hashlib.sha256(manifest.read_bytes())
    # The name is the file's unless given: two copies of one manifest are two batches.
    named = {"name": manifest.stem, **options}
    digest.update(json.dumps(named, sort_keys=True, default=str).encode())
    return f"manifest-{digest.hexdigest()}"


def _manifest(name: str) -> Path:
    path = Path(name)
    if not path.is_file():
        raise UsageError(f"manifest not found: {name}")
    return path


async def _cmd_batch(ctx: _Context) -> int:
    args = ctx.args
    manifest = _manifest(args.file)
    out_dir = _absolute(args.out_dir) if args.out_dir else None
    client = _client(ctx, download_dir=out_dir, max_batch_size=args.max_batch_size)
    try:
        defaults = _request_fields(args)
        batch_fields = (
            ("concurrency", args.concurrency),
            ("budget_usd", args.budget),
            ("name", args.name),
        )
        defaults.update((key, value) for key, value in batch_fields if value is not None)
        key = None if args.new else _manifest_key(manifest, defaults)
        await _preflight(client)
        created = await client.batches.create_batch_from_file(
            manifest, key=key, base_dir=args.base_dir, **defaults
        )
        status = (await client.batches.get_batch_status(created.batch_id)).batch.status
        if status is BatchStatus.PENDING:
            ctx.note(f"batch {created.batch_id}: {created.total} video(s) from {manifest.name}")
        else:
            ctx.note(
                f"carrying on with batch {created.batch_id} ({status.value}), made from this "
                "manifest and these options before (--new for another batch)"
            )
        _watch(ctx, client)
        async with client:
            await client.batches.process_batch(created.batch_id)
            await _settle_simulated(ctx, client)
            report = await client.batches.get_batch_status(created.batch_id)
    finally:
        await client.aclose()
    ctx.document(report)
    _print_batch(ctx, report)
    return EXIT_OK if report.batch.status is BatchStatus.COMPLETED else EXIT_FAILED


def _print_batch(ctx: _Context, report: BatchStatusReport) -> None:
    rows = [
        (
            job.id,
            job.status.value,
            f"{job.progress}%",
            money(job.estimated_cost_usd),
            shown(job.result.path) if job.result is not None and job.result.path else "-",
        )
        for job in report.jobs
    ]
    for text in table(("ID", "STATUS", "PROGRESS", "COST", "FILE"), rows, right="PROGRESS,COST"):
        ctx.line(text)
    for text in batch_summary(report):
        ctx.line(text)


async def _cmd_resume(ctx: _Context) -> int:
    out_dir = _absolute(ctx.args.out_dir) if ctx.args.out_dir else None
    client = _client(ctx, must_exist=True)
    try:
        # Read before the engine starts: the work is what was unfinished at this moment.
        work = await find_unfinished(client)
        if not work.batches and not work.jobs:
            ctx.document({"batches": [], "jobs": []})
            ctx.line(f"nothing to resume: every job in {_shown_db(ctx.args)} has ended")
            return EXIT_OK
        ctx.note(f"resuming {len(work.loose)} job(s) and {len(work.batches)} batch(es)")
        await _preflight(client)
        _watch(ctx, client)
        # Not in ``async with client``: resume() lists its work before it drives the engine,
        # so a job ending meanwhile is still its own (and downloaded with --out-dir).
        await client.resume(download_dir=out_dir)
        await _settle_simulated(ctx, client)
        reports = [await client.batches.get_batch_status(b.id) for b in work.batches]
        jobs = [await client.videos.get_job(job.id) for job in work.loose]
    finally:
        await client.aclose()
    ctx.document({"batches": reports, "jobs": jobs})
    for report in reports:
        for text in batch_summary(report):
            ctx.line(text)
    for job in jobs:
        tail = "" if job.status is JobStatus.COMPLETED else f" — {job_error_text(job)}"
        ctx.line(f"{job.id}  {job.status.value}{tail}")
    ok = all(j.status is JobStatus.COMPLETED for j in jobs) and all(
        r.batch.status is BatchStatus.COMPLETED for r in reports
    )
    return EXIT_OK if ok else EXIT_FAILED


async def _cmd_health(ctx: _Context) -> int:
    client = _client(ctx)
    try:
        health = client.health()
        ready = await client.ready()
    finally:
        await client.aclose()
    ctx.document({"health": health.to_dict(), "ready": ready.to_dict()})
    ctx.line(f"soravideo {health.version}: {'ready' if ready.ready else 'NOT ready'}")
    rows = [
        (check.name, check.status, f"{check.latency_ms:.1f} ms", check.reason or "")
        for check in ready.checks
    ]
    for text in table(("CHECK", "STATUS", "LATENCY", "REASON"), rows, right="LATENCY"):
        ctx.line(f"  {text}")
    failing = {check.name for check in ready.checks if not check.healthy}
    if not failing:
        return EXIT_OK
    ctx.note(f"error: not ready: {', '.join(sorted(failing))} unhealthy")
    return EXIT_UNREACHABLE if "provider" in failing else EXIT_USAGE


async def _cmd_metrics(ctx: _Context) -> int:
    client = _client(ctx)
    try:
        metrics = await client.metrics()
    finally:
        await client.aclose()
    ctx.document(metrics.to_dict())
    if not ctx.json:
        ctx.stdout.write(metrics.to_prometheus())
        ctx.stdout.flush()
    return EXIT_OK


async def _cmd_worker(ctx: _Context) -> int:
    args = ctx.args
    client = _client(ctx, max_concurrency=args.concurrency)
    try:
        await _preflight(client)
        _watch(ctx, client, to_stdout=True)
        async with anyio.create_task_group() as tg:
            await tg.start(_stop_on_signal, ctx, tg.cancel_scope)
            ctx.note(f"worker on {_shown_db(args)}: waiting for jobs (SIGTERM or Ctrl-C to stop)")
            await client.run_worker()
    finally:
        await client.aclose()
    ctx.note("worker stopped; leases given back")
    return EXIT_OK


async def _stop_on_signal(
    ctx: _Context,
    scope: anyio.CancelScope,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    try:
        receiver = anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT)
        signals = receiver.__enter__()
    except NotImplementedError:
        # Windows: Ctrl-C arrives as KeyboardInterrupt, which main() treats as a stop.
        task_status.started()
        return
    try:
        task_status.started()
        async for signum in signals:
            ctx.note(f"worker: {signal.Signals(signum).name}, stopping")
            scope.cancel()
            return
    finally:
        receiver.__exit__(None, None, None)


async def _cmd_demo(ctx: _Context) -> int:
    from ._demo import run_demo

    return await run_demo(Path(ctx.args.output), write=ctx.line if not ctx.json else ctx.note)


COMMANDS: dict[str, Callable[[_Context], Awaitable[int]]] = {
    "create": _cmd_create,
    "status": _cmd_status,
    "list": _cmd_list,
    "cancel": _cmd_cancel,
    "download": _cmd_download,
    "batch": _cmd_batch,
    "resume": _cmd_resume,
    "health": _cmd_health,
    "metrics": _cmd_metrics,
    "demo": _cmd_demo,
    "worker": _cmd_worker,
}


# ---------------------------------------------------------------------------- errors


def exit_code(exc: BaseException) -> int:
    """Return the documented exit code for an error (see ``soravideo --help``)."""
    if isinstance(exc, JobTimeoutError):
        return EXIT_FAILED
    if isinstance(exc, ProviderError):
        status = exc.status_code
        if status is not None and 400 <= status < 500 and status not in (401, 403, 408, 429):
            return EXIT_USAGE
        return EXIT_UNREACHABLE
    if isinstance(
        exc,
        (UsageError, ValidationError, NotFoundError, JobStateError, BudgetExceededError),
    ):
        return EXIT_USAGE
    if isinstance(exc, RepositoryError):
        return EXIT_USAGE
    if isinstance(exc, OSError):
        # A file the user named (an --out path, a manifest) cannot be read or written.
        return EXIT_USAGE
    return EXIT_FAILED


def _unwrap(exc: BaseException) -> BaseException:
    """Return the one error inside (nested) exception groups from task groups."""
    while True:
        inner = getattr(exc, "exceptions", None)
        if not isinstance(inner, tuple) or len(inner) != 1:
            return exc
        exc = inner[0]


def _message(exc: BaseException, args: argparse.Namespace) -> str:
    if isinstance(exc, ProviderError) and exit_code(exc) == EXIT_UNREACHABLE:
        label = _provider_label(args, _safe_transport(args))
        hint = " (or try --provider simulated, offline)" if args.provider == "sora" else ""
        if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
            return f"{label} refused the API key: {exc}{hint}"
        return f"cannot reach {label}: {exc}{hint}"
    if isinstance(exc, RepositoryError):
        return f"ledger {_shown_db(args)}: {exc}"
    if isinstance(exc, JobTimeoutError):
        return f"{exc}; it goes on: `soravideo status {exc.job_id} --wait` or `soravideo resume`"
    return " ".join(str(exc).split()) or type(exc).__name__


def _safe_transport(args: argparse.Namespace) -> Transport | None:
    # Only to name the provider's URL in a message; the constructor does no I/O.
    try:
        return _transport(args) if args.provider != "simulated" else None
    except Exception:
        return None


def _report(ctx: _Context, exc: BaseException) -> int:
    code = exit_code(exc)
    text = redact_text(_message(exc, ctx.args), ctx.hidden)
    if ctx.json:
        fields = [unstructure(e) for e in exc.errors] if isinstance(exc, ValidationError) else []
        ctx.document(
            {
                "error": {
                    "type": type(exc).__name__,
                    "message": text,
                    "exit_code": code,
                    "fields": fields,
                }
            }
        )
    ctx.note(f"error: {text}")
    return code


class _Formatter(logging.Formatter):
    """``soravideo: warning: …``, with tracebacks only in --verbose mode; never a secret."""

    def __init__(self, verbose: bool, hidden: tuple[str, ...] = ()) -> None:
        super().__init__("%(message)s")
        self._verbose = verbose
        self._hidden = hidden

    def format(self, record: logging.LogRecord) -> str:
        text = f"soravideo: {record.levelname.lower()}: {super().format(record)}"
        return redact_text(text, self._hidden)

    def formatException(self, ei: Any) -> str:
        return super().formatException(ei) if self._verbose else ""


@contextlib.contextmanager
def _logging_to(stream: TextIO, *, verbose: bool, hidden: tuple[str, ...] = ()) -> Iterator[None]:
    """Send soravideo's log to ``stream`` for one command, then put things back as they were."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Formatter(verbose, hidden))
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _silence(stream: TextIO) -> None:
    # Python flushes stdout at exit; a closed pipe would make that fail noisily.
    if stream is sys.stdout:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the ``soravideo`` command line and return its exit code.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
        stdout: Where results go (default: ``sys.stdout``).
        stderr: Where progress, hints and errors go (default: ``sys.stderr``).

    Returns:
        0 ok, 1 a job failed, 2 usage or validation error, 3 provider unreachable,
        130 interrupted.
    """
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = build_parser()
    try:
        # argparse writes its usage errors and --help to sys.stderr / sys.stdout itself.
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    ctx = _Context(args=args, stdout=out, stderr=err, hidden=_known_secrets(args))
    with _logging_to(err, verbose=args.verbose, hidden=ctx.hidden):
        return _run(ctx)


def _run(ctx: _Context) -> int:
    args = ctx.args
    try:
        return anyio.run(COMMANDS[args.command], ctx)
    except BrokenPipeError:
        # The reader went away (`soravideo list | head`): nothing more to say to it.
        _silence(ctx.stdout)
        return EXIT_FAILED
    except KeyboardInterrupt:
        if args.command == "worker":
            ctx.note("worker stopped")
            return EXIT_OK
        ctx.note("interrupted")
        return EXIT_INTERRUPTED
    except Exception as raised:
        error = _unwrap(raised)
        if isinstance(error, (SoraVideoError, OSError)):
            return _report(ctx, error)
        if args.verbose:
            raise
        text = redact_text(str(error), ctx.hidden)
        ctx.note(
            f"error: unexpected {type(error).__name__}: {text} (run with --verbose for details)"
        )
        return EXIT_FAILED
