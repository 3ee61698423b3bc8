"""FakeGemini against the official ``google-genai`` client (3.6.1), served on loopback.

The client is a dev dependency used only here (it needs Python 3.11 or later: elsewhere
this module is skipped). Unchanged but for ``base_url``, key and one attempt per call, it
creates, reads and cancels interactions, reads Veo operations and downloads their files
(``files.download``) against FakeGemini, under ``/v1`` (its default) and ``/v1beta``. Its
own types parse every answer; its errors carry Google's statuses. The Veo create itself
cannot be sent with this client in API-key mode (``generate_videos`` is refused outside
Vertex), so it is sent by GeminiTransport and the client takes over from the operation.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

import soravideo as sv
from helpers import tls
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeGemini, ManualClock, check_ledger_exactly_once
from soravideo.transports import GeminiTransport

if sys.version_info < (3, 11):  # pragma: no cover - google-genai needs 3.11
    pytest.skip("google-genai needs Python 3.11 or later", allow_module_level=True)


class _Imported:
    """A module imported on first use, in the test that uses it (skipped if it is missing).

    Every pytest-xdist worker collects this module, and one runs its tests: importing
    google-genai (about a second) at collection would cost each of the others as much.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_") or attribute == "pytestmark":
            raise AttributeError(attribute)  # pytest looking at the module's names
        return getattr(pytest.importorskip(self._name), attribute)


genai = _Imported("google.genai")
types = _Imported("google.genai.types")
errors = _Imported("google.genai.errors")
interactions_errors = _Imported("google.genai._interactions_errors")

