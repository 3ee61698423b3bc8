"""Where a command's output goes, and the secrets it must never show.

A command writes its result to stdout (human lines, or one JSON document with ``--json``)
and progress, hints and errors to stderr; every line passes through ``Context.hide``
first, so an API key or a password in a URL is printed as ``***`` whatever the message.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, TextIO

import attrs

from .._api.client import DEFAULT_DB
from .._core.converter import unstructure
from .._core.redact import redact, redact_url, secrets_in
from .providers import KEY_VARIABLES, URL_VARIABLES

__all__ = ["SERVER_KEYS", "Context", "known_secrets", "ledger_target", "shown_ledger"]

SERVER_KEYS = "SORAVIDEO_SERVER_API_KEYS"
"""The variable holding the keys ``soravideo serve`` accepts, comma-separated."""


@attrs.define
class Context:
    """One command's arguments and where its output goes.

    Attributes:
        args: The parsed command line.
        stdout: The command's result.
        stderr: Progress, hints and errors.
        hidden: Secrets never to print (see ``known_secrets``).
    """

    args: argparse.Namespace
    stdout: TextIO
    stderr: TextIO
    # Secrets the command was given (API keys, the DSN's and base URL's passwords): never
    # printed, whatever the line (see known_secrets).
    hidden: tuple[str, ...] = ()

    @property
    def json(self) -> bool:
        """Whether ``--json`` asked for one JSON document."""
        return bool(self.args.json)

    @property
    def simulated(self) -> bool:
        """Whether the command runs on ``--provider simulated``."""
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


def known_secrets(args: argparse.Namespace) -> tuple[str, ...]:
    """The secrets a command may be given: API keys, and the passwords of its URLs."""
    found = [os.environ.get(name, "").strip() for name in KEY_VARIABLES]
    # serve's own keys, which callers send (never printed either).
    for text in [*(getattr(args, "api_key", None) or ()), os.environ.get(SERVER_KEYS, "")]:
        found += [key.strip() for key in text.split(",")]
    urls = [ledger_target(args), getattr(args, "base_url", None)]
    for url in [*urls, *(os.environ.get(name) for name in URL_VARIABLES)]:
        if url:
            found += secrets_in(url)
    return tuple(dict.fromkeys(s for s in found if s))


def ledger_target(args: argparse.Namespace) -> str:
    """The ledger the command opens: ``--db``, else ``$SORAVIDEO_DB``, else ./soravideo.db."""
    return str(getattr(args, "db", None) or os.environ.get("SORAVIDEO_DB") or DEFAULT_DB)


def shown_ledger(args: argparse.Namespace) -> str:
    """The ledger, fit to print (a DSN's password reads ``***``)."""
    return redact_url(ledger_target(args))
