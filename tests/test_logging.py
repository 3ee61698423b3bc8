"""The ``soravideo`` logger: a line per transition and per retry, silent by default, no secrets."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import soravideo as sv
from helpers import request
from soravideo._core.converter import dumps
from soravideo.repositories import SQLiteRepository
from soravideo.testing._fake_sora import FakeSora
from soravideo.transports.sora import SoraTransport

# Distinctive enough that any appearance anywhere is a leak.
KEY = "sk-LEAKCHECK-9d2f7b41e6a8c035Zq"


def test_the_library_logger_is_silent_by_default() -> None:
    # Without any handler, Python prints warnings to stderr; the NullHandler prevents it.
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("soravideo").handlers)
    code = (
        "import logging, soravideo\n"
        "logging.getLogger('soravideo').warning('should not be printed')\n"
        "logging.getLogger('soravideo.transports').error('nor this')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stderr == "" and done.stdout == ""


@pytest.mark.anyio
async def test_logs_name_jobs_retries_and_providers_but_never_the_key(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = sv.VirtualClock()
    fake = FakeSora(api_key=KEY, clock=clock, generation_time=30)
    transport = SoraTransport(
        base_url="http://fake.invalid/v1",
        api_key=KEY,
        http_client=httpx.AsyncClient(transport=fake.http_transport()),
        sleep=clock.sleep,
    )
    ledger = tmp_path / "ledger.db"
    client = sv.AsyncSoraVideo(
        transport=transport, repository=SQLiteRepository(ledger), clock=clock
    )

    fake.inject(status=429, match="POST /videos", times=1)
    fake.inject(status=500, match="GET /videos*", times=2)
    fake.inject(reset=True, match="GET /videos*", times=1)
    # A provider that echoes the key back in an error: it must be scrubbed on the way in.
    fake.inject(
        status=400,
        message=f"bad request from key {KEY}",
        match=lambda r: r.method == "POST" and b"rejected" in r.body,
    )
    async with client:
        rejected = await client.videos.create_video(request("rejected"))
        moderated = await client.videos.create_video(request(fake.failing_prompt))
        fine = [await client.videos.create_video(request(f"fine {i}")) for i in range(2)]
        cancelled = await client.videos.create_video(request("cancelled"))
        await client.videos.cancel_job(cancelled.id)
        ended = [
            await client.videos.wait_for_job(j.id, timeout=3600)
            for j in [rejected, moderated, *fine]
        ]
        try:
            await transport.fetch("video_missing")
        except sv.ProviderError as exc:
            not_found = exc
        fake.inject(status=401, message=f"key {KEY} was revoked", match="GET /videos/*")
        try:
            await transport.fetch("video_any")
        except sv.AuthenticationError as exc:
            revoked = exc
        metrics = await client.metrics()
        readiness = await client.ready()
        rows = [j for j in (await client.videos.list_jobs(limit=100)).items]

    statuses = {j.id: j.status for j in ended}
    assert list(statuses.values()).count(sv.JobStatus.COMPLETED) == 2
    assert statuses[moderated.id] is sv.JobStatus.FAILED
    # The echoed key reached the client and was replaced: the checks below can fail.
    rejected_row = next(j for j in rows if j.id == rejected.id)
    assert rejected_row.status is sv.JobStatus.FAILED and rejected_row.error is not None
    assert "bad request from key ***" in rejected_row.error.message
    assert revoked.status_code == 401 and "***" in str(revoked)

    records = caplog.records
    messages = [r.getMessage() for r in records]

    # One line per retry, naming provider, method, path, attempt and delay.
    retry_lines = [m for m in messages if "retrying in" in m]
    assert len(retry_lines) == metrics.provider["sora"].retries == 4
    assert all(m.startswith("sora: ") and " attempt " in m for m in retry_lines)
    # One line per transition, naming the job and the provider.
    for job_id, status in [*statuses.items(), (cancelled.id, sv.JobStatus.CANCELLED)]:
        lines = [m for m in messages if job_id in m and "(provider sora)" in m]
        assert any(m.endswith(f"-> {status.value} (provider sora)") for m in lines), job_id
    for job in [rejected, moderated, *fine]:
        assert any(f"job {job.id} pending -> processing (provider sora)" == m for m in messages)

    # The key appears nowhere: log text (tracebacks included), arguments, reprs,
    # exceptions, stored rows, reports.
    haystacks = [
        caplog.text,
        *messages,
        *(repr(r.args) for r in records),
        *(repr(r.exc_info) for r in records if r.exc_info),
        repr(transport),
        repr(client),
        repr(fake),
        repr(not_found),
        str(not_found),
        repr(not_found.body),
        repr(revoked),
        str(revoked),
        repr(revoked.body),
        *(dumps(j) for j in rows),
        *(repr(j) for j in rows),
        repr(metrics.to_dict()),
        metrics.to_prometheus(),
        repr(readiness.to_dict()),
        *(r.headers.get("authorization", "") for r in fake.requests),
    ]
    assert all(KEY not in text for text in haystacks)
    for path in ledger.parent.iterdir():
        assert KEY.encode() not in path.read_bytes(), path.name
