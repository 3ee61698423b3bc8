"""The docs site builds with ``mkdocs build --strict``, offline, and has the API reference.

The site is built once per test process (the ``site`` fixture, in ``conftest.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

import soravideo.webhooks
from docs.test_docstring_examples import WITH_EXAMPLES


def test_every_page_of_the_nav_is_built(site: Path) -> None:
    for page in (
        "index.html",
        "getting-started/index.html",
        "concepts/index.html",
        "guides/batches/index.html",
        "guides/plugins/index.html",
        "cli/index.html",
        "runway/index.html",
        "fal/index.html",
        "health/index.html",
        "benchmarks/index.html",
    ):
        assert (site / page).is_file(), page


def test_the_api_reference_comes_from_the_docstrings(site: Path) -> None:
    clients = (site / "reference" / "clients" / "index.html").read_text(encoding="utf-8")
    models = (site / "reference" / "models" / "index.html").read_text(encoding="utf-8")

    assert "wait_for_job" in clients
    assert "Wait until the job is completed, failed or cancelled" in clients
    assert "Where a job is in its life cycle" in models


def test_snippets_are_included_from_the_examples(site: Path) -> None:
    plugins = (site / "guides" / "plugins" / "index.html").read_text(encoding="utf-8")

    assert "JSONFileRepository" in plugins
    assert "AcmeTransport" in plugins
    assert "--8&lt;--" not in plugins and "--8<--" not in plugins


def test_nothing_is_fetched_from_the_network(site: Path) -> None:
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "fonts.googleapis.com" not in text, page
        assert "fonts.gstatic.com" not in text, page


def test_the_reference_documents_the_sync_twins_member_by_member(site: Path) -> None:
    clients = (site / "reference" / "clients" / "index.html").read_text(encoding="utf-8")
    members = {
        "SoraVideo": ("videos", "batches", "simulated", "close", "run_worker", "resume"),
        "VideoService": ("create_video", "wait_for_job", "download_video", "list_jobs"),
        "BatchService": ("create_batch", "create_batch_from_file", "process_batch"),
    }

    for sync, names in members.items():
        for name in names:
            twin = {"SoraVideo": "AsyncSoraVideo"}.get(sync, f"Async{sync}")
            twin_name = "aclose" if name == "close" else name
            assert f'id="soravideo.{sync}.{name}"' in clients, (sync, name)
            assert f'id="soravideo.{twin}.{twin_name}"' in clients, (twin, twin_name)


def test_the_reference_renders_every_examples_section(site: Path) -> None:
    # Each object with an example (test_docstring_examples.py runs them) that the reference
    # documents under its public path shows an "Examples:" section with highlighted code
    # before the next object's heading. The contract suites are documented under their
    # modules' paths, without their members.
    pages = [p.read_text(encoding="utf-8") for p in (site / "reference").rglob("*.html")]
    heading = re.compile(r'<h\d id="soravideo[.]')
    shown, unrendered = [], []
    for path in WITH_EXAMPLES:
        # The webhook names are documented where they live: soravideo.webhooks.
        name = path.split(".")[1]
        where = f"soravideo.webhooks.{path[len('soravideo.') :]}"
        candidates = [path, where] if name in soravideo.webhooks.__all__ else [path]
        found = [(f'id="{p}"', t) for p in candidates for t in pages if f'id="{p}"' in t]
        if not found:
            continue
        anchor, page = found[0]
        shown.append(path)
        start = page.index(anchor) + len(anchor)
        after = heading.search(page, start)
        section = page[start : after.start() if after else None]
        if 'doc-section-title">Examples:' not in section or 'class="highlight"' not in section:
            unrendered.append(path)
    assert not unrendered, unrendered
    absent = sorted(set(WITH_EXAMPLES) - set(shown))
    assert absent == ["soravideo.testing.RepositoryContract", "soravideo.testing.TransportContract"]
