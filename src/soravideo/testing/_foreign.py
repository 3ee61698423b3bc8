"""ForeignServer: another origin, for redirect tests: it records what it received, unredacted.

A hostile provider redirects a download (or an API call) to a host of its choosing. A
client must send that host no credential. Serve a ``ForeignServer`` on another
loopback port, point a ``redirect`` at it (``fake.hostile("redirect", to=url)``), and ask
it what arrived: ``ForeignServer.received`` keeps every request as it came, headers
included and *not* redacted, and ``ForeignServer.seen`` says where a secret showed up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ._fakeserver import FakeRequest, FakeResponse, FakeServer

__all__ = ["ForeignServer"]

Answer = FakeResponse | Callable[[FakeRequest], FakeResponse]
"""What a ForeignServer answers: one response for every request, or a function of it."""


class ForeignServer(FakeServer):
    """A second origin that answers every request the same way and keeps it as received.

    Serve it like any fake (``with foreign.serve() as url:``, a base URL with no path) on
    its own port: to a client it is another host. In-process, mount its transport for a
    host of its own (``httpx.AsyncClient(transport=fake.http_transport(), mounts={"all://
    foreign.test": foreign.http_transport()})``).

    Args:
        answer: The response to every request, or a function of the request returning
            one (default: ``200 text/plain``). Settable later (``foreign.answer = ...``),
            e.g. to serve a job's real video once it exists.
        clock: Its time (``None``: chosen as for any fake).
        seed: Seeds its request ids.
    """

    request_id_header = None

    def __init__(self, *, answer: Answer | None = None, clock: Any = None, seed: int = 0) -> None:
        super().__init__(clock=clock, seed=seed, prefix="")
        self.answer: Answer = answer or FakeResponse(
            status=200, headers={"content-type": "text/plain"}, body=b"a foreign origin"
        )
        self._received: list[FakeRequest] = []

    def __repr__(self) -> str:
        return f"ForeignServer(received={len(self._received)})"

    def _records(self) -> Iterable[Any]:
        return ()

    def _end_times(self, now: float) -> list[float]:
        return []

    def before_route(self, request: FakeRequest) -> FakeResponse | None:
        """Keep the request as received, then answer it (every path, every method)."""
        self._received.append(request)
        return self.answer(request) if callable(self.answer) else self.answer

    @property
    def received(self) -> list[FakeRequest]:
        """Return every request as it arrived, oldest first: headers unredacted."""
        with self._lock:
            return list(self._received)

    def seen(self, secret: str) -> list[str]:
        """Return where ``secret`` arrived: ``"header NAME"``, ``"path"``, ``"query"``, ``"body"``.

        Args:
            secret: The string to look for (an API key, a password).

        Returns:
            One entry per place, per request, in order; empty when it never arrived.

        Raises:
            ValueError: ``secret`` is empty.
        """
        if not secret:
            raise ValueError("look for a non-empty secret")
        found: list[str] = []
        for request in self.received:
            found.extend(f"header {k}" for k, v in request.headers.items() if secret in v)
            if secret in request.full_path:
                found.append("path")
            if any(secret in k or secret in v for k, v in request.query.items()):
                found.append("query")
            if secret.encode() in request.body:
                found.append("body")
        return found
