"""Everyday use [W2-9 items 6–10]: a missing key up front, one model catalogue per provider,
``budget_usd`` one way, CLI advice in CLI words, a simulator for every provider."""

from __future__ import annotations

import io
import json
import os
import typing
from pathlib import Path
from typing import Any

import pytest
import typing_extensions as te

import soravideo as sv
from soravideo.cli import main
from soravideo.repositories import MemoryRepository
from soravideo.testing import check_exactly_once, check_ledger_exactly_once
from soravideo.transports import RunwayTransport, SoraTransport
from soravideo.transports.runway import RUNWAY_ENDPOINT_MODELS, RUNWAY_MODELS

PROVIDERS = ("sora", "runway", "fal", "openrouter", "gemini", "replicate")
KEY_PREFIXES = (
    "SORAVIDEO_",
    "OPENAI_",
    "RUNWAYML_",
    "FAL_",
    "OPENROUTER_",
    "GOOGLE_",
    "GEMINI_",
    "REPLICATE_",
)


@pytest.fixture
def no_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(KEY_PREFIXES):
            monkeypatch.delenv(name)
    return tmp_path


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------- 6. a missing key


def test_a_client_without_a_key_is_refused_at_creation_and_stores_nothing(no_keys: Path) -> None:
    with pytest.raises(sv.AuthenticationError) as caught:
        sv.SoraVideo()
    message = str(caught.value)
    assert "SORAVIDEO_API_KEY" in message and "OPENAI_API_KEY" in message
    assert "RUNWAYML_API_SECRET" in message and "simulated()" in message
    assert not (no_keys / "soravideo.db").exists()
    with pytest.raises(sv.AuthenticationError, match="RUNWAYML_API_SECRET"):
        sv.AsyncSoraVideo(transport=RunwayTransport(), repository=MemoryRepository())


def test_a_keyless_gateway_and_the_simulators_need_no_key(no_keys: Path) -> None:
    gateway = sv.AsyncSoraVideo(
        transport=SoraTransport(base_url="http://127.0.0.1:9/v1"),
        repository=MemoryRepository(),
    )
    assert gateway.transport.capabilities.default_model == "sora-2"
    for provider in PROVIDERS:
        sv.AsyncSoraVideo.simulated(provider=provider)


def test_the_cli_names_the_variables_of_its_provider(no_keys: Path) -> None:
    code, _, err = run_cli("--db", "ledger.db", "create", "a fox")
    assert code != 0
    assert "SORAVIDEO_API_KEY or OPENAI_API_KEY" in err
    assert "--provider simulated" in err
    code, _, err = run_cli("--provider", "runway", "--db", "ledger.db", "create", "a fox")
    assert code != 0 and "RUNWAYML_API_SECRET" in err
    assert not (no_keys / "ledger.db").exists()


# ---------------------------------------------------------------- 7. one catalogue of models


def literal_models(union: Any) -> set[str]:
    names: set[str] = set()
    for member in typing.get_args(union):
        hint = te.get_type_hints(member, include_extras=True)["model"]
        while typing.get_origin(hint) in (te.Required, te.NotRequired, te.Annotated):
            hint = typing.get_args(hint)[0]
        names.update(typing.get_args(hint))
    return names


