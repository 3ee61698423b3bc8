"""docs/cli.md: its offline walkthrough runs as shown; every command and option it names exists."""

from __future__ import annotations

import argparse
import io
import re
import shlex
from pathlib import Path

import pytest

from soravideo.cli import main
from soravideo.cli.commands import COMMANDS
from soravideo.cli.parser import build_parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
# Long-running or already run by test_cli.py: checked by the parser only.
NOT_RUN = {"demo", "worker", "serve"}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text("utf-8"), flags=re.M | re.S)


def _console() -> list[tuple[list[str], int]]:
    """Each ``$ soravideo …`` line of the console blocks, with the exit code shown after it."""
    steps: list[tuple[list[str], int]] = []
    for block in _blocks("console"):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("$ soravideo "):
                steps.append((shlex.split(line[2:])[1:], 0))
            elif line == "$ echo $?":
                steps[-1] = (steps[-1][0], int(lines[i + 1]))
    return steps


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_every_command_has_a_section_and_every_exit_code_is_documented() -> None:
    text = DOC.read_text("utf-8")
    for command in COMMANDS:
        assert f"\n### {command}\n" in text, command
    for code in (0, 1, 2, 3, 130):
        assert f"\n| {code} |" in text


def test_every_synopsis_names_real_options() -> None:
    commands = _subparsers(build_parser())
    synopses = [b for b in _blocks("text") if b.startswith("soravideo ") and "COMMAND" not in b]
    assert len(synopses) >= len(COMMANDS)
    for block in synopses:
        command = block.split()[1]
        known = {o for action in commands[command]._actions for o in action.option_strings}
        for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", block):
            assert option in known, f"{command} {option}"


def test_every_console_command_parses() -> None:
    steps = _console()
    assert len(steps) >= 8
    parser = build_parser()
    for argv, _ in steps:
        parser.parse_args(argv)


def test_the_offline_walkthrough_runs_as_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SORAVIDEO_DB", raising=False)
    (manifest,) = _blocks("csv")
    (tmp_path / "prompts.csv").write_text(manifest, encoding="utf-8")
    ran = 0
    for argv, expected in _console():
        if "simulated" not in argv or NOT_RUN & set(argv):
            continue
        out, err = io.StringIO(), io.StringIO()
        assert main(argv, stdout=out, stderr=err) == expected, (argv, err.getvalue())
        ran += 1
    assert ran >= 6
    assert (tmp_path / "fox.mp4").is_file()
    assert len(list((tmp_path / "videos").glob("*.mp4"))) == 2
