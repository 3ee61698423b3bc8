"""``metrics()``: every number proven against a known workload, and valid Prometheus text."""

from __future__ import annotations

import math
import os
import re
import string
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

import soravideo as sv
from helpers import request, requests
from soravideo._api.metrics import _process_memory
from soravideo._core.retry import RetryPolicy
from soravideo.repositories import MemoryRepository
from soravideo.testing._fake_sora import FakeSora
from soravideo.transports.sora import SoraTransport

N_COMPLETED, M_FAILED, K_CANCELLED = 3, 2, 2
R_RATE_LIMITED, E_SERVER_ERRORS = 2, 2
# sora-2 at the published $0.10 a second, 8-second videos.
COST = 0.8

# -- the known workload, through either facade ------------------------------------------------


class Facade:
    """Drive either facade with one set of calls (sync calls, async ones run on the test's loop)."""

    def __init__(self, client: sv.SoraVideo | sv.AsyncSoraVideo) -> None:
        self.client = client

    async def __call__(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(self.client, sv.SoraVideo):
            return await anyio.to_thread.run_sync(lambda: method(*args, **kwargs))
        return await method(*args, **kwargs)


async def _known_workload(client: sv.SoraVideo | sv.AsyncSoraVideo) -> dict[str, Any]:
    call = Facade(client)
    fake = client.fake
    assert fake is not None
    # A readiness ping is a request too (and a GET fault must not hit it: pings never retry).
    assert (await call(client.ready)).ready
    rate_limits = fake.inject(status=429, match="POST /videos", times=R_RATE_LIMITED)
    server_errors = fake.inject(status=500, match="GET /videos*", times=E_SERVER_ERRORS)

    held = await call(
        client.batches.create_batch,
        sv.BatchVideoRequest(videos=requests(K_CANCELLED, "held", duration=8)),
    )
    summary = await call(client.batches.cancel_batch, held.batch_id)
    assert summary.cancelled == K_CANCELLED

    prompts = [f"video {i}" for i in range(N_COMPLETED)]
    prompts += [f"{fake.failing_prompt} {i}" for i in range(M_FAILED)]
    jobs = [await call(client.videos.create_video, request(p, duration=8)) for p in prompts]
    done = [await call(client.videos.wait_for_job, job.id, 3600) for job in jobs]
    assert [j.status for j in done].count(sv.JobStatus.COMPLETED) == N_COMPLETED
    assert [j.status for j in done].count(sv.JobStatus.FAILED) == M_FAILED
    assert rate_limits.fired == R_RATE_LIMITED and server_errors.fired == E_SERVER_ERRORS
    return {"metrics": await call(client.metrics), "fake": fake}


def _expect_workload_metrics(m: sv.Metrics, fake: FakeSora, uptime: float) -> None:
    total = N_COMPLETED + M_FAILED + K_CANCELLED
    assert m.jobs == sv.JobMetrics(
        total=total,
        pending=0,
        processing=0,
        completed=N_COMPLETED,
        failed=M_FAILED,
        cancelled=K_CANCELLED,
    )
    # The fake logged every request the transport sent: the independent count.
    logged = fake.requests
    assert m.provider == {
        "sora": sv.ProviderMetrics(
            requests=len(logged),
            errors=R_RATE_LIMITED + E_SERVER_ERRORS,
            retries=R_RATE_LIMITED + E_SERVER_ERRORS,
            rate_limited=R_RATE_LIMITED,
        )
    }
    assert sum(1 for r in logged if r.status is not None and r.status >= 400) == (
        R_RATE_LIMITED + E_SERVER_ERRORS
    )
    assert fake.rate_limited_count() == R_RATE_LIMITED
    # The transport retried each 429 itself: the engine never paused nor lowered its limit.
    assert m.runner == sv.RunnerMetrics(
        in_flight=0, queued=0, concurrency_limit=4, paused_until=None
    )
    assert m.spend == sv.SpendMetrics(
        estimated_usd=math.fsum([COST] * total), completed_usd=math.fsum([COST] * N_COMPLETED)
    )
    assert m.system.uptime_seconds == uptime
    assert uptime >= 60  # at least one simulated generation
    _expect_system(m.system)


def _expect_system(system: sv.SystemMetrics) -> None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        pytest.skip("no /proc on this platform")
    total_kib = int(re.search(r"MemTotal:\s+(\d+) kB", meminfo.read_text())[1])  # type: ignore[index]
    assert system.machine_memory_bytes == total_kib * 1024
    rss_kib = int(re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text())[1])  # type: ignore[index]
    assert system.process_memory_bytes is not None
    # Read a moment apart, so equal within what the process may allocate meanwhile.
    assert abs(system.process_memory_bytes - rss_kib * 1024) < 32 * 2**20


