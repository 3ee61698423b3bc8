"""One realistic run with three secrets, and every place the library shows anything searched.

The secrets: an API key (the served FakeSora demands it), the password of the base URL
(``http://scenario:PASSWORD@127.0.0.1:…/v1``, sent as Basic auth) and the password of a
PostgreSQL DSN (``postgresql://postgres:PASSWORD@127.0.0.1:…``). The run creates, waits for
and downloads videos on a SQLite and on a PostgreSQL ledger, makes things fail (unknown
job, refused key, unknown video, unreachable provider, missing database), reads metrics,
health and readiness, and runs the command line on both ledgers with and without
``--json``. Then it searches every output channel for the secrets: reprs of the client,
transport, repositories, jobs and errors; error messages and everything chained to them
(causes, contexts, httpx requests and their headers, psycopg connections); DEBUG logs of
every logger (soravideo, httpx, httpcore, psycopg); the SQLite ledger's bytes; metrics and
health output; the command line's stdout and stderr.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import socket
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import anyio.lowlevel
import attrs
import pytest

import soravideo as sv
from soravideo._core.converter import dumps
from soravideo.cli._main import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, main
from soravideo.repositories import SQLiteRepository
from soravideo.testing import FakeSora, check_ledger_exactly_once
from soravideo.transports import SoraTransport

API_KEY = "sk-scenario-KEY-0123456789abcdef"
URL_PASSWORD = "url-PASSWORD-2468013579"
DB_PASSWORD = "db-PASSWORD-1357924680"
BASIC = base64.b64encode(f"scenario:{URL_PASSWORD}".encode()).decode()
SECRETS = (API_KEY, URL_PASSWORD, DB_PASSWORD, BASIC)
FAST = {"poll_min_interval": 0.05, "poll_max_interval": 0.25, "request_timeout": 5.0}
GENERATION_TIME = 0.15

pytestmark = pytest.mark.postgres


@pytest.fixture
def fake() -> FakeSora:
    """The e2e fake, demanding this scenario's key."""
    return FakeSora(api_key=API_KEY, generation_time=GENERATION_TIME)


def with_password(url: str) -> str:
    return url.replace("http://", f"http://scenario:{URL_PASSWORD}@", 1)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def url_dsn(keyword_dsn: str, **changes: str) -> str:
    """``postgresql://postgres:PASSWORD@host:port/db?options=…`` for a keyword DSN."""
    from psycopg import conninfo

    params = {**conninfo.conninfo_to_dict(keyword_dsn), **changes}
    query = f"?options={quote(str(params['options']))}" if params.get("options") else ""
    return (
        f"postgresql://{params['user']}:{DB_PASSWORD}@{params['host']}:{params['port']}"
        f"/{params['dbname']}{query}"
    )


def transport(base_url: str) -> SoraTransport:
    made = SoraTransport(base_url=with_password(base_url), api_key=API_KEY)
    made.retry_policy = attrs.evolve(made.retry_policy, base=0.02, cap=0.2)
    return made


def chained(error: BaseException) -> Iterator[BaseException]:
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        yield current
        pending += [current.__cause__, current.__context__]
        pending += list(getattr(current, "exceptions", ()))


