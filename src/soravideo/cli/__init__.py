"""The ``soravideo`` command line (``python -m soravideo``).

The modules, each importing only those below it (``lint-imports`` holds them to it):

- ``app``: ``main``: parse, run the command, turn an error into an exit code;
- ``commands`` (``jobs``, ``files``, ``batches``, ``service``) and ``parser``;
- ``demo``: ``soravideo demo`` (only its command imports it);
- ``plumbing``: the client built from the command line, preflight, events, logging;
- ``errors``: exit codes and error reports;
- ``context``: where output goes, and the secrets it never shows;
- ``formatting`` and ``providers`` (the one table of ``--provider`` choices).
"""

from .app import main

__all__ = ["main"]
