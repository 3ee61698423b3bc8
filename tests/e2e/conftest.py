"""Fixtures for the end-to-end scenarios: FakeSora served on a loopback port (real time), a
SQLite ledger in a temporary directory, and factories of clients that use only the public API.

Every scenario ends with the exactly-once invariant (``soravideo.testing.check_exactly_once``)
between the fake and the ledger, run in the test's own call so that a violation fails the
scenario itself. A scenario that deliberately leaves jobs unfinished says so with
``@pytest.mark.exactly_once(settled=False)``; the marker's keywords go to the check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import pytest

import soravideo as sv
from helpers import AsyncClientFactory, ClientFactory, read_ledger
from soravideo.repositories import SQLiteRepository
from soravideo.testing import FakeSora, check_exactly_once
from soravideo.testing._fakeserver import FakeServer
from soravideo.transports import SoraTransport

API_KEY = "sk-e2e-test-key"
# Real time: keep generations short and polling tight, so a scenario takes well under a second.
GENERATION_TIME = 0.15
FAST = {"poll_min_interval": 0.05, "poll_max_interval": 0.25, "request_timeout": 5.0}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "exactly_once(**kwargs): keywords for the exactly-once check that ends every e2e "
        "scenario (settled=False when jobs are deliberately left unfinished)",
    )


@pytest.fixture(autouse=True)
def _exactly_once_parts(fake: FakeSora, ledger_path: Path) -> None:
    """Make every scenario's fake and ledger reachable by the check that ends it."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """After a scenario passes, assert the exactly-once invariant on its fake and ledger."""
    result = yield
    funcargs = getattr(item, "funcargs", {})
    fake, ledger = funcargs.get("fake"), funcargs.get("ledger_path")
    # Any fake: a scenario on another provider overrides the ``fake`` fixture with its own.
    if isinstance(fake, FakeServer) and isinstance(ledger, Path):
        marker = item.get_closest_marker("exactly_once")
        jobs: list[sv.Job] = []
        if ledger.exists():
            # In a thread: an async scenario's event loop may still be current in this one.
            with ThreadPoolExecutor(1) as pool:
                jobs = pool.submit(read_ledger, ledger).result()
        check_exactly_once(fake, jobs, **(marker.kwargs if marker else {}))
    return result


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
def ledger_path(tmp_path: Path, new_sqlite_ledger: Callable[[Path], Path]) -> Path:
    """Where the test's SQLite ledger lives: a new, empty ledger."""
    return new_sqlite_ledger(tmp_path / "ledger.db")


def _parts(base_url: str, ledger_path: Path, api_key: str, **settings: Any) -> dict[str, Any]:
    # FakeSora answers a create sent again with the same Idempotency-Key with its video.
    transport = SoraTransport(base_url=base_url, api_key=api_key, idempotent_creates=True)
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