@pytest.mark.anyio
async def test_metrics_after_a_known_workload_async() -> None:
    client = sv.AsyncSoraVideo.simulated(generation_time=60)
    started = client.clock.time()
    async with client:
        result = await _known_workload(client)
        uptime = client.clock.time() - started
    m: sv.Metrics = result["metrics"]
    _expect_workload_metrics(m, result["fake"], uptime)
    _expect_prometheus_matches(m)


@pytest.mark.anyio
async def test_metrics_after_a_known_workload_sync() -> None:
    client = sv.SoraVideo.simulated(generation_time=60)
    started = client.clock.time()
    try:
        result = await _known_workload(client)
        uptime = client.clock.time() - started
    finally:
        await anyio.to_thread.run_sync(client.close)
    m: sv.Metrics = result["metrics"]
    _expect_workload_metrics(m, result["fake"], uptime)
    _expect_prometheus_matches(m)


def test_to_dict_is_plain_data_that_structures_back() -> None:
    m = _sample_metrics(provider={"sora": sv.ProviderMetrics(requests=3, errors=1)})
    data = m.to_dict()
    assert data["jobs"]["completed"] == 2
    assert data["provider"] == {
        "sora": {"requests": 3, "errors": 1, "retries": 0, "rate_limited": 0}
    }
    assert data["runner"]["paused_until"] == 1_700_000_100.5
    assert data["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert sv.converter.structure(data, sv.Metrics) == m
    assert hash(m) == hash(sv.converter.structure(data, sv.Metrics))


# -- the engine's numbers, frozen mid-flight ---------------------------------------------------


@pytest.mark.anyio
async def test_runner_metrics_while_paused_by_a_rate_limit() -> None:
    # The engine's clock never moves, and the fake's clock is never driven: jobs stay in
    # progress, and a pause after a 429 lasts, so the snapshot is exact.
    fake = FakeSora(clock=sv.VirtualClock(), generation_time=60)
    transport = SoraTransport(
        base_url="http://fake.invalid/v1",
        http_client=httpx.AsyncClient(transport=fake.http_transport()),
        retry_policy=RetryPolicy(retry_rate_limits=False),
    )
    clock = sv.ManualClock(start=1_700_000_000.0)
    client = sv.AsyncSoraVideo(
        transport=transport,
        repository=MemoryRepository(),
        clock=clock,
        max_concurrency=8,
        requests_per_second=1000,
    )
    async with client:
        for r in requests(2):
            await client.videos.create_video(r)
        await anyio.wait_all_tasks_blocked()
        m = await client.metrics()
        assert m.runner == sv.RunnerMetrics(
            in_flight=2, queued=0, concurrency_limit=8, paused_until=None
        )
        assert m.jobs.processing == 2

        fake.inject(status=429, retry_after=100, match="POST /videos")
        await client.videos.create_video(request("the third"))
        await anyio.wait_all_tasks_blocked()
        m = await client.metrics()
        # Halved from 8, never below the 2 accepted; every request waits out Retry-After.
        assert m.runner == sv.RunnerMetrics(
            in_flight=2, queued=1, concurrency_limit=4, paused_until=1_700_000_100.0
        )
        assert m.provider["sora"] == sv.ProviderMetrics(
            requests=3, errors=1, retries=0, rate_limited=1
        )
        assert m.jobs == sv.JobMetrics(total=3, processing=3)
        _expect_prometheus_matches(m)


# -- provider section --------------------------------------------------------------------------


class _StatlessTransport(SoraTransport):
    """A transport that keeps no counters."""

    name = 'odd "name"\\with\nnewline'
    stats = None  # type: ignore[assignment]


@pytest.mark.anyio
async def test_a_transport_without_stats_reports_zeros() -> None:
    fake = FakeSora(clock=sv.VirtualClock())
    transport = _StatlessTransport(
        base_url="http://fake.invalid/v1",
        http_client=httpx.AsyncClient(transport=fake.http_transport()),
    )
    async with sv.AsyncSoraVideo(transport=transport, repository=MemoryRepository()) as client:
        assert (await client.ready()).ready
        m = await client.metrics()
    assert m.provider == {_StatlessTransport.name: sv.ProviderMetrics()}
    _expect_prometheus_matches(m)


# -- spend section -----------------------------------------------------------------------------


def _job(i: int, status: sv.JobStatus, cost: float | None) -> sv.Job:
    at = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=i)
    return sv.Job(
        id=f"job_{i:06d}",
        status=status,
        request=request(f"video {i}"),
        provider="sora",
        estimated_cost_usd=cost,
        created_at=at,
        updated_at=at,
    )


