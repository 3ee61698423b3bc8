"""Health and readiness: library calls to wire into a monitoring endpoint.

- `health` says the library is loaded and the client exists (liveness): no I/O.
- `ready` checks the ledger and the provider with one real round trip each, each
  bounded by its own timeout on real time; a dependency that is down or hangs makes the
  report unready, never an exception.

Metrics are in ``metrics.py``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

import anyio
import attrs

from .._core.clock import now_utc
from .._core.converter import converter
from .._core.errors import FieldError, ValidationError
from .._core.models import _any_tuple
from .._core.redact import redact_text
from .._core.version import __version__
from .context import ClientContext

__all__ = [
    "DEFAULT_READY_TIMEOUT",
    "CheckResult",
    "HealthReport",
    "ReadinessReport",
    "as_dict",
    "health",
    "ready",
]

DEFAULT_READY_TIMEOUT = 2.0
"""Seconds each readiness check may take (keep it below your probe's own timeout)."""


# ---------------------------------------------------------------------- reports


@attrs.frozen(kw_only=True)
class HealthReport:
    """The client is alive: ``status`` is always ``"ok"`` (see `health`).

    Args:
        status: ``"ok"``.
        timestamp: When the report was made, on the client's clock.
        uptime: Seconds since the client was created, on the client's clock.
        version: The soravideo version.

    Examples:
        ```python
        report = client.health()  # no I/O: for a liveness probe
        print(report.status, report.uptime >= 0)  # ok True
        ```
    """

    status: Literal["ok"] = "ok"
    timestamp: datetime
    uptime: float
    version: str

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (datetimes as ISO-8601 strings).

        Examples:
            ```python
            print(client.health().to_dict())  # {'status': 'ok', 'timestamp': '…', 'uptime': …, 'version': '…'}
            ```
        """
        return as_dict(self)


@attrs.frozen(kw_only=True)
class CheckResult:
    """One dependency's readiness.

    Args:
        name: ``"repository"`` (the ledger) or ``"provider"`` (the transport).
        status: ``"healthy"`` or ``"unhealthy"``.
        latency_ms: Real milliseconds the check took (its timeout when it hung).
        reason: Why it is unhealthy (the error, or the timeout); ``None`` when healthy.

    Examples:
        ```python
        report = await client.ready()
        for check in report.checks:  # one CheckResult per dependency
            print(check.name, check.status, check.latency_ms, check.reason)
        ```
    """

    name: str
    status: Literal["healthy", "unhealthy"]
    latency_ms: float
    reason: str | None = None

    @property
    def healthy(self) -> bool:
        """Whether the dependency answered in time."""
        return self.status == "healthy"


@attrs.frozen(kw_only=True)
class ReadinessReport:
    """Whether the client can do its work now (see `ready`).

    Args:
        ready: ``True`` when every check is healthy.
        checks: One result per dependency: the repository, then the provider.
        timestamp: When the checks ended, on the client's clock.

    Examples:
        ```python
        report = await client.ready(timeout=2)  # for a readiness probe: 200 when ready, else 503
        print(report.ready, [check.name for check in report.checks])
        ```
    """

    ready: bool
    checks: tuple[CheckResult, ...] = attrs.field(converter=_any_tuple)
    timestamp: datetime

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (datetimes as ISO-8601 strings).

        Examples:
            ```python
            import json

            report = await client.ready()
            print(json.dumps(report.to_dict()))  # {"ready": true, "checks": [...], "timestamp": "..."}
            ```
        """
        return as_dict(self)


def as_dict(report: object) -> dict[str, Any]:
    """Return a report as JSON-ready data (datetimes as ISO-8601 strings)."""
    data: dict[str, Any] = converter.unstructure(report)
    return data


# ---------------------------------------------------------------------- the calls


def health(context: ClientContext) -> HealthReport:
    """Report that the client is alive, without any I/O.

    Args:
        context: The client's context.

    Returns:
        ``HealthReport(status="ok", ...)`` with the uptime and version.
    """
    return HealthReport(
        timestamp=now_utc(context.clock),
        uptime=context.uptime(),
        version=__version__,
    )


async def ready(
    context: ClientContext,
    timeout: float = DEFAULT_READY_TIMEOUT,  # noqa: ASYNC109 - each check's own deadline, not the call's
) -> ReadinessReport:
    """Check the ledger and the provider, each with one real round trip, at the same time.

    The repository check opens the ledger if needed and calls ``repository.ping()``; the
    provider check calls ``transport.ping()``. Each has ``timeout`` seconds of real time
    (simulated clocks do not apply), and an error or a timeout makes it ``unhealthy`` with
    a reason instead of raising. A ledger that blocks in a worker thread (SQLite waiting
    for another process's lock) is only interrupted once its thread returns.

    Args:
        context: The client's context.
        timeout: Seconds each check may take.

    Returns:
        The report: ``ready`` is ``False`` when any check is unhealthy.

    Raises:
        ValidationError: ``timeout`` is not a positive number.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValidationError([FieldError(field="timeout", message="must be a positive number")])

    def check_open() -> None:
        # A closed client may still reach its dependencies, yet it does no work.
        if context.closed:
            raise RuntimeError("this client is closed")

    async def repository_round_trip() -> None:
        check_open()
        await context.engine()
        await context.repository.ping()

    async def provider_round_trip() -> None:
        check_open()
        await context.transport.ping()

    results: dict[str, CheckResult] = {}

    async def run(name: str, probe: Callable[[], Awaitable[None]]) -> None:
        results[name] = await _check(name, probe, float(timeout))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, "repository", repository_round_trip)
        tg.start_soon(run, "provider", provider_round_trip)
    checks = (results["repository"], results["provider"])
    return ReadinessReport(
        ready=all(c.healthy for c in checks), checks=checks, timestamp=now_utc(context.clock)
    )


async def _check(name: str, probe: Callable[[], Awaitable[None]], limit: float) -> CheckResult:
    error: Exception | None = None
    started = time.perf_counter()
    with anyio.move_on_after(limit) as scope:
        try:
            await probe()
        except Exception as exc:
            error = exc
    latency_ms = (time.perf_counter() - started) * 1000.0
    # A driver may turn its cancellation into its own error: the deadline is the reason.
    if scope.cancel_called:
        reason: str | None = f"no answer within {limit:g} s"
    elif error is not None:
        # A plugin's error may quote a URL or DSN: no password reaches a health report.
        reason = redact_text(f"{type(error).__name__}: {error}")
    else:
        reason = None
    return CheckResult(
        name=name,
        status="healthy" if reason is None else "unhealthy",
        latency_ms=latency_ms,
        reason=reason,
    )
