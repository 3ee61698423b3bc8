"""A throwaway PostgreSQL server for tests and benchmarks: ``initdb`` + ``pg_ctl`` on loopback.

The server lives in a temporary directory, listens on a free 127.0.0.1 port (and a Unix
socket in the same directory), trusts local connections, and trades durability for speed
(``fsync``, ``synchronous_commit`` and ``full_page_writes`` off): it exists for one test
session and is deleted with it. PostgreSQL refuses to run as root, so under root the server
runs as the ``postgres`` system user (created by the OS packages) or, failing that, ``nobody``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

__all__ = ["PostgresUnavailableError", "TemporaryPostgres", "find_postgres_bin"]

_TOOLS = ("initdb", "pg_ctl", "postgres")


class PostgresUnavailableError(RuntimeError):
    """The PostgreSQL server binaries are missing, or the server would not start."""


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)


def find_postgres_bin() -> Path | None:
    """Find a directory holding ``initdb``, ``pg_ctl`` and ``postgres``, newest version first.

    Returns:
        The directory, or ``None`` when PostgreSQL's server binaries are not installed.
    """
    candidates: list[str] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for pattern in (
        "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
        "/usr/pgsql-*/bin",  # RHEL, Fedora (PGDG)
        "/opt/homebrew/opt/postgresql@*/bin",  # macOS, Homebrew
        "/usr/local/opt/postgresql@*/bin",
    ):
        candidates.extend(sorted(glob.glob(pattern), key=_version_key, reverse=True))
    candidates.extend(["/usr/local/pgsql/bin", "/usr/lib/postgresql/bin"])
    for candidate in candidates:
        directory = Path(candidate)
        if all(os.access(directory / tool, os.X_OK) for tool in _TOOLS):
            return directory
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_user() -> pwd.struct_passwd | None:
    """Return the account to run the server as, or ``None`` to run it as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailableError(
        "running as root and no 'postgres' or 'nobody' user to run PostgreSQL as"
    )


def _run_tool(root: Path, tool: Path, args: list[str], user: pwd.struct_passwd | None) -> None:
    env = {**os.environ, "LC_ALL": "C", "PGTZ": "UTC", "TZ": "UTC"}
    if user is not None:
        env |= {"HOME": str(root), "USER": user.pw_name, "LOGNAME": user.pw_name}
    result = subprocess.run(
        [str(tool), *args],
        cwd=root,
        env=env,
        user=user.pw_uid if user is not None else None,
        group=user.pw_gid if user is not None else None,
        extra_groups=[] if user is not None else None,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        log = root / "server.log"
        if log.exists():
            detail += log.read_text(errors="replace").strip().splitlines()[-3:]
        reason = " | ".join(line.strip() for line in detail[-4:] if line.strip())
        raise PostgresUnavailableError(f"{tool.name} failed: {reason or 'no output'}")


class TemporaryPostgres:
    """Start a disposable PostgreSQL server; ``stop()`` (or leaving the ``with``) deletes it.

    Args:
        bin_dir: Where ``initdb`` and ``pg_ctl`` live; found with ``find_postgres_bin``
            when omitted.
        database: The database created for the caller (its DSN is ``dsn``).
        settings: Extra ``postgres -c name=value`` settings.

    Raises:
        PostgresUnavailableError: from ``start``, when the binaries are missing or the
            server fails to start (the message says why, in one line).
    """

    def __init__(
        self,
        *,
        bin_dir: str | os.PathLike[str] | None = None,
        database: str = "soravideo",
        settings: dict[str, str] | None = None,
    ) -> None:
        self._bin_dir = Path(bin_dir) if bin_dir is not None else None
        self._database = database
        self._settings = {
            "listen_addresses": "127.0.0.1",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            **(settings or {}),
        }
        self._root: Path | None = None
        self._port: int | None = None

    @property
    def dsn(self) -> str:
        """The connection string of the caller's database (valid once started)."""
        if self._port is None:
            raise RuntimeError("the server is not started")
        return f"host=127.0.0.1 port={self._port} user=postgres dbname={self._database}"

    def start(self) -> str:
        """Create the cluster, start the server, create the database; return its DSN.

        Returns:
            A libpq connection string for the new database.

        Raises:
            PostgresUnavailableError: the binaries are missing or the server did not start.
        """
        if self._port is not None:
            return self.dsn
        bin_dir = self._bin_dir or find_postgres_bin()
        if bin_dir is None:
            raise PostgresUnavailableError(
                "PostgreSQL server binaries (initdb, pg_ctl) not found "
                "(install the 'postgresql' OS package)"
            )
        user = _server_user()
        self._root = Path(tempfile.mkdtemp(prefix="soravideo-pg-"))
        try:
            if user is not None:
                os.chown(self._root, user.pw_uid, user.pw_gid)
            self._run(
                bin_dir / "initdb",
                [
                    *("-D", "data", "-U", "postgres", "--auth=trust", "-E", "UTF8"),
                    "--no-locale",
                    "--no-sync",
                ],
                user,
            )
            self._start_server(bin_dir, user)
            self._create_database(bin_dir, user)
        except BaseException:
            self.stop()
            raise
        return self.dsn

    def _start_server(self, bin_dir: Path, user: pwd.struct_passwd | None) -> None:
        assert self._root is not None
        # A free port can be taken between probing and binding: try a few.
        last_error: PostgresUnavailableError | None = None
        for _ in range(3):
            port = _free_port()
            options = [f"-p {port}", f"-k {shlex.quote(str(self._root))}"]
            options += [f"-c {k}={shlex.quote(v)}" for k, v in self._settings.items()]
            try:
                self._run(
                    bin_dir / "pg_ctl",
                    [
                        *("-D", "data", "-l", "server.log", "-w", "-t", "60"),
                        "-o",
                        " ".join(options),
                        "start",
                    ],
                    user,
                )
            except PostgresUnavailableError as exc:
                last_error = exc
                continue
            self._port = port
            return
        assert last_error is not None
        raise last_error

    def _create_database(self, bin_dir: Path, user: pwd.struct_passwd | None) -> None:
        assert self._port is not None
        if self._database == "postgres":
            return
        createdb = bin_dir / "createdb"
        if not os.access(createdb, os.X_OK):
            raise PostgresUnavailableError(f"{createdb} is missing")
        self._run(
            createdb,
            ["-h", "127.0.0.1", "-p", str(self._port), "-U", "postgres", self._database],
            user,
        )

    def _run(self, tool: Path, args: list[str], user: pwd.struct_passwd | None) -> None:
        assert self._root is not None
        _run_tool(self._root, tool, args, user)

    def stop(self) -> None:
        """Stop the server (fast, no checkpoint) and delete its directory. Idempotent."""
        root, self._root, self._port = self._root, None, None
        if root is None:
            return
        try:
            bin_dir = self._bin_dir or find_postgres_bin()
            if bin_dir is not None and (root / "data" / "postmaster.pid").exists():
                with contextlib.suppress(PostgresUnavailableError):
                    _run_tool(
                        root,
                        bin_dir / "pg_ctl",
                        ["-D", "data", "-m", "immediate", "-w", "stop"],
                        _server_user(),
                    )
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> TemporaryPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"port={self._port}" if self._port is not None else "stopped"
        return f"TemporaryPostgres({state})"
