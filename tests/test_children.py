"""``tests/children.py``: a script forked from the preloaded parent behaves as ``python
SCRIPT`` in a subprocess would, as far as the durability and multi-worker tests look.

They judge their children by exit status, output and stderr: if this helper lost an exit
status or a traceback, they would pass on a child that failed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

from children import start_script

SCRIPT = """
import atexit, os, sys
atexit.register(lambda: print("atexit ran", flush=True))
print("argv", sys.argv[1:])
print("cwd", os.getcwd())
print("env", os.environ.get("CHILDREN_TEST_VALUE"))
print("main", __name__, os.path.basename(__file__))
print("path0", sys.path[0])
print("to stderr", file=sys.stderr)
sys.exit(int(sys.argv[1]))
"""


def script(tmp_path: Path, text: str, name: str = "child_script.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_child_runs_as_main_with_its_argv_env_and_cwd_and_exits_with_its_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = script(tmp_path, SCRIPT)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("CHILDREN_TEST_VALUE", "set after the forkserver started")
    child = start_script(path, "3", "two words")
    out, err = child.communicate(timeout=60)
    assert child.returncode == 3
    assert out.splitlines() == [
        "argv ['3', 'two words']",
        f"cwd {work}",
        "env set after the forkserver started",
        "main __main__ child_script.py",
        f"path0 {tmp_path}",
        "atexit ran",
    ]
    assert err == "to stderr\n"
    assert child.pid != os.getpid()


def test_an_exception_is_a_traceback_on_stderr_and_exit_status_1(tmp_path: Path) -> None:
    path = script(tmp_path, "raise RuntimeError('the child broke')\n")
    child = start_script(path)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 1
    assert "Traceback" in err and "RuntimeError: the child broke" in err
    assert out == ""


def test_sigkill_and_sigterm_end_it_as_they_end_a_subprocess(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        """
        import time
        print("ready", flush=True)
        time.sleep(600)
        """,
    )
    for sig in (signal.SIGKILL, signal.SIGTERM):
        child = start_script(path)
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        assert child.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.01)
        child.send_signal(sig)
        assert child.wait(timeout=60) == -sig
        child.communicate(timeout=60)


def test_stderr_may_go_to_a_file_and_stdout_is_read_line_by_line(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        """
        import sys
        for i in range(3):
            print("line", i, flush=True)
        print("an error", file=sys.stderr, flush=True)
        """,
    )
    with (tmp_path / "err.txt").open("w") as err:
        child = start_script(path, stderr=err)
    assert child.stderr is None
    assert child.stdout is not None
    assert list(child.stdout) == ["line 0\n", "line 1\n", "line 2\n"]
    assert child.wait(timeout=60) == 0
    child.stdout.close()
    assert (tmp_path / "err.txt").read_text() == "an error\n"


def test_the_child_is_forked_from_the_preloaded_parent_not_started_afresh(
    tmp_path: Path,
) -> None:
    # The package is already imported when the script starts: nothing to load again.
    path = script(tmp_path, "import sys\nprint('soravideo' in sys.modules)\n")
    child = start_script(path)
    out, _ = child.communicate(timeout=60)
    assert out == "True\n"
    assert child.returncode == 0
