"""The ``soravideo`` command line (``python -m soravideo``)."""

from ._main import main

__all__ = ["main"]
