"""Every script in ``examples/`` runs offline, in a subprocess, and does what it says.

The scripts start all at once and one test waits for each in turn, so the slowest example,
not their sum, sets the time this takes. One test, not one per script: pytest-xdist may
give a module's tests to different workers, and each would start every script.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
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


def test_the_examples_are_the_documented_ones() -> None:
    mine = {
        "batch_from_csv",
        "custom_repository",
        "custom_transport",
        "quickstart_async",
        "quickstart_sync",
        "resume_after_crash",
        "video_app",
    }
    assert mine <= set(SCRIPTS)


def _start(name: str, workdir: Path) -> Run:
    # No provider settings from the developer's shell: the examples must need none.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SORAVIDEO_", "OPENAI_", "RUNWAYML_", "OPENROUTER_"))
    }
    process = subprocess.Popen(
        [sys.executable, "-W", "error", str(EXAMPLES / f"{name}.py")],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Its own process group: an example's own children (resume_after_crash starts a
        # worker) hold its pipes too, and must go with it if the test stops early.
        start_new_session=True,
    )
    return Run(workdir, process)


def test_every_example_runs_offline_and_does_what_it_says(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    runs = {name: _start(name, tmp_path_factory.mktemp(name)) for name in SCRIPTS}
    failures: dict[str, str] = {}
    try:
        for name, run in runs.items():
            try:
                out = run.finish()
                check = CHECKS.get(name)
                if check is not None:
                    check(run, out)
            except (AssertionError, subprocess.TimeoutExpired) as exc:
                failures[name] = str(exc)
    finally:
        for run in runs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.process.pid, signal.SIGKILL)  # whatever is left of its group
            run.process.communicate()
    assert not failures, "\n\n".join(f"examples/{n}.py: {why}" for n, why in failures.items())


# -- what each example must show (every other script must only exit cleanly) ------------------


def check_quickstart_sync(run: Run, out: str) -> None:
    assert "completed 100%" in out
    assert "'three shorts' completed 3/3 done: 3 completed>" in out
    [video] = run.videos("demo-output/quickstart")
    assert video.name == "fox.mp4"


def check_quickstart_async(run: Run, out: str) -> None:
    assert out.count("event: completed") == 3
    assert "3 videos completed" in out
    assert len(run.videos("demo-output/quickstart-async")) == 3


def check_batch_from_csv(run: Run, out: str) -> None:
    assert "4 videos from prompts.csv" in out
    assert "'prompts' completed, 4 jobs: 4 completed>" in out
    assert "estimated cost: $2.40" in out
    assert len(run.videos("demo-output/batch")) == 4


def check_resume_after_crash(run: Run, out: str) -> None:
    # It finishes the batch without a duplicate.

    assert "worker killed with 2 videos generating" in out
    after_crash = out.split("the ledger after the crash:")[1].split("resumed:")[0]
    # The kill lands a moment after the second submission: on a busy machine the worker
    # may have got a little further, so only the shape of the ledger is fixed.
    states = [after_crash.count(f" {s} ") for s in ("pending", "processing", "completed")]
    assert sum(states) == 4
    assert states[1] >= 1
    assert "completed 4/4 done: 4 completed>" in out
    assert "the provider made 4 videos for 4 jobs" in out


def check_custom_repository(run: Run, out: str) -> None:
    # It keeps the job in its file.

    first, second = out.splitlines()[:2]
    assert first == second
    assert " completed 100% " in first
    assert out.rstrip().endswith("ledger.json holds 1 job(s)")


def check_custom_transport(run: Run, out: str) -> None:
    # It runs a batch on Acme.

    assert "partial 2/2 done: 1 completed, 1 failed>" in out
    assert "error=content_policy" in out
    assert "Acme made 2 clips" in out
    assert len(run.videos("demo-output/custom-transport")) == 1


def check_video_app(run: Run, out: str) -> None:
    # Three jobs created over HTTP, each served back as a video, all in the gallery.
    lines = out.splitlines()
    assert lines[0] == "created 3 jobs over HTTP"
    served = [line for line in lines if line.endswith("bytes of video")]
    assert len(served) == 3 and all(": completed, " in line for line in served)
    assert lines[-1] == "gallery: 3 videos"
    assert len(run.videos("demo-output/app")) == 3


CHECKS: dict[str, Callable[[Run, str], None]] = {
    "quickstart_sync": check_quickstart_sync,
    "quickstart_async": check_quickstart_async,
    "batch_from_csv": check_batch_from_csv,
    "resume_after_crash": check_resume_after_crash,
    "custom_repository": check_custom_repository,
    "custom_transport": check_custom_transport,
    "video_app": check_video_app,
}
