"""``health()`` and ``ready()``: liveness without I/O, readiness that reports instead of raising."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import soravideo as sv
from soravideo.repositories import MemoryRepository, SQLiteRepository
from soravideo.testing._fake_sora import FakeSora
from soravideo.transports.sora import SoraTransport

KEY = "sk-health-7f3c9a1e5b2d"
SHORT = 0.2  # real seconds: the timeout of checks that hang


def _in_process(fake: FakeSora, **kwargs: Any) -> SoraTransport:
    return SoraTransport(
        base_url="http://fake.invalid/v1",
        http_client=httpx.AsyncClient(transport=fake.http_transport()),
        **kwargs,
    )


def _checks(report: sv.ReadinessReport) -> dict[str, sv.CheckResult]:
    assert [c.name for c in report.checks] == ["repository", "provider"]
    return {c.name: c for c in report.checks}


# -- health --------------------------------------------------------------------------------


class _Unreachable:
    """Any use at all is a failure: ``health()`` must not touch its dependencies."""

    name = "unreachable"

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"health() used .{attribute}")


def test_health_reports_uptime_and_version_without_io() -> None:
    clock = sv.ManualClock(start=1_700_000_000.0)
    client = sv.AsyncSoraVideo(transport=_Unreachable(), repository=_Unreachable(), clock=clock)  # type: ignore[arg-type]
    clock.advance(42.5)
    report = client.health()
    assert report == sv.HealthReport(
        status="ok",
        timestamp=datetime.fromtimestamp(1_700_000_042.5, tz=timezone.utc),
        uptime=42.5,
        version=sv.__version__,
    )
    assert report.to_dict() == {
        "status": "ok",
        "timestamp": "2023-11-14T22:14:02.500000+00:00",
        "uptime": 42.5,
        "version": sv.__version__,
    }


def test_sync_health_needs_no_engine_thread() -> None:
    clock = sv.ManualClock(start=1_000.0)
    client = sv.SoraVideo(transport=_Unreachable(), repository=_Unreachable(), clock=clock)  # type: ignore[arg-type]
    clock.advance(3)
    assert client.health().uptime == 3
    assert client._portal is None  # nothing was started


@pytest.mark.anyio
async def test_health_stays_ok_on_a_closed_client() -> None:
    client = sv.AsyncSoraVideo.simulated()
    await client.aclose()
    assert client.health().status == "ok"


# -- ready: healthy ------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("ledger_kind", ["memory", "sqlite"])
async def test_ready_when_everything_answers(ledger_kind: str, tmp_path: Path) -> None:
    repository = (
        MemoryRepository() if ledger_kind == "memory" else SQLiteRepository(tmp_path / "l.db")
    )
    async with sv.AsyncSoraVideo.simulated(repository=repository) as client:
        before = client.fake.count("GET", "/videos")  # type: ignore[union-attr]
        report = await client.ready()
        after = client.fake.count("GET", "/videos")  # type: ignore[union-attr]
    assert report.ready
    checks = _checks(report)
    assert all(c.status == "healthy" and c.reason is None for c in checks.values())
    assert all(c.latency_ms >= 0 for c in checks.values())
    assert after == before + 1  # the provider check is one real request
    assert report.to_dict()["checks"][0] == {
        "name": "repository",
        "status": "healthy",
        "latency_ms": checks["repository"].latency_ms,
        "reason": None,
    }


def test_sync_ready(tmp_path: Path) -> None:
    with sv.SoraVideo.simulated(repository=SQLiteRepository(tmp_path / "l.db")) as client:
        report = client.ready(timeout=5)
    assert report.ready and len(report.checks) == 2


@pytest.mark.anyio
async def test_ready_opens_the_ledger_of_an_unused_client(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    client = sv.AsyncSoraVideo.simulated(repository=SQLiteRepository(path))
    try:
        assert not path.exists()
        assert (await client.ready()).ready
        assert path.exists()
    finally:
        await client.aclose()


# -- ready: the provider is down -----------------------------------------------------------


@pytest.mark.anyio
async def test_provider_unhealthy_once_the_served_fake_stops() -> None:
    fake = FakeSora(api_key=KEY)
    with fake.serve() as base_url:
        transport = SoraTransport(base_url=base_url, api_key=KEY, timeout=5)
        client = sv.AsyncSoraVideo(transport=transport, repository=MemoryRepository())
        up = await client.ready()
    down = await client.ready()
    await client.aclose()
    assert up.ready
    assert not down.ready
    checks = _checks(down)
    assert checks["repository"].status == "healthy"
    provider = checks["provider"]
    assert provider.status == "unhealthy"
    assert provider.reason is not None and "Provider" in provider.reason
    assert KEY not in provider.reason


@pytest.mark.anyio
async def test_provider_unhealthy_when_the_key_is_refused() -> None:
    fake = FakeSora(api_key=KEY, clock=sv.VirtualClock())
    transport = _in_process(fake, api_key="sk-wrong-key-000000")
    async with sv.AsyncSoraVideo(transport=transport, repository=MemoryRepository()) as client:
        report = await client.ready()
    provider = _checks(report)["provider"]
    assert not report.ready and provider.status == "unhealthy"
    assert provider.reason is not None and provider.reason.startswith("AuthenticationError:")
    assert "status 401" in provider.reason


# -- ready: the ledger is down -------------------------------------------------------------


@pytest.fixture(params=["directory", "corrupt"])
def broken_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A SQLite path nothing can open: a directory, or a file that is not a database."""
    if request.param == "directory":
        path = tmp_path / "a-directory.db"
        path.mkdir()
    else:
        path = tmp_path / "corrupt.db"
        path.write_bytes(b"this is not a SQLite database, only garbage " * 200)
    return path