class Channels:
    """Everything shown, by channel, to be searched for the secrets at the end."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str]] = []

    def add(self, channel: str, value: object) -> None:
        self.shown.append((channel, value if isinstance(value, str) else repr(value)))

    def error(self, channel: str, error: BaseException) -> None:
        self.add(f"{channel}: traceback", "".join(traceback.format_exception(error)))
        for exc in chained(error):
            where = f"{channel}: {type(exc).__name__}"
            self.add(where, str(exc))
            self.add(where, repr(exc))
            self.add(where, repr(vars(exc)))
            if isinstance(exc, sv.SoraVideoError):
                self.add(where, json.dumps(vars(exc), default=repr))
            requests = [getattr(exc, "_request", None)]
            requests.append(getattr(getattr(exc, "response", None), "_request", None))
            for request in requests:
                if request is not None:
                    self.add(f"{where}.request", request)
                    self.add(f"{where}.request.url", str(request.url))
                    self.add(f"{where}.request.headers", dict(request.headers))
            pgconn = getattr(exc, "pgconn", None)
            if pgconn is not None:
                self.add(f"{where}.pgconn", pgconn)
                self.add(f"{where}.pgconn.password", pgconn.password)

    async def failure(self, channel: str, call: Any) -> BaseException:
        try:
            await call
        except Exception as exc:
            self.error(channel, exc)
            return exc
        raise AssertionError(f"{channel}: did not fail")

    def cli(self, channel: str, *argv: str, expect: int) -> str:
        for flags in ([], ["--json"]):
            out, err = io.StringIO(), io.StringIO()
            code = main([*flags, *argv], stdout=out, stderr=err)
            name = f"cli {' '.join([*flags, argv[-1]])} ({channel})"
            assert code == expect, (name, out.getvalue(), err.getvalue())
            self.add(f"{name} stdout", out.getvalue())
            self.add(f"{name} stderr", err.getvalue())
        return out.getvalue()

    def assert_clean(self) -> None:
        leaks = [
            f"{channel} shows {secret!r}: …{text[max(0, text.find(secret) - 80) :][:200]}…"
            for channel, text in self.shown
            for secret in SECRETS
            if secret in text
        ]
        assert not leaks, "\n".join(leaks)


async def sqlite_part(base_url: str, ledger_path: Path, tmp_path: Path, seen: Channels) -> sv.Job:
    client = sv.AsyncSoraVideo(
        transport=transport(base_url), repository=SQLiteRepository(ledger_path), **FAST
    )
    async with client:
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="a red fox"))
        done = await client.videos.wait_for_job(job.id, timeout=20)
        assert done.status is sv.JobStatus.COMPLETED, done
        path = await client.videos.download_video(done.id, tmp_path / "fox.mp4")
        assert path.stat().st_size > 0
        result = await client.videos.get_video_result(done.id)
        metrics = await client.metrics()
        ready = await client.ready()
        assert ready.ready, ready
        for name, value in {
            "client": client,
            "transport": client.transport,
            "transport.stats": client.transport.stats,
            "repository": client.repository,
            "settings": client.settings,
            "job": done,
            "job json": dumps(done),
            "result": result,
            "metrics prometheus": metrics.to_prometheus(),
            "metrics json": json.dumps(metrics.to_dict()),
            "health": json.dumps(client.health().to_dict()),
            "ready": json.dumps(ready.to_dict()),
        }.items():
            seen.add(f"sqlite {name}", value)
        await seen.failure("unknown job", client.videos.get_job("job_unknown"))
        assert done.remote_id is not None
        # The provider refuses a wrong key; an unknown video is a 404; a port nobody serves.
        refused = SoraTransport(base_url=with_password(base_url), api_key="sk-wrong-0123456789")
        async with refused:
            await seen.failure("refused key", refused.fetch(done.remote_id))
        await seen.failure("unknown video", client.transport.fetch("video_unknown"))
        nobody = SoraTransport(
            base_url=with_password(f"http://127.0.0.1:{closed_port()}/v1"),
            api_key=API_KEY,
            max_retries=1,
            sleep=lambda _: anyio.lowlevel.checkpoint(),
        )
        async with nobody:
            await seen.failure(
                "unreachable",
                nobody.submit(sv.CreateVideoRequest(prompt="a fox"), idempotency_key="k"),
            )
            await seen.failure("unreachable download", _download(nobody, "video_x"))
        return done


async def _download(transport: SoraTransport, remote_id: str) -> None:
    async with transport.open_content(remote_id) as stream:
        async for _ in stream.aiter_bytes():
            pass


async def postgres_part(base_url: str, dsn: str, seen: Channels) -> None:
    from soravideo.repositories.postgres import PostgresRepository

    other = FakeSora(api_key=API_KEY, generation_time=GENERATION_TIME)
    with other.serve() as other_url:
        client = sv.AsyncSoraVideo(
            transport=transport(other_url), repository=PostgresRepository(dsn), **FAST
        )
        async with client:
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="a heron"))
            done = await client.videos.wait_for_job(job.id, timeout=20)
            assert done.status is sv.JobStatus.COMPLETED, done
            metrics = await client.metrics()
            ready = await client.ready()
            for name, value in {
                "client": client,
                "repository": client.repository,
                "job": done,
                "metrics prometheus": metrics.to_prometheus(),
                "metrics json": json.dumps(metrics.to_dict()),
                "ready": json.dumps(ready.to_dict()),
            }.items():
                seen.add(f"postgres {name}", value)
            await check_ledger_exactly_once(other, client.repository)
    missing = PostgresRepository(dsn.replace("/soravideo", "/no_such_ledger"), timeout=5)
    seen.add("missing repository", missing)
    await seen.failure("missing database", missing.open())
    await missing.aclose()


def test_no_secret_in_any_output_channel(
    base_url: str,
    ledger_path: Path,
    tmp_path: Path,
    postgres_dsn: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in list(os.environ):
        if name.startswith(("SORAVIDEO_", "OPENAI_", "RUNWAYML_")):
            monkeypatch.delenv(name)
    seen = Channels()
    dsn = url_dsn(postgres_dsn)
    assert DB_PASSWORD in dsn and "soravideo" in dsn

    done = anyio.run(sqlite_part, base_url, ledger_path, tmp_path, seen)
    anyio.run(postgres_part, base_url, dsn, seen)

    # The command line, on both ledgers, with the key in its usual variable.
    monkeypatch.setenv("SORAVIDEO_API_KEY", API_KEY)
    secret_url = with_password(base_url)
    on_sqlite = ("--provider", "sora", "--base-url", secret_url, "--db", str(ledger_path))
    seen.cli("sqlite", *on_sqlite, "list", expect=EXIT_OK)
    seen.cli("sqlite", *on_sqlite, "status", done.id, expect=EXIT_OK)
    seen.cli("sqlite", *on_sqlite, "metrics", expect=EXIT_OK)
    seen.cli("sqlite", *on_sqlite, "health", expect=EXIT_OK)
    on_postgres = ("--provider", "sora", "--base-url", secret_url, "--db", dsn)
    assert done.id not in seen.cli("postgres", *on_postgres, "list", expect=EXIT_OK)
    seen.cli("postgres", *on_postgres, "metrics", expect=EXIT_OK)
    missing = dsn.replace("/soravideo", "/no_such_ledger")
    seen.cli("missing database", "--verbose", "--db", missing, "list", expect=EXIT_USAGE)
    nobody = with_password(f"http://127.0.0.1:{closed_port()}/v1")
    seen.cli(
        "unreachable",
        *("--verbose", "--provider", "sora", "--base-url", nobody, "--db", str(ledger_path)),
        *("create", "a fox", "--wait"),
        expect=EXIT_UNREACHABLE,
    )

    seen.add("DEBUG logs", caplog.text)
    for record in caplog.records:
        seen.add(f"log record {record.name}", record.getMessage())
    seen.assert_clean()

    # The ledger's bytes (its WAL too), once every client is closed.
    for path in ledger_path.parent.glob(f"{ledger_path.name}*"):
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"{path.name} holds {secret!r}"
    # The scenario did reach the channels it searched.
    assert "***" in caplog.text or any("***" in text for _, text in seen.shown)
    assert any(name.startswith("httpx") for name in {r.name for r in caplog.records})