def _ledger(n: int) -> list[sv.Job]:
    statuses = list(sv.JobStatus)
    # Costs of every magnitude, some unknown: a naive running sum would round differently.
    return [
        _job(i, statuses[i % 5], None if i % 7 == 0 else (i % 13) * 0.1 + 1e-9 * i)
        for i in range(n)
    ]


@pytest.mark.anyio
async def test_spend_is_exact_over_many_pages() -> None:
    jobs = _ledger(2_345)
    repository = MemoryRepository()
    await repository.open()
    await repository.add_jobs(jobs)
    async with sv.AsyncSoraVideo.simulated(repository=repository) as client:
        m = await client.metrics()
    costs = [j.estimated_cost_usd for j in jobs if j.estimated_cost_usd is not None]
    completed = [
        j.estimated_cost_usd
        for j in jobs
        if j.estimated_cost_usd is not None and j.status is sv.JobStatus.COMPLETED
    ]
    assert m.spend == sv.SpendMetrics(
        estimated_usd=math.fsum(costs), completed_usd=math.fsum(completed)
    )
    assert m.jobs.total == 2_345
    assert m.jobs.completed == sum(1 for j in jobs if j.status is sv.JobStatus.COMPLETED)


class _GrowingRepository(MemoryRepository):
    """Adds a new job right after serving the first page, shifting every later page."""

    def __init__(self, extra: sv.Job) -> None:
        super().__init__()
        self.extra: sv.Job | None = extra

    async def list_jobs(self, **kwargs: Any) -> sv.Page[sv.Job]:
        page = await super().list_jobs(**kwargs)
        if self.extra is not None:
            extra, self.extra = self.extra, None
            await self.add_jobs([extra])
        return page


@pytest.mark.anyio
async def test_spend_counts_a_job_once_when_pages_shift() -> None:
    jobs = _ledger(1_500)
    newest = _job(99_999, sv.JobStatus.PENDING, 1000.0)
    repository = _GrowingRepository(newest)
    await repository.open()
    await repository.add_jobs(jobs)
    async with sv.AsyncSoraVideo.simulated(repository=repository) as client:
        m = await client.metrics()
    costs = [j.estimated_cost_usd for j in jobs if j.estimated_cost_usd is not None]
    # The job added mid-way is newer than the snapshot's first page: not part of it.
    assert m.spend.estimated_usd == math.fsum(costs)


class _SummingRepository(MemoryRepository):
    """A backend with the proposed ``sum_cost`` query: it must be used instead of paging."""

    def __init__(self) -> None:
        super().__init__()
        self.listings = 0
        self.sums: list[sv.JobStatus | None] = []

    async def list_jobs(self, **kwargs: Any) -> sv.Page[sv.Job]:
        self.listings += 1
        return await super().list_jobs(**kwargs)

    async def sum_cost(self, *, status: sv.JobStatus | None = None) -> float:
        self.sums.append(status)
        return 12.5 if status is None else 2.25


@pytest.mark.anyio
async def test_spend_uses_the_repositorys_sum_when_it_has_one() -> None:
    repository = _SummingRepository()
    async with sv.AsyncSoraVideo.simulated(repository=repository) as client:
        m = await client.metrics()
    assert m.spend == sv.SpendMetrics(estimated_usd=12.5, completed_usd=2.25)
    assert repository.sums == [None, sv.JobStatus.COMPLETED]
    assert repository.listings == 0


def test_process_memory_is_read_on_this_platform() -> None:
    value = _process_memory()
    assert value is not None and value > 0
    if os.path.exists("/proc/self/statm"):
        resident = int(Path("/proc/self/statm").read_text().split()[1])
        assert abs(value - resident * os.sysconf("SC_PAGE_SIZE")) < 32 * 2**20


# -- Prometheus text ---------------------------------------------------------------------------


_NAME = re.compile(r"^soravideo_[a-zA-Z0-9_]+$")


