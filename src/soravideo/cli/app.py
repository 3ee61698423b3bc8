"""The ``soravideo`` command line (``python -m soravideo``): argparse over the async client.

Each command opens one client on the ledger, does its work and closes it. Commands that
only read or change the ledger (``status``, ``list``, ``cancel``, ``download``) never start
the engine; commands that see jobs through (``create --wait``, ``status --wait``,
``batch``, ``resume``, ``worker``) run it, and it then advances every unfinished job of
the ledger, not only their own.

``main`` parses the command line (``parser``), runs the command
(``commands.COMMANDS``) and turns what it raised into an exit code (``errors``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import TextIO

import anyio

from .._core.errors import SoraVideoError
from .._core.redact import redact_text
from .commands import COMMANDS
from .context import Context, known_secrets
from .errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, report, unwrap
from .parser import build_parser
from .plumbing import logging_to

__all__ = ["main"]


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
    ctx = Context(args=args, stdout=out, stderr=err, hidden=known_secrets(args))
    with logging_to(err, verbose=args.verbose, hidden=ctx.hidden):
        return _run(ctx)


def _run(ctx: Context) -> int:
    args = ctx.args
    try:
        return anyio.run(COMMANDS[args.command], ctx)
    except BrokenPipeError:
        # The reader went away (`soravideo list | head`): nothing more to say to it.
        _silence(ctx.stdout)
        return EXIT_FAILED
    except KeyboardInterrupt:
        if args.command in ("worker", "serve"):
            ctx.note(f"{args.command} stopped")
            return EXIT_OK
        ctx.note("interrupted")
        return EXIT_INTERRUPTED
    except Exception as raised:
        error = unwrap(raised)
        if isinstance(error, (SoraVideoError, OSError)):
            return report(ctx, error)
        if args.verbose:
            raise
        text = redact_text(str(error), ctx.hidden)
        ctx.note(
            f"error: unexpected {type(error).__name__}: {text} (run with --verbose for details)"
        )
        return EXIT_FAILED
