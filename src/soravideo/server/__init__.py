"""The REST API over a client, as an ASGI application (the ``server`` extra).

``pip install 'soravideo[server]'``, then ``soravideo serve`` from a terminal, or
[`create_app`][soravideo.server.create_app] mounted in any ASGI server. Routes, envelopes
and status codes: the "Serving over HTTP" guide. Litestar is imported only when an
application is made, so ``import soravideo`` never pays for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._api.client import AsyncSoraVideo

__all__ = ["create_app"]

_EXTRA = "the REST API needs the server extra: pip install 'soravideo[server]'"


def create_app(
    client: AsyncSoraVideo,
    *,
    api_keys: Iterable[str],
    rate_limit: str = "100/minute",
    worker: bool = True,
) -> Any:
    """Return the REST API over ``client`` as an ASGI application (a Litestar app).

    Every ``/api/v1`` route needs an ``x-api-key`` header holding one of ``api_keys``
    (compared in constant time) and counts against that key's ``rate_limit``;
    ``/health``, ``/ready``, ``/metrics``, ``/openapi.json`` and ``/docs`` need none.
    While the application runs (between its ASGI lifespan's startup and shutdown), the
    client's engine runs in it as a worker (``client.run_worker()``) and sees batches
    through, so several servers on one ledger share the work. The client stays yours:
    close it after the application has stopped.

    Args:
        client: The client whose ledger and provider the API serves.
        api_keys: The keys a caller may send (at least one).
        rate_limit: Requests each key may make, as ``N/second``, ``N/minute``, ``N/hour``
            or ``N/day``; over it, a 429 with ``Retry-After``. The count is kept in this
            process.
        worker: Run the engine in the application's lifespan (``False``: something else
            runs it, such as a ``soravideo worker`` beside it or your own
            ``client.run_worker()``).

    Returns:
        A ``litestar.Litestar`` application.

    Raises:
        ImportError: The ``server`` extra (Litestar) is not installed.
        ValidationError: No API key was given, or ``rate_limit`` cannot be read.
    """
    try:
        from ._app import build_app
    except ModuleNotFoundError as exc:
        if exc.name not in ("litestar", "uvicorn", "msgspec"):
            raise
        raise ImportError(_EXTRA) from exc
    return build_app(client, api_keys=api_keys, rate_limit=rate_limit, worker=worker)
