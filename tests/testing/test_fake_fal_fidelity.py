"""FakeFal against the official ``fal-client`` (1.0.3), unchanged but for host and key.

The client only speaks ``https://`` to the host ``FAL_QUEUE_RUN_HOST`` names (read once,
at import, into ``fal_client.client.QUEUE_URL_FORMAT``), and trusts the CA bundle
``SSL_CERT_FILE`` names when it builds its httpx client. So the fake is served over TLS on
loopback with a throwaway certificate, and the client is pointed at it the two ways a user
can: the environment variable in a fresh interpreter, and (in this process, where the
client is already imported) the module constant that variable sets, to the same value.

The package is a dev dependency used only here, and the model table is checked against
the input schemas of fal's own JavaScript client (``fal-js``), copied into ``spec/``.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fal_client
import fal_client.client as fal_wire
import httpx
import pytest

from soravideo.testing import ManualClock
from soravideo.testing._fake_fal import FakeFal
from soravideo.transports.fal import FAL_MODELS

KEY = "fal-fidelity:0123456789abcdef"
KLING = "fal-ai/kling-video/v2.5-turbo/pro/text-to-video"
SPEC = Path(__file__).parent / "spec" / "fal_video_inputs.json"


@pytest.fixture
def fake() -> FakeFal:
    # Served, but on a clock the test moves: every status the client sees is the one the
    # test set up, however busy the machine. One slot: later requests queue behind it.
    return FakeFal(
        api_key=KEY, clock=ManualClock(start=1_800_000_000.0), generation_time=60, max_concurrent=1
    )


@pytest.fixture
def served(
    fake: FakeFal,
    tls_server_context: ssl.SSLContext,
    tls_ca_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """The fake on https://127.0.0.1:PORT, and the client's host and CA set as a user would."""
    with fake.serve(ssl_context=tls_server_context) as base_url:
        host = base_url.removeprefix("https://")
        monkeypatch.setenv("SSL_CERT_FILE", str(tls_ca_file))
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        # What FAL_QUEUE_RUN_HOST=host makes of it at import (auth.py, client.py:83-86).
        monkeypatch.setattr(fal_wire, "QUEUE_URL_FORMAT", f"https://{host}/")
        yield host


def test_the_official_client_completes_queues_and_cancels(fake: FakeFal, served: str) -> None:
    client = fal_client.SyncClient(key=KEY)
    try:
        first = client.submit(KLING, {"prompt": "a fox", "duration": "5"})
        second = client.submit("fal-ai/veo3.1", {"prompt": "a heron", "duration": "4s"})
        third = client.submit(KLING, {"prompt": "an owl", "aspect_ratio": "9:16"})
        queued = client.status(KLING, third.request_id)
        client.cancel("fal-ai/veo3.1", second.request_id)  # rebuilt URL: owner/alias only
        with pytest.raises(fal_client.FalClientHTTPError) as gone:
            client.status("fal-ai/veo3.1", second.request_id)
        running = first.status(with_logs=True)

        fake.advance(60)
        events = list(first.iter_events(with_logs=True, interval=0.01))
        output = first.get(interval=0.01)
        with pytest.raises(fal_client.FalClientHTTPError) as done:
            first.cancel()
        fake.advance(60)
        waited = client.result(KLING, third.request_id)

        stopped_handle = client.submit("fal-ai/veo3.1/fast", {"prompt": "a crane"})
        fake.advance(1)
        stopping = stopped_handle.status()
        stopped_handle.cancel()
        with pytest.raises(fal_client.FalClientHTTPError) as stopped:
            stopped_handle.get(interval=0.01)
    finally:
        client._client.close()

    assert isinstance(queued, fal_client.Queued) and queued.position == 1
    assert gone.value.status_code == 404
    assert isinstance(running, fal_client.InProgress)
    assert running.logs and running.logs[0]["level"] == "INFO"
    assert len(events) == 1 and isinstance(events[0], fal_client.Completed)
    assert events[0].metrics == {"inference_time": 60.0}
    assert (events[0].error, events[0].error_type) == (None, None)
    assert output["video"]["url"].startswith(f"https://{served}/_cdn/")
    assert output["video"]["content_type"] == "video/mp4"
    trusting = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    video = httpx.get(output["video"]["url"], verify=trusting)
    assert video.headers["content-type"] == "video/mp4"
    assert len(video.content) == output["video"]["file_size"]
    assert done.value.status_code == 400
    assert json.loads(done.value.message) == {"status": "ALREADY_COMPLETED"}
    assert waited["video"]["url"] != output["video"]["url"]
    assert isinstance(stopping, fal_client.InProgress)
    assert (stopped.value.status_code, stopped.value.error_type) == (499, "client_cancelled")
    cancels = [r.path for r in fake.requests if r.route == "cancel"]
    assert cancels[0] == f"/fal-ai/veo3.1/requests/{second.request_id}/cancel"
    queue = [r for r in fake.requests if r.route != "cdn"]
    assert all(r.headers["authorization"] == "Key <redacted>" for r in queue)
    assert all(r.headers["user-agent"].startswith("fal-client/1.0.3") for r in queue)
    assert fake.count(route="submit", tag="created") == 4
    assert fake.cancelled_ids() == [
        f"fal-ai:veo3.1:{second.request_id}",
        f"fal-ai:veo3.1:{stopped_handle.request_id}",
    ]
    assert fake.deleted_ids() == [f"fal-ai:veo3.1:{second.request_id}"]  # removed from the queue


