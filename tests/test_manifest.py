"""Manifests keep one video a record: CSV by the csv module's rules, JSONL split on ``\\n``
only, whatever line-breaking characters the prompts hold; row numbers stay the file's."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import soravideo as sv
from soravideo._core.manifest import read_manifest
from soravideo.testing import strategies as sst

# What str.splitlines() splits on besides \n and \r: each once turned one row into two.
BREAKERS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(rows)


def prompts_of(path: Path) -> list[str]:
    return [r.prompt for r in read_manifest(path, {}, max_rows=1000)]


@pytest.mark.parametrize("breaker", BREAKERS)
def test_a_csv_cell_with_a_line_breaking_character_is_one_row(tmp_path: Path, breaker: str) -> None:
    path = tmp_path / "p.csv"
    write_csv(path, [["prompt", "duration"], [f"a fox{breaker}in snow", "4"], ["a cat", "8"]])
    requests = read_manifest(path, {}, max_rows=10)
    assert [(r.prompt, r.duration) for r in requests] == [
        (f"a fox{breaker}in snow", 4),
        ("a cat", 8),
    ]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_a_quoted_newline_stays_inside_its_cell(tmp_path: Path, newline: str) -> None:
    path = tmp_path / "p.csv"
    write_csv(path, [["prompt"], [f"first line{newline}second line"], ["next"]])
    assert prompts_of(path) == [f"first line{newline}second line", "next"]


@pytest.mark.parametrize("breaker", BREAKERS)
def test_jsonl_with_a_raw_line_breaking_character_is_one_row(tmp_path: Path, breaker: str) -> None:
    path = tmp_path / "p.jsonl"
    lines = [
        json.dumps({"prompt": f"a fox{breaker}in snow"}, ensure_ascii=False),
        '{"prompt": "b"}',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert prompts_of(path) == [f"a fox{breaker}in snow", "b"]


def test_row_numbers_count_records_and_lines_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    # Row 2 spans two lines and holds U+2028; row 3 is blank; row 4 is the bad one.
    path.write_text('prompt,duration\n"two\nlines\u2028here",4\n\nok,four\n', encoding="utf-8")
    with pytest.raises(sv.ValidationError) as info:
        read_manifest(path, {}, max_rows=10)
    assert info.value.fields == ("row 4: duration",)

    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text(
        '{"prompt": "a\u2028b\x85c"}\r\n\n{"prompt": "x", "duration": "four"}\n', encoding="utf-8"
    )
    with pytest.raises(sv.ValidationError) as info:
        read_manifest(jsonl, {}, max_rows=10)
    assert info.value.fields == ("row 3: duration",)


def test_a_manifest_that_is_not_utf8_is_a_validation_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("prompt\ncaf\u00e9 au lait\n".encode("latin-1"))
    with pytest.raises(sv.ValidationError) as info:
        read_manifest(path, {}, max_rows=10)
    assert info.value.fields == ("path",)
    assert "UTF-8" in info.value.errors[0].message


_PROMPT_CHARS = st.sampled_from([*BREAKERS, "\n", "\r", "\r\n", '"', ",", "'", " ", "\t", "\ufeff"])
_PROMPTS = st.lists(
    st.lists(_PROMPT_CHARS | sst.texts(min_size=1, max_size=6), min_size=1, max_size=6)
    .map("".join)
    .filter(lambda s: bool(s.strip())),
    min_size=1,
    max_size=8,
)
_SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_SETTINGS
@given(prompts=_PROMPTS)
def test_any_prompts_written_by_csv_writer_read_back_one_row_each(
    tmp_path: Path, prompts: list[str]
) -> None:
    path = tmp_path / "p.csv"
    write_csv(path, [["prompt"], *([p] for p in prompts)])
    assert prompts_of(path) == prompts


@_SETTINGS
@given(prompts=_PROMPTS, ensure_ascii=st.booleans(), crlf=st.booleans())
def test_any_prompts_written_as_json_lines_read_back_one_row_each(
    tmp_path: Path, prompts: list[str], ensure_ascii: bool, crlf: bool
) -> None:
    path = tmp_path / "p.jsonl"
    end = "\r\n" if crlf else "\n"
    text = "".join(json.dumps({"prompt": p}, ensure_ascii=ensure_ascii) + end for p in prompts)
    with path.open("w", encoding="utf-8", newline="") as file:
        file.write(text)
    assert prompts_of(path) == prompts


@pytest.mark.anyio
async def test_one_job_per_record_is_stored_and_billed(tmp_path: Path) -> None:
    path = tmp_path / "ads.csv"
    prompts = ["a\x0cb", "c\u2028d", "e\x1cf", 'quoted "g",\nh']
    write_csv(path, [["prompt"], *([p] for p in prompts)])
    async with sv.AsyncSoraVideo.simulated() as client:
        created = await client.batches.create_batch_from_file(path, budget_usd=1.6)
        assert created.total == 4
        report = await client.batches.get_batch_status(created.batch_id)
        assert [j.request.prompt for j in report.jobs] == prompts
        # Four videos of 4 s at $0.10: within a $1.60 budget only as four, not as eight.
        assert sum(j.estimated_cost_usd or 0 for j in report.jobs) == pytest.approx(1.6)


def test_csv_reader_and_writer_agree_with_the_module(tmp_path: Path) -> None:
    # A guard on the test's own writer: csv.writer's default dialect ends records with \r\n.
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerow(["a\nb"])
    assert buffer.getvalue() == '"a\nb"\r\n'
