"""``examples/notebook.ipynb`` runs top to bottom in a real Jupyter kernel, and shows what it should.

Skipped only where nbclient or ipykernel is missing, and never in CI (``CI`` set).
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _need(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{module} is missing in CI: pip install -e '.[dev]'", pytrace=False)
        pytest.skip(f"{module} is not installed (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Run the notebook in a fresh kernel, in a scratch folder with its manifest beside it."""
    for module in ("nbclient", "nbformat", "ipykernel"):
        _need(module)
    import nbformat
    from nbclient import NotebookClient

    workdir = tmp_path_factory.mktemp("notebook")
    shutil.copy(EXAMPLES / "prompts.csv", workdir)
    notebook = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    patch = pytest.MonkeyPatch()
    # Keep Jupyter's and IPython's state files out of the home folder.
    patch.setenv("JUPYTER_RUNTIME_DIR", str(workdir / ".jupyter-runtime"))
    patch.setenv("IPYTHONDIR", str(workdir / ".ipython"))
    try:
        client = NotebookClient(
            notebook,
            timeout=60,
            kernel_name="python3",
            resources={"metadata": {"path": str(workdir)}},
        )
        client.execute()
    finally:
        patch.undo()
    return notebook, workdir


def _outputs(notebook: Any, source_start: str) -> list[dict[str, Any]]:
    [cell] = [
        c for c in notebook.cells if c.cell_type == "code" and c.source.startswith(source_start)
    ]
    return list(cell.outputs)


def _html(notebook: Any, source_start: str) -> str:
    [result] = [o for o in _outputs(notebook, source_start) if o.output_type == "execute_result"]
    return str(result.data["text/html"])


def test_the_kernel_is_this_interpreter() -> None:
    _need("jupyter_client")
    _need("ipykernel")
    from jupyter_client.manager import KernelManager

    command = KernelManager(kernel_name="python3").format_kernel_cmd()

    assert Path(command[0]).resolve() == Path(sys.executable).resolve()


def test_every_cell_ran_without_an_error(executed: Any) -> None:
    notebook, _ = executed
    code = [c for c in notebook.cells if c.cell_type == "code"]

    assert all(c.execution_count for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    stderr = [o.text for c in code for o in c.outputs if o.get("name") == "stderr"]
    assert stderr == []


def test_a_pending_job_shows_a_badge_and_a_bar(executed: Any) -> None:
    notebook, _ = executed
    markup = _html(notebook, "job = client.videos.create_video(")

    assert 'class="sv-badge sv-pending"' in markup
    assert 'class="sv-bar"' in markup
    assert "a red fox running through fresh snow" in markup


def test_a_downloaded_job_plays_its_video(executed: Any) -> None:
    notebook, workdir = executed
    markup = _html(notebook, "job = client.videos.wait_for_job(")

    assert 'class="sv-badge sv-completed"' in markup
    assert '<video class="sv-video" src="demo-output/notebook/fox.mp4"' in markup
    assert (workdir / "demo-output" / "notebook" / "fox.mp4").is_file()


def test_the_video_it_plays_decodes(executed: Any) -> None:
    av = pytest.importorskip("av")
    _, workdir = executed

    with av.open(str(workdir / "demo-output" / "notebook" / "fox.mp4")) as container:
        [stream] = container.streams.video
        assert stream.codec_context.name == "h264"
        frames = list(container.decode(stream))
        seconds = float(container.duration / 1_000_000)
    assert len(frames) == 24
    assert seconds == pytest.approx(8, abs=0.01)


def test_its_poster_is_the_thumbnail_a_real_image(executed: Any) -> None:
    image_module = pytest.importorskip("PIL.Image")
    notebook, workdir = executed
    markup = _html(notebook, "job = client.videos.wait_for_job(")
    thumbnail = workdir / "demo-output" / "notebook" / "fox.webp"

    inline = base64.b64encode(thumbnail.read_bytes()).decode()
    assert f'poster="data:image/webp;base64,{inline}"' in markup
    with image_module.open(thumbnail) as image:
        image.load()
        assert image.format == "WEBP" and min(image.size) > 100


def test_waiting_shows_a_bar_with_elapsed_and_eta(executed: Any) -> None:
    notebook, _ = executed
    outputs = _outputs(notebook, "job = client.videos.wait_for_job(")
    shown = [o for o in outputs if o.output_type == "display_data"]

    [bar] = shown  # a widget (the notebook extra's ipywidgets), with a text fallback
    assert "application/vnd.jupyter.widget-view+json" in bar.data
    # Its last state, as the kernel left it (nbclient keeps the widgets' state).
    states = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    # The widget's text is HTML, its spaces figure spaces.
    texts = [
        html.unescape(str(w["state"].get("value", ""))).replace("\u2007", " ")
        for w in states.values()
    ]
    assert any(re.search(r"\d\d:\d\d<00:00, completed", t) for t in texts), texts


def test_the_report_shows_charts_and_a_grid_of_posters(executed: Any) -> None:
    notebook, _ = executed
    report = _html(notebook, "for done in client.batches.get_batch_status(")

    assert report.count("<svg") == 2
    assert "<title>4 completed</title>" in report
    assert report.count('class="sv-cell"') == 4
    assert report.count('poster="data:image/webp;base64,') == 4


def test_a_page_of_jobs_is_a_table(executed: Any) -> None:
    notebook, _ = executed
    table = _html(notebook, "page = client.videos.list_jobs(")

    assert 'class="sv-records"' in table
    assert table.count("<tr>") == 1 + 5  # the header, the fox and the four of the batch
    assert "a red fox running through fresh snow" in table
    assert "page 1 of 1 · 5 shown of 5" in table


def test_the_batch_and_its_report_show_their_outcome(executed: Any) -> None:
    notebook, _ = executed
    batch = _html(notebook, "created = client.batches.create_batch_from_file(")
    report = _html(notebook, "for done in client.batches.get_batch_status(")

    assert 'class="sv-badge sv-completed"' in batch
    assert "<b>prompts</b>" in batch
    assert "4 jobs: 4 completed" in batch
    assert report.count("<tr>") == 4
    assert "a hummingbird hovering at a red flower" in report


def test_plain_reprs_are_printed_outside_html(executed: Any) -> None:
    notebook, _ = executed
    [printed] = [o.text for o in _outputs(notebook, "for job in report.jobs:")]

    lines = printed.splitlines()
    assert len(lines) == 4
    assert all(line.startswith("<Job job_") and " completed 100% sora " in line for line in lines)