KEY = "AIza-fidelity-0123456789abcdef"
START = 1_800_000_000.0
ENV = (
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_GENAI_HTTP_CLIENT",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake() -> FakeGemini:
    return FakeGemini(api_key=KEY, clock=ManualClock(start=START), generation_time=60.0)


@pytest.fixture
def base_url(fake: FakeGemini) -> Iterator[str]:
    with fake.serve() as url:
        yield url


def client(base_url: str, *, key: str = KEY, version: str | None = None) -> Any:
    options: dict[str, Any] = {
        "base_url": base_url,
        "retry_options": {"attempts": 1},
        # The tests' shared TLS context (httpx's ``verify``, aiohttp's and websockets'
        # ``ssl``): the SDK would otherwise build its own for each client, tens of ms each.
        "client_args": {"verify": tls()},
        "async_client_args": {"verify": tls(), "ssl": tls()},
    }
    if version is not None:
        options["api_version"] = version
    return genai.Client(api_key=key, http_options=options)


def video_of(interaction: Any) -> Any:
    return next(
        block
        for step in interaction.steps
        if step.type == "model_output"
        for block in step.content
        if block.type == "video"
    )


@pytest.mark.parametrize("version", [None, "v1beta"])
def test_the_official_client_completes_and_cancels_interactions(
    fake: FakeGemini, base_url: str, version: str | None
) -> None:
    with client(base_url, version=version) as gemini:
        made = gemini.interactions.create(
            model="gemini-omni-1.1-flash",
            input="a red fox in fresh snow",
            background=True,
            response_format={
                "type": "video",
                "aspect_ratio": "9:16",
                "resolution": "720p",
                "duration": "8s",
            },
            response_modalities=["video"],
        )
        assert made.status == "queued"
        assert made.id in fake.created_ids()
        fake.advance(61)
        done = gemini.interactions.get(made.id)
        assert done.status == "completed"
        video = video_of(done)
        assert video.mime_type == "video/mp4"
        assert base64.b64decode(video.data) == fake.video_bytes(made.id)
        assert done.usage.output_tokens_by_modality[0].modality == "video"

        other = gemini.interactions.create(
            model="gemini-omni-1.1-flash",
            input=[
                {"type": "text", "text": "animate this"},
                {"type": "image", "data": base64.b64encode(b"\x89PNG0000").decode(), "mime_type": "image/png"},
            ],
            background=True,
            response_format={"type": "video"},
        )  # fmt: skip
        assert gemini.interactions.cancel(other.id).status == "cancelled"
        assert gemini.interactions.get(other.id).status == "cancelled"
    paths = {r.path.split("/")[1] for r in fake.requests}
    assert paths == {version or "v1"}
    assert fake.create_params(other.id)["images"] == [{"data_length": 12, "mime_type": "image/png"}]
    assert fake.cancelled_ids() == [other.id]
    assert all(r.headers.get("x-goog-api-key") == "<redacted>" for r in fake.requests)


def test_a_uri_delivery_is_downloaded_as_files_download_does(
    fake: FakeGemini, base_url: str
) -> None:
    with client(base_url) as gemini:
        made = gemini.interactions.create(
            model="gemini-omni-1.2-flash",
            input="a lighthouse",
            background=True,
            response_format={"type": "video", "delivery": "uri"},
        )
        fake.advance(61)
        video = video_of(gemini.interactions.get(made.id))
        assert video.uri.startswith("https://")
        assert gemini.files.download(file=video.uri) == fake.video_bytes(made.id)
    assert fake.download_count(200) == 1


@pytest.mark.anyio
async def test_the_client_reads_and_downloads_a_veo_operation_the_transport_created(
    fake: FakeGemini, base_url: str
) -> None:
    transport = GeminiTransport(base_url=base_url, api_key=KEY, clock=fake.clock)
    async with transport:
        remote = await transport.submit(
            sv.CreateVideoRequest(prompt="a dog surfing", model="veo-3.1-generate-preview"),
            idempotency_key="veo-1",
        )
    name = fake.job(remote.remote_id)["name"]
    with client(base_url) as gemini:
        running = gemini.operations.get(types.GenerateVideosOperation(name=name))
        assert not running.done
        fake.advance(61)
        done = gemini.operations.get(running)
        assert done.done and done.error is None
        generated = done.response.generated_videos[0]
        data = gemini.files.download(file=generated)
    assert data == fake.video_bytes(remote.remote_id)
    assert [r.path for r in fake.requests if r.route == "download"] == [
        f"/v1/files/{generated.video.uri.split('files/')[1].split(':')[0]}:download"
    ]


def test_a_filtered_veo_video_reads_as_the_client_expects(fake: FakeGemini, base_url: str) -> None:
    async def create() -> str:
        async with GeminiTransport(base_url=base_url, api_key=KEY, clock=fake.clock) as transport:
            prompt = f"a cat, {fake.failing_prompt}"
            request = sv.CreateVideoRequest(prompt=prompt, model="veo-3.1-fast-generate-preview")
            return (await transport.submit(request, idempotency_key="f")).remote_id

    remote_id = anyio.run(create)
    fake.advance(61)
    with client(base_url) as gemini:
        op = gemini.operations.get(types.GenerateVideosOperation(name=fake.job(remote_id)["name"]))
    assert op.done
    assert op.response.rai_media_filtered_count == 1
    assert not op.response.generated_videos


def test_errors_reach_the_client_as_googles(fake: FakeGemini, base_url: str) -> None:
    with (
        client(base_url, key="AIza-wrong") as gemini,
        pytest.raises(interactions_errors.APIStatusError) as refused,
    ):
        gemini.interactions.get("v1_missing")
    assert refused.value.status_code == 400
    assert "API key not valid" in str(refused.value)

    fake.inject(status=429, match="POST /v1/interactions")
    with client(base_url) as gemini:
        with pytest.raises(interactions_errors.RateLimitError):
            gemini.interactions.create(
                model="gemini-omni-1.1-flash",
                input="x",
                background=True,
                response_format={"type": "video"},
            )
        with pytest.raises(interactions_errors.NotFoundError):
            gemini.interactions.get("v1_missing")
        with pytest.raises(errors.ClientError) as missing:
            gemini.operations.get(
                types.GenerateVideosOperation(name="models/veo-3.1-generate-preview/operations/x")
            )
    assert (missing.value.code, missing.value.status) == (404, "NOT_FOUND")
    assert fake.created_count() == 0


@pytest.mark.anyio
async def test_the_async_client_and_the_engine_agree_with_the_fake(
    fake: FakeGemini, base_url: str
) -> None:
    repository = MemoryRepository()
    transport = GeminiTransport(base_url=base_url, api_key=KEY, clock=fake.clock)
    async with sv.AsyncSoraVideo(transport=transport, repository=repository) as videos:
        job = await videos.videos.create_video(sv.CreateVideoRequest(prompt="a heron", duration=4))
        for _ in range(200):
            job = await videos.videos.get_job(job.id)
            if job.remote_id is not None:
                break
            await anyio.sleep(0.01)
        assert job.remote_id is not None
        gemini = client(base_url)
        try:
            seen = await gemini.aio.interactions.get(job.remote_id)
            assert seen.status == "queued"
            assert seen.model == "gemini-omni-1.2-flash"
        finally:
            gemini.close()
            await gemini.aio.aclose()
        await videos.videos.cancel_job(job.id)
    assert fake.status_of(job.remote_id) == "cancelled"
    await check_ledger_exactly_once(fake, repository)


@pytest.mark.anyio
async def test_the_transports_create_body_is_one_the_official_client_sends(
    fake: FakeGemini, base_url: str, tmp_path: Any
) -> None:
    image = tmp_path / "frame.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    request = sv.CreateVideoRequest(
        prompt="a kite",
        model="gemini-omni-1.1-flash",
        duration=6,
        resolution="1080p",
        aspect_ratio="16:9",
        input_reference=str(image),
        provider_options={"delivery": "uri", "generation_config": {"seed": 7}},
    )
    async with GeminiTransport(base_url=base_url, api_key=KEY, clock=fake.clock) as transport:
        await transport.submit(request, idempotency_key="k")
    sent = fake.requests[-1].json()
    with client(base_url) as gemini:
        # Unknown keyword arguments raise TypeError in the client: every key is one of its own.
        gemini.interactions.create(**sent)
    again = fake.requests[-1].json()
    # The client rewrites a list of content blocks into one user_input step.
    assert again.pop("input") == [{"type": "user_input", "content": sent.pop("input")}]
    assert again == sent
    assert fake.created_count() == 2
