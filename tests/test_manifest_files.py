"""Files a manifest names ([W2-2] item 7): confined to the manifest's folder (or ``base_dir``)
and to JPEG, PNG and WebP images, refused by row and field otherwise, with nothing stored.

A CSV or JSONL row with ``input_reference=/etc/passwd`` once uploaded that file to the
provider.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import soravideo as sv
from helpers import assert_exactly_once, assert_no_requests
from soravideo.cli._main import EXIT_OK, EXIT_USAGE, main
from soravideo.testing._media import jpeg, webp

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = jpeg(width=16, height=16)
WEBP = webp(width=16, height=16)
GIF = b"GIF89a" + b"\x00" * 64


@pytest.fixture
async def client() -> AsyncIterator[sv.AsyncSoraVideo]:
    async with sv.AsyncSoraVideo.simulated(generation_time=30) as c:
        yield c
    await assert_exactly_once(c, settled=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A manifest folder with one image of each kind, and a secret beside it."""
    ads = tmp_path / "ads"
    (ads / "img").mkdir(parents=True)
    (ads / "img" / "fox.png").write_bytes(PNG)
    (ads / "img" / "fox.jpg").write_bytes(JPEG)
    (ads / "img" / "fox.webp").write_bytes(WEBP)
    (tmp_path / "secret.png").write_bytes(PNG)  # an image, but outside the folder
    (tmp_path / "secret.txt").write_text("password=hunter2\n")
    return ads


def write_manifest(folder: Path, refs: list[str], kind: str) -> Path:
    """Write a manifest whose row ``i + 2`` (CSV) or ``i + 1`` (JSONL) names ``refs[i]``."""
    if kind == "csv":
        lines = ["prompt,input_reference"]
        lines += [f'"video {i}","{ref}"' for i, ref in enumerate(refs)]
        path = folder / "ads.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        rows = [
            json.dumps({"prompt": f"video {i}", "input_reference": r}) for i, r in enumerate(refs)
        ]
        path = folder / "ads.jsonl"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def first_row(kind: str) -> int:
    return 2 if kind == "csv" else 1


async def assert_nothing_stored(client: sv.AsyncSoraVideo) -> None:
    assert (await client.videos.list_jobs()).total == 0
    assert (await client.batches.list_batches()).total == 0
    assert client.fake is not None
    assert_no_requests(client.fake)


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
async def test_images_inside_the_folder_are_sent_by_their_real_path(
    client: sv.AsyncSoraVideo, folder: Path, kind: str
) -> None:
    manifest = write_manifest(folder, ["img/fox.png", "img/fox.jpg", "./img/../img/fox.webp"], kind)
    created = await client.batches.create_batch_from_file(manifest)
    report = await client.batches.get_batch_status(created.batch_id)
    refs = [job.request.input_reference for job in report.jobs]
    real = os.path.realpath(folder / "img")
    assert refs == [os.path.join(real, name) for name in ("fox.png", "fox.jpg", "fox.webp")]
    batch = await client.batches.process_batch(created.batch_id)
    assert batch.status is sv.BatchStatus.COMPLETED
    assert client.fake is not None
    uploads = [client.fake.create_params(i)["input_reference"] for i in client.fake.created_ids()]
    assert sorted(u["bytes"] for u in uploads) == sorted([len(PNG), len(JPEG), len(WEBP)])


OUTSIDE = [
    ("/etc/passwd", "leads outside"),
    ("../secret.png", "leads outside"),
    ("img/../../secret.txt", "leads outside"),
    ("{tmp}/secret.png", "leads outside"),  # absolute, an image, but outside the folder
    ("img/missing.png", "file not found"),
    ("img", "not a regular file"),
    ("notes.txt", "not a JPEG, PNG or WebP image"),
    ("anim.gif", "not a JPEG, PNG or WebP image"),
    ("empty.png", "not a JPEG, PNG or WebP image"),
]


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
@pytest.mark.parametrize(("ref", "why"), OUTSIDE)
async def test_a_file_outside_the_folder_or_not_an_image_is_refused_by_row(
    client: sv.AsyncSoraVideo, folder: Path, kind: str, ref: str, why: str
) -> None:
    (folder / "notes.txt").write_text("not an image")
    (folder / "anim.gif").write_bytes(GIF)
    (folder / "empty.png").write_bytes(b"")
    ref = ref.format(tmp=folder.parent)
    manifest = write_manifest(folder, ["img/fox.png", ref], kind)
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch_from_file(manifest)
    row = first_row(kind) + 1
    assert info.value.fields == (f"row {row}: input_reference",)
    assert why in info.value.errors[0].message
    assert "hunter2" not in str(info.value)
    await assert_nothing_stored(client)


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
async def test_symbolic_links_must_stay_inside_the_folder(
    client: sv.AsyncSoraVideo, folder: Path, kind: str
) -> None:
    try:
        (folder / "inside.png").symlink_to(folder / "img" / "fox.png")
        (folder / "outside.png").symlink_to(folder.parent / "secret.png")
        (folder / "linked").symlink_to(folder.parent, target_is_directory=True)
    except OSError:
        pytest.skip("this file system cannot make symbolic links")
    manifest = write_manifest(folder, ["inside.png", "outside.png", "linked/secret.png"], kind)
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch_from_file(manifest)
    row = first_row(kind)
    assert info.value.fields == (
        f"row {row + 1}: input_reference",
        f"row {row + 2}: input_reference",
    )
    await assert_nothing_stored(client)
    # A link that stays inside is followed, and the request holds the file it leads to.
    manifest = write_manifest(folder, ["inside.png"], kind)
    created = await client.batches.create_batch_from_file(manifest)
    (job,) = (await client.batches.get_batch_status(created.batch_id)).jobs
    assert job.request.input_reference == os.path.realpath(folder / "img" / "fox.png")


