"""``soravideo serve``'s HTTP server: uvicorn, with the signals left to its caller."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import anyio
import uvicorn

__all__ = ["Server", "make_server"]


class Server(uvicorn.Server):
    """uvicorn's server, except that the command line handles SIGTERM and Ctrl-C: uvicorn's
    own handling raises the signal again once it has stopped, and the process would die
    of it instead of exiting 0. Make it in the event loop that serves it."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = anyio.Event()
        """Set once its sockets listen."""

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def addresses(self) -> list[str]:
        """Return ``http://host:port`` for each socket listening (the port ``0`` chose)."""
        found = []
        for listener in self.servers:
            for sock in listener.sockets:
                host, port = sock.getsockname()[:2]
                found.append(f"http://{host}:{port}")
        return found


def make_server(app: Any, *, host: str, port: int, verbose: bool) -> Server:
    """Return a server for ``app`` on ``host:port`` (logging requests only when ``verbose``)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_level="info" if verbose else "warning",
        access_log=verbose,
        server_header=False,
    )
    return Server(config)
