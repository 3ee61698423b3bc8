"""Every code block of the docs and the README is executed (or its source is).

Rules, per fenced block, by language:

- ``python``: executed. A page's blocks run in order in one namespace, in a fresh
  temporary folder (with a copy of ``examples/``), with no provider settings from the
  environment, warnings as errors; tracebacks point at
  the markdown file and line. A block that only includes files (``--8<-- "path:section"``,
  pymdownx.snippets) is not run here: the included file must exist, be an example or a test
  that the suite runs, and have the section.
- a block with a ``title="NAME"`` (a manifest, say): written to ``NAME`` in that folder
  before the page's next blocks run.
- ``bash`` / ``console``: each command must be one the repository backs: a ``make``
  target of the Makefile, ``pip install`` with extras that exist, an example that exists,
  the ``soravideo`` command (tested in tests/cli), ``mkdocs`` or ``pytest``.
- ``text``: diagrams and output, nothing to run.

Pages that other parts of the suite own are listed in ``ELSEWHERE`` with where they are tested.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# Pages whose code is run by other tests (their owners'), not here.
ELSEWHERE = {
    "docs/cli.md": "tests/cli (every command through main(), the entry points in subprocesses)",
    "docs/runway.md": "the Runway transport's tests (needs a Runway account for its first block)",
    "docs/health.md": "the health tests (its blocks need Starlette or Flask)",
    "docs/guides/webhooks.md": "tests/webhooks (its route needs Starlette, not a dependency)",
}
RUN_HERE = sorted(
    str(path.relative_to(ROOT))
    for path in [ROOT / "README.md", *DOCS.rglob("*.md")]
    if str(path.relative_to(ROOT)) not in ELSEWHERE
)

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)(?P<attrs>[^\n`]*)$")
TITLE = re.compile(r'title="(?P<title>[^"]+)"')
SNIPPET = re.compile(r'^--8<--\s+"(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"$')
SHELL = {"bash", "console", "sh", "shell"}
DATA = {"csv", "jsonl", "json", "yaml", "toml"}


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # 1-based line of the first line of code
    lang: str
    title: str | None
    code: str


def blocks(page: str) -> list[Block]:
    """Return the fenced code blocks of a markdown file, in order."""
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None or not match["lang"]:
            assert match is None, f"{page}:{i + 1}: a code block needs a language"
            i += 1
            continue
        indent, start = match["indent"], i + 1
        end = start
        while lines[end].strip() != "```":
            end += 1
        code = "\n".join(line.removeprefix(indent) for line in lines[start:end])
        title = TITLE.search(match["attrs"])
        found.append(Block(page, start + 1, match["lang"], title and title["title"], code))
        i = end + 1
    return found


def test_every_page_is_checked_somewhere() -> None:
    pages = {str(p.relative_to(ROOT)) for p in DOCS.rglob("*.md")}

    assert set(ELSEWHERE) <= pages, "a page listed as tested elsewhere is gone: drop it"
    assert {"README.md", "docs/getting-started.md", "docs/guides/plugins.md"} <= set(RUN_HERE)


@pytest.mark.parametrize("page", RUN_HERE)
def test_page_code_runs(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    # Pages may read the shipped manifests by their repository path (examples/prompts.csv).
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    for name in list(os.environ):
        if name.startswith(("SORAVIDEO_", "OPENAI_", "RUNWAYML_", "OPENROUTER_")):
            monkeypatch.delenv(name)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in blocks(page):
        where = f"{block.page}:{block.line}"
        if block.lang == "python":
            if _is_snippet(block):
                _check_snippet(block)
            else:
                # Leading newlines make tracebacks point at the markdown's own lines.
                source = "\n" * (block.line - 1) + block.code
                exec(compile(source, str(ROOT / block.page), "exec"), namespace)
        elif block.title is not None:
            (tmp_path / block.title).write_text(block.code + "\n", encoding="utf-8")
        elif block.lang in SHELL:
            for command in _commands(block):
                _check_command(command, where)
        else:
            assert block.lang in DATA | {"text"}, f"{where}: what runs a {block.lang} block?"
    capsys.readouterr()


def _is_snippet(block: Block) -> bool:
    lines = [line for line in block.code.splitlines() if line.strip()]
    return bool(lines) and all(SNIPPET.match(line.strip()) for line in lines)


def _check_snippet(block: Block) -> None:
    for line in block.code.splitlines():
        match = SNIPPET.match(line.strip())
        if match is None:
            continue
        path = match["path"]
        where = f"{block.page}:{block.line}"
        assert path.startswith(("examples/", "tests/examples/")), (
            f"{where}: include only files the suite runs (examples/, tests/examples/), not {path}"
        )
        text = (ROOT / path).read_text(encoding="utf-8")
        if match["section"]:
            assert f"--8<-- [start:{match['section']}]" in text, f"{where}: no section"
            assert f"--8<-- [end:{match['section']}]" in text, f"{where}: no section end"


def _commands(block: Block) -> list[str]:
    commands = []
    for raw in block.code.splitlines():
        line = raw.strip()
        if block.lang == "console":
            if not line.startswith("$ "):
                continue  # output
            line = line[2:]
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            commands.append(line)
    return commands


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([\w-]+):", text, flags=re.MULTILINE))


def _extras() -> set[str]:
    # tomllib is 3.11+; the table's keys are all this needs.
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    table = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r"^([\w-]+)\s*=", table, flags=re.MULTILINE))


def _check_command(command: str, where: str) -> None:
    words = shlex.split(command)
    program = words[0]
    if program == "make":
        missing = set(words[1:]) - _make_targets()
        assert not missing, f"{where}: no make target {missing}"
    elif words[:2] == ["pip", "install"]:
        for extra in re.findall(r"(?:soravideo|\.)\[([\w,-]+)\]", command):
            missing = set(extra.split(",")) - _extras()
            assert not missing, f"{where}: no extra {missing} in pyproject.toml"
    elif program == "python" and words[1].startswith("examples/"):
        assert (ROOT / words[1]).is_file(), f"{where}: no {words[1]}"
    elif program == "soravideo" or words[:3] == ["python", "-m", "soravideo"]:
        assert (ROOT / "src" / "soravideo" / "__main__.py").is_file()
    else:
        assert program in ("mkdocs", "pytest"), f"{where}: what checks `{command}`?"


@pytest.mark.parametrize(
    "command",
    [
        "make no-such-target",
        "pip install 'soravideo[no-such-extra]'",
        "python examples/no_such_example.py",
        "curl https://example.com",
    ],
)
def test_a_command_nothing_backs_is_refused(command: str) -> None:
    with pytest.raises(AssertionError):
        _check_command(command, "here")


def test_a_snippet_of_a_file_the_suite_does_not_run_is_refused() -> None:
    with pytest.raises(AssertionError, match="include only files the suite runs"):
        _check_snippet(
            Block("page.md", 1, "python", None, '--8<-- "src/soravideo/_core/models.py"')
        )
    with pytest.raises(AssertionError, match="no section"):
        _check_snippet(
            Block("page.md", 1, "python", None, '--8<-- "examples/quickstart_sync.py:x"')
        )