async def test_base_dir_names_the_folder_files_must_be_in(
    client: sv.AsyncSoraVideo, folder: Path, tmp_path: Path
) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    manifest = write_manifest(manifests, [str(folder / "img" / "fox.png"), "img/fox.jpg"], "csv")
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch_from_file(manifest)
    # Without base_dir the manifest's own folder holds: neither file is in it.
    assert info.value.fields == ("row 2: input_reference", "row 3: input_reference")
    await assert_nothing_stored(client)
    created = await client.batches.create_batch_from_file(manifest, base_dir=folder)
    assert created.total == 2
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch_from_file(manifest, base_dir=folder / "img")
    assert info.value.fields == ("row 3: input_reference",)  # img/img/fox.jpg is not there


@pytest.mark.parametrize(
    "base_dir", ["{tmp}/nowhere", "{tmp}/ads/img/fox.png", 42, "", b"/tmp", ["/tmp"]]
)
async def test_a_base_dir_that_is_not_a_folder_is_refused(
    client: sv.AsyncSoraVideo, folder: Path, base_dir: Any
) -> None:
    manifest = write_manifest(folder, ["img/fox.png"], "csv")
    if isinstance(base_dir, str) and base_dir:
        base_dir = base_dir.format(tmp=folder.parent)
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch_from_file(manifest, base_dir=base_dir)
    assert info.value.fields == ("base_dir",)
    await assert_nothing_stored(client)


async def test_urls_and_defaults_are_not_confined(
    client: sv.AsyncSoraVideo, folder: Path, tmp_path: Path
) -> None:
    manifest = folder / "ads.jsonl"
    manifest.write_text(
        json.dumps({"prompt": "from a URL", "input_reference": "https://cdn.example/fox.png"})
        + "\n"
        + json.dumps({"prompt": "from the default"})
        + "\n"
    )
    # A default is the caller's own choice, not the manifest's: it is used as given.
    default = str(tmp_path / "secret.png")
    created = await client.batches.create_batch_from_file(manifest, input_reference=default)
    jobs = (await client.batches.get_batch_status(created.batch_id)).jobs
    assert [j.request.input_reference for j in jobs] == ["https://cdn.example/fox.png", default]


@pytest.mark.parametrize(
    ("row", "field", "why"),
    [
        ({"prompt": "x", "input_reference": 123}, "row 1: input_reference", "file path"),
        ({"prompt": "x", "input_reference": ["a.png"]}, "row 1: input_reference", "file path"),
        ({"prompt": "x", "priority": "bogus"}, "row 1: priority", "low, normal"),
        ({"prompt": "x", "metadata": "abc"}, "row 1: metadata", "JSON object"),
        ({"prompt": "x", "metadata": [1]}, "row 1: metadata", "strings"),
        ({"prompt": "x", "metadata": "abc", "metadata.k": "v"}, "row 1: metadata", "object"),
        ({"prompt": "x", "provider_options": [1, 2]}, "row 1: provider_options", "mapping"),
        ({"prompt": "x", "duration": 2**70}, "row 1: duration", "at most"),
    ],
)
async def test_wrong_types_in_a_row_are_named_not_raised(
    client: sv.AsyncSoraVideo, tmp_path: Path, row: dict[str, Any], field: str, why: str
) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps(row) + "\n")
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch_from_file(manifest)
    assert info.value.fields == (field,)
    assert why in info.value.errors[0].message
    await assert_nothing_stored(client)


async def test_a_deeply_nested_or_oversized_manifest_is_a_validation_error(
    client: sv.AsyncSoraVideo, tmp_path: Path
) -> None:
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"prompt": "x", "provider_options": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch_from_file(deep)
    assert info.value.fields == ("row 1",)
    cell = tmp_path / "cell.csv"
    cell.write_text('prompt,provider_options\nx,"' + "[" * 100_000 + "]" * 100_000 + '"\n')
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch_from_file(cell)
    assert info.value.fields in (("row 2: provider_options",), ("row 2",))
    huge = tmp_path / "huge.csv"
    huge.write_text('prompt\n"' + "x" * 200_000 + '"\n')  # over the csv module's cell limit
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch_from_file(huge)
    assert info.value.fields == ("row 2",)
    await assert_nothing_stored(client)


def test_the_sync_twin_takes_base_dir(folder: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, ["img/fox.png"], "csv")
    with sv.SoraVideo.simulated() as client:
        with pytest.raises(sv.ValidationError):
            client.batches.create_batch_from_file(manifest)
        created = client.batches.create_batch_from_file(manifest, base_dir=folder)
        assert created.total == 1


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--provider", "simulated", "--db", "ledger.db", *args], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_batch_refuses_a_file_outside_and_takes_base_dir(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("SORAVIDEO_"):
            monkeypatch.delenv(name)
    manifest = write_manifest(tmp_path, ["/etc/passwd"], "csv")
    code, out, err = run_cli("batch", str(manifest))
    assert code == EXIT_USAGE
    assert "row 2: input_reference" in err and out == ""
    ledger = tmp_path / "ledger.db"
    if ledger.exists():
        code, out, _ = run_cli("--json", "list")
        assert code == EXIT_OK and json.loads(out)["total"] == 0
    manifest = write_manifest(tmp_path, ["img/fox.png"], "csv")
    code, _, err = run_cli("batch", str(manifest), "--base-dir", str(folder))
    assert code == EXIT_OK, err
