"""What the REST API tests (``tests/server``) share: the API keys their servers accept."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx

KEY = "sk-server-test-key-0001"
OTHER_KEY = "sk-server-test-key-0002"

Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
"""``serve(worker=..., rate_limit=...)`` (the ``serve`` fixture of tests/server)."""
