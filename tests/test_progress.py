"""Progress bars: tqdm when the ``progress`` extra is installed, an install hint when it is not."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import tqdm.auto
import tqdm.std

import soravideo as sv
from soravideo._api.progress import INSTALL_HINT, Bar

HINT = "pip install 'soravideo[progress]'"


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Replace ``tqdm.auto.tqdm`` with real tqdm bars that write to memory; return them."""
    made: list[Any] = []

    class Captured(tqdm.std.tqdm):  # type: ignore[misc]
        monitor_interval = 0  # no monitor thread

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.out = io.StringIO()
            self.shown: list[float] = []  # n after each update
            super().__init__(*args, file=self.out, **kwargs)
            made.append(self)

        def update(self, n: float | None = 1) -> bool | None:
            done = super().update(n)
            self.shown.append(self.n)
            return done

    monkeypatch.setattr(tqdm.auto, "tqdm", Captured)
    return made


@pytest.fixture
def no_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `from tqdm.auto import tqdm` raise ImportError.
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


@pytest.fixture
def client() -> Iterator[sv.SoraVideo]:
    with sv.SoraVideo.simulated() as client:
        yield client


def test_wait_for_job_shows_a_bar_that_reaches_100(client: sv.SoraVideo, bars: list[Any]) -> None:
    job = client.videos.create_video(sv.CreateVideoRequest(prompt="a red fox", duration=8))

    done = client.videos.wait_for_job(job.id, timeout=600, progress=True)

    assert done.status is sv.JobStatus.COMPLETED
    [bar] = bars
    assert bar.n == 100
    assert bar.total == 100
    assert bar.desc == job.id
    text = bar.out.getvalue()
    assert "100%" in text
    assert "completed" in text


def test_a_job_bar_shows_elapsed_and_eta_on_the_simulated_clock_and_steps_through(
    client: sv.SoraVideo, bars: list[Any]
) -> None:
    job = client.videos.create_video(sv.CreateVideoRequest(prompt="a red fox", duration=8))

    done = client.videos.wait_for_job(job.id, timeout=600, progress=True)

    [bar] = bars
    assert done.completed_at is not None
    simulated = (done.completed_at - done.created_at).total_seconds()
    assert simulated >= 10  # the simulator's generation time, in simulated seconds
    assert bar.format_dict["elapsed"] == pytest.approx(simulated)
    minutes, seconds = divmod(int(simulated), 60)
    # elapsed<ETA, on the client's (simulated) clock.
    assert f"| {minutes:02d}:{seconds:02d}<00:00, completed" in bar.out.getvalue()
    # Which intermediate progress the bar shows depends on when the sync client's engine
    # thread polls relative to the waiting thread, so only the order is asserted here.
    assert bar.shown == sorted(bar.shown)


def test_a_batch_bar_counts_time_on_the_clients_clock(
    client: sv.SoraVideo, bars: list[Any]
) -> None:
    created = client.batches.create_batch(
        sv.BatchVideoRequest(videos=[sv.CreateVideoRequest(prompt=f"video {i}") for i in range(3)])
    )

    batch = client.batches.process_batch(created.batch_id, progress=True)

    [bar] = bars
    assert batch.completed_at is not None
    assert bar.format_dict["elapsed"] >= 10  # simulated seconds; the wall clock saw far less
    assert re.search(r"100%\|#+\| \d\d:\d\d<00:00, completed", bar.out.getvalue())


def test_the_notebook_extra_installs_the_widget_and_tqdm() -> None:
    tomllib = pytest.importorskip("tomllib")
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"

    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]

    names = {re.split(r"[<>=\[; ]", spec)[0] for spec in extras["notebook"]}
    assert {"ipywidgets", "tqdm"} <= names
    assert "soravideo[notebook]" in INSTALL_HINT


def test_a_bar_redraws_an_unchanged_state_at_most_once_a_second_of_its_time() -> None:
    recorder = Recorder()
    bar = Bar(recorder)
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)

    bar.set(10, "processing", at=start)
    bar.set(10, "processing", at=start + timedelta(seconds=0.5))
    assert recorder.refreshed == 0
    bar.set(10, "processing", at=start + timedelta(seconds=2))
    bar.set(10, "queued", at=start + timedelta(seconds=2))

    assert recorder.refreshed == 2
    assert recorder.start_t == start.timestamp()
    assert bar.now() == (start + timedelta(seconds=2)).timestamp()


def test_process_batch_shows_a_bar_named_after_the_batch(
    client: sv.SoraVideo, bars: list[Any]
) -> None:
    created = client.batches.create_batch(
        sv.BatchVideoRequest(
            name="ads", videos=[sv.CreateVideoRequest(prompt=f"video {i}") for i in range(3)]
        )
    )

    batch = client.batches.process_batch(created.batch_id, progress=True)

    assert batch.status is sv.BatchStatus.COMPLETED
    [bar] = bars
    assert bar.n == 100
    assert bar.desc == "ads"
    assert "100%" in bar.out.getvalue()


def test_no_bar_unless_asked(client: sv.SoraVideo, bars: list[Any]) -> None:
    job = client.videos.create_video(sv.CreateVideoRequest(prompt="a red fox"))
    client.videos.wait_for_job(job.id, timeout=600)
    created = client.batches.create_batch(
        sv.BatchVideoRequest(videos=[sv.CreateVideoRequest(prompt="a cat")])
    )
    client.batches.process_batch(created.batch_id)

    assert bars == []


@pytest.mark.anyio
async def test_the_async_client_shows_the_same_bar(bars: list[Any]) -> None:
    async with sv.AsyncSoraVideo.simulated() as client:
        job = await client.videos.create_video(sv.CreateVideoRequest(prompt="a red fox"))
        await client.videos.wait_for_job(job.id, timeout=600, progress=True)

    [bar] = bars
    assert bar.n == 100


def test_without_tqdm_wait_for_job_says_how_to_install_it(
    client: sv.SoraVideo, no_tqdm: None
) -> None:
    job = client.videos.create_video(sv.CreateVideoRequest(prompt="a red fox"))

    with pytest.warns(RuntimeWarning, match=HINT.replace("[", r"\[").replace("]", r"\]")):
        done = client.videos.wait_for_job(job.id, timeout=600, progress=True)

    assert done.status is sv.JobStatus.COMPLETED


def test_without_tqdm_process_batch_says_how_to_install_it(
    client: sv.SoraVideo, no_tqdm: None
) -> None:
    created = client.batches.create_batch(
        sv.BatchVideoRequest(videos=[sv.CreateVideoRequest(prompt="a cat")])
    )

    with pytest.warns(RuntimeWarning) as caught:
        batch = client.batches.process_batch(created.batch_id, progress=True)

    assert batch.status is sv.BatchStatus.COMPLETED
    assert [str(w.message) for w in caught] == [INSTALL_HINT]
    assert HINT in INSTALL_HINT


class Recorder:
    def __init__(self) -> None:
        self.n = 0.0
        self.postfix = ""
        self.start_t = self.last_print_t = 0.0
        self.refreshed = 0

    def refresh(self) -> None:
        self.refreshed += 1

    def update(self, step: float) -> None:
        self.n += step

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text


def test_a_bar_never_goes_backwards_nor_past_100() -> None:
    recorder = Recorder()
    bar = Bar(recorder)

    bar.set(50, "processing")
    bar.set(30, "processing")
    assert recorder.n == 50
    bar.set(250, "completed")

    assert recorder.n == 100
    assert recorder.postfix == "completed"


def test_a_disabled_bar_does_nothing() -> None:
    Bar(None).set(50, "processing")
