"""How Job, Batch and BatchStatusReport show themselves: plain reprs and notebook HTML."""

from __future__ import annotations

import sys
import types
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings

import soravideo as sv
from soravideo.testing import strategies as sst

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
ALLOWED_TAGS = {"div", "span", "code", "b", "video", "a", "table", "tr", "th", "td"}
ALLOWED_TAGS |= {"svg", "rect", "text", "title"}  # the charts


def job(
    status: sv.JobStatus = sv.JobStatus.COMPLETED,
    *,
    prompt: str = "a red fox running through fresh snow at dawn",
    **fields: Any,
) -> sv.Job:
    fields.setdefault("progress", 100 if status is sv.JobStatus.COMPLETED else 40)
    return sv.Job(
        id="job_0001",
        status=status,
        request=sv.CreateVideoRequest(prompt=prompt, model="sora-2", duration=8),
        provider="sora",
        estimated_cost_usd=0.8,
        created_at=T0,
        updated_at=T0,
        **fields,
    )


def batch(**fields: Any) -> sv.Batch:
    fields.setdefault(
        "progress",
        sv.BatchProgress(total=3, completed=2, failed=1, percentage=100.0),
    )
    fields.setdefault("status", sv.BatchStatus.PARTIAL)
    fields.setdefault("name", "ads")
    return sv.Batch(
        id="batch_0001", job_ids=["a", "b", "c"], created_at=T0, updated_at=T0, **fields
    )


