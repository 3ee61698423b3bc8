from __future__ import annotations

import fcntl
import os
import shutil
import signal
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Leave what collection built (the package, the libraries, the test modules: about
    150,000 objects) out of the garbage collector's full passes from here on.

    Each full pass (one every few hundred tests, and pytest's two at the end of the run)
    walks every object alive; what was imported to collect the tests lives to the end
    anyway. Objects made by the tests are collected as before.
    """
    import gc

    gc.freeze()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the forkserver of ``tests/children.py``, if a test started a child with it."""
    import sys

    children = sys.modules.get("children")
    if children is not None:
        children.stop()


@pytest.fixture
def ctrl_c() -> Iterator[None]:
    """Make SIGINT raise ``KeyboardInterrupt`` for the test, as in an interactive program.

    A process started in the background of a non-interactive shell (as some CI runners start
    jobs) inherits SIGINT ignored; ``_thread.interrupt_main()`` then does nothing, and a
    test that waits for its Ctrl-C would hang instead of failing.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# -- SQLite: a new ledger is a copy of one made once ---------------------------------------


@pytest.fixture(scope="session")
def sqlite_ledger_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite ledger, made and migrated once per process by ``SQLiteRepository``."""
    import anyio

    from soravideo.repositories import SQLiteRepository

    path = tmp_path_factory.mktemp("sqlite-template") / "ledger.db"

    async def make() -> None:
        async with SQLiteRepository(path) as repository:
            await repository.list_jobs()

    # In a thread of its own: an async fixture may be the first to ask for it, with its
    # event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, make).result()
    # Closed, its write-ahead log is folded into the file: the file alone is the ledger.
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture
def new_sqlite_ledger(sqlite_ledger_template: Path) -> Callable[[Path], Path]:
    """Put a new, empty SQLite ledger at a path (a copy of ``sqlite_ledger_template``).

    What ``SQLiteRepository`` makes of a new file, without making it: creating one syncs
    the disk about eight times (journal, then write-ahead log), tens of ms on many disks,
    for every test. Creating and migrating a new file has its own tests
    (tests/repositories/test_sqlite.py, and wherever a test names a file of its own).
    """

    def place(path: Path) -> Path:
        shutil.copyfile(sqlite_ledger_template, path)
        return path

    return place


# -- PostgreSQL: one throwaway server per session, one fresh schema per test ------------------

POSTGRES_DSN_ENV = "SORAVIDEO_TEST_POSTGRES_DSN"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _postgres_unavailable(reason: str) -> NoReturn:
    # On a laptop without PostgreSQL the tests skip; in CI they must run, so they fail.
    if _in_ci():
        pytest.fail(f"PostgreSQL tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Yield the DSN of a PostgreSQL database: ``$SORAVIDEO_TEST_POSTGRES_DSN`` or a throwaway.

    pytest-xdist's workers share one throwaway server (each test has its own schema): the
    first worker to ask starts it, and stops it at the end of its session once no other
    worker still uses it. A worker that asks after that starts a new one.
    """
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        _postgres_unavailable(f"{exc} (pip install 'soravideo[postgres]')")

    existing = os.environ.get(POSTGRES_DSN_ENV)
    if existing:
        yield existing
        return
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        server = _start_postgres()
        try:
            yield server.dsn
        finally:
            server.stop()
        return
    # The workers share the parent of their own temporary folders (as the docs build does).
    # ``postgres.dsn`` exists while a server takes new users; each user holds a shared lock
    # on the server's ``.inuse`` file, and its owner takes the exclusive one before stopping.
    shared = tmp_path_factory.getbasetemp().parent
    dsn_file = shared / "postgres.dsn"
    with (shared / "postgres.lock").open("w") as mutex:
        fcntl.flock(mutex, fcntl.LOCK_EX)
        server = None
        if not dsn_file.exists():
            server = _start_postgres()
            dsn_file.write_text(server.dsn)
        dsn = dsn_file.read_text()
        inuse = (shared / f"postgres-{uuid.uuid5(uuid.NAMESPACE_URL, dsn).hex}.inuse").open("a")
        fcntl.flock(inuse, fcntl.LOCK_SH)
    try:
        yield dsn
    finally:
        if server is None:
            inuse.close()  # lets the owner stop the server
        else:
            with (shared / "postgres.lock").open("w") as mutex:
                fcntl.flock(mutex, fcntl.LOCK_EX)
                dsn_file.unlink()  # no new user from here on
            try:
                fcntl.flock(inuse, fcntl.LOCK_EX)  # waits for the other workers' sessions
            finally:
                inuse.close()
                server.stop()


def _start_postgres() -> Any:
    from soravideo.testing._postgres_server import PostgresUnavailableError, TemporaryPostgres

    server = TemporaryPostgres()
    try:
        server.start()
    except PostgresUnavailableError as exc:
        _postgres_unavailable(str(exc))
    return server


@pytest.fixture(scope="session")
def postgres_admin(postgres_server: str) -> Iterator[Any]:
    """One autocommit connection for the whole session, to make and drop test schemas."""
    import psycopg

    with psycopg.connect(postgres_server, autocommit=True) as admin:
        yield admin


@pytest.fixture
def postgres_dsn(postgres_server: str, postgres_admin: Any) -> Iterator[str]:
    """Yield a DSN whose ``search_path`` is a new, empty schema, dropped after the test."""
    from psycopg import conninfo, sql

    schema = f"soravideo_test_{uuid.uuid4().hex[:12]}"
    postgres_admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    params = conninfo.conninfo_to_dict(postgres_server)
    options = f"{params.get('options') or ''} -c search_path={schema}".strip()
    try:
        yield conninfo.make_conninfo(postgres_server, options=options)
    finally:
        postgres_admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
