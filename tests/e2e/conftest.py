"""Fixtures for the end-to-end scenarios: FakeSora served on a loopback port (real time), a
SQLite ledger in a temporary directory, and factories of clients that use only the public API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import soravideo as sv
from helpers import AsyncClientFactory, ClientFactory
from soravideo.repositories import SQLiteRepository
from soravideo.testing import FakeSora
from soravideo.transports import SoraTransport

API_KEY = "sk-e2e-test-key"
# Real time: keep generations short and polling tight, so a scenario takes well under a second.
GENERATION_TIME = 0.15
FAST = {"poll_min_interval": 0.05, "poll_max_interval": 0.25, "request_timeout": 5.0}


@pytest.fixture
def fake() -> FakeSora:
    """A FakeSora that demands ``API_KEY``; a test may change its knobs before serving starts."""
    return FakeSora(api_key=API_KEY, generation_time=GENERATION_TIME)


@pytest.fixture
def base_url(fake: FakeSora) -> Iterator[str]:
    """The fake served on 127.0.0.1 (real time), for as long as the test runs."""
    with fake.serve() as url:
        yield url


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    """Where the test's SQLite ledger lives."""
    return tmp_path / "ledger.db"


def _parts(base_url: str, ledger_path: Path, api_key: str, **settings: Any) -> dict[str, Any]:
    transport = SoraTransport(base_url=base_url, api_key=api_key)
    # Backoff between request retries scaled down for real time (Retry-After still rules).
    transport.retry_policy = attrs.evolve(transport.retry_policy, base=0.02, cap=0.2)
    return {
        "transport": transport,
        "repository": SQLiteRepository(ledger_path),
        **FAST,
        **settings,
    }


@pytest.fixture
def make_client(base_url: str, ledger_path: Path) -> Iterator[ClientFactory]:
    """Build sync clients on the served fake and the test's ledger; all are closed afterwards.

    Call it as ``make_client(api_key=..., **settings)``.
    """
    made: list[sv.SoraVideo] = []

    def make(*, api_key: str = API_KEY, **settings: Any) -> sv.SoraVideo:
        client = sv.SoraVideo(**_parts(base_url, ledger_path, api_key, **settings))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
async def make_async_client(base_url: str, ledger_path: Path) -> AsyncIterator[AsyncClientFactory]:
    """Build async clients on the served fake and the test's ledger; all are closed afterwards."""
    made: list[sv.AsyncSoraVideo] = []

    def make(*, api_key: str = API_KEY, **settings: Any) -> sv.AsyncSoraVideo:
        client = sv.AsyncSoraVideo(**_parts(base_url, ledger_path, api_key, **settings))
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()
