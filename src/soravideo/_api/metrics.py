"""Metrics: a snapshot to wire into a monitoring endpoint (``client.metrics()``).

``metrics`` snapshots the ledger's job counts and estimated spend, the transport's
HTTP counters, the engine's queue and limits, and the process's memory, in a
[`Metrics`][soravideo.Metrics] that renders as a dict or as Prometheus text. Liveness and
readiness are in ``health.py``.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

import attrs

from .._core.clock import now_utc
from .._core.models import JobStatus
from .._core.validation import MAX_PAGE_LIMIT
from ..repositories.base import JobRepository
from ..transports.base import Transport
from .context import ClientContext
from .health import as_dict

__all__ = [
    "PROMETHEUS_CONTENT_TYPE",
    "JobMetrics",
    "Metrics",
    "ProviderMetrics",
    "RunnerMetrics",
    "SpendMetrics",
    "SystemMetrics",
    "metrics",
]

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The ``Content-Type`` of [`Metrics.to_prometheus`][soravideo.Metrics.to_prometheus] output."""


# ---------------------------------------------------------------------- reports


@attrs.frozen(kw_only=True)
class JobMetrics:
    """Jobs in the ledger by status (all processes sharing it, not only this one).

    Examples:
        ```python
        await client.videos.create_video(sv.CreateVideoRequest(prompt="A lighthouse"))
        jobs = (await client.metrics()).jobs
        print(jobs.total, jobs.pending, jobs.completed)  # 1 1 0
        ```
    """

    total: int = 0
    pending: int = 0
    processing: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0


@attrs.frozen(kw_only=True)
class ProviderMetrics:
    """One transport's HTTP counters since it was created (zeros when it keeps none).

    Args:
        requests: HTTP requests sent, retries and readiness pings included.
        errors: Attempts that failed (an error status, or no usable answer).
        retries: Attempts repeated after a failure.
        rate_limited: ``429`` answers received.

    Examples:
        ```python
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A harbour"))
        await client.videos.wait_for_job(job.id)
        provider = (await client.metrics()).provider["sora"]  # by transport name
        print(provider.requests, provider.errors, provider.retries, provider.rate_limited)
        ```
    """

    requests: int = 0
    errors: int = 0
    retries: int = 0
    rate_limited: int = 0


@attrs.frozen(kw_only=True)
class RunnerMetrics:
    """This client's engine.

    Args:
        in_flight: Jobs being submitted or polled.
        queued: Jobs claimed and waiting to be sent.
        concurrency_limit: The adaptive limit on jobs in flight (lowered after a ``429``).
        paused_until: Unix time (client's clock) until which every request waits after a
            ``429``; ``None`` when not paused.

    Examples:
        ```python
        runner = (await client.metrics()).runner
        print(runner.in_flight, runner.queued, runner.concurrency_limit, runner.paused_until)
        ```
    """

    in_flight: int
    queued: int
    concurrency_limit: int
    paused_until: float | None = None


@attrs.frozen(kw_only=True)
class SpendMetrics:
    """Estimated cost in USD of the jobs in the ledger (jobs without an estimate count 0).

    Args:
        estimated_usd: Every job's estimate, whatever its status.
        completed_usd: The completed jobs' estimates: what was generated.

    Examples:
        ```python
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A glacier", duration=8))
        await client.videos.wait_for_job(job.id)
        spend = (await client.metrics()).spend
        print(spend.estimated_usd, spend.completed_usd)  # USD: estimated, and of completed videos
        ```
    """

    estimated_usd: float = 0.0
    completed_usd: float = 0.0


@attrs.frozen(kw_only=True)
class SystemMetrics:
    """The process and the machine.

    Args:
        uptime_seconds: Seconds since the client was created, on the client's clock.
        process_memory_bytes: The process's resident memory (its peak where the current
            figure is unavailable); ``None`` when the platform tells neither.
        machine_memory_bytes: The machine's physical memory; ``None`` when unknown.

    Examples:
        ```python
        system = (await client.metrics()).system
        print(system.uptime_seconds, system.process_memory_bytes)
        ```
    """

    uptime_seconds: float
    process_memory_bytes: int | None = None
    machine_memory_bytes: int | None = None


