"""Input that cannot be sent (lone surrogates, NaN, values JSON cannot carry) is refused, named
field by field, before anything is stored or sent: nothing is left looping in ``processing``."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import soravideo as sv
from helpers import assert_no_requests, request
from soravideo._core.validation import check_request, unsendable
from soravideo.testing import strategies as sst

pytestmark = pytest.mark.anyio

LONE = "\ud83d"  # half of an emoji, as JSON "\ud83d" decodes
ESCAPED = "\udcff"  # what Python makes of the byte 0xff in a non-UTF-8 argument


class _Thing:
    pass


BAD_REQUESTS: list[tuple[dict[str, Any], set[str]]] = [
    ({"prompt": f"a fox {LONE}"}, {"prompt"}),
    ({"prompt": f"a fox {ESCAPED}"}, {"prompt"}),
    ({"prompt": "a fox \x00"}, {"prompt"}),
    ({"model": f"sora-{ESCAPED}"}, {"model"}),
    ({"input_reference": f"/tmp/ref{ESCAPED}.png"}, {"input_reference"}),
    ({"metadata": {"tag": LONE}}, {"metadata.tag"}),
    ({"metadata": {LONE: "x"}}, {r"metadata['\ud83d']"}),
    ({"provider_options": {"quality": float("nan")}}, {"provider_options.quality"}),
    (
        {"provider_options": {"loop": float("inf"), "x": -math.inf}},
        {"provider_options.loop", "provider_options.x"},
    ),
    ({"provider_options": {"a": {"b": [1, LONE]}}}, {"provider_options.a.b[1]"}),
    ({"provider_options": {ESCAPED: 1}}, {r"provider_options['\udcff']"}),
    ({"provider_options": {"tags": {"a", "b"}}}, {"provider_options.tags"}),
    ({"provider_options": {"raw": b"\x00\x01"}}, {"provider_options.raw"}),
    ({"provider_options": {"thing": _Thing()}}, {"provider_options.thing"}),
    ({"provider_options": {"m": {1: "one"}}}, {"provider_options.m[1]"}),
]


@pytest.mark.parametrize(("fields", "named"), BAD_REQUESTS)
async def test_create_video_names_unsendable_fields_and_stores_nothing(
    client: sv.AsyncSoraVideo, fields: dict[str, Any], named: set[str]
) -> None:
    with pytest.raises(sv.ValidationError) as info:
        await client.videos.create_video(request(**fields))
    assert set(info.value.fields) == named
    # The message can be printed and logged: no lone surrogate of the input is echoed back.
    str(info.value).encode("utf-8")
    assert (await client.videos.list_jobs()).total == 0
    assert client.fake is not None
    assert_no_requests(client.fake)


async def test_create_batch_names_every_unsendable_field(client: sv.AsyncSoraVideo) -> None:
    videos = [
        request(),
        request(provider_options={"seconds": float("nan")}),
        request(metadata={"tag": ESCAPED}),
        request(f"{LONE} and friends"),
    ]
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch(
            sv.BatchVideoRequest(videos=videos, name=f"ads {ESCAPED}", metadata={"campaign": LONE})
        )
    assert set(info.value.fields) == {
        "videos[1].provider_options.seconds",
        "videos[2].metadata.tag",
        "videos[3].prompt",
        "name",
        "metadata.campaign",
    }
    assert (await client.batches.list_batches()).total == 0
    assert (await client.videos.list_jobs()).total == 0


async def test_manifests_refuse_unsendable_rows(client: sv.AsyncSoraVideo, tmp_path: Path) -> None:
    jsonl = tmp_path / "surrogate.jsonl"
    # Valid JSON escapes that decode to a lone surrogate, and a NaN Python's json accepts.
    jsonl.write_text(
        '{"prompt": "fine"}\n'
        '{"prompt": "a fox \\ud83d"}\n'
        '{"prompt": "ok", "provider_options": {"seconds": NaN}}\n'
        '{"prompt": "ok", "metadata": {"tag": "\\udcff"}}\n',
        encoding="utf-8",
    )
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch_from_file(jsonl)
    assert set(info.value.fields) == {
        "row 2: prompt",
        "row 3: provider_options.seconds",
        "row 4: metadata.tag",
    }
    csv_file = tmp_path / "nan.csv"
    csv_file.write_text('prompt,provider_options\nok,"{""loop"": Infinity}"\n', encoding="utf-8")
    with pytest.raises(sv.ValidationError) as info:
        await client.batches.create_batch_from_file(csv_file)
    assert info.value.fields == ("row 2: provider_options.loop",)
    assert (await client.batches.list_batches()).total == 0
    assert (await client.videos.list_jobs()).total == 0


async def test_a_manifest_name_from_an_undecodable_file_name_is_still_storable(
    client: sv.AsyncSoraVideo, tmp_path: Path
) -> None:
    manifest = tmp_path / f"ads{ESCAPED}.jsonl"
    try:
        manifest.write_text('{"prompt": "a fox"}\n', encoding="utf-8")
    except (UnicodeEncodeError, OSError):
        pytest.skip("this file system cannot name a file with a non-UTF-8 byte")
    created = await client.batches.create_batch_from_file(manifest)
    batch = (await client.batches.get_batch_status(created.batch_id)).batch
    assert batch.name is not None
    batch.name.encode("utf-8")


async def test_the_ledger_refuses_unsendable_jobs_given_directly(
    ledger: Callable[[], Any],
) -> None:
    repository = ledger()
    now = datetime(2026, 12, 6, tzinfo=timezone.utc)
    bad = sv.Job(
        id="job_bad",
        status=sv.JobStatus.PENDING,
        request=request(f"a fox {LONE}", provider_options={"x": float("nan")}),
        provider="sora",
        created_at=now,
        updated_at=now,
    )
    try:
        with pytest.raises(sv.ValidationError) as info:
            await repository.add_jobs([bad])
        assert set(info.value.fields) == {
            "jobs[0].request.prompt",
            "jobs[0].request.provider_options.x",
        }
        assert (await repository.list_jobs()).total == 0
    finally:
        await repository.aclose()


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ({"a": [1, 2.5, None, True, "x", {"b": []}]}, True),
        ("😀 emoji and ü", True),
        (2**70, True),
        ((1, 2), True),
        (float("nan"), False),
        ({"a": frozenset()}, False),
        ("\udfff", False),
    ],
)
async def test_unsendable_accepts_exactly_what_json_and_utf8_carry(value: Any, ok: bool) -> None:
    problems = unsendable(value, "v")
    assert (not problems) is ok
    if ok:
        json.dumps(value, allow_nan=False).encode("utf-8")


async def test_deeply_nested_options_are_refused_not_a_crash() -> None:
    options: dict[str, Any] = {}
    inner = options
    for _ in range(500):
        inner["a"] = {}
        inner = inner["a"]
    problems = unsendable(options, "provider_options")
    assert len(problems) == 1
    assert problems[0].field.startswith("provider_options.a.a")


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(
        st.characters(codec="utf-8")
        | st.integers(0xD800, 0xDFFF).map(chr)  # hypothesis draws no surrogates itself
        | st.just("\x00"),
        max_size=12,
    )
)
def test_text_is_sendable_exactly_when_utf8_encodes_it_and_it_holds_no_nul(text: str) -> None:
    try:
        text.encode("utf-8")
        encodable = "\x00" not in text
    except UnicodeEncodeError:
        encodable = False
    assert (unsendable(text, "prompt") == []) is encodable


@settings(max_examples=50, deadline=None)
@given(value=sst.json_values(), request=sst.create_video_requests(complete=True))
def test_what_the_shared_strategies_draw_is_sendable(
    value: Any, request: sv.CreateVideoRequest
) -> None:
    assert unsendable(value, "v") == []
    json.dumps(value, allow_nan=False).encode("utf-8")
    assert check_request(request) == []