def test_runways_catalogue_is_the_official_clients() -> None:
    from runwayml.types import image_to_video_create_params, text_to_video_create_params

    text = literal_models(text_to_video_create_params.TextToVideoCreateParams)
    image = literal_models(image_to_video_create_params.ImageToVideoCreateParams)
    assert len(text) == 24
    assert set(RUNWAY_ENDPOINT_MODELS["text_to_video"]) == text
    assert set(RUNWAY_ENDPOINT_MODELS["image_to_video"]) == image
    assert set(RUNWAY_MODELS) <= text | image
    transport = RunwayTransport(api_key="key_test")
    assert set(transport.capabilities.models) == text | image


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_unknown_model_is_refused_with_the_list(provider: str) -> None:
    with sv.SoraVideo.simulated(provider=provider) as client:
        if not client.transport.capabilities.allows_unknown_models:
            with pytest.raises(sv.ValidationError) as caught:
                client.videos.create_video(sv.CreateVideoRequest(prompt="a fox", model="sora-3"))
            (error,) = [e for e in caught.value.errors if e.field == "model"]
            known = next(iter(client.transport.capabilities.models))
            assert "sora-3" in error.message and known in error.message
            with pytest.raises(sv.ValidationError, match="model"):
                client.batches.create_batch(
                    sv.BatchVideoRequest(videos=[sv.CreateVideoRequest(prompt="a", model="x")])
                )
        assert client.videos.list_jobs().total == 0


def test_an_unknown_model_passes_through_on_purpose() -> None:
    transport = SoraTransport(
        base_url="http://gateway.invalid/v1", api_key="sk-test", allow_unknown_models=True
    )
    client = sv.AsyncSoraVideo(transport=transport, repository=MemoryRepository())
    request = sv.CreateVideoRequest(prompt="a fox", model="wan-2.5")
    assert client.videos.validate(request) == []
    closed = sv.AsyncSoraVideo.simulated()
    assert [e.field for e in closed.videos.validate(request)] == ["model"]


def test_fake_runway_makes_every_model_of_the_catalogue() -> None:
    models = RUNWAY_ENDPOINT_MODELS["text_to_video"]
    with sv.SoraVideo.simulated(provider="runway", max_batch_size=len(models)) as client:
        created = client.batches.create_batch(
            sv.BatchVideoRequest(
                videos=[sv.CreateVideoRequest(prompt="a fox", model=m) for m in models]
            )
        )
        batch = client.batches.process_batch(created.batch_id)
        assert batch.status is sv.BatchStatus.COMPLETED, batch
        assert client.fake is not None
        check_exactly_once(client.fake, client.batches.get_batch_status(created.batch_id).jobs)


# ---------------------------------------------------------------- 8. budget_usd one way


def two_videos() -> sv.BatchVideoRequest:
    return sv.BatchVideoRequest(
        videos=[sv.CreateVideoRequest(prompt=p, duration=8) for p in ("a fox", "a hare")]
    )


@pytest.mark.anyio
async def test_budget_usd_is_a_keyword_of_create_batch_too() -> None:
    async with sv.AsyncSoraVideo.simulated() as client:
        with pytest.raises(sv.BudgetExceededError):
            await client.batches.create_batch(two_videos(), budget_usd=1)
        created = await client.batches.create_batch(two_videos(), budget_usd=10)
        report = await client.batches.get_batch_status(created.batch_id)
        assert report.batch.budget_usd == 10
        with pytest.raises(sv.ValidationError) as caught:
            await client.batches.create_batch(
                sv.BatchVideoRequest(videos=two_videos().videos, budget_usd=10), budget_usd=10
            )
        assert [e.field for e in caught.value.errors] == ["budget_usd"]
        await client.batches.process_batch(created.batch_id)
        assert client.fake is not None
        await check_ledger_exactly_once(client.fake, client.repository)


def test_budget_usd_one_way_sync_and_from_a_file(tmp_path: Path) -> None:
    manifest = tmp_path / "prompts.jsonl"
    manifest.write_text('{"prompt": "a fox", "duration": 8}\n{"prompt": "a hare", "duration": 8}\n')
    with sv.SoraVideo.simulated() as client:
        with pytest.raises(sv.BudgetExceededError):
            client.batches.create_batch(two_videos(), budget_usd=1)
        with pytest.raises(sv.BudgetExceededError):
            client.batches.create_batch_from_file(manifest, budget_usd=1)
        created = client.batches.create_batch_from_file(manifest, budget_usd=10)
        batch = client.batches.process_batch(created.batch_id)
        assert batch.status is sv.BatchStatus.COMPLETED
        assert client.fake is not None
        check_exactly_once(client.fake, client.batches.get_batch_status(created.batch_id).jobs)