@attrs.frozen(kw_only=True)
class Metrics:
    """A snapshot of the ledger, the provider traffic, the engine and the process.

    Args:
        jobs: Jobs by status, from the ledger.
        provider: HTTP counters by transport name.
        runner: The engine's queue and limits.
        spend: Estimated cost so far.
        system: Uptime and memory.
        timestamp: When the snapshot was taken, on the client's clock.

    Examples:
        ```python
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A lighthouse"))
        await client.videos.wait_for_job(job.id)
        metrics = await client.metrics()
        print(metrics.jobs.total, metrics.spend.estimated_usd)
        ```
    """

    jobs: JobMetrics
    provider: Mapping[str, ProviderMetrics] = attrs.field(hash=False)
    runner: RunnerMetrics
    spend: SpendMetrics
    system: SystemMetrics
    timestamp: datetime

    def to_dict(self) -> dict[str, Any]:
        """Return the metrics as JSON-ready nested dicts.

        Examples:
            ```python
            snapshot = (await client.metrics()).to_dict()  # plain JSON types
            print(sorted(snapshot))
            ```
        """
        return as_dict(self)

    def to_prometheus(self) -> str:
        """Render the metrics in the Prometheus text exposition format 0.0.4.

        Every name starts with ``soravideo_``; counters end in ``_total``. Job counts are
        the gauge ``soravideo_jobs{status=...}`` (their ``sum`` is the total); provider
        counters carry a ``provider`` label; figures the platform cannot tell are left
        out. Serve it with ``PROMETHEUS_CONTENT_TYPE``.

        Returns:
            The exposition text, ending in one newline.

        Examples:
            ```python
            text = (await client.metrics()).to_prometheus()  # serve it on /metrics
            print(text.splitlines()[0])  # # HELP soravideo_…
            ```
        """
        out = _Exposition()
        out.family(
            "soravideo_jobs",
            "gauge",
            "Jobs in the ledger, by status.",
            [({"status": s.value}, getattr(self.jobs, s.value)) for s in JobStatus],
        )
        providers = sorted(self.provider.items())
        for field, help_text in (
            ("requests", "HTTP requests sent to the provider, retries included."),
            ("errors", "Provider requests that failed (error status or no usable answer)."),
            ("retries", "Provider requests repeated after a failure."),
            ("rate_limited", "429 answers received from the provider."),
        ):
            out.family(
                f"soravideo_provider_{field}_total",
                "counter",
                help_text,
                [({"provider": name}, getattr(stats, field)) for name, stats in providers],
            )
        runner = self.runner
        out.gauge("soravideo_runner_in_flight", "Jobs being submitted or polled.", runner.in_flight)
        out.gauge("soravideo_runner_queued", "Jobs claimed and waiting to be sent.", runner.queued)
        out.gauge(
            "soravideo_runner_concurrency_limit",
            "The adaptive limit on jobs in flight.",
            runner.concurrency_limit,
        )
        out.gauge(
            "soravideo_runner_paused_until_timestamp_seconds",
            "Unix time until which requests wait after a 429 (0 when not paused).",
            runner.paused_until or 0,
        )
        out.gauge(
            "soravideo_spend_estimated_usd",
            "Estimated cost in USD of every job in the ledger.",
            self.spend.estimated_usd,
        )
        out.gauge(
            "soravideo_spend_completed_usd",
            "Estimated cost in USD of the completed jobs in the ledger.",
            self.spend.completed_usd,
        )
        system = self.system
        out.gauge(
            "soravideo_uptime_seconds",
            "Seconds since the client was created.",
            system.uptime_seconds,
        )
        out.gauge(
            "soravideo_process_memory_bytes",
            "Resident memory of the process.",
            system.process_memory_bytes,
        )
        out.gauge(
            "soravideo_machine_memory_bytes",
            "Physical memory of the machine.",
            system.machine_memory_bytes,
        )
        return out.text()


