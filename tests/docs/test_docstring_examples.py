"""Every public name shows itself at work in its docstring, and every such example runs.

What needs an example (``public_objects``): every class and function of ``soravideo``
(its ``__all__``: the clients and their services, async and sync, the models, errors,
clocks, settings and reports) and every public method of theirs (not properties); the
transports, ledgers and fakes users build (``PLUGGABLE``: each class of
``soravideo.transports`` and ``soravideo.repositories``, and what a test of
``soravideo.testing`` starts from), and the fakes' main knobs (``FAKE_KNOBS``, written
once on their base class, shown on FakeSora). ``WITHOUT_EXAMPLE`` lists the few where an
example makes no sense, each with why; ``test_every_public_object_has_an_example`` holds
the rest to it, so a new public name or method without one fails.

How an example is written (the reference renders it, see ``test_docs_build.py``): an
``Examples:`` section of the Google-style docstring holding fenced ``python`` blocks. The
blocks of one docstring run in order in one namespace, in a fresh temporary folder with
no provider settings from the environment, where

- ``sv`` is ``import soravideo as sv``;
- ``client`` is a simulated client (offline, on simulated time, an in-memory
  ledger): ``sv.AsyncSoraVideo.simulated()`` in every docstring but those of the sync twin
  (``soravideo._api.sync``), where it is ``sv.SoraVideo.simulated()``. An async example
  uses ``await`` at the top level, as in a notebook or ``python -m asyncio``; the sync
  twin's say the same without it (``tests/test_sync_parity.py`` derives their text).

A block may build its own client instead (a class's example usually does). After the
blocks, the shared client's ledger is checked against its fake (every remote video owned
by one job). Tracebacks point at the docstring's lines in the source file.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

import soravideo as sv
from soravideo.testing import FakeSora, check_exactly_once, check_ledger_exactly_once

# Of the transports, ledgers and testing helpers: the classes and functions held to it
# (their methods are the protocols', shown by the plugins guide).
PLUGGABLE = {
    "soravideo.transports": None,  # its __all__
    "soravideo.repositories": None,
    "soravideo.testing": (
        "FakeSora",
        "FakeRunway",
        "FakeFal",
        "FakeOpenRouter",
        "FakeGemini",
        "FakeReplicate",
        "check_exactly_once",
        "check_ledger_exactly_once",
        "TransportContract",
        "RepositoryContract",
    ),
}
# The knobs every fake shares, written once on the fakes' base class.
FAKE_KNOBS = (
    "advance",
    "advance_until_done",
    "created_count",
    "count",
    "inject",
    "hostile",
    "serve",
)
# Public objects without an example, and why.
WITHOUT_EXAMPLE = {
    "soravideo.RunnerStats": "the engine's own snapshot, no public call returns it: users "
    "read it as client.metrics().runner (RunnerMetrics, with an example)",
    "soravideo.transports.Transport": "a protocol to implement: the plugins guide's "
    "AcmeTransport (examples/, run by the suite) is its example",
    "soravideo.transports.RemoteJob": "made by a transport for the engine, never by users: "
    "AcmeTransport shows it",
    "soravideo.transports.ContentStream": "made by a transport for the engine: AcmeTransport "
    "shows it",
    "soravideo.repositories.JobRepository": "a protocol to implement: the plugins guide's "
    "JSONFileRepository (examples/, run by the suite) is its example",
    "soravideo.repositories.PostgresRepository": "needs a PostgreSQL server: the workers "
    "guide shows it, tests/repositories run it",
    "soravideo.AsyncSoraVideo.run_background": "the sync client's own engine loop, on its "
    "portal: users open the client with async with, or call run_worker",
    "soravideo.Page.to_pandas": "needs pandas, which neither soravideo nor its dev extra "
    "installs, so no test could run it; to_records's example shows the same rows",
}
# Provider settings an example must not pick up from the environment.
ENV_PREFIXES = (
    "SORAVIDEO_",
    "OPENAI_",
    "RUNWAYML_",
    "OPENROUTER_",
    "FAL_",
    "GOOGLE_",
    "GEMINI_",
    "REPLICATE_",
)

FENCE = re.compile(r"^```python[^\n]*\n(?P<code>.*?)^```$", re.MULTILINE | re.DOTALL)


def _own_methods(cls: type) -> list[str]:
    return [
        name
        for name, member in vars(cls).items()
        if not name.startswith("_")
        and (inspect.isfunction(member) or isinstance(member, (classmethod, staticmethod)))
    ]


def public_objects() -> dict[str, Any]:
    """Every object that needs an example, by its public path."""
    found: dict[str, Any] = {}
    for name in sv.__all__:
        obj = getattr(sv, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # constants: the page that lists them says what they are
        found[f"soravideo.{name}"] = obj
        if inspect.isclass(obj):
            for method in _own_methods(obj):
                found[f"soravideo.{name}.{method}"] = getattr(obj, method)
    for module_name, names in PLUGGABLE.items():
        module = importlib.import_module(module_name)
        for name in names or module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found[f"{module_name}.{name}"] = obj
    for knob in FAKE_KNOBS:
        found[f"soravideo.testing.FakeSora.{knob}"] = getattr(FakeSora, knob)
    return found


PUBLIC = public_objects()


def example_blocks(obj: Any) -> list[str] | None:
    """The code of the ``python`` blocks of the docstring's ``Examples:`` section, in order;
    ``None`` when it has no such section."""
    doc = inspect.cleandoc(obj.__doc__ or "")
    lines = doc.splitlines()
    if "Examples:" not in lines:
        return None
    body: list[str] = []
    for line in lines[lines.index("Examples:") + 1 :]:
        if line and not line[0].isspace():
            break  # the next section
        body.append(line)
    return [m["code"] for m in FENCE.finditer(textwrap.dedent("\n".join(body)))]


WITH_EXAMPLES = sorted(path for path, obj in PUBLIC.items() if example_blocks(obj))


def _is_sync(obj: Any) -> bool:
    return getattr(obj, "__module__", "") == "soravideo._api.sync"


def _compiled(path: str, obj: Any) -> list[Any]:
    """Each block, compiled with its lines where they are in the source file."""
    target = inspect.unwrap(obj.__func__ if isinstance(obj, classmethod) else obj)
    source = inspect.getsourcefile(target)
    assert source is not None, path
    file_lines = Path(source).read_text(encoding="utf-8").splitlines()
    start = inspect.getsourcelines(target)[1] - 1
    compiled = []
    for code in example_blocks(obj) or []:
        first = code.splitlines()[0].strip()
        line = next(i for i in range(start, len(file_lines)) if file_lines[i].strip() == first)
        text = "\n" * line + code
        flags = 0 if _is_sync(obj) else ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        compiled.append(compile(text, source, "exec", flags=flags))
        start = line + 1
    return compiled


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    return tmp_path


@pytest.mark.anyio
@pytest.mark.parametrize("path", [p for p in WITH_EXAMPLES if not _is_sync(PUBLIC[p])])
async def test_async_example_runs(path: str, sandbox: Path) -> None:
    # Not entered with ``async with``: its calls drive its engine while they wait. Two
    # simulated clients whose engines both run in the background of one event loop wait
    # for each other's simulated time, and a class's example opens a client of its own.
    client = sv.AsyncSoraVideo.simulated()
    try:
        namespace: dict[str, Any] = {"__name__": "__example__", "sv": sv, "client": client}
        for code in _compiled(path, PUBLIC[path]):
            result = eval(code, namespace)
            if inspect.iscoroutine(result):
                await result
        assert client.fake is not None
        await check_ledger_exactly_once(client.fake, client.repository, settled=False)
    finally:
        await client.aclose()


@pytest.mark.parametrize("path", [p for p in WITH_EXAMPLES if _is_sync(PUBLIC[p])])
def test_sync_example_runs(path: str, sandbox: Path) -> None:
    with sv.SoraVideo.simulated() as client:
        namespace: dict[str, Any] = {"__name__": "__example__", "sv": sv, "client": client}
        for code in _compiled(path, PUBLIC[path]):
            exec(code, namespace)
        assert client.fake is not None
        jobs = client.videos.list_jobs(limit=1000).items
        check_exactly_once(client.fake, jobs, settled=False)


def test_every_public_object_has_an_example() -> None:
    missing = [
        path
        for path, obj in PUBLIC.items()
        if not example_blocks(obj) and path not in WITHOUT_EXAMPLE
    ]
    assert not missing, "an Examples: section with a ```python block is missing on:\n" + (
        "\n".join(missing)
    )


def test_the_exceptions_are_still_public_and_without_an_example() -> None:
    # An entry for a name gone, or one that has an example by now, is dropped.
    stale = [p for p in WITHOUT_EXAMPLE if p not in PUBLIC or example_blocks(PUBLIC[p])]
    assert not stale, stale


def test_the_scope_covers_the_clients_and_services() -> None:
    for path in (
        "soravideo.AsyncSoraVideo.simulated",
        "soravideo.SoraVideo.resume",
        "soravideo.AsyncVideoService.as_completed",
        "soravideo.VideoService.create_videos",
        "soravideo.BatchService.create_batch_from_file",
        "soravideo.transports.RunwayTransport",
        "soravideo.repositories.SQLiteRepository",
        "soravideo.testing.FakeReplicate",
        "soravideo.testing.FakeSora.inject",
        "soravideo.testing.check_ledger_exactly_once",
    ):
        assert path in PUBLIC, path


def test_the_extraction_reads_the_examples_section_only() -> None:
    def documented() -> None:
        """Do it.

        Args:
            x: Not code.

        Examples:
            ```python
            a = 1
            ```

            Then:

            ```python
            b = a + 1
            ```

        Returns:
            Nothing.
        """

    assert example_blocks(documented) == ["a = 1\n", "b = a + 1\n"]
    assert example_blocks(test_the_extraction_reads_the_examples_section_only) is None