@pytest.mark.anyio
async def test_the_official_async_client_and_a_failed_request(fake: FakeFal, served: str) -> None:
    client = fal_client.AsyncClient(key=KEY)
    try:
        handle = await client.submit(KLING, {"prompt": fake.failing_prompt})
        invalid = await client.submit(KLING, {"prompt": "a fox", "duration": 7})
        statuses = [s async for s in handle.iter_events(interval=0.02)]
        with pytest.raises(fal_client.FalClientHTTPError) as failed:
            await handle.get(interval=0.02)
        with pytest.raises(fal_client.FalClientHTTPError) as refused:
            await client.result(KLING, invalid.request_id)
    finally:
        await (await client._client).aclose()

    assert isinstance(statuses[-1], fal_client.Completed)
    assert failed.value.status_code == 422
    assert failed.value.message[0]["type"] == "content_policy_violation"
    assert failed.value.response_headers["x-fal-retryable"] == "false"
    assert refused.value.status_code == 422
    assert refused.value.message[0]["loc"] == ["body", "duration"]


def test_a_bad_key_is_refused_as_fal_client_reports_it(fake: FakeFal, served: str) -> None:
    client = fal_client.SyncClient(key="wrong")
    try:
        with pytest.raises(fal_client.FalClientHTTPError) as info:
            client.submit(KLING, {"prompt": "a fox"})
    finally:
        client._client.close()
    assert info.value.status_code == 401
    assert fake.created_count() == 0


@pytest.mark.slow
def test_the_environment_alone_points_a_fresh_client_at_the_fake(
    tls_server_context: ssl.SSLContext, tls_ca_file: Path
) -> None:
    fake = FakeFal(api_key=KEY, generation_time=0.05)  # real time: nothing asserted midway
    script = textwrap.dedent(
        f"""
        import json, fal_client
        client = fal_client.SyncClient()
        handle = client.submit({KLING!r}, {{"prompt": "a fox"}})
        output = handle.get(interval=0.02)
        client._client.close()
        print(json.dumps({{"id": handle.request_id, "url": output["video"]["url"]}}))
        """
    )
    with fake.serve(ssl_context=tls_server_context) as base_url:
        host = base_url.removeprefix("https://")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("FAL_", "SSL_CERT"))},
            "FAL_KEY": KEY,
            "FAL_QUEUE_RUN_HOST": host,
            "SSL_CERT_FILE": str(tls_ca_file),
        }
        done = subprocess.run(
            [sys.executable, "-X", "dev", "-W", "error", "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["url"].startswith(f"https://{host}/_cdn/{answer['id']}/")
    assert fake.created_count() == 1


# --- the model table against fal's own input schemas -------------------------------------


def _schemas() -> dict[str, dict[str, Any]]:
    loaded: dict[str, dict[str, Any]] = json.loads(SPEC.read_text())["endpoints"]
    return loaded


@pytest.mark.parametrize("endpoint", sorted(_schemas()))
def test_the_model_table_agrees_with_fals_input_schemas(endpoint: str) -> None:
    schema = _schemas()[endpoint]
    spec = FAL_MODELS[endpoint]
    fields = schema["fields"]
    duration = fields.get("duration")
    if duration is None:
        assert spec.durations == (), endpoint
    else:
        assert duration["enum"] == [spec.render_duration(d) for d in spec.durations], endpoint
    aspect = fields.get("aspect_ratio")
    assert [a for a in (aspect or {}).get("enum", []) if a != "auto"] == list(spec.aspect_ratios), (
        endpoint
    )
    resolution = fields.get("resolution")
    assert sorted((resolution or {}).get("enum", [])) == sorted(
        (*spec.resolutions, *spec.extra_resolutions)
    ), endpoint
    audio = fields.get("generate_audio")
    assert (None if audio is None else audio.get("default")) == spec.audio, endpoint
    image = [
        name for name in ("image_url", "start_image_url") if fields.get(name, {}).get("required")
    ]
    assert image == ([spec.image_field] if spec.image_field else []), endpoint
    prompt = fields["prompt"]
    assert prompt["required"] and prompt.get("max") == spec.max_prompt, endpoint


def test_every_schema_backed_endpoint_of_the_table_is_checked() -> None:
    from_pages = {n for n in FAL_MODELS if n.startswith("bytedance/seedance-2.0/")}
    assert set(_schemas()) == set(FAL_MODELS) - from_pages
