"""Fixtures for the REST API tests: a simulated client and the application over it,
called in-process through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

import soravideo as sv
from server_kit import KEY, OTHER_KEY, Serve
from soravideo.server import create_app
from soravideo.testing import check_ledger_exactly_once


@pytest.fixture
async def client() -> AsyncIterator[sv.AsyncSoraVideo]:
    """A simulated client (FakeSora, memory ledger) whose ledger is checked against the
    fake when the test ends."""
    client = sv.AsyncSoraVideo.simulated()
    try:
        yield client
        assert client.fake is not None
        await check_ledger_exactly_once(client.fake, client.repository, settled=False)
    finally:
        await client.aclose()


@pytest.fixture
def serve(client: sv.AsyncSoraVideo) -> Serve:
    """``async with serve(worker=..., rate_limit=...) as http``: the app over ``client``,
    its lifespan running (with ``worker=True``, the engine runs in it), and an httpx client
    that sends ``KEY``."""

    @asynccontextmanager
    async def run(
        *, worker: bool = False, rate_limit: str = "1000/minute", **headers: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(client, api_keys=[KEY, OTHER_KEY], rate_limit=rate_limit, worker=worker)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.lifespan(),
            httpx.AsyncClient(
                transport=transport,
                base_url="http://testserver",
                headers={"x-api-key": KEY, **headers},
            ) as http,
        ):
            yield http

    return run
