"""Exit codes, and how an error becomes one: the line on stderr, the JSON document.

The codes are documented in ``soravideo --help`` (``soravideo.cli.parser.EPILOG``).
"""

from __future__ import annotations

import argparse
import re

from .._core.converter import unstructure
from .._core.errors import (
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
from .._core.redact import redact_text
from .context import Context, shown_ledger
from .providers import key_variables, provider_label, safe_transport

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "UsageError",
    "cli_advice",
    "error_message",
    "exit_code",
    "report",
    "unwrap",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130


class UsageError(SoraVideoError):
    """A mistake in the command line that argparse cannot see (exit code 2)."""


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


def unwrap(exc: BaseException) -> BaseException:
    """Return the one error inside (nested) exception groups from task groups."""
    while True:
        inner = getattr(exc, "exceptions", None)
        if not isinstance(inner, tuple) or len(inner) != 1:
            return exc
        exc = inner[0]


# The library's advice in Python words, and the options that say the same on the command line.
_PYTHON_ADVICE = (
    (re.compile(r"(?:SoraVideo|Settings)\(max_batch_size=(\d+)\)"), r"--max-batch-size \1"),
    (re.compile(r"(?:SoraVideo|Settings)\(max_batch_size=\.\.\.\)"), "--max-batch-size N"),
    (
        re.compile(r"build the transport with allow_unknown_models=True"),
        "add --allow-unknown-model",
    ),
)


def cli_advice(text: str) -> str:
    """Return ``text`` with the library's Python advice put as command-line options.

    ``raise it with SoraVideo(max_batch_size=25)`` becomes ``raise it with
    --max-batch-size 25``.
    """
    for pattern, option in _PYTHON_ADVICE:
        text = pattern.sub(option, text)
    return text


def error_message(exc: BaseException, args: argparse.Namespace) -> str:
    """Return the one line that tells the user what went wrong (not yet redacted)."""
    if isinstance(exc, AuthenticationError) and exc.status_code is None:
        # No key at all (found before anything was stored or sent): name where it goes.
        names = " or ".join(key_variables(args.provider)) or "its API key"
        return (
            f"{args.provider} needs an API key: set {names} in the environment "
            "(or try --provider simulated, offline)"
        )
    if isinstance(exc, ProviderError) and exit_code(exc) == EXIT_UNREACHABLE:
        label = provider_label(args, safe_transport(args))
        hint = " (or try --provider simulated, offline)" if args.provider == "sora" else ""
        if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
            return f"{label} refused the API key: {exc}{hint}"
        return f"cannot reach {label}: {exc}{hint}"
    if isinstance(exc, RepositoryError):
        return f"ledger {shown_ledger(args)}: {exc}"
    if isinstance(exc, JobTimeoutError):
        return f"{exc}; it goes on: `soravideo status {exc.job_id} --wait` or `soravideo resume`"
    return cli_advice(" ".join(str(exc).split())) or type(exc).__name__


def report(ctx: Context, exc: BaseException) -> int:
    """Print an error (on stderr; in --json mode also as the document) and return its exit code.

    The message passes through the command's secrets (``Context.hidden``) first.
    """
    code = exit_code(exc)
    text = redact_text(error_message(exc, ctx.args), ctx.hidden)
    if ctx.json:
        fields = (
            [{**unstructure(e), "message": cli_advice(e.message)} for e in exc.errors]
            if isinstance(exc, ValidationError)
            else []
        )
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
