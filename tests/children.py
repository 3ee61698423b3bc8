"""The tests' own child scripts, run in real processes forked from a preloaded parent.

A test that needs a real process (one killed with SIGKILL, stopped with SIGTERM, or
sharing a ledger with another) but not a fresh interpreter starts its script with
``start_script``: multiprocessing's forkserver starts one interpreter per test process,
the first time one is asked for, with the package and the ledgers' drivers imported, and
forks each child from it. A child costs a fork (tens of ms of CPU) instead of an
interpreter's start-up and the package's imports (0.4 to 0.8 s of CPU each, which the
durability and multi-worker tests paid for every process they started). As multiprocessing
does for any child it starts this way, the child imports the test process's ``__main__``
module first (pytest's, which only imports pytest when it is not run as ``__main__``).

The child runs the script as ``python SCRIPT ARGS…`` would: as ``__main__``, with its
own ``sys.argv``, the environment and working directory of the test at that moment,
stdout and stderr on pipes to the test (or stderr to a file), and it ends as the
interpreter would (exit status, ``-9`` when SIGKILLed, ``atexit`` handlers run). What
needs a fresh interpreter still starts one with ``subprocess``: what importing the
package loads, the command's entry points, the examples (run as their users run them,
``-W error`` from start-up to shutdown).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import runpy
import selectors
import signal
import subprocess
import sys
import time
from multiprocessing import reduction
from pathlib import Path
from typing import IO, Any

# What the scripts import, loaded once in the forkserver (a module missing here, such as
# psycopg without the postgres extra, is skipped by the forkserver).
PRELOAD = [
    "soravideo",
    "soravideo._api.client",
    "soravideo._api.sync",
    "soravideo.repositories.sqlite",
    "soravideo.repositories.postgres",
    "soravideo.transports.sora",
    "psycopg",
    "anyio._backends._asyncio",
]

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(PRELOAD)

PIPE = subprocess.PIPE


class _Fd:
    """A file descriptor of the test's, sent to the child as it is forked."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        # Pickled while the child is started: the forkserver passes the descriptor along.
        return _received, (reduction.DupFd(self.fd),)  # type: ignore[attr-defined]


def _received(dup: Any) -> int:
    return int(dup.detach())


def _run(
    script: str,
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    stdout: int,
    stderr: int,
) -> None:
    """In the child: take the test's pipes as stdout and stderr, then run the script."""
    for target, fd in ((1, stdout), (2, stderr)):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.argv = [script, *argv]
    sys.path.insert(0, os.path.dirname(script))
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        # multiprocessing ends its children with os._exit: run what an interpreter's exit
        # runs (the package closes clients left open; logging flushes its handlers).
        atexit._run_exitfuncs()


class Child:
    """A started script, with the part of ``subprocess.Popen``'s interface the tests use."""

    def __init__(
        self,
        script: Path | str,
        *args: str,
        stdout: int = PIPE,
        stderr: int | IO[Any] = PIPE,
    ) -> None:
        self.args = [str(script), *args]
        out_r, out_w = os.pipe()
        if stderr == PIPE:
            err_r, err_w = os.pipe()
        else:
            assert not isinstance(stderr, int), "stderr: PIPE or an open file"
            err_r, err_w = -1, os.dup(stderr.fileno())
        assert stdout == PIPE, "stdout: PIPE"
        self._process = _CONTEXT.Process(
            target=_run,
            args=(str(script), list(args), dict(os.environ), os.getcwd(), _Fd(out_w), _Fd(err_w)),
            daemon=True,  # ended, not waited for, if a test leaves it running at exit
        )
        try:
            self._process.start()
        finally:
            os.close(out_w)
            os.close(err_w)
        self.pid: int = self._process.pid or 0
        self.stdout: IO[str] | None = open(out_r, encoding="utf-8")  # noqa: SIM115
        self.stderr: IO[str] | None = open(err_r, encoding="utf-8") if err_r >= 0 else None  # noqa: SIM115
        self.returncode: int | None = None
        self._output: dict[int, list[bytes]] = {}

    def poll(self) -> int | None:
        """Return the exit status (``-N``: killed by signal N), or None while it runs."""
        if self.returncode is None:
            self.returncode = self._process.exitcode
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to end; return its exit status.

        Raises:
            subprocess.TimeoutExpired: it is still running after ``timeout`` seconds.
        """
        self._process.join(timeout)
        code = self.poll()
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return code

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the child, unless it has ended."""
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Read stdout and stderr to their end, wait for the child; return what they said.

        As ``Popen.communicate``: what is read from here on (from the pipes themselves,
        not what iterating ``stdout`` has buffered already).

        Raises:
            subprocess.TimeoutExpired: not over after ``timeout`` seconds (call it again
                to go on reading).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        streams = [s for s in (self.stdout, self.stderr) if s is not None and not s.closed]
        with selectors.DefaultSelector() as selector:
            for stream in streams:
                selector.register(stream.fileno(), selectors.EVENT_READ)
                self._output.setdefault(stream.fileno(), [])
            while selector.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
                for key, _ in selector.select(left):
                    data = os.read(key.fd, 32768)
                    if data:
                        self._output[key.fd].append(data)
                    else:
                        selector.unregister(key.fd)
        said = []
        for stream in (self.stdout, self.stderr):
            if stream is None or stream.closed:
                said.append("")
                continue
            raw = b"".join(self._output.pop(stream.fileno(), []))
            said.append(raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n"))
            stream.close()
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        self.wait(left)
        return said[0], said[1]


def stop() -> None:
    """Stop the forkserver, if this process started one, and wait for it.

    Called at the end of the session (``tests/conftest.py``): the children the forkserver
    forked and reaped are then accounted to this process (``getrusage``, ``time``), and
    nothing outlives the run. Private to multiprocessing, and what its own tests call.
    """
    from multiprocessing import forkserver, resource_tracker

    forkserver._forkserver._stop()  # type: ignore[attr-defined]
    resource_tracker._resource_tracker._stop()  # type: ignore[attr-defined]


def start_script(script: Path | str, *args: str, stderr: int | IO[Any] = PIPE) -> Child:
    """Start ``python SCRIPT ARGS…`` as a child forked from the preloaded parent.

    Args:
        script: The script's path.
        *args: Its arguments.
        stderr: ``PIPE`` (``child.stderr``) or an open file the child writes to.
    """
    return Child(script, *args, stderr=stderr)