# ---------------------------------------------------------------------- Prometheus text


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class _Exposition:
    """Collects metric families: a HELP and a TYPE line, then the family's samples."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(
        self,
        name: str,
        kind: Literal["counter", "gauge"],
        help_text: str,
        samples: Iterable[tuple[Mapping[str, str], float]],
    ) -> None:
        self._lines.append(f"# HELP {name} {_escape_help(help_text)}")
        self._lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            rendered = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items())
            selector = f"{{{rendered}}}" if rendered else ""
            self._lines.append(f"{name}{selector} {_number(value)}")

    def gauge(self, name: str, help_text: str, value: float | None) -> None:
        # An unknown figure is left out rather than reported as a misleading 0.
        if value is not None:
            self.family(name, "gauge", help_text, [({}, value)])

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


# ---------------------------------------------------------------------- the calls


async def metrics(context: ClientContext) -> Metrics:
    """Take a snapshot of the ledger, the provider counters, the engine and the process.

    Job counts and spend come from the ledger, so they cover every process sharing it.
    The spend is read with the repository's ``sum_cost`` when it has one, else by paging
    through every job (its cost grows with the ledger).

    Args:
        context: The client's context.

    Returns:
        The metrics.

    Raises:
        RepositoryError: The ledger cannot be read.
    """
    timestamp = now_utc(context.clock)
    runner = await context.engine()
    counts = await context.repository.count_jobs()
    jobs = JobMetrics(
        total=sum(counts.get(s, 0) for s in JobStatus),
        **{s.value: counts.get(s, 0) for s in JobStatus},
    )
    stats = runner.stats()
    return Metrics(
        jobs=jobs,
        provider={context.transport.name: _provider_metrics(context.transport)},
        runner=RunnerMetrics(
            in_flight=stats.in_flight,
            queued=stats.queued,
            concurrency_limit=stats.concurrency_limit,
            paused_until=stats.paused_until,
        ),
        spend=await _spend(context.repository),
        system=SystemMetrics(
            uptime_seconds=context.uptime(),
            process_memory_bytes=_process_memory(),
            machine_memory_bytes=_machine_memory(),
        ),
        timestamp=timestamp,
    )


def _provider_metrics(transport: Transport) -> ProviderMetrics:
    stats = getattr(transport, "stats", None)
    if stats is None:
        return ProviderMetrics()
    return ProviderMetrics(
        requests=int(getattr(stats, "requests", 0)),
        errors=int(getattr(stats, "errors", 0)),
        retries=int(getattr(stats, "retries", 0)),
        rate_limited=int(getattr(stats, "rate_limited", 0)),
    )


async def _spend(repository: JobRepository) -> SpendMetrics:
    # ``sum_cost`` is not part of the protocol yet: a backend that has it sums in one query.
    sum_cost = getattr(repository, "sum_cost", None)
    if sum_cost is not None:
        return SpendMetrics(
            estimated_usd=float(await sum_cost()),
            completed_usd=float(await sum_cost(status=JobStatus.COMPLETED)),
        )
    # Keyed by id: a job created while paging shifts the pages and may be read twice.
    costs: dict[str, tuple[JobStatus, float]] = {}
    page = 1
    while True:
        listing = await repository.list_jobs(page=page, limit=MAX_PAGE_LIMIT)
        for job in listing.items:
            if job.estimated_cost_usd is not None:
                costs[job.id] = (job.status, job.estimated_cost_usd)
        if not listing.has_next:
            break
        page += 1
    # fsum: exact whatever order the ledger returns the jobs in.
    return SpendMetrics(
        estimated_usd=math.fsum(cost for _, cost in costs.values()),
        completed_usd=math.fsum(
            cost for status, cost in costs.values() if status is JobStatus.COMPLETED
        ),
    )


def _process_memory() -> int | None:
    """Resident memory now (Linux), else the peak from ``getrusage``, else ``None``."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            resident_pages = int(statm.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux and the BSDs report KiB, macOS bytes.
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def _machine_memory() -> int | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    if pages <= 0 or page_size <= 0:
        return None
    return int(pages) * int(page_size)
