"""The ``soravideo`` argument parser: its commands, options, help texts and argument types.

Every number an option takes is parsed and bounded here (see ``_whole`` and ``_number``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from .._api.client import DEFAULT_DB
from .._core.models import JobPriority, JobStatus
from .._core.validation import (
    MAX_CONCURRENCY,
    MAX_DURATION,
    MAX_PAGE,
    MAX_PAGE_LIMIT,
    MAX_USD,
)
from .._core.version import __version__
from .errors import EXIT_USAGE
from .providers import PROVIDERS, SIMULATED, WEBHOOK_URL_PROVIDERS, provider_help

__all__ = ["DESCRIPTION", "EPILOG", "build_parser"]

DESCRIPTION = """\
Run AI video generation as durable jobs from the terminal.

Every job is recorded in a ledger (SQLite: --db, $SORAVIDEO_DB or ./soravideo.db) that
survives crashes, so a later command resumes where an earlier one stopped and never
submits a video twice."""

# A provider added to providers.TABLE also gets its variables under "environment:".
EPILOG = """\
how jobs move:
  `create` stores a job as pending; nothing is sent yet. Commands that see jobs through
  (create --wait, status --wait, batch, resume, worker) run the engine, which sends and
  polls every unfinished job of the ledger while they run. A job still generating when
  such a command ends keeps going at the provider; the next one picks it up.

the simulated provider (--provider simulated):
  FakeSora (or the fake of --simulate runway, fal, openrouter, gemini, replicate) runs
  inside each command, on simulated time, so a 30-second video takes a few
  milliseconds; no key is needed. The ledger still persists, but the simulator does not: a command
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
  SORAVIDEO_MAX_CONCURRENCY=8, SORAVIDEO_DOWNLOAD_DIR=videos;
  SORAVIDEO_IDEMPOTENT_CREATES=1 when a /v1/videos gateway deduplicates creates.
  --provider runway: RUNWAYML_API_SECRET; --provider fal: FAL_KEY (--model picks the
  endpoint, e.g. fal-ai/veo3.1); --provider gemini: GOOGLE_API_KEY or GEMINI_API_KEY
  (--model gemini-omni-1.2-flash, veo-3.1-generate-preview ...); --provider replicate:
  REPLICATE_API_TOKEN (--model owner/name, e.g. google/veo-3.1; outputs are deleted
  after an hour: use --out-dir).
  The API key is never printed.

examples:
  soravideo --provider simulated create "a red fox in snow" --duration 8 --wait --out fox.mp4
  soravideo --provider simulated batch prompts.csv --concurrency 3 --out-dir videos
  soravideo list --status failed
  soravideo demo"""


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
        help=provider_help(),
    )
    group.add_argument(
        "--simulate",
        choices=SIMULATED,
        metavar="PROVIDER",
        default=default(None),
        help="with --provider simulated: the provider its fake stands in for "
        f"({', '.join(SIMULATED)}; default sora)",
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
        "--webhook-url",
        metavar="URL",
        default=default(None),
        help="where the provider pushes each job's end, sent with every create this "
        f"command makes ({', '.join(WEBHOOK_URL_PROVIDERS)}; e.g. a `serve` at "
        "https://host/api/v1/webhooks/PROVIDER); polling stays on as the safety net",
    )
    group.add_argument(
        "--allow-unknown-model",
        action="store_true",
        default=default(False),
        help="send a --model the provider's catalogue does not list as it is (a model "
        "newer than this soravideo); unknown models are refused by default",
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
    parser.add_argument(
        "--version", action="version", version=f"soravideo {__version__}", help="show the version"
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
    p = command(
        "serve",
        "serve the REST API over the ledger, running its jobs as a worker (server extra)",
        "Routes under /api/v1 need an x-api-key header holding one of the keys (from\n"
        "--api-key, else $SORAVIDEO_SERVER_API_KEYS; comma-separated); /health, /ready,\n"
        "/metrics, /openapi.json and /docs need none. Any number of servers and workers may\n"
        "share one ledger. On SIGTERM or Ctrl-C it finishes the requests in hand, gives its\n"
        "leases back and exits 0.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=_whole(0, 65535), default=8000, help="port (default 8000; 0: any free one)"
    )
    p.add_argument(
        "--api-key",
        action="append",
        metavar="KEY",
        help="a key callers may send (repeatable; prefer $SORAVIDEO_SERVER_API_KEYS, which "
        "other users of the machine cannot see)",
    )
    p.add_argument(
        "--rate-limit",
        default="100/minute",
        metavar="N/UNIT",
        help="requests a key may make per second, minute, hour or day (default 100/minute)",
    )
    p.add_argument(
        "--concurrency",
        type=_whole(1, MAX_CONCURRENCY),
        metavar="N",
        help="videos generating at once in this server",
    )
    return parser
