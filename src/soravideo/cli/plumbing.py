"""What every command does around its work: build the client from the command line, check
the provider, print events, see simulated jobs through, send the log to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import anyio

from .._api.client import AsyncSoraVideo
from .._api.client import simulated_client as simulated
from .._core.errors import ProviderError
from .._core.models import Job, JobStatus
from .._core.redact import redact_text, redact_url
from .._core.settings import Settings
from ..repositories.base import JobRepository
from .context import Context, ledger_target
from .errors import EXIT_UNREACHABLE, UsageError, exit_code
from .formatting import EventPrinter
from .providers import WEBHOOK_URL_PROVIDERS, build_transport

__all__ = [
    "SIMULATED_GENERATION_TIME",
    "all_jobs",
    "build_client",
    "build_repository",
    "logging_to",
    "preflight",
    "request_fields",
    "settle_simulated",
    "simulated_client",
    "wait_all",
    "watch",
]

# Simulated seconds each video takes on --provider simulated (AsyncSoraVideo.simulated's).
SIMULATED_GENERATION_TIME = 30.0
_PAGE_SIZE = 1000
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")

logger = logging.getLogger("soravideo")


def build_repository(args: argparse.Namespace, *, must_exist: bool) -> JobRepository:
    """Return the ledger ``--db`` names: a SQLite file or a PostgreSQL DSN.

    Raises:
        UsageError: The postgres extra is missing, ``--db`` is a URL of another kind, or
            (``must_exist``) no SQLite file is there.
    """
    target = ledger_target(args)
    if target.startswith(("postgres://", "postgresql://")):
        try:
            from ..repositories.postgres import PostgresRepository

            return PostgresRepository(target)
        except ImportError as exc:
            raise UsageError(
                "a PostgreSQL ledger needs the postgres extra: pip install 'soravideo[postgres]'"
            ) from exc
    from ..repositories.sqlite import SQLiteRepository

    if _URL_SCHEME.match(target):
        # A mistyped DSN would become a SQLite file (and folders) named after it, password
        # and all.
        raise UsageError(
            f"--db {redact_url(target)}: neither a SQLite file nor a postgresql:// DSN"
        )
    if must_exist and target != ":memory:" and not Path(target).expanduser().exists():
        raise UsageError(f"no ledger at {redact_url(target)} (pass --db, or set SORAVIDEO_DB)")
    return SQLiteRepository(target)


def build_client(ctx: Context, *, must_exist: bool = False, **overrides: Any) -> AsyncSoraVideo:
    """Return the command's client: its provider, its ledger, and settings from the
    environment with ``overrides`` (those not ``None``) on top.

    Raises:
        UsageError: ``--base-url`` or ``--allow-unknown-model`` with the simulated
            provider, ``--simulate`` without it, ``--webhook-url`` with a provider that
            takes no push address per create, or an unusable ``--db``.
    """
    args = ctx.args
    settings = Settings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    if ctx.simulated and args.base_url:
        raise UsageError("--base-url does not apply to --provider simulated")
    simulate = getattr(args, "simulate", None)
    if simulate is not None and not ctx.simulated:
        raise UsageError("--simulate goes with --provider simulated")
    webhook_url = getattr(args, "webhook_url", None)
    if webhook_url and args.provider not in WEBHOOK_URL_PROVIDERS:
        raise UsageError(
            f"--webhook-url does not apply to --provider {args.provider}: only "
            f"{', '.join(WEBHOOK_URL_PROVIDERS)} take a push address with each create"
            + (
                ""
                if ctx.simulated
                else " (its pushes go to the endpoint set at the provider, if it has any)"
            )
        )
    if ctx.simulated and getattr(args, "allow_unknown_model", False):
        raise UsageError(
            "--allow-unknown-model needs a real provider: the simulator makes only the "
            "models it lists"
        )
    if ctx.simulated:
        repository = build_repository(args, must_exist=must_exist)
        return simulated_client(
            repository, seed=secrets.randbits(64), settings=settings, provider=simulate or "sora"
        )
    transport = build_transport(args)
    return AsyncSoraVideo(
        transport=transport,
        repository=build_repository(args, must_exist=must_exist),
        settings=settings,
    )


def simulated_client(repository: JobRepository, *, seed: int, **kwargs: Any) -> AsyncSoraVideo:
    """Return ``AsyncSoraVideo.simulated(repository=...)`` whose FakeSora has its own seed.

    Each command runs its own simulator on a shared ledger: with the default seed, each
    would hand out the very video ids an earlier one did, and a job left behind by one
    command would read a stranger's video in the next.
    """
    return simulated(repository, generation_time=SIMULATED_GENERATION_TIME, seed=seed, **kwargs)


async def preflight(client: AsyncSoraVideo) -> None:
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


async def all_jobs(client: AsyncSoraVideo, status: JobStatus) -> list[Job]:
    """Return every job of the ledger in ``status``, page after page."""
    jobs: list[Job] = []
    page = 1
    while True:
        got = await client.videos.list_jobs(status=status, page=page, limit=_PAGE_SIZE)
        jobs.extend(got.items)
        if not got.has_next:
            return jobs
        page += 1


async def wait_all(client: AsyncSoraVideo, job_ids: Iterable[str]) -> list[Job]:
    """Wait for every job of ``job_ids`` at once; return them as they ended, in that order."""
    results: dict[str, Job] = {}

    async def one(job_id: str) -> None:
        results[job_id] = await client.videos.wait_for_job(job_id)

    ids = list(dict.fromkeys(job_ids))
    async with anyio.create_task_group() as tg:
        for job_id in ids:
            tg.start_soon(one, job_id)
    return [results[job_id] for job_id in ids]


async def settle_simulated(ctx: Context, client: AsyncSoraVideo) -> None:
    """On the simulated provider, see every job in flight through before the simulator goes.

    A job left processing would point at a simulator that dies with this command, and
    the next command's simulator would never know it.
    """
    if not ctx.simulated:
        return
    while True:
        in_flight = await all_jobs(client, JobStatus.PROCESSING)
        if not in_flight:
            return
        await wait_all(client, (job.id for job in in_flight))


def watch(ctx: Context, client: AsyncSoraVideo, *, to_stdout: bool = False) -> None:
    """Print job events: on stderr beside a command's result, or as the worker's output."""

    def write(text: str) -> None:
        print(ctx.hide(text), file=ctx.stdout if to_stdout else ctx.stderr, flush=True)

    printer = EventPrinter(write, client.clock.time, json_lines=to_stdout and ctx.json)
    client.on("*", printer.on_event)


def request_fields(args: argparse.Namespace) -> dict[str, Any]:
    """Return the request fields the video options gave (``--metadata`` as a dict).

    Raises:
        UsageError: A ``--metadata`` item is not ``KEY=VALUE``.
    """
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
def logging_to(stream: TextIO, *, verbose: bool, hidden: tuple[str, ...] = ()) -> Iterator[None]:
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
