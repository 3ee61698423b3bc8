"""``python -m soravideo``: the command line (also the ``soravideo`` console script)."""

from __future__ import annotations

from .cli._main import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
