"""Docstrings are written for mkdocstrings: Markdown, with cross-references as links.

The API reference renders docstrings as Markdown, where a Sphinx role (``:class:`Job```)
shows up literally. A reference to a documented object is written
``[`Job`][soravideo.Job]`` (mkdocs-autorefs; ``mkdocs build --strict`` fails on one it
cannot resolve, see ``test_docs_build.py``); anything else is plain code, ````Job````.
"""

from __future__ import annotations

import ast
import functools
import re
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
SPHINX_ROLE = re.compile(
    r":(?:py:)?(?:class|meth|func|attr|exc|mod|data|obj|const|ref|term|any|doc):`"
)
CROSS_REFERENCE = re.compile(r"\]\[(soravideo(?:\.\w+)+)\]")
# In a built page: a role mkdocstrings rendered as text, and a reference left unresolved.
RENDERED_ROLE = re.compile(r":(?:class|meth|func|attr|exc|mod|data|obj|const):<code>")
UNRENDERED_REFERENCE = re.compile(r"\]\[soravideo[\w.]*\]")


def docstrings(path: Path) -> tuple[tuple[int, str], ...]:
    """The line and text of every string statement of a module: its docstrings, those
    of its classes and functions, and those of its attributes (parsed once per process)."""
    return _docstrings(path)


@functools.cache
def _docstrings(path: Path) -> tuple[tuple[int, str], ...]:
    return tuple(
        (node.lineno, node.value.value)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def source_files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_no_docstring_uses_a_sphinx_role() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line + text[: m.start()].count(chr(10))}: {m.group(0)}"
        for path in source_files()
        for line, text in docstrings(path)
        for m in SPHINX_ROLE.finditer(text)
    ]
    assert not found, "Sphinx roles render literally in the docs; use [`Name`][path]:\n" + (
        "\n".join(found)
    )


def test_the_check_finds_roles_and_references() -> None:
    text = 'def f():\n    """See :class:`Job` and [`Job`][soravideo.Job]."""\n'
    tree = ast.parse(text)
    doc = ast.get_docstring(tree.body[0])  # type: ignore[arg-type]
    assert doc is not None
    assert SPHINX_ROLE.search(doc)
    assert CROSS_REFERENCE.findall(doc) == ["soravideo.Job"]


def cross_references() -> dict[str, list[str]]:
    """Every cross-reference target of the docstrings under src, and where it is used."""
    where: dict[str, list[str]] = {}
    for path in source_files():
        for line, text in docstrings(path):
            for target in CROSS_REFERENCE.findall(text):
                where.setdefault(target, []).append(f"{path.relative_to(ROOT)}:{line}")
    return where


def test_docstrings_link_with_cross_references() -> None:
    # The public clients and services link what they mention (their sync twins too).
    targets = cross_references()
    assert "soravideo.AsyncBatchService.process_batch" in targets
    assert "soravideo.BatchService.process_batch" in targets
    assert "soravideo.Settings" in targets


def inventory(site: Path) -> set[str]:
    """Every name the built site documents (its ``objects.inv``, primary and alias paths)."""
    head, _, body = (site / "objects.inv").read_bytes().partition(b"zlib.\n")
    assert head.startswith(b"# Sphinx inventory version 2"), head[:40]
    return {line.split(" ", 1)[0] for line in zlib.decompress(body).decode("utf-8").splitlines()}


def test_every_cross_reference_points_at_a_documented_object(site: Path) -> None:
    # Docstrings the reference renders are checked by the strict build itself; this also
    # holds the others (private modules) to it, so rendering them later breaks no link.
    documented = inventory(site)
    missing = {t: where for t, where in cross_references().items() if t not in documented}
    assert not missing, "\n".join(f"{t}: {', '.join(w)}" for t, w in sorted(missing.items()))


def test_the_site_shows_links_not_markup(site: Path) -> None:
    leftovers = []
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        for pattern in (SPHINX_ROLE, RENDERED_ROLE, UNRENDERED_REFERENCE):
            leftovers += [f"{page.relative_to(site)}: {m.group(0)}" for m in pattern.finditer(text)]
    assert not leftovers, "\n".join(leftovers)
    clients = (site / "reference" / "clients" / "index.html").read_text(encoding="utf-8")
    # A cross-reference in a sync docstring is a link to the sync twin's entry.
    assert 'href="#soravideo.BatchService.process_batch"' in clients


def test_the_ledgers_take_their_method_docstrings_from_the_protocol() -> None:
    # Written once on JobRepository; an implementation documents only what is its own
    # (open, aclose and ping), and help() and the reference show the protocol's text.
    import inspect

    from soravideo.repositories import JobRepository, MemoryRepository, SQLiteRepository
    from soravideo.repositories.postgres import PostgresRepository

    own = {"open", "aclose", "ping"}
    shared = {
        name
        for name, member in vars(JobRepository).items()
        if inspect.iscoroutinefunction(member) and name not in own
    }
    assert "claim_jobs" in shared
    for cls in (MemoryRepository, SQLiteRepository, PostgresRepository):
        assert issubclass(cls, JobRepository)
        for name in sorted(shared):
            assert vars(cls)[name].__doc__ is None, f"{cls.__name__}.{name} repeats its docstring"
            assert inspect.getdoc(getattr(cls, name)) == inspect.getdoc(
                getattr(JobRepository, name)
            )


def test_the_reference_shows_the_protocols_docstrings_on_each_ledger(site: Path) -> None:
    page = (site / "reference" / "repositories" / "index.html").read_text(encoding="utf-8")
    for path in (
        "soravideo.repositories.MemoryRepository",
        "soravideo.repositories.SQLiteRepository",
        "soravideo.repositories.postgres.PostgresRepository",
    ):
        start = page.index(f'id="{path}.claim_jobs"')
        assert "Lease up to" in page[start : start + 4000], path
