"""Gemini end to end: FakeGemini on a loopback port (real time), a SQLite ledger, the public
API only. The e2e conftest ends each scenario with the exactly-once check between this fake
and the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

import soravideo as sv
from soravideo.repositories import SQLiteRepository
from soravideo.testing import FakeGemini
from soravideo.transports import GeminiTransport

KEY = "AIza-e2e-0123456789abcdef"
GENERATION_TIME = 0.15
FAST = {"poll_min_interval": 0.05, "poll_max_interval": 0.25, "request_timeout": 5.0}


@pytest.fixture
def fake() -> FakeGemini:
    """A FakeGemini that demands ``KEY``; a test may change its knobs before serving."""
    return FakeGemini(api_key=KEY, generation_time=GENERATION_TIME)


def _settings(base_url: str, ledger_path: Path, **settings: Any) -> dict[str, Any]:
    transport = GeminiTransport(base_url=base_url, api_key=KEY, min_poll_interval=0.05)
    transport.retry_policy = attrs.evolve(transport.retry_policy, base=0.02, cap=0.2)
    return {
        "transport": transport,
        "repository": SQLiteRepository(ledger_path),
        **FAST,
        **settings,
    }


@pytest.fixture
def client(base_url: str, ledger_path: Path) -> Iterator[sv.SoraVideo]:
    with sv.SoraVideo(**_settings(base_url, ledger_path)) as made:
        yield made


@pytest.mark.parametrize(
    ("fields", "estimate"),
    [({"duration": 4, "aspect_ratio": "9:16"}, 0.4), ({"model": "veo-3.1-generate-preview"}, 3.2)],
    ids=["omni", "veo"],
)
def test_a_video_completes_and_downloads(
    client: sv.SoraVideo,
    fake: FakeGemini,
    tmp_path: Path,
    fields: dict[str, Any],
    estimate: float,
) -> None:
    job = client.videos.create_video(sv.CreateVideoRequest(prompt="a red fox", **fields))
    assert (job.provider, job.estimated_cost_usd) == ("gemini", estimate)
    done = client.videos.wait_for_job(job.id, timeout=10)
    path = client.videos.download_video(job.id, tmp_path / "fox.mp4")

    assert done.status is sv.JobStatus.COMPLETED, done.error
    assert done.remote_id is not None
    assert path.read_bytes() == fake.video_bytes(done.remote_id)
    assert fake.create_params(done.remote_id)["prompt"] == "a red fox"
    assert all(r.headers.get("x-goog-api-key") == "<redacted>" for r in fake.requests)


def test_a_cancelled_interaction_is_cancelled_at_google(
    client: sv.SoraVideo, fake: FakeGemini
) -> None:
    fake.generation_time = 30.0
    job = client.videos.create_video(sv.CreateVideoRequest(prompt="a slow heron"))
    with pytest.raises(sv.JobTimeoutError):
        client.videos.wait_for_job(job.id, timeout=0.5)
    cancelled = client.videos.cancel_job(job.id)
    assert cancelled.status is sv.JobStatus.CANCELLED
    assert cancelled.remote_id is not None
    assert fake.status_of(cancelled.remote_id) == "cancelled"


def test_a_wrong_key_is_an_authentication_error_that_never_shows_it(base_url: str) -> None:
    async def ping() -> None:
        async with GeminiTransport(base_url=base_url, api_key="AIza-wrong-key-123") as transport:
            await transport.ping()

    with pytest.raises(sv.AuthenticationError) as info:
        anyio.run(ping)
    assert "AIza-wrong-key-123" not in str(info.value)
    assert info.value.code == "API_KEY_INVALID"