# ---------------------------------------------------------------- 9. CLI advice


def test_the_cli_names_its_own_option_for_a_large_batch(no_keys: Path) -> None:
    manifest = no_keys / "prompts.csv"
    manifest.write_text("prompt\n" + "".join(f"video {i}\n" for i in range(25)))
    code, _, err = run_cli("--provider", "simulated", "--db", "ledger.db", "batch", str(manifest))
    assert code == 2
    assert "--max-batch-size 25" in err and "SoraVideo(" not in err
    code, out, _ = run_cli(
        "--provider", "simulated", "--db", "ledger.db", "--json", "batch", str(manifest)
    )
    assert "SoraVideo(" not in out and "--max-batch-size 25" in json.dumps(json.loads(out))


def test_the_cli_tells_its_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli("--version")
    assert code == 0
    assert (out or capsys.readouterr().out).strip() == f"soravideo {sv.__version__}"


# ---------------------------------------------------------------- 10. every provider simulated


@pytest.mark.anyio
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_every_provider_has_an_async_simulator(provider: str, tmp_path: Path) -> None:
    async with sv.AsyncSoraVideo.simulated(provider=provider) as client:
        assert client.transport.name == provider
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="a red fox"))
        done = await client.videos.wait_for_job(job.id, timeout=3600)
        assert done.status is sv.JobStatus.COMPLETED, done.error
        path = await client.videos.download_video(job.id, tmp_path / "fox.mp4")
        assert Path(path).stat().st_size > 0
        assert client.fake is not None
        await check_ledger_exactly_once(client.fake, client.repository)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_provider_has_a_sync_simulator(provider: str, tmp_path: Path) -> None:
    with sv.SoraVideo.simulated(provider=provider, generation_time=300) as client:
        job = client.videos.create_video(sv.CreateVideoRequest(prompt="a red fox"))
        done = client.videos.wait_for_job(job.id, timeout=3600)
        assert done.status is sv.JobStatus.COMPLETED, done.error
        path = client.videos.download_video(job.id, tmp_path / "fox.mp4")
        assert Path(path).stat().st_size > 0
        assert client.fake is not None
        check_exactly_once(client.fake, [client.videos.get_job(job.id)])


def test_an_unknown_simulator_is_refused() -> None:
    with pytest.raises(sv.ValidationError, match="provider"):
        sv.SoraVideo.simulated(provider="pika")


@pytest.mark.parametrize("provider", ["runway", "gemini"])
def test_the_cli_simulates_a_provider(no_keys: Path, provider: str) -> None:
    code, out, err = run_cli(
        "--provider",
        "simulated",
        "--simulate",
        provider,
        "--db",
        "ledger.db",
        "--json",
        "create",
        "a red fox",
        "--wait",
        "--out",
        "fox.mp4",
    )
    assert code == 0, err
    assert json.loads(out)["provider"] == provider
    assert (no_keys / "fox.mp4").stat().st_size > 0
    code, _, err = run_cli("--simulate", "runway", "--db", "ledger.db", "list")
    assert code == 2 and "--simulate goes with --provider simulated" in err


def test_the_runway_page_handles_a_failed_job_and_runs_offline(no_keys: Path) -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "runway.md").read_text("utf-8")
    first, offline = [
        block.split("\n", 1)[1]
        for block in page.split("```")[1::2][:2]
        if block.startswith("python")
    ]
    assert "job.status is sv.JobStatus.COMPLETED" in first
    with pytest.raises(sv.AuthenticationError, match="RUNWAYML_API_SECRET"):
        exec(compile(first, "docs/runway.md", "exec"), {})
    exec(compile(offline, "docs/runway.md", "exec"), {})