def _expected_samples(m: sv.Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """What the exposition must contain, built from the dict form, field by field."""
    data = m.to_dict()
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for status in sv.JobStatus:
        out["soravideo_jobs", frozenset({("status", status.value)})] = data["jobs"][status.value]
    assert data["jobs"]["total"] == sum(data["jobs"][s.value] for s in sv.JobStatus)
    for provider, counters in data["provider"].items():
        for field, value in counters.items():
            out[f"soravideo_provider_{field}_total", frozenset({("provider", provider)})] = value
    runner = data["runner"]
    out["soravideo_runner_in_flight", frozenset()] = runner["in_flight"]
    out["soravideo_runner_queued", frozenset()] = runner["queued"]
    out["soravideo_runner_concurrency_limit", frozenset()] = runner["concurrency_limit"]
    out["soravideo_runner_paused_until_timestamp_seconds", frozenset()] = (
        runner["paused_until"] or 0
    )
    out["soravideo_spend_estimated_usd", frozenset()] = data["spend"]["estimated_usd"]
    out["soravideo_spend_completed_usd", frozenset()] = data["spend"]["completed_usd"]
    system = data["system"]
    out["soravideo_uptime_seconds", frozenset()] = system["uptime_seconds"]
    for field in ("process_memory_bytes", "machine_memory_bytes"):
        if system[field] is not None:
            out[f"soravideo_{field}", frozenset()] = system[field]
    return out


def _check_format_rules(text: str) -> None:
    """The exposition rules the parser is lenient about."""
    assert text.endswith("\n") and not text.endswith("\n\n")
    lines = text[:-1].split("\n")
    seen_families: set[str] = set()
    current: str | None = None
    i = 0
    while i < len(lines):
        help_line, type_line = lines[i], lines[i + 1]
        assert help_line.startswith("# HELP "), help_line
        name = help_line.split(" ")[2]
        assert _NAME.match(name), name
        assert name not in seen_families
        seen_families.add(name)
        kind = type_line.split(" ")
        assert kind[:3] == ["#", "TYPE", name] and kind[3] in ("counter", "gauge")
        assert (kind[3] == "counter") == name.endswith("_total"), name
        current = name
        i += 2
        while i < len(lines) and not lines[i].startswith("#"):
            sample_name = re.split(r"[{ ]", lines[i], maxsplit=1)[0]
            assert sample_name == current, lines[i]
            i += 1


def _expect_prometheus_matches(m: sv.Metrics) -> None:
    text = m.to_prometheus()
    _check_format_rules(text)
    parsed: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        assert family.type in ("counter", "gauge")
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in parsed
            parsed[key] = sample.value
    expected = _expected_samples(m)
    assert parsed.keys() == expected.keys()
    for key, value in expected.items():
        assert parsed[key] == float(value), key


def _sample_metrics(
    *,
    provider: dict[str, sv.ProviderMetrics],
    uptime: float = 12.25,
    spend: float = 3.2,
    memory: int | None = 1234,
) -> sv.Metrics:
    return sv.Metrics(
        jobs=sv.JobMetrics(total=5, pending=1, processing=1, completed=2, failed=1),
        provider=provider,
        runner=sv.RunnerMetrics(
            in_flight=1, queued=0, concurrency_limit=2, paused_until=1_700_000_100.5
        ),
        spend=sv.SpendMetrics(estimated_usd=spend, completed_usd=spend / 2),
        system=sv.SystemMetrics(
            uptime_seconds=uptime, process_memory_bytes=memory, machine_memory_bytes=None
        ),
        timestamp=datetime.fromtimestamp(1_700_000_000, tz=timezone.utc),
    )


_counts = st.integers(min_value=0, max_value=2**53)
_providers = st.dictionaries(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
    | st.text(alphabet=string.printable + '"\\', max_size=12),
    st.builds(
        sv.ProviderMetrics,
        requests=_counts,
        errors=_counts,
        retries=_counts,
        rate_limited=_counts,
    ),
    max_size=3,
)


@settings(max_examples=60, deadline=None)
@given(
    provider=_providers,
    uptime=st.floats(min_value=0, max_value=1e12),
    spend=st.floats(min_value=0, max_value=1e9),
    memory=st.none() | st.integers(min_value=0, max_value=2**50),
)
def test_prometheus_text_parses_back_to_every_value(
    provider: dict[str, sv.ProviderMetrics], uptime: float, spend: float, memory: int | None
) -> None:
    _expect_prometheus_matches(
        _sample_metrics(provider=provider, uptime=uptime, spend=spend, memory=memory)
    )


def test_prometheus_text_of_a_known_snapshot() -> None:
    text = _sample_metrics(provider={"sora": sv.ProviderMetrics(requests=7)}).to_prometheus()
    # 14 families, less the machine memory that is unknown here.
    assert text.count("\n# HELP ") + 1 == text.count("# HELP ") == 13
    assert 'soravideo_provider_requests_total{provider="sora"} 7\n' in text
    assert "soravideo_runner_paused_until_timestamp_seconds 1700000100.5\n" in text
    assert "soravideo_process_memory_bytes 1234\n" in text
    # Unknown figures are left out, not reported as 0.
    assert "machine_memory" not in text
    assert sv.PROMETHEUS_CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
