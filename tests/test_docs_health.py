"""docs/health.md: its framework-free code runs as shown; the framework code at least compiles."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import soravideo as sv
from soravideo.repositories import SQLiteRepository

DOC = Path(__file__).resolve().parents[1] / "docs" / "health.md"
FRAMEWORKS = ("starlette", "fastapi", "flask", "django")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text(), flags=re.M | re.S)


def _framework_free() -> dict[str, Any]:
    """Run every Python block that needs no web framework, in order, in one namespace."""
    namespace: dict[str, Any] = {}
    for code in _blocks("python"):
        if not re.search(rf"^(from|import) ({'|'.join(FRAMEWORKS)})\b", code, flags=re.M):
            exec(compile(code, str(DOC), "exec"), namespace)
    return namespace


def test_every_python_block_compiles_and_the_framework_ones_use_the_shown_functions() -> None:
    blocks = _blocks("python")
    assert len(blocks) >= 4
    for code in blocks:
        compile(code, str(DOC), "exec")
    framework = [c for c in blocks if re.search(r"^from (starlette|flask)", c, flags=re.M)]
    assert len(framework) == 2
    shown = set(_framework_free())
    for code in framework:
        called = set(re.findall(r"(\w+)\(client\)", code))
        assert called and called <= shown, called - shown


@pytest.mark.anyio
async def test_the_async_bodies_answer_as_documented(tmp_path: Path) -> None:
    ns = _framework_free()
    async with sv.AsyncSoraVideo.simulated() as client:
        assert ns["liveness"](client)[0] == 200
        status, body = await ns["readiness"](client)
        assert status == 200 and body["ready"] is True
        status, content_type, text = await ns["prometheus"](client)
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"soravideo_jobs", "soravideo_provider_requests", "soravideo_uptime_seconds"} <= names

    directory = tmp_path / "not-a-file"
    directory.mkdir()
    broken = sv.AsyncSoraVideo.simulated(repository=SQLiteRepository(directory))
    try:
        status, body = await ns["readiness"](broken)
    finally:
        await broken.aclose()
    assert status == 503 and body["ready"] is False
    json.dumps(body)  # a JSON response body as it is
    assert [c["status"] for c in body["checks"]] == ["unhealthy", "healthy"]


def test_the_sync_bodies_answer_as_documented() -> None:
    ns = _framework_free()
    with sv.SoraVideo.simulated() as client:
        status, body = ns["liveness"](client)
        assert status == 200 and body["status"] == "ok" and body["version"] == sv.__version__
        status, body = ns["sync_readiness"](client)
        assert status == 200 and body["ready"] is True
        status, content_type, text = ns["sync_prometheus"](client)
    assert status == 200 and content_type == sv.PROMETHEUS_CONTENT_TYPE
    assert list(text_string_to_metric_families(text))


def test_the_documented_readiness_body_is_a_report() -> None:
    [shown] = _blocks("json")
    report = sv.converter.structure(json.loads(shown), sv.ReadinessReport)
    assert not report.ready
    assert [c.name for c in report.checks] == ["repository", "provider"]
