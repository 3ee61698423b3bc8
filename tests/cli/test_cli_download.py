"""Where ``download`` and ``create --out`` put a file, and when they refuse to (``--force``).

Through ``main()`` in this process, each call a fresh client on the same ledger file, as
separate processes would be.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import soravideo as sv
from soravideo.cli._main import EXIT_OK, EXIT_USAGE, main
from soravideo.repositories import SQLiteRepository
from soravideo.testing import FakeSora, check_exactly_once
from soravideo.transports import SoraTransport

KEY = "sk-cli-download-0123456789"


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SORAVIDEO_", "OPENAI_", "RUNWAYML_")):
            monkeypatch.delenv(name)

    def run(*args: str, provider: tuple[str, ...] = ("--provider", "simulated")) -> Run:
        out, err = io.StringIO(), io.StringIO()
        code = main([*provider, "--db", "ledger.db", *args], stdout=out, stderr=err)
        return Run(code, out.getvalue(), err.getvalue())

    return run


def files(directory: Path) -> list[str]:
    """Every file below ``directory``, hidden ones (temporary files) included."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def made(cli: Any) -> dict[str, Any]:
    result = cli("--json", "create", "a red fox", "--wait", "--out", "fox.mp4")
    assert result.code == EXIT_OK, result.err
    job: dict[str, Any] = result.json()
    return job


def test_out_ending_in_a_separator_is_a_directory_made_if_missing(cli: Any, tmp_path: Path) -> None:
    job = made(cli)
    copied = cli("--json", "download", job["id"], "--out", "newdir/")
    assert copied.code == EXIT_OK, copied.err
    target = tmp_path / "newdir" / f"{job['id']}.mp4"
    assert copied.json()["path"] == str(target)
    assert target.read_bytes() == (tmp_path / "fox.mp4").read_bytes()
    assert files(tmp_path) == sorted(["fox.mp4", "ledger.db", f"newdir/{job['id']}.mp4"])


def test_an_existing_file_needs_force(cli: Any, tmp_path: Path) -> None:
    job = made(cli)
    mine = tmp_path / "copy.mp4"
    mine.write_bytes(b"my own video")
    refused = cli("download", job["id"], "--out", "copy.mp4")
    assert refused.code == EXIT_USAGE
    assert refused.err.strip() == f"error: {mine} already exists; use --force to replace it"
    assert mine.read_bytes() == b"my own video"
    assert not [name for name in files(tmp_path) if name.endswith(".part")]

    forced = cli("download", job["id"], "--out", "copy.mp4", "--force")
    assert forced.code == EXIT_OK, forced.err
    assert mine.read_bytes() == (tmp_path / "fox.mp4").read_bytes()
    # The file the job was saved to is its own copy: asking for it again is not an error.
    again = cli("download", job["id"], "--out", "fox.mp4")
    assert again.code == EXIT_OK, again.err


def test_create_out_refuses_an_existing_file_before_anything_is_stored(
    cli: Any, tmp_path: Path
) -> None:
    mine = tmp_path / "fox.mp4"
    mine.write_bytes(b"my own video")
    refused = cli("create", "a red fox", "--out", "fox.mp4")
    assert refused.code == EXIT_USAGE
    assert str(mine) in refused.err and "--force" in refused.err
    assert mine.read_bytes() == b"my own video"
    assert not (tmp_path / "ledger.db").exists()  # nothing stored: not even a ledger made

    forced = cli("--json", "create", "a red fox", "--out", "fox.mp4", "--force")
    assert forced.code == EXIT_OK, forced.err
    assert mine.stat().st_size == forced.json()["result"]["bytes"]
    into = cli("--json", "create", "a cat", "--out", "cats/")
    assert into.code == EXIT_OK, into.err
    assert (tmp_path / "cats" / f"{into.json()['id']}.mp4").is_file()


@pytest.fixture
def served() -> Iterator[tuple[FakeSora, str]]:
    fake = FakeSora(api_key=KEY, generation_time=0.05)
    with fake.serve() as base_url:
        yield fake, base_url


def test_download_from_the_provider_follows_the_same_rules(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served: tuple[FakeSora, str]
) -> None:
    fake, base_url = served
    transport = SoraTransport(base_url=base_url, api_key=KEY)
    with sv.SoraVideo(
        transport=transport,
        repository=SQLiteRepository(tmp_path / "ledger.db"),
        poll_min_interval=0.01,
    ) as client:
        job = client.videos.wait_for_job(
            client.videos.create_video(sv.CreateVideoRequest(prompt="a heron")).id
        )
        assert job.status is sv.JobStatus.COMPLETED
    monkeypatch.setenv("SORAVIDEO_API_KEY", KEY)
    provider = ("--provider", "sora", "--base-url", base_url)
    content = f"/videos/{job.remote_id}/content"

    thumbs = cli(
        "download", job.id, "--variant", "thumbnail", "--out", "thumbs/", provider=provider
    )
    assert thumbs.code == EXIT_OK, thumbs.err
    target = tmp_path / "thumbs" / f"{job.id}.webp"
    assert target.read_bytes()[:4] == b"RIFF"
    assert fake.count("GET", content) == 1

    again = cli("download", job.id, "--variant", "thumbnail", "--out", "thumbs", provider=provider)
    assert again.code == EXIT_USAGE
    assert f"{target} already exists; use --force" in again.err
    assert fake.count("GET", content) == 1  # nothing fetched

    forced = cli(
        "download",
        job.id,
        "--variant",
        "thumbnail",
        "--out",
        "thumbs",
        "--force",
        provider=provider,
    )
    assert forced.code == EXIT_OK, forced.err
    assert fake.count("GET", content) == 2
    assert files(tmp_path / "thumbs") == [target.name]
    jobs = sv.SoraVideo(
        transport=SoraTransport(base_url=base_url, api_key=KEY),
        repository=SQLiteRepository(tmp_path / "ledger.db"),
    )
    with jobs as client:
        check_exactly_once(fake, client.videos.list_jobs().items)
