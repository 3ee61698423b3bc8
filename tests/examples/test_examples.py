"""Every script in ``examples/`` runs offline, in a subprocess, and does what it says.

The scripts start all at once (one module-scoped fixture) and each test waits for its own,
so the slowest example, not their sum, sets the time this file takes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = sorted(path.stem for path in EXAMPLES.glob("*.py"))
MP4 = b"ftyp"  # every MP4 starts with a box of this type at byte 4


@attrs.frozen
class Run:
    workdir: Path
    process: subprocess.Popen[str]

    def finish(self) -> str:
        """Wait for the script; return its output, failing the test on a non-zero exit."""
        out, err = self.process.communicate(timeout=120)
        assert self.process.returncode == 0, f"exit {self.process.returncode}\n{out}\n{err}"
        assert "Traceback" not in err, err
        return out

    def videos(self, folder: str) -> list[Path]:
        found = sorted((self.workdir / folder).glob("*.mp4"))
        for video in found:
            assert video.read_bytes()[4:8] == MP4, f"{video} is not an MP4"
        return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    # No provider settings from the developer's shell: the examples must need none.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SORAVIDEO_", "OPENAI_"))}
    started: dict[str, Run] = {}
    for name in SCRIPTS:
        workdir = tmp_path_factory.mktemp(name)
        process = subprocess.Popen(
            [sys.executable, "-W", "error", str(EXAMPLES / f"{name}.py")],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started[name] = Run(workdir, process)
    yield started
    for run in started.values():
        if run.process.poll() is None:
            run.process.kill()
            run.process.communicate()


def test_the_examples_are_the_documented_ones() -> None:
    mine = {
        "batch_from_csv",
        "custom_repository",
        "custom_transport",
        "quickstart_async",
        "quickstart_sync",
        "resume_after_crash",
    }
    assert mine <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_example_runs_offline(runs: dict[str, Run], name: str) -> None:
    runs[name].finish()


def test_quickstart_sync(runs: dict[str, Run]) -> None:
    out = runs["quickstart_sync"].finish()

    assert "completed 100%" in out
    assert "'three shorts' completed 3/3 done: 3 completed>" in out
    [video] = runs["quickstart_sync"].videos("demo-output/quickstart")
    assert video.name == "fox.mp4"


def test_quickstart_async(runs: dict[str, Run]) -> None:
    out = runs["quickstart_async"].finish()

    assert out.count("event: completed") == 3
    assert "3 videos completed" in out
    assert len(runs["quickstart_async"].videos("demo-output/quickstart-async")) == 3


def test_batch_from_csv(runs: dict[str, Run]) -> None:
    out = runs["batch_from_csv"].finish()

    assert "4 videos from prompts.csv" in out
    assert "'prompts' completed, 4 jobs: 4 completed>" in out
    assert "estimated cost: $2.40" in out
    assert len(runs["batch_from_csv"].videos("demo-output/batch")) == 4


def test_resume_after_crash_finishes_the_batch_without_a_duplicate(runs: dict[str, Run]) -> None:
    out = runs["resume_after_crash"].finish()

    assert "worker killed with 2 videos generating" in out
    after_crash = out.split("the ledger after the crash:")[1].split("resumed:")[0]
    # The kill lands a moment after the second submission: on a busy machine the worker
    # may have got a little further, so only the shape of the ledger is fixed.
    states = [after_crash.count(f" {s} ") for s in ("pending", "processing", "completed")]
    assert sum(states) == 4
    assert states[1] >= 1
    assert "completed 4/4 done: 4 completed>" in out
    assert "the provider made 4 videos for 4 jobs" in out


def test_custom_repository_keeps_the_job_in_its_file(runs: dict[str, Run]) -> None:
    out = runs["custom_repository"].finish()

    first, second = out.splitlines()[:2]
    assert first == second
    assert " completed 100% " in first
    assert out.rstrip().endswith("ledger.json holds 1 job(s)")


def test_custom_transport_runs_a_batch_on_acme(runs: dict[str, Run]) -> None:
    out = runs["custom_transport"].finish()

    assert "partial 2/2 done: 1 completed, 1 failed>" in out
    assert "error=content_policy" in out
    assert "Acme made 2 clips" in out
    assert len(runs["custom_transport"].videos("demo-output/custom-transport")) == 1