@pytest.mark.anyio
async def test_repository_unhealthy_when_sqlite_cannot_open(broken_ledger: Path) -> None:
    client = sv.AsyncSoraVideo.simulated(repository=SQLiteRepository(broken_ledger))
    try:
        report = await client.ready()
    finally:
        await client.aclose()
    checks = _checks(report)
    assert not report.ready
    assert checks["provider"].status == "healthy"
    repository = checks["repository"]
    assert repository.status == "unhealthy"
    assert repository.reason is not None and repository.reason.startswith("RepositoryError:")
    assert str(broken_ledger) in repository.reason


def test_sync_ready_when_sqlite_cannot_open(broken_ledger: Path) -> None:
    client = sv.SoraVideo.simulated(repository=SQLiteRepository(broken_ledger))
    try:
        report = client.ready()
    finally:
        client.close()
    assert not report.ready
    assert _checks(report)["repository"].status == "unhealthy"


class _FailingPing(MemoryRepository):
    async def ping(self) -> None:
        raise sv.RepositoryError("the disk is on fire")


@pytest.mark.anyio
async def test_repository_unhealthy_when_its_ping_raises() -> None:
    async with sv.AsyncSoraVideo.simulated(repository=_FailingPing()) as client:
        report = await client.ready()
    assert not report.ready
    assert _checks(report)["repository"].reason == "RepositoryError: the disk is on fire"


# -- ready: a dependency hangs -------------------------------------------------------------


async def _forever() -> None:
    await anyio.sleep_forever()


@pytest.mark.anyio
@pytest.mark.parametrize("hanging", [("provider",), ("repository",), ("repository", "provider")])
async def test_a_hanging_dependency_times_out_alone(
    hanging: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with sv.AsyncSoraVideo.simulated() as client:
        if "provider" in hanging:
            monkeypatch.setattr(client.transport, "ping", _forever)
        if "repository" in hanging:
            monkeypatch.setattr(client.repository, "ping", _forever)
        with anyio.fail_after(10):  # a safety net: the checks must end by themselves
            report = await client.ready(timeout=SHORT)
    assert not report.ready
    for name, check in _checks(report).items():
        if name in hanging:
            assert check.status == "unhealthy"
            assert check.reason == "no answer within 0.2 s"
            assert check.latency_ms >= SHORT * 1000 * 0.9
        else:
            assert check.status == "healthy"


@pytest.mark.anyio
async def test_a_driver_error_raised_on_cancellation_still_reads_as_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def cancelled_into_an_error() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            raise sv.ProviderConnectionError("connection torn down")

    async with sv.AsyncSoraVideo.simulated() as client:
        monkeypatch.setattr(client.transport, "ping", cancelled_into_an_error)
        report = await client.ready(timeout=SHORT)
    assert _checks(report)["provider"].reason == "no answer within 0.2 s"


# -- ready: odd situations -----------------------------------------------------------------


@pytest.mark.anyio
async def test_ready_on_a_closed_client_reports_instead_of_raising() -> None:
    client = sv.AsyncSoraVideo.simulated()
    assert (await client.ready()).ready
    await client.aclose()
    report = await client.ready()
    checks = _checks(report)
    assert not report.ready
    assert checks["repository"].reason == "RuntimeError: this client is closed"
    assert checks["provider"].reason == "RuntimeError: this client is closed"


@pytest.mark.anyio
@pytest.mark.parametrize("seconds", [0, -1, float("nan"), True])
async def test_ready_rejects_a_timeout_that_is_not_positive(seconds: float) -> None:
    client = sv.AsyncSoraVideo.simulated()
    try:
        with pytest.raises(sv.ValidationError):
            await client.ready(timeout=seconds)
    finally:
        await client.aclose()