class Tags(HTMLParser):
    """Collect start tags and check that every opened tag is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.seen: list[str] = []
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack, f"</{tag}> closes nothing"
        assert self.stack.pop() == tag, f"</{tag}> closes the wrong tag"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(markup: str) -> Tags:
    parser = Tags()
    parser.feed(markup)
    parser.close()
    assert parser.stack == [], f"unclosed tags: {parser.stack}"
    return parser


# -- plain reprs ------------------------------------------------------------------------------


def test_job_repr_is_one_short_line() -> None:
    assert (
        repr(job()) == "<Job job_0001 completed 100% sora/sora-2 'a red fox running through fre…'>"
    )


def test_job_repr_names_the_error_code_of_a_failed_job() -> None:
    failed = job(
        sv.JobStatus.FAILED, error=sv.JobError(code="moderation_blocked", message="blocked")
    )

    assert repr(failed).endswith("error=moderation_blocked>")
    assert " failed 40% " in repr(failed)


def test_job_repr_without_a_model_shows_the_provider_only() -> None:
    plain = attrs.evolve(job(), request=sv.CreateVideoRequest(prompt="a fox"))

    assert repr(plain) == "<Job job_0001 completed 100% sora 'a fox'>"


def test_batch_repr_counts_outcomes_and_leaves_out_zeros() -> None:
    assert repr(batch()) == "<Batch batch_0001 'ads' partial 3/3 done: 2 completed, 1 failed>"


def test_batch_repr_of_a_fresh_unnamed_batch() -> None:
    fresh = batch(
        name=None,
        status=sv.BatchStatus.PENDING,
        progress=sv.BatchProgress(total=3, pending=3),
    )

    assert repr(fresh) == "<Batch batch_0001 pending 0/3 done: 3 pending>"


def test_report_repr() -> None:
    report = sv.BatchStatusReport(batch=batch(), jobs=[job()], progress=batch().progress)

    assert (
        repr(report)
        == "<BatchStatusReport batch_0001 'ads' partial, 3 jobs: 2 completed, 1 failed>"
    )


def test_attrs_did_not_replace_the_reprs() -> None:
    # The classes are built with repr=False; str() falls back to the same short form.
    for value in (job(), batch()):
        assert str(value) == repr(value)
        assert repr(value).startswith("<")


@settings(max_examples=25, deadline=None)
@given(sst.jobs())
def test_every_job_repr_is_one_line_naming_id_and_status(value: sv.Job) -> None:
    text = repr(value)

    assert "\n" not in text
    assert text.startswith(f"<Job {value.id} {value.status.value} ")


# -- HTML -------------------------------------------------------------------------------------


def test_job_html_shows_a_status_badge_and_a_progress_bar() -> None:
    markup = job(sv.JobStatus.PROCESSING, progress=40)._repr_html_()

    assert 'class="sv-badge sv-processing"' in markup
    assert 'class="sv-bar"' in markup
    assert "width:40.00%" in markup
    assert "job_0001" in markup
    assert "sora/sora-2 · 8 s · $0.80" in markup
    parse(markup)


def test_job_html_escapes_the_prompt_and_the_error() -> None:
    evil = job(
        sv.JobStatus.FAILED,
        prompt='<script>alert("x")</script> & <img src=x onerror=1>',
        error=sv.JobError(code="bad<code>", message="<b>blocked</b>"),
    )

    markup = evil._repr_html_()
    tags = parse(markup)

    assert "<script>" not in markup
    assert "<img" not in markup
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img" in markup
    assert "&lt;b&gt;blocked&lt;/b&gt;" in markup
    assert set(tags.seen) <= ALLOWED_TAGS


def test_job_html_plays_a_downloaded_video_from_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "fox 1.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    done = job(result=sv.VideoResult(remote_id="video_1", path=str(tmp_path / "out" / "fox 1.mp4")))

    markup = done._repr_html_()

    assert '<video class="sv-video" src="out/fox 1.mp4" controls' in markup


def test_job_html_uses_a_file_uri_for_a_video_outside_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = tmp_path / "elsewhere" / "fox.mp4"
    video.parent.mkdir()
    video.write_bytes(b"mp4")
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    markup = job(result=sv.VideoResult(remote_id="video_1", path=str(video)))._repr_html_()

    assert f'src="{video.resolve().as_uri()}"' in markup


def test_job_html_has_no_video_when_the_file_is_not_there(tmp_path: Path) -> None:
    gone = job(result=sv.VideoResult(remote_id="video_1", path=str(tmp_path / "gone.mp4")))

    markup = gone._repr_html_()

    assert "<video" not in markup
    assert "saved to" in markup


def test_job_html_links_only_http_urls() -> None:
    linked = job(result=sv.VideoResult(remote_id="v", url="https://cdn.example/v.mp4"))
    sneaky = job(result=sv.VideoResult(remote_id="v", url="javascript:alert(1)"))

    assert '<a href="https://cdn.example/v.mp4"' in linked._repr_html_()
    assert "javascript:" not in sneaky._repr_html_()


def test_batch_html_shows_badge_name_and_outcome_segments() -> None:
    markup = batch(name="<ads & more>")._repr_html_()

    assert 'class="sv-badge sv-partial"' in markup
    assert "<b>&lt;ads &amp; more&gt;</b>" in markup
    # 2 of 3 completed (green), 1 of 3 failed (red).
    assert "width:66.67%;background:#16a34a" in markup
    assert "width:33.33%;background:#dc2626" in markup
    assert "3 jobs: 2 completed, 1 failed" in markup
    parse(markup)


def test_report_html_lists_every_job_with_its_badge() -> None:
    jobs = [
        attrs.evolve(job(), id=f"job_{i}", status=status)
        for i, status in enumerate([sv.JobStatus.COMPLETED, sv.JobStatus.FAILED])
    ]
    report = sv.BatchStatusReport(batch=batch(), jobs=jobs, progress=batch().progress)

    markup = report._repr_html_()

    assert markup.count("<tr>") == 2
    assert 'class="sv-badge sv-completed"' in markup
    assert 'class="sv-badge sv-failed"' in markup
    assert "job_1" in markup
    parse(markup)


def test_report_html_shows_fifty_jobs_and_counts_the_rest() -> None:
    jobs = [attrs.evolve(job(), id=f"job_{i}") for i in range(53)]
    report = sv.BatchStatusReport(batch=batch(), jobs=jobs, progress=batch().progress)

    markup = report._repr_html_()

    assert markup.count("<tr>") == 51
    assert "… and 3 more" in markup


@settings(max_examples=25, deadline=None)
@given(sst.jobs())
def test_job_html_is_well_formed_and_shows_the_prompt_as_text(value: sv.Job) -> None:
    tags = parse(value._repr_html_())

    assert set(tags.seen) <= ALLOWED_TAGS
    shown = " ".join(value.request.prompt.split())[:239]
    assert shown in "".join(tags.text)


@settings(max_examples=25, deadline=None)
@given(sst.batch_status_reports())
def test_report_html_is_well_formed(report: sv.BatchStatusReport) -> None:
    tags = parse(report._repr_html_())

    assert set(tags.seen) <= ALLOWED_TAGS
    assert tags.seen.count("tr") == min(len(report.jobs), 50) + (len(report.jobs) > 50)


# -- posters, grids and charts ----------------------------------------------------------------

EVIL = '</title><script>alert(1)</script><img src=x onerror=1> & "q"'


def downloaded(folder: Path, index: int, **fields: Any) -> sv.Job:
    """A completed job whose video (and thumbnail, ``<name>.webp``) are in ``folder``."""
    video = folder / f"clip {index}.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    return attrs.evolve(
        job(**fields),
        id=f"job_{index}",
        result=sv.VideoResult(remote_id=f"video_{index}", path=str(video)),
    )


def test_job_html_shows_the_thumbnail_beside_the_video_as_its_poster_inline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    done = downloaded(tmp_path, 1)
    (tmp_path / "clip 1.webp").write_bytes(b"RIFF\x04\x00\x00\x00WEBP")

    markup = done._repr_html_()

    assert 'poster="data:image/webp;base64,UklGRgQAAABXRUJQ"' in markup
    assert 'preload="metadata"' in markup
    parse(markup)


def test_job_html_names_a_large_thumbnail_by_its_path_and_finds_one_named_by_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    done = downloaded(tmp_path, 1)
    (tmp_path / "job_1.webp").write_bytes(b"RIFF" + bytes(300 * 1024))

    assert 'poster="job_1.webp"' in done._repr_html_()


def test_job_html_has_no_poster_without_a_thumbnail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clip 1.jpg").write_bytes(b"\xff\xd8\xff")  # a spritesheet, not a poster

    markup = downloaded(tmp_path, 1)._repr_html_()

    assert "<video" in markup and "poster=" not in markup


def report_of(jobs: list[sv.Job], **fields: Any) -> sv.BatchStatusReport:
    return sv.BatchStatusReport(batch=batch(**fields), jobs=jobs, progress=batch().progress)


def test_report_html_shows_a_grid_of_the_downloaded_videos_the_first_twelve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    jobs = [downloaded(tmp_path, i, prompt=f"kite number {i}") for i in range(14)]
    jobs.append(attrs.evolve(job(sv.JobStatus.FAILED), id="job_failed"))

    markup = report_of(jobs)._repr_html_()

    assert markup.count('class="sv-grid"') == 1
    assert markup.count('class="sv-cell"') == 12
    assert markup.count("<video") == 12
    assert 'src="clip 0.mp4"' in markup and "kite number 11" in markup
    assert 'src="clip 12.mp4"' not in markup
    parse(markup)


def test_report_html_without_local_videos_has_no_grid() -> None:
    assert "sv-grid" not in report_of([job()])._repr_html_()


def test_report_html_charts_statuses_and_costs_as_inline_svg() -> None:
    statuses = [sv.JobStatus.COMPLETED] * 3 + [sv.JobStatus.FAILED, sv.JobStatus.PROCESSING]
    jobs = [attrs.evolve(job(s), id=f"job_{i}") for i, s in enumerate(statuses)]
    jobs[0] = attrs.evolve(jobs[0], cost_usd=1.5)  # what the provider charged wins

    markup = report_of(jobs, budget_usd=5.0)._repr_html_()
    tags = parse(markup)

    assert markup.count("<svg") == 2
    assert 'aria-label="jobs by status"' in markup
    assert "<title>3 completed</title>" in markup
    assert "<title>1 failed</title>" in markup
    assert "<title>1 processing</title>" in markup
    assert markup.count('fill="#16a34a"') == 1 + 3  # one status bar, three cost bars
    assert "$4.70 of $5.00 budget" in markup  # 1.50 + 4 x 0.80
    assert "<title>job_0 $1.50 a red fox running" in markup
    assert set(tags.seen) <= ALLOWED_TAGS


def test_report_html_without_costs_has_only_the_status_chart() -> None:
    markup = report_of([attrs.evolve(job(), estimated_cost_usd=None)])._repr_html_()

    assert markup.count("<svg") == 1


def test_report_html_escapes_prompts_in_the_grid_and_the_charts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    jobs = [downloaded(tmp_path, 1, prompt=EVIL)]

    markup = report_of(jobs, name=EVIL)._repr_html_()
    tags = parse(markup)

    assert "<script" not in markup and "<img" not in markup
    assert "&lt;/title&gt;&lt;script&gt;" in markup
    assert set(tags.seen) <= ALLOWED_TAGS


# -- pages ------------------------------------------------------------------------------------


def job_page(**fields: Any) -> sv.Page[sv.Job]:
    failed = attrs.evolve(
        job(sv.JobStatus.FAILED, prompt=EVIL, error=sv.JobError(code="moderation", message="no")),
        id="job_0002",
    )
    return sv.Page.build([job(), failed], page=1, limit=2, total=3, **fields)


def test_a_page_of_jobs_gives_flat_records() -> None:
    records = job_page().to_records()

    assert [r["id"] for r in records] == ["job_0001", "job_0002"]
    assert list(records[0]) == [
        "id", "status", "progress", "provider", "model", "prompt", "duration",
        "estimated_cost_usd", "cost_usd", "batch_id", "error", "path", "created_at",
        "completed_at",
    ]  # fmt: skip
    assert records[0]["status"] == "completed" and records[1]["error"] == "moderation"
    assert records[0]["model"] == "sora-2" and records[0]["created_at"] == T0


def test_a_page_of_batches_gives_flat_records() -> None:
    [record] = sv.Page.build([batch()], page=1, limit=20, total=1).to_records()

    assert record["id"] == "batch_0001"
    assert (record["status"], record["total"], record["completed"], record["failed"]) == (
        "partial",
        3,
        2,
        1,
    )


def test_a_page_of_anything_else_gives_its_fields() -> None:
    page = sv.Page.build([sv.JobError(code="c", message="m")], page=1, limit=1, total=1)

    assert page.to_records() == [{"code": "c", "message": "m", "retryable": False}]


def test_to_pandas_without_pandas_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError

    with pytest.raises(ImportError, match=r"pip install pandas"):
        job_page().to_pandas()


def test_to_pandas_makes_a_data_frame_of_the_records(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    class DataFrame:
        @classmethod
        def from_records(cls, records: Any) -> str:
            made.append(records)
            return "frame"

    monkeypatch.setitem(sys.modules, "pandas", types.SimpleNamespace(DataFrame=DataFrame))
    page = job_page()

    assert page.to_pandas() == "frame"
    assert made == [page.to_records()]


def test_to_pandas_with_real_pandas() -> None:
    pytest.importorskip("pandas")

    frame = job_page().to_pandas()

    assert list(frame["id"]) == ["job_0001", "job_0002"]
    assert list(frame["status"]) == ["completed", "failed"]


def test_a_page_shows_a_table_with_badges_and_which_page_it_is() -> None:
    markup = job_page()._repr_html_()
    tags = parse(markup)

    assert markup.count("<tr>") == 3  # the header and two jobs
    assert "<th style=" in markup and ">estimated_cost_usd</th>" in markup
    assert 'class="sv-badge sv-failed"' in markup
    assert "<code>job_0002</code>" in markup and ">0.80<" in markup
    assert "page 1 of 2 · 2 shown of 3 · next: page=2" in markup
    assert "<script" not in markup and "&lt;/title&gt;&lt;script&gt;" in markup
    assert set(tags.seen) <= ALLOWED_TAGS


def test_an_empty_page_is_an_empty_table() -> None:
    markup = sv.Page.build([], page=1, limit=20, total=0)._repr_html_()

    assert "page 1 of 1 · 0 shown of 0" in markup
    parse(markup)


# Ten pages (0 to 3 jobs each, on pages 1 to 4): each job's own markup already has 25 examples
# above; what is new here is the page around them, and drawing jobs is most of the cost.
@settings(max_examples=10, deadline=None)
@given(sst.pages(sst.jobs()))
def test_every_page_of_jobs_is_a_well_formed_table(page: sv.Page[sv.Job]) -> None:
    tags = parse(page._repr_html_())

    assert set(tags.seen) <= ALLOWED_TAGS
    assert tags.seen.count("tr") == 1 + len(page.items)
